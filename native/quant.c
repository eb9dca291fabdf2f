/* Weights held as bf16 or int8 for inference (f32 stays the reference): packing an f32 matrix of any strides into
 * f32 / bf16 / int8 rows (the load-time transposes and conversions), and y = x @ W^T with W packed, f32
 * accumulation. Not a general mixed-precision GEMM: W is always (N, K) row-major, x and y row-major f32.
 *
 * int8 is per-output-channel symmetric (LLM.int8's vector-wise weight scheme): W[j, :] = scale[j] * q[j, :], q in
 * [-127, 127], scale[j] = max|W[j, :]| / 127. bf16 is the top half of the f32 bits, rounded to nearest even.
 * Small M (decoding: one row per sequence) streams W once per call and converts it in registers (bf16 on
 * AVX512_BF16: vdpbf16ps on bf16 pairs, x rounded to bf16); larger M converts row blocks of W to f32 once and
 * hands them to the f32 GEMM. */
#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "gptkit.h"

/* The quantizer rounds src * (127 / amax) to f32 before rounding to an integer, exactly as the js reference does:
 * a fused multiply-add there would change some results. Explicit FMA intrinsics below are unaffected. */
#pragma GCC optimize("fp-contract=off")

#if GPTKIT_X86
#include <immintrin.h>
#define GPTKIT_TARGET_AVX512BF16 __attribute__((target("avx512f,avx512vl,avx512dq,avx512bw,avx512bf16,avx2,fma")))
#endif

/* Rows of x above which W is converted to f32 blocks for the f32 GEMM; up to this many (a server's decode batch),
 * each tile of W is converted once and multiplied by every row group of x from L1. */
#define PACKED_SMALL_M 16
/* W rows per f32 block on the large-M path (64 x 3072 floats = 768 KB at most, in L2). */
#define PACKED_BLOCK_N 64
/* A thread streams at least this many bytes of W (waking one costs ~10 us). */
#define PACKED_PARALLEL_GRAIN (128.0 * 1024)

/* ---- Scalar conversions (f32ToBf16 and quantizeRowInt8 in src/backend/backend.ts do the same, bit for bit) ---- */

static inline uint16_t f32_to_bf16(float f) {
  uint32_t u;
  memcpy(&u, &f, 4);
  if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x40); /* NaN stays a (quiet) NaN */
  return (uint16_t)((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);                /* round to nearest even */
}

static inline float bf16_to_f32(uint16_t h) {
  uint32_t u = (uint32_t)h << 16;
  float f;
  memcpy(&f, &u, 4);
  return f;
}

/* Round to nearest, ties to even, for |v| < 2^22 (here |v| <= 127): adding 1.5 * 2^23 leaves no fraction bits. */
static inline float round_even(float v) { return (v + 12582912.0f) - 12582912.0f; }

/* One row of int8: returns the scale, writes q. */
static float quantize_row_int8(const float *src, int64_t n, int8_t *q) {
  float amax = 0.0f;
  for (int64_t j = 0; j < n; j++) {
    float a = fabsf(src[j]);
    amax = a > amax ? a : amax;
  }
  if (amax == 0.0f) {
    memset(q, 0, (size_t)n);
    return 0.0f;
  }
  const float inv = 127.0f / amax;
  for (int64_t j = 0; j < n; j++) {
    float v = round_even(src[j] * inv);
    q[j] = (int8_t)(v > 127.0f ? 127.0f : v < -127.0f ? -127.0f : v);
  }
  return amax / 127.0f;
}

static void convert_row(int dtype, const float *src, int64_t n, void *dst, float *scale) {
  if (dtype == PACK_F32) {
    memcpy(dst, src, (size_t)n * sizeof(float));
  } else if (dtype == PACK_BF16) {
    uint16_t *d = dst;
    for (int64_t j = 0; j < n; j++) d[j] = f32_to_bf16(src[j]);
  } else {
    *scale = quantize_row_int8(src, n, dst);
  }
}

static size_t elem_bytes(int dtype) { return dtype == PACK_F32 ? 4 : dtype == PACK_BF16 ? 2 : 1; }

/* ---- Packing ---- */

typedef struct {
  int dtype;
  int64_t rows, cols, rs, cs;
  const float *src;
  char *dst;
  float *scales;
  atomic_size_t failed;
} pack_job;

/* Rows gathered per strip of a strided source: 16 floats of a transposed source are one cache line; f32 output
 * (written in place, no staging row buffer) takes 64 rows, four lines of each source row per visit. */
#define PACK_TILE_ROWS 16
#define PACK_STRIP_F32 64
#define PACK_TILE_COLS 64

#if GPTKIT_X86
/* Transposed source, 8 x 8 blocks in registers: out[r][j] = s[j*cs + r] for r < 8, j < 8 (out rows ld apart). */
GPTKIT_TARGET_AVX2 static inline void transpose8x8(const float *s, int64_t cs, float *out, int64_t ld) {
  __m256 r0 = _mm256_loadu_ps(s), r1 = _mm256_loadu_ps(s + cs), r2 = _mm256_loadu_ps(s + 2 * cs),
         r3 = _mm256_loadu_ps(s + 3 * cs), r4 = _mm256_loadu_ps(s + 4 * cs), r5 = _mm256_loadu_ps(s + 5 * cs),
         r6 = _mm256_loadu_ps(s + 6 * cs), r7 = _mm256_loadu_ps(s + 7 * cs);
  __m256 t0 = _mm256_unpacklo_ps(r0, r1), t1 = _mm256_unpackhi_ps(r0, r1), t2 = _mm256_unpacklo_ps(r2, r3),
         t3 = _mm256_unpackhi_ps(r2, r3), t4 = _mm256_unpacklo_ps(r4, r5), t5 = _mm256_unpackhi_ps(r4, r5),
         t6 = _mm256_unpacklo_ps(r6, r7), t7 = _mm256_unpackhi_ps(r6, r7);
  __m256 u0 = _mm256_shuffle_ps(t0, t2, 0x44), u1 = _mm256_shuffle_ps(t0, t2, 0xee),
         u2 = _mm256_shuffle_ps(t1, t3, 0x44), u3 = _mm256_shuffle_ps(t1, t3, 0xee),
         u4 = _mm256_shuffle_ps(t4, t6, 0x44), u5 = _mm256_shuffle_ps(t4, t6, 0xee),
         u6 = _mm256_shuffle_ps(t5, t7, 0x44), u7 = _mm256_shuffle_ps(t5, t7, 0xee);
  _mm256_storeu_ps(out, _mm256_permute2f128_ps(u0, u4, 0x20));
  _mm256_storeu_ps(out + ld, _mm256_permute2f128_ps(u1, u5, 0x20));
  _mm256_storeu_ps(out + 2 * ld, _mm256_permute2f128_ps(u2, u6, 0x20));
  _mm256_storeu_ps(out + 3 * ld, _mm256_permute2f128_ps(u3, u7, 0x20));
  _mm256_storeu_ps(out + 4 * ld, _mm256_permute2f128_ps(u0, u4, 0x31));
  _mm256_storeu_ps(out + 5 * ld, _mm256_permute2f128_ps(u1, u5, 0x31));
  _mm256_storeu_ps(out + 6 * ld, _mm256_permute2f128_ps(u2, u6, 0x31));
  _mm256_storeu_ps(out + 7 * ld, _mm256_permute2f128_ps(u3, u7, 0x31));
}

/* The full 8 x 8 blocks of a transposed gather (rows r0.. r0 + nr, nr a multiple of 8); returns the columns done.
 * Tiles of 64 columns: each source row is then read 8 rows (32 bytes) at a time within one tile's pages. */
GPTKIT_TARGET_AVX2 static int64_t gather_transposed_avx2(const float *src, int64_t cs, int64_t cols, int64_t r0,
                                                         int64_t nr, float *tmp) {
  const int64_t full = cols / 8 * 8;
  for (int64_t j0 = 0; j0 < full; j0 += 64) {
    int64_t j1 = j0 + 64 < full ? j0 + 64 : full;
    for (int64_t r = 0; r < nr; r += 8)
      for (int64_t j = j0; j < j1; j += 8) transpose8x8(src + j * cs + r0 + r, cs, tmp + r * cols + j, cols);
  }
  return full;
}
#endif

/* dst rows [r0, r0 + nr) of the gathered tile: tmp[r][j] = src(r0 + r, j). A transposed source (rs = 1) is read in
 * 8 x 8 register blocks where AVX2 is there, else in 16 x 64 tiles (a cache line of the source at a time). */
static void gather_rows(const pack_job *p, int64_t r0, int64_t nr, float *tmp) {
  const int64_t cols = p->cols, rs = p->rs, cs = p->cs;
  int64_t j_done = 0;
#if GPTKIT_X86
  if (rs == 1 && nr % 8 == 0 && cpu_isa() >= ISA_AVX2) j_done = gather_transposed_avx2(p->src, cs, cols, r0, nr, tmp);
#endif
  for (int64_t j0 = j_done; j0 < cols; j0 += PACK_TILE_COLS) {
    int64_t j1 = j0 + PACK_TILE_COLS < cols ? j0 + PACK_TILE_COLS : cols;
    if (rs == 1) {
      for (int64_t j = j0; j < j1; j++) {
        const float *s = p->src + j * cs + r0;
        for (int64_t r = 0; r < nr; r++) tmp[r * cols + j] = s[r];
      }
    } else {
      for (int64_t r = 0; r < nr; r++) {
        const float *s = p->src + (r0 + r) * rs;
        for (int64_t j = j0; j < j1; j++) tmp[r * cols + j] = s[j * cs];
      }
    }
  }
}

static void pack_thread(void *ctx, int tid, int nthreads) {
  pack_job *p = ctx;
  const int64_t strip = p->dtype == PACK_F32 ? PACK_STRIP_F32 : PACK_TILE_ROWS;
  int64_t lo, hi;
  split_range((p->rows + strip - 1) / strip, nthreads, tid, &lo, &hi);
  lo *= strip;
  hi = hi * strip < p->rows ? hi * strip : p->rows;
  const size_t row_bytes = (size_t)p->cols * elem_bytes(p->dtype);
  if (p->cs == 1) { /* rows already contiguous: convert in place of a copy */
    for (int64_t i = lo; i < hi; i++)
      convert_row(p->dtype, p->src + i * p->rs, p->cols, p->dst + i * row_bytes, p->scales ? p->scales + i : NULL);
    return;
  }
  float *tmp = NULL;
  if (p->dtype != PACK_F32 && hi > lo) {
    tmp = gk_malloc((size_t)strip * (size_t)p->cols * sizeof(float));
    if (!tmp) {
      atomic_store(&p->failed, (size_t)strip * (size_t)p->cols * sizeof(float));
      return;
    }
  }
  for (int64_t r0 = lo; r0 < hi; r0 += strip) {
    int64_t nr = hi - r0 < strip ? hi - r0 : strip;
    if (p->dtype == PACK_F32) { /* f32 rows are written in their final place: dst row stride = cols */
      gather_rows(p, r0, nr, (float *)p->dst + r0 * p->cols);
      continue;
    }
    gather_rows(p, r0, nr, tmp);
    for (int64_t r = 0; r < nr; r++)
      convert_row(p->dtype, tmp + r * p->cols, p->cols, p->dst + (r0 + r) * row_bytes,
                  p->scales ? p->scales + r0 + r : NULL);
  }
  free(tmp);
}

size_t pack_weights(int dtype, int64_t rows, int64_t cols, const float *src, int64_t rs, int64_t cs, void *dst,
                    float *scales) {
  if (rows <= 0 || cols <= 0) return 0;
  pack_job job = {.dtype = dtype, .rows = rows, .cols = cols, .rs = rs, .cs = cs, .src = src, .dst = dst,
                  .scales = dtype == PACK_INT8 ? scales : NULL};
  int want = threads_for((double)rows * (double)cols * 4.0, 1024.0 * 1024.0);
  pool_run(want, pack_thread, &job);
  return atomic_load(&job.failed);
}

/* ---- Finite check (loading refuses NaN / infinity by tensor name) ---- */

int64_t first_non_finite(const float *x, int64_t n) {
  const uint32_t *u = (const uint32_t *)x;
  for (int64_t b = 0; b < n; b += 4096) {
    int64_t e = b + 4096 < n ? b + 4096 : n;
    uint32_t any = 0; /* no early exit inside a block, so the compiler vectorizes it */
    for (int64_t i = b; i < e; i++) any |= (u[i] & 0x7f800000u) == 0x7f800000u;
    if (any)
      for (int64_t i = b; i < e; i++)
        if ((u[i] & 0x7f800000u) == 0x7f800000u) return i;
  }
  return -1;
}

/* ---- y = x @ W^T, small M: W streamed once, converted in registers ---- */

typedef struct {
  int dtype;
  int64_t M, N, K, ldx, ldy;
  const float *x;
  const void *w;
  const float *scales;
  float *y;
  int beta;
  const uint16_t *xbf; /* x rounded to bf16, rows of K (the vdpbf16ps path only) */
  atomic_size_t failed;
} linear_job;

/* One output: the exact f32 products of the remaining columns [p0, K) (vector-loop tails, portable path). */
static float dot_tail(int dtype, const float *x, const void *w, int64_t j, int64_t K, int64_t p0) {
  float s = 0.0f;
  if (dtype == PACK_BF16) {
    const uint16_t *wr = (const uint16_t *)w + j * K;
    for (int64_t p = p0; p < K; p++) s += x[p] * bf16_to_f32(wr[p]);
  } else {
    const int8_t *wr = (const int8_t *)w + j * K;
    for (int64_t p = p0; p < K; p++) s += x[p] * (float)wr[p];
  }
  return s;
}

static inline void store_out(const linear_job *g, int64_t r, int64_t j, float dot) {
  float v = g->dtype == PACK_INT8 ? dot * g->scales[j] : dot;
  float *o = g->y + r * g->ldy + j;
  *o = g->beta ? *o + v : v;
}

static void portable_rows(const linear_job *g, int64_t j0, int64_t j1) {
  for (int64_t j = j0; j < j1; j++)
    for (int64_t r = 0; r < g->M; r++) store_out(g, r, j, dot_tail(g->dtype, g->x + r * g->ldx, g->w, j, g->K, 0));
}

#if GPTKIT_X86
/* AVX-512 / AVX2 bodies: R = 4 rows of W against up to 4 rows of x (16 accumulators in registers), or R = 8 rows of
 * W for one row of x (a decode step: more independent streams of W in flight). dtype, m and R are compile-time
 * constants in each instantiation (always_inline), so the conversion is chosen outside the loops. */
#define DEFINE_SMALL_M(SUFFIX, TARGET, VF, VL, ZERO, LOADX, FMA, HSUM, LOAD_BF16, LOAD_I8)                   \
  /* W rows wj + k of wb, held as ldt (the packed dtype, or PACK_F32 for rows staged by stage_rows) */           \
  TARGET static inline __attribute__((always_inline)) VF loadw_##SUFFIX(const int ldt, const void *wb,          \
                                                                         int64_t off) {                      \
    return ldt == PACK_BF16   ? LOAD_BF16((const uint16_t *)wb + off)                                         \
           : ldt == PACK_INT8 ? LOAD_I8((const int8_t *)wb + off)                                             \
                              : LOADX((const float *)wb + off);                                               \
  }                                                                                                          \
  TARGET static inline __attribute__((always_inline)) void tile_##SUFFIX(                                      \
      const linear_job *g, const int dtype, const int ldt, const void *wb, int64_t wj, const int m, int64_t r0, \
      int64_t j, int q, const int R) {                                                                       \
    const int64_t K = g->K;                                                                                  \
    if (q > R) __builtin_unreachable(); /* callers pass q <= R */                                            \
    int64_t o[8];                                                                                            \
    for (int k = 0; k < R; k++) o[k] = (wj + (k < q ? k : 0)) * K;                                           \
    VF acc[4][8];                                                                                            \
    for (int r = 0; r < m; r++)                                                                              \
      for (int k = 0; k < R; k++) acc[r][k] = ZERO;                                                          \
    int64_t p = 0;                                                                                           \
    const int64_t eb = ldt == PACK_INT8 ? 1 : ldt == PACK_BF16 ? 2 : 4;                                      \
    for (; p + VL <= K; p += VL) {                                                                           \
      /* Decoding (R = 8) prefetches the rows of the tile after next: the conversions leave fewer loads in */ \
      /* flight than the f32 GEMV has, and the hardware prefetchers alone reach ~half the DRAM bandwidth. */   \
      if (R == 8 && ((p * eb) & 63) == 0)                                                                    \
        for (int k = 0; k < R; k++)                                                                          \
          _mm_prefetch((const char *)wb + (o[k] + 2 * R * K + p) * eb, _MM_HINT_T0);                         \
      VF b[8];                                                                                               \
      for (int k = 0; k < R; k++) b[k] = loadw_##SUFFIX(ldt, wb, o[k] + p);                                  \
      for (int r = 0; r < m; r++) {                                                                          \
        VF xv = LOADX(g->x + (r0 + r) * g->ldx + p);                                                         \
        for (int k = 0; k < R; k++) acc[r][k] = FMA(xv, b[k], acc[r][k]);                                    \
      }                                                                                                      \
    }                                                                                                        \
    /* k runs to the constant R (guarded by q) so acc is indexed by constants only and stays in registers */ \
    for (int r = 0; r < m; r++)                                                                              \
      for (int k = 0; k < R; k++)                                                                            \
        if (k < q)                                                                                           \
          store_out(g, r0 + r, j + k,                                                                        \
                    HSUM(acc[r][k]) + dot_tail(dtype, g->x + (r0 + r) * g->ldx, g->w, j + k, K, p));         \
  }                                                                                                          \
  /* One tile of 4 W rows against every row of x, W read from wb (rows wj..) held as ldt. */                 \
  TARGET static inline __attribute__((always_inline)) void tile_rows_##SUFFIX(                                 \
      const linear_job *g, const int dtype, const int ldt, const void *wb, int64_t wj, int64_t j, int q) {    \
    int64_t r0 = 0;                                                                                          \
    for (; r0 + 4 <= g->M; r0 += 4) tile_##SUFFIX(g, dtype, ldt, wb, wj, 4, r0, j, q, 4);                    \
    switch (g->M - r0) {                                                                                     \
      case 1: tile_##SUFFIX(g, dtype, ldt, wb, wj, 1, r0, j, q, 4); break;                                   \
      case 2: tile_##SUFFIX(g, dtype, ldt, wb, wj, 2, r0, j, q, 4); break;                                   \
      case 3: tile_##SUFFIX(g, dtype, ldt, wb, wj, 3, r0, j, q, 4); break;                                   \
      default: break;                                                                                        \
    }                                                                                                        \
  }                                                                                                          \
  TARGET static inline __attribute__((always_inline)) void rows_impl_##SUFFIX(const linear_job *g,             \
                                                                               const int dtype, int64_t j0,   \
                                                                               int64_t j1) {                  \
    const int64_t K = g->K;                                                                                  \
    if (g->M == 1) {                                                                                         \
      for (int64_t j = j0; j < j1; j += 8)                                                                   \
        tile_##SUFFIX(g, dtype, dtype, g->w, j, 1, 0, j, j1 - j < 8 ? (int)(j1 - j) : 8, 8);                 \
      return;                                                                                                \
    }                                                                                                        \
    /* More than one group of 4 rows of x: convert each tile of W to f32 once (in L1) instead of per group. */ \
    float *wf = g->M > 4 ? gk_malloc((size_t)(4 * K) * sizeof(float)) : NULL;                                \
    const int64_t kv = K / VL * VL; /* the vector part: dot_tail reads the rest from W itself */            \
    for (int64_t j = j0; j < j1; j += 4) {                                                                   \
      int q = j1 - j < 4 ? (int)(j1 - j) : 4;                                                                \
      if (!wf) {                                                                                             \
        tile_rows_##SUFFIX(g, dtype, dtype, g->w, j, j, q);                                                  \
        continue;                                                                                            \
      }                                                                                                      \
      for (int k = 0; k < q; k++)                                                                            \
        for (int64_t p = 0; p < kv; p += VL)                                                                 \
          STOREF(wf + k * K + p, loadw_##SUFFIX(dtype, g->w, (j + k) * K + p));                              \
      tile_rows_##SUFFIX(g, dtype, PACK_F32, wf, 0, j, q);                                                   \
    }                                                                                                        \
    free(wf);                                                                                                \
  }                                                                                                          \
  TARGET static void rows_##SUFFIX(const linear_job *g, int64_t j0, int64_t j1) {                              \
    if (g->dtype == PACK_BF16) rows_impl_##SUFFIX(g, PACK_BF16, j0, j1);                                     \
    else rows_impl_##SUFFIX(g, PACK_INT8, j0, j1);                                                           \
  }

#define A512_BF16(ptr) _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i *)(ptr))), 16))
#define A512_I8(ptr) _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)(ptr))))
#define STOREF _mm512_storeu_ps
DEFINE_SMALL_M(avx512, GPTKIT_TARGET_AVX512, __m512, 16, _mm512_setzero_ps(), _mm512_loadu_ps, _mm512_fmadd_ps,
               _mm512_reduce_add_ps, A512_BF16, A512_I8)

GPTKIT_TARGET_AVX2 static inline float hsum_avx2(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}
#define A256_BF16(ptr) _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)(ptr))), 16))
#define A256_I8(ptr) _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)(ptr))))
#undef STOREF
#define STOREF _mm256_storeu_ps
DEFINE_SMALL_M(avx2, GPTKIT_TARGET_AVX2, __m256, 8, _mm256_setzero_ps(), _mm256_loadu_ps, _mm256_fmadd_ps, hsum_avx2,
               A256_BF16, A256_I8)

/* bf16 with AVX512_BF16: x is rounded to bf16 once per call and vdpbf16ps multiplies 32 pairs per instruction
 * with f32 accumulation. The products of x's rounding differ from the conversion path by ~2^-9 relative. */
GPTKIT_TARGET_AVX512BF16 static inline __attribute__((always_inline)) void tile_dpbf16(const linear_job *g,
                                                                                      const int m, int64_t r0,
                                                                                      int64_t j, int q, const int R) {
  const int64_t K = g->K;
  if (q > R) __builtin_unreachable(); /* callers pass q <= R: tells the compiler acc[r][q-1] was set */
  const uint16_t *w[8];
  for (int k = 0; k < R; k++) w[k] = (const uint16_t *)g->w + (j + (k < q ? k : 0)) * K;
  __m512 acc[4][8];
  for (int r = 0; r < m; r++)
    for (int k = 0; k < R; k++) acc[r][k] = _mm512_setzero_ps();
  int64_t p = 0;
  for (; p + 32 <= K; p += 32) {
    if (R == 8) /* decoding: the next tile's rows (one 64-byte line per row and step; see tile_avx512) */
      for (int k = 0; k < R; k++) _mm_prefetch((const char *)(w[k] + R * K + p), _MM_HINT_T0);
    __m512bh b[8];
    for (int k = 0; k < R; k++) b[k] = (__m512bh)_mm512_loadu_si512(w[k] + p);
    for (int r = 0; r < m; r++) {
      __m512bh xv = (__m512bh)_mm512_loadu_si512(g->xbf + (r0 + r) * K + p);
      for (int k = 0; k < R; k++) acc[r][k] = _mm512_dpbf16_ps(acc[r][k], xv, b[k]);
    }
  }
  if (p < K) { /* masked loads read nothing past the rows */
    const __mmask32 mask = (__mmask32)((1u << (K - p)) - 1);
    __m512bh b[8];
    for (int k = 0; k < R; k++) b[k] = (__m512bh)_mm512_maskz_loadu_epi16(mask, w[k] + p);
    for (int r = 0; r < m; r++) {
      __m512bh xv = (__m512bh)_mm512_maskz_loadu_epi16(mask, g->xbf + (r0 + r) * K + p);
      for (int k = 0; k < R; k++) acc[r][k] = _mm512_dpbf16_ps(acc[r][k], xv, b[k]);
    }
  }
  for (int r = 0; r < m; r++) /* constant indices only: acc stays in registers */
    for (int k = 0; k < R; k++)
      if (k < q) store_out(g, r0 + r, j + k, _mm512_reduce_add_ps(acc[r][k]));
}

GPTKIT_TARGET_AVX512BF16 static void rows_dpbf16(const linear_job *g, int64_t j0, int64_t j1) {
  if (g->M == 1) {
    for (int64_t j = j0; j < j1; j += 8) tile_dpbf16(g, 1, 0, j, j1 - j < 8 ? (int)(j1 - j) : 8, 8);
    return;
  }
  for (int64_t j = j0; j < j1; j += 4) {
    int q = j1 - j < 4 ? (int)(j1 - j) : 4;
    int64_t r0 = 0;
    for (; r0 + 4 <= g->M; r0 += 4) tile_dpbf16(g, 4, r0, j, q, 4);
    switch (g->M - r0) {
      case 1: tile_dpbf16(g, 1, r0, j, q, 4); break;
      case 2: tile_dpbf16(g, 2, r0, j, q, 4); break;
      case 3: tile_dpbf16(g, 3, r0, j, q, 4); break;
      default: break;
    }
  }
}

GPTKIT_TARGET_AVX512BF16 static void x_to_bf16(const float *x, int64_t M, int64_t K, int64_t ldx, uint16_t *dst) {
  for (int64_t r = 0; r < M; r++) {
    int64_t p = 0;
    for (; p + 16 <= K; p += 16)
      _mm256_storeu_si256((__m256i *)(dst + r * K + p), (__m256i)_mm512_cvtneps_pbh(_mm512_loadu_ps(x + r * ldx + p)));
    for (; p < K; p++) dst[r * K + p] = f32_to_bf16(x[r * ldx + p]);
  }
}
#endif

/* The path the packed kernels take: 3 avx512 with vdpbf16ps for bf16, 2 avx512, 1 avx2, 0 portable. The
 * AVX512_BF16 dot product is skipped under GPTKIT_ISA (any value) or GPTKIT_NO_BF16_DOT=1, so tests reach the
 * conversion path on CPUs that have it. */
static int packed_path(void) {
  static atomic_int path = -1;
  int v = atomic_load_explicit(&path, memory_order_relaxed);
  if (v >= 0) return v;
  int isa = cpu_isa();
  v = isa == ISA_AVX512 ? 2 : isa == ISA_AVX2 ? 1 : 0;
#if GPTKIT_X86
  const char *no = getenv("GPTKIT_NO_BF16_DOT");
  if (v == 2 && !getenv("GPTKIT_ISA") && !(no && strcmp(no, "1") == 0) && __builtin_cpu_supports("avx512bw") &&
      __builtin_cpu_supports("avx512bf16"))
    v = 3;
#endif
  atomic_store_explicit(&path, v, memory_order_relaxed);
  return v;
}

const char *packed_path_name(void) {
  static const char *names[] = {"portable", "avx2", "avx512", "avx512bf16"};
  return names[packed_path()];
}

static void small_m_rows(const linear_job *g, int64_t j0, int64_t j1) {
#if GPTKIT_X86
  switch (packed_path()) {
    case 3:
      if (g->dtype == PACK_BF16) rows_dpbf16(g, j0, j1);
      else rows_avx512(g, j0, j1);
      return;
    case 2: rows_avx512(g, j0, j1); return;
    case 1: rows_avx2(g, j0, j1); return;
    default: break;
  }
#endif
  portable_rows(g, j0, j1);
}

/* ---- Large M: W in f32 blocks of PACKED_BLOCK_N rows, each through the f32 GEMM ---- */

static size_t large_m_rows(const linear_job *g, int64_t j0, int64_t j1) {
  const int64_t K = g->K;
  const int64_t nb_max = PACKED_BLOCK_N;
  float *wf = gk_malloc((size_t)(nb_max * K) * sizeof(float));
  if (!wf) return (size_t)(nb_max * K) * sizeof(float);
  size_t failed = 0;
  for (int64_t jb = j0; jb < j1 && !failed; jb += nb_max) {
    int64_t nb = j1 - jb < nb_max ? j1 - jb : nb_max;
    for (int64_t j = 0; j < nb; j++) {
      float *d = wf + j * K;
      if (g->dtype == PACK_BF16) {
        const uint16_t *s = (const uint16_t *)g->w + (jb + j) * K;
        for (int64_t p = 0; p < K; p++) d[p] = bf16_to_f32(s[p]);
      } else {
        const int8_t *s = (const int8_t *)g->w + (jb + j) * K;
        const float sc = g->scales[jb + j];
        for (int64_t p = 0; p < K; p++) d[p] = (float)s[p] * sc;
      }
    }
    /* y[:, jb:jb+nb] = x @ wf^T: B(p, j) = wf[j*K + p] */
    failed = gemm_serial(g->M, nb, K, g->x, g->ldx, 1, wf, 1, K, g->y + jb, g->ldy, 1.0f, g->beta);
  }
  free(wf);
  return failed;
}

static void linear_thread(void *ctx, int tid, int nthreads) {
  linear_job *g = ctx;
  int64_t units = (g->N + 15) / 16, lo, hi; /* thread shares of N in multiples of 16 rows of W */
  split_range(units, nthreads, tid, &lo, &hi);
  lo *= 16;
  hi = hi * 16 < g->N ? hi * 16 : g->N;
  if (lo >= hi) return;
  if (g->M <= PACKED_SMALL_M) {
    small_m_rows(g, lo, hi);
  } else {
    size_t failed = large_m_rows(g, lo, hi);
    if (failed) atomic_store(&g->failed, failed);
  }
}

#if GPTKIT_X86
static _Thread_local uint16_t *tls_xbf; /* x rounded to bf16, kept between calls */
static _Thread_local size_t tls_xbf_size;
#endif

size_t packed_linear(int dtype, int64_t M, int64_t N, int64_t K, const float *x, int64_t ldx, const void *w,
                     const float *scales, float *y, int64_t ldy, int beta) {
  if (M <= 0 || N <= 0) return 0;
  if (K <= 0) {
    if (!beta)
      for (int64_t r = 0; r < M; r++) memset(y + r * ldy, 0, (size_t)N * sizeof(float));
    return 0;
  }
  linear_job g = {.dtype = dtype, .M = M, .N = N, .K = K, .ldx = ldx, .ldy = ldy, .x = x, .w = w,
                  .scales = scales, .y = y, .beta = beta};
#if GPTKIT_X86
  if (dtype == PACK_BF16 && M <= PACKED_SMALL_M && packed_path() == 3) {
    size_t need = (size_t)(M * K);
    if (need > tls_xbf_size) {
      free(tls_xbf);
      tls_xbf = gk_malloc(need * sizeof(uint16_t));
      tls_xbf_size = tls_xbf ? need : 0;
      if (!tls_xbf) return need * sizeof(uint16_t);
    }
    x_to_bf16(x, M, K, ldx, tls_xbf);
    g.xbf = tls_xbf;
  }
#endif
  double bytes = (double)N * (double)K * (double)elem_bytes(dtype);
  double work = M <= PACKED_SMALL_M ? bytes : 2.0 * (double)M * (double)N * (double)K / 16.0;
  int want = threads_for(work, PACKED_PARALLEL_GRAIN);
  pool_run(want, linear_thread, &g);
  return atomic_load(&g.failed);
}
