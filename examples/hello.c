// A WASI command: prints a greeting with its arguments.
// Built into hello.wasm by: clang-19 --target=wasm32-wasi --sysroot=/usr -O2 hello.c -o hello.wasm
#include <stdio.h>

int main(int argc, char **argv) {
    printf("Hello from WebAssembly, compiled by LLVM and run by wasabi!\n");
    for (int i = 1; i < argc; i++) printf("  argv[%d] = %s\n", i, argv[i]);
    return 0;
}
