/* protocol_seed.c — the seed route (POST /predict: {"features": ...}, {"instances": ...}
 * and JPEG bodies) and KServe V1 (POST /v1/models/{m}:predict), parsed into a proto_call. */
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

static int parse_row(const cJSON *row, int64_t n_features, double *dst, const char *where, char *err) {
    if (!cJSON_IsArray(row)) {
        snprintf(err, ERRLEN, "%s: expected an array of %lld numbers", where, (long long)n_features);
        return -1;
    }
    int n = cJSON_GetArraySize(row);
    if (n != n_features) {
        snprintf(err, ERRLEN, "%s: expected %lld features, got %d", where, (long long)n_features, n);
        return -1;
    }
    long long i = 0;
    const cJSON *v;
    cJSON_ArrayForEach(v, row) {
        if (proto__number_value(v, where, i, &dst[i], err) != 0)
            return -1;
        i++;
    }
    return 0;
}

/* `instances`: a non-empty array of rows. Returns a malloc'd rows x n_features matrix. */
static double *parse_instances(const cJSON *inst, int64_t n_features, int64_t *rows, char *err) {
    if (!cJSON_IsArray(inst)) {
        snprintf(err, ERRLEN, "instances: expected an array of rows");
        return NULL;
    }
    int n = cJSON_GetArraySize(inst);
    if (n == 0) {
        snprintf(err, ERRLEN, "instances: empty, expected at least one row");
        return NULL;
    }
    /* every row's length first: the matrix is allocated only for values the body holds */
    int r0 = 0;
    const cJSON *row0;
    cJSON_ArrayForEach(row0, inst) {
        if (!cJSON_IsArray(row0) || cJSON_GetArraySize(row0) != n_features) {
            char where[48];
            snprintf(where, sizeof where, "instances[%d]", r0);
            parse_row(row0, n_features, NULL, where, err); /* names the problem; writes nothing */
            return NULL;
        }
        r0++;
    }
    double *x = malloc((size_t)n * (size_t)n_features * sizeof *x);
    if (!x) {
        snprintf(err, ERRLEN, "out of memory for %d rows", n);
        return NULL;
    }
    int r = 0;
    const cJSON *row;
    cJSON_ArrayForEach(row, inst) {
        char where[48];
        snprintf(where, sizeof where, "instances[%d]", r);
        if (parse_row(row, n_features, x + (size_t)r * (size_t)n_features, where, err) != 0) {
            free(x);
            return NULL;
        }
        r++;
    }
    *rows = n;
    return x;
}

static const char *first_column(const struct model_ref *m) {
    const char *name = "?";
    mli_model_feature_name(m->model, 0, &name);
    return name;
}

/* ?proba=: *out = 1 or 0, left alone when absent; -1 for another value. */
static int query_bool(const char *v, int *out, char *err) {
    if (!v)
        return 0;
    if (!*v || strcmp(v, "true") == 0 || strcmp(v, "1") == 0) {
        *out = 1;
    } else if (strcmp(v, "false") == 0 || strcmp(v, "0") == 0) {
        *out = 0;
    } else {
        snprintf(err, ERRLEN, "query parameter proba: expected true, false, 1 or 0, got '%.40s'", v);
        return -1;
    }
    return 0;
}

/* Images as instances: [{"b64": "<JPEG, base64>"}, ...], the TensorFlow Serving / KServe V1
 * form of binary values, through the model's image stage into *rows (n x n_features).
 * Returns 0, or the HTTP status of the failure with err set. */
static int parse_b64_instances(const struct model_ref *m, const cJSON *instances, float **rows, int64_t *n_rows,
                               char *err) {
    int64_t n = cJSON_GetArraySize(instances);
    const unsigned char **jpegs = malloc((size_t)n * sizeof *jpegs);
    size_t *sizes = malloc((size_t)n * sizeof *sizes);
    const cJSON **strs = malloc((size_t)n * sizeof *strs);
    unsigned char *decoded = NULL;
    int status = 500;
    if (!jpegs || !sizes || !strs) {
        snprintf(err, ERRLEN, "out of memory for %lld images", (long long)n);
        goto done;
    }
    status = 400;
    int64_t i = 0;
    const cJSON *v;
    cJSON_ArrayForEach(v, instances) {
        const cJSON *b = cJSON_IsObject(v) ? cJSON_GetObjectItemCaseSensitive(v, "b64") : NULL;
        if (!cJSON_IsString(b) || cJSON_GetArraySize(v) != 1) {
            snprintf(err, ERRLEN, "instances[%lld]: expected {\"b64\": \"<base64 JPEG>\"} like the other instances",
                     (long long)i);
            goto done;
        }
        strs[i++] = b;
    }
    char why[128];
    int64_t bad = 0;
    int d = proto__decode_b64_strings(strs, n, &decoded, jpegs, sizes, &bad, why, sizeof why);
    if (d != 0) {
        status = d == -2 ? 500 : 400;
        if (d == -2)
            snprintf(err, ERRLEN, "out of memory for %lld images", (long long)n);
        else
            snprintf(err, ERRLEN, "instances[%lld].b64: %s", (long long)bad, why);
        goto done;
    }
    status = image_rows(m, jpegs, sizes, n, "instances", rows, err, ERRLEN);
    if (status == 0)
        *n_rows = n;
done:
    free(jpegs);
    free(sizes);
    free(strs);
    free(decoded);
    return status;
}

int proto_predict_parse(struct model_ref *m, const char *body, size_t len, int v1, const char *query_proba,
                        struct proto_call **call, cJSON **out) {
    char err[ERRLEN];
    *call = NULL;
    int qproba = 0;
    if (query_bool(query_proba, &qproba, err) != 0)
        return proto__fail(out, 400, err);
    struct proto_call *c;
    int begun = proto__begin(m, body, len, &c, out);
    if (begun != 200)
        return begun;
    cJSON *root = c->root;
    const cJSON *features = v1 ? NULL : cJSON_GetObjectItemCaseSensitive(root, "features");
    const cJSON *instances = cJSON_GetObjectItemCaseSensitive(root, "instances");
    const cJSON *proba_item = v1 ? NULL : cJSON_GetObjectItemCaseSensitive(root, "proba");
    const cJSON *explain_item = v1 ? NULL : cJSON_GetObjectItemCaseSensitive(root, "explain");
    const cJSON *inter_item = v1 ? NULL : cJSON_GetObjectItemCaseSensitive(root, "interactions");
    int status = 400;

    if (explain_item && !cJSON_IsBool(explain_item)) {
        snprintf(err, ERRLEN, "explain: expected true or false");
        goto bad;
    }
    c->explain = v1 == 2 ? 2 : explain_item && cJSON_IsTrue(explain_item);
    if (c->explain && mli_model_n_contrib(m->model) == 0) { /* the call with no rows says why */
        mli_model_predict_contrib(m->model, NULL, MLI_F64, 0, m->n_features, NULL, 0);
        snprintf(err, ERRLEN, "explain: %s", mli_last_error());
        goto bad;
    }

    if (inter_item && !cJSON_IsBool(inter_item)) {
        snprintf(err, ERRLEN, "interactions: expected true or false");
        goto bad;
    }
    c->interactions = inter_item && cJSON_IsTrue(inter_item);
    if (c->interactions && proto__interactions_ok(c, "interactions", err) != 0) /* no rows yet: has it any? */
        goto bad;

    if (proba_item && !cJSON_IsBool(proba_item)) {
        snprintf(err, ERRLEN, "proba: expected true or false");
        goto bad;
    }
    c->proba = proba_item ? cJSON_IsTrue(proba_item) : qproba;
    if (c->proba && !m->has_proba) {
        snprintf(err, ERRLEN, "proba: this model has no predict_proba");
        goto bad;
    }
    if (features && instances) {
        snprintf(err, ERRLEN, "give either \"features\" or \"instances\", not both");
        goto bad;
    }
    int named = cJSON_IsObject(features) ||
                (!m->has_image && cJSON_IsArray(instances) && cJSON_IsObject(cJSON_GetArrayItem(instances, 0)) &&
                 !cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(instances, 0), "b64")); /* JPEGs: below */
    if (named) {
        const char *reason = NULL;
        int st = proto__named_rows(c, features ? features : instances, features != NULL,
                                   features ? "features" : "instances", err, &reason);
        if (st != 0) {
            proto_call_free(c);
            return st == 400 ? proto__fail_reason(out, st, err, reason) : proto__fail(out, st, err);
        }
    } else if (m->has_strings && (features || instances)) {
        snprintf(err, ERRLEN,
                 "%s: this model has string columns: send each row as an object of named values, "
                 "{\"%s\": ..., ...}",
                 features ? "features" : "instances", first_column(m));
        goto bad;
    } else if (features) {
        if (!cJSON_IsArray(features) || cJSON_GetArraySize(features) != m->n_features) { /* before allocating */
            parse_row(features, m->n_features, NULL, "features", err);
            goto bad;
        }
        if (!(c->x = malloc((size_t)m->n_features * sizeof *c->x))) {
            snprintf(err, ERRLEN, "out of memory");
            goto bad;
        }
        if (parse_row(features, m->n_features, c->x, "features", err) != 0)
            goto bad;
        c->rows = 1;
        c->single = 1;
    } else if (cJSON_IsArray(instances) && cJSON_IsObject(cJSON_GetArrayItem(instances, 0))) {
        int st = parse_b64_instances(m, instances, &c->xf, &c->rows, err);
        if (st != 0) {
            status = st;
            goto bad;
        }
    } else if (instances) {
        if (!(c->x = parse_instances(instances, m->n_features, &c->rows, err)))
            goto bad;
    } else {
        snprintf(err, ERRLEN,
                 v1 ? "expected \"instances\": [[...], ...]"
                    : "expected \"features\": [...] or \"instances\": [[...], ...]");
        goto bad;
    }
    if (c->interactions && proto__interactions_ok(c, "interactions", err) != 0) /* the size, before allocating */
        goto bad;
    status = 500;
    if (proto__add_job(c, PRED_PREDICT, err) != 0 || (c->proba && proto__add_job(c, PRED_PROBA, err) != 0) ||
        (c->explain && proto__add_job(c, PRED_CONTRIB, err) != 0) ||
        (c->interactions && proto__add_job(c, PRED_INTER, err) != 0))
        goto bad;
    *call = c;
    return 200;
bad:
    proto_call_free(c);
    return proto__fail(out, status, err);
}

int proto_predict_jpeg(struct model_ref *m, const char *body, size_t len, const char *query_proba,
                       struct proto_call **call, cJSON **out) {
    char err[ERRLEN];
    *call = NULL;
    int proba = 0;
    if (query_bool(query_proba, &proba, err) != 0)
        return proto__fail(out, 400, err);
    if (proba && !m->has_proba)
        return proto__fail(out, 400, "proba: this model has no predict_proba");
    const unsigned char *jpeg = (const unsigned char *)body;
    float *x = NULL;
    int status = image_rows(m, &jpeg, &len, 1, "JPEG body", &x, err, ERRLEN);
    if (status != 0)
        return proto__fail(out, status, err);
    struct proto_call *c = proto__new_call(m, NULL, err);
    if (!c) {
        free(x);
        return proto__fail(out, 500, err);
    }
    c->xf = x;
    c->rows = 1;
    c->single = 1;
    c->proba = proba;
    if (proto__add_job(c, PRED_PREDICT, err) != 0 || (proba && proto__add_job(c, PRED_PROBA, err) != 0)) {
        proto_call_free(c);
        return proto__fail(out, 500, err);
    }
    *call = c;
    return 200;
}

static cJSON *prediction_json(const struct model_ref *m, const double *y, int64_t row) {
    if (m->is_classifier)
        return proto__label_json(m, y[row]);
    if (m->n_outputs == 1)
        return proto__number_json(y[row]);
    return proto__numbers_json(y + row * m->n_outputs, m->n_outputs);
}

static cJSON *proba_json(const struct model_ref *m, const double *p, int64_t row) {
    cJSON *o = cJSON_CreateObject();
    for (int64_t c = 0; c < m->n_classes; c++) {
        char key[32];
        const char *k = key;
        if (m->string_labels) {
            mli_model_class_label_str(m->model, c, &k);
        } else {
            int64_t v = 0;
            mli_model_class_label_int(m->model, c, &v);
            snprintf(key, sizeof key, "%lld", (long long)v);
        }
        cJSON_AddItemToObject(o, k, proto__number_json(p[row * m->n_classes + c]));
    }
    return o;
}

/* One row's contributions: {"<column>": value, ..., "bias": value}, or with several raw
 * scores (a multiclass model) {"<column>": [value per score], ...}. Columns are the input
 * columns by name (else f0, f1, ...), then for a pipeline whose preprocessing mixes columns
 * the transformed features reported on their own, "transformed:<name>"
 * (mli_model_contrib_column). */
static cJSON *contrib_json(const struct model_ref *m, const double *v, int64_t row) {
    int64_t n_raw = mli_model_n_raw(m->model), width = mli_model_n_contrib(m->model), groups = width / n_raw - 1;
    cJSON *o = cJSON_CreateObject();
    for (int64_t j = 0; j <= groups; j++) {
        char key[32];
        const double *at = v + row * width + j * n_raw;
        cJSON_AddItemToObject(o, proto__contrib_name(m, j, groups, key),
                              n_raw == 1 ? proto__number_json(at[0]) : proto__numbers_json(at, n_raw));
    }
    return o;
}

/* One row's interactions (mli_model_predict_interactions): {"<column i>": {"<column j>":
 * value, ..., "bias": value}, ..., "bias": {...}}, the columns and bias as contrib_json
 * names them, value [i][j] (a list of one per raw score with several), so that
 * o[i][j] == o[j][i], o[i][i] is column i's main effect and o[i] sums to its contribution. */
static cJSON *interactions_json(const struct model_ref *m, const double *v, int64_t row) {
    int64_t n_raw = mli_model_n_raw(m->model), width = mli_model_n_interactions(m->model);
    int64_t groups = mli_model_n_contrib(m->model) / n_raw - 1;
    cJSON *o = cJSON_CreateObject();
    for (int64_t i = 0; i <= groups; i++) {
        char key[32];
        cJSON *inner = cJSON_CreateObject();
        for (int64_t j = 0; j <= groups; j++) {
            char key2[32];
            const double *at = v + row * width + (i * (groups + 1) + j) * n_raw;
            cJSON_AddItemToObject(inner, proto__contrib_name(m, j, groups, key2),
                                  n_raw == 1 ? proto__number_json(at[0]) : proto__numbers_json(at, n_raw));
        }
        cJSON_AddItemToObject(o, proto__contrib_name(m, i, groups, key), inner);
    }
    return o;
}

int proto__seed_finish(const struct proto_call *c, cJSON **out) {
    const struct model_ref *m = c->m;
    const double *y = proto__result(c, PRED_PREDICT), *p = proto__result(c, PRED_PROBA);
    const double *e = proto__result(c, PRED_CONTRIB), *in = proto__result(c, PRED_INTER);
    *out = cJSON_CreateObject();
    if (c->single) {
        cJSON_AddItemToObject(*out, "prediction", prediction_json(m, y, 0));
        if (p)
            cJSON_AddItemToObject(*out, "probabilities", proba_json(m, p, 0));
        if (e)
            cJSON_AddItemToObject(*out, "contributions", contrib_json(m, e, 0));
        if (in)
            cJSON_AddItemToObject(*out, "interactions", interactions_json(m, in, 0));
        return 200;
    }
    cJSON *preds = cJSON_AddArrayToObject(*out, "predictions");
    for (int64_t r = 0; r < c->rows; r++)
        cJSON_AddItemToArray(preds, prediction_json(m, y, r));
    if (p) {
        cJSON *probs = cJSON_AddArrayToObject(*out, "probabilities");
        for (int64_t r = 0; r < c->rows; r++)
            cJSON_AddItemToArray(probs, proba_json(m, p, r));
    }
    if (e) {
        cJSON *contribs = cJSON_AddArrayToObject(*out, c->explain == 2 ? "explanations" : "contributions");
        for (int64_t r = 0; r < c->rows; r++)
            cJSON_AddItemToArray(contribs, contrib_json(m, e, r));
    }
    if (in) {
        cJSON *inter = cJSON_AddArrayToObject(*out, "interactions");
        for (int64_t r = 0; r < c->rows; r++)
            cJSON_AddItemToArray(inter, interactions_json(m, in, r));
    }
    return 200;
}
