/* writer.h — builds an .mli file in memory (docs/FORMAT.md): the importers of other
 * frameworks' model files write through it, and the loader then reads the result like
 * any other .mli, so every model passes the same checks.
 *
 * Errors are sticky: after the first failure (out of memory, a bad name) every call is a
 * no-op that returns the same status, and mli__writer_finish reports it. An importer can
 * therefore write a run of sections and check once. */
#ifndef MLI_WRITER_H
#define MLI_WRITER_H

#include <stddef.h>
#include <stdint.h>

#include "format.h"
#include "internal.h"

typedef struct mli__writer mli__writer;

/* NULL when out of memory (the thread's last error is set). */
mli__writer *mli__writer_new(void);
void mli__writer_free(mli__writer *w);

/* Appends "key=value" to the `meta` section; value is printf-formatted. */
mli_status mli__writer_meta(mli__writer *w, const char *key, const char *fmt, ...) MLI_PRINTF(3, 4);

/* Appends a section holding a copy of `count` elements of `dtype` (MLI__DT_U8, _F32, _F64,
 * _I32, _I64). Names must be unique, at most 32 bytes of [A-Za-z0-9_.]. */
mli_status mli__writer_array(mli__writer *w, const char *name, int dtype, const void *data, int64_t count);

/* The same, flagged required (docs/FORMAT.md: a reader that does not know the section refuses
 * the file rather than ignore it), for what a section adds to the meaning of the stage; the
 * header's minor becomes at least `minor`, the version that brought the section. */
mli_status mli__writer_array_required(mli__writer *w, const char *name, int dtype, const void *data, int64_t count,
                                      int minor);

/* Appends a `strings` section. */
mli_status mli__writer_strings(mli__writer *w, const char *name, const char *const *items, uint32_t count);

/* The status of the first failure so far, or MLI_OK. */
mli_status mli__writer_status(const mli__writer *w);

/* Lays out the file (format major 1; the minor is the oldest that has every stage kind
 * and head written: 1 with trees or an image stage, 2 with the ovr_sigmoid head, 4 with a prep
 * stage, 5 with the ovr_proba head, 6 with the softplus or signed_square head or linear leaves) and returns it in *out (free() it) with its size, or the sticky error. The writer may be freed afterwards. */
mli_status mli__writer_finish(mli__writer *w, uint8_t **out, size_t *size);

#endif
