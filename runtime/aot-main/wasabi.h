/* wasabi.h: the C interface of a shared library built by
 *
 *     wasabi aot --shared module.wasm -o libmodule.so
 *
 * The library contains the module's native code and the wasabi runtime
 * (with WASI preview 1); it needs neither LLVM nor wasabi at run time.
 * Link with it (cc main.c ./libmodule.so) or dlopen it.
 *
 * Values cross this interface as raw 64-bit patterns: i32 zero-extended,
 * i64 as is, f32 and f64 as their IEEE bits. Reference types are not
 * supported here. All functions are for one thread at a time per instance.
 */
#ifndef WASABI_H
#define WASABI_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Runs the module as a WASI command: argv[0] is the program name, the rest
 * its arguments; stdio is inherited, no directories are preopened. Returns
 * the exit status; a trap prints "wasabi: wasm trap: ..." to stderr and
 * returns 134. */
int wasabi_aot_run(int argc, const char *const *argv);

typedef struct wasabi_instance wasabi_instance;

/* Instantiates the module (with WASI: no arguments, inherited stdio) and
 * runs its start function. Returns NULL on failure, with the reason on
 * stderr. */
wasabi_instance *wasabi_instantiate(void);

/* Calls the exported function `name` with `nargs` arguments; writes up to
 * `nresults` results. Returns 0 on success, -1 if there is no such export,
 * the counts do not match its type, or it trapped (the reason on stderr). */
int wasabi_call(wasabi_instance *instance, const char *name, const uint64_t *args, size_t nargs,
                uint64_t *results, size_t nresults);

/* Frees an instance and everything it owns. */
void wasabi_instance_free(wasabi_instance *instance);

#ifdef __cplusplus
}
#endif

#endif /* WASABI_H */
