/* stage_reader.h — what a stage builder reads from a .mli file: metadata values and array
 * sections, each checked, each error naming the file. The builders of every stage kind
 * (the dense stages in model.c, src/trees/, src/image/) take a reader, never the model:
 * they depend on this module, and model.c only dispatches to them. */
#ifndef MLI_STAGE_READER_H
#define MLI_STAGE_READER_H

#include <stdint.h>

#include "format.h"
#include "internal.h"

#define MLI__MAX_WIDTH (1 << 24) /* features, units or outputs of one stage */

typedef struct mli__reader {
    mli__container *c;       /* the sections; each one read is marked used */
    const char *const *keys; /* metadata: n_meta key/value pairs, the last of a key wins */
    const char *const *values;
    uint32_t n_meta;
} mli__reader;

/* The value of metadata `key`, or NULL when absent. */
const char *mli__meta(const mli__reader *r, const char *key);
/* Required values: a missing key, or a value of the wrong form, is MLI_ERR_CORRUPT with a
 * message naming the file, the key and the value. */
mli_status mli__meta_str(const mli__reader *r, const char *key, const char **out);
mli_status mli__meta_int(const mli__reader *r, const char *key, int64_t lo, int64_t hi, int64_t *out);
mli_status mli__meta_double(const mli__reader *r, const char *key, double *out);
/* Optional values: *out = dflt when the key is absent. meta_finite refuses NaN and
 * infinities; meta_choice writes the index of the value in `names` (NULL-terminated),
 * MLI_ERR_UNSUPPORTED naming the choices when it is none of them (dflt < 0: required). */
mli_status mli__meta_finite(const mli__reader *r, const char *key, double dflt, double *out);
mli_status mli__meta_choice(const mli__reader *r, const char *key, const char *const *names, int dflt, int *out);
/* The array section `name` of `dtype` (MLI__DT_*) holding exactly `count` elements. With
 * optional != 0, a missing section yields NULL and MLI_OK. */
mli_status mli__section_array(const mli__reader *r, const char *name, int dtype, int64_t count, int optional,
                              const void **out);

#endif
