/* activate.cu — y = act(x) over n floats: a grid-stride loop, 16-byte loads and stores
 * when both pointers allow them (the memory-bound case), one float at a time otherwise. */
#include <cuda_runtime.h>

#include "act.cuh"
#include "cuda_kernels.h"

template <int ACT> __global__ void mli_f32_act_vec4__cuda(const float4 *x, float4 *y, long long n4) {
    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n4;
         i += (long long)gridDim.x * blockDim.x) {
        float4 v = x[i];
        v.x = mli_cu_act<ACT>(v.x);
        v.y = mli_cu_act<ACT>(v.y);
        v.z = mli_cu_act<ACT>(v.z);
        v.w = mli_cu_act<ACT>(v.w);
        y[i] = v;
    }
}

template <int ACT> __global__ void mli_f32_act__cuda(const float *x, float *y, long long n) {
    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n; i += (long long)gridDim.x * blockDim.x)
        y[i] = mli_cu_act<ACT>(x[i]);
}

template <int ACT> static void launch(cudaStream_t s, const float *x, float *y, long long n) {
    long long head = 0;
    if ((((uintptr_t)x | (uintptr_t)y) & 15u) == 0 && n >= 4) {
        long long n4 = n / 4;
        mli_f32_act_vec4__cuda<ACT><<<mli_cu_blocks(n4), MLI_CU_THREADS, 0, s>>>((const float4 *)x, (float4 *)y, n4);
        head = n4 * 4;
    }
    if (head < n)
        mli_f32_act__cuda<ACT><<<mli_cu_blocks(n - head), MLI_CU_THREADS, 0, s>>>(x + head, y + head, n - head);
}

extern "C" int mli__cuda_activate(void *stream, int act, const float *x, float *y, int64_t n) {
    if (n <= 0)
        return 0;
    cudaStream_t s = (cudaStream_t)stream;
#define CALL(A) launch<A>(s, x, y, (long long)n)
    MLI_CU_DISPATCH_ACT(act, CALL)
#undef CALL
    return (int)cudaGetLastError();
}
