// The main module of a dynamically linked program: a WASI reactor that
// exports its memory, its growable table, __stack_pointer and printf, and
// imports dlopen/dlsym, which wasabi implements (docs/linking.md). Run:
//   wasabi run --invoke run main.wasm
// The side module is side.wasm (clang), or $SIDE: side_emcc.wasm is the
// same source built by emcc -sSIDE_MODULE=1. $SIDE2 names a side module
// to open first: side2.wasm needs side.wasm.
#include <stdio.h>
#include <stdlib.h>

void *dlopen(const char *path, int flags);
void *dlsym(void *handle, const char *name);

static int square(int x) { return x * x; }

__attribute__((export_name("run"))) int run(void) {
  const char *side = getenv("SIDE");
  if (!side) side = "side.wasm";
  // $SIDE2: a side module that needs side.wasm (WASM_DYLINK_NEEDED), so
  // opening it loads side.wasm first; the dlopen of side.wasm below then
  // finds it loaded.
  const char *side2 = getenv("SIDE2");
  if (side2) {
    void *h2 = dlopen(side2, 0);
    if (!h2) {
      printf("dlopen of %s failed\n", side2);
      fflush(stdout);
      return 1;
    }
    int (*twice_sum)(int) = (int (*)(int))dlsym(h2, "side2_twice_sum");
    printf("twice_sum(6) = %d\n", twice_sum(6));
  }
  void *h = dlopen(side, 0);
  if (!h) {
    printf("dlopen failed\n");
    fflush(stdout);
    return 1;
  }
  int (*sum)(int) = (int (*)(int))dlsym(h, "side_sum");
  int (*apply)(int) = (int (*)(int))dlsym(h, "side_apply");
  void (*hello)(const char *) = (void (*)(const char *))dlsym(h, "side_hello");
  int (*call)(int (*)(int), int) = (int (*)(int (*)(int), int))dlsym(h, "side_call");
  int *data = (int *)dlsym(h, "table_data");
  printf("sum(6) = %d\n", sum(6));
  printf("sum(6) = %d\n", sum(6));
  printf("apply(21) = %d\n", apply(21));
  data[0] = 100;  // the side module's data, in our memory
  printf("sum(1) = %d\n", sum(1));
  hello("main");
  printf("call(square, 7) = %d\n", call(square, 7));
  printf("same handle: %s\n", dlopen(side, 0) == h ? "yes" : "no");
  printf("missing symbol: %s\n", dlsym(h, "nope") ? "found" : "null");
  printf("missing file: %s\n", dlopen("nope.wasm", 0) ? "opened" : "null");
  printf("not a side module: %s\n", dlopen("main.wasm", 0) ? "opened" : "null");
  printf("outside the allowed directories: %s\n",
         dlopen("../byname/math.wasm", 0) ? "opened" : "null");
  fflush(stdout);
  return 0;
}
