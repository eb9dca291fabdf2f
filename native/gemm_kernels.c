/* GEMM micro-kernels, C[MR x NR] = alpha * A @ Bp + beta * C on packed panels, per instruction set, plus the
 * SIMD packing routines for transposed operands. Blocking, generic packing and threading are in gemm.c. */
#include <stddef.h>

#include "gptkit.h"

#if GPTKIT_X86
#include <immintrin.h>
#endif

/* Portable reference kernel: the plain-C statement of what every SIMD kernel computes. A 4x8 tile keeps the
 * 32 accumulators in the 16 vector registers of baseline x86-64 (SSE2) or arm64 once the compiler vectorizes
 * the j loops (4x16 spilled: 7 vs 11.5 GFLOP/s with SSE2). */
#define PORTABLE_MR 4
#define PORTABLE_NR 8
static void portable_4x8(int64_t k, const float *ap, int64_t a_rs, int64_t a_cs, const float *bp, float *c,
                          int64_t ldc, float alpha, int beta) {
  float acc[PORTABLE_MR][PORTABLE_NR] = {{0}};
  for (int64_t p = 0; p < k; p++) {
    for (int i = 0; i < PORTABLE_MR; i++) {
      float a = ap[i * a_rs + p * a_cs];
      for (int j = 0; j < PORTABLE_NR; j++) acc[i][j] += a * bp[p * PORTABLE_NR + j];
    }
  }
  for (int i = 0; i < PORTABLE_MR; i++) {
    float *crow = c + i * ldc;
    for (int j = 0; j < PORTABLE_NR; j++) crow[j] = alpha * acc[i][j] + (beta ? crow[j] : 0.0f);
  }
}

static void gemm_micro_kernel_portable_4x8(int64_t k, const float *ap, int64_t lda, const float *bp, float *c,
                                            int64_t ldc, float alpha, int beta) {
  (void)lda;
  portable_4x8(k, ap, 1, PORTABLE_MR, bp, c, ldc, alpha, beta);
}

static void gemm_micro_kernel_portable_4x8_direct_a(int64_t k, const float *a, int64_t lda, const float *bp,
                                                     float *c, int64_t ldc, float alpha, int beta) {
  portable_4x8(k, a, lda, 1, bp, c, ldc, alpha, beta);
}

#if GPTKIT_X86
/* SIMD kernels: MR rows x NV vectors of C in registers (MR*NV accumulators); per k step, NV vector loads
 * of the B panel and MR broadcasts of the A panel feed MR*NV FMAs. With 2 FMA pipes of latency 4 (Zen 4/5,
 * Skylake-X), at least 8 independent accumulators are needed; 24 of the 32 zmm registers hide it with
 * room for B and the broadcast (the BLIS/GotoBLAS register-blocking argument). */
#define DEFINE_SIMD_KERNEL(NAME, TARGET, VEC, VLEN, SETZERO, LOAD, LOADU, STOREU, SET1, FMADD, MUL, MR, NV)   \
  /* A(i, p) = a[i*a_rs + p*a_cs]: the wrappers below fix the strides at compile time. */                    \
  TARGET static inline __attribute__((always_inline)) void NAME##_body(                                       \
      int64_t k, const float *a, int64_t a_rs, int64_t a_cs, const float *bp, float *c, int64_t ldc,          \
      float alpha, int beta) {                                                                                \
    VEC acc[MR][NV];                                                                                          \
    const float *arow[MR];                                                                                    \
    _Pragma("GCC unroll 16") for (int i = 0; i < MR; i++) {                                                   \
      arow[i] = a + i * a_rs;                                                                                 \
      _Pragma("GCC unroll 4") for (int v = 0; v < NV; v++) acc[i][v] = SETZERO();                             \
      _mm_prefetch((const char *)(c + i * ldc), _MM_HINT_T0);                                                 \
      _mm_prefetch((const char *)(c + i * ldc + (NV * VLEN - 1)), _MM_HINT_T0);                               \
    }                                                                                                         \
    for (int64_t p = 0; p < k; p++) {                                                                         \
      VEC b[NV];                                                                                              \
      _Pragma("GCC unroll 4") for (int v = 0; v < NV; v++) b[v] = LOAD(bp + v * VLEN);                        \
      _Pragma("GCC unroll 16") for (int i = 0; i < MR; i++) {                                                 \
        VEC av = SET1(arow[i][p * a_cs]);                                                                     \
        _Pragma("GCC unroll 4") for (int v = 0; v < NV; v++) acc[i][v] = FMADD(av, b[v], acc[i][v]);          \
      }                                                                                                       \
      bp += NV * VLEN;                                                                                        \
    }                                                                                                         \
    VEC va = SET1(alpha);                                                                                     \
    _Pragma("GCC unroll 16") for (int i = 0; i < MR; i++) {                                                   \
      _Pragma("GCC unroll 4") for (int v = 0; v < NV; v++) {                                                  \
        float *cp = c + i * ldc + v * VLEN;                                                                   \
        STOREU(cp, beta ? FMADD(acc[i][v], va, LOADU(cp)) : MUL(acc[i][v], va));                              \
      }                                                                                                       \
    }                                                                                                         \
  }                                                                                                           \
  /* A packed in MR-row panels (column p is MR contiguous floats) */                                          \
  TARGET static void NAME(int64_t k, const float *ap, int64_t lda, const float *bp, float *c, int64_t ldc,    \
                          float alpha, int beta) {                                                            \
    (void)lda;                                                                                                \
    NAME##_body(k, ap, 1, MR, bp, c, ldc, alpha, beta);                                                       \
  }                                                                                                           \
  /* A read in place, row-major with row stride lda (no packing when A is already row-major) */               \
  TARGET static void NAME##_direct_a(int64_t k, const float *a, int64_t lda, const float *bp, float *c,       \
                                     int64_t ldc, float alpha, int beta) {                                    \
    NAME##_body(k, a, lda, 1, bp, c, ldc, alpha, beta);                                                       \
  }

#define AVX512_KERNEL(NAME, MR, NV)                                                                           \
  DEFINE_SIMD_KERNEL(NAME, GPTKIT_TARGET_AVX512, __m512, 16, _mm512_setzero_ps, _mm512_loadu_ps,              \
                     _mm512_loadu_ps, _mm512_storeu_ps, _mm512_set1_ps, _mm512_fmadd_ps, _mm512_mul_ps, MR, NV)
#define AVX2_KERNEL(NAME, MR, NV)                                                                             \
  DEFINE_SIMD_KERNEL(NAME, GPTKIT_TARGET_AVX2, __m256, 8, _mm256_setzero_ps, _mm256_loadu_ps, _mm256_loadu_ps, \
                     _mm256_storeu_ps, _mm256_set1_ps, _mm256_fmadd_ps, _mm256_mul_ps, MR, NV)

/* 6x64: 24 zmm accumulators, per k step 4 loads of B and 6 broadcasts of A for 24 FMAs. Measured on Zen 5
 * (1024x768x768, one thread): 6x64 ~210 GFLOP/s, 8x48 ~210, 12x32 ~150, 14x32 ~146: the tall shapes issue a
 * broadcast per 2 FMAs and run out of load slots. 6x64 also tiles the common N = 64 (head size) exactly. */
AVX512_KERNEL(gemm_micro_kernel_avx512_6x64, 6, 4)
/* Packing of B = W^T (W row-major, column j of B contiguous in k) into 64-wide panels, dst[p][j] = W[j][p]:
 * 16x16 blocks are loaded as 16 rows of W and transposed in registers, four permute stages each swapping one
 * bit of the row index with the same bit of the lane index (recursive block transpose). About 4x faster than
 * the scalar loop, which matters for x @ W^T (input gradients, attention scores). */
GPTKIT_TARGET_AVX512 static void gemm_pack_b_transposed_avx512_64(int64_t kc, int64_t nc, const float *b, int64_t cs,
                                                                  float *dst) {
  __m512i idx_lo[4], idx_hi[4];
  for (int s = 0; s < 4; s++) {
    int bit = 8 >> s, lo[16], hi[16];
    for (int l = 0; l < 16; l++) {
      lo[l] = (l & bit) ? 16 + l - bit : l;
      hi[l] = (l & bit) ? 16 + l : l + bit;
    }
    idx_lo[s] = _mm512_loadu_si512(lo);
    idx_hi[s] = _mm512_loadu_si512(hi);
  }
  for (int64_t j0 = 0; j0 < nc; j0 += 64) {
    for (int64_t p0 = 0; p0 < kc; p0 += 16) {
      int kk = kc - p0 < 16 ? (int)(kc - p0) : 16;
      __mmask16 mask = (__mmask16)((1u << kk) - 1);
      for (int jb = 0; jb < 64; jb += 16) {
        __m512 r[16];
        for (int t = 0; t < 16; t++) {
          int64_t j = j0 + jb + t;
          r[t] = j < nc ? _mm512_maskz_loadu_ps(mask, b + j * cs + p0) : _mm512_setzero_ps();
        }
        for (int s = 0; s < 4; s++) {
          int bit = 8 >> s;
          for (int i = 0; i < 16; i++) {
            if (i & bit) continue;
            __m512 x = r[i], y = r[i + bit];
            r[i] = _mm512_permutex2var_ps(x, idx_lo[s], y);
            r[i + bit] = _mm512_permutex2var_ps(x, idx_hi[s], y);
          }
        }
        for (int q = 0; q < kk; q++) _mm512_storeu_ps(dst + (p0 + q) * 64 + jb, r[q]);
      }
    }
    dst += kc * 64;
  }
}

/* Packing of A^T-stored A (A(i, p) = a[i + p*cs]: weight gradients x^T @ dy, attention's P^T and dS^T) into
 * 6-row panels: each k gives 6 contiguous floats, one masked load and one masked store instead of 12 scalar
 * moves. Rows past mc are zero-filled by the load mask. */
GPTKIT_TARGET_AVX512 static void gemm_pack_a_transposed_avx512_6(int64_t mc, int64_t kc, const float *a, int64_t cs,
                                                                 float *dst) {
  for (int64_t i0 = 0; i0 < mc; i0 += 6) {
    int m = mc - i0 < 6 ? (int)(mc - i0) : 6;
    __mmask8 load_mask = (__mmask8)((1u << m) - 1);
    const float *src = a + i0;
    for (int64_t p = 0; p < kc; p++)
      _mm256_mask_storeu_ps(dst + p * 6, 0x3F, _mm256_maskz_loadu_ps(load_mask, src + p * cs));
    dst += kc * 6;
  }
}

/* 6x16 with 12 ymm accumulators: the classic Haswell shape (BLIS haswell sgemm is 6x16). */
AVX2_KERNEL(gemm_micro_kernel_avx2_6x16, 6, 2)
#endif

static const gemm_ukernel ukernels[] = {
    {PORTABLE_MR, PORTABLE_NR, gemm_micro_kernel_portable_4x8, gemm_micro_kernel_portable_4x8_direct_a, NULL, NULL,
     "portable 4x8"},
#if GPTKIT_X86
    {6, 16, gemm_micro_kernel_avx2_6x16, gemm_micro_kernel_avx2_6x16_direct_a, NULL, NULL, "avx2 6x16"},
    {6, 64, gemm_micro_kernel_avx512_6x64, gemm_micro_kernel_avx512_6x64_direct_a,
     gemm_pack_a_transposed_avx512_6, gemm_pack_b_transposed_avx512_64, "avx512 6x64"},
#endif
};

const gemm_ukernel *gemm_select_ukernel(int isa) {
#if GPTKIT_X86
  if (isa == ISA_AVX512) return &ukernels[2];
  if (isa == ISA_AVX2) return &ukernels[1];
#endif
  (void)isa;
  return &ukernels[0];
}
