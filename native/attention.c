/* Fused causal attention, memory-efficient (FlashAttention-2 style): tiles of queries x keys with an online
 * softmax, never a T x T matrix; the backward recomputes P from the forward's log-sum-exp. The tile products
 * run on gemm_serial (packed micro-kernel, or the GEMV kernels for one or a few query rows). */
#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "gptkit.h"
#include "vecops.h"

/* Tile sizes: ATTN_BR query rows (a multiple of the 6-row AVX-512 micro-kernel) by ATTN_BC keys. The score
 * tile (48 x 128 floats = 24 KB) and a 64-wide K/V tile (32 KB each) stay in L2 between the products;
 * the diagonal tile wastes about BR/2 of its rows' keys to the mask, small against T = 1024. */
#define ATTN_BR 48
#define ATTN_BC 128
/* K^T (and V^T) tiles are packed once and reused across query tiles when at least this many query rows use
 * them; fewer rows go through gemm_serial, whose GEMV path reads K in place (decode steps). */
#define ATTN_PREPACK_MIN_ROWS 16
/* Below this many flops the whole call runs on the calling thread. */
#define ATTN_PARALLEL_GRAIN (1024.0 * 1024)

typedef struct {
  const attention_args *a;
  const row_kernels *rk;
  int64_t head;      /* backward, few-heads mode: the head being processed */
  float **dq_part;   /* backward, few-heads mode: per-thread dq accumulators (tid 0 writes dq itself) */
  atomic_size_t failed; /* bytes of an allocation that failed on some thread, else 0 */
} attn_ctx;

/* Attention-weight dropout with a counter-based mask: weight (bh, query position i, key position j) is kept
 * iff (fmix32(row_base(i) + j * 0x9e3779b9) >> 8) >= threshold. The forward and backward regenerate the
 * same mask without storing it; src/backend/backend.ts (dropoutRowBase, dropoutUniform) is the reference. */
static inline uint32_t dropout_row_base(const attention_args *a, int64_t h, int64_t qpos) {
  return fmix32(fmix32(a->dropout_seed ^ (uint32_t)h) ^ (uint32_t)qpos);
}

/* x[t] *= Z(j0 + t) for t < n: 0 where dropped, 1/(1-p) where kept. */
static void apply_dropout(const attention_args *a, uint32_t base, int64_t j0, float *x, int64_t n) {
  for (int64_t t = 0; t < n; t++) {
    uint32_t hsh = fmix32(base + (uint32_t)(j0 + t) * 0x9e3779b9u) >> 8;
    x[t] = hsh < a->dropout_threshold ? 0.0f : x[t] * a->dropout_scale;
  }
}

/* Keys of a tile visible to query row r of a query tile: key j0 + t for t < visible (causal mask). */
static int64_t visible_keys(const attention_args *a, int64_t i, int64_t j0, int64_t nc) {
  int64_t v = a->q_start + i + 1 - j0;
  return v < 0 ? 0 : v > nc ? nc : v;
}

/* Per-thread scratch, grown on demand and kept between calls: fresh large allocations are fresh mmaps, and the
 * kernel zeroing their pages cost more than a decode step. Slot i of a thread is one buffer. */
#define ATTN_SCRATCH_SLOTS 5
static _Thread_local float *tls_scratch[ATTN_SCRATCH_SLOTS];
static _Thread_local size_t tls_scratch_size[ATTN_SCRATCH_SLOTS];

/* Slot `slot`, with room for n floats, in *out (NULL for n = 0). Returns 0, or the bytes it failed to allocate. */
static size_t scratch(int slot, size_t n, float **out) {
  *out = NULL;
  if (n == 0) return 0;
  if (n > tls_scratch_size[slot]) {
    free(tls_scratch[slot]);
    tls_scratch[slot] = gk_aligned_alloc(n * sizeof(float));
    tls_scratch_size[slot] = tls_scratch[slot] ? n : 0;
    if (!tls_scratch[slot]) return n * sizeof(float);
  }
  *out = tls_scratch[slot];
  return 0;
}

static void record_failure(attn_ctx *c, size_t bytes) {
  if (bytes) atomic_store_explicit(&c->failed, bytes, memory_order_relaxed);
}

/* One query tile of head h: out rows and lse. kt: K_h^T pre-packed for all keys, or NULL.
 * Returns 0, or the bytes of an allocation that failed. */
static size_t attention_forward_tile(const attention_args *a, const row_kernels *rk, int64_t h, int64_t i0,
                                   float *S, const float *kt) {
  const int64_t D = a->D, Tq = a->Tq, Tk = a->Tk;
  const int64_t rows = Tq - i0 < ATTN_BR ? Tq - i0 : ATTN_BR;
  const float *q = a->q + (h * Tq + i0) * D;
  const float *k = a->k + h * a->kv_head_stride, *v = a->v + h * a->kv_head_stride;
  float *o = a->out + (h * Tq + i0) * D; /* the output rows double as the O accumulator */
  float m[ATTN_BR], l[ATTN_BR];
  int64_t kend = a->q_start + i0 + rows; /* keys [0, kend) are visible to some row of the tile */
  if (kend > Tk) kend = Tk;
  memset(o, 0, (size_t)(rows * D) * sizeof(float));
  for (int64_t r = 0; r < rows; r++) m[r] = -INFINITY, l[r] = 0.0f;

  for (int64_t j0 = 0; j0 < kend; j0 += ATTN_BC) {
    const int64_t nc = kend - j0 < ATTN_BC ? kend - j0 : ATTN_BC;
    /* S = scale * Q_i K_j^T, from the pre-packed K^T, or with K_j read through swapped strides */
    if (kt) GK_TRY(gemm_serial_packed_b(rows, nc, D, q, D, 1, kt + j0 * D, S, ATTN_BC, a->scale, 0));
    else GK_TRY(gemm_serial(rows, nc, D, q, D, 1, k + j0 * D, 1, D, S, ATTN_BC, a->scale, 0));
    for (int64_t r = 0; r < rows; r++) {
      float *s = S + r * ATTN_BC;
      int64_t vis = visible_keys(a, i0 + r, j0, nc);
      if (vis > 0) {
        /* Online softmax (Milakov & Gimelshein 2018): rescale what was accumulated under the old max. */
        float m_new = fmaxf(m[r], rk->max(s, vis));
        float corr = expf(m[r] - m_new); /* 0 on the first tile (m = -inf) */
        l[r] = l[r] * corr + rk->exp_sum(s, s, vis, m_new);
        if (corr != 1.0f) rk->scale(o + r * D, D, corr);
        m[r] = m_new;
        /* The normaliser l sums the undropped weights; only the weighted sum of V sees the mask. */
        if (a->dropout_threshold) apply_dropout(a, dropout_row_base(a, h, a->q_start + i0 + r), j0, s, vis);
      }
      memset(s + vis, 0, (size_t)(nc - vis) * sizeof(float)); /* masked: p = 0 */
    }
    /* O += P V_j */
    GK_TRY(gemm_serial(rows, D, nc, S, ATTN_BC, 1, v + j0 * D, D, 1, o, D, 1.0f, 1));
  }
  for (int64_t r = 0; r < rows; r++) {
    rk->scale(o + r * D, D, 1.0f / l[r]);
    a->lse[h * Tq + i0 + r] = m[r] + logf(l[r]);
  }
  return 0;
}

static void attention_forward_thread(void *ctx, int tid, int nthreads) {
  attn_ctx *c = ctx;
  const attention_args *a = c->a;
  const int64_t nqb = (a->Tq + ATTN_BR - 1) / ATTN_BR;
  float S[ATTN_BR * ATTN_BC] __attribute__((aligned(64)));
  /* K_h^T is packed once per head and thread, then serves all of that head's query tiles. Without the memory
   * for it the tiles read K in place (gemm_serial packs per product): slower, same result. */
  float *kt = NULL;
  if (a->Tq >= ATTN_PREPACK_MIN_ROWS) scratch(0, (size_t)gemm_packed_b_floats(a->D, a->Tk), &kt);
  int64_t packed_head = -1;
  /* Round-robin over (head, query tile): later tiles see more keys, so interleaving balances the causal load. */
  for (int64_t t = tid; t < a->BH * nqb; t += nthreads) {
    int64_t h = t / nqb;
    if (kt && h != packed_head) {
      gemm_pack_b_full(a->D, a->Tk, a->k + h * a->kv_head_stride, 1, a->D, kt);
      packed_head = h;
    }
    size_t failed = attention_forward_tile(a, c->rk, h, (t % nqb) * ATTN_BR, S, kt);
    if (failed) {
      record_failure(c, failed);
      return;
    }
  }
}

static double attention_flops(const attention_args *a) {
  double keys = (double)a->q_start + (double)(a->Tq + 1) / 2; /* average visible keys per query */
  return 4.0 * (double)a->BH * (double)a->Tq * keys * (double)a->D;
}

size_t attention_forward(const attention_args *a) {
  if (a->BH <= 0 || a->Tq <= 0) return 0;
  if (a->D <= 0) { /* no features: out is empty, every score is 0, lse = log(visible keys) */
    for (int64_t h = 0; h < a->BH; h++)
      for (int64_t i = 0; i < a->Tq; i++) a->lse[h * a->Tq + i] = logf((float)(a->q_start + i + 1));
    return 0;
  }
  attn_ctx c = {.a = a, .rk = row_kernels_get()};
  pool_run(threads_for(attention_flops(a), ATTN_PARALLEL_GRAIN), attention_forward_thread, &c);
  return atomic_load(&c.failed); /* pool_run's join orders the workers' stores before this load */
}

typedef struct {
  float *P, *dP, *delta;
  float *kt, *vt; /* K_j^T and V_j^T of one key tile, packed (NULL where D is too large to pre-pack) */
} attn_scratch;

/* Backward for the key tiles kb = kb0, kb0 + kb_step, ... of head h; dq_acc (Tq x D) is accumulated into.
 * Per key tile j and query tile i (FlashAttention-2, algorithm 2): P = exp(S - lse), dV_j += P^T dO_i,
 * dP = dO_i V_j^T, dS = P * (dP - delta), dQ_i += scale dS K_j, dK_j += scale dS^T Q_i.
 * Returns 0, or the bytes of an allocation that failed. */
static size_t attention_backward_keys(const attention_args *a, const row_kernels *rk, int64_t h, int64_t kb0,
                                    int64_t kb_step, float *dq_acc, const attn_scratch *sc) {
  float *P = sc->P, *dP = sc->dP;
  const float *delta = sc->delta;
  const int64_t D = a->D, Tq = a->Tq, Tk = a->Tk;
  const float *q = a->q + h * Tq * D, *dout = a->dout + h * Tq * D, *lse = a->lse + h * Tq;
  for (int64_t j0 = kb0 * ATTN_BC; j0 < Tk; j0 += kb_step * ATTN_BC) {
    const int64_t nc = Tk - j0 < ATTN_BC ? Tk - j0 : ATTN_BC;
    const float *kj = a->k + (h * Tk + j0) * D, *vj = a->v + (h * Tk + j0) * D;
    float *dkj = a->dk + (h * Tk + j0) * D, *dvj = a->dv + (h * Tk + j0) * D;
    memset(dkj, 0, (size_t)(nc * D) * sizeof(float));
    memset(dvj, 0, (size_t)(nc * D) * sizeof(float));
    int64_t i_first = j0 - a->q_start; /* the first query that sees key j0 */
    if (i_first < 0) i_first = 0;
    /* K_j^T and V_j^T serve every query tile below: pack them once (transposing packs are the costly kind). */
    const int prepacked = sc->kt && Tq - i_first >= ATTN_PREPACK_MIN_ROWS;
    if (prepacked) {
      gemm_pack_b_full(D, nc, kj, 1, D, sc->kt);
      gemm_pack_b_full(D, nc, vj, 1, D, sc->vt);
    }
    for (int64_t i0 = i_first; i0 < Tq; i0 += ATTN_BR) {
      const int64_t rows = Tq - i0 < ATTN_BR ? Tq - i0 : ATTN_BR;
      const float *qi = q + i0 * D, *doi = dout + i0 * D;
      /* P = exp(scale * Q_i K_j^T - lse), zero where masked */
      if (prepacked) GK_TRY(gemm_serial_packed_b(rows, nc, D, qi, D, 1, sc->kt, P, ATTN_BC, a->scale, 0));
      else GK_TRY(gemm_serial(rows, nc, D, qi, D, 1, kj, 1, D, P, ATTN_BC, a->scale, 0));
      for (int64_t r = 0; r < rows; r++) {
        float *p = P + r * ATTN_BC;
        int64_t vis = visible_keys(a, i0 + r, j0, nc);
        rk->exp_scale(p, p, vis, lse[i0 + r], 1.0f);
        memset(p + vis, 0, (size_t)(nc - vis) * sizeof(float));
      }
      if (a->dropout_threshold) {
        /* With dropout the forward used P * Z: dV_j += (P Z)^T dO_i, and dP picks up Z before the softmax backward. */
        for (int64_t r = 0; r < rows; r++) {
          memcpy(dP + r * ATTN_BC, P + r * ATTN_BC, (size_t)nc * sizeof(float));
          apply_dropout(a, dropout_row_base(a, h, a->q_start + i0 + r), j0, dP + r * ATTN_BC, nc);
        }
        GK_TRY(gemm_serial(nc, D, rows, dP, 1, ATTN_BC, doi, D, 1, dvj, D, 1.0f, 1));
      } else {
        /* dV_j += P^T dO_i */
        GK_TRY(gemm_serial(nc, D, rows, P, 1, ATTN_BC, doi, D, 1, dvj, D, 1.0f, 1));
      }
      /* dP = dO_i V_j^T, then dS = P * (dP - delta) (FlashAttention-2's softmax backward), in place */
      if (prepacked) GK_TRY(gemm_serial_packed_b(rows, nc, D, doi, D, 1, sc->vt, dP, ATTN_BC, 1.0f, 0));
      else GK_TRY(gemm_serial(rows, nc, D, doi, D, 1, vj, 1, D, dP, ATTN_BC, 1.0f, 0));
      if (a->dropout_threshold)
        for (int64_t r = 0; r < rows; r++)
          apply_dropout(a, dropout_row_base(a, h, a->q_start + i0 + r), j0, dP + r * ATTN_BC, nc);
      for (int64_t r = 0; r < rows; r++)
        rk->softmax_bwd(P + r * ATTN_BC, dP + r * ATTN_BC, dP + r * ATTN_BC, nc, delta[i0 + r]);
      /* dQ_i += scale * dS K_j ;  dK_j += scale * dS^T Q_i */
      GK_TRY(gemm_serial(rows, D, nc, dP, ATTN_BC, 1, kj, D, 1, dq_acc + i0 * D, D, a->scale, 1));
      GK_TRY(gemm_serial(nc, D, rows, dP, 1, ATTN_BC, qi, D, 1, dkj, D, a->scale, 1));
    }
  }
  return 0;
}

/* delta_i = rowsum(dO_i * O_i), the correction term of the softmax backward, for head h. */
static void attention_delta(const attention_args *a, const row_kernels *rk, int64_t h, float *delta) {
  for (int64_t i = 0; i < a->Tq; i++) {
    int64_t o = (h * a->Tq + i) * a->D;
    delta[i] = rk->dot(a->dout + o, a->out + o, a->D);
  }
}

/* This thread's scratch; returns 0, or the bytes of an allocation that failed. */
static size_t scratch_alloc(attn_scratch *s, const attention_args *a) {
  GK_TRY(scratch(0, ATTN_BR * ATTN_BC, &s->P));
  GK_TRY(scratch(1, ATTN_BR * ATTN_BC, &s->dP));
  GK_TRY(scratch(2, (size_t)(a->Tq > 0 ? a->Tq : 1), &s->delta));
  size_t packed = (size_t)gemm_packed_b_floats(a->D, ATTN_BC); /* 0: D too large */
  /* Pre-packing is optional: without the memory, gemm_serial packs per product instead. */
  if (scratch(3, packed, &s->kt) || scratch(4, packed, &s->vt) || !s->kt || !s->vt) s->kt = s->vt = NULL;
  return 0;
}

/* Many heads: each thread owns whole heads (round-robin), so dq, dk and dv have a single writer. */
static void attention_backward_heads_thread(void *ctx, int tid, int nthreads) {
  attn_ctx *c = ctx;
  const attention_args *a = c->a;
  attn_scratch s;
  size_t failed = scratch_alloc(&s, a);
  for (int64_t h = tid; h < a->BH && !failed; h += nthreads) {
    float *dq = a->dq + h * a->Tq * a->D;
    memset(dq, 0, (size_t)(a->Tq * a->D) * sizeof(float));
    attention_delta(a, c->rk, h, s.delta);
    failed = attention_backward_keys(a, c->rk, h, 0, 1, dq, &s);
  }
  record_failure(c, failed);
}

/* Fewer heads than threads: the key tiles of one head are shared out; dq gets per-thread partial sums. */
static void attention_backward_keys_thread(void *ctx, int tid, int nthreads) {
  attn_ctx *c = ctx;
  const attention_args *a = c->a;
  attn_scratch s;
  size_t failed = scratch_alloc(&s, a);
  if (!failed) {
    float *dq = tid == 0 ? a->dq + c->head * a->Tq * a->D : c->dq_part[tid]; /* zeroed by the caller */
    attention_delta(a, c->rk, c->head, s.delta);
    failed = attention_backward_keys(a, c->rk, c->head, tid, nthreads, dq, &s);
  }
  record_failure(c, failed);
}

size_t attention_backward(const attention_args *a) {
  if (a->BH <= 0) return 0;
  /* Zero sizes first: the binding bounds these products by the array lengths only when no factor is 0, so
   * BH * Tk with D = 0 is unchecked (and could overflow). */
  const int64_t nq = a->Tq > 0 && a->D > 0 ? a->BH * a->Tq * a->D : 0;
  const int64_t nk = a->Tk > 0 && a->D > 0 ? a->BH * a->Tk * a->D : 0;
  if (a->Tq <= 0 || a->D <= 0 || a->Tk <= 0) { /* nothing flows: all gradients are zero */
    if (nq > 0) memset(a->dq, 0, (size_t)nq * sizeof(float));
    if (nk > 0) {
      memset(a->dk, 0, (size_t)nk * sizeof(float));
      memset(a->dv, 0, (size_t)nk * sizeof(float));
    }
    return 0;
  }
  attn_ctx c = {.a = a, .rk = row_kernels_get()};
  int nt = threads_for(2.5 * attention_flops(a), ATTN_PARALLEL_GRAIN);
  if (a->BH >= nt) {
    pool_run(nt, attention_backward_heads_thread, &c);
    return atomic_load(&c.failed); /* pool_run's join orders the workers' stores before this load */
  }
  const int64_t nkb = (a->Tk + ATTN_BC - 1) / ATTN_BC;
  if (nt > nkb) nt = (int)nkb;
  float *part[256] = {NULL}, *buf = NULL;
  if (nt > 256) nt = 256;
  /* Without memory for the partial sums, one thread does the head (slower, same result). */
  if (nt > 1 && (buf = gk_malloc(sizeof(float) * (size_t)(nt - 1) * (size_t)(a->Tq * a->D))) == NULL) nt = 1;
  for (int t = 1; t < nt; t++) part[t] = buf + (size_t)(t - 1) * (size_t)(a->Tq * a->D);
  c.dq_part = part;
  for (c.head = 0; c.head < a->BH; c.head++) {
    memset(a->dq + c.head * a->Tq * a->D, 0, (size_t)(a->Tq * a->D) * sizeof(float));
    if (buf) memset(buf, 0, sizeof(float) * (size_t)(nt - 1) * (size_t)(a->Tq * a->D));
    pool_run(nt, attention_backward_keys_thread, &c);
    if (atomic_load(&c.failed)) break;
    float *dq = a->dq + c.head * a->Tq * a->D;
    for (int t = 1; t < nt; t++)
      for (int64_t i = 0; i < a->Tq * a->D; i++) dq[i] += part[t][i];
  }
  free(buf);
  return atomic_load(&c.failed);
}
