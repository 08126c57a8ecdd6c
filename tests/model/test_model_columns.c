/* test_model_columns.c — mli_model_predict_columns on a pipeline with string columns
 * (tests/data/prep_strings.mli: one-hot with handle_unknown='error', an imputer + one-hot
 * with an infrequent group, an ordinal encoder, passthrough numbers, then
 * HistGradientBoosting): scikit-learn's outputs for plain UTF-8 and dictionary columns in
 * any order; the schema calls; every input error named; and the prep stage's validation
 * under every single-bit flip and truncation of its payloads with the CRCs fixed up, so the
 * checks behind the CRCs see them (a load fails with a message, or the model predicts). */
#define _POSIX_C_SOURCE 200809L
#include <zlib.h>

#include "columns_testutil.h"

#define MODEL "prep_strings.mli"
#define TABLE "prep_strings.columns.txt"

static mli_model *load_model(void) {
    char path[1024];
    mt_path(path, sizeof path, MODEL);
    mli_model *m = NULL;
    if (mli_model_load(path, &m) != MLI_OK)
        fail_msg("%s: %s", path, mli_last_error());
    return m;
}

/* HistGradientBoosting is float64 throughout: the same leaves, sums equal to rounding. */
static void assert_proba(const ct_table *t, const double *got, int utf8) {
    for (int64_t r = 0; r < t->rows; ++r) {
        if (utf8 && ct_row_has_none(t, r))
            continue;
        for (int64_t k = 0; k < t->proba.cols; ++k) {
            double w = t->proba.v[r * t->proba.cols + k], g = got[r * t->proba.cols + k];
            if (!(fabs(g - w) <= 1e-12 + 1e-12 * fabs(w)))
                fail_msg("row %lld class %lld: got %.17g, scikit-learn %.17g", (long long)r, (long long)k, g, w);
        }
    }
}

static void test_columns_match_sklearn(void **state) {
    (void)state;
    mli_model *m = load_model();
    ct_table t;
    ct_load(TABLE, &t, 1);
    mli_column cols[CT_MAX_COLS];
    double out[256], pred[64];
    for (int dict = 0; dict < 2; ++dict)
        for (int rev = 0; rev < 2; ++rev) {
            ct_columns(&t, dict, rev, cols);
            assert_int_equal(mli_model_predict_columns(m, cols, t.n_cols, t.rows, MLI_OUTPUT_PROBA, out, 256), MLI_OK);
            assert_proba(&t, out, !dict);
            assert_int_equal(mli_model_predict_columns(m, cols, t.n_cols, t.rows, MLI_OUTPUT_PREDICT, pred, 64),
                             MLI_OK);
            for (int64_t r = 0; dict && r < t.rows; ++r)
                assert_true(pred[r] == t.predict.v[r]);
            /* one row at a time: the same numbers */
            for (int64_t r = 0; r < t.rows; ++r) {
                mli_column one[CT_MAX_COLS];
                ct_columns(&t, dict, rev, one);
                for (int64_t c = 0; c < t.n_cols; ++c) {
                    int64_t mc = rev ? t.n_cols - 1 - c : c;
                    if (!t.is_string[mc]) {
                        one[c].values = t.num[mc] + r;
                        one[c].validity = (t.validity[mc][r / 8] >> (r % 8)) & 1 ? NULL : (const uint8_t *)"\0";
                    } else if (dict) {
                        one[c].values = t.codes[mc] + r;
                    } else {
                        one[c].offsets = t.offsets[mc] + r;
                        one[c].validity = (t.validity[mc][r / 8] >> (r % 8)) & 1 ? NULL : (const uint8_t *)"\0";
                    }
                }
                double p1[16];
                assert_int_equal(mli_model_predict_columns(m, one, t.n_cols, 1, MLI_OUTPUT_PROBA, p1, 16), MLI_OK);
                assert_memory_equal(p1, out + r * t.proba.cols, sizeof(double) * (size_t)t.proba.cols);
            }
        }
    ct_free(&t);
    mli_model_free(m);
}

static void test_schema(void **state) {
    (void)state;
    mli_model *m = load_model();
    static const char *const names[] = {"age", "spend", "plan", "city", "dev"};
    static const mli_column_kind kinds[] = {MLI_COLUMN_NUMBER, MLI_COLUMN_NUMBER, MLI_COLUMN_STRING, MLI_COLUMN_STRING,
                                            MLI_COLUMN_STRING};
    assert_int_equal(mli_model_n_features(m), 5);
    for (int64_t i = 0; i < 5; ++i) {
        int64_t idx = -1;
        mli_column_kind k;
        assert_int_equal(mli_model_column_index(m, names[i], &idx), MLI_OK);
        assert_int_equal(idx, i);
        assert_int_equal(mli_model_column_kind(m, i, &k), MLI_OK);
        assert_int_equal(k, kinds[i]);
    }
    int64_t idx;
    mli_column_kind k;
    assert_int_equal(mli_model_column_index(m, "nope", &idx), MLI_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(mli_last_error(), "'nope'"));
    assert_int_equal(mli_model_column_kind(m, 5, &k), MLI_ERR_INVALID_ARGUMENT);
    assert_int_equal(mli_model_column_index(NULL, "age", &idx), MLI_ERR_INVALID_ARGUMENT);
    /* rows of numbers cannot carry strings */
    double x[5] = {0}, out[3];
    assert_int_equal(mli_model_predict(m, x, MLI_F64, 1, 5, out, 3), MLI_ERR_UNSUPPORTED);
    assert_non_null(strstr(mli_last_error(), "'plan'"));
    mli_model_free(m);
}

#define EXPECT_FAIL(call, status, text)                                                                                \
    do {                                                                                                               \
        mli_status st_ = (call);                                                                                       \
        if (st_ != (status) || !strstr(mli_last_error(), text))                                                        \
            fail_msg("%s: got %d '%s', want %d with '%s'", #call, st_, mli_last_error(), status, text);                \
    } while (0)

static void test_input_errors(void **state) {
    (void)state;
    mli_model *m = load_model();
    ct_table t;
    ct_load(TABLE, &t, 1);
    mli_column cols[CT_MAX_COLS];
    double out[256];
    const int64_t n = t.n_cols, rows = t.rows;
    /* an unknown plan (handle_unknown='error'), as a dictionary entry used by row 4 */
    ct_columns(&t, 1, 0, cols);
    int32_t codes[64];
    static const int64_t off[3] = {0, 5, 9};
    for (int64_t r = 0; r < rows; ++r)
        codes[r] = r == 4 || r == 7 ? 1 : 0;
    cols[2].values = codes;
    cols[2].offsets = off;
    cols[2].dict_bytes = "basicgold";
    cols[2].n_dict = 2;
    EXPECT_FAIL(mli_model_predict_columns(m, cols, n, rows, MLI_OUTPUT_PROBA, out, 256), MLI_ERR_INPUT,
                "column 'plan', row 4: unknown category 'gold'");
    /* the same as a UTF-8 column; the first bad row is named even when later rows are bad too */
    ct_columns(&t, 0, 0, cols);
    static const char bytes[] = "goldbasicgold";
    int64_t offs[64] = {0};
    for (int64_t r = 0; r < rows; ++r)
        offs[r + 1] = r == 6 ? 4 : r < 6 ? 0 : r == 7 ? 9 : r == 9 ? 13 : offs[r];
    for (int64_t r = 0; r < rows; ++r) /* rows 0..5 empty strings: unknown too */
        if (offs[r + 1] < offs[r])
            offs[r + 1] = offs[r];
    cols[2].values = bytes;
    cols[2].offsets = offs;
    cols[2].validity = NULL;
    EXPECT_FAIL(mli_model_predict_columns(m, cols, n, rows, MLI_OUTPUT_PREDICT, out, 256), MLI_ERR_INPUT,
                "column 'plan', row 0: unknown category ''");
    /* a missing plan: the encoder never saw one and takes none */
    ct_columns(&t, 0, 0, cols);
    uint8_t valid[8] = {0xff, 0xf7, 0xff, 0xff};
    cols[2].validity = valid;
    EXPECT_FAIL(mli_model_predict_columns(m, cols, n, rows, MLI_OUTPUT_PREDICT, out, 256), MLI_ERR_INPUT,
                "column 'plan', row 11: a missing value");
    /* a missing column, a column twice, an unknown name, numbers for strings, a bad code */
    ct_columns(&t, 1, 0, cols);
    EXPECT_FAIL(mli_model_predict_columns(m, cols, n - 1, rows, MLI_OUTPUT_PREDICT, out, 256), MLI_ERR_INVALID_ARGUMENT,
                "column 'dev' (strings) is missing");
    cols[4] = cols[0];
    EXPECT_FAIL(mli_model_predict_columns(m, cols, n, rows, MLI_OUTPUT_PREDICT, out, 256), MLI_ERR_INVALID_ARGUMENT,
                "column 'age' is given twice");
    ct_columns(&t, 1, 0, cols);
    cols[4].name = "colour";
    EXPECT_FAIL(mli_model_predict_columns(m, cols, n, rows, MLI_OUTPUT_PREDICT, out, 256), MLI_ERR_INVALID_ARGUMENT,
                "'colour', which the model does not have");
    ct_columns(&t, 1, 0, cols);
    cols[3].type = MLI_COLUMN_F64;
    cols[3].values = t.num[0];
    EXPECT_FAIL(mli_model_predict_columns(m, cols, n, rows, MLI_OUTPUT_PREDICT, out, 256), MLI_ERR_INPUT,
                "column 'city' holds strings in this model but was given as float64");
    ct_columns(&t, 1, 0, cols);
    cols[0].type = MLI_COLUMN_UTF8;
    EXPECT_FAIL(mli_model_predict_columns(m, cols, n, rows, MLI_OUTPUT_PREDICT, out, 256), MLI_ERR_INPUT,
                "column 'age' holds numbers");
    ct_columns(&t, 1, 0, cols);
    memcpy(codes, t.codes[4], sizeof(int32_t) * (size_t)rows);
    codes[9] = (int32_t)t.n_dict[4];
    cols[4].values = codes;
    EXPECT_FAIL(mli_model_predict_columns(m, cols, n, rows, MLI_OUTPUT_PREDICT, out, 256), MLI_ERR_INVALID_ARGUMENT,
                "column 'dev', row 9: code");
    ct_columns(&t, 0, 0, cols);
    int64_t bad[64];
    memcpy(bad, t.offsets[3], sizeof(int64_t) * (size_t)(rows + 1));
    bad[5] = bad[6] + 1;
    cols[3].offsets = bad;
    EXPECT_FAIL(mli_model_predict_columns(m, cols, n, rows, MLI_OUTPUT_PREDICT, out, 256), MLI_ERR_INVALID_ARGUMENT,
                "column 'city': string offsets 5..6");
    /* sizes and outputs */
    ct_columns(&t, 1, 0, cols);
    EXPECT_FAIL(mli_model_predict_columns(m, cols, n, rows, MLI_OUTPUT_PROBA, out, 3), MLI_ERR_SHAPE, "out holds 3");
    EXPECT_FAIL(mli_model_predict_columns(m, cols, n, rows, (mli_output)9, out, 256), MLI_ERR_INVALID_ARGUMENT,
                "what (9)");
    EXPECT_FAIL(mli_model_predict_columns(m, NULL, n, rows, MLI_OUTPUT_PREDICT, out, 256), MLI_ERR_INVALID_ARGUMENT,
                "columns is NULL");
    assert_int_equal(mli_model_predict_columns(m, cols, n, 0, MLI_OUTPUT_PREDICT, NULL, 0), MLI_OK);
    ct_free(&t);
    mli_model_free(m);
}

/* ---- the prep stage's checks under mutation ---------------------------------------------- */

static uint64_t rd64(const uint8_t *p) {
    uint64_t v = 0;
    for (int i = 7; i >= 0; --i)
        v = v << 8 | p[i];
    return v;
}

static void wr32(uint8_t *p, uint32_t v) {
    for (int i = 0; i < 4; ++i)
        p[i] = (uint8_t)(v >> (8 * i));
}

/* Recomputes the CRC of section s, of the table and of the header. */
static void fix_crcs(uint8_t *f, uint32_t s) {
    uint32_t n = (uint32_t)f[16] | (uint32_t)f[17] << 8 | (uint32_t)f[18] << 16 | (uint32_t)f[19] << 24;
    uint8_t *e = f + 64 + 64 * s;
    wr32(e + 36, (uint32_t)crc32(0, f + rd64(e + 40), (uInt)rd64(e + 48)));
    wr32(f + 40, (uint32_t)crc32(0, f + 64, 64 * n));
    wr32(f + 60, (uint32_t)crc32(0, f, 60));
}

static int mutated_loads(const uint8_t *bytes, size_t size, const ct_table *t) {
    mli_model *m = NULL;
    mli_status st = mli_model_load_memory(bytes, size, &m);
    if (st != MLI_OK) {
        if (!mli_last_error()[0] || m)
            fail_msg("a failed load without a message or with a model");
        return 0;
    }
    mli_column cols[CT_MAX_COLS];
    double out[1024];
    for (int dict = 0; dict < 2; ++dict) {
        ct_columns(t, dict, 0, cols);
        for (int what = 0; what < 4; ++what) {
            if (mli_model_output_len(m, (mli_output)what) * t->rows > 1024)
                continue;
            st = mli_model_predict_columns(m, cols, t->n_cols, t->rows, (mli_output)what, out, 1024);
            if (st != MLI_OK && !mli_last_error()[0])
                fail_msg("predict failed without a message");
        }
    }
    mli_model_free(m);
    return 1;
}

static void test_prep_sections_mutated(void **state) {
    (void)state;
    size_t size;
    uint8_t *orig = mt_read_file(MODEL, &size);
    uint8_t *f = malloc(size);
    ct_table t;
    ct_load(TABLE, &t, 1);
    uint32_t n = (uint32_t)orig[16] | (uint32_t)orig[17] << 8;
    size_t flips = 0, loaded = 0;
    for (uint32_t s = 0; s < n; ++s) {
        const uint8_t *e = orig + 64 + 64 * s;
        if (strncmp((const char *)e, "stage.0.", 8) != 0 || (e[33] & 1)) /* the prep stage's plain sections */
            continue;
        uint64_t off = rd64(e + 40), len = rd64(e + 48);
        for (uint64_t at = off; at < off + len; ++at)
            for (int bit = 0; bit < 8; ++bit) {
                memcpy(f, orig, size);
                f[at] ^= (uint8_t)(1u << bit);
                fix_crcs(f, s);
                loaded += (size_t)mutated_loads(f, size, &t);
                flips++;
            }
    }
    printf("prep sections: %zu bit flips with CRCs fixed, %zu still loaded (and predicted)\n", flips, loaded);
    assert_true(flips > 5000);
    free(f);
    free(orig);
    ct_free(&t);
}

/* The same for prep_linalg.mli (a feature selector's finite checks, a poly op, a project op
 * after an imputer), predicted from its rows of numbers: every single-bit flip of the prep
 * stage's ops, params and out, with the CRCs fixed up, fails to load with a message or loads
 * and predicts (or refuses a row with a message) -- the group checks of build.c: n_in, term
 * factors and parents, finite weights and non-zero scales. */
static void test_prep_group_ops_mutated(void **state) {
    (void)state;
    size_t size;
    uint8_t *orig = mt_read_file("prep_linalg.mli", &size);
    uint8_t *f = malloc(size);
    mt_expected e;
    mt_expected_load("prep_linalg", &e);
    uint32_t n = (uint32_t)orig[16] | (uint32_t)orig[17] << 8;
    size_t flips = 0, loaded = 0;
    double out[64];
    for (uint32_t s = 0; s < n; ++s) {
        const uint8_t *en = orig + 64 + 64 * s;
        if (strncmp((const char *)en, "stage.0.", 8) != 0 || (en[33] & 1))
            continue;
        uint64_t off = rd64(en + 40), len = rd64(en + 48);
        for (uint64_t at = off; at < off + len; ++at)
            for (int bit = 0; bit < 8; ++bit) {
                memcpy(f, orig, size);
                f[at] ^= (uint8_t)(1u << bit);
                fix_crcs(f, s);
                flips++;
                mli_model *m = NULL;
                if (mli_model_load_memory(f, size, &m) != MLI_OK) {
                    if (!mli_last_error()[0] || m)
                        fail_msg("a failed load without a message or with a model");
                    continue;
                }
                loaded++;
                typedef mli_status (*predict_fn)(const mli_model *, const void *, mli_dtype, int64_t, int64_t, double *,
                                                 int64_t);
                static const predict_fn fns[] = {mli_model_predict, mli_model_predict_proba,
                                                 mli_model_decision_function, mli_model_predict_raw};
                for (int k = 0; k < 4; ++k) {
                    mli_status st = fns[k](m, e.input.v, MLI_F64, e.input.rows, e.input.cols, out, 64);
                    if (st != MLI_OK && !mli_last_error()[0])
                        fail_msg("predict failed without a message");
                }
                mli_model_free(m);
            }
    }
    printf("prep_linalg sections: %zu bit flips with CRCs fixed, %zu still loaded (and predicted)\n", flips, loaded);
    assert_true(flips > 5000);
    mt_expected_free(&e);
    free(f);
    free(orig);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_columns_match_sklearn),  cmocka_unit_test(test_schema),
        cmocka_unit_test(test_input_errors),           cmocka_unit_test(test_prep_sections_mutated),
        cmocka_unit_test(test_prep_group_ops_mutated),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
