/* protocol.h — the JSON request/response bodies: seed /predict, V1 and Open Inference V2.
 * Each handler returns the HTTP status and sets *out to the response body (on an error,
 * {"error": "..."}); the caller owns *out. */
#ifndef MLI_SERVER_PROTOCOL_H
#define MLI_SERVER_PROTOCOL_H

#include <cjson/cJSON.h>
#include <stddef.h>

struct model_ref;
struct metrics;

cJSON *proto_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* POST /predict: {"features": [...], "proba"?: bool} or {"instances": [[...], ...], "proba"?}. */
int proto_predict(const struct model_ref *m, struct metrics *mt, const char *body, size_t len, cJSON **out);
/* POST /v1/models/{m}:predict: {"instances": [[...], ...]} -> {"predictions": [...]}. */
int proto_v1_predict(const struct model_ref *m, struct metrics *mt, const char *body, size_t len, cJSON **out);
/* A V2 infer request body: `header_len` is the Inference-Header-Content-Length request header
 * (NULL when absent): the JSON part's length, binary input tensors following it. */
struct v2_body {
    const char *data;
    size_t len;
    const char *header_len;
};
/* POST /v2/models/{m}[/versions/{v}]/infer. On success, outputs asked for as binary data are
 * in *bin (malloc'd, *bin_len bytes; NULL when none), to be sent after the JSON. */
int proto_v2_infer(const struct model_ref *m, struct metrics *mt, const char *name, const char *version,
                   const struct v2_body *body, cJSON **out, char **bin, size_t *bin_len);
/* GET /v2/models/{m}[/versions/{v}]. */
cJSON *proto_v2_model_metadata(const struct model_ref *m, const long *versions, int n_versions);

#endif
