/* The only C in the runtime: sigsetjmp/siglongjmp cannot be expressed in
 * Rust (a function that returns twice). `wasabi_catch` runs `body(data)`
 * with a jump buffer published in `*slot`; `wasabi_unwind` jumps back to it.
 * The frames jumped over are compiled wasm code, trampolines and Rust
 * helpers that hold nothing needing a destructor at the point they unwind. */
#include <setjmp.h>

int wasabi_catch(void (*body)(void *), void *data, void **slot) {
    sigjmp_buf buf;
    void *prev = *slot;
    *slot = &buf;
    if (sigsetjmp(buf, 0) == 0) {
        body(data);
        *slot = prev;
        return 0;
    }
    *slot = prev;
    return 1;
}

void wasabi_unwind(void *buf) {
    siglongjmp(*(sigjmp_buf *)buf, 1);
}
