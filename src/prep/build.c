/* prep/build.c — reads the `prep` stage from a .mli file and checks everything predict will
 * rely on: op kinds and flags, register and column references, parameter and string
 * ranges, that registers are written in order, once, before they are read, that one-hot codes are
 * in range, that lookup tables have no duplicate keys. The bytes come from outside. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "prep.h"
#include "stage_reader.h"

#define OP_FIELDS 8

static const char *const op_names[MLI__OP_KINDS] = {"num",     "fill",   "affine",   "indicator", "strcat",
                                                    "numcat",  "onehot", "func",     "bin",       "norm",
                                                    "project", "poly",   "quantile", "spline",    "text"};

uint32_t mli__prep_hash(const char *s, uint32_t len) {
    uint32_t h = 2166136261u; /* FNV-1a */
    for (uint32_t i = 0; i < len; ++i)
        h = (h ^ (uint8_t)s[i]) * 16777619u;
    return h;
}

void mli__prep_free(mli__prep *p) {
    if (!p)
        return;
    free(p->ops);
    free(p->out_col);
    free(p->reg_col);
    free(p->f32_op);
    free(p->str);
    free(p->str_len);
    free(p->hash_store);
    mli__prep_linear_free(p->lin);
    memset(p, 0, sizeof *p);
}

/* Indexes the `strings` section (absent: no strings). */
static mli_status read_strings(const mli__reader *r, const char *name, mli__prep *p) {
    mli__section *s = mli__container_find(r->c, name);
    if (!s)
        return MLI_OK;
    if (s->dtype != MLI__DT_STRINGS)
        return mli__fail(MLI_ERR_CORRUPT, "%s: section '%s' must have dtype strings", r->c->origin, name);
    s->used = 1;
    mli__strings_iter it;
    uint32_t count, len;
    const char *str;
    mli__strings_begin(s, &it, &count);
    p->n_strings = count;
    p->str = calloc(count ? count : 1, sizeof *p->str);
    p->str_len = calloc(count ? count : 1, sizeof *p->str_len);
    if (!p->str || !p->str_len)
        return mli__fail(MLI_ERR_OUT_OF_MEMORY, "%s: out of memory for %u strings", r->c->origin, count);
    for (uint32_t i = 0; mli__strings_next(&it, &str, &len); ++i) {
        p->str[i] = str;
        p->str_len[i] = len;
    }
    return MLI_OK;
}

/* The knots of a SPLINE op: its basis functions (count, plus degree more folded onto the first
 * ones when periodic) + degree + 1, scipy's BSpline's t. */
static int64_t spline_knots(int64_t count, int64_t degree, int64_t flags) {
    int periodic = (flags & MLI__OPF_SPLINE_MODE) == MLI__SPLINE_PERIODIC;
    return count + (periodic ? degree : 0) + degree + 1;
}

/* Params each op kind reads at its offset (count: the op's count; n_in: its input registers,
 * both at most MLI__MAX_WIDTH, so the product cannot overflow; SPLINE: n_in its degree). */
static int64_t params_needed(int kind, int64_t count, int64_t n_in, int64_t flags) {
    switch (kind) {
    case MLI__OP_FILL: return 2;
    case MLI__OP_AFFINE: return 6;
    case MLI__OP_INDICATOR: return 1;
    case MLI__OP_STRCAT: return count + 3;     /* values, then NaN, None, unknown */
    case MLI__OP_NUMCAT: return 2 * count + 2; /* keys, values, then NaN, unknown */
    case MLI__OP_FUNC: /* binarize: the threshold; the power transforms: lambda; finite32: NaN refused (0/1) */
        return count == MLI__FN_BINARIZE || count == MLI__FN_YEO_JOHNSON || count == MLI__FN_BOX_COX ||
                       count == MLI__FN_FINITE32
                   ? 1
                   : 0;
    case MLI__OP_BIN: return count;                        /* the inner bin edges */
    case MLI__OP_NORM: return 1;                           /* the norm: 0 l1, 2 max */
    case MLI__OP_PROJECT: return count * n_in + 2 * count; /* W (count x n_in, row-major), b, s */
    case MLI__OP_POLY: return 2 * count;                   /* per term: factor, parent */
    case MLI__OP_QUANTILE:                                 /* quantiles, references; normal: the clip bounds */
        return 2 * count + ((flags & MLI__OPF_NORMAL) ? 2 : 0);
    case MLI__OP_SPLINE: /* knots; lo, hi, L; values and slopes at both ends */
        return spline_knots(count, n_in, flags) + 3 + 4 * count;
    case MLI__OP_TEXT: /* stop words, n-gram range, Unicode version; idf; weights (n_in x count) or selection (n_in) */
        return 4 + ((flags & MLI__OPF_TEXT_IDF) ? n_in : 0) + ((flags & MLI__OPF_TEXT_SELECT) ? n_in : n_in * count);
    default: return 0;
    }
}

static const unsigned allowed_flags[MLI__OP_KINDS] = {MLI__OPF_FINITE,
                                                      0,
                                                      MLI__OPF_CLIP,
                                                      0,
                                                      MLI__OPF_ERR_NAN | MLI__OPF_ERR_NONE | MLI__OPF_ERR_UNKNOWN,
                                                      MLI__OPF_ERR_NAN | MLI__OPF_ERR_UNKNOWN,
                                                      0,
                                                      MLI__OPF_FINITE_OUT,
                                                      0,
                                                      0,
                                                      0,
                                                      0,
                                                      MLI__OPF_NORMAL,
                                                      MLI__OPF_SPLINE_MODE | MLI__OPF_NAN_ZEROS,
                                                      0x7fffu /* the MLI__OPF_TEXT_* */};

/* A one-hot code: -1 or a whole number below n. */
static int onehot_code_ok(double v, int64_t n) { return v == -1.0 || (v >= 0.0 && v < (double)n && v == floor(v)); }

/* The codes the lookup op `src_op` can give must be valid one-hot codes for width n. */
static int codes_fit(const mli__prep_op *c, int64_t n) {
    if (c->kind == MLI__OP_STRCAT) {
        for (int64_t k = 0; k < c->count; ++k)
            if (!onehot_code_ok(c->p[k], n))
                return 0;
        return (c->flags & MLI__OPF_ERR_NAN || onehot_code_ok(c->p[c->count], n)) &&
               (c->flags & MLI__OPF_ERR_NONE || onehot_code_ok(c->p[c->count + 1], n)) &&
               (c->flags & MLI__OPF_ERR_UNKNOWN || onehot_code_ok(c->p[c->count + 2], n));
    }
    if (c->kind == MLI__OP_NUMCAT) {
        for (int64_t k = 0; k < c->count; ++k)
            if (!onehot_code_ok(c->p[c->count + k], n))
                return 0;
        return (c->flags & MLI__OPF_ERR_NAN || onehot_code_ok(c->p[2 * c->count], n)) &&
               (c->flags & MLI__OPF_ERR_UNKNOWN || onehot_code_ok(c->p[2 * c->count + 1], n));
    }
    if (c->kind == MLI__OP_BIN) /* codes 0..count */
        return c->count < n;
    return 0;
}

/* The hash of the n strings from str0 (a STRCAT op's table, a TEXT op's vocabulary or stop
 * words) in mask + 1 slots; duplicate strings are corrupt (which value would win?). */
static mli_status hash_table(const mli__reader *r, int i, int64_t o, mli__prep *p, int64_t str0, int64_t n,
                             uint32_t mask, uint64_t *slots) {
    memset(slots, 0, sizeof *slots * ((size_t)mask + 1));
    for (int64_t k = 0; k < n; ++k) {
        const char *s = p->str[str0 + k];
        uint32_t len = p->str_len[str0 + k], hv = mli__prep_hash(s, len);
        for (uint32_t h = hv & mask;; h = (h + 1) & mask) {
            if (!slots[h]) {
                slots[h] = (uint64_t)hv << 32 | (uint64_t)(k + 1);
                break;
            }
            const int64_t other = str0 + (int64_t)(uint32_t)slots[h] - 1;
            if (p->str_len[other] == len && memcmp(p->str[other], s, len) == 0)
                return mli__fail(MLI_ERR_CORRUPT, "%s: stage %d op %lld: string '%.40s' appears twice in its table",
                                 r->c->origin, i, (long long)o, len ? s : "");
        }
    }
    return MLI_OK;
}

/* Registers are written in order, each once: op o writes the `width` registers from *next
 * on and reads only registers below. A one-hot op reads the code the op just before it
 * wrote and is at most 3 wider than that lookup's table (NaN, None, the infrequent group),
 * so the registers a file declares are bounded by its bytes. */
static mli_status check_op(const mli__reader *r, int i, int64_t o, const int64_t *f, mli__prep *p, int64_t n_params,
                           const double *params, int64_t *next) {
    const char *origin = r->c->origin;
    mli__prep_op *op = &p->ops[o];
    int64_t kind = f[0], src = f[1], dst = f[2], count = f[3], poff = f[4], soff = f[5], flags = f[6], n_in = f[7];
    if (kind < 0 || kind >= MLI__OP_KINDS)
        return mli__fail(MLI_ERR_UNSUPPORTED, "%s: stage %d op %lld has kind %lld, which this libmlinfer does not know",
                         origin, i, (long long)o, (long long)kind);
    const char *kn = op_names[kind];
    int group = kind == MLI__OP_PROJECT || kind == MLI__OP_POLY; /* reads n_in registers */
    int spline = kind == MLI__OP_SPLINE;                         /* n_in: the degree */
    int text = kind == MLI__OP_TEXT;                             /* n_in: the vocabulary's size */
    if ((!group && !spline && !text && n_in != 0) || flags < 0 || (flags & ~(int64_t)allowed_flags[kind]) ||
        (text && ((flags & MLI__OPF_TEXT_ASCII) && (flags & MLI__OPF_TEXT_UNICODE))) ||
        (text && ((flags & MLI__OPF_TEXT_L1) && (flags & MLI__OPF_TEXT_L2))) ||
        (text && ((flags & MLI__OPF_TEXT_CHAR) && (flags & MLI__OPF_TEXT_CHAR_WB))) ||
        (text && (flags & MLI__OPF_TEXT_ALT_SIGN) && !(flags & MLI__OPF_TEXT_HASH)) ||
        (text && (flags & MLI__OPF_TEXT_ABSENT_NAN) && !(flags & MLI__OPF_TEXT_SELECT)))
        return mli__fail(MLI_ERR_CORRUPT, "%s: stage %d op %lld (%s): unknown flags or reserved field set", origin, i,
                         (long long)o, kn);
    if ((group && (n_in < 1 || n_in > MLI__MAX_WIDTH)) || (text && (n_in < 1 || n_in > MLI__TEXT_MAX_VOCAB)))
        return mli__fail(MLI_ERR_CORRUPT, "%s: stage %d op %lld (%s): n_in %lld is out of range", origin, i,
                         (long long)o, kn, (long long)n_in);
    if (spline && (n_in < 0 || n_in > MLI__SPLINE_MAX_DEGREE || (flags & MLI__OPF_SPLINE_MODE) > MLI__SPLINE_PERIODIC))
        return mli__fail(MLI_ERR_CORRUPT,
                         "%s: stage %d op %lld (spline): degree %lld (0..%d) or extrapolation mode %lld "
                         "(0..4) out of range",
                         origin, i, (long long)o, (long long)n_in, MLI__SPLINE_MAX_DEGREE,
                         (long long)(flags & MLI__OPF_SPLINE_MODE));
    if (kind == MLI__OP_NORM)
        n_in = count;
    op->kind = (int32_t)kind;
    op->flags = (int32_t)flags;
    int reads_col = kind == MLI__OP_NUM || kind == MLI__OP_STRCAT || text;
    if (reads_col) {
        if (src < 0 || src >= p->n_cols)
            return mli__fail(MLI_ERR_CORRUPT, "%s: stage %d op %lld (%s) reads column %lld of %lld", origin, i,
                             (long long)o, kn, (long long)src, (long long)p->n_cols);
        int want = kind == MLI__OP_NUM ? MLI__COL_NUMBER : MLI__COL_STRING;
        if (p->col_kind[src] != want)
            return mli__fail(MLI_ERR_CORRUPT, "%s: stage %d op %lld (%s) reads column %lld, which is not a %s column",
                             origin, i, (long long)o, kn, (long long)src, want ? "string" : "number");
    } else if (src < 0 || src >= *next || ((group || kind == MLI__OP_NORM) && n_in > *next - src)) {
        return mli__fail(MLI_ERR_CORRUPT, "%s: stage %d op %lld (%s) reads register %lld, not written before it",
                         origin, i, (long long)o, kn, (long long)src);
    }
    int64_t width = kind == MLI__OP_ONEHOT || kind == MLI__OP_NORM || group || spline || text ? count : 1;
    if ((kind == MLI__OP_ONEHOT || kind == MLI__OP_NORM || group || spline || text ? count < 1
         : kind == MLI__OP_QUANTILE                                                ? count < 1
         : kind == MLI__OP_STRCAT || kind == MLI__OP_NUMCAT || kind == MLI__OP_BIN ? count < 0
         : kind == MLI__OP_FUNC                                                    ? count < 0 || count >= MLI__FN_COUNT
                                                                                   : count != 0) ||
        count > MLI__MAX_WIDTH)
        return mli__fail(MLI_ERR_CORRUPT, "%s: stage %d op %lld (%s): count %lld is out of range", origin, i,
                         (long long)o, kn, (long long)count);
    if (dst != *next || dst > p->n_regs - width)
        return mli__fail(
            MLI_ERR_CORRUPT, "%s: stage %d op %lld (%s) writes registers %lld..%lld; next free: %lld of %lld", origin,
            i, (long long)o, kn, (long long)dst, (long long)(dst + width - 1), (long long)*next, (long long)p->n_regs);
    int64_t need = params_needed((int)kind, count, n_in, flags);
    if (need > 0 && (poff < 0 || poff > n_params - need))
        return mli__fail(MLI_ERR_CORRUPT, "%s: stage %d op %lld (%s): params %lld..+%lld outside the %lld params",
                         origin, i, (long long)o, kn, (long long)poff, (long long)need, (long long)n_params);
    if (need == 0 && poff != 0)
        return mli__fail(MLI_ERR_CORRUPT, "%s: stage %d op %lld (%s): unused param offset set", origin, i, (long long)o,
                         kn);
    op->src = src;
    op->dst = dst;
    op->count = count;
    op->n_in = n_in;
    op->p = need > 0 ? params + poff : NULL;
    if (kind == MLI__OP_STRCAT) {
        if (soff < 0 || soff > p->n_strings - count)
            return mli__fail(MLI_ERR_CORRUPT,
                             "%s: stage %d op %lld (strcat): strings %lld..+%lld outside the %lld strings", origin, i,
                             (long long)o, (long long)soff, (long long)count, (long long)p->n_strings);
        op->str0 = soff;
    } else if (text) { /* the vocabulary, then the stop words; the header params */
        const double *h = op->p;
        int ok = h[0] >= 0.0 && h[0] <= (double)p->n_strings && h[0] == floor(h[0]) && h[1] >= 1.0 && h[1] <= h[2] &&
                 h[2] <= MLI__TEXT_MAX_NGRAM && h[1] == floor(h[1]) && h[2] == floor(h[2]) && h[3] >= 100.0 &&
                 h[3] <= 10000.0 && h[3] == floor(h[3]) &&
                 (h[0] == 0.0 || !(flags & (MLI__OPF_TEXT_CHAR | MLI__OPF_TEXT_CHAR_WB))); /* no stop words */
        const int64_t vocab = (flags & MLI__OPF_TEXT_HASH) ? 0 : n_in;
        if (!ok || soff < 0 || soff > p->n_strings - vocab - (int64_t)h[0])
            return mli__fail(MLI_ERR_CORRUPT,
                             "%s: stage %d op %lld (text): %lld vocabulary strings and %g stop words from string "
                             "%lld (of %lld), n-grams %g..%g (1..%d) or Unicode version %g out of range",
                             origin, i, (long long)o, (long long)vocab, h[0], (long long)soff, (long long)p->n_strings,
                             h[1], h[2], MLI__TEXT_MAX_NGRAM, h[3]);
        for (int64_t k = 4; k < need; ++k)
            if (!isfinite(op->p[k]))
                return mli__fail(MLI_ERR_CORRUPT,
                                 "%s: stage %d op %lld (text): param %lld is %g (idf and weights finite)", origin, i,
                                 (long long)o, (long long)k, op->p[k]);
        if (flags & MLI__OPF_TEXT_SELECT) /* each column's output: -1 (none) or 0..count-1 */
            for (int64_t k = need - n_in; k < need; ++k)
                if (!(op->p[k] >= -1.0 && op->p[k] < (double)count && op->p[k] == floor(op->p[k])))
                    return mli__fail(MLI_ERR_CORRUPT,
                                     "%s: stage %d op %lld (text): column %lld selects output %g (of %lld)", origin, i,
                                     (long long)o, (long long)(k - (need - n_in)), op->p[k], (long long)count);
        op->str0 = soff;
    } else if (soff != 0) {
        return mli__fail(MLI_ERR_CORRUPT, "%s: stage %d op %lld (%s): unused string offset set", origin, i,
                         (long long)o, kn);
    }
    if (kind == MLI__OP_NUMCAT)
        for (int64_t k = 0; k < count; ++k)
            if (isnan(op->p[k]) || (k > 0 && !(op->p[k] > op->p[k - 1])))
                return mli__fail(MLI_ERR_CORRUPT,
                                 "%s: stage %d op %lld (numcat): keys are not strictly increasing numbers", origin, i,
                                 (long long)o);
    if (kind == MLI__OP_NORM && !(op->p[0] == 0.0 || op->p[0] == 1.0 || op->p[0] == 2.0))
        return mli__fail(MLI_ERR_CORRUPT, "%s: stage %d op %lld (norm): norm %g is not 0 (l1), 1 (l2) or 2 (max)",
                         origin, i, (long long)o, op->p[0]);
    if (kind == MLI__OP_FUNC && need == 1 && !isfinite(op->p[0]))
        return mli__fail(MLI_ERR_CORRUPT, "%s: stage %d op %lld (func): parameter %g is not finite", origin, i,
                         (long long)o, op->p[0]);
    if (kind == MLI__OP_FUNC && count == MLI__FN_FINITE32 && op->p[0] != 0.0 && op->p[0] != 1.0)
        return mli__fail(MLI_ERR_CORRUPT, "%s: stage %d op %lld (func finite32): parameter %g is neither 0 nor 1",
                         origin, i, (long long)o, op->p[0]);
    if (kind == MLI__OP_PROJECT) /* a NaN weight or a zero scale would make a value no step saw */
        for (int64_t k = 0; k < need; ++k)
            if (!isfinite(op->p[k]) || (k >= count * n_in + count && op->p[k] == 0.0))
                return mli__fail(MLI_ERR_CORRUPT,
                                 "%s: stage %d op %lld (project): param %lld is %g (weights and offsets finite, scales "
                                 "finite and non-zero)",
                                 origin, i, (long long)o, (long long)k, op->p[k]);
    if (kind == MLI__OP_POLY) /* term k: factor -1 (none) or an input, parent -1 (none) or an earlier term */
        for (int64_t k = 0; k < count; ++k) {
            double fk = op->p[2 * k], pk = op->p[2 * k + 1];
            if (!(fk >= -1.0 && fk < (double)n_in && fk == floor(fk)) ||
                !(pk >= -1.0 && pk < (double)k && pk == floor(pk)))
                return mli__fail(MLI_ERR_CORRUPT,
                                 "%s: stage %d op %lld (poly): term %lld has factor %g and parent %g (factor -1..%lld, "
                                 "parent -1..%lld)",
                                 origin, i, (long long)o, (long long)k, fk, pk, (long long)n_in - 1, (long long)k - 1);
        }
    if (kind == MLI__OP_QUANTILE) /* np.interp needs increasing quantiles; finite references */
        for (int64_t k = 0; k < count; ++k)
            if (!isfinite(op->p[k]) || !isfinite(op->p[count + k]) || (k > 0 && op->p[k] < op->p[k - 1]))
                return mli__fail(MLI_ERR_CORRUPT,
                                 "%s: stage %d op %lld (quantile): quantiles are not non-decreasing finite numbers "
                                 "or references not finite",
                                 origin, i, (long long)o);
    if (kind == MLI__OP_QUANTILE && (flags & MLI__OPF_NORMAL) &&
        !(isfinite(op->p[2 * count]) && isfinite(op->p[2 * count + 1]) && op->p[2 * count] <= op->p[2 * count + 1]))
        return mli__fail(MLI_ERR_CORRUPT,
                         "%s: stage %d op %lld (quantile): clip bounds %g, %g are not finite and ordered", origin, i,
                         (long long)o, op->p[2 * count], op->p[2 * count + 1]);
    if (spline) {
        /* scipy's knots, non-decreasing and finite; the end values and slopes finite; enough basis
         * functions for the extrapolation's indexes (scikit-learn: n_knots >= 2, periodic n_knots > degree) */
        int64_t nt = spline_knots(count, n_in, flags), mode = flags & MLI__OPF_SPLINE_MODE;
        int ok = mode == MLI__SPLINE_PERIODIC ? count >= n_in : count >= n_in + 1;
        for (int64_t k = 0; k < need && ok; ++k)
            ok = isfinite(op->p[k]) && (k == 0 || k >= nt || op->p[k] >= op->p[k - 1]);
        /* the extrapolated range within the knots' (the spline is evaluated inside it), L whole, 0..count */
        const double *e = op->p + nt;
        if (ok && (mode == MLI__SPLINE_CONSTANT || mode == MLI__SPLINE_LINEAR))
            ok = e[0] >= op->p[n_in] && e[0] <= e[1] && e[1] <= op->p[nt - n_in - 1] && e[2] >= 0.0 &&
                 e[2] <= (double)count && e[2] == floor(e[2]);
        if (!ok)
            return mli__fail(MLI_ERR_CORRUPT,
                             "%s: stage %d op %lld (spline): %lld basis functions of degree %lld: knots not "
                             "non-decreasing finite numbers, too few functions, or the extrapolated range, count "
                             "or end values out of range",
                             origin, i, (long long)o, (long long)count, (long long)n_in);
    }
    if (kind == MLI__OP_BIN)
        for (int64_t k = 0; k < count; ++k)
            if (isnan(op->p[k]) || (k > 0 && op->p[k] < op->p[k - 1]))
                return mli__fail(MLI_ERR_CORRUPT, "%s: stage %d op %lld (bin): edges are not non-decreasing numbers",
                                 origin, i, (long long)o);
    if (kind == MLI__OP_ONEHOT) {
        const mli__prep_op *c = &p->ops[o - 1]; /* o > 0: src < *next == 0 failed above */
        if ((c->kind != MLI__OP_STRCAT && c->kind != MLI__OP_NUMCAT && c->kind != MLI__OP_BIN) || c->dst != src ||
            count > c->count + 3 || !codes_fit(c, count))
            return mli__fail(MLI_ERR_CORRUPT,
                             "%s: stage %d op %lld (onehot) must follow the lookup whose code it reads, be at most 3 "
                             "wider than its table and get codes -1 or 0..%lld",
                             origin, i, (long long)o, (long long)count - 1);
    }
    *next = dst + width;
    return MLI_OK;
}

/* Which input column each register and output derives from, for messages (-1: several);
 * the first op that mixes columns. */
static mli_status trace_columns(mli__prep *p) {
    int64_t *reg_col = p->reg_col = malloc(sizeof(int64_t) * (size_t)p->n_regs);
    p->out_col = malloc(sizeof(int64_t) * (size_t)p->n_out);
    if (!reg_col || !p->out_col)
        return MLI_ERR_OUT_OF_MEMORY;
    p->first_mixing = -1;
    if (!(p->f32_op = malloc(sizeof(int32_t) * (size_t)p->n_cols)))
        return MLI_ERR_OUT_OF_MEMORY;
    for (int64_t c = 0; c < p->n_cols; ++c)
        p->f32_op[c] = -1;
    for (int64_t o = 0; o < p->n_ops; ++o) {
        const mli__prep_op *op = &p->ops[o];
        /* float32 arithmetic in scikit-learn: the columns whose values this op reads (a
         * PCA's product of float32 rows with float64 components runs in float64, as here;
         * comparisons (bins, categories, Binarizer) and the finite check are exact) */
        int f32 = op->kind == MLI__OP_FILL || op->kind == MLI__OP_AFFINE || op->kind == MLI__OP_NORM ||
                  op->kind == MLI__OP_POLY || op->kind == MLI__OP_QUANTILE ||
                  (op->kind == MLI__OP_FUNC && op->count != MLI__FN_BINARIZE && op->count != MLI__FN_FINITE &&
                   op->count != MLI__FN_FINITE32);
        int64_t n_read = op->kind == MLI__OP_NORM ? op->count : op->kind == MLI__OP_POLY ? op->n_in : 1;
        for (int64_t k = 0; f32 && k < n_read; ++k) {
            int64_t c = reg_col[op->src + k];
            if (c >= 0 && p->f32_op[c] < 0)
                p->f32_op[c] = op->kind;
        }
        int64_t col = op->kind == MLI__OP_NUM || op->kind == MLI__OP_STRCAT || op->kind == MLI__OP_TEXT
                          ? op->src
                          : reg_col[op->src];
        p->ops[o].col = col;
        if (mli__prep_op_mixes(op->kind) && p->first_mixing < 0)
            p->first_mixing = o;
        if (op->kind == MLI__OP_NORM) { /* for messages, each output from its own input */
            for (int64_t c = 0; c < op->count; ++c)
                reg_col[op->dst + c] = reg_col[op->src + c];
        } else if (op->kind == MLI__OP_PROJECT || op->kind == MLI__OP_POLY) {
            for (int64_t c = 0; c < op->count; ++c) /* a product of one column's powers is still that column's */
                reg_col[op->dst + c] = -1;
            if (op->kind == MLI__OP_POLY)
                for (int64_t c = 0; c < op->count; ++c) {
                    int64_t f = (int64_t)op->p[2 * c], par = (int64_t)op->p[2 * c + 1];
                    int64_t a = f < 0 ? -2 : reg_col[op->src + f], b = par < 0 ? -2 : reg_col[op->dst + par];
                    reg_col[op->dst + c] = a == -2 ? (b == -2 ? -1 : b) : b == -2 || a == b ? a : -1;
                }
        } else {
            int64_t w =
                op->kind == MLI__OP_ONEHOT || op->kind == MLI__OP_SPLINE || op->kind == MLI__OP_TEXT ? op->count : 1;
            for (int64_t d = op->dst; d < op->dst + w; ++d)
                reg_col[d] = col;
        }
    }
    for (int64_t c = 0; c < p->n_out; ++c)
        p->out_col[c] = reg_col[p->out_reg[c]];
    return MLI_OK;
}

/* Hash slots - 1 for n strings: a power of two of at least 2n (n <= 16 M strings: fits). */
static uint32_t hash_mask(int64_t n) {
    uint32_t m = 4;
    while (m < 2 * (uint64_t)n)
        m <<= 1;
    return m - 1;
}

static mli_status build(const mli__reader *r, int i, int64_t n_cols, mli__prep *p) {
    char key[64];
    const void *v;
    int64_t n_params;
    mli_status rc;
    const char *origin = r->c->origin;
    p->n_cols = n_cols;
#define META_INT(name, lo, hi, dst)                                                                                    \
    do {                                                                                                               \
        snprintf(key, sizeof key, "stage.%d." name, i);                                                                \
        if ((rc = mli__meta_int(r, key, lo, hi, dst)) != MLI_OK)                                                       \
            return rc;                                                                                                 \
    } while (0)
    META_INT("n_ops", 1, MLI__PREP_MAX_OPS, &p->n_ops);
    META_INT("n_regs", 1, MLI__MAX_WIDTH, &p->n_regs);
    META_INT("n_out", 1, MLI__MAX_WIDTH, &p->n_out);
    META_INT("n_params", 0, MLI__PREP_MAX_PARAMS, &n_params);
#undef META_INT
    snprintf(key, sizeof key, "stage.%d.col_kind", i);
    if ((rc = mli__section_array(r, key, MLI__DT_U8, n_cols, 0, &v)) != MLI_OK)
        return rc;
    p->col_kind = v;
    for (int64_t c = 0; c < n_cols; ++c)
        if (p->col_kind[c] > MLI__COL_UNUSED)
            return mli__fail(MLI_ERR_CORRUPT, "%s: stage %d: column %lld has kind %u (0..2)", origin, i, (long long)c,
                             p->col_kind[c]);
    const double *params = NULL;
    snprintf(key, sizeof key, "stage.%d.params", i);
    if ((rc = mli__section_array(r, key, MLI__DT_F64, n_params, n_params == 0, &v)) != MLI_OK)
        return rc;
    params = v;
    snprintf(key, sizeof key, "stage.%d.out", i);
    if ((rc = mli__section_array(r, key, MLI__DT_I64, p->n_out, 0, &v)) != MLI_OK)
        return rc;
    p->out_reg = v;
    const int64_t *fields;
    snprintf(key, sizeof key, "stage.%d.ops", i);
    if ((rc = mli__section_array(r, key, MLI__DT_I64, p->n_ops * OP_FIELDS, 0, &v)) != MLI_OK)
        return rc;
    fields = v;
    snprintf(key, sizeof key, "stage.%d.strings", i);
    if ((rc = read_strings(r, key, p)) != MLI_OK)
        return rc;

    p->ops = calloc((size_t)p->n_ops, sizeof *p->ops); /* the ops section holds 64 bytes per op */
    if (!p->ops)
        return mli__fail(MLI_ERR_OUT_OF_MEMORY, "%s: out of memory for the prep stage", origin);
    int64_t next = 0;
    int64_t slots = 0;
    for (int64_t o = 0; o < p->n_ops && rc == MLI_OK; ++o) {
        rc = check_op(r, i, o, fields + o * OP_FIELDS, p, n_params, params, &next);
        if (rc == MLI_OK && (p->ops[o].kind == MLI__OP_STRCAT || p->ops[o].kind == MLI__OP_TEXT)) {
            mli__prep_op *op = &p->ops[o];
            op->hmask = hash_mask(op->kind == MLI__OP_TEXT ? mli__text_vocab(op) : op->count);
            slots += op->hmask + 1;
            if (op->kind == MLI__OP_TEXT) {
                op->smask = hash_mask((int64_t)op->p[0]);
                slots += op->smask + 1;
            }
        }
    }
    if (rc == MLI_OK && next != p->n_regs)
        rc = mli__fail(MLI_ERR_CORRUPT, "%s: stage %d: the ops write %lld registers, n_regs says %lld", origin, i,
                       (long long)next, (long long)p->n_regs);
    for (int64_t c = 0; c < p->n_out && rc == MLI_OK; ++c)
        if (p->out_reg[c] < 0 || p->out_reg[c] >= p->n_regs)
            rc = mli__fail(MLI_ERR_CORRUPT, "%s: stage %d: output %lld is register %lld, which no op writes", origin, i,
                           (long long)c, (long long)p->out_reg[c]);
    if (rc == MLI_OK && slots > 0 && !(p->hash_store = malloc(sizeof(uint64_t) * (size_t)slots)))
        rc = mli__fail(MLI_ERR_OUT_OF_MEMORY, "%s: out of memory for the prep stage's string tables", origin);
    for (int64_t o = 0, at = 0; o < p->n_ops && rc == MLI_OK; ++o) {
        mli__prep_op *op = &p->ops[o];
        if (op->kind != MLI__OP_STRCAT && op->kind != MLI__OP_TEXT)
            continue;
        op->hash = p->hash_store + at;
        const int64_t vocab = op->kind == MLI__OP_TEXT ? mli__text_vocab(op) : op->count;
        rc = hash_table(r, i, o, p, op->str0, vocab, op->hmask, op->hash);
        at += op->hmask + 1;
        if (rc == MLI_OK && op->kind == MLI__OP_TEXT) {
            op->shash = p->hash_store + at;
            rc = hash_table(r, i, o, p, op->str0 + vocab, (int64_t)op->p[0], op->smask, op->shash);
            at += op->smask + 1;
        }
    }
    if (rc == MLI_OK && trace_columns(p) != MLI_OK)
        rc = mli__fail(MLI_ERR_OUT_OF_MEMORY, "%s: out of memory for the prep stage", origin);
    return rc;
}

mli_status mli__prep_build(const mli__reader *r, int i, int64_t n_cols, mli__prep *p) {
    memset(p, 0, sizeof *p);
    mli_status rc = build(r, i, n_cols, p);
    if (rc != MLI_OK)
        mli__prep_free(p);
    return rc;
}
