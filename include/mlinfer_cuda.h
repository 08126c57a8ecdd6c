/* mlinfer_cuda.h — the CUDA backend of libmlinfer (docs/CUDA.md): device query and
 * selection, streams, kernels on device buffers (cuBLAS SGEMM, activations, softmax, the
 * fused dense layer), and models copied to a GPU once so that later predicts move only
 * their input and output.
 *
 * Every function here exists in every build. In a library built without CUDA
 * (-DMLI_ENABLE_CUDA=OFF) each fallible call returns MLI_ERR_UNSUPPORTED with the message
 * "built without CUDA", mli_cuda_available() returns 0, and nothing else happens.
 * In a CUDA build on a machine without a usable GPU (no device, no driver, a driver older
 * than the CUDA runtime the library was built with) the calls that need a device return
 * MLI_ERR_DEVICE and mli_last_error() says why; nothing crashes and the CPU API of
 * mlinfer.h keeps working, so callers fall back to it. cuBLAS is not linked: the library
 * opens it (libcublas.so.<CUDA major>) at the first stream a call makes on a device; when
 * it cannot be opened, that call and later ones return MLI_ERR_DEVICE naming the file.
 *
 * Device pointers: parameters documented as "device" take memory of the device the stream
 * belongs to (cudaMalloc, mli_cuda_malloc, or managed memory). The library checks sizes
 * and NULL pointers but cannot check that a pointer is device memory of the right size. */
#ifndef MLINFER_CUDA_H
#define MLINFER_CUDA_H

#include "mlinfer.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- devices ----------------------------------------------------------------------- */
/* 1 when the library was built with CUDA, else 0. */
MLI_API int mli_cuda_built(void);
/* 1 when the library was built with CUDA and at least one device can be used, else 0.
 * Never fails; the reason a device cannot be used comes from mli_cuda_device_count. */
MLI_API int mli_cuda_available(void);
/* Writes the number of CUDA devices to *out. Without a usable device (no GPU, no driver,
 * driver too old) *out is 0 and the call returns MLI_ERR_DEVICE naming the CUDA error. */
MLI_API mli_status mli_cuda_device_count(int *out);

typedef struct mli_cuda_device_props {
    char name[256];       /* "NVIDIA H200" */
    int64_t total_memory; /* bytes */
    int64_t free_memory;  /* bytes free at the time of the call */
    int32_t major, minor; /* compute capability */
    int32_t multiprocessors;
    int32_t reserved_i[7];
    int64_t reserved[4];
} mli_cuda_device_props;

/* Properties of device `device` (0 .. count-1). MLI_ERR_DEVICE for a device that does not
 * exist or cannot be used. */
MLI_API mli_status mli_cuda_device_query(int device, mli_cuda_device_props *out);

/* ---- streams ----------------------------------------------------------------------- */
/* A CUDA stream on one device with the library's cuBLAS handle for it. Use one stream
 * from one thread at a time; each thread may have its own. Every call that takes a
 * stream also accepts NULL: the calling thread's own default stream (cudaStreamPerThread)
 * on the current device (the model's device for mli_cuda_model_predict). */
typedef struct mli_cuda_stream mli_cuda_stream;

/* Creates a stream of its own on `device` (non-blocking with respect to the legacy
 * default stream). Free with mli_cuda_stream_free. */
MLI_API mli_status mli_cuda_stream_create(int device, mli_cuda_stream **out);
/* Wraps the caller's cudaStream_t (passed as void *; NULL is the legacy default stream)
 * of device `device`. The caller keeps ownership of the CUDA stream and must keep it
 * alive until mli_cuda_stream_free. */
MLI_API mli_status mli_cuda_stream_wrap(int device, void *cuda_stream, mli_cuda_stream **out);
/* The cudaStream_t (as void *) and the device of a stream; NULL / -1 for NULL. */
MLI_API void *mli_cuda_stream_native(const mli_cuda_stream *stream);
MLI_API int mli_cuda_stream_device(const mli_cuda_stream *stream);
/* Waits until all work queued on the stream has finished; reports an error any of it hit. */
MLI_API mli_status mli_cuda_stream_synchronize(mli_cuda_stream *stream);
/* TF32 tensor-core math for mli_cuda_sgemm / mli_cuda_sgemm_bias_act and the models'
 * dense layers run on this stream: 0 (the default) keeps full float32 arithmetic,
 * 1 allows TF32 (about 10 bits of mantissa in the products: errors near 1e-3 relative
 * instead of 1e-6; much faster on Ampere and later). An explicit opt-in only. */
MLI_API mli_status mli_cuda_stream_set_tf32(mli_cuda_stream *stream, int enable);
/* Frees a stream (after waiting for its work); NULL is a no-op. */
MLI_API void mli_cuda_stream_free(mli_cuda_stream *stream);

/* ---- device memory ----------------------------------------------------------------- */
/* cudaMalloc on `device`: `bytes` bytes (0 gives NULL and MLI_OK). Free with mli_cuda_free. */
MLI_API mli_status mli_cuda_malloc(int device, size_t bytes, void **out);
/* cudaFree; NULL is a no-op. */
MLI_API void mli_cuda_free(void *ptr);
/* Copies `bytes` bytes between any host and device memory (the direction is inferred),
 * ordered on `stream`, and waits for the copy to finish. */
MLI_API mli_status mli_cuda_memcpy(mli_cuda_stream *stream, void *dst, const void *src, size_t bytes);

/* ---- kernels on device buffers ------------------------------------------------------ */
/* All pointers are device memory; the work is queued on `stream` and the call returns
 * before it finishes (mli_cuda_stream_synchronize waits). Arguments are checked as in
 * mlinfer.h's host versions, with the same shapes, leading dimensions and semantics. */

/* Row-major C = alpha * op(A) * op(B) + beta * C through cuBLAS (cublasSgemm on the
 * transposed problem). Full float32 unless the stream opted into TF32. */
MLI_API mli_status mli_cuda_sgemm(mli_cuda_stream *stream, mli_trans trans_a, mli_trans trans_b, int64_t m, int64_t n,
                                  int64_t k, float alpha, const float *a, int64_t lda, const float *b, int64_t ldb,
                                  float beta, float *c, int64_t ldc);
/* y = act(x) over n floats; x == y allowed. Same error bounds and special values as
 * mli_activate. */
MLI_API mli_status mli_cuda_activate(mli_cuda_stream *stream, mli_act act, const float *x, float *y, int64_t n);
/* Row-wise softmax as mli_softmax (same bounds, same NaN rules); x == y allowed. */
MLI_API mli_status mli_cuda_softmax(mli_cuda_stream *stream, const float *x, float *y, int64_t rows, int64_t cols);
/* C = act(A * B + bias) as mli_sgemm_bias_act: the GEMM through cuBLAS, then one fused
 * pass adds the bias and applies the activation. bias may be NULL. */
MLI_API mli_status mli_cuda_sgemm_bias_act(mli_cuda_stream *stream, int64_t m, int64_t n, int64_t k, const float *a,
                                           int64_t lda, const float *b, int64_t ldb, const float *bias, mli_act act,
                                           float *c, int64_t ldc);

/* ---- models on a device ------------------------------------------------------------ */
/* A model's parameters copied to one device. It refers to the host model it was made
 * from, which must stay loaded until the device model is freed. Immutable except for
 * the small-batch threshold: any number of threads may predict on it at once (each with
 * its own stream or NULL). */
typedef struct mli_cuda_model mli_cuda_model;

/* Copies `model` to device `device`. Models of every kind are accepted: affine, linear and
 * MLP stages and tree ensembles run on the GPU; the head (link functions, argmax) runs on
 * the host over the scores copied back. MLI_ERR_DEVICE without a usable device;
 * MLI_ERR_OUT_OF_MEMORY when the device memory does not suffice. */
MLI_API mli_status mli_model_to_device(const mli_model *model, int device, mli_cuda_model **out);
/* Frees the device copy; NULL is a no-op. No predict may be running on it. */
MLI_API void mli_cuda_model_free(mli_cuda_model *dmodel);
/* The host model it was made from, and its device. */
MLI_API const mli_model *mli_cuda_model_host(const mli_cuda_model *dmodel);
MLI_API int mli_cuda_model_device(const mli_cuda_model *dmodel);

/* Small batches stay on the CPU: a predict with host input and fewer rows than this runs
 * mlinfer.h's CPU path on the host model (same results as calling it directly). The
 * default is the environment variable MLI_CUDA_MIN_ROWS when it holds a number >= 0,
 * read when the device model is made, else MLI_CUDA_DEFAULT_MIN_ROWS. 0 sends every
 * batch to the GPU. Safe to call while other threads predict. */
#define MLI_CUDA_DEFAULT_MIN_ROWS 4096
MLI_API mli_status mli_cuda_model_set_min_rows(mli_cuda_model *dmodel, int64_t rows);
MLI_API int64_t mli_cuda_model_min_rows(const mli_cuda_model *dmodel);

/* Flags of mli_cuda_model_predict. */
#define MLI_CUDA_X_DEVICE 1u   /* x is device memory (else host memory) */
#define MLI_CUDA_OUT_DEVICE 2u /* out is device memory (else host memory) */
#define MLI_CUDA_FORCE_GPU 4u  /* run on the GPU whatever the row count */

/* The outputs `what` asks for (as mli_model_predict, _proba, _decision_function and
 * _raw: the same sizes, dtypes, argument checks and results up to the float32 rounding of
 * the dense layers; tree ensembles give the same leaves and the same float64 sums as the
 * CPU) for `rows` rows of `x` (row-major, ldx >= n_features, float32 or float64).
 * Host input with fewer rows than the model's threshold runs on the CPU (see
 * mli_cuda_model_set_min_rows); device input always runs on the GPU. `stream` NULL is
 * the calling thread's default stream on the model's device; the call returns when `out`
 * is written. The calling thread's current CUDA device is left as it was. */
MLI_API mli_status mli_cuda_model_predict(const mli_cuda_model *dmodel, mli_cuda_stream *stream, mli_output what,
                                          const void *x, mli_dtype dtype, int64_t rows, int64_t ldx, double *out,
                                          int64_t out_len, uint32_t flags);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* MLINFER_CUDA_H */
