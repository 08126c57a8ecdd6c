/* protocol_v2.c — the Open Inference Protocol V2: model metadata and infer requests, JSON
 * and the binary tensor extension, parsed into a proto_call; its response. */
#include "protocol.h"
#include "protocol_internal.h"

#include "binary.h"
#include "images.h"
#include "registry.h"

#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *predict_datatype(const struct model_ref *m) {
    if (!m->is_classifier)
        return "FP64";
    return m->string_labels ? "BYTES" : "INT64";
}

static cJSON *tensor_meta(const char *name, const char *datatype, int64_t d0, int64_t d1) {
    cJSON *t = cJSON_CreateObject();
    cJSON_AddStringToObject(t, "name", name);
    cJSON_AddStringToObject(t, "datatype", datatype);
    cJSON *shape = cJSON_AddArrayToObject(t, "shape");
    cJSON_AddItemToArray(shape, cJSON_CreateNumber((double)d0));
    if (d1 > 0)
        cJSON_AddItemToArray(shape, cJSON_CreateNumber((double)d1));
    return t;
}

/* The `contributions` tensor: rows x (columns + 1) SHAP values (bias last), x n_raw when
 * the model has several raw scores; columns: the input columns, then the transformed
 * features a pipeline's preprocessing mixes from several (mli_model_contrib_column). The
 * `interactions` tensor (`name`): rows x (columns + 1) x (columns + 1) [x n_raw]. Both name
 * their columns in parameters.columns. */
static cJSON *contrib_meta(const struct model_ref *m, const char *name, int64_t rows) {
    int64_t n_raw = mli_model_n_raw(m->model), n = mli_model_n_contrib(m->model);
    int64_t width = n > 0 && n_raw > 0 ? n / n_raw : m->n_features + 1;
    cJSON *t = tensor_meta(name, "FP64", rows, width);
    cJSON *shape = cJSON_GetObjectItemCaseSensitive(t, "shape");
    if (strcmp(name, "interactions") == 0) /* rows x (columns + 1) x (columns + 1) [x n_raw] */
        cJSON_AddItemToArray(shape, cJSON_CreateNumber((double)width));
    if (n_raw > 1)
        cJSON_AddItemToArray(shape, cJSON_CreateNumber((double)n_raw));
    /* which column each position is: a JSON array of names in a string (parameter values are
     * strings, numbers or booleans) */
    char *names = proto__contrib_names_string(m);
    if (names)
        cJSON_AddStringToObject(cJSON_AddObjectToObject(t, "parameters"), "columns", names);
    cJSON_free(names);
    return t;
}

cJSON *proto_v2_model_metadata(const struct model_ref *m, const long *versions, int n_versions) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "name", m->name);
    cJSON *vs = cJSON_AddArrayToObject(o, "versions");
    for (int i = 0; i < n_versions; i++) {
        char v[24];
        snprintf(v, sizeof v, "%ld", versions[i]);
        cJSON_AddItemToArray(vs, cJSON_CreateString(v));
    }
    cJSON_AddStringToObject(o, "platform", "mlinfer");
    cJSON *inputs = cJSON_AddArrayToObject(o, "inputs");
    /* an image model takes JPEG bytes, one image per element (it also takes its float rows) */
    if (m->has_strings) { /* named inputs only: one per column the model uses */
        for (int64_t i = 0; i < m->n_features; i++) {
            mli_column_kind kind = MLI_COLUMN_NUMBER;
            const char *name = NULL;
            if (mli_model_column_kind(m->model, i, &kind) != MLI_OK || kind == MLI_COLUMN_UNUSED ||
                mli_model_feature_name(m->model, i, &name) != MLI_OK)
                continue;
            cJSON_AddItemToArray(inputs, tensor_meta(name, kind == MLI_COLUMN_STRING ? "BYTES" : "FP64", -1, 0));
        }
    } else {
        cJSON_AddItemToArray(inputs, m->has_image ? tensor_meta("input", "BYTES", -1, 0)
                                                  : tensor_meta("input", "FP32", -1, m->n_features));
    }
    cJSON *outputs = cJSON_AddArrayToObject(o, "outputs");
    cJSON_AddItemToArray(outputs, tensor_meta("predict", predict_datatype(m), -1,
                                              !m->is_classifier && m->n_outputs > 1 ? m->n_outputs : 0));
    if (m->has_proba)
        cJSON_AddItemToArray(outputs, tensor_meta("predict_proba", "FP64", -1, m->n_classes));
    if (mli_model_n_contrib(m->model) > 0)
        cJSON_AddItemToArray(outputs, contrib_meta(m, "contributions", -1));
    if (mli_model_n_interactions(m->model) > 0)
        cJSON_AddItemToArray(outputs, contrib_meta(m, "interactions", -1));
    return o;
}

/* Flattens nested `data` into dst (capacity cap); checks each value against the datatype. */
static int flatten(const cJSON *data, const char *integral, double *dst, int64_t cap, int64_t *n, char *err) {
    const cJSON *v;
    cJSON_ArrayForEach(v, data) {
        if (cJSON_IsArray(v)) {
            if (flatten(v, integral, dst, cap, n, err) != 0)
                return -1;
            continue;
        }
        if (*n >= cap) {
            snprintf(err, ERRLEN, "input data holds more values than its shape (%lld)", (long long)cap);
            return -1;
        }
        if (proto__number_value(v, "input data", (long long)*n, &dst[*n], err) != 0)
            return -1;
        if (integral && !proto__integer_ok(dst[*n], integral)) {
            snprintf(err, ERRLEN, "input data[%lld]: %g is not an %s value", (long long)*n, dst[*n], integral);
            return -1;
        }
        ++*n;
    }
    return 0;
}

/* The binary part of a request: the bytes after the JSON header. */
struct v2_binary {
    const unsigned char *p;
    size_t len;
    int has_header; /* Inference-Header-Content-Length was given */
};

/* Checks parameters.binary_data_size against the input's shape and against the binary
 * bytes the request actually holds; runs before anything is allocated from the shape. */
static int binary_input_check(const cJSON *bds, const char *name, const char *datatype, const struct v2_binary *bin,
                              int64_t total, char *err) {
    size_t es = binary_elem_size(datatype);
    if (!cJSON_IsNumber(bds) || bds->valuedouble < 0 || bds->valuedouble != floor(bds->valuedouble)) {
        snprintf(err, ERRLEN, "input '%s': parameters.binary_data_size: expected a non-negative integer", name);
        return -1;
    }
    if ((uint64_t)total > SIZE_MAX / es || bds->valuedouble != (double)((size_t)total * es)) {
        snprintf(err, ERRLEN,
                 "input '%s': binary_data_size %.0f does not match its shape and datatype "
                 "(%lld x %s = %.0f bytes)",
                 name, bds->valuedouble, (long long)total, datatype, (double)total * (double)es);
        return -1;
    }
    if (!bin->has_header) {
        snprintf(err, ERRLEN, "input '%s': binary_data_size needs the Inference-Header-Content-Length header", name);
        return -1;
    }
    size_t need = (size_t)total * es;
    if (bin->len != need) {
        snprintf(err, ERRLEN,
                 "the request has %zu bytes of binary data after the JSON header, its inputs "
                 "declare %zu",
                 bin->len, need);
        return -1;
    }
    return 0;
}

/* Decodes the input's values (checked by binary_input_check) from the binary data. */
static int binary_input(const char *name, const char *datatype, const struct v2_binary *bin, int64_t total, double *dst,
                        char *err) {
    int64_t bad = binary_decode(bin->p, datatype, dst, total);
    if (bad >= 0) {
        snprintf(err, ERRLEN, "input '%s': binary value [%lld] is not finite", name, (long long)bad);
        return -1;
    }
    return 0;
}

/* The scalar values of nested `data`, counted up to cap + 1 (enough to tell "too many"). */
static int64_t count_values(const cJSON *data, int64_t cap) {
    int64_t n = 0;
    const cJSON *v;
    cJSON_ArrayForEach(v, data) {
        n += cJSON_IsArray(v) ? count_values(v, cap - n) : 1;
        if (n > cap)
            break;
    }
    return n;
}

/* Counts the strings of nested `data` (*n) and stores them in dst while there is room. */
static int collect_strings(const cJSON *data, const cJSON **dst, int64_t cap, int64_t *n, const char *name, char *err) {
    const cJSON *v;
    cJSON_ArrayForEach(v, data) {
        if (cJSON_IsArray(v)) {
            if (collect_strings(v, dst, cap, n, name, err) != 0)
                return -1;
            continue;
        }
        if (!cJSON_IsString(v)) {
            snprintf(err, ERRLEN, "input '%s' data[%lld]: expected a base64 string (a JPEG image)", name,
                     (long long)*n);
            return -1;
        }
        if (*n < cap)
            dst[*n] = v;
        ++*n;
    }
    return 0;
}

/* The JPEGs of a binary BYTES input: per element a 4-byte little-endian length and the bytes. */
static int binary_jpegs(const cJSON *bds, const char *name, const struct v2_binary *bin, int64_t n,
                        const unsigned char **jpegs, size_t *sizes, char *err) {
    if (!cJSON_IsNumber(bds) || bds->valuedouble < 0 || bds->valuedouble != floor(bds->valuedouble)) {
        snprintf(err, ERRLEN, "input '%s': parameters.binary_data_size: expected a non-negative integer", name);
        return -1;
    }
    if (!bin->has_header) {
        snprintf(err, ERRLEN, "input '%s': binary_data_size needs the Inference-Header-Content-Length header", name);
        return -1;
    }
    if ((double)bin->len != bds->valuedouble) {
        snprintf(err, ERRLEN,
                 "the request has %zu bytes of binary data after the JSON header, its inputs "
                 "declare %.0f",
                 bin->len, bds->valuedouble);
        return -1;
    }
    size_t off = 0;
    for (int64_t i = 0; i < n; i++) {
        if (bin->len - off < 4) {
            snprintf(err, ERRLEN,
                     "input '%s': binary BYTES element %lld: the data ends at byte %zu, before its "
                     "4-byte length (shape [%lld])",
                     name, (long long)i, off, (long long)n);
            return -1;
        }
        const unsigned char *p = bin->p + off;
        size_t len = (size_t)p[0] | (size_t)p[1] << 8 | (size_t)p[2] << 16 | (size_t)p[3] << 24;
        off += 4;
        if (len > bin->len - off) {
            snprintf(err, ERRLEN, "input '%s': binary BYTES element %lld declares %zu bytes, %zu left", name,
                     (long long)i, len, bin->len - off);
            return -1;
        }
        jpegs[i] = bin->p + off;
        sizes[i] = len;
        off += len;
    }
    if (off != bin->len) {
        snprintf(err, ERRLEN, "input '%s': %zu bytes of binary data follow its %lld BYTES elements", name,
                 bin->len - off, (long long)n);
        return -1;
    }
    return 0;
}

/* A BYTES input: one JPEG per element, shape [n] or [n, 1]; binary data, or JSON "data" of
 * base64 strings. The images become in->xf through the model's image stage. */
static int parse_v2_images(const struct model_ref *m, const char *name, const cJSON *shape, const cJSON *data,
                           const cJSON *bds, const struct v2_binary *bin, struct proto_call *in, char *err,
                           int *status) {
    if (!m->has_image) {
        snprintf(err, ERRLEN,
                 "input '%s': datatype BYTES takes JPEG images, but model '%s' has no image stage: "
                 "it takes shape [-1, %lld] FP32, FP64, INT32 or INT64",
                 name, m->name, (long long)m->n_features);
        return -1;
    }
    int ndim = cJSON_GetArraySize(shape);
    const cJSON *d0 = cJSON_GetArrayItem(shape, 0), *d1 = cJSON_GetArrayItem(shape, 1);
    if ((ndim != 1 && ndim != 2) || !cJSON_IsNumber(d0) || d0->valuedouble < 1 || d0->valuedouble > 1e9 ||
        d0->valuedouble != floor(d0->valuedouble) || (ndim == 2 && (!cJSON_IsNumber(d1) || d1->valuedouble != 1))) {
        snprintf(err, ERRLEN, "input '%s': BYTES (JPEG images) expected shape [n] or [n, 1], n >= 1", name);
        return -1;
    }
    int64_t n = (int64_t)d0->valuedouble, found = 0;
    if (bds && (uint64_t)n > bin->len / 4) { /* every element takes at least 4 bytes */
        snprintf(err, ERRLEN,
                 "input '%s': shape [%lld] needs at least %lld bytes of binary data (a 4-byte length "
                 "per element), the request has %zu",
                 name, (long long)n, (long long)n * 4, bin->len);
        return -1;
    }
    if (!bds && collect_strings(data, NULL, 0, &found, name, err) != 0)
        return -1;
    if (!bds && found != n) {
        snprintf(err, ERRLEN, "input '%s': data holds %lld strings, shape needs %lld", name, (long long)found,
                 (long long)n);
        return -1;
    }
    const unsigned char **jpegs = malloc((size_t)n * sizeof *jpegs);
    size_t *sizes = malloc((size_t)n * sizeof *sizes);
    const cJSON **strs = bds ? NULL : malloc((size_t)n * sizeof *strs);
    unsigned char *decoded = NULL;
    int rc = -1;
    *status = 500;
    if (!jpegs || !sizes || (!bds && !strs)) {
        snprintf(err, ERRLEN, "out of memory for %lld images", (long long)n);
        goto done;
    }
    *status = 400;
    if (bds) {
        if (binary_jpegs(bds, name, bin, n, jpegs, sizes, err) != 0)
            goto done;
    } else {
        found = 0;
        collect_strings(data, strs, n, &found, name, err);
        char why[128];
        int64_t bad = 0;
        int d = proto__decode_b64_strings(strs, n, &decoded, jpegs, sizes, &bad, why, sizeof why);
        if (d == -2) {
            *status = 500;
            snprintf(err, ERRLEN, "out of memory for %lld images", (long long)n);
            goto done;
        }
        if (d != 0) {
            snprintf(err, ERRLEN, "input '%s' data[%lld]: %s (BYTES images in JSON are base64)", name, (long long)bad,
                     why);
            goto done;
        }
    }
    char what[300];
    snprintf(what, sizeof what, "input '%s'", name);
    int st = image_rows(m, jpegs, sizes, n, what, &in->xf, err, ERRLEN);
    if (st != 0) {
        *status = st;
        goto done;
    }
    in->rows = n;
    rc = 0;
done:
    free(jpegs);
    free(sizes);
    free(strs);
    free(decoded);
    return rc;
}

/* The input tensor into in->x (and in->xf for FP32) and in->rows; for a BYTES input the
 * images' rows into in->xf. *status is the HTTP status of a failure (400 unless set). */
static int parse_v2_input(const struct model_ref *m, const cJSON *root, const struct v2_binary *bin,
                          struct proto_call *in, char *err, int *status) {
    const cJSON *inputs = cJSON_GetObjectItemCaseSensitive(root, "inputs");
    if (!cJSON_IsArray(inputs) || cJSON_GetArraySize(inputs) != 1) {
        snprintf(err, ERRLEN, "inputs: expected an array of exactly 1 tensor");
        return -1;
    }
    const cJSON *t = cJSON_GetArrayItem(inputs, 0);
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(t, "name");
    const cJSON *dt = cJSON_GetObjectItemCaseSensitive(t, "datatype");
    const cJSON *shape = cJSON_GetObjectItemCaseSensitive(t, "shape");
    const cJSON *data = cJSON_GetObjectItemCaseSensitive(t, "data");
    if (!cJSON_IsString(name) || !cJSON_IsString(dt) || !cJSON_IsArray(shape)) {
        snprintf(err, ERRLEN, "inputs[0]: expected \"name\", \"datatype\" and \"shape\"");
        return -1;
    }
    const char *d = dt->valuestring;
    int fp32 = strcmp(d, "FP32") == 0, integral = strcmp(d, "INT32") == 0 || strcmp(d, "INT64") == 0;
    int bytes = strcmp(d, "BYTES") == 0;
    if (!fp32 && !integral && !bytes && strcmp(d, "FP64") != 0) {
        snprintf(err, ERRLEN, "input '%s': unsupported datatype '%s' (use FP32, FP64, INT32 or INT64%s)",
                 name->valuestring, d, m->has_image ? ", or BYTES for JPEG images" : "");
        return -1;
    }
    const cJSON *bds =
        cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(t, "parameters"), "binary_data_size");
    if (bds ? data != NULL : !cJSON_IsArray(data)) {
        snprintf(err, ERRLEN,
                 "input '%s': expected either \"data\" as a JSON array or "
                 "parameters.binary_data_size with binary data",
                 name->valuestring);
        return -1;
    }
    if (!bds && bin->len != 0) {
        snprintf(err, ERRLEN,
                 "the request has %zu bytes of binary data after the JSON header, but no input "
                 "declares parameters.binary_data_size",
                 bin->len);
        return -1;
    }
    if (bytes)
        return parse_v2_images(m, name->valuestring, shape, data, bds, bin, in, err, status);
    int ndim = cJSON_GetArraySize(shape);
    double dims[2] = {0, 0};
    for (int i = 0; i < ndim && i < 2; i++) {
        const cJSON *s = cJSON_GetArrayItem(shape, i);
        dims[i] = cJSON_IsNumber(s) ? s->valuedouble : -1;
    }
    int ok =
        (ndim == 1 && dims[0] == (double)m->n_features) ||
        (ndim == 2 && dims[0] >= 1 && dims[0] <= 1e9 && dims[0] == floor(dims[0]) && dims[1] == (double)m->n_features);
    if (!ok) {
        snprintf(err, ERRLEN, "input '%s': expected shape [-1, %lld] (%lld features)%s", name->valuestring,
                 (long long)m->n_features, (long long)m->n_features,
                 m->has_image ? ", or datatype BYTES with shape [n] for n JPEG images" : "");
        return -1;
    }
    in->rows = ndim == 1 ? 1 : (int64_t)dims[0];
    int64_t total = in->rows * m->n_features; /* <= 1e9 x 2^31: no overflow */
    /* The shape is only a claim: check it against the values the request holds before
     * allocating anything from it (a 80-byte request may declare a billion rows). */
    if (bds) {
        if (binary_input_check(bds, name->valuestring, d, bin, total, err) != 0)
            return -1;
    } else {
        int64_t present = count_values(data, total);
        if (present != total) {
            snprintf(err, ERRLEN, "input '%s': data holds %s%lld values, shape needs %lld", name->valuestring,
                     present > total ? "more than " : "", (long long)(present > total ? total : present),
                     (long long)total);
            return -1;
        }
    }
    in->x = malloc((size_t)total * sizeof *in->x);
    if (!in->x) {
        *status = 500;
        snprintf(err, ERRLEN, "out of memory for %lld rows", (long long)in->rows);
        return -1;
    }
    int64_t n = total;
    if (bds ? binary_input(name->valuestring, d, bin, total, in->x, err) != 0
            : (n = 0, flatten(data, integral ? d : NULL, in->x, total, &n, err) != 0))
        return -1;
    if (n != total) {
        snprintf(err, ERRLEN, "input '%s': data holds %lld values, shape needs %lld", name->valuestring, (long long)n,
                 (long long)total);
        return -1;
    }
    if (fp32) {
        if (!(in->xf = malloc((size_t)total * sizeof *in->xf))) {
            snprintf(err, ERRLEN, "out of memory for %lld rows", (long long)in->rows);
            return -1;
        }
        for (int64_t i = 0; i < total; i++) {
            if (fabs(in->x[i]) > FLT_MAX) {
                snprintf(err, ERRLEN, "input data[%lld]: %g is out of FP32 range", (long long)i, in->x[i]);
                return -1;
            }
            in->xf[i] = (float)in->x[i];
        }
    }
    return 0;
}

/* A boolean parameter: *out = its value, left alone when absent; -1 when not a boolean. */
static int bool_param(const cJSON *obj, const char *key, const char *where, int *out, char *err) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(obj, "parameters"), key);
    if (!v)
        return 0;
    if (!cJSON_IsBool(v)) {
        snprintf(err, ERRLEN, "%s parameters.%s: expected true or false", where, key);
        return -1;
    }
    *out = cJSON_IsTrue(v);
    return 0;
}

/* The outputs the request asks for, in order (enum pred_kind: predict, predict_proba, contributions,
 * interactions), and whether each goes back as binary data (parameters.binary_data, by default the
 * request's parameters.binary_data_output). */
static int parse_v2_outputs(const struct model_ref *m, const cJSON *root, int order[4], int binary[4], int *n_out,
                            char *err) {
    const cJSON *outputs = cJSON_GetObjectItemCaseSensitive(root, "outputs");
    int all_binary = 0;
    *n_out = 0;
    if (bool_param(root, "binary_data_output", "request", &all_binary, err) != 0)
        return -1;
    if (!outputs) {
        binary[*n_out] = all_binary;
        order[(*n_out)++] = 0;
        return 0;
    }
    const cJSON *o;
    if (!cJSON_IsArray(outputs) || cJSON_GetArraySize(outputs) == 0 || cJSON_GetArraySize(outputs) > 4) {
        snprintf(err, ERRLEN, "outputs: expected an array of 1 to 4 {\"name\": ...} objects");
        return -1;
    }
    cJSON_ArrayForEach(o, outputs) {
        const cJSON *name = cJSON_GetObjectItemCaseSensitive(o, "name");
        const char *s = cJSON_IsString(name) ? name->valuestring : "";
        int which = strcmp(s, "predict") == 0         ? PRED_PREDICT
                    : strcmp(s, "predict_proba") == 0 ? PRED_PROBA
                    : strcmp(s, "contributions") == 0 ? PRED_CONTRIB
                    : strcmp(s, "interactions") == 0  ? PRED_INTER
                                                      : -1;
        if (which < 0) {
            snprintf(err, ERRLEN, "unknown output '%s' (this model has predict%s%s%s)", s,
                     m->has_proba ? ", predict_proba" : "", mli_model_n_contrib(m->model) > 0 ? ", contributions" : "",
                     mli_model_n_interactions(m->model) > 0 ? ", interactions" : "");
            return -1;
        }
        if (which == 1 && !m->has_proba) {
            snprintf(err, ERRLEN, "output 'predict_proba': this model has no predict_proba");
            return -1;
        }
        if (which == PRED_CONTRIB && mli_model_n_contrib(m->model) == 0) { /* the call with no rows says why */
            mli_model_predict_contrib(m->model, NULL, MLI_F64, 0, m->n_features, NULL, 0);
            snprintf(err, ERRLEN, "output 'contributions': %s", mli_last_error());
            return -1;
        }
        binary[*n_out] = all_binary;
        if (bool_param(o, "binary_data", s, &binary[*n_out], err) != 0)
            return -1;
        order[(*n_out)++] = which;
    }
    return 0;
}

/* Appends n doubles to the tensor as JSON "data", or to the binary part. */
static void output_values(cJSON *t, const double *y, int64_t n, struct bbuf *bin) {
    if (bin)
        bbuf_f64(bin, y, n);
    else
        cJSON_AddItemToObject(t, "data", proto__numbers_json(y, n));
}

/* The class labels of `rows` predictions, as JSON "data" or binary (INT64 or BYTES). */
static void output_labels(const struct model_ref *m, cJSON *t, const double *y, int64_t rows, struct bbuf *bin) {
    cJSON *data = bin ? NULL : cJSON_AddArrayToObject(t, "data");
    for (int64_t r = 0; r < rows; r++) {
        if (!bin) {
            cJSON_AddItemToArray(data, proto__label_json(m, y[r]));
        } else if (m->string_labels) {
            const char *str = "";
            mli_model_class_label_str(m->model, (int64_t)y[r], &str);
            bbuf_bytes(bin, str, strlen(str));
        } else {
            int64_t v = 0;
            mli_model_class_label_int(m->model, (int64_t)y[r], &v);
            bbuf_i64(bin, v);
        }
    }
}

/* Inputs named as the model's columns: several inputs, or one named as a column, for a
 * model that records column names. */
static int is_named(const struct model_ref *m, const cJSON *inputs) {
    const char *first = NULL;
    if (!cJSON_IsArray(inputs) || m->has_image || mli_model_feature_name(m->model, 0, &first) != MLI_OK)
        return 0;
    if (cJSON_GetArraySize(inputs) > 1 || m->has_strings)
        return 1;
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(inputs, 0), "name");
    int64_t idx;
    return cJSON_IsString(name) && mli_model_column_index(m->model, name->valuestring, &idx) == MLI_OK;
}

int proto_v2_parse(struct model_ref *m, const struct v2_body *body, struct proto_call **call, cJSON **out) {
    char err[ERRLEN];
    *call = NULL;
    size_t json_len = body->len;
    if (body->header_len) {
        char *end;
        errno = 0;
        unsigned long long v = strtoull(body->header_len, &end, 10);
        if (errno || end == body->header_len || *end || body->header_len[0] == '-' || v > body->len) {
            snprintf(err, ERRLEN,
                     "Inference-Header-Content-Length: expected an integer in [0, %zu] (the body "
                     "length), got '%.40s'",
                     body->len, body->header_len);
            return proto__fail(out, 400, err);
        }
        json_len = (size_t)v;
    }
    struct v2_binary bin_in = {(const unsigned char *)body->data + json_len, body->len - json_len,
                               body->header_len != NULL};
    struct proto_call *c;
    int begun = proto__begin(m, body->data, json_len, &c, out);
    if (begun != 200)
        return begun;
    cJSON *root = c->root;
    c->v2 = 1;
    int status = 400;
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(root, "id");
    if (id && !cJSON_IsString(id)) {
        snprintf(err, ERRLEN, "id: expected a string");
        goto bad;
    }
    if (is_named(m, cJSON_GetObjectItemCaseSensitive(root, "inputs"))) {
        const char *reason = NULL;
        int st = proto__v2_named(c, cJSON_GetObjectItemCaseSensitive(root, "inputs"), bin_in.p, bin_in.len,
                                 bin_in.has_header, err, &reason);
        if (st != 0) {
            proto_call_free(c);
            return st == 400 ? proto__fail_reason(out, st, err, reason) : proto__fail(out, st, err);
        }
    } else if (parse_v2_input(m, root, &bin_in, c, err, &status) != 0) {
        goto bad;
    }
    if (parse_v2_outputs(m, root, c->order, c->binary, &c->n_out, err) != 0)
        goto bad;
    for (int i = 0; i < c->n_out; i++) /* the model has them, and not too many: before allocating */
        if (c->order[i] == PRED_INTER && proto__interactions_ok(c, "output 'interactions'", err) != 0)
            goto bad;
    status = 500;
    for (int i = 0; i < c->n_out; i++)
        if (!proto__result(c, c->order[i]) && proto__add_job(c, c->order[i], err) != 0)
            goto bad;
    *call = c;
    return 200;
bad:
    proto_call_free(c);
    return proto__fail(out, status, err);
}

int proto__v2_finish(const struct proto_call *c, cJSON **out, char **bin_out, size_t *bin_len) {
    const struct model_ref *m = c->m;
    struct bbuf bin = {0};
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(c->root, "id");
    *out = cJSON_CreateObject();
    cJSON_AddStringToObject(*out, "model_name", m->name);
    cJSON_AddStringToObject(*out, "model_version", m->version);
    if (id)
        cJSON_AddStringToObject(*out, "id", id->valuestring);
    cJSON *outputs = cJSON_AddArrayToObject(*out, "outputs");
    for (int i = 0; i < c->n_out; i++) {
        cJSON *t;
        const double *y = proto__result(c, c->order[i]);
        struct bbuf *b = c->binary[i] ? &bin : NULL;
        size_t before = bin.len;
        if (c->order[i] == PRED_PROBA) {
            t = tensor_meta("predict_proba", "FP64", c->rows, m->n_classes);
            output_values(t, y, c->rows * m->n_classes, b);
        } else if (c->order[i] == PRED_CONTRIB || c->order[i] == PRED_INTER) {
            t = contrib_meta(m, c->order[i] == PRED_INTER ? "interactions" : "contributions", c->rows);
            output_values(t, y, c->rows * pred_cols(m, c->order[i]), b);
        } else if (m->is_classifier) {
            t = tensor_meta("predict", predict_datatype(m), c->rows, 0);
            output_labels(m, t, y, c->rows, b);
        } else {
            t = tensor_meta("predict", "FP64", c->rows, m->n_outputs > 1 ? m->n_outputs : 0);
            output_values(t, y, c->rows * m->n_outputs, b);
        }
        if (b) {
            cJSON *params = cJSON_GetObjectItemCaseSensitive(t, "parameters");
            cJSON_AddNumberToObject(params ? params : cJSON_AddObjectToObject(t, "parameters"), "binary_data_size",
                                    (double)(bin.len - before));
        }
        cJSON_AddItemToArray(outputs, t);
    }
    if (bin.failed) {
        cJSON_Delete(*out);
        return proto__fail(out, 500, "out of memory for the binary output");
    }
    *bin_out = bin.p;
    *bin_len = bin.len;
    return 200;
}
