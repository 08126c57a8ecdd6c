/* bench_kernels.c — kernel benchmark runner: mli_sgemm against OpenBLAS's cblas_sgemm, the
 * fused GEMM + bias + activation against its unfused equivalent, activation throughput per
 * ISA against the scalar table and memcpy, and softmax. Prints tables, optionally writes
 * JSON. Every figure is a ratio against a peer measured in the same run.
 *
 * The kernel table is chosen once per process (MLI_FORCE_ISA), so the per-ISA part runs in
 * child processes: the runner re-executes itself with MLI_FORCE_ISA=scalar|avx2|avx512 and
 * the internal flag --child-kernels, and reads their results as text lines from a pipe. */
#define _POSIX_C_SOURCE 200809L

#include <mlinfer.h>

#include <cblas.h>

#include <errno.h>
#include <pthread.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* ---- timing ---------------------------------------------------------------------------- */

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* One contender: fn(ctx) does one call and returns 0, or non-zero after printing why. */
typedef int (*bench_fn)(void *ctx);
typedef struct {
    bench_fn fn;
    void *ctx;
} contender;

/* Seconds per call: the median and the minimum over the samples. */
typedef struct {
    double med, min;
    int samples;
} timing;

#define MAX_CONTENDERS 2
#define MIN_SAMPLES 7
#define MAX_SAMPLES 401
#define SAMPLE_TARGET_S 50e-6 /* a sample batches calls until it lasts about this long */

static double g_budget_scale = 1.0; /* --quick shrinks every time budget */

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void run_or_die(const contender *c) {
    if (c->fn(c->ctx) != 0)
        exit(1);
}

/* Times the contenders interleaved (A, B, A, B, ...) so that machine noise, frequency
 * changes and other tenants hit all of them alike. Each gets a warm-up first, then
 * samples of `inner` back-to-back calls until budget_s has passed (and at least
 * MIN_SAMPLES samples exist). */
static void measure(const contender *cs, int nc, double budget_s, timing *out) {
    static double samples[MAX_CONTENDERS][MAX_SAMPLES];
    long inner[MAX_CONTENDERS];
    budget_s *= g_budget_scale;

    for (int i = 0; i < nc; ++i) {
        /* warm-up: caches, page faults, OpenBLAS's thread start, lazy kernel-table init */
        double t0 = now_s(), t;
        int calls = 0;
        do {
            run_or_die(&cs[i]);
            ++calls;
            t = now_s() - t0;
        } while (calls < 3 || (t < 0.02 * g_budget_scale && calls < 1000));
        double per_call = t / calls;
        inner[i] = per_call >= SAMPLE_TARGET_S ? 1 : (long)ceil(SAMPLE_TARGET_S / per_call);
    }

    int ns = 0;
    double start = now_s();
    while (ns < MAX_SAMPLES && (ns < MIN_SAMPLES || now_s() - start < budget_s)) {
        for (int i = 0; i < nc; ++i) {
            double t0 = now_s();
            for (long r = 0; r < inner[i]; ++r)
                run_or_die(&cs[i]);
            samples[i][ns] = (now_s() - t0) / (double)inner[i];
        }
        ++ns;
    }
    for (int i = 0; i < nc; ++i) {
        qsort(samples[i], (size_t)ns, sizeof(double), cmp_double);
        out[i].min = samples[i][0];
        out[i].med = ns % 2 ? samples[i][ns / 2] : 0.5 * (samples[i][ns / 2 - 1] + samples[i][ns / 2]);
        out[i].samples = ns;
    }
}

/* A short busy spell before the first measurement of a process, so that its first figures
 * do not pay for the core waking up from idle (frequency ramp, a descheduled vCPU). */
static void wake_cpu(void) {
    volatile double sink = 0;
    double end = now_s() + 0.1;
    while (now_s() < end)
        for (int i = 0; i < 1000; ++i)
            sink = sink + 1.0;
}

/* How many cores this process really gets right now: the speed-up of `threads` threads each
 * spinning through the same fixed work, against one. On a shared VM or under a CPU quota
 * this can be well below the CPU count, and every multi-thread figure is then capped. */
static void *spin_work(void *arg) {
    volatile double x = 0;
    for (long i = 0; i < 20000000; ++i)
        x = x + 1.0;
    (void)arg;
    return NULL;
}

static double parallel_speedup(int threads) {
    pthread_t tids[8];
    if (threads > 8)
        threads = 8;
    double t0 = now_s();
    spin_work(NULL);
    double one = now_s() - t0;
    t0 = now_s();
    int started = 0;
    for (; started < threads; ++started)
        if (pthread_create(&tids[started], NULL, spin_work, NULL) != 0)
            break;
    for (int i = 0; i < started; ++i)
        pthread_join(tids[i], NULL);
    return started * one / (now_s() - t0);
}

/* ---- buffers --------------------------------------------------------------------------- */

static float *alloc_floats(size_t n) {
    size_t bytes = (n * sizeof(float) + 63) & ~(size_t)63;
    float *p = aligned_alloc(64, bytes ? bytes : 64);
    if (!p) {
        fprintf(stderr, "bench_kernels: out of memory allocating %zu bytes\n", bytes);
        exit(1);
    }
    return p;
}

static uint64_t g_rng = 0x9E3779B97F4A7C15ull;

/* Uniform in [lo, hi): deterministic xorshift so every run sees the same data. */
static float *random_floats(size_t n, float lo, float hi) {
    float *p = alloc_floats(n);
    for (size_t i = 0; i < n; ++i) {
        g_rng ^= g_rng << 13;
        g_rng ^= g_rng >> 7;
        g_rng ^= g_rng << 17;
        p[i] = lo + (hi - lo) * (float)((double)(g_rng >> 11) * 0x1.0p-53);
    }
    return p;
}

static int check(mli_status st, const char *what) {
    if (st == MLI_OK)
        return 0;
    fprintf(stderr, "bench_kernels: %s failed: %s (%s)\n", what, mli_status_string(st), mli_last_error());
    return 1;
}

/* ---- GEMM ------------------------------------------------------------------------------ */

typedef struct {
    int m, n, k;
    const float *a, *b, *bias;
    float *c;
    mli_act act;
} gemm_ctx;

static int run_mli_sgemm(void *p) {
    gemm_ctx *g = p;
    return check(mli_sgemm(MLI_NO_TRANS, MLI_NO_TRANS, g->m, g->n, g->k, 1.0f, g->a, g->k, g->b, g->n, 0.0f,
                           g->c, g->n),
                 "mli_sgemm");
}

static int run_cblas_sgemm(void *p) {
    gemm_ctx *g = p;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, g->m, g->n, g->k, 1.0f, g->a, g->k, g->b, g->n,
                0.0f, g->c, g->n);
    return 0;
}

static int run_mli_fused(void *p) {
    gemm_ctx *g = p;
    return check(mli_sgemm_bias_act(g->m, g->n, g->k, g->a, g->k, g->b, g->n, g->bias, g->act, g->c, g->n),
                 "mli_sgemm_bias_act");
}

/* What a caller without the fused call writes: cblas_sgemm, a bias pass, an activation pass. */
static int run_unfused(void *p) {
    gemm_ctx *g = p;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, g->m, g->n, g->k, 1.0f, g->a, g->k, g->b, g->n,
                0.0f, g->c, g->n);
    for (int i = 0; i < g->m; ++i) {
        float *row = g->c + (size_t)i * (size_t)g->n;
        for (int j = 0; j < g->n; ++j)
            row[j] += g->bias[j];
    }
    return check(mli_activate(g->act, g->c, g->c, (int64_t)g->m * g->n), "mli_activate");
}

typedef struct {
    int threads, m, n, k;
    timing mli, blas;
} gemm_result;

typedef struct {
    int threads, m, n, k;
    mli_act act;
    timing fused, unfused;
} fused_result;

static const char *act_name(mli_act a) {
    static const char *names[] = {"identity", "relu", "sigmoid", "tanh", "gelu", "gelu_tanh"};
    return (unsigned)a < sizeof names / sizeof names[0] ? names[a] : "?";
}

static double gflops(int m, int n, int k, double seconds) {
    return 2.0 * m * n * k / seconds * 1e-9;
}

static const int k_gemm_shapes[][3] = {{1, 256, 256}, {8, 256, 256}, {64, 256, 256}, {256, 256, 256},
                                       {1024, 1024, 1024}};
#define N_GEMM_SHAPES (int)(sizeof k_gemm_shapes / sizeof k_gemm_shapes[0])
static const int k_fused_m[] = {1, 8, 64};
#define N_FUSED_M (int)(sizeof k_fused_m / sizeof k_fused_m[0])
static const mli_act k_fused_acts[] = {MLI_ACT_RELU, MLI_ACT_TANH, MLI_ACT_GELU};
#define N_FUSED_ACTS (int)(sizeof k_fused_acts / sizeof k_fused_acts[0])

static int set_threads(int n) {
    return check(mli_set_num_threads(n), "mli_set_num_threads");
}

/* The weights (B) and activations (A) are reused across calls: in serving the weights of a
 * layer stay cache-resident between requests, and both contenders see the same buffers. */
static void bench_gemm(const int *threads, int nthreads, gemm_result *res) {
    int r = 0;
    for (int s = 0; s < N_GEMM_SHAPES; ++s) {
        int m = k_gemm_shapes[s][0], n = k_gemm_shapes[s][1], k = k_gemm_shapes[s][2];
        gemm_ctx g = {m, n, k, random_floats((size_t)m * k, -1, 1), random_floats((size_t)k * n, -1, 1), NULL,
                      alloc_floats((size_t)m * n), MLI_ACT_IDENTITY};
        for (int t = 0; t < nthreads; ++t) {
            if (set_threads(threads[t]))
                exit(1);
            contender cs[2] = {{run_mli_sgemm, &g}, {run_cblas_sgemm, &g}};
            timing tm[2];
            measure(cs, 2, m >= 1024 ? 1.5 : 0.5, tm);
            res[r] = (gemm_result){threads[t], m, n, k, tm[0], tm[1]};
            gemm_result *x = &res[r++];
            printf("%4d x %4d x %4d  %3d  %9.2f %9.2f  %9.2f %9.2f  %8.1f %8.1f  %6.2fx\n", m, n, k, x->threads,
                   x->mli.med * 1e6, x->mli.min * 1e6, x->blas.med * 1e6, x->blas.min * 1e6,
                   gflops(m, n, k, x->mli.med), gflops(m, n, k, x->blas.med), x->blas.med / x->mli.med);
            fflush(stdout);
        }
        free((void *)g.a);
        free((void *)g.b);
        free(g.c);
    }
}

static void bench_fused(const int *threads, int nthreads, fused_result *res) {
    int r = 0;
    const int n = 256, k = 256;
    float *b = random_floats((size_t)k * n, -0.1f, 0.1f), *bias = random_floats((size_t)n, -1, 1);
    for (int s = 0; s < N_FUSED_M; ++s) {
        int m = k_fused_m[s];
        float *a = random_floats((size_t)m * k, -1, 1), *c = alloc_floats((size_t)m * n);
        for (int t = 0; t < nthreads; ++t) {
            if (set_threads(threads[t]))
                exit(1);
            for (int ai = 0; ai < N_FUSED_ACTS; ++ai) {
                gemm_ctx g = {m, n, k, a, b, bias, c, k_fused_acts[ai]};
                contender cs[2] = {{run_mli_fused, &g}, {run_unfused, &g}};
                timing tm[2];
                measure(cs, 2, 0.3, tm);
                res[r] = (fused_result){threads[t], m, n, k, g.act, tm[0], tm[1]};
                fused_result *x = &res[r++];
                printf("%4d x %4d x %4d  %3d  %-9s  %9.2f %9.2f  %9.2f %9.2f  %6.2fx\n", m, n, k, x->threads,
                       act_name(x->act), x->fused.med * 1e6, x->fused.min * 1e6, x->unfused.med * 1e6,
                       x->unfused.min * 1e6, x->unfused.med / x->fused.med);
                fflush(stdout);
            }
        }
        free(a);
        free(c);
    }
    free(b);
    free(bias);
}

/* ---- activations and softmax (run in a child per ISA) --------------------------------- */

static const size_t k_act_bytes[] = {4096, 1u << 20, 64u << 20};
#define N_ACT_SIZES (int)(sizeof k_act_bytes / sizeof k_act_bytes[0])
#define N_ACTS 6
static const int k_softmax_shapes[][2] = {{1000, 10}, {100, 1000}, {10, 100000}};
#define N_SOFTMAX_SHAPES (int)(sizeof k_softmax_shapes / sizeof k_softmax_shapes[0])

typedef struct {
    mli_act act;
    const float *x;
    float *y;
    int64_t n;
    int64_t rows, cols;
} vec_ctx;

static int run_activate(void *p) {
    vec_ctx *v = p;
    return check(mli_activate(v->act, v->x, v->y, v->n), "mli_activate");
}

static int run_softmax(void *p) {
    vec_ctx *v = p;
    return check(mli_softmax(v->x, v->y, v->rows, v->cols), "mli_softmax");
}

static int run_memcpy(void *p) {
    vec_ctx *v = p;
    memcpy(v->y, v->x, (size_t)v->n * sizeof(float));
    return 0;
}

/* Budget per measurement: large arrays on the scalar table take tens of ms per call. */
static double vec_budget(size_t bytes) {
    return bytes >= (64u << 20) ? 0.4 : 0.2;
}

/* Child: one line per figure on stdout, "act ISA NAME BYTES MED MIN MEMCPY_MED" and
 * "softmax ISA ROWS COLS MED MIN", or "unsupported ISA MESSAGE" when the table is missing.
 * Each activation is timed interleaved with a memcpy of the same buffers, so the
 * bandwidth ratio is not skewed by whatever else the machine was doing at the time. */
static int child_kernels(void) {
    float probe = 0;
    if (set_threads(1))
        return 1;
    wake_cpu();
    if (mli_activate(MLI_ACT_RELU, &probe, &probe, 1) == MLI_ERR_UNSUPPORTED) {
        printf("unsupported %s %s\n", getenv("MLI_FORCE_ISA") ? getenv("MLI_FORCE_ISA") : "?", mli_last_error());
        return 0;
    }
    const char *isa = mli_cpu_isa();
    for (int s = 0; s < N_ACT_SIZES; ++s) {
        size_t n = k_act_bytes[s] / sizeof(float);
        vec_ctx v = {MLI_ACT_IDENTITY, random_floats(n, -5, 5), alloc_floats(n), (int64_t)n, 0, 0};
        for (int a = 0; a < N_ACTS; ++a) {
            v.act = (mli_act)a;
            contender cs[2] = {{run_activate, &v}, {run_memcpy, &v}};
            timing tm[2];
            measure(cs, 2, vec_budget(k_act_bytes[s]), tm);
            printf("act %s %s %zu %.9e %.9e %.9e\n", isa, act_name(v.act), k_act_bytes[s], tm[0].med, tm[0].min,
                   tm[1].med);
            fflush(stdout);
        }
        free((void *)v.x);
        free(v.y);
    }
    for (int s = 0; s < N_SOFTMAX_SHAPES; ++s) {
        int rows = k_softmax_shapes[s][0], cols = k_softmax_shapes[s][1];
        size_t n = (size_t)rows * (size_t)cols;
        vec_ctx v = {MLI_ACT_IDENTITY, random_floats(n, -5, 5), alloc_floats(n), (int64_t)n, rows, cols};
        timing tm;
        measure(&(contender){run_softmax, &v}, 1, 0.2, &tm);
        printf("softmax %s %d %d %.9e %.9e\n", isa, rows, cols, tm.med, tm.min);
        fflush(stdout);
        free((void *)v.x);
        free(v.y);
    }
    return 0;
}

#define MAX_ISAS 3
static const char *const k_isas[MAX_ISAS] = {"scalar", "avx2", "avx512"};

typedef struct {
    int available;
    char why[256];
    timing act[N_ACT_SIZES][N_ACTS];
    double memcpy_med[N_ACT_SIZES][N_ACTS]; /* the memcpy interleaved with each activation */
    timing softmax[N_SOFTMAX_SHAPES];
} isa_result;

static int size_index(size_t bytes) {
    for (int s = 0; s < N_ACT_SIZES; ++s)
        if (k_act_bytes[s] == bytes)
            return s;
    return -1;
}

static int act_index(const char *name) {
    for (int a = 0; a < N_ACTS; ++a)
        if (strcmp(act_name((mli_act)a), name) == 0)
            return a;
    return -1;
}

/* Runs this executable again with MLI_FORCE_ISA=isa and parses its lines. */
static int run_child(const char *self, const char *isa, int quick, isa_result *out) {
    int fds[2];
    if (pipe(fds) != 0) {
        perror("bench_kernels: pipe");
        return 1;
    }
    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0) {
        perror("bench_kernels: fork");
        return 1;
    }
    if (pid == 0) {
        close(fds[0]);
        if (dup2(fds[1], STDOUT_FILENO) < 0)
            _exit(127);
        close(fds[1]);
        setenv("MLI_FORCE_ISA", isa, 1);
        execl(self, self, "--child-kernels", quick ? "--quick" : (char *)NULL, (char *)NULL);
        fprintf(stderr, "bench_kernels: cannot re-execute %s: %s\n", self, strerror(errno));
        _exit(127);
    }
    close(fds[1]);
    FILE *in = fdopen(fds[0], "r");
    char line[512];
    memset(out, 0, sizeof *out);
    out->available = 1;
    while (in && fgets(line, sizeof line, in)) {
        char kind[16], got_isa[16], name[32];
        size_t bytes;
        int rows, cols;
        double med, min, mc;
        if (sscanf(line, "act %15s %31s %zu %lf %lf %lf", got_isa, name, &bytes, &med, &min, &mc) == 6) {
            int s = size_index(bytes), a = act_index(name);
            if (s >= 0 && a >= 0) {
                out->act[s][a] = (timing){med, min, 0};
                out->memcpy_med[s][a] = mc;
            }
        } else if (sscanf(line, "softmax %15s %d %d %lf %lf", got_isa, &rows, &cols, &med, &min) == 5) {
            for (int s = 0; s < N_SOFTMAX_SHAPES; ++s)
                if (k_softmax_shapes[s][0] == rows && k_softmax_shapes[s][1] == cols)
                    out->softmax[s] = (timing){med, min, 0};
        } else if (sscanf(line, "%15s", kind) == 1 && strcmp(kind, "unsupported") == 0) {
            out->available = 0;
            const char *why = line + strlen("unsupported ");
            size_t len = strcspn(why, "\n");
            if (len >= sizeof out->why)
                len = sizeof out->why - 1;
            memcpy(out->why, why, len);
            out->why[len] = '\0';
        }
    }
    if (in)
        fclose(in);
    int status = 0;
    waitpid(pid, &status, 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        fprintf(stderr, "bench_kernels: the %s child failed\n", isa);
        return 1;
    }
    return 0;
}

/* ---- machine description --------------------------------------------------------------- */

static void cpu_model(char *buf, size_t size) {
    snprintf(buf, size, "unknown");
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (!f)
        return;
    char line[512];
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, "model name", 10) == 0) {
            const char *colon = strchr(line, ':');
            if (colon) {
                snprintf(buf, size, "%s", colon + 2);
                buf[strcspn(buf, "\n")] = '\0';
            }
            break;
        }
    }
    fclose(f);
}

/* ---- output ----------------------------------------------------------------------------- */

static double act_gbps(size_t bytes, double seconds) {
    return 2.0 * (double)bytes / seconds * 1e-9; /* bytes read + bytes written */
}

static void json_timing(FILE *f, const char *name, timing t) {
    fprintf(f, "\"%s_us_median\": %.4f, \"%s_us_min\": %.4f", name, t.med * 1e6, name, t.min * 1e6);
}

static int write_json(const char *path, const char *cpu, const int *threads, int nthreads,
                      const gemm_result *gemm, int ngemm, const fused_result *fused, int nfused,
                      const isa_result *isas, const double *memcpy_med, int spin_threads, double speedup_before,
                      double speedup_after) {
    FILE *f = fopen(path, "w");
    if (!f) {
        fprintf(stderr, "bench_kernels: cannot write %s: %s\n", path, strerror(errno));
        return 1;
    }
    fprintf(f, "{\n  \"machine\": {\"cpu\": \"%s\", \"online_cpus\": %ld, \"default_isa\": \"%s\", ", cpu,
            sysconf(_SC_NPROCESSORS_ONLN), mli_cpu_isa());
    fprintf(f, "\"openblas\": \"%s\", \"openblas_core\": \"%s\", \"mlinfer\": \"%s\", ", openblas_get_config(),
            openblas_get_corename(), mli_version());
    fprintf(f, "\"effective_cores\": {\"threads\": %d, \"before\": %.2f, \"after\": %.2f}},\n", spin_threads,
            speedup_before, speedup_after);
    fprintf(f, "  \"threads\": [");
    for (int t = 0; t < nthreads; ++t)
        fprintf(f, "%s%d", t ? ", " : "", threads[t]);
    fprintf(f, "],\n  \"gemm\": [\n");
    for (int i = 0; i < ngemm; ++i) {
        const gemm_result *g = &gemm[i];
        fprintf(f, "    {\"m\": %d, \"n\": %d, \"k\": %d, \"threads\": %d, ", g->m, g->n, g->k, g->threads);
        json_timing(f, "mli", g->mli);
        fprintf(f, ", ");
        json_timing(f, "openblas", g->blas);
        fprintf(f, ", \"mli_gflops\": %.2f, \"openblas_gflops\": %.2f, \"ratio\": %.4f}%s\n",
                gflops(g->m, g->n, g->k, g->mli.med), gflops(g->m, g->n, g->k, g->blas.med),
                g->blas.med / g->mli.med, i + 1 < ngemm ? "," : "");
    }
    fprintf(f, "  ],\n  \"fused\": [\n");
    for (int i = 0; i < nfused; ++i) {
        const fused_result *g = &fused[i];
        fprintf(f, "    {\"m\": %d, \"n\": %d, \"k\": %d, \"threads\": %d, \"act\": \"%s\", ", g->m, g->n, g->k,
                g->threads, act_name(g->act));
        json_timing(f, "fused", g->fused);
        fprintf(f, ", ");
        json_timing(f, "unfused", g->unfused);
        fprintf(f, ", \"ratio\": %.4f}%s\n", g->unfused.med / g->fused.med, i + 1 < nfused ? "," : "");
    }
    fprintf(f, "  ],\n  \"memcpy\": [");
    for (int s = 0; s < N_ACT_SIZES; ++s)
        fprintf(f, "%s{\"bytes\": %zu, \"gbps\": %.3f}", s ? ", " : "", k_act_bytes[s],
                act_gbps(k_act_bytes[s], memcpy_med[s]));
    fprintf(f, "],\n  \"activation\": [\n");
    int first = 1;
    for (int i = 0; i < MAX_ISAS; ++i) {
        if (!isas[i].available)
            continue;
        for (int s = 0; s < N_ACT_SIZES; ++s)
            for (int a = 0; a < N_ACTS; ++a) {
                timing t = isas[i].act[s][a], sc = isas[0].act[s][a];
                double mc = isas[i].memcpy_med[s][a];
                fprintf(f, "%s    {\"isa\": \"%s\", \"act\": \"%s\", \"bytes\": %zu, \"gbps\": %.3f, "
                        "\"gbps_best\": %.3f, \"memcpy_gbps\": %.3f, \"vs_scalar\": %.3f, \"vs_memcpy\": %.3f}",
                        first ? "" : ",\n", k_isas[i], act_name((mli_act)a), k_act_bytes[s],
                        act_gbps(k_act_bytes[s], t.med), act_gbps(k_act_bytes[s], t.min), act_gbps(k_act_bytes[s], mc),
                        sc.med / t.med, mc / t.med);
                first = 0;
            }
    }
    fprintf(f, "\n  ],\n  \"softmax\": [\n");
    first = 1;
    for (int i = 0; i < MAX_ISAS; ++i) {
        if (!isas[i].available)
            continue;
        for (int s = 0; s < N_SOFTMAX_SHAPES; ++s) {
            timing t = isas[i].softmax[s];
            fprintf(f, "%s    {\"isa\": \"%s\", \"rows\": %d, \"cols\": %d, \"rows_per_s\": %.1f, "
                    "\"vs_scalar\": %.3f}", first ? "" : ",\n", k_isas[i], k_softmax_shapes[s][0],
                    k_softmax_shapes[s][1], k_softmax_shapes[s][0] / t.med, isas[0].softmax[s].med / t.med);
            first = 0;
        }
    }
    fprintf(f, "\n  ]\n}\n");
    int bad = ferror(f);
    if (fclose(f) != 0 || bad) {
        fprintf(stderr, "bench_kernels: error writing %s\n", path);
        return 1;
    }
    return 0;
}

static void usage(FILE *f) {
    fprintf(f, "usage: bench_kernels [--threads N[,N...]] [--json FILE] [--quick]\n"
               "  --threads  thread counts for the GEMM sections (default 1,2), set with mli_set_num_threads\n"
               "  --json     also write every figure to FILE\n"
               "  --quick    shorter time budgets (noisier; for smoke tests)\n");
}

int main(int argc, char **argv) {
    int threads[8] = {1, 2}, nthreads = 2, quick = 0, child = 0;
    const char *json = NULL;
    for (int i = 1; i < argc; ++i) {
        if (strcmp(argv[i], "--json") == 0 && i + 1 < argc) {
            json = argv[++i];
        } else if (strcmp(argv[i], "--threads") == 0 && i + 1 < argc) {
            nthreads = 0;
            for (char *tok = strtok(argv[++i], ","); tok && nthreads < 8; tok = strtok(NULL, ",")) {
                int n = atoi(tok);
                if (n < 1) {
                    fprintf(stderr, "bench_kernels: bad thread count '%s'\n", tok);
                    return 2;
                }
                threads[nthreads++] = n;
            }
        } else if (strcmp(argv[i], "--quick") == 0) {
            quick = 1;
        } else if (strcmp(argv[i], "--child-kernels") == 0) {
            child = 1;
        } else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage(stdout);
            return 0;
        } else {
            usage(stderr);
            return 2;
        }
    }
    if (quick)
        g_budget_scale = 0.2;
    if (child)
        return child_kernels();
    wake_cpu();

    char cpu[256];
    cpu_model(cpu, sizeof cpu);
    printf("libmlinfer %s, kernels %s | %s | %ld CPUs online | %s (core %s)\n", mli_version(), mli_cpu_isa(), cpu,
           sysconf(_SC_NPROCESSORS_ONLN), openblas_get_config(), openblas_get_corename());
    int max_threads = 1;
    for (int t = 0; t < nthreads; ++t)
        max_threads = threads[t] > max_threads ? threads[t] : max_threads;
    double speedup_before = parallel_speedup(max_threads);
    printf("effective cores for %d threads (spin test) before the run: %.2f\n", max_threads, speedup_before);
    printf("times in us per call: median and min over interleaved samples; ratio = peer median / mli median "
           "(> 1: libmlinfer faster)\n\n");

    gemm_result gemm[N_GEMM_SHAPES * 8];
    printf("GEMM C = A * B (row-major, no transpose): mli_sgemm vs cblas_sgemm\n");
    printf("   m x    n x    k  thr    mli med   mli min   blas med  blas min   mli GF/s blas GF/s  ratio\n");
    bench_gemm(threads, nthreads, gemm);

    fused_result fused[N_FUSED_M * N_FUSED_ACTS * 8];
    printf("\nFused dense layer: mli_sgemm_bias_act vs cblas_sgemm + bias pass + mli_activate pass\n");
    printf("   m x    n x    k  thr  act        fused med fused min unfused med unf. min  ratio\n");
    bench_fused(threads, nthreads, fused);

    isa_result isas[MAX_ISAS];
    const char *self = "/proc/self/exe";
    if (access(self, X_OK) != 0)
        self = argv[0];
    for (int i = 0; i < MAX_ISAS; ++i)
        if (run_child(self, k_isas[i], quick, &isas[i]))
            return 1;
    if (!isas[0].available) {
        fprintf(stderr, "bench_kernels: the scalar table is unavailable: %s\n", isas[0].why);
        return 1;
    }

    /* The memcpy row: the median over every memcpy timed next to an activation. */
    double memcpy_med[N_ACT_SIZES];
    for (int s = 0; s < N_ACT_SIZES; ++s) {
        double all[MAX_ISAS * N_ACTS];
        int n = 0;
        for (int i = 0; i < MAX_ISAS; ++i)
            for (int a = 0; a < N_ACTS && isas[i].available; ++a)
                all[n++] = isas[i].memcpy_med[s][a];
        qsort(all, (size_t)n, sizeof(double), cmp_double);
        memcpy_med[s] = n % 2 ? all[n / 2] : 0.5 * (all[n / 2 - 1] + all[n / 2]);
    }

    printf("\nActivations y = act(x), out of place, 1 thread: GB/s = (bytes read + written) / median time;\n"
           "x scal = scalar-table time / this time; x mcpy = memcpy (timed interleaved with it) time / this time\n");
    printf("%-7s %-9s", "isa", "act");
    for (int s = 0; s < N_ACT_SIZES; ++s)
        printf(" | %5zu KiB GB/s  x scal  x mcpy", k_act_bytes[s] >> 10);
    printf("\n%-7s %-9s", "-", "memcpy");
    for (int s = 0; s < N_ACT_SIZES; ++s)
        printf(" | %14.2f  %6s  %6s", act_gbps(k_act_bytes[s], memcpy_med[s]), "", "1.00");
    printf("\n");
    for (int i = 0; i < MAX_ISAS; ++i) {
        if (!isas[i].available) {
            printf("%-7s skipped: %s\n", k_isas[i], isas[i].why);
            continue;
        }
        for (int a = 0; a < N_ACTS; ++a) {
            printf("%-7s %-9s", k_isas[i], act_name((mli_act)a));
            for (int s = 0; s < N_ACT_SIZES; ++s) {
                timing t = isas[i].act[s][a];
                printf(" | %14.2f  %6.2f  %6.2f", act_gbps(k_act_bytes[s], t.med), isas[0].act[s][a].med / t.med,
                       isas[i].memcpy_med[s][a] / t.med);
            }
            printf("\n");
        }
    }

    printf("\nSoftmax, row-wise, 1 thread: rows per second (median)\n");
    printf("%-7s", "isa");
    for (int s = 0; s < N_SOFTMAX_SHAPES; ++s)
        printf(" | %6d x %-6d rows/s  x scal", k_softmax_shapes[s][0], k_softmax_shapes[s][1]);
    printf("\n");
    for (int i = 0; i < MAX_ISAS; ++i) {
        if (!isas[i].available)
            continue;
        printf("%-7s", k_isas[i]);
        for (int s = 0; s < N_SOFTMAX_SHAPES; ++s)
            printf(" | %20.4g  %6.2f", k_softmax_shapes[s][0] / isas[i].softmax[s].med,
                   isas[0].softmax[s].med / isas[i].softmax[s].med);
        printf("\n");
    }

    double speedup_after = parallel_speedup(max_threads);
    printf("\neffective cores for %d threads (spin test): %.2f before the run, %.2f after; below %d means the\n"
           "machine did not give this process all its cores and the multi-thread figures are capped by that\n",
           max_threads, speedup_before, speedup_after, max_threads);
    if (json && write_json(json, cpu, threads, nthreads, gemm, N_GEMM_SHAPES * nthreads, fused,
                           N_FUSED_M * N_FUSED_ACTS * nthreads, isas, memcpy_med, max_threads, speedup_before,
                           speedup_after))
        return 1;
    if (json)
        printf("\nwrote %s\n", json);
    return 0;
}
