/* The module bench/abicall/caller.c loads at run time (a wasm reactor; a
 * shared library natively): one small function, as a plugin would export. */
#ifdef __wasm__
#define EXPORT(name) __attribute__((export_name(name)))
#else
#define EXPORT(name) __attribute__((visibility("default")))
#endif

EXPORT("step") unsigned step(unsigned x) { return x * 2654435761u + 1; }
