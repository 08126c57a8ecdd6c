/* kernel_api.h — the contract between the framework (src/) and the per-ISA kernels
 * (kernels/<isa>/). Internal: nothing here is public API. Arguments arrive already
 * validated; kernels never fail and never allocate. */
#ifndef MLI_KERNEL_API_H
#define MLI_KERNEL_API_H

#include <stddef.h>
#include <stdint.h>

/* Activation codes, identical to the public mli_act values. */
enum {
    MLI__ACT_IDENTITY = 0,
    MLI__ACT_RELU = 1,
    MLI__ACT_SIGMOID = 2,
    MLI__ACT_TANH = 3,
    MLI__ACT_GELU = 4,
    MLI__ACT_GELU_TANH = 5,
    MLI__ACT_COUNT = 6
};

/* Rows handled by one pass of the small-m GEMM kernels. */
#define MLI__GEMM_MR 8

/* C = epilogue(alpha * op(A) * op(B) + beta * C) for small m, where
 * epilogue(v) = act(v + bias[j]) (bias may be NULL, act may be identity).
 * op(A)(i, p) = a[i * a_rs + p * a_cs]  (covers both transposes of A)
 * op(B)(p, j) = b[p * ldb + j]          when trans_b == 0
 *             = b[j * ldb + p]          when trans_b == 1
 * beta == 0 means C is write-only. When trans_b == 1, A's rows must be contiguous
 * (a_cs == 1): the framework packs a transposed A first. */
typedef struct mli__gemm_args {
    int64_t m, n, k;
    const float *a;
    int64_t a_rs, a_cs;
    const float *b;
    int64_t ldb;
    int trans_b;
    float alpha, beta;
    float *c;
    int64_t ldc;
    const float *bias;
    int act;
} mli__gemm_args;

typedef void (*mli__gemm_fn)(const mli__gemm_args *args);
typedef void (*mli__act_fn)(const float *x, float *y, int64_t n);
/* In place over one row: y[j] = act(y[j] + bias[j]); bias may be NULL. */
typedef void (*mli__bias_act_fn)(float *y, const float *bias, int64_t n, int act);
/* One row of softmax; x == y allowed. */
typedef void (*mli__softmax_fn)(const float *x, float *y, int64_t cols);

/* A node of the compact tree form (src/trees/trees.h): go left (to the next node) iff
 * x[fr & 0x7fff] < thr, or x is NaN and bit 15 (MLI__TN_NAN_LEFT) is set; else jump
 * fr >> 16 nodes ahead. A leaf has thr = NaN, bit 15 clear and a zero jump, so it is
 * absorbing. For any non-NaN x the bit changes nothing, so walks over blocks without NaN
 * may ignore it (after masking the feature). */
typedef struct mli__tnode {
    float thr;
    uint32_t fr;
} mli__tnode;
#define MLI__TN_FEATURE 0x7fffu
#define MLI__TN_NAN_LEFT 0x8000u

/* Walks `n_trees` compact trees (tree t starts at nodes + start[t] and has depth[t]) for
 * `nb` rows of x (float32, row-major, leading dimension ldx; NaN only when `nan` is set).
 * With `value` NULL it writes each row's final node index, relative to its tree's start,
 * to leaf[t * nb + r]. Otherwise (trees with one value per leaf) it adds the leaf's value,
 * value[start[t] + index], to acc[r * ld_acc + (col ? col[t] : 0)], tree by tree in
 * order for each row, so the float64 sums are the same whichever walk ran. */
/* The top levels of one compact tree (up to MLI__TOP_LEVELS, and no deeper than the
 * tree) as a complete binary tree in level order (node p has children 2p+1 and 2p+2):
 * thresholds and features, padded with always-right nodes (threshold NaN) below leaves
 * that sit higher up, and for each position on the level below, the compact index (from
 * the tree's start) where the walk continues. A level of 2^d nodes is a small table, so
 * vector walks step through these levels with permutes and gather only the feature
 * values. featnan is feat with the node's MLI__TN_NAN_LEFT bit, for walks over NaN. */
#define MLI__TOP_LEVELS 7
typedef struct mli__ttop {
    float thr[128];
    int32_t feat[128];
    int32_t next[128];
    int32_t featnan[128];
    /* The compact index at positions 0 .. 30 (levels 0 to 4) when the table has more than
     * 4 levels (0 below a higher leaf): walks that evaluate only the top few levels from
     * the table continue from here (kernels/avx2/trees.c). */
    int32_t at[31];
    int32_t levels;
} mli__ttop;

/* The top MLI__LANE_LEVELS levels of 16 consecutive compact trees (trees 16g .. 16g + 15,
 * one vector lane each), laid out for walks of one row through 16 trees at once: the
 * positions of those levels in level order (node p has children 2p+1 and 2p+2, padded
 * with always-right nodes below leaves as in mli__ttop), and for each position p, the
 * 16 trees' thresholds (float32 bits) in thr[p] and their whole feature | offset word
 * (mli__tnode.fr: feature, MLI__TN_NAN_LEFT, right offset; 0 for padding) in fr[p];
 * root holds each tree's absolute compact index of its root. A level is then 2^d vector
 * loads merged by the lanes' earlier decisions, with no dependent load, and each lane
 * steps from its root by 1 or by its node's offset at every level (padding: offset 0,
 * always right, so a lane stays on its leaf). Lanes past the last tree hold always-right
 * nodes and start on a leaf. */
#define MLI__LANE_LEVELS 4
typedef struct mli__tlanes {
    int32_t thr[(1 << MLI__LANE_LEVELS) - 1][16];
    int32_t fr[(1 << MLI__LANE_LEVELS) - 1][16];
    int32_t root[16];
    int32_t depth;   /* the deepest of the 16 trees (0 for padding lanes) */
    int32_t pad[15]; /* (the size stays a multiple of 64 bytes) */
} mli__tlanes;

/* An inner node of a compact tree of at most 64 leaves for the leaf-mask walks (QuickScorer's
 * evaluation, tree by tree): number the tree's leaves 0 .. 63 from left to right (its compact
 * pre-order); a row that goes right at a node cannot end in a leaf of its left subtree, so
 * its mask of possible leaves is ANDed with the node's (those leaves' bits clear). After
 * every inner node of the tree, the row's leaf is the lowest bit still set (the leftmost
 * leaf left: each leaf left of it lies in the left subtree of a node where the row went
 * right). The 64-bit masks are kept as two 32-bit halves (a compare's lane width): each
 * tree lists the nodes whose left subtree holds leaves 0 .. 31 with the low half of their
 * mask, then those whose left subtree holds leaves 32 .. 63 with the high half (a node
 * across the boundary, one of the boundary's ancestors, is in both lists). thr and feat as
 * in mli__tnode (feat holds the feature | MLI__TN_NAN_LEFT). */
typedef struct mli__tbit {
    float thr;
    int32_t feat;
    uint32_t mask;
} mli__tbit;
#define MLI__TBIT_LEAVES 64
/* Trees of 65 to MLI__TWIDE_LEAVES leaves take the same evaluation with masks of up to 8
 * words of 32 bits ("wide" masks, where the ISA's walks have them: mli__kernels.
 * tree_mask_leaves): one list of mli__tbit per word, of the nodes whose left subtree holds
 * leaves of that word, in word order. A row's leaf is the lowest set bit of its first
 * nonzero word. Per tree MLI__TWIDE_STRIDE int32 (mli__tree_walk.wide_tree): [0] the offset
 * of its first list in `bits`, [1] the number of words W (0: the tree is walked), [2] its
 * slot s in the leaf tables, [3 .. 3 + W) the lists' lengths. */
#define MLI__TWIDE_LEAVES 256
#define MLI__TWIDE_STRIDE 12

typedef struct mli__tree_walk {
    const mli__tnode *nodes;
    const mli__ttop *top;     /* per tree (indexed like start), or NULL */
    const mli__tlanes *lanes; /* per 16 trees from the first (start[0] a multiple of 16), or NULL */
    const int64_t *start;
    const int32_t *depth;
    int32_t n_trees;
    int nan; /* x may hold NaN: follow each node's MLI__TN_NAN_LEFT */
    const float *x;
    int64_t ldx, nb;
    int64_t nx; /* features per row: x[r * ldx + j] exists for j < nx */
    int32_t *leaf;
    const double *value;
    const int32_t *col;
    double *acc;
    int64_t ld_acc;
    /* Scratch of 16 * ceil(nb / 16) * nx floats, 64-byte aligned, for walks that copy the
     * rows transposed (kernels/avx2 and avx512 trees.c); NULL below 8 rows. */
    float *tile;
    /* Per tree (indexed like start): bits_tree[3 t] the offset in `bits` of its lists
     * (mli__tbit), bits_tree[3 t + 1] the low list's length, or -1 (more than 64 leaves),
     * bits_tree[3 t + 2] the high list's (possibly 0), or -1 (at most 32 leaves, so no row
     * ends in the high half); its leaf k's compact index
     * (from the tree's start) at bits_leaf[MLI__TBIT_LEAVES t + k]. NULL: none. */
    const mli__tbit *bits;
    const int32_t *bits_tree, *bits_leaf;
    /* With `value` (one value per leaf): leaf k's value at bits_val[MLI__TBIT_LEAVES t + k],
     * 64-byte aligned, so that a walk can pick 16 rows' values from registers by permutes
     * rather than two dependent gathers. NULL: none. */
    const double *bits_val;
    /* Wide masks (MLI__TWIDE_STRIDE per tree, indexed like start), or NULL: leaf k of the
     * tree in slot s at compact index wide_leaf[MLI__TWIDE_LEAVES s + k] (from the tree's
     * start), with one value per leaf its value at wide_val[MLI__TWIDE_LEAVES s + k] (else
     * wide_val is NULL); entries past the tree's last leaf repeat it. */
    const int32_t *wide_tree, *wide_leaf;
    const double *wide_val;
} mli__tree_walk;
typedef void (*mli__tree_walk_fn)(const mli__tree_walk *w);
/* The scan of a row for the float32 walks (src/trees/predict.c): y[i] = float32(x[i]) rounded to
 * nearest (mli__f32_round, tree_rules.h) for n values; returns MLI__SCAN_NAN where some x[i]
 * is NaN, | MLI__SCAN_INF where some y[i] is infinite (x[i] infinite, or beyond float32's
 * range: what scikit-learn's trees refuse). */
enum { MLI__SCAN_NAN = 1, MLI__SCAN_INF = 2 };
typedef int (*mli__f64_to_f32_fn)(const double *x, float *y, int64_t n);
/* The same flags for n float32 values. */
typedef int (*mli__f32_scan_fn)(const float *x, int64_t n);
/* y[i] = the smallest float32 >= x[i] (mli__f32_round_up, tree_rules.h), for n values. */
typedef void (*mli__f64_to_f32_up_fn)(const double *x, float *y, int64_t n);
/* One float64 row of n values of a float64 `<=` tree model (src/trees/predict.c): y[i] =
 * mli__f32_round_up(x[i]); returns whether some x[i] is NaN. With a filter (the model's
 * amb_filter of 2^log2 bits, tree_rules.h), sets bit i of cand (ceil(n / 64) words, all
 * written) exactly where y[i] > x[i] and the filter may hold (feature i, y[i]'s bits): the
 * values that may sit in an ambiguous cell, for the caller to look up; NULL filter: none. */
typedef int (*mli__f64_prepass_fn)(const double *x, float *y, int64_t n, const uint64_t *filter, int log2,
                                   uint64_t *cand);

/* A node of the tree-shared walk (kernels/generic/shap_walk.h; src/trees/shap.c, pack_nodes,
 * builds them): a tree's nodes depth first, a node's left child the next record, each with
 * what the walk needs of it in one 64-byte line (the node arrays are breadth first in
 * XGBoost's order and apart) and the part of the path's state that does not depend on the
 * row: the place of the node's feature on the path of distinct features from the root and
 * its q there (the product of the cover ratios of its splits above, 1 where it is new). */
typedef struct mli__shap_rec {
    double threshold;
    double q;        /* inner node: q of its feature above it (1: new on the path) */
    double frac[2];  /* cover(child) / cover(node): left, right */
    int32_t feature; /* -1: a leaf */
    int32_t node;    /* its index in the tree's arrays (categorical bitsets, leaf values) */
    int32_t right;   /* the right child's record (in the tree) */
    int32_t slot;    /* the feature's place on the path (0 .. 63) */
    uint8_t flags;
    uint8_t pad_[15];
} mli__shap_rec;
#ifdef __cplusplus /* (nvcc compiles the CUDA kernels, which include this header, as C++) */
static_assert(sizeof(mli__shap_rec) == 64, "one record per cache line");
#else
_Static_assert(sizeof(mli__shap_rec) == 64, "one record per cache line");
#endif

/* Path-dependent TreeSHAP contributions by the tree-shared quadrature walk (src/trees/shap.c
 * derives it; kernels/generic/shap_walk.h walks it): a tree stage's node records, leaf values
 * and bitsets (src/trees/trees.h, leaves of one value each), the Gauss-Legendre rules of its
 * trees, and rows [0, nb) of float64 or float32 values with leading dimension ldx (a stage
 * with vector leaves: one call per score, value_stride its leaf width, value at that score's
 * first leaf value). Adds each row's contributions times `scale` to out (row r at out + r *
 * ld_out, feature j's share of score k at [j * n_out + k]; the caller zeroes it and writes
 * the bias). scratch: mli__shap_walk_scratch(max_depth) bytes, 64-aligned. */
typedef struct mli__shap_walk {
    const int64_t *tree_start;
    const int32_t *tree_out; /* NULL: every tree adds to score 0 */
    int32_t n_trees, max_depth;
    const mli__shap_rec *nodes; /* the trees' nodes as records, at the arrays' indices (tree_start) */
    const double *value;
    int64_t value_stride; /* node g's leaf value at value[g * value_stride] */
    int32_t value_col;    /* the score it adds to where tree_out is NULL */
    const int64_t *cat_offset;
    const int32_t *cat_words;
    const uint32_t *cat_bits;
    int compare;
    int64_t n_out;
    const uint8_t *tree_m; /* per tree: the points of its Gauss-Legendre rule (1 to MLI__SHAP_MAX_K) */
    const double *gl;      /* the rules on [0, 1]: m points at gl + m (m - 1), then their m weights */
    double scale;
    const void *rows;
    int f64;
    int64_t ldx, nb;
    double *out;
    int64_t ld_out;
    void *scratch;
} mli__shap_walk;
typedef void (*mli__shap_walk_fn)(const mli__shap_walk *w);
/* The rows the walk takes together (its lanes). */
#define MLI__SHAP_LANES 8
/* The most points of one tree's rule (paths of up to 64 distinct features). */
#define MLI__SHAP_MAX_K 32
/* Per level of the tree: P and R (up to MLI__SHAP_MAX_K x lanes each); per place on the
 * path: p (lanes). */
static inline size_t mli__shap_walk_scratch(int32_t max_depth) {
    return sizeof(double) * ((size_t)max_depth + 2) * ((size_t)(2 * MLI__SHAP_MAX_K + 1) * MLI__SHAP_LANES);
}

/* Image resampling (src/image/resample.c). The vertical pass blends `taps` rows of 8-bit
 * samples: out[i] = sum_t w[t] * rows[t][i] for i < n. */
typedef void (*mli__img_vpass_fn)(const uint8_t *const *rows, const float *w, int taps, float *out, int64_t n);
/* The horizontal pass with the normalisation folded in, for n output elements e:
 *   out[e] = (sum_{k < ksize} w[k * n + e] * row[idx[e] + k * step]) * a[e] + b[e]
 * (weights stored tap-major so that lanes read consecutive elements; idx[e] + k * step is
 * inside `row` for every tap, padding taps have weight 0). */
typedef struct mli__img_hpass {
    const float *row;
    const int32_t *idx;
    const float *w;
    int32_t ksize, step;
    const float *a, *b;
    float *out;
    int64_t n;
} mli__img_hpass;
typedef void (*mli__img_hpass_fn)(const mli__img_hpass *h);
/* out[i] = x[i] * a[i] + b[i], from 8-bit samples (u8) or floats (f32). */
typedef void (*mli__img_affine_u8_fn)(const uint8_t *x, const float *a, const float *b, float *out, int64_t n);
typedef void (*mli__img_affine_f32_fn)(const float *x, const float *a, const float *b, float *out, int64_t n);

typedef struct mli__kernels {
    const char *isa;
    /* The most leaves of a tree the batch walks evaluate by leaf masks (mli__tbit):
     * MLI__TBIT_LEAVES, or MLI__TWIDE_LEAVES where the walks take wide masks too. */
    int tree_mask_leaves;
    mli__gemm_fn gemm_small;
    mli__act_fn act[MLI__ACT_COUNT];
    mli__bias_act_fn bias_act;
    mli__softmax_fn softmax;
    mli__tree_walk_fn tree_walk;
    mli__f64_to_f32_fn f64_to_f32;
    mli__f32_scan_fn f32_scan;
    mli__f64_to_f32_up_fn f64_to_f32_up;
    mli__f64_prepass_fn f64_prepass;
    mli__shap_walk_fn shap_walk;
    mli__img_vpass_fn img_vpass;
    mli__img_hpass_fn img_hpass;
    mli__img_affine_u8_fn img_affine_u8;
    mli__img_affine_f32_fn img_affine_f32;
} mli__kernels;

/* Each ISA's file set fills one table. */
void mli__kernels_init_scalar(mli__kernels *t);
#if defined(MLI_X86)
void mli__kernels_init_avx2(mli__kernels *t);
void mli__kernels_init_avx512(mli__kernels *t);
#endif

#endif /* MLI_KERNEL_API_H */
