/* k_lu: LU decomposition without pivoting of a diagonally dominant N x N
 * matrix, in place, right-looking (k, i, j loops; the j loop is a row
 * update), written anew in the spirit of PolyBench's lu. Afterwards A holds
 * L (unit lower, below the diagonal) and U (upper).
 * Self-check: the factors must reproduce the original matrix, tested
 * independently of the factorisation loop as a residual on a vector:
 * |A0 x - L (U x)| / (|A0| |x|) < 1e-12 in the max norm (A0 regenerated from
 * its formula); every pivot must be nonzero; a checksum of the factors is
 * compared with a reference value (IEEE + - * /, no libm). */
#include <stdio.h>
#include <stdint.h>
#include <string.h>
#include <math.h>

#ifndef N
#define N 1400
#endif

#define EXPECTED_SUM 2.351412611e+07

static double A[N][N];

static double h(int i, int j, unsigned seed, int r) {
    unsigned x = (unsigned)i * 7919u + (unsigned)j * 104729u + seed;
    x ^= x >> 15; x *= 2654435761u; x ^= x >> 13;
    return (double)((int)(x % (unsigned)(2 * r + 1)) - r);
}
static double a0(int i, int j) {
    return i == j ? 4.0 * N + h(i, i, 8u, 3) : h(i, j, 7u, 4) + 0.25 * h(j, i, 9u, 1);
}

static void lu(void) {
    for (int k = 0; k < N; k++) {
        double inv = 1.0 / A[k][k];
        for (int i = k + 1; i < N; i++) {
            double l = A[i][k] * inv;
            A[i][k] = l;
            for (int j = k + 1; j < N; j++) A[i][j] -= l * A[k][j];
        }
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
    lu();

    int ok = 1;
    static double x[N], ux[N];
    for (int j = 0; j < N; j++) x[j] = (double)(j % 9) - 4.0 + 0.5;
    for (int i = 0; i < N; i++) {
        if (A[i][i] == 0.0) ok = 0;
        double s = 0.0;
        for (int j = i; j < N; j++) s += A[i][j] * x[j];
        ux[i] = s;
    }
    double maxres = 0.0, anorm = 0.0;
    for (int i = 0; i < N; i++) {
        double lux = ux[i], ax = 0.0, rowabs = 0.0;
        for (int j = 0; j < i; j++) lux += A[i][j] * ux[j];
        for (int j = 0; j < N; j++) {
            ax += a0(i, j) * x[j];
            rowabs += fabs(a0(i, j));
        }
        if (fabs(ax - lux) > maxres) maxres = fabs(ax - lux);
        if (rowabs > anorm) anorm = rowabs;
    }
    double rel = maxres / (anorm * 4.5);
    if (!(rel < 1e-12)) ok = 0;
    double sum = 0.0;
    for (int i = 0; i < N; i++)
        for (int j = 0; j < N; j++) sum += A[i][j] * (double)((i + j) % 5 + 1);
    printf("k_lu n=%d sum=%.9e bits=%016llx\n", N, sum, (unsigned long long)fnv_bits(&A[0][0], (long)N * N));
    if (fabs(sum - EXPECTED_SUM) > 1e-9 * fabs(EXPECTED_SUM)) ok = 0;
    if (!ok) { printf("FAIL: relative residual %.3e\n", rel); return 1; }
    printf("OK\n");
    return 0;
}
