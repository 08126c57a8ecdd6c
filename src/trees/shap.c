/* trees/shap.c — exact path-dependent SHAP contributions of a tree stage (TreeSHAP,
 * Lundberg et al. 2018, "Consistent individualized feature attribution for tree
 * ensembles", Algorithm 2), the quantity XGBoost's pred_contribs, LightGBM's pred_contrib
 * and shap.TreeExplainer(feature_perturbation="tree_path_dependent") compute.
 *
 * For each row and tree the walk visits every node once, keeping the path of distinct
 * features from the root with, per feature j, the fraction of the training cover that
 * reaches the node when the feature is unknown (q_j: the product of cover(child) /
 * cover(node) over its splits on the path) and whether the row itself follows the path
 * (p_j, 0 or 1). Restricted to one leaf of value v, the path-dependent value function is
 * the product game v(S) = v prod_{j in S} p_j prod_{j not in S} q_j, whose Shapley value is
 *
 *     phi_i = v (p_i - q_i) sum_{S} |S|! (n-1-|S|)! / n! prod_{j in S} p_j prod_{rest} q_j
 *           = v (p_i - q_i) integral_0^1 prod_{j != i} (q_j + t (p_j - q_j)) dt,
 *
 * (n features on the path) a polynomial of degree n - 1 in t, integrated exactly by the
 * Gauss-Legendre rule of ceil(n / 2) points, with the products over j != i taken as
 * prefix x suffix (no division). Cost O(leaves x depth^2 / 2) multiplications per tree and
 * row, against the classic TreeSHAP recursion's (Lundberg et al. 2018, Algorithm 2;
 * `MLI_TREESHAP=classic`, kept for measurement) O(leaves x depth^2) with two divisions in
 * each step: 8-15x faster measured (docs/TREES.md, "Contributions"). The same integral
 * form is the basis of Linear TreeSHAP (Yu et al. 2022). By default the integrands are not
 * formed per leaf but summed up the tree ("the tree-shared form" below: a few operations
 * per node), in a kernel per ISA that takes 8 rows per vector; the per-leaf form stays for
 * vector leaves of over 4 scores, very long paths, interactions and MLI_TREESHAP=leaf.
 *
 * The row's own direction at a node is mli__tree_decide, the one decision of the predict
 * walks (missing modes, categorical bitsets, the stage's comparison), so the followed
 * path is exactly the leaf predict reaches, and the contributions plus the bias sum to
 * the raw score.
 *
 * The bias is each tree's expected value, the cover-weighted mean of its leaves computed
 * bottom-up (as XGBoost and shap do: each node the mean of its children weighted by their
 * covers), summed (or averaged, `aggregate=mean`) with the stage's base. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "trees/trees.h"

/* Which algorithm (MLI_TREESHAP, read once, for tests and measurements): 0 the quadrature
 * (default: tree-shared where shap_lin allows, else per leaf), 1 the classic recursion
 * ("classic"), 2 the per-leaf quadrature everywhere ("leaf"). */
enum { SHAP_DEFAULT, SHAP_CLASSIC, SHAP_LEAF };
static int shap_mode(void) {
    static atomic_int cached = -1;
    int s = atomic_load_explicit(&cached, memory_order_relaxed);
    if (s < 0) {
        const char *e = getenv("MLI_TREESHAP");
        s = !e ? SHAP_DEFAULT : strcmp(e, "classic") == 0 ? SHAP_CLASSIC : strcmp(e, "leaf") == 0 ? SHAP_LEAF : 0;
        atomic_store_explicit(&cached, s, memory_order_relaxed);
    }
    return s;
}

/* The m-point Gauss-Legendre rule on [0, 1]: nodes x[0..m), weights w[0..m) (Newton's
 * method on the Legendre polynomial P_m from the usual cosine guesses; exact for
 * polynomials of degree 2m - 1 to rounding). */
static void gauss_legendre(int m, double *x, double *w) {
    const double pi = 3.14159265358979323846;
    for (int i = 0; i < (m + 1) / 2; ++i) {
        double z = cos(pi * ((double)i + 0.75) / ((double)m + 0.5)), dp = 1.0;
        for (int it = 0; it < 100; ++it) {
            double p0 = 1.0, p1 = 0.0;
            for (int j = 1; j <= m; ++j) { /* P_j(z) by the three-term recurrence */
                double p2 = p1;
                p1 = p0;
                p0 = ((2.0 * j - 1.0) * z * p1 - (j - 1.0) * p2) / (double)j;
            }
            dp = (double)m * (z * p0 - p1) / (z * z - 1.0);
            double z1 = z;
            z = z1 - p0 / dp;
            if (fabs(z - z1) <= 1e-16)
                break;
        }
        double wi = 2.0 / ((1.0 - z * z) * dp * dp);
        x[i] = 0.5 * (1.0 - z); /* mapped to [0, 1], symmetric pairs */
        x[m - 1 - i] = 0.5 * (1.0 + z);
        w[i] = w[m - 1 - i] = 0.5 * wi;
    }
}

typedef struct {
    int32_t feature;
    double zero, one, weight;
} path_el;

mli_status mli__trees_shap_init(mli__trees *t, const char *origin, int si) {
    /* One pass without branches (it runs at every load); the node is found again only
     * when a check failed. */
    int bad = 0, zero = 0;
    for (int64_t g = 0; g < t->n_nodes; ++g) {
        double c = t->cover[g];
        bad |= !(c >= 0.0 && c <= 1e300);
        int nonzero = 0; /* a leaf of cover 0 with a score other than 0 */
        for (int64_t k = 0; k < t->leaf_width; ++k)
            nonzero |= t->value[g * t->leaf_width + k] != 0.0;
        zero |= (t->feature[g] < 0) & !(c > 0.0) & nonzero;
    }
    for (int64_t g = 0; g < t->n_nodes && bad; ++g)
        if (!(t->cover[g] >= 0.0 && t->cover[g] <= 1e300))
            return mli__fail(MLI_ERR_CORRUPT, "%s: stage %d: node %lld has the cover %g (not finite and >= 0)", origin,
                             si, (long long)g, t->cover[g]);
    if (zero) {
        /* Subtrees of cover 0 (no training row reached them: CatBoost's leaves of weight 0,
         * often behind two contradicting splits) count 0 in the path-dependent value
         * function, as CatBoost's ShapValues skips them. With their leaves at 0, as every
         * CatBoost trainer writes them, the walks give exactly that (the fractions inside
         * such a subtree are any finite ones: shap_compute). A leaf of cover 0 and another
         * score would count in v(S) where CatBoost's does not, and its rows' contributions
         * could not both match CatBoost and sum to the score: refused for this stage
         * (predict is unaffected). */
        t->cover = NULL;
        return MLI_OK;
    }
    /* the rules for up to min(depth, features) distinct features on a path */
    t->shap_max = t->max_depth < t->n_features ? t->max_depth : (int32_t)t->n_features;
    t->shap_ok = 1;
    atomic_init(&t->shap_state, 0);
    return MLI_OK;
}

void mli__trees_shap_free(mli__trees *t) {
    free(t->shap_nodes);
    t->shap_nodes = NULL;
    free(t->expected);
    free(t->frac);
    free(t->gl);
    free(t->shap_m);
    t->expected = NULL;
    t->frac = NULL;
    t->gl = NULL;
    t->shap_m = NULL;
    t->shap_lin = 0;
}

/* The most distinct features on a path from node i of the tree at s down, with the n
 * features in feat above it (feat has room for max_depth). */
static int path_features(const mli__trees *t, int64_t s, int32_t i, int32_t *feat, int n) {
    const int32_t f = t->feature[s + i];
    if (f < 0)
        return n;
    int j = 0;
    while (j < n && feat[j] != f)
        ++j;
    if (j == n)
        feat[n++] = f;
    const int a = path_features(t, s, t->left[s + i], feat, n), b = path_features(t, s, t->right[s + i], feat, n);
    return a > b ? a : b;
}

/* The records of the subtree of node i of the tree at s (kernel_api.h, mli__shap_rec) from
 * record `at` on, depth first, with the path of n distinct features (feat, their q) above it
 * (room for max_depth each); returns the next free record. q is taken as the walks take it,
 * q x cover ratio split by split, so it has their bits. */
static int32_t pack_nodes(const mli__trees *t, int64_t s, int32_t i, int32_t at, int32_t *feat, double *q, int n) {
    const int64_t g = s + i;
    const int32_t f = t->feature[g];
    mli__shap_rec *nd = t->shap_nodes + s + at;
    *nd = (mli__shap_rec){.threshold = t->threshold[g], .q = 1.0, .feature = f, .node = i, .flags = t->flags[g]};
    if (f < 0)
        return at + 1;
    int j = 0;
    while (j < n && feat[j] != f)
        ++j;
    nd->slot = j;
    nd->q = j < n ? q[j] : 1.0;
    nd->frac[0] = t->frac[s + t->left[g]];
    nd->frac[1] = t->frac[s + t->right[g]];
    feat[j] = f;
    q[j] = nd->q * nd->frac[0];
    nd->right = pack_nodes(t, s, t->left[g], at + 1, feat, q, j < n ? n : n + 1);
    q[j] = nd->q * nd->frac[1];
    const int32_t next = pack_nodes(t, s, t->right[g], nd->right, feat, q, j < n ? n : n + 1);
    q[j] = nd->q;
    return next;
}

/* Whether the tree-shared walk takes the stage: leaves of up to 4 scores, trees of up to 512
 * levels whose rules have at most MLI__SHAP_MAX_K points (paths of up to 64 distinct
 * features). Computed once, with shap_m (shap_compute). */
static int lin_ok(const mli__trees *t) {
    if (t->leaf_width > 4 || t->max_depth > 512 || !t->shap_m)
        return 0;
    for (int32_t tr = 0; tr < t->n_trees; ++tr)
        if (t->shap_m[tr] > MLI__SHAP_MAX_K)
            return 0;
    return 1;
}

/* The expected scores, the per-node fractions and the quadrature rules (trees.h). 0: out
 * of memory (nothing kept). */
static int shap_compute(mli__trees *t) {
    int64_t lw = t->leaf_width, N = t->n_nodes;
    int32_t M = (t->shap_max + 1) / 2;
    double *mean = malloc(sizeof(double) * (size_t)(N * lw));
    t->expected = calloc((size_t)t->n_out, sizeof(double));
    t->frac = malloc(sizeof(double) * (size_t)N);
    t->gl = malloc(sizeof(double) * (size_t)((int64_t)M * (M + 1) + 1));
    if (!mean || !t->expected || !t->frac || !t->gl) {
        free(mean);
        mli__trees_shap_free(t);
        return 0;
    }
    for (int32_t tr = 0; tr < t->n_trees; ++tr) {
        int64_t s = t->tree_start[tr], n = t->tree_start[tr + 1] - s;
        for (int64_t i = n - 1; i >= 0; --i) { /* children come after their parent */
            int64_t g = s + i;
            double *m = mean + g * lw;
            if (t->feature[g] < 0) {
                memcpy(m, t->value + g * lw, sizeof(double) * (size_t)lw);
                continue;
            }
            int64_t l = s + t->left[g], r = s + t->right[g];
            if (!(t->cover[g] > 0.0)) { /* no training row: its leaves score 0 (shap_init), any finite split */
                memset(m, 0, sizeof(double) * (size_t)lw);
                t->frac[l] = t->frac[r] = 0.5;
                continue;
            }
            for (int64_t k = 0; k < lw; ++k)
                m[k] = (t->cover[l] * mean[l * lw + k] + t->cover[r] * mean[r * lw + k]) / t->cover[g];
            t->frac[l] = t->cover[l] / t->cover[g];
            t->frac[r] = t->cover[r] / t->cover[g];
        }
        t->frac[s] = 1.0;
        const double *root = mean + s * lw;
        if (lw == 1)
            t->expected[t->tree_out ? t->tree_out[tr] : 0] += root[0];
        else
            for (int64_t k = 0; k < lw; ++k)
                t->expected[k] += root[k];
    }
    for (int64_t k = 0; k < t->n_out; ++k) {
        if (t->mean)
            t->expected[k] /= (double)t->n_trees;
        if (t->base)
            t->expected[k] += t->base[k];
    }
    free(mean);
    for (int32_t m = 1; m <= M; ++m)
        gauss_legendre(m, t->gl + (int64_t)m * (m - 1), t->gl + (int64_t)m * (m - 1) + m);
    /* each tree's own rule for the tree-shared walk (optional: without it the per-leaf form runs) */
    int32_t *feat = malloc(sizeof(int32_t) * ((size_t)t->max_depth + 1));
    t->shap_m = feat ? malloc((size_t)t->n_trees) : NULL;
    for (int32_t tr = 0; t->shap_m && tr < t->n_trees; ++tr) {
        const int n = path_features(t, t->tree_start[tr], 0, feat, 0);
        t->shap_m[tr] = (uint8_t)((n + 1) / 2 < 255 ? (n + 1) / 2 : 255);
    }
    /* the one-row walk's node records: without them (out of memory), the per-leaf form */
    double *q = lin_ok(t) ? malloc(sizeof(double) * ((size_t)t->max_depth + 1)) : NULL;
    t->shap_nodes = q ? aligned_alloc(64, sizeof(mli__shap_rec) * (size_t)N) : NULL;
    for (int32_t tr = 0; t->shap_nodes && tr < t->n_trees; ++tr)
        pack_nodes(t, t->tree_start[tr], 0, 0, feat, q, 0);
    t->shap_lin = t->shap_nodes != NULL;
    free(q);
    free(feat);
    return 1;
}

mli_status mli__trees_shap_ready(const mli__trees *tc, const char *fn) {
    mli__trees *t = (mli__trees *)(uintptr_t)tc; /* the lazily computed part only (trees.h) */
    for (;;) {
        int st = atomic_load_explicit(&t->shap_state, memory_order_acquire);
        if (st == 2)
            return MLI_OK;
        if (st == 0 && atomic_compare_exchange_strong(&t->shap_state, &st, 1)) {
            int ok = shap_compute(t);
            atomic_store_explicit(&t->shap_state, ok ? 2 : 0, memory_order_release);
            return ok ? MLI_OK
                      : mli__fail(MLI_ERR_OUT_OF_MEMORY, "%s: out of memory for the expected values of %lld nodes", fn,
                                  (long long)t->n_nodes);
        }
        sched_yield(); /* another thread is computing them (once, about 0.1 ms per 30 000 nodes) */
    }
}

/* The one-row walks' scratch bytes (a multiple of 8). */
static size_t quad_scratch(const mli__trees *t) {
    size_t d = (size_t)t->max_depth + 3;
    size_t classic = sizeof(path_el) * (d * (d + 1) / 2 + d);
    /* leaf_quad: 8 x n, or 2 n + 1; leaf_pairs: 2 x n x ceil(n / 2) + ceil(n / 2) */
    size_t quad = sizeof(path_el) * d + sizeof(double) * (8 * d > d * (d + 2) ? 8 * d : d * (d + 2));
    return classic > quad ? classic : quad;
}

/* The one-row walks' part, then walk_block's: the path (features, q, SB x p: (2 + SB) x d
 * doubles) and the prefix products of up to 16 features (16 x 8 x SB). */
enum { SB_LANES = 8 };
size_t mli__trees_contrib_scratch(const mli__trees *t) {
    size_t d = (size_t)t->max_depth + 3;
    size_t quad = quad_scratch(t) + sizeof(double) * ((2 + SB_LANES) * d + 16 * 8 * SB_LANES);
    size_t lin = t->max_depth <= 512 ? mli__shap_walk_scratch(t->max_depth) : 0;
    return quad > lin ? quad : lin; /* the tree-shared walk or the others, never both at once */
}

/* Adds feature `f` to the path of `d` elements (their weights rescaled). */
static void extend(path_el *p, int d, double zero, double one, int32_t f) {
    p[d].feature = f;
    p[d].zero = zero;
    p[d].one = one;
    p[d].weight = d == 0 ? 1.0 : 0.0;
    for (int i = d - 1; i >= 0; --i) {
        p[i + 1].weight += one * p[i].weight * (double)(i + 1) / (double)(d + 1);
        p[i].weight = zero * p[i].weight * (double)(d - i) / (double)(d + 1);
    }
}

/* Removes element k of the path of d + 1 elements (the inverse of extend). */
static void unwind(path_el *p, int d, int k) {
    const double one = p[k].one, zero = p[k].zero;
    double next = p[d].weight;
    for (int i = d - 1; i >= 0; --i) {
        if (one != 0.0) {
            const double tmp = p[i].weight;
            p[i].weight = next * (double)(d + 1) / ((double)(i + 1) * one);
            next = tmp - p[i].weight * zero * (double)(d - i) / (double)(d + 1);
        } else {
            p[i].weight = p[i].weight * (double)(d + 1) / (zero * (double)(d - i));
        }
    }
    for (int i = k; i < d; ++i) {
        p[i].feature = p[i + 1].feature;
        p[i].zero = p[i + 1].zero;
        p[i].one = p[i + 1].one;
    }
}

/* The total weight of the path of d + 1 elements with element k unwound. */
static double unwound_sum(const path_el *p, int d, int k) {
    const double one = p[k].one, zero = p[k].zero;
    double next = p[d].weight, total = 0.0;
    if (one != 0.0) {
        for (int i = d - 1; i >= 0; --i) {
            const double tmp = next * (double)(d + 1) / ((double)(i + 1) * one);
            total += tmp;
            next = p[i].weight - tmp * zero * (double)(d - i) / (double)(d + 1);
        }
    } else {
        for (int i = d - 1; i >= 0; --i)
            total += p[i].weight * (double)(d + 1) / (zero * (double)(d - i));
    }
    return total;
}

typedef struct {
    const mli__trees *t;
    const void *xr;
    int f64;
    int64_t s;   /* the tree's first node */
    int32_t col; /* the score column of a leaf_width-1 tree */
    double scale;
    double *phi; /* (n_features + 1) x n_out */
    /* the classic recursion conditioned on one feature (interactions, as XGBoost's
     * condition / condition_feature): +1 present, -1 absent, 0 not conditioned */
    int condition;
    int32_t cond_feature;
} walk_ctx;

/* Whether the row xr (float64 or float32) goes left at node g on feature f: the one
 * decision of the predict walks (mli__tree_decide), categorical bitsets included. */
static inline int goes_left(const mli__trees *t, int64_t g, const void *xr, int f64, int64_t f) {
    const double xv = f64 ? ((const double *)xr)[f] : (double)((const float *)xr)[f];
    return mli__tree_goes_left(t->compare, t->flags[g], t->cat_words, t->cat_offset, t->cat_bits, g, t->threshold[g],
                               xv);
}

/* Node i of the tree with the path p of d elements before it; the edge into i splits on
 * feature pf with fractions (zero, one). Conditioned on feature cf (c->condition != 0), cf
 * never joins the path: its splits multiply the weight cond instead, by 1 on the row's side
 * and 0 on the other (present) or by the cover fractions (absent). */
static void recurse(const walk_ctx *c, int32_t i, path_el *p, int d, double zero, double one, int32_t pf, double cond) {
    const mli__trees *t = c->t;
    if (cond == 0.0 || (zero == 0.0 && one == 0.0))
        return; /* a path of weight 0 (a subtree no training row reached): adds nothing */
    if (c->condition == 0 || pf != c->cond_feature)
        extend(p, d, zero, one, pf);
    else
        --d; /* the edge of the conditioned feature: no new element */
    const int64_t g = c->s + i;
    const int32_t f = t->feature[g];
    if (f < 0) {
        const double *v = t->value + g * t->leaf_width;
        for (int k = 1; k <= d; ++k) {
            const double w = unwound_sum(p, d, k) * (p[k].one - p[k].zero) * c->scale * cond;
            double *ph = c->phi + (int64_t)p[k].feature * t->n_out;
            if (t->leaf_width == 1)
                ph[c->col] += w * v[0];
            else
                for (int64_t o = 0; o < t->leaf_width; ++o)
                    ph[o] += w * v[o];
        }
        return;
    }
    int left = goes_left(t, g, c->xr, c->f64, f);
    const int32_t hot = left ? t->left[g] : t->right[g], cold = left ? t->right[g] : t->left[g];
    const double hot_zero = t->frac[c->s + hot], cold_zero = t->frac[c->s + cold];
    double in_zero = 1.0, in_one = 1.0;
    int k = 1;
    while (k <= d && p[k].feature != f)
        ++k;
    if (k <= d) { /* the feature split before on this path: merge the two splits */
        in_zero = p[k].zero;
        in_one = p[k].one;
        unwind(p, d, k);
        --d;
    }
    double hot_cond = cond, cold_cond = cond;
    if (c->condition > 0 && f == c->cond_feature) {
        cold_cond = 0.0;
    } else if (c->condition < 0 && f == c->cond_feature) {
        hot_cond *= hot_zero;
        cold_cond *= cold_zero;
    }
    path_el *child = p + d + 1;
    memcpy(child, p, sizeof *p * (size_t)(d + 1));
    recurse(c, hot, child, d + 1, hot_zero * in_zero, in_one, f, hot_cond);
    memcpy(child, p, sizeof *p * (size_t)(d + 1));
    recurse(c, cold, child, d + 1, cold_zero * in_zero, 0.0, f, cold_cond);
}

/* ---- the quadrature form ----------------------------------------------------------------- */

typedef struct {
    walk_ctx c;
    path_el *path; /* n distinct features: feature, q in .zero, p in .one */
    int n;
    double *pre;          /* prefix and suffix products of leaf_quad */
    int64_t inter_stride; /* interactions (leaf_interactions): the output's row length; 0: contributions */
} quad_ctx;

/* Adds v x s to feature f's share of the leaf's score(s). */
static inline void add_share(const quad_ctx *qc, int32_t f, const double *v, double s) {
    const mli__trees *t = qc->c.t;
    double *ph = qc->c.phi + (int64_t)f * t->n_out;
    if (t->leaf_width == 1)
        ph[qc->c.col] += s * v[0];
    else
        for (int64_t o = 0; o < t->leaf_width; ++o)
            ph[o] += s * v[o];
}

/* The leaf's contributions: for each path element j, (p_j - q_j) times the quadrature of
 * prod_{i != j} (q_i + t (p_i - q_i)), the products over i != j as prefix x suffix. The m
 * quadrature points run innermost, padded to K (4 or 8) with zero weights so the running
 * products stay in registers and the K chains interleave. */
static inline void leaf_quad_k(const quad_ctx *qc, int64_t g, const int K) {
    const mli__trees *t = qc->c.t;
    const int n = qc->n, m = (n + 1) / 2;
    const path_el *p = qc->path;
    const double *rule = t->gl + (int64_t)m * (m - 1);
    double x[8], cur[8], *pre = qc->pre; /* n x K prefix products */
    for (int k = 0; k < K; ++k) {
        x[k] = k < m ? rule[k] : 0.5;
        cur[k] = 1.0;
    }
    for (int j = 0; j < n; ++j) {
        const double q = p[j].zero, d = p[j].one - p[j].zero;
        for (int k = 0; k < K; ++k) {
            pre[j * K + k] = cur[k];
            cur[k] *= q + x[k] * d;
        }
    }
    for (int k = 0; k < K; ++k)
        cur[k] = k < m ? rule[m + k] : 0.0; /* now the suffix products, times the weights */
    const double *v = t->value + g * t->leaf_width;
    for (int j = n - 1; j >= 0; --j) {
        const double q = p[j].zero, d = p[j].one - p[j].zero;
        double integral = 0.0;
        for (int k = 0; k < K; ++k) {
            integral += pre[j * K + k] * cur[k];
            cur[k] *= q + x[k] * d;
        }
        add_share(qc, p[j].feature, v, integral * d * qc->c.scale);
    }
}

/* The same for any m, one quadrature point at a time. */
static void leaf_quad_any(const quad_ctx *qc, int64_t g) {
    const mli__trees *t = qc->c.t;
    const int n = qc->n, m = (n + 1) / 2;
    const path_el *p = qc->path;
    const double *x = t->gl + (int64_t)m * (m - 1), *w = x + m;
    double *pre = qc->pre, *acc = pre + n + 1; /* prefix products of one point; integrals */
    for (int j = 0; j < n; ++j)
        acc[j] = 0.0;
    for (int k = 0; k < m; ++k) {
        pre[0] = 1.0;
        for (int j = 0; j < n; ++j)
            pre[j + 1] = pre[j] * (p[j].zero + x[k] * (p[j].one - p[j].zero));
        double suf = w[k];
        for (int j = n - 1; j >= 0; --j) {
            acc[j] += pre[j] * suf;
            suf *= p[j].zero + x[k] * (p[j].one - p[j].zero);
        }
    }
    const double *v = t->value + g * t->leaf_width;
    for (int j = 0; j < n; ++j)
        add_share(qc, p[j].feature, v, acc[j] * (p[j].one - p[j].zero) * qc->c.scale);
}

/* leaf_quad_k for K = 4 (paths of up to 8 distinct features, the common case) with the
 * four running products as named variables, so they stay in registers. */
static void leaf_quad_4(const quad_ctx *qc, int64_t g) {
    const mli__trees *t = qc->c.t;
    const int n = qc->n, m = (n + 1) / 2;
    const path_el *p = qc->path;
    const double *rule = t->gl + (int64_t)m * (m - 1);
    const double x0 = rule[0], x1 = m > 1 ? rule[1] : 0.5, x2 = m > 2 ? rule[2] : 0.5, x3 = m > 3 ? rule[3] : 0.5;
    double c0 = 1.0, c1 = 1.0, c2 = 1.0, c3 = 1.0, *pre = qc->pre;
    for (int j = 0; j < n; ++j) {
        const double q = p[j].zero, d = p[j].one - p[j].zero;
        double *b = pre + 4 * j;
        b[0] = c0;
        b[1] = c1;
        b[2] = c2;
        b[3] = c3;
        c0 *= q + x0 * d;
        c1 *= q + x1 * d;
        c2 *= q + x2 * d;
        c3 *= q + x3 * d;
    }
    c0 = rule[m];
    c1 = m > 1 ? rule[m + 1] : 0.0;
    c2 = m > 2 ? rule[m + 2] : 0.0;
    c3 = m > 3 ? rule[m + 3] : 0.0;
    const double *v = t->value + g * t->leaf_width;
    const double scale = qc->c.scale;
    for (int j = n - 1; j >= 0; --j) {
        const double q = p[j].zero, d = p[j].one - p[j].zero;
        const double *b = pre + 4 * j;
        const double integral = (b[0] * c0 + b[1] * c1) + (b[2] * c2 + b[3] * c3);
        c0 *= q + x0 * d;
        c1 *= q + x1 * d;
        c2 *= q + x2 * d;
        c3 *= q + x3 * d;
        if (d != 0.0)
            add_share(qc, p[j].feature, v, integral * d * scale);
    }
}

static void leaf_quad(const quad_ctx *qc, int64_t g) {
    if (qc->n <= 8)
        leaf_quad_4(qc, g);
    else if (qc->n <= 16)
        leaf_quad_k(qc, g, 8);
    else
        leaf_quad_any(qc, g);
}

static void leaf_interactions(quad_ctx *qc, int64_t g);

static void walk_quad(quad_ctx *qc, int32_t i) {
    const mli__trees *t = qc->c.t;
    const int64_t g = qc->c.s + i;
    const int32_t f = t->feature[g];
    if (f < 0) {
        if (qc->inter_stride == 0 && qc->n > 0)
            leaf_quad(qc, g);
        else if (qc->inter_stride > 0 && qc->n > 1) /* one feature alone interacts with nothing */
            leaf_interactions(qc, g);
        return;
    }
    int left = goes_left(t, g, qc->c.xr, qc->c.f64, f);
    int k = 0;
    while (k < qc->n && qc->path[k].feature != f)
        ++k;
    for (int side = 0; side < 2; ++side) {
        const int32_t child = side ? t->right[g] : t->left[g];
        const double ratio = t->frac[qc->c.s + child], follows = (side == 0) == (left != 0) ? 1.0 : 0.0;
        if (k < qc->n) { /* the feature split before on this path: one element for both */
            const path_el saved = qc->path[k];
            qc->path[k].zero *= ratio;
            qc->path[k].one *= follows;
            walk_quad(qc, child);
            qc->path[k] = saved;
        } else {
            qc->path[qc->n++] = (path_el){.feature = f, .zero = ratio, .one = follows};
            walk_quad(qc, child);
            qc->n--;
        }
    }
}

/* ---- the tree-shared form ------------------------------------------------------------------
 *
 * The per-leaf form pays about 5 n ceil(n / 2) multiplications at each leaf; summing the
 * leaves' integrands up the tree instead shares them. For a feature i that splits once on
 * the leaf's path, phi_i's part of leaf l is (p_i - q_i) x the quadrature of v_l P_l / f_i,
 * where P_l = prod_j f_j, f_j = q_j + x (p_j - q_j). Every leaf below the split's child c has
 * the same f_i, so the split adds (p_c - q_c) x the quadrature of (P_c / f_c) R_c, with
 * R_c = sum_{l below c} v_l P_l / P_c computed bottom-up by R_n = sum_c (P_c / P_n) R_c
 * (P_c / P_n: the child's new factor, or the ratio of i's factors where i split before).
 * When i splits again lower down, that split adds its own term with the new factor and
 * subtracts what the upper split counted for the leaves below it with the old one, so each
 * leaf is counted once with its own (p_i, q_i); where the row already left i's path above
 * (p_prev = 0) the two cancel exactly and nothing is added. The quadrature must be exact for
 * degree n - 1 for the tree's longest path of n distinct features: each tree has its rule
 * of ceil(n / 2) points (shap_m), its lanes padded to 4 or a multiple of 8 with zero
 * weights. The subtracted part integrates a rational function (P_l / f_prev), but with the
 * same points and weights as the upper split did, so the two cancel to rounding. Cost: a few multiply-adds per node, point and row, against the per-leaf form's
 * O(leaves x n x n / 2). The walk is a kernel (kernels/generic/shap_walk.h, one per ISA),
 * 8 rows per vector. Vector leaves (a forest classifier's class fractions) take one walk
 * per score, up to 4 of them; wider vector leaves, paths of more than 64 distinct features
 * or trees deeper than 512 keep the per-leaf form (which does all scores in one walk). */

/* Rows [0, nb) by the tree-shared walk (out zeroed by the caller). */
static void contrib_lin(const mli__trees *t, const mli__kernels *kt, const void *x, int f64, int64_t ldx, int64_t nb,
                        double scale, double *out, void *scratch) {
    mli__shap_walk w = {.tree_start = t->tree_start,
                        .tree_out = t->tree_out,
                        .n_trees = t->n_trees,
                        .max_depth = t->max_depth,
                        .nodes = t->shap_nodes,
                        .value_stride = t->leaf_width,
                        .cat_offset = t->cat_offset,
                        .cat_words = t->cat_words,
                        .cat_bits = t->cat_bits,
                        .compare = t->compare,
                        .n_out = t->n_out,
                        .tree_m = t->shap_m,
                        .gl = t->gl,
                        .scale = scale,
                        .rows = x,
                        .f64 = f64,
                        .ldx = ldx,
                        .nb = nb,
                        .out = out,
                        .ld_out = (t->n_features + 1) * t->n_out,
                        .scratch = scratch};
    for (int64_t o = 0; o < t->leaf_width; ++o) { /* vector leaves: one walk per score */
        w.value = t->value + o;
        w.value_col = (int32_t)o;
        kt->shap_walk(&w);
    }
}

/* ---- a block of rows walking each tree together ------------------------------------------ */

/* The walk and the leaf arithmetic of walk_quad / leaf_quad for SB rows at once: the tree's
 * nodes, the path's features and its q values are the same for every row, only p (0 or 1)
 * differs, so each path element keeps one q and SB p lanes, and the leaf's prefix and
 * suffix products run over the lanes innermost (plain loops of SB doubles, vectorized by
 * the compiler). Each lane does the operations of the one-row walk in the same order, so
 * the results are bit-identical to it (tests/python/test_contrib.py checks). */
enum { SB = SB_LANES };

typedef struct {
    const mli__trees *t;
    const void *xr[SB]; /* the rows */
    int f64;
    int64_t s;
    int32_t col;
    double scale;
    double *phi[SB]; /* the rows' outputs */
    int32_t *feat;   /* the path: n distinct features, */
    double *zero;    /* their q, */
    double *one;     /* and p, n x SB */
    int n;
    double *pre;   /* 16 x 8 x SB prefix products */
    quad_ctx lane; /* one lane's path, for paths over 16 features (leaf_quad_any) */
} block_ctx;

/* Adds the shares sh[l] x v to feature f of each lane whose p - q (d[l]) is not 0, or of
 * every lane (all: leaf_quad_k adds them all). */
static inline void add_shares(const block_ctx *b, int32_t f, const double *v, const double *sh, const double *d,
                              int all) {
    const mli__trees *t = b->t;
    for (int l = 0; l < SB; ++l) {
        if (!all && d[l] == 0.0)
            continue;
        double *ph = b->phi[l] + (int64_t)f * t->n_out;
        if (t->leaf_width == 1)
            ph[b->col] += sh[l] * v[0];
        else
            for (int64_t o = 0; o < t->leaf_width; ++o)
                ph[o] += sh[l] * v[o];
    }
}

/* leaf_quad_4, lane by lane. */
static void block_leaf_4(const block_ctx *b, int64_t g) {
    const mli__trees *t = b->t;
    const int n = b->n, m = (n + 1) / 2;
    const double *rule = t->gl + (int64_t)m * (m - 1);
    const double x0 = rule[0], x1 = m > 1 ? rule[1] : 0.5, x2 = m > 2 ? rule[2] : 0.5, x3 = m > 3 ? rule[3] : 0.5;
    double c0[SB], c1[SB], c2[SB], c3[SB], d[SB], sh[SB], *pre = b->pre;
    for (int l = 0; l < SB; ++l)
        c0[l] = c1[l] = c2[l] = c3[l] = 1.0;
    for (int j = 0; j < n; ++j) {
        const double q = b->zero[j], *p = b->one + j * SB;
        double *bb = pre + 4 * SB * j;
        for (int l = 0; l < SB; ++l) {
            const double dl = p[l] - q;
            bb[l] = c0[l];
            bb[SB + l] = c1[l];
            bb[2 * SB + l] = c2[l];
            bb[3 * SB + l] = c3[l];
            c0[l] *= q + x0 * dl;
            c1[l] *= q + x1 * dl;
            c2[l] *= q + x2 * dl;
            c3[l] *= q + x3 * dl;
        }
    }
    const double w0 = rule[m], w1 = m > 1 ? rule[m + 1] : 0.0, w2 = m > 2 ? rule[m + 2] : 0.0,
                 w3 = m > 3 ? rule[m + 3] : 0.0;
    for (int l = 0; l < SB; ++l) {
        c0[l] = w0;
        c1[l] = w1;
        c2[l] = w2;
        c3[l] = w3;
    }
    const double *v = t->value + g * t->leaf_width;
    const double scale = b->scale;
    for (int j = n - 1; j >= 0; --j) {
        const double q = b->zero[j], *p = b->one + j * SB;
        const double *bb = pre + 4 * SB * j;
        for (int l = 0; l < SB; ++l) {
            d[l] = p[l] - q;
            const double integral =
                (bb[l] * c0[l] + bb[SB + l] * c1[l]) + (bb[2 * SB + l] * c2[l] + bb[3 * SB + l] * c3[l]);
            c0[l] *= q + x0 * d[l];
            c1[l] *= q + x1 * d[l];
            c2[l] *= q + x2 * d[l];
            c3[l] *= q + x3 * d[l];
            sh[l] = integral * d[l] * scale;
        }
        add_shares(b, b->feat[j], v, sh, d, 0);
    }
}

/* leaf_quad_k with K = 8, lane by lane. */
static void block_leaf_8(const block_ctx *b, int64_t g) {
    enum { K = 8 };
    const mli__trees *t = b->t;
    const int n = b->n, m = (n + 1) / 2;
    const double *rule = t->gl + (int64_t)m * (m - 1);
    double x[K], cur[K][SB], d[SB], sh[SB], *pre = b->pre; /* n x K x SB prefix products */
    for (int k = 0; k < K; ++k) {
        x[k] = k < m ? rule[k] : 0.5;
        for (int l = 0; l < SB; ++l)
            cur[k][l] = 1.0;
    }
    for (int j = 0; j < n; ++j) {
        const double q = b->zero[j], *p = b->one + j * SB;
        for (int l = 0; l < SB; ++l)
            d[l] = p[l] - q;
        for (int k = 0; k < K; ++k) {
            double *bb = pre + (j * K + k) * SB;
            for (int l = 0; l < SB; ++l) {
                bb[l] = cur[k][l];
                cur[k][l] *= q + x[k] * d[l];
            }
        }
    }
    for (int k = 0; k < K; ++k) {
        const double wk = k < m ? rule[m + k] : 0.0;
        for (int l = 0; l < SB; ++l)
            cur[k][l] = wk;
    }
    const double *v = t->value + g * t->leaf_width;
    for (int j = n - 1; j >= 0; --j) {
        const double q = b->zero[j], *p = b->one + j * SB;
        double integral[SB];
        for (int l = 0; l < SB; ++l) {
            d[l] = p[l] - q;
            integral[l] = 0.0;
        }
        for (int k = 0; k < K; ++k) {
            const double *bb = pre + (j * K + k) * SB;
            for (int l = 0; l < SB; ++l) {
                integral[l] += bb[l] * cur[k][l];
                cur[k][l] *= q + x[k] * d[l];
            }
        }
        for (int l = 0; l < SB; ++l)
            sh[l] = integral[l] * d[l] * b->scale;
        add_shares(b, b->feat[j], v, sh, d, 1);
    }
}

static void walk_block(block_ctx *b, int32_t i) {
    const mli__trees *t = b->t;
    const int64_t g = b->s + i;
    const int32_t f = t->feature[g];
    if (f < 0) {
        if (b->n == 0)
            return;
        if (b->n <= 8) {
            block_leaf_4(b, g);
        } else if (b->n <= 16) {
            block_leaf_8(b, g);
        } else { /* rare: each lane through the one-row leaf */
            quad_ctx *qc = &b->lane;
            qc->n = b->n;
            for (int l = 0; l < SB; ++l) {
                for (int j = 0; j < b->n; ++j)
                    qc->path[j] = (path_el){.feature = b->feat[j], .zero = b->zero[j], .one = b->one[j * SB + l]};
                qc->c.phi = b->phi[l];
                leaf_quad_any(qc, g);
            }
        }
        return;
    }
    double left[SB];
    for (int l = 0; l < SB; ++l)
        left[l] = goes_left(t, g, b->xr[l], b->f64, f) ? 1.0 : 0.0;
    int k = 0;
    while (k < b->n && b->feat[k] != f)
        ++k;
    for (int side = 0; side < 2; ++side) {
        const int32_t child = side ? t->right[g] : t->left[g];
        const double ratio = t->frac[b->s + child];
        if (k < b->n) { /* the feature split before on this path: one element for both */
            double *p = b->one + k * SB, saved[SB];
            const double zero = b->zero[k];
            b->zero[k] *= ratio;
            for (int l = 0; l < SB; ++l) {
                saved[l] = p[l];
                p[l] *= side ? 1.0 - left[l] : left[l];
            }
            walk_block(b, child);
            b->zero[k] = zero;
            memcpy(p, saved, sizeof saved);
        } else {
            double *p = b->one + b->n * SB;
            b->feat[b->n] = f;
            b->zero[b->n] = ratio;
            for (int l = 0; l < SB; ++l)
                p[l] = side ? 1.0 - left[l] : left[l];
            b->n++;
            walk_block(b, child);
            b->n--;
        }
    }
}

void mli__trees_contrib(const mli__trees *t, const mli__kernels *kt, const void *x, int f64, int64_t ldx, int64_t nb,
                        double *out, void *scratch) {
    const size_t es = f64 ? sizeof(double) : sizeof(float);
    const int64_t width = (t->n_features + 1) * t->n_out;
    const double scale = t->mean ? 1.0 / (double)t->n_trees : 1.0;
    const int classic = shap_mode() == SHAP_CLASSIC;
    const size_t d = (size_t)t->max_depth + 3;
    double *pre = (double *)(void *)((path_el *)scratch + d);
    int64_t r = 0;
    if (shap_mode() == SHAP_DEFAULT && t->shap_lin) {
        memset(out, 0, sizeof(double) * (size_t)(nb * width));
        contrib_lin(t, kt, x, f64, ldx, nb, scale, out, scratch);
        for (; r < nb; ++r)
            memcpy(out + r * width + t->n_features * t->n_out, t->expected, sizeof(double) * (size_t)t->n_out);
        return;
    }
    if (!classic && nb >= SB) {
        double *bs = (double *)(void *)((char *)scratch + quad_scratch(t)); /* after the one-row walk's part */
        block_ctx b = {.t = t,
                       .f64 = f64,
                       .scale = scale,
                       .feat = (int32_t *)(void *)bs,
                       .zero = bs + d,
                       .one = bs + 2 * d,
                       .pre = bs + (2 + SB) * d};
        b.lane = (quad_ctx){.c = {.t = t, .scale = scale}, .path = scratch, .pre = pre};
        for (; r + SB <= nb; r += SB) {
            for (int l = 0; l < SB; ++l) {
                b.xr[l] = (const char *)x + (size_t)((r + l) * ldx) * es;
                b.phi[l] = out + (r + l) * width;
                memset(b.phi[l], 0, sizeof(double) * (size_t)width);
            }
            for (int32_t tr = 0; tr < t->n_trees; ++tr) {
                b.s = b.lane.c.s = t->tree_start[tr];
                b.col = b.lane.c.col = t->tree_out ? t->tree_out[tr] : 0;
                if (t->feature[b.s] >= 0) /* a single leaf explains nothing: only the bias */
                    walk_block(&b, 0);
            }
            for (int l = 0; l < SB; ++l)
                memcpy(b.phi[l] + t->n_features * t->n_out, t->expected, sizeof(double) * (size_t)t->n_out);
        }
    }
    for (; r < nb; ++r) { /* the rows after the last whole block, or all of them (classic) */
        double *phi = out + r * width;
        memset(phi, 0, sizeof(double) * (size_t)width);
        walk_ctx c = {.t = t, .xr = (const char *)x + (size_t)(r * ldx) * es, .f64 = f64, .scale = scale, .phi = phi};
        for (int32_t tr = 0; tr < t->n_trees; ++tr) {
            c.s = t->tree_start[tr];
            c.col = t->tree_out ? t->tree_out[tr] : 0;
            if (t->feature[c.s] < 0) /* a single leaf explains nothing: only the bias */
                continue;
            if (classic) {
                recurse(&c, 0, scratch, 0, 1.0, 1.0, -1, 1.0);
            } else {
                quad_ctx qc = {.c = c, .path = scratch, .n = 0, .pre = pre};
                walk_quad(&qc, 0);
            }
        }
        memcpy(phi + t->n_features * t->n_out, t->expected, sizeof(double) * (size_t)t->n_out);
    }
}

/* ---- interactions ------------------------------------------------------------------------ */

/* SHAP interaction values (XGBoost's pred_interactions, shap's shap_interaction_values):
 * phi_ij, i != j, is half the difference between i's contribution with j conditioned
 * present (j leaves the players and the leaf weight is multiplied by p_j) and conditioned
 * absent (multiplied by q_j). In the product game of one leaf both terms are Shapley values
 * of the game without j, so
 *
 *     phi_ij = v / 2 (p_i - q_i) (p_j - q_j) integral_0^1 prod_{k != i, j} (q_k + t (p_k - q_k)) dt,
 *
 * symmetric in i and j, and 0 when j is not on the leaf's path (both conditionings then
 * leave the game unchanged). The integrand has degree n - 2: the rule of floor(n / 2)
 * points is exact. Per pair i < j the product over k != i, j is prefix(i) x (the running
 * product over i < k < j) x suffix(j), one value per quadrature point, written to [i][j]
 * and [j][i] alike: about n^2 / 2 x m multiply-adds per leaf. */
static void leaf_interactions(quad_ctx *qc, int64_t g) {
    const mli__trees *t = qc->c.t;
    const int n = qc->n, m = n / 2;
    const path_el *p = qc->path;
    const double *x = t->gl + (int64_t)m * (m - 1), *w = x + m;
    double *pre = qc->pre, *suf = pre + n * m, *mid = suf + n * m; /* n x m, n x m, m */
    for (int k = 0; k < m; ++k) {
        double a = 1.0, b = w[k];
        for (int j = 0; j < n; ++j) {
            pre[j * m + k] = a;
            a *= p[j].zero + x[k] * (p[j].one - p[j].zero);
            const int r = n - 1 - j;
            suf[r * m + k] = b;
            b *= p[r].zero + x[k] * (p[r].one - p[r].zero);
        }
    }
    const double *v = t->value + g * t->leaf_width;
    const int64_t stride = qc->inter_stride, K = t->n_out;
    for (int i = 0; i + 1 < n; ++i) {
        const double di = p[i].one - p[i].zero;
        if (di == 0.0)
            continue;
        for (int k = 0; k < m; ++k)
            mid[k] = pre[i * m + k];
        for (int j = i + 1; j < n; ++j) {
            const double dj = p[j].one - p[j].zero;
            double integral = 0.0;
            for (int k = 0; k < m; ++k) {
                integral += mid[k] * suf[j * m + k];
                mid[k] *= p[j].zero + x[k] * dj;
            }
            const double sc = 0.5 * di * dj * integral * qc->c.scale;
            if (dj == 0.0)
                continue;
            double *ij = qc->c.phi + (int64_t)p[i].feature * stride + (int64_t)p[j].feature * K;
            double *ji = qc->c.phi + (int64_t)p[j].feature * stride + (int64_t)p[i].feature * K;
            if (t->leaf_width == 1) {
                ij[qc->c.col] += sc * v[0];
                ji[qc->c.col] += sc * v[0];
            } else {
                for (int64_t o = 0; o < t->leaf_width; ++o) {
                    ij[o] += sc * v[o];
                    ji[o] += sc * v[o];
                }
            }
        }
    }
}

/* The classic form (MLI_TREESHAP=classic), XGBoost's way: for each feature j the tree
 * splits on, the recursion conditioned on j present and on j absent, half their difference
 * added to row j. Kept as the reference and for measurement: 2 x (features in the tree)
 * recursions per tree and row. */
static void tree_interactions_classic(walk_ctx *c, int32_t tr, int64_t row_stride, void *scratch) {
    const mli__trees *t = c->t;
    const int64_t s = t->tree_start[tr], e = t->tree_start[tr + 1];
    double *const rows = c->phi;
    const double scale = c->scale;
    for (int64_t g = s; g < e; ++g) {
        const int32_t f = t->feature[g];
        int64_t h = s;
        while (h < g && t->feature[h] != f)
            ++h;
        if (f < 0 || h < g) /* a leaf, or a feature done at its first split */
            continue;
        c->cond_feature = f;
        c->phi = rows + (int64_t)f * row_stride;
        for (int cond = 1; cond >= -1; cond -= 2) {
            c->condition = cond;
            c->scale = 0.5 * (double)cond * scale;
            recurse(c, 0, scratch, 0, 1.0, 1.0, -1, 1.0);
        }
    }
    c->condition = 0;
    c->phi = rows;
    c->scale = scale;
}

void mli__trees_interactions(const mli__trees *t, const mli__kernels *kt, const void *x, int f64, int64_t ldx,
                             int64_t nb, double *out, void *scratch) {
    const size_t es = f64 ? sizeof(double) : sizeof(float);
    const int64_t F = t->n_features, K = t->n_out, row_stride = (F + 1) * K, width = (F + 1) * row_stride;
    const double scale = t->mean ? 1.0 / (double)t->n_trees : 1.0;
    const int classic = shap_mode() == SHAP_CLASSIC;
    const size_t d = (size_t)t->max_depth + 3;
    double *pre = (double *)(void *)((path_el *)scratch + d);
    for (int64_t r = 0; r < nb; ++r) {
        const void *xr = (const char *)x + (size_t)(r * ldx) * es;
        double *phi = out + r * width, *last = phi + F * row_stride;
        /* the contributions go to the last row first (its own values are written at the end) */
        memset(phi, 0, sizeof(double) * (size_t)(F * row_stride));
        mli__trees_contrib(t, kt, xr, f64, ldx, 1, last, scratch);
        walk_ctx c = {.t = t, .xr = xr, .f64 = f64, .scale = scale, .phi = phi};
        for (int32_t tr = 0; tr < t->n_trees; ++tr) {
            c.s = t->tree_start[tr];
            c.col = t->tree_out ? t->tree_out[tr] : 0;
            if (t->feature[c.s] < 0)
                continue;
            if (classic) {
                tree_interactions_classic(&c, tr, row_stride, scratch);
                continue;
            }
            quad_ctx qc = {.c = c, .path = scratch, .n = 0, .pre = pre, .inter_stride = row_stride};
            walk_quad(&qc, 0);
        }
        /* the diagonal: phi_i less the row's interactions (row i's own entry is still 0) */
        for (int64_t i = 0; i < F; ++i) {
            double *row = phi + i * row_stride;
            for (int64_t k = 0; k < K; ++k) {
                double s = 0.0;
                for (int64_t j = 0; j < F; ++j)
                    s += row[j * K + k];
                row[i * K + k] = last[i * K + k] - s;
            }
        }
        /* the bias row and column: only [F][F], the expected score */
        memset(last, 0, sizeof(double) * (size_t)(F * K));
    }
}
