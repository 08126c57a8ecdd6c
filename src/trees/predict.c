/* trees/predict.c — tree-ensemble scores for a block of rows.
 *
 * Two ways to walk, with identical results:
 * - the generic walk over the file's node arrays, which implements every rule of the
 *   format (missing modes, categorical bitsets, float64 comparisons) one row and one tree
 *   at a time;
 * - the compact walk (kernels/<isa>/trees.c) over float32 `x < t` nodes, several rows or
 *   trees in lock-step. `le_f64` models given float64 input take it too: each value
 *   rounded up to float32 goes the float64 way at every node, except a value strictly
 *   between the two float32 numbers around a threshold that is not a float32 (an
 *   "ambiguous cell", trees.h); a row holding one is walked again by the generic walk
 *   after the compact walk, its scores replaced. Each compact node carries where a NaN
 *   goes; a block without NaN takes the kernels' faster NaN-free variant.
 * The choice is made per block; MLI_TREE_STRATEGY=generic|scalar|simd overrides it
 * (read once) for tests and measurements. Leaves are summed in float64, tree by tree in
 * file order, whichever walk found them. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "trees/trees.h"

#define MLI_TREE_CHUNK 64 /* trees walked before their leaves are summed */

int mli__trees_strategy(void) {
    static atomic_int cached = -1;
    int s = atomic_load_explicit(&cached, memory_order_relaxed);
    if (s < 0) {
        const char *e = getenv("MLI_TREE_STRATEGY");
        s = MLI__TS_AUTO;
        if (e && strcmp(e, "generic") == 0)
            s = MLI__TS_GENERIC;
        else if (e && strcmp(e, "scalar") == 0)
            s = MLI__TS_SCALAR;
        else if (e && strcmp(e, "simd") == 0)
            s = MLI__TS_SIMD;
        else if (e && strcmp(e, "walk") == 0)
            s = MLI__TS_WALK;
        atomic_store_explicit(&cached, s, memory_order_relaxed);
    }
    return s;
}

/* ---- the generic walk ---------------------------------------------------------------- */

/* The leaf (index within tree `tr`) that row `xr` reaches. */
static int32_t walk_generic(const mli__trees *t, int32_t tr, const void *xr, int f64) {
    int64_t s = t->tree_start[tr];
    int32_t i = 0;
    for (;;) {
        int64_t g = s + i;
        int32_t f = t->feature[g];
        if (f < 0)
            return i;
        double v = f64 ? ((const double *)xr)[f] : (double)((const float *)xr)[f];
        /* cat_words exists only in models with categorical nodes (build.c checks it) */
        const int left = mli__tree_goes_left(t->compare, t->flags[g], t->cat_words, t->cat_offset, t->cat_bits, g,
                                             t->threshold[g], v);
        i = left ? t->left[g] : t->right[g];
    }
}

static void add_leaf(const mli__trees *t, const double *values, int64_t g, int32_t tr, double *sc) {
    const double *v = values + g * t->leaf_width;
    if (t->leaf_width == 1)
        sc[t->tree_out ? t->tree_out[tr] : 0] += v[0];
    else
        for (int64_t k = 0; k < t->leaf_width; ++k)
            sc[k] += v[k];
}

/* ---- linear leaves --------------------------------------------------------------------- */

/* The output of linear leaf g (trees.h, lin_*) for row xr, in float64: its constant plus each
 * term in order, or its plain value when one of the features it reads is NaN. */
static double linear_leaf(const mli__trees *t, int64_t g, const void *xr, int f64) {
    double out = t->lin_const[g];
    for (int64_t k = t->lin_start[g]; k < t->lin_start[g + 1]; ++k) {
        const int32_t f = t->lin_feature[k];
        const double v = f64 ? ((const double *)xr)[f] : (double)((const float *)xr)[f];
        if (isnan(v))
            return t->value[g];
        out += t->lin_coeff[k] * v;
    }
    return out;
}

/* Each row's leaves by the generic walk: their values, or for a stage with linear leaves
 * their linear outputs. */
static void scores_generic(const mli__trees *t, const void *x, int f64, int64_t ldx, int64_t nb, double *scores) {
    size_t es = f64 ? sizeof(double) : sizeof(float);
    for (int64_t r = 0; r < nb; ++r) {
        const void *xr = (const char *)x + (size_t)(r * ldx) * es;
        double *sc = scores + r * t->n_out;
        for (int32_t tr = 0; tr < t->n_trees; ++tr) {
            const int64_t g = t->tree_start[tr] + walk_generic(t, tr, xr, f64);
            if (t->lin_const)
                sc[t->tree_out ? t->tree_out[tr] : 0] += linear_leaf(t, g, xr, f64);
            else
                add_leaf(t, t->value, g, tr, sc);
        }
    }
}

/* ---- the compact walk ---------------------------------------------------------------- */

static size_t align64(size_t n) { return (n + 63) & ~(size_t)63; }

/* The walks' transposed copy of a block (mli__tree_walk.tile): none under 8 rows. */
static size_t tile_bytes(const mli__trees *t, int64_t nb) {
    return nb < 8 ? 0 : align64(sizeof(float) * (size_t)(((nb + 15) & ~(int64_t)15) * t->n_features));
}

size_t mli__trees_scratch(const mli__trees *t, int64_t nb) {
    return align64(sizeof(float) * (size_t)(nb * t->n_features)) +
           align64(sizeof(int32_t) * (size_t)(MLI_TREE_CHUNK * nb)) + tile_bytes(t, nb) + (size_t)nb;
}

static uint32_t f32_bits(float f) {
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

/* The kernels' scan of rows [0, nb) of x (mli__f64_to_f32_fn, mli__f32_scan_fn): their
 * MLI__SCAN_* flags; float64 rows are also rounded to nearest into buf (nb x n_features). A
 * vector scan: a scalar loop was ~10 % of a small model's predict. */
static int scan_rows(const mli__trees *t, const mli__kernels *kt, const void *x, int f64, int64_t ldx, int64_t nb,
                     float *buf) {
    const int64_t nf = t->n_features;
    int flags = 0;
    for (int64_t r = 0; r < nb; ++r)
        flags |= f64 ? kt->f64_to_f32((const double *)x + r * ldx, buf + r * nf, nf)
                     : kt->f32_scan((const float *)x + r * ldx, nf);
    return flags;
}

/* Whether scan flags show a value the stage's input_check refuses: an infinity or a number
 * float32 rounds to one, and NaN too under finite32. */
static int refuses(const mli__trees *t, int flags) {
    return t->input_check != MLI__CHECK_NONE &&
           ((flags & MLI__SCAN_INF) || ((flags & MLI__SCAN_NAN) && t->input_check == MLI__CHECK_FINITE));
}

/* A float32 view of the block for the compact walk. *flags: MLI__SCAN_NAN where the block
 * holds a NaN, and MLI__SCAN_INF where it holds an infinity or a number float32 rounds to
 * one, except for le_f64 models given float64 rows (not scanned for it: their caller does).
 * For those, values are rounded up (trees.h) and fix[r] is set for each row r with a value
 * in an ambiguous cell; returns how many. fix[] is cleared for the other cases. */
static int64_t compact_input(const mli__trees *t, const mli__kernels *kt, const void *x, int f64, int64_t ldx,
                             int64_t nb, float *buf, const float **xf, int64_t *ld, int *flags, uint8_t *fix) {
    int64_t nf = t->n_features, nfix = 0;
    int any = 0;
    memset(fix, 0, (size_t)nb);
    if (!f64 || !t->needs_f64) /* the float32(x) rules, or float32 rows: round to nearest (or keep) */
        *flags = scan_rows(t, kt, x, f64, ldx, nb, buf);
    if (!f64) {
        const float *xs = x;
        if ((double)nb * (double)ldx < 2147483647.0) { /* the vector walks index rows in int32 */
            *ld = ldx;
            *xf = xs;
            return 0;
        }
        for (int64_t r = 0; r < nb; ++r)
            memcpy(buf + r * nf, xs + r * ldx, sizeof(float) * (size_t)nf);
        *ld = nf;
        *xf = buf;
        return 0;
    }
    const double *xd = x;
    *ld = nf;
    *xf = buf;
    if (!t->needs_f64) /* rounded to nearest into buf by scan_rows */
        return 0;
    /* The values the filter lets through: inexact (x below its float32) and that float32
     * perhaps the upper end of a cell (the fast form needs nf <= 32768). */
    uint64_t cand[(MLI__TN_FEATURE + 1) / 64];
    for (int64_t r = 0; r < nb; ++r) {
        const double *xr = xd + r * ldx;
        float *br = buf + r * nf;
        any |= kt->f64_prepass(xr, br, nf, t->amb_filter, t->amb_log2, cand);
        int hit = 0;
        for (int64_t q = 0; t->amb_filter && q < (nf + 63) / 64; ++q)
            for (uint64_t m = cand[q]; m; m &= m - 1) {
                int64_t c = 64 * q + __builtin_ctzll(m), k = mli__amb_find(t, c, f32_bits(br[c]));
                if (k < 0)
                    continue;
                if (xr[c] <= t->amb_lo[k] && !t->amb_exact[k])
                    br[c] = nextafterf(br[c], -INFINITY); /* left at every node of the cell */
                else if (!(xr[c] > t->amb_hi[k]))         /* (above them all: right, as br routes it) */
                    hit = 1;
            }
        fix[r] = (uint8_t)hit;
        nfix += hit;
    }
    *flags = any ? MLI__SCAN_NAN : 0;
    return nfix;
}

int mli__trees_scores(const mli__trees *t, const mli__kernels *kt, const void *x, int f64, int64_t ldx, int64_t nb,
                      double *scores, void *scratch) {
    memset(scores, 0, sizeof(double) * (size_t)(nb * t->n_out));
    int st = mli__trees_strategy();
    const float *xf = NULL;
    int64_t ld = 0;
    int nan = 0;
    float *buf = scratch;
    int32_t *leaf = (int32_t *)(void *)((char *)scratch + align64(sizeof(float) * (size_t)(nb * t->n_features)));
    float *tile = (float *)(void *)((char *)leaf + align64(sizeof(int32_t) * (size_t)(MLI_TREE_CHUNK * nb)));
    uint8_t *fix = (uint8_t *)tile + tile_bytes(t, nb);
    int64_t nfix = 0;
    const int compact = t->fast && st != MLI__TS_GENERIC;
    /* The input check (refuses()) rides on compact_input's scan; the blocks it does not scan
     * to nearest (the generic walk, float64 rows of le_f64 models) are scanned here first,
     * while buf is still free. */
    if (t->input_check != MLI__CHECK_NONE && !(compact && (!f64 || !t->needs_f64)) &&
        refuses(t, scan_rows(t, kt, x, f64, ldx, nb, buf)))
        return 1;
    if (compact) {
        int flags = 0;
        nfix = compact_input(t, kt, x, f64, ldx, nb, buf, &xf, &ld, &flags, fix);
        if (refuses(t, flags))
            return 1;
        nan = (flags & MLI__SCAN_NAN) != 0;
        for (int64_t r = 0; r < nb && t->inf_feature; ++r) /* +inf on a split at +inf */
            for (int64_t c = 0; c < t->n_features && !fix[r]; ++c)
                if (t->inf_feature[c] && xf[r * ld + c] == INFINITY) {
                    fix[r] = 1;
                    ++nfix;
                }
    }
    if (!xf || nfix == nb) {
        scores_generic(t, x, f64, ldx, nb, scores);
    } else {
        /* Linear leaves: the walk finds the leaves (its sums are of plain values), their
         * outputs are then taken from the rows as given, in float64, in the generic walk's
         * order (row by row, trees in file order). */
        const int sums = t->leaf_width == 1 && !t->lin_const;
        const size_t es = f64 ? sizeof(double) : sizeof(float);
        void (*walk)(const mli__tree_walk *) = (st == MLI__TS_SCALAR ? mli__get_scalar_kernels() : kt)->tree_walk;
        /* Trees go to the walk in chunks whose leaf indices fit the scratch; trees whose
         * leaves the walk sums itself go in one call (the one-row walks set up each row once
         * per call, the tile walks copy the block into tiles once per call: in chunks of 64
         * trees that copy was about a tenth of an XGBoost 500-tree predict). */
        int32_t chunk = sums ? t->n_trees : MLI_TREE_CHUNK;
        for (int32_t t0 = 0; t0 < t->n_trees; t0 += chunk) {
            int32_t n = t->n_trees - t0 < chunk ? t->n_trees - t0 : chunk;
            mli__tree_walk w = {.nodes = t->fast,
                                .top = t->top + t0,
                                .lanes = t->lanes ? t->lanes + t0 / 16 : NULL,
                                .start = t->tree_start + t0,
                                .depth = t->depth + t0,
                                .n_trees = n,
                                .nan = nan,
                                .x = xf,
                                .ldx = ld,
                                .nb = nb,
                                .nx = t->n_features,
                                .leaf = leaf,
                                .tile = nb < 8 ? NULL : tile,
                                .bits = st == MLI__TS_WALK ? NULL : t->bits,
                                .bits_tree = t->bits ? t->bits_tree + 3 * (int64_t)t0 : NULL,
                                .bits_leaf = t->bits ? t->bits_leaf + (int64_t)MLI__TBIT_LEAVES * t0 : NULL,
                                .bits_val = t->bits_val ? t->bits_val + (int64_t)MLI__TBIT_LEAVES * t0 : NULL,
                                .wide_tree = t->wide_tree ? t->wide_tree + (int64_t)MLI__TWIDE_STRIDE * t0 : NULL,
                                .wide_leaf = t->wide_leaf,
                                .wide_val = t->wide_val};
            if (sums) { /* the walk sums the leaves itself */
                w.value = t->fast_value;
                w.col = t->tree_out ? t->tree_out + t0 : NULL;
                w.acc = scores;
                w.ld_acc = t->n_out;
            }
            walk(&w);
            if (sums)
                continue;
            for (int64_t r = 0; r < nb; ++r) {
                double *sc = scores + r * t->n_out;
                const void *xr = (const char *)x + (size_t)(r * ldx) * es;
                for (int32_t k = 0; k < n; ++k) {
                    const int64_t g = t->tree_start[t0 + k] + leaf[(int64_t)k * nb + r];
                    if (t->lin_const)
                        sc[t->tree_out ? t->tree_out[t0 + k] : 0] += linear_leaf(t, g, xr, f64);
                    else
                        add_leaf(t, t->fast_value, g, t0 + k, sc);
                }
            }
        }
        /* rows the compact form may route wrongly: the generic walk, from scratch */
        for (int64_t r = 0; r < nb && nfix > 0; ++r)
            if (fix[r]) {
                memset(scores + r * t->n_out, 0, sizeof(double) * (size_t)t->n_out);
                scores_generic(t, (const char *)x + (size_t)(r * ldx) * es, f64, ldx, 1, scores + r * t->n_out);
            }
    }
    for (int64_t r = 0; r < nb; ++r) {
        double *sc = scores + r * t->n_out;
        for (int64_t k = 0; k < t->n_out; ++k) {
            if (t->mean)
                sc[k] /= (double)t->n_trees;
            if (t->base)
                sc[k] += t->base[k];
        }
    }
    return 0;
}

void mli__trees_apply(const mli__trees *t, const void *x, int f64, int64_t ldx, int64_t nb, int64_t *out) {
    size_t es = f64 ? sizeof(double) : sizeof(float);
    for (int64_t r = 0; r < nb; ++r) {
        const void *xr = (const char *)x + (size_t)(r * ldx) * es;
        for (int32_t tr = 0; tr < t->n_trees; ++tr) {
            int32_t i = walk_generic(t, tr, xr, f64);
            out[r * t->n_trees + tr] = t->leaf_id ? t->leaf_id[t->tree_start[tr] + i] : i;
        }
    }
}
