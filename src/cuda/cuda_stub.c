/* cuda_stub.c — the CUDA API of include/mlinfer_cuda.h in a library built without CUDA
 * (-DMLI_ENABLE_CUDA=OFF): every call exists, so programs link against either build, and
 * fails with MLI_ERR_UNSUPPORTED "built without CUDA". */
#include <string.h>

#include "internal.h"
#include "mlinfer_cuda.h"

#define UNSUPPORTED(fn) mli__fail(MLI_ERR_UNSUPPORTED, "%s: libmlinfer was built without CUDA", fn)

int mli_cuda_built(void) { return 0; }
int mli_cuda_available(void) { return 0; }

mli_status mli_cuda_device_count(int *out) {
    if (out)
        *out = 0;
    return UNSUPPORTED("mli_cuda_device_count");
}

mli_status mli_cuda_device_query(int device, mli_cuda_device_props *out) {
    (void)device;
    if (out)
        memset(out, 0, sizeof *out);
    return UNSUPPORTED("mli_cuda_device_query");
}

mli_status mli_cuda_stream_create(int device, mli_cuda_stream **out) {
    (void)device;
    if (out)
        *out = NULL;
    return UNSUPPORTED("mli_cuda_stream_create");
}

mli_status mli_cuda_stream_wrap(int device, void *cuda_stream, mli_cuda_stream **out) {
    (void)device;
    (void)cuda_stream;
    if (out)
        *out = NULL;
    return UNSUPPORTED("mli_cuda_stream_wrap");
}

void *mli_cuda_stream_native(const mli_cuda_stream *stream) {
    (void)stream;
    return NULL;
}

int mli_cuda_stream_device(const mli_cuda_stream *stream) {
    (void)stream;
    return -1;
}

mli_status mli_cuda_stream_synchronize(mli_cuda_stream *stream) {
    (void)stream;
    return UNSUPPORTED("mli_cuda_stream_synchronize");
}

mli_status mli_cuda_stream_set_tf32(mli_cuda_stream *stream, int enable) {
    (void)stream;
    (void)enable;
    return UNSUPPORTED("mli_cuda_stream_set_tf32");
}

void mli_cuda_stream_free(mli_cuda_stream *stream) { (void)stream; }

mli_status mli_cuda_malloc(int device, size_t bytes, void **out) {
    (void)device;
    (void)bytes;
    if (out)
        *out = NULL;
    return UNSUPPORTED("mli_cuda_malloc");
}

void mli_cuda_free(void *ptr) { (void)ptr; }

mli_status mli_cuda_memcpy(mli_cuda_stream *stream, void *dst, const void *src, size_t bytes) {
    (void)stream;
    (void)dst;
    (void)src;
    (void)bytes;
    return UNSUPPORTED("mli_cuda_memcpy");
}

mli_status mli_cuda_sgemm(mli_cuda_stream *stream, mli_trans trans_a, mli_trans trans_b, int64_t m, int64_t n,
                          int64_t k, float alpha, const float *a, int64_t lda, const float *b, int64_t ldb, float beta,
                          float *c, int64_t ldc) {
    (void)stream, (void)trans_a, (void)trans_b, (void)m, (void)n, (void)k, (void)alpha, (void)a, (void)lda;
    (void)b, (void)ldb, (void)beta, (void)c, (void)ldc;
    return UNSUPPORTED("mli_cuda_sgemm");
}

mli_status mli_cuda_activate(mli_cuda_stream *stream, mli_act act, const float *x, float *y, int64_t n) {
    (void)stream, (void)act, (void)x, (void)y, (void)n;
    return UNSUPPORTED("mli_cuda_activate");
}

mli_status mli_cuda_softmax(mli_cuda_stream *stream, const float *x, float *y, int64_t rows, int64_t cols) {
    (void)stream, (void)x, (void)y, (void)rows, (void)cols;
    return UNSUPPORTED("mli_cuda_softmax");
}

mli_status mli_cuda_sgemm_bias_act(mli_cuda_stream *stream, int64_t m, int64_t n, int64_t k, const float *a,
                                   int64_t lda, const float *b, int64_t ldb, const float *bias, mli_act act, float *c,
                                   int64_t ldc) {
    (void)stream, (void)m, (void)n, (void)k, (void)a, (void)lda, (void)b, (void)ldb, (void)bias, (void)act;
    (void)c, (void)ldc;
    return UNSUPPORTED("mli_cuda_sgemm_bias_act");
}

mli_status mli_model_to_device(const mli_model *model, int device, mli_cuda_model **out) {
    (void)model;
    (void)device;
    if (out)
        *out = NULL;
    return UNSUPPORTED("mli_model_to_device");
}

void mli_cuda_model_free(mli_cuda_model *dmodel) { (void)dmodel; }

const mli_model *mli_cuda_model_host(const mli_cuda_model *dmodel) {
    (void)dmodel;
    return NULL;
}

int mli_cuda_model_device(const mli_cuda_model *dmodel) {
    (void)dmodel;
    return -1;
}

mli_status mli_cuda_model_set_min_rows(mli_cuda_model *dmodel, int64_t rows) {
    (void)dmodel;
    (void)rows;
    return UNSUPPORTED("mli_cuda_model_set_min_rows");
}

int64_t mli_cuda_model_min_rows(const mli_cuda_model *dmodel) {
    (void)dmodel;
    return 0;
}

mli_status mli_cuda_model_predict(const mli_cuda_model *dmodel, mli_cuda_stream *stream, mli_output what, const void *x,
                                  mli_dtype dtype, int64_t rows, int64_t ldx, double *out, int64_t out_len,
                                  uint32_t flags) {
    (void)dmodel, (void)stream, (void)what, (void)x, (void)dtype, (void)rows, (void)ldx, (void)out, (void)out_len;
    (void)flags;
    return UNSUPPORTED("mli_cuda_model_predict");
}
