/* epilogue.cu — the passes that follow a cuBLAS GEMM over its m x n output: the fused
 * bias + activation of a dense layer (one read and one write of C), and the beta scaling
 * that stands in for a GEMM with k == 0. Elements are numbered row by row so that a warp
 * touches consecutive columns. */
#include <cuda_runtime.h>

#include "act.cuh"
#include "cuda_kernels.h"

/* Row and column of flat element e; 32-bit division when the matrix allows it. */
__device__ __forceinline__ void mli_cu_split(unsigned long long e, unsigned long long n, bool small, long long *i,
                                             long long *j) {
    if (small) {
        unsigned q = (unsigned)e / (unsigned)n;
        *i = q;
        *j = (long long)((unsigned)e - q * (unsigned)n);
    } else {
        *i = (long long)(e / n);
        *j = (long long)(e % n);
    }
}

template <int ACT, bool BIAS>
__global__ void mli_f32_bias_act__cuda(float *c, long long ldc, long long m, long long n, const float *bias) {
    const unsigned long long total = (unsigned long long)m * (unsigned long long)n;
    const bool small = total <= 0xffffffffull;
    for (unsigned long long e = blockIdx.x * (unsigned long long)blockDim.x + threadIdx.x; e < total;
         e += (unsigned long long)gridDim.x * blockDim.x) {
        long long i, j;
        mli_cu_split(e, (unsigned long long)n, small, &i, &j);
        float *p = c + i * ldc + j;
        float v = *p;
        if (BIAS)
            v += bias[j];
        *p = mli_cu_act<ACT>(v);
    }
}

__global__ void mli_f32_scale__cuda(float *c, long long ldc, long long m, long long n, float beta) {
    const unsigned long long total = (unsigned long long)m * (unsigned long long)n;
    const bool small = total <= 0xffffffffull;
    for (unsigned long long e = blockIdx.x * (unsigned long long)blockDim.x + threadIdx.x; e < total;
         e += (unsigned long long)gridDim.x * blockDim.x) {
        long long i, j;
        mli_cu_split(e, (unsigned long long)n, small, &i, &j);
        float *p = c + i * ldc + j;
        *p = beta == 0.0f ? 0.0f : beta * *p;
    }
}

extern "C" int mli__cuda_bias_act(void *stream, float *c, int64_t ldc, int64_t m, int64_t n, const float *bias,
                                  int act) {
    if (m <= 0 || n <= 0 || (!bias && act == MLI__ACT_IDENTITY))
        return 0;
    cudaStream_t s = (cudaStream_t)stream;
    unsigned grid = mli_cu_blocks((long long)m * (long long)n);
#define CALL(A)                                                                                                        \
    (bias ? mli_f32_bias_act__cuda<A, true><<<grid, MLI_CU_THREADS, 0, s>>>(c, ldc, m, n, bias)                        \
          : mli_f32_bias_act__cuda<A, false><<<grid, MLI_CU_THREADS, 0, s>>>(c, ldc, m, n, bias))
    MLI_CU_DISPATCH_ACT(act, CALL)
#undef CALL
    return (int)cudaGetLastError();
}

extern "C" int mli__cuda_scale(void *stream, float *c, int64_t ldc, int64_t m, int64_t n, float beta) {
    if (m <= 0 || n <= 0 || beta == 1.0f)
        return 0;
    mli_f32_scale__cuda<<<mli_cu_blocks((long long)m * (long long)n), MLI_CU_THREADS, 0, (cudaStream_t)stream>>>(
        c, ldc, m, n, beta);
    return (int)cudaGetLastError();
}
