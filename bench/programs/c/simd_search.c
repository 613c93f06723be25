/* simd_search: byte scanning in i8x16 SIMD (simd_portable.h: wasm_simd128.h
 * on wasm32, SSE4.1 natively) over 4 MiB of generated text, PASSES times:
 *   1. character classes (newlines, spaces, lower-case letters, digits) with
 *      byte compares (a range check is one signed compare after a wrapping
 *      add), counted in u8 lanes by subtracting the masks and flushed to u32
 *      before they can overflow;
 *   2. substring search for two words of the vocabulary (a different pair each
 *      pass): compare the needle's first and last byte at 16 positions, AND,
 *      take the bitmask and verify each candidate bit with a byte loop (not
 *      memcmp: natively that would be glibc's AVX2 memcmp against wasi-libc's
 *      byte loop, a library difference rather than a code-generation one).
 * The scan window starts at pass % 61, so loads are unaligned and no pass
 * repeats another.
 * Self-check: pass 0 and the last pass are recomputed with scalar code; the
 * final totals are the reference values. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include "simd_portable.h"

#define TEXT_LEN (4 << 20)
#ifndef PASSES
#define PASSES 400
#endif
#define NWORDS 512
#define EXPECTED_HASH 0x39364b13a801d6deull

static char text[TEXT_LEN + 64];
static char words[NWORDS][12];

static uint32_t seed = 0x2545F491u;
static uint32_t rnd(void) {
    seed = seed * 1103515245u + 12345u;
    return seed >> 8;
}

static void generate(void) {
    static const char cons[] = "bcdfghjklmnprstvwz", vow[] = "aeiou";
    for (int w = 0; w < NWORDS; w++) {
        int len = 3 + (int)(rnd() % 8);
        for (int i = 0; i < len; i++)
            words[w][i] = (i & 1) ? vow[rnd() % 5] : cons[rnd() % 18];
        words[w][len] = 0;
    }
    int pos = 0, col = 0;
    while (pos < TEXT_LEN - 32) {
        uint32_t r = rnd(), r2 = rnd(); /* 24 random bits each */
        /* Zipf-ish: low word numbers are much more frequent */
        int w = (int)((r % NWORDS) * ((r >> 9) % NWORDS) / NWORDS);
        const char *s = words[w];
        int len = (int)strlen(s);
        memcpy(text + pos, s, len);
        if (r2 % 11 == 0) text[pos] = (char)(text[pos] - 32); /* Capital */
        pos += len;
        col += len;
        if ((r2 >> 4) % 13 == 0) {
            pos += sprintf(text + pos, " %u", rnd() % 10000);
        }
        if ((r2 >> 8) % 5 == 0) text[pos++] = ',';
        if (col > 70) {
            text[pos++] = '.';
            text[pos++] = '\n';
            col = 0;
        } else {
            text[pos++] = ' ';
            col++;
        }
    }
    while (pos < TEXT_LEN) text[pos++] = '\n';
}

typedef struct {
    uint64_t nl, sp, lower, digit, hits[2];
} Counts;

static uint64_t hsum_u8(vi acc) { /* sum of the 16 u8 lanes */
    vi s = vi32_dot16(vu16_sum_pairs(acc), vi16_splat(1));
    return (uint64_t)(vi32_lane(s, 0) + vi32_lane(s, 1) + vi32_lane(s, 2) + vi32_lane(s, 3));
}

static void classes_simd(const char *p, int n, Counts *c) {
    const vi nl = vi8_splat('\n'), sp = vi8_splat(' ');
    const vi lo_off = vi8_splat(-'a' - 128), lo_lim = vi8_splat(-128 + 26);
    const vi dg_off = vi8_splat(-'0' - 128), dg_lim = vi8_splat(-128 + 10);
    int i = 0;
    while (i + 16 <= n) {
        vi cnl = vi_zero(), csp = vi_zero(), clo = vi_zero(), cdg = vi_zero();
        int end = i + 255 * 16 <= n ? i + 255 * 16 : n - 15;
        for (; i < end; i += 16) {
            vi x = vi_load(p + i);
            cnl = vi8_sub(cnl, vi8_eq(x, nl));
            csp = vi8_sub(csp, vi8_eq(x, sp));
            clo = vi8_sub(clo, vi8_gt(lo_lim, vi8_add(x, lo_off)));
            cdg = vi8_sub(cdg, vi8_gt(dg_lim, vi8_add(x, dg_off)));
        }
        c->nl += hsum_u8(cnl);
        c->sp += hsum_u8(csp);
        c->lower += hsum_u8(clo);
        c->digit += hsum_u8(cdg);
    }
    for (; i < n; i++) {
        unsigned char ch = (unsigned char)p[i];
        c->nl += ch == '\n';
        c->sp += ch == ' ';
        c->lower += ch - 'a' < 26u;
        c->digit += ch - '0' < 10u;
    }
}

/* 1 if a[0..n) == b[0..n); inline so both sides run the same code */
static inline int same(const char *a, const char *b, int n) {
    for (int k = 0; k < n; k++)
        if (a[k] != b[k]) return 0;
    return 1;
}

static uint64_t search_simd(const char *p, int n, const char *needle) {
    const int m = (int)strlen(needle);
    const vi first = vi8_splat(needle[0]), last = vi8_splat(needle[m - 1]);
    uint64_t hits = 0;
    int i = 0;
    for (; i + m - 1 + 16 <= n; i += 16) {
        vi f = vi8_eq(vi_load(p + i), first), l = vi8_eq(vi_load(p + i + m - 1), last);
        unsigned mask = (unsigned)vi8_bitmask(vi_and(f, l));
        while (mask) {
            int b = __builtin_ctz(mask);
            hits += same(p + i + b + 1, needle + 1, m - 2);
            mask &= mask - 1;
        }
    }
    for (; i + m <= n; i++) hits += same(p + i, needle, m);
    return hits;
}

static void classes_scalar(const char *p, int n, Counts *c) {
    for (int i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)p[i];
        c->nl += ch == '\n';
        c->sp += ch == ' ';
        c->lower += ch >= 'a' && ch <= 'z';
        c->digit += ch >= '0' && ch <= '9';
    }
}

static uint64_t search_scalar(const char *p, int n, const char *needle) {
    int m = (int)strlen(needle);
    uint64_t hits = 0;
    for (int i = 0; i + m <= n; i++) {
        int j = 0;
        while (j < m && p[i + j] == needle[j]) j++;
        hits += j == m;
    }
    return hits;
}

static void pass(int k, Counts *c, int simd) {
    const char *p = text + k % 61;
    int n = TEXT_LEN - k % 61;
    const char *n0 = words[(k * 7) % 64], *n1 = words[64 + (k * 13) % (NWORDS - 64)];
    if (simd) {
        classes_simd(p, n, c);
        c->hits[0] += search_simd(p, n, n0);
        c->hits[1] += search_simd(p, n, n1);
    } else {
        classes_scalar(p, n, c);
        c->hits[0] += search_scalar(p, n, n0);
        c->hits[1] += search_scalar(p, n, n1);
    }
}

int main(void) {
    generate();
    int ok = 1;
    Counts total = {0};
    for (int k = 0; k < PASSES; k++) {
        if (k == 0 || k == PASSES - 1) {
            Counts a = {0}, b = {0};
            pass(k, &a, 1);
            pass(k, &b, 0);
            if (memcmp(&a, &b, sizeof a) != 0) {
                printf("FAIL simd and scalar differ in pass %d\n", k);
                return 1;
            }
        }
        pass(k, &total, 1);
    }
    uint64_t h = 1469598103934665603ull;
    const uint64_t *v = (const uint64_t *)&total;
    for (size_t i = 0; i < sizeof total / 8; i++) h = (h ^ v[i]) * 1099511628211ull;
    printf("simd_search passes=%d nl=%llu sp=%llu lower=%llu digit=%llu hits=%llu,%llu hash=%016llx\n", PASSES,
           (unsigned long long)total.nl, (unsigned long long)total.sp, (unsigned long long)total.lower,
           (unsigned long long)total.digit, (unsigned long long)total.hits[0], (unsigned long long)total.hits[1],
           (unsigned long long)h);
    if (PASSES == 400 && h != EXPECTED_HASH) ok = 0;
    if (!ok) {
        printf("FAIL\n");
        return 1;
    }
    printf("OK\n");
    return 0;
}
