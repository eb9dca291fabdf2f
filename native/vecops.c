/* Row kernels: portable C reference versions (the specification of the SIMD ones, and the arm64 path), the
 * AVX2/AVX-512 versions compiled from vecops_simd.inc, and the one-time dispatch between them. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "gptkit.h"
#include "vecops.h"

#define GELU_C 0.7978845608028654f /* sqrt(2/pi) */
#define GELU_A 0.044715f
#define GEMV_MAX_ROWS 4
/* Accumulator floats of the row-major GEMV (16 KB, in L1), shared by its M rows: one row gets 4096-column
 * strips, i.e. 16 KB contiguous runs of each B row, long enough for the hardware prefetchers (512-column
 * strips measured 25% slower on Zen 5). */
#define GEMV_CHUNK 4096
/* GEMV streams prefetch the B rows this far ahead (two groups of four): a few percent more DRAM bandwidth
 * than the hardware prefetchers alone reach on Zen 5. */
#define GEMV_PREFETCH_ROWS 8

static float portable_max(const float *x, int64_t n) {
  float m = -INFINITY;
  for (int64_t i = 0; i < n; i++)
    if (x[i] > m) m = x[i];
  return m;
}

static float portable_exp_sum(const float *x, float *y, int64_t n, float shift) {
  float s = 0.0f;
  for (int64_t i = 0; i < n; i++) {
    float e = expf(x[i] - shift);
    if (y) y[i] = e;
    s += e;
  }
  return s;
}

static void portable_exp_scale(const float *x, float *y, int64_t n, float shift, float scale) {
  for (int64_t i = 0; i < n; i++) y[i] = scale * expf(x[i] - shift);
}

static void portable_scale(float *y, int64_t n, float s) {
  for (int64_t i = 0; i < n; i++) y[i] *= s;
}

static float portable_dot(const float *a, const float *b, int64_t n) {
  float s = 0.0f;
  for (int64_t i = 0; i < n; i++) s += a[i] * b[i];
  return s;
}

static float portable_sum(const float *x, int64_t n) {
  float s = 0.0f;
  for (int64_t i = 0; i < n; i++) s += x[i];
  return s;
}

static float portable_sq_dev(const float *x, int64_t n, float mean) {
  float s = 0.0f;
  for (int64_t i = 0; i < n; i++) s += (x[i] - mean) * (x[i] - mean);
  return s;
}

static void portable_softmax_bwd(const float *y, const float *dy, float *dx, int64_t n, float dot) {
  for (int64_t i = 0; i < n; i++) dx[i] = y[i] * (dy[i] - dot);
}

static void portable_layernorm_affine(const float *x, float *y, int64_t n, float mean, float rstd, const float *w,
                                      const float *b) {
  for (int64_t i = 0; i < n; i++) y[i] = (x[i] - mean) * rstd * w[i] + b[i];
}

static void portable_layernorm_bwd_reduce(const float *dy, const float *x, const float *w, int64_t n, float mean,
                                          float rstd, float *dw, float *db, float *g_sum, float *gx_sum) {
  float gs = 0.0f, gxs = 0.0f;
  for (int64_t i = 0; i < n; i++) {
    float xhat = (x[i] - mean) * rstd;
    float g = dy[i] * w[i];
    gs += g;
    gxs += g * xhat;
    dw[i] += dy[i] * xhat;
    db[i] += dy[i];
  }
  *g_sum = gs;
  *gx_sum = gxs;
}

static void portable_layernorm_bwd_dx(const float *dy, const float *x, const float *w, float *dx, int64_t n,
                                      float mean, float rstd, float g_mean, float gx_mean) {
  for (int64_t i = 0; i < n; i++) {
    float xhat = (x[i] - mean) * rstd;
    dx[i] = rstd * (dy[i] * w[i] - g_mean - xhat * gx_mean);
  }
}

/* 0.5 x (1 + tanh z) = x * sigmoid(2z): the sigmoid form has no cancellation for negative x. */
static void portable_gelu(const float *x, float *y, int64_t n) {
  for (int64_t i = 0; i < n; i++) {
    float v = x[i];
    float z = GELU_C * (v + GELU_A * v * v * v);
    y[i] = v / (1.0f + expf(fminf(-2.0f * z, 88.0f)));
  }
}

static void portable_gelu_bwd(const float *x, const float *dy, float *dx, int64_t n) {
  for (int64_t i = 0; i < n; i++) {
    float v = x[i];
    float z = GELU_C * (v + GELU_A * v * v * v);
    float e = expf(fminf(-2.0f * z, 88.0f));
    float s = 1.0f / (1.0f + e); /* s = 0.5 (1 + tanh z); 1 - s = e s */
    float dz = GELU_C * (1.0f + 3.0f * GELU_A * v * v);
    dx[i] = dy[i] * (s + 2.0f * v * s * (e * s) * dz);
  }
}

static void portable_adamw(float *param, const float *grad, float *m, float *v, int64_t n, const float c[8]) {
  for (int64_t i = 0; i < n; i++) {
    float g = grad[i];
    float mi = m[i] = c[0] * m[i] + c[1] * g;
    float vi = v[i] = c[2] * v[i] + c[3] * g * g;
    param[i] = param[i] * c[4] - (c[5] * mi) / (sqrtf(vi) / c[6] + c[7]);
  }
}

static void portable_gemv_rowmajor(int M, const float *x, int64_t x_rs, int64_t x_cs, const float *b, int64_t ldb,
                                   int64_t K, int64_t n, float *c, int64_t c_rs, float alpha, int beta) {
  for (int r = 0; r < M; r++) {
    float *cr = c + r * c_rs;
    for (int64_t j = 0; j < n; j++) cr[j] = beta ? cr[j] : 0.0f;
    for (int64_t p = 0; p < K; p++) {
      float xv = alpha * x[r * x_rs + p * x_cs];
      const float *br = b + p * ldb;
      for (int64_t j = 0; j < n; j++) cr[j] += xv * br[j];
    }
  }
}

static void portable_gemv_transposed(int M, const float *x, int64_t x_rs, int64_t x_cs, const float *b, int64_t ldb,
                                     int64_t K, int64_t n, float *c, int64_t c_rs, float alpha, int beta) {
  for (int r = 0; r < M; r++) {
    for (int64_t j = 0; j < n; j++) {
      float s = 0.0f;
      for (int64_t p = 0; p < K; p++) s += x[r * x_rs + p * x_cs] * b[j * ldb + p];
      c[r * c_rs + j] = alpha * s + (beta ? c[r * c_rs + j] : 0.0f);
    }
  }
}

static const row_kernels portable_row_kernels = {
    .max = portable_max,
    .exp_sum = portable_exp_sum,
    .exp_scale = portable_exp_scale,
    .scale = portable_scale,
    .dot = portable_dot,
    .sum = portable_sum,
    .sq_dev = portable_sq_dev,
    .softmax_bwd = portable_softmax_bwd,
    .layernorm_affine = portable_layernorm_affine,
    .layernorm_bwd_reduce = portable_layernorm_bwd_reduce,
    .layernorm_bwd_dx = portable_layernorm_bwd_dx,
    .gelu = portable_gelu,
    .gelu_bwd = portable_gelu_bwd,
    .adamw = portable_adamw,
    .gemv_rowmajor = portable_gemv_rowmajor,
    .gemv_transposed = portable_gemv_transposed,
};

#if GPTKIT_X86
/* The same source compiled for two instruction sets: each block gets the target of its pragma. */
#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx2,fma"))), apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("avx2,fma")
#endif
#define SIMD_AVX2
#include "vecops_simd.inc"
#undef SIMD_AVX2
#if defined(__clang__)
#pragma clang attribute pop
#pragma clang attribute push(__attribute__((target("avx512f,avx512vl,avx512dq,avx2,fma"))), apply_to = function)
#else
#pragma GCC pop_options
#pragma GCC push_options
#pragma GCC target("avx512f,avx512vl,avx512dq,avx2,fma")
#endif
#define SIMD_AVX512
#include "vecops_simd.inc"
#undef SIMD_AVX512
#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif
#endif

const row_kernels *row_kernels_get(void) {
#if GPTKIT_X86
  int isa = cpu_isa();
  if (isa == ISA_AVX512) return &row_kernels_avx512;
  if (isa == ISA_AVX2) return &row_kernels_avx2;
#endif
  return &portable_row_kernels;
}
