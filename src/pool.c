/* pool.c — the library's worker threads: a fork-join parallel_for with a hand-off of a
 * few hundred nanoseconds while the workers are warm (they spin briefly after a job, then
 * sleep on a condition variable, so an idle library costs no CPU).
 *
 * One job runs at a time. A call that finds the pool busy (another thread of the host is
 * in a parallel region) runs its whole range inline instead of waiting: concurrent
 * callers, like a server's request threads, then each use their own core. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "internal.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define MLI_PAUSE() _mm_pause()
#else
#define MLI_PAUSE() ((void)0)
#endif

#define MLI_SPIN_ROUNDS 20000  /* ~0.1-0.5 ms of pause instructions before sleeping */
#define MLI_CLOSED 0xFFFFFFFFu /* work index meaning "no parts left in this job" */

typedef struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int sleepers;
    int stop;
    int nworkers;
    pthread_t threads[MLI_MAX_POOL_WORKERS];
    /* the job: high 32 bits of `work` are its generation, low 32 the next part index */
    _Atomic uint64_t work;
    atomic_int done;
    mli__range_fn fn;
    void *ctx;
    int64_t n;
    /* Read by workers that may be looking at a finished job: atomics, so those stale
     * reads are defined (the generation check then discards them). */
    atomic_int parts;
    atomic_int active; /* workers allowed to take parts of this job */
} mli__pool;

static mli__pool mli__the_pool = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};
static atomic_flag mli__pool_busy = ATOMIC_FLAG_INIT;
static int mli__atfork_registered;

static void run_part(mli__pool *p, int part) {
    int parts = atomic_load_explicit(&p->parts, memory_order_relaxed);
    int64_t begin = p->n * part / parts, end = p->n * (part + 1) / parts;
    if (begin < end)
        p->fn(p->ctx, begin, end);
    atomic_fetch_add_explicit(&p->done, 1, memory_order_release);
}

/* Takes and runs parts of generation `gen` until none are left. */
static void take_parts(mli__pool *p, uint32_t gen) {
    for (;;) {
        uint64_t w = atomic_load_explicit(&p->work, memory_order_acquire);
        uint32_t idx = (uint32_t)w;
        if ((uint32_t)(w >> 32) != gen || idx == MLI_CLOSED ||
            idx >= (uint32_t)atomic_load_explicit(&p->parts, memory_order_relaxed))
            return;
        if (atomic_compare_exchange_weak_explicit(&p->work, &w, w + 1, memory_order_acq_rel, memory_order_acquire))
            run_part(p, (int)idx);
    }
}

typedef struct {
    mli__pool *pool;
    int id;
} worker_arg;

static void *worker_main(void *arg) {
    mli__pool *p = ((worker_arg *)arg)->pool;
    int id = ((worker_arg *)arg)->id;
    free(arg);
    uint32_t seen = (uint32_t)(atomic_load(&p->work) >> 32);
    for (;;) {
        uint32_t gen = seen;
        for (int i = 0; i < MLI_SPIN_ROUNDS && gen == seen; ++i) {
            MLI_PAUSE();
            gen = (uint32_t)(atomic_load_explicit(&p->work, memory_order_acquire) >> 32);
        }
        if (gen == seen) {
            pthread_mutex_lock(&p->mu);
            p->sleepers++;
            while (!p->stop && (uint32_t)(atomic_load(&p->work) >> 32) == seen)
                pthread_cond_wait(&p->cv, &p->mu);
            p->sleepers--;
            int stop = p->stop;
            pthread_mutex_unlock(&p->mu);
            if (stop)
                return NULL;
            gen = (uint32_t)(atomic_load(&p->work) >> 32);
        }
        seen = gen;
        if (id < atomic_load_explicit(&p->active, memory_order_relaxed))
            take_parts(p, gen);
    }
}

/* After fork() only the forking thread exists in the child: forget the parent's workers
 * (their memory is still there, the threads are not) so the child starts a fresh pool. */
static void pool_atfork_child(void) {
    mli__pool *p = &mli__the_pool;
    p->nworkers = 0;
    p->sleepers = 0;
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv, NULL);
    atomic_flag_clear(&mli__pool_busy);
}

/* Starts workers up to `want`; returns how many exist. Called with the busy flag held. */
static int ensure_workers(mli__pool *p, int want) {
    if (!mli__atfork_registered) {
        mli__atfork_registered = 1;
        pthread_atfork(NULL, NULL, pool_atfork_child);
    }
    if (want > MLI_MAX_POOL_WORKERS)
        want = MLI_MAX_POOL_WORKERS;
    while (p->nworkers < want) {
        worker_arg *a = malloc(sizeof *a);
        if (!a)
            break;
        a->pool = p;
        a->id = p->nworkers;
        /* The default stack: kernels are shallow, but sanitizer builds grow their frames
         * to hundreds of KiB. */
        int rc = pthread_create(&p->threads[p->nworkers], NULL, worker_main, a);
        if (rc != 0) {
            free(a);
            break; /* fewer workers just means less parallelism */
        }
        p->nworkers++;
    }
    return p->nworkers;
}

int mli__parallel_for(int64_t n, int64_t grain, mli__range_fn fn, void *ctx) {
    return mli__parallel_for_parts(n, grain, 1, fn, ctx);
}

int mli__parallel_for_parts(int64_t n, int64_t grain, int per_thread, mli__range_fn fn, void *ctx) {
    if (n <= 0)
        return 1;
    int threads = mli__num_threads();
    if (grain < 1)
        grain = 1;
    if (per_thread < 1)
        per_thread = 1;
    int64_t max_parts = (n + grain - 1) / grain, want = (int64_t)threads * per_thread;
    int parts = want < max_parts ? (int)want : (int)max_parts;
    if (threads <= 1 || parts <= 1 || atomic_flag_test_and_set_explicit(&mli__pool_busy, memory_order_acquire)) {
        fn(ctx, 0, n);
        return 1;
    }
    mli__pool *p = &mli__the_pool;
    /* the caller and up to threads - 1 workers take the parts one at a time, so a thread
     * whose core is slow (shared with another process) takes fewer of them */
    int helpers = (threads < parts ? threads : parts) - 1;
    int workers = ensure_workers(p, helpers);
    if (workers < helpers)
        helpers = workers;
    if (helpers == 0) {
        atomic_flag_clear_explicit(&mli__pool_busy, memory_order_release);
        fn(ctx, 0, n);
        return 1;
    }
    p->fn = fn;
    p->ctx = ctx;
    p->n = n;
    atomic_store_explicit(&p->parts, parts, memory_order_relaxed);
    atomic_store_explicit(&p->active, helpers, memory_order_relaxed);
    atomic_store_explicit(&p->done, 0, memory_order_relaxed);
    uint32_t gen = (uint32_t)(atomic_load(&p->work) >> 32) + 1;
    atomic_store_explicit(&p->work, (uint64_t)gen << 32, memory_order_seq_cst);
    pthread_mutex_lock(&p->mu);
    if (p->sleepers > 0)
        pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);

    take_parts(p, gen);
    while (atomic_load_explicit(&p->done, memory_order_acquire) < parts)
        MLI_PAUSE();
    /* Close the job so a worker that read it late can never take a part of it. */
    atomic_store_explicit(&p->work, ((uint64_t)gen << 32) | MLI_CLOSED, memory_order_release);
    atomic_flag_clear_explicit(&mli__pool_busy, memory_order_release);
    return parts;
}

/* Joins the workers when the library is unloaded (dlclose), so no thread runs code
 * that is about to be unmapped. */
__attribute__((destructor)) static void pool_shutdown(void) {
    mli__pool *p = &mli__the_pool;
    if (p->nworkers == 0)
        return;
    pthread_mutex_lock(&p->mu);
    p->stop = 1;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    for (int i = 0; i < p->nworkers; ++i)
        pthread_join(p->threads[i], NULL);
    p->nworkers = 0;
}
