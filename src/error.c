/* error.c — status names and the per-thread detailed error message. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "internal.h"

#define MLI_ERROR_CAPACITY 512

static _Thread_local char mli__last_error[MLI_ERROR_CAPACITY];

const char *mli_status_string(mli_status status) {
    switch (status) {
    case MLI_OK: return "MLI_OK: success";
    case MLI_ERR_INVALID_ARGUMENT: return "MLI_ERR_INVALID_ARGUMENT: invalid argument";
    case MLI_ERR_OUT_OF_MEMORY: return "MLI_ERR_OUT_OF_MEMORY: out of memory";
    case MLI_ERR_UNSUPPORTED: return "MLI_ERR_UNSUPPORTED: not supported";
    case MLI_ERR_IO: return "MLI_ERR_IO: input/output error";
    case MLI_ERR_CORRUPT: return "MLI_ERR_CORRUPT: malformed model data";
    case MLI_ERR_VERSION: return "MLI_ERR_VERSION: model needs a newer libmlinfer";
    case MLI_ERR_SHAPE: return "MLI_ERR_SHAPE: shape mismatch";
    case MLI_ERR_DEVICE: return "MLI_ERR_DEVICE: device error";
    case MLI_ERR_INTERNAL: return "MLI_ERR_INTERNAL: internal error";
    case MLI_ERR_IMAGE: return "MLI_ERR_IMAGE: bad input image";
    case MLI_ERR_INPUT: return "MLI_ERR_INPUT: bad input value";
    }
    return "MLI_ERR_UNKNOWN: unknown status code";
}

const char *mli_last_error(void) { return mli__last_error; }

mli_status mli__fail(mli_status status, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(mli__last_error, sizeof mli__last_error, fmt, ap);
    va_end(ap);
    return status;
}

void mli__fail_note(const char *fmt, ...) {
    size_t n = strlen(mli__last_error);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(mli__last_error + n, sizeof mli__last_error - n, fmt, ap);
    va_end(ap);
}
