/* Row kernels: the vectorized inner loops of the fused kernels and of GEMV, one table per instruction set
 * (vecops.c holds the portable reference versions, vecops_simd.inc the AVX2/AVX-512 ones). */
#ifndef GPTKIT_VECOPS_H
#define GPTKIT_VECOPS_H
#include <stdint.h>

typedef struct {
  /* max over x[0:n] (NaN ignored, as the js `x > max` loop; -inf for n = 0) */
  float (*max)(const float *x, int64_t n);
  /* y = exp(x - shift) (y may be NULL: sum only; may alias x); returns sum of the exps */
  float (*exp_sum)(const float *x, float *y, int64_t n, float shift);
  /* y = scale * exp(x - shift) */
  void (*exp_scale)(const float *x, float *y, int64_t n, float shift, float scale);
  void (*scale)(float *y, int64_t n, float s);
  float (*dot)(const float *a, const float *b, int64_t n);
  float (*sum)(const float *x, int64_t n);
  /* sum of (x - mean)^2 */
  float (*sq_dev)(const float *x, int64_t n, float mean);
  /* dx = y * (dy - dot); dx may alias dy */
  void (*softmax_bwd)(const float *y, const float *dy, float *dx, int64_t n, float dot);
  /* y = (x - mean) * rstd * w + b */
  void (*layernorm_affine)(const float *x, float *y, int64_t n, float mean, float rstd, const float *w,
                           const float *b);
  /* g = dy*w, xhat = (x-mean)*rstd: returns sum(g) and sum(g*xhat); dw += dy*xhat, db += dy */
  void (*layernorm_bwd_reduce)(const float *dy, const float *x, const float *w, int64_t n, float mean, float rstd,
                               float *dw, float *db, float *g_sum, float *gx_sum);
  /* dx = rstd * (dy*w - g_mean - xhat*gx_mean); dx may alias dy */
  void (*layernorm_bwd_dx)(const float *dy, const float *x, const float *w, float *dx, int64_t n, float mean,
                           float rstd, float g_mean, float gx_mean);
  void (*gelu)(const float *x, float *y, int64_t n);
  void (*gelu_bwd)(const float *x, const float *dy, float *dx, int64_t n);
  /* AdamW element update; c = {beta1, 1-beta1, beta2, 1-beta2, decay, step_size, 1/sqrt(bc2), eps} */
  void (*adamw)(float *param, const float *grad, float *m, float *v, int64_t n, const float c[8]);
  /* GEMV, M <= 4 rows of x (element (r,p) at x[r*x_rs + p*x_cs]), N = n columns:
   * rowmajor: B(p,j) = b[p*ldb + j];  transposed: B(p,j) = b[j*ldb + p]. C(r,j) = c[r*c_rs + j]. */
  void (*gemv_rowmajor)(int M, const float *x, int64_t x_rs, int64_t x_cs, const float *b, int64_t ldb, int64_t K,
                        int64_t n, float *c, int64_t c_rs, float alpha, int beta);
  void (*gemv_transposed)(int M, const float *x, int64_t x_rs, int64_t x_cs, const float *b, int64_t ldb,
                          int64_t K, int64_t n, float *c, int64_t c_rs, float alpha, int beta);
} row_kernels;

const row_kernels *row_kernels_get(void);
#endif
