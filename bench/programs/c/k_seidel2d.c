/* k_seidel2d: 2-D Gauss-Seidel smoothing, in place, 9-point average over an
 * N x N grid with fixed boundary, STEPS lexicographic sweeps (PolyBench-like
 * seidel-2d, written anew). Each point reads four neighbours already updated
 * in this sweep, so the loop nest carries dependences in both directions and
 * does not vectorise: a latency-bound kernel.
 * Self-check: the first CHECK_STEPS sweeps are also computed on a copy in a
 * different, dependence-preserving order (anti-diagonal wavefronts
 * t = 2i + j, each wavefront from bottom to top), which must agree bit for
 * bit; every value stays within the initial min/max (each update is a
 * convex combination); sums match reference values (IEEE + /, no libm). */
#include <stdio.h>
#include <stdint.h>
#include <string.h>
#include <math.h>

#ifndef N
#define N 600
#endif
#ifndef STEPS
#define STEPS 150
#endif
#define CHECK_STEPS 2

#define EXPECTED_SUM 3.359628196e+06
#define EXPECTED_WSUM 2.519377665e+07

static double A[N][N], W[N][N];

#define UPDATE(G, i, j)                                                                   \
    G[i][j] = (G[i - 1][j - 1] + G[i - 1][j] + G[i - 1][j + 1] + G[i][j - 1] + G[i][j] + \
               G[i][j + 1] + G[i + 1][j - 1] + G[i + 1][j] + G[i + 1][j + 1]) / 9.0

static void seidel(int steps) {
    for (int s = 0; s < steps; s++)
        for (int i = 1; i < N - 1; i++)
            for (int j = 1; j < N - 1; j++) UPDATE(A, i, j);
}

/* the same sweeps by wavefronts t = 2i + j: every point a lexicographic
 * sweep reads as new has a smaller t, every one it reads as old a larger t */
static void seidel_wavefront(int steps) {
    for (int s = 0; s < steps; s++)
        for (int t = 3; t <= 3 * (N - 2); t++)
            for (int i = N - 2; i >= 1; i--) {
                int j = t - 2 * i;
                if (j >= 1 && j <= N - 2) UPDATE(W, i, j);
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
        for (int j = 0; j < N; j++) {
            double v = (double)((i * 13 + j * 29) % 37) * 0.5;
            if (i == 0 || j == 0) v = 30.0;
            else if (i == N - 1 || j == N - 1) v = -5.0 + (double)(j % 3);
            A[i][j] = W[i][j] = v;
        }
    double lo = A[0][0], hi = lo;
    for (int i = 0; i < N; i++)
        for (int j = 0; j < N; j++) {
            if (A[i][j] < lo) lo = A[i][j];
            if (A[i][j] > hi) hi = A[i][j];
        }
    int ok = 1;
    seidel(CHECK_STEPS);
    seidel_wavefront(CHECK_STEPS);
    if (memcmp(A, W, sizeof A)) {
        printf("FAIL: lexicographic and wavefront sweeps disagree\n");
        ok = 0;
    }
    seidel(STEPS - CHECK_STEPS);
    double sum = 0.0, wsum = 0.0;
    for (int i = 0; i < N; i++)
        for (int j = 0; j < N; j++) {
            if (!(A[i][j] >= lo && A[i][j] <= hi)) ok = 0;
            sum += A[i][j];
            wsum += A[i][j] * (double)((i ^ j) & 15);
        }
    printf("k_seidel2d n=%d steps=%d sum=%.9e wsum=%.9e bits=%016llx\n", N, STEPS, sum, wsum,
           (unsigned long long)fnv_bits(&A[0][0], (long)N * N));
    if (fabs(sum - EXPECTED_SUM) > 1e-9 * fabs(EXPECTED_SUM) ||
        fabs(wsum - EXPECTED_WSUM) > 1e-9 * fabs(EXPECTED_WSUM)) ok = 0;
    if (!ok) { printf("FAIL\n"); return 1; }
    printf("OK\n");
    return 0;
}
