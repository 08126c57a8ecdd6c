/* catboost.c — imports a CatBoost model saved as JSON (`save_model("m.json", format="json")`)
 * as one `trees` stage (docs/FORMAT.md, docs/models/catboost.md).
 *
 * CatBoost's trees are oblivious: every node of level k tests the same split, and split k of
 * the list sets bit k of the leaf index (bit = float32(x) > border). Each tree is expanded into
 * a full binary tree in heap order whose level l tests split D-1-l, so a leaf's position in
 * its level is CatBoost's leaf index; "left" is bit 0, i.e. float32(x) <= border (`le_f32`,
 * the borders being float32 values). NaN gives bit 0 under nan_value_treatment AsIs
 * (`NaN > border` is false) and AsFalse (nan_mode=Min), bit 1 under AsTrue (nan_mode=Max)
 * when the feature's has_nans is true (CatBoost ignores AsTrue otherwise: bit 0).
 * CatBoost computes scale * sum(leaves) + bias in float64; here every leaf is multiplied by
 * the scale (exact when it is 1, the default; otherwise within an ulp or so of the sum) and
 * the bias is the stage's `base`. Categorical (CTR), text and embedding features are refused:
 * they need CatBoost's own hashing and CTR tables. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "import.h"
#include "jdoc.h"
#include "trees/trees.h"

#define CB_MAX_DEPTH 16 /* CatBoost's own limit on a tree's depth */

typedef struct {
    const char *name;
    int kind; /* 0 regression (one output), 1 binary, 2 multiclass, 3 multi-output regression */
    const char *head;
} loss;

/* The losses whose prediction is the raw sum through a head libmlinfer has; what
 * CatBoost's sklearn wrappers' predict returns for them (Poisson, Tweedie: exp of it). */
static const loss losses[] = {
    {"RMSE", 0, "identity"},
    {"MAE", 0, "identity"},
    {"Quantile", 0, "identity"},
    {"MAPE", 0, "identity"},
    {"Huber", 0, "identity"},
    {"Expectile", 0, "identity"},
    {"LogCosh", 0, "identity"},
    {"Lq", 0, "identity"},
    {"Poisson", 0, "exp"},
    {"Tweedie", 0, "exp"},
    {"Logloss", 1, "binary_logistic"},
    {"CrossEntropy", 1, "binary_logistic"},
    {"MultiClass", 2, "multinomial"},
    {"MultiRMSE", 3, "identity"},
};

typedef struct {
    const char *origin;
    mli__jdoc doc;
    int64_t n_float;    /* entries of float_features */
    int32_t *flat;      /* n_float: the input column of each float feature */
    uint8_t *nan_right; /* n_float: NaN sets the bit (AsTrue) */
    int64_t dim;        /* values per leaf */
    int64_t n_nodes;
    int64_t *tree_start;
    int32_t *feature, *left, *right, *leaf_id;
    double *threshold, *value, *cover, *base;
    uint8_t *flags;
    int no_cover;
    int64_t *class_int;
    const char **class_str;
    char *class_bytes;
    const char **names;
    char *name_bytes;
} cbm;

static void cbm_free(cbm *c) {
    mli__jd_free(&c->doc);
    free(c->flat);
    free(c->nan_right);
    free(c->tree_start);
    free(c->feature);
    free(c->left);
    free(c->right);
    free(c->leaf_id);
    free(c->threshold);
    free(c->value);
    free(c->cover);
    free(c->base);
    free(c->flags);
    free(c->class_int);
    free((void *)c->class_str);
    free(c->class_bytes);
    free((void *)c->names);
    free(c->name_bytes);
}

static mli_status oom(const cbm *c) { return mli__fail(MLI_ERR_OUT_OF_MEMORY, "%s: out of memory", c->origin); }

static int is_int_in(double v, double lo, double hi) { return v >= lo && v <= hi && v == floor(v); }

/* An integer obj[key] in [lo, hi]. */
static mli_status int_member(const cbm *c, const mli__jval *obj, const char *where, const char *key, int64_t lo,
                             int64_t hi, int64_t *out) {
    const mli__jval *v;
    mli_status st = mli__jd_member(&c->doc, c->origin, obj, where, key, MLI__JD_NUM, &v);
    if (st != MLI_OK)
        return st;
    if (!is_int_in(v->u.num, (double)lo, (double)hi))
        return mli__fail(MLI_ERR_CORRUPT, "%s: %s.%s = %.10g is not an integer in [%lld, %lld]", c->origin, where, key,
                         v->u.num, (long long)lo, (long long)hi);
    *out = (int64_t)v->u.num;
    return MLI_OK;
}

/* Copies the strings of the array `arr` into one buffer (*bytes) and points (*out)[i] at
 * each; every entry must be a UTF-8 string without NUL. */
static mli_status copy_strings(const cbm *c, const mli__jval *arr, const char *where, const char ***out, char **bytes) {
    const mli__jdoc *d = &c->doc;
    size_t total = 0;
    for (uint32_t i = 0; i < arr->n; ++i) {
        size_t len;
        const char *s = mli__jd_str(d, mli__jd_at(d, arr, i), &len);
        if (!s || len > 65535 || memchr(s, 0, len) || !mli__utf8_valid(s, len))
            return mli__fail(MLI_ERR_CORRUPT, "%s: %s[%u] is not a UTF-8 string of at most 64 KiB", c->origin, where,
                             i);
        total += len + 1;
    }
    *out = malloc((arr->n ? arr->n : 1) * sizeof **out);
    *bytes = malloc(total ? total : 1);
    if (!*out || !*bytes)
        return oom(c);
    char *p = *bytes;
    for (uint32_t i = 0; i < arr->n; ++i) {
        size_t len;
        const char *s = mli__jd_str(d, mli__jd_at(d, arr, i), &len);
        memcpy(p, s, len);
        p[len] = 0;
        (*out)[i] = p;
        p += len + 1;
    }
    return MLI_OK;
}

/* ---- features ------------------------------------------------------------------------ */

/* The first entry of features_info[key] that is not a float feature: refused by name. */
static mli_status refuse_other_features(const cbm *c, const mli__jval *fi) {
    static const char *const kinds[][2] = {
        {"categorical_features", "categorical"}, {"text_features", "text"}, {"embedding_features", "embedding"}};
    for (int k = 0; k < 3; ++k) {
        const mli__jval *arr = mli__jd_get(&c->doc, fi, kinds[k][0]);
        if (!arr || (arr->type == MLI__JD_ARR && arr->n == 0))
            continue;
        const mli__jval *f = arr->type == MLI__JD_ARR ? mli__jd_at(&c->doc, arr, 0) : NULL;
        const mli__jval *id = mli__jd_get(&c->doc, f, "feature_id"),
                        *ix = mli__jd_get(&c->doc, f, "flat_feature_index");
        size_t len = 0;
        const char *name = id ? mli__jd_str(&c->doc, id, &len) : NULL;
        char at[32] = "?";
        if (ix && ix->type == MLI__JD_NUM && is_int_in(ix->u.num, 0, 1e9))
            snprintf(at, sizeof at, "%lld", (long long)ix->u.num);
        return mli__fail(MLI_ERR_UNSUPPORTED,
                         "%s: %s feature '%.*s' (column %s): CatBoost's %s features need its own hashing and CTR "
                         "tables, which libmlinfer does not implement; only float features are supported",
                         c->origin, kinds[k][1], (int)(name && len < 80 ? len : 0), name ? name : "", at, kinds[k][1]);
    }
    return MLI_OK;
}

/* float_features: each one's input column (a permutation of 0..n-1: no other kind of feature
 * is accepted), NaN rule and name. */
static mli_status read_float_features(cbm *c, const mli__jval *fi) {
    const mli__jdoc *d = &c->doc;
    const mli__jval *ff;
    mli_status st = mli__jd_member(d, c->origin, fi, "features_info", "float_features", MLI__JD_ARR, &ff);
    if (st != MLI_OK)
        return st;
    if (ff->n == 0 || (ff->flags & MLI__JD_PACKED))
        return mli__fail(MLI_ERR_CORRUPT, "%s: features_info.float_features lists no feature objects", c->origin);
    c->n_float = ff->n;
    c->flat = malloc((size_t)ff->n * sizeof *c->flat);
    c->nan_right = calloc((size_t)ff->n, 1);
    c->names = calloc((size_t)ff->n, sizeof *c->names);
    uint8_t *seen = calloc((size_t)ff->n, 1);
    size_t name_bytes = 0;
    int named = 1;
    if (!c->flat || !c->nan_right || !c->names || !seen) {
        free(seen);
        return oom(c);
    }
    for (uint32_t i = 0; i < ff->n && st == MLI_OK; ++i) {
        char where[64];
        snprintf(where, sizeof where, "float_features[%u]", i);
        const mli__jval *f = mli__jd_at(d, ff, i), *nt, *id;
        const double *borders;
        int64_t flat;
        if (!f || f->type != MLI__JD_OBJ) {
            st = mli__fail(MLI_ERR_CORRUPT, "%s: %s is not an object", c->origin, where);
            break;
        }
        if ((st = int_member(c, f, where, "flat_feature_index", 0, (int64_t)ff->n - 1, &flat)) != MLI_OK ||
            (st = mli__jd_member(d, c->origin, f, where, "nan_value_treatment", MLI__JD_STR, &nt)) != MLI_OK ||
            (st = mli__jd_num_array(d, c->origin, f, where, "borders", -1, 0, &borders)) != MLI_OK)
            break;
        if (seen[flat]) {
            st = mli__fail(MLI_ERR_CORRUPT, "%s: %s: flat_feature_index %lld is given twice", c->origin, where,
                           (long long)flat);
            break;
        }
        seen[flat] = 1;
        c->flat[i] = (int32_t)flat;
        /* CatBoost applies AsTrue only to a feature that had NaNs in training (has_nans);
         * any other NaN compares as itself: `NaN > border` is false, bit 0 */
        const mli__jval *hn = mli__jd_get(d, f, "has_nans");
        if (hn && hn->type != MLI__JD_BOOL) {
            st = mli__fail(MLI_ERR_CORRUPT, "%s: %s.has_nans is %s, expected a boolean", c->origin, where,
                           mli__jd_type_name(hn->type));
            break;
        }
        if (mli__jd_str_is(d, nt, "AsTrue"))
            c->nan_right[i] = hn && hn->u.num != 0;
        else if (!mli__jd_str_is(d, nt, "AsIs") && !mli__jd_str_is(d, nt, "AsFalse"))
            st = mli__fail(MLI_ERR_CORRUPT, "%s: %s.nan_value_treatment is not AsIs, AsFalse or AsTrue", c->origin,
                           where);
        size_t len = 0;
        id = mli__jd_get(d, f, "feature_id");
        const char *s = id ? mli__jd_str(d, id, &len) : NULL;
        if (!s || len == 0 || len > 65535 || memchr(s, 0, len) || !mli__utf8_valid(s, len))
            named = 0;
        else
            name_bytes += len + 1;
    }
    free(seen);
    if (st != MLI_OK || !named)
        return st; /* c->name_bytes stays NULL: no names */
    /* names for every column (CatBoost writes "" when it was trained without them) */
    if (!(c->name_bytes = malloc(name_bytes)))
        return oom(c);
    char *p = c->name_bytes;
    for (uint32_t i = 0; i < ff->n; ++i) {
        size_t len;
        const char *s = mli__jd_str(d, mli__jd_get(d, mli__jd_at(d, ff, i), "feature_id"), &len);
        memcpy(p, s, len);
        p[len] = 0;
        c->names[c->flat[i]] = p;
        p += len + 1;
    }
    return MLI_OK;
}

/* ---- loss, classes, scale and bias --------------------------------------------------- */

static mli_status read_loss(const cbm *c, const mli__jval *root, const loss **out) {
    const mli__jdoc *d = &c->doc;
    const mli__jval *mi, *params, *lf, *type;
    mli_status st;
    if ((st = mli__jd_member(d, c->origin, root, "the model", "model_info", MLI__JD_OBJ, &mi)) != MLI_OK ||
        (st = mli__jd_member(d, c->origin, mi, "model_info", "params", MLI__JD_OBJ, &params)) != MLI_OK ||
        (st = mli__jd_member(d, c->origin, params, "model_info.params", "loss_function", MLI__JD_OBJ, &lf)) != MLI_OK ||
        (st = mli__jd_member(d, c->origin, lf, "model_info.params.loss_function", "type", MLI__JD_STR, &type)) !=
            MLI_OK)
        return st;
    for (size_t i = 0; i < sizeof losses / sizeof losses[0]; ++i)
        if (mli__jd_str_is(d, type, losses[i].name)) {
            *out = &losses[i];
            return MLI_OK;
        }
    size_t len;
    const char *s = mli__jd_str(d, type, &len);
    return mli__fail(MLI_ERR_UNSUPPORTED,
                     "%s: loss_function '%.*s' is not supported (supported: RMSE, MAE, Quantile, "
                     "MAPE, Huber, Expectile, LogCosh, Lq, Poisson, Tweedie, Logloss, CrossEntropy, MultiClass, "
                     "MultiRMSE)",
                     c->origin, (int)(len > 60 ? 60 : len), s);
}

/* class_params.class_names: integers or strings, one per class; none (CrossEntropy, or a
 * model trained without labels) means the classes 0..n-1. */
static mli_status read_classes(cbm *c, const mli__jval *root, int64_t n_classes) {
    const mli__jdoc *d = &c->doc;
    const mli__jval *cp = mli__jd_get(d, mli__jd_get(d, root, "model_info"), "class_params");
    const mli__jval *names = mli__jd_get(d, cp, "class_names"), *type = mli__jd_get(d, cp, "class_label_type");
    if (!names || names->type != MLI__JD_ARR || names->n == 0)
        return MLI_OK;
    if ((int64_t)names->n != n_classes)
        return mli__fail(MLI_ERR_CORRUPT, "%s: class_params.class_names has %u entries for %lld classes", c->origin,
                         names->n, (long long)n_classes);
    if (type && mli__jd_str_is(d, type, "String"))
        return copy_strings(c, names, "class_params.class_names", &c->class_str, &c->class_bytes);
    /* Boolean labels (false, true) become the integers 0 and 1 */
    const int boolean = type && mli__jd_str_is(d, type, "Boolean");
    if (type && !boolean && !mli__jd_str_is(d, type, "Integer")) {
        size_t len;
        const char *s = mli__jd_str(d, type, &len);
        return mli__fail(MLI_ERR_UNSUPPORTED,
                         "%s: class labels of type '%.*s' are not supported (Integer, Boolean, String)", c->origin,
                         (int)(s && len < 40 ? len : 0), s ? s : "");
    }
    const double *v = mli__jd_nums(d, names, boolean);
    if (!v)
        return mli__fail(MLI_ERR_CORRUPT, "%s: class_params.class_names holds values that are not numbers", c->origin);
    if (!(c->class_int = malloc((size_t)n_classes * sizeof *c->class_int)))
        return oom(c);
    for (int64_t k = 0; k < n_classes; ++k) {
        if (!is_int_in(v[k], -9.0e15, 9.0e15))
            return mli__fail(MLI_ERR_CORRUPT, "%s: class_params.class_names[%lld] = %.10g is not an integer", c->origin,
                             (long long)k, v[k]);
        c->class_int[k] = (int64_t)v[k];
    }
    return MLI_OK;
}

/* scale_and_bias: [scale, [bias per output]] (a lone number for the bias in older files). */
static mli_status read_scale_and_bias(cbm *c, const mli__jval *root, double *scale) {
    const mli__jdoc *d = &c->doc;
    const mli__jval *sb = mli__jd_get(d, root, "scale_and_bias");
    *scale = 1.0;
    if (!(c->base = calloc((size_t)c->dim, sizeof *c->base)))
        return oom(c);
    if (!sb)
        return MLI_OK;
    const mli__jval *sv = mli__jd_at(d, sb, 0), *bv = mli__jd_at(d, sb, 1);
    if (sb->type != MLI__JD_ARR || sb->n != 2 || !sv || sv->type != MLI__JD_NUM || !bv ||
        (bv->type != MLI__JD_NUM && bv->type != MLI__JD_ARR))
        return mli__fail(MLI_ERR_CORRUPT, "%s: scale_and_bias is not [scale, [bias, ...]]", c->origin);
    *scale = sv->u.num;
    const double *b = bv->type == MLI__JD_NUM ? &bv->u.num : mli__jd_nums(d, bv, 0);
    int64_t nb = bv->type == MLI__JD_NUM ? 1 : (int64_t)bv->n;
    if (!b || nb != c->dim)
        return mli__fail(MLI_ERR_CORRUPT, "%s: scale_and_bias has %lld biases for %lld outputs", c->origin,
                         (long long)nb, (long long)c->dim);
    if (!isfinite(*scale))
        return mli__fail(MLI_ERR_CORRUPT, "%s: scale_and_bias: the scale is not finite", c->origin);
    for (int64_t j = 0; j < nb; ++j) {
        if (!isfinite(b[j]))
            return mli__fail(MLI_ERR_CORRUPT, "%s: scale_and_bias: bias %lld is not finite", c->origin, (long long)j);
        c->base[j] = b[j];
    }
    return MLI_OK;
}

/* ---- trees ---------------------------------------------------------------------------- */

/* Tree t's splits (an array of D objects) and leaf_values (2^D x dim numbers, dim set by
 * tree 0), checked. */
static mli_status tree_shape(cbm *c, const mli__jval *tree, int32_t t, const mli__jval **splits, int *depth,
                             const double **leaves) {
    const mli__jdoc *d = &c->doc;
    char where[48];
    snprintf(where, sizeof where, "oblivious_trees[%d]", t);
    if (!tree || tree->type != MLI__JD_OBJ)
        return mli__fail(MLI_ERR_CORRUPT, "%s: %s is not an object", c->origin, where);
    mli_status st = mli__jd_member(d, c->origin, tree, where, "splits", MLI__JD_ARR, splits);
    if (st != MLI_OK)
        return st;
    if ((*splits)->n > CB_MAX_DEPTH)
        return mli__fail(MLI_ERR_UNSUPPORTED, "%s: %s has %u levels; CatBoost builds at most %d", c->origin, where,
                         (*splits)->n, CB_MAX_DEPTH);
    if ((*splits)->n > 0 && ((*splits)->flags & MLI__JD_PACKED))
        return mli__fail(MLI_ERR_CORRUPT, "%s: %s.splits holds numbers, not split objects", c->origin, where);
    *depth = (int)(*splits)->n;
    const mli__jval *lv;
    if ((st = mli__jd_member(d, c->origin, tree, where, "leaf_values", MLI__JD_ARR, &lv)) != MLI_OK)
        return st;
    const int64_t n_leaves = (int64_t)1 << *depth;
    if (t == 0) {
        if (lv->n == 0 || lv->n % n_leaves != 0)
            return mli__fail(MLI_ERR_CORRUPT, "%s: %s.leaf_values has %u entries, not a multiple of its %lld leaves",
                             c->origin, where, lv->n, (long long)n_leaves);
        c->dim = (int64_t)lv->n / n_leaves;
    }
    return mli__jd_num_array(d, c->origin, tree, where, "leaf_values", n_leaves * c->dim, 0, leaves);
}

/* Writes tree t (depth D) as nodes c->n_nodes .. + 2^(D+1) - 2 in heap order: node h's
 * children are 2h+1 (bit 0) and 2h+2 (bit 1); level l tests split D-1-l, so leaf number q of
 * the last level is CatBoost's leaf index. */
static mli_status import_tree(cbm *c, const mli__jval *tree, int32_t t, double scale) {
    const mli__jdoc *d = &c->doc;
    const mli__jval *splits;
    const double *leaves, *weights = NULL;
    int D;
    mli_status st = tree_shape(c, tree, t, &splits, &D, &leaves);
    if (st != MLI_OK)
        return st;
    char where[64];
    snprintf(where, sizeof where, "oblivious_trees[%d]", t);
    const int64_t n_leaves = (int64_t)1 << D, n_inner = n_leaves - 1, base = c->n_nodes;
    if (!mli__jd_get(d, tree, "leaf_weights"))
        c->no_cover = 1;
    else if ((st = mli__jd_num_array(d, c->origin, tree, where, "leaf_weights", n_leaves, 0, &weights)) != MLI_OK)
        return st;
    c->tree_start[t] = base;
    for (int k = 0; k < D; ++k) {
        char sw[96];
        snprintf(sw, sizeof sw, "%s.splits[%d]", where, k);
        const mli__jval *s = mli__jd_at(d, splits, (uint32_t)k), *type, *bv;
        int64_t ffi;
        if (!s || s->type != MLI__JD_OBJ)
            return mli__fail(MLI_ERR_CORRUPT, "%s: %s is not an object", c->origin, sw);
        type = mli__jd_get(d, s, "split_type");
        if (type && !mli__jd_str_is(d, type, "FloatFeature")) {
            size_t len;
            const char *ts = mli__jd_str(d, type, &len);
            return mli__fail(MLI_ERR_UNSUPPORTED,
                             "%s: %s is a '%.*s' split; only FloatFeature splits are supported "
                             "(categorical features need CatBoost's CTR tables)",
                             c->origin, sw, (int)(ts && len < 40 ? len : 0), ts ? ts : "");
        }
        if ((st = int_member(c, s, sw, "float_feature_index", 0, c->n_float - 1, &ffi)) != MLI_OK ||
            (st = mli__jd_member(d, c->origin, s, sw, "border", MLI__JD_NUM, &bv)) != MLI_OK)
            return st;
        /* CatBoost's borders are float32 values; a NaN, infinite or wider one is no border */
        const double border = bv->u.num;
        if (!(fabs(border) <= 3.4028234663852886e38))
            return mli__fail(MLI_ERR_CORRUPT, "%s: %s.border = %.10g is not a finite float32 number", c->origin, sw,
                             border);
        const int level = D - 1 - k;
        for (int64_t h = ((int64_t)1 << level) - 1; h < ((int64_t)2 << level) - 1; ++h) {
            const int64_t g = base + h;
            c->feature[g] = c->flat[ffi];
            c->threshold[g] = (double)(float)border;
            c->flags[g] = c->nan_right[ffi] ? 0 : MLI__TF_DEFAULT_LEFT;
            c->left[g] = (int32_t)(2 * h + 1);
            c->right[g] = (int32_t)(2 * h + 2);
            c->leaf_id[g] = (int32_t)h;
            for (int64_t j = 0; j < c->dim; ++j)
                c->value[g * c->dim + j] = 0.0;
        }
    }
    for (int64_t q = 0; q < n_leaves; ++q) {
        const int64_t g = base + n_inner + q;
        c->feature[g] = c->left[g] = c->right[g] = -1;
        c->threshold[g] = 0.0;
        c->flags[g] = 0;
        c->leaf_id[g] = (int32_t)q; /* calc_leaf_indexes' number */
        for (int64_t j = 0; j < c->dim; ++j) {
            const double v = leaves[q * c->dim + j];
            if (!isfinite(v) || !isfinite(v * scale))
                return mli__fail(MLI_ERR_CORRUPT, "%s: %s.leaf_values[%lld] is not finite", c->origin, where,
                                 (long long)(q * c->dim + j));
            c->value[g * c->dim + j] = v * scale;
        }
        if (weights && !(weights[q] >= 0.0 && weights[q] <= 1e300))
            return mli__fail(MLI_ERR_CORRUPT, "%s: %s.leaf_weights[%lld] is not a finite weight >= 0", c->origin, where,
                             (long long)q);
        c->cover[g] = weights ? weights[q] : 0.0;
    }
    for (int64_t h = n_inner - 1; h >= 0; --h) /* a node's cover is its children's */
        c->cover[base + h] = c->cover[base + 2 * h + 1] + c->cover[base + 2 * h + 2];
    c->n_nodes += n_inner + n_leaves;
    return MLI_OK;
}

static mli_status alloc_nodes(cbm *c, int64_t n_trees, int64_t n) {
    c->tree_start = malloc((size_t)(n_trees + 1) * sizeof *c->tree_start);
    c->feature = malloc((size_t)n * sizeof *c->feature);
    c->left = malloc((size_t)n * sizeof *c->left);
    c->right = malloc((size_t)n * sizeof *c->right);
    c->leaf_id = malloc((size_t)n * sizeof *c->leaf_id);
    c->threshold = malloc((size_t)n * sizeof *c->threshold);
    c->value = malloc((size_t)n * (size_t)c->dim * sizeof *c->value);
    c->cover = malloc((size_t)n * sizeof *c->cover);
    c->flags = malloc((size_t)n);
    if (!c->tree_start || !c->feature || !c->left || !c->right || !c->leaf_id || !c->threshold || !c->value ||
        !c->cover || !c->flags)
        return oom(c);
    return MLI_OK;
}

static mli_status import_model(cbm *c, const uint8_t *data, size_t size, mli__writer *w) {
    mli_status st = mli__jd_parse_json(c->origin, data, size, &c->doc);
    if (st != MLI_OK)
        return st;
    const mli__jdoc *d = &c->doc;
    const mli__jval *root = &d->root, *fi, *trees;
    if (root->type != MLI__JD_OBJ)
        return mli__fail(MLI_ERR_CORRUPT, "%s: the document is %s, expected a CatBoost model object", c->origin,
                         mli__jd_type_name(root->type));
    if ((st = mli__jd_member(d, c->origin, root, "the model", "features_info", MLI__JD_OBJ, &fi)) != MLI_OK ||
        (st = refuse_other_features(c, fi)) != MLI_OK)
        return st;
    if (mli__jd_get(d, root, "ctr_data"))
        return mli__fail(MLI_ERR_UNSUPPORTED,
                         "%s: the model holds CTR tables (categorical features), which libmlinfer "
                         "does not implement",
                         c->origin);
    const loss *ls = NULL;
    if ((st = read_loss(c, root, &ls)) != MLI_OK || (st = read_float_features(c, fi)) != MLI_OK ||
        (st = mli__jd_member(d, c->origin, root, "the model", "oblivious_trees", MLI__JD_ARR, &trees)) != MLI_OK)
        return st;
    if (trees->n == 0 || (trees->flags & MLI__JD_PACKED))
        return mli__fail(MLI_ERR_UNSUPPORTED, "%s: the model has no trees", c->origin);
    if (mli__jd_get(d, root, "non_symmetric_trees") || mli__jd_get(d, root, "trees"))
        return mli__fail(MLI_ERR_UNSUPPORTED,
                         "%s: non-symmetric trees (grow_policy Depthwise or Lossguide) are not "
                         "supported; only oblivious trees",
                         c->origin);

    /* pass 1: every tree's shape, and the node count (2^(D+1) - 1 each) */
    int64_t n_nodes = 0;
    for (uint32_t t = 0; t < trees->n; ++t) {
        const mli__jval *splits;
        const double *leaves;
        int D;
        if ((st = tree_shape(c, mli__jd_at(d, trees, t), (int32_t)t, &splits, &D, &leaves)) != MLI_OK)
            return st;
        n_nodes += ((int64_t)2 << D) - 1;
    }
    if (n_nodes > INT32_MAX)
        return mli__fail(MLI_ERR_UNSUPPORTED, "%s: %lld nodes once expanded; at most 2^31 - 1 are supported", c->origin,
                         (long long)n_nodes);
    const int64_t n_classes = ls->kind == 1 ? 2 : ls->kind == 2 ? c->dim : 0;
    if ((ls->kind == 0 || ls->kind == 1) && c->dim != 1)
        return mli__fail(MLI_ERR_CORRUPT, "%s: %s has %lld values per leaf, expected 1", c->origin, ls->name,
                         (long long)c->dim);
    if (ls->kind == 2 && c->dim < 2)
        return mli__fail(MLI_ERR_CORRUPT, "%s: MultiClass with %lld values per leaf (classes)", c->origin,
                         (long long)c->dim);
    double scale;
    if ((st = read_scale_and_bias(c, root, &scale)) != MLI_OK || (st = read_classes(c, root, n_classes)) != MLI_OK ||
        (st = alloc_nodes(c, trees->n, n_nodes)) != MLI_OK)
        return st;
    for (uint32_t t = 0; t < trees->n; ++t)
        if ((st = import_tree(c, mli__jd_at(d, trees, t), (int32_t)t, scale)) != MLI_OK)
            return st;
    c->tree_start[trees->n] = c->n_nodes;

    char source[96];
    snprintf(source, sizeof source, "catboost %s", ls->name);
    mli__tree_model tm = {.origin = c->origin,
                          .source = source,
                          .n_features = c->n_float,
                          .n_classes = n_classes,
                          .class_int = c->class_int,
                          .class_str = c->class_str,
                          .n_trees = trees->n,
                          .n_nodes = c->n_nodes,
                          .n_out = c->dim,
                          .leaf_width = c->dim,
                          .compare = "le_f32",
                          .head = ls->head,
                          .tree_start = c->tree_start,
                          .feature = c->feature,
                          .left = c->left,
                          .right = c->right,
                          .leaf_id = c->leaf_id,
                          .threshold = c->threshold,
                          .value = c->value,
                          .flags = c->flags,
                          .base = c->base,
                          .cover = c->no_cover ? NULL : c->cover};
    if ((st = mli__write_tree_model(&tm, w)) != MLI_OK)
        return st;
    if (c->name_bytes && (st = mli__write_feature_names(c->names, c->n_float, w)) != MLI_OK)
        return st;
    return mli__writer_status(w);
}

mli_status mli__import_catboost(const char *origin, const uint8_t *data, size_t size, mli__writer *w) {
    if (!w || (!data && size))
        return mli__fail(MLI_ERR_INVALID_ARGUMENT, "mli__import_catboost: NULL argument");
    cbm c;
    memset(&c, 0, sizeof c);
    c.origin = origin ? origin : "<memory>";
    mli_status st = import_model(&c, data, size, w);
    cbm_free(&c);
    return st;
}
