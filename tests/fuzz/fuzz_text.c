/* fuzz_text.c — documents through a text model (tests/fuzz/models/text_tfidf.mli: word,
 * char_wb, char and hashed word analyzers of the one column -- accents stripped, stop words,
 * bigrams; character 1- to 4-grams; 1024 hashed columns of alternating sign -- then a 3-class
 * LogisticRegression): the analysis of arbitrary
 * bytes, UTF-8 or not. The input is cut at
 * '\n' into up to 16 documents (the last takes the rest), scored one by one (the row form)
 * and all at once, 40 rows, as a dictionary and as a plain column (the block form). Either
 * every call succeeds with the same scores for the same document, or each fails with
 * MLI_ERR_INPUT and a message naming the first bad row. */
#include "fuzz_harness.h"

#ifndef MLI_FUZZ_TEXT_MODEL
#error "MLI_FUZZ_TEXT_MODEL: the path of the text model"
#endif

#define MAX_DOCS 16
#define ROWS 40

static mli_model *model;

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    FUZZ_CHECK(mli_model_load(MLI_FUZZ_TEXT_MODEL, &model) == MLI_OK, "%s", mli_last_error());
    return 0;
}

/* The probabilities of `rows` rows of the column "text": plain UTF-8 (n_dict 0: values and
 * offsets per row) or a dictionary of n_dict entries (values: the codes). */
static mli_status score(const void *values, const int64_t *off, const char *dict, int64_t n_dict, int64_t rows,
                        double *out) {
    mli_column col;
    memset(&col, 0, sizeof col);
    col.name = "text";
    col.type = n_dict ? MLI_COLUMN_DICT_UTF8 : MLI_COLUMN_UTF8;
    col.values = values;
    col.offsets = off;
    col.dict_bytes = dict;
    col.n_dict = n_dict;
    return mli_model_predict_columns(model, &col, 1, rows, MLI_OUTPUT_PROBA, out, rows * 3);
}

/* `rows` rows of a dictionary column of n documents (row r: document r % n). */
static mli_status score_dict(const int64_t *off, int64_t n, const char *bytes, int64_t rows, double *out) {
    int32_t codes[ROWS];
    for (int64_t r = 0; r < rows; ++r)
        codes[r] = (int32_t)(r % n);
    return score(codes, off, bytes, n, rows, out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!model)
        LLVMFuzzerInitialize(NULL, NULL);
    FUZZ_CHECK(mli_model_output_len(model, MLI_OUTPUT_PROBA) == 3, "the text model has not 3 probabilities");
    /* the documents, contiguous in bytes (without the newlines that cut them) */
    char *bytes = malloc(size + 1), *plain = malloc(size * ROWS + 1);
    int64_t off[MAX_DOCS + 1] = {0}, n = 0, w = 0;
    for (size_t i = 0; bytes && plain && i <= size; ++i) {
        if (i == size || (data[i] == '\n' && n < MAX_DOCS - 1)) {
            off[++n] = w;
            continue;
        }
        bytes[w++] = (char)data[i];
    }
    if (!bytes || !plain) {
        free(bytes);
        free(plain);
        return 0;
    }
    double alone[MAX_DOCS * 3], block[ROWS * 3], rows_out[ROWS * 3];
    int64_t first_bad = -1;
    for (int64_t d = 0; d < n; ++d) { /* one by one */
        int64_t o1[2] = {0, off[d + 1] - off[d]};
        mli_status st = score_dict(o1, 1, bytes + off[d], 1, alone + 3 * d);
        if (st != MLI_OK) {
            FUZZ_CHECK(st == MLI_ERR_INPUT, "document %lld alone: %s", (long long)d, mli_last_error());
            fuzz_check_failure(st, "mli_model_predict_columns (one document)");
            if (first_bad < 0)
                first_bad = d;
        }
    }
    mli_status st = score_dict(off, n, bytes, ROWS, block); /* all at once */
    FUZZ_CHECK((st == MLI_OK) == (first_bad < 0), "block %d, first bad document alone %lld: %s", (int)st,
               (long long)first_bad, mli_last_error());
    if (st != MLI_OK) {
        char want[32];
        snprintf(want, sizeof want, "row %lld:", (long long)first_bad);
        FUZZ_CHECK(strstr(mli_last_error(), want) != NULL, "the block's error names another row than %lld: %s",
                   (long long)first_bad, mli_last_error());
    }
    int64_t roff[ROWS + 1] = {0}, p = 0; /* all at once, a plain column: each row its own copy */
    for (int64_t r = 0; r < ROWS; ++r) {
        int64_t d = r % n, l = off[d + 1] - off[d];
        memcpy(plain + p, bytes + off[d], (size_t)l);
        p += l;
        roff[r + 1] = p;
    }
    mli_status st2 = score(plain, roff, NULL, 0, ROWS, rows_out);
    FUZZ_CHECK(st2 == st, "plain column %d, dictionary column %d: %s", (int)st2, (int)st, mli_last_error());
    for (int64_t r = 0; st == MLI_OK && r < ROWS; ++r)
        for (int j = 0; j < 3; ++j) {
            double a = alone[3 * (r % n) + j];
            FUZZ_CHECK(block[3 * r + j] == a && rows_out[3 * r + j] == a,
                       "row %lld, class %d: alone %.17g, dictionary block %.17g, plain block %.17g", (long long)r, j, a,
                       block[3 * r + j], rows_out[3 * r + j]);
        }
    free(bytes);
    free(plain);
    return 0;
}
