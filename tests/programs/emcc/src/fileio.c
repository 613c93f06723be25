/* Files and directories within a preopened directory: create, write,
   read back, seek, stat, list, rename, unlink, rmdir, and errors. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int cmp(const void *a, const void *b) { return strcmp(*(char **)a, *(char **)b); }

static void list(const char *path, const char *label) {
  DIR *d = opendir(path);
  if (!d) { printf("opendir %s: %s\n", path, strerror(errno)); return; }
  char *names[64]; int n = 0; struct dirent *e;
  while ((e = readdir(d)) && n < 64) {
    if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) names[n++] = strdup(e->d_name);
  }
  closedir(d);
  qsort(names, n, sizeof *names, cmp);
  printf("%s:", label);
  for (int i = 0; i < n; i++) { printf(" %s", names[i]); free(names[i]); }
  printf("\n");
}

int main(int argc, char **argv) {
  if (argc < 2) { fprintf(stderr, "usage: fileio DIR\n"); return 2; }
  char p[512], q[512];
  if (chdir(argv[1]) != 0) { printf("chdir: %s\n", strerror(errno)); return 1; }
  snprintf(p, sizeof p, "%s/hello.txt", argv[1]);
  FILE *f = fopen(p, "w");
  if (!f) { printf("fopen w: %s\n", strerror(errno)); return 1; }
  for (int i = 0; i < 100; i++) fprintf(f, "line %d: %d\n", i, i * i);
  fclose(f);
  f = fopen(p, "r");
  char line[128]; int lines = 0; long sum = 0;
  while (fgets(line, sizeof line, f)) { lines++; sum += strlen(line); }
  printf("read %d lines, %ld bytes\n", lines, sum);
  fseek(f, 100, SEEK_SET);
  fgets(line, sizeof line, f);
  printf("at 100: %s", line);
  printf("ftell %ld\n", ftell(f));
  fclose(f);
  struct stat st;
  if (stat(p, &st) == 0) printf("size %lld regular %d dir %d\n", (long long)st.st_size, S_ISREG(st.st_mode), S_ISDIR(st.st_mode));
  int fd = open(p, O_WRONLY | O_APPEND);
  write(fd, "tail\n", 5);
  fstat(fd, &st);
  printf("after append %lld\n", (long long)st.st_size);
  close(fd);
  fd = open("hello.txt", O_RDONLY);
  printf("relative open %s\n", fd >= 0 ? "ok" : strerror(errno));
  char buf[16] = {0};
  lseek(fd, -5, SEEK_END);
  read(fd, buf, 5);
  printf("last: %s", buf);
  close(fd);
  snprintf(q, sizeof q, "%s/sub", argv[1]);
  printf("mkdir %d\n", mkdir(q, 0755));
  printf("mkdir again %d %s\n", mkdir(q, 0755), strerror(errno));
  snprintf(q, sizeof q, "%s/sub/a.bin", argv[1]);
  f = fopen(q, "wb");
  unsigned char bytes[256];
  for (int i = 0; i < 256; i++) bytes[i] = (unsigned char)i;
  fwrite(bytes, 1, sizeof bytes, f);
  fclose(f);
  snprintf(q, sizeof q, "%s/sub/b.txt", argv[1]);
  f = fopen(q, "w"); fputs("b\n", f); fclose(f);
  list(argv[1], "top");
  snprintf(q, sizeof q, "%s/sub", argv[1]);
  list(q, "sub");
  char r1[512], r2[512];
  snprintf(r1, sizeof r1, "%s/sub/b.txt", argv[1]);
  snprintf(r2, sizeof r2, "%s/sub/c.txt", argv[1]);
  printf("rename %d\n", rename(r1, r2));
  list(q, "sub");
  printf("rmdir nonempty %d %s\n", rmdir(q), strerror(errno));
  printf("unlink %d\n", unlink(r2));
  snprintf(r1, sizeof r1, "%s/sub/a.bin", argv[1]);
  printf("unlink %d\n", unlink(r1));
  printf("rmdir %d\n", rmdir(q));
  printf("open missing: %s\n", fopen("nope/none.txt", "r") ? "opened" : strerror(errno));
  printf("access %d %d\n", access(p, F_OK), access("missing", F_OK));
  char cwd[512];
  printf("getcwd %s\n", getcwd(cwd, sizeof cwd) ? "ok" : strerror(errno));
  unlink(p);
  list(argv[1], "top");
  return 0;
}
