/* The addon's own thread pool: workers created once, spinning briefly then sleeping between regions, and a
 * fork-join barrier per parallel region. Not a task queue: kernels split their own work into per-tid shares. */
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

/* Share t of a region is claimed by whoever swaps claim[t] from the region number to 0 first: normally worker
 * t, but the caller, done with share 0, takes over shares whose worker has not started yet (descheduled on a
 * busy machine, or still waking up). A late worker then finds its share gone and never touches the region's
 * data, so the caller waits for the shares, not for the workers. Shares are fixed by (tid, nthreads), so
 * results do not depend on which thread ran them. */
typedef struct {
  _Alignas(64) atomic_uint_fast64_t go; /* the last region this worker was asked to join */
  atomic_uint_fast64_t claim;           /* == the region number while share `tid` is unclaimed, else 0 */
  pthread_t thread;
} worker_slot;

static struct {
  pthread_mutex_t run_lock;   /* one parallel region at a time (other callers run inline) */
  pthread_mutex_t sleep_lock; /* guards the condition variable only */
  pthread_cond_t wake;
  atomic_int sleepers;
  _Alignas(64) atomic_int done; /* shares of the current region finished */
  /* The current region, written by the caller before it publishes the claims. */
  pool_fn fn;
  void *ctx;
  int nthreads;
  uint64_t region;  /* number of the current/last region (caller side, under run_lock) */
  int nworkers;     /* workers started so far (tids 1..nworkers) */
  atomic_int size;  /* configured thread count */
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

/* Runs share t of region r if nobody has claimed it yet. */
static int run_share(int t, uint64_t r) {
  uint_fast64_t expect = r;
  if (!atomic_compare_exchange_strong(&pool.slots[t].claim, &expect, 0)) return 0;
  pool.fn(pool.ctx, t, pool.nthreads); /* published before the claim: safe to read once it is won */
  atomic_fetch_add_explicit(&pool.done, 1, memory_order_release);
  return 1;
}

static void *worker_main(void *arg) {
  int tid = (int)(intptr_t)arg;
  worker_slot *slot = &pool.slots[tid];
  uint64_t seen = 0;
  for (;;) {
    uint64_t go;
    int64_t deadline = 0;
    for (int spins = 0;; spins++) {
      go = atomic_load_explicit(&slot->go, memory_order_acquire);
      if (go != seen) break;
      cpu_relax();
      if ((spins & 255) == 255) {
        int64_t t = now_ns();
        if (!deadline) deadline = t + POOL_SPIN_NS;
        else if (t > deadline) {
          /* seq_cst sleepers++ then go re-check, paired with the caller's go store then sleepers load: either
           * this thread sees the new go, or the caller sees it counted and broadcasts. */
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
    run_share(tid, go);
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
  const uint64_t r = ++pool.region;
  pool.fn = fn;
  pool.ctx = ctx;
  pool.nthreads = n;
  atomic_store_explicit(&pool.done, 0, memory_order_relaxed);
  for (int t = 1; t < n; t++) atomic_store(&pool.slots[t].claim, r);
  for (int t = 1; t < n; t++) atomic_store(&pool.slots[t].go, r);
  if (atomic_load(&pool.sleepers) > 0) {
    pthread_mutex_lock(&pool.sleep_lock);
    pthread_cond_broadcast(&pool.wake);
    pthread_mutex_unlock(&pool.sleep_lock);
  }
  fn(ctx, 0, n);
  for (int t = 1; t < n; t++) run_share(t, r); /* take over the shares no worker has started */
  for (int spins = 0; atomic_load_explicit(&pool.done, memory_order_acquire) < n - 1; spins++) {
    cpu_relax();
    if (spins > 4096) sched_yield(); /* the worker running a share was descheduled */
  }
  pthread_mutex_unlock(&pool.run_lock);
}
