/* Memory-bound elementwise kernels the training step runs on every residual connection, dropout and bias:
 * plain loops the compiler vectorises, in shares of the flat arrays over the pool's threads. Results are the
 * same for any thread count (no element depends on another), and bit for bit those of the js backend. */
#include <string.h>

#include "gptkit.h"

/* Elements per thread share at least (waking a thread costs ~10 us; these run at ~10 GB/s). */
#define ELEMENTWISE_GRAIN (64.0 * 1024)
#define ELEMENTWISE_ALIGN 64

typedef struct {
  int kind; /* 0: add, 1: dropout, 2: sum of rows */
  const float *a, *b;
  float *out;
  int64_t n, rows;
  uint32_t seed, threshold;
  float scale;
  int beta;
} ew_job;

static void ew_share(void *ctx, int tid, int nthreads) {
  const ew_job *j = ctx;
  int64_t units = (j->n + ELEMENTWISE_ALIGN - 1) / ELEMENTWISE_ALIGN, lo, hi;
  split_range(units, nthreads, tid, &lo, &hi);
  lo *= ELEMENTWISE_ALIGN;
  hi = hi * ELEMENTWISE_ALIGN < j->n ? hi * ELEMENTWISE_ALIGN : j->n;
  const float *a = j->a, *b = j->b; /* out may be a or b (in place) */
  float *out = j->out;
  if (j->kind == 0) {
    for (int64_t i = lo; i < hi; i++) out[i] = a[i] + b[i];
  } else if (j->kind == 1) {
    /* The mask of dropMask in src/ops/nn-fused.ts: keep element i iff fmix32(seed + i * golden) >> 8 >= threshold. */
    const uint32_t seed = j->seed, threshold = j->threshold;
    const float scale = j->scale;
    for (int64_t i = lo; i < hi; i++) {
      const float m = (fmix32(seed + (uint32_t)i * 0x9e3779b9u) >> 8) < threshold ? 0.0f : scale;
      out[i] = m * a[i];
    }
  } else {
    /* Columns [lo, hi) of the row sums, rows added in order (as the js loop adds them). */
    const int64_t cols = j->n;
    if (!j->beta)
      for (int64_t c = lo; c < hi; c++) out[c] = 0.0f;
    for (int64_t r = 0; r < j->rows; r++) {
      const float *restrict row = a + r * cols;
      for (int64_t c = lo; c < hi; c++) out[c] += row[c];
    }
  }
}

static void ew_run(ew_job *j, double elements) {
  if (j->n <= 0) return;
  pool_run(threads_for(elements, ELEMENTWISE_GRAIN), ew_share, j);
}

void ew_add(const float *a, const float *b, float *out, int64_t n) {
  ew_job j = {.kind = 0, .a = a, .b = b, .out = out, .n = n};
  ew_run(&j, (double)n);
}

void ew_dropout(const float *x, float *out, int64_t n, uint32_t seed, uint32_t threshold, float scale) {
  ew_job j = {.kind = 1, .a = x, .out = out, .n = n, .seed = seed, .threshold = threshold, .scale = scale};
  ew_run(&j, 4.0 * (double)n); /* the hash makes an element ~4x the work of an add */
}

void ew_sum_rows(const float *g, int64_t rows, int64_t cols, float *dst, int beta) {
  ew_job j = {.kind = 2, .a = g, .out = dst, .n = cols, .rows = rows, .beta = beta};
  ew_run(&j, (double)rows * (double)cols);
}

/* ---- Strided copy: a view (up to 8 dimensions) into contiguous memory (contiguous() of a transpose) ---- */
typedef struct {
  const float *src;
  float *dst;
  int nd;
  int64_t shape[8], strides[8];
  int64_t rows, inner; /* rows = product of all but the last dimension */
} copy_job;

static void copy_rows(void *ctx, int tid, int nthreads) {
  const copy_job *j = ctx;
  int64_t lo, hi;
  split_range(j->rows, nthreads, tid, &lo, &hi);
  if (hi <= lo) return;
  const int nd = j->nd;
  const int64_t inner = j->inner, is = j->strides[nd - 1];
  /* Source offset of row lo: its multi-index over the leading nd - 1 dimensions. */
  int64_t idx[8] = {0}, o = 0, rem = lo;
  for (int d = nd - 2; d >= 0; d--) {
    idx[d] = rem % j->shape[d];
    rem /= j->shape[d];
    o += idx[d] * j->strides[d];
  }
  float *out = j->dst + lo * inner;
  for (int64_t r = lo; r < hi; r++) {
    const float *s = j->src + o;
    if (is == 1) memcpy(out, s, (size_t)inner * sizeof(float));
    else
      for (int64_t c = 0; c < inner; c++) out[c] = s[c * is];
    out += inner;
    for (int d = nd - 2; d >= 0; d--) {
      o += j->strides[d];
      if (++idx[d] < j->shape[d]) break;
      o -= j->strides[d] * j->shape[d];
      idx[d] = 0;
    }
  }
}

void ew_copy_strided(const float *src, int nd, const int64_t *shape, const int64_t *strides, float *dst) {
  copy_job j = {.src = src, .dst = dst, .nd = nd, .rows = 1};
  for (int d = 0; d < nd; d++) {
    j.shape[d] = shape[d];
    j.strides[d] = strides[d];
    if (shape[d] == 0) return;
    if (d < nd - 1) j.rows *= shape[d];
  }
  j.inner = shape[nd - 1];
  pool_run(threads_for((double)j.rows * (double)j.inner, ELEMENTWISE_GRAIN), copy_rows, &j);
}
