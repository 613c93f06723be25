/* Capability sandbox probe. argv[1] is a preopened scratch directory.
 * Every attempt to leave it must fail under a correct WASI runtime. The
 * expected output is what the WASI spec requires (not the native output:
 * natively nothing stops these escapes). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "errname.h"

static char dir[1024];

static void try_open(const char *label, const char *path, int flags) {
    errno = 0;
    int fd = open(path, flags);
    if (fd >= 0) {
        printf("%-34s: OPENED (escape not blocked or inside)\n", label);
        close(fd);
    } else {
        int e = errno;
        printf("%-34s: failed %s (%s)\n", label, errname(e), strerror(e));
    }
}

int main(int argc, char **argv) {
    if (argc < 2) { fprintf(stderr, "usage: sandbox DIR\n"); return 2; }
    snprintf(dir, sizeof dir, "%s", argv[1]);
    setvbuf(stdout, NULL, _IOLBF, 0);
    char p[2048], q[2048];
    const char *base = strrchr(dir, '/');
    base = base ? base + 1 : dir;

    /* setup inside the sandbox */
    snprintf(p, sizeof p, "%s/inside.txt", dir);
    int fd = open(p, O_CREAT | O_WRONLY | O_TRUNC, 0644);
    printf("%-34s: %s\n", "create inside.txt", fd >= 0 ? "ok" : errname(errno));
    if (fd >= 0) { write(fd, "inside\n", 7); close(fd); }
    snprintf(p, sizeof p, "%s/sub", dir);
    printf("%-34s: %s\n", "mkdir sub", mkdir(p, 0755) == 0 ? "ok" : errname(errno));
    snprintf(p, sizeof p, "%s/etclink", dir);
    printf("%-34s: %s\n", "symlink etclink -> /etc", symlink("/etc", p) == 0 ? "ok" : errname(errno));
    snprintf(p, sizeof p, "%s/uplink", dir);
    printf("%-34s: %s\n", "symlink uplink -> ../..", symlink("../..", p) == 0 ? "ok" : errname(errno));

    /* must succeed: stays inside */
    snprintf(p, sizeof p, "%s/inside.txt", dir);
    try_open("DIR/inside.txt", p, O_RDONLY);
    snprintf(p, sizeof p, "%s/sub/../inside.txt", dir);
    try_open("DIR/sub/../inside.txt", p, O_RDONLY);

    /* must fail: escapes */
    snprintf(p, sizeof p, "%s/../outside", dir);
    try_open("DIR/../outside", p, O_RDONLY);
    snprintf(p, sizeof p, "%s/../outside", dir);
    try_open("DIR/../outside (O_CREAT)", p, O_CREAT | O_WRONLY);
    try_open("/etc/passwd", "/etc/passwd", O_RDONLY);
    snprintf(p, sizeof p, "%s/etclink/passwd", dir);
    try_open("DIR/etclink/passwd", p, O_RDONLY);
    snprintf(p, sizeof p, "%s/etclink", dir);
    try_open("DIR/etclink (dir)", p, O_RDONLY | O_DIRECTORY);
    /* "hostlink" is created by the harness on the host side before the run
     * (cases.toml: dir_symlinks = ["hostlink=/etc"]): an absolute symlink the
     * guest could not have made itself. Following it must not escape. */
    snprintf(p, sizeof p, "%s/hostlink", dir);
    {
        struct stat ls; char tgt[64] = {0};
        errno = 0;
        int r = lstat(p, &ls);
        printf("%-34s: %s\n", "lstat hostlink", r != 0 ? errname(errno) : S_ISLNK(ls.st_mode) ? "symlink" : "not a symlink");
        errno = 0;
        ssize_t n = readlink(p, tgt, sizeof tgt - 1);
        printf("%-34s: %s%s\n", "readlink hostlink", n >= 0 ? "ok " : errname(errno), n >= 0 ? tgt : "");
    }
    snprintf(p, sizeof p, "%s/hostlink/passwd", dir);
    try_open("DIR/hostlink/passwd", p, O_RDONLY);
    snprintf(p, sizeof p, "%s/hostlink", dir);
    try_open("DIR/hostlink (dir)", p, O_RDONLY | O_DIRECTORY);
    snprintf(p, sizeof p, "%s/uplink/etc/passwd", dir);
    try_open("DIR/uplink/etc/passwd", p, O_RDONLY);
    snprintf(p, sizeof p, "%s/..", dir);
    try_open("DIR/.. (dir)", p, O_RDONLY | O_DIRECTORY);
    snprintf(p, sizeof p, "%s/../%s/inside.txt", dir, base);
    try_open("DIR/../BASENAME/inside.txt", p, O_RDONLY);
    snprintf(p, sizeof p, "%s/sub/../../%s/inside.txt", dir, base);
    try_open("DIR/sub/../../BASENAME/inside.txt", p, O_RDONLY);

    errno = 0;
    DIR *d = opendir("/");
    printf("%-34s: %s\n", "opendir /", d ? "OPENED" : errname(errno));
    if (d) closedir(d);

    /* relative paths after chdir into the sandbox */
    errno = 0;
    printf("%-34s: %s\n", "chdir DIR", chdir(dir) == 0 ? "ok" : errname(errno));
    try_open("inside.txt (relative)", "inside.txt", O_RDONLY);
    try_open("../outside (relative)", "../outside", O_RDONLY);
    snprintf(q, sizeof q, "../%s/inside.txt", base);
    try_open("../BASENAME/inside.txt (relative)", q, O_RDONLY);
    try_open("etclink/passwd (relative)", "etclink/passwd", O_RDONLY);
    try_open("hostlink/passwd (relative)", "hostlink/passwd", O_RDONLY);

    /* rename/unlink out of the sandbox */
    errno = 0;
    snprintf(p, sizeof p, "%s/inside.txt", dir);
    snprintf(q, sizeof q, "%s/../stolen.txt", dir);
    printf("%-34s: %s\n", "rename inside.txt -> ../stolen", rename(p, q) == 0 ? "RENAMED" : errname(errno));
    struct stat st;
    errno = 0;
    printf("%-34s: %s\n", "stat /etc", stat("/etc", &st) == 0 ? "OK" : errname(errno));
    printf("done\n");
    return 0;
}
