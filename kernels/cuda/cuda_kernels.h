/* cuda_kernels.h — the contract between the CUDA framework (src/cuda/) and the CUDA
 * kernels (the .cu files of kernels/cuda/). Internal: nothing here is public API. Arguments arrive
 * checked; every launcher queues its kernels on `stream` (a cudaStream_t passed as
 * void *) and returns the cudaError_t of the launch (0 on success) as an int, so that
 * this header needs no CUDA header and compiles as C. */
#ifndef MLI_CUDA_KERNELS_H
#define MLI_CUDA_KERNELS_H

#include <stdint.h>

#include "kernel_api.h"

#ifdef __cplusplus
extern "C" {
#endif

/* y = act(x) over n floats (x == y allowed). */
int mli__cuda_activate(void *stream, int act, const float *x, float *y, int64_t n);
/* Row-wise softmax of a rows x cols matrix (x == y allowed). */
int mli__cuda_softmax(void *stream, const float *x, float *y, int64_t rows, int64_t cols);
/* In place over an m x n matrix with leading dimension ldc: c = act(c + bias[j]);
 * bias may be NULL. */
int mli__cuda_bias_act(void *stream, float *c, int64_t ldc, int64_t m, int64_t n, const float *bias, int act);
/* c = beta * c over an m x n matrix (beta == 0 writes zeros without reading c). */
int mli__cuda_scale(void *stream, float *c, int64_t ldc, int64_t m, int64_t n, float beta);

/* Consecutive affine stages (docs/FORMAT.md) applied in float64, as the CPU runtime does;
 * each array is device memory of n_features doubles, or NULL for the identity. */
#define MLI__CUDA_MAX_AFFINE 16
typedef struct mli__cuda_affine {
    const double *sub, *div, *mul, *add;
    double clip_lo, clip_hi;
    int clip;
    int f32_params; /* float32 input: the arrays rounded to float32 first (StandardScaler) */
} mli__cuda_affine;

/* dst (rows x nf floats, leading dimension nf) = float32 of the affine stages applied to
 * x (rows x nf of float32 or float64 with leading dimension ldx); n_affine 0 only
 * converts. The arithmetic is kernels/affine_rules.h, as on the CPU. */
int mli__cuda_prepare_input(void *stream, const void *x, int f64, int64_t ldx, int64_t rows, int64_t nf,
                            const mli__cuda_affine *affine, int n_affine, float *dst);
/* The same values kept in float64 (rows x nf doubles): a tree stage's input. */
int mli__cuda_prepare_input_f64(void *stream, const void *x, int f64, int64_t ldx, int64_t rows, int64_t nf,
                                const mli__cuda_affine *affine, int n_affine, double *dst);

/* A tree node for the generic walk on the GPU: everything walk_generic reads, in one
 * 32-byte record, so a step is one memory transaction. */
typedef struct mli__cuda_gnode {
    double threshold;
    int32_t feature; /* -1: a leaf */
    int32_t left, right;
    uint32_t flags_words; /* flags | cat_words << 8 */
    int64_t cat_offset;
} mli__cuda_gnode;

/* A tree-ensemble stage on the device (every pointer device memory). The generic nodes
 * and `value` follow the file's order; `fast`/`fast_value`/`depth` are the compact form
 * of src/trees/trees.h (NULL when the model has none). */
typedef struct mli__cuda_trees {
    int64_t n_features, n_out, leaf_width;
    int32_t n_trees;
    int compare, mean, needs_f64;
    const int64_t *tree_start;
    const int32_t *tree_out;
    const mli__cuda_gnode *nodes;
    const double *value;
    const uint32_t *cat_bits;
    const mli__tnode *fast;
    const double *fast_value;
    const int32_t *depth;
    const double *base;
    int32_t max_smem_optin; /* bytes of shared memory a block may opt into on this device */
} mli__cuda_trees;

/* scores (rows x n_out doubles, leading dimension n_out) for rows of x (float32 or
 * float64, leading dimension ldx): the same leaves and the same float64 sums, in tree
 * order, as mli__trees_scores on the CPU. `force_generic` walks every row with the
 * generic walk (tests). */
int mli__cuda_trees_scores(void *stream, const mli__cuda_trees *t, const void *x, int f64, int64_t ldx, int64_t rows,
                           double *scores, int force_generic);
/* The same row code run on the host over host pointers in `t` (tests on machines without
 * a GPU): `stage` 1 converts each row as a block stages it in shared memory, 0 reads it in
 * place as the kernel does for rows too wide to stage. Returns 0, or -1 without memory. */
int mli__cuda_trees_scores_host(const mli__cuda_trees *t, const void *x, int f64, int64_t ldx, int64_t rows,
                                double *scores, int force_generic, int stage);

#ifdef __cplusplus
}
#endif

#endif /* MLI_CUDA_KERNELS_H */
