/* test_model_contrib_threads.c — mli_model_predict_contrib (TreeSHAP) on the imported
 * golden tree models (tests/data: an XGBoost binary model, a LightGBM multiclass model):
 * the sum rule (contributions plus bias equal mli_model_predict_raw, 1e-5 relative to the
 * sum of |contributions|) on every row of random data with NaN, in float32 and float64;
 * each row alone gives the bits of the batch; 16 threads on one model, mixed 1-row and
 * 300-row calls started together, give the bits of the sequential run (run under TSan by
 * ctest -R threads); and the refusals: a tree model without covers, a linear model
 * without background data, bad arguments. The same for the interaction values
 * (mli_model_predict_interactions): each row of a row's matrix sums to that row's
 * contribution (1e-9 relative: the same float64 terms in another order), the matrix is
 * symmetric to rounding, the bias row and column are 0 but for the bias; batches, rows
 * alone and 16 threads give the same bits. Agreement with XGBoost, LightGBM, shap and a
 * brute-force Shapley sum is tests/python/test_contrib.py and test_interactions.py. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <pthread.h>
#include <string.h>

#include "model_testutil.h"

#define N_THREADS 16
#define ROWS 300
#define ITERATIONS 6

typedef struct {
    const mli_model *m;
    int interact; /* mli_model_predict_interactions instead of mli_model_predict_contrib */
    int64_t nf, width;
    float *x32;
    double *x64;
    double *ref[2]; /* ROWS x width, per dtype */
    pthread_barrier_t start;
} shared_state;

typedef struct {
    shared_state *s;
    int id, failures;
} worker;

static const void *rows_at(const shared_state *s, int dt, int64_t r)
{
    return dt == MLI_F64 ? (const void *)(s->x64 + r * s->nf) : (const void *)(s->x32 + r * s->nf);
}

static mli_status explain(const shared_state *s, int dt, int64_t r, int64_t rows, double *out, int64_t len)
{
    if (s->interact)
        return mli_model_predict_interactions(s->m, rows_at(s, dt, r), (mli_dtype)dt, rows, s->nf, out, len);
    return mli_model_predict_contrib(s->m, rows_at(s, dt, r), (mli_dtype)dt, rows, s->nf, out, len);
}

static void *work(void *arg)
{
    worker *w = arg;
    shared_state *s = w->s;
    double *out = malloc(sizeof(double) * (size_t)(ROWS * s->width));
    if (!out) {
        w->failures++;
        return NULL;
    }
    pthread_barrier_wait(&s->start);
    for (int it = 0; it < ITERATIONS; it++) {
        int dt = (w->id + it) % 2;
        if ((w->id + it) % 3 == 0) {
            if (explain(s, dt, 0, ROWS, out, ROWS * s->width) ||
                memcmp(out, s->ref[dt], sizeof(double) * (size_t)(ROWS * s->width)))
                w->failures++;
        } else {
            for (int j = 0; j < 10; j++) {
                int64_t r = (w->id * 37 + it * 101 + j * 13) % ROWS;
                if (explain(s, dt, r, 1, out, s->width) ||
                    memcmp(out, s->ref[dt] + r * s->width, sizeof(double) * (size_t)s->width))
                    w->failures++;
            }
        }
    }
    free(out);
    return NULL;
}

static mli_model *load(const char *name)
{
    char rel[256], path[1024];
    mt_model_file(rel, sizeof rel, name);
    mt_path(path, sizeof path, rel);
    mli_model *m = NULL;
    assert_int_equal(mli_model_load(path, &m), MLI_OK);
    return m;
}

/* Interactions: row i of each row's matrix sums to contribution i, [i][j] == [j][i] to
 * rounding, the bias row and column 0 but for the bias. */
static void check_interactions(const char *name, const shared_state *s, int dt, const double *contrib, int64_t n_raw)
{
    const int64_t side = s->nf + 1;
    for (int64_t r = 0; r < ROWS; r++) {
        const double *v = s->ref[dt] + r * s->width, *c = contrib + r * side * n_raw;
        for (int64_t k = 0; k < n_raw; k++) {
            double mag = 0.0;
            for (int64_t i = 0; i < side; i++)
                mag += fabs(c[i * n_raw + k]);
            for (int64_t i = 0; i < side; i++) {
                double sum = 0.0;
                for (int64_t j = 0; j < side; j++) {
                    double a = v[(i * side + j) * n_raw + k], b = v[(j * side + i) * n_raw + k];
                    assert_true(isfinite(a));
                    if (fabs(a - b) > 1e-12 * mag || ((i == s->nf || j == s->nf) && i != j && a != 0.0))
                        fail_msg("%s dtype %d row %lld score %lld: [%lld][%lld] = %.17g, [%lld][%lld] = %.17g", name,
                                 dt, (long long)r, (long long)k, (long long)i, (long long)j, a, (long long)j,
                                 (long long)i, b);
                    sum += a;
                }
                if (fabs(sum - c[i * n_raw + k]) > 1e-9 * mag + 1e-300)
                    fail_msg("%s dtype %d row %lld score %lld: row %lld sums to %.17g, its contribution is %.17g", name,
                             dt, (long long)r, (long long)k, (long long)i, sum, c[i * n_raw + k]);
            }
        }
    }
}

static void check_model(const char *name, int interact)
{
    mli_model *m = load(name);
    shared_state s = {.m = m, .interact = interact, .nf = mli_model_n_features(m)};
    int64_t n_raw = mli_model_n_raw(m);
    s.width = interact ? mli_model_n_interactions(m) : mli_model_n_contrib(m);
    assert_int_equal(s.width, (interact ? s.nf + 1 : 1) * (s.nf + 1) * n_raw);
    s.x32 = malloc(sizeof(float) * (size_t)(ROWS * s.nf));
    s.x64 = malloc(sizeof(double) * (size_t)(ROWS * s.nf));
    double *raw = malloc(sizeof(double) * (size_t)(ROWS * n_raw));
    assert_true(s.x32 && s.x64 && raw);
    uint64_t seed = 12345;
    for (int64_t i = 0; i < ROWS * s.nf; i++) {
        seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
        double u = (double)(seed >> 11) / 9007199254740992.0;
        s.x64[i] = u < 0.08 ? NAN : 6.0 * u - 3.0;
        s.x32[i] = (float)s.x64[i];
    }
    for (int dt = 0; dt < 2; dt++) {
        s.ref[dt] = malloc(sizeof(double) * (size_t)(ROWS * s.width));
        assert_non_null(s.ref[dt]);
        assert_int_equal(explain(&s, dt, 0, ROWS, s.ref[dt], ROWS * s.width), MLI_OK);
        assert_int_equal(mli_model_predict_raw(m, rows_at(&s, dt, 0), (mli_dtype)dt, ROWS, s.nf, raw, ROWS * n_raw),
                         MLI_OK);
        if (interact) {
            int64_t cw = mli_model_n_contrib(m);
            double *contrib = malloc(sizeof(double) * (size_t)(ROWS * cw));
            assert_non_null(contrib);
            assert_int_equal(mli_model_predict_contrib(m, rows_at(&s, dt, 0), (mli_dtype)dt, ROWS, s.nf, contrib,
                                                       ROWS * cw),
                             MLI_OK);
            check_interactions(name, &s, dt, contrib, n_raw);
            free(contrib);
        }
        for (int64_t r = 0; r < ROWS && !interact; r++)
            for (int64_t k = 0; k < n_raw; k++) {
                double sum = 0.0, mag = 0.0;
                for (int64_t j = 0; j <= s.nf; j++) {
                    double c = s.ref[dt][r * s.width + j * n_raw + k];
                    assert_true(isfinite(c));
                    sum += c;
                    mag += fabs(c);
                }
                if (fabs(sum - raw[r * n_raw + k]) > 1e-5 * mag + 1e-300)
                    fail_msg("%s dtype %d row %lld score %lld: contributions sum to %.17g, raw score %.17g", name,
                             dt, (long long)r, (long long)k, sum, raw[r * n_raw + k]);
            }
        double one[4096];
        assert_true(s.width <= 4096);
        for (int64_t r = 0; r < ROWS; r += 7) {
            assert_int_equal(explain(&s, dt, r, 1, one, s.width), MLI_OK);
            assert_memory_equal(one, s.ref[dt] + r * s.width, sizeof(double) * (size_t)s.width);
        }
    }
    /* arguments */
    double small[4];
    assert_int_equal(explain(&s, MLI_F64, 0, 1, small, s.width - 1), MLI_ERR_SHAPE);
    assert_int_equal(explain(&s, MLI_F64, 0, 0, NULL, 0), MLI_OK);
    assert_int_equal(mli_model_predict_contrib(NULL, s.x64, MLI_F64, 1, s.nf, small, 4), MLI_ERR_INVALID_ARGUMENT);
    assert_int_equal(mli_model_predict_interactions(NULL, s.x64, MLI_F64, 1, s.nf, small, 4),
                     MLI_ERR_INVALID_ARGUMENT);
    assert_int_equal(mli_model_n_contrib(NULL), 0);
    assert_int_equal(mli_model_n_interactions(NULL), 0);

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
    free(s.ref[0]);
    free(s.ref[1]);
    free(s.x32);
    free(s.x64);
    free(raw);
    mli_model_free(m);
}

static void test_xgboost(void **state)
{
    (void)state;
    check_model("xgb_binary", 0);
    check_model("xgb_binary", 1);
}

static void test_lightgbm_multiclass(void **state)
{
    (void)state;
    check_model("lgb_multi", 0);
    check_model("lgb_multi", 1);
}

/* hgb_nan.mli was written before covers were recorded: predict works, contributions are
 * refused with a message that says why. */
static void test_refusals(void **state)
{
    (void)state;
    double x[64] = {0}, out[256];
    mli_model *m = load("hgb_nan");
    assert_int_equal(mli_model_n_contrib(m), 0);
    assert_int_equal(mli_model_predict_contrib(m, x, MLI_F64, 1, mli_model_n_features(m), out, 256),
                     MLI_ERR_UNSUPPORTED);
    mt_assert_error_mentions("cover");
    assert_int_equal(mli_model_n_interactions(m), 0);
    assert_int_equal(mli_model_predict_interactions(m, x, MLI_F64, 1, mli_model_n_features(m), out, 256),
                     MLI_ERR_UNSUPPORTED);
    mt_assert_error_mentions("cover");
    mli_model_free(m);
    m = load("logreg_binary");
    assert_int_equal(mli_model_n_contrib(m), 0);
    assert_int_equal(mli_model_predict_contrib(m, x, MLI_F64, 1, mli_model_n_features(m), out, 256),
                     MLI_ERR_UNSUPPORTED);
    mt_assert_error_mentions("background");
    mli_model_free(m);
    m = load("mlp_regressor_z");
    assert_int_equal(mli_model_predict_contrib(m, x, MLI_F64, 1, mli_model_n_features(m), out, 256),
                     MLI_ERR_UNSUPPORTED);
    mt_assert_error_mentions("tree model or a linear model");
    assert_int_equal(mli_model_n_interactions(m), 0);
    assert_int_equal(mli_model_predict_interactions(m, x, MLI_F64, 1, mli_model_n_features(m), out, 256),
                     MLI_ERR_UNSUPPORTED);
    mt_assert_error_mentions("tree models only");
    mli_model_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_xgboost),
        cmocka_unit_test(test_lightgbm_multiclass),
        cmocka_unit_test(test_refusals),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
