/* fuzz_server_request.c — mlinfer-server's request parsers on raw bytes, without HTTP:
 * the first byte picks the parser and the model, the rest is the request.
 *
 *   byte0 % 6:  0 POST /predict JSON (seed form: "features", "instances", {"b64": ...} images)
 *               1 POST /v1/models/{m}:predict       2 V2 infer, JSON only
 *               3 V2 infer with binary tensors: bytes 1-2 (little-endian) are the
 *                 Inference-Header-Content-Length, the JSON header and the tensors follow
 *               4 POST /predict with a JPEG body     5 the ?proba= query value
 *   byte0 / 6 % 3: the numeric model (MLI_FUZZ_NUMERIC_MODEL), the image model
 *                  (MLI_FUZZ_IMAGE_MODEL: an 8 x 8 gray image stage and a linear classifier)
 *                  or the named model (MLI_FUZZ_NAMED_MODEL: numeric and string columns with
 *                  missing values, models/make_churn_named.py).
 *
 * Each parse either answers an error status with {"error": "..."} or gives a call whose
 * jobs run and whose response is built, as the server does. */
#include "fuzz_harness.h"

#include "batch.h"
#include "metrics.h"
#include "protocol.h"
#include "registry.h"

static struct model_ref *models[3];
static struct metrics metrics;

static struct model_ref *load_ref(const char *path)
{
    mli_model *model = NULL;
    char err[256];
    FUZZ_CHECK(mli_model_load(path, &model) == MLI_OK, "cannot load %s: %s", path, mli_last_error());
    struct model_ref *ref = model_ref_new(model, err, sizeof err);
    FUZZ_CHECK(ref != NULL, "%s: %s", path, err);
    snprintf(ref->name, sizeof ref->name, "fuzz");
    return ref;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    metrics_init(&metrics);
    models[0] = load_ref(MLI_FUZZ_NUMERIC_MODEL);
    models[1] = load_ref(MLI_FUZZ_IMAGE_MODEL);
    models[2] = load_ref(MLI_FUZZ_NAMED_MODEL);
    return 0;
}

static void check_error_body(int status, cJSON *out)
{
    FUZZ_CHECK(status == 400 || status == 413 || status == 500, "unexpected status %d", status);
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(out, "error");
    FUZZ_CHECK(cJSON_IsString(e) && e->valuestring[0] != 0, "status %d without an error message", status);
}

static void finish(int status, struct proto_call *call, cJSON *out)
{
    if (status != 200) {
        check_error_body(status, out);
        FUZZ_CHECK(call == NULL, "an error left a call behind");
        cJSON_Delete(out);
        return;
    }
    for (int i = 0; i < call->n_jobs; ++i)
        pred_run(&call->jobs[i], &metrics);
    cJSON *resp = NULL;
    char *bin = NULL;
    size_t bin_len = 0;
    int st = proto_finish(call, &resp, &bin, &bin_len);
    FUZZ_CHECK(st == 200 || st == 400 || st == 500, "proto_finish answered %d", st);
    cJSON_Delete(resp);
    free(bin);
    proto_call_free(call);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    int which = data[0] % 6;
    struct model_ref *m = models[(data[0] / 6) % 3];
    const char *body = (const char *)data + 1;
    size_t len = size - 1;
    struct proto_call *call = NULL;
    cJSON *out = NULL;
    int status;
    switch (which) {
    case 0:
    case 1:
        status = proto_predict_parse(m, body, len, which, NULL, &call, &out);
        break;
    case 2: {
        struct v2_body b = {body, len, NULL};
        status = proto_v2_parse(m, &b, &call, &out);
        break;
    }
    case 3: {
        if (len < 2)
            return 0;
        char header_len[24];
        snprintf(header_len, sizeof header_len, "%u", (unsigned)body[0] | (unsigned)(uint8_t)body[1] << 8);
        struct v2_body b = {body + 2, len - 2, header_len};
        status = proto_v2_parse(m, &b, &call, &out);
        break;
    }
    case 4:
        status = proto_predict_jpeg(m, body, len, NULL, &call, &out);
        break;
    default: {
        char *query = malloc(len + 1); /* a query value is a C string */
        if (!query)
            return 0;
        memcpy(query, body, len);
        query[len] = 0;
        static const char req[] = "{\"features\": [0, 0, 0, 0]}";
        status = proto_predict_parse(m, req, sizeof req - 1, 0, query, &call, &out);
        free(query);
        break;
    }
    }
    finish(status, call, out);
    return 0;
}
