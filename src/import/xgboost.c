/* xgboost.c — imports an XGBoost tree model saved by `Booster.save_model` (JSON or
 * UBJSON; gbtree or dart) as one `trees` stage (docs/FORMAT.md, docs/models/xgboost.md).
 *
 * XGBoost's rules, kept exactly: a row goes to the left child when float32(x) <
 * float32(split) (compare `lt_f32`), NaN takes the node's default direction, trees add up
 * per output group (`tree_info`), the intercept `base_score` is stored after the inverse
 * link and is mapped back to a margin in float32 as XGBoost does. A categorical node
 * sends its listed categories RIGHT and everything else (unlisted, negative, >= 2^24)
 * left; the importer swaps the children so the listed set is the bitset that goes left.
 * Nodes are renumbered in pre-order (parents before children); `leaf_id` keeps
 * XGBoost's node id for `pred_leaf`. Trees of vector leaves (multi_strategy=
 * "multi_output_tree": one tree per round gives every target or class, its leaves indexing
 * `leaf_weights`) become a stage of leaf_width n_out. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "trees/trees.h"
#include "import.h"
#include "jdoc.h"

#define XGB_MAX_CATEGORY 16777216 /* XGBoost's OutOfRangeCat(): larger categories never match */

enum { LINK_IDENTITY, LINK_LOGIT, LINK_LOG };

typedef struct {
    const char *name;
    int link;       /* how base_score becomes a margin */
    int classifier; /* 0 regression, 1 binary, 2 multiclass */
    const char *head;
} objective;

static const objective objectives[] = {
    {"reg:squarederror", LINK_IDENTITY, 0, "identity"},
    {"reg:linear", LINK_IDENTITY, 0, "identity"}, /* the old name of reg:squarederror */
    {"reg:squaredlogerror", LINK_IDENTITY, 0, "identity"},
    {"reg:pseudohubererror", LINK_IDENTITY, 0, "identity"},
    {"reg:absoluteerror", LINK_IDENTITY, 0, "identity"},
    {"reg:quantileerror", LINK_IDENTITY, 0, "identity"},
    {"reg:logistic", LINK_LOGIT, 0, "logistic"},
    {"count:poisson", LINK_LOG, 0, "exp"},
    {"reg:gamma", LINK_LOG, 0, "exp"},
    {"reg:tweedie", LINK_LOG, 0, "exp"},
    {"survival:aft", LINK_LOG, 0, "exp"},
    {"survival:cox", LINK_LOG, 0, "exp"},
    {"rank:pairwise", LINK_IDENTITY, 0, "identity"},
    {"rank:ndcg", LINK_IDENTITY, 0, "identity"},
    {"rank:map", LINK_IDENTITY, 0, "identity"},
    {"binary:logistic", LINK_LOGIT, 1, "binary_logistic"},
    {"binary:logitraw", LINK_IDENTITY, 1, "binary_sign"},
    {"binary:hinge", LINK_IDENTITY, 1, "binary_sign"},
    {"multi:softprob", LINK_IDENTITY, 2, "multinomial"},
    {"multi:softmax", LINK_IDENTITY, 2, "multinomial"},
};

/* The stage being built, all trees together. */
typedef struct {
    const char *origin;
    mli__jdoc doc;
    int64_t n_features;
    int32_t n_out;
    int32_t leafvec;            /* values per leaf: 1, or n_out (every tree's size_leaf_vector) */
    int64_t n_nodes, cap_nodes; /* cap: the sum of num_nodes over the trees */
    int64_t *tree_start;
    int32_t *tree_out, *feature, *left, *right, *leaf_id, *cat_words;
    int64_t *cat_offset;
    double *threshold, *value, *base, *cover;
    int no_cover; /* a tree without sum_hessian: the model gets no covers */
    uint8_t *flags;
    uint32_t *cat_bits;
    int64_t n_cat_words, max_cat_words;
    size_t cap_cat_words;
    int any_cat;
    /* per-tree scratch, sized for the largest tree */
    int32_t *newid, *order, *stack, *sdepth, *catj;
    int64_t cap_scratch;
    /* string categories recorded for DataFrame columns (cats.enc), when there are any */
    mli__owned_categories cats;
    int recorded_cats; /* cats.enc lists the categories of at least one feature */
    /* the features whose recorded categories are the numbers 0..k-1, as "f:k f:k" (metadata
     * category_counts), or "" (also when the list would not fit one metadata value) */
    char num_cats[3072];
    int num_cats_dropped;
} xgb;

/* ---- small readers with messages ---------------------------------------------------- */

static const char *type_name(int type) { return mli__jd_type_name(type); }

/* obj[key] of the given type; `where` names obj in the message. */
static mli_status member(const xgb *x, const mli__jval *obj, const char *where, const char *key, int type,
                         const mli__jval **out) {
    return mli__jd_member(&x->doc, x->origin, obj, where, key, type, out);
}

/* An integer from a number or a decimal string (XGBoost stores parameters as strings). */
static int as_int(const mli__jdoc *d, const mli__jval *v, int64_t *out) {
    if (v->type == MLI__JD_NUM) {
        double n = v->u.num;
        if (!(n >= -9.0e15 && n <= 9.0e15) || n != floor(n))
            return 0;
        *out = (int64_t)n;
        return 1;
    }
    size_t len;
    const char *s = mli__jd_str(d, v, &len);
    if (!s || len == 0 || len > 18)
        return 0;
    size_t i = s[0] == '-';
    if (i == len)
        return 0;
    int64_t r = 0;
    for (; i < len; ++i) {
        if (s[i] < '0' || s[i] > '9')
            return 0;
        r = r * 10 + (s[i] - '0');
    }
    *out = s[0] == '-' ? -r : r;
    return 1;
}

static mli_status param_int(const xgb *x, const mli__jval *obj, const char *where, const char *key, int64_t lo,
                            int64_t hi, int64_t dflt, int64_t *out) {
    const mli__jval *v = mli__jd_get(&x->doc, obj, key);
    if (!v) {
        if (dflt < lo)
            return mli__fail(MLI_ERR_CORRUPT, "%s: %s has no '%s'", x->origin, where, key);
        *out = dflt;
        return MLI_OK;
    }
    if (!as_int(&x->doc, v, out))
        return mli__fail(MLI_ERR_CORRUPT, "%s: %s.%s is not an integer", x->origin, where, key);
    if (*out < lo || *out > hi)
        return mli__fail(MLI_ERR_CORRUPT, "%s: %s.%s = %lld is outside [%lld, %lld]", x->origin, where, key,
                         (long long)*out, (long long)lo, (long long)hi);
    return MLI_OK;
}

/* A packed number array of exactly `n` elements (booleans allowed when allow_bool). */
static mli_status num_array(const xgb *x, const mli__jval *obj, const char *where, const char *key, int64_t n,
                            int allow_bool, const double **out) {
    return mli__jd_num_array(&x->doc, x->origin, obj, where, key, n, allow_bool, out);
}

static int is_int_in(double v, double lo, double hi) { return v >= lo && v <= hi && v == floor(v); }

/* ---- base_score -------------------------------------------------------------------- */

/* The margin XGBoost starts from: base_score through the objective's ProbToMargin, in
 * float32 arithmetic as XGBoost computes it. */
static mli_status to_margin(const xgb *x, const objective *obj, float p, int k, double *out) {
    float m = p;
    if (obj->link == LINK_LOGIT) {
        if (!(p >= 0.0f && p <= 1.0f))
            return mli__fail(MLI_ERR_CORRUPT, "%s: base_score[%d] = %.10g is not a probability, as %s needs", x->origin,
                             k, (double)p, obj->name);
        const float eps = 1e-6f; /* XGBoost clamps to [kRtEps, 1 - kRtEps] */
        float c = p < eps ? eps : p > 1.0f - eps ? 1.0f - eps : p;
        m = -logf(1.0f / c - 1.0f); /* ProbToMargin, in this order: log(c / (1 - c)) differs (0.06 at 1 - 1e-6) */
    } else if (obj->link == LINK_LOG) {
        if (!(p > 0.0f))
            return mli__fail(MLI_ERR_CORRUPT, "%s: base_score[%d] = %.10g must be positive for %s (log link)",
                             x->origin, k, (double)p, obj->name);
        m = logf(p);
    }
    if (!isfinite(m))
        return mli__fail(MLI_ERR_CORRUPT, "%s: base_score[%d] = %.10g gives a non-finite margin", x->origin, k,
                         (double)p);
    *out = (double)m;
    return MLI_OK;
}

/* "0.5", "5E-1", or "[v0,v1,...]" (XGBoost >= 3.1: one value per output). */
static mli_status read_base_score(xgb *x, const mli__jval *mp, const objective *obj) {
    const mli__jval *v = mli__jd_get(&x->doc, mp, "base_score");
    x->base = calloc((size_t)x->n_out, sizeof *x->base);
    if (!x->base)
        return mli__fail(MLI_ERR_OUT_OF_MEMORY, "%s: out of memory", x->origin);
    if (!v)
        return mli__fail(MLI_ERR_CORRUPT, "%s: learner_model_param has no 'base_score'", x->origin);
    double one;
    if (v->type == MLI__JD_NUM) { /* not what XGBoost writes, but unambiguous */
        for (int32_t k = 0; k < x->n_out; ++k) {
            mli_status st = to_margin(x, obj, (float)v->u.num, k, &x->base[k]);
            if (st != MLI_OK)
                return st;
        }
        return MLI_OK;
    }
    size_t len;
    const char *s = mli__jd_str(&x->doc, v, &len);
    if (!s)
        return mli__fail(MLI_ERR_CORRUPT, "%s: learner_model_param.base_score is %s, expected a string", x->origin,
                         type_name(v->type));
    const char *p = s, *end = s + len;
    int shown = len > 60 ? 60 : (int)len; /* strings are not NUL-terminated */
    int bracket = p < end && *p == '[';
    p += bracket;
    int64_t count = 0;
    for (;;) {
        while (p < end && *p == ' ')
            ++p;
        size_t used = mli__jd_number(p, end, &one);
        if (used == 0)
            return mli__fail(MLI_ERR_CORRUPT,
                             "%s: learner_model_param.base_score '%.*s' is not a number or a list "
                             "of numbers",
                             x->origin, shown, s);
        p += used;
        if (count < x->n_out) {
            mli_status st = to_margin(x, obj, (float)one, (int)count, &x->base[count]);
            if (st != MLI_OK)
                return st;
        }
        ++count;
        while (p < end && *p == ' ')
            ++p;
        if (bracket && p < end && *p == ',') {
            ++p;
            continue;
        }
        break;
    }
    if (bracket) {
        if (p >= end || *p != ']')
            return mli__fail(MLI_ERR_CORRUPT, "%s: learner_model_param.base_score '%.*s' lacks its closing ']'",
                             x->origin, shown, s);
        ++p;
    }
    if (p != end)
        return mli__fail(MLI_ERR_CORRUPT, "%s: learner_model_param.base_score '%.*s' has trailing text", x->origin,
                         shown, s);
    if (count == 1) {
        for (int32_t k = 1; k < x->n_out; ++k)
            x->base[k] = x->base[0];
    } else if (count != x->n_out) {
        return mli__fail(MLI_ERR_CORRUPT, "%s: learner_model_param.base_score has %lld values for %d outputs",
                         x->origin, (long long)count, x->n_out);
    }
    return MLI_OK;
}

/* ---- trees --------------------------------------------------------------------------- */

static void xgb_free(xgb *x) {
    void *bufs[] = {x->tree_start, x->tree_out,  x->feature, x->left, x->right, x->leaf_id,  x->cat_words,
                    x->cat_offset, x->threshold, x->value,   x->base, x->flags, x->cat_bits, x->newid,
                    x->order,      x->stack,     x->sdepth,  x->catj, x->cover};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; ++i)
        free(bufs[i]);
    mli__owned_categories_free(&x->cats);
    mli__jd_free(&x->doc);
}

static mli_status oom(const xgb *x) {
    return mli__fail(MLI_ERR_OUT_OF_MEMORY, "%s: out of memory while importing the model", x->origin);
}

static mli_status alloc_nodes(xgb *x, int32_t n_trees) {
    size_t n = (size_t)x->cap_nodes, t = (size_t)n_trees;
    x->tree_start = malloc((t + 1) * sizeof *x->tree_start);
    x->tree_out = malloc(t * sizeof *x->tree_out);
    x->feature = malloc(n * sizeof *x->feature);
    x->left = malloc(n * sizeof *x->left);
    x->right = malloc(n * sizeof *x->right);
    x->leaf_id = malloc(n * sizeof *x->leaf_id);
    x->cat_words = calloc(n, sizeof *x->cat_words);
    x->cat_offset = calloc(n, sizeof *x->cat_offset);
    x->threshold = malloc(n * sizeof *x->threshold);
    x->value = malloc(n * (size_t)x->leafvec * sizeof *x->value);
    x->cover = malloc(n * sizeof *x->cover);
    x->flags = malloc(n);
    if (!x->tree_start || !x->tree_out || !x->feature || !x->left || !x->right || !x->leaf_id || !x->cat_words ||
        !x->cat_offset || !x->threshold || !x->value || !x->cover || !x->flags)
        return oom(x);
    return MLI_OK;
}

static mli_status scratch_for(xgb *x, int64_t n) {
    if (n <= x->cap_scratch)
        return MLI_OK;
    int32_t **bufs[] = {&x->newid, &x->order, &x->stack, &x->sdepth, &x->catj};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; ++i) {
        free(*bufs[i]);
        *bufs[i] = malloc((size_t)n * sizeof(int32_t));
        if (!*bufs[i])
            return oom(x);
    }
    x->cap_scratch = n;
    return MLI_OK;
}

/* Categorical metadata of a tree: catj[node] = its entry in categories_nodes, or -1. */
typedef struct {
    const double *nodes, *segments, *sizes, *cats;
    int64_t n_entries, n_cats;
} tree_cats;

static mli_status read_tree_cats(xgb *x, const mli__jval *tree, const char *where, int64_t nn, tree_cats *tc) {
    memset(tc, 0, sizeof *tc);
    const mli__jval *cn = mli__jd_get(&x->doc, tree, "categories_nodes");
    if (!cn)
        return mli__fail(MLI_ERR_CORRUPT, "%s: %s has categorical splits but no 'categories_nodes'", x->origin, where);
    mli_status st;
    if ((st = num_array(x, tree, where, "categories_nodes", -1, 0, &tc->nodes)) != MLI_OK)
        return st;
    tc->n_entries = cn->n;
    const mli__jval *cv;
    if ((st = num_array(x, tree, where, "categories_segments", tc->n_entries, 0, &tc->segments)) != MLI_OK ||
        (st = num_array(x, tree, where, "categories_sizes", tc->n_entries, 0, &tc->sizes)) != MLI_OK ||
        (st = member(x, tree, where, "categories", MLI__JD_ARR, &cv)) != MLI_OK ||
        (st = num_array(x, tree, where, "categories", -1, 0, &tc->cats)) != MLI_OK)
        return st;
    tc->n_cats = cv->n;
    for (int64_t i = 0; i < nn; ++i)
        x->catj[i] = -1;
    for (int64_t j = 0; j < tc->n_entries; ++j) {
        double nd = tc->nodes[j], sg = tc->segments[j], sz = tc->sizes[j];
        if (!is_int_in(nd, 0, (double)(nn - 1)))
            return mli__fail(MLI_ERR_CORRUPT, "%s: %s: categories_nodes[%lld] = %.10g is not a node of the tree",
                             x->origin, where, (long long)j, nd);
        if (x->catj[(int64_t)nd] != -1)
            return mli__fail(MLI_ERR_CORRUPT, "%s: %s: node %lld is listed twice in categories_nodes", x->origin, where,
                             (long long)nd);
        if (!is_int_in(sg, 0, (double)tc->n_cats) || !is_int_in(sz, 0, (double)tc->n_cats) ||
            sg + sz > (double)tc->n_cats)
            return mli__fail(MLI_ERR_CORRUPT,
                             "%s: %s node %lld: its categories (segment %.10g, size %.10g) lie outside "
                             "the %lld entries of 'categories'",
                             x->origin, where, (long long)nd, sg, sz, (long long)tc->n_cats);
        x->catj[(int64_t)nd] = (int32_t)j;
    }
    return MLI_OK;
}

/* Appends the bitset of XGBoost node `node` (categories_nodes entry j) for output node g. */
static mli_status add_bitset(xgb *x, const char *where, int64_t node, const tree_cats *tc, int32_t j, int64_t g) {
    int64_t seg = (int64_t)tc->segments[j], size = (int64_t)tc->sizes[j];
    double maxc = -1;
    for (int64_t i = seg; i < seg + size; ++i) {
        double c = tc->cats[i];
        if (!is_int_in(c, 0, XGB_MAX_CATEGORY - 1))
            return mli__fail(MLI_ERR_CORRUPT, "%s: %s node %lld: category %.17g is not an integer in [0, 2^24)",
                             x->origin, where, (long long)node, c);
        if (c > maxc)
            maxc = c;
    }
    int64_t words = size ? (int64_t)maxc / 32 + 1 : 0;
    if (words > x->max_cat_words - x->n_cat_words)
        return mli__fail(MLI_ERR_CORRUPT,
                         "%s: %s node %lld: the categorical bitsets grow past %lld words, out of "
                         "proportion to the file",
                         x->origin, where, (long long)node, (long long)x->max_cat_words);
    if (!mli__reserve((void **)&x->cat_bits, &x->cap_cat_words, (size_t)x->n_cat_words, (size_t)words,
                      sizeof *x->cat_bits))
        return oom(x);
    if (words > 0) { /* an empty list: no bitset, every category goes XGBoost's left */
        uint32_t *bits = x->cat_bits + x->n_cat_words;
        memset(bits, 0, (size_t)words * sizeof *bits);
        for (int64_t i = seg; i < seg + size; ++i) {
            uint32_t c = (uint32_t)tc->cats[i];
            bits[c / 32] |= 1u << (c % 32);
        }
    }
    x->cat_offset[g] = x->n_cat_words;
    x->cat_words[g] = (int32_t)words;
    x->n_cat_words += words;
    x->any_cat = 1;
    return MLI_OK;
}

static mli_status import_tree(xgb *x, int32_t t, const mli__jval *tree, double weight) {
    char where[48];
    snprintf(where, sizeof where, "tree %d", t);
    const mli__jval *tp;
    int64_t nn;
    mli_status st;
    if (tree->type != MLI__JD_OBJ)
        return mli__fail(MLI_ERR_CORRUPT, "%s: %s is %s, expected an object", x->origin, where, type_name(tree->type));
    if ((st = member(x, tree, where, "tree_param", MLI__JD_OBJ, &tp)) != MLI_OK ||
        (st = param_int(x, tp, where, "num_nodes", 1, INT32_MAX, -1, &nn)) != MLI_OK)
        return st;
    const int32_t K = x->leafvec; /* the tree's size_leaf_vector, checked by count_nodes */
    const double *lc, *rc, *si, *sc, *dl, *stype = NULL, *lw = NULL;
    if ((st = num_array(x, tree, where, "left_children", nn, 0, &lc)) != MLI_OK ||
        (st = num_array(x, tree, where, "right_children", nn, 0, &rc)) != MLI_OK ||
        (st = num_array(x, tree, where, "split_indices", nn, 0, &si)) != MLI_OK ||
        (st = num_array(x, tree, where, "split_conditions", nn, 0, &sc)) != MLI_OK ||
        (st = num_array(x, tree, where, "default_left", nn, 1, &dl)) != MLI_OK)
        return st;
    int64_t n_leaves = 0; /* vector leaves: leaf_weights holds n_leaves x K, a leaf's right child its row */
    for (int64_t i = 0; K > 1 && i < nn; ++i)
        n_leaves += lc[i] == -1;
    if (K > 1 && (st = num_array(x, tree, where, "leaf_weights", n_leaves * K, 0, &lw)) != MLI_OK)
        return st;
    const double *hess = NULL; /* sum_hessian: the cover TreeSHAP weighs children by */
    if (mli__jd_get(&x->doc, tree, "sum_hessian") &&
        (st = num_array(x, tree, where, "sum_hessian", nn, 0, &hess)) != MLI_OK)
        return st;
    if (!hess)
        x->no_cover = 1;
    if (mli__jd_get(&x->doc, tree, "split_type") &&
        (st = num_array(x, tree, where, "split_type", nn, 0, &stype)) != MLI_OK)
        return st;
    if (nn > x->cap_nodes - x->n_nodes)
        return mli__fail(MLI_ERR_INTERNAL, "%s: %s: node count changed between passes", x->origin, where);
    if ((st = scratch_for(x, nn)) != MLI_OK)
        return st;
    int has_cat = 0;
    for (int64_t i = 0; stype && i < nn; ++i) {
        if (stype[i] != 0 && stype[i] != 1)
            return mli__fail(MLI_ERR_CORRUPT,
                             "%s: %s node %lld: split_type %.10g is neither 0 (numerical) nor 1 "
                             "(categorical)",
                             x->origin, where, (long long)i, stype[i]);
        has_cat |= stype[i] == 1;
    }
    tree_cats tc;
    if (has_cat && (st = read_tree_cats(x, tree, where, nn, &tc)) != MLI_OK)
        return st;

    /* Pre-order walk from the root: every node reached once, children checked before they
     * are pushed, so hostile links (out of range, shared, cyclic) stop here. */
    int32_t *newid = x->newid, *order = x->order, *stack = x->stack, *sdepth = x->sdepth;
    for (int64_t i = 0; i < nn; ++i)
        newid[i] = -1;
    int64_t sp = 0, cnt = 0;
    stack[sp] = 0;
    sdepth[sp++] = 0;
    newid[0] = -2;
    while (sp > 0) {
        int32_t node = stack[--sp], depth = sdepth[sp];
        newid[node] = (int32_t)cnt;
        order[cnt++] = node;
        double l = lc[node], r = rc[node];
        if (l == -1) {
            if (K == 1 && r != -1)
                return mli__fail(MLI_ERR_CORRUPT, "%s: %s node %d has no left child but right child %.10g", x->origin,
                                 where, node, r);
            if (K > 1 && !is_int_in(r, 0, (double)(n_leaves - 1)))
                return mli__fail(MLI_ERR_CORRUPT,
                                 "%s: %s leaf %d: its leaf_weights row %.10g is not one of the tree's %lld leaves",
                                 x->origin, where, node, r, (long long)n_leaves);
            continue;
        }
        double kids[2] = {r, l};
        for (int k = 0; k < 2; ++k) {
            if (!is_int_in(kids[k], 0, (double)(nn - 1)))
                return mli__fail(MLI_ERR_CORRUPT,
                                 "%s: %s node %d: %s child %.10g is not a node of the tree (%lld nodes)", x->origin,
                                 where, node, k ? "left" : "right", kids[k], (long long)nn);
            int32_t c = (int32_t)kids[k];
            if (newid[c] != -1)
                return mli__fail(MLI_ERR_CORRUPT,
                                 "%s: %s node %d: child %d is reached a second time (a cycle or a "
                                 "shared node)",
                                 x->origin, where, node, c);
            if (depth + 1 > MLI__TREE_MAX_DEPTH)
                return mli__fail(MLI_ERR_CORRUPT, "%s: %s node %d: the tree is deeper than %d levels", x->origin, where,
                                 c, MLI__TREE_MAX_DEPTH);
            newid[c] = -2;
            stack[sp] = c;
            sdepth[sp++] = depth + 1;
        }
    }

    int64_t base = x->n_nodes;
    x->tree_start[t] = base;
    for (int64_t k = 0; k < cnt; ++k) {
        int32_t node = order[k];
        int64_t g = base + k;
        x->leaf_id[g] = node;
        x->cover[g] = hess ? hess[node] : 0.0;
        if (hess && !(hess[node] >= 0.0 && hess[node] <= 1e300)) /* a custom objective's; TreeSHAP is refused */
            x->no_cover = 1;
        if (lc[node] == -1) {
            for (int32_t j = 0; j < K; ++j) {
                const double v = K > 1 ? lw[(int64_t)rc[node] * K + j] : sc[node];
                float leaf = (float)v;
                if (weight != 1.0)
                    leaf = (float)weight * leaf; /* dart: XGBoost scales each tree's output in float32 */
                if (!isfinite(leaf))
                    return mli__fail(MLI_ERR_CORRUPT, "%s: %s leaf %d has the non-finite value %.10g", x->origin, where,
                                     node, v);
                x->value[g * K + j] = (double)leaf;
            }
            x->feature[g] = -1;
            x->left[g] = x->right[g] = -1;
            x->threshold[g] = 0;
            x->flags[g] = 0;
            continue;
        }
        double f = si[node], d = dl[node];
        if (!is_int_in(f, 0, (double)(x->n_features - 1)))
            return mli__fail(MLI_ERR_CORRUPT, "%s: %s node %d splits on feature %.10g, but the model has %lld features",
                             x->origin, where, node, f, (long long)x->n_features);
        if (d != 0 && d != 1)
            return mli__fail(MLI_ERR_CORRUPT, "%s: %s node %d: default_left is %.10g, expected 0 or 1", x->origin,
                             where, node, d);
        int32_t l = newid[(int32_t)lc[node]], r = newid[(int32_t)rc[node]];
        x->feature[g] = (int32_t)f;
        for (int32_t j = 0; j < K; ++j)
            x->value[g * K + j] = 0;
        if (stype && stype[node] == 1) {
            int32_t j = x->catj[node];
            if (j < 0)
                return mli__fail(MLI_ERR_CORRUPT, "%s: %s node %d is categorical but not in categories_nodes",
                                 x->origin, where, node);
            /* XGBoost: listed categories go right, all else (and out-of-range) left. Here the
             * listed set goes left, so the children swap, and so does the default. */
            x->left[g] = r - (int32_t)k;
            x->right[g] = l - (int32_t)k;
            x->threshold[g] = 0;
            /* XGBoost tests `value < 0` before truncating: -0.5 is no category (bit 6) */
            x->flags[g] = (uint8_t)(MLI__TF_CATEGORICAL | MLI__TF_NEGATIVE_OUT | (d == 1 ? 0 : MLI__TF_DEFAULT_LEFT));
            if ((st = add_bitset(x, where, node, &tc, j, g)) != MLI_OK)
                return st;
        } else {
            if (isnan(sc[node]))
                return mli__fail(MLI_ERR_CORRUPT, "%s: %s node %d has a NaN split condition", x->origin, where, node);
            x->left[g] = l - (int32_t)k;
            x->right[g] = r - (int32_t)k;
            x->threshold[g] = (double)(float)sc[node];
            x->flags[g] = (uint8_t)(d == 1 ? MLI__TF_DEFAULT_LEFT : 0);
        }
    }
    /* children were numbered within the whole walk; make them relative to the tree */
    for (int64_t k = 0; k < cnt; ++k) {
        int64_t g = base + k;
        if (x->left[g] != -1) {
            x->left[g] += (int32_t)k;
            x->right[g] += (int32_t)k;
        }
    }
    x->n_nodes += cnt;
    return MLI_OK;
}

/* ---- the model ---------------------------------------------------------------------- */

/* cats.enc[f]'s string categories: `offsets` (count + 1 increasing byte offsets from 0 to the
 * end of `values`) over `values` (the UTF-8 bytes, one number each, as C `char`s: XGBoost writes
 * bytes >= 0x80 as negative numbers); 0 and *count, or -1. */
static int enc_strings(const xgb *x, const mli__jval *vals, const mli__jval *offs, uint32_t *count) {
    const double *v = mli__jd_nums(&x->doc, vals, 0), *o = mli__jd_nums(&x->doc, offs, 0);
    if (!v || !o || offs->n < 1 || o[0] != 0.0 || o[offs->n - 1] != (double)vals->n)
        return -1;
    for (uint32_t i = 0; i + 1 < offs->n; ++i)
        if (!(o[i + 1] >= o[i]) || o[i + 1] != floor(o[i + 1]))
            return -1;
    for (uint32_t i = 0; i < vals->n; ++i)
        if (!(v[i] >= -128.0 && v[i] <= 255.0) || v[i] == 0.0 || v[i] != floor(v[i])) /* no NUL in a category */
            return -1;
    *count = offs->n - 1;
    return 0;
}

/* XGBoost >= 3.1 keeps the categories of the DataFrame columns it was trained on (`cats.enc`,
 * one entry per feature) and re-codes a DataFrame's values to their codes (positions in that
 * list) before the trees see them; a category outside the list is an error, a null missing.
 * String categories get the same lookup here, as a prep stage in front of the trees
 * (x->cats); number categories must be their own codes (0, 1, 2, ...), as a number given to
 * the model is read as the code. */
/* Feature f's name for a message: " ('name')", or "" when the file names no features. */
static const char *feature_label(const xgb *x, const mli__jval *learner, uint32_t f, char buf[64]) {
    const mli__jval *names = mli__jd_get(&x->doc, learner, "feature_names");
    size_t len = 0;
    const char *s = names && names->type == MLI__JD_ARR && f < names->n
                        ? mli__jd_str(&x->doc, mli__jd_at(&x->doc, names, f), &len)
                        : NULL;
    buf[0] = 0;
    if (s)
        snprintf(buf, 64, " ('%.*s')", (int)(len > 40 ? 40 : len), s);
    return buf;
}

/* Adds "f:k" to x->num_cats: feature f's categories are the numbers 0..k-1. XGBoost refuses a
 * DataFrame value outside them (an unseen category); the Python binding does the same for a
 * table column. A list too long for one metadata value is dropped whole. */
static void note_number_categories(xgb *x, uint32_t f, uint32_t k) {
    size_t at = strlen(x->num_cats), room = sizeof x->num_cats - at;
    if (x->num_cats_dropped)
        return;
    int n = snprintf(x->num_cats + at, room, "%s%u:%u", at ? " " : "", f, k);
    if (n < 0 || (size_t)n >= room) {
        x->num_cats[0] = 0;
        x->num_cats_dropped = 1;
    }
}

static mli_status read_recorded_categories(xgb *x, const mli__jval *learner, const mli__jval *model) {
    const mli__jdoc *d = &x->doc;
    char label[64];
    const mli__jval *cats = mli__jd_get(d, model, "cats");
    const mli__jval *enc = cats ? mli__jd_get(d, cats, "enc") : NULL;
    if (!enc)
        return MLI_OK;
    if (enc->type != MLI__JD_ARR || (enc->flags & MLI__JD_PACKED && enc->n > 0))
        return mli__fail(MLI_ERR_CORRUPT, "%s: cats.enc is not a list of per-feature categories", x->origin);
    size_t bytes = 0, count = 0;
    for (uint32_t f = 0; f < enc->n; ++f) {
        const mli__jval *e = mli__jd_at(d, enc, f);
        const mli__jval *vals = e ? mli__jd_get(d, e, "values") : NULL, *offs = e ? mli__jd_get(d, e, "offsets") : NULL;
        const double *v = vals ? mli__jd_nums(d, vals, 0) : NULL, *o = offs ? mli__jd_nums(d, offs, 0) : NULL;
        if (!e || e->type != MLI__JD_OBJ || (vals && !v) || (offs && !o))
            return mli__fail(MLI_ERR_CORRUPT, "%s: cats.enc[%u] is not a category list", x->origin, f);
        if (!vals || vals->n == 0)
            continue; /* a numerical feature */
        x->recorded_cats = 1;
        if (offs && offs->n > 1) { /* strings: UTF-8 bytes, offsets[i]..offsets[i+1] is category i */
            uint32_t n;
            if (enc_strings(x, vals, offs, &n) != 0)
                return mli__fail(MLI_ERR_CORRUPT,
                                 "%s: cats.enc[%u]: its string categories (offsets over byte values) are malformed",
                                 x->origin, f);
            /* XGBoost 3.1-3.2 records a category's first (length in characters) bytes, and
             * matches a DataFrame's strings the same way: for non-ASCII strings which input
             * matches which category is XGBoost's quirk, not the string, so refused */
            for (uint32_t i = 0; i < vals->n; ++i)
                if (v[i] < 0.0 || v[i] >= 128.0) {
                    uint32_t c = 0;
                    while (c + 2 < offs->n && o[c + 1] <= (double)i)
                        ++c;
                    return mli__fail(MLI_ERR_UNSUPPORTED,
                                     "%s: feature %u%s: category %u holds non-ASCII characters, which XGBoost "
                                     "records truncated (as many bytes as characters) and matches by that prefix; "
                                     "which strings XGBoost maps to it cannot be reproduced exactly, so string "
                                     "categories must be ASCII",
                                     x->origin, f, feature_label(x, learner, f, label), c);
                }
            bytes += vals->n + n;
            count += n;
            continue;
        }
        for (uint32_t i = 0; i < vals->n; ++i)
            if (v[i] != (double)i)
                return mli__fail(MLI_ERR_UNSUPPORTED,
                                 "%s: feature %u%s was trained from a pandas category column whose category %.17g "
                                 "has the code %u; XGBoost's trees see the code, so a number given to libmlinfer "
                                 "would be mis-coded (train on categories 0..n-1, on the codes, or on string "
                                 "categories)",
                                 x->origin, f, feature_label(x, learner, f, label), v[i], i);
        note_number_categories(x, f, vals->n);
    }
    if (count == 0)
        return MLI_OK;
    if ((int64_t)enc->n != x->n_features)
        return mli__fail(MLI_ERR_CORRUPT, "%s: cats.enc has %u entries for %lld features", x->origin, enc->n,
                         (long long)x->n_features);
    if (count > UINT32_MAX / 2)
        return mli__fail(MLI_ERR_UNSUPPORTED, "%s: cats.enc holds %zu categories, too many", x->origin, count);
    int64_t nf = x->n_features;
    mli__owned_categories *oc = &x->cats;
    if (!mli__owned_categories_alloc(oc, nf, count, bytes))
        return oom(x);
    size_t at = 0, k = 0;
    for (uint32_t f = 0; f < enc->n; ++f) {
        oc->start[f] = (int64_t)k;
        const mli__jval *e = mli__jd_at(d, enc, f);
        const mli__jval *vals = mli__jd_get(d, e, "values"), *offs = mli__jd_get(d, e, "offsets");
        if (!vals || vals->n == 0 || !offs || offs->n <= 1)
            continue;
        const double *v = mli__jd_nums(d, vals, 0), *o = mli__jd_nums(d, offs, 0);
        oc->is_string[f] = 1;
        for (uint32_t i = 0; i + 1 < offs->n; ++i) {
            char *str = oc->bytes + at;
            for (size_t b = (size_t)o[i]; b < (size_t)o[i + 1]; ++b)
                oc->bytes[at++] = (char)(unsigned char)(int)v[b];
            oc->bytes[at++] = 0;
            if (!mli__utf8_valid(str, strlen(str)))
                return mli__fail(MLI_ERR_UNSUPPORTED, "%s: feature %u: category %u is not a UTF-8 string", x->origin, f,
                                 i);
            oc->str[k++] = str;
        }
    }
    oc->start[nf] = (int64_t)k;
    mli__owned_categories_publish(oc, 1);
    return MLI_OK;
}

/* The `feature_names` section, and the metadata key of the same name (names joined by
 * \x1f, which the bindings read) when it is short and no name holds a \x1f or a NUL. */
static mli_status write_feature_names(const xgb *x, const mli__jval *fnames, mli__writer *w) {
    const mli__jdoc *d = &x->doc;
    if ((int64_t)fnames->n != x->n_features)
        return mli__fail(MLI_ERR_CORRUPT, "%s: learner.feature_names has %u entries for %lld features", x->origin,
                         fnames->n, (long long)x->n_features);
    size_t total = 0;
    for (uint32_t i = 0; i < fnames->n; ++i) {
        size_t len;
        const char *s = mli__jd_str(d, mli__jd_at(d, fnames, i), &len);
        if (!s || len > 65535)
            return mli__fail(MLI_ERR_CORRUPT,
                             "%s: learner.feature_names must be %lld strings of at most 64 KiB "
                             "(entry %u is not)",
                             x->origin, (long long)x->n_features, i);
        total += len + 1;
    }
    const char **names = malloc((size_t)fnames->n * sizeof *names);
    char *buf = malloc(total);
    if (!names || !buf) {
        free(names);
        free(buf);
        return oom(x);
    }
    char *p = buf;
    for (uint32_t i = 0; i < fnames->n; ++i) {
        size_t len;
        const char *s = mli__jd_str(d, mli__jd_at(d, fnames, i), &len);
        memcpy(p, s, len);
        p[len] = 0;
        names[i] = p;
        p += len + 1;
    }
    mli_status st = mli__write_feature_names(names, fnames->n, w);
    free(names);
    free(buf);
    return st;
}

static const objective *find_objective(const xgb *x, const mli__jval *name) {
    for (size_t i = 0; i < sizeof objectives / sizeof objectives[0]; ++i)
        if (mli__jd_str_is(&x->doc, name, objectives[i].name))
            return &objectives[i];
    return NULL;
}

/* A model saved by XGBoost's scikit-learn wrapper after early stopping predicts with the
 * rounds up to `best_iteration` only (XGBModel.predict and .apply pass that iteration_range),
 * while Booster.predict uses every tree. The estimator is what such a file stands for, so
 * its extra rounds are dropped: *n_trees becomes the trees of rounds 0..best_iteration. */
static mli_status sklearn_tree_count(const xgb *x, const mli__jval *learner, const mli__jval *model,
                                     const mli__jval *gmp, int64_t *n_trees, int64_t *best) {
    const mli__jdoc *d = &x->doc;
    const mli__jval *attrs = mli__jd_get(d, learner, "attributes");
    const mli__jval *bv = mli__jd_get(d, attrs, "best_iteration");
    if (!bv || !mli__jd_get(d, attrs, "scikit_learn"))
        return MLI_OK;
    int64_t bi, per_round;
    if (!as_int(d, bv, &bi) || bi < 0)
        return mli__fail(MLI_ERR_CORRUPT, "%s: learner.attributes.best_iteration is not a non-negative integer",
                         x->origin);
    /* A round holds num_parallel_tree x n_out trees, so neither count can exceed the trees
     * present; bounding both (and best_iteration, below) keeps the product in range. */
    mli_status st = param_int(x, gmp, "gbtree_model_param", "num_parallel_tree", 1, *n_trees, 1, &per_round);
    if (st != MLI_OK)
        return st;
    /* without iteration_indptr: XGBoost's layout, per_round x n_out trees a round */
    int64_t end = *n_trees;
    if (bi < *n_trees) {
        uint64_t rounds = (uint64_t)bi + 1, per = (uint64_t)per_round * (uint64_t)x->n_out; /* both <= 2^31 */
        if (rounds <= (uint64_t)*n_trees / per)
            end = (int64_t)(rounds * per);
    }
    const mli__jval *ip = mli__jd_get(d, model, "iteration_indptr");
    const double *ptr = ip ? mli__jd_nums(d, ip, 0) : NULL;
    if (ip && (!ptr || ip->n < 1 || ptr[0] != 0 || ptr[ip->n - 1] != (double)*n_trees))
        return mli__fail(MLI_ERR_CORRUPT, "%s: iteration_indptr does not run from 0 to num_trees", x->origin);
    for (uint32_t i = 1; ptr && i < ip->n; ++i)
        if (!(ptr[i] >= ptr[i - 1]) || ptr[i] != floor(ptr[i]))
            return mli__fail(MLI_ERR_CORRUPT, "%s: iteration_indptr is not a non-decreasing list of tree counts",
                             x->origin);
    if (ptr)
        end = bi + 1 < (int64_t)ip->n ? (int64_t)ptr[bi + 1] : *n_trees;
    if (end < 1)
        return mli__fail(MLI_ERR_CORRUPT, "%s: best_iteration %lld leaves no trees", x->origin, (long long)bi);
    if (end < *n_trees)
        *n_trees = end;
    *best = bi;
    return MLI_OK;
}

/* Pass 1 over the trees: checks each tree's node count, output group and weight, and
 * sums the nodes into x->cap_nodes (pass 2, import_tree, checks the arrays against them). */
static mli_status count_nodes(xgb *x, const mli__jval *trees, int64_t n_trees, const double *ti,
                              const double *weight_drop) {
    const mli__jdoc *d = &x->doc;
    mli_status st;
    x->cap_nodes = 0;
    for (int32_t t = 0; t < (int32_t)n_trees; ++t) {
        const mli__jval *tree = mli__jd_at(d, trees, (uint32_t)t), *tp;
        char where[48];
        snprintf(where, sizeof where, "tree %d", t);
        int64_t nn, lv;
        if (!tree || tree->type != MLI__JD_OBJ)
            return mli__fail(MLI_ERR_CORRUPT, "%s: %s is not an object", x->origin, where);
        if ((st = member(x, tree, where, "tree_param", MLI__JD_OBJ, &tp)) != MLI_OK ||
            (st = param_int(x, tp, where, "num_nodes", 1, INT32_MAX, -1, &nn)) != MLI_OK ||
            (st = param_int(x, tp, where, "size_leaf_vector", 0, INT32_MAX, 1, &lv)) != MLI_OK)
            return st;
        /* vector leaves (multi_output_tree): every tree's, one value per output */
        lv = lv < 1 ? 1 : lv;
        if (t == 0 && lv > 1 && lv != x->n_out)
            return mli__fail(MLI_ERR_CORRUPT, "%s: %s has leaves of %lld values but the model has %d outputs",
                             x->origin, where, (long long)lv, x->n_out);
        if (t == 0)
            x->leafvec = (int32_t)lv;
        else if (lv != x->leafvec)
            return mli__fail(MLI_ERR_UNSUPPORTED,
                             "%s: %s has leaves of %lld values, tree 0 of %d (a mix of vector "
                             "and scalar trees)",
                             x->origin, where, (long long)lv, x->leafvec);
        if (lv > 1 && ti[t] != 0)
            return mli__fail(MLI_ERR_CORRUPT, "%s: tree_info[%d] = %.10g for a tree of vector leaves (all outputs: 0)",
                             x->origin, t, ti[t]);
        const mli__jval *lcv = mli__jd_get(d, tree, "left_children");
        if (!lcv || lcv->type != MLI__JD_ARR || (int64_t)lcv->n != nn)
            return mli__fail(MLI_ERR_CORRUPT,
                             "%s: %s: left_children is missing or does not have num_nodes = %lld "
                             "entries",
                             x->origin, where, (long long)nn);
        if (ti[t] < 0 || ti[t] >= x->n_out || ti[t] != floor(ti[t]))
            return mli__fail(MLI_ERR_CORRUPT, "%s: tree_info[%d] = %.10g is not an output group (0..%d)", x->origin, t,
                             ti[t], x->n_out - 1);
        if (weight_drop && !isfinite(weight_drop[t]))
            return mli__fail(MLI_ERR_CORRUPT, "%s: weight_drop[%d] is not finite", x->origin, t);
        x->cap_nodes += nn;
    }
    if (x->cap_nodes > INT32_MAX)
        return mli__fail(MLI_ERR_UNSUPPORTED, "%s: %lld nodes in all; at most 2^31 - 1 are supported", x->origin,
                         (long long)x->cap_nodes);
    return MLI_OK;
}

static mli_status import_model(xgb *x, const uint8_t *data, size_t size, int ubjson, mli__writer *w) {
    mli_status st = ubjson ? mli__jd_parse_ubjson(x->origin, data, size, &x->doc)
                           : mli__jd_parse_json(x->origin, data, size, &x->doc);
    if (st != MLI_OK)
        return st;
    const mli__jdoc *d = &x->doc;
    const mli__jval *root = &d->root, *learner, *mp, *objv, *objname, *gb, *gbname, *model, *gmp, *trees, *tinfo;
    if (root->type != MLI__JD_OBJ)
        return mli__fail(MLI_ERR_CORRUPT, "%s: the document is %s, expected an XGBoost model object", x->origin,
                         type_name(root->type));
    if ((st = member(x, root, "the model", "learner", MLI__JD_OBJ, &learner)) != MLI_OK ||
        (st = member(x, learner, "learner", "learner_model_param", MLI__JD_OBJ, &mp)) != MLI_OK ||
        (st = member(x, learner, "learner", "objective", MLI__JD_OBJ, &objv)) != MLI_OK ||
        (st = member(x, objv, "learner.objective", "name", MLI__JD_STR, &objname)) != MLI_OK ||
        (st = member(x, learner, "learner", "gradient_booster", MLI__JD_OBJ, &gb)) != MLI_OK ||
        (st = member(x, gb, "learner.gradient_booster", "name", MLI__JD_STR, &gbname)) != MLI_OK)
        return st;

    /* version, for the record: [major, minor, patch] */
    int ver[3] = {-1, -1, -1};
    const mli__jval *vv = mli__jd_get(d, root, "version");
    const double *vn = vv ? mli__jd_nums(d, vv, 0) : NULL;
    if (vn && vv->n == 3)
        for (int i = 0; i < 3; ++i)
            ver[i] = is_int_in(vn[i], 0, 1e6) ? (int)vn[i] : -1;

    size_t gl;
    const char *gname = mli__jd_str(d, gbname, &gl);
    const double *weight_drop = NULL;
    if (mli__jd_str_is(d, gbname, "dart")) {
        const mli__jval *inner;
        if ((st = member(x, gb, "learner.gradient_booster", "gbtree", MLI__JD_OBJ, &inner)) != MLI_OK ||
            (st = member(x, inner, "learner.gradient_booster.gbtree", "model", MLI__JD_OBJ, &model)) != MLI_OK)
            return st;
    } else if (mli__jd_str_is(d, gbname, "gbtree")) {
        if ((st = member(x, gb, "learner.gradient_booster", "model", MLI__JD_OBJ, &model)) != MLI_OK)
            return st;
    } else if (mli__jd_str_is(d, gbname, "gblinear")) {
        return mli__fail(MLI_ERR_UNSUPPORTED,
                         "%s: gblinear (linear booster) models are not supported; only tree "
                         "boosters (gbtree, dart)",
                         x->origin);
    } else {
        return mli__fail(MLI_ERR_UNSUPPORTED, "%s: unknown booster '%.*s'", x->origin, (int)(gl > 40 ? 40 : gl), gname);
    }

    size_t ol;
    const char *oname = mli__jd_str(d, objname, &ol);
    const objective *obj = find_objective(x, objname);
    if (!obj)
        return mli__fail(MLI_ERR_UNSUPPORTED, "%s: objective '%.*s' is not supported", x->origin,
                         (int)(ol > 60 ? 60 : ol), oname);

    int64_t n_features, num_class, num_target, n_trees;
    if ((st = param_int(x, mp, "learner_model_param", "num_feature", 1, INT32_MAX, -1, &n_features)) != MLI_OK ||
        (st = param_int(x, mp, "learner_model_param", "num_class", 0, INT32_MAX, 0, &num_class)) != MLI_OK ||
        (st = param_int(x, mp, "learner_model_param", "num_target", 1, INT32_MAX, 1, &num_target)) != MLI_OK ||
        (st = member(x, model, "the gbtree model", "gbtree_model_param", MLI__JD_OBJ, &gmp)) != MLI_OK ||
        (st = param_int(x, gmp, "gbtree_model_param", "num_trees", 0, INT32_MAX - 1, -1, &n_trees)) != MLI_OK ||
        (st = member(x, model, "the gbtree model", "trees", MLI__JD_ARR, &trees)) != MLI_OK ||
        (st = member(x, model, "the gbtree model", "tree_info", MLI__JD_ARR, &tinfo)) != MLI_OK)
        return st;
    x->n_features = n_features;
    if (n_trees == 0)
        return mli__fail(MLI_ERR_UNSUPPORTED, "%s: the model has no trees", x->origin);
    if ((int64_t)trees->n != n_trees || (trees->flags & MLI__JD_PACKED))
        return mli__fail(MLI_ERR_CORRUPT, "%s: num_trees is %lld but 'trees' holds %u %s", x->origin,
                         (long long)n_trees, trees->n, (trees->flags & MLI__JD_PACKED) ? "numbers" : "entries");
    const double *ti;
    if ((st = num_array(x, model, "the gbtree model", "tree_info", n_trees, 0, &ti)) != MLI_OK)
        return st;

    if (obj->classifier == 2) {
        if (num_class < 2)
            return mli__fail(MLI_ERR_CORRUPT, "%s: %s needs num_class >= 2, the file says %lld", x->origin, obj->name,
                             (long long)num_class);
        if (num_target != 1)
            return mli__fail(MLI_ERR_UNSUPPORTED, "%s: %s with %lld targets is not supported", x->origin, obj->name,
                             (long long)num_target);
        x->n_out = (int32_t)num_class;
    } else {
        if (num_class > 1)
            return mli__fail(MLI_ERR_CORRUPT, "%s: num_class is %lld but the objective %s is not multiclass", x->origin,
                             (long long)num_class, obj->name);
        if (obj->classifier == 1 && num_target != 1)
            return mli__fail(MLI_ERR_UNSUPPORTED, "%s: %s with %lld targets (multi-label) is not supported", x->origin,
                             obj->name, (long long)num_target);
        x->n_out = (int32_t)num_target;
    }
    if (x->n_out > n_trees)
        return mli__fail(MLI_ERR_CORRUPT, "%s: %d outputs but only %lld trees", x->origin, x->n_out,
                         (long long)n_trees);
    if (mli__jd_str_is(d, gbname, "dart")) {
        if ((st = num_array(x, gb, "learner.gradient_booster", "weight_drop", n_trees, 0, &weight_drop)) != MLI_OK)
            return st;
    }
    if ((st = read_base_score(x, mp, obj)) != MLI_OK || (st = read_recorded_categories(x, learner, model)) != MLI_OK)
        return st;
    int64_t best = -1;
    if ((st = sklearn_tree_count(x, learner, model, gmp, &n_trees, &best)) != MLI_OK)
        return st;

    if ((st = count_nodes(x, trees, n_trees, ti, weight_drop)) != MLI_OK)
        return st;
    x->max_cat_words = ((int64_t)64 << 20) / 4 + 4 * (int64_t)size;
    if ((st = alloc_nodes(x, (int32_t)n_trees)) != MLI_OK)
        return st;
    for (int32_t t = 0; t < (int32_t)n_trees; ++t) {
        x->tree_out[t] = (int32_t)ti[t];
        if ((st = import_tree(x, t, mli__jd_at(d, trees, (uint32_t)t), weight_drop ? weight_drop[t] : 1.0)) != MLI_OK)
            return st;
    }
    x->tree_start[n_trees] = x->n_nodes;

    char source[96];
    if (ver[0] >= 0 && ver[1] >= 0 && ver[2] >= 0)
        snprintf(source, sizeof source, "xgboost %d.%d.%d %s", ver[0], ver[1], ver[2], obj->name);
    else
        snprintf(source, sizeof source, "xgboost %s", obj->name);
    if (best >= 0)
        mli__writer_meta(w, "xgboost.best_iteration", "%lld", (long long)best);
    if (x->num_cats[0])
        mli__writer_meta(w, "category_counts", "%s", x->num_cats);
    mli__tree_model tm = {.origin = x->origin,
                          .source = source,
                          .n_features = x->n_features,
                          .n_classes = obj->classifier == 2 ? x->n_out
                                       : obj->classifier    ? 2
                                                            : 0,
                          .n_trees = n_trees,
                          .n_nodes = x->n_nodes,
                          .n_out = x->n_out,
                          .leaf_width = x->leafvec,
                          .compare = "lt_f32",
                          .head = obj->head,
                          .tree_start = x->tree_start,
                          .tree_out = x->n_out > 1 && x->leafvec == 1 ? x->tree_out : NULL,
                          .feature = x->feature,
                          .left = x->left,
                          .right = x->right,
                          .leaf_id = x->leaf_id,
                          .threshold = x->threshold,
                          .value = x->value,
                          .flags = x->flags,
                          .base = x->base,
                          .cat_offset = x->any_cat ? x->cat_offset : NULL,
                          .cat_words = x->cat_words,
                          .cat_bits = x->cat_bits,
                          .n_cat_words = x->n_cat_words,
                          .cover = x->no_cover ? NULL : x->cover,
                          .cats = x->cats.set ? &x->cats.view : NULL,
                          .category_codes = !x->recorded_cats};
    if ((st = mli__write_tree_model(&tm, w)) != MLI_OK)
        return st;

    /* feature names, when the file has one per feature */
    const mli__jval *fnames = mli__jd_get(d, learner, "feature_names");
    if (fnames && fnames->type == MLI__JD_ARR && fnames->n > 0 && (st = write_feature_names(x, fnames, w)) != MLI_OK)
        return st;
    return mli__writer_status(w);
}

mli_status mli__import_xgboost(const char *origin, const uint8_t *data, size_t size, int ubjson, mli__writer *w) {
    if (!w || (!data && size))
        return mli__fail(MLI_ERR_INVALID_ARGUMENT, "mli__import_xgboost: NULL argument");
    xgb x;
    memset(&x, 0, sizeof x);
    x.origin = origin ? origin : "<memory>";
    mli_status st = import_model(&x, data, size, ubjson, w);
    xgb_free(&x);
    return st;
}
