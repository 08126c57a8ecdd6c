/* mlinfer.c — the `mlinfer` command: inspect a model, predict a CSV file with it.
 *   mlinfer info MODEL
 *   mlinfer predict MODEL INPUT.csv [-o OUT.csv] [--proba | --contrib | --interactions] [--no-header]
 *     (--contrib: SHAP contributions, a header line then per row each column's share of
 *     each raw score and the bias; docs/TREES.md, "Contributions"; --interactions: SHAP
 *     interaction values, a header line naming each pair "A|B" then per row the
 *     (columns + 1) x (columns + 1) matrix row by row; docs/TREES.md, "Interactions")
 *   mlinfer predict MODEL IMAGE.jpg [IMAGE.jpg ...] [-o OUT.csv] [--proba]
 *     (a model with an image stage; inputs starting with FF D8 FF are JPEGs: one output
 *     line per image, in order)
 * Input CSV (RFC 4180: quoted fields with doubled quotes, commas and newlines inside):
 * for a model that records its column names, a header line maps the columns by name (any
 * order, other columns ignored); without names, or with --no-header, columns are taken by
 * position (a first line that is not numeric is then skipped as a header, unless
 * --no-header; --header skips the first line whatever it holds; a first line 0,1,...,n-1,
 * DataFrame.to_csv's header for unnamed columns, needs one of the two); a UTF-8 byte order mark before it is skipped. Empty fields and the texts
 * pandas.read_csv reads as missing (NA, NaN, nan, null, None, N/A, NULL, <NA>, ...: the
 * whole field) are missing values, in number and string columns alike (--keep-na-text: only
 * empty fields in string columns, as keep_default_na=False): trees and pipelines that impute
 * them take them, other models refuse the row. String columns of a pipeline take the
 * field's text. A row that cannot be scored stops the command with its
 * line and column and exit status 1. Rows stream through in
 * batches, so the input may be larger than memory. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../common/utf8.h"
#include "mlinfer.h"

#define BATCH_ROWS 4096
/* --interactions: output values per batch (rows x (columns + 1)^2 x raw scores): 2 MiB of doubles */
#define BATCH_INTERACTION_VALUES ((int64_t)1 << 18)

static int usage(void) {
    fprintf(stderr, "usage: mlinfer info MODEL\n"
                    "       mlinfer predict MODEL INPUT.csv [-o OUT.csv] [--proba | --contrib | --interactions]\n"
                    "               [--no-header | --header] [--keep-na-text]\n"
                    "       mlinfer predict MODEL IMAGE.jpg [IMAGE.jpg ...] [-o OUT.csv] [--proba]\n"
                    "       mlinfer convert IN OUT.mli   (XGBoost .json/.ubj, LightGBM .txt or CatBoost .json)\n");
    return 2;
}

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static mli_model *open_model(const char *path, double *ms) {
    mli_model *m = NULL;
    double t0 = now();
    mli_status st = mli_model_load(path, &m);
    if (ms)
        *ms = (now() - t0) * 1e3;
    if (st != MLI_OK)
        fprintf(stderr, "mlinfer: cannot load model: %s\n", mli_last_error());
    return m;
}

static void print_label(FILE *f, const mli_model *m, int64_t i) {
    if (mli_model_labels_are_strings(m)) {
        const char *s = "";
        mli_model_class_label_str(m, i, &s);
        fputs(s, f);
    } else {
        int64_t v = 0;
        mli_model_class_label_int(m, i, &v);
        fprintf(f, "%lld", (long long)v);
    }
}

static int cmd_info(const char *path) {
    double ms;
    mli_model *m = open_model(path, &ms);
    if (!m)
        return 1;
    const char *source = mli_model_meta(m, "source"), *producer = mli_model_meta(m, "producer");
    printf("model:      %s\n", path);
    printf("source:     %s\n", source ? source : "(unknown)");
    printf("producer:   %s\n", producer ? producer : "(unknown)");
    printf("task:       %s\n", mli_model_task(m) == MLI_TASK_CLASSIFICATION ? "classification" : "regression");
    printf("features:   %lld\n", (long long)mli_model_n_features(m));
    if (mli_model_task(m) == MLI_TASK_CLASSIFICATION) {
        printf("classes:    %lld [", (long long)mli_model_n_classes(m));
        for (int64_t i = 0; i < mli_model_n_classes(m) && i < 20; ++i) {
            if (i)
                fputs(", ", stdout);
            print_label(stdout, m, i);
        }
        printf("%s]\n", mli_model_n_classes(m) > 20 ? ", ..." : "");
        printf("outputs:    predict%s%s\n", mli_model_has_proba(m) ? ", predict_proba" : "",
               mli_model_n_decision(m) ? ", decision_function" : "");
    } else {
        printf("outputs:    %lld\n", (long long)mli_model_n_outputs(m));
    }
    const char *stages = mli_model_meta(m, "stages");
    int n = stages ? atoi(stages) : 0;
    printf("stages:    ");
    for (int i = 0; i < n; ++i) {
        char key[32];
        snprintf(key, sizeof key, "stage.%d.kind", i);
        const char *kind = mli_model_meta(m, key);
        printf(" %s%s", kind ? kind : "?", i + 1 < n ? " ->" : "");
    }
    printf(" -> %s\n", mli_model_meta(m, "head") ? mli_model_meta(m, "head") : "?");
    mli_image_spec img;
    if (mli_model_has_image(m) && mli_model_image_spec(m, &img) == MLI_OK) {
        static const char *const colors[] = {"gray", "rgb", "bgr"}, *const fits[] = {"stretch", "shorter", "crop"};
        printf("image:      JPEG -> %d x %d %s (%s, %s, %s)\n", img.width, img.height, colors[img.color % 3],
               fits[img.fit % 3], img.resize == MLI_RESIZE_AREA ? "area" : "bilinear",
               img.layout == MLI_LAYOUT_CHW ? "CHW" : "HWC");
    }
    if (mli_model_n_trees(m) > 0 && n > 0) { /* the trees stage is the last one (after scalers) */
        char key[32];
        snprintf(key, sizeof key, "stage.%d.n_nodes", n - 1);
        const char *nodes = mli_model_meta(m, key);
        printf("trees:      %lld (%s nodes)\n", (long long)mli_model_n_trees(m), nodes ? nodes : "?");
    }
    int64_t n_contrib = mli_model_n_contrib(m), n_raw = mli_model_n_raw(m);
    if (n_contrib > 0 && n_raw > 0) { /* --contrib's columns: the input columns, then mixed transformed features */
        int64_t groups = n_contrib / n_raw - 1, mixed = groups - mli_model_n_features(m);
        printf("contrib:    %lld columns + bias", (long long)groups);
        for (int64_t i = groups - mixed; i < groups && i < groups - mixed + 5; ++i) {
            const char *name = NULL;
            mli_model_contrib_column(m, i, NULL, &name);
            printf("%s%s", i == groups - mixed ? "; of several input columns: " : ", ", name ? name : "?");
        }
        printf("%s\n", mixed > 5 ? ", ..." : "");
    }
    printf("load time:  %.3f ms (libmlinfer %s, %s kernels)\n", ms, mli_version(), mli_cpu_isa());
    mli_model_free(m);
    return 0;
}

/* ---- CSV input (RFC 4180) ------------------------------------------------------------ */

/* Bounds on one record, so that a hostile file costs bounded memory: a record (a row,
 * which quoted newlines may spread over several lines) of at most 16 MiB and 1M fields. */
#define MAX_RECORD_BYTES ((size_t)16 << 20)
#define MAX_FIELDS ((int64_t)1 << 20)
/* A batch is scored early once its string bytes pass this. */
#define MAX_BATCH_STRING_BYTES ((size_t)64 << 20)

typedef struct {
    FILE *in;
    char *buf; /* the record's fields, decoded, each followed by a NUL */
    size_t len, cap;
    size_t *start; /* field i is buf + start[i], flen[i] bytes */
    size_t *flen;
    int64_t nf, fcap;
    int64_t line, next_line; /* the record's first line; the line the next record starts on */
    int started;             /* whether the input's first bytes were looked at (a UTF-8 BOM is skipped) */
    int pend[3], n_pend;     /* bytes read ahead at the start, given back in reverse order */
    char err[160];
} csv_reader;

/* The next byte of the input (getc_unlocked: the command reads its input from one thread). */
static int csv_getc(csv_reader *r) { return r->n_pend ? r->pend[--r->n_pend] : getc_unlocked(r->in); }

/* A UTF-8 byte order mark at the start of the input (what Excel and Windows tools write
 * before "UTF-8 CSV") is not part of the first field, as pandas.read_csv drops it. */
static void csv_skip_bom(csv_reader *r) {
    static const int bom[3] = {0xEF, 0xBB, 0xBF};
    int got[3], n = 0;
    r->started = 1;
    while (n < 3 && (got[n] = getc_unlocked(r->in)) == bom[n])
        ++n;
    if (n == 3)
        return;
    if (got[n] != EOF) /* the byte that differed, then the matching ones before it */
        r->pend[r->n_pend++] = got[n];
    while (n > 0)
        r->pend[r->n_pend++] = got[--n];
}

static int csv_put(csv_reader *r, char c) {
    if (r->len + 1 >= r->cap) {
        if (r->cap >= MAX_RECORD_BYTES) {
            snprintf(r->err, sizeof r->err, "a record longer than %zu MiB", MAX_RECORD_BYTES >> 20);
            return -1;
        }
        size_t cap = r->cap ? r->cap * 2 : 256;
        char *b = realloc(r->buf, cap);
        if (!b) {
            snprintf(r->err, sizeof r->err, "out of memory");
            return -1;
        }
        r->buf = b;
        r->cap = cap;
    }
    r->buf[r->len++] = c;
    return 0;
}

static int csv_end_field(csv_reader *r, size_t start) {
    if (r->nf == r->fcap) {
        if (r->fcap >= MAX_FIELDS) {
            snprintf(r->err, sizeof r->err, "more than %lld fields", (long long)MAX_FIELDS);
            return -1;
        }
        int64_t cap = r->fcap ? r->fcap * 2 : 64;
        size_t *s = realloc(r->start, sizeof(size_t) * (size_t)cap);
        if (s)
            r->start = s;
        size_t *l = s ? realloc(r->flen, sizeof(size_t) * (size_t)cap) : NULL;
        if (!l) {
            snprintf(r->err, sizeof r->err, "out of memory");
            return -1;
        }
        r->flen = l;
        r->fcap = cap;
    }
    r->start[r->nf] = start;
    r->flen[r->nf++] = r->len - start;
    return csv_put(r, 0);
}

/* Reads the next record: 1, 0 at the end of the input, -1 with r->err for a malformed one
 * (r->line is then the line of the error). Blank lines are skipped. Fields are unquoted per
 * RFC 4180: "a ""b"", c" is the field a "b", c; a quoted field may hold newlines. */
static int csv_read(csv_reader *r) {
    if (!r->started)
        csv_skip_bom(r);
    for (;;) {
        r->len = 0;
        r->nf = 0;
        r->line = r->next_line;
        int c = csv_getc(r);
        if (c == EOF)
            return 0;
        if (c == '\n' || (c == '\r' && (c = csv_getc(r)) == '\n')) { /* a blank line */
            ++r->next_line;
            continue;
        }
        if (c == EOF)
            return 0;
        for (;;) { /* one field per turn, c its first character */
            size_t start = r->len;
            if (c == '"') {
                int64_t opened = r->next_line;
                for (;;) {
                    c = csv_getc(r);
                    if (c == EOF) {
                        snprintf(r->err, sizeof r->err, "the quoted field opened on line %lld is not closed",
                                 (long long)opened);
                        return -1;
                    }
                    if (c == '"' && (c = csv_getc(r)) != '"')
                        break;
                    if (c == '\n')
                        ++r->next_line;
                    if (csv_put(r, (char)c) != 0)
                        return -1;
                }
                if (c == '\r' && (c = csv_getc(r)) != '\n')
                    c = '\r';
                if (c != ',' && c != '\n' && c != EOF) {
                    r->line = r->next_line;
                    snprintf(r->err, sizeof r->err, "field %lld: a character after its closing quote",
                             (long long)r->nf + 1);
                    return -1;
                }
            } else {
                while (c != ',' && c != '\n' && c != EOF) {
                    if (c == '\r') {
                        if ((c = csv_getc(r)) == '\n')
                            break;
                        if (csv_put(r, '\r') != 0)
                            return -1;
                        continue;
                    }
                    if (c == '"') {
                        r->line = r->next_line;
                        snprintf(r->err, sizeof r->err,
                                 "field %lld: a quote inside an unquoted field (quote the whole field, "
                                 "doubling the quotes inside it)",
                                 (long long)r->nf + 1);
                        return -1;
                    }
                    if (csv_put(r, (char)c) != 0)
                        return -1;
                    c = csv_getc(r);
                }
            }
            if (csv_end_field(r, start) != 0)
                return -1;
            if (c != ',') {
                ++r->next_line;
                return 1;
            }
            c = csv_getc(r);
        }
    }
}

/* Whether a field is one of the texts pandas.read_csv reads as a missing value by default
 * (its na_values when keep_default_na is true: the whole field, exactly as written). */
static int na_text(const char *f, size_t len) {
    static const char *const na[] = {"#N/A", "#N/A N/A", "#NA",     "-1.#IND", "-1.#QNAN", "-NaN",
                                     "-nan", "1.#IND",   "1.#QNAN", "<NA>",    "N/A",      "NA",
                                     "NULL", "NaN",      "None",    "n/a",     "nan",      "null"};
    if (len == 0 || len > 8)
        return len == 0;
    for (size_t i = 0; i < sizeof na / sizeof na[0]; ++i)
        if (strlen(na[i]) == len && memcmp(na[i], f, len) == 0)
            return 1;
    return 0;
}

/* Parses a number field of flen bytes: 1, or 0 for a missing value (an empty field or a text
 * pandas.read_csv reads as missing, such as NA or nan: *v = NaN), or -1 when it is not a
 * number. Surrounding blanks are allowed; otherwise a field is a number where pandas reads
 * one, or where Python's float() (which scikit-learn applies to a column pandas left as text)
 * takes it: not hexadecimal ("0x1A"), not "nan(...)", not blanks alone. */
static int parse_number(const char *f, size_t flen, double *v) {
    if (na_text(f, flen)) {
        *v = NAN;
        return 0;
    }
    while (*f == ' ' || *f == '\t')
        ++f;
    const char *digits = f + (*f == '+' || *f == '-');
    if (*f == 0 || (digits[0] == '0' && (digits[1] == 'x' || digits[1] == 'X')))
        return -1;
    char *stop;
    *v = strtod(f, &stop);
    while (*stop == ' ' || *stop == '\t')
        ++stop;
    if (*stop || stop == f || memchr(f, '(', (size_t)(stop - f)))
        return -1;
    return isnan(*v) ? 0 : 1;
}

typedef struct {
    FILE *out;
    mli_model *m;
    const char *path;
    int proba;             /* 1: predict_proba, 2: contributions, 3: interactions */
    int64_t batch_rows;    /* rows per model call: BATCH_ROWS, fewer for interactions */
    int take_missing;      /* whether the model scores rows with missing values itself */
    int keep_na_text;      /* --keep-na-text: only an empty field is missing in a string column */
    int64_t k, cols, n_in; /* model columns, output columns, columns given */
    mli_column *in;        /* n_in columns of the batch */
    int64_t *model_col;    /* model column of in[i] */
    int64_t *field;        /* CSV field of in[i] */
    double *num;           /* in[i]'s numbers at num + i * BATCH_ROWS */
    int64_t *offsets;      /* string columns: BATCH_ROWS + 1 offsets each, at i * (BATCH_ROWS + 1) */
    uint8_t *valid;        /* validity bitmaps, BATCH_ROWS / 8 bytes each */
    char **bytes;          /* string columns: the batch's bytes of in[i] (a string per row, in order) */
    size_t *col_bytes, *bytes_cap;
    size_t n_bytes; /* string bytes of the batch, all columns */
    int64_t *lines; /* the line of each row of the batch */
    char *na_texts; /* per row of the batch: whether a string field was a missing text (NA, None, ...) */
    double *y;
} predict_ctx;

/* The name of model column j for messages: 'name', or column J (1-based) without names. */
static void column_label(const predict_ctx *c, int64_t j, char *buf, size_t size) {
    const char *name = NULL;
    if (mli_model_feature_name(c->m, j, &name) == MLI_OK)
        snprintf(buf, size, "column '%.100s'", name);
    else
        snprintf(buf, size, "column %lld", (long long)j + 1);
}

static int flush_batch(predict_ctx *c, int64_t rows) {
    if (rows == 0)
        return 0;
    mli_status st;
    for (int64_t i = 0; i < c->n_in; ++i) /* string bytes moved while growing: repoint */
        if (c->in[i].type == MLI_COLUMN_UTF8)
            c->in[i].values = c->bytes[i] ? c->bytes[i] : "";
    if (c->proba == 2) { /* contributions per input column, strings and missing values as predict takes them */
        st = mli_model_predict_contrib_columns(c->m, c->in, c->n_in, rows, c->y, rows * c->cols);
    } else if (c->proba == 3) {
        st = mli_model_predict_interactions_columns(c->m, c->in, c->n_in, rows, c->y, rows * c->cols);
    } else {
        st = mli_model_predict_columns(c->m, c->in, c->n_in, rows, c->proba ? MLI_OUTPUT_PROBA : MLI_OUTPUT_PREDICT,
                                       c->y, rows * c->cols);
    }
    if (st != MLI_OK) {
        const char *msg = mli_last_error(), *at = strstr(msg, ", row ");
        long long row = at ? strtoll(at + 6, NULL, 10) : -1;
        if (st == MLI_ERR_INPUT && row >= 0 && row < rows) /* the library names the batch's row */
            fprintf(stderr, "mlinfer: %s:%lld: %s%s\n", c->path, (long long)c->lines[row], msg,
                    c->na_texts[row] ? " (a string field of this row is a text pandas.read_csv reads as missing, "
                                       "such as NA or None: --keep-na-text takes it as text)"
                                     : "");
        else
            fprintf(stderr, "mlinfer: %s:%lld-%lld: predict failed: %s\n", c->path, (long long)c->lines[0],
                    (long long)c->lines[rows - 1], msg);
        return 1;
    }
    int classifier = mli_model_task(c->m) == MLI_TASK_CLASSIFICATION;
    for (int64_t r = 0; r < rows; ++r) {
        for (int64_t j = 0; j < c->cols; ++j) {
            if (j)
                fputc(',', c->out);
            double v = c->y[r * c->cols + j];
            if (classifier && !c->proba) {
                if (!(v >= 0 && v < (double)mli_model_n_classes(c->m))) { /* never a label for NaN */
                    fprintf(stderr, "mlinfer: %s:%lld: the model gave no class for this row\n", c->path,
                            (long long)c->lines[r]);
                    return 1;
                }
                print_label(c->out, c->m, (int64_t)v);
            } else if (isnan(v)) { /* never a NaN printed as an answer */
                fprintf(stderr, "mlinfer: %s:%lld: the model gave NaN for this row\n", c->path, (long long)c->lines[r]);
                return 1;
            } else {
                fprintf(c->out, c->proba >= 2 ? "%.17g" : "%.9g", v);
            }
        }
        fputc('\n', c->out);
    }
    c->n_bytes = 0;
    for (int64_t i = 0; i < c->n_in; ++i)
        c->col_bytes[i] = 0;
    return ferror(c->out) ? (fprintf(stderr, "mlinfer: write failed: %s\n", strerror(errno)), 1) : 0;
}

/* Stores record r->fields as row `row` of the batch; 1 with a message naming the line and
 * column for a value that cannot be scored. */
static int add_row(predict_ctx *c, const csv_reader *r, int64_t row) {
    c->lines[row] = r->line;
    c->na_texts[row] = 0;
    for (int64_t i = 0; i < c->n_in; ++i) {
        mli_column *col = &c->in[i];
        const char *f = r->buf + r->start[c->field[i]];
        size_t flen = r->flen[c->field[i]];
        char label[128];
        if (col->type == MLI_COLUMN_UTF8) {
            size_t bad = utf8_invalid_at((const unsigned char *)f, flen);
            if (bad < flen) { /* a Latin-1 or cp1252 file: its bytes would be a category never seen */
                column_label(c, c->model_col[i], label, sizeof label);
                fprintf(stderr,
                        "mlinfer: %s:%lld: %s: the field is not UTF-8 (byte 0x%02X at offset %zu), as pandas.read_csv "
                        "refuses it too; convert the file to UTF-8 (e.g. iconv -f cp1252 -t utf-8)\n",
                        c->path, (long long)r->line, label, (unsigned)(unsigned char)f[bad], bad);
                return 1;
            }
            int64_t *off = c->offsets + i * (BATCH_ROWS + 1);
            uint8_t *valid = c->valid + i * (BATCH_ROWS / 8);
            size_t used = c->col_bytes[i];
            if (row == 0)
                off[0] = 0;
            if (used + flen > c->bytes_cap[i]) {
                size_t cap = c->bytes_cap[i] ? c->bytes_cap[i] : 1 << 12;
                while (cap < used + flen)
                    cap *= 2;
                char *b = realloc(c->bytes[i], cap);
                if (!b) {
                    fprintf(stderr, "mlinfer: out of memory\n");
                    return 1;
                }
                c->bytes[i] = b;
                c->bytes_cap[i] = cap;
            }
            if (flen)
                memcpy(c->bytes[i] + used, f, flen);
            c->col_bytes[i] = used + flen;
            c->n_bytes += flen;
            off[row + 1] = (int64_t)(used + flen);
            /* an empty field, or NA, null, nan, ... (pandas.read_csv's default missing texts), is a
             * missing value (a null), as pandas reads it; with --keep-na-text only an empty field */
            int missing_text = flen > 0 && !c->keep_na_text && na_text(f, flen);
            c->na_texts[row] |= (char)missing_text;
            if (flen == 0 || missing_text)
                valid[row >> 3] &= (uint8_t) ~(1u << (row & 7));
            else
                valid[row >> 3] |= (uint8_t)(1u << (row & 7));
            continue;
        }
        double v;
        int got = parse_number(f, flen, &v);
        if (got < 0) {
            column_label(c, c->model_col[i], label, sizeof label);
            fprintf(stderr, "mlinfer: %s:%lld: %s: '%.60s' is not a number\n", c->path, (long long)r->line, label, f);
            return 1;
        }
        if (got == 0 && !c->take_missing) {
            column_label(c, c->model_col[i], label, sizeof label);
            const char *src = mli_model_meta(c->m, "source");
            fprintf(stderr,
                    "mlinfer: %s:%lld: %s: a missing value (%s%.20s%s), and this model (%s) cannot take missing "
                    "values, as in scikit-learn\n",
                    c->path, (long long)r->line, label, flen ? "'" : "an empty field", flen ? f : "", flen ? "'" : "",
                    src ? src : "?");
            return 1;
        }
        c->num[i * BATCH_ROWS + row] = v;
    }
    return 0;
}

/* The model's columns found in a header record: how many, and their fields in c->field
 * (-1 where absent). 1 with a message for a column named twice. */
static int map_header(predict_ctx *c, const csv_reader *r, int64_t *field, int64_t *found) {
    *found = 0;
    for (int64_t j = 0; j < c->k; ++j)
        field[j] = -1;
    for (int64_t f = 0; f < r->nf; ++f) {
        int64_t j;
        if (mli_model_column_index(c->m, r->buf + r->start[f], &j) != MLI_OK || j < 0 || j >= c->k)
            continue;
        if (field[j] >= 0) {
            fprintf(stderr, "mlinfer: %s:%lld: the header names column '%.100s' twice (fields %lld and %lld)\n",
                    c->path, (long long)r->line, r->buf + r->start[f], (long long)field[j] + 1, (long long)f + 1);
            return 1;
        }
        field[j] = f;
        ++*found;
    }
    return 0;
}

/* Sets up c->in from field[j] (the CSV field of model column j, -1 for none): 1 with a
 * message naming a model column the CSV lacks. */
static int setup_columns(predict_ctx *c, const int64_t *field, int64_t line) {
    c->n_in = 0;
    for (int64_t j = 0; j < c->k; ++j) {
        mli_column_kind kind = MLI_COLUMN_NUMBER;
        mli_model_column_kind(c->m, j, &kind);
        if (kind == MLI_COLUMN_UNUSED) /* dropped by the pipeline: its field is not read */
            continue;
        if (field[j] < 0) {
            char label[128];
            column_label(c, j, label, sizeof label);
            fprintf(stderr, "mlinfer: %s:%lld: the header lacks %s (%s), which the model takes\n", c->path,
                    (long long)line, label, kind == MLI_COLUMN_STRING ? "strings" : "numbers");
            return 1;
        }
        mli_column *col = &c->in[c->n_in];
        memset(col, 0, sizeof *col);
        col->name = NULL;
        col->index = j;
        if (kind == MLI_COLUMN_STRING) {
            col->type = MLI_COLUMN_UTF8;
            col->offsets = c->offsets + c->n_in * (BATCH_ROWS + 1);
            col->validity = c->valid + c->n_in * (BATCH_ROWS / 8);
        } else {
            col->type = MLI_COLUMN_F64;
            col->values = c->num + c->n_in * BATCH_ROWS;
        }
        c->model_col[c->n_in] = j;
        c->field[c->n_in] = field[j];
        ++c->n_in;
    }
    return 0;
}

/* Whether a record's fields are 0, 1, ..., n-1 as written: the header DataFrame.to_csv writes
 * for a frame made from an array (its RangeIndex column labels), which could also be a row. */
static int index_labels(const csv_reader *r) {
    for (int64_t f = 0; f < r->nf; ++f) {
        char want[24];
        snprintf(want, sizeof want, "%lld", (long long)f);
        if (strcmp(r->buf + r->start[f], want) != 0)
            return 0;
    }
    return r->nf > 0;
}

/* Whether the model's names are LightGBM's defaults (Column_0, Column_1, ...: it records
 * them for a matrix without names): such a model reads a headerless CSV by position, as a
 * model without names does (a header naming the columns maps them all the same). */
static int default_names(const mli_model *m) {
    for (int64_t j = 0; j < mli_model_n_features(m); ++j) {
        const char *name = NULL;
        char want[32];
        snprintf(want, sizeof want, "Column_%lld", (long long)j);
        if (mli_model_feature_name(m, j, &name) != MLI_OK || strcmp(name, want) != 0)
            return 0;
    }
    return 1;
}

/* Contribution column j's name for a CSV header: "bias" for j == n_columns, the column's
 * name (mli_model_contrib_column) unless it holds one of `bad`, else fJ. */
static void print_contrib_name(FILE *out, const mli_model *m, int64_t j, int64_t n_columns, const char *bad) {
    const char *name = NULL;
    if (j == n_columns)
        fputs("bias", out);
    else if (mli_model_contrib_column(m, j, NULL, &name) == MLI_OK && name && !strpbrk(name, bad))
        fputs(name, out);
    else
        fprintf(out, "f%lld", (long long)j);
}

static int cmd_predict(const char *model_path, const char *in_path, const char *out_path, int proba, int no_header,
                       int keep_na_text) {
    int force_header = no_header < 0; /* no_header: 1 --no-header, -1 --header, 0 neither */
    no_header = no_header > 0;
    mli_model *m = open_model(model_path, NULL);
    if (!m)
        return 1;
    if (proba == 1 && !mli_model_has_proba(m)) {
        fprintf(stderr, "mlinfer: --proba: this model (%s) has no predict_proba\n",
                mli_model_meta(m, "source") ? mli_model_meta(m, "source") : "?");
        mli_model_free(m);
        return 1;
    }
    if (proba == 2 && mli_model_n_contrib(m) == 0) { /* the call with no rows says why */
        mli_model_predict_contrib(m, NULL, MLI_F64, 0, mli_model_n_features(m), NULL, 0);
        fprintf(stderr, "mlinfer: --contrib: %s\n", mli_last_error());
        mli_model_free(m);
        return 1;
    }
    if (proba == 3 && mli_model_n_interactions(m) == 0) {
        mli_model_predict_interactions(m, NULL, MLI_F64, 0, mli_model_n_features(m), NULL, 0);
        fprintf(stderr, "mlinfer: --interactions: %s\n", mli_last_error());
        mli_model_free(m);
        return 1;
    }
    FILE *in = strcmp(in_path, "-") == 0 ? stdin : fopen(in_path, "r");
    if (!in) {
        fprintf(stderr, "mlinfer: cannot open %s: %s\n", in_path, strerror(errno));
        mli_model_free(m);
        return 1;
    }
    FILE *out = out_path ? fopen(out_path, "w") : stdout;
    if (!out) {
        fprintf(stderr, "mlinfer: cannot create %s: %s\n", out_path, strerror(errno));
        if (in != stdin)
            fclose(in);
        mli_model_free(m);
        return 1;
    }
    struct stat stt;
    double total = (in != stdin && fstat(fileno(in), &stt) == 0) ? (double)stt.st_size : 0;
    int progress = total > 0 && isatty(STDERR_FILENO);
    const char *first_stage = mli_model_meta(m, "stage.0.kind"), *name0 = NULL;
    predict_ctx c = {.out = out,
                     .m = m,
                     .path = in_path,
                     .proba = proba,
                     .k = mli_model_n_features(m),
                     .keep_na_text = keep_na_text};
    /* A prep stage refuses missing values its pipeline cannot take (naming them); without one,
     * trees route them as their framework does, while other models would turn them into NaN. */
    c.take_missing = (first_stage && strcmp(first_stage, "prep") == 0) || mli_model_n_trees(m) > 0;
    int named = mli_model_feature_name(m, 0, &name0) == MLI_OK, optional_header = named && default_names(m);
    c.cols = proba == 3   ? mli_model_n_interactions(m)
             : proba == 2 ? mli_model_n_contrib(m)
             : proba      ? mli_model_n_classes(m)
                          : mli_model_n_outputs(m);
    c.batch_rows = BATCH_ROWS;
    if (proba == 3 && c.batch_rows > BATCH_INTERACTION_VALUES / c.cols) /* (columns + 1)^2 values a row */
        c.batch_rows = BATCH_INTERACTION_VALUES / c.cols > 0 ? BATCH_INTERACTION_VALUES / c.cols : 1;
    size_t k = (size_t)c.k;
    c.in = malloc(sizeof(mli_column) * k);
    c.model_col = malloc(sizeof(int64_t) * k);
    c.field = malloc(sizeof(int64_t) * k);
    int64_t *field = malloc(sizeof(int64_t) * k);
    c.num = malloc(sizeof(double) * BATCH_ROWS * k);
    c.offsets = malloc(sizeof(int64_t) * (BATCH_ROWS + 1) * k);
    c.valid = malloc(BATCH_ROWS / 8 * k);
    c.lines = malloc(sizeof(int64_t) * BATCH_ROWS);
    c.na_texts = malloc(BATCH_ROWS);
    c.bytes = calloc(k ? k : 1, sizeof(char *));
    c.col_bytes = calloc(k ? k : 1, sizeof(size_t));
    c.bytes_cap = calloc(k ? k : 1, sizeof(size_t));
    c.y = malloc(sizeof(double) * (size_t)c.batch_rows * (size_t)c.cols);
    int rc = (c.in && c.model_col && c.field && field && c.num && c.offsets && c.valid && c.lines && c.na_texts &&
              c.bytes && c.col_bytes && c.bytes_cap && c.y)
                 ? 0
                 : (fprintf(stderr, "mlinfer: out of memory\n"), 1);
    if (rc == 0 && proba == 1) { /* header: one column per class */
        for (int64_t j = 0; j < c.cols; ++j) {
            fputs(j ? ",proba_" : "proba_", out);
            print_label(out, m, j);
        }
        fputc('\n', out);
    } else if (rc == 0 && proba == 2) {
        /* header: each contribution column's name (an input column, or transformed:NAME for a
         * feature of several columns; fJ without a usable name) and bias, ":K" per raw score */
        int64_t n_raw = mli_model_n_raw(m), groups = c.cols / n_raw - 1;
        for (int64_t j = 0; j <= groups; ++j)
            for (int64_t s = 0; s < n_raw; ++s) {
                if (j || s)
                    fputc(',', out);
                print_contrib_name(out, m, j, groups, ",\"\r\n");
                if (n_raw > 1)
                    fprintf(out, ":%lld", (long long)s);
            }
        fputc('\n', out);
    } else if (rc == 0 && proba == 3) {
        /* header: the pairs in the matrix's order, "A|B" (row A, column B; A|A a main effect),
         * names as for --contrib (fJ as well for a name holding '|'), ":K" per raw score */
        int64_t n_raw = mli_model_n_raw(m), groups = mli_model_n_contrib(m) / n_raw - 1;
        for (int64_t i = 0; i <= groups; ++i)
            for (int64_t j = 0; j <= groups; ++j)
                for (int64_t s = 0; s < n_raw; ++s) {
                    if (i || j || s)
                        fputc(',', out);
                    print_contrib_name(out, m, i, groups, ",\"\r\n|");
                    fputc('|', out);
                    print_contrib_name(out, m, j, groups, ",\"\r\n|");
                    if (n_raw > 1)
                        fprintf(out, ":%lld", (long long)s);
                }
        fputc('\n', out);
    }
    csv_reader r = {.in = in, .next_line = 1};
    int64_t rows = 0, done = 0, n_fields = -1; /* n_fields: of the header, or -1 (positional) */
    double last_report = 0;
    int first = 1;
    while (rc == 0) {
        int got = csv_read(&r);
        if (got < 0) {
            fprintf(stderr, "mlinfer: %s:%lld: %s\n", in_path, (long long)r.line, r.err);
            rc = 1;
            break;
        }
        if (got == 0)
            break;
        if (first) { /* a header, or the first row */
            first = 0;
            int64_t found = 0;
            if (!no_header && named && (rc = map_header(&c, &r, field, &found)) != 0)
                break;
            if (!no_header && named && found == 0 && !optional_header) {
                fprintf(stderr,
                        "mlinfer: %s:%lld: the first line names none of the model's columns ('%.60s', ...): "
                        "add a header line naming them, or pass --no-header to take the columns by position\n",
                        in_path, (long long)r.line, name0);
                rc = 1;
                break;
            }
            if (!no_header && named && found > 0) {
                n_fields = r.nf;
                rc = setup_columns(&c, field, r.line);
                continue;
            }
            for (int64_t j = 0; j < c.k; ++j)
                field[j] = j;
            if ((rc = setup_columns(&c, field, r.line)) != 0)
                break;
            if (force_header) /* --header: the first line names the columns, whatever it holds */
                continue;
            if (!no_header) { /* a model without names: a first line that is not numeric is a header */
                int header = 0;
                double v;
                for (int64_t f = 0; f < r.nf && !header; ++f) { /* (a field of blanks is a bad value, not a name) */
                    const char *t = r.buf + r.start[f];
                    header = parse_number(t, r.flen[f], &v) < 0 && t[strspn(t, " \t")] != 0;
                }
                if (header)
                    continue;
                if (index_labels(&r)) {
                    fprintf(stderr,
                            "mlinfer: %s:%lld: the first line is 0,1,...,%lld, the header pandas' to_csv writes for "
                            "unnamed columns, or a row: pass --header to skip it as a header, or --no-header to "
                            "score it\n",
                            in_path, (long long)r.line, (long long)r.nf - 1);
                    rc = 1;
                    break;
                }
            }
        }
        if (n_fields >= 0 && r.nf != n_fields) {
            fprintf(stderr, "mlinfer: %s:%lld: %lld fields, but the header has %lld\n", in_path, (long long)r.line,
                    (long long)r.nf, (long long)n_fields);
            rc = 1;
            break;
        }
        if (n_fields < 0 && r.nf != c.k) {
            fprintf(stderr, "mlinfer: %s:%lld: %lld columns, but the model takes %lld features\n", in_path,
                    (long long)r.line, (long long)r.nf, (long long)c.k);
            rc = 1;
            break;
        }
        if ((rc = add_row(&c, &r, rows)) != 0)
            break;
        if (++rows == c.batch_rows || c.n_bytes > MAX_BATCH_STRING_BYTES) {
            rc = flush_batch(&c, rows);
            done += rows;
            rows = 0;
            if (progress && now() - last_report > 0.2) {
                last_report = now();
                fprintf(stderr, "\r%6.1f%%  %lld rows", 100.0 * (double)ftell(in) / total, (long long)done);
            }
        }
    }
    if (rc == 0)
        rc = flush_batch(&c, rows);
    done += rows;
    if (progress)
        fprintf(stderr, "\r%6.1f%%  %lld rows\n", 100.0, (long long)done);
    free(r.buf);
    free(r.start);
    free(r.flen);
    free(c.in);
    free(c.model_col);
    free(c.field);
    free(field);
    free(c.num);
    free(c.offsets);
    free(c.valid);
    free(c.lines);
    free(c.na_texts);
    for (int64_t i = 0; c.bytes && i < c.k; ++i)
        free(c.bytes[i]);
    free(c.bytes);
    free(c.col_bytes);
    free(c.bytes_cap);
    free(c.y);
    if (in != stdin)
        fclose(in);
    if (out != stdout && fclose(out) != 0 && rc == 0) {
        fprintf(stderr, "mlinfer: cannot write %s: %s\n", out_path, strerror(errno));
        rc = 1;
    }
    mli_model_free(m);
    return rc;
}

/* ---- JPEG input ------------------------------------------------------------------- */

#define MAX_IMAGE_BYTES ((size_t)256 << 20)

/* 1 if the file starts with a JPEG's FF D8 FF. */
static int is_jpeg_file(const char *path) {
    unsigned char magic[3];
    FILE *f = strcmp(path, "-") == 0 ? NULL : fopen(path, "rb");
    if (!f)
        return 0;
    size_t n = fread(magic, 1, 3, f);
    fclose(f);
    return n == 3 && magic[0] == 0xFF && magic[1] == 0xD8 && magic[2] == 0xFF;
}

static unsigned char *read_all(const char *path, size_t *size) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "mlinfer: cannot open %s: %s\n", path, strerror(errno));
        return NULL;
    }
    size_t cap = 1 << 16, n = 0;
    unsigned char *buf = malloc(cap);
    while (buf) {
        n += fread(buf + n, 1, cap - n, f);
        if (n < cap || cap >= MAX_IMAGE_BYTES)
            break;
        unsigned char *bigger = realloc(buf, cap * 2);
        if (!bigger)
            free(buf);
        buf = bigger;
        cap *= 2;
    }
    int err = ferror(f);
    fclose(f);
    if (!buf || err || n >= MAX_IMAGE_BYTES) {
        fprintf(stderr, "mlinfer: cannot read %s: %s\n", path,
                !buf  ? "out of memory"
                : err ? strerror(errno)
                      : "larger than 256 MiB");
        free(buf);
        return NULL;
    }
    *size = n;
    return buf;
}

/* One output line per image: the label, or with --proba one column per class. */
static int cmd_predict_images(const char *model_path, char **images, int n, const char *out_path, int proba) {
    mli_model *m = open_model(model_path, NULL);
    if (!m)
        return 1;
    if (!mli_model_has_image(m)) {
        fprintf(stderr, "mlinfer: %s takes %lld features, not images: it was exported without an image stage\n",
                model_path, (long long)mli_model_n_features(m));
        mli_model_free(m);
        return 1;
    }
    mli_output what = proba ? MLI_OUTPUT_PROBA : MLI_OUTPUT_PREDICT;
    int64_t cols = mli_model_output_len(m, what);
    if (cols == 0) {
        fprintf(stderr, "mlinfer: --proba: this model (%s) has no predict_proba\n",
                mli_model_meta(m, "source") ? mli_model_meta(m, "source") : "?");
        mli_model_free(m);
        return 1;
    }
    FILE *out = out_path ? fopen(out_path, "w") : stdout;
    double *y = malloc(sizeof(double) * (size_t)cols);
    int rc = out && y ? 0 : 1;
    if (!out)
        fprintf(stderr, "mlinfer: cannot create %s: %s\n", out_path, strerror(errno));
    if (rc == 0 && proba) { /* header: one column per class, as for CSV input */
        for (int64_t j = 0; j < cols; ++j) {
            fputs(j ? ",proba_" : "proba_", out);
            print_label(out, m, j);
        }
        fputc('\n', out);
    }
    int classifier = mli_model_task(m) == MLI_TASK_CLASSIFICATION;
    for (int i = 0; i < n && rc == 0; ++i) {
        size_t size = 0;
        unsigned char *data = read_all(images[i], &size);
        if (!data) {
            rc = 1;
            break;
        }
        mli_status st = mli_model_predict_jpeg(m, data, size, what, y, cols);
        free(data);
        if (st != MLI_OK) {
            fprintf(stderr, "mlinfer: %s: %s\n", images[i], mli_last_error());
            rc = 1;
            break;
        }
        for (int64_t j = 0; j < cols; ++j) {
            if (j)
                fputc(',', out);
            if (classifier && !proba)
                print_label(out, m, (int64_t)y[j]);
            else
                fprintf(out, "%.9g", y[j]);
        }
        fputc('\n', out);
    }
    free(y);
    if (out && out != stdout && fclose(out) != 0 && rc == 0) {
        fprintf(stderr, "mlinfer: cannot write %s: %s\n", out_path, strerror(errno));
        rc = 1;
    }
    mli_model_free(m);
    return rc;
}

/* Loads any model file libmlinfer reads (checking it fully) and writes it as .mli. */
static int cmd_convert(const char *in, const char *out) {
    double ms;
    mli_model *m = open_model(in, &ms);
    if (!m)
        return 1;
    mli_status st = mli_model_save(m, out);
    if (st != MLI_OK) {
        fprintf(stderr, "mlinfer: cannot write %s: %s\n", out, mli_last_error());
        mli_model_free(m);
        return 1;
    }
    const char *source = mli_model_meta(m, "source");
    fprintf(stderr, "mlinfer: wrote %s (%s; loaded and checked in %.1f ms)\n", out, source ? source : "model", ms);
    mli_model_free(m);
    return 0;
}

int main(int argc, char **argv) {
    if (argc < 2)
        return usage();
    if (strcmp(argv[1], "info") == 0 && argc == 3)
        return cmd_info(argv[2]);
    if (strcmp(argv[1], "predict") == 0 && argc >= 4) {
        const char *out = NULL;
        int proba = 0, no_header = 0, keep_na_text = 0, jpeg = is_jpeg_file(argv[3]), n_inputs = 1;
        for (int i = 4; i < argc; ++i) {
            if (strcmp(argv[i], "--proba") == 0 && proba <= 1)
                proba = 1;
            else if (strcmp(argv[i], "--contrib") == 0 && (proba == 0 || proba == 2) && !jpeg)
                proba = 2;
            else if (strcmp(argv[i], "--interactions") == 0 && (proba == 0 || proba == 3) && !jpeg)
                proba = 3;
            else if (strcmp(argv[i], "--no-header") == 0 && !jpeg && no_header >= 0)
                no_header = 1;
            else if (strcmp(argv[i], "--header") == 0 && !jpeg && no_header <= 0)
                no_header = -1;
            else if (strcmp(argv[i], "--keep-na-text") == 0 && !jpeg)
                keep_na_text = 1;
            else if (strcmp(argv[i], "-o") == 0 && i + 1 < argc)
                out = argv[++i];
            else if (jpeg && argv[i][0] != '-' && i == 3 + n_inputs) /* more images, before any option */
                ++n_inputs;
            else
                return usage();
        }
        if (jpeg)
            return cmd_predict_images(argv[2], argv + 3, n_inputs, out, proba);
        return cmd_predict(argv[2], argv[3], out, proba, no_header, keep_na_text);
    }
    if (strcmp(argv[1], "convert") == 0 && argc == 4)
        return cmd_convert(argv[2], argv[3]);
    if (strcmp(argv[1], "--version") == 0) {
        printf("mlinfer %s\n", mli_version());
        return 0;
    }
    return usage();
}
