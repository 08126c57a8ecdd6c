/* mlinfer.c — the `mlinfer` command: inspect a model, predict a CSV file with it.
 *   mlinfer info MODEL
 *   mlinfer predict MODEL INPUT.csv [-o OUT.csv] [--proba | --contrib]
 *     (--contrib: SHAP contributions, a header line then per row each column's share of
 *     each raw score and the bias; docs/TREES.md, "Contributions")
 *   mlinfer predict MODEL IMAGE.jpg [IMAGE.jpg ...] [-o OUT.csv] [--proba]
 *     (a model with an image stage; inputs starting with FF D8 FF are JPEGs: one output
 *     line per image, in order)
 * Input CSV: numbers separated by commas, an optional header line (detected when the first
 * line is not numeric), empty fields and "nan" read as NaN. Rows stream through in
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

#include "mlinfer.h"

#define BATCH_ROWS 4096

static int usage(void) {
    fprintf(stderr, "usage: mlinfer info MODEL\n"
                    "       mlinfer predict MODEL INPUT.csv [-o OUT.csv] [--proba | --contrib]\n"
                    "       mlinfer predict MODEL IMAGE.jpg [IMAGE.jpg ...] [-o OUT.csv] [--proba]\n"
                    "       mlinfer convert IN OUT.mli   (an XGBoost .json/.ubj or LightGBM .txt model)\n");
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
    printf("load time:  %.3f ms (libmlinfer %s, %s kernels)\n", ms, mli_version(), mli_cpu_isa());
    mli_model_free(m);
    return 0;
}

/* Splits `line` at commas into at most `cap` doubles; returns the field count, or -1 with
 * the bad field's 1-based column in *bad when a field is not a number. */
static int64_t parse_row(char *line, double *out, int64_t cap, int64_t *bad) {
    int64_t n = 0;
    char *p = line;
    for (;;) {
        char *end = p;
        while (*end && *end != ',' && *end != '\n' && *end != '\r')
            ++end;
        char saved = *end;
        *end = 0;
        char *f = p;
        while (*f == ' ' || *f == '\t' || *f == '"')
            ++f;
        char *e = f + strlen(f);
        while (e > f && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '"'))
            *--e = 0;
        double v;
        if (*f == 0) {
            v = NAN;
        } else {
            char *stop;
            errno = 0;
            v = strtod(f, &stop);
            if (*stop) {
                *bad = n + 1;
                return -1;
            }
        }
        if (n < cap)
            out[n] = v;
        ++n;
        if (saved != ',')
            break;
        p = end + 1;
    }
    return n;
}

typedef struct {
    FILE *out;
    mli_model *m;
    int proba; /* 1: predict_proba, 2: contributions */
    int64_t k, cols;
    double *x, *y;
} predict_ctx;

static int flush_batch(predict_ctx *c, int64_t rows) {
    if (rows == 0)
        return 0;
    mli_status st = c->proba == 2   ? mli_model_predict_contrib(c->m, c->x, MLI_F64, rows, c->k, c->y, rows * c->cols)
                    : c->proba == 1 ? mli_model_predict_proba(c->m, c->x, MLI_F64, rows, c->k, c->y, rows * c->cols)
                                    : mli_model_predict(c->m, c->x, MLI_F64, rows, c->k, c->y, rows * c->cols);
    if (st != MLI_OK) {
        fprintf(stderr, "mlinfer: predict failed: %s\n", mli_last_error());
        return 1;
    }
    int classifier = mli_model_task(c->m) == MLI_TASK_CLASSIFICATION;
    for (int64_t r = 0; r < rows; ++r) {
        for (int64_t j = 0; j < c->cols; ++j) {
            if (j)
                fputc(',', c->out);
            double v = c->y[r * c->cols + j];
            if (classifier && !c->proba)
                print_label(c->out, c->m, (int64_t)v);
            else
                fprintf(c->out, c->proba == 2 ? "%.17g" : "%.9g", v);
        }
        fputc('\n', c->out);
    }
    return ferror(c->out) ? (fprintf(stderr, "mlinfer: write failed: %s\n", strerror(errno)), 1) : 0;
}

static int cmd_predict(const char *model_path, const char *in_path, const char *out_path, int proba) {
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
    predict_ctx c = {.out = out, .m = m, .proba = proba, .k = mli_model_n_features(m)};
    c.cols = proba == 2 ? mli_model_n_contrib(m) : proba ? mli_model_n_classes(m) : mli_model_n_outputs(m);
    c.x = malloc(sizeof(double) * BATCH_ROWS * (size_t)c.k);
    c.y = malloc(sizeof(double) * BATCH_ROWS * (size_t)c.cols);
    int rc = (c.x && c.y) ? 0 : (fprintf(stderr, "mlinfer: out of memory\n"), 1);
    if (rc == 0 && proba == 1) { /* header: one column per class */
        for (int64_t j = 0; j < c.cols; ++j) {
            fputs(j ? ",proba_" : "proba_", out);
            print_label(out, m, j);
        }
        fputc('\n', out);
    } else if (rc == 0 && proba == 2) { /* header: feature (or fJ) and bias, ":K" per raw score */
        int64_t n_raw = mli_model_n_raw(m);
        for (int64_t j = 0; j <= c.k; ++j)
            for (int64_t s = 0; s < n_raw; ++s) {
                const char *name = NULL;
                if (j || s)
                    fputc(',', out);
                if (j == c.k)
                    fputs("bias", out);
                else if (mli_model_feature_name(m, j, &name) == MLI_OK && !strpbrk(name, ",\"\r\n"))
                    fputs(name, out);
                else
                    fprintf(out, "f%lld", (long long)j);
                if (n_raw > 1)
                    fprintf(out, ":%lld", (long long)s);
            }
        fputc('\n', out);
    }
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    int64_t lineno = 0, rows = 0, done = 0;
    double read_bytes = 0, last_report = 0;
    while (rc == 0 && (len = getline(&line, &cap, in)) >= 0) {
        ++lineno;
        read_bytes += (double)len;
        if (len == 0 || line[0] == '\n' || (line[0] == '\r' && line[1] == '\n'))
            continue;
        int64_t bad = 0;
        int64_t n = parse_row(line, c.x + rows * c.k, c.k, &bad);
        if (n < 0) {
            if (lineno == 1 && done == 0 && rows == 0)
                continue; /* a header line */
            fprintf(stderr, "mlinfer: %s:%lld: column %lld is not a number\n", in_path, (long long)lineno,
                    (long long)bad);
            rc = 1;
            break;
        }
        if (n != c.k) {
            fprintf(stderr, "mlinfer: %s:%lld: %lld columns, but the model takes %lld features\n", in_path,
                    (long long)lineno, (long long)n, (long long)c.k);
            rc = 1;
            break;
        }
        if (++rows == BATCH_ROWS) {
            rc = flush_batch(&c, rows);
            done += rows;
            rows = 0;
            if (progress && now() - last_report > 0.2) {
                last_report = now();
                fprintf(stderr, "\r%6.1f%%  %lld rows", 100.0 * read_bytes / total, (long long)done);
            }
        }
    }
    if (rc == 0)
        rc = flush_batch(&c, rows);
    done += rows;
    if (progress)
        fprintf(stderr, "\r%6.1f%%  %lld rows\n", 100.0, (long long)done);
    free(line);
    free(c.x);
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
        int proba = 0, jpeg = is_jpeg_file(argv[3]), n_inputs = 1;
        for (int i = 4; i < argc; ++i) {
            if (strcmp(argv[i], "--proba") == 0 && proba != 2)
                proba = 1;
            else if (strcmp(argv[i], "--contrib") == 0 && proba != 1 && !jpeg)
                proba = 2;
            else if (strcmp(argv[i], "-o") == 0 && i + 1 < argc)
                out = argv[++i];
            else if (jpeg && argv[i][0] != '-' && i == 3 + n_inputs) /* more images, before any option */
                ++n_inputs;
            else
                return usage();
        }
        if (jpeg)
            return cmd_predict_images(argv[2], argv + 3, n_inputs, out, proba);
        return cmd_predict(argv[2], argv[3], out, proba);
    }
    if (strcmp(argv[1], "convert") == 0 && argc == 4)
        return cmd_convert(argv[2], argv[3]);
    if (strcmp(argv[1], "--version") == 0) {
        printf("mlinfer %s\n", mli_version());
        return 0;
    }
    return usage();
}
