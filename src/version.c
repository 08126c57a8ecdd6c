/* version.c — the run-time version, for checking against the header's macros. */
#include "internal.h"

#define MLI_STR_(x) #x
#define MLI_STR(x) MLI_STR_(x)

const char *mli_version(void) {
    return MLI_STR(MLI_VERSION_MAJOR) "." MLI_STR(MLI_VERSION_MINOR) "." MLI_STR(MLI_VERSION_PATCH);
}

int mli_version_number(void) { return MLI_VERSION_NUMBER; }
