/* k_correlation: Pearson correlation matrix of M variables over N
 * observations (data[N][M], row = observation), PolyBench-like and written
 * anew: column means and standard deviations (sqrt, correctly rounded
 * everywhere), standardisation in place (x - mean) / (sqrt(N) * sd), then
 * corr[i][j] = sum_k data[k][i]*data[k][j] for j >= i (the k loop walks down
 * two columns, the diagonal included), mirrored to j < i.
 * Self-check: every diagonal entry is 1 within 1e-12 and every entry within
 * [-1-1e-12, 1+1e-12]; 16 entries are recomputed directly from the
 * generating formula with the textbook two-pass Pearson formula (absolute
 * tolerance 1e-12); a checksum matches a reference value. */
#include <stdio.h>
#include <stdint.h>
#include <string.h>
#include <math.h>

#ifndef N
#define N 1000
#endif
#ifndef M
#define M 800
#endif

#define EXPECTED_WSUM 7.692404393e+02

static double data[N][M], corr[M][M];

static double h(int i, int j, unsigned seed, int r) {
    unsigned x = (unsigned)i * 7919u + (unsigned)j * 104729u + seed;
    x ^= x >> 15; x *= 2654435761u; x ^= x >> 13;
    return (double)((int)(x % (unsigned)(2 * r + 1)) - r);
}
/* observation k of variable i: shared factors (so correlations are far from
 * zero, some negative) plus noise */
static double d0(int k, int i) {
    return h(k, i % 6, 31u, 9) * (double)(i % 7 - 3) * 0.5 + h(k, i, 32u, 40) / 9.0 + (double)(i % 11);
}

static void correlation(void) {
    const double sqn = sqrt((double)N);
    for (int i = 0; i < M; i++) {
        double s = 0.0, ss = 0.0;
        for (int k = 0; k < N; k++) s += data[k][i];
        double mean = s / N;
        for (int k = 0; k < N; k++) ss += (data[k][i] - mean) * (data[k][i] - mean);
        double sd = sqrt(ss / N);
        if (sd <= 0.1) sd = 1.0; /* (near-)constant column */
        double scale = 1.0 / (sqn * sd);
        for (int k = 0; k < N; k++) data[k][i] = (data[k][i] - mean) * scale;
    }
    for (int i = 0; i < M; i++)
        for (int j = i; j < M; j++) {
            double s = 0.0;
            for (int k = 0; k < N; k++) s += data[k][i] * data[k][j];
            corr[i][j] = corr[j][i] = s;
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
    for (int k = 0; k < N; k++)
        for (int i = 0; i < M; i++) data[k][i] = d0(k, i);
    correlation();

    int ok = 1;
    double total = 0.0, wsum = 0.0, maxdiag = 0.0;
    for (int i = 0; i < M; i++) {
        if (fabs(corr[i][i] - 1.0) > maxdiag) maxdiag = fabs(corr[i][i] - 1.0);
        for (int j = 0; j < M; j++) {
            if (!(fabs(corr[i][j]) <= 1.0 + 1e-12)) ok = 0;
            total += corr[i][j];
            wsum += corr[i][j] * (double)((3 * i + j) % 8 + 1);
        }
    }
    if (!(maxdiag <= 1e-12)) ok = 0;
    for (int t = 0; t < 16; t++) {
        int i = (t * 131 + 2) % M, j = (t * 67 + 11) % M;
        double mi = 0.0, mj = 0.0, sij = 0.0, sii = 0.0, sjj = 0.0;
        for (int k = 0; k < N; k++) { mi += d0(k, i); mj += d0(k, j); }
        mi /= N; mj /= N;
        for (int k = 0; k < N; k++) {
            double a = d0(k, i) - mi, b = d0(k, j) - mj;
            sij += a * b; sii += a * a; sjj += b * b;
        }
        double r = sij / sqrt(sii * sjj);
        if (!(fabs(r - corr[i][j]) <= 1e-12)) ok = 0;
    }
    printf("k_correlation n=%d m=%d total=%.9e wsum=%.9e bits=%016llx\n", N, M, total, wsum,
           (unsigned long long)fnv_bits(&corr[0][0], (long)M * M));
    if (fabs(wsum - EXPECTED_WSUM) > 1e-9 * fabs(EXPECTED_WSUM)) ok = 0;
    if (!ok) { printf("FAIL: max |diag - 1| %.3e\n", maxdiag); return 1; }
    printf("OK\n");
    return 0;
}
