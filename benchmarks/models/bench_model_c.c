/* bench_model_c.c — single-row latency and batch throughput of a model through the C API,
 * for benchmarks/models/bench_models.py and benchmarks/trees/bench_trees.py (which measure
 * the peers and the Python bindings in the same run). Prints one JSON object.
 *
 *   bench_model_c MODEL INPUT.f32 N_FEATURES THREADS [options]
 *
 * MODEL is anything mli_model_load accepts (.mli, XGBoost JSON, LightGBM text); INPUT.f32
 * holds rows of N_FEATURES float32 values. Without options it times mli_model_predict:
 * 20 000 single-row calls (cycling through the rows, after 2 000 warm-up calls) and the
 * whole file as one batch, best of 7. Options (for the tree benchmark):
 *   --output predict|proba|raw   the call to time (mli_model_predict / _predict_proba /
 *                                _predict_raw); default predict
 *   --single-reps N              single-row calls timed (default 20000)
 *   --batch-reps N               batch repeats (default 7)
 *   --small-batch N              also time batches of N rows (cycling through the file),
 *                                reported as small_batch_rows_per_s (median of the repeats)
 *   --load-reps N                load the model N times and report the median load_ms
 *                                (default 1: the one load the runner needs anyway)
 *   --dtype f32|f64              INPUT holds float32 (default) or float64 values, passed
 *                                as MLI_F32 / MLI_F64
 * Output keys: single_row_us_p50, single_row_us_p99, single_row_us_p10, single_row_us_p90,
 * batch_rows, batch_rows_per_s (best), batch_rows_per_s_median, load_ms, threads, output,
 * and small_batch_* when asked. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <mlinfer.h>

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static int cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

typedef mli_status (*predict_fn)(const mli_model *, const void *, mli_dtype, int64_t, int64_t, double *, int64_t);

static int usage(void) {
    fprintf(stderr, "usage: bench_model_c MODEL INPUT.f32 N_FEATURES THREADS [--output predict|proba|raw] "
                    "[--single-reps N] [--batch-reps N] [--small-batch N] [--load-reps N] [--dtype f32|f64]\n");
    return 2;
}

static double median_of(double *v, int n) {
    qsort(v, (size_t)n, sizeof v[0], cmp);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

int main(int argc, char **argv) {
    if (argc < 5)
        return usage();
    const char *output = "predict", *dtype_name = "f32";
    long single_reps = 20000, batch_reps = 7, small_batch = 0, load_reps = 1;
    for (int i = 5; i < argc; i += 2) {
        if (i + 1 >= argc)
            return usage();
        const char *k = argv[i], *v = argv[i + 1];
        if (!strcmp(k, "--output"))
            output = v;
        else if (!strcmp(k, "--single-reps"))
            single_reps = atol(v);
        else if (!strcmp(k, "--batch-reps"))
            batch_reps = atol(v);
        else if (!strcmp(k, "--small-batch"))
            small_batch = atol(v);
        else if (!strcmp(k, "--load-reps"))
            load_reps = atol(v);
        else if (!strcmp(k, "--dtype"))
            dtype_name = v;
        else
            return usage();
    }
    if (single_reps < 1 || batch_reps < 1 || small_batch < 0 || load_reps < 1 ||
        (strcmp(dtype_name, "f32") && strcmp(dtype_name, "f64")))
        return usage();
    const mli_dtype dt = strcmp(dtype_name, "f64") ? MLI_F32 : MLI_F64;
    const size_t es = dt == MLI_F64 ? sizeof(double) : sizeof(float);

    double *load_t = malloc(sizeof(double) * (size_t)load_reps);
    if (!load_t)
        return 1;
    mli_model *m = NULL;
    for (long i = 0; i < load_reps; ++i) {
        if (m)
            mli_model_free(m);
        double t0 = now();
        if (mli_model_load(argv[1], &m) != MLI_OK) {
            fprintf(stderr, "%s\n", mli_last_error());
            return 1;
        }
        load_t[i] = now() - t0;
    }
    double load_ms = median_of(load_t, (int)load_reps) * 1e3;
    free(load_t);

    predict_fn fn = mli_model_predict;
    int64_t cols = mli_model_n_outputs(m);
    if (!strcmp(output, "proba")) {
        fn = mli_model_predict_proba;
        cols = mli_model_n_classes(m);
    } else if (!strcmp(output, "raw")) {
        fn = mli_model_predict_raw;
        cols = mli_model_n_raw(m);
    } else if (strcmp(output, "predict") != 0) {
        return usage();
    }
    if (cols < 1) {
        fprintf(stderr, "model has no '%s' output\n", output);
        return 1;
    }

    long f = atol(argv[3]);
    if (f < 1)
        return usage();
    mli_set_num_threads(atoi(argv[4]));
    FILE *in = fopen(argv[2], "rb");
    if (!in) {
        perror(argv[2]);
        return 1;
    }
    fseek(in, 0, SEEK_END);
    long rows = ftell(in) / ((long)es * f);
    rewind(in);
    char *x = rows > 0 ? malloc(es * (size_t)(rows * f)) : NULL;
    if (!x || fread(x, es * (size_t)f, (size_t)rows, in) != (size_t)rows) {
        fprintf(stderr, "cannot read %s\n", argv[2]);
        return 1;
    }
    fclose(in);
    double *out = malloc(sizeof(double) * (size_t)(rows * cols));
    double *t = malloc(sizeof(double) * (size_t)single_reps);
    double *bt = malloc(sizeof(double) * (size_t)(batch_reps > 15 ? batch_reps : 15));
    if (!out || !t || !bt) {
        fprintf(stderr, "out of memory\n");
        return 1;
    }
    if (fn(m, x, dt, 1, f, out, cols) != MLI_OK) {
        fprintf(stderr, "%s\n", mli_last_error());
        return 1;
    }
    long warm = single_reps < 2000 ? single_reps : 2000;
    for (long i = 0; i < warm; ++i) /* warm-up */
        fn(m, x + (size_t)((i % rows) * f) * es, dt, 1, f, out, cols);
    for (long i = 0; i < single_reps; ++i) {
        double t0 = now();
        fn(m, x + (size_t)((i % rows) * f) * es, dt, 1, f, out, cols);
        t[i] = now() - t0;
    }
    qsort(t, (size_t)single_reps, sizeof t[0], cmp);

    double small_med = 0.0;
    long small_inner = 0;
    if (small_batch > 0 && small_batch <= rows) {
        /* Repeats of `small_inner` back-to-back calls lasting about 20 ms; the median. */
        double t0 = now();
        fn(m, x, dt, small_batch, f, out, small_batch * cols);
        double one = now() - t0;
        small_inner = one > 0 ? (long)(0.02 / one) + 1 : 1000;
        if (small_inner > 100000)
            small_inner = 100000;
        long nb = rows / small_batch;
        int reps = 15;
        for (int r = 0; r < reps; ++r) {
            double s0 = now();
            for (long i = 0; i < small_inner; ++i)
                fn(m, x + (size_t)((i % nb) * small_batch * f) * es, dt, small_batch, f, out, small_batch * cols);
            bt[r] = (double)(small_batch * small_inner) / (now() - s0);
        }
        small_med = median_of(bt, reps);
    }

    double best = 1e30;
    for (long r = 0; r < batch_reps; ++r) {
        double t0 = now();
        if (fn(m, x, dt, rows, f, out, rows * cols) != MLI_OK) {
            fprintf(stderr, "%s\n", mli_last_error());
            return 1;
        }
        double d = now() - t0;
        bt[r] = d;
        best = d < best ? d : best;
    }
    double med = median_of(bt, (int)batch_reps);
    printf("{\"single_row_us_p50\": %.4f, \"single_row_us_p99\": %.4f, \"batch_rows\": %ld, "
           "\"batch_rows_per_s\": %.1f, \"threads\": %d",
           t[single_reps / 2] * 1e6, t[single_reps * 99 / 100] * 1e6, rows, (double)rows / best, mli_get_num_threads());
    printf(", \"single_row_us_p10\": %.4f, \"single_row_us_p90\": %.4f, \"single_row_calls\": %ld, "
           "\"batch_rows_per_s_median\": %.1f, \"batch_reps\": %ld, \"load_ms\": %.4f, \"load_reps\": %ld, "
           "\"output\": \"%s\", \"dtype\": \"%s\"",
           t[single_reps / 10] * 1e6, t[single_reps * 9 / 10] * 1e6, single_reps, (double)rows / med, batch_reps,
           load_ms, load_reps, output, dtype_name);
    if (small_inner > 0)
        printf(", \"small_batch\": %ld, \"small_batch_rows_per_s\": %.1f, \"small_batch_inner_calls\": %ld",
               small_batch, small_med, small_inner);
    printf("}\n");
    mli_model_free(m);
    free(x);
    free(out);
    free(t);
    free(bt);
    return 0;
}
