/* argv, the environment, printf of floats and integers, exit status. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

extern char **environ;

int main(int argc, char **argv) {
  printf("argc=%d\n", argc);
  for (int i = 1; i < argc; i++) printf("argv[%d]=%s (%zu bytes)\n", i, argv[i], strlen(argv[i]));
  int n = 0;
  for (char **e = environ; *e; e++) n += strncmp(*e, "TZ=", 3) != 0; /* TZ: the harness's */
  printf("environ has %d entries\n", n);
  const char *g = getenv("GREETING");
  printf("GREETING=%s\n", g ? g : "(unset)");
  printf("EMPTY is %s\n", getenv("EMPTY") ? (*getenv("EMPTY") ? "non-empty" : "empty") : "unset");
  double xs[] = {0.0, -0.0, 1.5, 3.141592653589793, 1e-7, 6.02214076e23, 1.0 / 3.0, 123456.789};
  for (unsigned i = 0; i < sizeof xs / sizeof xs[0]; i++)
    printf("%f %e %g %.17g %a\n", xs[i], xs[i], xs[i], xs[i], xs[i]);
  printf("%.3f %10.4f|%-10.2f|%+d %x %o %lld %llu\n", 2.0005, -1.25, 7.5, 42, 255u, 8u,
         -9007199254740993LL, 18446744073709551615ULL);
  float f = 0.1f;
  printf("%.10f %g\n", f, f * 3);
  long long big = 1LL << 40;
  printf("%lld %lld\n", big * 3, big / -7);
  return argc > 3 ? 7 : 0;
}
