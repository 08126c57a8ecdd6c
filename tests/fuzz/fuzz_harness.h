/* fuzz_harness.h — what every target in tests/fuzz shares: the libFuzzer entry points, a
 * check that stops the run on a broken contract (a fuzzer finding), and predicting a few
 * rows on whatever model an input produced.
 *
 * A target defines LLVMFuzzerTestOneInput (and, when it needs set-up, LLVMFuzzerInitialize).
 * Built with MLI_FUZZ=ON it links libFuzzer; otherwise fuzz_driver.c's main() replays
 * files and folders of inputs through the same function (the ctest replay tests). */
#ifndef MLI_FUZZ_HARNESS_H
#define MLI_FUZZ_HARNESS_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mlinfer.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

/* A contract the code under test broke: say which and stop, so that libFuzzer (or the
 * replay driver) records the input as a crash. */
#define FUZZ_CHECK(cond, ...)                                                                                          \
    do {                                                                                                               \
        if (!(cond)) {                                                                                                 \
            fprintf(stderr, "fuzz check failed at %s:%d: %s: ", __FILE__, __LINE__, #cond);                            \
            fprintf(stderr, __VA_ARGS__);                                                                              \
            fputc('\n', stderr);                                                                                       \
            abort();                                                                                                   \
        }                                                                                                              \
    } while (0)

/* The failure contract of every fallible call: a status that names itself and a message. */
static inline void fuzz_check_failure(mli_status st, const char *call) {
    const char *msg = mli_last_error();
    FUZZ_CHECK(st != MLI_OK && msg != NULL && msg[0] != 0, "%s failed (%d) without a message", call, (int)st);
}

/* An accepted model must serve every output it has; running out of memory is the one
 * excuse (libFuzzer's -malloc_limit_mb turns a huge request into a finding anyway), and a
 * row the model refuses (MLI_ERR_INPUT: NaN for a linear model, an unknown category under
 * handle_unknown='error') the other, with a message. */
static inline void fuzz_must_serve(mli_status st, const char *call) {
    FUZZ_CHECK(st == MLI_OK || st == MLI_ERR_OUT_OF_MEMORY || (st == MLI_ERR_INPUT && mli_last_error()[0]),
               "%s on an accepted model: %s", call, mli_last_error());
}

/* A model with a string column takes rows only as columns. */
static inline int fuzz_has_strings(const mli_model *m) {
    mli_column_kind k;
    for (int64_t i = 0; i < mli_model_n_features(m); ++i)
        if (mli_model_column_kind(m, i, &k) == MLI_OK && k == MLI_COLUMN_STRING)
            return 1;
    return 0;
}

/* Every output through mli_model_predict_columns on three rows: numbers as in
 * fuzz_predict_rows (x, rows-major), strings as "", a null, and bytes of the seed, given as
 * plain UTF-8 columns and as dictionary columns in turn. */
static inline void fuzz_predict_columns(const mli_model *m, const double *x, const uint8_t *seed, size_t seed_size,
                                        double *out, int64_t n, int contrib) {
    int64_t nf = mli_model_n_features(m);
    mli_column *cols = calloc((size_t)nf, sizeof *cols);
    double *num = malloc(sizeof *num * (size_t)(3 * nf));
    static const int64_t offsets[4] = {0, 0, 0, 4};
    static const int32_t codes[3] = {0, MLI_CODE_NONE, 1};
    static const uint8_t valid = 5; /* row 1 null */
    char bytes[5] = {0};
    for (size_t i = 0; i < 4; ++i)
        bytes[i] = seed_size ? (char)seed[i % seed_size] : 'a';
    if (cols && num) {
        int64_t given = 0;
        for (int64_t c = 0; c < nf; ++c) {
            mli_column_kind k = MLI_COLUMN_NUMBER;
            mli_model_column_kind(m, c, &k);
            if (k == MLI_COLUMN_UNUSED)
                continue;
            mli_column *col = &cols[given++];
            col->index = c;
            if (k == MLI_COLUMN_STRING) {
                col->type = c % 2 ? MLI_COLUMN_DICT_UTF8 : MLI_COLUMN_UTF8;
                col->values = c % 2 ? (const void *)codes : (const void *)bytes;
                col->offsets = c % 2 ? offsets + 1 : offsets; /* dict: "", "abcd" */
                col->dict_bytes = bytes;
                col->n_dict = 2;
                col->validity = c % 2 ? NULL : &valid;
            } else {
                for (int r = 0; r < 3; ++r)
                    num[c * 3 + r] = x[r * nf + c];
                col->type = MLI_COLUMN_F64;
                col->values = num + c * 3;
            }
        }
        for (int what = MLI_OUTPUT_PREDICT; what <= MLI_OUTPUT_RAW; ++what)
            if (mli_model_output_len(m, (mli_output)what) > 0)
                fuzz_must_serve(mli_model_predict_columns(m, cols, given, 3, (mli_output)what, out, n),
                                "mli_model_predict_columns");
        if (contrib) /* per input column: through the prep stage's column map */
            fuzz_must_serve(mli_model_predict_contrib_columns(m, cols, given, 3, out, n),
                            "mli_model_predict_contrib_columns");
    }
    free(num);
    free(cols);
}

/* Predicts every output of `m` on three rows (zeros, NaNs, values taken from `seed`),
 * float64 and float32, plus the leaf indices of a tree model. A model with more than
 * 2^16 features gets the first row only, to keep each run quick. */
static inline void fuzz_predict_rows(const mli_model *m, const uint8_t *seed, size_t seed_size) {
    int64_t nf = mli_model_n_features(m);
    FUZZ_CHECK(nf > 0, "an accepted model with %lld features", (long long)nf);
    const int64_t ROWS = nf > (1 << 16) ? 1 : 3;
    double *x = calloc((size_t)(ROWS * nf), sizeof *x);
    float *xf = calloc((size_t)(ROWS * nf), sizeof *xf);
    int64_t cols = 1;
    for (int what = MLI_OUTPUT_PREDICT; what <= MLI_OUTPUT_RAW; ++what)
        if (mli_model_output_len(m, (mli_output)what) > cols)
            cols = mli_model_output_len(m, (mli_output)what);
    if (mli_model_n_trees(m) > cols)
        cols = mli_model_n_trees(m);
    /* contributions (TreeSHAP costs leaves x depth^2 per row: small stages only) */
    const char *nodes = mli_model_meta(m, "stage.0.n_nodes");
    int64_t n_contrib = mli_model_n_contrib(m);
    int contrib = n_contrib > 0 && n_contrib <= (1 << 20) && (!nodes || atoll(nodes) <= 4096);
    if (contrib && n_contrib > cols)
        cols = n_contrib;
    for (int64_t i = 0, n_raw = mli_model_n_raw(m); n_contrib > 0 && i < n_contrib / n_raw - 1; ++i) {
        int64_t col = -2;
        const char *name = NULL;
        FUZZ_CHECK(mli_model_contrib_column(m, i, &col, &name) == MLI_OK &&
                       (col == i || (col == -1 && i >= nf && name && strncmp(name, "transformed:", 12) == 0)),
                   "contribution column %lld: column %lld, name %s", (long long)i, (long long)col,
                   name ? name : "(null)");
    }
    double *out = malloc(sizeof *out * (size_t)(ROWS * cols));
    int64_t *leaves = malloc(sizeof *leaves * (size_t)(ROWS * cols));
    if (x && xf && out && leaves) {
        for (int64_t i = 0; ROWS == 3 && i < nf; ++i) {
            x[nf + i] = __builtin_nan("");
            x[2 * nf + i] = seed_size ? (double)(int8_t)seed[(size_t)i % seed_size] / 8.0 : 0.0;
        }
        for (int64_t i = 0; i < ROWS * nf; ++i)
            xf[i] = (float)x[i];
        int64_t n = ROWS * cols;
        if (ROWS == 3)
            fuzz_predict_columns(m, x, seed, seed_size, out, n, contrib);
        if (fuzz_has_strings(m)) {
            FUZZ_CHECK(mli_model_predict(m, x, MLI_F64, 1, nf, out, n) == MLI_ERR_UNSUPPORTED,
                       "rows of numbers for a model with string columns: %s", mli_last_error());
        } else {
            fuzz_must_serve(mli_model_predict(m, x, MLI_F64, ROWS, nf, out, n), "mli_model_predict");
            fuzz_must_serve(mli_model_predict(m, xf, MLI_F32, 1, nf, out, n), "mli_model_predict (one row, f32)");
            if (mli_model_has_proba(m))
                fuzz_must_serve(mli_model_predict_proba(m, x, MLI_F64, ROWS, nf, out, n), "mli_model_predict_proba");
            if (mli_model_n_decision(m) > 0)
                fuzz_must_serve(mli_model_decision_function(m, xf, MLI_F32, ROWS, nf, out, n),
                                "mli_model_decision_function");
            if (mli_model_n_raw(m) > 0)
                fuzz_must_serve(mli_model_predict_raw(m, x, MLI_F64, ROWS, nf, out, n), "mli_model_predict_raw");
            if (mli_model_n_trees(m) > 0)
                fuzz_must_serve(mli_model_apply(m, x, MLI_F64, ROWS, nf, leaves, n), "mli_model_apply");
            if (contrib)
                fuzz_must_serve(mli_model_predict_contrib(m, x, MLI_F64, ROWS, nf, out, n),
                                "mli_model_predict_contrib");
        }
    }
    free(leaves);
    free(out);
    free(xf);
    free(x);
}

/* Loads `size` bytes as a model; checks the failure contract, or predicts on it. */
static inline void fuzz_load_and_predict(const uint8_t *data, size_t size) {
    mli_model *m = (mli_model *)1;
    mli_status st = mli_model_load_memory(data, size, &m);
    if (st != MLI_OK) {
        fuzz_check_failure(st, "mli_model_load_memory");
        FUZZ_CHECK(m == NULL, "a failed load left *out set");
        return;
    }
    fuzz_predict_rows(m, data, size);
    mli_model_free(m);
}

#endif
