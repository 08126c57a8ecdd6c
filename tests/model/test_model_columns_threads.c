/* test_model_columns_threads.c — one pipeline model with string columns
 * (tests/data/prep_strings.mli) serves 16 threads at once through mli_model_predict_columns:
 * dictionary and UTF-8 columns, one row and 2400 rows (several blocks, so the library's own
 * pool joins in), all started together, give results bit-identical to the same calls made
 * one after another; so do the input errors (the first bad row is named, whoever finds it).
 * Run under TSan by the tsan stage of tests/run_all.sh (ctest -R threads). */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>

#include "columns_testutil.h"

#define N_THREADS 16
#define REPS 200
#define ITERATIONS 6

typedef struct {
    const mli_model *m;
    const ct_table *t;
    int64_t rows, k;
    double *ref[2]; /* per dict: rows x k probabilities */
    const mli_column *bad_cols;
    char bad_msg[512];
    pthread_barrier_t start;
} shared_state;

typedef struct {
    shared_state *s;
    int id, failures;
    char first[256];
} worker;

static void *run(void *arg) {
    worker *w = arg;
    shared_state *s = w->s;
    double *out = malloc(sizeof(double) * (size_t)(s->rows * s->k));
    mli_column cols[CT_MAX_COLS];
    pthread_barrier_wait(&s->start);
    for (int it = 0; it < ITERATIONS; ++it) {
        int dict = (w->id + it) % 2;
        ct_columns(s->t, dict, w->id % 3 == 0, cols);
        int64_t rows = (w->id + it) % 3 == 0 ? 1 : s->rows;
        mli_status st = mli_model_predict_columns(s->m, cols, s->t->n_cols, rows, MLI_OUTPUT_PROBA, out, rows * s->k);
        if (st != MLI_OK || memcmp(out, s->ref[dict], sizeof(double) * (size_t)(rows * s->k)) != 0) {
            if (!w->failures++)
                snprintf(w->first, sizeof w->first, "thread %d iteration %d: %s", w->id, it,
                         st ? mli_last_error() : "results differ");
        }
        st = mli_model_predict_columns(s->m, s->bad_cols, s->t->n_cols, s->rows, MLI_OUTPUT_PREDICT, out, s->rows);
        if (st != MLI_ERR_INPUT || strcmp(mli_last_error(), s->bad_msg) != 0) {
            if (!w->failures++)
                snprintf(w->first, sizeof w->first, "thread %d: bad input gave '%s'", w->id, mli_last_error());
        }
    }
    free(out);
    return NULL;
}

static void test_sixteen_threads_one_model(void **state) {
    (void)state;
    char path[1024];
    mt_path(path, sizeof path, "prep_strings.mli");
    mli_model *m = NULL;
    assert_int_equal(mli_model_load(path, &m), MLI_OK);
    ct_table t;
    ct_load("prep_strings.columns.txt", &t, REPS);
    shared_state s = {.m = m, .t = &t, .rows = t.rows * REPS, .k = mli_model_n_classes(m)};
    mli_column cols[CT_MAX_COLS], bad[CT_MAX_COLS];
    for (int dict = 0; dict < 2; ++dict) {
        s.ref[dict] = malloc(sizeof(double) * (size_t)(s.rows * s.k));
        ct_columns(&t, dict, 0, cols);
        assert_int_equal(
            mli_model_predict_columns(m, cols, t.n_cols, s.rows, MLI_OUTPUT_PROBA, s.ref[dict], s.rows * s.k), MLI_OK);
    }
    /* bad input: an unknown plan in rows 1500 and 2100 */
    ct_columns(&t, 1, 0, bad);
    int32_t *codes = malloc(sizeof(int32_t) * (size_t)s.rows);
    memcpy(codes, t.codes[2], sizeof(int32_t) * (size_t)s.rows);
    codes[1500] = codes[2100] = (int32_t)t.n_dict[2];
    char *dict_bytes = malloc(64);
    int64_t dict_off[16];
    memcpy(dict_bytes, t.dict_bytes[2], (size_t)t.dict_off[2][t.n_dict[2]]);
    memcpy(dict_off, t.dict_off[2], sizeof(int64_t) * (size_t)(t.n_dict[2] + 1));
    memcpy(dict_bytes + dict_off[t.n_dict[2]], "gold", 4);
    dict_off[t.n_dict[2] + 1] = dict_off[t.n_dict[2]] + 4;
    bad[2].values = codes;
    bad[2].dict_bytes = dict_bytes;
    bad[2].offsets = dict_off;
    bad[2].n_dict = t.n_dict[2] + 1;
    double *tmp = malloc(sizeof(double) * (size_t)s.rows);
    assert_int_equal(mli_model_predict_columns(m, bad, t.n_cols, s.rows, MLI_OUTPUT_PREDICT, tmp, s.rows),
                     MLI_ERR_INPUT);
    snprintf(s.bad_msg, sizeof s.bad_msg, "%s", mli_last_error());
    assert_non_null(strstr(s.bad_msg, "row 1500: unknown category 'gold'"));
    s.bad_cols = bad;

    pthread_t th[N_THREADS];
    worker w[N_THREADS];
    pthread_barrier_init(&s.start, NULL, N_THREADS);
    for (int i = 0; i < N_THREADS; ++i) {
        w[i] = (worker){.s = &s, .id = i};
        assert_int_equal(pthread_create(&th[i], NULL, run, &w[i]), 0);
    }
    int failures = 0;
    for (int i = 0; i < N_THREADS; ++i) {
        pthread_join(th[i], NULL);
        if (w[i].failures)
            printf("%s\n", w[i].first);
        failures += w[i].failures;
    }
    pthread_barrier_destroy(&s.start);
    assert_int_equal(failures, 0);
    free(tmp);
    free(codes);
    free(dict_bytes);
    free(s.ref[0]);
    free(s.ref[1]);
    ct_free(&t);
    mli_model_free(m);
}

int main(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_sixteen_threads_one_model)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
