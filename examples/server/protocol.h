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
/* POST /v2/models/{m}[/versions/{v}]/infer. */
int proto_v2_infer(const struct model_ref *m, struct metrics *mt, const char *name, const char *version,
                   const char *body, size_t len, cJSON **out);
/* GET /v2/models/{m}[/versions/{v}]. */
cJSON *proto_v2_model_metadata(const struct model_ref *m, const char *name, const char *version);

#endif
