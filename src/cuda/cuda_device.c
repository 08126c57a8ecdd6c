/* cuda_device.c — devices, streams and device memory of the CUDA backend
 * (include/mlinfer_cuda.h). The CUDA runtime is linked statically and loads the driver
 * (libcuda) itself at first use, so on a machine without a GPU or driver the library
 * still loads and these calls return MLI_ERR_DEVICE. cuBLAS is opened when the first
 * stream is made on a device (cuda_blas.c). */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cuda_internal.h"

mli_status mli__cuda_fail(const char *fn, const char *what, cudaError_t err) {
    (void)cudaGetLastError(); /* a non-sticky error must not leak into the next launch check */
    mli_status st = err == cudaErrorMemoryAllocation ? MLI_ERR_OUT_OF_MEMORY : MLI_ERR_DEVICE;
    return mli__fail(st, "%s: %s failed: %s (%s)", fn, what, cudaGetErrorString(err), cudaGetErrorName(err));
}

mli_status mli__cublas_fail(const char *fn, const char *what, cublasStatus_t err) {
    mli_status st = err == CUBLAS_STATUS_ALLOC_FAILED ? MLI_ERR_OUT_OF_MEMORY : MLI_ERR_DEVICE;
    return mli__fail(st, "%s: %s failed: %s (cuBLAS status %d)", fn, what, mli__cublas.status_string(err), (int)err);
}

/* The device count, or the CUDA error that prevents using any device. */
static cudaError_t device_count(int *n) {
    *n = 0;
    cudaError_t e = cudaGetDeviceCount(n);
    if (e != cudaSuccess) {
        (void)cudaGetLastError();
        *n = 0;
    }
    return e;
}

mli_status mli__cuda_check_device(const char *fn, int device) {
    int n;
    cudaError_t e = device_count(&n);
    if (e != cudaSuccess)
        return mli__fail(MLI_ERR_DEVICE, "%s: no usable CUDA device: %s (%s)", fn, cudaGetErrorString(e),
                         cudaGetErrorName(e));
    if (n == 0)
        return mli__fail(MLI_ERR_DEVICE, "%s: no CUDA device", fn);
    if (device < 0 || device >= n)
        return mli__fail(MLI_ERR_DEVICE, "%s: CUDA device %d does not exist (this machine has %d)", fn, device, n);
    return MLI_OK;
}

mli_status mli__cuda_enter(const char *fn, int device, int *prev) {
    cudaError_t e = cudaGetDevice(prev);
    if (e != cudaSuccess)
        return mli__cuda_fail(fn, "cudaGetDevice", e);
    if (*prev != device && (e = cudaSetDevice(device)) != cudaSuccess)
        return mli__cuda_fail(fn, "cudaSetDevice", e);
    return MLI_OK;
}

void mli__cuda_leave(int device, int prev) {
    if (prev != device)
        (void)cudaSetDevice(prev);
}

/* ---- devices ------------------------------------------------------------------------ */

int mli_cuda_built(void) { return 1; }

int mli_cuda_available(void) {
    int n;
    return device_count(&n) == cudaSuccess && n > 0;
}

mli_status mli_cuda_device_count(int *out) {
    if (!out)
        return mli__fail(MLI_ERR_INVALID_ARGUMENT, "mli_cuda_device_count: out is NULL");
    cudaError_t e = device_count(out);
    if (e != cudaSuccess)
        return mli__fail(MLI_ERR_DEVICE, "mli_cuda_device_count: no usable CUDA device: %s (%s)", cudaGetErrorString(e),
                         cudaGetErrorName(e));
    return MLI_OK;
}

mli_status mli_cuda_device_query(int device, mli_cuda_device_props *out) {
    static const char fn[] = "mli_cuda_device_query";
    if (!out)
        return mli__fail(MLI_ERR_INVALID_ARGUMENT, "%s: out is NULL", fn);
    memset(out, 0, sizeof *out);
    mli_status st = mli__cuda_check_device(fn, device);
    if (st != MLI_OK)
        return st;
    struct cudaDeviceProp p;
    cudaError_t e = cudaGetDeviceProperties(&p, device);
    if (e != cudaSuccess)
        return mli__cuda_fail(fn, "cudaGetDeviceProperties", e);
    snprintf(out->name, sizeof out->name, "%s", p.name);
    out->total_memory = (int64_t)p.totalGlobalMem;
    out->major = p.major;
    out->minor = p.minor;
    out->multiprocessors = p.multiProcessorCount;
    int prev;
    if ((st = mli__cuda_enter(fn, device, &prev)) != MLI_OK)
        return st;
    size_t free_b = 0, total_b = 0;
    e = cudaMemGetInfo(&free_b, &total_b);
    mli__cuda_leave(device, prev);
    if (e != cudaSuccess)
        return mli__cuda_fail(fn, "cudaMemGetInfo", e);
    out->free_memory = (int64_t)free_b;
    return MLI_OK;
}

/* ---- streams ------------------------------------------------------------------------ */

/* A stream object on `device` around `native` (with a cuBLAS handle bound to it). */
static mli_status stream_make(const char *fn, int device, cudaStream_t native, int create, mli_cuda_stream **out) {
    *out = NULL;
    mli_status st = mli__cuda_check_device(fn, device);
    if (st == MLI_OK)
        st = mli__cublas_load(fn);
    if (st != MLI_OK)
        return st;
    mli_cuda_stream *s = calloc(1, sizeof *s);
    if (!s)
        return mli__fail(MLI_ERR_OUT_OF_MEMORY, "%s: out of memory", fn);
    int prev;
    if ((st = mli__cuda_enter(fn, device, &prev)) != MLI_OK) {
        free(s);
        return st;
    }
    s->device = device;
    s->stream = native;
    cudaError_t e = cudaSuccess;
    cublasStatus_t b = CUBLAS_STATUS_SUCCESS;
    if (create && (e = cudaStreamCreateWithFlags(&s->stream, cudaStreamNonBlocking)) != cudaSuccess) {
        st = mli__cuda_fail(fn, "cudaStreamCreateWithFlags", e);
        goto fail;
    }
    s->owns = create;
    if ((b = mli__cublas.create(&s->blas)) != CUBLAS_STATUS_SUCCESS) {
        s->blas = NULL;
        st = mli__cublas_fail(fn, "cublasCreate", b);
        goto fail;
    }
    if ((b = mli__cublas.set_stream(s->blas, s->stream)) != CUBLAS_STATUS_SUCCESS ||
        (b = mli__cublas.set_math_mode(s->blas, CUBLAS_DEFAULT_MATH)) != CUBLAS_STATUS_SUCCESS) {
        st = mli__cublas_fail(fn, "cublasSetStream/cublasSetMathMode", b);
        goto fail;
    }
    mli__cuda_leave(device, prev);
    *out = s;
    return MLI_OK;
fail:
    if (s->blas)
        mli__cublas.destroy(s->blas);
    if (s->owns)
        cudaStreamDestroy(s->stream);
    mli__cuda_leave(device, prev);
    free(s);
    return st;
}

static void stream_destroy(mli_cuda_stream *s) {
    int prev;
    if (mli__cuda_enter("mli_cuda_stream_free", s->device, &prev) == MLI_OK) {
        (void)cudaStreamSynchronize(s->stream);
        if (s->blas)
            mli__cublas.destroy(s->blas);
        if (s->owns)
            cudaStreamDestroy(s->stream);
        mli__cuda_leave(s->device, prev);
    }
    free(s);
}

mli_status mli_cuda_stream_create(int device, mli_cuda_stream **out) {
    if (!out)
        return mli__fail(MLI_ERR_INVALID_ARGUMENT, "mli_cuda_stream_create: out is NULL");
    return stream_make("mli_cuda_stream_create", device, NULL, 1, out);
}

mli_status mli_cuda_stream_wrap(int device, void *cuda_stream, mli_cuda_stream **out) {
    if (!out)
        return mli__fail(MLI_ERR_INVALID_ARGUMENT, "mli_cuda_stream_wrap: out is NULL");
    return stream_make("mli_cuda_stream_wrap", device, (cudaStream_t)cuda_stream, 0, out);
}

void *mli_cuda_stream_native(const mli_cuda_stream *s) { return s ? (void *)s->stream : NULL; }
int mli_cuda_stream_device(const mli_cuda_stream *s) { return s ? s->device : -1; }

mli_status mli_cuda_stream_synchronize(mli_cuda_stream *s) {
    mli_cuda_stream *r;
    mli_status st = mli__cuda_resolve_stream("mli_cuda_stream_synchronize", s, -1, &r);
    if (st != MLI_OK)
        return st;
    cudaError_t e = cudaStreamSynchronize(r->stream);
    return e == cudaSuccess ? MLI_OK : mli__cuda_fail("mli_cuda_stream_synchronize", "cudaStreamSynchronize", e);
}

mli_status mli_cuda_stream_set_tf32(mli_cuda_stream *s, int enable) {
    static const char fn[] = "mli_cuda_stream_set_tf32";
    mli_cuda_stream *r;
    mli_status st = mli__cuda_resolve_stream(fn, s, -1, &r);
    if (st != MLI_OK)
        return st;
    cublasStatus_t b = mli__cublas.set_math_mode(r->blas, enable ? CUBLAS_TF32_TENSOR_OP_MATH : CUBLAS_DEFAULT_MATH);
    if (b != CUBLAS_STATUS_SUCCESS)
        return mli__cublas_fail(fn, "cublasSetMathMode", b);
    r->tf32 = enable != 0;
    return MLI_OK;
}

void mli_cuda_stream_free(mli_cuda_stream *s) {
    if (s)
        stream_destroy(s);
}

/* ---- each thread's default streams -------------------------------------------------- */

typedef struct {
    int n;
    mli_cuda_stream **by_device;
} thread_streams;

static pthread_key_t tls_key;
static pthread_once_t tls_once = PTHREAD_ONCE_INIT;
static int tls_ready;

static void tls_free(void *p) {
    thread_streams *t = p;
    for (int i = 0; i < t->n; ++i)
        if (t->by_device[i])
            stream_destroy(t->by_device[i]);
    free(t->by_device);
    free(t);
}

static void tls_init(void) { tls_ready = pthread_key_create(&tls_key, tls_free) == 0; }

mli_status mli__cuda_resolve_stream(const char *fn, mli_cuda_stream *s, int device, mli_cuda_stream **out) {
    mli_status st;
    if (s) {
        if (device >= 0 && s->device != device)
            return mli__fail(MLI_ERR_INVALID_ARGUMENT, "%s: the stream belongs to CUDA device %d, the model to %d", fn,
                             s->device, device);
        *out = s;
        return MLI_OK;
    }
    if (device < 0) {
        int n;
        cudaError_t e = device_count(&n);
        if (e != cudaSuccess || n == 0)
            return mli__cuda_check_device(fn, 0);
        if ((e = cudaGetDevice(&device)) != cudaSuccess)
            return mli__cuda_fail(fn, "cudaGetDevice", e);
    }
    if ((st = mli__cuda_check_device(fn, device)) != MLI_OK)
        return st;
    pthread_once(&tls_once, tls_init);
    if (!tls_ready)
        return mli__fail(MLI_ERR_INTERNAL, "%s: cannot create the thread-local key for default streams", fn);
    thread_streams *t = pthread_getspecific(tls_key);
    if (!t || t->n <= device) {
        int n = device + 1;
        thread_streams *nt = t ? t : calloc(1, sizeof *nt);
        mli_cuda_stream **arr = nt ? realloc(nt->by_device, sizeof *arr * (size_t)n) : NULL;
        if (!arr) {
            if (!t)
                free(nt);
            return mli__fail(MLI_ERR_OUT_OF_MEMORY, "%s: out of memory", fn);
        }
        for (int i = nt->n; i < n; ++i)
            arr[i] = NULL;
        nt->by_device = arr;
        nt->n = n;
        if (!t && pthread_setspecific(tls_key, nt) != 0) {
            free(arr);
            free(nt);
            return mli__fail(MLI_ERR_INTERNAL, "%s: pthread_setspecific failed", fn);
        }
        t = nt;
    }
    if (!t->by_device[device] &&
        (st = stream_make(fn, device, cudaStreamPerThread, 0, &t->by_device[device])) != MLI_OK)
        return st;
    *out = t->by_device[device];
    return MLI_OK;
}

/* ---- device memory ------------------------------------------------------------------ */

mli_status mli_cuda_malloc(int device, size_t bytes, void **out) {
    static const char fn[] = "mli_cuda_malloc";
    if (!out)
        return mli__fail(MLI_ERR_INVALID_ARGUMENT, "%s: out is NULL", fn);
    *out = NULL;
    mli_status st = mli__cuda_check_device(fn, device);
    if (st != MLI_OK || bytes == 0)
        return st;
    int prev;
    if ((st = mli__cuda_enter(fn, device, &prev)) != MLI_OK)
        return st;
    cudaError_t e = cudaMalloc(out, bytes);
    mli__cuda_leave(device, prev);
    if (e != cudaSuccess) {
        *out = NULL;
        return mli__cuda_fail(fn, "cudaMalloc", e);
    }
    return MLI_OK;
}

void mli_cuda_free(void *ptr) {
    if (!ptr)
        return;
    struct cudaPointerAttributes a;
    int prev;
    if (cudaPointerGetAttributes(&a, ptr) == cudaSuccess && a.device >= 0 &&
        mli__cuda_enter("mli_cuda_free", a.device, &prev) == MLI_OK) {
        (void)cudaFree(ptr);
        mli__cuda_leave(a.device, prev);
    } else {
        (void)cudaGetLastError();
        (void)cudaFree(ptr);
    }
}

mli_status mli_cuda_memcpy(mli_cuda_stream *s, void *dst, const void *src, size_t bytes) {
    static const char fn[] = "mli_cuda_memcpy";
    if (bytes > 0 && (!dst || !src))
        return mli__fail(MLI_ERR_INVALID_ARGUMENT, "%s: %s is NULL but bytes is %zu", fn, dst ? "src" : "dst", bytes);
    mli_cuda_stream *r;
    mli_status st = mli__cuda_resolve_stream(fn, s, -1, &r);
    if (st != MLI_OK || bytes == 0)
        return st;
    int prev;
    if ((st = mli__cuda_enter(fn, r->device, &prev)) != MLI_OK)
        return st;
    cudaError_t e = cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDefault, r->stream);
    if (e == cudaSuccess)
        e = cudaStreamSynchronize(r->stream);
    mli__cuda_leave(r->device, prev);
    return e == cudaSuccess ? MLI_OK : mli__cuda_fail(fn, "cudaMemcpyAsync", e);
}
