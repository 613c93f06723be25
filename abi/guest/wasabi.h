/*
 * wasabi.h: Wasabi's own host ABI for C and C++ guests (import module
 * "wasabi"). See docs/wasabi-abi.md for the guide.
 *
 * Build a guest that uses it with clang for wasm32-wasi, and export a
 * growable table so loaded functions can be placed in it:
 *
 *   clang --target=wasm32-wasi -O2 app.c -o app.wasm \
 *         -Wl,--export-table,--growable-table
 *
 * Every function returns a negative WASABI_ERR_* code on failure;
 * wasabi_last_error() then gives the message.
 *
 * The same source also builds natively (not __wasm__): then a module is a
 * shared library opened with dlopen, so a program and its plugins can be
 * checked against their native builds. WASABI_MODULE_SUFFIX is ".wasm" or
 * ".so" accordingly.
 */
#ifndef WASABI_H
#define WASABI_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#ifdef __cplusplus
extern "C" {
#endif

enum {
  WASABI_ERR_INVALID = -1,   /* malformed or invalid module, bad name */
  WASABI_ERR_LINK = -2,      /* the module's imports cannot be met */
  WASABI_ERR_TRAP = -3,      /* the module trapped while starting */
  WASABI_ERR_NOT_FOUND = -4, /* no such exported function */
  WASABI_ERR_BOUNDS = -5,    /* a range is outside its memory */
  WASABI_ERR_HANDLE = -6,    /* no module has this handle / no memory */
  WASABI_ERR_RESOURCE = -7,  /* table cannot grow, compile failed */
};

/* The calling module itself, as a handle. */
#define WASABI_SELF 0

#ifdef __wasm__
#define WASABI_MODULE_SUFFIX ".wasm"

#define WASABI_IMPORT(name) \
  __attribute__((import_module("wasabi"), import_name(#name)))


/* Compiles and instantiates the wasm module in bytes[0..len). Its imports
 * are met by WASI, this ABI, and the caller's exports as module "env".
 * Returns a handle (>= 1). */
WASABI_IMPORT(module_load)
int32_t wasabi_module_load(const void *bytes, size_t len);

/* Places the module's exported function `name` (name_len bytes, UTF-8) in
 * this module's table and returns its index: cast it to a function pointer
 * of the function's type (a call with another type traps). */
WASABI_IMPORT(module_func)
int32_t wasabi_module_func(int32_t handle, const char *name, size_t name_len);

/* Copies len bytes from address src of module src_handle's memory to
 * address dst of module dst_handle's memory (WASABI_SELF for this one).
 * Returns 0. */
WASABI_IMPORT(memory_copy)
int32_t wasabi_memory_copy(int32_t dst_handle, uint32_t dst,
                           int32_t src_handle, uint32_t src, size_t len);

/* Copies up to cap bytes of the last failure's message to buf (no NUL);
 * returns the message's whole length. */
WASABI_IMPORT(last_error)
int32_t wasabi_last_error(char *buf, size_t cap);

#undef WASABI_IMPORT

/* Loads the module in the file at path (opened through WASI, so it must
 * be inside a directory the host preopened). Returns a handle, or a
 * negative code; a file that cannot be read is WASABI_ERR_INVALID. */
static inline int32_t wasabi_module_open(const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f) return WASABI_ERR_INVALID;
  size_t cap = 1 << 16, len = 0;
  unsigned char *buf = (unsigned char *)malloc(cap);
  for (;;) {
    if (!buf) { fclose(f); return WASABI_ERR_RESOURCE; }
    len += fread(buf + len, 1, cap - len, f);
    if (len < cap) break;
    cap *= 2;
    unsigned char *grown = (unsigned char *)realloc(buf, cap);
    if (!grown) free(buf);
    buf = grown;
  }
  int err = ferror(f);
  fclose(f);
  int32_t h = err ? WASABI_ERR_INVALID : wasabi_module_load(buf, len);
  free(buf);
  return h;
}

/* wasabi_module_func with a NUL-terminated name, as a typed pointer:
 *   int (*add)(int, int) = WASABI_FUNC(h, "add", int (*)(int, int));
 * NULL when the lookup fails. */
static inline void *wasabi_func_ptr(int32_t handle, const char *name) {
  size_t n = 0;
  while (name[n]) n++;
  int32_t i = wasabi_module_func(handle, name, n);
  return i < 0 ? NULL : (void *)(uintptr_t)i;
}

#else
/* Native builds of the same source: modules are shared libraries, loaded
 * with dlopen and looked up with dlsym (build the plugin with -shared
 * -fPIC and the program with -rdynamic so the plugin's undefined symbols
 * resolve to the program's, like "env" imports). Only files can be
 * loaded, and memory_copy is not available: there is one address space. */
#include <dlfcn.h>
#include <string.h>

#define WASABI_MODULE_SUFFIX ".so"
#define WASABI_NATIVE_MAX 64
static void *wasabi_native_handles[WASABI_NATIVE_MAX];
static int32_t wasabi_native_count;
static const char *wasabi_native_error = "";

static inline int32_t wasabi_module_load(const void *bytes, size_t len) {
  (void)bytes; (void)len;
  wasabi_native_error = "native builds load modules from files only";
  return WASABI_ERR_INVALID;
}

static inline int32_t wasabi_module_open(const char *path) {
  if (wasabi_native_count == WASABI_NATIVE_MAX) return WASABI_ERR_RESOURCE;
  void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
  if (!h) { wasabi_native_error = dlerror(); return WASABI_ERR_INVALID; }
  wasabi_native_handles[wasabi_native_count++] = h;
  return wasabi_native_count;
}

static inline void *wasabi_native_sym(int32_t handle, const char *name, int32_t *err) {
  if (handle < 1 || handle > wasabi_native_count) {
    wasabi_native_error = "no module has this handle";
    *err = WASABI_ERR_HANDLE;
    return NULL;
  }
  void *f = dlsym(wasabi_native_handles[handle - 1], name);
  if (!f) { wasabi_native_error = dlerror(); *err = WASABI_ERR_NOT_FOUND; }
  return f;
}

static inline int32_t wasabi_module_func(int32_t handle, const char *name, size_t name_len) {
  char buf[256];
  if (name_len >= sizeof buf) return WASABI_ERR_INVALID;
  memcpy(buf, name, name_len);
  buf[name_len] = 0;
  int32_t err = 0;
  return wasabi_native_sym(handle, buf, &err) ? 0 : err;
}

static inline void *wasabi_func_ptr(int32_t handle, const char *name) {
  int32_t err = 0;
  return wasabi_native_sym(handle, name, &err);
}

static inline int32_t wasabi_memory_copy(int32_t dst_handle, uint32_t dst,
                                         int32_t src_handle, uint32_t src, size_t len) {
  (void)dst_handle; (void)dst; (void)src_handle; (void)src; (void)len;
  wasabi_native_error = "memory_copy needs separate memories (wasm only)";
  return WASABI_ERR_HANDLE;
}

static inline int32_t wasabi_last_error(char *buf, size_t cap) {
  size_t n = strlen(wasabi_native_error);
  memcpy(buf, wasabi_native_error, n < cap ? n : cap);
  return (int32_t)n;
}
#endif

#define WASABI_FUNC(handle, name, type) ((type)wasabi_func_ptr((handle), (name)))

#ifdef __cplusplus
}
#endif
#endif /* WASABI_H */
