/* columns_testutil.h — the table of tests/data/prep_strings.columns.txt (make_models.py) as
 * mli_column inputs, for the tests of mli_model_predict_columns: each cell is a number, nan,
 * null (a missing value), none (Python's None) or s:TEXT. Built both as plain UTF-8 columns
 * with validity bitmaps and as dictionary columns. Header-only. */
#ifndef MLI_COLUMNS_TESTUTIL_H
#define MLI_COLUMNS_TESTUTIL_H

#include "model_testutil.h"

#define CT_MAX_COLS 16

typedef struct {
    int64_t n_cols, rows;
    char names[CT_MAX_COLS][64];
    int is_string[CT_MAX_COLS];
    char ***cells; /* [col][row]: the token */
    mt_matrix predict, proba;
    /* built columns; `reps` copies of the rows one after another */
    int64_t reps;
    double *num[CT_MAX_COLS];
    char *bytes[CT_MAX_COLS];
    int64_t *offsets[CT_MAX_COLS];
    uint8_t *validity[CT_MAX_COLS];
    int32_t *codes[CT_MAX_COLS];
    int64_t *dict_off[CT_MAX_COLS];
    char *dict_bytes[CT_MAX_COLS];
    int64_t n_dict[CT_MAX_COLS];
} ct_table;

static inline void ct_load(const char *rel, ct_table *t, int64_t reps) {
    char path[1024];
    mt_path(path, sizeof path, rel);
    FILE *f = fopen(path, "r");
    if (!f)
        fail_msg("cannot open %s", path);
    memset(t, 0, sizeof *t);
    char kind[32], word[256];
    assert_int_equal(fscanf(f, "%31s %lld", word, (long long *)&t->n_cols), 2);
    assert_true(t->n_cols > 0 && t->n_cols <= CT_MAX_COLS);
    for (int64_t c = 0; c < t->n_cols; ++c) {
        assert_int_equal(fscanf(f, "%63s %31s", t->names[c], kind), 2);
        t->is_string[c] = strcmp(kind, "string") == 0;
    }
    assert_int_equal(fscanf(f, "%31s %lld", word, (long long *)&t->rows), 2);
    t->cells = calloc((size_t)t->n_cols, sizeof *t->cells);
    for (int64_t c = 0; c < t->n_cols; ++c)
        t->cells[c] = calloc((size_t)t->rows, sizeof(char *));
    for (int64_t r = 0; r < t->rows; ++r)
        for (int64_t c = 0; c < t->n_cols; ++c) {
            assert_int_equal(fscanf(f, "%255s", word), 1);
            t->cells[c][r] = strdup(word);
        }
    assert_int_equal(fscanf(f, "%255s", word), 1);
    mt_read_matrix(f, &t->predict);
    assert_int_equal(fscanf(f, "%255s", word), 1);
    mt_read_matrix(f, &t->proba);
    fclose(f);

    int64_t n = t->rows * reps;
    t->reps = reps;
    for (int64_t c = 0; c < t->n_cols; ++c) {
        t->validity[c] = calloc((size_t)(n + 7) / 8, 1);
        if (!t->is_string[c]) {
            t->num[c] = malloc(sizeof(double) * (size_t)n);
            for (int64_t i = 0; i < n; ++i) {
                const char *s = t->cells[c][i % t->rows];
                int missing = strcmp(s, "null") == 0;
                t->num[c][i] = missing ? 0.0 : strtod(s, NULL); /* a null's value is ignored */
                if (!missing)
                    t->validity[c][i / 8] |= (uint8_t)(1u << (i % 8));
            }
            continue;
        }
        size_t total = 0;
        for (int64_t r = 0; r < t->rows; ++r)
            total += strlen(t->cells[c][r]);
        t->bytes[c] = malloc(total * (size_t)reps + 1);
        t->offsets[c] = malloc(sizeof(int64_t) * (size_t)(n + 1));
        t->codes[c] = malloc(sizeof(int32_t) * (size_t)(n ? n : 1));
        t->dict_off[c] = calloc((size_t)t->rows + 1, sizeof(int64_t));
        t->dict_bytes[c] = malloc(total + 1);
        int64_t at = 0;
        t->offsets[c][0] = 0;
        for (int64_t i = 0; i < n; ++i) {
            const char *s = t->cells[c][i % t->rows];
            if (strncmp(s, "s:", 2) == 0) {
                size_t len = strlen(s + 2);
                memcpy(t->bytes[c] + at, s + 2, len);
                at += (int64_t)len;
                t->validity[c][i / 8] |= (uint8_t)(1u << (i % 8));
            } /* null and none: a null (UTF-8 columns cannot say None: ct_row_has_none) */
            t->offsets[c][i + 1] = at;
        }
        /* the dictionary: one entry per distinct string, in order of first appearance */
        int64_t nd = 0, dat = 0;
        for (int64_t r = 0; r < t->rows; ++r) {
            const char *s = t->cells[c][r];
            int32_t code = strcmp(s, "none") == 0 ? MLI_CODE_NONE : MLI_CODE_NULL;
            if (strncmp(s, "s:", 2) == 0) {
                code = -3;
                for (int64_t k = 0; k < nd && code < 0; ++k)
                    if ((size_t)(t->dict_off[c][k + 1] - t->dict_off[c][k]) == strlen(s + 2) &&
                        memcmp(t->dict_bytes[c] + t->dict_off[c][k], s + 2, strlen(s + 2)) == 0)
                        code = (int32_t)k;
                if (code < 0) {
                    memcpy(t->dict_bytes[c] + dat, s + 2, strlen(s + 2));
                    dat += (int64_t)strlen(s + 2);
                    code = (int32_t)nd++;
                    t->dict_off[c][nd] = dat;
                }
            }
            for (int64_t k = 0; k < reps; ++k)
                t->codes[c][k * t->rows + r] = code;
        }
        t->n_dict[c] = nd;
    }
}

/* The columns in the table's order (or reversed), strings as dictionaries or UTF-8. */
static inline void ct_columns(const ct_table *t, int dict, int reversed, mli_column *cols) {
    memset(cols, 0, sizeof(mli_column) * (size_t)t->n_cols);
    for (int64_t i = 0; i < t->n_cols; ++i) {
        int64_t c = reversed ? t->n_cols - 1 - i : i;
        mli_column *col = &cols[i];
        col->name = t->names[c];
        if (!t->is_string[c]) {
            col->type = MLI_COLUMN_F64;
            col->values = t->num[c];
            col->validity = t->validity[c];
        } else if (dict) {
            col->type = MLI_COLUMN_DICT_UTF8;
            col->values = t->codes[c];
            col->offsets = t->dict_off[c];
            col->dict_bytes = t->dict_bytes[c];
            col->n_dict = t->n_dict[c];
        } else {
            col->type = MLI_COLUMN_UTF8;
            col->values = t->bytes[c];
            col->offsets = t->offsets[c];
            col->validity = t->validity[c];
        }
    }
}

/* Whether row r has a None cell (which UTF-8 columns give as a null). */
static inline int ct_row_has_none(const ct_table *t, int64_t r) {
    for (int64_t c = 0; c < t->n_cols; ++c)
        if (t->is_string[c] && strcmp(t->cells[c][r % t->rows], "none") == 0)
            return 1;
    return 0;
}

static inline void ct_free(ct_table *t) {
    for (int64_t c = 0; c < t->n_cols; ++c) {
        for (int64_t r = 0; r < t->rows; ++r)
            free(t->cells[c][r]);
        free(t->cells[c]);
        free(t->num[c]);
        free(t->bytes[c]);
        free(t->offsets[c]);
        free(t->validity[c]);
        free(t->codes[c]);
        free(t->dict_off[c]);
        free(t->dict_bytes[c]);
    }
    free(t->cells);
    free(t->predict.v);
    free(t->proba.v);
}

#endif
