/* The OpenBLAS reference of `npm run bench -- gemm`: times cblas_sgemm on one shape and prints one JSON line.
 * Compiled at bench time by bench/reference.ts against the runtime library alone (libopenblas.so.0, Debian
 * package libopenblas0-pthread), so no BLAS headers are needed; not part of gptkit.
 *   openblas-gemm THREADS MIN_SECONDS BATCH M K N A_TRANSPOSED B_TRANSPOSED
 * GFLOP/s = 2*M*N*K*batch / s, median and best of the timed calls (warm-up calls first). */
#define _POSIX_C_SOURCE 199309L
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

/* cblas.h's values (CblasRowMajor, CblasNoTrans, CblasTrans) */
enum { ROW_MAJOR = 101, NO_TRANS = 111, TRANS = 112 };
void cblas_sgemm(int order, int transa, int transb, int m, int n, int k, float alpha, const float *a, int lda,
                 const float *b, int ldb, float beta, float *c, int ldc);
void openblas_set_num_threads(int n);
char *openblas_get_corename(void);
char *openblas_get_config(void);

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int cmp(const void *x, const void *y) {
  double a = *(const double *)x, b = *(const double *)y;
  return a < b ? -1 : a > b;
}

int main(int argc, char **argv) {
  if (argc != 9) {
    fprintf(stderr, "usage: %s THREADS MIN_SECONDS BATCH M K N A_TRANSPOSED B_TRANSPOSED\n", argv[0]);
    return 2;
  }
  int threads = atoi(argv[1]);
  double min_seconds = atof(argv[2]);
  int batch = atoi(argv[3]), M = atoi(argv[4]), K = atoi(argv[5]), N = atoi(argv[6]);
  int at = atoi(argv[7]), bt = atoi(argv[8]);
  openblas_set_num_threads(threads);
  size_t na = (size_t)batch * M * K, nb = (size_t)batch * K * N, nc = (size_t)batch * M * N;
  float *a = malloc(na * sizeof(float)), *b = malloc(nb * sizeof(float)), *c = malloc(nc * sizeof(float));
  if (!a || !b || !c) return 1;
  srand(1);
  for (size_t i = 0; i < na; i++) a[i] = (float)rand() / RAND_MAX - 0.5f;
  for (size_t i = 0; i < nb; i++) b[i] = (float)rand() / RAND_MAX - 0.5f;
  for (size_t i = 0; i < nc; i++) c[i] = 0.0f;
  /* A stored transposed is K x M (lda = M); B stored transposed is N x K (ldb = K): as gptkit's bench lays them. */
  int lda = at ? M : K, ldb = bt ? K : N;
  static double times[100000];
  int runs = 0;
  double start = 0;
  for (int r = -3; r < 100000; r++) {
    if (r == 0) start = now();
    double t = now();
    for (int i = 0; i < batch; i++)
      cblas_sgemm(ROW_MAJOR, at ? TRANS : NO_TRANS, bt ? TRANS : NO_TRANS, M, N, K, 1.0f, a + (size_t)i * M * K,
                  lda, b + (size_t)i * K * N, ldb, 0.0f, c + (size_t)i * M * N, N);
    if (r >= 0) times[runs++] = now() - t;
    if (runs >= 5 && now() - start >= min_seconds) break;
  }
  qsort(times, runs, sizeof(double), cmp);
  double flops = 2.0 * batch * M * N * K;
  printf("{\"median\": %.3f, \"best\": %.3f, \"runs\": %d, \"core\": \"%s\", \"config\": \"%s\"}\n",
         flops / times[runs / 2] / 1e9, flops / times[0] / 1e9, runs, openblas_get_corename(),
         openblas_get_config());
  free(a);
  free(b);
  free(c);
  return 0;
}
