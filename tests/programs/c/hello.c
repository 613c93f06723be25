#include <stdio.h>
int main(void) {
    printf("Hello, WASI world!\n");
    printf("second line: %d + %d = %d\n", 2, 3, 2 + 3);
    return 0;
}
