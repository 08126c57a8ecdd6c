/* input.cu — a model's input rows as the float32 matrix the dense stages read: float64
 * (or float32) input converted, the leading affine stages applied in float64 exactly as
 * the CPU runtime does (src/predict.c): v - sub, / div, * mul, + add, clip, each rounded
 * on its own (the __d*_rn intrinsics keep the compiler from fusing a multiply and an add
 * into an FMA, which would round differently from the CPU). */
#include <cuda_runtime.h>

#include "act.cuh"
#include "cuda_kernels.h"

struct mli_cu_affine_chain {
    mli__cuda_affine st[MLI__CUDA_MAX_AFFINE];
    int n;
};

template <bool F64>
__global__ void mli_prepare_input__cuda(const void *x, long long ldx, long long rows, long long nf,
                                        const mli_cu_affine_chain chain, float *dst) {
    const unsigned long long total = (unsigned long long)rows * (unsigned long long)nf;
    for (unsigned long long e = blockIdx.x * (unsigned long long)blockDim.x + threadIdx.x; e < total;
         e += (unsigned long long)gridDim.x * blockDim.x) {
        long long r = (long long)(e / (unsigned long long)nf), c = (long long)(e % (unsigned long long)nf);
        double v = F64 ? ((const double *)x)[r * ldx + c] : (double)((const float *)x)[r * ldx + c];
        for (int a = 0; a < chain.n; ++a) {
            const mli__cuda_affine *st = &chain.st[a];
            if (st->sub)
                v = __dsub_rn(v, st->sub[c]);
            if (st->div)
                v = __ddiv_rn(v, st->div[c]);
            if (st->mul)
                v = __dmul_rn(v, st->mul[c]);
            if (st->add)
                v = __dadd_rn(v, st->add[c]);
            if (st->clip)
                v = v < st->clip_lo ? st->clip_lo : v > st->clip_hi ? st->clip_hi : v;
        }
        dst[e] = __double2float_rn(v);
    }
}

extern "C" int mli__cuda_prepare_input(void *stream, const void *x, int f64, int64_t ldx, int64_t rows, int64_t nf,
                                       const mli__cuda_affine *affine, int n_affine, float *dst) {
    if (rows <= 0 || nf <= 0)
        return 0;
    mli_cu_affine_chain chain;
    chain.n = n_affine < 0 ? 0 : n_affine > MLI__CUDA_MAX_AFFINE ? MLI__CUDA_MAX_AFFINE : n_affine;
    for (int a = 0; a < chain.n; ++a)
        chain.st[a] = affine[a];
    unsigned grid = mli_cu_blocks((long long)rows * (long long)nf);
    cudaStream_t s = (cudaStream_t)stream;
    if (f64)
        mli_prepare_input__cuda<true><<<grid, MLI_CU_THREADS, 0, s>>>(x, ldx, rows, nf, chain, dst);
    else
        mli_prepare_input__cuda<false><<<grid, MLI_CU_THREADS, 0, s>>>(x, ldx, rows, nf, chain, dst);
    return (int)cudaGetLastError();
}
