/* Random numbers: prints properties only, never values. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdint.h>
#include <unistd.h>
#if defined(__wasi__)
#include <stdlib.h> /* arc4random in wasi-libc */
#elif defined(__GLIBC__)
#include <sys/random.h>
#endif

static int all_zero(const unsigned char *p, size_t n) {
    for (size_t i = 0; i < n; i++) if (p[i]) return 0;
    return 1;
}

int main(void) {
    unsigned char a[32], b[32];
    memset(a, 0, sizeof a); memset(b, 0, sizeof b);
    int r1 = getentropy(a, sizeof a);
    int r2 = getentropy(b, sizeof b);
    printf("getentropy: %d %d\n", r1, r2);
    printf("random: 32 bytes, not all zero: %s\n", all_zero(a, 32) ? "no" : "yes");
    printf("two draws differ: %s\n", memcmp(a, b, 32) ? "yes" : "no");

    /* 64 KiB in getentropy-sized chunks: every byte value should show up */
    static unsigned char big[65536];
    int ok = 1;
    for (size_t off = 0; off < sizeof big; off += 256)
        if (getentropy(big + off, 256) != 0) ok = 0;
    unsigned counts[256] = {0};
    for (size_t i = 0; i < sizeof big; i++) counts[big[i]]++;
    int seen = 0; unsigned maxc = 0;
    for (int i = 0; i < 256; i++) { if (counts[i]) seen++; if (counts[i] > maxc) maxc = counts[i]; }
    printf("64 KiB getentropy ok: %s, distinct byte values: %d, max count < 512: %s\n",
           ok ? "yes" : "no", seen, maxc < 512 ? "yes" : "no");

    unsigned char c[64] = {0};
    arc4random_buf(c, sizeof c);
    printf("arc4random_buf: 64 bytes, not all zero: %s\n", all_zero(c, 64) ? "no" : "yes");
    int inrange = 1, hit[10] = {0};
    for (int i = 0; i < 10000; i++) {
        uint32_t v = arc4random_uniform(10);
        if (v >= 10) inrange = 0; else hit[v]++;
    }
    int allhit = 1;
    for (int i = 0; i < 10; i++) if (hit[i] == 0) allhit = 0;
    printf("arc4random_uniform(10) x10000: in range: %s, all 10 values seen: %s\n",
           inrange ? "yes" : "no", allhit ? "yes" : "no");
    uint32_t x = arc4random(), y = arc4random(), z = arc4random();
    printf("arc4random three draws not all equal: %s\n", (x == y && y == z) ? "no" : "yes");
    return 0;
}
