/* Fused row kernels (softmax, layer norm, GELU, cross-entropy, AdamW): the per-row math of the js backend,
 * parallelized over rows/elements with the pool. The vectorized inner loops are the row kernels of vecops. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "gptkit.h"
#include "vecops.h"

/* A thread's share must be at least this many elements, or waking workers costs more than it saves. */
#define FUSED_GRAIN (16.0 * 1024)
/* Elementwise shares are multiples of 64 floats (whole cache lines, whole vectors). */
#define ELEMENT_ALIGN 64

typedef struct {
  const float *x, *y, *dy, *w, *b, *mean, *rstd, *lse;
  const int32_t *targets;
  float *out, *out2, *mean_out, *rstd_out, *dw, *db;
  float **partials; /* layernorm backward: per-thread dw/db accumulators (thread 0 uses dw/db directly) */
  int64_t rows, cols;
  float eps, scale;
  int32_t ignore_index;
  const row_kernels *rk;
} fused_ctx;

static void rows_share(const fused_ctx *c, int tid, int nthreads, int64_t *lo, int64_t *hi) {
  split_range(c->rows, nthreads, tid, lo, hi);
}

static int threads_for_rows(int64_t rows, int64_t cols) {
  int nt = threads_for((double)rows * (double)cols, FUSED_GRAIN);
  return nt > rows ? (int)(rows > 0 ? rows : 1) : nt;
}

/* ---- softmax ---- */
static void softmax_rows(void *ctx, int tid, int nthreads) {
  const fused_ctx *c = ctx;
  int64_t lo, hi, n = c->cols;
  rows_share(c, tid, nthreads, &lo, &hi);
  for (int64_t r = lo; r < hi; r++) {
    const float *x = c->x + r * n;
    float *y = c->out + r * n;
    float mx = c->rk->max(x, n);
    if (mx == -INFINITY) { /* fully masked row: zeros, not NaN */
      memset(y, 0, (size_t)n * sizeof(float));
      continue;
    }
    float sum = c->rk->exp_sum(x, y, n, mx);
    c->rk->scale(y, n, 1.0f / sum);
  }
}

void softmax_forward(const float *x, float *y, int64_t rows, int64_t cols) {
  if (rows <= 0 || cols <= 0) return;
  fused_ctx c = {.x = x, .out = y, .rows = rows, .cols = cols, .rk = row_kernels_get()};
  pool_run(threads_for_rows(rows, cols), softmax_rows, &c);
}

static void softmax_backward_rows(void *ctx, int tid, int nthreads) {
  const fused_ctx *c = ctx;
  int64_t lo, hi, n = c->cols;
  rows_share(c, tid, nthreads, &lo, &hi);
  for (int64_t r = lo; r < hi; r++) {
    const float *y = c->y + r * n, *dy = c->dy + r * n;
    c->rk->softmax_bwd(y, dy, c->out + r * n, n, c->rk->dot(dy, y, n));
  }
}

void softmax_backward(const float *y, const float *dy, float *dx, int64_t rows, int64_t cols) {
  if (rows <= 0 || cols <= 0) return;
  fused_ctx c = {.y = y, .dy = dy, .out = dx, .rows = rows, .cols = cols, .rk = row_kernels_get()};
  pool_run(threads_for_rows(rows, cols), softmax_backward_rows, &c);
}

/* ---- layer norm ---- */
static void layernorm_rows(void *ctx, int tid, int nthreads) {
  const fused_ctx *c = ctx;
  int64_t lo, hi, n = c->cols;
  rows_share(c, tid, nthreads, &lo, &hi);
  for (int64_t r = lo; r < hi; r++) {
    const float *x = c->x + r * n;
    /* Two passes (mean, then squared deviations) as the js version: no E[x^2] - E[x]^2 cancellation. */
    float m = c->rk->sum(x, n) / (float)n;
    float var = c->rk->sq_dev(x, n, m) / (float)n; /* biased, as torch.nn.LayerNorm */
    float s = 1.0f / sqrtf(var + c->eps);
    c->rk->layernorm_affine(x, c->out + r * n, n, m, s, c->w, c->b);
    c->mean_out[r] = m;
    c->rstd_out[r] = s;
  }
}

void layernorm_forward(const float *x, const float *w, const float *b, float *y, float *mean, float *rstd,
                       int64_t rows, int64_t cols, float eps) {
  if (rows <= 0) return;
  if (cols <= 0) { /* mean of nothing: NaN, as 0/0 in the js version */
    for (int64_t r = 0; r < rows; r++) mean[r] = rstd[r] = NAN;
    return;
  }
  fused_ctx c = {.x = x, .w = w, .b = b, .out = y, .mean_out = mean, .rstd_out = rstd,
                 .rows = rows, .cols = cols, .eps = eps, .rk = row_kernels_get()};
  pool_run(threads_for_rows(rows, cols), layernorm_rows, &c);
}

static void layernorm_backward_rows(void *ctx, int tid, int nthreads) {
  const fused_ctx *c = ctx;
  int64_t lo, hi, n = c->cols;
  rows_share(c, tid, nthreads, &lo, &hi);
  float *dw = tid == 0 ? c->dw : c->partials[tid];
  float *db = tid == 0 ? c->db : c->partials[tid] + n;
  for (int64_t r = lo; r < hi; r++) {
    const float *dy = c->dy + r * n, *x = c->x + r * n;
    float m = c->mean[r], s = c->rstd[r], g_sum, gx_sum;
    /* dx = s * (g - mean(g) - xhat * mean(g * xhat)), g = dy * w (llm.c layernorm_backward) */
    c->rk->layernorm_bwd_reduce(dy, x, c->w, n, m, s, dw, db, &g_sum, &gx_sum);
    c->rk->layernorm_bwd_dx(dy, x, c->w, c->out + r * n, n, m, s, g_sum / (float)n, gx_sum / (float)n);
  }
}

void layernorm_backward(const float *dy, const float *x, const float *w, const float *mean, const float *rstd,
                        float *dx, float *dw, float *db, int64_t rows, int64_t cols) {
  if (rows <= 0 || cols <= 0) return;
  int nt = threads_for_rows(rows, cols);
  /* dw and db sum over rows: threads other than 0 accumulate privately, then add in tid order. */
  float *buf = NULL, *partials[256] = {NULL};
  if (nt > 1) {
    if (nt > 256) nt = 256;
    buf = gk_calloc((size_t)(nt - 1) * 2 * (size_t)cols, sizeof(float));
    if (!buf) nt = 1; /* no memory for the partial sums: one thread (slower, same result) */
    for (int t = 1; t < nt; t++) partials[t] = buf + (size_t)(t - 1) * 2 * (size_t)cols;
  }
  fused_ctx c = {.dy = dy, .x = x, .w = w, .mean = mean, .rstd = rstd, .out = dx, .dw = dw, .db = db,
                 .partials = partials, .rows = rows, .cols = cols, .rk = row_kernels_get()};
  pool_run(nt, layernorm_backward_rows, &c);
  for (int t = 1; t < nt; t++) {
    for (int64_t j = 0; j < cols; j++) {
      dw[j] += partials[t][j];
      db[j] += partials[t][cols + j];
    }
  }
  free(buf);
}

/* ---- GELU (elementwise: shares of the flat array) ---- */
static void gelu_chunk(void *ctx, int tid, int nthreads) {
  const fused_ctx *c = ctx;
  int64_t units = (c->cols + ELEMENT_ALIGN - 1) / ELEMENT_ALIGN, lo, hi;
  split_range(units, nthreads, tid, &lo, &hi);
  lo *= ELEMENT_ALIGN;
  hi = hi * ELEMENT_ALIGN < c->cols ? hi * ELEMENT_ALIGN : c->cols;
  if (hi <= lo) return;
  if (c->dy) c->rk->gelu_bwd(c->x + lo, c->dy + lo, c->out + lo, hi - lo);
  else c->rk->gelu(c->x + lo, c->out + lo, hi - lo);
}

void gelu_forward(const float *x, float *y, int64_t n) {
  if (n <= 0) return;
  fused_ctx c = {.x = x, .out = y, .cols = n, .rk = row_kernels_get()};
  pool_run(threads_for((double)n, FUSED_GRAIN), gelu_chunk, &c);
}

void gelu_backward(const float *x, const float *dy, float *dx, int64_t n) {
  if (n <= 0) return;
  fused_ctx c = {.x = x, .dy = dy, .out = dx, .cols = n, .rk = row_kernels_get()};
  pool_run(threads_for((double)n, FUSED_GRAIN), gelu_chunk, &c);
}

/* ---- cross-entropy (rows of V logits; V = 50257 for GPT-2, so a row alone is worth a thread) ---- */
static void cross_entropy_rows(void *ctx, int tid, int nthreads) {
  const fused_ctx *c = ctx;
  int64_t lo, hi, V = c->cols;
  rows_share(c, tid, nthreads, &lo, &hi);
  for (int64_t r = lo; r < hi; r++) {
    const float *z = c->x + r * V;
    float mx = c->rk->max(z, V);
    float l = mx + logf(c->rk->exp_sum(z, NULL, V, mx));
    c->out2[r] = l;
    int32_t t = c->targets[r];
    /* An out-of-range target (the caller's bug) gives NaN, as undefined does in js, never a stray read. */
    c->out[r] = t == c->ignore_index ? 0.0f : (t >= 0 && t < V) ? l - z[t] : NAN;
  }
}

void cross_entropy_forward(const float *logits, const int32_t *targets, float *loss, float *lse, int64_t rows,
                           int64_t V, int32_t ignore_index) {
  if (rows <= 0) return;
  fused_ctx c = {.x = logits, .targets = targets, .out = loss, .out2 = lse, .rows = rows, .cols = V,
                 .ignore_index = ignore_index, .rk = row_kernels_get()};
  pool_run(threads_for_rows(rows, V), cross_entropy_rows, &c);
}

static void cross_entropy_backward_rows(void *ctx, int tid, int nthreads) {
  const fused_ctx *c = ctx;
  int64_t lo, hi, V = c->cols;
  rows_share(c, tid, nthreads, &lo, &hi);
  for (int64_t r = lo; r < hi; r++) {
    float *d = c->out + r * V;
    int32_t t = c->targets[r];
    if (t == c->ignore_index) {
      memset(d, 0, (size_t)V * sizeof(float));
      continue;
    }
    c->rk->exp_scale(c->x + r * V, d, V, c->lse[r], c->scale); /* scale * softmax, from the stored lse */
    if (t >= 0 && t < V) d[t] -= c->scale;
  }
}

void cross_entropy_backward(const float *logits, const int32_t *targets, const float *lse, float *dlogits,
                            int64_t rows, int64_t V, int32_t ignore_index, float scale) {
  if (rows <= 0 || V <= 0) return;
  fused_ctx c = {.x = logits, .targets = targets, .lse = lse, .out = dlogits, .rows = rows, .cols = V,
                 .ignore_index = ignore_index, .scale = scale, .rk = row_kernels_get()};
  pool_run(threads_for_rows(rows, V), cross_entropy_backward_rows, &c);
}

/* ---- AdamW ---- */
typedef struct {
  float *param, *m, *v;
  const float *grad;
  int64_t n;
  float consts[8];
  const row_kernels *rk;
} adamw_ctx;

static void adamw_chunk(void *ctx, int tid, int nthreads) {
  const adamw_ctx *c = ctx;
  int64_t units = (c->n + ELEMENT_ALIGN - 1) / ELEMENT_ALIGN, lo, hi;
  split_range(units, nthreads, tid, &lo, &hi);
  lo *= ELEMENT_ALIGN;
  hi = hi * ELEMENT_ALIGN < c->n ? hi * ELEMENT_ALIGN : c->n;
  if (hi > lo) c->rk->adamw(c->param + lo, c->grad + lo, c->m + lo, c->v + lo, hi - lo, c->consts);
}

/* Same formula and operation order as the js version (torch.optim.AdamW, single-tensor path):
 * p = p*(1 - lr*wd) - (lr/bc1) * m / (sqrt(v)/sqrt(bc2) + eps). The per-step scalars are computed in double. */
void adamw_step(float *param, const float *grad, float *m, float *v, int64_t n, double lr, double beta1,
                double beta2, double eps, double weight_decay, double step) {
  if (n <= 0) return;
  double bc1 = 1.0 - pow(beta1, step), bc2 = 1.0 - pow(beta2, step);
  adamw_ctx c = {.param = param, .grad = grad, .m = m, .v = v, .n = n, .rk = row_kernels_get(),
                 .consts = {(float)beta1, (float)(1.0 - beta1), (float)beta2, (float)(1.0 - beta2),
                            (float)(1.0 - lr * weight_decay), (float)(lr / bc1), (float)sqrt(bc2), (float)eps}};
  /* 4 streams in, 3 out: memory-bound, so a share needs fewer elements than the compute-bound kernels */
  pool_run(threads_for((double)n, FUSED_GRAIN), adamw_chunk, &c);
}
