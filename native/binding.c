/* N-API entry points: unwrap Float32Array/Int32Array arguments (no copies: kernels work on the typed arrays'
 * own memory), check every index range against the arrays' lengths, and call the kernels. No math here. */
#ifndef NAPI_VERSION
#define NAPI_VERSION 8
#endif
#define _GNU_SOURCE /* MADV_HUGEPAGE */
#include <math.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <node_api.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "gptkit.h"

#define MAX_ARGS 12

typedef struct {
  napi_env env;
  napi_value argv[MAX_ARGS];
  size_t argc;
  const char *fn; /* kernel name, for error messages */
  int failed;
} call;

static void fail(call *c, const char *kind, const char *fmt, const char *what) {
  if (c->failed) return;
  char msg[256];
  snprintf(msg, sizeof msg, "gptkit native %s: ", c->fn);
  size_t len = strlen(msg);
  snprintf(msg + len, sizeof msg - len, fmt, what);
  if (kind[0] == 'T') napi_throw_type_error(c->env, NULL, msg);
  else napi_throw_range_error(c->env, NULL, msg);
  c->failed = 1;
}

/* A kernel's allocation failed (it returned the size): an Error with code ENOMEM, never a process abort. */
static napi_value out_of_memory(call *c, size_t bytes) {
  char msg[256];
  snprintf(msg, sizeof msg, "gptkit native %s: out of memory allocating %zu bytes", c->fn, bytes);
  napi_throw_error(c->env, "ENOMEM", msg);
  c->failed = 1;
  return NULL;
}

static int begin(napi_env env, napi_callback_info info, call *c, const char *fn, size_t want) {
  c->env = env;
  c->fn = fn;
  c->failed = 0;
  c->argc = MAX_ARGS;
  if (napi_get_cb_info(env, info, &c->argc, c->argv, NULL, NULL) != napi_ok) {
    fail(c, "T", "%s", "cannot read arguments");
    return 0;
  }
  if (c->argc < want) {
    fail(c, "T", "%s", "too few arguments");
    return 0;
  }
  return 1;
}

/* A typed array argument of the given type; *len is its element count. */
static void *typed(call *c, size_t i, napi_typedarray_type want, size_t *len, const char *name) {
  if (c->failed) return NULL;
  napi_typedarray_type type;
  void *data = NULL;
  napi_value buf;
  size_t off, n;
  bool is;
  if (napi_is_typedarray(c->env, c->argv[i], &is) != napi_ok || !is ||
      napi_get_typedarray_info(c->env, c->argv[i], &type, &n, &data, &buf, &off) != napi_ok || type != want) {
    fail(c, "T", want == napi_int32_array ? "%s must be an Int32Array" : "%s must be a Float32Array (float64 is js-only)",
         name);
    return NULL;
  }
  *len = n;
  /* A zero-length array may report a NULL data pointer; kernels never dereference it for empty ranges. */
  return data;
}

static float *f32(call *c, size_t i, size_t *len, const char *name) {
  return typed(c, i, napi_float32_array, len, name);
}

static double num(call *c, size_t i) {
  double v = 0;
  if (!c->failed && napi_get_value_double(c->env, c->argv[i], &v) != napi_ok) fail(c, "T", "%s", "expected a number");
  return v;
}

/* A count or index argument: a non-negative integer (below 2^53, so exact in a double). */
static int64_t count(call *c, double v, const char *name) {
  if (c->failed) return 0;
  if (!(v >= 0 && v <= 9007199254740991.0) || v != floor(v)) {
    fail(c, "R", "%s must be a non-negative integer", name);
    return 0; /* converting NaN, infinity or an out-of-range double to an integer is undefined behaviour */
  }
  return (int64_t)v;
}

/* JavaScript's ToUint32 (what `x >>> 0` does): truncate, then modulo 2^32; NaN and infinities give 0.
 * A plain (uint32_t) cast of a negative or huge double is undefined behaviour. */
static uint32_t to_uint32(double v) {
  if (!isfinite(v)) return 0;
  double m = fmod(trunc(v), 4294967296.0);
  if (m < 0) m += 4294967296.0;
  return (uint32_t)m;
}

/* Elements [off + lowest, off + highest] must lie inside an array of `len` elements. Extents are summed in
 * double (exact below 2^53), so absurd strides cannot wrap around. */
static void check_span(call *c, size_t len, double off, const double *extent, const double *stride, int dims,
                       const char *name) {
  if (c->failed) return;
  double lo = off, hi = off;
  for (int d = 0; d < dims; d++) {
    if (extent[d] <= 0) return; /* an empty operand touches nothing */
    double span = (extent[d] - 1) * stride[d];
    if (span < 0) lo += span;
    else hi += span;
  }
  if (lo < 0 || hi >= (double)len) fail(c, "R", "%s: index range falls outside the array", name);
}

static void need(call *c, size_t len, double n, const char *name) {
  if (!c->failed && n > (double)len) fail(c, "R", "%s is shorter than the sizes require", name);
}

static napi_value undefined(napi_env env) {
  napi_value u;
  napi_get_undefined(env, &u);
  return u;
}

/* gemm(a, b, c, params: Float64Array[17] = batch, M, N, K, aOffset, aRowStride, aColStride, aBatchStride,
 *      bOffset, bRowStride, bColStride, bBatchStride, cOffset, cRowStride, cBatchStride, alpha, beta) */
static napi_value js_gemm(napi_env env, napi_callback_info info) {
  call c;
  if (!begin(env, info, &c, "gemm", 4)) return NULL;
  size_t la, lb, lc, lp;
  float *a = f32(&c, 0, &la, "a"), *b = f32(&c, 1, &lb, "b"), *cc = f32(&c, 2, &lc, "c");
  double *p = typed(&c, 3, napi_float64_array, &lp, "params");
  if (c.failed) return NULL;
  if (lp < 17) {
    fail(&c, "R", "%s", "params needs 17 entries");
    return NULL;
  }
  for (int i = 0; i < 15; i++)
    if (!isfinite(p[i]) || p[i] != floor(p[i]) || fabs(p[i]) > 9007199254740991.0) {
      fail(&c, "R", "%s", "sizes, offsets and strides must be integers");
      return NULL;
    }
  double batch = p[0], M = p[1], N = p[2], K = p[3];
  if (batch < 0 || M < 0 || N < 0 || K < 0 || p[4] < 0 || p[8] < 0 || p[12] < 0) {
    fail(&c, "R", "%s", "sizes and offsets must be non-negative");
    return NULL;
  }
  if (p[16] != 0 && p[16] != 1) {
    fail(&c, "R", "%s", "beta must be 0 or 1");
    return NULL;
  }
  const double ae[3] = {batch, M, K}, as[3] = {p[7], p[5], p[6]};
  const double be[3] = {batch, K, N}, bs[3] = {p[11], p[9], p[10]};
  const double ce[3] = {batch, M, N}, cs[3] = {p[14], p[13], 1};
  check_span(&c, la, p[4], ae, as, 3, "a");
  check_span(&c, lb, p[8], be, bs, 3, "b");
  check_span(&c, lc, p[12], ce, cs, 3, "c");
  if (c.failed) return NULL;
  if (batch == 0 || M == 0 || N == 0) return undefined(env);
  /* K = 0: A and B are empty, their offsets unchecked and their data pointers possibly NULL; gemm reads
   * neither, so no pointer is formed from them (offsetting NULL, or past an array, is undefined behaviour). */
  gemm_args g = {
      .batch = (int64_t)batch, .M = (int64_t)M, .N = (int64_t)N, .K = (int64_t)K,
      .a = K > 0 ? a + (int64_t)p[4] : NULL,
      .a_rs = (int64_t)p[5], .a_cs = (int64_t)p[6], .a_bs = (int64_t)p[7],
      .b = K > 0 ? b + (int64_t)p[8] : NULL,
      .b_rs = (int64_t)p[9], .b_cs = (int64_t)p[10], .b_bs = (int64_t)p[11],
      .c = cc + (int64_t)p[12], .c_rs = (int64_t)p[13], .c_bs = (int64_t)p[14],
      .alpha = (float)p[15], .beta = (int)p[16],
  };
  size_t failed = gemm(&g);
  return failed ? out_of_memory(&c, failed) : undefined(env);
}

/* softmax(x, y, rows, cols) */
static napi_value js_softmax(napi_env env, napi_callback_info info) {
  call c;
  if (!begin(env, info, &c, "softmax", 4)) return NULL;
  size_t lx, ly;
  float *x = f32(&c, 0, &lx, "x"), *y = f32(&c, 1, &ly, "y");
  int64_t rows = count(&c, num(&c, 2), "rows"), cols = count(&c, num(&c, 3), "cols");
  need(&c, lx, (double)rows * cols, "x");
  need(&c, ly, (double)rows * cols, "y");
  if (c.failed) return NULL;
  softmax_forward(x, y, rows, cols);
  return undefined(env);
}

/* softmaxBackward(y, dy, dx, rows, cols) */
static napi_value js_softmax_backward(napi_env env, napi_callback_info info) {
  call c;
  if (!begin(env, info, &c, "softmaxBackward", 5)) return NULL;
  size_t ly, ldy, ldx;
  float *y = f32(&c, 0, &ly, "y"), *dy = f32(&c, 1, &ldy, "dy"), *dx = f32(&c, 2, &ldx, "dx");
  int64_t rows = count(&c, num(&c, 3), "rows"), cols = count(&c, num(&c, 4), "cols");
  double n = (double)rows * cols;
  need(&c, ly, n, "y");
  need(&c, ldy, n, "dy");
  need(&c, ldx, n, "dx");
  if (c.failed) return NULL;
  softmax_backward(y, dy, dx, rows, cols);
  return undefined(env);
}

/* layerNorm(x, weight, bias, y, mean, rstd, rows, cols, eps) */
static napi_value js_layernorm(napi_env env, napi_callback_info info) {
  call c;
  if (!begin(env, info, &c, "layerNorm", 9)) return NULL;
  size_t lx, lw, lb, ly, lm, lr;
  float *x = f32(&c, 0, &lx, "x"), *w = f32(&c, 1, &lw, "weight"), *b = f32(&c, 2, &lb, "bias");
  float *y = f32(&c, 3, &ly, "y"), *mean = f32(&c, 4, &lm, "mean"), *rstd = f32(&c, 5, &lr, "rstd");
  int64_t rows = count(&c, num(&c, 6), "rows"), cols = count(&c, num(&c, 7), "cols");
  double eps = num(&c, 8), n = (double)rows * cols;
  need(&c, lx, n, "x");
  need(&c, ly, n, "y");
  need(&c, lw, rows ? cols : 0, "weight");
  need(&c, lb, rows ? cols : 0, "bias");
  need(&c, lm, rows, "mean");
  need(&c, lr, rows, "rstd");
  if (c.failed) return NULL;
  layernorm_forward(x, w, b, y, mean, rstd, rows, cols, (float)eps);
  return undefined(env);
}

/* layerNormBackward(dy, x, weight, mean, rstd, dx, dweight, dbias, rows, cols) */
static napi_value js_layernorm_backward(napi_env env, napi_callback_info info) {
  call c;
  if (!begin(env, info, &c, "layerNormBackward", 10)) return NULL;
  size_t ldy, lx, lw, lm, lr, ldx, ldw, ldb;
  float *dy = f32(&c, 0, &ldy, "dy"), *x = f32(&c, 1, &lx, "x"), *w = f32(&c, 2, &lw, "weight");
  float *mean = f32(&c, 3, &lm, "mean"), *rstd = f32(&c, 4, &lr, "rstd"), *dx = f32(&c, 5, &ldx, "dx");
  float *dw = f32(&c, 6, &ldw, "dweight"), *db = f32(&c, 7, &ldb, "dbias");
  int64_t rows = count(&c, num(&c, 8), "rows"), cols = count(&c, num(&c, 9), "cols");
  double n = (double)rows * cols, nc = rows ? cols : 0;
  need(&c, ldy, n, "dy");
  need(&c, lx, n, "x");
  need(&c, ldx, n, "dx");
  need(&c, lw, nc, "weight");
  need(&c, ldw, nc, "dweight");
  need(&c, ldb, nc, "dbias");
  need(&c, lm, rows, "mean");
  need(&c, lr, rows, "rstd");
  if (c.failed) return NULL;
  layernorm_backward(dy, x, w, mean, rstd, dx, dw, db, rows, cols);
  return undefined(env);
}

/* gelu(x, y, n) */
static napi_value js_gelu(napi_env env, napi_callback_info info) {
  call c;
  if (!begin(env, info, &c, "gelu", 3)) return NULL;
  size_t lx, ly;
  float *x = f32(&c, 0, &lx, "x"), *y = f32(&c, 1, &ly, "y");
  int64_t n = count(&c, num(&c, 2), "n");
  need(&c, lx, n, "x");
  need(&c, ly, n, "y");
  if (c.failed) return NULL;
  gelu_forward(x, y, n);
  return undefined(env);
}

/* geluBackward(x, dy, dx, n) */
static napi_value js_gelu_backward(napi_env env, napi_callback_info info) {
  call c;
  if (!begin(env, info, &c, "geluBackward", 4)) return NULL;
  size_t lx, ldy, ldx;
  float *x = f32(&c, 0, &lx, "x"), *dy = f32(&c, 1, &ldy, "dy"), *dx = f32(&c, 2, &ldx, "dx");
  int64_t n = count(&c, num(&c, 3), "n");
  need(&c, lx, n, "x");
  need(&c, ldy, n, "dy");
  need(&c, ldx, n, "dx");
  if (c.failed) return NULL;
  gelu_backward(x, dy, dx, n);
  return undefined(env);
}

/* add(a, b, out, n): out = a + b (out may be a or b) */
static napi_value js_add(napi_env env, napi_callback_info info) {
  call c;
  if (!begin(env, info, &c, "add", 4)) return NULL;
  size_t la, lb, lo;
  float *a = f32(&c, 0, &la, "a"), *b = f32(&c, 1, &lb, "b"), *out = f32(&c, 2, &lo, "out");
  int64_t n = count(&c, num(&c, 3), "n");
  need(&c, la, n, "a");
  need(&c, lb, n, "b");
  need(&c, lo, n, "out");
  if (c.failed) return NULL;
  ew_add(a, b, out, n);
  return undefined(env);
}

/* dropout(x, out, n, seed, threshold, scale): out = x * mask (out may be x) */
static napi_value js_dropout(napi_env env, napi_callback_info info) {
  call c;
  if (!begin(env, info, &c, "dropout", 6)) return NULL;
  size_t lx, lo;
  float *x = f32(&c, 0, &lx, "x"), *out = f32(&c, 1, &lo, "out");
  int64_t n = count(&c, num(&c, 2), "n");
  double seed = num(&c, 3), threshold = num(&c, 4), scale = num(&c, 5);
  need(&c, lx, n, "x");
  need(&c, lo, n, "out");
  if (!c.failed && !(seed >= 0 && seed <= 4294967295.0 && seed == floor(seed)))
    fail(&c, "R", "%s", "seed must be an integer in [0, 2^32)");
  if (!c.failed && !(threshold >= 0 && threshold <= 16777216.0 && threshold == floor(threshold)))
    fail(&c, "R", "%s", "threshold must be an integer in [0, 2^24]");
  if (c.failed) return NULL;
  ew_dropout(x, out, n, (uint32_t)seed, (uint32_t)threshold, (float)scale);
  return undefined(env);
}

/* sumRows(g, rows, cols, dst, beta): dst (+)= the sum of the rows of g (rows x cols) */
static napi_value js_sum_rows(napi_env env, napi_callback_info info) {
  call c;
  if (!begin(env, info, &c, "sumRows", 5)) return NULL;
  size_t lg, ld;
  float *g = f32(&c, 0, &lg, "g"), *dst = f32(&c, 3, &ld, "dst");
  int64_t rows = count(&c, num(&c, 1), "rows"), cols = count(&c, num(&c, 2), "cols");
  int beta = num(&c, 4) != 0;
  need(&c, lg, (double)rows * (double)cols, "g");
  need(&c, ld, cols, "dst");
  if (c.failed) return NULL;
  ew_sum_rows(g, rows, cols, dst, beta);
  return undefined(env);
}

/* copyStrided(src, dst, dims): dst = the view of src with dims = [offset, nd, shape..., strides...] (nd <= 8),
 * in row-major order; every element the view reaches must lie inside src. */
static napi_value js_copy_strided(napi_env env, napi_callback_info info) {
  call c;
  if (!begin(env, info, &c, "copyStrided", 3)) return NULL;
  size_t ls, ld, lp;
  float *src = f32(&c, 0, &ls, "src"), *dst = f32(&c, 1, &ld, "dst");
  double *p = typed(&c, 2, napi_float64_array, &lp, "dims");
  if (c.failed) return NULL;
  int nd = lp >= 2 ? (int)p[1] : 0;
  if (!(nd >= 1 && nd <= 8 && lp == (size_t)(2 + 2 * nd))) {
    fail(&c, "R", "%s", "dims must be [offset, nd (1..8), shape (nd), strides (nd)]");
    return NULL;
  }
  int64_t shape[8], strides[8];
  double lo = p[0], hi = p[0], total = 1;
  for (int d = 0; d < nd; d++) {
    shape[d] = count(&c, p[2 + d], "shape");
    double s = p[2 + nd + d];
    if (!c.failed && !(s == floor(s) && fabs(s) <= 9007199254740991.0)) fail(&c, "R", "%s", "strides must be integers");
    strides[d] = (int64_t)s;
    total *= (double)shape[d];
    if (shape[d] > 0) {
      if (s < 0) lo += s * (double)(shape[d] - 1);
      else hi += s * (double)(shape[d] - 1);
    }
  }
  if (c.failed) return NULL;
  need(&c, ld, total, "dst");
  if (!c.failed && total > 0 && !(lo >= 0 && hi < (double)ls && p[0] == floor(p[0])))
    fail(&c, "R", "%s", "the view reaches outside src");
  if (c.failed) return NULL;
  if (total > 0) ew_copy_strided(src + (int64_t)p[0], nd, shape, strides, dst);
  return undefined(env);
}

static int32_t int32_arg(call *c, size_t i) {
  int32_t v = 0;
  if (!c->failed && napi_get_value_int32(c->env, c->argv[i], &v) != napi_ok) fail(c, "T", "%s", "expected an int32");
  return v;
}

/* crossEntropy(logits, targets, loss, lse, rows, V, ignoreIndex) */
static napi_value js_cross_entropy(napi_env env, napi_callback_info info) {
  call c;
  if (!begin(env, info, &c, "crossEntropy", 7)) return NULL;
  size_t lz, lt, ll, le;
  float *z = f32(&c, 0, &lz, "logits");
  int32_t *t = typed(&c, 1, napi_int32_array, &lt, "targets");
  float *loss = f32(&c, 2, &ll, "loss"), *lse = f32(&c, 3, &le, "lse");
  int64_t rows = count(&c, num(&c, 4), "rows"), V = count(&c, num(&c, 5), "V");
  int32_t ignore = int32_arg(&c, 6);
  need(&c, lz, (double)rows * V, "logits");
  need(&c, lt, rows, "targets");
  need(&c, ll, rows, "loss");
  need(&c, le, rows, "lse");
  if (c.failed) return NULL;
  cross_entropy_forward(z, t, loss, lse, rows, V, ignore);
  return undefined(env);
}

/* crossEntropyBackward(logits, targets, lse, dlogits, rows, V, ignoreIndex, scale) */
static napi_value js_cross_entropy_backward(napi_env env, napi_callback_info info) {
  call c;
  if (!begin(env, info, &c, "crossEntropyBackward", 8)) return NULL;
  size_t lz, lt, le, ld;
  float *z = f32(&c, 0, &lz, "logits");
  int32_t *t = typed(&c, 1, napi_int32_array, &lt, "targets");
  float *lse = f32(&c, 2, &le, "lse"), *d = f32(&c, 3, &ld, "dlogits");
  int64_t rows = count(&c, num(&c, 4), "rows"), V = count(&c, num(&c, 5), "V");
  int32_t ignore = int32_arg(&c, 6);
  double scale = num(&c, 7);
  need(&c, lz, (double)rows * V, "logits");
  need(&c, ld, (double)rows * V, "dlogits");
  need(&c, lt, rows, "targets");
  need(&c, le, rows, "lse");
  if (c.failed) return NULL;
  cross_entropy_backward(z, t, lse, d, rows, V, ignore, (float)scale);
  return undefined(env);
}

/* attention(q, k, v, out, lse, params) and attentionBackward(q, k, v, out, lse, dout, dq, dk, dv, params),
 * params: Float64Array[9] = BH, Tq, Tk, D, qStart, scale, dropoutP, dropoutSeed, kvHeadStride */
static napi_value attention_call(napi_env env, napi_callback_info info, int backward) {
  call c;
  if (!begin(env, info, &c, backward ? "attentionBackward" : "attention", backward ? 10 : 6)) return NULL;
  size_t lq, lk, lv, lo, ll, lp, ldo = 0, ldq = 0, ldk = 0, ldv = 0;
  attention_args a = {0};
  a.q = f32(&c, 0, &lq, "q");
  a.k = f32(&c, 1, &lk, "k");
  a.v = f32(&c, 2, &lv, "v");
  a.out = f32(&c, 3, &lo, "out");
  a.lse = f32(&c, 4, &ll, "lse");
  if (backward) {
    a.dout = f32(&c, 5, &ldo, "dout");
    a.dq = f32(&c, 6, &ldq, "dq");
    a.dk = f32(&c, 7, &ldk, "dk");
    a.dv = f32(&c, 8, &ldv, "dv");
  }
  double *p = typed(&c, backward ? 9 : 5, napi_float64_array, &lp, "params");
  if (c.failed) return NULL;
  if (lp < 9) {
    fail(&c, "R", "%s", "params needs 9 entries");
    return NULL;
  }
  a.BH = count(&c, p[0], "BH");
  a.Tq = count(&c, p[1], "Tq");
  a.Tk = count(&c, p[2], "Tk");
  a.D = count(&c, p[3], "D");
  a.q_start = count(&c, p[4], "qStart");
  a.scale = (float)p[5];
  if (!(p[6] >= 0.0 && p[6] < 1.0)) fail(&c, "R", "%s", "dropoutP must be in [0, 1)");
  if (c.failed) return NULL;
  /* keep iff (hash >> 8) >= ceil(p * 2^24): the same decision as the js reference's u < p with u = k / 2^24 */
  a.dropout_threshold = (uint32_t)ceil(p[6] * 16777216.0);
  a.dropout_scale = p[6] > 0.0 ? (float)(1.0 / (1.0 - p[6])) : 1.0f;
  a.dropout_seed = to_uint32(p[7]); /* the js reference mixes the seed in with `seed ^ bh` (ToInt32) */
  a.kv_head_stride = count(&c, p[8], "kvHeadStride");
  /* Tk * D in double: each is below 2^53, so the int64 product could overflow (undefined behaviour). Where the
   * double product rounds (above 2^53), no array is long enough for k and the checks below refuse the call. */
  const double head_kv = (double)a.Tk * (double)a.D;
  if (!c.failed && (double)a.kv_head_stride < head_kv) fail(&c, "R", "%s", "kvHeadStride must be >= Tk * D");
  if (!c.failed && backward && (double)a.kv_head_stride != head_kv)
    fail(&c, "R", "%s", "attentionBackward needs contiguous k and v");
  if (!c.failed && a.Tq > 0 && a.q_start + a.Tq > a.Tk) fail(&c, "R", "%s", "qStart + Tq must not exceed Tk");
  double nq = (double)a.BH * a.Tq * a.D;
  double nk = a.BH > 0 ? (double)(a.BH - 1) * (double)a.kv_head_stride + head_kv : 0;
  need(&c, lq, nq, "q");
  need(&c, lk, nk, "k");
  need(&c, lv, nk, "v");
  need(&c, lo, nq, "out");
  need(&c, ll, (double)a.BH * a.Tq, "lse");
  if (backward) {
    need(&c, ldo, nq, "dout");
    need(&c, ldq, nq, "dq");
    need(&c, ldk, nk, "dk");
    need(&c, ldv, nk, "dv");
  }
  if (c.failed) return NULL;
  size_t failed = backward ? attention_backward(&a) : attention_forward(&a);
  return failed ? out_of_memory(&c, failed) : undefined(env);
}

static napi_value js_attention(napi_env env, napi_callback_info info) { return attention_call(env, info, 0); }
static napi_value js_attention_backward(napi_env env, napi_callback_info info) {
  return attention_call(env, info, 1);
}

/* adamw(param, grad, m, v, params: Float64Array[7] = n, lr, beta1, beta2, eps, weightDecay, step) */
static napi_value js_adamw(napi_env env, napi_callback_info info) {
  call c;
  if (!begin(env, info, &c, "adamw", 5)) return NULL;
  size_t lp, lg, lm, lv, lpar;
  float *param = f32(&c, 0, &lpar, "param"), *grad = f32(&c, 1, &lg, "grad");
  float *m = f32(&c, 2, &lm, "m"), *v = f32(&c, 3, &lv, "v");
  double *p = typed(&c, 4, napi_float64_array, &lp, "params");
  if (!c.failed && lp < 7) fail(&c, "R", "%s", "params needs 7 entries");
  if (c.failed) return NULL;
  int64_t n = count(&c, p[0], "n");
  need(&c, lpar, n, "param");
  need(&c, lg, n, "grad");
  need(&c, lm, n, "m");
  need(&c, lv, n, "v");
  if (c.failed) return NULL;
  adamw_step(param, grad, m, v, n, p[1], p[2], p[3], p[4], p[5], p[6]);
  return undefined(env);
}

/* A packed-weight array: Float32Array (f32), Uint16Array (bf16 bits) or Int8Array (int8); *dtype says which. */
static void *packed_arg(call *c, size_t i, size_t *len, int *dtype, const char *name) {
  if (c->failed) return NULL;
  napi_typedarray_type type;
  void *data = NULL;
  napi_value buf;
  size_t off, n;
  bool is;
  if (napi_is_typedarray(c->env, c->argv[i], &is) != napi_ok || !is ||
      napi_get_typedarray_info(c->env, c->argv[i], &type, &n, &data, &buf, &off) != napi_ok ||
      (type != napi_float32_array && type != napi_uint16_array && type != napi_int8_array)) {
    fail(c, "T", "%s must be a Float32Array, Uint16Array (bf16) or Int8Array (int8)", name);
    return NULL;
  }
  *dtype = type == napi_float32_array ? PACK_F32 : type == napi_uint16_array ? PACK_BF16 : PACK_INT8;
  *len = n;
  return data;
}

/* Sizes, offsets and strides in a params block: non-negative integers below 2^53. */
static int index_params(call *c, const double *p, int n) {
  for (int i = 0; i < n; i++)
    if (!(p[i] >= 0 && p[i] <= 9007199254740991.0) || p[i] != floor(p[i])) {
      fail(c, "R", "%s", "sizes, offsets and strides must be non-negative integers");
      return 0;
    }
  return 1;
}

/* packWeights(src, dst, scales, params: Float64Array[5] = rows, cols, srcOffset, srcRowStride, srcColStride):
 * dst (rows x cols) in dst's format; scales (rows floats) is written for an Int8Array dst. */
static napi_value js_pack_weights(napi_env env, napi_callback_info info) {
  call c;
  if (!begin(env, info, &c, "packWeights", 4)) return NULL;
  size_t ls, ld, lsc, lp;
  int dtype = PACK_F32;
  float *src = f32(&c, 0, &ls, "src");
  void *dst = packed_arg(&c, 1, &ld, &dtype, "dst");
  float *scales = f32(&c, 2, &lsc, "scales");
  double *p = typed(&c, 3, napi_float64_array, &lp, "params");
  if (!c.failed && lp < 5) fail(&c, "R", "%s", "params needs 5 entries");
  if (c.failed || !index_params(&c, p, 5)) return NULL;
  const double rows = p[0], cols = p[1];
  const double ext[2] = {rows, cols}, str[2] = {p[3], p[4]};
  check_span(&c, ls, p[2], ext, str, 2, "src");
  need(&c, ld, rows * cols, "dst");
  if (dtype == PACK_INT8) need(&c, lsc, rows, "scales");
  if (c.failed) return NULL;
  if (rows == 0 || cols == 0) return undefined(env);
  size_t failed = pack_weights(dtype, (int64_t)rows, (int64_t)cols, src + (int64_t)p[2], (int64_t)p[3],
                               (int64_t)p[4], dst, dtype == PACK_INT8 ? scales : NULL);
  return failed ? out_of_memory(&c, failed) : undefined(env);
}

/* packedLinear(x, w, scales, y, params: Float64Array[8] = M, N, K, xOffset, xRowStride, yOffset, yRowStride, beta):
 * y = x @ W^T (+ y), W (N x K) a Uint16Array (bf16) or Int8Array (int8, scales: N floats). */
static napi_value js_packed_linear(napi_env env, napi_callback_info info) {
  call c;
  if (!begin(env, info, &c, "packedLinear", 5)) return NULL;
  size_t lx, lw, lsc, ly, lp;
  int dtype = PACK_F32;
  float *x = f32(&c, 0, &lx, "x");
  void *w = packed_arg(&c, 1, &lw, &dtype, "w");
  float *scales = f32(&c, 2, &lsc, "scales");
  float *y = f32(&c, 3, &ly, "y");
  double *p = typed(&c, 4, napi_float64_array, &lp, "params");
  if (!c.failed && lp < 8) fail(&c, "R", "%s", "params needs 8 entries");
  if (!c.failed && dtype == PACK_F32) fail(&c, "T", "%s", "w must be a Uint16Array (bf16) or an Int8Array (int8)");
  if (c.failed || !index_params(&c, p, 8)) return NULL;
  const double M = p[0], N = p[1], K = p[2];
  if (p[7] != 0 && p[7] != 1) {
    fail(&c, "R", "%s", "beta must be 0 or 1");
    return NULL;
  }
  const double xe[2] = {M, K}, xs[2] = {p[4], 1}, ye[2] = {M, N}, ys[2] = {p[6], 1};
  check_span(&c, lx, p[3], xe, xs, 2, "x");
  check_span(&c, ly, p[5], ye, ys, 2, "y");
  need(&c, lw, N * K, "w");
  if (dtype == PACK_INT8) need(&c, lsc, N, "scales");
  if (c.failed) return NULL;
  if (M == 0 || N == 0) return undefined(env);
  size_t failed = packed_linear(dtype, (int64_t)M, (int64_t)N, (int64_t)K, K > 0 ? x + (int64_t)p[3] : NULL,
                                (int64_t)p[4], w, scales, y + (int64_t)p[5], (int64_t)p[6], (int)p[7]);
  return failed ? out_of_memory(&c, failed) : undefined(env);
}

/* firstNonFinite(x): index of the first NaN or infinity in x, or -1. */
static napi_value js_first_non_finite(napi_env env, napi_callback_info info) {
  call c;
  if (!begin(env, info, &c, "firstNonFinite", 1)) return NULL;
  size_t lx;
  float *x = f32(&c, 0, &lx, "x");
  if (c.failed) return NULL;
  napi_value r;
  napi_create_double(env, (double)(lx ? first_non_finite(x, (int64_t)lx) : -1), &r);
  return r;
}

static napi_value js_packed_path(napi_env env, napi_callback_info info) {
  (void)info;
  napi_value r;
  napi_create_string_utf8(env, packed_path_name(), NAPI_AUTO_LENGTH, &r);
  return r;
}

static napi_value js_threads(napi_env env, napi_callback_info info) {
  (void)info;
  napi_value r;
  napi_create_int32(env, pool_threads(), &r);
  return r;
}

static napi_value js_set_threads(napi_env env, napi_callback_info info) {
  call c;
  if (!begin(env, info, &c, "setThreads", 1)) return NULL;
  double n = num(&c, 0);
  if (!c.failed && !(n >= 1 && n == floor(n))) fail(&c, "R", "%s", "thread count must be a positive integer");
  if (c.failed) return NULL;
  pool_set_threads(n > 256 ? 256 : (int)n);
  return undefined(env);
}

/* setGemvRows(m): GEMMs with up to m rows (1..16) stream B without packing it; returns the previous limit. */
static napi_value js_set_gemv_rows(napi_env env, napi_callback_info info) {
  call c;
  if (!begin(env, info, &c, "setGemvRows", 1)) return NULL;
  double n = num(&c, 0);
  if (!c.failed && !(n >= 1 && n <= 16 && n == floor(n))) fail(&c, "R", "%s", "rows must be an integer in 1..16");
  if (c.failed) return NULL;
  napi_value r;
  napi_create_int32(env, gemm_set_gemv_max_m((int)n), &r);
  return r;
}

/* isa(): which code path the kernels take here ("avx512" | "avx2" | "portable"), for logs and benchmarks. */
static napi_value js_isa(napi_env env, napi_callback_info info) {
  (void)info;
  napi_value r;
  napi_create_string_utf8(env, cpu_isa_name(cpu_isa()), NAPI_AUTO_LENGTH, &r);
  return r;
}

/* gemmConfig(): the GEMM micro-kernel and cache blocking chosen here, and the cache sizes they came from. */
static napi_value js_gemm_config(napi_env env, napi_callback_info info) {
  (void)info;
  const gemm_blocking *b = gemm_get_blocking();
  const gemm_ukernel *uk = gemm_select_ukernel(cpu_isa());
  napi_value r, v;
  napi_create_object(env, &r);
  napi_create_string_utf8(env, uk->name, NAPI_AUTO_LENGTH, &v);
  napi_set_named_property(env, r, "kernel", v);
  const char *names[] = {"mr", "nr", "kc", "mc", "nc", "l1d", "l2", "l3"};
  const double values[] = {uk->mr, uk->nr, (double)b->kc, (double)(b->mc / uk->mr * uk->mr),
                           (double)(b->nc / uk->nr * uk->nr), (double)b->l1d, (double)b->l2, (double)b->l3};
  for (int i = 0; i < 8; i++) {
    napi_create_double(env, values[i], &v);
    napi_set_named_property(env, r, names[i], v);
  }
  napi_create_string_utf8(env, b->source, NAPI_AUTO_LENGTH, &v);
  napi_set_named_property(env, r, "cacheSource", v);
  return r;
}

/* stream(kind, a, b, c, scalar): the bandwidth probe on the pool's threads over a.length elements
 * (kind 0: sum of b, returned; 1: a = b; 2: a = b + scalar * c). For benchmarks only. */
static napi_value js_stream(napi_env env, napi_callback_info info) {
  call c;
  if (!begin(env, info, &c, "stream", 5)) return NULL;
  size_t la, lb, lc;
  double kind = num(&c, 0);
  float *a = f32(&c, 1, &la, "a"), *b = f32(&c, 2, &lb, "b"), *cc = f32(&c, 3, &lc, "c");
  double scalar = num(&c, 4);
  if (!c.failed && !(kind == 0 || kind == 1 || kind == 2)) fail(&c, "R", "%s", "kind must be 0, 1 or 2");
  need(&c, lb, (double)la, "b");
  if (kind == 2) need(&c, lc, (double)la, "c");
  if (c.failed) return NULL;
  napi_value r;
  napi_create_double(env, stream_kernel((int)kind, a, b, cc, (int64_t)la, (float)scalar), &r);
  return r;
}

/* adviseHugePages(arrayBuffer): ask Linux for transparent huge pages on the 2 MiB-aligned interior of a large,
 * not yet touched buffer. One fault then maps 2 MiB instead of 4 KiB (first touch costs ~15 us per fault on our
 * machines) and big streaming kernels take fewer TLB misses. Returns whether the advice was taken. */
static napi_value js_advise_huge_pages(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], r;
  void *data = NULL;
  size_t len = 0;
  int ok = 0;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) == napi_ok && argc == 1 &&
      napi_get_arraybuffer_info(env, argv[0], &data, &len) == napi_ok && data) {
#if defined(__linux__) && defined(MADV_HUGEPAGE)
    const uintptr_t huge = (uintptr_t)2 << 20;
    uintptr_t lo = ((uintptr_t)data + huge - 1) & ~(huge - 1), hi = ((uintptr_t)data + len) & ~(huge - 1);
    if (hi > lo) ok = madvise((void *)lo, hi - lo, MADV_HUGEPAGE) == 0;
#endif
  }
  napi_get_boolean(env, ok, &r);
  return r;
}

typedef struct {
  void *base;
  size_t length;
} mapping;

static void unmap_file(napi_env env, void *data, void *hint) {
  (void)env;
  (void)data;
  mapping *m = hint;
  munmap(m->base, m->length);
  free(m);
}

/* mapFile(path, offset, length): bytes [offset, offset + length) of the file as an ArrayBuffer over a private,
 * copy-on-write memory mapping (unmapped when the buffer is garbage collected). Node caps one ArrayBuffer at
 * 4 GiB, so callers map a large file in pieces. Loading weights then costs no copy and no fresh memory: the pages are the page
 * cache's own, shared with every process that maps the file, and a write (never expected) changes only this
 * process's copy, never the file. Fresh anonymous memory costs ~15 us per 4 KiB page on our machines (0.3 GB/s);
 * mapped page-cache pages come in at 2-3 GB/s. Throws an Error with the path and the system's reason. */
static napi_value js_map_file(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3], r;
  char path[4096];
  size_t plen = 0;
  double off = -1, len = -1;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc != 3 ||
      napi_get_value_string_utf8(env, argv[0], path, sizeof path, &plen) != napi_ok || plen >= sizeof path - 1 ||
      napi_get_value_double(env, argv[1], &off) != napi_ok || napi_get_value_double(env, argv[2], &len) != napi_ok ||
      !(off >= 0 && off == floor(off) && len >= 0 && len == floor(len) && len <= 4294967295.0)) {
    napi_throw_type_error(env, NULL,
                          "gptkit native mapFile: expected (path under 4096 bytes, offset >= 0, length in [0, 4 GiB))");
    return NULL;
  }
  char msg[4352];
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  struct stat st;
  if (fd < 0 || fstat(fd, &st) != 0) {
    snprintf(msg, sizeof msg, "%s: %s", path, strerror(errno));
    if (fd >= 0) close(fd);
    napi_throw_error(env, NULL, msg);
    return NULL;
  }
  if (off + len > (double)st.st_size) {
    snprintf(msg, sizeof msg, "%s: bytes %.0f..%.0f are past its end (%lld bytes)", path, off, off + len,
             (long long)st.st_size);
    close(fd);
    napi_throw_range_error(env, NULL, msg);
    return NULL;
  }
  if (len == 0) {
    close(fd);
    napi_create_arraybuffer(env, 0, NULL, &r);
    return r;
  }
  /* mmap takes page-aligned offsets: map from the page holding `offset`, hand out the range itself. */
  const size_t page = (size_t)sysconf(_SC_PAGESIZE);
  const size_t start = (size_t)off, delta = start % page, length = (size_t)len + delta;
  void *p = mmap(NULL, length, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, (off_t)(start - delta));
  int err = errno;
  close(fd); /* the mapping keeps the file (even a renamed-over or deleted one) alive */
  mapping *m = p == MAP_FAILED ? NULL : malloc(sizeof *m);
  if (!m) {
    if (p != MAP_FAILED) munmap(p, length);
    snprintf(msg, sizeof msg, "%s: cannot map it into memory: %s", path, strerror(p == MAP_FAILED ? err : ENOMEM));
    napi_throw_error(env, NULL, msg);
    return NULL;
  }
  m->base = p;
  m->length = length;
  /* A file not in the page cache is read ahead in the background while the caller walks it. */
  madvise(p, length, MADV_WILLNEED);
  if (napi_create_external_arraybuffer(env, (char *)p + delta, (size_t)len, unmap_file, m, &r) != napi_ok) {
    munmap(p, length);
    free(m);
    napi_throw_error(env, NULL, "gptkit native mapFile: this runtime does not allow external ArrayBuffers");
    return NULL;
  }
  return r;
}

NAPI_MODULE_INIT() {
  gk_memory_init(); /* reads GPTKIT_TEST_ALLOC_FAIL here, on the JS thread, not later from a worker */
  napi_property_descriptor props[] = {
#define FN(name, f) {name, NULL, f, NULL, NULL, NULL, napi_enumerable, NULL}
      FN("gemm", js_gemm),
      FN("softmax", js_softmax),
      FN("softmaxBackward", js_softmax_backward),
      FN("layerNorm", js_layernorm),
      FN("layerNormBackward", js_layernorm_backward),
      FN("gelu", js_gelu),
      FN("geluBackward", js_gelu_backward),
      FN("add", js_add),
      FN("dropout", js_dropout),
      FN("sumRows", js_sum_rows),
      FN("copyStrided", js_copy_strided),
      FN("crossEntropy", js_cross_entropy),
      FN("crossEntropyBackward", js_cross_entropy_backward),
      FN("attention", js_attention),
      FN("attentionBackward", js_attention_backward),
      FN("adamw", js_adamw),
      FN("threads", js_threads),
      FN("setThreads", js_set_threads),
      FN("setGemvRows", js_set_gemv_rows),
      FN("isa", js_isa),
      FN("gemmConfig", js_gemm_config),
      FN("stream", js_stream),
      FN("adviseHugePages", js_advise_huge_pages),
      FN("mapFile", js_map_file),
      FN("packWeights", js_pack_weights),
      FN("packedLinear", js_packed_linear),
      FN("packedPath", js_packed_path),
      FN("firstNonFinite", js_first_non_finite),
#undef FN
  };
  if (napi_define_properties(env, exports, sizeof props / sizeof props[0], props) != napi_ok) return NULL;
  return exports;
}
