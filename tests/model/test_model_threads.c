/* test_model_threads.c — one loaded model serves 16 threads at once without locks: mixed
 * 1-row and 1000-row calls of predict and predict_proba, all started together, give
 * results bit-identical to the same calls made one after another. Run under TSan by the
 * tsan stage of tests/run_all.sh (ctest -R threads). */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <pthread.h>
#include <string.h>

#include "model_testutil.h"

#define N_THREADS 16
#define BIG_ROWS 1000
#define ITERATIONS 12

typedef struct {
    const mli_model *m;
    int64_t nf, k, no;
    float *x32;           /* BIG_ROWS x nf */
    double *x64;          /* BIG_ROWS x nf */
    double *big_pred[2];  /* sequential reference, per dtype: BIG_ROWS x no */
    double *big_proba[2]; /* BIG_ROWS x k */
    double *one_pred[2];  /* each row predicted alone */
    double *one_proba[2];
    pthread_barrier_t start;
} shared_state;

typedef struct {
    shared_state *s;
    int id;
    int failures;
    char first_failure[200];
} worker;

static const void *rows_at(const shared_state *s, int dt, int64_t r)
{
    return dt == MLI_F64 ? (const void *)(s->x64 + r * s->nf) : (const void *)(s->x32 + r * s->nf);
}

static void note(worker *w, const char *what, int64_t r)
{
    if (w->failures++ == 0)
        snprintf(w->first_failure, sizeof w->first_failure, "thread %d: %s (row %lld) differs from the "
                 "sequential run", w->id, what, (long long)r);
}

static void *work(void *arg)
{
    worker *w = arg;
    shared_state *s = w->s;
    double *out = malloc(sizeof(double) * (size_t)(BIG_ROWS * (s->k > s->no ? s->k : s->no)));
    if (!out) {
        w->failures++;
        return NULL;
    }
    pthread_barrier_wait(&s->start);
    for (int it = 0; it < ITERATIONS; it++) {
        int dt = (w->id + it) % 2 ? MLI_F64 : MLI_F32;
        switch ((w->id + it) % 4) {
        case 0:
            if (mli_model_predict(s->m, rows_at(s, dt, 0), (mli_dtype)dt, BIG_ROWS, s->nf, out, BIG_ROWS * s->no) ||
                memcmp(out, s->big_pred[dt], sizeof(double) * (size_t)(BIG_ROWS * s->no)))
                note(w, "1000-row predict", -1);
            break;
        case 1:
            if (s->k && (mli_model_predict_proba(s->m, rows_at(s, dt, 0), (mli_dtype)dt, BIG_ROWS, s->nf, out,
                                                 BIG_ROWS * s->k) ||
                         memcmp(out, s->big_proba[dt], sizeof(double) * (size_t)(BIG_ROWS * s->k))))
                note(w, "1000-row predict_proba", -1);
            break;
        default:
            for (int j = 0; j < 25; j++) {
                int64_t r = (w->id * 37 + it * 101 + j * 13) % BIG_ROWS;
                if (mli_model_predict(s->m, rows_at(s, dt, r), (mli_dtype)dt, 1, s->nf, out, s->no) ||
                    memcmp(out, s->one_pred[dt] + r * s->no, sizeof(double) * (size_t)s->no))
                    note(w, "1-row predict", r);
                if (s->k && (mli_model_predict_proba(s->m, rows_at(s, dt, r), (mli_dtype)dt, 1, s->nf, out, s->k) ||
                             memcmp(out, s->one_proba[dt] + r * s->k, sizeof(double) * (size_t)s->k)))
                    note(w, "1-row predict_proba", r);
            }
        }
    }
    free(out);
    return NULL;
}

static double *dalloc(int64_t n)
{
    double *p = malloc(sizeof(double) * (size_t)(n > 0 ? n : 1));
    assert_non_null(p);
    return p;
}

static void run_threads_on(const char *name, int from_memory)
{
    char rel[256], path[1024];
    mt_model_file(rel, sizeof rel, name);
    mli_model *m = NULL;
    if (from_memory) {
        size_t n;
        uint8_t *bytes = mt_read_file(rel, &n);
        assert_int_equal(mli_model_load_memory(bytes, n, &m), MLI_OK);
        free(bytes);
    } else {
        mt_path(path, sizeof path, rel);
        assert_int_equal(mli_model_load(path, &m), MLI_OK);
    }
    shared_state s;
    memset(&s, 0, sizeof s);
    s.m = m;
    s.nf = mli_model_n_features(m);
    s.k = mli_model_has_proba(m) ? mli_model_n_classes(m) : 0;
    s.no = mli_model_n_outputs(m);
    s.x32 = malloc(sizeof(float) * (size_t)(BIG_ROWS * s.nf));
    s.x64 = dalloc(BIG_ROWS * s.nf);
    assert_non_null(s.x32);
    uint64_t state = 0x9E3779B97F4A7C15ull;
    for (int64_t i = 0; i < BIG_ROWS * s.nf; i++) {
        state = state * 6364136223846793005ull + 1442695040888963407ull;
        s.x64[i] = ((double)(state >> 11) / 9007199254740992.0 - 0.5) * 6.0;
        s.x32[i] = (float)s.x64[i];
        if (strstr(name, "nan") && i % 13 == 5) /* rows with NaN take the tree engine's generic walk */
            s.x32[i] = (float)(s.x64[i] = NAN);
    }
    for (int dt = 0; dt < 2; dt++) {
        s.big_pred[dt] = dalloc(BIG_ROWS * s.no);
        s.one_pred[dt] = dalloc(BIG_ROWS * s.no);
        s.big_proba[dt] = dalloc(BIG_ROWS * s.k);
        s.one_proba[dt] = dalloc(BIG_ROWS * s.k);
        assert_int_equal(mli_model_predict(m, rows_at(&s, dt, 0), (mli_dtype)dt, BIG_ROWS, s.nf, s.big_pred[dt],
                                           BIG_ROWS * s.no), MLI_OK);
        if (s.k)
            assert_int_equal(mli_model_predict_proba(m, rows_at(&s, dt, 0), (mli_dtype)dt, BIG_ROWS, s.nf,
                                                     s.big_proba[dt], BIG_ROWS * s.k), MLI_OK);
        for (int64_t r = 0; r < BIG_ROWS; r++) {
            assert_int_equal(mli_model_predict(m, rows_at(&s, dt, r), (mli_dtype)dt, 1, s.nf, s.one_pred[dt] + r * s.no,
                                               s.no), MLI_OK);
            if (s.k)
                assert_int_equal(mli_model_predict_proba(m, rows_at(&s, dt, r), (mli_dtype)dt, 1, s.nf,
                                                         s.one_proba[dt] + r * s.k, s.k), MLI_OK);
        }
    }

    assert_int_equal(pthread_barrier_init(&s.start, NULL, N_THREADS), 0);
    pthread_t tid[N_THREADS];
    worker w[N_THREADS];
    for (int t = 0; t < N_THREADS; t++) {
        w[t] = (worker){.s = &s, .id = t};
        assert_int_equal(pthread_create(&tid[t], NULL, work, &w[t]), 0);
    }
    int failures = 0;
    for (int t = 0; t < N_THREADS; t++) {
        assert_int_equal(pthread_join(tid[t], NULL), 0);
        if (w[t].failures) {
            fprintf(stderr, "%s: %s (%d mismatches)\n", name, w[t].first_failure, w[t].failures);
            failures += w[t].failures;
        }
    }
    pthread_barrier_destroy(&s.start);
    assert_int_equal(failures, 0);

    for (int dt = 0; dt < 2; dt++) {
        free(s.big_pred[dt]);
        free(s.one_pred[dt]);
        free(s.big_proba[dt]);
        free(s.one_proba[dt]);
    }
    free(s.x32);
    free(s.x64);
    mli_model_free(m);
}

static void test_mlp_pipeline_16_threads(void **state)
{
    (void)state;
    run_threads_on("mlp_pipeline", 0);
}

static void test_logreg_16_threads(void **state)
{
    (void)state;
    run_threads_on("logreg_multi_strlabels", 1);
}

static void test_compressed_regressor_16_threads(void **state)
{
    (void)state;
    run_threads_on("mlp_regressor_z", 0);
}

static void test_forest_16_threads(void **state)
{
    (void)state;
    run_threads_on("forest_multi", 1);
}

static void test_boosted_trees_with_nan_16_threads(void **state)
{
    (void)state;
    run_threads_on("hgb_nan", 0);
}

static void test_imported_xgboost_16_threads(void **state)
{
    (void)state;
    run_threads_on("xgb_binary", 1);
}

static void test_imported_lightgbm_16_threads(void **state)
{
    (void)state;
    run_threads_on("lgb_multi", 0);
}

/* The library's own pool, limited to 2 threads, under 16 callers. */
static void test_pool_of_two_under_16_callers(void **state)
{
    (void)state;
    int before = mli_get_num_threads();
    assert_int_equal(mli_set_num_threads(2), MLI_OK);
    run_threads_on("mlp_pipeline", 1);
    assert_int_equal(mli_set_num_threads(before), MLI_OK);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mlp_pipeline_16_threads),
        cmocka_unit_test(test_logreg_16_threads),
        cmocka_unit_test(test_compressed_regressor_16_threads),
        cmocka_unit_test(test_forest_16_threads),
        cmocka_unit_test(test_boosted_trees_with_nan_16_threads),
        cmocka_unit_test(test_imported_xgboost_16_threads),
        cmocka_unit_test(test_imported_lightgbm_16_threads),
        cmocka_unit_test(test_pool_of_two_under_16_callers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
