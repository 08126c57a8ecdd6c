/* bench_columns_c.c — the C half of bench_pipelines.py: one row through
 * mli_model_predict_columns (predict_proba) on a pipeline model, as a C service would call
 * it: numbers as float64, strings as one-entry dictionaries (the value of each string column
 * given on the command line, or "x"). Prints the median and minimum time per call over
 * batches of back-to-back calls.
 *
 *     bench_columns_c MODEL.mli [seconds] [column=value ...] */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mlinfer.h"

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: %s MODEL.mli [seconds] [column=value ...]\n", argv[0]);
        return 2;
    }
    double seconds = argc > 2 ? atof(argv[2]) : 2.0;
    mli_model *m = NULL;
    if (mli_model_load(argv[1], &m) != MLI_OK) {
        fprintf(stderr, "%s\n", mli_last_error());
        return 1;
    }
    mli_set_num_threads(1);
    int64_t n = mli_model_n_features(m), given = 0;
    mli_column *cols = calloc((size_t)n, sizeof *cols);
    double *nums = calloc((size_t)n, sizeof *nums);
    int64_t *offs = calloc((size_t)(2 * n), sizeof *offs);
    static const int32_t code0 = 0;
    for (int64_t c = 0; c < n; ++c) {
        mli_column_kind k;
        mli_model_column_kind(m, c, &k);
        if (k == MLI_COLUMN_UNUSED)
            continue;
        mli_column *col = &cols[given++];
        col->index = c;
        if (k == MLI_COLUMN_NUMBER) {
            nums[c] = 1.0 + (double)c;
            col->type = MLI_COLUMN_F64;
            col->values = &nums[c];
            continue;
        }
        const char *name = NULL, *value = "x";
        mli_model_feature_name(m, c, &name);
        for (int a = 3; a < argc && name; ++a)
            if (strncmp(argv[a], name, strlen(name)) == 0 && argv[a][strlen(name)] == '=')
                value = argv[a] + strlen(name) + 1;
        offs[2 * c + 1] = (int64_t)strlen(value);
        col->type = MLI_COLUMN_DICT_UTF8;
        col->values = &code0;
        col->offsets = &offs[2 * c];
        col->dict_bytes = value;
        col->n_dict = 1;
    }
    int64_t k = mli_model_output_len(m, MLI_OUTPUT_PROBA);
    double out[256];
    if (k > 256 || mli_model_predict_columns(m, cols, given, 1, MLI_OUTPUT_PROBA, out, 256) != MLI_OK) {
        fprintf(stderr, "predict: %s\n", mli_last_error());
        return 1;
    }
    enum { BATCH = 200, MAX_SAMPLES = 100000 };
    double *samples = malloc(sizeof(double) * MAX_SAMPLES);
    int ns = 0;
    double end = now() + seconds;
    while (ns < MAX_SAMPLES && (ns < 7 || now() < end)) {
        double t0 = now();
        for (int i = 0; i < BATCH; ++i)
            mli_model_predict_columns(m, cols, given, 1, MLI_OUTPUT_PROBA, out, 256);
        samples[ns++] = (now() - t0) / BATCH;
    }
    qsort(samples, (size_t)ns, sizeof *samples, cmp);
    printf("{\"median_us\": %.3f, \"min_us\": %.3f, \"samples\": %d, \"batch\": %d}\n", 1e6 * samples[ns / 2],
           1e6 * samples[0], ns, BATCH);
    free(samples);
    free(offs);
    free(nums);
    free(cols);
    mli_model_free(m);
    return 0;
}
