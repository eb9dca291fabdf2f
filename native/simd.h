/* A thin SIMD vocabulary (vf_* macros over AVX-512 or AVX2 intrinsics) so that each vectorized row kernel is
 * written once and compiled per instruction set; see vecops.c. Not a general SIMD library: only what the
 * kernels use. Include after defining SIMD_AVX512 or SIMD_AVX2, inside a matching `#pragma GCC target`. */
#include <immintrin.h>

/* Included once per instruction set: drop the previous set's vocabulary. */
#undef VF
#undef VL
#undef SIMD_SUFFIX
#undef VI
#undef vf_abs
#undef vf_add
#undef vf_cvt_round_i32
#undef vf_div
#undef vf_exp
#undef vf_fma
#undef vf_fnma
#undef vf_from_i32
#undef vf_hmax
#undef vf_hsum
#undef vf_load
#undef vf_load_tail
#undef vf_max
#undef vf_min
#undef vf_mul
#undef vf_pow2_i32
#undef vf_set1
#undef vf_sqrt
#undef vf_store
#undef vf_store_tail
#undef vf_sub
#undef vf_zero
#undef vf_zero_where_less
#undef vf_exp

#if defined(SIMD_AVX512)
#define VF __m512
#define VI __m512i
#define VL 16
#define SIMD_SUFFIX(name) name##_avx512
#define vf_zero() _mm512_setzero_ps()
#define vf_set1(x) _mm512_set1_ps(x)
#define vf_load(p) _mm512_loadu_ps(p)
#define vf_store(p, v) _mm512_storeu_ps(p, v)
#define vf_add(a, b) _mm512_add_ps(a, b)
#define vf_sub(a, b) _mm512_sub_ps(a, b)
#define vf_mul(a, b) _mm512_mul_ps(a, b)
#define vf_div(a, b) _mm512_div_ps(a, b)
#define vf_max(a, b) _mm512_max_ps(a, b)
#define vf_min(a, b) _mm512_min_ps(a, b)
#define vf_sqrt(a) _mm512_sqrt_ps(a)
#define vf_fma(a, b, c) _mm512_fmadd_ps(a, b, c)   /* a*b + c */
#define vf_fnma(a, b, c) _mm512_fnmadd_ps(a, b, c) /* c - a*b */
#define vf_hsum(v) _mm512_reduce_add_ps(v)
#define vf_hmax(v) _mm512_reduce_max_ps(v)
#define vf_abs(v) _mm512_abs_ps(v)
/* Lanes [0, n) of p, the rest `fill`; masked loads never touch memory past the mask, so no overread. */
#define vf_load_tail(p, n, fill) _mm512_mask_loadu_ps(vf_set1(fill), (__mmask16)((1u << (n)) - 1), p)
#define vf_store_tail(p, v, n) _mm512_mask_storeu_ps(p, (__mmask16)((1u << (n)) - 1), v)
/* v where x < lim is false, else 0 */
#define vf_zero_where_less(v, x, lim) _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(x, lim, _CMP_NLT_UQ), v)
#define vf_cvt_round_i32(v) _mm512_cvtps_epi32(v)
#define vf_from_i32(i) _mm512_cvtepi32_ps(i)
#define vf_pow2_i32(n) _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_add_epi32(n, _mm512_set1_epi32(127)), 23))

#elif defined(SIMD_AVX2)
#define VF __m256
#define VI __m256i
#define VL 8
#define SIMD_SUFFIX(name) name##_avx2
#define vf_zero() _mm256_setzero_ps()
#define vf_set1(x) _mm256_set1_ps(x)
#define vf_load(p) _mm256_loadu_ps(p)
#define vf_store(p, v) _mm256_storeu_ps(p, v)
#define vf_add(a, b) _mm256_add_ps(a, b)
#define vf_sub(a, b) _mm256_sub_ps(a, b)
#define vf_mul(a, b) _mm256_mul_ps(a, b)
#define vf_div(a, b) _mm256_div_ps(a, b)
#define vf_max(a, b) _mm256_max_ps(a, b)
#define vf_min(a, b) _mm256_min_ps(a, b)
#define vf_sqrt(a) _mm256_sqrt_ps(a)
#define vf_fma(a, b, c) _mm256_fmadd_ps(a, b, c)
#define vf_fnma(a, b, c) _mm256_fnmadd_ps(a, b, c)
#define vf_abs(v) _mm256_andnot_ps(_mm256_set1_ps(-0.0f), v)
static inline float vf_hsum_avx2(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}
static inline float vf_hmax_avx2(__m256 v) {
  __m128 s = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_max_ps(s, _mm_movehl_ps(s, s));
  s = _mm_max_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}
static inline __m256i vf_tail_mask_avx2(int n) {
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}
#define vf_hsum(v) vf_hsum_avx2(v)
#define vf_hmax(v) vf_hmax_avx2(v)
#define vf_load_tail(p, n, fill)                                                                              \
  _mm256_blendv_ps(vf_set1(fill), _mm256_maskload_ps(p, vf_tail_mask_avx2(n)),                             \
                   _mm256_castsi256_ps(vf_tail_mask_avx2(n)))
#define vf_store_tail(p, v, n) _mm256_maskstore_ps(p, vf_tail_mask_avx2(n), v)
#define vf_zero_where_less(v, x, lim) _mm256_and_ps(v, _mm256_cmp_ps(x, lim, _CMP_NLT_UQ))
#define vf_cvt_round_i32(v) _mm256_cvtps_epi32(v)
#define vf_from_i32(i) _mm256_cvtepi32_ps(i)
#define vf_pow2_i32(n) _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(n, _mm256_set1_epi32(127)), 23))
#else
#error "define SIMD_AVX512 or SIMD_AVX2 before including simd.h"
#endif

#ifndef SIMD_EXP_CONSTANTS
#define SIMD_EXP_CONSTANTS
/* exp(x) for x <= 88 (callers only take exp of non-positive numbers or clamp): Cephes expf, i.e.
 * x = n ln2 + r with |r| <= ln2/2, exp(r) by a degree-6 polynomial, 2^n built in the exponent bits.
 * About 1-2 ulp. Inputs below -87.3 (where 2^n would leave the normal range) give exactly 0, -inf
 * included; NaN propagates (max/min return their second operand on NaN). */
#define EXP_HI 88.0f
#define EXP_LO (-87.3f)
#endif

#define vf_exp SIMD_SUFFIX(vf_exp)
static inline VF vf_exp(VF x) {
  VF xc = vf_min(vf_set1(EXP_HI), vf_max(vf_set1(EXP_LO), x));
  VI n = vf_cvt_round_i32(vf_mul(xc, vf_set1(1.44269504088896341f)));
  VF nf = vf_from_i32(n);
  /* r = x - n*ln2 in two steps (ln2 split into an exact high part and a correction): Cody-Waite. */
  VF r = vf_fnma(nf, vf_set1(0.693359375f), xc);
  r = vf_fnma(nf, vf_set1(-2.12194440e-4f), r);
  VF p = vf_set1(1.9875691500e-4f);
  p = vf_fma(p, r, vf_set1(1.3981999507e-3f));
  p = vf_fma(p, r, vf_set1(8.3334519073e-3f));
  p = vf_fma(p, r, vf_set1(4.1665795894e-2f));
  p = vf_fma(p, r, vf_set1(1.6666665459e-1f));
  p = vf_fma(p, r, vf_set1(5.0000001201e-1f));
  p = vf_fma(p, vf_mul(r, r), vf_add(r, vf_set1(1.0f)));
  return vf_zero_where_less(vf_mul(p, vf_pow2_i32(n)), x, vf_set1(EXP_LO));
}
