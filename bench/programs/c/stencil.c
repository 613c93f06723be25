/* stencil: Jacobi-2D heat diffusion on an N x N grid (5-point stencil,
 * double-buffered), fixed hot/cold boundary, STEPS sweeps.  The checksum is
 * compared with a reference value (IEEE arithmetic, no libm: bit-identical on
 * every conforming engine) and the maximum principle is checked: every
 * interior value must stay within the boundary's min/max. */
#include <stdio.h>
#include <math.h>

#ifndef N
#define N 1024
#endif
#ifndef STEPS
#define STEPS 1000
#endif

#define EXPECTED_SUM 2621170.366505
#define EXPECTED_WSUM 19657296.465378

static double G0[N][N], G1[N][N];

int main(void) {
    for (int i = 0; i < N; i++)
        for (int j = 0; j < N; j++) {
            double v = 0.0;
            if (i == 0) v = 100.0;
            else if (j == 0) v = 50.0 + (double)(i % 17);
            else if (i == N - 1 || j == N - 1) v = 0.0;
            G0[i][j] = G1[i][j] = v;
        }
    double (*src)[N] = G0, (*dst)[N] = G1;
    for (int s = 0; s < STEPS; s++) {
        for (int i = 1; i < N - 1; i++)
            for (int j = 1; j < N - 1; j++)
                dst[i][j] = 0.2 * (src[i][j] + src[i - 1][j] + src[i + 1][j] +
                                   src[i][j - 1] + src[i][j + 1]);
        double (*t)[N] = src; src = dst; dst = t;
    }
    double sum = 0.0, wsum = 0.0;
    int ok = 1;
    for (int i = 0; i < N; i++)
        for (int j = 0; j < N; j++) {
            double v = src[i][j];
            if (v < 0.0 || v > 100.0) ok = 0;
            sum += v;
            wsum += v * (double)((i ^ j) & 15);
        }
    printf("stencil n=%d steps=%d sum=%.6f wsum=%.6f\n", N, STEPS, sum, wsum);
    if (fabs(sum - EXPECTED_SUM) > 1e-6 * fabs(EXPECTED_SUM) ||
        fabs(wsum - EXPECTED_WSUM) > 1e-6 * fabs(EXPECTED_WSUM)) ok = 0;
    if (!ok) { printf("FAIL\n"); return 1; }
    printf("OK\n");
    return 0;
}
