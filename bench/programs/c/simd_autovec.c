/* simd_autovec: plain C loops, no intrinsics, left to clang's loop
 * vectoriser: built with -msimd128 for wasm32 and with -msse4.1 natively,
 * both at -O2 (same 128-bit width).  Per round, over 16 Ki-element arrays:
 *   - i32 axpy with wrap-around      y = 3*y + x (then x ^= y >> 7)
 *   - u8 sum of absolute differences  (widening reduction)
 *   - i16 FIR filter, 8 taps          i32 accumulation, narrowed >> 6
 *   - u8 clamp/threshold map          saturating add, min/max
 *   - i32 min/max/sum reductions
 * Each round's outputs feed the next, so nothing is dead; all arithmetic is
 * integer and therefore exact.
 * Self-check: round 0 and the last round are recomputed with loops the
 * vectoriser is told not to touch (#pragma clang loop vectorize(disable)
 * interleave(disable)); the final checksum is the reference value. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#define LEN 16384
#ifndef ROUNDS
#define ROUNDS 20000
#endif
#define EXPECTED 0xc7f9207e86c0595aull

typedef struct {
    uint32_t x[LEN], y[LEN];
    uint8_t a[LEN], b[LEN], m[LEN];
    int16_t s[LEN + 8], f[LEN];
} State;

static State S, R; /* R: the scalar reference's copy */
static const int16_t taps[8] = {3, -7, 19, 41, 41, 19, -7, 3};

#define KERNELS(NOVEC)                                                                         \
    static uint64_t round_##NOVEC(State *st, int r) {                                          \
        uint64_t out = 0;                                                                      \
        uint32_t *x = st->x, *y = st->y;                                                       \
        NOVEC for (int i = 0; i < LEN; i++) y[i] = 3u * y[i] + x[i];                            \
        NOVEC for (int i = 0; i < LEN; i++) x[i] ^= y[i] >> 7;                                  \
        uint32_t sad = 0;                                                                      \
        uint8_t *a = st->a, *b = st->b, *m = st->m;                                            \
        NOVEC for (int i = 0; i < LEN; i++) sad += (uint32_t)(a[i] > b[i] ? a[i] - b[i] : b[i] - a[i]); \
        out += sad;                                                                            \
        int16_t *s = st->s, *f = st->f;                                                        \
        NOVEC for (int i = 0; i < LEN; i++) {                                                  \
            int32_t acc = 0;                                                                   \
            for (int k = 0; k < 8; k++) acc += (int32_t)taps[k] * s[i + k];                    \
            f[i] = (int16_t)(acc >> 6);                                                        \
        }                                                                                      \
        const int up = r & 31;                                                                 \
        NOVEC for (int i = 0; i < LEN; i++) {                                                  \
            int v = a[i] + up;                                                                 \
            v = v > 255 ? 255 : v;                                                             \
            v = v < 40 ? 40 : v;                                                               \
            m[i] = (uint8_t)(v > 200 ? b[i] : v);                                              \
        }                                                                                      \
        int32_t mn = INT32_MAX, mx = INT32_MIN;                                                \
        uint32_t sum = 0;                                                                      \
        NOVEC for (int i = 0; i < LEN; i++) {                                                  \
            int32_t v = (int32_t)x[i] >> 3;                                                    \
            mn = v < mn ? v : mn;                                                              \
            mx = v > mx ? v : mx;                                                              \
            sum += (uint32_t)f[i];                                                             \
        }                                                                                      \
        out = out * 31 + (uint32_t)mn;                                                         \
        out = out * 31 + (uint32_t)mx;                                                         \
        out = out * 31 + sum;                                                                  \
        /* feed back: next round's inputs */                                                   \
        NOVEC for (int i = 0; i < LEN; i++) {                                                  \
            a[i] = (uint8_t)(m[i] ^ b[i]);                                                     \
            b[i] = (uint8_t)(b[i] + (uint8_t)y[i]);                                            \
        }                                                                                      \
        NOVEC for (int i = 0; i < LEN; i++) s[i] = (int16_t)(f[i] + (int16_t)(x[i] & 1023) - 512); \
        return out;                                                                            \
    }

#define VEC
#define NOVEC _Pragma("clang loop vectorize(disable) interleave(disable)")
KERNELS(VEC)
KERNELS(NOVEC)

int main(void) {
    uint32_t seed = 99;
    for (int i = 0; i < LEN; i++) {
        seed = seed * 1664525u + 1013904223u;
        S.x[i] = seed;
        S.y[i] = seed >> 3;
        S.a[i] = (uint8_t)(seed >> 24);
        S.b[i] = (uint8_t)(seed >> 16);
        S.s[i] = (int16_t)((seed >> 8) & 4095) - 2048;
    }
    int ok = 1;
    uint64_t total = 0;
    for (int r = 0; r < ROUNDS; r++) {
        if (r == 0 || r == ROUNDS - 1) {
            memcpy(&R, &S, sizeof R);
            uint64_t want = round_NOVEC(&R, r), got = round_VEC(&S, r);
            if (want != got || memcmp(&R, &S, sizeof R) != 0) {
                printf("FAIL vectorised and scalar loops differ in round %d\n", r);
                return 1;
            }
            total = total * 1099511628211ull + got;
            continue;
        }
        total = total * 1099511628211ull + round_VEC(&S, r);
    }
    printf("simd_autovec len=%d rounds=%d x0=%u total=%016llx\n", LEN, ROUNDS, S.x[0], (unsigned long long)total);
    if (ROUNDS == 20000 && total != EXPECTED) ok = 0;
    if (!ok) {
        printf("FAIL\n");
        return 1;
    }
    printf("OK\n");
    return 0;
}
