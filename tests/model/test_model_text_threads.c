/* test_model_text_threads.c — one text model (tests/fuzz/models/text_tfidf.mli: word,
 * char_wb, char and hashed word analyzers of the one column, then a 3-class LogisticRegression;
 * then text_trees_doc.mli: word, char_wb and hashed analyzers selecting the columns a 3-class
 * XGBoost model reads, format 1.9) serves 16 threads at once through mli_model_predict_columns: 1200
 * documents (Unicode: Greek capitals with final sigma, decomposed accents, CJK, emoji; all
 * ASCII too, the path without ICU) as plain and as dictionary columns, one document and the
 * whole batch (several blocks: the library's own pool joins in), all started together, give
 * results bit-identical to the same calls made one after another; a batch with invalid UTF-8
 * in rows 700 and 900 fails with the same message, naming row 700, in every thread. Run
 * under TSan by the tsan stage of tests/run_all.sh (ctest -R threads). */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "mlinfer.h"

#if !defined(MLI_TEXT_MODEL) || !defined(MLI_TEXT_TREES_MODEL)
#error "MLI_TEXT_MODEL, MLI_TEXT_TREES_MODEL: the paths of the text models"
#endif

#define N_THREADS 16
#define ROWS 1200
#define ITERATIONS 6

static const char *const words[] = {"the",    "a",   "Fox", "fox",      "caf\xc3\xa9", "cafe\xcc\x81",
                                    "ΟΔΟΣ",   "ΣΑΣ", "Σ",   "İstanbul", "straße",      "ﬁne",
                                    "日本語", "😀",   "x1",  "foo_bar",  "don't",       "naïve"};

typedef struct {
    const mli_model *m;
    char *bytes, *bad_bytes;
    int64_t off[ROWS + 1], bad_off[ROWS + 1];
    double ref[ROWS * 3];
    char bad_msg[512];
    pthread_barrier_t start;
} shared_state;

typedef struct {
    shared_state *s;
    int id, failures;
    char first[256];
} worker;

/* A plain (dict 0) or dictionary (1: each row its own entry) column of the documents. */
static void column(mli_column *c, const char *bytes, const int64_t *off, int dict, int32_t *codes) {
    memset(c, 0, sizeof *c);
    c->name = "text";
    c->offsets = off;
    if (dict) {
        for (int32_t r = 0; r < ROWS; ++r)
            codes[r] = r;
        c->type = MLI_COLUMN_DICT_UTF8;
        c->values = codes;
        c->dict_bytes = bytes;
        c->n_dict = ROWS;
    } else {
        c->type = MLI_COLUMN_UTF8;
        c->values = bytes;
    }
}

static void *run(void *arg) {
    worker *w = arg;
    shared_state *s = w->s;
    double *out = malloc(sizeof(double) * ROWS * 3);
    int32_t *codes = malloc(sizeof(int32_t) * ROWS);
    mli_column c;
    pthread_barrier_wait(&s->start);
    for (int it = 0; it < ITERATIONS && out && codes; ++it) {
        int dict = (w->id + it) % 2;
        int64_t rows = (w->id + it) % 3 == 0 ? 1 : ROWS;
        column(&c, s->bytes, s->off, dict, codes);
        mli_status st = mli_model_predict_columns(s->m, &c, 1, rows, MLI_OUTPUT_PROBA, out, rows * 3);
        if (st != MLI_OK || memcmp(out, s->ref, sizeof(double) * (size_t)(rows * 3)) != 0) {
            if (!w->failures++)
                snprintf(w->first, sizeof w->first, "thread %d iteration %d: %s", w->id, it,
                         st ? mli_last_error() : "results differ");
        }
        column(&c, s->bad_bytes, s->bad_off, dict, codes);
        st = mli_model_predict_columns(s->m, &c, 1, ROWS, MLI_OUTPUT_PREDICT, out, ROWS);
        if (st != MLI_ERR_INPUT || strcmp(mli_last_error(), s->bad_msg) != 0) {
            if (!w->failures++)
                snprintf(w->first, sizeof w->first, "thread %d: bad input gave '%s'", w->id, mli_last_error());
        }
    }
    free(out);
    free(codes);
    return NULL;
}

/* ROWS documents of 0..30 words; ASCII only where (r % 4 == 0). Corrupts rows 700 and 900
 * (an 0xff byte) when `bad`. */
static char *documents(int64_t *off, int bad) {
    char *b = malloc((size_t)ROWS * 31 * 16);
    uint32_t x = 12345;
    int64_t p = 0;
    off[0] = 0;
    for (int r = 0; r < ROWS; ++r) {
        int n = (int)((x = x * 1103515245u + 12345u) >> 16) % 31;
        for (int i = 0; i < n; ++i) {
            x = x * 1103515245u + 12345u;
            const char *wd = words[(x >> 16) % (r % 4 == 0 ? 4 : sizeof words / sizeof words[0])];
            if (r % 4 == 0 && (x >> 20) % 3 == 0)
                wd = "x1"; /* ASCII only: the first four words, x1 */
            if (i)
                b[p++] = ' ';
            memcpy(b + p, wd, strlen(wd));
            p += (int64_t)strlen(wd);
        }
        if (bad && (r == 700 || r == 900))
            b[p++] = (char)0xff;
        off[r + 1] = p;
    }
    return b;
}

static void sixteen_threads(const char *path) {
    mli_model *m = NULL;
    assert_int_equal(mli_model_load(path, &m), MLI_OK);
    assert_int_equal(mli_model_output_len(m, MLI_OUTPUT_PROBA), 3);
    shared_state *s = calloc(1, sizeof *s);
    s->m = m;
    s->bytes = documents(s->off, 0);
    s->bad_bytes = documents(s->bad_off, 1);
    int32_t *codes = malloc(sizeof(int32_t) * ROWS);
    double *tmp = malloc(sizeof(double) * ROWS * 3);
    mli_column c;
    column(&c, s->bytes, s->off, 0, codes);
    assert_int_equal(mli_model_predict_columns(m, &c, 1, ROWS, MLI_OUTPUT_PROBA, s->ref, ROWS * 3), MLI_OK);
    column(&c, s->bytes, s->off, 1, codes); /* the dictionary form agrees */
    assert_int_equal(mli_model_predict_columns(m, &c, 1, ROWS, MLI_OUTPUT_PROBA, tmp, ROWS * 3), MLI_OK);
    assert_memory_equal(tmp, s->ref, sizeof(double) * ROWS * 3);
    for (int r = 0; r < ROWS; r += 97) { /* each row alone (the row form) agrees with the block */
        int64_t o[2] = {0, s->off[r + 1] - s->off[r]};
        mli_column one;
        memset(&one, 0, sizeof one);
        one.name = "text";
        one.type = MLI_COLUMN_UTF8;
        one.values = s->bytes + s->off[r];
        one.offsets = o;
        assert_int_equal(mli_model_predict_columns(m, &one, 1, 1, MLI_OUTPUT_PROBA, tmp, 3), MLI_OK);
        assert_memory_equal(tmp, s->ref + 3 * r, sizeof(double) * 3);
    }
    column(&c, s->bad_bytes, s->bad_off, 0, codes);
    assert_int_equal(mli_model_predict_columns(m, &c, 1, ROWS, MLI_OUTPUT_PREDICT, tmp, ROWS), MLI_ERR_INPUT);
    snprintf(s->bad_msg, sizeof s->bad_msg, "%s", mli_last_error());
    assert_non_null(strstr(s->bad_msg, "column 'text', row 700: the text is not valid UTF-8"));

    pthread_t th[N_THREADS];
    worker w[N_THREADS];
    pthread_barrier_init(&s->start, NULL, N_THREADS);
    for (int i = 0; i < N_THREADS; ++i) {
        w[i] = (worker){.s = s, .id = i};
        assert_int_equal(pthread_create(&th[i], NULL, run, &w[i]), 0);
    }
    int failures = 0;
    for (int i = 0; i < N_THREADS; ++i) {
        pthread_join(th[i], NULL);
        if (w[i].failures)
            printf("%s\n", w[i].first);
        failures += w[i].failures;
    }
    pthread_barrier_destroy(&s->start);
    assert_int_equal(failures, 0);
    free(codes);
    free(tmp);
    free(s->bytes);
    free(s->bad_bytes);
    free(s);
    mli_model_free(m);
}

static void test_sixteen_threads_one_text_model(void **state) {
    (void)state;
    sixteen_threads(MLI_TEXT_MODEL);
}

static void test_sixteen_threads_one_text_trees_model(void **state) {
    (void)state;
    sixteen_threads(MLI_TEXT_TREES_MODEL);
}

int main(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_sixteen_threads_one_text_model),
                                       cmocka_unit_test(test_sixteen_threads_one_text_trees_model)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
