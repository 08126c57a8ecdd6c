/* tree_row.cuh — one row's tree-ensemble scores, written once for the GPU kernel
 * (trees.cu) and for its host twin mli__cuda_trees_scores_host, which the tests run on
 * machines without a GPU against the CPU engine, bit for bit.
 *
 * Two walks, the two of the CPU (src/trees/predict.c), with identical leaves:
 * - the compact walk over 8-byte nodes (float32 `x < t`, left child next to its parent,
 *   leaves absorbing) for rows without NaN (and, for le_f64 models given float64 input,
 *   whose values are all exactly float32), a fixed depth[t] steps with no branch;
 * - the generic walk (walk_generic in src/trees/predict.c, rule for rule: missing modes,
 *   categorical bitsets, float64 `<=`) over 32-byte records for every other row and for
 *   models that have no compact form.
 * The leaves are summed in float64 as on the CPU: zero, + each tree's leaf in tree order,
 * / n_trees for a mean, + base. */
#ifndef MLI_CUDA_TREE_ROW_CUH
#define MLI_CUDA_TREE_ROW_CUH

#include <math.h>

#include "cuda_kernels.h"
#include "tree_rules.h" /* the rules, shared with src/trees/predict.c */

#ifdef __CUDA_ARCH__
#define MLI_LDG(p) __ldg(p)
#else
#define MLI_LDG(p) (*(p))
#endif

/* A row's values: float when every walk needs only float32 values (float32 input, or a
 * float32 comparison), double for float64 input to an le_f64 model or read in place. */
template <typename S> struct mli_cu_row {
    const S *p;
    __host__ __device__ __forceinline__ double at(long long c) const { return (double)p[c]; }
};

template <typename S>
__host__ __device__ __forceinline__ int32_t mli_cu_walk_generic(const mli__cuda_trees &t, long long start,
                                                                const mli_cu_row<S> &xr) {
    int32_t i = 0;
    for (;;) {
        const mli__cuda_gnode *nd = t.nodes + start + i;
        const int32_t f = MLI_LDG(&nd->feature);
        if (f < 0)
            return i;
        const uint32_t fw = MLI_LDG(&nd->flags_words);
        int64_t c;
        int left = mli__tree_decide(t.compare, fw & 0xffu, fw >> 8, MLI_LDG(&nd->threshold), xr.at(f), &c);
        if (left < 0)
            left = (int)((MLI_LDG(&t.cat_bits[MLI_LDG(&nd->cat_offset) + (c >> 5)]) >> (c & 31)) & 1u);
        i = left ? MLI_LDG(&nd->left) : MLI_LDG(&nd->right);
    }
}

/* The compact walk: depth steps, i += 1 (left) or the right offset; a NaN goes where the
 * node's NaN bit says; a leaf (threshold NaN, bit clear, offset 0) keeps i where it is. */
template <typename S>
__host__ __device__ __forceinline__ int32_t mli_cu_walk_compact(const mli__tnode *nodes, int32_t depth,
                                                                const mli_cu_row<S> &xr) {
    int32_t i = 0;
    for (int32_t d = 0; d < depth; ++d) {
#ifdef __CUDA_ARCH__
        const uint2 raw = __ldg((const uint2 *)(nodes + i)); /* one 8-byte load (8-byte aligned) */
        const float thr = __uint_as_float(raw.x);
        const uint32_t fr = raw.y;
#else
        const float thr = nodes[i].thr;
        const uint32_t fr = nodes[i].fr;
#endif
        const float x = mli__f32_round(xr.at((long long)(fr & MLI__TN_FEATURE)));
        const bool left = x < thr || (x != x && (fr & MLI__TN_NAN_LEFT) != 0u); /* kernel_api.h */
        i += left ? 1 : (int32_t)(fr >> 16);
    }
    return i;
}

/* Whether the compact walk may take this row. */
template <typename S>
__host__ __device__ __forceinline__ bool mli_cu_row_is_compact(const mli__cuda_trees &t, const mli_cu_row<S> &xr,
                                                               bool check_f32) {
    if (!t.fast)
        return false;
    if (!check_f32) /* NaN is fine: the compact nodes carry its direction */
        return true;
    bool ok = true;
    for (long long c = 0; c < t.n_features; ++c) {
        const double v = xr.at(c);
        ok &= isnan(v) || (double)mli__f32_round(v) == v;
    }
    return ok;
}

/* The row's scores into sc[0 .. n_out). ONE: one score column and one value per leaf,
 * summed in a register. */
template <typename S, bool ONE>
__host__ __device__ __forceinline__ void mli_cu_score_row(const mli__cuda_trees &t, const mli_cu_row<S> &xr, bool f64,
                                                          bool force_generic, double *sc) {
    const bool compact = !force_generic && mli_cu_row_is_compact(t, xr, t.needs_f64 && f64);
    double acc = 0.0;
    if (!ONE)
        for (long long k = 0; k < t.n_out; ++k)
            sc[k] = 0.0;
    for (int32_t tr = 0; tr < t.n_trees; ++tr) {
        const long long start = MLI_LDG(&t.tree_start[tr]);
        const double *vals;
        long long g;
        if (compact) {
            g = start + mli_cu_walk_compact(t.fast + start, MLI_LDG(&t.depth[tr]), xr);
            vals = t.fast_value;
        } else {
            g = start + mli_cu_walk_generic(t, start, xr);
            vals = t.value;
        }
        if (ONE) {
            acc += MLI_LDG(&vals[g]);
        } else if (t.leaf_width == 1) {
            sc[t.tree_out ? MLI_LDG(&t.tree_out[tr]) : 0] += MLI_LDG(&vals[g]);
        } else {
            for (long long k = 0; k < t.leaf_width; ++k)
                sc[k] += MLI_LDG(&vals[g * t.leaf_width + k]);
        }
    }
    if (ONE)
        sc[0] = acc;
    for (long long k = 0; k < t.n_out; ++k) {
        double v = sc[k];
        if (t.mean)
            v /= (double)t.n_trees;
        if (t.base)
            v += MLI_LDG(&t.base[k]);
        sc[k] = v;
    }
}

#endif
