/* Runtime CPU dispatch: picks the widest SIMD the CPU (and OS) supports, once.
 * Not a feature library: only the three code paths the kernels ship (AVX-512, AVX2+FMA, portable C).
 * Also the kernels' allocation functions, with the allocation-failure switch the tests use. */
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "gptkit.h"

/* ---- Memory ---- */

/* Allocations of at least this many bytes fail: GPTKIT_TEST_ALLOC_FAIL=N, else never (SIZE_MAX bytes cannot be
 * allocated anyway). 0 = not read yet. */
static atomic_size_t fail_from_bytes;

void gk_memory_init(void) {
  if (atomic_load_explicit(&fail_from_bytes, memory_order_relaxed)) return;
  size_t v = SIZE_MAX;
  const char *env = getenv("GPTKIT_TEST_ALLOC_FAIL");
  if (env && *env) {
    char *end;
    unsigned long long n = strtoull(env, &end, 10);
    if (*end == '\0' && n > 0) v = n < SIZE_MAX ? (size_t)n : SIZE_MAX;
  }
  atomic_store_explicit(&fail_from_bytes, v, memory_order_relaxed);
}

/* Whether to refuse an allocation of `bytes` (the module init has read the variable; this is the fallback). */
static int refuse(size_t bytes) {
  size_t limit = atomic_load_explicit(&fail_from_bytes, memory_order_relaxed);
  if (!limit) {
    gk_memory_init();
    limit = atomic_load_explicit(&fail_from_bytes, memory_order_relaxed);
  }
  return bytes >= limit;
}

void *gk_malloc(size_t bytes) { return refuse(bytes) ? NULL : malloc(bytes); }

void *gk_calloc(size_t count, size_t size) {
  if (size && count > SIZE_MAX / size) return NULL;
  return refuse(count * size) ? NULL : calloc(count, size);
}

void *gk_aligned_alloc(size_t bytes) {
  if (bytes > SIZE_MAX - 63) return NULL;
  size_t rounded = (bytes + 63) & ~(size_t)63; /* aligned_alloc wants a multiple of the alignment */
  return refuse(bytes) ? NULL : aligned_alloc(64, rounded ? rounded : 64);
}

/* ---- Instruction set ---- */

static int detect(void) {
  int best = ISA_PORTABLE;
#if GPTKIT_X86
  __builtin_cpu_init();
  /* libgcc's checks include the OS's XSAVE support for the wider registers. */
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) best = ISA_AVX2;
  if (best == ISA_AVX2 && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") &&
      __builtin_cpu_supports("avx512dq"))
    best = ISA_AVX512;
#endif
  /* GPTKIT_ISA can only lower the level (tests use it to exercise the fallback paths). */
  const char *env = getenv("GPTKIT_ISA");
  if (env) {
    int cap = best;
    if (strcmp(env, "portable") == 0) cap = ISA_PORTABLE;
    else if (strcmp(env, "avx2") == 0) cap = ISA_AVX2;
    else if (strcmp(env, "avx512") == 0) cap = ISA_AVX512;
    if (cap < best) best = cap;
  }
  return best;
}

int cpu_isa(void) {
  static atomic_int isa = -1; /* every thread would compute the same value, so no lock */
  int v = atomic_load_explicit(&isa, memory_order_relaxed);
  if (v < 0) {
    v = detect();
    atomic_store_explicit(&isa, v, memory_order_relaxed);
  }
  return v;
}

const char *cpu_isa_name(int isa) {
  return isa == ISA_AVX512 ? "avx512" : isa == ISA_AVX2 ? "avx2" : "portable";
}
