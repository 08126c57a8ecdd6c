/* bench_cuda.c — the CUDA backend against its ceilings, in one run on one GPU
 * (benchmarks/cuda/README.md):
 *   GEMM         mli_cuda_sgemm vs cublasSgemm called directly (same shapes, same
 *                stream), GFLOP/s at 1024^3, 4096^3 and (8, 4096, 4096)
 *   activations  mli_cuda_activate and mli_cuda_softmax GB/s vs cudaMemcpy device to
 *                device of the same buffers (bytes read + written)
 *   trees        rows/s of mli_cuda_model_predict on 1 M rows (device input and output,
 *                and host input and output), vs the CPU path of the same model
 * Times are CUDA events around back-to-back launches on one stream (median of 7 samples
 * after a warm-up). Without a usable device it prints "no CUDA device: ..." and exits 0.
 *
 * Usage: bench_cuda [--quick] [--json FILE] [--rows N] [--cpu-rows N] [MODEL ...]
 *        (MODEL: .mli / XGBoost JSON / LightGBM text files for the tree section) */
#define _POSIX_C_SOURCE 200809L
#include <cublas_v2.h>
#include <cuda_runtime_api.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mlinfer.h"
#include "mlinfer_cuda.h"

#define SAMPLES 7

static FILE *json;
static int json_first = 1;

static void die_cuda(const char *what, cudaError_t e) {
    fprintf(stderr, "bench_cuda: %s: %s\n", what, cudaGetErrorString(e));
    exit(1);
}
#define CK(call)                                                                                             \
    do {                                                                                                     \
        cudaError_t e_ = (call);                                                                             \
        if (e_ != cudaSuccess)                                                                               \
            die_cuda(#call, e_);                                                                             \
    } while (0)
#define MK(call)                                                                                             \
    do {                                                                                                     \
        mli_status s_ = (call);                                                                              \
        if (s_ != MLI_OK) {                                                                                  \
            fprintf(stderr, "bench_cuda: %s: %s\n", #call, mli_last_error());                               \
            exit(1);                                                                                         \
        }                                                                                                    \
    } while (0)

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, int n) {
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return v[n / 2];
}

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

typedef void (*op_fn)(void *ctx);

/* Median seconds per call: `reps` back-to-back calls between two events, SAMPLES times. */
static double time_op(cudaStream_t s, op_fn op, void *ctx, int reps) {
    cudaEvent_t a, b;
    CK(cudaEventCreate(&a));
    CK(cudaEventCreate(&b));
    for (int w = 0; w < 3; ++w)
        op(ctx);
    CK(cudaStreamSynchronize(s));
    double t[SAMPLES];
    for (int i = 0; i < SAMPLES; ++i) {
        CK(cudaEventRecord(a, s));
        for (int r = 0; r < reps; ++r)
            op(ctx);
        CK(cudaEventRecord(b, s));
        CK(cudaEventSynchronize(b));
        float ms;
        CK(cudaEventElapsedTime(&ms, a, b));
        t[i] = 1e-3 * (double)ms / reps;
    }
    cudaEventDestroy(a);
    cudaEventDestroy(b);
    return median(t, SAMPLES);
}

static void json_row(const char *section, const char *name, const char *metric, double ours, double peer,
                     const char *peer_name) {
    if (!json)
        return;
    fprintf(json, "%s\n    {\"section\": \"%s\", \"case\": \"%s\", \"metric\": \"%s\", \"mlinfer\": %.6g, "
                  "\"peer\": %.6g, \"peer_name\": \"%s\", \"ratio\": %.4f}",
            json_first ? "" : ",", section, name, metric, ours, peer, peer_name, peer > 0 ? ours / peer : 0.0);
    json_first = 0;
}

/* ---- GEMM ------------------------------------------------------------------------------ */

typedef struct {
    mli_cuda_stream *ms;
    cublasHandle_t h;
    int64_t m, n, k;
    float *a, *b, *c;
} gemm_ctx;

static void op_mli_gemm(void *p) {
    gemm_ctx *g = p;
    MK(mli_cuda_sgemm(g->ms, MLI_NO_TRANS, MLI_NO_TRANS, g->m, g->n, g->k, 1.0f, g->a, g->k, g->b, g->n, 0.0f, g->c,
                      g->n));
}

static void op_cublas_gemm(void *p) { /* row-major C = A B as column-major C^T = B^T A^T */
    gemm_ctx *g = p;
    const float one = 1.0f, zero = 0.0f;
    if (cublasSgemm(g->h, CUBLAS_OP_N, CUBLAS_OP_N, (int)g->n, (int)g->m, (int)g->k, &one, g->b, (int)g->n, g->a,
                    (int)g->k, &zero, g->c, (int)g->n) != CUBLAS_STATUS_SUCCESS) {
        fprintf(stderr, "bench_cuda: cublasSgemm failed\n");
        exit(1);
    }
}

static void fill(float *d, size_t n, cudaStream_t s) {
    float *h = malloc(sizeof(float) * n);
    if (!h)
        exit(1);
    unsigned x = 12345u;
    for (size_t i = 0; i < n; ++i) {
        x = x * 1664525u + 1013904223u;
        h[i] = (float)((x >> 8) * (1.0 / 16777216.0) - 0.5);
    }
    CK(cudaMemcpyAsync(d, h, sizeof(float) * n, cudaMemcpyHostToDevice, s));
    CK(cudaStreamSynchronize(s));
    free(h);
}

static void bench_gemm(mli_cuda_stream *ms, int quick, int tf32) {
    static const int64_t shapes[][3] = {{1024, 1024, 1024}, {4096, 4096, 4096}, {8, 4096, 4096}};
    cudaStream_t s = (cudaStream_t)mli_cuda_stream_native(ms);
    gemm_ctx g = {.ms = ms};
    if (cublasCreate(&g.h) != CUBLAS_STATUS_SUCCESS || cublasSetStream(g.h, s) != CUBLAS_STATUS_SUCCESS ||
        cublasSetMathMode(g.h, tf32 ? CUBLAS_TF32_TENSOR_OP_MATH : CUBLAS_DEFAULT_MATH) != CUBLAS_STATUS_SUCCESS) {
        fprintf(stderr, "bench_cuda: cuBLAS setup failed\n");
        exit(1);
    }
    MK(mli_cuda_stream_set_tf32(ms, tf32));
    printf("\nGEMM (%s): mli_cuda_sgemm vs cublasSgemm, row-major C = A B\n", tf32 ? "TF32 opt-in" : "float32");
    printf("  %-18s %12s %12s %7s\n", "m x n x k", "mlinfer", "cuBLAS", "ratio");
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; ++i) {
        g.m = shapes[i][0], g.n = shapes[i][1], g.k = shapes[i][2];
        CK(cudaMalloc((void **)&g.a, sizeof(float) * (size_t)(g.m * g.k)));
        CK(cudaMalloc((void **)&g.b, sizeof(float) * (size_t)(g.k * g.n)));
        CK(cudaMalloc((void **)&g.c, sizeof(float) * (size_t)(g.m * g.n)));
        fill(g.a, (size_t)(g.m * g.k), s);
        fill(g.b, (size_t)(g.k * g.n), s);
        double flop = 2.0 * (double)g.m * (double)g.n * (double)g.k;
        int reps = (int)(2e11 / flop);
        reps = reps < 3 ? 3 : reps > 2000 ? 2000 : reps;
        if (quick)
            reps = reps / 10 + 1;
        double t_peer = time_op(s, op_cublas_gemm, &g, reps), t_ours = time_op(s, op_mli_gemm, &g, reps);
        double ours = flop / t_ours * 1e-9, peer = flop / t_peer * 1e-9;
        char name[64];
        snprintf(name, sizeof name, "%lldx%lldx%lld%s", (long long)g.m, (long long)g.n, (long long)g.k,
                 tf32 ? " tf32" : "");
        printf("  %-18s %9.0f GF %9.0f GF %6.3fx\n", name, ours, peer, ours / peer);
        json_row("gemm", name, "GFLOP/s", ours, peer, "cublasSgemm");
        cudaFree(g.a);
        cudaFree(g.b);
        cudaFree(g.c);
    }
    cublasDestroy(g.h);
    MK(mli_cuda_stream_set_tf32(ms, 0));
}

/* ---- activations and softmax ------------------------------------------------------------ */

typedef struct {
    mli_cuda_stream *ms;
    cudaStream_t s;
    int act;
    int64_t n, cols;
    float *x, *y;
} act_ctx;

static void op_copy(void *p) {
    act_ctx *c = p;
    CK(cudaMemcpyAsync(c->y, c->x, sizeof(float) * (size_t)c->n, cudaMemcpyDeviceToDevice, c->s));
}
static void op_act(void *p) {
    act_ctx *c = p;
    MK(mli_cuda_activate(c->ms, (mli_act)c->act, c->x, c->y, c->n));
}
static void op_softmax(void *p) {
    act_ctx *c = p;
    MK(mli_cuda_softmax(c->ms, c->x, c->y, c->n / c->cols, c->cols));
}

static void bench_act(mli_cuda_stream *ms, int quick) {
    static const char *const names[] = {"identity", "relu", "sigmoid", "tanh", "gelu", "gelu_tanh"};
    act_ctx c = {.ms = ms, .s = (cudaStream_t)mli_cuda_stream_native(ms), .n = quick ? (1 << 24) : (1 << 28)};
    CK(cudaMalloc((void **)&c.x, sizeof(float) * (size_t)c.n));
    CK(cudaMalloc((void **)&c.y, sizeof(float) * (size_t)c.n));
    fill(c.x, (size_t)c.n, c.s);
    double bytes = 2.0 * sizeof(float) * (double)c.n; /* read x, write y */
    int reps = quick ? 3 : 10;
    double copy = bytes / time_op(c.s, op_copy, &c, reps) * 1e-9;
    printf("\nactivations: %lld floats (%.1f GiB each way); device copy %.0f GB/s\n", (long long)c.n,
           sizeof(float) * (double)c.n / (1 << 30), copy);
    printf("  %-18s %12s %7s\n", "op", "GB/s", "x copy");
    for (int a = 0; a < 6; ++a) {
        c.act = a;
        double gbs = bytes / time_op(c.s, op_act, &c, reps) * 1e-9;
        printf("  %-18s %12.0f %6.3fx\n", names[a], gbs, gbs / copy);
        json_row("activation", names[a], "GB/s", gbs, copy, "cudaMemcpy D2D");
    }
    static const int64_t colss[] = {10, 1000};
    for (size_t i = 0; i < 2; ++i) {
        c.cols = colss[i];
        double gbs = bytes / time_op(c.s, op_softmax, &c, reps) * 1e-9;
        char name[32];
        snprintf(name, sizeof name, "softmax cols=%lld", (long long)c.cols);
        printf("  %-18s %12.0f %6.3fx\n", name, gbs, gbs / copy);
        json_row("activation", name, "GB/s", gbs, copy, "cudaMemcpy D2D");
    }
    cudaFree(c.x);
    cudaFree(c.y);
}

/* ---- trees ------------------------------------------------------------------------------ */

typedef struct {
    const mli_cuda_model *dm;
    mli_cuda_stream *ms;
    const void *x;
    int64_t rows, nf;
    double *out;
    uint32_t flags;
} tree_ctx;

static void op_tree(void *p) {
    tree_ctx *t = p;
    MK(mli_cuda_model_predict(t->dm, t->ms, MLI_OUTPUT_RAW, t->x, MLI_F32, t->rows, t->nf, t->out,
                              t->rows * mli_model_n_raw(mli_cuda_model_host(t->dm)), t->flags | MLI_CUDA_FORCE_GPU));
}

static void bench_tree(mli_cuda_stream *ms, const char *path, int64_t rows, int64_t cpu_rows) {
    mli_model *m = NULL;
    MK(mli_model_load(path, &m));
    mli_cuda_model *dm = NULL;
    MK(mli_model_to_device(m, 0, &dm));
    int64_t nf = mli_model_n_features(m), nraw = mli_model_n_raw(m);
    float *hx = malloc(sizeof(float) * (size_t)(rows * nf));
    double *hout = malloc(sizeof(double) * (size_t)(rows * nraw));
    if (!hx || !hout)
        exit(1);
    unsigned long long st = 88172645463325252ull;
    for (int64_t i = 0; i < rows * nf; ++i) { /* N(0, 1) by Box-Muller */
        st ^= st << 13, st ^= st >> 7, st ^= st << 17;
        double u1 = ((st >> 11) + 1.0) / 9007199254740993.0;
        st ^= st << 13, st ^= st >> 7, st ^= st << 17;
        double u2 = (st >> 11) / 9007199254740992.0;
        hx[i] = (float)(sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2));
    }
    cudaStream_t s = (cudaStream_t)mli_cuda_stream_native(ms);
    void *dx, *dout;
    CK(cudaMalloc(&dx, sizeof(float) * (size_t)(rows * nf)));
    CK(cudaMalloc(&dout, sizeof(double) * (size_t)(rows * nraw)));
    CK(cudaMemcpy(dx, hx, sizeof(float) * (size_t)(rows * nf), cudaMemcpyHostToDevice));
    tree_ctx t = {.dm = dm, .ms = ms, .x = dx, .rows = rows, .nf = nf, .out = dout,
                  .flags = MLI_CUDA_X_DEVICE | MLI_CUDA_OUT_DEVICE};
    double t_dev = time_op(s, op_tree, &t, 3);
    t.x = hx, t.out = hout, t.flags = 0;
    double t_host = time_op(s, op_tree, &t, 1);
    /* the CPU path on a slice (it is 10-100x slower), all threads */
    int64_t cr = cpu_rows < rows ? cpu_rows : rows;
    double best = 1e30;
    for (int i = 0; i < 3; ++i) {
        double t0 = now_s();
        MK(mli_model_predict_raw(m, hx, MLI_F32, cr, nf, hout, cr * nraw));
        double dt = now_s() - t0;
        best = dt < best ? dt : best;
    }
    double gpu_dev = (double)rows / t_dev, gpu_host = (double)rows / t_host, cpu = (double)cr / best;
    const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
    printf("  %-28s %8.1f M/s %8.1f M/s %8.2f M/s (%d thr) %7.1fx\n", base, gpu_dev * 1e-6, gpu_host * 1e-6,
           cpu * 1e-6, mli_get_num_threads(), gpu_dev / cpu);
    json_row("trees", base, "rows/s device buffers", gpu_dev, cpu, "libmlinfer CPU path");
    json_row("trees", base, "rows/s host buffers", gpu_host, cpu, "libmlinfer CPU path");
    cudaFree(dx);
    cudaFree(dout);
    free(hx);
    free(hout);
    mli_cuda_model_free(dm);
    mli_model_free(m);
}

int main(int argc, char **argv) {
    int quick = 0;
    const char *json_path = NULL;
    int64_t rows = 1000000, cpu_rows = 100000;
    const char *models[64];
    int n_models = 0;
    for (int i = 1; i < argc; ++i) {
        if (strcmp(argv[i], "--quick") == 0)
            quick = 1;
        else if (strcmp(argv[i], "--json") == 0 && i + 1 < argc)
            json_path = argv[++i];
        else if (strcmp(argv[i], "--rows") == 0 && i + 1 < argc)
            rows = atoll(argv[++i]);
        else if (strcmp(argv[i], "--cpu-rows") == 0 && i + 1 < argc)
            cpu_rows = atoll(argv[++i]);
        else if (argv[i][0] != '-' && n_models < 64)
            models[n_models++] = argv[i];
        else {
            fprintf(stderr, "usage: bench_cuda [--quick] [--json FILE] [--rows N] [--cpu-rows N] [MODEL ...]\n");
            return 2;
        }
    }
    int n = 0;
    if (mli_cuda_device_count(&n) != MLI_OK || n == 0) {
        printf("no CUDA device: %s\n", mli_last_error());
        return 0;
    }
    mli_cuda_device_props p;
    MK(mli_cuda_device_query(0, &p));
    printf("bench_cuda: %s (compute %d.%d, %d SMs, %.0f GiB), libmlinfer %s, CPU %s\n", p.name, p.major, p.minor,
           p.multiprocessors, (double)p.total_memory / (1 << 30), mli_version(), mli_cpu_isa());
    if (json_path) {
        json = fopen(json_path, "w");
        if (!json) {
            perror(json_path);
            return 1;
        }
        fprintf(json, "{\"device\": \"%s\", \"library\": \"%s\", \"results\": [", p.name, mli_version());
    }
    mli_cuda_stream *ms = NULL;
    MK(mli_cuda_stream_create(0, &ms));
    bench_gemm(ms, quick, 0);
    bench_gemm(ms, quick, 1);
    bench_act(ms, quick);
    if (n_models) {
        if (quick)
            rows = rows < 100000 ? rows : 100000;
        printf("\ntrees: %lld rows of N(0,1) float32 features, raw scores\n", (long long)rows);
        printf("  %-28s %12s %12s %22s %8s\n", "model", "GPU dev buf", "GPU host buf", "CPU path", "GPU/CPU");
        for (int i = 0; i < n_models; ++i)
            bench_tree(ms, models[i], rows, cpu_rows);
    }
    mli_cuda_stream_free(ms);
    if (json) {
        fprintf(json, "\n]}\n");
        fclose(json);
    }
    return 0;
}
