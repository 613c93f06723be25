/* k_lcs: dynamic programming, longest common subsequence of two generated
 * DNA-like strings (alphabet ACGT; the second is a mutated copy of the first:
 * substitutions, insertions, deletions), by the classic O(LA*LB) recurrence
 *   L[i][j] = a[i-1]==b[j-1] ? L[i-1][j-1]+1 : max(L[i-1][j], L[i][j-1])
 * kept in two rolling rows of ints, over REPS string pairs.
 * Self-check: each length is recomputed by an unrelated algorithm, the
 * bit-parallel LCS of Hyyro (one 64-bit word per 64 characters of a, a
 * multi-word add per character of b), and must agree exactly; the last DP
 * row must be non-decreasing with steps of at most 1; the total matches a
 * reference value. */
#include <stdio.h>
#include <stdint.h>
#include <string.h>

#ifndef LA
#define LA 12000
#endif
#ifndef LB
#define LB 12500
#endif
#ifndef REPS
#define REPS 3
#endif

#define EXPECTED_TOTAL 31470

#define WORDS ((LA + 63) / 64)
static char a[LA], b[LB + LA]; /* b: room for insertions */
static int prev[LB + 1], cur[LB + 1];
static uint64_t match[4][WORDS], V[WORDS];

static uint32_t rng_state;
static uint32_t rng(void) { /* xorshift32 */
    uint32_t x = rng_state;
    x ^= x << 13; x ^= x >> 17; x ^= x << 5;
    return rng_state = x;
}

static int code(char c) { return c == 'A' ? 0 : c == 'C' ? 1 : c == 'G' ? 2 : 3; }

static int lcs_dp(const char *x, int n, const char *y, int m) {
    for (int j = 0; j <= m; j++) prev[j] = 0;
    for (int i = 1; i <= n; i++) {
        char c = x[i - 1];
        cur[0] = 0;
        for (int j = 1; j <= m; j++) {
            int v;
            if (c == y[j - 1]) v = prev[j - 1] + 1;
            else v = prev[j] > cur[j - 1] ? prev[j] : cur[j - 1];
            cur[j] = v;
        }
        memcpy(prev, cur, sizeof(int) * (m + 1));
    }
    return prev[m];
}

/* Hyyro's bit-vector LCS: V starts all ones; for each character of y,
 * U = V & Match[c]; V = (V + U) | (V & ~Match[c]); LCS = zeros of V. */
static int lcs_bits(const char *x, int n, const char *y, int m) {
    int w = (n + 63) / 64;
    memset(match, 0, sizeof match);
    for (int i = 0; i < n; i++) match[code(x[i])][i / 64] |= 1ull << (i % 64);
    for (int k = 0; k < w; k++) V[k] = ~0ull;
    for (int j = 0; j < m; j++) {
        const uint64_t *mc = match[code(y[j])];
        uint64_t carry = 0;
        for (int k = 0; k < w; k++) {
            uint64_t v = V[k], u = v & mc[k];
            uint64_t s = v + u;
            uint64_t c1 = s < v;
            uint64_t s2 = s + carry;
            uint64_t c2 = s2 < s;
            V[k] = s2 | (v & ~mc[k]);
            carry = c1 | c2;
        }
    }
    int ones = 0;
    for (int i = 0; i < n; i++) ones += (int)((V[i / 64] >> (i % 64)) & 1);
    return n - ones;
}

int main(void) {
    static const char acgt[4] = {'A', 'C', 'G', 'T'};
    long total = 0;
    int ok = 1, lens[REPS];
    for (int r = 0; r < REPS; r++) {
        rng_state = 0x9e3779b9u + 7919u * (uint32_t)r;
        for (int i = 0; i < LA; i++) a[i] = acgt[rng() % 4];
        int m = 0, i = 0;
        int rate = 4 + 3 * r; /* mutations per 32 characters */
        while (i < LA && m < LB) {
            uint32_t x = rng() % 32;
            if (x >= (uint32_t)rate) b[m++] = a[i++];            /* copy */
            else if (x % 3 == 0) b[m++] = acgt[rng() % 4], i++;  /* substitute */
            else if (x % 3 == 1) b[m++] = acgt[rng() % 4];       /* insert */
            else i++;                                            /* delete */
        }
        while (m < LB) b[m++] = acgt[rng() % 4];
        int l = lcs_dp(a, LA, b, LB);
        for (int j = 1; j <= LB; j++)
            if (prev[j] < prev[j - 1] || prev[j] > prev[j - 1] + 1) ok = 0;
        int lb = lcs_bits(a, LA, b, LB);
        if (l != lb) {
            printf("FAIL: pair %d: dp %d, bit-parallel %d\n", r, l, lb);
            ok = 0;
        }
        lens[r] = l;
        total += l;
    }
    printf("k_lcs la=%d lb=%d reps=%d lcs=", LA, LB, REPS);
    for (int r = 0; r < REPS; r++) printf("%s%d", r ? "," : "", lens[r]);
    printf(" total=%ld\n", total);
    if (total != EXPECTED_TOTAL) ok = 0;
    if (!ok) { printf("FAIL\n"); return 1; }
    printf("OK\n");
    return 0;
}
