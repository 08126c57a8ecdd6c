/* mlinfer.h — the stable C ABI of libmlinfer, an embeddable inference runtime for
 * scikit-learn-style models. This header is the whole public API: what is not declared
 * here is not API.
 *
 * Conventions
 *  - Every fallible call returns mli_status (MLI_OK == 0) and writes results through
 *    out-parameters. On failure, mli_last_error() returns a message naming the problem.
 *  - The caller owns every buffer it passes in; the library never keeps a pointer to a
 *    caller buffer after the call returns.
 *  - The library never aborts, exits or prints, whatever the input.
 *  - Calls are thread-safe unless a comment says otherwise.
 */
#ifndef MLINFER_H
#define MLINFER_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- export macro ------------------------------------------------------------------ */
#if defined(MLI_API)
#error "MLI_API is defined by mlinfer.h; do not define it yourself"
#endif
#if defined(_WIN32)
#if defined(MLI_BUILDING_LIBRARY) && !defined(MLI_STATIC)
#define MLI_API __declspec(dllexport)
#elif !defined(MLI_STATIC)
#define MLI_API __declspec(dllimport)
#else
#define MLI_API
#endif
#elif defined(__GNUC__) || defined(__clang__)
#define MLI_API __attribute__((visibility("default")))
#else
#define MLI_API
#endif

/* ---- version ----------------------------------------------------------------------- */
#define MLI_VERSION_MAJOR 0
#define MLI_VERSION_MINOR 1
#define MLI_VERSION_PATCH 0
#define MLI_VERSION_NUMBER (MLI_VERSION_MAJOR * 10000 + MLI_VERSION_MINOR * 100 + MLI_VERSION_PATCH)

/* The library's version as "MAJOR.MINOR.PATCH" (a static string; do not free). Compare it
 * with the MLI_VERSION_* macros to detect a header/library mismatch. */
MLI_API const char *mli_version(void);
/* The same version as MLI_VERSION_NUMBER computes it. */
MLI_API int mli_version_number(void);

/* ---- errors ------------------------------------------------------------------------ */
typedef enum mli_status {
    MLI_OK = 0,
    MLI_ERR_INVALID_ARGUMENT = 1, /* a NULL pointer, a negative or overflowing size, ... */
    MLI_ERR_OUT_OF_MEMORY = 2,
    MLI_ERR_UNSUPPORTED = 3,      /* valid request the library or this CPU cannot serve */
    MLI_ERR_IO = 4,               /* a file could not be opened or read */
    MLI_ERR_CORRUPT = 5,          /* a model file or buffer is malformed */
    MLI_ERR_VERSION = 6,          /* a model file needs a newer library */
    MLI_ERR_SHAPE = 7,            /* input or output shape does not fit the model */
    MLI_ERR_DEVICE = 8,           /* GPU missing or a driver error */
    MLI_ERR_INTERNAL = 9          /* a bug in libmlinfer; please report it */
} mli_status;

/* A short constant name for a status ("MLI_ERR_SHAPE: shape mismatch"). Never NULL. */
MLI_API const char *mli_status_string(mli_status status);

/* The detailed message of the calling thread's most recent failure, e.g.
 * "mli_sgemm: lda (3) is smaller than 4, the row length of A". The string is owned by the
 * library and stays valid until the same thread's next failing call. Returns "" if this
 * thread has not failed yet. Successful calls do not clear it. */
MLI_API const char *mli_last_error(void);

/* ---- threads ----------------------------------------------------------------------- */
/* Sets how many threads the library (and the OpenBLAS it calls) may use for one call.
 * n <= 0 restores the default: the CPUs this process may run on, capped by a cgroup CPU
 * quota when one is set (a Kubernetes CPU limit), or the MLI_THREADS environment variable
 * when it holds a positive number. Affects calls that start after it returns. */
MLI_API mli_status mli_set_num_threads(int n);
/* The thread count in force (always >= 1). */
MLI_API int mli_get_num_threads(void);

/* ---- CPU kernels ------------------------------------------------------------------- */
/* The kernel table is chosen once, at first use, from CPUID and the OS-enabled register
 * state (XCR0): "avx512" (AVX-512 F/BW/DQ/VL), else "avx2" (AVX2 + FMA), else "scalar".
 * MLI_FORCE_ISA=scalar|avx2|avx512 in the environment forces one; forcing an ISA the CPU
 * lacks makes every kernel call fail with MLI_ERR_UNSUPPORTED and a message saying so. */
MLI_API const char *mli_cpu_isa(void);

typedef enum { MLI_NO_TRANS = 0, MLI_TRANS = 1 } mli_trans;

/* Row-major C = alpha * op(A) * op(B) + beta * C; op(A) is m x k, op(B) is k x n.
 * A is m x k (lda >= k) when trans_a == MLI_NO_TRANS, else k x m (lda >= m); likewise B is
 * k x n (ldb >= n) or n x k (ldb >= k); C is m x n with ldc >= n. Leading dimensions are in
 * elements. When beta == 0, C is not read (it may hold NaN). m, n or k == 0 is valid.
 * Error bound: |C - C_exact| <= 1e-5 * k * (|alpha| * sum_p |A_ip||B_pj| / k + ...) — in
 * practice each element is within 1e-5 * k relative of a double-precision reference.
 * Thread count: see mli_set_num_threads. A, B and C must not overlap. */
MLI_API mli_status mli_sgemm(mli_trans trans_a, mli_trans trans_b, int64_t m, int64_t n, int64_t k,
                             float alpha, const float *a, int64_t lda, const float *b, int64_t ldb,
                             float beta, float *c, int64_t ldc);

typedef enum {
    MLI_ACT_IDENTITY = 0,
    MLI_ACT_RELU = 1,
    MLI_ACT_SIGMOID = 2,
    MLI_ACT_TANH = 3,
    MLI_ACT_GELU = 4, /* erf form: 0.5 x (1 + erf(x / sqrt 2)) */
    MLI_ACT_GELU_TANH = 5 /* 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))) */
} mli_act;

/* Elementwise y = act(x) over n floats; x == y (in place) is allowed, other overlap is not.
 * Error bounds against the exact function: identity and relu exact; sigmoid and tanh
 * within 1e-6 absolute; gelu and gelu_tanh within 2e-6 * max(1, |x|).
 * NaN in -> NaN out (relu included). +-Inf give the limits: sigmoid 1/0, tanh +-1,
 * relu +Inf/0, gelu +Inf/-0. */
MLI_API mli_status mli_activate(mli_act act, const float *x, float *y, int64_t n);

/* Row-wise softmax over a rows x cols row-major matrix; x == y (in place) is allowed.
 * Numerically stable (the row maximum is subtracted first); each output within 1e-6
 * absolute and 1e-5 relative of the exact value. A row holding NaN or +Inf, or made only
 * of -Inf, comes out all NaN (there is no meaningful distribution). cols == 0 or
 * rows == 0 is a no-op. */
MLI_API mli_status mli_softmax(const float *x, float *y, int64_t rows, int64_t cols);

#if defined(MLI_EXPERIMENTAL)
/* Experimental: may change or go away in any release.
 *
 * Fused C = act(A * B + bias) with A m x k (lda), B k x n (ldb), bias n floats (or NULL
 * for none), C m x n (ldc), all row-major and not transposed — the dense layer of an MLP.
 * Same error bounds as mli_sgemm followed by mli_activate. */
MLI_API mli_status mli_sgemm_bias_act(int64_t m, int64_t n, int64_t k, const float *a, int64_t lda,
                                      const float *b, int64_t ldb, const float *bias, mli_act act,
                                      float *c, int64_t ldc);
#endif

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* MLINFER_H */
