/* bench_model_c.c — single-row latency and batch throughput of a .mli model through the C
 * API, for benchmarks/models/bench_models.py (which measures scikit-learn and the Python
 * bindings in the same run). Prints one JSON object.
 *   bench_model_c MODEL INPUT.f32 N_FEATURES THREADS */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
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

int main(int argc, char **argv) {
    if (argc != 5) {
        fprintf(stderr, "usage: bench_model_c MODEL INPUT.f32 N_FEATURES THREADS\n");
        return 2;
    }
    mli_model *m;
    if (mli_model_load(argv[1], &m) != MLI_OK) {
        fprintf(stderr, "%s\n", mli_last_error());
        return 1;
    }
    long f = atol(argv[3]);
    mli_set_num_threads(atoi(argv[4]));
    FILE *in = fopen(argv[2], "rb");
    if (!in) {
        perror(argv[2]);
        return 1;
    }
    fseek(in, 0, SEEK_END);
    long rows = ftell(in) / (4 * f);
    rewind(in);
    float *x = malloc(sizeof(float) * (size_t)(rows * f));
    if (!x || fread(x, sizeof(float) * (size_t)f, (size_t)rows, in) != (size_t)rows) {
        fprintf(stderr, "cannot read %s\n", argv[2]);
        return 1;
    }
    fclose(in);
    int64_t cols = mli_model_n_outputs(m);
    double *out = malloc(sizeof(double) * (size_t)(rows * cols));
    enum { REPS = 20000 };
    static double t[REPS];
    for (int i = 0; i < 2000; ++i) /* warm-up */
        mli_model_predict(m, x + (i % rows) * f, MLI_F32, 1, f, out, cols);
    for (int i = 0; i < REPS; ++i) {
        double t0 = now();
        mli_model_predict(m, x + (i % rows) * f, MLI_F32, 1, f, out, cols);
        t[i] = now() - t0;
    }
    qsort(t, REPS, sizeof t[0], cmp);
    double best = 1e30;
    for (int r = 0; r < 7; ++r) {
        double t0 = now();
        if (mli_model_predict(m, x, MLI_F32, rows, f, out, rows * cols) != MLI_OK) {
            fprintf(stderr, "%s\n", mli_last_error());
            return 1;
        }
        double d = now() - t0;
        best = d < best ? d : best;
    }
    printf("{\"single_row_us_p50\": %.4f, \"single_row_us_p99\": %.4f, \"batch_rows\": %ld, "
           "\"batch_rows_per_s\": %.1f, \"threads\": %d}\n",
           t[REPS / 2] * 1e6, t[REPS * 99 / 100] * 1e6, rows, (double)rows / best, mli_get_num_threads());
    mli_model_free(m);
    free(x);
    free(out);
    return 0;
}
