/* http.c — request routing on libmicrohttpd. The body is collected in chunks and capped at
 * MLI_MAX_BODY_BYTES; the bearer token and the size are checked before the body is read.
 * A prediction is parsed, its model calls run (here, or with dynamic batching on an
 * executor while the connection is suspended), and answered. Every connection is tracked
 * so that one not delivering a complete request in time can be closed (http_reap). */
#include "http.h"

#include "images.h"
#include "protocol.h"
#include "server.h"

#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define CONNECTION_LIMIT 4096u
#define PER_IP_CONNECTION_LIMIT 1024u
#define CONNECTION_MEMORY_LIMIT ((size_t)64 * 1024)
#define INFER_HEADER_LENGTH "Inference-Header-Content-Length" /* the binary tensor extension */

struct request {
    struct timespec t0;
    enum endpoint ep;
    int model_slot; /* the `model` label of the model it addressed; 0: none */
    int responded;
    int too_large;
    int counted; /* holds one of the MLI_MAX_INFLIGHT slots */
    char *body;
    size_t len, cap;
    struct conn_track *track;
    /* a prediction whose jobs are running */
    struct model_ref *model;
    struct proto_call *call;
    struct MHD_Connection *conn;
    int suspended;
    atomic_int pending; /* jobs not done yet, + 1 while they are being handed to the batcher */
};

/* A connection, from accept to close: the reaper closes it when it has been waiting for,
 * or receiving, a request for longer than MLI_CONNECTION_TIMEOUT_S. */
struct conn_track {
    struct conn_track *prev, *next; /* in s->conns, under s->conns_lock */
    int fd;
    int timed_out;         /* under s->conns_lock */
    atomic_int receiving;  /* 0 while a complete request is processed and answered */
    atomic_llong since_ns; /* when it began waiting for the current request */
};

static long long monotonic_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* The request has arrived in full (or was answered early): its time no longer counts. */
static void request_received(struct request *rq) {
    if (rq->track)
        atomic_store_explicit(&rq->track->receiving, 0, memory_order_relaxed);
}

/* ---- responses --------------------------------------------------------------------------- */
static enum MHD_Result send_buffer(struct server *s, struct MHD_Connection *conn, struct request *rq, int status,
                                   char *text, size_t len, const char *type, const char *hdr, const char *value) {
    struct MHD_Response *resp = MHD_create_response_from_buffer(len, text, MHD_RESPMEM_MUST_FREE);
    if (!resp) {
        free(text);
        return MHD_NO;
    }
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    if (hdr)
        MHD_add_response_header(resp, hdr, value);
    if (status == 503)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_RETRY_AFTER, "1");
    if (atomic_load(&s->draining)) /* let clients reconnect to a replica that stays */
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION, "close");
    enum MHD_Result r = MHD_queue_response(conn, (unsigned)status, resp);
    MHD_destroy_response(resp);

    struct timespec t1;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double secs = (double)(t1.tv_sec - rq->t0.tv_sec) + (double)(t1.tv_nsec - rq->t0.tv_nsec) / 1e9;
    metrics_request(&s->metrics, rq->ep, rq->model_slot, status, secs);
    rq->responded = 1;
    request_received(rq);
    return r;
}

static enum MHD_Result send_json(struct server *s, struct MHD_Connection *conn, struct request *rq, int status,
                                 cJSON *body, const char *allow) {
    const cJSON *reason = status == 400 && body ? cJSON_GetObjectItemCaseSensitive(body, "reason") : NULL;
    if (cJSON_IsString(reason))
        metrics_input_error(&s->metrics, reason->valuestring);
    char *text = body ? cJSON_PrintUnformatted(body) : NULL;
    cJSON_Delete(body);
    if (!text)
        return MHD_NO;
    return send_buffer(s, conn, rq, status, text, strlen(text), "application/json",
                       allow ? MHD_HTTP_HEADER_ALLOW : NULL, allow);
}

/* A 200 V2 infer response: the JSON, then the binary tensor data when there is some. */
static enum MHD_Result send_infer(struct server *s, struct MHD_Connection *conn, struct request *rq, cJSON *body,
                                  char *bin, size_t bin_len) {
    if (!bin)
        return send_json(s, conn, rq, 200, body, NULL);
    char *text = body ? cJSON_PrintUnformatted(body) : NULL;
    cJSON_Delete(body);
    size_t tlen = text ? strlen(text) : 0;
    char *all = text ? realloc(text, tlen + bin_len) : NULL;
    if (!all) {
        free(text);
        free(bin);
        return MHD_NO;
    }
    memcpy(all + tlen, bin, bin_len);
    free(bin);
    char hlen[32];
    snprintf(hlen, sizeof hlen, "%zu", tlen);
    return send_buffer(s, conn, rq, 200, all, tlen + bin_len, "application/octet-stream", INFER_HEADER_LENGTH, hlen);
}

static enum MHD_Result send_error(struct server *s, struct MHD_Connection *conn, struct request *rq, int status,
                                  const char *allow, const char *fmt, ...) __attribute__((format(printf, 6, 7)));
static enum MHD_Result send_error(struct server *s, struct MHD_Connection *conn, struct request *rq, int status,
                                  const char *allow, const char *fmt, ...) {
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return send_json(s, conn, rq, status, proto_error("%s", msg), allow);
}

/* ---- routing helpers ---------------------------------------------------------------------- */
static int is_get(const char *method) {
    return strcmp(method, MHD_HTTP_METHOD_GET) == 0 || strcmp(method, MHD_HTTP_METHOD_HEAD) == 0;
}

static enum endpoint classify(const char *url) {
    if (strcmp(url, "/predict") == 0)
        return EP_PREDICT;
    if (strcmp(url, "/health") == 0 || strncmp(url, "/v2/health/live", 15) == 0)
        return EP_HEALTH;
    if (strcmp(url, "/ready") == 0 || strcmp(url, "/v2/health/ready") == 0)
        return EP_READY;
    if (strcmp(url, "/metrics") == 0)
        return EP_METRICS;
    if (strcmp(url, "/v2") == 0)
        return EP_V2_SERVER;
    if (strncmp(url, "/v2/models/", 11) == 0) {
        size_t n = strlen(url);
        return n >= 6 && strcmp(url + n - 6, "/infer") == 0 ? EP_V2_INFER : EP_V2_MODEL;
    }
    if (strncmp(url, "/v1/models/", 11) == 0)
        return EP_V1_PREDICT;
    return EP_OTHER;
}

/* Endpoints that stay open when MLI_API_KEY is set: probes and scraping. */
static int is_open(const char *url) {
    return strcmp(url, "/health") == 0 || strcmp(url, "/ready") == 0 || strcmp(url, "/metrics") == 0 ||
           strcmp(url, "/v2/health/live") == 0 || strcmp(url, "/v2/health/ready") == 0;
}

/* Constant-time in the token's content: every byte of the key is always compared. */
static int token_ok(const char *key, const char *header) {
    if (!header || strncasecmp(header, "Bearer ", 7) != 0)
        return 0;
    const char *given = header + 7;
    size_t klen = strlen(key), glen = strlen(given);
    unsigned diff = (unsigned)(klen ^ glen);
    for (size_t i = 0; i < klen; i++)
        diff |= (unsigned char)key[i] ^ (unsigned char)(i < glen ? given[i] : 0);
    return diff == 0;
}

static int is_ready(struct server *s) {
    if (atomic_load(&s->draining))
        return 0;
    return repo_any_loaded(&s->repo);
}

/* ---- endpoints ------------------------------------------------------------------------------ */
static enum MHD_Result health(struct server *s, struct MHD_Connection *conn, struct request *rq, int v2) {
    cJSON *o = cJSON_CreateObject();
    if (v2)
        cJSON_AddBoolToObject(o, "live", 1);
    else
        cJSON_AddStringToObject(o, "status", "ok");
    return send_json(s, conn, rq, 200, o, NULL);
}

static enum MHD_Result ready(struct server *s, struct MHD_Connection *conn, struct request *rq, int v2) {
    int ok = is_ready(s);
    cJSON *o = cJSON_CreateObject();
    if (v2)
        cJSON_AddBoolToObject(o, "ready", ok);
    else
        cJSON_AddStringToObject(o, "status", ok ? "ready" : "not ready");
    if (!ok)
        cJSON_AddStringToObject(o, "error", atomic_load(&s->draining) ? "server is draining" : "no model loaded");
    return send_json(s, conn, rq, ok ? 200 : 503, o, NULL);
}

static enum MHD_Result metrics(struct server *s, struct MHD_Connection *conn, struct request *rq) {
    size_t len = 0;
    char *text = metrics_render(&s->metrics, &len);
    if (!text)
        return send_error(s, conn, rq, 500, NULL, "out of memory rendering metrics");
    return send_buffer(s, conn, rq, 200, text, len, "text/plain; version=0.0.4; charset=utf-8", NULL, NULL);
}

static enum MHD_Result server_metadata(struct server *s, struct MHD_Connection *conn, struct request *rq) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "name", "mlinfer-server");
    cJSON_AddStringToObject(o, "version", mli_version());
    cJSON_AddItemToArray(cJSON_AddArrayToObject(o, "extensions"), cJSON_CreateString("binary_tensor_data"));
    return send_json(s, conn, rq, 200, o, NULL);
}

/* A model addressed by name (NULL: the first in sorted order) and version (NULL: the latest),
 * or NULL with the 404 / 503 already sent. */
static struct model_ref *find_model(struct server *s, struct MHD_Connection *conn, struct request *rq, const char *name,
                                    size_t name_len, const char *version, size_t version_len, enum MHD_Result *r) {
    char vbuf[24] = "";
    long v = 0;
    if (version && version_len < sizeof vbuf) {
        memcpy(vbuf, version, version_len);
        char *end;
        v = strtol(vbuf, &end, 10);
        if (*end || end == vbuf || vbuf[0] == '+' || v <= 0)
            v = -1;
    } else if (version) {
        v = -1;
    }
    int why = REPO_NO_MODEL;
    struct model_ref *m = repo_acquire(&s->repo, name, name_len, v, &why, &rq->model_slot);
    int nl = name ? (int)(name_len < 200 ? name_len : 200) : 0;
    if (why == REPO_NO_MODEL)
        *r = name ? send_error(s, conn, rq, 404, NULL, "unknown model '%.*s'", nl, name)
                  : send_error(s, conn, rq, 503, NULL, "no model loaded yet");
    else if (why == REPO_NO_VERSION)
        *r = send_error(s, conn, rq, 404, NULL, "unknown version '%.*s' of model '%.*s'",
                        (int)(version_len < 64 ? version_len : 64), version, nl, name);
    else if (why == REPO_NOT_LOADED)
        *r = send_error(s, conn, rq, 503, NULL, "model '%.*s' is not loaded yet", nl, name ? name : "");
    return m;
}

/* ---- predictions ---------------------------------------------------------------------------- */
static enum MHD_Result release_and_send(struct server *s, struct MHD_Connection *conn, struct request *rq,
                                        struct model_ref *m, int status, cJSON *out) {
    model_ref_release(m);
    return send_json(s, conn, rq, status, out, NULL);
}

/* Every job of the call has run: answer, and let go of the call and the model. */
static enum MHD_Result answer_call(struct server *s, struct MHD_Connection *conn, struct request *rq) {
    cJSON *out = NULL;
    char *bin = NULL;
    size_t bin_len = 0;
    int status = proto_finish(rq->call, &out, &bin, &bin_len);
    proto_call_free(rq->call);
    rq->call = NULL;
    model_ref_release(rq->model);
    rq->model = NULL;
    return status == 200 ? send_infer(s, conn, rq, out, bin, bin_len) : send_json(s, conn, rq, status, out, NULL);
}

/* Called once per job, and once by run_call when it has handed them all over; the last
 * call resumes the connection, whose handler then answers. Nothing of `rq` is touched after
 * the resume: the answer may be sent, and rq freed, at once. */
static void job_done(struct pred_job *job, void *arg) {
    (void)job;
    struct request *rq = arg;
    struct MHD_Connection *conn = rq->conn;
    if (atomic_fetch_sub_explicit(&rq->pending, 1, memory_order_acq_rel) == 1)
        MHD_resume_connection(conn);
}

/* Runs a parsed call's jobs: here without batching, else through the batcher with the
 * connection suspended meanwhile (this HTTP thread serves other connections). Takes over
 * the reference to m. */
static enum MHD_Result run_call(struct server *s, struct MHD_Connection *conn, struct request *rq, struct model_ref *m,
                                struct proto_call *call) {
    rq->model = m;
    rq->call = call;
    if (!s->batching) {
        for (int i = 0; i < call->n_jobs; i++)
            pred_run(&call->jobs[i], &s->metrics);
        return answer_call(s, conn, rq);
    }
    rq->conn = conn;
    rq->suspended = 1;
    atomic_store_explicit(&rq->pending, call->n_jobs + 1, memory_order_relaxed);
    MHD_suspend_connection(conn); /* before any job can finish and resume it */
    for (int i = 0; i < call->n_jobs; i++) {
        struct pred_job *j = &call->jobs[i];
        j->done = job_done;
        j->arg = rq;
        if (batcher_submit(&s->batcher, j) != 0) { /* stopping: run it here */
            pred_run(j, &s->metrics);
            job_done(j, rq);
        }
    }
    job_done(NULL, rq);
    return MHD_YES;
}

/* /v2/models/{name}[/versions/{v}][/ready|/infer] */
static enum MHD_Result v2_model(struct server *s, struct MHD_Connection *conn, struct request *rq, const char *url,
                                const char *method) {
    const char *name = url + strlen("/v2/models/");
    const char *p = strchr(name, '/');
    size_t name_len = p ? (size_t)(p - name) : strlen(name);
    const char *version = NULL, *action = p ? p : "";
    size_t version_len = 0;
    if (strncmp(action, "/versions/", 10) == 0) {
        version = action + 10;
        const char *q = strchr(version, '/');
        version_len = q ? (size_t)(q - version) : strlen(version);
        action = q ? q : "";
    }
    int infer = strcmp(action, "/infer") == 0, rdy = strcmp(action, "/ready") == 0;
    if (name_len == 0 || (version && version_len == 0) || (!infer && !rdy && *action))
        return send_error(s, conn, rq, 404, NULL, "unknown path '%.200s'", url);
    if (infer ? strcmp(method, MHD_HTTP_METHOD_POST) != 0 : !is_get(method))
        return send_error(s, conn, rq, 405, infer ? "POST" : "GET, HEAD", "method %s not allowed on %.200s", method,
                          url);

    enum MHD_Result r = MHD_NO;
    struct model_ref *m = find_model(s, conn, rq, name, name_len, version, version_len, &r);
    if (!m)
        return r;
    cJSON *out = NULL;
    int status = 200;
    if (infer) {
        struct v2_body body = {rq->body ? rq->body : "", rq->len,
                               MHD_lookup_connection_value(conn, MHD_HEADER_KIND, INFER_HEADER_LENGTH)};
        struct proto_call *call = NULL;
        status = proto_v2_parse(m, &body, &call, &out);
        return status == 200 ? run_call(s, conn, rq, m, call) : release_and_send(s, conn, rq, m, status, out);
    } else if (rdy) {
        int ok = !atomic_load(&s->draining);
        out = cJSON_CreateObject();
        cJSON_AddStringToObject(out, "name", m->name);
        cJSON_AddBoolToObject(out, "ready", ok);
        status = ok ? 200 : 503;
    } else {
        long versions[64];
        int nv = repo_versions(&s->repo, m->name, versions, 64);
        out = proto_v2_model_metadata(m, versions, nv);
    }
    model_ref_release(m);
    return send_json(s, conn, rq, status, out, NULL);
}

/* /v1/models/{name}:predict and :explain (POST), /v1/models/{name} (GET: status). */
static enum MHD_Result v1_model(struct server *s, struct MHD_Connection *conn, struct request *rq, const char *url,
                                const char *method) {
    const char *name = url + strlen("/v1/models/");
    const char *colon = strchr(name, ':');
    int explain = colon && strcmp(colon, ":explain") == 0;
    int predict = colon && (strcmp(colon, ":predict") == 0 || explain);
    if ((colon && !predict) || strchr(name, '/') || !*name)
        return send_error(s, conn, rq, 404, NULL, "unknown path '%.200s'", url);
    if (predict ? strcmp(method, MHD_HTTP_METHOD_POST) != 0 : !is_get(method))
        return send_error(s, conn, rq, 405, predict ? "POST" : "GET, HEAD", "method %s not allowed on %.200s", method,
                          url);
    enum MHD_Result r = MHD_NO;
    struct model_ref *m = find_model(s, conn, rq, name, predict ? (size_t)(colon - name) : strlen(name), NULL, 0, &r);
    if (!m)
        return r;
    cJSON *out = NULL;
    int status = 200;
    if (predict) {
        struct proto_call *call = NULL;
        status = proto_predict_parse(m, rq->body ? rq->body : "", rq->len, explain ? 2 : 1, NULL, &call, &out);
        return status == 200 ? run_call(s, conn, rq, m, call) : release_and_send(s, conn, rq, m, status, out);
    } else {
        out = cJSON_CreateObject();
        cJSON_AddStringToObject(out, "name", m->name);
        cJSON_AddBoolToObject(out, "ready", !atomic_load(&s->draining));
    }
    model_ref_release(m);
    return send_json(s, conn, rq, status, out, NULL);
}

/* A JPEG body: Content-Type image/jpeg, or any body that starts with FF D8 FF (JSON cannot). */
static int is_jpeg_request(struct MHD_Connection *conn, const struct request *rq) {
    const char *ct = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE);
    if (ct) {
        while (*ct == ' ' || *ct == '\t')
            ct++;
        static const char *const types[] = {"image/jpeg", "image/jpg", "image/pjpeg"};
        for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
            size_t n = strlen(types[i]);
            if (strncasecmp(ct, types[i], n) == 0 && (ct[n] == '\0' || ct[n] == ';' || ct[n] == ' '))
                return 1;
        }
    }
    return image_sniff(rq->body, rq->len);
}

static enum MHD_Result predict(struct server *s, struct MHD_Connection *conn, struct request *rq) {
    /* ?model=NAME picks the model; else the first name in sorted order, its latest version */
    const char *name = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "model");
    /* ?proba[=true|1|false|0]; "" for a bare ?proba */
    const char *proba = NULL;
    if (MHD_lookup_connection_value_n(conn, MHD_GET_ARGUMENT_KIND, "proba", 5, &proba, NULL) == MHD_YES && !proba)
        proba = "";
    enum MHD_Result r = MHD_NO;
    struct model_ref *m = find_model(s, conn, rq, name, name ? strlen(name) : 0, NULL, 0, &r);
    if (!m)
        return r;
    cJSON *out = NULL;
    struct proto_call *call = NULL;
    const char *body = rq->body ? rq->body : "";
    int status = is_jpeg_request(conn, rq) ? proto_predict_jpeg(m, body, rq->len, proba, &call, &out)
                                           : proto_predict_parse(m, body, rq->len, 0, proba, &call, &out);
    return status == 200 ? run_call(s, conn, rq, m, call) : release_and_send(s, conn, rq, m, status, out);
}

static enum MHD_Result route(struct server *s, struct MHD_Connection *conn, struct request *rq, const char *url,
                             const char *method) {
    int get = is_get(method), post = strcmp(method, MHD_HTTP_METHOD_POST) == 0;
    struct {
        const char *path;
        int post; /* else GET/HEAD */
    } fixed[] = {{"/predict", 1}, {"/health", 0},         {"/ready", 0},          {"/metrics", 0},
                 {"/v2", 0},      {"/v2/health/live", 0}, {"/v2/health/ready", 0}};
    for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++) {
        if (strcmp(url, fixed[i].path) != 0)
            continue;
        if (fixed[i].post ? !post : !get)
            return send_error(s, conn, rq, 405, fixed[i].post ? "POST" : "GET, HEAD", "method %s not allowed on %s",
                              method, url);
        switch (i) {
        case 0: return predict(s, conn, rq);
        case 1: return health(s, conn, rq, 0);
        case 2: return ready(s, conn, rq, 0);
        case 3: return metrics(s, conn, rq);
        case 4: return server_metadata(s, conn, rq);
        case 5: return health(s, conn, rq, 1);
        default: return ready(s, conn, rq, 1);
        }
    }
    if (strncmp(url, "/v2/models/", 11) == 0)
        return v2_model(s, conn, rq, url, method);
    if (strncmp(url, "/v1/models/", 11) == 0)
        return v1_model(s, conn, rq, url, method);
    return send_error(s, conn, rq, 404, NULL, "unknown path '%.200s'", url);
}

/* ---- libmicrohttpd callbacks ------------------------------------------------------------------ */
static enum MHD_Result first_call(struct server *s, struct MHD_Connection *conn, struct request *rq, const char *url) {
    if (s->cfg.api_key && !is_open(url) &&
        !token_ok(s->cfg.api_key, MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION)))
        return send_error(s, conn, rq, 401, NULL, "missing or wrong bearer token (Authorization: Bearer <key>)");
    if (rq->ep == EP_PREDICT || rq->ep == EP_V1_PREDICT || rq->ep == EP_V2_INFER) {
        long long n = atomic_fetch_add(&s->metrics.predict_inflight, 1); /* admitted before this one */
        if (n >= s->cfg.max_inflight) { /* a refused request gives its slot back at once */
            atomic_fetch_sub(&s->metrics.predict_inflight, 1);
            atomic_fetch_add(&s->metrics.overload_rejections, 1);
            return send_error(s, conn, rq, 503, NULL, "server overloaded: %lld requests in flight", n);
        }
        rq->counted = 1;
    }
    const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    if (cl && strtoull(cl, NULL, 10) > s->cfg.max_body_bytes)
        return send_error(s, conn, rq, 413, NULL, "request body of %s bytes exceeds the limit of %zu bytes", cl,
                          s->cfg.max_body_bytes);
    return MHD_YES;
}

static int append_body(struct server *s, struct request *rq, const char *data, size_t n) {
    if (rq->too_large || n > s->cfg.max_body_bytes - rq->len) {
        rq->too_large = 1;
        free(rq->body);
        rq->body = NULL;
        rq->len = rq->cap = 0;
        return 0;
    }
    if (rq->len + n + 1 > rq->cap) {
        size_t cap = rq->cap ? rq->cap : 4096;
        while (cap < rq->len + n + 1)
            cap *= 2;
        char *p = realloc(rq->body, cap);
        if (!p)
            return -1;
        rq->body = p;
        rq->cap = cap;
    }
    memcpy(rq->body + rq->len, data, n);
    rq->len += n;
    rq->body[rq->len] = '\0';
    return 0;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
                                  const char *version, const char *upload_data, size_t *upload_data_size,
                                  void **con_cls) {
    (void)version;
    struct server *s = cls;
    struct request *rq = *con_cls;
    if (!rq) {
        if (!(rq = calloc(1, sizeof *rq)))
            return MHD_NO;
        clock_gettime(CLOCK_MONOTONIC, &rq->t0);
        rq->ep = classify(url);
        atomic_init(&rq->pending, 0);
        const union MHD_ConnectionInfo *ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
        rq->track = ci ? ci->socket_context : NULL;
        *con_cls = rq;
        atomic_fetch_add(&s->metrics.inflight, 1);
        return first_call(s, conn, rq, url);
    }
    if (rq->suspended) { /* resumed: every job has run */
        rq->suspended = 0;
        if (atomic_load_explicit(&rq->pending, memory_order_acquire) != 0) /* cannot happen */
            return MHD_NO;
        return answer_call(s, conn, rq);
    }
    if (*upload_data_size > 0) {
        if (!rq->responded && append_body(s, rq, upload_data, *upload_data_size) != 0)
            return MHD_NO;
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (rq->responded)
        return MHD_YES;
    request_received(rq);
    if (rq->too_large)
        return send_error(s, conn, rq, 413, NULL, "request body exceeds the limit of %zu bytes", s->cfg.max_body_bytes);
    enum MHD_Result r = route(s, conn, rq, url, method);
    log_event(&s->log, LOG_DEBUG, "request", "method:s path:s bytes:i", method, url, (long long)rq->len);
    return r;
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls, enum MHD_RequestTerminationCode toe) {
    (void)conn;
    (void)toe;
    struct server *s = cls;
    struct request *rq = *con_cls;
    if (!rq)
        return;
    atomic_fetch_sub(&s->metrics.inflight, 1);
    if (rq->counted)
        atomic_fetch_sub(&s->metrics.predict_inflight, 1);
    if (rq->track) { /* the connection now waits for its next request */
        atomic_store_explicit(&rq->track->since_ns, monotonic_ns(), memory_order_relaxed);
        atomic_store_explicit(&rq->track->receiving, 1, memory_order_relaxed);
    }
    proto_call_free(rq->call); /* left over only when the request was cut short */
    model_ref_release(rq->model);
    free(rq->body);
    free(rq);
    *con_cls = NULL;
}

static void on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
                          enum MHD_ConnectionNotificationCode toe) {
    struct server *s = cls;
    struct conn_track *t = *socket_context;
    if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
        const union MHD_ConnectionInfo *ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
        if (!ci || !(t = calloc(1, sizeof *t)))
            return; /* untracked: MHD's idle timeout still applies */
        t->fd = ci->connect_fd;
        atomic_init(&t->receiving, 1);
        atomic_init(&t->since_ns, monotonic_ns());
        pthread_mutex_lock(&s->conns_lock);
        t->next = s->conns;
        if (s->conns)
            s->conns->prev = t;
        s->conns = t;
        pthread_mutex_unlock(&s->conns_lock);
        *socket_context = t;
    } else if (toe == MHD_CONNECTION_NOTIFY_CLOSED && t) {
        /* MHD closes the socket after this returns: once unlinked, the reaper cannot touch it */
        pthread_mutex_lock(&s->conns_lock);
        if (t->prev)
            t->prev->next = t->next;
        else
            s->conns = t->next;
        if (t->next)
            t->next->prev = t->prev;
        pthread_mutex_unlock(&s->conns_lock);
        free(t);
        *socket_context = NULL;
    }
}

int http_reap(struct server *s) {
    long long now = monotonic_ns(), limit = (long long)s->cfg.connection_timeout_s * 1000000000LL;
    int n = 0;
    pthread_mutex_lock(&s->conns_lock);
    for (struct conn_track *t = s->conns; t; t = t->next)
        if (!t->timed_out && atomic_load_explicit(&t->receiving, memory_order_relaxed) &&
            now - atomic_load_explicit(&t->since_ns, memory_order_relaxed) > limit) {
            /* shutdown, not close: the socket stays MHD's; its next read sees the end */
            shutdown(t->fd, SHUT_RDWR);
            t->timed_out = 1;
            n++;
        }
    pthread_mutex_unlock(&s->conns_lock);
    if (n) {
        atomic_fetch_add(&s->metrics.connection_timeouts, (unsigned long long)n);
        log_event(&s->log, LOG_INFO, "connection_timeout", "connections:i timeout_s:i", (long long)n,
                  (long long)s->cfg.connection_timeout_s);
    }
    return n;
}

/* libmicrohttpd's messages come as printf formats (the attribute lets clang check that). */
__attribute__((format(printf, 2, 0))) static void on_mhd_log(void *cls, const char *fmt, va_list ap) {
    struct server *s = cls;
    char msg[512];
    vsnprintf(msg, sizeof msg, fmt, ap);
    size_t n = strlen(msg);
    while (n > 0 && msg[n - 1] == '\n')
        msg[--n] = '\0';
    log_event(&s->log, LOG_WARN, "http", "message:s", msg);
}

/* One libmicrohttpd daemon with its own thread on `port`, taking its share of the limits;
 * `reuse`: SO_REUSEPORT, so that the kernel spreads new connections over the daemons. */
static struct MHD_Daemon *start_daemon(struct server *s, uint16_t port, unsigned share, int reuse) {
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ITC | MHD_USE_ERROR_LOG;
    if (s->batching)
        flags |= MHD_ALLOW_SUSPEND_RESUME;
    return MHD_start_daemon(flags, port, NULL, NULL, on_request, s, MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, s,
                            MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)s->cfg.connection_timeout_s,
                            MHD_OPTION_CONNECTION_LIMIT, (CONNECTION_LIMIT + share - 1) / share,
                            MHD_OPTION_PER_IP_CONNECTION_LIMIT, (PER_IP_CONNECTION_LIMIT + share - 1) / share,
                            MHD_OPTION_CONNECTION_MEMORY_LIMIT, CONNECTION_MEMORY_LIMIT, MHD_OPTION_NOTIFY_COMPLETED,
                            on_completed, s, MHD_OPTION_NOTIFY_CONNECTION, on_connection, s,
                            /* without reuse the list ends here */
                            reuse ? MHD_OPTION_LISTENING_ADDRESS_REUSE : MHD_OPTION_END, (unsigned)1, MHD_OPTION_END);
}

struct http {
    unsigned n;
    struct MHD_Daemon *d[]; /* n daemons, one thread each */
};

/* Whether another socket listens on the port (of any process): SO_REUSEPORT would let a
 * second server of the same user share it silently, its requests answered by the other's
 * model, where one socket fails with "address in use". A socket with SO_REUSEADDR only
 * binds past connections in TIME_WAIT but not past a listener. */
static int port_taken(uint16_t port) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;
    if (fd < 0)
        return 0; /* no verdict: MHD's own bind reports what is wrong */
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port), .sin_addr = {htonl(INADDR_ANY)}};
    int taken = setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) == 0 &&
                bind(fd, (struct sockaddr *)&a, sizeof a) != 0 && errno == EADDRINUSE;
    close(fd);
    return taken;
}

/* Why not libmicrohttpd's own thread pool: its threads share one listening socket and the
 * first one awake accepts, so a burst of new connections (a load balancer's or a client's
 * pool opening at once) often all land on one thread and, kept alive, stay there; with
 * MLI_HTTP_THREADS=2 and 16 connections, 2 runs in 3 had one thread serving all of them
 * and the other idle (measured with requests of 1.5 ms of CPU: 636 req/s against 1,240 when
 * they were split). With a socket per thread the kernel spreads each new connection by its
 * address hash. */
struct http *http_start(struct server *s) {
    unsigned n = s->cfg.threads > 1 ? (unsigned)s->cfg.threads : 1;
    if (n > 1 && s->cfg.port != 0 && port_taken((uint16_t)s->cfg.port)) {
        log_event(&s->log, LOG_ERROR, "listen_failed", "port:i error:s", (long long)s->cfg.port,
                  "another socket listens on the port");
        return NULL;
    }
    struct http *h = calloc(1, sizeof *h + n * sizeof h->d[0]);
    if (!h)
        return NULL;
    uint16_t port = (uint16_t)s->cfg.port;
    for (h->n = 0; h->n < n; h->n++) {
        if (!(h->d[h->n] = start_daemon(s, port, n, n > 1))) {
            http_stop(h);
            return NULL;
        }
        if (port == 0) { /* an ephemeral port: the others join the first one's */
            const union MHD_DaemonInfo *info = MHD_get_daemon_info(h->d[0], MHD_DAEMON_INFO_BIND_PORT);
            port = info ? info->port : 0;
        }
    }
    return h;
}

void http_quiesce(struct http *h) {
    for (unsigned i = 0; i < h->n; i++) {
        MHD_socket fd = MHD_quiesce_daemon(h->d[i]); /* stop accepting; open connections go on */
        if (fd != MHD_INVALID_SOCKET)
            close(fd);
    }
}

void http_stop(struct http *h) {
    if (!h)
        return;
    for (unsigned i = 0; i < h->n; i++)
        MHD_stop_daemon(h->d[i]);
    free(h);
}
