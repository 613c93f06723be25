/* k_cholesky: Cholesky factorisation A = L L' of a symmetric, strictly
 * diagonally dominant (hence positive definite) N x N matrix, in place in
 * the lower triangle, row by row with dot products of rows (the loop
 * structure of PolyBench's cholesky, written anew). Uses sqrt, which IEEE
 * 754 and wasm require to be correctly rounded: results are bit-identical
 * everywhere.
 * Self-check: every diagonal entry of L is positive and finite; the factor
 * must reproduce the original matrix, tested independently of the
 * factorisation as a residual on a vector: |A0 x - L (L' x)| / (|A0| |x|) <
 * 1e-12 in the max norm (A0 regenerated from its formula); the strict upper
 * triangle is untouched; a checksum of L matches a reference value. */
#include <stdio.h>
#include <stdint.h>
#include <string.h>
#include <math.h>

#ifndef N
#define N 1400
#endif

#define EXPECTED_SUM 4.685503778e+05

static double A[N][N];

static double h(int i, int j, unsigned seed, int r) {
    unsigned x = (unsigned)i * 7919u + (unsigned)j * 104729u + seed;
    x ^= x >> 15; x *= 2654435761u; x ^= x >> 13;
    return (double)((int)(x % (unsigned)(2 * r + 1)) - r);
}
static double a0(int i, int j) {
    if (i == j) return 5.0 * N + h(i, i, 11u, 7);
    return i < j ? h(i, j, 10u, 4) : h(j, i, 10u, 4); /* symmetric */
}

static void cholesky(void) {
    for (int i = 0; i < N; i++) {
        for (int j = 0; j < i; j++) {
            double s = A[i][j];
            for (int k = 0; k < j; k++) s -= A[i][k] * A[j][k];
            A[i][j] = s / A[j][j];
        }
        double d = A[i][i];
        for (int k = 0; k < i; k++) d -= A[i][k] * A[i][k];
        A[i][i] = sqrt(d);
    }
}

static uint64_t fnv_bits(const double *v, long n) {
    uint64_t h = 0xcbf29ce484222325ull;
    for (long i = 0; i < n; i++) {
        uint64_t b;
        memcpy(&b, &v[i], 8);
        h = (h ^ b) * 0x100000001b3ull;
    }
    return h;
}

int main(void) {
    for (int i = 0; i < N; i++)
        for (int j = 0; j < N; j++) A[i][j] = a0(i, j);
    cholesky();

    int ok = 1;
    static double x[N], ltx[N];
    for (int j = 0; j < N; j++) x[j] = (double)(j % 11) - 5.0 + 0.25;
    for (int i = 0; i < N; i++) {
        if (!(A[i][i] > 0.0) || !isfinite(A[i][i])) ok = 0;
        for (int j = i + 1; j < N; j++)
            if (A[i][j] != a0(i, j)) ok = 0;
    }
    for (int k = 0; k < N; k++) { /* L' x: row k of L' is column k of L */
        double s = 0.0;
        for (int i = k; i < N; i++) s += A[i][k] * x[i];
        ltx[k] = s;
    }
    double maxres = 0.0, anorm = 0.0;
    for (int i = 0; i < N; i++) {
        double llx = 0.0, ax = 0.0, rowabs = 0.0;
        for (int k = 0; k <= i; k++) llx += A[i][k] * ltx[k];
        for (int j = 0; j < N; j++) {
            ax += a0(i, j) * x[j];
            rowabs += fabs(a0(i, j));
        }
        if (fabs(ax - llx) > maxres) maxres = fabs(ax - llx);
        if (rowabs > anorm) anorm = rowabs;
    }
    double rel = maxres / (anorm * 5.25);
    if (!(rel < 1e-12)) ok = 0;
    double sum = 0.0;
    for (int i = 0; i < N; i++)
        for (int j = 0; j <= i; j++) sum += A[i][j] * (double)((2 * i + j) % 7 + 1);
    static double L[N * (N + 1) / 2];
    long n = 0;
    for (int i = 0; i < N; i++)
        for (int j = 0; j <= i; j++) L[n++] = A[i][j];
    printf("k_cholesky n=%d sum=%.9e bits=%016llx\n", N, sum, (unsigned long long)fnv_bits(L, n));
    if (fabs(sum - EXPECTED_SUM) > 1e-9 * fabs(EXPECTED_SUM)) ok = 0;
    if (!ok) { printf("FAIL: relative residual %.3e\n", rel); return 1; }
    printf("OK\n");
    return 0;
}
