/* matmul: dense double-precision GEMM, C = A*B (i-k-j loop order, cache
 * blocked), repeated REPS times with C accumulating.  Entries of A and B are
 * small integers, so every product and sum is exact in double and the result
 * can be checked exactly against an independent O(N^2) identity:
 *   sum_ij C[i][j]*w[j] = REPS * sum_k colsumA[k] * (sum_j B[k][j]*w[j])
 * plus a few entries recomputed by naive dot products. */
#include <stdio.h>
#include <stdlib.h>

#ifndef N
#define N 512
#endif
#ifndef REPS
#define REPS 24
#endif
#define BS 64

static double A[N][N], B[N][N], C[N][N];

static void gemm(void) {
    for (int ii = 0; ii < N; ii += BS)
        for (int kk = 0; kk < N; kk += BS)
            for (int i = ii; i < ii + BS; i++)
                for (int k = kk; k < kk + BS; k++) {
                    double a = A[i][k];
                    for (int j = 0; j < N; j++)
                        C[i][j] += a * B[k][j];
                }
}

int main(void) {
    for (int i = 0; i < N; i++)
        for (int j = 0; j < N; j++) {
            A[i][j] = (double)((i * 7 + j * 3) % 11) - 3.0;
            B[i][j] = (double)((i * 5 + j * 13) % 9) - 4.0;
            C[i][j] = 0.0;
        }
    for (int r = 0; r < REPS; r++) gemm();

    double total = 0.0;
    for (int i = 0; i < N; i++)
        for (int j = 0; j < N; j++) total += C[i][j] * (double)(j % 7 + 1);
    double expect = 0.0;
    for (int k = 0; k < N; k++) {
        double ca = 0.0, rb = 0.0;
        for (int i = 0; i < N; i++) ca += A[i][k];
        for (int j = 0; j < N; j++) rb += B[k][j] * (double)(j % 7 + 1);
        expect += ca * rb;
    }
    expect *= REPS;
    int ok = total == expect;
    for (int t = 0; t < 16; t++) {
        int i = (t * 97) % N, j = (t * 31 + 5) % N;
        double d = 0.0;
        for (int k = 0; k < N; k++) d += A[i][k] * B[k][j];
        if (d * REPS != C[i][j]) ok = 0;
    }
    printf("matmul n=%d reps=%d checksum=%.1f\n", N, REPS, total);
    if (!ok) { printf("FAIL: expected %.1f\n", expect); return 1; }
    printf("OK\n");
    return 0;
}
