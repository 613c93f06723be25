/* Echo argv[1..]. An argument of the form "env:NAME" prints the value of the
 * environment variable NAME (or that it is unset) instead of echoing it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
int main(int argc, char **argv) {
    printf("argc=%d\n", argc);
    for (int i = 1; i < argc; i++) {
        if (strncmp(argv[i], "env:", 4) == 0) {
            const char *name = argv[i] + 4;
            const char *v = getenv(name);
            if (v) printf("env %s=[%s] (%zu bytes)\n", name, v, strlen(v));
            else printf("env %s unset\n", name);
        } else {
            printf("arg %d=[%s] (%zu bytes)\n", i, argv[i], strlen(argv[i]));
        }
    }
    return 0;
}
