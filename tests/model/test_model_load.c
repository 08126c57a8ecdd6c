/* test_model_load.c — the golden models of tests/data/ load from a path and from memory,
 * report the metadata scikit-learn had, and predict what scikit-learn predicted (within
 * MT_RTOL/MT_ATOL, see model_testutil.h) on float64 and float32 input with any leading
 * dimension; bad arguments to predict and load fail with the documented status and a
 * message naming the argument. */
#define _POSIX_C_SOURCE 200809L
#include "model_testutil.h"

typedef enum { LOAD_PATH, LOAD_MEMORY } load_how;

static mli_model *load_golden(const char *name, load_how how)
{
    char rel[256], path[1024];
    mt_model_file(rel, sizeof rel, name);
    mli_model *m = (mli_model *)(uintptr_t)1; /* must be overwritten */
    mli_status st;
    if (how == LOAD_PATH) {
        mt_path(path, sizeof path, rel);
        st = mli_model_load(path, &m);
    } else {
        size_t n;
        uint8_t *bytes = mt_read_file(rel, &n);
        st = mli_model_load_memory(bytes, n, &m);
        memset(bytes, 0xA5, n); /* the model must hold its own copy */
        free(bytes);
    }
    if (st != MLI_OK)
        fail_msg("%s (%s): %s: %s", name, how == LOAD_PATH ? "path" : "memory", mli_status_string(st),
                 mli_last_error());
    assert_non_null(m);
    return m;
}

/* ---- metadata ------------------------------------------------------------------------- */

static void check_metadata(const mli_model *m, const mt_expected *e)
{
    assert_int_equal(mli_model_task(m), e->classification ? MLI_TASK_CLASSIFICATION : MLI_TASK_REGRESSION);
    assert_int_equal(mli_model_n_features(m), e->n_features);
    assert_int_equal(mli_model_n_outputs(m), e->n_outputs);
    assert_int_equal(mli_model_n_classes(m), e->n_classes);
    assert_int_equal(mli_model_n_decision(m), e->n_decision);
    assert_int_equal(mli_model_has_proba(m), e->has_proba);
    if (e->labels_str >= 0) {
        assert_int_equal(mli_model_labels_are_strings(m), e->labels_str);
        for (int64_t i = 0; i < e->n_classes; i++) {
            if (e->labels_str) {
                const char *s = NULL;
                assert_int_equal(mli_model_class_label_str(m, i, &s), MLI_OK);
                assert_string_equal(s, e->labels_text[i]);
                int64_t v;
                assert_int_equal(mli_model_class_label_int(m, i, &v), MLI_ERR_UNSUPPORTED);
            } else {
                int64_t v = -99;
                assert_int_equal(mli_model_class_label_int(m, i, &v), MLI_OK);
                assert_int_equal(v, e->labels_int[i]);
                const char *s;
                assert_int_equal(mli_model_class_label_str(m, i, &s), MLI_ERR_UNSUPPORTED);
            }
        }
        int64_t v;
        const char *s;
        assert_int_equal(mli_model_class_label_int(m, e->n_classes, &v), MLI_ERR_INVALID_ARGUMENT);
        mt_assert_error_mentions("class index");
        assert_int_equal(mli_model_class_label_str(m, -1, &s), MLI_ERR_INVALID_ARGUMENT);
        assert_int_equal(mli_model_class_label_int(m, 0, NULL), MLI_ERR_INVALID_ARGUMENT);
        mt_assert_error_mentions("out is NULL");
    } else {
        int64_t v;
        assert_int_equal(mli_model_class_label_int(m, 0, &v), MLI_ERR_UNSUPPORTED);
        mt_assert_error_mentions("regressor");
    }
    for (int i = 0; i < e->n_meta; i++) {
        const char *v = mli_model_meta(m, e->meta_key[i]);
        if (!v)
            fail_msg("%s: metadata key '%s' is missing", e->name, e->meta_key[i]);
        assert_string_equal(v, e->meta_value[i]);
    }
    const char *producer = mli_model_meta(m, "producer");
    assert_non_null(producer);
    assert_non_null(strstr(producer, "mlinfer"));
    const char *source = mli_model_meta(m, "source");
    assert_non_null(source);
    assert_true(strstr(source, "sklearn.") || strstr(source, "xgboost") || strstr(source, "lightgbm"));
    char nf[32];
    snprintf(nf, sizeof nf, "%lld", (long long)e->n_features);
    assert_string_equal(mli_model_meta(m, "n_features"), nf);
    assert_null(mli_model_meta(m, "no.such.key"));
    assert_null(mli_model_meta(m, NULL));
}

/* ---- predictions ---------------------------------------------------------------------- */

/* The golden input with leading dimension ld (extra columns hold NaN: never read) in
 * float64 or float32. */
static void *make_input(const mt_expected *e, int64_t ld, mli_dtype dt)
{
    size_t n = (size_t)(e->input.rows * ld);
    void *x = malloc(n * (dt == MLI_F64 ? 8 : 4));
    assert_non_null(x);
    for (int64_t r = 0; r < e->input.rows; r++)
        for (int64_t c = 0; c < ld; c++) {
            double v = c < e->n_features ? e->input.v[r * e->n_features + c] : NAN;
            if (dt == MLI_F64)
                ((double *)x)[r * ld + c] = v;
            else
                ((float *)x)[r * ld + c] = (float)v;
        }
    return x;
}

static void check_predictions(const mli_model *m, const mt_expected *e, int64_t ld, mli_dtype dt)
{
    char what[160];
    const int64_t rows = e->input.rows;
    void *x = make_input(e, ld, dt);
    size_t cap = (size_t)(rows * 16 + 1);
    double *out = malloc(cap * sizeof(double));
    assert_non_null(out);
    const char *tag = dt == MLI_F64 ? "f64" : "f32";

    for (size_t i = 0; i < cap; i++)
        out[i] = -777.0;
    assert_int_equal(mli_model_predict(m, x, dt, rows, ld, out, (int64_t)cap), MLI_OK);
    snprintf(what, sizeof what, "%s predict (%s, ldx %lld)", e->name, tag, (long long)ld);
    if (e->classification)
        mt_assert_equal(what, out, &e->predict);
    else
        mt_assert_close(what, out, &e->predict);
    assert_true(out[rows * e->n_outputs] == -777.0); /* nothing written past the outputs */

    if (e->has_proba) {
        assert_int_equal(mli_model_predict_proba(m, x, dt, rows, ld, out, rows * e->n_classes), MLI_OK);
        snprintf(what, sizeof what, "%s predict_proba (%s, ldx %lld)", e->name, tag, (long long)ld);
        mt_assert_close(what, out, &e->proba);
        for (int64_t r = 0; r < rows; r++) {
            double sum = 0;
            for (int64_t k = 0; k < e->n_classes; k++)
                sum += out[r * e->n_classes + k];
            assert_true(fabs(sum - 1.0) < 1e-9);
        }
    }
    if (e->n_decision > 0) {
        assert_int_equal(mli_model_decision_function(m, x, dt, rows, ld, out, rows * e->n_decision), MLI_OK);
        snprintf(what, sizeof what, "%s decision_function (%s, ldx %lld)", e->name, tag, (long long)ld);
        mt_assert_close(what, out, &e->decision);
    }

    /* One row at a time takes the single-row path: the same answers. */
    double one[16];
    for (int64_t r = 0; r < rows; r++) {
        const void *xr = (const char *)x + (size_t)(r * ld) * (dt == MLI_F64 ? 8 : 4);
        assert_int_equal(mli_model_predict(m, xr, dt, 1, e->n_features, one, 16), MLI_OK);
        for (int64_t o = 0; o < e->n_outputs; o++) {
            double w = e->predict.v[r * e->n_outputs + o];
            if (e->classification ? one[o] != w : !(fabs(one[o] - w) <= MT_RTOL * fabs(w) + MT_ATOL))
                fail_msg("%s single-row predict (%s) row %lld: got %.17g want %.17g", e->name, tag, (long long)r,
                         one[o], w);
        }
    }
    free(out);
    free(x);
}

static void check_model(const char *name, load_how how)
{
    mt_expected e;
    mt_expected_load(name, &e);
    mli_model *m = load_golden(name, how);
    check_metadata(m, &e);
    for (int dt = MLI_F32; dt <= MLI_F64; dt++) {
        check_predictions(m, &e, e.n_features, (mli_dtype)dt);
        check_predictions(m, &e, e.n_features + 3, (mli_dtype)dt);
    }
    mli_model_free(m);
    mt_expected_free(&e);
}

static void test_golden_from_path(void **state)
{
    (void)state;
    for (size_t i = 0; i < MT_N_GOLDEN; i++)
        check_model(mt_golden[i], LOAD_PATH);
}

static void test_golden_from_memory(void **state)
{
    (void)state;
    for (size_t i = 0; i < MT_N_GOLDEN; i++)
        check_model(mt_golden[i], LOAD_MEMORY);
}

/* The same file loaded from its path (memory-mapped, or inflated when compressed) and
 * from memory gives bit-identical outputs. */
static void test_path_and_memory_agree(void **state)
{
    (void)state;
    for (size_t i = 0; i < MT_N_GOLDEN; i++) {
        mt_expected e;
        mt_expected_load(mt_golden[i], &e);
        mli_model *a = load_golden(mt_golden[i], LOAD_PATH), *b = load_golden(mt_golden[i], LOAD_MEMORY);
        int64_t n = e.input.rows * (e.has_proba ? e.n_classes : e.n_outputs);
        double *oa = calloc((size_t)n, sizeof(double)), *ob = calloc((size_t)n, sizeof(double));
        assert_true(oa && ob);
        if (e.has_proba) {
            assert_int_equal(mli_model_predict_proba(a, e.input.v, MLI_F64, e.input.rows, e.n_features, oa, n), MLI_OK);
            assert_int_equal(mli_model_predict_proba(b, e.input.v, MLI_F64, e.input.rows, e.n_features, ob, n), MLI_OK);
        } else {
            assert_int_equal(mli_model_predict(a, e.input.v, MLI_F64, e.input.rows, e.n_features, oa, n), MLI_OK);
            assert_int_equal(mli_model_predict(b, e.input.v, MLI_F64, e.input.rows, e.n_features, ob, n), MLI_OK);
        }
        assert_memory_equal(oa, ob, (size_t)n * sizeof(double));
        free(oa);
        free(ob);
        mli_model_free(a);
        mli_model_free(b);
        mt_expected_free(&e);
    }
}

/* NaN input propagates as scikit-learn's arithmetic would: a NaN regression output. */
static void test_nan_input_is_refused(void **state)
{
    (void)state;
    mli_model *m = load_golden("ridge_multi", LOAD_PATH);
    /* a linear model cannot take NaN (scikit-learn refuses it): the first bad row is named */
    double x[12] = {0.5, 0.1, 0.1, 0.2, 0.3, 0.4, 0.5, NAN, 0.1, 0.2, 0.3, 0.4}, out[6];
    assert_int_equal(mli_model_predict(m, x, MLI_F64, 2, 6, out, 6), MLI_ERR_INPUT);
    mt_assert_error_mentions("row 1, column 1");
    mt_assert_error_mentions("missing value (NaN)");
    float xf[6] = {0.5f, 0.1f, 0.1f, 0.2f, 0.3f, -INFINITY};
    assert_int_equal(mli_model_predict(m, xf, MLI_F32, 1, 6, out, 6), MLI_ERR_INPUT);
    mt_assert_error_mentions("row 0, column 5");
    mt_assert_error_mentions("infinite value");
    /* the rows without it predict */
    assert_int_equal(mli_model_predict(m, x, MLI_F64, 1, 6, out, 6), MLI_OK);
    for (int i = 0; i < 3; i++)
        assert_true(isfinite(out[i]));
    mli_model_free(m);
}

/* ---- bad arguments -------------------------------------------------------------------- */

typedef mli_status (*predict_fn)(const mli_model *, const void *, mli_dtype, int64_t, int64_t, double *, int64_t);

static void check_bad_args(predict_fn fn, const char *fn_name, const mli_model *m, int64_t cols)
{
    double x[2 * 10] = {0}, out[64];
    const int64_t nf = mli_model_n_features(m);

    assert_int_equal(fn(NULL, x, MLI_F64, 1, nf, out, 64), MLI_ERR_INVALID_ARGUMENT);
    mt_assert_error_mentions(fn_name);
    mt_assert_error_mentions("model is NULL");

    assert_int_equal(fn(m, NULL, MLI_F64, 1, nf, out, 64), MLI_ERR_INVALID_ARGUMENT);
    mt_assert_error_mentions("x is NULL");

    assert_int_equal(fn(m, x, MLI_F64, 1, nf, NULL, 64), MLI_ERR_INVALID_ARGUMENT);
    mt_assert_error_mentions("out is NULL");

    assert_int_equal(fn(m, x, MLI_F64, -1, nf, out, 64), MLI_ERR_INVALID_ARGUMENT);
    mt_assert_error_mentions("rows (-1) is negative");

    assert_int_equal(fn(m, x, MLI_F64, 1, nf - 1, out, 64), MLI_ERR_SHAPE);
    mt_assert_error_mentions("ldx");

    assert_int_equal(fn(m, x, (mli_dtype)7, 1, nf, out, 64), MLI_ERR_INVALID_ARGUMENT);
    mt_assert_error_mentions("dtype (7)");

    assert_int_equal(fn(m, x, MLI_F64, 2, nf, out, 2 * cols - 1), MLI_ERR_SHAPE);
    mt_assert_error_mentions("out holds");

    assert_int_equal(fn(m, x, MLI_F64, INT64_MAX / 2, nf, out, 64), MLI_ERR_INVALID_ARGUMENT);
    mt_assert_error_mentions("overflow");

    /* rows == 0 is valid and touches nothing, not even NULL buffers */
    assert_int_equal(fn(m, NULL, MLI_F64, 0, nf, NULL, 0), MLI_OK);
    /* out_len exactly right is enough */
    assert_int_equal(fn(m, x, MLI_F64, 2, nf, out, 2 * cols), MLI_OK);
}

static void test_bad_predict_arguments(void **state)
{
    (void)state;
    mli_model *lr = load_golden("logreg_binary", LOAD_MEMORY);
    check_bad_args(mli_model_predict, "mli_model_predict", lr, 1);
    check_bad_args(mli_model_predict_proba, "mli_model_predict_proba", lr, 2);
    check_bad_args(mli_model_decision_function, "mli_model_decision_function", lr, 1);
    mli_model_free(lr);

    /* A regressor has neither predict_proba nor decision_function; an MLP classifier has no
     * decision_function. */
    double x[10] = {0}, out[8];
    mli_model *ridge = load_golden("ridge_multi", LOAD_MEMORY);
    assert_int_equal(mli_model_predict_proba(ridge, x, MLI_F64, 1, 6, out, 8), MLI_ERR_UNSUPPORTED);
    mt_assert_error_mentions("has no predict_proba");
    mt_assert_error_mentions("Ridge");
    assert_int_equal(mli_model_decision_function(ridge, x, MLI_F64, 1, 6, out, 8), MLI_ERR_UNSUPPORTED);
    mt_assert_error_mentions("has no decision_function");
    assert_int_equal(mli_model_n_decision(ridge), 0);
    mli_model_free(ridge);

    mli_model *mlp = load_golden("mlp_pipeline", LOAD_MEMORY);
    assert_int_equal(mli_model_decision_function(mlp, x, MLI_F64, 1, 10, out, 8), MLI_ERR_UNSUPPORTED);
    mt_assert_error_mentions("has no decision_function");
    mli_model_free(mlp);
}

static void test_null_model_metadata(void **state)
{
    (void)state;
    mli_model_free(NULL); /* a no-op */
    assert_int_equal(mli_model_n_features(NULL), 0);
    assert_int_equal(mli_model_n_outputs(NULL), 0);
    assert_int_equal(mli_model_n_classes(NULL), 0);
    assert_int_equal(mli_model_n_decision(NULL), 0);
    assert_int_equal(mli_model_has_proba(NULL), 0);
    assert_int_equal(mli_model_labels_are_strings(NULL), 0);
    assert_null(mli_model_meta(NULL, "task"));
    int64_t v;
    assert_int_equal(mli_model_class_label_int(NULL, 0, &v), MLI_ERR_INVALID_ARGUMENT);
    mt_assert_error_mentions("model is NULL");
}

/* Feature names: LightGBM's model text names its columns (the importer writes them as the
 * feature_names section); a scikit-learn model fitted on an array has none. */
static void test_feature_names(void **state)
{
    (void)state;
    mli_model *lgb = load_golden("lgb_multi", LOAD_PATH);
    const char *name = NULL;
    char want[32];
    for (int64_t i = 0; i < mli_model_n_features(lgb); i++) {
        assert_int_equal(mli_model_feature_name(lgb, i, &name), MLI_OK);
        snprintf(want, sizeof want, "Column_%lld", (long long)i);
        assert_string_equal(name, want);
    }
    assert_int_equal(mli_model_feature_name(lgb, mli_model_n_features(lgb), &name), MLI_ERR_INVALID_ARGUMENT);
    mt_assert_error_mentions("feature index 7 is outside 0..6");
    assert_int_equal(mli_model_feature_name(lgb, -1, &name), MLI_ERR_INVALID_ARGUMENT);
    assert_int_equal(mli_model_feature_name(lgb, 0, NULL), MLI_ERR_INVALID_ARGUMENT);
    mt_assert_error_mentions("out is NULL");
    assert_int_equal(mli_model_feature_name(NULL, 0, &name), MLI_ERR_INVALID_ARGUMENT);
    mt_assert_error_mentions("model is NULL");
    mli_model_free(lgb);

    mli_model *plain = load_golden("logreg_binary", LOAD_MEMORY);
    assert_int_equal(mli_model_feature_name(plain, 0, &name), MLI_ERR_UNSUPPORTED);
    mt_assert_error_mentions("records no feature names");
    mli_model_free(plain);
}

/* ---- bad loads ------------------------------------------------------------------------ */

static void test_load_bad_paths(void **state)
{
    (void)state;
    mli_model *m = (mli_model *)(uintptr_t)1;
    char path[1024];
    mt_path(path, sizeof path, "no_such_model.mli");
    assert_int_equal(mli_model_load(path, &m), MLI_ERR_IO);
    assert_null(m);
    mt_assert_error_mentions("no_such_model.mli");
    mt_assert_error_mentions("cannot open");

    m = (mli_model *)(uintptr_t)1;
    assert_int_equal(mli_model_load(MLI_TEST_DATA_DIR, &m), MLI_ERR_IO);
    assert_null(m);
    mt_assert_error_mentions("is a directory");

    assert_int_equal(mli_model_load("/dev/null", &m), MLI_ERR_IO);
    mt_assert_error_mentions("not a regular file");

    assert_int_equal(mli_model_load(NULL, &m), MLI_ERR_INVALID_ARGUMENT);
    mt_assert_error_mentions("path is NULL");
    mt_path(path, sizeof path, "logreg_binary.mli");
    assert_int_equal(mli_model_load(path, NULL), MLI_ERR_INVALID_ARGUMENT);
    mt_assert_error_mentions("out is NULL");

    assert_int_equal(mli_model_load_memory(NULL, 10, &m), MLI_ERR_INVALID_ARGUMENT);
    mt_assert_error_mentions("data is NULL");
    assert_int_equal(mli_model_load_memory("x", 1, NULL), MLI_ERR_INVALID_ARGUMENT);
    assert_int_equal(mli_model_load_memory(NULL, 0, &m), MLI_ERR_CORRUPT);
    assert_null(m);
}

/* A model stays valid after the caller's buffer is gone and many models coexist. */
static void test_many_models(void **state)
{
    (void)state;
    mli_model *ms[32];
    for (int i = 0; i < 32; i++)
        ms[i] = load_golden(mt_golden[(size_t)i % MT_N_GOLDEN], i % 2 ? LOAD_MEMORY : LOAD_PATH);
    for (int i = 31; i >= 0; i--)
        mli_model_free(ms[i]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_golden_from_path),
        cmocka_unit_test(test_golden_from_memory),
        cmocka_unit_test(test_path_and_memory_agree),
        cmocka_unit_test(test_nan_input_is_refused),
        cmocka_unit_test(test_bad_predict_arguments),
        cmocka_unit_test(test_null_model_metadata),
        cmocka_unit_test(test_feature_names),
        cmocka_unit_test(test_load_bad_paths),
        cmocka_unit_test(test_many_models),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
