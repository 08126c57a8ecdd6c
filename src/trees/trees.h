/* trees/trees.h — tree-ensemble stages (docs/FORMAT.md, `trees`): the validated node arrays of
 * the file, and the compact form the fast kernels walk. */
#ifndef MLI_TREE_H
#define MLI_TREE_H

#include <stdatomic.h>
#include <stdint.h>

#include "internal.h"
#include "tree_rules.h" /* kernels/: node flags, missing modes, comparisons */

#define MLI__TREE_MAX_DEPTH 1024

/* Strategy for the compact kernels; see trees/predict.c. */
/* MLI__TS_WALK: the SIMD walks without the leaf masks (mli__tbit), to compare them. */
typedef enum { MLI__TS_AUTO, MLI__TS_GENERIC, MLI__TS_SCALAR, MLI__TS_SIMD, MLI__TS_WALK } mli__tree_strategy;
/* The walk MLI_TREE_STRATEGY forces (read once per process), or MLI__TS_AUTO. */
int mli__trees_strategy(void);

/* Which input values a model without a prep stage refuses, as scikit-learn's estimators
 * validate theirs (check_array): MLI__CHECK_FINITE NaN, +-inf and numbers float32 rounds to
 * +-inf (linear models and MLPs, which compute in float32; GradientBoosting);
 * MLI__CHECK_FINITE_NAN the same but NaN (scikit-learn's trees and forests take their input
 * as float32 and refuse an infinity, but route NaN). */
typedef enum { MLI__CHECK_NONE, MLI__CHECK_FINITE, MLI__CHECK_FINITE_NAN } mli__input_check;

typedef struct mli__trees {
    int64_t n_features, n_nodes, n_out, leaf_width;
    int32_t n_trees;
    int compare, mean;
    /* The stage key input_check (within format 1.5): which rows it refuses when it reads the model's
     * input directly, an mli__input_check (above): none, finite32 (scikit-learn's
     * GradientBoosting: NaN, +-inf and values float32 rounds to +-inf), finite32_nan (its
     * trees and forests: the same but NaN). */
    int input_check;
    const int64_t *tree_start;
    const int32_t *tree_out; /* NULL: all trees add to column 0 (or vector leaves) */
    const int32_t *feature, *left, *right, *leaf_id;
    const double *threshold, *value, *base;
    const uint8_t *flags;
    const int64_t *cat_offset;
    const int32_t *cat_words;
    const uint32_t *cat_bits;
    int64_t n_cat_words;
    /* Linear leaves (format 1.6; lin_const NULL: none, leaf_width 1): leaf g outputs
     * lin_const[g] + lin_coeff[k] * x[lin_feature[k]] summed in order over k in
     * [lin_start[g], lin_start[g + 1]), in float64 — or value[g] when one of those features is
     * NaN (LightGBM's linear_tree). The compact walks find such a stage's leaves only (their
     * leaf-index mode), mli__trees_scores adds the outputs; no covers for TreeSHAP, CPU only. */
    const int64_t *lin_start;
    const double *lin_const, *lin_coeff;
    const int32_t *lin_feature;
    int32_t max_depth;
    /* The compact form, NULL when the model cannot use it (categorical or zero-missing
     * nodes, more than 32768 features or 65536 nodes in one tree): every tree in pre-order with the left child next to its parent; node i
     * holds a float32 threshold t (go left iff float32(x) < t) and feature |
     * nan_left << 15 | right_offset << 16 (kernel_api.h, mli__tnode). Leaves have t = NaN
     * and offset 0, so a walk that reaches one stays there. */
    struct mli__tnode *fast;
    double *fast_value; /* leaf values in compact order, n_nodes x leaf_width */
    int32_t *depth;     /* per tree */
    /* The leaf-mask form of the compact trees of at most 64 leaves (mli__tbit, kernel_api.h;
     * and the lists of the wide masks, below, after them;
     * mli__tree_walk.bits): NULL when no tree has so few, or the CPU's walks do not use it. */
    mli__tbit *bits;
    int32_t *bits_tree, *bits_leaf;
    double *bits_val; /* leaf_width 1: leaf k's value at bits_val[MLI__TBIT_LEAVES t + k] (64-aligned) */
    /* The wide masks of trees of 65 to 256 leaves (mli__tree_walk.wide_tree), or NULL */
    int32_t *wide_tree, *wide_leaf;
    double *wide_val;
    mli__ttop *top;     /* per tree: the top levels for the vector walks */
    mli__tlanes *lanes; /* per 16 trees: the top levels for one-row vector walks, or NULL
                         * (when the node indices do not fit int32) */
    int needs_f64;      /* le_f64: float64 input is rounded up to float32 for `fast` (below) */
    /* The float64 pre-pass of le_f64 models (trees/predict.c): a float64 x rounded up to
     * the float32 c(x) takes every compact `<` node the way float64 `x <= thr` does, except
     * where thr is not a float32 and x lies strictly between the two float32 numbers
     * around thr, i.e. c(x) is the node's compact threshold and c(x) != x. Those compact
     * thresholds ("ambiguous cells") are kept per feature, sorted, as float32 bit
     * patterns: amb_bits[amb_start[f] .. amb_start[f + 1]). amb_filter (2^amb_log2 bits,
     * a blocked Bloom filter over (feature, bits)) answers "certainly not" quickly; a row
     * with a value in a cell is walked again by the generic walk. NULL when no cell. */
    int64_t *amb_start;
    uint32_t *amb_bits;
    uint64_t *amb_filter;
    int amb_log2;
    /* Per cell: the least and greatest float64 thresholds in it (amb_lo, amb_hi), and whether
     * a float32 threshold equal to the cell's lower end has the same compact threshold
     * (amb_exact). A value x in the cell at most amb_lo goes left at every node of the cell:
     * without amb_exact its float32 key becomes the one below (the compact walk then routes it
     * exactly); above amb_hi it goes right at all of them, as its key does. Only a value between
     * two thresholds of one cell, or at most amb_lo with amb_exact, is walked again. */
    double *amb_lo, *amb_hi;
    uint8_t *amb_exact;
    /* Per feature, 1 where a `<=` node splits at +inf (HistGradientBoosting's split of NaN
     * from the rest): its compact `x < +inf` sends x = +inf right where `+inf <= +inf` goes
     * left, so a row with +inf in such a feature is walked again (any dtype). NULL: none. */
    uint8_t *inf_feature;
    /* TreeSHAP (trees/shap.c): the optional per-node cover (training weight reaching the
     * node), checked at load (shap_ok: contributions can be computed), and from it, computed
     * on the first contributions call (mli__trees_shap_ready; shap_state 0: not yet, 1:
     * being computed, 2: done), the expected score per output (bias of the contributions),
     * the fractions and the quadrature rules. Loading does not pay for them. */
    const double *cover;
    int shap_ok;
    atomic_int shap_state;
    double *expected;
    double *frac;     /* per node: cover(node) / cover(parent), 1 for roots */
    int32_t shap_max; /* most distinct features on one root-to-leaf path */
    double *gl;       /* Gauss-Legendre rules on [0, 1] for m = 1 .. (shap_max + 1) / 2 points:
                        * rule m at gl + m (m - 1), its m nodes then its m weights */
    uint8_t *shap_m;  /* per tree: ceil(its most distinct features on a path / 2), at most
                        * 255 (the tree-shared walk's rule), or NULL (out of memory) */
    int shap_lin;     /* the tree-shared walk takes the stage (trees/shap.c, lin_ok) */
    /* the one-row walk's node records (kernel_api.h, mli__shap_rec), or NULL */
    struct mli__shap_rec *shap_nodes;
} mli__trees;

/* The index of cell (feature, bits) in amb_bits, or -1. */
static inline int64_t mli__amb_find(const mli__trees *t, int64_t f, uint32_t bits) {
    int64_t lo = t->amb_start[f], hi = t->amb_start[f + 1];
    while (lo < hi) {
        int64_t mid = lo + (hi - lo) / 2;
        if (t->amb_bits[mid] < bits)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < t->amb_start[f + 1] && t->amb_bits[lo] == bits ? lo : -1;
}

struct mli__reader;
/* Reads and validates stage `i` (a model of n_features inputs) and builds the compact form. */
mli_status mli__trees_build(const struct mli__reader *r, int i, int64_t n_features, mli__trees *t);
void mli__trees_free(mli__trees *t);

/* Scores (n_out doubles per row, ld n_out) for rows [0, nb) of x (float32 or float64,
 * leading dimension ldx). `scratch` holds at least mli__trees_scratch(t, nb) bytes,
 * 64-byte aligned. Returns 1, scores unset, when x holds a value the stage's input_check
 * refuses (the caller finds the row), else 0. */
size_t mli__trees_scratch(const mli__trees *t, int64_t nb);
int mli__trees_scores(const mli__trees *t, const mli__kernels *kt, const void *x, int f64, int64_t ldx, int64_t nb,
                      double *scores, void *scratch);
/* TreeSHAP (trees/shap.c). mli__trees_shap_init checks the covers of a built stage (called
 * by mli__trees_build when the stage has covers); mli__trees_shap_ready computes what the
 * contributions need from them, once, thread-safely (MLI_ERR_OUT_OF_MEMORY naming fn). */
mli_status mli__trees_shap_init(mli__trees *t, const char *origin, int si);
mli_status mli__trees_shap_ready(const mli__trees *t, const char *fn);
/* Frees what mli__trees_shap_ready computed (mli__trees_free calls it). */
void mli__trees_shap_free(mli__trees *t);
/* Path-dependent SHAP contributions of rows [0, nb): out is nb x (n_features + 1) x n_out
 * doubles (feature j's share of score k at [j][k], the bias at [n_features][k]); scratch
 * holds mli__trees_contrib_scratch(t) bytes. Needs mli__trees_shap_ready first. */
size_t mli__trees_contrib_scratch(const mli__trees *t);
void mli__trees_contrib(const mli__trees *t, const mli__kernels *kt, const void *x, int f64, int64_t ldx, int64_t nb,
                        double *out, void *scratch);
/* SHAP interaction values of rows [0, nb): out is nb x (n_features + 1) x (n_features + 1) x
 * n_out, [i][j][k] the interaction of features i and j in score k (i != j), [i][i][k] the
 * main effect, the last row and column zero but for the bias at [F][F]; each row's
 * [i][.][k] sums to contribution i. Same scratch as mli__trees_contrib. */
void mli__trees_interactions(const mli__trees *t, const mli__kernels *kt, const void *x, int f64, int64_t ldx,
                             int64_t nb, double *out, void *scratch);
/* The framework's leaf number for each row and tree, nb x n_trees. */
void mli__trees_apply(const mli__trees *t, const void *x, int f64, int64_t ldx, int64_t nb, int64_t *out);

#endif
