/* sort: (1) quicksort (median-of-3, insertion sort for small ranges) of N
 * pseudo-random 32-bit ints, (2) top-down mergesort of the same input,
 * (3) mergesort of NS generated strings (pointer array, strcmp).  Each result
 * is checked to be sorted and to be a permutation of the input (order-
 * independent sum/xor fingerprint), and both int sorts must agree. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef N
#define N 3000000
#endif
#ifndef NS
#define NS 400000
#endif

static uint64_t rs = 88172645463325252ull;
static uint32_t rnd(void) { rs ^= rs << 13; rs ^= rs >> 7; rs ^= rs << 17; return (uint32_t)(rs >> 11); }

static void isort(int32_t *a, long n) {
    for (long i = 1; i < n; i++) {
        int32_t v = a[i]; long j = i - 1;
        while (j >= 0 && a[j] > v) { a[j + 1] = a[j]; j--; }
        a[j + 1] = v;
    }
}

static void qsort_i(int32_t *a, long n) {
    while (n > 24) {
        long m = n / 2;
        int32_t x = a[0], y = a[m], z = a[n - 1];
        int32_t p = x < y ? (y < z ? y : (x < z ? z : x)) : (x < z ? x : (y < z ? z : y));
        long i = 0, j = n - 1;
        for (;;) {
            while (a[i] < p) i++;
            while (a[j] > p) j--;
            if (i >= j) break;
            int32_t t = a[i]; a[i] = a[j]; a[j] = t;
            i++; j--;
        }
        /* recurse into the smaller part */
        if (j + 1 < n - j - 1) { qsort_i(a, j + 1); a += j + 1; n -= j + 1; }
        else { qsort_i(a + j + 1, n - j - 1); n = j + 1; }
    }
    isort(a, n);
}

static void msort_i(int32_t *a, int32_t *tmp, long n) {
    if (n <= 24) { isort(a, n); return; }
    long m = n / 2;
    msort_i(a, tmp, m);
    msort_i(a + m, tmp, n - m);
    long i = 0, j = m, k = 0;
    while (i < m && j < n) tmp[k++] = a[j] < a[i] ? a[j++] : a[i++];
    while (i < m) tmp[k++] = a[i++];
    while (j < n) tmp[k++] = a[j++];
    memcpy(a, tmp, (size_t)n * sizeof *a);
}

static void msort_s(char **a, char **tmp, long n) {
    if (n <= 1) return;
    long m = n / 2;
    msort_s(a, tmp, m);
    msort_s(a + m, tmp, n - m);
    long i = 0, j = m, k = 0;
    while (i < m && j < n) tmp[k++] = strcmp(a[j], a[i]) < 0 ? a[j++] : a[i++];
    while (i < m) tmp[k++] = a[i++];
    while (j < n) tmp[k++] = a[j++];
    memcpy(a, tmp, (size_t)n * sizeof *a);
}

static void fp_i(const int32_t *a, long n, uint64_t *s, uint32_t *x) {
    *s = 0; *x = 0;
    for (long i = 0; i < n; i++) { *s += (uint32_t)a[i]; *x ^= (uint32_t)a[i] * 2654435761u; }
}

int main(void) {
    int32_t *a = malloc(N * sizeof *a), *b = malloc(N * sizeof *b), *tmp = malloc(N * sizeof *tmp);
    for (long i = 0; i < N; i++) a[i] = (int32_t)rnd();
    memcpy(b, a, N * sizeof *a);
    uint64_t s0, s1; uint32_t x0, x1;
    fp_i(a, N, &s0, &x0);
    qsort_i(a, N);
    msort_i(b, tmp, N);
    fp_i(a, N, &s1, &x1);
    int ok = s0 == s1 && x0 == x1 && memcmp(a, b, N * sizeof *a) == 0;
    for (long i = 1; i < N; i++) if (a[i - 1] > a[i]) { ok = 0; break; }
    uint64_t ck = 0;
    for (long i = 0; i < N; i += 1000) ck = ck * 31 + (uint32_t)a[i];

    static const char *syl[] = {"ka", "lo", "mi", "ne", "su", "ta", "ri", "wo", "ze", "pu", "ban", "tor", "x", "qui"};
    char *pool = malloc((size_t)NS * 24), **s = malloc(NS * sizeof *s), **st = malloc(NS * sizeof *st);
    uint64_t sh0 = 0, sh1 = 0;
    for (long i = 0; i < NS; i++) {
        char *p = pool + (size_t)i * 24; int len = 0, k = 2 + (int)(rnd() % 6);
        for (int t = 0; t < k; t++) { const char *y = syl[rnd() % 14]; size_t l = strlen(y); memcpy(p + len, y, l); len += (int)l; }
        p[len] = 0; s[i] = p;
        uint64_t h = 1469598103934665603ull; for (int t = 0; t < len; t++) h = (h ^ (uint8_t)p[t]) * 1099511628211ull;
        sh0 += h;
    }
    msort_s(s, st, NS);
    for (long i = 0; i < NS; i++) {
        uint64_t h = 1469598103934665603ull; for (const char *p = s[i]; *p; p++) h = (h ^ (uint8_t)*p) * 1099511628211ull;
        sh1 += h;
        if (i && strcmp(s[i - 1], s[i]) > 0) ok = 0;
    }
    if (sh0 != sh1) ok = 0;
    printf("sort n=%d ns=%d intck=%llu first=%s last=%s\n", N, NS, (unsigned long long)ck, s[0], s[NS - 1]);
    if (!ok) { printf("FAIL\n"); return 1; }
    printf("OK\n");
    return 0;
}
