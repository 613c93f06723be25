/* main(void), and output left in stdio's buffer when main returns. */
#include <stdio.h>
int main(void) {
  printf("main takes no arguments; ");
  printf("this line has no newline and is flushed at exit");
  return 0;
}
