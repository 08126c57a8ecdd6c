/* tree_model.c — the part of a .mli file that every tree importer writes the same way:
 * header metadata, integer class labels, the category lookup (a `prep` stage) of a model
 * trained from string category columns, the `trees` stage and the feature names. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "import.h"
#include "prep/prep.h"

#define MLI__JOINED_NAMES_MAX 4000 /* the metadata copy of the names stays a short string */

/* Stage i's key `name` ("stage.<i>.<name>") in buf. */
static const char *stage_key(char *buf, size_t size, int i, const char *name) {
    snprintf(buf, size, "stage.%d.%s", i, name);
    return buf;
}

/* Stage 0, a `prep` stage (docs/FORMAT.md) over the model's columns: a `num` op passing a
 * number column on as it is (NaN and +-inf included: the trees take them by their rules), a
 * `strcat` op mapping a string column's categories to their codes 0..n-1; a null, None and
 * (unless unknown_error) any other string become NaN, a missing value for the trees. */
static int by_string(const void *a, const void *b) { return strcmp(*(const char *const *)a, *(const char *const *)b); }

/* What the loader demands of the prep stage, checked here so that a bad input file is named
 * as such: the stage's limits, strings of at most 64 KiB, no category twice in a column. */
static mli_status check_categories(const mli__tree_model *tm, int64_t *n_params) {
    const mli__input_categories *c = tm->cats;
    const int64_t n = tm->n_features, total = c->start[n];
    if (n > MLI__PREP_MAX_OPS || total > (int64_t)MLI__MAX_STRINGS)
        return mli__fail(MLI_ERR_UNSUPPORTED, "%s: %lld columns with %lld string categories: too many to map",
                         tm->origin, (long long)n, (long long)total);
    const char **sorted = malloc((size_t)(total > 0 ? total : 1) * sizeof *sorted);
    if (!sorted)
        return mli__fail(MLI_ERR_OUT_OF_MEMORY, "%s: out of memory for %lld categories", tm->origin, (long long)total);
    mli_status st = MLI_OK;
    *n_params = 0;
    for (int64_t j = 0; j < n && st == MLI_OK; ++j) {
        if (!c->is_string[j])
            continue;
        int64_t k = c->start[j + 1] - c->start[j];
        *n_params += k + 3;
        memcpy(sorted, c->str + c->start[j], (size_t)k * sizeof *sorted);
        qsort(sorted, (size_t)k, sizeof *sorted, by_string);
        for (int64_t i = 0; i < k && st == MLI_OK; ++i) {
            if (strlen(sorted[i]) > MLI__MAX_STRING_BYTES)
                st = mli__fail(MLI_ERR_UNSUPPORTED, "%s: column %lld has a category of %zu bytes (at most %u)",
                               tm->origin, (long long)j, strlen(sorted[i]), MLI__MAX_STRING_BYTES);
            else if (i > 0 && strcmp(sorted[i - 1], sorted[i]) == 0)
                st = mli__fail(MLI_ERR_CORRUPT, "%s: column %lld lists the category '%.60s' twice", tm->origin,
                               (long long)j, sorted[i]);
        }
    }
    free(sorted);
    if (st == MLI_OK && *n_params > MLI__PREP_MAX_PARAMS)
        st =
            mli__fail(MLI_ERR_UNSUPPORTED, "%s: %lld string categories: too many to map", tm->origin, (long long)total);
    return st;
}

static mli_status write_category_prep(const mli__tree_model *tm, mli__writer *w) {
    const mli__input_categories *c = tm->cats;
    const int64_t n = tm->n_features;
    int64_t n_params = 0;
    mli_status st = check_categories(tm, &n_params);
    if (st != MLI_OK)
        return st;
    int64_t *ops = calloc((size_t)n * 8, sizeof *ops), *out = malloc((size_t)n * sizeof *out);
    double *params = malloc((size_t)(n_params > 0 ? n_params : 1) * sizeof *params);
    if (!ops || !out || !params) {
        free(ops);
        free(out);
        free(params);
        return mli__fail(MLI_ERR_OUT_OF_MEMORY, "%s: out of memory for the category lookup of %lld columns", tm->origin,
                         (long long)n);
    }
    int64_t np = 0;
    for (int64_t j = 0; j < n; ++j) {
        int64_t *op = ops + 8 * j, count = c->start[j + 1] - c->start[j];
        op[1] = op[2] = out[j] = j; /* src column j, dst register j */
        if (!c->is_string[j])
            continue; /* MLI__OP_NUM, no flags */
        op[0] = MLI__OP_STRCAT;
        op[3] = count;
        op[4] = np;
        op[5] = count > 0 ? c->start[j] : 0;
        op[6] = c->unknown_error ? MLI__OPF_ERR_UNKNOWN : 0;
        for (int64_t k = 0; k < count; ++k)
            params[np++] = (double)k;
        params[np++] = NAN; /* a null */
        params[np++] = NAN; /* None */
        params[np++] = c->unknown_error ? 0.0 : NAN;
    }
    mli__writer_meta(w, "stage.0.kind", "prep");
    mli__writer_meta(w, "stage.0.n_ops", "%lld", (long long)n);
    mli__writer_meta(w, "stage.0.n_regs", "%lld", (long long)n);
    mli__writer_meta(w, "stage.0.n_out", "%lld", (long long)n);
    mli__writer_meta(w, "stage.0.n_params", "%lld", (long long)n_params);
    mli__writer_array(w, "stage.0.col_kind", MLI__DT_U8, c->is_string, n);
    mli__writer_array(w, "stage.0.ops", MLI__DT_I64, ops, 8 * n);
    if (n_params > 0)
        mli__writer_array(w, "stage.0.params", MLI__DT_F64, params, n_params);
    if (c->start[n] > 0)
        mli__writer_strings(w, "stage.0.strings", c->str, (uint32_t)c->start[n]);
    mli__writer_array(w, "stage.0.out", MLI__DT_I64, out, n);
    free(ops);
    free(out);
    free(params);
    return mli__writer_status(w);
}

mli_status mli__write_tree_model(const mli__tree_model *tm, mli__writer *w) {
    mli__writer_meta(w, "producer", "libmlinfer %s", mli_version());
    mli__writer_meta(w, "source", "%s", tm->source);
    mli__writer_meta(w, "task", "%s", tm->n_classes ? "classification" : "regression");
    mli__writer_meta(w, "n_features", "%lld", (long long)tm->n_features);
    mli__writer_meta(w, "n_outputs", "%lld", tm->n_classes ? 1LL : (long long)tm->n_out);
    if (tm->n_classes && tm->class_str) {
        mli__writer_meta(w, "n_classes", "%lld", (long long)tm->n_classes);
        mli__writer_meta(w, "class_labels", "str");
        mli__writer_meta(w, "classes_dtype", "object");
        mli__writer_strings(w, "classes", tm->class_str, (uint32_t)tm->n_classes);
    } else if (tm->n_classes) {
        int64_t *cls = malloc((size_t)tm->n_classes * sizeof *cls);
        if (!cls)
            return mli__fail(MLI_ERR_OUT_OF_MEMORY, "%s: out of memory for %lld class labels", tm->origin,
                             (long long)tm->n_classes);
        for (int64_t k = 0; k < tm->n_classes; ++k)
            cls[k] = tm->class_int ? tm->class_int[k] : k;
        mli__writer_meta(w, "n_classes", "%lld", (long long)tm->n_classes);
        mli__writer_meta(w, "class_labels", "int");
        mli__writer_meta(w, "classes_dtype", "int64");
        mli__writer_array(w, "classes", MLI__DT_I64, cls, tm->n_classes);
        free(cls);
    }
    if (tm->category_codes)
        mli__writer_meta(w, "category_input", "codes");
    const int s = tm->cats ? 1 : 0; /* the trees stage */
    mli_status st = tm->cats ? write_category_prep(tm, w) : MLI_OK;
    if (st != MLI_OK)
        return st;
    char k[48];
    mli__writer_meta(w, "stages", "%d", s + 1);
    mli__writer_meta(w, stage_key(k, sizeof k, s, "kind"), "trees");
    mli__writer_meta(w, stage_key(k, sizeof k, s, "n_trees"), "%lld", (long long)tm->n_trees);
    mli__writer_meta(w, stage_key(k, sizeof k, s, "n_nodes"), "%lld", (long long)tm->n_nodes);
    mli__writer_meta(w, stage_key(k, sizeof k, s, "n_out"), "%lld", (long long)tm->n_out);
    const int64_t lw = tm->leaf_width > 1 ? tm->leaf_width : 1;
    mli__writer_meta(w, stage_key(k, sizeof k, s, "leaf_width"), "%lld", (long long)lw);
    mli__writer_meta(w, stage_key(k, sizeof k, s, "compare"), "%s", tm->compare);
    mli__writer_meta(w, stage_key(k, sizeof k, s, "aggregate"), "%s", tm->mean ? "mean" : "sum");
    mli__writer_meta(w, "head", "%s", tm->head);

    int64_t N = tm->n_nodes, T = tm->n_trees;
    mli__writer_array(w, stage_key(k, sizeof k, s, "tree_start"), MLI__DT_I64, tm->tree_start, T + 1);
    if (tm->tree_out)
        mli__writer_array(w, stage_key(k, sizeof k, s, "tree_out"), MLI__DT_I32, tm->tree_out, T);
    mli__writer_array(w, stage_key(k, sizeof k, s, "feature"), MLI__DT_I32, tm->feature, N);
    mli__writer_array(w, stage_key(k, sizeof k, s, "left"), MLI__DT_I32, tm->left, N);
    mli__writer_array(w, stage_key(k, sizeof k, s, "right"), MLI__DT_I32, tm->right, N);
    mli__writer_array(w, stage_key(k, sizeof k, s, "threshold"), MLI__DT_F64, tm->threshold, N);
    mli__writer_array(w, stage_key(k, sizeof k, s, "flags"), MLI__DT_U8, tm->flags, N);
    mli__writer_array(w, stage_key(k, sizeof k, s, "value"), MLI__DT_F64, tm->value, N * lw);
    mli__writer_array(w, stage_key(k, sizeof k, s, "leaf_id"), MLI__DT_I32, tm->leaf_id, N);
    if (tm->cover)
        mli__writer_array(w, stage_key(k, sizeof k, s, "cover"), MLI__DT_F64, tm->cover, N);
    if (tm->base)
        mli__writer_array(w, stage_key(k, sizeof k, s, "base"), MLI__DT_F64, tm->base, tm->n_out);
    if (tm->lin_const) { /* required: a reader before 1.6 would predict the plain leaf values */
        mli__writer_array_required(w, stage_key(k, sizeof k, s, "lin_start"), MLI__DT_I64, tm->lin_start, N + 1, 6);
        mli__writer_array_required(w, stage_key(k, sizeof k, s, "lin_const"), MLI__DT_F64, tm->lin_const, N, 6);
        if (tm->n_lin_terms > 0) { /* absent when no leaf has a term */
            mli__writer_array_required(w, stage_key(k, sizeof k, s, "lin_feature"), MLI__DT_I32, tm->lin_feature,
                                       tm->n_lin_terms, 6);
            mli__writer_array_required(w, stage_key(k, sizeof k, s, "lin_coeff"), MLI__DT_F64, tm->lin_coeff,
                                       tm->n_lin_terms, 6);
        }
    }
    if (tm->cat_offset) {
        static const uint32_t no_bits[1] = {0}; /* every listed set empty: keep the section non-empty */
        mli__writer_array(w, stage_key(k, sizeof k, s, "cat_offset"), MLI__DT_I64, tm->cat_offset, N);
        mli__writer_array(w, stage_key(k, sizeof k, s, "cat_words"), MLI__DT_I32, tm->cat_words, N);
        if (tm->n_cat_words > 0)
            mli__writer_array(w, stage_key(k, sizeof k, s, "cat_bits"), MLI__DT_I32, tm->cat_bits, tm->n_cat_words);
        else
            mli__writer_array(w, stage_key(k, sizeof k, s, "cat_bits"), MLI__DT_I32, no_bits, 1);
    }
    return mli__writer_status(w);
}

mli_status mli__write_feature_names(const char *const *names, int64_t n, mli__writer *w) {
    mli__writer_strings(w, "feature_names", names, (uint32_t)n);
    size_t total = 0;
    for (int64_t i = 0; i < n; ++i) {
        if (strchr(names[i], 0x1f))
            return mli__writer_status(w);
        total += strlen(names[i]) + 1;
    }
    if (n > 0 && total < MLI__JOINED_NAMES_MAX) {
        char joined[MLI__JOINED_NAMES_MAX];
        size_t at = 0;
        for (int64_t i = 0; i < n; ++i) {
            size_t l = strlen(names[i]);
            memcpy(joined + at, names[i], l);
            at += l;
            joined[at++] = 0x1f;
        }
        joined[at - 1] = 0;
        mli__writer_meta(w, "feature_names", "%s", joined);
    }
    return mli__writer_status(w);
}

int mli__owned_categories_alloc(mli__owned_categories *c, int64_t n_features, size_t count, size_t bytes) {
    c->is_string = calloc((size_t)n_features, 1);
    c->start = calloc((size_t)n_features + 1, sizeof *c->start);
    c->str = malloc((count ? count : 1) * sizeof *c->str);
    c->bytes = malloc(bytes ? bytes : 1);
    return c->is_string && c->start && c->str && c->bytes;
}

void mli__owned_categories_publish(mli__owned_categories *c, int unknown_error) {
    c->view = (mli__input_categories){
        .is_string = c->is_string, .start = c->start, .str = c->str, .unknown_error = unknown_error};
    c->set = 1;
}

void mli__owned_categories_free(mli__owned_categories *c) {
    free(c->is_string);
    free(c->start);
    free((void *)c->str);
    free(c->bytes);
    *c = (mli__owned_categories){0};
}

int mli__utf8_valid(const char *s, size_t n) {
    const unsigned char *p = (const unsigned char *)s;
    for (size_t i = 0; i < n;) {
        unsigned c = p[i];
        size_t len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
        if (len == 0 || i + len > n || (len == 2 && c < 0xC2) || (len == 4 && c > 0xF4))
            return 0;
        for (size_t k = 1; k < len; ++k)
            if ((p[i + k] & 0xC0) != 0x80)
                return 0;
        i += len;
    }
    return 1;
}
