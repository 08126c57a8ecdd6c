/* tree_rules.h — the one home of the tree comparison rules (docs/FORMAT.md, `trees`): node
 * flags, missing modes, comparison kinds, float32 rounding and the decision of one node.
 * Included by the C engine (src/trees/) and the CUDA kernel (kernels/cuda/tree_row.cuh),
 * so the host walk, its GPU twin and the compact-form builder cannot drift apart. */
#ifndef MLI_TREE_RULES_H
#define MLI_TREE_RULES_H

#include <math.h>
#include <stdint.h>

#ifdef __CUDACC__
#define MLI__TREE_FN __host__ __device__ __forceinline__
#else
#define MLI__TREE_FN static inline
#endif

/* How a split compares: XGBoost float32 `x < t`; scikit-learn float32(x) <= float64 t;
 * LightGBM and HistGradientBoosting float64 `x <= t`. Values stored in the file. */
enum { MLI__CMP_LT_F32 = 0, MLI__CMP_LE_F32 = 1, MLI__CMP_LE_F64 = 2 };
/* Per-node flags (uint8 in the file). */
enum {
    MLI__TF_DEFAULT_LEFT = 1,
    MLI__TF_MISSING_MASK = 6, /* bits 1-2: an MLI__MISS_* mode */
    MLI__TF_CATEGORICAL = 8,
    MLI__TF_OOR_MISSING = 16, /* a category outside the bitset follows the missing direction */
    MLI__TF_WHOLE_ONLY = 32,  /* a non-integral value is out of range */
    MLI__TF_NEGATIVE_OUT = 64 /* a negative value is out of range */
};
/* Missing modes: NaN is missing; NaN is read as 0; 0 (|x| <= 1e-35) and NaN are missing. */
enum { MLI__MISS_NAN = 0, MLI__MISS_NAN_AS_ZERO = 1, MLI__MISS_ZERO = 2 };
#define MLI__TREE_ZERO_EPS ((double)1e-35f) /* LightGBM's kZeroThreshold */

/* float32(v) rounded to nearest as a conversion would, with infinities beyond the float
 * range and no undefined behaviour there (C leaves out-of-range conversions undefined). */
MLI__TREE_FN float mli__f32_round(double v) {
#ifdef __CUDA_ARCH__
    return __double2float_rn(v);
#else
    if (v > 3.4028234663852886e38)
        return v >= 3.4028235677973366e38 ? INFINITY : 3.4028234663852886e38f;
    if (v < -3.4028234663852886e38)
        return v <= -3.4028235677973366e38 ? -INFINITY : -3.4028234663852886e38f;
    return (float)v;
#endif
}

/* The filter of float64 `<=` models' ambiguous cells (src/trees/trees.h, amb_filter): the
 * hash of (feature, float32 bits) gives a word (its top log2 - 6 bits) and two bits in it
 * (its low 12). Here so that the kernels' pre-passes hash as the builder does. */
MLI__TREE_FN uint64_t mli__amb_hash(int64_t feature, uint32_t bits) {
    uint64_t h = ((uint64_t)bits | (uint64_t)feature << 32) * 0x9E3779B97F4A7C15ull;
    return h ^ (h >> 29);
}
MLI__TREE_FN int mli__amb_filter_maybe(const uint64_t *filter, int log2, int64_t feature, uint32_t bits) {
    uint64_t h = mli__amb_hash(feature, bits);
    uint64_t w = filter[h >> (64 - (log2 - 6))];
    uint64_t m = (1ull << (h & 63)) | (1ull << ((h >> 6) & 63));
    return (w & m) == m;
}

/* The smallest float32 >= v (NaN stays NaN): float64 input of `le_f64` models is rounded
 * this way for the compact walks (src/trees/predict.c). Branch-free, so loops vectorize;
 * no out-of-range conversion (beyond the float range: +inf above, -FLT_MAX below). */
MLI__TREE_FN float mli__f32_round_up(double v) {
#ifdef __CUDA_ARCH__
    return __double2float_ru(v);
#else
    double c = v > 3.4028234663852886e38 ? (double)INFINITY : v;
    c = c < -3.4028234663852886e38 && c != -(double)INFINITY ? -3.4028234663852886e38 : c;
    union {
        float f;
        uint32_t u;
    } r;
    r.f = (float)c; /* to nearest: one float32 step below c at most */
    const uint32_t step = (double)r.f < c;
    r.u += step - 2u * (step & (r.u >> 31)); /* one step up: +1 above zero, -1 below (never -0.0) */
    return r.f;
#endif
}

/* The decision of one non-leaf node for a row's value v (as given, float32 or float64):
 * 1 left, 0 right, or -1 when it is bit *cat of the node's category bitset (then
 * 0 <= *cat < 32 * n_words). `flags` are the node's MLI__TF_* bits, `n_words` its bitset
 * length in 32-bit words, `compare` the stage's MLI__CMP_*. */
MLI__TREE_FN int mli__tree_decide(int compare, unsigned flags, uint32_t n_words, double threshold, double v,
                                  int64_t *cat) {
    if (compare != MLI__CMP_LE_F64)
        v = (double)mli__f32_round(v); /* XGBoost and scikit-learn trees see float32 features */
    const int mode = (int)((flags & MLI__TF_MISSING_MASK) >> 1);
    int missing = 0;
    if (isnan(v)) {
        if (mode == MLI__MISS_NAN)
            missing = 1;
        else
            v = 0.0;
    }
    if (!missing && mode == MLI__MISS_ZERO && v >= -MLI__TREE_ZERO_EPS && v <= MLI__TREE_ZERO_EPS)
        missing = 1;
    if (missing)
        return (int)(flags & MLI__TF_DEFAULT_LEFT);
    if (flags & MLI__TF_CATEGORICAL) {
        const double c = trunc(v);
        if (!(c >= 0.0 && c < 32.0 * (double)n_words) || ((flags & MLI__TF_WHOLE_ONLY) && c != v) ||
            ((flags & MLI__TF_NEGATIVE_OUT) && v < 0.0))
            return (flags & MLI__TF_OOR_MISSING) ? (int)(flags & MLI__TF_DEFAULT_LEFT) : 0;
        *cat = (int64_t)c;
        return -1;
    }
    if (compare == MLI__CMP_LT_F32)
        return (float)v < mli__f32_round(threshold);
    return v <= threshold;
}

/* Whether the value v goes left at node g of a stage (1 left, 0 right): mli__tree_decide
 * with the categorical bitset looked up (cat_words, cat_offset, cat_bits: the stage's arrays,
 * read only for a categorical node; they are absent in stages without one). */
MLI__TREE_FN int mli__tree_goes_left(int compare, unsigned flags, const int32_t *cat_words, const int64_t *cat_offset,
                                     const uint32_t *cat_bits, int64_t g, double threshold, double v) {
    const uint32_t words = (flags & MLI__TF_CATEGORICAL) ? (uint32_t)cat_words[g] : 0;
    int64_t cat;
    const int left = mli__tree_decide(compare, flags, words, threshold, v, &cat);
    return left >= 0 ? left : (int)((cat_bits[cat_offset[g] + (cat >> 5)] >> (cat & 31)) & 1u);
}

#endif
