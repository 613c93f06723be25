/* POSIX file I/O inside a scratch directory given as argv[1].
 * Prints only results (never the directory path) so output is identical
 * natively and under any WASI runtime. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "errname.h"

static char dir[1024];
static const char *P(const char *rel) {
    static char bufs[4][1200];
    static int k;
    char *b = bufs[k++ & 3];
    snprintf(b, 1200, "%s/%s", dir, rel);
    return b;
}
#define RES(label, expr) do { errno = 0; long r_ = (long)(expr); \
    printf("%-28s -> %ld%s%s\n", label, r_, r_ < 0 ? " " : "", r_ < 0 ? errname(errno) : ""); } while (0)

static int cmp(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}
static void listing(const char *label) {
    DIR *d = opendir(dir);
    if (!d) { printf("%s: opendir failed %s\n", label, errname(errno)); return; }
    char *names[64]; int n = 0; struct dirent *e;
    while ((e = readdir(d)) && n < 64) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        names[n++] = strdup(e->d_name);
    }
    closedir(d);
    qsort(names, n, sizeof *names, cmp);
    printf("%s: %d entries:", label, n);
    for (int i = 0; i < n; i++) {
        struct stat st;
        char kind = '?';
        if (lstat(P(names[i]), &st) == 0)
            kind = S_ISDIR(st.st_mode) ? 'd' : S_ISREG(st.st_mode) ? 'f' : S_ISLNK(st.st_mode) ? 'l' : 'o';
        printf(" %s(%c)", names[i], kind);
        free(names[i]);
    }
    printf("\n");
}

int main(int argc, char **argv) {
    if (argc < 2) { fprintf(stderr, "usage: fileio DIR\n"); return 2; }
    snprintf(dir, sizeof dir, "%s", argv[1]);
    setvbuf(stdout, NULL, _IOLBF, 0);

    const char *msg = "Hello, file!\nSecond line of text.\n";
    int fd = open(P("a.txt"), O_CREAT | O_RDWR | O_TRUNC, 0644);
    printf("%-28s -> %s\n", "open a.txt (create)", fd >= 0 ? "ok" : errname(errno));
    if (fd < 0) return 1;
    RES("write", write(fd, msg, strlen(msg)));
    RES("lseek SEEK_CUR 0", lseek(fd, 0, SEEK_CUR));
    RES("lseek SEEK_SET 7", lseek(fd, 7, SEEK_SET));
    char buf[128] = {0};
    ssize_t n = read(fd, buf, 5);
    printf("%-28s -> %zd [%.*s]\n", "read 5 at 7", n, (int)(n > 0 ? n : 0), buf);
    RES("lseek SEEK_END -5", lseek(fd, -5, SEEK_END));
    memset(buf, 0, sizeof buf);
    n = read(fd, buf, sizeof buf - 1);
    printf("%-28s -> %zd [%.*s]\n", "read to end", n, (int)(n > 1 ? n - 1 : 0), buf);
    RES("read at EOF", read(fd, buf, 10));
    RES("pwrite 'HELLO' at 0", pwrite(fd, "HELLO", 5, 0));
    memset(buf, 0, sizeof buf);
    n = pread(fd, buf, 12, 0);
    printf("%-28s -> %zd [%.*s]\n", "pread 12 at 0", n, (int)(n > 0 ? n : 0), buf);
    struct stat st;
    RES("fstat", fstat(fd, &st));
    printf("fstat size=%lld regular=%d\n", (long long)st.st_size, S_ISREG(st.st_mode));
    RES("ftruncate 5", ftruncate(fd, 5));
    RES("fstat after ftruncate", fstat(fd, &st));
    printf("size=%lld\n", (long long)st.st_size);
    RES("close", close(fd));

    FILE *f = fopen(P("b.txt"), "w");
    printf("%-28s -> %s\n", "fopen b.txt w", f ? "ok" : errname(errno));
    for (int i = 0; i < 100; i++) fprintf(f, "line %03d\n", i);
    RES("fclose", fclose(f));
    RES("stat b.txt", stat(P("b.txt"), &st));
    printf("b.txt size=%lld\n", (long long)st.st_size);
    RES("truncate b.txt 42", truncate(P("b.txt"), 42));
    RES("stat b.txt", stat(P("b.txt"), &st));
    printf("b.txt size=%lld\n", (long long)st.st_size);
    f = fopen(P("b.txt"), "a");
    fputs("appended\n", f);
    fclose(f);
    f = fopen(P("b.txt"), "r");
    int lines = 0; char line[64], last[64] = "";
    while (fgets(line, sizeof line, f)) { lines++; strcpy(last, line); }
    fclose(f);
    printf("b.txt lines=%d last=[%.*s]\n", lines, (int)strcspn(last, "\n"), last);

    RES("mkdir sub", mkdir(P("sub"), 0755));
    RES("mkdir sub again", mkdir(P("sub"), 0755));
    fd = open(P("sub/inner.txt"), O_CREAT | O_WRONLY, 0644);
    RES("write sub/inner.txt", write(fd, "x", 1));
    close(fd);
    listing("listing 1");
    RES("rename a.txt -> c.txt", rename(P("a.txt"), P("c.txt")));
    RES("open a.txt (gone)", open(P("a.txt"), O_RDONLY));
    fd = open(P("c.txt"), O_RDONLY);
    memset(buf, 0, sizeof buf);
    n = read(fd, buf, sizeof buf - 1);
    printf("%-28s -> %zd [%s]\n", "read c.txt", n, buf);
    close(fd);
    RES("rmdir sub (not empty)", rmdir(P("sub")));
    RES("stat missing", stat(P("missing"), &st));
    RES("open O_EXCL existing", open(P("c.txt"), O_CREAT | O_EXCL | O_WRONLY, 0644));
    RES("open dir/ file as dir", open(P("c.txt/x"), O_RDONLY));
    listing("listing 2");
    RES("unlink sub/inner.txt", unlink(P("sub/inner.txt")));
    RES("rmdir sub", rmdir(P("sub")));
    RES("unlink b.txt", unlink(P("b.txt")));
    RES("unlink c.txt", unlink(P("c.txt")));
    RES("unlink c.txt again", unlink(P("c.txt")));
    listing("listing 3");
    printf("done\n");
    return 0;
}
