/* activate.c — mli_activate and mli_softmax: argument checks, then the kernel table. */
#include "internal.h"

static mli_status check_vectors(const char *fn, const float *x, const float *y, int64_t n) {
    if (n < 0)
        return mli__fail(MLI_ERR_INVALID_ARGUMENT, "%s: negative length n=%lld", fn, (long long)n);
    if (n > INT64_MAX / (int64_t)sizeof(float))
        return mli__fail(MLI_ERR_INVALID_ARGUMENT, "%s: length n=%lld exceeds addressable memory", fn, (long long)n);
    if (n > 0 && !x)
        return mli__fail(MLI_ERR_INVALID_ARGUMENT, "%s: x is NULL but n=%lld", fn, (long long)n);
    if (n > 0 && !y)
        return mli__fail(MLI_ERR_INVALID_ARGUMENT, "%s: y is NULL but n=%lld", fn, (long long)n);
    return MLI_OK;
}

mli_status mli_activate(mli_act act, const float *x, float *y, int64_t n) {
    if ((unsigned)act >= MLI__ACT_COUNT)
        return mli__fail(MLI_ERR_INVALID_ARGUMENT, "mli_activate: act (%d) is not an mli_act value", (int)act);
    mli_status st = check_vectors("mli_activate", x, y, n);
    if (st != MLI_OK)
        return st;
    const mli__kernels *kt = mli__get_kernels();
    if (!kt)
        return MLI_ERR_UNSUPPORTED;
    if (n > 0)
        kt->act[act](x, y, n);
    return MLI_OK;
}

mli_status mli_softmax(const float *x, float *y, int64_t rows, int64_t cols) {
    if (rows < 0 || cols < 0)
        return mli__fail(MLI_ERR_INVALID_ARGUMENT, "mli_softmax: negative size (rows=%lld, cols=%lld)", (long long)rows,
                         (long long)cols);
    int64_t total;
    if (!mli__mul_ok(rows, cols, &total))
        return mli__fail(MLI_ERR_INVALID_ARGUMENT, "mli_softmax: rows * cols overflows (rows=%lld, cols=%lld)",
                         (long long)rows, (long long)cols);
    mli_status st = check_vectors("mli_softmax", x, y, total);
    if (st != MLI_OK)
        return st;
    const mli__kernels *kt = mli__get_kernels();
    if (!kt)
        return MLI_ERR_UNSUPPORTED;
    if (total == 0) /* x and y may be NULL then: no arithmetic on them */
        return MLI_OK;
    for (int64_t r = 0; r < rows; ++r)
        kt->softmax(x + r * cols, y + r * cols, cols);
    return MLI_OK;
}
