/* threads.c — how many threads one call may use, shared with OpenBLAS so a service never
 * runs more compute threads than the CPUs it was given. */
#if defined(__linux__)
#define _GNU_SOURCE
#include <sched.h>
#endif
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <cblas.h>

#include "internal.h"

#define MLI_MAX_THREADS 1024

static atomic_int mli__threads; /* 0 until first use */
static pthread_once_t mli__threads_once = PTHREAD_ONCE_INIT;

/* CPUs from a cgroup CPU quota (a Kubernetes CPU limit), rounded up; 0 when unlimited. */
static int cgroup_cpu_limit(void) {
    long long quota = -1, period = 0;
    FILE *f = fopen("/sys/fs/cgroup/cpu.max", "r"); /* cgroup v2: "max 100000" or "200000 100000" */
    if (f) {
        char q[32];
        if (fscanf(f, "%31s %lld", q, &period) == 2 && q[0] != 'm')
            quota = strtoll(q, NULL, 10);
        fclose(f);
    } else if ((f = fopen("/sys/fs/cgroup/cpu/cpu.cfs_quota_us", "r")) != NULL) { /* cgroup v1 */
        if (fscanf(f, "%lld", &quota) != 1)
            quota = -1;
        fclose(f);
        if ((f = fopen("/sys/fs/cgroup/cpu/cpu.cfs_period_us", "r")) != NULL) {
            if (fscanf(f, "%lld", &period) != 1)
                period = 0;
            fclose(f);
        }
    }
    if (quota <= 0 || period <= 0)
        return 0;
    long long cpus = (quota + period - 1) / period;
    return cpus > MLI_MAX_THREADS ? MLI_MAX_THREADS : (int)cpus;
}

static int default_threads(void) {
    const char *env = getenv("MLI_THREADS");
    if (env && *env) {
        char *end;
        long v = strtol(env, &end, 10);
        if (*end == '\0' && v > 0)
            return v > MLI_MAX_THREADS ? MLI_MAX_THREADS : (int)v;
    }
    int cpus = 0;
#if defined(__linux__)
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0)
        cpus = CPU_COUNT(&set);
#endif
    if (cpus <= 0) {
        long online = sysconf(_SC_NPROCESSORS_ONLN);
        cpus = online > 0 ? (int)online : 1;
    }
    int limit = cgroup_cpu_limit();
    if (limit > 0 && limit < cpus)
        cpus = limit;
    return cpus > MLI_MAX_THREADS ? MLI_MAX_THREADS : cpus;
}

/* OpenBLAS's openblas_set_num_threads re-initializes its worker threads' mutexes while a
 * cblas call on another thread may hold them (OpenBLAS 0.3.21; ThreadSanitizer reports it
 * when mli_set_num_threads runs during predicts). So our cblas calls hold this lock shared
 * and a change of the thread count holds it exclusively: a change waits for the calls in
 * flight, and calls wait for the change (uncontended, a shared lock costs tens of ns
 * against a BLAS call of many microseconds). */
static pthread_rwlock_t mli__blas_lock = PTHREAD_RWLOCK_INITIALIZER;

void mli__blas_enter(void) {
    (void)mli__num_threads(); /* OpenBLAS's thread count follows ours */
    pthread_rwlock_rdlock(&mli__blas_lock);
}

void mli__blas_leave(void) { pthread_rwlock_unlock(&mli__blas_lock); }

static void apply(int n) {
    pthread_rwlock_wrlock(&mli__blas_lock);
    atomic_store(&mli__threads, n);
    openblas_set_num_threads(n);
    pthread_rwlock_unlock(&mli__blas_lock);
}

static void init_threads(void) {
    if (atomic_load(&mli__threads) == 0)
        apply(default_threads());
}

int mli__num_threads(void) {
    pthread_once(&mli__threads_once, init_threads);
    return atomic_load(&mli__threads);
}

mli_status mli_set_num_threads(int n) {
    if (n > MLI_MAX_THREADS)
        return mli__fail(MLI_ERR_INVALID_ARGUMENT, "mli_set_num_threads: n (%d) exceeds the limit of %d", n,
                         MLI_MAX_THREADS);
    pthread_once(&mli__threads_once, init_threads);
    apply(n > 0 ? n : default_threads());
    return MLI_OK;
}

int mli_get_num_threads(void) { return mli__num_threads(); }
