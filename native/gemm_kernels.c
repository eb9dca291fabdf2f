/* GEMM micro-kernels: C[MR x NR] = alpha * Ap @ Bp + beta * C on packed panels, one per instruction set.
 * Only the register-blocked inner product lives here; packing, blocking and threading are in gemm.c. */
#include "gptkit.h"

#if GPTKIT_X86
#include <immintrin.h>
#endif

/* Portable reference kernel: the plain-C statement of what every SIMD kernel computes. A 4x16 tile keeps
 * the accumulators in registers on any 64-bit target; the compiler may vectorize the j loops. */
#define PORTABLE_MR 4
#define PORTABLE_NR 16
static void gemm_micro_kernel_portable_4x16(int64_t k, const float *ap, const float *bp, float *c, int64_t ldc,
                                            float alpha, int beta) {
  float acc[PORTABLE_MR][PORTABLE_NR] = {{0}};
  for (int64_t p = 0; p < k; p++) {
    for (int i = 0; i < PORTABLE_MR; i++) {
      float a = ap[p * PORTABLE_MR + i];
      for (int j = 0; j < PORTABLE_NR; j++) acc[i][j] += a * bp[p * PORTABLE_NR + j];
    }
  }
  for (int i = 0; i < PORTABLE_MR; i++) {
    float *crow = c + i * ldc;
    for (int j = 0; j < PORTABLE_NR; j++) crow[j] = alpha * acc[i][j] + (beta ? crow[j] : 0.0f);
  }
}

#if GPTKIT_X86
/* SIMD kernels: MR rows x NV vectors of C in registers (MR*NV accumulators); per k step, NV vector loads
 * of the B panel and MR broadcasts of the A panel feed MR*NV FMAs. With 2 FMA pipes of latency 4 (Zen 4/5,
 * Skylake-X), at least 8 independent accumulators are needed; 24-28 of the 32 zmm registers hide it
 * with room for B and the broadcast (the BLIS/GotoBLAS register-blocking argument). */
#define DEFINE_SIMD_KERNEL(NAME, TARGET, VEC, VLEN, SETZERO, LOAD, LOADU, STOREU, SET1, FMADD, MUL, MR, NV)   \
  TARGET static void NAME(int64_t k, const float *ap, const float *bp, float *c, int64_t ldc, float alpha,     \
                          int beta) {                                                                         \
    VEC acc[MR][NV];                                                                                          \
    _Pragma("GCC unroll 16") for (int i = 0; i < MR; i++) {                                                   \
      _Pragma("GCC unroll 4") for (int v = 0; v < NV; v++) acc[i][v] = SETZERO();                             \
      _mm_prefetch((const char *)(c + i * ldc), _MM_HINT_T0);                                                 \
      _mm_prefetch((const char *)(c + i * ldc + (NV * VLEN - 1)), _MM_HINT_T0);                               \
    }                                                                                                         \
    for (int64_t p = 0; p < k; p++) {                                                                         \
      VEC b[NV];                                                                                              \
      _Pragma("GCC unroll 4") for (int v = 0; v < NV; v++) b[v] = LOAD(bp + v * VLEN);                        \
      _Pragma("GCC unroll 16") for (int i = 0; i < MR; i++) {                                                 \
        VEC a = SET1(ap[i]);                                                                                  \
        _Pragma("GCC unroll 4") for (int v = 0; v < NV; v++) acc[i][v] = FMADD(a, b[v], acc[i][v]);           \
      }                                                                                                       \
      ap += MR;                                                                                               \
      bp += NV * VLEN;                                                                                        \
    }                                                                                                         \
    VEC va = SET1(alpha);                                                                                     \
    _Pragma("GCC unroll 16") for (int i = 0; i < MR; i++) {                                                   \
      _Pragma("GCC unroll 4") for (int v = 0; v < NV; v++) {                                                  \
        float *cp = c + i * ldc + v * VLEN;                                                                   \
        STOREU(cp, beta ? FMADD(acc[i][v], va, LOADU(cp)) : MUL(acc[i][v], va));                              \
      }                                                                                                       \
    }                                                                                                         \
  }

#define AVX512_KERNEL(NAME, MR, NV)                                                                           \
  DEFINE_SIMD_KERNEL(NAME, GPTKIT_TARGET_AVX512, __m512, 16, _mm512_setzero_ps, _mm512_load_ps,              \
                     _mm512_loadu_ps, _mm512_storeu_ps, _mm512_set1_ps, _mm512_fmadd_ps, _mm512_mul_ps, MR, NV)
#define AVX2_KERNEL(NAME, MR, NV)                                                                             \
  DEFINE_SIMD_KERNEL(NAME, GPTKIT_TARGET_AVX2, __m256, 8, _mm256_setzero_ps, _mm256_load_ps, _mm256_loadu_ps, \
                     _mm256_storeu_ps, _mm256_set1_ps, _mm256_fmadd_ps, _mm256_mul_ps, MR, NV)

/* 6x64: 24 zmm accumulators, per k step 4 loads of B and 6 broadcasts of A for 24 FMAs. Measured on Zen 5
 * (1024x768x768, one thread): 6x64 ~210 GFLOP/s, 8x48 ~210, 12x32 ~150, 14x32 ~146: the tall shapes issue a
 * broadcast per 2 FMAs and run out of load slots. 6x64 also tiles the common N = 64 (head size) exactly. */
AVX512_KERNEL(gemm_micro_kernel_avx512_6x64, 6, 4)
/* 6x16 with 12 ymm accumulators: the classic Haswell shape (BLIS haswell sgemm is 6x16). */
AVX2_KERNEL(gemm_micro_kernel_avx2_6x16, 6, 2)
#endif

static const gemm_ukernel ukernels[] = {
    {PORTABLE_MR, PORTABLE_NR, gemm_micro_kernel_portable_4x16, "portable 4x16"},
#if GPTKIT_X86
    {6, 16, gemm_micro_kernel_avx2_6x16, "avx2 6x16"},
    {6, 64, gemm_micro_kernel_avx512_6x64, "avx512 6x64"},
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
