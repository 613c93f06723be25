// A side module (dylink.0), built with clang -fPIC and wasm-ld
// --experimental-pic -shared (see ../build.sh): its data lives in the main
// module's memory at __memory_base, its function pointers in the main
// module's table at __table_base; printf is the main module's.
#include <stdio.h>

static int counter = 5;
int table_data[4] = {1, 2, 3, 4};  // exported: its address through GOT.mem
int (*fp)(int) = 0;

static int twice(int x) { return 2 * x; }

int side_sum(int n) {
  int s = 0;
  for (int i = 0; i < n; i++) s += table_data[i % 4];
  return s + counter++;
}

// Takes a function pointer of its own (a slot at __table_base).
int side_apply(int x) {
  fp = twice;
  return fp(x);
}

void side_hello(const char *who) { printf("side says hello to %s\n", who); }

// Calls back into the main module through a pointer it was given.
int side_call(int (*f)(int), int x) { return f(x) + 1; }
