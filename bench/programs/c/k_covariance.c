/* k_covariance: sample covariance matrix of M variables over N observations
 * (data[N][M], row = observation), PolyBench-like and written anew: column
 * means, centring in place, then cov[i][j] = sum_k data[k][i]*data[k][j] /
 * (N-1) for j >= i (the k loop walks down two columns), mirrored to j < i.
 * Self-check: the sum of all entries must equal the sample variance of the
 * observations' row sums (a bilinear identity, computed independently from
 * the original data; relative tolerance 1e-9); 16 entries are recomputed
 * directly from the generating formula (two-pass, relative tolerance 1e-12);
 * the diagonal is non-negative; a checksum matches a reference value (IEEE
 * + - * /, no libm). */
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

#define EXPECTED_WSUM 6.939878490e+06

static double data[N][M], cov[M][M];

static double h(int i, int j, unsigned seed, int r) {
    unsigned x = (unsigned)i * 7919u + (unsigned)j * 104729u + seed;
    x ^= x >> 15; x *= 2654435761u; x ^= x >> 13;
    return (double)((int)(x % (unsigned)(2 * r + 1)) - r);
}
/* observation k of variable i: a few shared factors plus noise */
static double d0(int k, int i) {
    return h(k, i % 8, 21u, 9) * (double)(i % 5 + 1) * 0.25 + h(k, i, 22u, 50) / 7.0 + (double)(i % 13);
}

static void covariance(void) {
    for (int i = 0; i < M; i++) {
        double s = 0.0;
        for (int k = 0; k < N; k++) s += data[k][i];
        double mean = s / N;
        for (int k = 0; k < N; k++) data[k][i] -= mean;
    }
    for (int i = 0; i < M; i++)
        for (int j = i; j < M; j++) {
            double s = 0.0;
            for (int k = 0; k < N; k++) s += data[k][i] * data[k][j];
            cov[i][j] = cov[j][i] = s / (N - 1.0);
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
    covariance();

    int ok = 1;
    double total = 0.0, wsum = 0.0;
    for (int i = 0; i < M; i++) {
        if (!(cov[i][i] >= 0.0)) ok = 0;
        for (int j = 0; j < M; j++) {
            total += cov[i][j];
            wsum += cov[i][j] * (double)((i + 2 * j) % 9 + 1);
        }
    }
    /* sum_ij cov = var(sum_i x_i), from the raw data */
    static double rs[N];
    double rmean = 0.0, var = 0.0;
    for (int k = 0; k < N; k++) {
        double s = 0.0;
        for (int i = 0; i < M; i++) s += d0(k, i);
        rs[k] = s;
        rmean += s;
    }
    rmean /= N;
    for (int k = 0; k < N; k++) var += (rs[k] - rmean) * (rs[k] - rmean);
    var /= N - 1.0;
    if (!(fabs(total - var) <= 1e-9 * fabs(var))) ok = 0;
    for (int t = 0; t < 16; t++) {
        int i = (t * 131 + 2) % M, j = (t * 67 + 11) % M;
        double mi = 0.0, mj = 0.0, s = 0.0;
        for (int k = 0; k < N; k++) { mi += d0(k, i); mj += d0(k, j); }
        mi /= N; mj /= N;
        for (int k = 0; k < N; k++) s += (d0(k, i) - mi) * (d0(k, j) - mj);
        s /= N - 1.0;
        if (!(fabs(s - cov[i][j]) <= 1e-12 * (fabs(s) + sqrt(cov[i][i] * cov[j][j])))) ok = 0;
    }
    printf("k_covariance n=%d m=%d total=%.9e wsum=%.9e bits=%016llx\n", N, M, total, wsum,
           (unsigned long long)fnv_bits(&cov[0][0], (long)M * M));
    if (fabs(wsum - EXPECTED_WSUM) > 1e-9 * fabs(EXPECTED_WSUM)) ok = 0;
    if (!ok) { printf("FAIL: var(row sums) %.9e\n", var); return 1; }
    printf("OK\n");
    return 0;
}
