/* Prints a line, then traps. argv[1] selects how: unreachable | divzero | oob.
 * Under wasm each is a trap; natively a fatal signal (SIGILL/SIGFPE/SIGSEGV). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdint.h>
int main(int argc, char **argv) {
    const char *mode = argc > 1 ? argv[1] : "unreachable";
    printf("about to trap: %s\n", mode);
    fflush(stdout);
    if (strcmp(mode, "divzero") == 0) {
        volatile int zero = argc - argc;
        volatile int r = 7 / zero;
        printf("not reached %d\n", r);
    } else if (strcmp(mode, "oob") == 0) {
        /* far beyond any wasm32 linear memory, and unmapped natively */
        volatile uintptr_t addr = (uintptr_t)strtoul("4294967280", 0, 10);
        volatile int v = *(volatile int *)addr;
        printf("not reached %d\n", v);
    } else {
        __builtin_trap();
    }
    printf("still alive?!\n");
    return 0;
}
