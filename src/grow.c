/* grow.c — the one growable buffer (mli__reserve, internal.h) of the importers and the writer. */
#include <stdint.h>
#include <stdlib.h>

#include "internal.h"

int mli__reserve(void **buf, size_t *cap, size_t used, size_t more, size_t elem) {
    if (more <= *cap - used)
        return 1;
    size_t need = used + more;
    if (need < used || need > SIZE_MAX / elem / 2)
        return 0;
    size_t c = *cap ? *cap : 256;
    while (c < need)
        c *= 2;
    void *b = realloc(*buf, c * elem);
    if (!b)
        return 0;
    *buf = b;
    *cap = c;
    return 1;
}
