/* cuda_internal.h — shared by the CUDA framework files (src/cuda/): streams, device
 * checks and CUDA error reporting. Internal (prefix mli__cuda_). */
#ifndef MLI_CUDA_INTERNAL_H
#define MLI_CUDA_INTERNAL_H

#include <cuda_runtime_api.h>

#include "cuda_blas.h"
#include "internal.h"
#include "mlinfer_cuda.h"

struct mli_cuda_stream {
    int device;
    cudaStream_t stream;
    int owns; /* the library created `stream` and destroys it */
    int tf32;
    cublasHandle_t blas; /* bound to `stream` */
};

/* Reports a failed CUDA runtime call: MLI_ERR_OUT_OF_MEMORY for cudaErrorMemoryAllocation,
 * else MLI_ERR_DEVICE, the message naming `what` and the CUDA error. */
mli_status mli__cuda_fail(const char *fn, const char *what, cudaError_t err);
/* The same for a failed cuBLAS call (cuBLAS is loaded: the call went through a handle). */
mli_status mli__cublas_fail(const char *fn, const char *what, cublasStatus_t err);
/* MLI_OK when device `device` exists and can be used; else MLI_ERR_DEVICE saying why. */
mli_status mli__cuda_check_device(const char *fn, int device);
/* The stream a call runs on: `s` itself, or for NULL the calling thread's default stream
 * (cudaStreamPerThread) of `device` (-1: the current device), created at first use and
 * freed when the thread exits. */
mli_status mli__cuda_resolve_stream(const char *fn, mli_cuda_stream *s, int device, mli_cuda_stream **out);
/* Makes `device` current, writing the previous current device to *prev; mli__cuda_leave
 * restores it. */
mli_status mli__cuda_enter(const char *fn, int device, int *prev);
void mli__cuda_leave(int device, int prev);

/* Row-major GEMM on device buffers through cuBLAS (cuda_ops.c), arguments checked; the
 * caller has made s->device current. */
mli_status mli__cuda_gemm(const char *fn, mli_cuda_stream *s, int ta, int tb, int64_t m, int64_t n, int64_t k,
                          float alpha, const float *a, int64_t lda, const float *b, int64_t ldb, float beta, float *c,
                          int64_t ldc);
/* A dense layer C = act(A op(B) + bias): the GEMM, then the fused bias/activation pass. */
mli_status mli__cuda_dense(const char *fn, mli_cuda_stream *s, int64_t m, int64_t n, int64_t k, const float *a,
                           int64_t lda, const float *b, int64_t ldb, int trans_b, const float *bias, int act, float *c,
                           int64_t ldc);

#endif
