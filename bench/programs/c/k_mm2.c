/* k_mm2: two chained dense products (PolyBench-like 2mm, written anew):
 *   T = alpha * A * B;  D = T * C + beta * D      (all N x N doubles)
 * with i-k-j loop order. The entries are small integers, so every product and
 * sum is exact in double (all magnitudes stay far below 2^53) and the result
 * is checked exactly against an independent O(N^2) identity,
 *   sum_ij D[i][j]*w[j] = alpha * 1'A(B(Cw)) + beta * 1'(D0 w),
 * plus 16 entries of D recomputed by plain dot products. */
#include <stdio.h>

#ifndef N
#define N 900
#endif

static double A[N][N], B[N][N], C[N][N], D[N][N], T[N][N];
static const double alpha = 2.0, beta = 3.0;

/* small pseudo-random integers in [-r, r] (a hash of i, j, seed) */
static double h(int i, int j, unsigned seed, int r) {
    unsigned x = (unsigned)i * 7919u + (unsigned)j * 104729u + seed;
    x ^= x >> 15; x *= 2654435761u; x ^= x >> 13;
    return (double)((int)(x % (unsigned)(2 * r + 1)) - r);
}
static double a0(int i, int j) { return h(i, j, 1u, 3); }
static double b0(int i, int j) { return h(i, j, 2u, 2); }
static double c0(int i, int j) { return h(i, j, 3u, 4); }
static double d0(int i, int j) { return h(i, j, 4u, 2); }

static void mm2(void) {
    for (int i = 0; i < N; i++) {
        for (int j = 0; j < N; j++) T[i][j] = 0.0;
        for (int k = 0; k < N; k++) {
            double a = alpha * A[i][k];
            for (int j = 0; j < N; j++) T[i][j] += a * B[k][j];
        }
    }
    for (int i = 0; i < N; i++) {
        for (int j = 0; j < N; j++) D[i][j] *= beta;
        for (int k = 0; k < N; k++) {
            double t = T[i][k];
            for (int j = 0; j < N; j++) D[i][j] += t * C[k][j];
        }
    }
}

int main(void) {
    for (int i = 0; i < N; i++)
        for (int j = 0; j < N; j++) {
            A[i][j] = a0(i, j);
            B[i][j] = b0(i, j);
            C[i][j] = c0(i, j);
            D[i][j] = d0(i, j);
        }
    mm2();

    static double w[N], cw[N], bcw[N];
    double total = 0.0, expect = 0.0;
    for (int j = 0; j < N; j++) w[j] = (double)(j % 7 + 1);
    for (int i = 0; i < N; i++)
        for (int j = 0; j < N; j++) total += D[i][j] * w[j];
    for (int k = 0; k < N; k++) {
        double s = 0.0;
        for (int j = 0; j < N; j++) s += C[k][j] * w[j];
        cw[k] = s;
    }
    for (int k = 0; k < N; k++) {
        double s = 0.0;
        for (int j = 0; j < N; j++) s += B[k][j] * cw[j];
        bcw[k] = s;
    }
    for (int i = 0; i < N; i++) {
        double s = 0.0, sd = 0.0;
        for (int k = 0; k < N; k++) s += A[i][k] * bcw[k];
        for (int j = 0; j < N; j++) sd += d0(i, j) * w[j];
        expect += alpha * s + beta * sd;
    }
    int ok = total == expect;
    for (int t = 0; t < 16; t++) {
        int i = (t * 97 + 3) % N, j = (t * 31 + 5) % N;
        double d = beta * d0(i, j);
        for (int k = 0; k < N; k++) {
            double tik = 0.0;
            for (int l = 0; l < N; l++) tik += alpha * a0(i, l) * b0(l, k);
            d += tik * c0(k, j);
        }
        if (d != D[i][j]) ok = 0;
    }
    printf("k_mm2 n=%d checksum=%.1f d00=%.1f dlast=%.1f\n", N, total, D[0][0], D[N - 1][N - 1]);
    if (!ok) { printf("FAIL: expected %.1f\n", expect); return 1; }
    printf("OK\n");
    return 0;
}
