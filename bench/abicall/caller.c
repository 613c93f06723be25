/* Per-call cost of a function loaded at run time with Wasabi's ABI
 * (wasabi_module_open + WASABI_FUNC: a call_indirect into another
 * instance), next to a direct call and an indirect call within the module.
 * Each loop makes N dependent calls of the same function body; prints one
 * line per kind: `kind ns_per_call` (best of 5). argv[1]: the directory
 * holding callee.wasm (callee.so natively); argv[2]: N (default 2e8). */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "wasabi.h"

__attribute__((noinline)) static unsigned local_step(unsigned x) {
  return x * 2654435761u + 1;
}

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + t.tv_nsec * 1e-9;
}

/* The pointer is read through a volatile so the compilers (clang, then
 * wasabi's LLVM) cannot turn the indirect call into a direct one. */
static unsigned (*volatile local_ptr)(unsigned) = local_step;
static unsigned (*volatile plugin_ptr)(unsigned);

static double run(int kind, long n, unsigned *sink) {
  double best = 1e30;
  for (int rep = 0; rep < 5; rep++) {
    unsigned x = (unsigned)rep;
    double t = now();
    if (kind == 0) {
      for (long i = 0; i < n; i++) x = local_step(x);
    } else {
      unsigned (*f)(unsigned) = kind == 1 ? local_ptr : plugin_ptr;
      for (long i = 0; i < n; i++) x = f(x);
    }
    t = now() - t;
    *sink ^= x;
    if (t < best) best = t;
  }
  return best * 1e9 / (double)n;
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: caller DIR [N]\n");
    return 2;
  }
  long n = argc > 2 ? atol(argv[2]) : 200000000L;
  char path[1024];
  snprintf(path, sizeof path, "%s/callee%s", argv[1], WASABI_MODULE_SUFFIX);
  int32_t h = wasabi_module_open(path);
  if (h <= 0) {
    char msg[512];
    int len = wasabi_last_error(msg, sizeof msg - 1);
    msg[len < (int)sizeof msg - 1 ? len : (int)sizeof msg - 1] = 0;
    fprintf(stderr, "caller: cannot load %s: %s\n", path, msg);
    return 1;
  }
  plugin_ptr = WASABI_FUNC(h, "step", unsigned (*)(unsigned));
  if (!plugin_ptr) return 1;
  unsigned sink = 0;
  printf("direct %.3f\n", run(0, n, &sink));
  printf("local_indirect %.3f\n", run(1, n, &sink));
  printf("loaded_module %.3f\n", run(2, n, &sink));
  /* The three loops compute the same sequence: a wrong call would show. */
  printf("check %u\n", sink);
  return 0;
}
