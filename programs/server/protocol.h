/* protocol.h — the JSON request/response bodies: seed /predict, V1 and Open Inference V2.
 * A prediction request is parsed into a call (its model calls as jobs), the jobs run, and
 * the call is turned into the response. Each step returns the HTTP status and, on an
 * error, sets *out to {"error": "..."}; the caller owns *out. */
#ifndef MLI_SERVER_PROTOCOL_H
#define MLI_SERVER_PROTOCOL_H

#include "batch.h"

#include <cjson/cJSON.h>
#include <stddef.h>

struct model_ref;

cJSON *proto_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* A V2 infer request body: `header_len` is the Inference-Header-Content-Length request header
 * (NULL when absent): the JSON part's length, binary input tensors following it. */
struct v2_body {
    const char *data;
    size_t len;
    const char *header_len;
};

/* A parsed prediction request: the model calls it needs (`jobs`, run by the caller or the
 * batcher) and what building its response needs. The other fields are protocol.c's. */
struct proto_call {
    struct pred_job jobs[4];
    int n_jobs;
    struct model_ref *m;
    int v2, single, proba, explain; /* V2; /predict "features"; "proba": true; 1 "explain": true, 2 V1 :explain */
    int interactions;               /* /predict "interactions": true */
    int order[4], binary[4], n_out; /* V2 outputs asked for, enum pred_kind (predict ... interactions) */
    int64_t rows;
    double *x;
    float *xf;
    mli_column *cols; /* named columns (their buffers in colmem), or NULL */
    int64_t n_cols;
    void *colmem;
    cJSON *root;
};

/* Parses and checks a request for model `m` (a reference the caller holds until the call is
 * freed). Returns 200 with *call set, its jobs ready to run, or an error status with *out
 * set to the error body.
 *   POST /predict: {"features": [...], "proba"?: bool, "explain"?: bool} or {"instances": [[...], ...], ...};
 *   for a model with named columns also {"features": {name: value, ...}} and {"instances": [{name: value}, ...]}
 *   (null: a missing value), run through mli_model_predict_columns; errors about the values are
 *   400s whose body has "reason" (missing_column, unknown_column, wrong_type, no_names,
 *   missing_value, bad_value) besides "error";
 *   "explain": true adds "contributions" (SHAP values per input column and "bias",
 *   mli_model_predict_contrib); "interactions": true adds "interactions" (per row
 *   {"<column>": {"<column>": value, ..., "bias": ...}, ..., "bias": {...}},
 *   mli_model_predict_interactions), refused over PROTO_MAX_INTERACTION_VALUES values;
 *   POST /v1/models/{m}:predict (v1 = 1): {"instances": [[...], ...]} -> {"predictions": [...]};
 *   POST /v1/models/{m}:explain (v1 = 2): the same plus "explanations" (as "contributions").
 * `query_proba` is /predict's ?proba= query parameter (NULL when absent, "" without a value):
 * true, 1, false or 0; the body's "proba" wins over it. */
int proto_predict_parse(struct model_ref *m, const char *body, size_t len, int v1, const char *query_proba,
                        struct proto_call **call, cJSON **out);
/* POST /predict with a JPEG body (Content-Type image/jpeg, or a body starting FF D8 FF): one
 * image through the model's image stage -> {"prediction": ...} (+ "probabilities" with
 * ?proba=true), as for {"features": [...]}. */
int proto_predict_jpeg(struct model_ref *m, const char *body, size_t len, const char *query_proba,
                       struct proto_call **call, cJSON **out);
/* POST /v2/models/{m}[/versions/{v}]/infer. */
int proto_v2_parse(struct model_ref *m, const struct v2_body *body, struct proto_call **call, cJSON **out);
/* After every job has run: the response body (200, or 500 naming a failed model call). A V2
 * response's outputs asked for as binary data are in *bin (malloc'd, *bin_len bytes; NULL
 * when none), to be sent after the JSON. */
int proto_finish(struct proto_call *call, cJSON **out, char **bin, size_t *bin_len);
void proto_call_free(struct proto_call *call);
/* GET /v2/models/{m}[/versions/{v}]. */
cJSON *proto_v2_model_metadata(const struct model_ref *m, const long *versions, int n_versions);

#endif
