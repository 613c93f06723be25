/* probe: trivial program the runner uses to detect which engines/modes work. */
#include <stdio.h>
int main(int argc, char **argv) {
    printf("probe argc=%d OK\n", argc);
    return 0;
}
