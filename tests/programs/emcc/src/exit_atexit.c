/* exit() from deep inside, atexit handlers (built with -sEXIT_RUNTIME),
   and buffered output without a trailing newline flushed at exit. */
#include <stdio.h>
#include <stdlib.h>

static void first(void) { printf("atexit first (runs last)\n"); }
static void second(void) { printf("atexit second (runs first)\n"); }

static void deep(int n) { if (n == 0) { printf("exiting with 5 ..."); exit(5); } deep(n - 1); }

int main(void) {
  atexit(first);
  atexit(second);
  printf("unflushed partial line ");
  deep(10);
  return 0;
}
