/* trees/build.c — reads a `trees` stage (docs/FORMAT.md), proves each tree is a tree
 * (children inside the tree and after their parent, one parent per node, bounded depth,
 * valid features, thresholds and bitsets), and builds the compact form the fast walks
 * use. Everything is checked here once, so predict runs without checks. */
#define _POSIX_C_SOURCE 200809L
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "stage_reader.h"
#include "trees/trees.h"

void mli__trees_free(mli__trees *t) {
    if (!t)
        return;
    free(t->fast);
    free(t->fast_value);
    free(t->depth);
    free(t->top);
    free(t->lanes);
    t->lanes = NULL;
    free(t->bits);
    free(t->bits_tree);
    free(t->bits_leaf);
    free(t->bits_val);
    free(t->wide_tree);
    free(t->wide_leaf);
    free(t->wide_val);
    t->bits = NULL;
    t->bits_val = t->wide_val = NULL;
    t->bits_tree = t->bits_leaf = t->wide_tree = t->wide_leaf = NULL;
    free(t->amb_start);
    free(t->amb_bits);
    free(t->amb_filter);
    free(t->amb_lo);
    free(t->amb_hi);
    free(t->amb_exact);
    t->amb_lo = t->amb_hi = NULL;
    t->amb_exact = NULL;
    free(t->inf_feature);
    t->inf_feature = NULL;
    t->amb_start = NULL;
    t->amb_bits = NULL;
    t->amb_filter = NULL;
    mli__trees_shap_free(t);
    t->top = NULL;
    t->fast = NULL;
    t->fast_value = NULL;
    t->depth = NULL;
}

static uint32_t f32_bits(float f) {
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

static float bits_f32(uint32_t u) {
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

/* The largest float32 <= thr (thr not NaN). The step down from a rounded-up float32 is
 * taken on its bits and chosen by mask (the rounding goes up for about half of a model's
 * thresholds, a branch no predictor guesses; with nextafterf it was a fifth of a LightGBM
 * model's load): a finite nonzero float32 steps down by -1 on its bits when positive, +1
 * when negative, and zero steps to -2^-149. (Checked equal to nextafterf on 20 million
 * doubles: float32 values, one float64 step off them, random bits, the edges.) */
static float f32_floor(double thr) {
    if (thr > FLT_MAX)
        return FLT_MAX;
    if (thr < -FLT_MAX)
        return -INFINITY;
    const float fl = (float)thr; /* finite: |thr| <= FLT_MAX */
    const uint32_t u = f32_bits(fl);
    const uint32_t down = fl == 0.0f ? 0x80000001u : u - 1u + 2u * (u >> 31);
    const uint32_t m = 0u - (uint32_t)((double)fl > thr);
    return bits_f32((down & m) | (u & ~m));
}

/* The float32 t with: float32 x <= thr (in float64) iff x < t, for thr < +inf: the float32
 * above f32_floor(thr) (never +inf; -inf steps to -FLT_MAX, zero to 2^-149). */
static float le_to_lt(double thr) {
    const float v = f32_floor(thr);
    const uint32_t u = f32_bits(v);
    return bits_f32(v == 0.0f ? 1u : u + 1u - 2u * (u >> 31));
}

/* a where the mask m is all ones, b where it is 0: a select the compiler cannot turn back
 * into a branch (the build loops below pick between a leaf's and an inner node's fields,
 * which no branch predictor guesses). */
static inline int32_t pick32(int32_t m, int32_t a, int32_t b) { return (a & m) | (b & ~m); }

/* Sorts n keys below 2^48 in place: LSD radix, four 12-bit digits (a qsort of the ~30 000
 * keys of a 500-tree LightGBM model took a third of its load time). 0: out of memory. */
static int sort_keys48(uint64_t *a, int64_t n) {
    uint64_t *tmp = malloc(sizeof *tmp * (size_t)n), *src = a, *dst = tmp;
    if (!tmp)
        return 0;
    int64_t count[4096];
    for (int shift = 0; shift < 48; shift += 12) {
        memset(count, 0, sizeof count);
        for (int64_t i = 0; i < n; ++i)
            count[(src[i] >> shift) & 4095]++;
        int64_t sum = 0;
        for (int d = 0; d < 4096; ++d) {
            int64_t c = count[d];
            count[d] = sum;
            sum += c;
        }
        for (int64_t i = 0; i < n; ++i)
            dst[count[(src[i] >> shift) & 4095]++] = src[i];
        uint64_t *sw = src;
        src = dst;
        dst = sw;
    }
    free(tmp); /* four passes: the result is back in a */
    return 1;
}

/* The ambiguous cells of an le_f64 compact model (trees.h, amb_*): one per distinct
 * (feature, compact threshold) whose float64 threshold is not a float32. */
static mli_status build_ambiguous(const char *origin, mli__trees *t) {
    int64_t n = 0;
    for (int64_t g = 0; g < t->n_nodes; ++g)
        n += t->feature[g] >= 0 && (double)f32_floor(t->threshold[g]) != t->threshold[g];
    if (n == 0)
        return MLI_OK;
    uint64_t *keys = malloc(sizeof(uint64_t) * (size_t)n);
    t->amb_start = calloc((size_t)t->n_features + 1, sizeof(int64_t));
    if (!keys || !t->amb_start)
        goto oom;
    n = 0;
    for (int64_t g = 0; g < t->n_nodes; ++g)
        if (t->feature[g] >= 0 && (double)f32_floor(t->threshold[g]) != t->threshold[g])
            keys[n++] = (uint64_t)t->feature[g] << 32 | f32_bits(le_to_lt(t->threshold[g]));
    if (!sort_keys48(keys, n)) /* feature < 2^15: keys < 2^47 */
        goto oom;
    int64_t u = 0;
    for (int64_t i = 0; i < n; ++i)
        if (u == 0 || keys[i] != keys[u - 1])
            keys[u++] = keys[i];
    t->amb_bits = malloc(sizeof(uint32_t) * (size_t)u);
    /* 32 filter bits per cell (two set per cell: about 1 in 250 values that are in no
     * cell pass the filter), from 128 bits up to 2^24 (2 MiB) */
    int lg = 7;
    while (lg < 24 && ((int64_t)1 << lg) < 32 * u)
        ++lg;
    t->amb_log2 = lg;
    t->amb_filter = calloc((size_t)1 << (lg - 6), sizeof(uint64_t));
    if (!t->amb_bits || !t->amb_filter)
        goto oom;
    for (int64_t i = 0; i < u; ++i) {
        int64_t f = (int64_t)(keys[i] >> 32);
        uint32_t bits = (uint32_t)keys[i];
        t->amb_bits[i] = bits;
        t->amb_start[f + 1]++;
        uint64_t h = mli__amb_hash(f, bits);
        t->amb_filter[h >> (64 - (lg - 6))] |= (1ull << (h & 63)) | (1ull << ((h >> 6) & 63));
    }
    for (int64_t f = 0; f < t->n_features; ++f)
        t->amb_start[f + 1] += t->amb_start[f];
    free(keys);
    keys = NULL;
    /* each cell's extreme thresholds, and the float32 threshold at its lower end (trees.h) */
    t->amb_lo = malloc(sizeof(double) * (size_t)u);
    t->amb_hi = malloc(sizeof(double) * (size_t)u);
    t->amb_exact = calloc((size_t)u, 1);
    if (!t->amb_lo || !t->amb_hi || !t->amb_exact)
        goto oom;
    for (int64_t i = 0; i < u; ++i) {
        t->amb_lo[i] = INFINITY;
        t->amb_hi[i] = -INFINITY;
    }
    for (int64_t g = 0; g < t->n_nodes; ++g) {
        const double thr = t->threshold[g];
        if (t->feature[g] < 0 || !isfinite(thr))
            continue;
        const int exact = (double)f32_floor(thr) == thr;
        const int64_t k =
            mli__amb_find(t, t->feature[g], f32_bits(exact ? nextafterf((float)thr, INFINITY) : le_to_lt(thr)));
        if (k < 0)
            continue;
        if (exact) {
            t->amb_exact[k] = 1;
        } else {
            t->amb_lo[k] = thr < t->amb_lo[k] ? thr : t->amb_lo[k];
            t->amb_hi[k] = thr > t->amb_hi[k] ? thr : t->amb_hi[k];
        }
    }
    return MLI_OK;
oom:
    free(keys);
    return mli__fail(MLI_ERR_OUT_OF_MEMORY, "%s: out of memory for the float64 cells of %lld tree nodes", origin,
                     (long long)t->n_nodes);
}

static mli_status check_tree(const char *origin, int si, mli__trees *t, int32_t tr, uint8_t *parents, int32_t *depth,
                             int32_t *max_depth) {
    int64_t s = t->tree_start[tr], n = t->tree_start[tr + 1] - s;
    memset(parents, 0, (size_t)n);
    *max_depth = 0;
    depth[0] = 0;
    for (int64_t i = 0; i < n; ++i) {
        int64_t g = s + i;
        int32_t f = t->feature[g];
        uint8_t fl = t->flags[g];
        if (i > 0 && parents[i] != 1)
            return mli__fail(MLI_ERR_CORRUPT, "%s: stage %d: tree %d node %lld has %s parent", origin, si, tr,
                             (long long)i, parents[i] ? "more than one" : "no");
        if (depth[i] > *max_depth)
            *max_depth = depth[i];
        if (f == -1) {
            if (t->left[g] != -1 || t->right[g] != -1)
                return mli__fail(MLI_ERR_CORRUPT,
                                 "%s: stage %d: tree %d node %lld is a leaf (feature -1) but has "
                                 "children",
                                 origin, si, tr, (long long)i);
            for (int64_t k = 0; k < t->leaf_width; ++k)
                if (!isfinite(t->value[g * t->leaf_width + k]))
                    return mli__fail(MLI_ERR_CORRUPT, "%s: stage %d: tree %d leaf %lld has a non-finite value", origin,
                                     si, tr, (long long)i);
            continue;
        }
        if (f < 0 || f >= t->n_features)
            return mli__fail(MLI_ERR_CORRUPT, "%s: stage %d: tree %d node %lld splits on feature %d of %lld", origin,
                             si, tr, (long long)i, f, (long long)t->n_features);
        if ((fl & 0x80) || ((fl & MLI__TF_MISSING_MASK) >> 1) > 2)
            return mli__fail(MLI_ERR_CORRUPT, "%s: stage %d: tree %d node %lld has unknown flags 0x%02x", origin, si,
                             tr, (long long)i, fl);
        if (fl & MLI__TF_CATEGORICAL) {
            if (!t->cat_offset)
                return mli__fail(MLI_ERR_CORRUPT,
                                 "%s: stage %d: tree %d node %lld is categorical but the stage has "
                                 "no cat_offset/cat_words/cat_bits sections",
                                 origin, si, tr, (long long)i);
            int64_t off = t->cat_offset[g];
            int32_t words = t->cat_words[g];
            if (off < 0 || words < 0 || off > t->n_cat_words || words > t->n_cat_words - off)
                return mli__fail(MLI_ERR_CORRUPT,
                                 "%s: stage %d: tree %d node %lld: bitset of %d words at %lld lies "
                                 "outside cat_bits (%lld words)",
                                 origin, si, tr, (long long)i, words, (long long)off, (long long)t->n_cat_words);
        } else if (isnan(t->threshold[g])) {
            return mli__fail(MLI_ERR_CORRUPT, "%s: stage %d: tree %d node %lld has a NaN threshold", origin, si, tr,
                             (long long)i);
        }
        int32_t ch[2] = {t->left[g], t->right[g]};
        for (int c = 0; c < 2; ++c) {
            if (ch[c] <= i || ch[c] >= n)
                return mli__fail(MLI_ERR_CORRUPT,
                                 "%s: stage %d: tree %d node %lld: %s child %d is not a later node "
                                 "of the tree (which has %lld)",
                                 origin, si, tr, (long long)i, c ? "right" : "left", ch[c], (long long)n);
            if (parents[ch[c]] < 2)
                parents[ch[c]]++;
            depth[ch[c]] = depth[i] + 1;
            if (depth[i] + 1 > MLI__TREE_MAX_DEPTH)
                return mli__fail(MLI_ERR_CORRUPT, "%s: stage %d: tree %d is deeper than %d levels", origin, si, tr,
                                 MLI__TREE_MAX_DEPTH);
        }
    }
    return MLI_OK;
}

/* check_tree's rules without a branch on whether a node is a leaf (a coin toss for the
 * branch predictor: the branching form took a quarter of a 500-tree model's load). 1: the
 * tree passes; 0: it may not, and check_tree, the reference, finds and names the fault
 * (it also takes the categorical splits, which this one leaves to it). Scratch: cnt and
 * depth of n + 1 entries each (entry n takes the writes of leaves, whose children are -1). */
static int tree_ok(const mli__trees *t, int32_t tr, int32_t *cnt, int32_t *depth, int32_t *max_depth) {
    const int64_t s = t->tree_start[tr];
    const int32_t n = (int32_t)(t->tree_start[tr + 1] - s), nf = (int32_t)t->n_features, lw = (int32_t)t->leaf_width;
    const int32_t *feat = t->feature + s, *left = t->left + s, *right = t->right + s;
    const uint8_t *flags = t->flags + s;
    const double *thr = t->threshold + s, *val = t->value + s * lw;
    memset(cnt, 0, sizeof(int32_t) * ((size_t)n + 1));
    memset(depth, 0, sizeof(int32_t) * ((size_t)n + 1));
    int32_t bad = 0, deepest = 0;
    for (int32_t i = 0; i < n; ++i) {
        const int32_t f = feat[i], l = left[i], r = right[i], d = depth[i];
        const uint32_t fl = flags[i];
        const int32_t leaf = f == -1;
        int32_t finite = 1;
        for (int32_t k = 0; k < lw; ++k)
            finite &= fabs(val[(int64_t)i * lw + k]) <= DBL_MAX;
        const int32_t l_ok = (l > i) & (l < n), r_ok = (r > i) & (r < n);
        const int32_t inner_bad = (f < 0) | (f >= nf) | ((fl & (0x80u | MLI__TF_CATEGORICAL)) != 0) |
                                  (((fl & MLI__TF_MISSING_MASK) >> 1) > 2) | (thr[i] != thr[i]) | !l_ok | !r_ok;
        const int32_t m = -leaf; /* all ones at a leaf */
        bad |= pick32(m, (l != -1) | (r != -1) | !finite, inner_bad);
        deepest = d > deepest ? d : deepest;
        const int32_t li = pick32(m | (l_ok - 1), n, l), ri = pick32(m | (r_ok - 1), n, r);
        cnt[li]++;
        cnt[ri]++;
        depth[li] = d + 1;
        depth[ri] = d + 1;
    }
    for (int32_t i = 1; i < n; ++i) /* one parent each (the children come after their parent: none is the root's) */
        bad |= cnt[i] != 1;
    *max_depth = deepest;
    return !bad && deepest <= MLI__TREE_MAX_DEPTH;
}

/* Lays tree `tr` out in pre-order, left child next to its parent. Returns 0 when a
 * right offset does not fit the compact node. Without branches on whether a node is a
 * leaf (see tree_ok): the pre-order positions come from the subtree sizes (a node's left
 * child follows it, its right child follows the left subtree), and each node's fields are
 * chosen, not branched to. Scratch: pos and size of n + 1 entries (n: the leaves' -1). */
static int compact_tree(mli__trees *t, int32_t tr, int32_t *pos, int32_t *size) {
    const int64_t s = t->tree_start[tr];
    const int32_t n = (int32_t)(t->tree_start[tr + 1] - s), lw = (int32_t)t->leaf_width;
    const int32_t *feat = t->feature + s, *left = t->left + s, *right = t->right + s;
    size[n] = 0;
    for (int32_t i = n - 1; i >= 0; --i) { /* children come after their parent (check_tree) */
        const int32_t m = feat[i] >> 31;   /* all ones at a leaf (feature -1) */
        size[i] = 1 + size[pick32(m, n, left[i])] + size[pick32(m, n, right[i])];
    }
    pos[0] = 0;
    for (int32_t i = 0; i < n; ++i) {
        const int32_t m = feat[i] >> 31, l = pick32(m, n, left[i]);
        pos[l] = pos[i] + 1;
        pos[pick32(m, n, right[i])] = pos[i] + 1 + size[l];
    }
    int32_t far = 0;
    const float nan = NAN;
    uint32_t nan_bits;
    memcpy(&nan_bits, &nan, sizeof nan_bits);
    for (int32_t i = 0; i < n; ++i) {
        const int32_t f = feat[i], m = f >> 31, p = pos[i];
        const uint64_t m64 = (uint64_t)(int64_t)m;
        mli__tnode *nd = &t->fast[s + p];
        const double *src = t->value + (s + i) * lw;
        double *dst = t->fast_value + (s + p) * lw;
        for (int32_t k = 0; k < lw; ++k) { /* an inner node's value is 0 */
            uint64_t v;
            memcpy(&v, &src[k], sizeof v);
            v &= m64;
            memcpy(&dst[k], &v, sizeof v);
        }
        const int32_t off = pos[pick32(m, n, right[i])] - p;
        far |= ~m & (off >= 65536);
        const double thr = t->threshold[s + i];
        const float c = t->compare == MLI__CMP_LT_F32 ? mli__f32_round(thr) : m ? 0.0f : le_to_lt(thr);
        /* Where a NaN goes: the default direction, or (NaN read as zero) where 0 goes,
         * and 0 < c is exactly the node's rule for 0 in either comparison. */
        const uint32_t fl = t->flags[s + i];
        const uint32_t nan_left = (fl & MLI__TF_MISSING_MASK) >> 1 == MLI__MISS_NAN
                                      ? (uint32_t)((fl & MLI__TF_DEFAULT_LEFT) != 0)
                                      : (uint32_t)(0.0f < c);
        const uint32_t fr = (uint32_t)f | (uint32_t)off << 16 | (nan_left ? MLI__TN_NAN_LEFT : 0);
        nd->fr = (uint32_t)pick32(m, 0, (int32_t)fr);
        uint32_t cb = (uint32_t)pick32(m, (int32_t)nan_bits, (int32_t)f32_bits(c));
        memcpy(&nd->thr, &cb, sizeof cb);
    }
    return !far;
}

/* The top levels of compact tree `tr` (see mli__ttop); with `none`, a table of no levels
 * (the walks that read it start from the root). */
static void build_top(const mli__trees *t, int32_t tr, mli__ttop *top, int none) {
    const mli__tnode *base = t->fast + t->tree_start[tr];
    int levels = t->depth[tr] < MLI__TOP_LEVELS ? t->depth[tr] : MLI__TOP_LEVELS;
    if (none)
        levels = 0;
    int inner = (1 << levels) - 1, all = (2 << levels) - 1;
    int32_t at[(2 << MLI__TOP_LEVELS) - 1]; /* compact index at each position, -1 below a higher leaf */
    top->levels = levels;
    at[0] = 0;
    for (int p = 0; p < inner; ++p) {
        int32_t i = at[p];
        if (i >= 0 && base[i].fr != 0) { /* an internal node (a leaf has offset 0) */
            top->thr[p] = base[i].thr;
            top->feat[p] = (int32_t)(base[i].fr & MLI__TN_FEATURE);
            top->featnan[p] = (int32_t)(base[i].fr & (MLI__TN_FEATURE | MLI__TN_NAN_LEFT));
            at[2 * p + 1] = i + 1;
            at[2 * p + 2] = i + (int32_t)(base[i].fr >> 16);
        } else { /* a leaf (or below one): always step right, carrying the leaf down */
            top->thr[p] = NAN;
            top->feat[p] = top->featnan[p] = 0;
            at[2 * p + 1] = -1;
            at[2 * p + 2] = i;
        }
    }
    for (int p = inner; p < (levels > 0 ? 128 : 16); ++p) /* (a table of no levels is never read past 16) */
        top->thr[p] = NAN;
    for (int p = inner; p < all; ++p)
        top->next[p - inner] = at[p] < 0 ? 0 : at[p];
    for (int p = 0; p < 31 && levels > 4; ++p)
        top->at[p] = at[p] < 0 ? 0 : at[p];
    /* The walks load a level's table 16 entries at a time (lut32) and use only the first
     * 2^d: the entries past the used ones that such a load reads are zeroed (never
     * selected, but never uninitialised either); the rest of the 2.1 KB is not touched,
     * which saves a megabyte of writes per 500 trees at load. */
    int tail = inner + 16 < 128 ? inner + 16 : 128;
    for (int p = inner; p < tail; ++p)
        top->feat[p] = top->featnan[p] = 0;
    for (int p = all - inner; p < 16; ++p)
        top->next[p] = 0;
}

/* Lane `k` of the one-row tables (mli__tlanes) from compact tree `tr`, or, with tr < 0, a
 * padding lane: always right, down to node `leaf` (a leaf). */
static void build_lane(const mli__trees *t, int32_t tr, int32_t leaf, mli__tlanes *g, int k) {
    enum { L = MLI__LANE_LEVELS, INNER = (1 << L) - 1 };
    int32_t at[(2 << L) - 1]; /* absolute compact index at each position, -1 below a higher leaf */
    at[0] = tr < 0 ? leaf : (int32_t)t->tree_start[tr];
    const float nan = NAN;
    for (int p = 0; p < INNER; ++p) {
        int32_t i = at[p];
        if (i >= 0 && t->fast[i].fr != 0) { /* an internal node (a leaf has offset 0) */
            memcpy(&g->thr[p][k], &t->fast[i].thr, sizeof(float));
            g->fr[p][k] = (int32_t)t->fast[i].fr;
            at[2 * p + 1] = i + 1;
            at[2 * p + 2] = i + (int32_t)(t->fast[i].fr >> 16);
        } else { /* a leaf (or below one): always step right by 0, carrying the leaf down */
            memcpy(&g->thr[p][k], &nan, sizeof(float));
            g->fr[p][k] = 0;
            at[2 * p + 1] = -1;
            at[2 * p + 2] = i;
        }
    }
    g->root[k] = at[0];
}

/* The one-row tables of every 16 trees (trees.h, lanes). 0: out of memory. */
static int build_lanes(mli__trees *t) {
    if (t->n_nodes > INT32_MAX)
        return 1; /* absolute node indices in int32 lanes: the walks go without */
    int64_t ng = ((int64_t)t->n_trees + 15) / 16;
    if (posix_memalign((void **)&t->lanes, 64, sizeof(mli__tlanes) * (size_t)ng) != 0) {
        t->lanes = NULL;
        return 0;
    }
    for (int64_t g = 0; g < ng; ++g) {
        t->lanes[g].depth = 0;
        memset(t->lanes[g].pad, 0, sizeof t->lanes[g].pad);
    }
    for (int32_t tr = 0; tr < (int32_t)(ng * 16); ++tr) { /* the last node (pre-order) is a leaf */
        build_lane(t, tr < t->n_trees ? tr : -1, (int32_t)(t->n_nodes - 1), &t->lanes[tr / 16], tr % 16);
        if (tr < t->n_trees && t->depth[tr] > t->lanes[tr / 16].depth)
            t->lanes[tr / 16].depth = t->depth[tr];
    }
    return 1;
}

/* Tree `base` (n compact nodes) in leaf order: below[i] the leaves before compact node i
 * (pre-order lists the leaves left to right; below[n] all of them), lv[k] leaf k's compact
 * index. Returns the number of leaves. */
static int32_t leaf_order(const mli__tnode *base, int32_t n, int32_t *below, int32_t *lv) {
    int32_t nl = 0;
    for (int32_t i = 0; i < n; ++i) { /* (written without branches, as the lists below) */
        below[i] = nl;
        lv[nl] = i;
        nl += base[i].fr >> 16 == 0; /* a leaf: offset 0 */
    }
    below[n] = nl;
    return nl;
}

/* The mask lists (mli__tbit, kernel_api.h) of words 0 .. nw - 1 (leaves 32 h .. 32 h + 31)
 * of tree `base`, one after the other at out; len[h] the length of word h's list. Returns
 * the entries written. `out` needs a spare slot past the last entry. */
static int32_t mask_lists(const mli__tnode *base, int32_t n, const int32_t *below, int nw, mli__tbit *out,
                          int32_t *len) {
    int32_t off = 0;
    for (int h = 0; h < nw; ++h) {
        len[h] = 0;
        for (int32_t i = 0; i < n; ++i) {
            /* An inner node (offset o > 0) whose left subtree, compact nodes i + 1 ..
             * i + o - 1, has leaves [a, b) within this word gets an entry. Without
             * branches: every node's entry is written at `off` (hence the spare slot),
             * and only the kept ones advance it. */
            const int32_t o = (int32_t)(base[i].fr >> 16);
            int32_t a = below[i + 1] - 32 * h, b = below[i + o] - 32 * h;
            a = a < 0 ? 0 : a > 32 ? 32 : a;
            b = b > 32 ? 32 : b;
            const int32_t keep = (o != 0) & (a < b), width = keep ? b - a : 0;
            const uint32_t left = (uint32_t)((((uint64_t)1 << width) - 1) << a);
            out[off] = (mli__tbit){.thr = base[i].thr,
                                   .feat = (int32_t)(base[i].fr & (MLI__TN_FEATURE | MLI__TN_NAN_LEFT)),
                                   .mask = ~left};
            off += keep;
            len[h] += keep;
        }
    }
    return off;
}

/* The wide masks' lists (as mask_lists, for nw = 3 .. 8 words): each inner node is listed
 * only in the words its left subtree's leaves reach (most in one), so the lists cost their
 * entries rather than nodes x words at load: a counting pass, then a writing pass. Returns
 * the entries. */
static int32_t wide_lists(const mli__tnode *base, int32_t n, const int32_t *below, int nw, mli__tbit *out,
                          int32_t *len) {
    int32_t at[MLI__TWIDE_LEAVES / 32], e = 0;
    for (int h = 0; h < nw; ++h)
        len[h] = 0;
    for (int32_t i = 0; i < n; ++i) {
        const int32_t o = (int32_t)(base[i].fr >> 16);
        if (o == 0)
            continue;
        for (int32_t h = below[i + 1] >> 5; h <= (below[i + o] - 1) >> 5; ++h)
            ++len[h];
    }
    for (int h = 0; h < nw; ++h) {
        at[h] = e;
        e += len[h];
    }
    for (int32_t i = 0; i < n; ++i) { /* node order within each word, as mask_lists */
        const int32_t o = (int32_t)(base[i].fr >> 16);
        if (o == 0)
            continue;
        const int32_t a = below[i + 1], b = below[i + o]; /* leaves [a, b), a < b */
        for (int32_t h = a >> 5; h <= (b - 1) >> 5; ++h) {
            const int32_t lo = a > 32 * h ? a - 32 * h : 0, hi = b < 32 * h + 32 ? b - 32 * h : 32;
            const uint32_t left = (uint32_t)((((uint64_t)1 << (hi - lo)) - 1) << lo);
            out[at[h]++] = (mli__tbit){.thr = base[i].thr,
                                       .feat = (int32_t)(base[i].fr & (MLI__TN_FEATURE | MLI__TN_NAN_LEFT)),
                                       .mask = ~left};
        }
    }
    return e;
}

/* Merges the entries of one word's list (n of them at e) that test the same condition, the
 * same feature, NaN direction and threshold bits: a row goes right at all of them or at
 * none, so one entry with the AND of their masks changes the row's mask the same way. Trees
 * over one-hot or binned columns repeat conditions (an XGBoost model of the churn pipeline,
 * 12 % of its nodes). The first entry of each condition keeps its place; returns the new
 * length. Lists of over MERGE_SLOTS / 2 entries are left as they are. */
#define MERGE_SLOTS 1024
static int32_t merge_same(mli__tbit *e, int32_t n) {
    uint16_t slot[MERGE_SLOTS]; /* entry + 1 of each condition seen, by hash; 0 empty */
    if (n < 2 || n > MERGE_SLOTS / 2)
        return n;
    memset(slot, 0, sizeof slot);
    int32_t m = 0;
    for (int32_t i = 0; i < n; ++i) {
        uint32_t h = (f32_bits(e[i].thr) * 0x9E3779B1u ^ (uint32_t)e[i].feat * 0x85EBCA77u) >> 22;
        for (;; h = (h + 1) & (MERGE_SLOTS - 1)) {
            mli__tbit *k = slot[h] ? &e[slot[h] - 1] : NULL;
            if (!k) {
                e[m] = e[i];
                slot[h] = (uint16_t)(++m);
                break;
            }
            if (k->feat == e[i].feat && f32_bits(k->thr) == f32_bits(e[i].thr)) {
                k->mask &= e[i].mask;
                break;
            }
        }
    }
    return m;
}

/* merge_same on each of the nw lists at out (lengths len[], updated), moved together again.
 * Returns the entries left. */
static int32_t merge_lists(mli__tbit *out, int nw, int32_t *len) {
    int32_t src = 0, dst = 0;
    for (int h = 0; h < nw; ++h) {
        const int32_t m = merge_same(out + src, len[h]);
        memmove(out + dst, out + src, sizeof(mli__tbit) * (size_t)m);
        src += len[h];
        dst += m;
        len[h] = m;
    }
    return dst;
}

/* Wide masks are kept for a tree when its lists hold at most this many entries per level
 * of its depth: each entry costs 16 rows a load, a compare and a masked AND, where the
 * gather walk costs 16 rows a dependent gather step per level. On the 2-CPU Zen 4 machine
 * (benchmarks/README.md, "Wide leaf masks") 20 to 40 ran alike on two XGBoost depth-8
 * models; a full 256-leaf depth-8 tree (about 310 entries, 39 a level) stays on the walk. */
#define MLI_WIDE_COST 32

/* The leaf-mask form (trees.h, bits) of the trees of at most 64 leaves and, where the ISA's
 * walks take them (max_leaves > 64), the wide masks of trees of up to max_leaves leaves
 * whose lists are short enough for their depth. 0: out of memory. */
static int build_bits(mli__trees *t, int max_leaves) {
    int64_t n_list = 0;
    int32_t n_mask = 0, n_wide = 0;
    for (int32_t tr = 0; tr < t->n_trees; ++tr) {
        int64_t n = t->tree_start[tr + 1] - t->tree_start[tr], nl = (n + 1) / 2; /* a binary tree */
        if (nl <= max_leaves) {
            /* inner nodes, and each word boundary's ancestors once more */
            n_list += n / 2 + (nl + 31) / 32 * t->depth[tr];
            ++n_mask;
            n_wide += nl > MLI__TBIT_LEAVES;
        }
    }
    if (n_mask == 0 || n_list > INT32_MAX)
        return 1;
    t->bits_tree = malloc(sizeof(int32_t) * 3 * (size_t)t->n_trees);
    t->bits_leaf = malloc(sizeof(int32_t) * MLI__TBIT_LEAVES * (size_t)t->n_trees);
    if (!t->bits_tree || !t->bits_leaf ||
        posix_memalign((void **)&t->bits, 64, sizeof(mli__tbit) * ((size_t)n_list + 1)) != 0) { /* +1: spare slot */
        t->bits = NULL;
        return 0;
    }
    /* one value per leaf: also the values by leaf bit, for walks that pick them by permutes */
    if (t->leaf_width == 1 &&
        posix_memalign((void **)&t->bits_val, 64, sizeof(double) * MLI__TBIT_LEAVES * (size_t)t->n_trees) != 0) {
        t->bits_val = NULL;
        return 0;
    }
    if (n_wide > 0) {
        t->wide_tree = calloc((size_t)t->n_trees, sizeof(int32_t) * MLI__TWIDE_STRIDE);
        t->wide_leaf = malloc(sizeof(int32_t) * MLI__TWIDE_LEAVES * (size_t)n_wide);
        if (!t->wide_tree || !t->wide_leaf)
            return 0;
        if (t->leaf_width == 1 &&
            posix_memalign((void **)&t->wide_val, 64, sizeof(double) * MLI__TWIDE_LEAVES * (size_t)n_wide) != 0) {
            t->wide_val = NULL;
            return 0;
        }
    }
    int32_t off = 0, slot = 0;
    for (int32_t tr = 0; tr < t->n_trees; ++tr) {
        const mli__tnode *base = t->fast + t->tree_start[tr];
        int32_t n = (int32_t)(t->tree_start[tr + 1] - t->tree_start[tr]);
        int32_t *leaf = t->bits_leaf + (int64_t)MLI__TBIT_LEAVES * tr;
        t->bits_tree[3 * tr] = off;
        t->bits_tree[3 * tr + 1] = -1;
        t->bits_tree[3 * tr + 2] = 0;
        if (n > 2 * max_leaves - 1)
            continue;
        int32_t below[2 * MLI__TWIDE_LEAVES], lv[MLI__TWIDE_LEAVES + 1], len[MLI__TWIDE_LEAVES / 32];
        const int32_t nl = leaf_order(base, n, below, lv);
        if (nl > MLI__TBIT_LEAVES) { /* wide: kept only where its lists are short for its depth */
            const int nw = (nl + 31) / 32;
            /* written (the bound above has room for every entry), merged, then judged */
            wide_lists(base, n, below, nw, t->bits + off, len);
            const int32_t e = merge_lists(t->bits + off, nw, len);
            if (e > MLI_WIDE_COST * t->depth[tr])
                continue;
            int32_t *wt = t->wide_tree + (int64_t)MLI__TWIDE_STRIDE * tr;
            wt[0] = off;
            wt[1] = nw;
            wt[2] = slot;
            memcpy(wt + 3, len, sizeof(int32_t) * (size_t)nw);
            int32_t *wl = t->wide_leaf + (int64_t)MLI__TWIDE_LEAVES * slot;
            for (int32_t k = 0; k < MLI__TWIDE_LEAVES; ++k) /* past the last leaf: never picked */
                wl[k] = lv[k < nl ? k : nl - 1];
            for (int32_t k = 0; k < MLI__TWIDE_LEAVES && t->wide_val; ++k)
                t->wide_val[(int64_t)MLI__TWIDE_LEAVES * slot + k] = t->fast_value[t->tree_start[tr] + wl[k]];
            off += e;
            ++slot;
            continue;
        }
        memcpy(leaf, lv, sizeof(int32_t) * (size_t)nl);
        for (int32_t k = nl; k < MLI__TBIT_LEAVES; ++k)
            leaf[k] = leaf[nl - 1]; /* never picked: the row's leaf bit stays set */
        for (int32_t k = 0; k < MLI__TBIT_LEAVES && t->bits_val; ++k)
            t->bits_val[(int64_t)MLI__TBIT_LEAVES * tr + k] = t->fast_value[t->tree_start[tr] + leaf[k]];
        /* the low list, then the high one (none up to 32 leaves) */
        mask_lists(base, n, below, nl > 32 ? 2 : 1, t->bits + off, len);
        off += merge_lists(t->bits + off, nl > 32 ? 2 : 1, len);
        t->bits_tree[3 * tr + 1] = len[0];
        /* -1: at most 32 leaves. Above, the high list may be empty (no left subtree reaches
         * leaf 32: the last leaves hang on a right spine) but still counts: a row with no
         * leaf left in the low half ends in the high one. */
        t->bits_tree[3 * tr + 2] = nl > 32 ? len[1] : -1;
    }
    if (slot == 0) { /* no tree kept its wide masks */
        free(t->wide_tree);
        free(t->wide_leaf);
        free(t->wide_val);
        t->wide_tree = t->wide_leaf = NULL;
        t->wide_val = NULL;
    }
    return 1;
}

/* The features with a `<=` split at +inf (trees.h, inf_feature). */
static mli_status mark_inf_features(const char *origin, mli__trees *t) {
    if (t->compare == MLI__CMP_LT_F32) /* float32(x) < float32(+inf): the compact rule itself */
        return MLI_OK;
    for (int64_t g = 0; g < t->n_nodes; ++g) {
        if (t->feature[g] < 0 || t->threshold[g] != INFINITY)
            continue;
        if (!t->inf_feature && !(t->inf_feature = calloc((size_t)t->n_features, 1)))
            return mli__fail(MLI_ERR_OUT_OF_MEMORY, "%s: out of memory for %lld features", origin,
                             (long long)t->n_features);
        t->inf_feature[t->feature[g]] = 1;
    }
    return MLI_OK;
}

/* The linear leaves' sections (trees.h, lin_*): offsets from 0, never decreasing, no terms on
 * an inner node, features inside the input, finite constants and coefficients. */
static mli_status check_linear(const char *origin, int si, const mli__trees *t, int64_t n_terms) {
    if (t->leaf_width != 1)
        return mli__fail(MLI_ERR_CORRUPT, "%s: stage %d: linear leaves need leaf_width 1, not %lld", origin, si,
                         (long long)t->leaf_width);
    for (int32_t tr = 0; tr < t->n_trees; ++tr)
        for (int64_t g = t->tree_start[tr]; g < t->tree_start[tr + 1]; ++g) {
            const int64_t a = t->lin_start[g], b = t->lin_start[g + 1];
            const long long node = (long long)(g - t->tree_start[tr]);
            if (a < 0 || b < a || b > n_terms)
                return mli__fail(MLI_ERR_CORRUPT,
                                 "%s: stage %d: tree %d node %lld: lin_start runs from %lld to %lld, not forward "
                                 "within the %lld terms",
                                 origin, si, tr, node, (long long)a, (long long)b, (long long)n_terms);
            if (t->feature[g] >= 0 && b != a)
                return mli__fail(MLI_ERR_CORRUPT,
                                 "%s: stage %d: tree %d node %lld is not a leaf but has %lld linear terms", origin, si,
                                 tr, node, (long long)(b - a));
            if (!isfinite(t->lin_const[g]))
                return mli__fail(MLI_ERR_CORRUPT, "%s: stage %d: tree %d node %lld has a non-finite lin_const", origin,
                                 si, tr, node);
            for (int64_t k = a; k < b; ++k) {
                if (t->lin_feature[k] < 0 || t->lin_feature[k] >= t->n_features)
                    return mli__fail(MLI_ERR_CORRUPT,
                                     "%s: stage %d: tree %d leaf %lld: linear term %lld reads feature %d of %lld",
                                     origin, si, tr, node, (long long)k, t->lin_feature[k], (long long)t->n_features);
                if (!isfinite(t->lin_coeff[k]))
                    return mli__fail(MLI_ERR_CORRUPT,
                                     "%s: stage %d: tree %d leaf %lld: linear term %lld has a non-finite lin_coeff",
                                     origin, si, tr, node, (long long)k);
            }
        }
    return MLI_OK;
}

#define GET(name, dtype, count, optional, dst)                                                                         \
    do {                                                                                                               \
        const void *p_;                                                                                                \
        snprintf(key, sizeof key, "stage.%d.%s", si, name);                                                            \
        if ((rc = mli__section_array(r, key, dtype, count, optional, &p_)) != MLI_OK)                                  \
            return rc;                                                                                                 \
        dst = p_;                                                                                                      \
    } while (0)

mli_status mli__trees_build(const mli__reader *r, int si, int64_t n_features, mli__trees *t) {
    char key[64];
    mli_status rc;
    int64_t v;
    const char *s;
    memset(t, 0, sizeof *t);
    t->n_features = n_features;
    snprintf(key, sizeof key, "stage.%d.n_trees", si);
    if ((rc = mli__meta_int(r, key, 1, INT32_MAX - 1, &v)) != MLI_OK)
        return rc;
    t->n_trees = (int32_t)v;
    snprintf(key, sizeof key, "stage.%d.n_nodes", si);
    if ((rc = mli__meta_int(r, key, 1, INT64_MAX / 64, &t->n_nodes)) != MLI_OK)
        return rc;
    snprintf(key, sizeof key, "stage.%d.n_out", si);
    if ((rc = mli__meta_int(r, key, 1, MLI__MAX_WIDTH, &t->n_out)) != MLI_OK)
        return rc;
    snprintf(key, sizeof key, "stage.%d.leaf_width", si);
    if ((rc = mli__meta_int(r, key, 1, MLI__MAX_WIDTH, &t->leaf_width)) != MLI_OK)
        return rc;
    if (t->leaf_width != 1 && t->leaf_width != t->n_out)
        return mli__fail(MLI_ERR_CORRUPT, "%s: stage %d: leaf_width %lld is neither 1 nor n_out (%lld)", r->c->origin,
                         si, (long long)t->leaf_width, (long long)t->n_out);
    snprintf(key, sizeof key, "stage.%d.compare", si);
    if ((rc = mli__meta_str(r, key, &s)) != MLI_OK)
        return rc;
    if (strcmp(s, "lt_f32") == 0)
        t->compare = MLI__CMP_LT_F32;
    else if (strcmp(s, "le_f32") == 0)
        t->compare = MLI__CMP_LE_F32;
    else if (strcmp(s, "le_f64") == 0)
        t->compare = MLI__CMP_LE_F64;
    else
        return mli__fail(MLI_ERR_UNSUPPORTED, "%s: stage %d: compare '%.40s' is not lt_f32, le_f32 or le_f64",
                         r->c->origin, si, s);
    snprintf(key, sizeof key, "stage.%d.aggregate", si);
    if ((rc = mli__meta_str(r, key, &s)) != MLI_OK)
        return rc;
    if (strcmp(s, "mean") == 0)
        t->mean = 1;
    else if (strcmp(s, "sum") != 0)
        return mli__fail(MLI_ERR_UNSUPPORTED, "%s: stage %d: aggregate '%.40s' is not sum or mean", r->c->origin, si,
                         s);
    static const char *const checks[] = {"none", "finite32", "finite32_nan", NULL}; /* mli__input_check's order */
    snprintf(key, sizeof key, "stage.%d.input_check", si);
    if ((rc = mli__meta_choice(r, key, checks, 0, &t->input_check)) != MLI_OK)
        return rc;

    int64_t cells;
    if (!mli__mul_ok(t->n_nodes, t->leaf_width, &cells))
        return mli__fail(MLI_ERR_CORRUPT, "%s: stage %d: value size overflows", r->c->origin, si);
    GET("tree_start", MLI__DT_I64, (int64_t)t->n_trees + 1, 0, t->tree_start);
    GET("tree_out", MLI__DT_I32, t->n_trees, t->leaf_width > 1 || t->n_out == 1, t->tree_out);
    GET("feature", MLI__DT_I32, t->n_nodes, 0, t->feature);
    GET("left", MLI__DT_I32, t->n_nodes, 0, t->left);
    GET("right", MLI__DT_I32, t->n_nodes, 0, t->right);
    GET("threshold", MLI__DT_F64, t->n_nodes, 0, t->threshold);
    GET("flags", MLI__DT_U8, t->n_nodes, 0, t->flags);
    GET("value", MLI__DT_F64, cells, 0, t->value);
    GET("leaf_id", MLI__DT_I32, t->n_nodes, 1, t->leaf_id);
    GET("base", MLI__DT_F64, t->n_out, 1, t->base);
    GET("cover", MLI__DT_F64, t->n_nodes, 1, t->cover);
    snprintf(key, sizeof key, "stage.%d.cat_bits", si);
    mli__section *cb = mli__container_find(r->c, key);
    if (cb) {
        t->n_cat_words = (int64_t)(cb->size / 4);
        GET("cat_bits", MLI__DT_I32, t->n_cat_words, 0, t->cat_bits);
        GET("cat_offset", MLI__DT_I64, t->n_nodes, 0, t->cat_offset);
        GET("cat_words", MLI__DT_I32, t->n_nodes, 0, t->cat_words);
    }
    if (t->tree_start[0] != 0 || t->tree_start[t->n_trees] != t->n_nodes)
        return mli__fail(MLI_ERR_CORRUPT, "%s: stage %d: tree_start must run from 0 to n_nodes (%lld)", r->c->origin,
                         si, (long long)t->n_nodes);
    int64_t widest = 0;
    for (int32_t tr = 0; tr < t->n_trees; ++tr) {
        int64_t n = t->tree_start[tr + 1] - t->tree_start[tr];
        if (n < 1 || n > INT32_MAX)
            return mli__fail(MLI_ERR_CORRUPT, "%s: stage %d: tree %d has %lld nodes (tree_start not increasing?)",
                             r->c->origin, si, tr, (long long)n);
        if (t->tree_out && (t->tree_out[tr] < 0 || t->tree_out[tr] >= t->n_out))
            return mli__fail(MLI_ERR_CORRUPT, "%s: stage %d: tree %d adds to score column %d of %lld", r->c->origin, si,
                             tr, t->tree_out[tr], (long long)t->n_out);
        widest = n > widest ? n : widest;
    }
    if (t->leaf_width > 1)
        t->tree_out = NULL;
    GET("lin_start", MLI__DT_I64, t->n_nodes + 1, 1, t->lin_start);
    GET("lin_const", MLI__DT_F64, t->n_nodes, 1, t->lin_const);
    if (!t->lin_start != !t->lin_const)
        return mli__fail(MLI_ERR_CORRUPT, "%s: stage %d: section %s without %s", r->c->origin, si,
                         t->lin_start ? "lin_start" : "lin_const", t->lin_start ? "lin_const" : "lin_start");
    if (t->lin_start) {
        const int64_t n_terms = t->lin_start[t->n_nodes];
        if (t->lin_start[0] != 0 || n_terms < 0)
            return mli__fail(MLI_ERR_CORRUPT, "%s: stage %d: lin_start runs from %lld to %lld, not from 0",
                             r->c->origin, si, (long long)t->lin_start[0], (long long)n_terms);
        GET("lin_feature", MLI__DT_I32, n_terms, n_terms == 0, t->lin_feature);
        GET("lin_coeff", MLI__DT_F64, n_terms, n_terms == 0, t->lin_coeff);
        if ((rc = check_linear(r->c->origin, si, t, n_terms)) != MLI_OK)
            return rc;
    }

    uint8_t *parents = malloc((size_t)widest);
    int32_t *depth = malloc(sizeof(int32_t) * ((size_t)widest + 1)),
            *stack = malloc(sizeof(int32_t) * ((size_t)widest + 1));
    t->depth = malloc(sizeof(int32_t) * (size_t)t->n_trees);
    if (!parents || !depth || !stack || !t->depth) {
        rc = mli__fail(MLI_ERR_OUT_OF_MEMORY, "%s: out of memory checking %d trees", r->c->origin, t->n_trees);
        goto done;
    }
    /* a categorical split, or missing read as zero: no compact form (no branches: every load runs this) */
    int slow = 0;
    for (int64_t g = 0; g < t->n_nodes; ++g)
        slow |= (t->feature[g] >= 0) & (((t->flags[g] & MLI__TF_CATEGORICAL) != 0) |
                                        ((t->flags[g] & MLI__TF_MISSING_MASK) >> 1 == MLI__MISS_ZERO));
    int fast_ok = widest <= 65536 && t->n_features <= (int64_t)MLI__TN_FEATURE + 1 && !slow;
    if (fast_ok) {
        t->fast = malloc(sizeof(mli__tnode) * (size_t)t->n_nodes);
        t->fast_value = malloc(sizeof(double) * (size_t)cells);
        if (!t->fast || !t->fast_value) {
            rc = mli__fail(MLI_ERR_OUT_OF_MEMORY, "%s: out of memory for %lld tree nodes", r->c->origin,
                           (long long)t->n_nodes);
            goto done;
        }
    }
    /* Each tree checked, then laid out in compact form while its arrays are in cache. */
    for (int32_t tr = 0; tr < t->n_trees; ++tr) {
        const int ok = tree_ok(t, tr, stack, depth, &t->depth[tr]);
#ifdef MLI_CROSS_CHECK
        int32_t ref_depth = 0;
        if (ok &&
            (check_tree(r->c->origin, si, t, tr, parents, depth, &ref_depth) != MLI_OK || ref_depth != t->depth[tr]))
            __builtin_trap(); /* tree_ok passed a tree that check_tree refuses */
#endif
        if (!ok && (rc = check_tree(r->c->origin, si, t, tr, parents, depth, &t->depth[tr])) != MLI_OK)
            goto done;
        t->max_depth = t->depth[tr] > t->max_depth ? t->depth[tr] : t->max_depth;
        if (fast_ok)
            fast_ok = compact_tree(t, tr, depth, stack);
    }
    t->needs_f64 = t->compare == MLI__CMP_LE_F64;
    if (t->cover && !t->lin_const && (rc = mli__trees_shap_init(t, r->c->origin, si)) != MLI_OK)
        goto done;
    if (t->fast) {
        if (fast_ok) {
            if (posix_memalign((void **)&t->top, 64, sizeof(mli__ttop) * (size_t)t->n_trees) != 0) {
                t->top = NULL;
                rc = mli__fail(MLI_ERR_OUT_OF_MEMORY, "%s: out of memory for %d trees", r->c->origin, t->n_trees);
                goto done;
            }
            const mli__kernels *kt = mli__get_kernels(); /* NULL: no usable ISA (predict then fails) */
            if (!build_bits(t, kt ? kt->tree_mask_leaves : MLI__TBIT_LEAVES) || !build_lanes(t)) {
                rc = mli__fail(MLI_ERR_OUT_OF_MEMORY, "%s: out of memory for %d trees", r->c->origin, t->n_trees);
                goto done;
            }
            /* Trees with leaf masks take the walks that read these tables only when
             * MLI_TREE_STRATEGY=walk turns the masks off: otherwise theirs has no levels
             * (2 KB a tree not written: a fifth of a 500-tree model's load time). */
            const int walk_only = mli__trees_strategy() == MLI__TS_WALK;
            for (int32_t tr = 0; tr < t->n_trees; ++tr)
                build_top(t, tr, &t->top[tr],
                          !walk_only && t->bits &&
                              (t->bits_tree[3 * tr + 1] >= 0 ||
                               (t->wide_tree && t->wide_tree[(int64_t)MLI__TWIDE_STRIDE * tr + 1] > 0)));
            if (t->needs_f64 && (rc = build_ambiguous(r->c->origin, t)) != MLI_OK)
                goto done;
            if ((rc = mark_inf_features(r->c->origin, t)) != MLI_OK)
                goto done;
        }
        if (!fast_ok) {
            free(t->fast);
            free(t->fast_value);
            t->fast = NULL;
            t->fast_value = NULL;
        }
    }
    rc = MLI_OK;
done:
    free(parents);
    free(depth);
    free(stack);
    return rc;
}
