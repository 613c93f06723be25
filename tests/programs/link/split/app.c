// A program split by binaryen's wasm-split (see ../build.sh): `report`
// and `checksum` go to the secondary module app.deferred.wasm, loaded the
// first time the primary calls one of them (only with an argument).
#include <stdio.h>
#include <string.h>

__attribute__((noinline)) unsigned checksum(const char *s) {
  unsigned h = 2166136261u;
  for (; *s; s++) h = (h ^ (unsigned char)*s) * 16777619u;
  return h;
}

__attribute__((noinline)) int report(int argc, char **argv) {
  for (int i = 1; i < argc; i++)
    printf("arg %d: %s (checksum %08x)\n", i, argv[i], checksum(argv[i]));
  return argc - 1;
}

__attribute__((noinline)) int fib(int n) { return n < 2 ? n : fib(n - 1) + fib(n - 2); }

int main(int argc, char **argv) {
  printf("fib(20) = %d\n", fib(20));
  if (argc > 1) printf("reported %d arguments\n", report(argc, argv));
  // Split functions called through a pointer land in the same table slots.
  unsigned (*f)(const char *) = argc > 2 ? checksum : 0;
  if (f) printf("through a pointer: %08x\n", f("wasabi"));
  printf("done\n");
  return 0;
}
