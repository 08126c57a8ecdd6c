/* trees/shap.c — exact path-dependent SHAP contributions of a tree stage (TreeSHAP,
 * Lundberg et al. 2018, "Consistent individualized feature attribution for tree
 * ensembles", Algorithm 2), the quantity XGBoost's pred_contribs, LightGBM's pred_contrib
 * and shap.TreeExplainer(feature_perturbation="tree_path_dependent") compute.
 *
 * For each row and tree the walk visits every node once, keeping the path of unique
 * features from the root with, per feature, the fraction of the training cover that
 * reaches the node when the feature is unknown (zero fraction: cover(child) /
 * cover(node) at each of its splits) and whether the row itself follows the path (one
 * fraction). At a leaf each feature on the path gets the leaf value times the Shapley
 * weight of the path with that feature "unwound". Cost O(leaves x depth^2) per tree and
 * row. The row's own direction at a node is mli__tree_decide, the one decision of the
 * predict walks (missing modes, categorical bitsets, the stage's comparison), so the hot
 * path is exactly the leaf predict reaches, and the contributions plus the bias sum to
 * the raw score.
 *
 * The bias is each tree's expected value, the cover-weighted mean of its leaves computed
 * bottom-up (as XGBoost and shap do: each node the mean of its children weighted by their
 * covers), summed (or averaged, `aggregate=mean`) with the stage's base. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "trees/trees.h"

typedef struct {
    int32_t feature;
    double zero, one, weight;
} path_el;

mli_status mli__trees_shap_init(mli__trees *t, const char *origin, int si) {
    int64_t lw = t->leaf_width, N = t->n_nodes;
    for (int64_t g = 0; g < N; ++g) {
        double c = t->cover[g];
        if (!(c >= 0.0 && c <= 1e300))
            return mli__fail(MLI_ERR_CORRUPT, "%s: stage %d: node %lld has the cover %g (not finite and >= 0)", origin,
                             si, (long long)g, c);
    }
    double *mean = malloc(sizeof(double) * (size_t)(N * lw));
    t->expected = calloc((size_t)t->n_out, sizeof(double));
    if (!mean || !t->expected) {
        free(mean);
        return mli__fail(MLI_ERR_OUT_OF_MEMORY, "%s: out of memory for the expected values of %lld nodes", origin,
                         (long long)N);
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
            if (!(t->cover[g] > 0.0)) {
                /* the children's shares cover(child) / cover(node) would be 0/0 */
                t->cover = NULL;
                free(t->expected);
                t->expected = NULL;
                free(mean);
                return MLI_OK; /* contributions are refused for this stage; predict is unaffected */
            }
            for (int64_t k = 0; k < lw; ++k)
                m[k] = (t->cover[l] * mean[l * lw + k] + t->cover[r] * mean[r * lw + k]) / t->cover[g];
        }
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
    return MLI_OK;
}

size_t mli__trees_contrib_scratch(const mli__trees *t) {
    size_t d = (size_t)t->max_depth + 3;
    return sizeof(path_el) * (d * (d + 1) / 2 + d);
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
} walk_ctx;

/* Node i of the tree with the path p of d elements before it; the edge into i splits on
 * feature pf with fractions (zero, one). */
static void recurse(const walk_ctx *c, int32_t i, path_el *p, int d, double zero, double one, int32_t pf) {
    const mli__trees *t = c->t;
    extend(p, d, zero, one, pf);
    const int64_t g = c->s + i;
    const int32_t f = t->feature[g];
    if (f < 0) {
        const double *v = t->value + g * t->leaf_width;
        for (int k = 1; k <= d; ++k) {
            const double w = unwound_sum(p, d, k) * (p[k].one - p[k].zero) * c->scale;
            double *ph = c->phi + (int64_t)p[k].feature * t->n_out;
            if (t->leaf_width == 1)
                ph[c->col] += w * v[0];
            else
                for (int64_t o = 0; o < t->leaf_width; ++o)
                    ph[o] += w * v[o];
        }
        return;
    }
    const double xv = c->f64 ? ((const double *)c->xr)[f] : (double)((const float *)c->xr)[f];
    const unsigned fl = t->flags[g];
    const uint32_t words = (fl & MLI__TF_CATEGORICAL) ? (uint32_t)t->cat_words[g] : 0;
    int64_t cat;
    int left = mli__tree_decide(t->compare, fl, words, t->threshold[g], xv, &cat);
    if (left < 0)
        left = (int)((t->cat_bits[t->cat_offset[g] + (cat >> 5)] >> (cat & 31)) & 1u);
    const int32_t hot = left ? t->left[g] : t->right[g], cold = left ? t->right[g] : t->left[g];
    const double w = t->cover[g];
    const double hot_zero = t->cover[c->s + hot] / w, cold_zero = t->cover[c->s + cold] / w;
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
    path_el *child = p + d + 1;
    memcpy(child, p, sizeof *p * (size_t)(d + 1));
    recurse(c, hot, child, d + 1, hot_zero * in_zero, in_one, f);
    memcpy(child, p, sizeof *p * (size_t)(d + 1));
    recurse(c, cold, child, d + 1, cold_zero * in_zero, 0.0, f);
}

void mli__trees_contrib(const mli__trees *t, const void *x, int f64, int64_t ldx, int64_t nb, double *out,
                        void *scratch) {
    const size_t es = f64 ? sizeof(double) : sizeof(float);
    const int64_t width = (t->n_features + 1) * t->n_out;
    const double scale = t->mean ? 1.0 / (double)t->n_trees : 1.0;
    for (int64_t r = 0; r < nb; ++r) {
        double *phi = out + r * width;
        memset(phi, 0, sizeof(double) * (size_t)width);
        walk_ctx c = {.t = t, .xr = (const char *)x + (size_t)(r * ldx) * es, .f64 = f64, .scale = scale, .phi = phi};
        for (int32_t tr = 0; tr < t->n_trees; ++tr) {
            c.s = t->tree_start[tr];
            c.col = t->tree_out ? t->tree_out[tr] : 0;
            if (t->feature[c.s] >= 0) /* a single leaf explains nothing: only the bias */
                recurse(&c, 0, scratch, 0, 1.0, 1.0, -1);
        }
        memcpy(phi + t->n_features * t->n_out, t->expected, sizeof(double) * (size_t)t->n_out);
    }
}
