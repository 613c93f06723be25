/* setjmp/longjmp: across frames, nested buffers, values, re-entry, and a
   longjmp out of a callback called through a function pointer. (Not
   longjmp(env, 0): emscripten 3.1's lowering ignores it.) */
#include <setjmp.h>
#include <stdio.h>

static jmp_buf top, inner;
static int depth_reached;

static void dive(int depth, int limit) {
  depth_reached = depth;
  if (depth == limit) longjmp(top, depth);
  dive(depth + 1, limit);
  printf("never printed\n");
}

static void cb(int v) { if (v > 2) longjmp(inner, v * 10); printf("cb %d\n", v); }
static void (*volatile fp)(int) = cb;

static int nested(void) {
  volatile int tries = 0;
  int r = setjmp(inner);
  tries++;
  if (r == 0) {
    for (int i = 0; i < 5; i++) fp(i);
  }
  printf("inner setjmp returned %d after %d tries\n", r, tries);
  if (r == 30 && tries < 3) longjmp(inner, 31);
  return r;
}

int main(void) {
  for (int limit = 1; limit <= 3; limit++) {
    int r = setjmp(top);
    if (r == 0) dive(0, limit * 10);
    else printf("longjmp from depth %d returned %d\n", depth_reached, r);
  }
  printf("nested: %d\n", nested());
  volatile int count = 0;
  jmp_buf again;
  if (setjmp(again) < 5) { count++; if (count < 5) longjmp(again, count); }
  printf("count %d\n", count);
  return 0;
}
