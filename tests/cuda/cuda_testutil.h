/* cuda_testutil.h — shared by the CUDA tests: skipping when no device can be used (with
 * the reason, in the words ctest's SKIP_REGULAR_EXPRESSION looks for), a deterministic
 * random generator, device buffers that free themselves. Header-only. */
#ifndef MLI_CUDA_TESTUTIL_H
#define MLI_CUDA_TESTUTIL_H

#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "mlinfer.h"
#include "mlinfer_cuda.h"

/* Skips the calling test unless a CUDA device can be used; prints why. */
#define CT_REQUIRE_DEVICE()                                                                                  \
    do {                                                                                                     \
        int n_ = 0;                                                                                          \
        if (mli_cuda_device_count(&n_) != MLI_OK || n_ == 0) {                                               \
            printf("skipping: no CUDA device (%s)\n", mli_last_error());                                     \
            skip();                                                                                          \
        }                                                                                                    \
    } while (0)

/* Whether this process has cuBLAS mapped (/proc/self/maps names libcublas): the library
 * opens it at the first CUDA stream, never at start-up. */
static inline int ct_cublas_mapped(void) {
    FILE *f = fopen("/proc/self/maps", "r");
    assert_non_null(f);
    char line[4096];
    int found = 0;
    while (!found && fgets(line, sizeof line, f))
        found = strstr(line, "/libcublas") != NULL;
    fclose(f);
    return found;
}

/* xorshift64*: the same numbers on every machine. */
typedef struct {
    uint64_t s;
} ct_rng;

static inline uint64_t ct_next(ct_rng *r) {
    r->s ^= r->s >> 12;
    r->s ^= r->s << 25;
    r->s ^= r->s >> 27;
    return r->s * 2685821657736338717ull;
}

/* Uniform in [lo, hi). */
static inline double ct_uniform(ct_rng *r, double lo, double hi) {
    return lo + (hi - lo) * (double)(ct_next(r) >> 11) * (1.0 / 9007199254740992.0);
}

/* A device copy of n host floats (or n uninitialised floats when host is NULL). */
static inline float *ct_dev_floats(const float *host, int64_t n) {
    void *p = NULL;
    assert_int_equal(mli_cuda_malloc(0, sizeof(float) * (size_t)(n ? n : 1), &p), MLI_OK);
    if (host && n)
        assert_int_equal(mli_cuda_memcpy(NULL, p, host, sizeof(float) * (size_t)n), MLI_OK);
    return p;
}

static inline void ct_to_host(float *host, const float *dev, int64_t n) {
    if (n)
        assert_int_equal(mli_cuda_memcpy(NULL, host, dev, sizeof(float) * (size_t)n), MLI_OK);
}

#endif
