/* lightgbm.c — imports a LightGBM text model (Booster.save_model / model_to_string, model
 * format v2-v4) as one `trees` stage that keeps LightGBM's own split rules: float64 `<=`,
 * its three missing types and its categorical bitsets (docs/models/lightgbm.md).
 *
 * The text is read strictly, line by line, without trusting any count: each array is
 * measured before anything is sized from it, so memory stays proportional to the input,
 * and every failure names the line, the tree and the field. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "trees/trees.h"
#include "import.h"
#include "jdoc.h"

/* LightGBM's predictor drops input values with |x| <= kZeroThreshold (1e-35f) before the
 * trees see them (they become 0.0); split thresholds are adjusted for that below. */
#define LGB_ZERO ((double)1e-35f)
#define LGB_MAX_LEAVES (1 << 30)
#define LGB_MAX_TOKEN 64 /* longest number accepted; LightGBM writes at most ~25 characters */

typedef struct {
    const char *p;
    size_t n;
    int64_t line; /* 1-based line number in the file, for messages */
} span;

/* A growable array of elements of one size. */
typedef struct {
    void *p;
    size_t n, cap;
} vec;

static void *vec_grow(vec *v, size_t es, size_t more) {
    if (!mli__reserve(&v->p, &v->cap, v->n, more, es))
        return NULL;
    if (!v->p) /* more == 0 on an array never grown: no element to point at (callers allow NULL then) */
        return NULL;
    void *r = (char *)v->p + v->n * es;
    v->n += more;
    return r;
}

enum {
    H_VERSION,
    H_NUM_CLASS,
    H_PER_ITER,
    H_MAX_FEATURE,
    H_OBJECTIVE,
    H_FEATURE_NAMES,
    H_TREE_SIZES,
    H_FEATURE_INFOS,
    H_COUNT
};
static const char *const header_keys[] = {"version",         "num_class",     "num_tree_per_iteration",
                                          "max_feature_idx", "objective",     "feature_names",
                                          "tree_sizes",      "feature_infos", NULL};

enum {
    T_NUM_LEAVES,
    T_NUM_CAT,
    T_SPLIT_FEATURE,
    T_THRESHOLD,
    T_DECISION_TYPE,
    T_LEFT,
    T_RIGHT,
    T_LEAF_VALUE,
    T_CAT_BOUNDARIES,
    T_CAT_THRESHOLD,
    T_IS_LINEAR,
    T_LEAF_COUNT,
    T_INTERNAL_COUNT,
    T_LEAF_CONST,
    T_NUM_FEATURES,
    T_LEAF_FEATURES,
    T_LEAF_COEFF,
    T_COUNT
};
static const char *const tree_keys[] = {
    "num_leaves",     "num_cat",    "split_feature",  "threshold",     "decision_type", "left_child",
    "right_child",    "leaf_value", "cat_boundaries", "cat_threshold", "is_linear",     "leaf_count",
    "internal_count", "leaf_const", "num_features",   "leaf_features", "leaf_coeff",    NULL};

/* How the summed scores become predictions. */
typedef enum { OBJ_IDENTITY, OBJ_EXP, OBJ_LOGISTIC, OBJ_BINARY, OBJ_MULTICLASS, OBJ_OVA, OBJ_SOFTPLUS } objective;

typedef struct {
    const char *origin;
    const char *text;
    size_t size, at;
    int64_t line;
    int unterminated; /* the last line read ended the text without a newline */
    /* header */
    span header[H_COUNT];
    int average_output;
    int64_t n_features, k; /* k: trees per iteration = score columns */
    objective obj;
    double sigmoid;
    int sqrt; /* reg_sqrt=true: the prediction is s |s| */
    /* every tree's nodes, in the file's tree order, each tree in pre-order */
    vec tree_start, feature, left, right, threshold, flags, value, leaf_id, cat_offset, cat_words, cat_bits, cover;
    int no_cover; /* a tree without leaf_count / internal_count: the model gets no covers */
    /* linear leaves (linear_tree=true): per node its constant (a plain leaf: its value) and
     * number of terms (0 for inner nodes), and the terms of all leaves in node order */
    vec lin_const, lin_n, lin_feature, lin_coeff;
    int linear; /* some tree has is_linear=1 */
    int32_t n_trees;
    int has_cat;
    /* one tree's arrays, reused */
    vec ints[T_COUNT], dbls[T_COUNT], pos, stack;
    /* string categories of pandas category columns (pandas_categorical), when there are any */
    mli__owned_categories cats;
    int recorded_cats; /* pandas_categorical lists at least one column's categories */
} lgb;

/* ---- lines and numbers ----------------------------------------------------------------- */

/* The next line without its terminator (LF or CRLF); 0 at the end of the text. */
static int next_line(lgb *g, span *out) {
    if (g->at >= g->size)
        return 0;
    const char *s = g->text + g->at;
    size_t rest = g->size - g->at;
    const char *nl = memchr(s, '\n', rest);
    size_t len = nl ? (size_t)(nl - s) : rest;
    g->at += nl ? len + 1 : len;
    g->unterminated = !nl;
    out->line = ++g->line;
    if (len > 0 && s[len - 1] == '\r')
        --len;
    out->p = s;
    out->n = len;
    return 1;
}

static int span_is(span s, const char *lit) { return s.n == strlen(lit) && memcmp(s.p, lit, s.n) == 0; }
static int span_starts(span s, const char *lit) { return s.n >= strlen(lit) && memcmp(s.p, lit, strlen(lit)) == 0; }
static int is_blank(span s) {
    for (size_t i = 0; i < s.n; ++i)
        if (s.p[i] != ' ' && s.p[i] != '\t')
            return 0;
    return 1;
}

/* A decimal integer that fills the whole token. */
static int parse_int(const char *p, size_t n, int64_t *out) {
    size_t i = 0;
    int neg = 0;
    if (n > 0 && (p[0] == '-' || p[0] == '+'))
        neg = p[i++] == '-';
    if (i == n)
        return 0;
    uint64_t v = 0;
    for (; i < n; ++i) {
        if (p[i] < '0' || p[i] > '9' || v > (UINT64_MAX - 9) / 10)
            return 0;
        v = v * 10 + (uint64_t)(p[i] - '0');
    }
    if (v > (uint64_t)INT64_MAX)
        return 0;
    *out = neg ? -(int64_t)v : (int64_t)v;
    return 1;
}

/* The decimal `digits` x 10^`exp10` (digits < 10^19, not 0) correctly rounded, when that
 * is cheap to do exactly; 0 when the caller must use strtod. The division case keeps
 * at least 55 bits of quotient and folds the remainder into its lowest bit (round to
 * odd), so the one rounding of the final conversion is the correct one. */
static int decimal_fast(uint64_t digits, int exp10, double *out) {
    static const double p10[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,  1e8,  1e9,  1e10, 1e11,
                                 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};
    if (digits <= (1ull << 53) && exp10 >= -22 && exp10 <= 22) { /* both operands exact: one rounding */
        *out = exp10 >= 0 ? (double)digits * p10[exp10] : (double)digits / p10[-exp10];
        return 1;
    }
#if defined(__SIZEOF_INT128__)
    if (exp10 >= 0 || exp10 < -21)
        return 0;
    __extension__ typedef unsigned __int128 u128;
    u128 d = 1;
    for (int i = 0; i < -exp10; ++i)
        d *= 10;
    int shift = __builtin_clzll(digits) + 63; /* the numerator's top bit lands on bit 126 */
    u128 n = (u128)digits << shift, q = n / d;
    if (q < ((u128)1 << 54))
        return 0;
    q |= (n % d) != 0;
    *out = ldexp((double)q, -shift);
    return 1;
#else
    return 0;
#endif
}

/* A decimal floating-point number (or inf / nan, as LightGBM writes them) that fills the
 * whole token, correctly rounded: by the fast path above when it applies, otherwise by
 * strtod in the "C" numeric locale. */
static int parse_double(const char *p, size_t n, double *out) {
    if (n == 0 || n > LGB_MAX_TOKEN)
        return 0;
    size_t i = p[0] == '-' || p[0] == '+';
    int neg = p[0] == '-';
    const char *q = p + i;
    size_t m = n - i;
    if ((m == 3 && (memcmp(q, "inf", 3) == 0 || memcmp(q, "nan", 3) == 0)) ||
        (m == 8 && memcmp(q, "infinity", 8) == 0)) {
        *out = q[0] == 'n' ? NAN : neg ? -INFINITY : INFINITY;
        return 1;
    }
    uint64_t digits = 0;
    int n_digits = 0, scale = 0, seen = 0, dot = 0;
    for (; i < n; ++i) {
        char c = p[i];
        if (c >= '0' && c <= '9') {
            seen = 1;
            if (digits == 0 && c == '0') { /* leading zeros are not significant */
                scale -= dot;
                continue;
            }
            if (++n_digits > 19)
                break;
            digits = digits * 10 + (uint64_t)(c - '0');
            scale -= dot;
        } else if (c == '.' && !dot) {
            dot = 1;
        } else {
            break;
        }
    }
    if (!seen)
        return 0;
    int exp10 = 0;
    if (i < n && n_digits <= 19 && (p[i] == 'e' || p[i] == 'E')) {
        size_t j = i + 1;
        int eneg = j < n && p[j] == '-';
        j += j < n && (p[j] == '-' || p[j] == '+');
        if (j == n || n - j > 4)
            j = 0; /* leave the odd exponent to strtod */
        for (size_t k = j; j && k < n; ++k) {
            if (p[k] < '0' || p[k] > '9') {
                j = 0;
                break;
            }
            exp10 = exp10 * 10 + (p[k] - '0');
        }
        if (j)
            i = n;
        exp10 = eneg ? -exp10 : exp10;
    }
    if (i == n && n_digits <= 19) {
        if (digits == 0) {
            *out = neg ? -0.0 : 0.0;
            return 1;
        }
        double v;
        if (decimal_fast(digits, exp10 + scale, &v)) {
            *out = neg ? -v : v;
            return 1;
        }
    }
    for (size_t k = 0; k < n; ++k) /* strtod would also take hex, "infinity(...)" and spaces */
        if (!((p[k] >= '0' && p[k] <= '9') || p[k] == '.' || p[k] == 'e' || p[k] == 'E' || p[k] == '-' || p[k] == '+'))
            return 0;
    char buf[LGB_MAX_TOKEN + 1];
    memcpy(buf, p, n);
    buf[n] = 0;
    char *end;
    double v = mli__strtod_c(buf, &end);
    if (end != buf + n || isinf(v)) /* a finite number too large for a double is garbage here */
        return 0;
    *out = v;
    return 1;
}

/* The next space- or tab-separated token of `s` from *i on (the one tokenizer of the
 * text format); 0 at the end. */
static int next_token(span s, size_t *i, span *tok) {
    while (*i < s.n && (s.p[*i] == ' ' || s.p[*i] == '\t'))
        ++*i;
    if (*i == s.n)
        return 0;
    size_t b = *i;
    while (*i < s.n && s.p[*i] != ' ' && s.p[*i] != '\t')
        ++*i;
    *tok = (span){s.p + b, *i - b, s.line};
    return 1;
}

/* Number of tokens in `s`. */
static int64_t count_tokens(span s) {
    int64_t n = 0;
    span tok;
    for (size_t i = 0; next_token(s, &i, &tok);)
        ++n;
    return n;
}

/* Shows a token in a message: at most 24 characters, printable ASCII only. */
static const char *shown(const char *p, size_t n, char buf[32]) {
    size_t k = 0;
    for (; k < n && k < 24; ++k)
        buf[k] = p[k] >= 0x20 && p[k] < 0x7f ? p[k] : '?';
    if (n > 24)
        buf[k++] = '.', buf[k++] = '.', buf[k++] = '.';
    buf[k] = 0;
    return buf;
}

/* Parses field `key` of tree `tr` (`v`) as exactly `want` numbers (any number when
 * `want` < 0) into `out` (int64, or double when `dbl`); integers must lie in [lo, hi].
 * Room is reserved by the line's length, never by `want` alone. */
static mli_status parse_array(lgb *g, int32_t tr, const char *key, span v, int64_t want, int dbl, int64_t lo,
                              int64_t hi, vec *out) {
    size_t most = v.n / 2 + 1; /* tokens the line can hold */
    size_t room = want > 0 && (uint64_t)want < most ? (size_t)want : most;
    out->n = 0;
    char *dst = vec_grow(out, 8, room);
    if (!dst)
        return mli__fail(MLI_ERR_OUT_OF_MEMORY, "%s: out of memory reading LightGBM tree %d", g->origin, tr);
    int64_t k = 0;
    span tok;
    for (size_t i = 0; next_token(v, &i, &tok);) {
        if (k == want) { /* too many: count them for the message */
            span rest = {tok.p, (size_t)(v.p + v.n - tok.p), v.line};
            k += count_tokens(rest);
            break;
        }
        int ok;
        if (dbl) {
            ok = parse_double(tok.p, tok.n, (double *)(void *)dst + k);
        } else {
            int64_t x = 0;
            ok = parse_int(tok.p, tok.n, &x) && x >= lo && x <= hi;
            ((int64_t *)(void *)dst)[k] = x;
        }
        if (!ok) {
            char buf[32];
            if (dbl)
                return mli__fail(MLI_ERR_CORRUPT, "%s:%lld: LightGBM tree %d: %s value %lld ('%s') is not a number",
                                 g->origin, (long long)v.line, tr, key, (long long)k, shown(tok.p, tok.n, buf));
            return mli__fail(MLI_ERR_CORRUPT,
                             "%s:%lld: LightGBM tree %d: %s value %lld ('%s') is not an integer in "
                             "[%lld, %lld]",
                             g->origin, (long long)v.line, tr, key, (long long)k, shown(tok.p, tok.n, buf),
                             (long long)lo, (long long)hi);
        }
        ++k;
    }
    if (want >= 0 && k != want)
        return mli__fail(MLI_ERR_CORRUPT, "%s:%lld: LightGBM tree %d: %s has %lld values where %lld are expected",
                         g->origin, (long long)v.line, tr, key, (long long)k, (long long)want);
    out->n = (size_t)k;
    return MLI_OK;
}

/* One integer field: a single number in [lo, hi]. */
static mli_status parse_scalar(lgb *g, const char *where, const char *key, span v, int64_t lo, int64_t hi,
                               int64_t *out) {
    if (!parse_int(v.p, v.n, out) || *out < lo || *out > hi) {
        char buf[32];
        return mli__fail(MLI_ERR_CORRUPT, "%s:%lld: LightGBM %s: %s is '%s', not an integer in [%lld, %lld]", g->origin,
                         (long long)v.line, where, key, shown(v.p, v.n, buf), (long long)lo, (long long)hi);
    }
    return MLI_OK;
}

/* Reads `key=value` lines into `slots` (indexed like `keys`; unknown keys are ignored,
 * as LightGBM ignores them) up to the next `Tree=` line, `end of trees` or the end of the
 * text, which it leaves in *stop (stop->p NULL at the end). Blank lines are skipped. A
 * line without '=' is an error except the header's `average_output` flag. */
static mli_status read_block(lgb *g, const char *where, const char *const *keys, span *slots, int header, span *stop) {
    span line;
    while (next_line(g, &line)) {
        if (memchr(line.p, 0, line.n))
            return mli__fail(MLI_ERR_CORRUPT, "%s:%lld: a NUL byte in a LightGBM text model (%s)", g->origin,
                             (long long)line.line, where);
        if (is_blank(line))
            continue;
        if (span_starts(line, "Tree=") || span_is(line, "end of trees")) {
            *stop = line;
            return MLI_OK;
        }
        const char *eq = memchr(line.p, '=', line.n);
        if (!eq) {
            if (header && span_is(line, "average_output")) {
                g->average_output = 1;
                continue;
            }
            char buf[32];
            if (g->unterminated)
                return mli__fail(MLI_ERR_CORRUPT,
                                 "%s:%lld: LightGBM model ends in the middle of a line (%s): the file "
                                 "is truncated",
                                 g->origin, (long long)line.line, where);
            return mli__fail(MLI_ERR_CORRUPT, "%s:%lld: LightGBM %s: expected key=value, found '%s'", g->origin,
                             (long long)line.line, where, shown(line.p, line.n, buf));
        }
        span key = {line.p, (size_t)(eq - line.p), line.line};
        span val = {eq + 1, line.n - key.n - 1, line.line};
        for (int i = 0; keys[i]; ++i) {
            if (!span_is(key, keys[i]))
                continue;
            if (slots[i].p)
                return mli__fail(MLI_ERR_CORRUPT, "%s:%lld: LightGBM %s: %s appears twice (first on line %lld)",
                                 g->origin, (long long)line.line, where, keys[i], (long long)slots[i].line);
            slots[i] = val;
        }
    }
    stop->p = NULL;
    return MLI_OK;
}

/* ---- header ------------------------------------------------------------------------------ */

static mli_status parse_objective(lgb *g) {
    span v = g->header[H_OBJECTIVE];
    g->obj = OBJ_IDENTITY;
    g->sigmoid = 1.0;
    if (!v.p) /* trained with a custom objective: LightGBM predicts the raw scores */
        return MLI_OK;
    static const struct {
        const char *name;
        objective obj;
    } known[] = {{"regression", OBJ_IDENTITY},
                 {"regression_l1", OBJ_IDENTITY},
                 {"huber", OBJ_IDENTITY},
                 {"fair", OBJ_IDENTITY},
                 {"quantile", OBJ_IDENTITY},
                 {"mape", OBJ_IDENTITY},
                 {"lambdarank", OBJ_IDENTITY},
                 {"rank_xendcg", OBJ_IDENTITY},
                 {"custom", OBJ_IDENTITY},
                 {"poisson", OBJ_EXP},
                 {"gamma", OBJ_EXP},
                 {"tweedie", OBJ_EXP},
                 {"cross_entropy", OBJ_LOGISTIC},
                 {"cross_entropy_lambda", OBJ_SOFTPLUS},
                 {"binary", OBJ_BINARY},
                 {"multiclass", OBJ_MULTICLASS},
                 {"multiclassova", OBJ_OVA}};
    char buf[32];
    size_t n0 = 0;
    while (n0 < v.n && v.p[n0] != ' ')
        ++n0;
    span name = {v.p, n0, v.line};
    int found = -1;
    for (size_t i = 0; i < sizeof known / sizeof known[0]; ++i)
        if (span_is(name, known[i].name))
            found = (int)i;
    if (found < 0) {
        return mli__fail(MLI_ERR_UNSUPPORTED, "%s:%lld: LightGBM objective '%s' is not supported", g->origin,
                         (long long)v.line, shown(name.p, name.n, buf));
    }
    g->obj = known[found].obj;
    /* parameters after the name: "sigmoid:1", "num_class:3", "sqrt" */
    for (size_t i = n0; i < v.n;) {
        while (i < v.n && v.p[i] == ' ')
            ++i;
        size_t b = i;
        while (i < v.n && v.p[i] != ' ')
            ++i;
        span tok = {v.p + b, i - b, v.line};
        if (tok.n == 0)
            continue;
        if (span_is(tok, "sqrt")) /* reg_sqrt=true: fitted to sign(y) sqrt(|y|), predicts s |s| */
            g->sqrt = 1;
        else if (span_starts(tok, "sigmoid:")) {
            if (!parse_double(tok.p + 8, tok.n - 8, &g->sigmoid) || !(g->sigmoid > 0.0) || isinf(g->sigmoid))
                return mli__fail(MLI_ERR_CORRUPT, "%s:%lld: LightGBM objective: '%s' is not a positive sigmoid",
                                 g->origin, (long long)v.line, shown(tok.p, tok.n, buf));
        } else if (span_starts(tok, "num_class:")) {
            int64_t k;
            if (!parse_int(tok.p + 10, tok.n - 10, &k) || k != g->k)
                return mli__fail(MLI_ERR_CORRUPT, "%s:%lld: LightGBM objective: '%s' disagrees with num_class=%lld",
                                 g->origin, (long long)v.line, shown(tok.p, tok.n, buf), (long long)g->k);
        }
    }
    if (g->sqrt && g->obj != OBJ_IDENTITY) /* LightGBM writes it after regression objectives only */
        return mli__fail(MLI_ERR_UNSUPPORTED, "%s:%lld: LightGBM objective '%s' with reg_sqrt (sqrt) is not supported",
                         g->origin, (long long)v.line, shown(name.p, name.n, buf));
    int multi = g->obj == OBJ_MULTICLASS || g->obj == OBJ_OVA;
    if (multi ? g->k < 2 : g->k != 1)
        return mli__fail(MLI_ERR_CORRUPT, "%s:%lld: LightGBM objective '%s' with num_class=%lld", g->origin,
                         (long long)v.line, shown(name.p, name.n, buf), (long long)g->k);
    return MLI_OK;
}

static mli_status parse_header(lgb *g) {
    span *h = g->header;
    static const int required[] = {H_VERSION, H_NUM_CLASS, H_PER_ITER, H_MAX_FEATURE, H_FEATURE_NAMES};
    for (size_t i = 0; i < sizeof required / sizeof required[0]; ++i)
        if (!h[required[i]].p)
            return mli__fail(MLI_ERR_CORRUPT, "%s: LightGBM model header has no %s line", g->origin,
                             header_keys[required[i]]);
    if (!span_is(h[H_VERSION], "v2") && !span_is(h[H_VERSION], "v3") && !span_is(h[H_VERSION], "v4")) {
        char buf[32];
        return mli__fail(MLI_ERR_UNSUPPORTED,
                         "%s:%lld: LightGBM model format version '%s' is not supported (v2 to v4 "
                         "are)",
                         g->origin, (long long)h[H_VERSION].line, shown(h[H_VERSION].p, h[H_VERSION].n, buf));
    }
    int64_t k, per_iter, max_feature;
    mli_status rc;
    if ((rc = parse_scalar(g, "header", "num_class", h[H_NUM_CLASS], 1, 1 << 24, &k)) != MLI_OK ||
        (rc = parse_scalar(g, "header", "num_tree_per_iteration", h[H_PER_ITER], 1, 1 << 24, &per_iter)) != MLI_OK ||
        (rc = parse_scalar(g, "header", "max_feature_idx", h[H_MAX_FEATURE], 0, (1 << 24) - 1, &max_feature)) != MLI_OK)
        return rc;
    if (per_iter != k)
        return mli__fail(MLI_ERR_CORRUPT,
                         "%s:%lld: LightGBM header: num_tree_per_iteration=%lld differs from "
                         "num_class=%lld",
                         g->origin, (long long)h[H_PER_ITER].line, (long long)per_iter, (long long)k);
    g->k = k;
    g->n_features = max_feature + 1;
    int64_t names = count_tokens(h[H_FEATURE_NAMES]);
    if (names != g->n_features)
        return mli__fail(MLI_ERR_CORRUPT, "%s:%lld: LightGBM header: %lld feature_names for max_feature_idx=%lld",
                         g->origin, (long long)h[H_FEATURE_NAMES].line, (long long)names, (long long)max_feature);
    return parse_objective(g);
}

/* ---- trees ------------------------------------------------------------------------------- */

/* The threshold t' with `x <= t'` == LightGBM's `z(x) <= t`, where z zeroes |x| <= 1e-35f. */
static double lgb_threshold(double t) {
    if (t >= -LGB_ZERO && t < 0.0)
        return nextafter(-LGB_ZERO, -INFINITY);
    if (t >= 0.0 && t < LGB_ZERO)
        return LGB_ZERO;
    return t;
}

static mli_status oom_tree(lgb *g, int32_t tr) {
    return mli__fail(MLI_ERR_OUT_OF_MEMORY, "%s: out of memory importing LightGBM tree %d", g->origin, tr);
}

/* Appends `n` zeroed nodes to every node array; returns the index of the first. */
static int64_t add_nodes(lgb *g, int64_t n) {
    int64_t first = (int64_t)g->feature.n;
    vec *v4[] = {&g->feature, &g->left, &g->right, &g->leaf_id, &g->cat_words};
    vec *v8[] = {&g->threshold, &g->value, &g->cat_offset, &g->cover, &g->lin_const, &g->lin_n};
    for (size_t i = 0; i < 5; ++i) {
        void *p = vec_grow(v4[i], 4, (size_t)n);
        if (!p)
            return -1;
        memset(p, 0, 4 * (size_t)n);
    }
    for (size_t i = 0; i < sizeof v8 / sizeof v8[0]; ++i) {
        void *p = vec_grow(v8[i], 8, (size_t)n);
        if (!p)
            return -1;
        memset(p, 0, 8 * (size_t)n);
    }
    void *p = vec_grow(&g->flags, 1, (size_t)n);
    if (!p)
        return -1;
    memset(p, 0, (size_t)n);
    return first;
}

/* Checks the categorical arrays of tree `tr`: cat_boundaries runs from 0, never decreases
 * and ends at the length of cat_threshold (32-bit words). */
static mli_status check_categorical(lgb *g, int32_t tr, span *f, int64_t num_cat) {
    span cb = f[T_CAT_BOUNDARIES], ct = f[T_CAT_THRESHOLD];
    if (!cb.p || !ct.p)
        return mli__fail(MLI_ERR_CORRUPT, "%s: LightGBM tree %d has num_cat=%lld but no %s", g->origin, tr,
                         (long long)num_cat, cb.p ? "cat_threshold" : "cat_boundaries");
    mli_status rc = parse_array(g, tr, "cat_threshold", ct, -1, 0, 0, UINT32_MAX, &g->ints[T_CAT_THRESHOLD]);
    int64_t words = (int64_t)g->ints[T_CAT_THRESHOLD].n;
    if (rc == MLI_OK && words > INT32_MAX)
        return mli__fail(MLI_ERR_CORRUPT, "%s: LightGBM tree %d: cat_threshold holds %lld words", g->origin, tr,
                         (long long)words);
    if (rc != MLI_OK ||
        (rc = parse_array(g, tr, "cat_boundaries", cb, num_cat + 1, 0, 0, words, &g->ints[T_CAT_BOUNDARIES])) != MLI_OK)
        return rc;
    const int64_t *b = g->ints[T_CAT_BOUNDARIES].p;
    if (b[0] != 0 || b[num_cat] != words)
        return mli__fail(MLI_ERR_CORRUPT,
                         "%s:%lld: LightGBM tree %d: cat_boundaries must run from 0 to the %lld "
                         "words of cat_threshold",
                         g->origin, (long long)cb.line, tr, (long long)words);
    for (int64_t i = 0; i < num_cat; ++i)
        if (b[i + 1] < b[i])
            return mli__fail(MLI_ERR_CORRUPT, "%s:%lld: LightGBM tree %d: cat_boundaries decreases at entry %lld",
                             g->origin, (long long)cb.line, tr, (long long)i + 1);
    return MLI_OK;
}

/* Numbers the nodes of tree `tr` in pre-order from its root (internal node r is entry r,
 * leaf j entry L-1+j of g->pos), proving on the way that the children form a tree: every
 * node is reached exactly once. */
static mli_status preorder(lgb *g, int32_t tr, int64_t L, span *f) {
    const int64_t *left = g->ints[T_LEFT].p, *right = g->ints[T_RIGHT].p;
    int64_t n = 2 * L - 1, next = 0, top = 0;
    g->pos.n = g->stack.n = 0;
    int64_t *pos = vec_grow(&g->pos, 8, (size_t)n), *stack = vec_grow(&g->stack, 8, (size_t)n + 1);
    if (!pos || !stack)
        return oom_tree(g, tr);
    for (int64_t i = 0; i < n; ++i)
        pos[i] = -1;
    stack[top++] = 0;
    while (top > 0) {
        int64_t e = stack[--top];
        if (pos[e] >= 0) {
            int leaf = e >= L - 1;
            return mli__fail(MLI_ERR_CORRUPT,
                             "%s:%lld: LightGBM tree %d: %s %lld is the child of two nodes (or of "
                             "a cycle)",
                             g->origin, (long long)f[T_LEFT].line, tr, leaf ? "leaf" : "node",
                             (long long)(leaf ? e - (L - 1) : e));
        }
        pos[e] = next++;
        if (e < L - 1) { /* at most n entries are ever pushed: each node pushes its two children once */
            if (top + 2 > n + 1)
                return mli__fail(MLI_ERR_CORRUPT, "%s:%lld: LightGBM tree %d: children do not form a tree", g->origin,
                                 (long long)f[T_LEFT].line, tr);
            stack[top++] = right[e] < 0 ? L - 1 + ~right[e] : right[e];
            stack[top++] = left[e] < 0 ? L - 1 + ~left[e] : left[e];
        }
    }
    if (next != n) {
        int64_t e = 0;
        while (pos[e] >= 0)
            ++e;
        int leaf = e >= L - 1;
        return mli__fail(MLI_ERR_CORRUPT, "%s:%lld: LightGBM tree %d: %s %lld cannot be reached from the root",
                         g->origin, (long long)f[T_LEFT].line, tr, leaf ? "leaf" : "node",
                         (long long)(leaf ? e - (L - 1) : e));
    }
    return MLI_OK;
}

/* Checks that the `n` numbers of field `key` of tree `tr` (on line `line`) are finite; `item`
 * names an entry in the message ("leaf" or "term"). */
static mli_status check_finite(lgb *g, int32_t tr, const char *key, const char *item, const double *x, int64_t n,
                               int64_t line) {
    for (int64_t j = 0; j < n; ++j)
        if (!isfinite(x[j]))
            return mli__fail(MLI_ERR_CORRUPT, "%s:%lld: LightGBM tree %d: %s %lld has the non-finite %s %g", g->origin,
                             (long long)line, tr, item, (long long)j, key, x[j]);
    return MLI_OK;
}

/* Reads the linear model of each leaf of tree `tr` (is_linear=1): leaf_const (L finite numbers),
 * num_features (L counts in [0, n_features]) and, for their sum, leaf_features (feature
 * indices) and leaf_coeff (finite numbers), leaf after leaf. */
static mli_status read_linear(lgb *g, int32_t tr, int64_t L, span *f) {
    static const int need[] = {T_LEAF_CONST, T_NUM_FEATURES};
    for (size_t i = 0; i < sizeof need / sizeof need[0]; ++i)
        if (!f[need[i]].p)
            return mli__fail(MLI_ERR_CORRUPT, "%s: LightGBM tree %d has is_linear=1 but no %s line", g->origin, tr,
                             tree_keys[need[i]]);
    mli_status rc;
    if ((rc = parse_array(g, tr, "leaf_const", f[T_LEAF_CONST], L, 1, 0, 0, &g->dbls[T_LEAF_CONST])) != MLI_OK ||
        (rc = parse_array(g, tr, "num_features", f[T_NUM_FEATURES], L, 0, 0, g->n_features,
                          &g->ints[T_NUM_FEATURES])) != MLI_OK)
        return rc;
    if ((rc = check_finite(g, tr, "leaf_const", "leaf", g->dbls[T_LEAF_CONST].p, L, f[T_LEAF_CONST].line)) != MLI_OK)
        return rc;
    int64_t total = 0;
    for (int64_t j = 0; j < L; ++j)
        total += ((const int64_t *)g->ints[T_NUM_FEATURES].p)[j]; /* < 2^30 leaves x < 2^31 each */
    g->ints[T_LEAF_FEATURES].n = g->dbls[T_LEAF_COEFF].n = 0;
    if (total == 0)
        return MLI_OK; /* LightGBM writes both lines blank then */
    if (!f[T_LEAF_FEATURES].p || !f[T_LEAF_COEFF].p)
        return mli__fail(MLI_ERR_CORRUPT, "%s: LightGBM tree %d: num_features lists %lld terms but there is no %s line",
                         g->origin, tr, (long long)total, f[T_LEAF_FEATURES].p ? "leaf_coeff" : "leaf_features");
    if ((rc = parse_array(g, tr, "leaf_features", f[T_LEAF_FEATURES], total, 0, 0, g->n_features - 1,
                          &g->ints[T_LEAF_FEATURES])) != MLI_OK ||
        (rc = parse_array(g, tr, "leaf_coeff", f[T_LEAF_COEFF], total, 1, 0, 0, &g->dbls[T_LEAF_COEFF])) != MLI_OK)
        return rc;
    return check_finite(g, tr, "leaf_coeff", "term", g->dbls[T_LEAF_COEFF].p, total, f[T_LEAF_COEFF].line);
}

/* Gives the nodes of tree `tr` (first node s; leaf j at node s + at[j]) their linear models:
 * the leaf's constant and terms when the tree is linear, else its value and none. Terms are
 * appended in node order, so that per-node counts make the format's lin_start. */
static mli_status take_linear(lgb *g, int32_t tr, int64_t L, int64_t s, const int64_t *at, int linear) {
    const int64_t n = 2 * L - 1;
    const double *value = g->dbls[T_LEAF_VALUE].p;
    double *o_const = (double *)g->lin_const.p + s;
    int64_t *o_n = (int64_t *)g->lin_n.p + s;
    if (!linear) {
        for (int64_t j = 0; j < L; ++j)
            o_const[at[j]] = value[j];
        return MLI_OK;
    }
    g->linear = 1;
    const double *c = g->dbls[T_LEAF_CONST].p, *a = g->dbls[T_LEAF_COEFF].p;
    const int64_t *nf = g->ints[T_NUM_FEATURES].p, *feat = g->ints[T_LEAF_FEATURES].p;
    /* leaf_of[p]: the leaf at node p (or -1); first[j]: leaf j's first term */
    g->stack.n = 0;
    int64_t *leaf_of = vec_grow(&g->stack, 8, (size_t)(n + L)), *first = leaf_of + n;
    int32_t *o_feat = vec_grow(&g->lin_feature, 4, g->ints[T_LEAF_FEATURES].n);
    double *o_coeff = vec_grow(&g->lin_coeff, 8, g->dbls[T_LEAF_COEFF].n);
    if (!leaf_of || (!o_feat && g->ints[T_LEAF_FEATURES].n) || (!o_coeff && g->dbls[T_LEAF_COEFF].n))
        return oom_tree(g, tr);
    for (int64_t p = 0; p < n; ++p)
        leaf_of[p] = -1;
    for (int64_t j = 0, k = 0; j < L; k += nf[j], ++j) {
        leaf_of[at[j]] = j;
        first[j] = k;
    }
    for (int64_t p = 0, out = 0; p < n; ++p) {
        int64_t j = leaf_of[p];
        if (j < 0)
            continue;
        o_const[p] = c[j];
        o_n[p] = nf[j];
        for (int64_t k = first[j]; k < first[j] + nf[j]; ++k, ++out) {
            o_feat[out] = (int32_t)feat[k];
            o_coeff[out] = a[k];
        }
    }
    return MLI_OK;
}

/* Turns the fields of tree `tr` into nodes. */
static mli_status take_tree(lgb *g, int32_t tr, span *f) {
    mli_status rc;
    char where[48];
    snprintf(where, sizeof where, "tree %d", tr);
    if (!f[T_NUM_LEAVES].p || !f[T_LEAF_VALUE].p)
        return mli__fail(MLI_ERR_CORRUPT, "%s: LightGBM tree %d has no %s line", g->origin, tr,
                         f[T_NUM_LEAVES].p ? "leaf_value" : "num_leaves");
    int64_t L, linear = 0, num_cat = 0;
    if ((rc = parse_scalar(g, where, "num_leaves", f[T_NUM_LEAVES], 1, LGB_MAX_LEAVES, &L)) != MLI_OK ||
        (f[T_IS_LINEAR].p && (rc = parse_scalar(g, where, "is_linear", f[T_IS_LINEAR], 0, 1, &linear)) != MLI_OK))
        return rc;
    /* leaf_value has L entries: that measures L against the input before anything is sized by it */
    if ((rc = parse_array(g, tr, "leaf_value", f[T_LEAF_VALUE], L, 1, 0, 0, &g->dbls[T_LEAF_VALUE])) != MLI_OK ||
        (linear && (rc = read_linear(g, tr, L, f)) != MLI_OK))
        return rc;
    const double *leaf = g->dbls[T_LEAF_VALUE].p;
    if ((rc = check_finite(g, tr, "leaf_value", "leaf", leaf, L, f[T_LEAF_VALUE].line)) != MLI_OK)
        return rc;
    int64_t *ts = vec_grow(&g->tree_start, 8, 1);
    if (!ts)
        return oom_tree(g, tr);
    *ts = (int64_t)g->feature.n;
    if (L == 1) { /* a single leaf: LightGBM's pred_leaf reports leaf 0 */
        int64_t s = add_nodes(g, 1);
        if (s < 0)
            return oom_tree(g, tr);
        ((int32_t *)g->feature.p)[s] = ((int32_t *)g->left.p)[s] = ((int32_t *)g->right.p)[s] = -1;
        ((double *)g->value.p)[s] = leaf[0];
        static const int64_t root[1] = {0};
        return take_linear(g, tr, 1, s, root, (int)linear);
    }

    static const int need[] = {T_SPLIT_FEATURE, T_THRESHOLD, T_DECISION_TYPE, T_LEFT, T_RIGHT};
    for (size_t i = 0; i < sizeof need / sizeof need[0]; ++i)
        if (!f[need[i]].p)
            return mli__fail(MLI_ERR_CORRUPT, "%s: LightGBM tree %d (num_leaves=%lld) has no %s line", g->origin, tr,
                             (long long)L, tree_keys[need[i]]);
    if (f[T_NUM_CAT].p && (rc = parse_scalar(g, where, "num_cat", f[T_NUM_CAT], 0, L - 1, &num_cat)) != MLI_OK)
        return rc;
    if ((rc = parse_array(g, tr, "split_feature", f[T_SPLIT_FEATURE], L - 1, 0, 0, g->n_features - 1,
                          &g->ints[T_SPLIT_FEATURE])) != MLI_OK ||
        (rc = parse_array(g, tr, "threshold", f[T_THRESHOLD], L - 1, 1, 0, 0, &g->dbls[T_THRESHOLD])) != MLI_OK ||
        (rc = parse_array(g, tr, "decision_type", f[T_DECISION_TYPE], L - 1, 0, 0, 15, &g->ints[T_DECISION_TYPE])) !=
            MLI_OK ||
        (rc = parse_array(g, tr, "left_child", f[T_LEFT], L - 1, 0, -L, L - 2, &g->ints[T_LEFT])) != MLI_OK ||
        (rc = parse_array(g, tr, "right_child", f[T_RIGHT], L - 1, 0, -L, L - 2, &g->ints[T_RIGHT])) != MLI_OK ||
        (num_cat > 0 && (rc = check_categorical(g, tr, f, num_cat)) != MLI_OK) ||
        (rc = preorder(g, tr, L, f)) != MLI_OK)
        return rc;
    /* The sample counts LightGBM's own TreeSHAP weighs children by (Tree::data_count). */
    const double *lcount = NULL, *icount = NULL;
    if (f[T_LEAF_COUNT].p && f[T_INTERNAL_COUNT].p) {
        if ((rc = parse_array(g, tr, "leaf_count", f[T_LEAF_COUNT], L, 1, 0, 0, &g->dbls[T_LEAF_COUNT])) != MLI_OK ||
            (rc = parse_array(g, tr, "internal_count", f[T_INTERNAL_COUNT], L - 1, 1, 0, 0,
                              &g->dbls[T_INTERNAL_COUNT])) != MLI_OK)
            return rc;
        lcount = g->dbls[T_LEAF_COUNT].p;
        icount = g->dbls[T_INTERNAL_COUNT].p;
    } else {
        g->no_cover = 1;
    }
    const int64_t *feat = g->ints[T_SPLIT_FEATURE].p, *dt = g->ints[T_DECISION_TYPE].p;
    const int64_t *lc = g->ints[T_LEFT].p, *rc_ = g->ints[T_RIGHT].p, *pos = g->pos.p;
    const double *thr = g->dbls[T_THRESHOLD].p;
    int64_t cat_base = (int64_t)g->cat_bits.n;
    if (num_cat > 0) {
        int64_t words = (int64_t)g->ints[T_CAT_THRESHOLD].n;
        uint32_t *bits = vec_grow(&g->cat_bits, 4, (size_t)words);
        if (!bits && words > 0)
            return oom_tree(g, tr);
        for (int64_t i = 0; i < words; ++i)
            bits[i] = (uint32_t)((const int64_t *)g->ints[T_CAT_THRESHOLD].p)[i];
    }
    int64_t s = add_nodes(g, 2 * L - 1);
    if (s < 0)
        return oom_tree(g, tr);
    int32_t *o_feat = (int32_t *)g->feature.p + s, *o_left = (int32_t *)g->left.p + s;
    int32_t *o_right = (int32_t *)g->right.p + s, *o_id = (int32_t *)g->leaf_id.p + s;
    int32_t *o_words = (int32_t *)g->cat_words.p + s;
    int64_t *o_off = (int64_t *)g->cat_offset.p + s;
    double *o_thr = (double *)g->threshold.p + s, *o_val = (double *)g->value.p + s;
    double *o_cov = (double *)g->cover.p + s;
    uint8_t *o_fl = (uint8_t *)g->flags.p + s;
    for (int64_t j = 0; j < L; ++j) {
        int64_t p = pos[L - 1 + j];
        o_feat[p] = o_left[p] = o_right[p] = -1;
        o_id[p] = (int32_t)j;
        o_val[p] = leaf[j];
        o_cov[p] = lcount ? lcount[j] : 0.0;
    }
    for (int64_t i = 0; i < L - 1; ++i) {
        int64_t p = pos[i];
        o_feat[p] = (int32_t)feat[i];
        o_left[p] = (int32_t)pos[lc[i] < 0 ? L - 1 + ~lc[i] : lc[i]];
        o_right[p] = (int32_t)pos[rc_[i] < 0 ? L - 1 + ~rc_[i] : rc_[i]];
        o_id[p] = -1;
        o_cov[p] = icount ? icount[i] : 0.0;
        int missing = (int)(dt[i] >> 2) & 3;
        if (missing == 3)
            return mli__fail(MLI_ERR_CORRUPT,
                             "%s:%lld: LightGBM tree %d: node %lld has decision_type %lld with the "
                             "unknown missing type 3",
                             g->origin, (long long)f[T_DECISION_TYPE].line, tr, (long long)i, (long long)dt[i]);
        if (dt[i] & 1) {
            /* LightGBM's CategoricalDecision: NaN goes right; otherwise c = (int)x goes left when
             * bit c of the node's bitset is set, and right when c < 0 or lies beyond the bitset.
             * That is missing mode 0 (NaN missing) with missing values going right; the
             * predictor has already turned |x| <= 1e-35 into 0, which truncates to 0 too. */
            double ci = thr[i];
            if (!(ci >= 0.0 && ci < (double)num_cat && ci == floor(ci)))
                return mli__fail(MLI_ERR_CORRUPT,
                                 "%s:%lld: LightGBM tree %d: categorical node %lld has threshold "
                                 "%g, not a bitset index below num_cat=%lld",
                                 g->origin, (long long)f[T_THRESHOLD].line, tr, (long long)i, ci, (long long)num_cat);
            const int64_t *b = g->ints[T_CAT_BOUNDARIES].p;
            int64_t c = (int64_t)ci;
            o_fl[p] = MLI__TF_CATEGORICAL;
            o_off[p] = cat_base + b[c];
            o_words[p] = (int32_t)(b[c + 1] - b[c]);
            g->has_cat = 1;
            continue;
        }
        if (isnan(thr[i]))
            return mli__fail(MLI_ERR_CORRUPT, "%s:%lld: LightGBM tree %d: node %lld has a NaN threshold", g->origin,
                             (long long)f[T_THRESHOLD].line, tr, (long long)i);
        /* LightGBM missing types None / Zero / NaN are the format's modes 1 / 2 / 0 */
        static const uint8_t mode_of[3] = {MLI__MISS_NAN_AS_ZERO, MLI__MISS_ZERO, MLI__MISS_NAN};
        o_fl[p] = (uint8_t)((dt[i] & 2 ? MLI__TF_DEFAULT_LEFT : 0) | mode_of[missing] << 1);
        o_thr[p] = lgb_threshold(thr[i]);
    }
    return take_linear(g, tr, L, s, pos + (L - 1), (int)linear);
}

/* ---- output ------------------------------------------------------------------------------ */

/* Copies at most `max` bytes of `s` as printable ASCII ('?' for anything else). */
static void printable(char *dst, size_t max, span s) {
    size_t n = s.n < max ? s.n : max;
    for (size_t i = 0; i < n; ++i)
        dst[i] = s.p[i] >= 0x20 && s.p[i] < 0x7f ? s.p[i] : '?';
    dst[n] = 0;
}

/* feature_names, as the `feature_names` section and, when short, the metadata key the
 * Python binding reads (names joined by \x1f). Skipped when they are not valid UTF-8. */
static mli_status write_feature_names(lgb *g, mli__writer *w) {
    span v = g->header[H_FEATURE_NAMES];
    if (!mli__utf8_valid(v.p, v.n) || memchr(v.p, 0x1f, v.n))
        return MLI_OK;
    char *copy = malloc(v.n + 1);
    const char **items = malloc(sizeof *items * (size_t)g->n_features);
    mli_status rc = MLI_OK;
    if (!copy || !items) {
        rc = mli__fail(MLI_ERR_OUT_OF_MEMORY, "%s: out of memory for %lld feature names", g->origin,
                       (long long)g->n_features);
        goto done;
    }
    int64_t k = 0;
    size_t longest = 0;
    span tok;
    for (size_t i = 0; k < g->n_features && next_token(v, &i, &tok); ++k) {
        char *dst = copy + (tok.p - v.p);
        memcpy(dst, tok.p, tok.n);
        dst[tok.n] = 0;
        items[k] = dst;
        longest = tok.n > longest ? tok.n : longest;
    }
    if (longest > 4096) /* a reader's limit on one string is 64 KiB; no real name comes near */
        goto done;
    rc = mli__write_feature_names(items, k, w);
done:
    free(copy);
    free(items);
    return rc;
}

/* Multiplies (or with `divide`, divides) every leaf's output by `f`: its value and its
 * linear model (constant and coefficients). */
static void scale_leaves(lgb *g, double f, int divide) {
    vec *v[] = {&g->value, &g->lin_const, &g->lin_coeff};
    for (size_t a = 0; a < (g->linear ? 3u : 1u); ++a) {
        double *x = v[a]->p;
        for (size_t i = 0; i < v[a]->n; ++i)
            x[i] = divide ? x[i] / f : x[i] * f;
    }
}

static mli_status write_model(lgb *g, mli__writer *w) {
    static const char *const heads[] = {"identity",    "exp",         "logistic", "binary_logistic",
                                        "multinomial", "ovr_sigmoid", "softplus"};
    int classifier = g->obj == OBJ_BINARY || g->obj == OBJ_MULTICLASS || g->obj == OBJ_OVA;
    int64_t n_nodes = (int64_t)g->feature.n, iters = g->n_trees / g->k;
    /* rf: LightGBM divides each score by the iterations (not the trees); the format's
     * `mean` divides by all trees, which is the same only with one tree per iteration */
    int mean = g->average_output && g->k == 1;
    if (g->average_output && g->k > 1)
        scale_leaves(g, (double)iters, 1);
    /* LightGBM's binary and one-vs-rest probabilities are 1 / (1 + exp(-sigmoid * s)) */
    if (g->sigmoid != 1.0 && (g->obj == OBJ_BINARY || g->obj == OBJ_OVA))
        scale_leaves(g, g->sigmoid, 0);
    int64_t *lin_start = g->linear ? malloc(sizeof *lin_start * (size_t)(n_nodes + 1)) : NULL;
    if (g->linear && !lin_start)
        return mli__fail(MLI_ERR_OUT_OF_MEMORY, "%s: out of memory", g->origin);
    for (int64_t i = 0; lin_start && i <= n_nodes; ++i)
        lin_start[i] = i == 0 ? 0 : lin_start[i - 1] + ((const int64_t *)g->lin_n.p)[i - 1];

    char version[16], obj_text[120];
    printable(version, 8, g->header[H_VERSION]);
    if (g->header[H_OBJECTIVE].p)
        printable(obj_text, 100, g->header[H_OBJECTIVE]);
    else
        strcpy(obj_text, "custom");
    char source[160];
    snprintf(source, sizeof source, "lightgbm %s %s", version, obj_text);
    int64_t *ts = vec_grow(&g->tree_start, 8, 1);
    if (!ts)
        return mli__fail(MLI_ERR_OUT_OF_MEMORY, "%s: out of memory", g->origin);
    *ts = n_nodes;
    int32_t *out = NULL;
    if (g->k > 1) {
        if (!(out = malloc(sizeof *out * (size_t)g->n_trees))) {
            free(lin_start);
            return mli__fail(MLI_ERR_OUT_OF_MEMORY, "%s: out of memory", g->origin);
        }
        for (int32_t t = 0; t < g->n_trees; ++t)
            out[t] = (int32_t)(t % g->k); /* LightGBM groups the K trees of one iteration */
    }
    mli__tree_model tm = {.origin = g->origin,
                          .source = source,
                          .n_features = g->n_features,
                          .n_classes = classifier ? (g->obj == OBJ_BINARY ? 2 : g->k) : 0,
                          .n_trees = g->n_trees,
                          .n_nodes = n_nodes,
                          .n_out = g->k,
                          .compare = "le_f64",
                          .head = g->sqrt ? "signed_square" : heads[g->obj],
                          .mean = mean,
                          .tree_start = g->tree_start.p,
                          .tree_out = out,
                          .feature = g->feature.p,
                          .left = g->left.p,
                          .right = g->right.p,
                          .leaf_id = g->leaf_id.p,
                          .threshold = g->threshold.p,
                          .value = g->value.p,
                          .flags = g->flags.p,
                          .cat_offset = g->has_cat ? g->cat_offset.p : NULL,
                          .cat_words = g->cat_words.p,
                          .cat_bits = g->cat_bits.p,
                          .n_cat_words = (int64_t)g->cat_bits.n,
                          .cats = g->cats.set ? &g->cats.view : NULL,
                          .category_codes = !g->recorded_cats,
                          .lin_start = lin_start,
                          .lin_const = g->linear ? g->lin_const.p : NULL,
                          .lin_feature = g->lin_feature.p,
                          .lin_coeff = g->lin_coeff.p,
                          .n_lin_terms = (int64_t)g->lin_feature.n};
    const double *cover = g->cover.p;
    int cover_ok = !g->no_cover;
    for (int64_t i = 0; cover_ok && i < n_nodes; ++i)
        cover_ok = cover[i] >= 0.0 && cover[i] <= 1e300;
    tm.cover = cover_ok ? cover : NULL;
    mli_status rc = mli__write_tree_model(&tm, w);
    free(out);
    free(lin_start);
    return rc != MLI_OK ? rc : write_feature_names(g, w);
}

/* ---- pandas categories ------------------------------------------------------------------- */

/* A model trained from pandas `category` columns ends with a `pandas_categorical:` line, the
 * JSON list of each such column's categories, in column order; LightGBM's Python package
 * maps a DataFrame's values to their codes (positions in that list; a value outside it, a
 * null or None to NaN) before the trees see them. Categories that are strings get the same
 * lookup here, as a prep stage in front of the trees (docs/models/lightgbm.md); number
 * categories must be their own codes (0, 1, 2, ...), as a number given to the model is read as
 * the code. (LightGBM's own loader takes the last such line; so does this.) */

/* The features LightGBM treats as categorical, ascending, into idx (n_features entries):
 * the `[categorical_feature: ...]` parameter when the file has it, else the features whose
 * feature_infos lists categories ("1:0:2") rather than a range ("[lo:hi]") or "none". */
static int by_index(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static int64_t categorical_features(lgb *g, span param, int64_t *idx) {
    int64_t n = 0;
    if (param.p) {
        for (size_t i = 0; i < param.n;) {
            size_t b = i;
            while (i < param.n && param.p[i] != ',')
                ++i;
            int64_t f;
            if (!parse_int(param.p + b, i - b, &f) || f < 0 || f >= g->n_features || n == g->n_features)
                return -1;
            idx[n++] = f;
            i += i < param.n;
        }
        qsort(idx, (size_t)n, sizeof *idx, by_index); /* ascending: the pandas lists follow the column order */
        for (int64_t a = 1; a < n; ++a)
            if (idx[a] == idx[a - 1])
                return -1;
        return n;
    }
    span info = g->header[H_FEATURE_INFOS], tok;
    int64_t f = 0;
    for (size_t i = 0; info.p && f < g->n_features && next_token(info, &i, &tok); ++f)
        if (tok.n > 0 && tok.p[0] != '[' && !span_is(tok, "none"))
            idx[n++] = f;
    return n;
}

/* Feature f's name from the header, for messages (printable ASCII, shortened). */
static const char *feature_label(lgb *g, int64_t f, char buf[32]) {
    span v = g->header[H_FEATURE_NAMES], tok;
    int64_t k = 0;
    strcpy(buf, "?");
    for (size_t i = 0; v.p && next_token(v, &i, &tok); ++k)
        if (k == f)
            return shown(tok.p, tok.n, buf);
    return buf;
}

/* Every category code feature_infos lists for feature f (`info`: its token, or none) is -1
 * (LightGBM's missing) or below n_cats, and no numerical split uses f (`num_split`): the check
 * that a list of n_cats categories belongs to f. */
static int list_fits_feature(span info, int num_split, int64_t n_cats) {
    if (num_split || (info.p && info.n > 0 && info.p[0] == '['))
        return 0;
    for (size_t a = 0; info.p && a < info.n && !span_is(info, "none");) {
        size_t b = a;
        while (a < info.n && info.p[a] != ':')
            ++a;
        int64_t code;
        if (!parse_int(info.p + b, a - b, &code) || code < -1 || code >= n_cats)
            return 0;
        a += a < info.n;
    }
    return 1;
}

/* Per feature: its feature_infos token (zeroed when absent) and whether a numerical split
 * uses it; one pass over each, so that checking every list stays linear in the file. */
static int feature_facts(lgb *g, span **infos, uint8_t **num_split) {
    *infos = calloc((size_t)g->n_features, sizeof **infos);
    *num_split = calloc((size_t)g->n_features, 1);
    if (!*infos || !*num_split)
        return -1;
    span info = g->header[H_FEATURE_INFOS], tok;
    int64_t k = 0;
    for (size_t i = 0; info.p && k < g->n_features && next_token(info, &i, &tok); ++k)
        (*infos)[k] = tok;
    const int32_t *feature = g->feature.p;
    const uint8_t *flags = g->flags.p;
    for (size_t i = 0; i < g->feature.n; ++i)
        if (feature[i] >= 0 && feature[i] < g->n_features && !(flags[i] & MLI__TF_CATEGORICAL))
            (*num_split)[feature[i]] = 1;
    return 0;
}

/* Copies the string lists of `root` (pandas_categorical) for the features in idx. */
static mli_status keep_string_categories(lgb *g, const mli__jdoc *doc, const mli__jval *root, const int64_t *idx,
                                         int64_t line) {
    size_t bytes = 0, count = 0;
    for (uint32_t c = 0; c < root->n; ++c) {
        const mli__jval *cats = mli__jd_at(doc, root, c);
        if (mli__jd_nums(doc, cats, 0))
            continue;
        for (uint32_t i = 0; i < cats->n; ++i) {
            size_t len = 0;
            mli__jd_str(doc, mli__jd_at(doc, cats, i), &len);
            bytes += len + 1;
            ++count;
        }
    }
    if (count > UINT32_MAX / 2)
        return mli__fail(MLI_ERR_UNSUPPORTED, "%s:%lld: pandas_categorical holds %zu categories, too many", g->origin,
                         (long long)line, count);
    int64_t n = g->n_features;
    mli__owned_categories *oc = &g->cats;
    if (!mli__owned_categories_alloc(oc, n, count, bytes))
        return mli__fail(MLI_ERR_OUT_OF_MEMORY, "%s: out of memory for %zu pandas categories", g->origin, count);
    size_t at = 0, s = 0;
    for (int64_t f = 0, c = 0; f < n; ++f) {
        oc->start[f] = (int64_t)s;
        if (c < (int64_t)root->n && idx[c] == f) {
            const mli__jval *cats = mli__jd_at(doc, root, (uint32_t)c++);
            if (mli__jd_nums(doc, cats, 0))
                continue; /* number categories, their own codes: the value passes as it is */
            oc->is_string[f] = 1;
            for (uint32_t i = 0; i < cats->n; ++i) {
                size_t len = 0;
                const char *str = mli__jd_str(doc, mli__jd_at(doc, cats, i), &len);
                memcpy(oc->bytes + at, str, len);
                oc->bytes[at + len] = 0;
                oc->str[s++] = oc->bytes + at;
                at += len + 1;
            }
        }
    }
    oc->start[n] = (int64_t)s;
    mli__owned_categories_publish(oc, 0);
    return MLI_OK;
}

/* Checks category list c: numbers that are their own codes, or strings (*strings set). */
static mli_status check_category_list(lgb *g, const mli__jdoc *doc, const mli__jval *cats, uint32_t c, int64_t line,
                                      int *strings) {
    if (!cats || cats->type != MLI__JD_ARR)
        return mli__fail(MLI_ERR_CORRUPT, "%s:%lld: pandas_categorical entry %u is not a list of categories", g->origin,
                         (long long)line, c);
    const double *num = mli__jd_nums(doc, cats, 0);
    if (num) {
        for (uint32_t i = 0; i < cats->n; ++i)
            if (num[i] != (double)i)
                return mli__fail(MLI_ERR_UNSUPPORTED,
                                 "%s:%lld: LightGBM model from pandas category columns: category column %u has the "
                                 "category %.17g at code %u; LightGBM's trees see the code, so a number given to "
                                 "libmlinfer would be mis-coded (train on categories 0..n-1, on the codes, or on "
                                 "string categories)",
                                 g->origin, (long long)line, c, num[i], i);
        return MLI_OK;
    }
    for (uint32_t i = 0; i < cats->n; ++i) {
        size_t len = 0;
        const mli__jval *e = mli__jd_at(doc, cats, i);
        const char *str = e ? mli__jd_str(doc, e, &len) : NULL;
        if (!str)
            return mli__fail(MLI_ERR_UNSUPPORTED,
                             "%s:%lld: LightGBM model from pandas category columns: category column %u: entry %u is "
                             "not a string among string categories (libmlinfer maps categories that are all strings, "
                             "or numbers that are their own codes)",
                             g->origin, (long long)line, c, i);
        if (memchr(str, 0, len) || !mli__utf8_valid(str, len))
            return mli__fail(MLI_ERR_UNSUPPORTED,
                             "%s:%lld: pandas_categorical column %u: category %u is not a UTF-8 string without NUL "
                             "bytes",
                             g->origin, (long long)line, c, i);
    }
    *strings = 1;
    return MLI_OK;
}

/* The string categories of the pandas_categorical line `last`, mapped to their features,
 * into g->cats (g->cats.set); `param`: the categorical_feature parameter, if any. */
static mli_status read_pandas_categorical(lgb *g, span last, span param) {
    const size_t skip = strlen("pandas_categorical:");
    const char *v = last.p + skip;
    size_t n = last.n - skip;
    while (n > 0 && (v[n - 1] == ' ' || v[n - 1] == '\t'))
        --n;
    if ((n == 4 && memcmp(v, "null", 4) == 0) || (n == 2 && memcmp(v, "[]", 2) == 0))
        return MLI_OK;
    mli__jdoc doc;
    memset(&doc, 0, sizeof doc);
    int64_t *idx = NULL;
    span *infos = NULL;
    uint8_t *num_split = NULL;
    mli_status st = mli__jd_parse_json(g->origin, (const uint8_t *)v, n, &doc);
    if (st != MLI_OK) {
        mli__jd_free(&doc);
        return mli__fail(MLI_ERR_CORRUPT, "%s:%lld: pandas_categorical is not valid JSON", g->origin,
                         (long long)last.line);
    }
    const mli__jval *root = &doc.root;
    if (root->type == MLI__JD_NULL)
        goto done;
    if (root->type != MLI__JD_ARR || ((root->flags & MLI__JD_PACKED) && root->n > 0)) {
        st = mli__fail(MLI_ERR_CORRUPT, "%s:%lld: pandas_categorical is not a list of category lists", g->origin,
                       (long long)last.line);
        goto done;
    }
    int strings = 0;
    for (uint32_t c = 0; st == MLI_OK && c < root->n; ++c)
        st = check_category_list(g, &doc, mli__jd_at(&doc, root, c), c, last.line, &strings);
    g->recorded_cats = root->n > 0;
    if (st != MLI_OK || !strings)
        goto done;
    /* which feature each list belongs to: the categorical features, in column order */
    if (!(idx = malloc(sizeof *idx * (size_t)g->n_features))) {
        st = mli__fail(MLI_ERR_OUT_OF_MEMORY, "%s: out of memory", g->origin);
        goto done;
    }
    int64_t n_cat = categorical_features(g, param, idx);
    if (n_cat < 0) {
        st = mli__fail(MLI_ERR_UNSUPPORTED,
                       "%s:%lld: LightGBM parameter categorical_feature is not a list of distinct "
                       "feature indices, so which column each pandas_categorical list belongs to is unclear",
                       g->origin, (long long)param.line);
        goto done;
    }
    if (n_cat != (int64_t)root->n) {
        st = mli__fail(MLI_ERR_UNSUPPORTED,
                       "%s:%lld: LightGBM model from pandas category columns: pandas_categorical lists %u category "
                       "columns but the model has %lld categorical features, so which column each list belongs to "
                       "is not recorded (ordered pandas categories, or categorical_feature given by hand); train "
                       "with unordered category columns as the only categorical features",
                       g->origin, (long long)last.line, root->n, (long long)n_cat);
        goto done;
    }
    if (feature_facts(g, &infos, &num_split) != 0) {
        st = mli__fail(MLI_ERR_OUT_OF_MEMORY, "%s: out of memory", g->origin);
        goto done;
    }
    for (uint32_t c = 0; c < root->n; ++c) {
        const mli__jval *cats = mli__jd_at(&doc, root, c);
        char name[32];
        if (!mli__jd_nums(&doc, cats, 0) && !list_fits_feature(infos[idx[c]], num_split[idx[c]], (int64_t)cats->n)) {
            st = mli__fail(MLI_ERR_UNSUPPORTED,
                           "%s:%lld: LightGBM model from pandas category columns: the %u categories of category "
                           "column %u do not fit feature %lld ('%s': its feature_infos or splits), so which column "
                           "each list belongs to is unclear; train with unordered category columns as the only "
                           "categorical features",
                           g->origin, (long long)last.line, cats->n, c, (long long)idx[c],
                           feature_label(g, idx[c], name));
            goto done;
        }
    }
    st = keep_string_categories(g, &doc, root, idx, last.line);
done:
    free(idx);
    free(infos);
    free(num_split);
    mli__jd_free(&doc);
    return st;
}

/* Reads what follows the trees: the last pandas_categorical line and the categorical_feature
 * parameter. */
static mli_status read_trailer(lgb *g) {
    span line, last = {0}, param = {0};
    static const char key[] = "[categorical_feature: ";
    while (next_line(g, &line)) {
        if (span_starts(line, "pandas_categorical:"))
            last = line;
        else if (span_starts(line, key) && line.n > strlen(key) && line.p[line.n - 1] == ']')
            param = (span){line.p + strlen(key), line.n - strlen(key) - 1, line.line};
    }
    return last.p ? read_pandas_categorical(g, last, param) : MLI_OK;
}

/* ---- the whole file ---------------------------------------------------------------------- */

static mli_status import(lgb *g, mli__writer *w) {
    mli_status rc;
    span line = {0}, stop;
    if (g->size >= 3 && memcmp(g->text, "\xEF\xBB\xBF", 3) == 0)
        g->at = 3;
    while (g->at < g->size && strchr(" \t\r\n", g->text[g->at]) && g->text[g->at])
        g->line += g->text[g->at++] == '\n';
    if (!next_line(g, &line) || !span_is(line, "tree"))
        return mli__fail(MLI_ERR_CORRUPT, "%s: not a LightGBM text model (the first line is not 'tree')", g->origin);
    if ((rc = read_block(g, "header", header_keys, g->header, 1, &stop)) != MLI_OK || (rc = parse_header(g)) != MLI_OK)
        return rc;
    while (stop.p && span_starts(stop, "Tree=")) {
        int64_t idx;
        if (!parse_int(stop.p + 5, stop.n - 5, &idx) || idx != g->n_trees) {
            char buf[32];
            return mli__fail(MLI_ERR_CORRUPT, "%s:%lld: LightGBM model: '%s' where Tree=%d is expected", g->origin,
                             (long long)stop.line, shown(stop.p, stop.n, buf), g->n_trees);
        }
        if (g->n_trees == INT32_MAX - 1)
            return mli__fail(MLI_ERR_CORRUPT, "%s: LightGBM model has too many trees", g->origin);
        span f[T_COUNT];
        memset(f, 0, sizeof f);
        char where[32];
        snprintf(where, sizeof where, "tree %d", g->n_trees);
        int64_t first = stop.line;
        if ((rc = read_block(g, where, tree_keys, f, 0, &stop)) != MLI_OK)
            return rc;
        if (!stop.p)
            return mli__fail(MLI_ERR_CORRUPT,
                             "%s: LightGBM model ends inside tree %d (line %lld on), before 'end of "
                             "trees': the file is truncated",
                             g->origin, g->n_trees, (long long)first);
        if ((rc = take_tree(g, g->n_trees, f)) != MLI_OK)
            return rc;
        g->n_trees++;
    }
    if (!stop.p)
        return mli__fail(MLI_ERR_CORRUPT,
                         "%s: LightGBM model has no Tree= blocks and no 'end of trees' line (a "
                         "truncated file?)",
                         g->origin);
    if (g->n_trees == 0)
        return mli__fail(MLI_ERR_CORRUPT, "%s: LightGBM model has no trees", g->origin);
    if (g->n_trees % g->k != 0)
        return mli__fail(MLI_ERR_CORRUPT,
                         "%s: LightGBM model has %d trees, not a multiple of num_tree_per_iteration="
                         "%lld",
                         g->origin, g->n_trees, (long long)g->k);
    span ts = g->header[H_TREE_SIZES];
    if (ts.p && count_tokens(ts) != g->n_trees)
        return mli__fail(MLI_ERR_CORRUPT,
                         "%s:%lld: LightGBM header: tree_sizes lists %lld trees but the file holds "
                         "%d",
                         g->origin, (long long)ts.line, (long long)count_tokens(ts), g->n_trees);
    if ((rc = read_trailer(g)) != MLI_OK)
        return rc;
    return write_model(g, w);
}

mli_status mli__import_lightgbm(const char *origin, const uint8_t *data, size_t size, mli__writer *w) {
    lgb g;
    memset(&g, 0, sizeof g);
    g.origin = origin;
    g.text = (const char *)data;
    g.size = size;
    mli_status rc = import(&g, w);
    vec *all[] = {&g.tree_start, &g.feature, &g.left,       &g.right,     &g.threshold,   &g.flags,
                  &g.value,      &g.leaf_id, &g.cat_offset, &g.cat_words, &g.cat_bits,    &g.pos,
                  &g.stack,      &g.cover,   &g.lin_const,  &g.lin_n,     &g.lin_feature, &g.lin_coeff};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; ++i)
        free(all[i]->p);
    for (int i = 0; i < T_COUNT; ++i) {
        free(g.ints[i].p);
        free(g.dbls[i].p);
    }
    mli__owned_categories_free(&g.cats);
    return rc;
}
