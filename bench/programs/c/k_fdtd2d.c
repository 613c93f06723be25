/* k_fdtd2d: 2-D finite-difference time-domain (Yee) update of the fields
 * ex, ey, hz on an NX x NY grid for STEPS time steps, with a source written
 * into the first row of ey each step (PolyBench-like fdtd-2d, written anew).
 * Self-check: the first CHECK_STEPS steps are also computed by a second,
 * independent implementation that visits every field in the opposite order
 * (columns outermost, both indices descending); each field update reads only
 * fields of the previous phase, so both must agree bit for bit. The final
 * fields are then compared with reference sums (IEEE + - *, no libm) and
 * must be finite. */
#include <stdio.h>
#include <stdint.h>
#include <string.h>
#include <math.h>

#ifndef NX
#define NX 400
#endif
#ifndef NY
#define NY 400
#endif
#ifndef STEPS
#define STEPS 3000
#endif
#define CHECK_STEPS 8

#define EXPECTED_SUM 4.863414255e+05
#define EXPECTED_WSUM -5.897164720e+05

static double ex[NX][NY], ey[NX][NY], hz[NX][NY];
static double ex2[NX][NY], ey2[NX][NY], hz2[NX][NY];

static double source(int t) { return (double)(t % 23) * 0.5 - 3.0; }

static void fdtd(int t0, int t1) {
    for (int t = t0; t < t1; t++) {
        for (int j = 0; j < NY; j++) ey[0][j] = source(t);
        for (int i = 1; i < NX; i++)
            for (int j = 0; j < NY; j++) ey[i][j] = ey[i][j] - 0.5 * (hz[i][j] - hz[i - 1][j]);
        for (int i = 0; i < NX; i++)
            for (int j = 1; j < NY; j++) ex[i][j] = ex[i][j] - 0.5 * (hz[i][j] - hz[i][j - 1]);
        for (int i = 0; i < NX - 1; i++)
            for (int j = 0; j < NY - 1; j++)
                hz[i][j] = hz[i][j] - 0.7 * (ex[i][j + 1] - ex[i][j] + ey[i + 1][j] - ey[i][j]);
    }
}

/* the same updates, columns outermost and both indices descending */
static void fdtd_reversed(int steps) {
    for (int t = 0; t < steps; t++) {
        for (int j = NY - 1; j >= 0; j--) {
            for (int i = NX - 1; i >= 1; i--) ey2[i][j] = ey2[i][j] - 0.5 * (hz2[i][j] - hz2[i - 1][j]);
            ey2[0][j] = source(t);
        }
        for (int j = NY - 1; j >= 1; j--)
            for (int i = NX - 1; i >= 0; i--) ex2[i][j] = ex2[i][j] - 0.5 * (hz2[i][j] - hz2[i][j - 1]);
        for (int j = NY - 2; j >= 0; j--)
            for (int i = NX - 2; i >= 0; i--)
                hz2[i][j] = hz2[i][j] - 0.7 * (ex2[i][j + 1] - ex2[i][j] + ey2[i + 1][j] - ey2[i][j]);
    }
}

static uint64_t fnv_bits(const double *v, long n, uint64_t h) {
    for (long i = 0; i < n; i++) {
        uint64_t b;
        memcpy(&b, &v[i], 8);
        h = (h ^ b) * 0x100000001b3ull;
    }
    return h;
}

int main(void) {
    for (int i = 0; i < NX; i++)
        for (int j = 0; j < NY; j++) {
            ex[i][j] = ex2[i][j] = (double)((i * (j + 1)) % 17) / NX;
            ey[i][j] = ey2[i][j] = (double)((i * (j + 2)) % 19) / NY;
            hz[i][j] = hz2[i][j] = (double)((i * (j + 3)) % 13) / NX;
        }
    int ok = 1;
    fdtd(0, CHECK_STEPS);
    fdtd_reversed(CHECK_STEPS);
    if (memcmp(ex, ex2, sizeof ex) || memcmp(ey, ey2, sizeof ey) || memcmp(hz, hz2, sizeof hz)) {
        printf("FAIL: the two traversal orders disagree after %d steps\n", CHECK_STEPS);
        ok = 0;
    }
    fdtd(CHECK_STEPS, STEPS);
    double sum = 0.0, wsum = 0.0;
    for (int i = 0; i < NX; i++)
        for (int j = 0; j < NY; j++) {
            if (!isfinite(ex[i][j]) || !isfinite(ey[i][j]) || !isfinite(hz[i][j])) ok = 0;
            sum += ex[i][j] + ey[i][j] + hz[i][j];
            wsum += (ex[i][j] - ey[i][j]) * (double)((i + j) % 7) + hz[i][j] * (double)(i % 5);
        }
    uint64_t h = 0xcbf29ce484222325ull;
    h = fnv_bits(&ex[0][0], (long)NX * NY, h);
    h = fnv_bits(&ey[0][0], (long)NX * NY, h);
    h = fnv_bits(&hz[0][0], (long)NX * NY, h);
    printf("k_fdtd2d nx=%d ny=%d steps=%d sum=%.9e wsum=%.9e bits=%016llx\n", NX, NY, STEPS, sum, wsum,
           (unsigned long long)h);
    if (fabs(sum - EXPECTED_SUM) > 1e-9 * fabs(EXPECTED_SUM) ||
        fabs(wsum - EXPECTED_WSUM) > 1e-9 * fabs(EXPECTED_WSUM)) ok = 0;
    if (!ok) { printf("FAIL\n"); return 1; }
    printf("OK\n");
    return 0;
}
