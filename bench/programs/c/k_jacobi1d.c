/* k_jacobi1d: 1-D Jacobi smoothing (3-point stencil, weights 1/4 1/2 1/4,
 * double-buffered) of an N-point line with fixed ends, STEPS sweeps.
 * Self-check: the initial data and the fixed ends are mirror-symmetric and
 * the update is written as 0.25*(left+right) + 0.5*centre, so every sweep
 * keeps the line bit-exactly symmetric (a[i] == a[N-1-i]); every value stays
 * within the initial min/max (maximum principle: a convex combination); and
 * the sum and a weighted sum match reference values (IEEE + - *, no libm). */
#include <stdio.h>
#include <stdint.h>
#include <string.h>
#include <math.h>

#ifndef N
#define N 40000
#endif
#ifndef STEPS
#define STEPS 40000
#endif

#define EXPECTED_SUM 3.528189070e+03
#define EXPECTED_WSUM 2.146685929e+04

static double A[N], B[N];

static uint64_t fnv_bits(const double *v, int n) {
    uint64_t h = 0xcbf29ce484222325ull;
    for (int i = 0; i < n; i++) {
        uint64_t b;
        memcpy(&b, &v[i], 8);
        h = (h ^ b) * 0x100000001b3ull;
    }
    return h;
}

int main(void) {
    for (int i = 0; i < N; i++) {
        int d = i < N - 1 - i ? i : N - 1 - i; /* distance to the nearer end */
        A[i] = B[i] = (double)((d * 37) % 101) - 50.0 + (d % 7) * 0.125;
    }
    double lo = A[0], hi = A[0];
    for (int i = 0; i < N; i++) {
        if (A[i] < lo) lo = A[i];
        if (A[i] > hi) hi = A[i];
    }
    for (int s = 0; s < STEPS; s += 2) {
        for (int i = 1; i < N - 1; i++) B[i] = 0.25 * (A[i - 1] + A[i + 1]) + 0.5 * A[i];
        for (int i = 1; i < N - 1; i++) A[i] = 0.25 * (B[i - 1] + B[i + 1]) + 0.5 * B[i];
    }
    int ok = 1;
    double sum = 0.0, wsum = 0.0;
    for (int i = 0; i < N; i++) {
        if (A[i] != A[N - 1 - i]) ok = 0;
        if (A[i] < lo || A[i] > hi) ok = 0;
        sum += A[i];
        wsum += A[i] * (double)(i % 13);
    }
    printf("k_jacobi1d n=%d steps=%d sum=%.9e wsum=%.9e bits=%016llx\n", N, STEPS, sum, wsum,
           (unsigned long long)fnv_bits(A, N));
    if (fabs(sum - EXPECTED_SUM) > 1e-9 * fabs(EXPECTED_SUM) ||
        fabs(wsum - EXPECTED_WSUM) > 1e-9 * fabs(EXPECTED_WSUM)) ok = 0;
    if (!ok) { printf("FAIL\n"); return 1; }
    printf("OK\n");
    return 0;
}
