/* model_testutil.h — helpers for the model tests: reading files from the test data folder
 * (MLI_TEST_DATA_DIR, set by CMake), parsing the NAME.expected.txt files that
 * tests/data/make_models.py writes, and comparing outputs within the stated tolerance.
 * Header-only, static functions only. */
#ifndef MLI_MODEL_TESTUTIL_H
#define MLI_MODEL_TESTUTIL_H

#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "mlinfer.h"

#ifndef MLI_TEST_DATA_DIR
#error "MLI_TEST_DATA_DIR must name tests/data"
#endif

/* The golden models of tests/data/ (make_models.py writes them and their expectations). */
static const char *const mt_golden[] = {"logreg_binary",   "logreg_multi_strlabels",
                                        "ridge_multi",     "mlp_pipeline",
                                        "mlp_regressor_z", "sgd_ovr_mhuber",
                                        "forest_multi",    "hgb_nan",
                                        "scaled_forest",   "prep_numeric",
                                        "prep_linalg",     "prep_spline",
                                        "xgb_binary",      "lgb_multi"};
#define MT_N_GOLDEN (sizeof mt_golden / sizeof mt_golden[0])
/* The first MT_N_GOLDEN_MLI are .mli files (the container tests flip their bits). */
#define MT_N_GOLDEN_MLI 12

/* Outputs must match scikit-learn's float64 results within
 *     |got - want| <= MT_RTOL * |want| + MT_ATOL
 * i.e. 1e-5 relative, with a 1e-5 absolute floor for values near zero (the models run in
 * float32, so a score that cancels to ~0 keeps float32-sized absolute error). Predicted
 * classes must be equal: the golden inputs avoid rows within 1e-3 of a decision boundary. */
#define MT_RTOL 1e-5
#define MT_ATOL 1e-5

static inline void mt_path(char *buf, size_t n, const char *rel) {
    int w = snprintf(buf, n, "%s/%s", MLI_TEST_DATA_DIR, rel);
    assert_true(w > 0 && (size_t)w < n);
}

/* The golden model file of `name`: NAME.mli, or another framework's file the loader
 * imports (NAME.json for XGBoost, NAME.txt for LightGBM). */
static inline void mt_model_file(char *rel, size_t n, const char *name) {
    static const char *const ext[] = {".mli", ".json", ".txt"};
    for (int i = 0; i < 3; i++) {
        char path[1024];
        snprintf(rel, n, "%s%s", name, ext[i]);
        mt_path(path, sizeof path, rel);
        FILE *f = fopen(path, "rb");
        if (f) {
            fclose(f);
            return;
        }
    }
    fail_msg("no model file for golden model %s", name);
}

/* The whole file at MLI_TEST_DATA_DIR/rel; *size receives its length. Never NULL (a
 * zero-length file gives a 1-byte allocation). */
static inline uint8_t *mt_read_file(const char *rel, size_t *size) {
    char path[1024];
    mt_path(path, sizeof path, rel);
    FILE *f = fopen(path, "rb");
    if (!f)
        fail_msg("cannot open %s", path);
    assert_int_equal(fseek(f, 0, SEEK_END), 0);
    long n = ftell(f);
    assert_true(n >= 0);
    assert_int_equal(fseek(f, 0, SEEK_SET), 0);
    uint8_t *buf = malloc((size_t)n + 1);
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    *size = (size_t)n;
    return buf;
}

/* ---- NAME.expected.txt ------------------------------------------------------------------ */

typedef struct {
    int64_t rows, cols;
    double *v; /* rows * cols, row-major; NULL when the block is absent */
} mt_matrix;

typedef struct {
    char name[64];
    int classification;
    int64_t n_features, n_outputs, n_classes, n_decision;
    int has_proba;
    int labels_str; /* -1: no labels (regressor) */
    int64_t labels_int[16];
    char labels_text[16][32];
    int n_meta;
    char meta_key[8][64], meta_value[8][64];
    mt_matrix input, predict, proba, decision;
} mt_expected;

static inline void mt_read_matrix(FILE *f, mt_matrix *m) {
    assert_int_equal(fscanf(f, "%lld %lld", (long long *)&m->rows, (long long *)&m->cols), 2);
    assert_true(m->rows > 0 && m->cols > 0 && m->rows * m->cols < 100000);
    m->v = malloc(sizeof(double) * (size_t)(m->rows * m->cols));
    assert_non_null(m->v);
    for (int64_t i = 0; i < m->rows * m->cols; i++)
        assert_int_equal(fscanf(f, "%lf", &m->v[i]), 1);
}

static inline void mt_expected_load(const char *model, mt_expected *e) {
    char rel[256], path[1024], tok[64];
    memset(e, 0, sizeof *e);
    e->labels_str = -1;
    snprintf(e->name, sizeof e->name, "%s", model);
    snprintf(rel, sizeof rel, "%s.expected.txt", model);
    mt_path(path, sizeof path, rel);
    FILE *f = fopen(path, "r");
    if (!f)
        fail_msg("cannot open %s", path);
    while (fscanf(f, "%63s", tok) == 1) {
        if (strcmp(tok, "end") == 0)
            break;
        if (strcmp(tok, "task") == 0) {
            assert_int_equal(fscanf(f, "%63s", tok), 1);
            e->classification = strcmp(tok, "classification") == 0;
        } else if (strcmp(tok, "n_features") == 0) {
            assert_int_equal(fscanf(f, "%lld n_outputs %lld n_classes %lld n_decision %lld has_proba %d",
                                    (long long *)&e->n_features, (long long *)&e->n_outputs, (long long *)&e->n_classes,
                                    (long long *)&e->n_decision, &e->has_proba),
                             5);
        } else if (strcmp(tok, "labels") == 0) {
            assert_int_equal(fscanf(f, "%63s", tok), 1);
            if (strcmp(tok, "none") == 0)
                continue;
            e->labels_str = strcmp(tok, "str") == 0;
            long long k;
            assert_int_equal(fscanf(f, "%lld", &k), 1);
            assert_true(k == e->n_classes && k <= 16);
            for (long long i = 0; i < k; i++) {
                if (e->labels_str)
                    assert_int_equal(fscanf(f, "%31s", e->labels_text[i]), 1);
                else
                    assert_int_equal(fscanf(f, "%lld", (long long *)&e->labels_int[i]), 1);
            }
        } else if (strcmp(tok, "meta") == 0) {
            assert_true(e->n_meta < 8);
            assert_int_equal(fscanf(f, "%63s %63s", e->meta_key[e->n_meta], e->meta_value[e->n_meta]), 2);
            e->n_meta++;
        } else if (strcmp(tok, "input") == 0) {
            mt_read_matrix(f, &e->input);
        } else if (strcmp(tok, "predict") == 0) {
            mt_read_matrix(f, &e->predict);
        } else if (strcmp(tok, "proba") == 0) {
            mt_read_matrix(f, &e->proba);
        } else if (strcmp(tok, "decision") == 0) {
            mt_read_matrix(f, &e->decision);
        } else {
            fail_msg("%s: unknown token '%s'", path, tok);
        }
    }
    fclose(f);
    assert_non_null(e->input.v);
    assert_non_null(e->predict.v);
    assert_int_equal(e->input.cols, e->n_features);
}

static inline void mt_expected_free(mt_expected *e) {
    free(e->input.v);
    free(e->predict.v);
    free(e->proba.v);
    free(e->decision.v);
}

/* ---- checks ------------------------------------------------------------------------------ */

static inline void mt_assert_close(const char *what, const double *got, const mt_matrix *want) {
    for (int64_t i = 0; i < want->rows * want->cols; i++) {
        double w = want->v[i], g = got[i];
        if (!(fabs(g - w) <= MT_RTOL * fabs(w) + MT_ATOL))
            fail_msg("%s: row %lld column %lld: got %.17g, scikit-learn %.17g (tolerance %g rel + %g abs)", what,
                     (long long)(i / want->cols), (long long)(i % want->cols), g, w, MT_RTOL, MT_ATOL);
    }
}

static inline void mt_assert_equal(const char *what, const double *got, const mt_matrix *want) {
    for (int64_t i = 0; i < want->rows * want->cols; i++)
        if (got[i] != want->v[i])
            fail_msg("%s: row %lld: got %.17g, want %.17g", what, (long long)(i / want->cols), got[i], want->v[i]);
}

/* The message of the last failure must be non-empty and contain `text`. */
static inline void mt_assert_error_mentions(const char *text) {
    const char *msg = mli_last_error();
    assert_non_null(msg);
    if (!strstr(msg, text))
        fail_msg("error message \"%s\" does not mention \"%s\"", msg, text);
}

#endif
