/* protocol.c — what every protocol shares behind the one parsed-request type
 * (struct proto_call): error bodies, JSON helpers, jobs and class labels, and the finish
 * step that hands a call to its protocol. The protocols: protocol_seed.c (POST /predict
 * and V1, JSON and JPEG) and protocol_v2.c (Open Inference V2, JSON and binary). */
#include "protocol.h"
#include "protocol_internal.h"

#include "binary.h"
#include "images.h"
#include "registry.h"
#include "../common/utf8.h"

#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

cJSON *proto_error(const char *fmt, ...) {
    char msg[ERRLEN];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "error", msg);
    return o;
}

/* Sets *out to an error body and returns `status`. */
int proto__fail(cJSON **out, int status, const char *msg) {
    *out = proto_error("%s", msg);
    return status;
}

int proto__fail_reason(cJSON **out, int status, const char *msg, const char *reason) {
    *out = proto_error("%s", msg);
    cJSON_AddStringToObject(*out, "reason", reason);
    return status;
}

/* Whether a JSON text holds the escape \u0000 in a string (a key or a value): cJSON keeps
 * strings NUL-terminated, so "pro\u0000x" would silently read as "pro". Backslashes occur
 * only in strings, each starting a two-character escape (or \uXXXX). */
static int has_nul_escape(const char *body, size_t len) {
    const char *p = body, *end = body + len;
    while ((p = memchr(p, '\\', (size_t)(end - p))) != NULL) {
        if (end - p >= 6 && p[1] == 'u' && memcmp(p + 2, "0000", 4) == 0)
            return 1;
        p += 2; /* the escaped character (a backslash too) is not a new escape */
        if (p >= end)
            break;
    }
    return 0;
}

static int cmp_keys(const void *a, const void *b) {
    return strcmp((*(const cJSON *const *)a)->string, (*(const cJSON *const *)b)->string);
}

/* The first key an object of v's tree (v included) holds twice: NULL when none, else the
 * key, with `path` (size bytes) the object's place (features, instances[3], ...). A duplicate
 * key's value depends on the parser (cJSON takes the first, Python's json and most others the
 * last), so a request holding one would be scored on a value its sender may not have meant. */
static const char *duplicate_key(const cJSON *v, char *path, size_t size, size_t used) {
    if (!cJSON_IsObject(v) && !cJSON_IsArray(v))
        return NULL;
    if (cJSON_IsObject(v)) {
        int n = cJSON_GetArraySize(v);
        const cJSON *a, *b;
        /* many keys: sorted, unless that memory is not there (then pair by pair, slower but checked) */
        const cJSON **keys = n > 32 ? malloc((size_t)n * sizeof *keys) : NULL;
        if (!keys) {
            for (a = v->child; a; a = a->next)
                for (b = a->next; b; b = b->next)
                    if (strcmp(a->string, b->string) == 0)
                        return a->string;
        } else {
            int k = 0;
            for (a = v->child; a; a = a->next)
                keys[k++] = a;
            qsort(keys, (size_t)n, sizeof *keys, cmp_keys);
            const char *dup = NULL;
            for (k = 1; k < n && !dup; k++)
                if (strcmp(keys[k - 1]->string, keys[k]->string) == 0)
                    dup = keys[k]->string;
            free(keys);
            if (dup)
                return dup;
        }
    }
    int i = 0;
    for (const cJSON *c = v->child; c; c = c->next, i++) {
        if (!cJSON_IsObject(c) && !cJSON_IsArray(c))
            continue;
        int w = cJSON_IsObject(v) ? snprintf(path + used, size - used, "%s%.40s", used ? "." : "", c->string)
                                  : snprintf(path + used, size - used, "[%d]", i);
        size_t next = w < 0 || (size_t)w >= size - used ? size - 1 : used + (size_t)w;
        const char *dup = duplicate_key(c, path, size, next);
        if (dup)
            return dup;
        path[used] = 0;
    }
    return NULL;
}

cJSON *proto__parse_object(const char *body, size_t len, char *err) {
    if (len == 0) {
        snprintf(err, ERRLEN, "empty request body: expected a JSON object");
        return NULL;
    }
    cJSON *root = cJSON_ParseWithLength(body, len);
    if (!root) {
        snprintf(err, ERRLEN, "malformed JSON in request body");
        return NULL;
    }
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        snprintf(err, ERRLEN, "request body must be a JSON object");
        return NULL;
    }
    size_t bad = utf8_invalid_at((const unsigned char *)body, len);
    if (bad < len) { /* cJSON passes any bytes through: a Latin-1 "Zürich" would be a category never seen */
        cJSON_Delete(root);
        snprintf(err, ERRLEN, "the JSON text is not UTF-8 (byte 0x%02X at offset %zu), as JSON must be",
                 (unsigned)(unsigned char)body[bad], bad);
        return NULL;
    }
    if (has_nul_escape(body, len)) {
        cJSON_Delete(root);
        snprintf(err, ERRLEN, "a JSON string holds \\u0000 (a NUL character), which the server cannot take");
        return NULL;
    }
    char path[128] = "";
    const char *dup = duplicate_key(root, path, sizeof path, 0);
    if (dup) {
        if (*path)
            snprintf(err, ERRLEN, "the JSON object '%.100s' has the key '%.100s' twice: send each key once", path, dup);
        else
            snprintf(err, ERRLEN, "the request has the key '%.100s' twice: send each key once", dup);
        cJSON_Delete(root);
        return NULL;
    }
    return root;
}

/* A double as the shortest JSON number that reads back exactly (cJSON's own printing can
 * be one ulp off); null when it is not finite. */
cJSON *proto__number_json(double v) {
    if (!isfinite(v))
        return cJSON_CreateNull();
    char buf[32];
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(buf, sizeof buf, "%.*g", prec, v);
        if (strtod(buf, NULL) == v)
            break;
    }
    return cJSON_CreateRaw(buf);
}

cJSON *proto__numbers_json(const double *v, int64_t n) {
    cJSON *a = cJSON_CreateArray();
    for (int64_t i = 0; i < n; i++)
        cJSON_AddItemToArray(a, proto__number_json(v[i]));
    return a;
}

int proto__number_value(const cJSON *v, const char *where, long long idx, double *out, char *err) {
    if (!cJSON_IsNumber(v)) {
        snprintf(err, ERRLEN, "%s[%lld]: expected a number", where, idx);
        return -1;
    }
    if (!isfinite(v->valuedouble)) {
        snprintf(err, ERRLEN, "%s[%lld]: value is not finite", where, idx);
        return -1;
    }
    *out = v->valuedouble;
    return 0;
}

int proto__integer_ok(double v, const char *dt) {
    double lo = strcmp(dt, "INT32") == 0 ? -2147483648.0 : -9223372036854775808.0;
    double hi = strcmp(dt, "INT32") == 0 ? 2147483647.0 : 9223372036854775807.0; /* 2^63 as a double */
    return v >= lo && (strcmp(dt, "INT32") == 0 ? v <= hi : v < hi) && v == floor(v);
}

struct proto_call *proto__new_call(struct model_ref *m, cJSON *root, char *err) {
    struct proto_call *c = calloc(1, sizeof *c);
    if (!c) {
        snprintf(err, ERRLEN, "out of memory");
        return NULL;
    }
    c->m = m;
    c->root = root;
    return c;
}

int proto__begin(struct model_ref *m, const char *body, size_t len, struct proto_call **call, cJSON **out) {
    char err[ERRLEN];
    cJSON *root = proto__parse_object(body, len, err);
    if (!root)
        return proto__fail(out, 400, err);
    if (!(*call = proto__new_call(m, root, err))) {
        cJSON_Delete(root);
        return proto__fail(out, 500, err);
    }
    return 200;
}

/* Adds a job computing `kind` over the call's rows (c->xf when set, else c->x). */
int proto__add_job(struct proto_call *c, int kind, char *err) {
    struct pred_job *j = &c->jobs[c->n_jobs];
    memset(j, 0, sizeof *j);
    j->m = c->m;
    j->kind = kind;
    j->dtype = c->xf ? MLI_F32 : MLI_F64;
    j->x = c->xf ? (const void *)c->xf : (const void *)c->x;
    j->rows = c->rows;
    j->cols = c->cols;
    j->n_cols = c->n_cols;
    if (!(j->y = malloc((size_t)c->rows * (size_t)pred_cols(c->m, kind) * sizeof *j->y))) {
        snprintf(err, ERRLEN, "out of memory for %lld rows", (long long)c->rows);
        return -1;
    }
    c->n_jobs++;
    return 0;
}

/* The results of the call's job of `kind`. */
const double *proto__result(const struct proto_call *c, int kind) {
    for (int i = 0; i < c->n_jobs; i++)
        if (c->jobs[i].kind == kind)
            return c->jobs[i].y;
    return NULL;
}

void proto_call_free(struct proto_call *c) {
    if (!c)
        return;
    for (int i = 0; i < c->n_jobs; i++)
        free(c->jobs[i].y);
    free(c->x);
    free(c->xf);
    free(c->cols);
    free(c->colmem);
    cJSON_Delete(c->root);
    free(c);
}

const char *proto__contrib_name(const struct model_ref *m, int64_t j, int64_t n_columns, char buf[32]) {
    const char *k = NULL;
    if (j == n_columns)
        return "bias";
    if (mli_model_contrib_column(m->model, j, NULL, &k) != MLI_OK || !k) {
        snprintf(buf, 32, "f%lld", (long long)j);
        k = buf;
    }
    return k;
}

char *proto__contrib_names_string(const struct model_ref *m) {
    int64_t n_raw = mli_model_n_raw(m->model), width = mli_model_n_contrib(m->model);
    int64_t groups = n_raw > 0 && width > 0 ? width / n_raw - 1 : -1;
    cJSON *a = cJSON_CreateArray();
    for (int64_t j = 0; j <= groups; j++) {
        char buf[32];
        cJSON_AddItemToArray(a, cJSON_CreateString(proto__contrib_name(m, j, groups, buf)));
    }
    char *s = cJSON_PrintUnformatted(a);
    cJSON_Delete(a);
    return s;
}

int proto__interactions_ok(const struct proto_call *c, const char *what, char *err) {
    int64_t per_row = mli_model_n_interactions(c->m->model);
    if (per_row == 0) { /* the call with no rows says why */
        mli_model_predict_interactions(c->m->model, NULL, MLI_F64, 0, c->m->n_features, NULL, 0);
        snprintf(err, ERRLEN, "%s: %s", what, mli_last_error());
        return -1;
    }
    int64_t most = PROTO_MAX_INTERACTION_VALUES / per_row;
    if (c->rows > most) {
        char rows_fix[48];
        const char *fix = "even one row is too many: use the library or the CLI";
        if (most > 0) {
            snprintf(rows_fix, sizeof rows_fix, "send at most %lld rows", (long long)most);
            fix = rows_fix;
        }
        snprintf(err, ERRLEN,
                 "%s: %lld rows x %lld values per row is over the limit of %lld interaction values per request: %s",
                 what, (long long)c->rows, (long long)per_row, (long long)PROTO_MAX_INTERACTION_VALUES, fix);
        return -1;
    }
    return 0;
}

cJSON *proto__label_json(const struct model_ref *m, double cls) {
    int64_t i = (int64_t)cls;
    if (m->string_labels) {
        const char *s = "";
        mli_model_class_label_str(m->model, i, &s);
        return cJSON_CreateString(s);
    }
    int64_t v = 0;
    mli_model_class_label_int(m->model, i, &v);
    return cJSON_CreateNumber((double)v);
}

/* Decodes the n base64 strings strs[i] into one buffer (*decoded, to free), with jpegs[i]
 * and sizes[i] pointing into it. Returns 0; -1 for a string that is not base64 (*bad its
 * index, why the reason); -2 out of memory. */
int proto__decode_b64_strings(const cJSON *const *strs, int64_t n, unsigned char **decoded, const unsigned char **jpegs,
                              size_t *sizes, int64_t *bad, char *why, size_t whylen) {
    size_t room = 0;
    for (int64_t i = 0; i < n; i++)
        room += strlen(strs[i]->valuestring) / 4 * 3 + 3;
    if (!(*decoded = malloc(room)))
        return -2;
    size_t off = 0;
    for (int64_t i = 0; i < n; i++) {
        const char *s = strs[i]->valuestring;
        long long len = base64_decode(s, strlen(s), *decoded + off, why, whylen);
        if (len < 0) {
            *bad = i;
            return -1;
        }
        jpegs[i] = *decoded + off;
        sizes[i] = (size_t)len;
        off += strlen(s) / 4 * 3 + 3;
    }
    return 0;
}

int proto_finish(struct proto_call *c, cJSON **out, char **bin, size_t *bin_len) {
    *bin = NULL;
    *bin_len = 0;
    for (int i = 0; i < c->n_jobs; i++)
        if (c->jobs[i].failed) {
            if (!c->jobs[i].bad_input)
                return proto__fail(out, 500, c->jobs[i].err);
            const char *e = c->jobs[i].err;
            return proto__fail_reason(out, 400, e,
                                      strstr(e, "missing value")     ? "missing_value"
                                      : strstr(e, "unknown categor") ? "unknown_category"
                                                                     : "bad_value");
        }
    return c->v2 ? proto__v2_finish(c, out, bin, bin_len) : proto__seed_finish(c, out);
}
