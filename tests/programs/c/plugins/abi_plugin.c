/* A plugin loaded at run time by abi_host.c through Wasabi's ABI (wasm:
 * a reactor module; native: a shared library). It keeps its own state in
 * its own memory, prints through WASI, and calls back into the program that
 * loaded it (`host_counter`, an import from "env": the loader's export). */
#include <stdio.h>

#ifdef __wasm__
#define EXPORT(name) __attribute__((export_name(name)))
__attribute__((import_module("env"), import_name("host_counter")))
#endif
int host_counter(int by);
#ifndef __wasm__
#define EXPORT(name) __attribute__((visibility("default")))
#endif

static int count;

EXPORT("add") int add(int a, int b) {
  count++;
  return a + b;
}

EXPORT("hypot2") double hypot2(double x, double y) {
  count++;
  return x * x + y * y;
}

EXPORT("mix") long long mix(long long a, int b, float c) {
  count++;
  return a * b + (long long)(c * 4.0f);
}

EXPORT("bump") int bump(int by) {
  count++;
  return host_counter(by) * 10;
}

EXPORT("calls") int calls(void) { return count; }


EXPORT("hello") void hello(const char *who_in_host_memory_is_not_readable) {
  (void)who_in_host_memory_is_not_readable;
  count++;
  printf("plugin: hello (%d calls so far)\n", count);
  fflush(stdout);
}
