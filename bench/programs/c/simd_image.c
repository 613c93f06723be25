/* simd_image: an RGBA image pipeline in 128-bit SIMD (simd_portable.h:
 * wasm_simd128.h on wasm32, SSE4.1 natively).  Each frame:
 *   1. alpha-blend an overlay (scrolled by the frame number) over the image:
 *      per pixel, the overlay's alpha is broadcast to the 4 channels with a
 *      byte shuffle, channels are widened to u16, c = (o*a + i*(255-a)) / 255
 *      rounded ((t + (t >> 8)) >> 8 with t = x + 128), narrowed back to u8;
 *   2. a separable 1-2-1 blur, vertical then horizontal (neighbour = one pixel,
 *      4 bytes away), each tap pair as avgr(avgr(left, right), centre);
 *   3. brightness/contrast with saturating u8 add/sub and a min/max clamp.
 * The frame's result is the next frame's image.  Everything is integer, so
 * the result is exact everywhere.
 * Self-check: the SIMD pipeline equals a scalar twin on a small image, the
 * SIMD byte sum equals a scalar sum, and the final FNV-1a hash is the
 * reference value. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include "simd_portable.h"

#ifndef W
#define W 1024
#endif
#ifndef H
#define H 512
#endif
#ifndef FRAMES
#define FRAMES 1000
#endif
#define EXPECTED_FNV 0xe4b5510f36a4cb91ull

static uint8_t IMG[H * W * 4], OVL[H * W * 4], TMP[H * W * 4];
static uint8_t ROW[W * 4];
static uint8_t sIMG[32 * 64 * 4], sOVL[32 * 64 * 4], sTMP[32 * 64 * 4], sROW[64 * 4];

static uint32_t rng = 2463534242u;
static uint32_t xorshift(void) {
    rng ^= rng << 13;
    rng ^= rng >> 17;
    rng ^= rng << 5;
    return rng;
}

static void fill(uint8_t *img, uint8_t *ovl, int w, int h) {
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            uint8_t *p = img + (y * w + x) * 4, *q = ovl + (y * w + x) * 4;
            uint32_t r = xorshift();
            p[0] = (uint8_t)(x * 255 / w);
            p[1] = (uint8_t)(y * 255 / h);
            p[2] = (uint8_t)((x ^ y) + (r & 31));
            p[3] = 255;
            q[0] = (uint8_t)(r >> 8);
            q[1] = (uint8_t)((x * y) >> 3);
            q[2] = (uint8_t)(r >> 16);
            /* soft stripes of alpha, some fully transparent or opaque */
            int a = ((x + 2 * y) & 127) * 3 - 64;
            q[3] = (uint8_t)(a < 0 ? 0 : a > 255 ? 255 : a);
        }
}

/* ---- SIMD ---------------------------------------------------------------- */

static inline vi div255(vi x) { /* x <= 255*255: exact rounded x/255 */
    vi t = vi16_add(x, vi16_splat(128));
    return vu16_shr(vi16_add(t, vu16_shr(t, 8)), 8);
}

static void frame_simd(uint8_t *img, const uint8_t *ovl, uint8_t *tmp, uint8_t *row, int w, int h, int f) {
    const int rb = w * 4;
    const int scroll = (f * 7) % h;
    const vi k255 = vi16_splat(255);
    for (int y = 0; y < h; y++) {
        const uint8_t *o = ovl + ((y + scroll) % h) * rb;
        const uint8_t *s = img + y * rb;
        uint8_t *d = tmp + y * rb;
        for (int x = 0; x < rb; x += 16) {
            vi ov = vi_load(o + x), iv = vi_load(s + x);
            vi a = vi8_shuffle(ov, 3, 3, 3, 3, 7, 7, 7, 7, 11, 11, 11, 11, 15, 15, 15, 15);
            vi alo = vu16_ext_lo(a), ahi = vu16_ext_hi(a);
            vi lo = vi16_add(vi16_mul(vu16_ext_lo(ov), alo), vi16_mul(vu16_ext_lo(iv), vi16_sub(k255, alo)));
            vi hi = vi16_add(vi16_mul(vu16_ext_hi(ov), ahi), vi16_mul(vu16_ext_hi(iv), vi16_sub(k255, ahi)));
            vi_store(d + x, vu8_narrow(div255(lo), div255(hi)));
        }
    }
    const vi up = vi8_splat(f % 7), down = vi8_splat(f % 5), lo = vi8_splat(6), hi = vi8_splat(250);
    for (int y = 0; y < h; y++) {
        const uint8_t *c = tmp + y * rb;
        if (y == 0 || y == h - 1) {
            memcpy(row, c, rb);
        } else {
            for (int x = 0; x < rb; x += 16) {
                vi v = vu8_avgr(vu8_avgr(vi_load(c - rb + x), vi_load(c + rb + x)), vi_load(c + x));
                vi_store(row + x, v);
            }
        }
        uint8_t *d = img + y * rb;
        memcpy(d, row, 16);
        memcpy(d + rb - 16, row + rb - 16, 16);
        for (int x = 16; x < rb - 16; x += 16) {
            vi v = vu8_avgr(vu8_avgr(vi_load(row + x - 4), vi_load(row + x + 4)), vi_load(row + x));
            v = vu8_sub_sat(vu8_add_sat(v, up), down);
            vi_store(d + x, vu8_min(vu8_max(v, lo), hi));
        }
    }
}

static uint64_t sum_simd(const uint8_t *p, int n) {
    uint64_t total = 0;
    for (int i = 0; i < n;) {
        vi acc = vi_zero(); /* u16 lanes: at most 64 * 2 * 255 per block */
        int end = i + 64 * 16 < n ? i + 64 * 16 : n;
        for (; i < end; i += 16) acc = vi16_add(acc, vu16_sum_pairs(vi_load(p + i)));
        vi s = vi32_dot16(acc, vi16_splat(1)); /* each u16 < 32768 */
        total += (uint32_t)(vi32_lane(s, 0) + vi32_lane(s, 1) + vi32_lane(s, 2) + vi32_lane(s, 3));
    }
    return total;
}

/* ---- scalar twin ---------------------------------------------------------- */

static int avgr(int a, int b) { return (a + b + 1) >> 1; }

static void frame_scalar(uint8_t *img, const uint8_t *ovl, uint8_t *tmp, uint8_t *row, int w, int h, int f) {
    const int rb = w * 4;
    const int scroll = (f * 7) % h;
    for (int y = 0; y < h; y++) {
        const uint8_t *o = ovl + ((y + scroll) % h) * rb;
        for (int x = 0; x < rb; x++) {
            int a = o[x | 3];
            int t = o[x] * a + img[y * rb + x] * (255 - a) + 128;
            tmp[y * rb + x] = (uint8_t)((t + (t >> 8)) >> 8);
        }
    }
    const int up = f % 7, down = f % 5;
    for (int y = 0; y < h; y++) {
        const uint8_t *c = tmp + y * rb;
        for (int x = 0; x < rb; x++)
            row[x] = (y == 0 || y == h - 1) ? c[x] : (uint8_t)avgr(avgr(c[x - rb], c[x + rb]), c[x]);
        uint8_t *d = img + y * rb;
        for (int x = 0; x < rb; x++) {
            if (x < 16 || x >= rb - 16) {
                d[x] = row[x];
                continue;
            }
            int v = avgr(avgr(row[x - 4], row[x + 4]), row[x]);
            v += up;
            if (v > 255) v = 255;
            v -= down;
            if (v < 0) v = 0;
            if (v < 6) v = 6;
            if (v > 250) v = 250;
            d[x] = (uint8_t)v;
        }
    }
}

static uint64_t fnv(const uint8_t *p, size_t n) {
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * 1099511628211ull;
    return h;
}

int main(void) {
    int ok = 1;
    /* the SIMD pipeline against its scalar twin on a 64x32 image */
    static uint8_t ref[sizeof sIMG];
    fill(sIMG, sOVL, 64, 32);
    memcpy(ref, sIMG, sizeof ref);
    for (int f = 0; f < 9; f++) {
        frame_simd(sIMG, sOVL, sTMP, sROW, 64, 32, f);
        frame_scalar(ref, sOVL, sTMP, sROW, 64, 32, f);
        if (memcmp(ref, sIMG, sizeof ref) != 0) {
            printf("FAIL simd and scalar differ at frame %d\n", f);
            return 1;
        }
    }

    fill(IMG, OVL, W, H);
    for (int f = 0; f < FRAMES; f++) frame_simd(IMG, OVL, TMP, ROW, W, H, f);
    uint64_t sum = sum_simd(IMG, (int)sizeof IMG), ssum = 0;
    for (size_t i = 0; i < sizeof IMG; i++) ssum += IMG[i];
    uint64_t h = fnv(IMG, sizeof IMG);
    printf("simd_image %dx%d frames=%d sum=%llu fnv=%016llx\n", W, H, FRAMES, (unsigned long long)sum,
           (unsigned long long)h);
    if (sum != ssum) ok = 0;
    if (W == 1024 && H == 512 && FRAMES == 1000 && h != EXPECTED_FNV) ok = 0;
    if (!ok) {
        printf("FAIL\n");
        return 1;
    }
    printf("OK\n");
    return 0;
}
