/* cuda_ops.c — the kernels of mlinfer_cuda.h on device buffers: argument checks as in
 * the host versions (src/gemm.c, src/activate.c), then cuBLAS or kernels/cuda/. */
#define _POSIX_C_SOURCE 200809L
#include <limits.h>

#include "cuda/cuda_kernels.h"
#include "cuda_internal.h"

static mli_status launched(const char *fn, const char *what, int err) {
    return err == 0 ? MLI_OK : mli__cuda_fail(fn, what, (cudaError_t)err);
}

mli_status mli__cuda_gemm(const char *fn, mli_cuda_stream *s, int ta, int tb, int64_t m, int64_t n, int64_t k,
                          float alpha, const float *a, int64_t lda, const float *b, int64_t ldb, float beta, float *c,
                          int64_t ldc) {
    if (m == 0 || n == 0)
        return MLI_OK;
    if (k == 0 || alpha == 0.0f) /* BLAS semantics: A and B are not read */
        return launched(fn, "the beta scaling kernel", mli__cuda_scale(s->stream, c, ldc, m, n, beta));
    /* Row-major C = op(A) op(B) is column-major C^T = op(B)^T op(A)^T: the same buffers
     * with the operands swapped and the same transposition flags. */
    cublasOperation_t opa = ta ? CUBLAS_OP_T : CUBLAS_OP_N, opb = tb ? CUBLAS_OP_T : CUBLAS_OP_N;
    cublasStatus_t r;
    if (m <= INT_MAX && n <= INT_MAX && k <= INT_MAX && lda <= INT_MAX && ldb <= INT_MAX && ldc <= INT_MAX)
        r = mli__cublas.sgemm(s->blas, opb, opa, (int)n, (int)m, (int)k, &alpha, b, (int)ldb, a, (int)lda, &beta, c,
                              (int)ldc);
    else
        r = mli__cublas.sgemm_64(s->blas, opb, opa, n, m, k, &alpha, b, ldb, a, lda, &beta, c, ldc);
    return r == CUBLAS_STATUS_SUCCESS ? MLI_OK : mli__cublas_fail(fn, "cublasSgemm", r);
}

mli_status mli_cuda_sgemm(mli_cuda_stream *stream, mli_trans trans_a, mli_trans trans_b, int64_t m, int64_t n,
                          int64_t k, float alpha, const float *a, int64_t lda, const float *b, int64_t ldb, float beta,
                          float *c, int64_t ldc) {
    static const char fn[] = "mli_cuda_sgemm";
    mli_status st;
    if ((st = mli__check_sgemm(fn, trans_a, trans_b, m, n, k, a, lda, b, ldb, c, ldc)) != MLI_OK)
        return st;
    int ta = trans_a == MLI_TRANS, tb = trans_b == MLI_TRANS;
    mli_cuda_stream *s;
    int prev;
    if ((st = mli__cuda_resolve_stream(fn, stream, -1, &s)) != MLI_OK ||
        (st = mli__cuda_enter(fn, s->device, &prev)) != MLI_OK)
        return st;
    st = mli__cuda_gemm(fn, s, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
    mli__cuda_leave(s->device, prev);
    return st;
}

static mli_status check_vectors(const char *fn, const float *x, const float *y, int64_t n) {
    if (n < 0)
        return mli__fail(MLI_ERR_INVALID_ARGUMENT, "%s: negative length n=%lld", fn, (long long)n);
    if (n > INT64_MAX / (int64_t)sizeof(float))
        return mli__fail(MLI_ERR_INVALID_ARGUMENT, "%s: length n=%lld exceeds addressable memory", fn, (long long)n);
    if (n > 0 && (!x || !y))
        return mli__fail(MLI_ERR_INVALID_ARGUMENT, "%s: %s is NULL but n=%lld", fn, x ? "y" : "x", (long long)n);
    return MLI_OK;
}

mli_status mli_cuda_activate(mli_cuda_stream *stream, mli_act act, const float *x, float *y, int64_t n) {
    static const char fn[] = "mli_cuda_activate";
    if ((unsigned)act >= MLI__ACT_COUNT)
        return mli__fail(MLI_ERR_INVALID_ARGUMENT, "%s: act (%d) is not an mli_act value", fn, (int)act);
    mli_status st = check_vectors(fn, x, y, n);
    mli_cuda_stream *s;
    int prev;
    if (st != MLI_OK || (st = mli__cuda_resolve_stream(fn, stream, -1, &s)) != MLI_OK ||
        (st = mli__cuda_enter(fn, s->device, &prev)) != MLI_OK)
        return st;
    st = launched(fn, "the activation kernel", mli__cuda_activate(s->stream, (int)act, x, y, n));
    mli__cuda_leave(s->device, prev);
    return st;
}

mli_status mli_cuda_softmax(mli_cuda_stream *stream, const float *x, float *y, int64_t rows, int64_t cols) {
    static const char fn[] = "mli_cuda_softmax";
    if (rows < 0 || cols < 0)
        return mli__fail(MLI_ERR_INVALID_ARGUMENT, "%s: negative size (rows=%lld, cols=%lld)", fn, (long long)rows,
                         (long long)cols);
    int64_t total;
    if (!mli__mul_ok(rows, cols, &total))
        return mli__fail(MLI_ERR_INVALID_ARGUMENT, "%s: rows * cols overflows (rows=%lld, cols=%lld)", fn,
                         (long long)rows, (long long)cols);
    mli_status st = check_vectors(fn, x, y, total);
    mli_cuda_stream *s;
    int prev;
    if (st != MLI_OK || (st = mli__cuda_resolve_stream(fn, stream, -1, &s)) != MLI_OK ||
        (st = mli__cuda_enter(fn, s->device, &prev)) != MLI_OK)
        return st;
    st = launched(fn, "the softmax kernel", mli__cuda_softmax(s->stream, x, y, rows, cols));
    mli__cuda_leave(s->device, prev);
    return st;
}

mli_status mli__cuda_dense(const char *fn, mli_cuda_stream *s, int64_t m, int64_t n, int64_t k, const float *a,
                           int64_t lda, const float *b, int64_t ldb, int trans_b, const float *bias, int act, float *c,
                           int64_t ldc) {
    mli_status st = mli__cuda_gemm(fn, s, 0, trans_b, m, n, k, 1.0f, a, lda, b, ldb, 0.0f, c, ldc);
    if (st != MLI_OK)
        return st;
    return launched(fn, "the bias/activation kernel", mli__cuda_bias_act(s->stream, c, ldc, m, n, bias, act));
}

mli_status mli_cuda_sgemm_bias_act(mli_cuda_stream *stream, int64_t m, int64_t n, int64_t k, const float *a,
                                   int64_t lda, const float *b, int64_t ldb, const float *bias, mli_act act, float *c,
                                   int64_t ldc) {
    static const char fn[] = "mli_cuda_sgemm_bias_act";
    mli_status st;
    if ((unsigned)act >= MLI__ACT_COUNT)
        return mli__fail(MLI_ERR_INVALID_ARGUMENT, "%s: act (%d) is not an mli_act value", fn, (int)act);
    if ((st = mli__check_sgemm(fn, MLI_NO_TRANS, MLI_NO_TRANS, m, n, k, a, lda, b, ldb, c, ldc)) != MLI_OK)
        return st;
    mli_cuda_stream *s;
    int prev;
    if ((st = mli__cuda_resolve_stream(fn, stream, -1, &s)) != MLI_OK ||
        (st = mli__cuda_enter(fn, s->device, &prev)) != MLI_OK)
        return st;
    st = mli__cuda_dense(fn, s, m, n, k, a, lda, b, ldb, 0, bias, (int)act, c, ldc);
    mli__cuda_leave(s->device, prev);
    return st;
}
