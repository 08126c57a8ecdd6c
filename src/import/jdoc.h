/* jdoc.h — a read-only document tree parsed from JSON text or UBJSON, for the model
 * importers. Arrays of numbers (XGBoost's node arrays: nearly all of a model file) are
 * packed into contiguous doubles, so a 500-tree model parses in tens of milliseconds and
 * takes about as much memory as its numbers. Both parsers check every byte against the
 * input and never recurse deeper than MLI__JD_MAX_DEPTH.
 *
 * JSON numbers are converted with correct rounding; where the fast path (<= 19 digits,
 * |exponent| <= 22) lands a number exactly
 * between two float32 values after rounding to double, the double is nudged one ulp
 * toward the decimal so that a later (float) conversion rounds as strtof would — the
 * importers narrow thresholds and leaf values to float32 as XGBoost does. */
#ifndef MLI_IMPORT_JDOC_H
#define MLI_IMPORT_JDOC_H

#include <stddef.h>
#include <stdint.h>

#include "../internal.h"

#define MLI__JD_MAX_DEPTH 128

enum { MLI__JD_NULL = 1, MLI__JD_BOOL, MLI__JD_NUM, MLI__JD_STR, MLI__JD_ARR, MLI__JD_OBJ };
enum {
    MLI__JD_PACKED = 1,   /* an array whose elements are all in `nums` (numbers or booleans) */
    MLI__JD_HAS_BOOL = 2, /* a packed array that held booleans (stored as 0 and 1) */
    MLI__JD_OWNSTR = 4    /* a string held in the document's own buffer (decoded escapes) */
};

typedef struct mli__jval {
    uint8_t type, flags;
    uint32_t n; /* string length in bytes, elements of an array, keys of an object */
    union {
        double num;   /* MLI__JD_NUM, MLI__JD_BOOL (0 or 1) */
        uint64_t off; /* strings: byte offset; packed arrays: index in nums; others: index in vals */
    } u;
} mli__jval;

typedef struct mli__jdoc {
    const char *src; /* the input (strings without escapes point into it) */
    mli__jval root;
    mli__jval *vals; /* container elements; an object's are key, value, key, value, ... */
    double *nums;    /* packed array elements */
    char *sbuf;      /* decoded strings */
    size_t n_vals, cap_vals, n_nums, cap_nums, n_sbuf, cap_sbuf;
} mli__jdoc;

/* Parse `size` bytes; on failure the document is empty and the message names `origin`
 * and the byte offset. Free the document with mli__jd_free in every case. */
mli_status mli__jd_parse_json(const char *origin, const uint8_t *data, size_t size, mli__jdoc *doc);
mli_status mli__jd_parse_ubjson(const char *origin, const uint8_t *data, size_t size, mli__jdoc *doc);
void mli__jd_free(mli__jdoc *doc);

/* The value of `key` in object `obj`, or NULL (also when obj is not an object). */
const mli__jval *mli__jd_get(const mli__jdoc *doc, const mli__jval *obj, const char *key);
/* Element i of a non-packed array, or NULL. */
const mli__jval *mli__jd_at(const mli__jdoc *doc, const mli__jval *arr, uint32_t i);
/* The elements of a packed array (any array of numbers, including the empty one), or
 * NULL. Booleans are accepted only when `allow_bool`. */
const double *mli__jd_nums(const mli__jdoc *doc, const mli__jval *arr, int allow_bool);
/* A string's bytes (not NUL-terminated) and length, or NULL when v is not a string. */
const char *mli__jd_str(const mli__jdoc *doc, const mli__jval *v, size_t *len);
/* 1 when v is the string `s`. */
int mli__jd_str_is(const mli__jdoc *doc, const mli__jval *v, const char *s);

/* "a number", "an array", ... for messages. */
const char *mli__jd_type_name(int type);
/* obj[key] of the given MLI__JD_* type, or MLI_ERR_CORRUPT naming `origin`, `where` (obj) and key. */
mli_status mli__jd_member(const mli__jdoc *doc, const char *origin, const mli__jval *obj, const char *where,
                          const char *key, int type, const mli__jval **out);
/* The packed numbers of the array obj[key], exactly n of them (any count when n < 0), or
 * MLI_ERR_CORRUPT as mli__jd_member. */
mli_status mli__jd_num_array(const mli__jdoc *doc, const char *origin, const mli__jval *obj, const char *where,
                             const char *key, int64_t n, int allow_bool, const double **out);

/* Parses a JSON number (or NaN, Infinity, -Infinity) at the start of [p, end), with the
 * rounding described above. Returns the bytes consumed, 0 when there is no number. */
size_t mli__jd_number(const char *p, const char *end, double *out);

#endif
