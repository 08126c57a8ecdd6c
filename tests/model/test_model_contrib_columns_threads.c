/* test_model_contrib_columns_threads.c — contributions per input column through a prep stage
 * (mli_model_predict_contrib_columns, mli_model_contrib_column) on tests/data/prep_contrib.mli
 * (HistGradientBoosting, 3 classes) and prep_contrib_linear.mli (LogisticRegression with
 * background data), both after a ColumnTransformer of imputer + indicator + scaler, one-hot
 * of strings with None / NaN, an ordinal encoder with unknown values, and an l1 Normalizer
 * mixing two columns (make_models.py --contrib): the column map and names; the sum rule
 * (contributions plus bias equal the raw scores of mli_model_predict_columns, 1e-5 relative
 * to the sum of |contributions|; the linear model's raw scores are float32) on every row of
 * random data with missing values and unknown categories; a row alone gives the bits of the
 * batch, a validity bitmap the bits of NaN; 16 threads on one model, 1-row and 300-row calls
 * started together, give the bits of the sequential run (TSan: ctest -R threads); and the
 * errors. Agreement with shap, XGBoost and LightGBM is tests/python/test_contrib_pipelines.py. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <pthread.h>
#include <string.h>

#include "model_testutil.h"

#define N_THREADS 16
#define ROWS 300
#define ITERATIONS 6
#define N_COLS 6
#define N_GROUPS 8 /* 6 input columns, then the Normalizer's 2 outputs */

static const char *const names[N_GROUPS] = {
    "age", "spend", "plan", "city", "a", "b", "transformed:norm__a", "transformed:norm__b"};

/* The input, column by column: age (NaN ~10 %), spend, plan (dictionary codes: known, an
 * unknown entry, null, None), city (UTF-8, one in 8 unknown), a, b. */
typedef struct {
    double age[ROWS], spend[ROWS], a[ROWS], b[ROWS];
    int32_t plan[ROWS];
    char city_bytes[ROWS * 8];
    int64_t city_off[ROWS + 1];
    uint8_t age_valid[(ROWS + 7) / 8];
    double age_filled[ROWS]; /* NaN replaced by 0, the bitmap marks them */
} input;

static const char plan_dict[] = "basicpluspro"
                                "gold";
static const int64_t plan_off[] = {0, 5, 9, 12, 16};

static uint64_t lcg(uint64_t *s) {
    *s = *s * 6364136223846793005ULL + 1442695040888963407ULL;
    return *s >> 11;
}

static void make_input(input *in) {
    static const char *const cities[] = {"oslo", "rome", "lima", "paris"};
    uint64_t s = 77;
    int64_t at = 0;
    memset(in->age_valid, 0, sizeof in->age_valid);
    in->city_off[0] = 0;
    for (int r = 0; r < ROWS; r++) {
        double u = (double)lcg(&s) / 9007199254740992.0;
        in->age[r] = u < 0.1 ? NAN : 20.0 + 50.0 * u;
        in->age_filled[r] = isnan(in->age[r]) ? 0.0 : in->age[r];
        if (!isnan(in->age[r]))
            in->age_valid[r / 8] |= (uint8_t)(1u << (r % 8));
        in->spend[r] = (double)(lcg(&s) % 20000) / 100.0;
        in->a[r] = (double)(lcg(&s) % 1000) / 1000.0;
        in->b[r] = (double)(lcg(&s) % 1000) / 1000.0;
        uint64_t p = lcg(&s) % 12;
        in->plan[r] = p < 8 ? (int32_t)(p % 3) : p < 9 ? 3 : p < 10 ? MLI_CODE_NULL : p < 11 ? MLI_CODE_NONE : 0;
        const char *c = cities[lcg(&s) % 8 == 0 ? 3 : lcg(&s) % 3];
        memcpy(in->city_bytes + at, c, strlen(c));
        at += (int64_t)strlen(c);
        in->city_off[r + 1] = at;
    }
}

/* Columns for rows [r, r + n) (given in reverse order: order does not matter). */
static void columns_at(const input *in, int64_t r, int bitmap, mli_column *cols) {
    memset(cols, 0, sizeof(mli_column) * N_COLS);
    cols[5] = (mli_column){.name = "age",
                           .type = MLI_COLUMN_F64,
                           .values = (bitmap ? in->age_filled : in->age) + r,
                           .validity = bitmap ? in->age_valid : NULL};
    cols[4] = (mli_column){.name = "spend", .type = MLI_COLUMN_F64, .values = in->spend + r};
    cols[3] = (mli_column){.name = "plan",
                           .type = MLI_COLUMN_DICT_UTF8,
                           .values = in->plan + r,
                           .offsets = plan_off,
                           .dict_bytes = plan_dict,
                           .n_dict = 4};
    cols[2] =
        (mli_column){.name = "city", .type = MLI_COLUMN_UTF8, .values = in->city_bytes, .offsets = in->city_off + r};
    cols[1] = (mli_column){.name = "a", .type = MLI_COLUMN_F64, .values = in->a + r};
    cols[0] = (mli_column){.name = "b", .type = MLI_COLUMN_F64, .values = in->b + r};
}

typedef struct {
    const mli_model *m;
    const input *in;
    int64_t width;
    const double *ref;
    pthread_barrier_t start;
} shared_state;

typedef struct {
    shared_state *s;
    int id, failures;
} worker;

static void *work(void *arg) {
    worker *w = arg;
    shared_state *s = w->s;
    double *out = malloc(sizeof(double) * (size_t)(ROWS * s->width));
    mli_column cols[N_COLS];
    if (!out) {
        w->failures++;
        return NULL;
    }
    pthread_barrier_wait(&s->start);
    for (int it = 0; it < ITERATIONS; it++) {
        if ((w->id + it) % 3 == 0) {
            columns_at(s->in, 0, 0, cols);
            if (mli_model_predict_contrib_columns(s->m, cols, N_COLS, ROWS, out, ROWS * s->width) ||
                memcmp(out, s->ref, sizeof(double) * (size_t)(ROWS * s->width)))
                w->failures++;
        } else {
            for (int j = 0; j < 10; j++) {
                int64_t r = (w->id * 37 + it * 101 + j * 13) % ROWS;
                columns_at(s->in, r, 0, cols);
                if (mli_model_predict_contrib_columns(s->m, cols, N_COLS, 1, out, s->width) ||
                    memcmp(out, s->ref + r * s->width, sizeof(double) * (size_t)s->width))
                    w->failures++;
            }
        }
    }
    free(out);
    return NULL;
}

static mli_model *load(const char *name) {
    char rel[256], path[1024];
    mt_model_file(rel, sizeof rel, name);
    mt_path(path, sizeof path, rel);
    mli_model *m = NULL;
    assert_int_equal(mli_model_load(path, &m), MLI_OK);
    return m;
}

static void check_model(const char *name, int threads) {
    mli_model *m = load(name);
    static input in;
    make_input(&in);
    int64_t n_raw = mli_model_n_raw(m), width = mli_model_n_contrib(m);
    assert_int_equal(n_raw, 3);
    assert_int_equal(width, (N_GROUPS + 1) * n_raw);
    /* the map: input columns by position and name, then the mixed features */
    for (int64_t i = 0; i < N_GROUPS; i++) {
        int64_t col = -2;
        const char *nm = NULL;
        assert_int_equal(mli_model_contrib_column(m, i, &col, &nm), MLI_OK);
        assert_int_equal(col, i < N_COLS ? i : -1);
        assert_string_equal(nm, names[i]);
    }
    int64_t col;
    assert_int_equal(mli_model_contrib_column(m, N_GROUPS, &col, NULL), MLI_ERR_INVALID_ARGUMENT);
    assert_int_equal(mli_model_contrib_column(m, -1, NULL, NULL), MLI_ERR_INVALID_ARGUMENT);
    assert_int_equal(mli_model_contrib_column(NULL, 0, NULL, NULL), MLI_ERR_INVALID_ARGUMENT);

    double *ref = malloc(sizeof(double) * (size_t)(ROWS * width));
    double *alt = malloc(sizeof(double) * (size_t)(ROWS * width));
    double *raw = malloc(sizeof(double) * (size_t)(ROWS * n_raw));
    assert_true(ref && alt && raw);
    mli_column cols[N_COLS];
    columns_at(&in, 0, 0, cols);
    assert_int_equal(mli_model_predict_contrib_columns(m, cols, N_COLS, ROWS, ref, ROWS * width), MLI_OK);
    assert_int_equal(mli_model_predict_columns(m, cols, N_COLS, ROWS, MLI_OUTPUT_RAW, raw, ROWS * n_raw), MLI_OK);
    for (int64_t r = 0; r < ROWS; r++)
        for (int64_t k = 0; k < n_raw; k++) {
            double sum = 0.0, mag = 0.0;
            for (int64_t j = 0; j <= N_GROUPS; j++) {
                double c = ref[r * width + j * n_raw + k];
                assert_true(isfinite(c));
                sum += c;
                mag += fabs(c);
            }
            if (fabs(sum - raw[r * n_raw + k]) > 1e-5 * mag + 1e-300)
                fail_msg("%s row %lld score %lld: contributions sum to %.17g, raw score %.17g", name, (long long)r,
                         (long long)k, sum, raw[r * n_raw + k]);
        }
    /* a validity bitmap gives the bits of NaN; each row alone the bits of the batch */
    columns_at(&in, 0, 1, cols);
    assert_int_equal(mli_model_predict_contrib_columns(m, cols, N_COLS, ROWS, alt, ROWS * width), MLI_OK);
    assert_memory_equal(alt, ref, sizeof(double) * (size_t)(ROWS * width));
    for (int64_t r = 0; r < ROWS; r += 7) {
        columns_at(&in, r, 0, cols);
        assert_int_equal(mli_model_predict_contrib_columns(m, cols, N_COLS, 1, alt, width), MLI_OK);
        assert_memory_equal(alt, ref + r * width, sizeof(double) * (size_t)width);
    }
    /* errors */
    columns_at(&in, 0, 0, cols);
    assert_int_equal(mli_model_predict_contrib_columns(m, cols, N_COLS, 2, alt, 2 * width - 1), MLI_ERR_SHAPE);
    assert_int_equal(mli_model_predict_contrib_columns(m, cols, N_COLS - 1, 2, alt, 2 * width),
                     MLI_ERR_INVALID_ARGUMENT);
    mt_assert_error_mentions("age");
    assert_int_equal(mli_model_predict_contrib_columns(m, cols, N_COLS, 0, NULL, 0), MLI_OK);
    assert_int_equal(mli_model_predict_contrib_columns(NULL, cols, N_COLS, 1, alt, width), MLI_ERR_INVALID_ARGUMENT);
    double x[N_COLS] = {0};
    assert_int_not_equal(mli_model_predict_contrib(m, x, MLI_F64, 1, N_COLS, alt, width), MLI_OK); /* strings */

    if (threads) {
        shared_state s = {.m = m, .in = &in, .width = width, .ref = ref};
        pthread_t th[N_THREADS];
        worker w[N_THREADS];
        assert_int_equal(pthread_barrier_init(&s.start, NULL, N_THREADS), 0);
        for (int i = 0; i < N_THREADS; i++) {
            w[i] = (worker){.s = &s, .id = i};
            assert_int_equal(pthread_create(&th[i], NULL, work, &w[i]), 0);
        }
        int failures = 0;
        for (int i = 0; i < N_THREADS; i++) {
            pthread_join(th[i], NULL);
            failures += w[i].failures;
        }
        pthread_barrier_destroy(&s.start);
        assert_int_equal(failures, 0);
    }
    free(ref);
    free(alt);
    free(raw);
    mli_model_free(m);
}

static void test_trees(void **state) {
    (void)state;
    check_model("prep_contrib", 1);
}

static void test_linear(void **state) {
    (void)state;
    check_model("prep_contrib_linear", 1);
}

/* A missing value reaching the Normalizer (which refuses it, as in scikit-learn): MLI_ERR_INPUT
 * naming the step and the row, as predict. */
static void test_linear_missing(void **state) {
    (void)state;
    mli_model *m = load("prep_contrib_linear");
    static input in;
    make_input(&in);
    in.a[5] = NAN;
    mli_column cols[N_COLS];
    columns_at(&in, 0, 0, cols);
    int64_t width = mli_model_n_contrib(m);
    double *out = malloc(sizeof(double) * (size_t)(ROWS * width));
    assert_non_null(out);
    assert_int_equal(mli_model_predict_contrib_columns(m, cols, N_COLS, ROWS, out, ROWS * width), MLI_ERR_INPUT);
    mt_assert_error_mentions("Normalizer");
    mt_assert_error_mentions("row 5");
    free(out);
    mli_model_free(m);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_trees),
        cmocka_unit_test(test_linear),
        cmocka_unit_test(test_linear_missing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
