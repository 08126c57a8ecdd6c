/* protocol_named.c — rows of named values ({"age": 3, "city": "Oslo", "tenure": null}) into
 * the columns of mli_model_predict_columns: numbers as F64, strings as UTF8, a JSON null as
 * a missing value (validity bit off). Two passes over the parsed body: the first checks
 * every value and sizes the buffers, the second fills them; nothing is allocated from a
 * size the body declares, only from values it holds. */
#include "protocol.h"
#include "protocol_internal.h"

#include "binary.h"
#include "registry.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct named_col {
    int64_t index; /* the model's column */
    int string;    /* MLI_COLUMN_STRING */
    int f32;       /* a V2 FP32 input: passed as float32, so the library's float32 rules apply */
    const char *name;
    size_t bytes; /* string bytes over all rows */
    double *num;
    float *numf; /* f32 */
    int64_t *off;
    char *str;
    uint8_t *valid;
};

static const char *json_kind(const cJSON *v) {
    return cJSON_IsString(v)   ? "a string"
           : cJSON_IsNumber(v) ? "a number"
           : cJSON_IsBool(v)   ? "a boolean"
           : cJSON_IsArray(v)  ? "an array"
                               : "an object";
}

/* Row `r` (an object) checked against the columns; with fill, its values written. */
static int one_row(const struct model_ref *m, const cJSON *row, int64_t r, struct named_col *cols, int64_t n_cols,
                   const char *where, int single, int fill, char *err, const char **reason) {
    char at[64];
    if (single)
        snprintf(at, sizeof at, "%s", where);
    else
        snprintf(at, sizeof at, "%s[%lld]", where, (long long)r);
    if (!cJSON_IsObject(row)) {
        snprintf(err, ERRLEN, "%s: expected an object of named values like the other rows", at);
        *reason = "wrong_type";
        return 400;
    }
    if (!fill) { /* every name the row gives is a column of the model */
        const cJSON *v;
        cJSON_ArrayForEach(v, row) {
            int64_t idx;
            if (!v->string || mli_model_column_index(m->model, v->string, &idx) != MLI_OK) {
                snprintf(err, ERRLEN, "%s: unknown column '%.100s'", at, v->string ? v->string : "");
                *reason = "unknown_column";
                return 400;
            }
        }
    }
    for (int64_t k = 0; k < n_cols; k++) {
        struct named_col *c = &cols[k];
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(row, c->name);
        if (!v) {
            snprintf(err, ERRLEN, "%s: missing column '%.100s'", at, c->name);
            *reason = "missing_column";
            return 400;
        }
        int null = cJSON_IsNull(v);
        if (!null && c->string && !cJSON_IsString(v)) {
            snprintf(err, ERRLEN, "%s.%.100s: expected a string (or null), got %s", at, c->name, json_kind(v));
            *reason = "wrong_type";
            return 400;
        }
        if (!null && !c->string && !cJSON_IsNumber(v)) {
            snprintf(err, ERRLEN, "%s.%.100s: expected a number (or null), got %s", at, c->name, json_kind(v));
            *reason = "wrong_type";
            return 400;
        }
        size_t len = !null && c->string ? strlen(v->valuestring) : 0;
        if (!fill) {
            c->bytes += len;
            continue;
        }
        if (!null)
            c->valid[r / 8] |= (uint8_t)(1u << (r % 8));
        if (c->string) {
            memcpy(c->str + c->off[r], null ? "" : v->valuestring, len);
            c->off[r + 1] = c->off[r] + (int64_t)len;
        } else {
            c->num[r] = null ? 0.0 : v->valuedouble;
        }
    }
    return 0;
}

static size_t round8(size_t n) { return (n + 7) & ~(size_t)7; }

/* The buffers of n_cols columns of n_rows rows (string sizes from cols[k].bytes), in one
 * zeroed block (*mem); *out the mli_column array. 0, or -1 out of memory. */
static int alloc_columns(struct named_col *cols, int64_t n_cols, int64_t n_rows, void **mem_out, mli_column **out) {
    size_t total = 0, vbytes = round8(((size_t)n_rows + 7) / 8);
    for (int64_t k = 0; k < n_cols; k++)
        total += vbytes + (cols[k].string ? ((size_t)n_rows + 1) * sizeof(int64_t) + round8(cols[k].bytes)
                           : cols[k].f32  ? round8((size_t)n_rows * sizeof(float))
                                          : (size_t)n_rows * sizeof(double));
    char *mem = calloc(total ? total : 1, 1);
    mli_column *mc = calloc((size_t)n_cols + 1, sizeof *mc);
    if (!mem || !mc) {
        free(mem);
        free(mc);
        return -1;
    }
    char *p = mem;
    for (int64_t k = 0; k < n_cols; k++) {
        struct named_col *cl = &cols[k];
        cl->valid = (uint8_t *)p;
        p += vbytes;
        mc[k].index = cl->index;
        mc[k].validity = cl->valid;
        if (cl->string) {
            cl->off = (int64_t *)(void *)p;
            p += ((size_t)n_rows + 1) * sizeof(int64_t);
            cl->str = p;
            p += round8(cl->bytes);
            mc[k].type = MLI_COLUMN_UTF8;
            mc[k].values = cl->str;
            mc[k].offsets = cl->off;
        } else if (cl->f32) {
            cl->numf = (float *)(void *)p;
            p += round8((size_t)n_rows * sizeof(float));
            mc[k].type = MLI_COLUMN_F32;
            mc[k].values = cl->numf;
        } else {
            cl->num = (double *)(void *)p;
            p += (size_t)n_rows * sizeof(double);
            mc[k].type = MLI_COLUMN_F64;
            mc[k].values = cl->num;
        }
    }
    *mem_out = mem;
    *out = mc;
    return 0;
}

/* The model's columns (those not UNUSED) into a new array; *n their count. NULL with err
 * set (and the status in *status) when the model has no names or out of memory. */
static struct named_col *model_columns(const struct model_ref *m, const char *where, int64_t *n, int *status, char *err,
                                       const char **reason) {
    const char *first = NULL;
    if (m->n_features > 0 && mli_model_feature_name(m->model, 0, &first) != MLI_OK) {
        snprintf(err, ERRLEN, "%s: this model records no column names: send each row as an array of %lld numbers",
                 where, (long long)m->n_features);
        *reason = "no_names";
        *status = 400;
        return NULL;
    }
    struct named_col *cols = calloc((size_t)m->n_features + 1, sizeof *cols);
    if (!cols) {
        snprintf(err, ERRLEN, "out of memory");
        *status = 500;
        return NULL;
    }
    int64_t k = 0;
    for (int64_t i = 0; i < m->n_features; i++) {
        mli_column_kind kind = MLI_COLUMN_NUMBER;
        const char *name = NULL;
        if (mli_model_column_kind(m->model, i, &kind) != MLI_OK ||
            mli_model_feature_name(m->model, i, &name) != MLI_OK) {
            snprintf(err, ERRLEN, "model column %lld: %s", (long long)i, mli_last_error());
            free(cols);
            *status = 500;
            return NULL;
        }
        if (kind == MLI_COLUMN_UNUSED)
            continue;
        cols[k].index = i;
        cols[k].string = kind == MLI_COLUMN_STRING;
        cols[k].name = name;
        k++;
    }
    *n = k;
    return cols;
}

int proto__named_rows(struct proto_call *c, const cJSON *rows, int single, const char *where, char *err,
                      const char **reason) {
    const struct model_ref *m = c->m;
    *reason = "wrong_type";
    int64_t n_rows = single ? 1 : cJSON_GetArraySize(rows);
    if (n_rows == 0) {
        snprintf(err, ERRLEN, "%s: empty, expected at least one row", where);
        return 400;
    }
    int64_t n_cols = 0;
    int status = 0;
    struct named_col *cols = model_columns(m, where, &n_cols, &status, err, reason);
    if (!cols)
        return status;
    int64_t r = 0;
    const cJSON *row;
    if (single) {
        status = one_row(m, rows, 0, cols, n_cols, where, 1, 0, err, reason);
    } else {
        cJSON_ArrayForEach(row, rows) {
            if ((status = one_row(m, row, r++, cols, n_cols, where, 0, 0, err, reason)) != 0)
                break;
        }
    }
    if (status != 0) {
        free(cols);
        return status;
    }
    void *mem = NULL;
    mli_column *mc = NULL;
    if (alloc_columns(cols, n_cols, n_rows, &mem, &mc) != 0) {
        free(cols);
        snprintf(err, ERRLEN, "out of memory for %lld rows", (long long)n_rows);
        return 500;
    }
    r = 0;
    if (single) {
        one_row(m, rows, 0, cols, n_cols, where, 1, 1, err, reason);
    } else {
        cJSON_ArrayForEach(row, rows) { one_row(m, row, r++, cols, n_cols, where, 0, 1, err, reason); }
    }
    free(cols);
    c->cols = mc;
    c->n_cols = n_cols;
    c->colmem = mem;
    c->rows = n_rows;
    c->single = single;
    return 0;
}

/* The leaves of nested `data` (at most cap: counting stops past it) into dst when not NULL. */
static int64_t leaves(const cJSON *data, const cJSON **dst, int64_t cap, int64_t n) {
    const cJSON *v;
    cJSON_ArrayForEach(v, data) {
        if (n > cap)
            break;
        if (cJSON_IsArray(v)) {
            n = leaves(v, dst, cap, n);
        } else {
            if (dst && n < cap)
                dst[n] = v;
            n++;
        }
    }
    return n;
}

/* One V2 value of a numeric column: *v, or -1 with err. `dt` the input's datatype. */
static int v2_number(const cJSON *x, const char *dt, const char *name, int64_t r, double *v, char *err) {
    int is_bool = strcmp(dt, "BOOL") == 0;
    if (is_bool ? !cJSON_IsBool(x) : !cJSON_IsNumber(x)) {
        snprintf(err, ERRLEN, "input '%.100s' [%lld]: expected %s (or null), got %s", name, (long long)r,
                 is_bool ? "true or false" : "a number", cJSON_IsBool(x) ? "a boolean" : json_kind(x));
        return -1;
    }
    *v = is_bool ? (cJSON_IsTrue(x) ? 1.0 : 0.0) : x->valuedouble;
    if ((strcmp(dt, "INT64") == 0 || strcmp(dt, "INT32") == 0) && !proto__integer_ok(*v, dt)) {
        snprintf(err, ERRLEN, "input '%.100s' [%lld]: %g is not an %s value", name, (long long)r, *v, dt);
        return -1;
    }
    if (strcmp(dt, "FP32") == 0)
        *v = (double)(float)*v; /* the float32 value the client holds */
    return 0;
}

/* Bytes per element of a numeric V2 datatype in binary data (BOOL: one byte). */
static size_t elem_size(const char *dt) { return strcmp(dt, "BOOL") == 0 ? 1 : binary_elem_size(dt); }

/* Value r of a binary numeric input: NaN is a missing value (*null set). */
static double binary_number(const unsigned char *seg, const char *dt, int64_t r, int *null) {
    size_t es = elem_size(dt);
    double v = 0;
    if (strcmp(dt, "BOOL") == 0)
        v = seg[r] ? 1.0 : 0.0;
    else
        binary_decode(seg + (size_t)r * es, dt, &v, 1);
    *null = v != v;
    return v;
}

/* Walks the n BYTES elements of a binary segment (4-byte little-endian length, bytes); the
 * total string bytes into *bytes; with dst, string r copied there and offs filled. -1 when
 * the elements do not fill the segment exactly. */
static int binary_strings(const unsigned char *seg, size_t len, int64_t n, size_t *bytes, char *dst, int64_t *offs) {
    size_t at = 0;
    *bytes = 0;
    for (int64_t r = 0; r < n; r++) {
        if (len - at < 4)
            return -1;
        size_t l = (size_t)seg[at] | (size_t)seg[at + 1] << 8 | (size_t)seg[at + 2] << 16 | (size_t)seg[at + 3] << 24;
        at += 4;
        if (len - at < l)
            return -1;
        if (dst) {
            memcpy(dst + offs[r], seg + at, l);
            offs[r + 1] = offs[r] + (int64_t)l;
        }
        at += l;
        *bytes += l;
    }
    return at == len ? 0 : -1;
}

int proto__v2_named(struct proto_call *c, const cJSON *inputs, const unsigned char *bin, size_t bin_len, int has_header,
                    char *err, const char **reason) {
    const struct model_ref *m = c->m;
    int64_t n_cols = 0;
    int status = 400;
    *reason = "wrong_type";
    struct named_col *cols = model_columns(m, "inputs", &n_cols, &status, err, reason);
    if (!cols)
        return status;
    const cJSON **given = calloc((size_t)n_cols + 1, sizeof *given); /* the input of each column */
    size_t *seg = calloc((size_t)n_cols + 1, 2 * sizeof *seg);       /* binary data: offset, length + 1 */
    size_t boff = 0;
    const cJSON **vals = NULL;
    int64_t n_rows = -1;
    status = 400;
    if (!given || !seg) {
        status = 500;
        snprintf(err, ERRLEN, "out of memory");
        goto done;
    }
    const cJSON *t;
    int i = 0;
    cJSON_ArrayForEach(t, inputs) {
        const cJSON *name = cJSON_GetObjectItemCaseSensitive(t, "name");
        const cJSON *dt = cJSON_GetObjectItemCaseSensitive(t, "datatype");
        const cJSON *shape = cJSON_GetObjectItemCaseSensitive(t, "shape");
        const cJSON *data = cJSON_GetObjectItemCaseSensitive(t, "data");
        if (!cJSON_IsString(name) || !cJSON_IsString(dt) || !cJSON_IsArray(shape)) {
            snprintf(err, ERRLEN, "inputs[%d]: expected \"name\", \"datatype\" and \"shape\"", i);
            goto done;
        }
        const char *nm = name->valuestring, *d = dt->valuestring;
        int64_t k = 0;
        while (k < n_cols && strcmp(cols[k].name, nm) != 0)
            k++;
        int64_t idx;
        if (k == n_cols) {
            if (mli_model_column_index(m->model, nm, &idx) == MLI_OK) { /* a column the pipeline drops */
                i++;
                continue;
            }
            snprintf(err, ERRLEN, "input '%.100s': the model has no column of that name", nm);
            *reason = "unknown_column";
            goto done;
        }
        if (given[k]) {
            snprintf(err, ERRLEN, "input '%.100s': given twice", nm);
            goto done;
        }
        int str = strcmp(d, "BYTES") == 0;
        int num = strcmp(d, "FP64") == 0 || strcmp(d, "FP32") == 0 || strcmp(d, "INT64") == 0 ||
                  strcmp(d, "INT32") == 0 || strcmp(d, "BOOL") == 0;
        if (cols[k].string ? !str : !num) {
            snprintf(err, ERRLEN, "input '%.100s': column of %s: expected datatype %s, got '%.20s'", nm,
                     cols[k].string ? "strings" : "numbers", cols[k].string ? "BYTES" : "FP64, FP32, INT64 or BOOL", d);
            goto done;
        }
        int nd = cJSON_GetArraySize(shape);
        const cJSON *s0 = cJSON_GetArrayItem(shape, 0), *s1 = cJSON_GetArrayItem(shape, 1);
        if (!(nd == 1 || (nd == 2 && cJSON_IsNumber(s1) && s1->valuedouble == 1)) || !cJSON_IsNumber(s0) ||
            s0->valuedouble < 1 || s0->valuedouble > 1e9 || s0->valuedouble != (double)(int64_t)s0->valuedouble) {
            snprintf(err, ERRLEN, "input '%.100s': expected shape [n] or [n, 1], one value per row", nm);
            goto done;
        }
        int64_t n = (int64_t)s0->valuedouble;
        if (n_rows >= 0 && n != n_rows) {
            snprintf(err, ERRLEN, "input '%.100s': %lld rows, the inputs before it have %lld", nm, (long long)n,
                     (long long)n_rows);
            goto done;
        }
        const cJSON *bds =
            cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(t, "parameters"), "binary_data_size");
        const cJSON *ctype =
            cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(t, "parameters"), "content_type");
        if (str && ctype && !(cJSON_IsString(ctype) && strcmp(ctype->valuestring, "str") == 0)) {
            /* MLServer's "base64" (or "datetime", ...) elements are encodings the server does not
             * decode: taken as they are, they would be categories never seen in training */
            snprintf(err, ERRLEN,
                     "input '%.100s': parameters.content_type '%.20s' is not taken for a column of strings: send the "
                     "strings themselves (content_type \"str\", or none)",
                     nm, cJSON_IsString(ctype) ? ctype->valuestring : "?");
            goto done;
        }
        if (bds ? data != NULL : !cJSON_IsArray(data)) {
            snprintf(err, ERRLEN,
                     "input '%.100s': expected either \"data\" as a JSON array or "
                     "parameters.binary_data_size with binary data",
                     nm);
            goto done;
        }
        if (bds) { /* its bytes follow the previous binary inputs' */
            if (!has_header || !cJSON_IsNumber(bds) || bds->valuedouble < 0 ||
                bds->valuedouble > (double)(bin_len - boff) || bds->valuedouble != (double)(size_t)bds->valuedouble) {
                snprintf(err, ERRLEN,
                         "input '%.100s': binary_data_size must be a whole number of bytes within the %zu bytes of "
                         "binary data left after the JSON header (Inference-Header-Content-Length)",
                         nm, bin_len - boff);
                goto done;
            }
            size_t sz = (size_t)bds->valuedouble, bytes = 0;
            int okb = cols[k].string ? binary_strings(bin + boff, sz, n, &bytes, NULL, NULL) == 0
                                     : (uint64_t)n <= sz && sz == (size_t)n * elem_size(d);
            if (!okb) {
                snprintf(err, ERRLEN, "input '%.100s': binary_data_size %zu does not hold %lld %s values", nm, sz,
                         (long long)n, d);
                goto done;
            }
            cols[k].bytes = bytes;
            seg[2 * k] = boff;
            seg[2 * k + 1] = sz + 1;
            boff += sz;
            n_rows = n;
            given[k] = t;
            i++;
            continue;
        }
        int64_t have = leaves(data, NULL, n, 0); /* the shape is a claim: count what the body holds */
        if (have != n) {
            snprintf(err, ERRLEN, "input '%.100s': data holds %s%lld values, shape needs %lld", nm,
                     have > n ? "more than " : "", (long long)(have > n ? n : have), (long long)n);
            goto done;
        }
        n_rows = n;
        given[k] = t;
        i++;
    }
    for (int64_t k = 0; k < n_cols; k++)
        if (given[k] && !cols[k].string) /* float32 values stay float32: scikit-learn computes in float32 on them */
            cols[k].f32 = strcmp(cJSON_GetObjectItemCaseSensitive(given[k], "datatype")->valuestring, "FP32") == 0;
    for (int64_t k = 0; k < n_cols; k++)
        if (!given[k]) {
            snprintf(err, ERRLEN, "inputs: missing column '%.100s'", cols[k].name);
            *reason = "missing_column";
            goto done;
        }
    if (n_rows < 0) {
        snprintf(err, ERRLEN, "inputs: expected one input per column of the model");
        goto done;
    }
    if (boff != bin_len) {
        snprintf(err, ERRLEN, "the request has %zu bytes of binary data after the JSON header, its inputs declare %zu",
                 bin_len, boff);
        goto done;
    }
    /* n_rows is backed by values in the body: allocating from it is bounded */
    if (!(vals = malloc((size_t)n_rows * sizeof *vals))) {
        status = 500;
        snprintf(err, ERRLEN, "out of memory for %lld rows", (long long)n_rows);
        goto done;
    }
    for (int64_t k = 0; k < n_cols; k++) { /* check values, size strings */
        if (seg[2 * k + 1])
            continue; /* binary: checked above */
        const char *d = cJSON_GetObjectItemCaseSensitive(given[k], "datatype")->valuestring;
        leaves(cJSON_GetObjectItemCaseSensitive(given[k], "data"), vals, n_rows, 0);
        for (int64_t r = 0; r < n_rows; r++) {
            double v;
            if (cJSON_IsNull(vals[r]))
                continue;
            if (cols[k].string) {
                if (!cJSON_IsString(vals[r])) {
                    snprintf(err, ERRLEN, "input '%.100s' [%lld]: expected a string (or null), got %s", cols[k].name,
                             (long long)r, json_kind(vals[r]));
                    goto done;
                }
                cols[k].bytes += strlen(vals[r]->valuestring);
            } else if (v2_number(vals[r], d, cols[k].name, r, &v, err) != 0) {
                goto done;
            }
        }
    }
    void *mem = NULL;
    mli_column *mc = NULL;
    if (alloc_columns(cols, n_cols, n_rows, &mem, &mc) != 0) {
        status = 500;
        snprintf(err, ERRLEN, "out of memory for %lld rows", (long long)n_rows);
        goto done;
    }
    for (int64_t k = 0; k < n_cols; k++) {
        struct named_col *cl = &cols[k];
        const char *d = cJSON_GetObjectItemCaseSensitive(given[k], "datatype")->valuestring;
        if (seg[2 * k + 1]) {
            const unsigned char *sp = bin + seg[2 * k];
            size_t bytes;
            if (cl->string) {
                binary_strings(sp, seg[2 * k + 1] - 1, n_rows, &bytes, cl->str, cl->off);
                memset(cl->valid, 0xff, ((size_t)n_rows + 7) / 8);
            } else {
                for (int64_t r = 0; r < n_rows; r++) {
                    int null;
                    double v = binary_number(sp, d, r, &null);
                    if (cl->f32)
                        cl->numf[r] = (float)v;
                    else
                        cl->num[r] = v;
                    if (!null)
                        cl->valid[r / 8] |= (uint8_t)(1u << (r % 8));
                }
            }
            continue;
        }
        leaves(cJSON_GetObjectItemCaseSensitive(given[k], "data"), vals, n_rows, 0);
        for (int64_t r = 0; r < n_rows; r++) {
            int null = cJSON_IsNull(vals[r]);
            if (!null)
                cl->valid[r / 8] |= (uint8_t)(1u << (r % 8));
            if (cl->string) {
                size_t len = null ? 0 : strlen(vals[r]->valuestring);
                if (len)
                    memcpy(cl->str + cl->off[r], vals[r]->valuestring, len);
                cl->off[r + 1] = cl->off[r] + (int64_t)len;
            } else if (!null) {
                double v = 0;
                v2_number(vals[r], d, cl->name, r, &v, err);
                if (cl->f32)
                    cl->numf[r] = (float)v;
                else
                    cl->num[r] = v;
            }
        }
    }
    c->cols = mc;
    c->n_cols = n_cols;
    c->colmem = mem;
    c->rows = n_rows;
    status = 0;
done:
    free(vals);
    free(seg);
    free(given);
    free(cols);
    return status;
}
