/* simd_sgemm: single-precision GEMM in f32x4 SIMD (simd_portable.h:
 * wasm_simd128.h on wasm32, SSE4.1 natively).  C = A * B for N x N row-major
 * matrices with a 4 x 8 register-blocked micro-kernel (8 accumulators; per
 * k: two row vectors of B, four broadcasts of A, multiply and add, no FMA so
 * every engine rounds the same).  After each repetition A is rebuilt from C
 * ((int)c & 15) - 8 with vector truncation, so the repetitions chain and
 * nothing is dead.  Entries are small integers (|a|, |b| <= 8), every sum
 * stays below 2^24 in magnitude, so all f32 arithmetic is exact.
 * Self-check: per repetition, 4 entries recomputed with scalar dot products;
 * the final checksum is the reference value. */
#include <stdint.h>
#include <stdio.h>
#include "simd_portable.h"

#ifndef N
#define N 256
#endif
#ifndef REPS
#define REPS 400
#endif
#define EXPECTED_CHECKSUM 8322044690552879141ull

static float A[N * N], B[N * N], C[N * N];

static void gemm(void) {
    for (int i = 0; i < N; i += 4)
        for (int j = 0; j < N; j += 8) {
            vf c00 = vf_zero(), c01 = vf_zero(), c10 = vf_zero(), c11 = vf_zero();
            vf c20 = vf_zero(), c21 = vf_zero(), c30 = vf_zero(), c31 = vf_zero();
            const float *a = A + i * N, *b = B + j;
            for (int k = 0; k < N; k++) {
                vf b0 = vf_load(b + k * N), b1 = vf_load(b + k * N + 4);
                vf a0 = vf_splat(a[k]), a1 = vf_splat(a[N + k]);
                vf a2 = vf_splat(a[2 * N + k]), a3 = vf_splat(a[3 * N + k]);
                c00 = vf_add(c00, vf_mul(a0, b0));
                c01 = vf_add(c01, vf_mul(a0, b1));
                c10 = vf_add(c10, vf_mul(a1, b0));
                c11 = vf_add(c11, vf_mul(a1, b1));
                c20 = vf_add(c20, vf_mul(a2, b0));
                c21 = vf_add(c21, vf_mul(a2, b1));
                c30 = vf_add(c30, vf_mul(a3, b0));
                c31 = vf_add(c31, vf_mul(a3, b1));
            }
            float *c = C + i * N + j;
            vf_store(c, c00);
            vf_store(c + 4, c01);
            vf_store(c + N, c10);
            vf_store(c + N + 4, c11);
            vf_store(c + 2 * N, c20);
            vf_store(c + 2 * N + 4, c21);
            vf_store(c + 3 * N, c30);
            vf_store(c + 3 * N + 4, c31);
        }
}

/* A = ((int)C & 15) - 8; returns a weighted checksum of C */
static int64_t refeed(void) {
    int64_t cs = 0;
    const vi m15 = vi32_splat(15), m8 = vi32_splat(-8);
    for (int i = 0; i < N; i++) {
        vi rs = vi_zero(); /* |row sum| <= N * N * 64 */
        for (int j = 0; j < N; j += 4) {
            vi c = vi32_from_f(vf_load(C + i * N + j));
            rs = vi32_add(rs, c);
            vi a = vi32_add(vi_and(c, m15), m8);
            vf_store(A + i * N + j, vf_from_i32(a));
        }
        int64_t s = (int64_t)vi32_lane(rs, 0) + vi32_lane(rs, 1) + vi32_lane(rs, 2) + vi32_lane(rs, 3);
        cs += s * ((i & 7) + 1);
    }
    return cs;
}

int main(void) {
    uint32_t seed = 7;
    for (int i = 0; i < N * N; i++) {
        seed = seed * 1664525u + 1013904223u;
        A[i] = (float)((int)(seed >> 24) % 17 - 8);
        seed = seed * 1664525u + 1013904223u;
        B[i] = (float)((int)(seed >> 24) % 17 - 8);
    }
    uint64_t checksum = 0; /* wraps */
    int ok = 1;
    for (int r = 0; r < REPS; r++) {
        gemm();
        for (int t = 0; t < 4; t++) { /* spot checks, before refeed overwrites A */
            int i = (r * 37 + t * 101) % N, j = (r * 53 + t * 29) % N;
            double d = 0;
            for (int k = 0; k < N; k++) d += (double)A[i * N + k] * (double)B[k * N + j];
            if (d != (double)C[i * N + j]) ok = 0;
        }
        checksum = checksum * 3 + (uint64_t)refeed();
    }
    printf("simd_sgemm n=%d reps=%d c00=%.0f checksum=%llu\n", N, REPS, (double)C[0], (unsigned long long)checksum);
    if (N == 256 && REPS == 400 && checksum != EXPECTED_CHECKSUM) ok = 0;
    if (!ok) {
        printf("FAIL\n");
        return 1;
    }
    printf("OK\n");
    return 0;
}
