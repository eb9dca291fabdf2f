/* STREAM-like memory bandwidth probe on the pool's threads (McCalpin's STREAM copy and triad, plus a read-only
 * sum: the access pattern of a GEMV streaming weights, which bounds token-by-token generation). For
 * `npm run bench -- bandwidth` and the generation bench's bound; no model code uses it. */
#include "gptkit.h"

typedef struct {
  int kind; /* STREAM_READ, STREAM_COPY, STREAM_TRIAD */
  float *a;
  const float *b, *c;
  int64_t n;
  float scalar;
  double partial[256];
} stream_job;

/* Sum of b[0:n] with 16 independent accumulators (no reassociation needed for the compiler to vectorize). */
static double read_sum(const float *b, int64_t n) {
  float acc[16] = {0};
  int64_t i = 0;
  for (; i + 16 <= n; i += 16)
    for (int j = 0; j < 16; j++) acc[j] += b[i + j];
  double s = 0;
  for (int j = 0; j < 16; j++) s += acc[j];
  for (; i < n; i++) s += b[i];
  return s;
}

static void stream_thread(void *ctx, int tid, int nthreads) {
  stream_job *job = ctx;
  int64_t lo, hi;
  split_range(job->n, nthreads, tid, &lo, &hi);
  float *a = job->a;
  const float *b = job->b, *c = job->c;
  const float s = job->scalar;
  if (job->kind == STREAM_READ) job->partial[tid] = read_sum(b + lo, hi - lo);
  else if (job->kind == STREAM_COPY)
    for (int64_t i = lo; i < hi; i++) a[i] = b[i];
  else
    for (int64_t i = lo; i < hi; i++) a[i] = b[i] + s * c[i];
}

double stream_kernel(int kind, float *a, const float *b, const float *c, int64_t n, float scalar) {
  stream_job job = {.kind = kind, .a = a, .b = b, .c = c, .n = n, .scalar = scalar};
  int want = pool_threads();
  if (want > 256) want = 256;
  pool_run(want, stream_thread, &job);
  double sum = 0;
  if (kind == STREAM_READ)
    for (int t = 0; t < want; t++) sum += job.partial[t];
  return sum;
}
