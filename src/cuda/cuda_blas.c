/* cuda_blas.c — opens libcublas at the first CUDA stream (cuda_blas.h says why) and
 * resolves the functions the backend calls. Nothing is printed; a failure is the reason
 * string every later CUDA stream call reports as MLI_ERR_DEVICE. */
#define _POSIX_C_SOURCE 200809L
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "cuda_blas.h"
#include "internal.h"

/* CMake passes the soname of the cuBLAS it found (cmake: MLI_CUBLAS_SONAME); else the
 * major version of the header the signatures come from. */
#ifndef MLI_CUBLAS_SONAME
#ifdef CUBLAS_VER_MAJOR
#define MLI_CUBLAS_STR_(x) #x
#define MLI_CUBLAS_STR(x) MLI_CUBLAS_STR_(x)
#define MLI_CUBLAS_SONAME "libcublas.so." MLI_CUBLAS_STR(CUBLAS_VER_MAJOR)
#else
#define MLI_CUBLAS_SONAME "libcublas.so"
#endif
#endif

_Static_assert(sizeof(void *) == sizeof(void (*)(void)), "dlsym's pointers must fit a function pointer");

mli__cublas_api mli__cublas;

static pthread_once_t load_once = PTHREAD_ONCE_INIT;
static char load_error[512]; /* empty once loaded */

const char *mli__cublas_file(void) { return MLI_CUBLAS_SONAME; }

static const char *dl_reason(void) {
    const char *e = dlerror();
    return e ? e : "no reason given";
}

int mli__cublas_open(const char *file, mli__cublas_api *api, char *why, size_t why_len) {
    memset(api, 0, sizeof *api);
    void *h = dlopen(file, RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        snprintf(why, why_len, "cannot load cuBLAS (%s): %s", file, dl_reason());
        return -1;
    }
    /* dlsym's result goes through memcpy: ISO C has no conversion from void * to a
     * function pointer, POSIX guarantees the representation. */
#define MLI_CUBLAS_RESOLVE(field, symbol)                                                                              \
    {                                                                                                                  \
        void *p = dlsym(h, #symbol);                                                                                   \
        if (!p) {                                                                                                      \
            snprintf(why, why_len, "%s lacks %s: %s", file, #symbol, dl_reason());                                     \
            memset(api, 0, sizeof *api);                                                                               \
            dlclose(h);                                                                                                \
            return -1;                                                                                                 \
        }                                                                                                              \
        memcpy(&api->field, &p, sizeof p);                                                                             \
    }
    MLI_CUBLAS_FUNCTIONS(MLI_CUBLAS_RESOLVE)
#undef MLI_CUBLAS_RESOLVE
    return 0;
}

static void load(void) {
    (void)dlerror(); /* a stale message must not stand in for this attempt's */
    mli__cublas_open(MLI_CUBLAS_SONAME, &mli__cublas, load_error, sizeof load_error);
}

mli_status mli__cublas_load(const char *fn) {
    pthread_once(&load_once, load);
    return load_error[0] ? mli__fail(MLI_ERR_DEVICE, "%s: %s", fn, load_error) : MLI_OK;
}
