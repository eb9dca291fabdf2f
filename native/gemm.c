/* Strided batched SGEMM: GotoBLAS/BLIS blocking (pack B into KCxNC, A into MCxKC, register-blocked
 * micro-kernel on MRxNR tiles), threading over batch or a 2-D grid of C, and GEMV paths for small M.
 * The micro-kernels are in gemm_kernels.c, the GEMV row kernels in vecops*.c. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gptkit.h"
#include "vecops.h"

/* Cache blocking (Goto & van de Geijn, "Anatomy of High-Performance Matrix Multiplication", 2008; the analytical
 * model of Low et al., "Analytical Modeling Is Enough for High-Performance BLIS", 2016), derived at run time
 * from this CPU's L2 size (gemm_get_blocking below). Our loop order is BLIS's: jr over NR-wide panels of
 * packed B outside, ir over MR-row panels of A inside, so one KC x NR micro-panel of B serves MC/MR
 * micro-kernel calls and the MC x KC block of A serves NC/NR panels:
 *  - KC: the B micro-panel (KC x NR floats: 64 KB at KC 256, NR 64) is read from L2 on every micro-kernel
 *    call, with the next one on its way in: KC*NR*4 = L2/16, so two of them take 1/8 of L2. Per k step the
 *    6x64 kernel loads 256 B of B for 24 FMAs (12 cycles at 2 FMAs/cycle), ~21 B/cycle, well inside the
 *    64 B/cycle L2 -> L1 path of Zen 4/5 and Golden Cove. The 6 x KC rows of A one call reads stay in L1.
 *    On Zen 5, KC 128..384 measured the same within noise. Clamped to [128, 512]: attention's pre-packed
 *    K^T tiles need K = head size <= KC, and a longer KC only saves C tile reloads that are already rare.
 *  - MC: the MC x KC block of A (packed, or read in place when row-major) takes 1/4 of L2; the rest holds the
 *    B micro-panels, the MC x NR columns of C being written, and slack for set conflicts (BLIS's model keeps
 *    whole ways free; L2s are 8- to 16-way). Rounded down to a multiple of MR at use.
 *  - NC: the packed KC x NC block of B, read once per MC block, is 4 MB per thread (L3: 4 MB per core on
 *    Zen 4/5, ~5 MB per core on Xeon Sapphire/Emerald Rapids). L3 sizes seen inside virtual machines are
 *    often the host's or nonsense (the whole socket, or 500 MB here), so the L3 is not read.
 * Zen 5 (48 KB L1d, 1 MB L2): KC 256, MC 256 -> 252, NC 4096, the constants this file had when they were
 * tuned by measurement there. Emerald Rapids (48 KB L1d, 2 MB L2): KC 512, MC 256 -> 252, NC 2048 (A block
 * 504 KB, B micro-panel 128 KB). For comparison, BLIS (config/skx, config/zen4): skx KC 384 MC 480 NC 3072
 * for its 32x12 kernel and 1 MB L2; zen4 KC 480 MC 512 NC 6144, and for its unpacked 6x64 kernel (our shape)
 * KC 512 MC 192 NC 8064.
 * GPTKIT_GEMM_BLOCKING=KC,MC,NC overrides the derived values (for tuning: compare in one machine session). */
#define GEMM_KC_MIN 128
#define GEMM_KC_MAX 512
#define GEMM_NR_MODEL 64                       /* NR the rule is stated for: the widest kernel's panel */
#define GEMM_L2_DEFAULT (1024 * 1024)          /* when the L2 size cannot be read */
#define GEMM_PACKED_B_BYTES (4 * 1024 * 1024) /* KC x NC block of B per thread */
/* Below this many flops per thread a GEMM runs on the calling thread: waking a worker costs more than it
 * saves (~10 us of micro-kernel work). GEMV is memory-bound, so there a second thread pays off sooner:
 * from 512 KB of B per thread. */
#define GEMM_PARALLEL_GRAIN (2.0 * 1024 * 1024)
#define GEMV_PARALLEL_GRAIN (256.0 * 1024)

/* GEMV paths take M up to gemv_max_m; with more rows packing pays for itself. The row kernels take
 * GEMV_GROUP rows of x at a time; a larger M runs its row groups over blocks of B^T of GEMV_BLOCK_BYTES,
 * which stay in L2 between groups, so B still comes from memory once.
 * The limit is GEMV_GROUP unless a caller raises it (gemm_set_gemv_max_m, up to GEMV_MAX_M): decoding
 * several sequences at once (`gptkit serve`) multiplies 2-16 rows by every weight, where packing the weight
 * would cost more than the product. It is opt-in because the two paths round differently: by default a row's
 * result must not depend on how many rows share its call (exact resume re-batches rows). */
#define GEMV_MAX_M 16
#define GEMV_GROUP 4
#define GEMV_BLOCK_BYTES (256 * 1024)
/* Row-major GEMVs up to this many columns split K over threads, not N (see gemm()). */
#define GEMV_KSPLIT_MAX_N 16384
static _Atomic int gemv_max_m = GEMV_GROUP;

int gemm_set_gemv_max_m(int m) {
  int prev = gemv_max_m;
  gemv_max_m = m < 1 ? 1 : m > GEMV_MAX_M ? GEMV_MAX_M : m;
  return prev;
}
/* Thread shares of N in the GEMV case are multiples of this (a 256-byte run of a B row, or 64 rows of B^T). */
#define GEMV_ALIGN 64

/* ---- Cache sizes and the blocking derived from them ---- */

/* Data cache sizes in bytes (0 = unknown) from, in order: Linux sysfs; CPUID leaf 4 (Intel) or 0x8000001D
 * (AMD with TOPOEXT); AMD's legacy leaves 0x80000005/6. Hypervisors may hide some of these (on our Zen 5 VMs
 * sysfs has no cache folder and leaf 0x8000001D reads zeros; 0x80000005/6 answer). */
static int caches_from_sysfs(int64_t *l1d, int64_t *l2, int64_t *l3) {
  int found = 0;
  for (int i = 0; i < 8; i++) {
    char path[96], type[32] = "";
    int level = 0;
    long long size = 0;
    char unit = 0;
    snprintf(path, sizeof path, "/sys/devices/system/cpu/cpu0/cache/index%d/level", i);
    FILE *f = fopen(path, "r");
    if (!f) break;
    int ok = fscanf(f, "%d", &level) == 1;
    fclose(f);
    snprintf(path, sizeof path, "/sys/devices/system/cpu/cpu0/cache/index%d/type", i);
    if (ok && (f = fopen(path, "r"))) {
      ok = fscanf(f, "%31s", type) == 1;
      fclose(f);
    }
    snprintf(path, sizeof path, "/sys/devices/system/cpu/cpu0/cache/index%d/size", i);
    if (ok && (f = fopen(path, "r"))) {
      ok = fscanf(f, "%lld%c", &size, &unit) >= 1;
      fclose(f);
    }
    if (!ok || strcmp(type, "Instruction") == 0) continue;
    int64_t bytes = size * (unit == 'K' ? 1024 : unit == 'M' ? 1024 * 1024 : 1);
    if (level == 1) *l1d = bytes;
    else if (level == 2) *l2 = bytes;
    else if (level == 3) *l3 = bytes;
    found = 1;
  }
  return found && *l2 > 0;
}

#if GPTKIT_X86
#include <cpuid.h>
/* Deterministic cache parameters (Intel leaf 4, AMD leaf 0x8000001D share the layout). */
static int caches_from_cpuid_leaf(unsigned leaf, int64_t *l1d, int64_t *l2, int64_t *l3) {
  unsigned max = __get_cpuid_max(leaf & 0x80000000u, NULL);
  if (max < leaf) return 0;
  int found = 0;
  for (unsigned i = 0; i < 8; i++) {
    unsigned a, b, c, d;
    __cpuid_count(leaf, i, a, b, c, d);
    unsigned type = a & 31, level = (a >> 5) & 7;
    if (type == 0) break;
    if (type == 2) continue; /* instruction cache */
    int64_t bytes = (int64_t)(((b >> 22) & 0x3ff) + 1) * (((b >> 12) & 0x3ff) + 1) * ((b & 0xfff) + 1) * (c + 1);
    if (level == 1) *l1d = bytes;
    else if (level == 2) *l2 = bytes;
    else if (level == 3) *l3 = bytes;
    found = 1;
  }
  return found && *l2 > 0;
}

static int caches_from_amd_legacy(int64_t *l1d, int64_t *l2, int64_t *l3) {
  unsigned a, b, c, d;
  if (__get_cpuid_max(0x80000000u, NULL) < 0x80000006u) return 0;
  __cpuid(0x80000005u, a, b, c, d);
  *l1d = (int64_t)(c >> 24) * 1024;
  __cpuid(0x80000006u, a, b, c, d);
  *l2 = (int64_t)(c >> 16) * 1024;
  *l3 = (int64_t)(d >> 18) * 512 * 1024;
  return *l2 > 0;
}
#endif

static gemm_blocking blocking;
static pthread_once_t blocking_once = PTHREAD_ONCE_INIT;

static int64_t clamp64(int64_t v, int64_t lo, int64_t hi) { return v < lo ? lo : v > hi ? hi : v; }

static void blocking_init(void) {
  gemm_blocking *b = &blocking;
  b->source = "default (cache sizes unknown)";
  if (caches_from_sysfs(&b->l1d, &b->l2, &b->l3)) b->source = "sysfs";
#if GPTKIT_X86
  else {
    unsigned a, ebx, ecx, edx;
    __cpuid(0, a, ebx, ecx, edx);
    int amd = ebx == 0x68747541u; /* "Auth"enticAMD */
    b->l1d = b->l2 = b->l3 = 0;
    if (!amd && caches_from_cpuid_leaf(4, &b->l1d, &b->l2, &b->l3)) b->source = "cpuid leaf 4";
    else if (amd && caches_from_cpuid_leaf(0x8000001Du, &b->l1d, &b->l2, &b->l3)) b->source = "cpuid 0x8000001D";
    else if (amd && caches_from_amd_legacy(&b->l1d, &b->l2, &b->l3)) b->source = "cpuid 0x80000005/6";
    else b->l1d = b->l2 = b->l3 = 0;
  }
#endif
  int64_t l2 = b->l2 > 0 ? b->l2 : GEMM_L2_DEFAULT;
  b->kc = clamp64(l2 / 16 / (GEMM_NR_MODEL * (int64_t)sizeof(float)) / 16 * 16, GEMM_KC_MIN, GEMM_KC_MAX);
  b->mc = clamp64(l2 / 4 / (b->kc * (int64_t)sizeof(float)), 48, 1024);
  b->nc = clamp64(GEMM_PACKED_B_BYTES / (b->kc * (int64_t)sizeof(float)), 1024, 8192);
  const char *env = getenv("GPTKIT_GEMM_BLOCKING");
  long long kc, mc, nc;
  if (env && sscanf(env, "%lld,%lld,%lld", &kc, &mc, &nc) == 3 && kc >= 16 && mc >= 16 && nc >= 64) {
    b->kc = clamp64(kc, 16, 4096);
    b->mc = clamp64(mc, 16, 8192);
    b->nc = clamp64(nc, 64, 1 << 16);
    b->source = "GPTKIT_GEMM_BLOCKING";
  }
}

const gemm_blocking *gemm_get_blocking(void) {
  pthread_once(&blocking_once, blocking_init);
  return &blocking;
}

/* Per-thread packing buffers, grown on demand and kept (no allocation per call). */
static _Thread_local float *tls_pack_a, *tls_pack_b;
static _Thread_local size_t tls_pack_a_size, tls_pack_b_size;
/* Partial sums of a row-major GEMV split over K (gemm()), on the calling thread. */
static _Thread_local float *tls_ksplit;
static _Thread_local size_t tls_ksplit_size;

/* Makes *buf hold at least `need` floats. Returns 0, or the bytes it failed to allocate (*buf is then NULL). */
static size_t grow(float **buf, size_t *size, size_t need) {
  if (need > *size) {
    free(*buf);
    *buf = gk_aligned_alloc(need * sizeof(float));
    *size = *buf ? need : 0;
    if (!*buf) return need * sizeof(float);
  }
  return 0;
}

/* ---- Packing: arbitrary strides are resolved here, so transposed operands cost no copies elsewhere. ---- */

/* A[0:mc, 0:kc] -> panels of MR rows: dst[panel][p][i] = A(panel*MR + i, p), zero rows past mc. */
static void pack_a(int64_t mc, int64_t kc, const float *a, int64_t rs, int64_t cs, int mr, float *dst) {
  for (int64_t i0 = 0; i0 < mc; i0 += mr) {
    int64_t m = mc - i0 < mr ? mc - i0 : mr;
    const float *src = a + i0 * rs;
    if (rs == 1 && m == mr) {
      /* A^T (column-major A): each k gives MR contiguous values (a loop: memcpy calls cost more than 24 bytes) */
      for (int64_t p = 0; p < kc; p++)
        for (int64_t i = 0; i < mr; i++) dst[p * mr + i] = src[p * cs + i];
    } else if (cs == 1) {
      /* Row-major A: MR rows read in parallel, each contiguous. */
      for (int64_t p = 0; p < kc; p++) {
        for (int64_t i = 0; i < m; i++) dst[p * mr + i] = src[i * rs + p];
        for (int64_t i = m; i < mr; i++) dst[p * mr + i] = 0.0f;
      }
    } else {
      for (int64_t p = 0; p < kc; p++) {
        for (int64_t i = 0; i < m; i++) dst[p * mr + i] = src[i * rs + p * cs];
        for (int64_t i = m; i < mr; i++) dst[p * mr + i] = 0.0f;
      }
    }
    dst += kc * mr;
  }
}

/* B[0:kc, 0:nc] -> panels of NR columns: dst[panel][p][j] = B(p, panel*NR + j), zero columns past nc. */
static void pack_b(int64_t kc, int64_t nc, const float *b, int64_t rs, int64_t cs, int nr, float *dst) {
  for (int64_t j0 = 0; j0 < nc; j0 += nr) {
    int64_t n = nc - j0 < nr ? nc - j0 : nr;
    const float *src = b + j0 * cs;
    if (cs == 1) {
      /* Row-major B (x @ W): NR contiguous floats per k. */
      for (int64_t p = 0; p < kc; p++) {
        memcpy(dst + p * nr, src + p * rs, (size_t)n * sizeof(float));
        for (int64_t j = n; j < nr; j++) dst[p * nr + j] = 0.0f;
      }
    } else if (rs == 1) {
      /* B = W^T with W row-major (x @ W^T): column j of B is row j of W, contiguous in k. Transpose in
       * 8-deep k chunks so both the reads (8 floats of each of NR rows) and the writes stay in few lines. */
      int64_t p = 0;
      for (; p + 8 <= kc; p += 8) {
        for (int64_t j = 0; j < n; j++) {
          const float *s = src + j * cs + p;
          for (int q = 0; q < 8; q++) dst[(p + q) * nr + j] = s[q];
        }
        for (int64_t j = n; j < nr; j++)
          for (int q = 0; q < 8; q++) dst[(p + q) * nr + j] = 0.0f;
      }
      for (; p < kc; p++) {
        for (int64_t j = 0; j < n; j++) dst[p * nr + j] = src[j * cs + p];
        for (int64_t j = n; j < nr; j++) dst[p * nr + j] = 0.0f;
      }
    } else {
      for (int64_t p = 0; p < kc; p++) {
        for (int64_t j = 0; j < n; j++) dst[p * nr + j] = src[p * rs + j * cs];
        for (int64_t j = n; j < nr; j++) dst[p * nr + j] = 0.0f;
      }
    }
    dst += kc * nr;
  }
}

static void zero_or_keep_c(int64_t M, int64_t N, float *c, int64_t c_rs, int beta) {
  if (beta) return; /* K = 0: C = beta * C, and beta = 1 leaves it alone */
  for (int64_t i = 0; i < M; i++) memset(c + i * c_rs, 0, (size_t)N * sizeof(float));
}

/* Loops 3 to 1 of GotoBLAS for one packed kc x nc block of B: C[0:M, 0:nc] (+)= alpha * A[0:M, 0:kc] @ Bp. */
static void gemm_macro(const gemm_ukernel *uk, int64_t M, int64_t nc, int64_t kc, const float *a, int64_t a_rs,
                       int64_t a_cs, const float *pb, float *c, int64_t c_rs, float alpha, int beta, float *pa) {
  const int mr = uk->mr, nr = uk->nr;
  const int64_t mc_max = gemm_get_blocking()->mc / mr * mr;
  float tile[16 * 64] __attribute__((aligned(64)));
  for (int64_t ic = 0; ic < M; ic += mc_max) {
    int64_t mc = M - ic < mc_max ? M - ic : mc_max;
    const float *a_blk = a + ic * a_rs;
    /* Row-major A is read in place by the micro-kernel (BLIS's "sup" idea): its rows are already contiguous
     * in k, so packing would only copy. Other layouts, and a last partial MR panel, are packed (zero-padded). */
    int64_t m_direct = a_cs == 1 ? mc / mr * mr : 0;
    if (m_direct < mc) {
      if (a_rs == 1 && a_cs != 1 && uk->pack_a_transposed) uk->pack_a_transposed(mc, kc, a_blk, a_cs, pa);
      else pack_a(mc - m_direct, kc, a_blk + m_direct * a_rs, a_rs, a_cs, mr, pa + m_direct * kc);
    }
    for (int64_t jr = 0; jr < nc; jr += nr) {
      int64_t n = nc - jr < nr ? nc - jr : nr;
      const float *bp = pb + jr * kc;
      for (int64_t ir = 0; ir < mc; ir += mr) {
        int64_t m = mc - ir < mr ? mc - ir : mr;
        const float *ap = ir < m_direct ? a_blk + ir * a_rs : pa + ir * kc;
        gemm_ukernel_fn kern = ir < m_direct ? uk->kernel_direct_a : uk->kernel;
        float *cp = c + (ic + ir) * c_rs + jr;
        if (m == mr && n == nr) {
          kern(kc, ap, a_rs, bp, cp, c_rs, alpha, beta);
        } else {
          /* Edge tile: full tile into a scratch buffer, then only the valid part into C. */
          kern(kc, ap, a_rs, bp, tile, nr, alpha, 0);
          for (int64_t i = 0; i < m; i++) {
            float *crow = cp + i * c_rs;
            const float *trow = tile + i * nr;
            if (beta) for (int64_t j = 0; j < n; j++) crow[j] += trow[j];
            else memcpy(crow, trow, (size_t)n * sizeof(float));
          }
        }
      }
    }
  }
}

/* This thread's A packing buffer for M rows and kc columns, in *pa; returns 0 or the bytes that failed. */
static size_t pack_a_buffer(const gemm_ukernel *uk, int64_t M, int64_t kc, float **pa) {
  const int64_t mc_max = gemm_get_blocking()->mc / uk->mr * uk->mr;
  const int64_t mc_alloc = M < mc_max ? (M + uk->mr - 1) / uk->mr * uk->mr : mc_max;
  size_t failed = grow(&tls_pack_a, &tls_pack_a_size, (size_t)(mc_alloc * kc));
  *pa = tls_pack_a;
  return failed;
}

static void pack_b_block(const gemm_ukernel *uk, int64_t kc, int64_t nc, const float *b, int64_t b_rs,
                         int64_t b_cs, float *dst) {
  if (b_rs == 1 && b_cs != 1 && uk->pack_b_transposed) uk->pack_b_transposed(kc, nc, b, b_cs, dst);
  else pack_b(kc, nc, b, b_rs, b_cs, uk->nr, dst);
}

/* The five-loop GotoBLAS algorithm on the calling thread. */
size_t gemm_serial(int64_t M, int64_t N, int64_t K, const float *a, int64_t a_rs, int64_t a_cs, const float *b,
                   int64_t b_rs, int64_t b_cs, float *c, int64_t c_rs, float alpha, int beta) {
  if (M <= 0 || N <= 0) return 0;
  if (K <= 0) {
    zero_or_keep_c(M, N, c, c_rs, beta);
    return 0;
  }
  if (M <= gemv_max_m && (b_cs == 1 || b_rs == 1)) {
    /* Small M (generation, KV-cache attention): stream B once with the GEMV row kernels; packing B would
     * triple its memory traffic and a 6-row micro-kernel would mostly multiply padding. */
    const row_kernels *rk = row_kernels_get();
    if (b_cs == 1) { /* the row-major kernel keeps M accumulator strips in L1: any M up to GEMV_MAX_M */
      rk->gemv_rowmajor((int)M, a, a_rs, a_cs, b, b_rs, K, N, c, c_rs, alpha, beta);
    } else if (M <= GEMV_GROUP) {
      rk->gemv_transposed((int)M, a, a_rs, a_cs, b, b_cs, K, N, c, c_rs, alpha, beta);
    } else {
      int64_t nb = GEMV_BLOCK_BYTES / (K * (int64_t)sizeof(float)) / 4 * 4;
      if (nb < 4) nb = 4;
      for (int64_t j0 = 0; j0 < N; j0 += nb) {
        const int64_t n = N - j0 < nb ? N - j0 : nb;
        for (int64_t r0 = 0; r0 < M; r0 += GEMV_GROUP) {
          const int m = (int)(M - r0 < GEMV_GROUP ? M - r0 : GEMV_GROUP);
          rk->gemv_transposed(m, a + r0 * a_rs, a_rs, a_cs, b + j0 * b_cs, b_cs, K, n, c + r0 * c_rs + j0, c_rs,
                              alpha, beta);
        }
      }
    }
    return 0;
  }
  const gemm_ukernel *uk = gemm_select_ukernel(cpu_isa());
  const int nr = uk->nr;
  const gemm_blocking *blk = gemm_get_blocking();
  const int64_t kc_max = K < blk->kc ? K : blk->kc;
  const int64_t nc_max = blk->nc / nr * nr;
  /* A row-major B exactly one panel wide (N = nr = row stride: a 64-wide head in attention) already has the
   * packed layout: use it in place. */
  const int b_is_panel = N == nr && b_cs == 1 && b_rs == nr;
  const int64_t nc_alloc = N < nc_max ? (N + nr - 1) / nr * nr : nc_max;
  float *pa, *pb = NULL;
  GK_TRY(pack_a_buffer(uk, M, kc_max, &pa));
  if (!b_is_panel) {
    GK_TRY(grow(&tls_pack_b, &tls_pack_b_size, (size_t)(nc_alloc * kc_max)));
    pb = tls_pack_b;
  }

  for (int64_t jc = 0; jc < N; jc += nc_max) {
    int64_t nc = N - jc < nc_max ? N - jc : nc_max;
    for (int64_t pc = 0; pc < K; pc += kc_max) {
      int64_t kc = K - pc < kc_max ? K - pc : kc_max;
      const float *bp = b + pc * b_rs + jc * b_cs;
      if (!b_is_panel) {
        pack_b_block(uk, kc, nc, bp, b_rs, b_cs, pb);
        bp = pb;
      }
      /* later K blocks accumulate onto the first */
      gemm_macro(uk, M, nc, kc, a + pc * a_cs, a_rs, a_cs, bp, c + jc, c_rs, alpha, pc == 0 ? beta : 1, pa);
    }
  }
  return 0;
}

/* ---- Pre-packed B, for callers that multiply many A blocks by one B (attention's K^T and V^T tiles) ---- */

int gemm_panel_width(void) { return gemm_select_ukernel(cpu_isa())->nr; }

int64_t gemm_packed_b_floats(int64_t K, int64_t N) {
  if (K <= 0 || K > gemm_get_blocking()->kc) return 0; /* one KC block only */
  int64_t nr = gemm_panel_width();
  return K * ((N + nr - 1) / nr * nr);
}

int gemm_pack_b_full(int64_t K, int64_t N, const float *b, int64_t b_rs, int64_t b_cs, float *dst) {
  if (K <= 0 || K > gemm_get_blocking()->kc) return 0;
  if (N > 0) pack_b_block(gemm_select_ukernel(cpu_isa()), K, N, b, b_rs, b_cs, dst);
  return 1;
}

size_t gemm_serial_packed_b(int64_t M, int64_t N, int64_t K, const float *a, int64_t a_rs, int64_t a_cs,
                            const float *pb, float *c, int64_t c_rs, float alpha, int beta) {
  if (M <= 0 || N <= 0) return 0;
  const gemm_ukernel *uk = gemm_select_ukernel(cpu_isa());
  float *pa;
  GK_TRY(pack_a_buffer(uk, M, K, &pa));
  gemm_macro(uk, M, N, K, a, a_rs, a_cs, pb, c, c_rs, alpha, beta, pa);
  return 0;
}

/* ---- Threading ---- */
typedef struct {
  const gemm_args *g;
  int split_batch; /* 1: threads take whole batch entries; 0: a tm x tn grid over each C */
  int tm, tn;
  int mr, nr;
  int gemv; /* 1: small-M path, threads split N */
  float *ksplit; /* row-major GEMV split over K: thread t > 0 sums its rows of B into ksplit + (t-1)*M*N */
  int parts;     /* the threads that took part in a K split (the pool may give fewer than asked) */
  atomic_size_t failed; /* bytes of an allocation that failed on some thread, else 0 */
} gemm_job;

/* Part i of [0, n) in `parts` pieces whose boundaries are multiples of `align` (fewer edge tiles). */
static void split_aligned(int64_t n, int parts, int i, int64_t align, int64_t *lo, int64_t *hi) {
  int64_t units = (n + align - 1) / align;
  *lo = units * i / parts * align;
  *hi = units * (i + 1) / parts * align;
  if (*lo > n) *lo = n;
  if (*hi > n) *hi = n;
}

static size_t gemm_block(const gemm_args *g, int64_t bi, int64_t i0, int64_t i1, int64_t j0, int64_t j1) {
  if (i1 <= i0 || j1 <= j0) return 0;
  const float *a = g->a + bi * g->a_bs + i0 * g->a_rs;
  const float *b = g->b + bi * g->b_bs + j0 * g->b_cs;
  float *c = g->c + bi * g->c_bs + i0 * g->c_rs + j0;
  return gemm_serial(i1 - i0, j1 - j0, g->K, a, g->a_rs, g->a_cs, b, g->b_rs, g->b_cs, c, g->c_rs, g->alpha,
                     g->beta);
}

static void gemm_thread(void *ctx, int tid, int nthreads) {
  gemm_job *job = ctx;
  const gemm_args *g = job->g;
  size_t failed = 0;
  if (job->ksplit) {
    if (tid == 0) job->parts = nthreads;
    int64_t k0, k1;
    split_aligned(g->K, nthreads, tid, 4, &k0, &k1);
    if (k1 <= k0 && tid == 0) { zero_or_keep_c(g->M, g->N, g->c, g->c_rs, g->beta); return; }
    if (k1 <= k0) { memset(job->ksplit + (int64_t)(tid - 1) * g->M * g->N, 0, sizeof(float) * g->M * g->N); return; }
    const row_kernels *rk = row_kernels_get();
    if (tid == 0)
      rk->gemv_rowmajor((int)g->M, g->a + k0 * g->a_cs, g->a_rs, g->a_cs, g->b + k0 * g->b_rs, g->b_rs, k1 - k0,
                        g->N, g->c, g->c_rs, g->alpha, g->beta);
    else
      rk->gemv_rowmajor((int)g->M, g->a + k0 * g->a_cs, g->a_rs, g->a_cs, g->b + k0 * g->b_rs, g->b_rs, k1 - k0,
                        g->N, job->ksplit + (int64_t)(tid - 1) * g->M * g->N, g->N, g->alpha, 0);
    return;
  }
  if (job->split_batch) {
    int64_t lo, hi;
    split_range(g->batch, nthreads, tid, &lo, &hi);
    for (int64_t bi = lo; bi < hi && !failed; bi++) failed = gemm_block(g, bi, 0, g->M, 0, g->N);
    if (failed) atomic_store_explicit(&job->failed, failed, memory_order_relaxed);
    return;
  }
  int tm = job->tm, tn = job->tn;
  if (tm * tn != nthreads) tm = 1, tn = nthreads; /* the pool gave fewer threads than asked */
  int ti = tid / tn, tj = tid % tn;
  int64_t i0, i1, j0, j1;
  split_aligned(g->M, tm, ti, job->mr, &i0, &i1);
  split_aligned(g->N, tn, tj, job->gemv ? GEMV_ALIGN : job->nr, &j0, &j1);
  for (int64_t bi = 0; bi < g->batch && !failed; bi++) failed = gemm_block(g, bi, i0, i1, j0, j1);
  if (failed) atomic_store_explicit(&job->failed, failed, memory_order_relaxed);
}

/* C batches overlap (e.g. batch stride 0, accumulating a sum): they must then run one after another. */
static int c_batches_overlap(const gemm_args *g) {
  int64_t extent = (g->M - 1) * g->c_rs + g->N;
  int64_t s = g->c_bs < 0 ? -g->c_bs : g->c_bs;
  return g->batch > 1 && s < extent;
}

size_t gemm(const gemm_args *g) {
  if (g->batch <= 0 || g->M <= 0 || g->N <= 0) return 0;
  if (g->K <= 0) { /* C = beta * C; A and B are empty (a and b may be NULL) and never touched */
    for (int64_t bi = 0; bi < g->batch; bi++) zero_or_keep_c(g->M, g->N, g->c + bi * g->c_bs, g->c_rs, g->beta);
    return 0;
  }
  const gemm_ukernel *uk = gemm_select_ukernel(cpu_isa());
  gemm_job job = {.g = g, .mr = uk->mr, .nr = uk->nr, .tm = 1, .tn = 1};
  job.gemv = g->M <= gemv_max_m && (g->b_cs == 1 || g->b_rs == 1);
  double flops = 2.0 * (double)g->batch * (double)g->M * (double)g->N * (double)(g->K > 0 ? g->K : 1);
  int want = threads_for(flops, job.gemv ? GEMV_PARALLEL_GRAIN : GEMM_PARALLEL_GRAIN);
  /* A row-major B (a weight kept in the file's [in, out] layout) up to GEMV_KSPLIT_MAX_N wide: split K, so each
   * thread streams one contiguous run of whole rows. Split by columns, each thread would read short pieces of
   * every row, which the prefetchers follow badly: 10-35% less bandwidth for N = 768 on Zen 5 (from DRAM). The
   * partial sums are added in thread order afterwards. The thread count comes from B's size alone, never from M,
   * so a row of C is the same whether it is decoded alone or in a server's batch. */
  if (job.gemv && g->b_cs == 1 && g->b_rs != 1 && g->batch == 1 && g->N <= GEMV_KSPLIT_MAX_N) {
    const int kwant = threads_for(2.0 * (double)g->N * (double)g->K, GEMV_PARALLEL_GRAIN);
    if (kwant > 1 && g->K >= 64 * (int64_t)kwant) {
      GK_TRY(grow(&tls_ksplit, &tls_ksplit_size, (size_t)((kwant - 1) * g->M * g->N)));
      job.ksplit = tls_ksplit;
      pool_run(kwant, gemm_thread, &job);
      for (int t = 1; t < job.parts; t++) {
        const float *part = tls_ksplit + (int64_t)(t - 1) * g->M * g->N;
        for (int64_t i = 0; i < g->M; i++)
          for (int64_t j = 0; j < g->N; j++) g->c[i * g->c_rs + j] += part[i * g->N + j];
      }
      return 0;
    }
  }
  int overlap = c_batches_overlap(g);
  if (want <= 1) {
    job.split_batch = !overlap;
    pool_run(1, gemm_thread, &job);
    return atomic_load(&job.failed);
  }
  /* Whole batch entries per thread when they divide evenly enough (no redundant packing at all). */
  if (!overlap && (g->batch % want == 0 || g->batch >= 4 * want)) {
    job.split_batch = 1;
    pool_run(want, gemm_thread, &job);
    return atomic_load(&job.failed);
  }
  /* Otherwise a tm x tn grid over C: each thread packs its rows of A and its columns of B, so the grid that
   * packs the least (tn*M*K + tm*K*N) wins, among those that leave every thread at least one tile. Row-major
   * A is not packed at all (read in place), so then splitting N costs nothing extra. */
  const double a_pack = g->a_cs == 1 ? 0.0 : 1.0;
  if (job.gemv) {
    job.tn = want;
  } else {
    double best = -1;
    for (int tm = 1; tm <= want; tm++) {
      if (want % tm) continue;
      int tn = want / tm;
      if ((g->M + job.mr - 1) / job.mr < tm || (g->N + job.nr - 1) / job.nr < tn) continue;
      double cost = a_pack * tn * g->M * g->K + (double)tm * g->K * g->N;
      if (best < 0 || cost < best) {
        best = cost;
        job.tm = tm;
        job.tn = tn;
      }
    }
    if (best < 0) want = 1;
  }
  pool_run(want, gemm_thread, &job);
  return atomic_load(&job.failed); /* pool_run's join orders the workers' stores before this load */
}
