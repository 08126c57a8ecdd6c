/* input.cu — a model's input rows as the matrix the model stages read: float64 (or float32)
 * input converted, the leading affine stages applied exactly as the CPU runtime does
 * (src/predict.c), both through kernels/affine_rules.h: float64 arithmetic, rounded to
 * float32 after each operation for float32 input. The dense stages read float32; a tree
 * stage reads the float64 values (its own comparison rounds them as its framework does). */
#include <cuda_runtime.h>

#include "act.cuh"
#include "affine_rules.h"
#include "cuda_kernels.h"

struct mli_cu_affine_chain {
    mli__cuda_affine st[MLI__CUDA_MAX_AFFINE];
    int n;
};

template <typename Out> __device__ __forceinline__ Out mli_cu_out(double v);
template <> __device__ __forceinline__ float mli_cu_out<float>(double v) { return __double2float_rn(v); }
template <> __device__ __forceinline__ double mli_cu_out<double>(double v) { return v; }

template <bool F64, typename Out>
__global__ void mli_prepare_input__cuda(const void *x, long long ldx, long long rows, long long nf,
                                        const mli_cu_affine_chain chain, Out *dst) {
    const unsigned long long total = (unsigned long long)rows * (unsigned long long)nf;
    for (unsigned long long e = blockIdx.x * (unsigned long long)blockDim.x + threadIdx.x; e < total;
         e += (unsigned long long)gridDim.x * blockDim.x) {
        long long r = (long long)(e / (unsigned long long)nf), c = (long long)(e % (unsigned long long)nf);
        double v = F64 ? ((const double *)x)[r * ldx + c] : (double)((const float *)x)[r * ldx + c];
        for (int a = 0; a < chain.n; ++a) {
            const mli__cuda_affine *st = &chain.st[a];
            v = mli__affine_stage(v, c, st->sub, st->div, st->mul, st->add, st->clip, st->clip_lo, st->clip_hi, !F64,
                                  st->f32_params);
        }
        dst[e] = mli_cu_out<Out>(v);
    }
}

template <typename Out>
static int prepare(void *stream, const void *x, int f64, int64_t ldx, int64_t rows, int64_t nf,
                   const mli__cuda_affine *affine, int n_affine, Out *dst) {
    if (rows <= 0 || nf <= 0)
        return 0;
    mli_cu_affine_chain chain;
    chain.n = n_affine < 0 ? 0 : n_affine > MLI__CUDA_MAX_AFFINE ? MLI__CUDA_MAX_AFFINE : n_affine;
    for (int a = 0; a < chain.n; ++a)
        chain.st[a] = affine[a];
    unsigned grid = mli_cu_blocks((long long)rows * (long long)nf);
    cudaStream_t s = (cudaStream_t)stream;
    if (f64)
        mli_prepare_input__cuda<true, Out><<<grid, MLI_CU_THREADS, 0, s>>>(x, ldx, rows, nf, chain, dst);
    else
        mli_prepare_input__cuda<false, Out><<<grid, MLI_CU_THREADS, 0, s>>>(x, ldx, rows, nf, chain, dst);
    return (int)cudaGetLastError();
}

extern "C" int mli__cuda_prepare_input(void *stream, const void *x, int f64, int64_t ldx, int64_t rows, int64_t nf,
                                       const mli__cuda_affine *affine, int n_affine, float *dst) {
    return prepare<float>(stream, x, f64, ldx, rows, nf, affine, n_affine, dst);
}

extern "C" int mli__cuda_prepare_input_f64(void *stream, const void *x, int f64, int64_t ldx, int64_t rows, int64_t nf,
                                           const mli__cuda_affine *affine, int n_affine, double *dst) {
    return prepare<double>(stream, x, f64, ldx, rows, nf, affine, n_affine, dst);
}
