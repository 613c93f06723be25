/* simd_portable.h: the tiny 128-bit SIMD layer the simd_* benchmarks are
 * written over.  On wasm32 (built with -msimd128) every operation is one
 * wasm_simd128.h intrinsic; natively (x86-64, built with -msse4.1) it is the
 * equivalent SSE2/SSSE3/SSE4.1 intrinsic, so the native build is "the same
 * program with the x86 intrinsics" at the same 128-bit width.
 *
 * What must stay true: every operation gives bit-identical results on both
 * sides for the inputs the programs feed it (noted where the two ISAs differ
 * outside that domain), so native and wasm print the same result line. */
#ifndef SIMD_PORTABLE_H
#define SIMD_PORTABLE_H

#include <stdint.h>

#if defined(__wasm_simd128__)
#include <wasm_simd128.h>
#define SIMD_ISA "wasm-simd128"
typedef v128_t vi; /* integer lanes */
typedef v128_t vf; /* f32x4 */

static inline vi vi_load(const void *p) { return wasm_v128_load(p); }
static inline void vi_store(void *p, vi v) { wasm_v128_store(p, v); }
static inline vi vi_zero(void) { return wasm_i32x4_splat(0); }
static inline vi vi8_splat(int x) { return wasm_i8x16_splat((int8_t)x); }
static inline vi vi16_splat(int x) { return wasm_i16x8_splat((int16_t)x); }
static inline vi vi32_splat(int32_t x) { return wasm_i32x4_splat(x); }
static inline vi vi_and(vi a, vi b) { return wasm_v128_and(a, b); }
static inline vi vi_or(vi a, vi b) { return wasm_v128_or(a, b); }
static inline vi vi_xor(vi a, vi b) { return wasm_v128_xor(a, b); }
static inline vi vi8_add(vi a, vi b) { return wasm_i8x16_add(a, b); }
static inline vi vi8_sub(vi a, vi b) { return wasm_i8x16_sub(a, b); }
static inline vi vi8_eq(vi a, vi b) { return wasm_i8x16_eq(a, b); }
/* signed compare a > b, lane mask */
static inline vi vi8_gt(vi a, vi b) { return wasm_i8x16_gt(a, b); }
static inline int vi8_bitmask(vi a) { return (int)wasm_i8x16_bitmask(a); }
static inline vi vu8_add_sat(vi a, vi b) { return wasm_u8x16_add_sat(a, b); }
static inline vi vu8_sub_sat(vi a, vi b) { return wasm_u8x16_sub_sat(a, b); }
static inline vi vu8_avgr(vi a, vi b) { return wasm_u8x16_avgr(a, b); }
static inline vi vu8_min(vi a, vi b) { return wasm_u8x16_min(a, b); }
static inline vi vu8_max(vi a, vi b) { return wasm_u8x16_max(a, b); }
static inline vi vu16_ext_lo(vi a) { return wasm_u16x8_extend_low_u8x16(a); }
static inline vi vu16_ext_hi(vi a) { return wasm_u16x8_extend_high_u8x16(a); }
/* i16 lanes -> u8 with unsigned saturation (packuswb) */
static inline vi vu8_narrow(vi a, vi b) { return wasm_u8x16_narrow_i16x8(a, b); }
/* pairwise u8 sums into u16 lanes (SSSE3: pmaddubsw with ones; equal) */
static inline vi vu16_sum_pairs(vi a) { return wasm_u16x8_extadd_pairwise_u8x16(a); }
static inline vi vi16_add(vi a, vi b) { return wasm_i16x8_add(a, b); }
static inline vi vi16_sub(vi a, vi b) { return wasm_i16x8_sub(a, b); }
static inline vi vi16_mul(vi a, vi b) { return wasm_i16x8_mul(a, b); }
#define vu16_shr(a, n) wasm_u16x8_shr((a), (n))
/* i16 products summed in pairs into i32 lanes (pmaddwd) */
static inline vi vi32_dot16(vi a, vi b) { return wasm_i32x4_dot_i16x8(a, b); }
static inline vi vi32_add(vi a, vi b) { return wasm_i32x4_add(a, b); }
static inline vi vi32_mul(vi a, vi b) { return wasm_i32x4_mul(a, b); }
static inline int32_t vi32_lane(vi a, int n) {
    switch (n & 3) {
    case 0: return wasm_i32x4_extract_lane(a, 0);
    case 1: return wasm_i32x4_extract_lane(a, 1);
    case 2: return wasm_i32x4_extract_lane(a, 2);
    default: return wasm_i32x4_extract_lane(a, 3);
    }
}
/* byte shuffle of one vector by 16 constant indices (pshufb) */
#define vi8_shuffle(a, c0, c1, c2, c3, c4, c5, c6, c7, c8, c9, c10, c11, c12, c13, c14, c15) \
    wasm_i8x16_shuffle((a), (a), c0, c1, c2, c3, c4, c5, c6, c7, c8, c9, c10, c11, c12, c13, c14, c15)

static inline vf vf_load(const float *p) { return wasm_v128_load(p); }
static inline void vf_store(float *p, vf v) { wasm_v128_store(p, v); }
static inline vf vf_splat(float x) { return wasm_f32x4_splat(x); }
static inline vf vf_zero(void) { return wasm_f32x4_splat(0.0f); }
static inline vf vf_add(vf a, vf b) { return wasm_f32x4_add(a, b); }
static inline vf vf_mul(vf a, vf b) { return wasm_f32x4_mul(a, b); }
/* f32 -> i32 toward zero; identical for in-range inputs (cvttps2dq gives
 * INT_MIN where wasm saturates) */
static inline vi vi32_from_f(vf a) { return wasm_i32x4_trunc_sat_f32x4(a); }
static inline vf vf_from_i32(vi a) { return wasm_f32x4_convert_i32x4(a); }

#elif defined(__SSE4_1__)
#include <smmintrin.h>
#define SIMD_ISA "sse4.1"
typedef __m128i vi;
typedef __m128 vf;

static inline vi vi_load(const void *p) { return _mm_loadu_si128((const __m128i *)p); }
static inline void vi_store(void *p, vi v) { _mm_storeu_si128((__m128i *)p, v); }
static inline vi vi_zero(void) { return _mm_setzero_si128(); }
static inline vi vi8_splat(int x) { return _mm_set1_epi8((char)x); }
static inline vi vi16_splat(int x) { return _mm_set1_epi16((short)x); }
static inline vi vi32_splat(int32_t x) { return _mm_set1_epi32(x); }
static inline vi vi_and(vi a, vi b) { return _mm_and_si128(a, b); }
static inline vi vi_or(vi a, vi b) { return _mm_or_si128(a, b); }
static inline vi vi_xor(vi a, vi b) { return _mm_xor_si128(a, b); }
static inline vi vi8_add(vi a, vi b) { return _mm_add_epi8(a, b); }
static inline vi vi8_sub(vi a, vi b) { return _mm_sub_epi8(a, b); }
static inline vi vi8_eq(vi a, vi b) { return _mm_cmpeq_epi8(a, b); }
static inline vi vi8_gt(vi a, vi b) { return _mm_cmpgt_epi8(a, b); }
static inline int vi8_bitmask(vi a) { return _mm_movemask_epi8(a); }
static inline vi vu8_add_sat(vi a, vi b) { return _mm_adds_epu8(a, b); }
static inline vi vu8_sub_sat(vi a, vi b) { return _mm_subs_epu8(a, b); }
static inline vi vu8_avgr(vi a, vi b) { return _mm_avg_epu8(a, b); }
static inline vi vu8_min(vi a, vi b) { return _mm_min_epu8(a, b); }
static inline vi vu8_max(vi a, vi b) { return _mm_max_epu8(a, b); }
static inline vi vu16_ext_lo(vi a) { return _mm_cvtepu8_epi16(a); }
static inline vi vu16_ext_hi(vi a) { return _mm_unpackhi_epi8(a, _mm_setzero_si128()); }
static inline vi vu8_narrow(vi a, vi b) { return _mm_packus_epi16(a, b); }
static inline vi vu16_sum_pairs(vi a) { return _mm_maddubs_epi16(a, _mm_set1_epi8(1)); }
static inline vi vi16_add(vi a, vi b) { return _mm_add_epi16(a, b); }
static inline vi vi16_sub(vi a, vi b) { return _mm_sub_epi16(a, b); }
static inline vi vi16_mul(vi a, vi b) { return _mm_mullo_epi16(a, b); }
#define vu16_shr(a, n) _mm_srli_epi16((a), (n))
static inline vi vi32_dot16(vi a, vi b) { return _mm_madd_epi16(a, b); }
static inline vi vi32_add(vi a, vi b) { return _mm_add_epi32(a, b); }
static inline vi vi32_mul(vi a, vi b) { return _mm_mullo_epi32(a, b); }
static inline int32_t vi32_lane(vi a, int n) {
    switch (n & 3) {
    case 0: return _mm_extract_epi32(a, 0);
    case 1: return _mm_extract_epi32(a, 1);
    case 2: return _mm_extract_epi32(a, 2);
    default: return _mm_extract_epi32(a, 3);
    }
}
#define vi8_shuffle(a, c0, c1, c2, c3, c4, c5, c6, c7, c8, c9, c10, c11, c12, c13, c14, c15) \
    _mm_shuffle_epi8((a), _mm_setr_epi8(c0, c1, c2, c3, c4, c5, c6, c7, c8, c9, c10, c11, c12, c13, c14, c15))

static inline vf vf_load(const float *p) { return _mm_loadu_ps(p); }
static inline void vf_store(float *p, vf v) { _mm_storeu_ps(p, v); }
static inline vf vf_splat(float x) { return _mm_set1_ps(x); }
static inline vf vf_zero(void) { return _mm_setzero_ps(); }
static inline vf vf_add(vf a, vf b) { return _mm_add_ps(a, b); }
static inline vf vf_mul(vf a, vf b) { return _mm_mul_ps(a, b); }
static inline vi vi32_from_f(vf a) { return _mm_cvttps_epi32(a); }
static inline vf vf_from_i32(vi a) { return _mm_cvtepi32_ps(a); }

#else
#error "simd_portable.h needs -msimd128 (wasm32) or -msse4.1 (x86-64)"
#endif

#endif /* SIMD_PORTABLE_H */
