/* The addon's own thread pool: workers created once, spinning briefly then sleeping between regions,
 * and a fork-join barrier per parallel region. Not a task queue: kernels split their own work by tid. */
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <time.h>
#include <unistd.h>

#include "gptkit.h"

#define POOL_MAX_THREADS 256
/* How long an idle worker spins before sleeping: long enough to catch the next kernel of a token-by-token
 * generation loop (a few microseconds apart), short enough not to burn a core when the process idles. */
#define POOL_SPIN_NS 200000

#if GPTKIT_X86
#define cpu_relax() __builtin_ia32_pause()
#elif defined(__aarch64__)
#define cpu_relax() __asm__ __volatile__("yield")
#else
#define cpu_relax() ((void)0)
#endif

/* One cache line per worker so that signalling one does not disturb the others' spinning. */
typedef struct {
  _Alignas(64) atomic_uint go; /* bumped by one each time this worker is given a region */
  pthread_t thread;
} worker_slot;

static struct {
  pthread_mutex_t run_lock;   /* one parallel region at a time (other callers run inline) */
  pthread_mutex_t sleep_lock; /* guards the condition variable only */
  pthread_cond_t wake;
  atomic_int sleepers;
  _Alignas(64) atomic_int pending; /* participants of the current region not yet finished */
  /* The current region, written by the caller before it signals the workers. */
  pool_fn fn;
  void *ctx;
  int nthreads;
  int nworkers;    /* workers started so far (tids 1..nworkers) */
  atomic_int size; /* configured thread count */
  worker_slot slots[POOL_MAX_THREADS];
} pool = {
    .run_lock = PTHREAD_MUTEX_INITIALIZER,
    .sleep_lock = PTHREAD_MUTEX_INITIALIZER,
    .wake = PTHREAD_COND_INITIALIZER,
    .size = 0,
};

static int64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void *worker_main(void *arg) {
  int tid = (int)(intptr_t)arg;
  worker_slot *slot = &pool.slots[tid];
  unsigned seen = 0;
  for (;;) {
    unsigned go;
    int64_t deadline = 0;
    for (int spins = 0;; spins++) {
      go = atomic_load_explicit(&slot->go, memory_order_acquire);
      if (go != seen) break;
      cpu_relax();
      if ((spins & 255) == 255) {
        int64_t t = now_ns();
        if (!deadline) deadline = t + POOL_SPIN_NS;
        else if (t > deadline) {
          pthread_mutex_lock(&pool.sleep_lock);
          atomic_fetch_add(&pool.sleepers, 1);
          while ((go = atomic_load(&slot->go)) == seen) pthread_cond_wait(&pool.wake, &pool.sleep_lock);
          atomic_fetch_sub(&pool.sleepers, 1);
          pthread_mutex_unlock(&pool.sleep_lock);
          break;
        }
      }
    }
    seen = go;
    pool.fn(pool.ctx, tid, pool.nthreads);
    atomic_fetch_sub_explicit(&pool.pending, 1, memory_order_release);
  }
  return NULL;
}

static int default_threads(void) {
  long n = sysconf(_SC_NPROCESSORS_ONLN);
  return n < 1 ? 1 : n > POOL_MAX_THREADS ? POOL_MAX_THREADS : (int)n;
}

int pool_threads(void) {
  int n = atomic_load_explicit(&pool.size, memory_order_relaxed);
  return n > 0 ? n : default_threads();
}

void pool_set_threads(int n) {
  if (n < 1) n = 1;
  if (n > POOL_MAX_THREADS) n = POOL_MAX_THREADS;
  atomic_store(&pool.size, n); /* workers are started lazily by the first region that needs them */
}

int threads_for(double work, double grain) {
  int n = pool_threads();
  double want = grain > 0 ? work / grain : n;
  if (want < 1) return 1;
  return want < n ? (int)want : n;
}

/* Starts workers up to tid n-1; returns how many threads are usable (fewer if pthread_create fails). */
static int ensure_workers(int n) {
  if (n <= pool.nworkers + 1) return n;
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old); /* workers must never take Node's signals */
  while (pool.nworkers + 1 < n) {
    int tid = pool.nworkers + 1;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    int rc = pthread_create(&pool.slots[tid].thread, &attr, worker_main, (void *)(intptr_t)tid);
    pthread_attr_destroy(&attr);
    if (rc != 0) break;
    pool.nworkers = tid;
  }
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  return pool.nworkers + 1 < n ? pool.nworkers + 1 : n;
}

void pool_run(int want, pool_fn fn, void *ctx) {
  int n = want < pool_threads() ? want : pool_threads();
  /* Nested or concurrent regions (another JS thread, or a kernel calling a kernel) run inline. */
  if (n <= 1 || pthread_mutex_trylock(&pool.run_lock) != 0) {
    fn(ctx, 0, 1);
    return;
  }
  n = ensure_workers(n);
  pool.fn = fn;
  pool.ctx = ctx;
  pool.nthreads = n;
  atomic_store_explicit(&pool.pending, n - 1, memory_order_relaxed);
  /* seq_cst, paired with the worker's sleepers++ then go check: a worker either sees its go bumped or is
   * counted in sleepers and woken below. */
  for (int t = 1; t < n; t++) atomic_fetch_add(&pool.slots[t].go, 1);
  if (atomic_load(&pool.sleepers) > 0) {
    pthread_mutex_lock(&pool.sleep_lock);
    pthread_cond_broadcast(&pool.wake);
    pthread_mutex_unlock(&pool.sleep_lock);
  }
  fn(ctx, 0, n);
  for (int spins = 0; atomic_load_explicit(&pool.pending, memory_order_acquire) > 0; spins++) {
    cpu_relax();
    if (spins > 4096) sched_yield(); /* a worker was descheduled (oversubscribed machine) */
  }
  pthread_mutex_unlock(&pool.run_lock);
}
