/* Wasabi's own ABI: loads a plugin module at run time (the dlopen/dlsym of
 * wasm), calls its functions through C function pointers (call_indirect
 * into the other instance), lets it call back, and checks the error codes.
 * The same source builds natively against a shared library (wasabi.h's
 * native shim), which gives the expected output. argv[1]: the directory
 * holding abi_plugin.wasm / abi_plugin.so. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wasabi.h"

#ifdef __wasm__
#define EXPORT(name) __attribute__((export_name(name)))
#else
#define EXPORT(name) __attribute__((visibility("default")))
#endif

static int counter;

/* Called back by the plugin (its import env.host_counter). */
EXPORT("host_counter") int host_counter(int by) {
  counter += by;
  return counter;
}

static int cmp_asc(const void *a, const void *b) {
  return *(const int *)a - *(const int *)b;
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: abi_host DIR\n");
    return 2;
  }
  char path[1024];
  snprintf(path, sizeof path, "%s/abi_plugin%s", argv[1], WASABI_MODULE_SUFFIX);
  int32_t h = wasabi_module_open(path);
  printf("load: %s\n", h > 0 ? "ok" : "failed");
  if (h <= 0) return 1;

  int (*add)(int, int) = WASABI_FUNC(h, "add", int (*)(int, int));
  double (*hypot2)(double, double) = WASABI_FUNC(h, "hypot2", double (*)(double, double));
  long long (*mix)(long long, int, float) = WASABI_FUNC(h, "mix", long long (*)(long long, int, float));
  int (*bump)(int) = WASABI_FUNC(h, "bump", int (*)(int));
  int (*calls)(void) = WASABI_FUNC(h, "calls", int (*)(void));
  void (*hello)(const char *) = WASABI_FUNC(h, "hello", void (*)(const char *));
  if (!add || !hypot2 || !mix || !bump || !calls || !hello) {
    printf("lookup failed\n");
    return 1;
  }

  printf("add(2, 40) = %d\n", add(2, 40));
  int sum = 0;
  for (int i = 1; i <= 1000; i++) sum = add(sum, i);
  printf("sum 1..1000 = %d\n", sum);
  printf("hypot2(3, 4) = %.3f\n", hypot2(3.0, 4.0));
  printf("mix(1e12, 3, 2.5) = %lld\n", mix(1000000000000LL, 3, 2.5f));
  int b5 = bump(5);
  int b7 = bump(7);
  printf("bump(5) = %d, bump(7) = %d, counter = %d\n", b5, b7, counter);
  fflush(stdout);
  hello("host");
  printf("plugin calls: %d\n", calls());

  /* The same lookup twice gives the same pointer. */
  printf("same pointer: %s\n", WASABI_FUNC(h, "add", int (*)(int, int)) == add ? "yes" : "no");

  /* A plugin function stored in a struct and called from a loop through
   * an array of pointers mixing local and plugin functions. */
  int (*ops[2])(int, int) = {add, NULL};
  ops[1] = add;
  int acc = 0;
  for (int i = 0; i < 10; i++) acc = ops[i & 1](acc, i);
  printf("acc = %d\n", acc);

  /* libc calling a local comparator, then the plugin's data through it. */
  int xs[] = {5, 3, 9, 1, 7};
  qsort(xs, 5, sizeof xs[0], cmp_asc);
  printf("sorted: %d %d %d %d %d\n", xs[0], xs[1], xs[2], xs[3], xs[4]);

  /* Errors: each a code, nothing traps. */
  printf("missing export: %s, code %d\n",
         WASABI_FUNC(h, "nope", int (*)(void)) == NULL ? "null" : "non-null",
         wasabi_module_func(h, "nope", 4));
  printf("bad handle: %d\n", wasabi_module_func(99, "add", 3));
  char where[1100];
  snprintf(where, sizeof where, "%s/no-such-plugin%s", argv[1], WASABI_MODULE_SUFFIX);
  printf("missing file: %d\n", wasabi_module_open(where));
  static const char junk[] = "\0asm\2\0\0\0 not a module";
  printf("junk bytes: %d\n", wasabi_module_load(junk, sizeof junk));
  char msg[200];
  int32_t n = wasabi_last_error(msg, sizeof msg);
  printf("last error: %s\n", n > 0 ? "has a message" : "empty");
  return 0;
}
