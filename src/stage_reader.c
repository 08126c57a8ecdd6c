/* stage_reader.c — metadata and array sections for the stage builders (stage_reader.h). */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "stage_reader.h"

const char *mli__meta(const mli__reader *r, const char *key) {
    for (uint32_t i = r->n_meta; i-- > 0;) /* the last occurrence of a key wins */
        if (strcmp(r->keys[i], key) == 0)
            return r->values[i];
    return NULL;
}

mli_status mli__meta_str(const mli__reader *r, const char *key, const char **out) {
    *out = mli__meta(r, key);
    if (!*out)
        return mli__fail(MLI_ERR_CORRUPT, "%s: metadata key '%s' is missing", r->c->origin, key);
    return MLI_OK;
}

mli_status mli__meta_int(const mli__reader *r, const char *key, int64_t lo, int64_t hi, int64_t *out) {
    const char *v;
    mli_status st = mli__meta_str(r, key, &v);
    if (st != MLI_OK)
        return st;
    char *end;
    errno = 0;
    long long x = strtoll(v, &end, 10);
    if (errno || end == v || *end || x < lo || x > hi)
        return mli__fail(MLI_ERR_CORRUPT, "%s: metadata key '%s': '%.40s' is not an integer in [%lld, %lld]",
                         r->c->origin, key, v, (long long)lo, (long long)hi);
    *out = x;
    return MLI_OK;
}

/* v as a whole number in the C locale, or MLI_ERR_CORRUPT; finite: refuse NaN and inf. */
static mli_status parse_double(const mli__reader *r, const char *key, const char *v, int finite, double *out) {
    char *end;
    double x = mli__strtod_c(v, &end);
    if (end == v || *end || (finite && !isfinite(x)))
        return mli__fail(MLI_ERR_CORRUPT, "%s: metadata key '%s': '%.40s' is not a %snumber", r->c->origin, key, v,
                         finite ? "finite " : "");
    *out = x;
    return MLI_OK;
}

mli_status mli__meta_double(const mli__reader *r, const char *key, double *out) {
    const char *v;
    mli_status st = mli__meta_str(r, key, &v);
    return st != MLI_OK ? st : parse_double(r, key, v, 0, out);
}

mli_status mli__meta_finite(const mli__reader *r, const char *key, double dflt, double *out) {
    const char *v = mli__meta(r, key);
    *out = dflt;
    return v ? parse_double(r, key, v, 1, out) : MLI_OK;
}

mli_status mli__meta_choice(const mli__reader *r, const char *key, const char *const *names, int dflt, int *out) {
    const char *v = mli__meta(r, key);
    if (!v) {
        *out = dflt;
        return dflt >= 0 ? MLI_OK : mli__fail(MLI_ERR_CORRUPT, "%s: metadata key '%s' is missing", r->c->origin, key);
    }
    for (int i = 0; names[i]; ++i)
        if (strcmp(v, names[i]) == 0) {
            *out = i;
            return MLI_OK;
        }
    char list[128] = "";
    for (int i = 0; names[i]; ++i) {
        strncat(list, i ? ", " : "", sizeof list - strlen(list) - 1);
        strncat(list, names[i], sizeof list - strlen(list) - 1);
    }
    return mli__fail(MLI_ERR_UNSUPPORTED, "%s: metadata key '%s': '%.40s' is not one of %s", r->c->origin, key, v,
                     list);
}

static const char *dtype_name(int dt) {
    static const char *const names[] = {"u8", "f32", "f64", "i32", "i64", "strings"};
    return dt >= 0 && dt <= 5 ? names[dt] : "?";
}

mli_status mli__section_array(const mli__reader *r, const char *name, int dtype, int64_t count, int optional,
                              const void **out) {
    *out = NULL;
    mli__section *s = mli__container_find(r->c, name);
    if (!s)
        return optional ? MLI_OK : mli__fail(MLI_ERR_CORRUPT, "%s: section '%s' is missing", r->c->origin, name);
    size_t esize = dtype == MLI__DT_U8 ? 1 : dtype == MLI__DT_F32 || dtype == MLI__DT_I32 ? 4 : 8;
    if (s->dtype != dtype)
        return mli__fail(MLI_ERR_CORRUPT, "%s: section '%s' has dtype %s, expected %s", r->c->origin, name,
                         dtype_name(s->dtype), dtype_name(dtype));
    if (s->size / esize != (uint64_t)count)
        return mli__fail(MLI_ERR_CORRUPT, "%s: section '%s' holds %llu elements, expected %lld", r->c->origin, name,
                         (unsigned long long)(s->size / esize), (long long)count);
    s->used = 1;
    *out = s->data;
    return MLI_OK;
}
