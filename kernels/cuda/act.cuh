/* act.cuh — the activations as device functions, the same formulas as the CPU's scalar
 * reference (kernels/generic/act_libm.h) with CUDA's libm (expf, tanhf, erfcf: 2 ulp),
 * so the bounds of mli_activate hold: relu exact, sigmoid and tanh within 1e-6 absolute,
 * gelu within 2e-6 * max(1, |x|); NaN in gives NaN out; -Inf gives gelu -0. */
#ifndef MLI_CUDA_ACT_CUH
#define MLI_CUDA_ACT_CUH

#include "kernel_api.h"

__device__ __forceinline__ float mli_cu_relu(float x) { return x > 0.0f ? x : (x == x ? 0.0f : x); }
__device__ __forceinline__ float mli_cu_sigmoid(float x) { return 1.0f / (1.0f + expf(-x)); }
__device__ __forceinline__ float mli_cu_gelu(float x) {
    if (x < -20.0f) /* erfc underflows: the exact value is -0 to float precision */
        return -0.0f;
    return 0.5f * x * erfcf(-x * 0.70710678118654752f);
}
__device__ __forceinline__ float mli_cu_gelu_tanh(float x) {
    if (x < -20.0f)
        return -0.0f;
    float u = 0.79788456080286536f * (x + 0.044715f * x * x * x);
    return x / (1.0f + expf(-2.0f * u));
}

/* ACT is a template argument wherever it is used, so each kernel is specialised. */
template <int ACT> __device__ __forceinline__ float mli_cu_act(float x) {
    switch (ACT) {
    case MLI__ACT_RELU: return mli_cu_relu(x);
    case MLI__ACT_SIGMOID: return mli_cu_sigmoid(x);
    case MLI__ACT_TANH: return tanhf(x);
    case MLI__ACT_GELU: return mli_cu_gelu(x);
    case MLI__ACT_GELU_TANH: return mli_cu_gelu_tanh(x);
    default: return x;
    }
}

/* Launch configuration shared by the elementwise kernels: a grid-stride loop over as
 * many blocks as keep every multiprocessor busy (capped; the loop covers the rest). */
#define MLI_CU_THREADS 256
static inline unsigned mli_cu_blocks(long long work_items) {
    long long b = (work_items + MLI_CU_THREADS - 1) / MLI_CU_THREADS;
    return (unsigned)(b < 1 ? 1 : b > 65536 ? 65536 : b);
}

/* Dispatches a templated launcher over the run-time activation code. */
#define MLI_CU_DISPATCH_ACT(act, CALL)                                                                                 \
    switch (act) {                                                                                                     \
    case MLI__ACT_RELU: CALL(MLI__ACT_RELU); break;                                                                    \
    case MLI__ACT_SIGMOID: CALL(MLI__ACT_SIGMOID); break;                                                              \
    case MLI__ACT_TANH: CALL(MLI__ACT_TANH); break;                                                                    \
    case MLI__ACT_GELU: CALL(MLI__ACT_GELU); break;                                                                    \
    case MLI__ACT_GELU_TANH: CALL(MLI__ACT_GELU_TANH); break;                                                          \
    default: CALL(MLI__ACT_IDENTITY); break;                                                                           \
    }

#endif
