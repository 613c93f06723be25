/* k_syrk: symmetric rank-M update of the lower triangle (PolyBench-like
 * syrk, written anew):  C = alpha * A * A' + beta * C  for j <= i,
 * A is N x M, loops i, k, j (the j loop reads A[j][k] down a column).
 * The entries are small integers, so everything is exact in double, and the
 * result is checked exactly against an O(N*M) identity for the lower
 * triangle of A*A',
 *   sum_{j<=i} (AA')[i][j] = (|A'1|^2 + |A|_F^2) / 2,
 * plus 16 entries recomputed by dot products; the strict upper triangle
 * must be untouched. */
#include <stdio.h>

#ifndef N
#define N 1100
#endif
#ifndef M
#define M 1000
#endif

static double A[N][M], C[N][N];
static const double alpha = 3.0, beta = 2.0;

/* small pseudo-random integers in [-r, r] (a hash of i, j, seed) */
static double h(int i, int j, unsigned seed, int r) {
    unsigned x = (unsigned)i * 7919u + (unsigned)j * 104729u + seed;
    x ^= x >> 15; x *= 2654435761u; x ^= x >> 13;
    return (double)((int)(x % (unsigned)(2 * r + 1)) - r);
}
static double c0(int i, int j) { return h(i, j, 6u, 5); }

static void syrk(void) {
    for (int i = 0; i < N; i++) {
        for (int j = 0; j <= i; j++) C[i][j] *= beta;
        for (int k = 0; k < M; k++) {
            double a = alpha * A[i][k];
            for (int j = 0; j <= i; j++) C[i][j] += a * A[j][k];
        }
    }
}

int main(void) {
    for (int i = 0; i < N; i++) {
        for (int k = 0; k < M; k++) A[i][k] = h(i, k, 5u, 4);
        for (int j = 0; j < N; j++) C[i][j] = c0(i, j);
    }
    syrk();

    int ok = 1;
    double lower = 0.0, upper_changed = 0.0, wsum = 0.0;
    for (int i = 0; i < N; i++)
        for (int j = 0; j < N; j++) {
            if (j <= i) {
                lower += C[i][j];
                wsum += C[i][j] * (double)((i + 3 * j) % 7 + 1);
            } else if (C[i][j] != c0(i, j)) {
                upper_changed += 1.0;
            }
        }
    double col2 = 0.0, frob = 0.0, c0lower = 0.0;
    for (int k = 0; k < M; k++) {
        double s = 0.0;
        for (int i = 0; i < N; i++) s += A[i][k];
        col2 += s * s;
    }
    for (int i = 0; i < N; i++) {
        for (int k = 0; k < M; k++) frob += A[i][k] * A[i][k];
        for (int j = 0; j <= i; j++) c0lower += c0(i, j);
    }
    double expect = alpha * (col2 + frob) / 2.0 + beta * c0lower;
    if (lower != expect || upper_changed != 0.0) ok = 0;
    for (int t = 0; t < 16; t++) {
        int i = (t * 211 + 7) % N, j = (t * 53 + 1) % (i + 1);
        double d = 0.0;
        for (int k = 0; k < M; k++) d += A[i][k] * A[j][k];
        if (alpha * d + beta * c0(i, j) != C[i][j]) ok = 0;
    }
    printf("k_syrk n=%d m=%d lower=%.1f wsum=%.1f\n", N, M, lower, wsum);
    if (!ok) { printf("FAIL: expected lower=%.1f, %.0f upper entries changed\n", expect, upper_changed); return 1; }
    printf("OK\n");
    return 0;
}
