/* Internal interface of the gptkit native addon: the thread pool, CPU dispatch and the kernels.
 * Plain C11, no N-API here (binding.c is the only file that talks to Node). */
#ifndef GPTKIT_H
#define GPTKIT_H

#include <stddef.h>
#include <stdint.h>

/* GPTKIT_NO_SIMD builds the portable C path only (what a non-x86 build gets; also a way to test it). */
#if (defined(__x86_64__) || defined(__i386__)) && !defined(GPTKIT_NO_SIMD)
#define GPTKIT_X86 1
#define GPTKIT_TARGET_AVX512 __attribute__((target("avx512f,avx512vl,avx512dq,avx2,fma")))
#define GPTKIT_TARGET_AVX2 __attribute__((target("avx2,fma")))
#else
#define GPTKIT_X86 0
#endif

#define GPTKIT_ALWAYS_INLINE static inline __attribute__((always_inline))

/* ---- Memory (cpu.c) ---- */
/* The kernels' allocations. A failure returns NULL, never aborts: a kernel that cannot do without the memory
 * returns the size in bytes of the allocation that failed (0 means success; its outputs are then
 * unspecified), and binding.c throws a JavaScript Error (code ENOMEM) naming the kernel and the size.
 * Tests: GPTKIT_TEST_ALLOC_FAIL=N (read once, at load) makes every allocation of N bytes or more fail. */
void gk_memory_init(void);
void *gk_malloc(size_t bytes);
void *gk_calloc(size_t count, size_t size);
/* 64-byte aligned (bytes rounded up to a multiple of 64); release with free(). */
void *gk_aligned_alloc(size_t bytes);
/* Returns from the calling function with the status of `expr` (a size_t as above) when it is not 0. */
#define GK_TRY(expr)                                                                                          \
  do {                                                                                                        \
    size_t gk_status_ = (expr);                                                                               \
    if (gk_status_) return gk_status_;                                                                        \
  } while (0)

/* ---- CPU features (cpu.c) ---- */
enum { ISA_PORTABLE = 0, ISA_AVX2 = 1, ISA_AVX512 = 2 };
/* Best instruction set this CPU supports; GPTKIT_ISA=portable|avx2|avx512 caps it (for tests). */
int cpu_isa(void);
const char *cpu_isa_name(int isa);

/* ---- Thread pool (pool.c) ---- */
/* A parallel region: fn runs once per thread with tid in [0, nthreads); the caller is tid 0. */
typedef void (*pool_fn)(void *ctx, int tid, int nthreads);
int pool_threads(void);
void pool_set_threads(int n);
/* Runs fn on min(want, pool_threads()) threads and returns when all have finished.
 * want <= 1 (or a pool busy with another caller) runs fn(ctx, 0, 1) inline. */
void pool_run(int want, pool_fn fn, void *ctx);
/* Even split of [0, n) into parts: the range of part `i` (used by every kernel to partition rows). */
/* MurmurHash3's 32-bit finaliser: the counter hash of every dropout mask (fmix32 in src/backend/backend.ts). */
GPTKIT_ALWAYS_INLINE uint32_t fmix32(uint32_t h) {
  h ^= h >> 16;
  h *= 0x85ebca6bu;
  h ^= h >> 13;
  h *= 0xc2b2ae35u;
  h ^= h >> 16;
  return h;
}

GPTKIT_ALWAYS_INLINE void split_range(int64_t n, int parts, int i, int64_t *lo, int64_t *hi) {
  *lo = n * i / parts;
  *hi = n * (i + 1) / parts;
}
/* Threads worth using for `work` units when one thread should get at least `grain` of them. */
int threads_for(double work, double grain);

/* ---- GEMM (gemm.c) ---- */
typedef struct {
  int64_t batch, M, N, K;
  const float *a;
  int64_t a_rs, a_cs, a_bs; /* A[b](i,p) = a[b*a_bs + i*a_rs + p*a_cs] */
  const float *b;
  int64_t b_rs, b_cs, b_bs; /* B[b](p,j) = b[b*b_bs + p*b_rs + j*b_cs] */
  float *c;
  int64_t c_rs, c_bs; /* C[b](i,j) = c[b*c_bs + i*c_rs + j] */
  float alpha;
  int beta; /* 0: overwrite C, 1: accumulate */
} gemm_args;

/* C = alpha*A@B + beta*C over the batch, on the pool's threads when the size warrants it. Returns 0, or the
 * bytes of a packing buffer it could not allocate (see Memory above). a and b may be NULL when K = 0. */
size_t gemm(const gemm_args *g);
/* One non-batched GEMM on the calling thread only (attention uses it from inside a parallel region).
 * Returns 0 or the bytes of a failed allocation, as gemm. */
size_t gemm_serial(int64_t M, int64_t N, int64_t K, const float *a, int64_t a_rs, int64_t a_cs, const float *b,
                   int64_t b_rs, int64_t b_cs, float *c, int64_t c_rs, float alpha, int beta);

/* Cache blocking of the packed GEMM, derived once from the CPU's cache sizes (gemm.c explains the rule). */
typedef struct {
  int64_t kc, mc, nc;     /* MC and NC are rounded down to the kernel's MR and NR at use */
  int64_t l1d, l2, l3;    /* data cache sizes in bytes as read (0 = unknown; L3 is reported, not used) */
  const char *source;     /* where the sizes came from: "sysfs", "cpuid leaf 4", ... */
} gemm_blocking;
const gemm_blocking *gemm_get_blocking(void);
/* Rows up to which a GEMM streams B without packing it (default 4, at most 16); returns the previous value. */
int gemm_set_gemv_max_m(int m);

/* B pre-packed once for many products. Only K <= KC (128 or more, see gemm_blocking) can be: gemm_packed_b_floats is then the buffer size,
 * else 0, and gemm_pack_b_full returns 0 without packing. Column j0 of a packed B, j0 a multiple of
 * gemm_panel_width(), starts at pb + j0*K, so column ranges of it can be multiplied separately. */
int gemm_panel_width(void);
int64_t gemm_packed_b_floats(int64_t K, int64_t N);
int gemm_pack_b_full(int64_t K, int64_t N, const float *b, int64_t b_rs, int64_t b_cs, float *dst);
size_t gemm_serial_packed_b(int64_t M, int64_t N, int64_t K, const float *a, int64_t a_rs, int64_t a_cs,
                            const float *pb, float *c, int64_t c_rs, float alpha, int beta);

/* Micro-kernel table (gemm_kernels.c): C[mr x nr] (row stride ldc) = alpha * A @ Bp + beta * C, with Bp packed
 * as k rows of nr floats (GotoBLAS/BLIS panel layout) and A either packed as k columns of mr floats (`kernel`,
 * lda unused) or read in place from mr row-major rows lda apart (`kernel_direct_a`). */
typedef void (*gemm_ukernel_fn)(int64_t k, const float *a, int64_t lda, const float *bp, float *c, int64_t ldc,
                                float alpha, int beta);
/* Optional fast packings of the transposed layouts, NULL where the generic loops serve: A(i, p) = a[i + p*cs]
 * into mr-row panels (rows x cols = mc x kc), and B(p, j) = b[j*cs + p] (B = W^T) into nr-wide panels. */
typedef void (*gemm_pack_fn)(int64_t rows, int64_t cols, const float *src, int64_t cs, float *dst);
typedef struct {
  int mr, nr;
  gemm_ukernel_fn kernel, kernel_direct_a;
  gemm_pack_fn pack_a_transposed, pack_b_transposed;
  const char *name;
} gemm_ukernel;
const gemm_ukernel *gemm_select_ukernel(int isa);

/* ---- Memory bandwidth probe (bandwidth.c) ---- */
enum { STREAM_READ = 0, STREAM_COPY = 1, STREAM_TRIAD = 2 };
/* On pool_threads() threads: READ returns the sum of b[0:n]; COPY a = b; TRIAD a = b + scalar * c (else 0). */
double stream_kernel(int kind, float *a, const float *b, const float *c, int64_t n, float scalar);

/* ---- Fused row kernels (fused.c) ---- */
void softmax_forward(const float *x, float *y, int64_t rows, int64_t cols);
void softmax_backward(const float *y, const float *dy, float *dx, int64_t rows, int64_t cols);
void layernorm_forward(const float *x, const float *w, const float *b, float *y, float *mean, float *rstd,
                       int64_t rows, int64_t cols, float eps);
void layernorm_backward(const float *dy, const float *x, const float *w, const float *mean, const float *rstd,
                        float *dx, float *dw, float *db, int64_t rows, int64_t cols);
void gelu_forward(const float *x, float *y, int64_t n);
/* elementwise.c */
void ew_add(const float *a, const float *b, float *out, int64_t n);
void ew_dropout(const float *x, float *out, int64_t n, uint32_t seed, uint32_t threshold, float scale);
void ew_sum_rows(const float *g, int64_t rows, int64_t cols, float *dst, int beta);
void ew_copy_strided(const float *src, int nd, const int64_t *shape, const int64_t *strides, float *dst);
void gelu_backward(const float *x, const float *dy, float *dx, int64_t n);
void cross_entropy_forward(const float *logits, const int32_t *targets, float *loss, float *lse, int64_t rows,
                           int64_t V, int32_t ignore_index);
void cross_entropy_backward(const float *logits, const int32_t *targets, const float *lse, float *dlogits,
                            int64_t rows, int64_t V, int32_t ignore_index, float scale);
void adamw_step(float *param, const float *grad, float *m, float *v, int64_t n, double lr, double beta1,
                double beta2, double eps, double weight_decay, double step);

/* ---- Fused causal attention (attention.c) ---- */
typedef struct {
  int64_t BH, Tq, Tk, D, q_start;
  /* Elements between the keys (and values) of consecutive heads: Tk * D when contiguous; larger for a
   * KV cache of capacity Tmax read in place (forward only; backward requires Tk * D). */
  int64_t kv_head_stride;
  float scale;
  /* Dropout on the attention weights: drop threshold on 24-bit hash values (0 = no dropout), the scale
   * 1/(1-p) of kept weights, and the seed of the counter-based mask (see attention_dropout_row). */
  uint32_t dropout_threshold;
  float dropout_scale;
  uint32_t dropout_seed;
  const float *q, *k, *v;
  float *out, *lse;
  const float *dout; /* backward only */
  float *dq, *dk, *dv;
} attention_args;
/* Both return 0, or the bytes of an allocation that failed (see Memory above). */
size_t attention_forward(const attention_args *a);
size_t attention_backward(const attention_args *a);

/* ---- Packed weights for inference (quant.c) ---- */
/* Storage formats of an (N, K) weight matrix, row-major: f32, bf16 (uint16 bits), int8 with one f32 scale per row. */
enum { PACK_F32 = 0, PACK_BF16 = 1, PACK_INT8 = 2 };
/* dst (rows x cols, row-major, in `dtype`) = src(i, j) = src[i*rs + j*cs], e.g. a Conv1D [in, out] weight read as
 * Linear (out, in) with rs = 1, cs = out; int8 also writes scales[rows]. Returns 0 or the bytes that failed. */
size_t pack_weights(int dtype, int64_t rows, int64_t cols, const float *src, int64_t rs, int64_t cs, void *dst,
                    float *scales);
/* y (M x N, row stride ldy) = x (M x K, row stride ldx) @ W^T (+ y when beta = 1), W (N x K) packed as bf16 or
 * int8 (scales: N floats). Returns 0 or the bytes of an allocation that failed. */
size_t packed_linear(int dtype, int64_t M, int64_t N, int64_t K, const float *x, int64_t ldx, const void *w,
                     const float *scales, float *y, int64_t ldy, int beta);
/* Index of the first NaN or infinity in x[0:n], or -1. */
int64_t first_non_finite(const float *x, int64_t n);
/* 'avx512bf16' (vdpbf16ps for bf16), 'avx512', 'avx2' or 'portable'. */
const char *packed_path_name(void);

#endif
