/* cuda_blas.h — the cuBLAS functions the CUDA backend calls, resolved from libcublas with
 * dlopen at the first stream instead of linked: a process that never uses the GPU never
 * maps cuBLAS (and its 540 MB cuBLASLt). Internal (prefix mli__cublas). */
#ifndef MLI_CUDA_BLAS_H
#define MLI_CUDA_BLAS_H

#include <stddef.h>

#include <cublas_v2.h>

#include "mlinfer.h"

/* X(field, exported symbol). cublas_v2.h #defines the short names (cublasCreate ->
 * cublasCreate_v2), so the list names what libcublas exports; each pointer's type is the
 * header's declaration of that symbol, so the compiler checks every call. */
#define MLI_CUBLAS_FUNCTIONS(X)                                                                                        \
    X(create, cublasCreate_v2)                                                                                         \
    X(destroy, cublasDestroy_v2)                                                                                       \
    X(set_stream, cublasSetStream_v2)                                                                                  \
    X(set_math_mode, cublasSetMathMode)                                                                                \
    X(sgemm, cublasSgemm_v2)                                                                                           \
    X(sgemm_64, cublasSgemm_v2_64)                                                                                     \
    X(status_string, cublasGetStatusString)

typedef struct {
#define MLI_CUBLAS_FIELD(field, symbol) __typeof__(symbol) *field;
    MLI_CUBLAS_FUNCTIONS(MLI_CUBLAS_FIELD)
#undef MLI_CUBLAS_FIELD
} mli__cublas_api;

/* The file dlopen opens: the soname of the cuBLAS the library was built against. */
const char *mli__cublas_file(void);

/* Opens `file` and resolves every function of the list into *api. Returns 0; or -1 with
 * *api zeroed, the file closed again and the reason (naming `file` and, where it applies,
 * the symbol, with dlerror()'s text) in why[why_len]. */
int mli__cublas_open(const char *file, mli__cublas_api *api, char *why, size_t why_len);

/* Loads mli__cublas_file() into mli__cublas, tried once per process (thread-safe; the
 * library then stays loaded). MLI_OK, or MLI_ERR_DEVICE with the reason prefixed by `fn`,
 * on this and every later call, when it cannot be loaded. Called before the first cuBLAS
 * handle is made, so code that holds a handle calls through mli__cublas directly. */
mli_status mli__cublas_load(const char *fn);

/* Filled by mli__cublas_load; read-only after. */
extern mli__cublas_api mli__cublas;

#endif
