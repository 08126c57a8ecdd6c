/* trees.cu — tree-ensemble scores on the GPU, one thread per row (the rules and the
 * float64 sums are those of the CPU: tree_row.cuh).
 *
 * A block stages its rows in shared memory (coalesced loads, rows padded to an odd
 * length so that a warp reading one feature of 32 rows hits 32 banks), then each thread
 * walks every tree in file order for its row. Whole warps walk the same tree at the same
 * time, so the top of each tree is read once per warp and stays in L1/L2.
 * mli__cuda_trees_scores_host runs the same row code on the CPU, for the tests. */
#include <cuda_runtime.h>

#include <stdlib.h>

#include "act.cuh"
#include "cuda_kernels.h"
#include "tree_row.cuh"

/* Converts one input value to the staged type. */
template <typename S> __host__ __device__ __forceinline__ S mli_cu_stage(double v);
template <> __host__ __device__ __forceinline__ float mli_cu_stage<float>(double v) { return mli__f32_round(v); }
template <> __host__ __device__ __forceinline__ double mli_cu_stage<double>(double v) { return v; }

/* STAGE: rows staged in shared memory with an odd stride; else read in place (S is then
 * the input's own type). */
template <typename S, bool STAGE, bool ONE>
__global__ void mli_tree_scores__cuda(const mli__cuda_trees t, const void *x, int f64, long long ldx, long long rows,
                                      double *scores, long long sstride, int force_generic) {
    extern __shared__ __align__(16) unsigned char smem[];
    const long long row0 = (long long)blockIdx.x * blockDim.x;
    const long long r = row0 + threadIdx.x;
    mli_cu_row<S> xr;
    if (STAGE) {
        S *xs = (S *)smem;
        const long long nrows = rows - row0 < (long long)blockDim.x ? rows - row0 : (long long)blockDim.x;
        const unsigned unf = (unsigned)t.n_features;
        const unsigned total = (unsigned)nrows * unf; /* < 2^31: it fits in shared memory */
        for (unsigned e = threadIdx.x; e < total; e += blockDim.x) {
            const unsigned rr = e / unf, c = e - rr * unf;
            const long long src = (row0 + rr) * ldx + c;
            xs[rr * sstride + c] = mli_cu_stage<S>(f64 ? ((const double *)x)[src] : (double)((const float *)x)[src]);
        }
        __syncthreads();
        xr.p = xs + threadIdx.x * sstride;
    }
    if (r >= rows)
        return;
    if (!STAGE)
        xr.p = (const S *)x + r * ldx;
    mli_cu_score_row<S, ONE>(t, xr, f64 != 0, force_generic != 0, scores + r * t.n_out);
}

template <typename S, bool STAGE>
static void launch(cudaStream_t s, const mli__cuda_trees &t, bool one, const void *x, int f64, long long ldx,
                   long long rows, double *scores, unsigned threads, long long sstride, size_t smem,
                   int force_generic) {
    unsigned grid = (unsigned)((rows + threads - 1) / threads);
    if (one) {
        if (smem > 48 * 1024)
            cudaFuncSetAttribute(mli_tree_scores__cuda<S, STAGE, true>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                 (int)smem);
        mli_tree_scores__cuda<S, STAGE, true>
            <<<grid, threads, smem, s>>>(t, x, f64, ldx, rows, scores, sstride, force_generic);
    } else {
        if (smem > 48 * 1024)
            cudaFuncSetAttribute(mli_tree_scores__cuda<S, STAGE, false>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                 (int)smem);
        mli_tree_scores__cuda<S, STAGE, false>
            <<<grid, threads, smem, s>>>(t, x, f64, ldx, rows, scores, sstride, force_generic);
    }
}

/* Rows per block and shared memory: 128 rows when they fit in 48 KiB, else 64 or 32,
 * else 32 rows in as much as the device lets a block opt into; wider rows are read in
 * place from global memory (correct, slower). Not yet tuned on a GPU (docs/CUDA.md). */
static unsigned block_rows(const mli__cuda_trees *t, size_t es, long long sstride, size_t *smem) {
    for (unsigned cand = 128; cand >= 32; cand /= 2) {
        size_t need = (size_t)cand * (size_t)sstride * es;
        if (need <= 48 * 1024 || (cand == 32 && need <= (size_t)t->max_smem_optin)) {
            *smem = need;
            return cand;
        }
    }
    return 0;
}

extern "C" int mli__cuda_trees_scores(void *stream, const mli__cuda_trees *t, const void *x, int f64, int64_t ldx,
                                      int64_t rows, double *scores, int force_generic) {
    if (rows <= 0)
        return 0;
    cudaStream_t s = (cudaStream_t)stream;
    const bool wide = f64 && t->compare == MLI__CMP_LE_F64; /* the walks need float64 values */
    const long long sstride = t->n_features | 1;            /* odd: no bank conflicts between rows */
    const bool one = t->n_out == 1 && t->leaf_width == 1;
    size_t smem = 0;
    unsigned threads = block_rows(t, wide ? sizeof(double) : sizeof(float), sstride, &smem);
    if (threads && wide)
        launch<double, true>(s, *t, one, x, f64, ldx, rows, scores, threads, sstride, smem, force_generic);
    else if (threads)
        launch<float, true>(s, *t, one, x, f64, ldx, rows, scores, threads, sstride, smem, force_generic);
    else if (f64)
        launch<double, false>(s, *t, one, x, f64, ldx, rows, scores, 128, 0, 0, force_generic);
    else
        launch<float, false>(s, *t, one, x, f64, ldx, rows, scores, 128, 0, 0, force_generic);
    return (int)cudaGetLastError();
}

/* The host twin, row by row: staged as a block would stage it (stage), or read in place. */
template <typename S, bool ONE>
static void host_rows(const mli__cuda_trees &t, const void *x, int f64, long long ldx, long long rows, double *scores,
                      int force_generic, bool stage, S *buf) {
    for (long long r = 0; r < rows; ++r) {
        mli_cu_row<S> xr;
        if (stage) {
            for (long long c = 0; c < t.n_features; ++c)
                buf[c] =
                    mli_cu_stage<S>(f64 ? ((const double *)x)[r * ldx + c] : (double)((const float *)x)[r * ldx + c]);
            xr.p = buf;
        } else {
            xr.p = (const S *)x + r * ldx;
        }
        mli_cu_score_row<S, ONE>(t, xr, f64 != 0, force_generic != 0, scores + r * t.n_out);
    }
}

/* Returns 0, or -1 when it cannot allocate its row buffer. */
template <typename S>
static int host_run(const mli__cuda_trees &t, const void *x, int f64, long long ldx, long long rows, double *scores,
                    int force_generic, bool stage) {
    S *buf = (S *)malloc(sizeof(S) * (size_t)(t.n_features ? t.n_features : 1));
    if (!buf)
        return -1;
    if (t.n_out == 1 && t.leaf_width == 1)
        host_rows<S, true>(t, x, f64, ldx, rows, scores, force_generic, stage, buf);
    else
        host_rows<S, false>(t, x, f64, ldx, rows, scores, force_generic, stage, buf);
    free(buf);
    return 0;
}

extern "C" int mli__cuda_trees_scores_host(const mli__cuda_trees *t, const void *x, int f64, int64_t ldx, int64_t rows,
                                           double *scores, int force_generic, int stage) {
    const bool wide = f64 && t->compare == MLI__CMP_LE_F64;
    if (stage)
        return wide ? host_run<double>(*t, x, f64, ldx, rows, scores, force_generic, true)
                    : host_run<float>(*t, x, f64, ldx, rows, scores, force_generic, true);
    return f64 ? host_run<double>(*t, x, f64, ldx, rows, scores, force_generic, false)
               : host_run<float>(*t, x, f64, ldx, rows, scores, force_generic, false);
}
