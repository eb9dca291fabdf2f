/* Runtime CPU dispatch: picks the widest SIMD the CPU (and OS) supports, once.
 * Not a feature library: only the three code paths the kernels ship (AVX-512, AVX2+FMA, portable C). */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "gptkit.h"

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
