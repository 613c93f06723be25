/* A failed assertion: the program prints, then aborts (a trap; natively
   SIGABRT). */
#include <assert.h>
#include <stdio.h>

int main(int argc, char **argv) {
  printf("before the assertion\n");
  fflush(stdout);
  assert(argc > 5 && "needs more arguments");
  printf("not reached\n");
  return 0;
}
