/* metrics.c — Prometheus text exposition format 0.0.4. */
#include "metrics.h"

#include <mlinfer.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char *const EP_NAMES[EP_COUNT] = {"predict", "v1_predict", "v2_infer", "v2_model", "v2_server",
                                               "health",  "ready",      "metrics",  "other"};
static const int CODES[METRICS_N_CODES] = {200, 400, 401, 404, 405, 413, 500, 503, 499, 599};
static const double DURATION_LE[METRICS_N_DURATION] = {5e-05, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01,
                                                       0.025, 0.05,   0.1,     0.25,   0.5,   1,      2.5};
static const double BATCH_LE[METRICS_N_BATCH] = {1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096};

static const double QUEUE_LE[METRICS_N_QUEUE] = {1e-05,  2.5e-05, 5e-05, 0.0001, 0.00025, 0.0005, 0.001,
                                                 0.0025, 0.005,   0.01,  0.025,  0.1,     0.5,    2.5};

void metrics_init(struct metrics *m) {
    memset(m, 0, sizeof *m);      /* all-zero is a valid state for lock-free atomics here */
    atomic_init(&m->n_models, 1); /* slot 0: the empty label */
}

int metrics_model_slot(struct metrics *m, const char *name) {
    int n = atomic_load_explicit(&m->n_models, memory_order_relaxed); /* we are the only writer */
    for (int i = 1; i < n; i++)
        if (strcmp(m->models[i].name, name) == 0)
            return i;
    if (n > METRICS_MAX_MODELS) /* full: the last slot is already "_other" */
        return METRICS_MAX_MODELS;
    snprintf(m->models[n].name, sizeof m->models[n].name, "%s", n < METRICS_MAX_MODELS ? name : "_other");
    atomic_store_explicit(&m->n_models, n + 1, memory_order_release); /* publishes the name */
    return n;
}

static int code_index(int code) {
    for (int i = 0; i < METRICS_N_CODES - 2; i++)
        if (CODES[i] == code)
            return i;
    return code >= 400 && code < 500 ? METRICS_N_CODES - 2 : METRICS_N_CODES - 1;
}

static int bucket(const double *le, int n, double v) {
    int i = 0;
    while (i < n && v > le[i])
        i++;
    return i;
}

void metrics_request(struct metrics *m, enum endpoint ep, int model_slot, int code, double seconds) {
    if (model_slot < 0 || model_slot > METRICS_MAX_MODELS)
        model_slot = 0;
    atomic_fetch_add_explicit(&m->models[model_slot].requests[ep][code_index(code)], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&m->duration[ep][bucket(DURATION_LE, METRICS_N_DURATION, seconds)], 1,
                              memory_order_relaxed);
    atomic_fetch_add_explicit(&m->duration_sum_ns[ep], (unsigned long long)(seconds * 1e9), memory_order_relaxed);
}

static const char *const REASONS[METRICS_N_REASONS] = {"missing_column", "unknown_column",   "wrong_type", "no_names",
                                                       "missing_value",  "unknown_category", "bad_value",  "other"};

void metrics_input_error(struct metrics *m, const char *reason) {
    int i = 0;
    while (i < METRICS_N_REASONS - 1 && strcmp(REASONS[i], reason) != 0)
        i++;
    atomic_fetch_add_explicit(&m->input_errors[i], 1, memory_order_relaxed);
}

void metrics_batch(struct metrics *m, int64_t rows) {
    atomic_fetch_add_explicit(&m->batch[bucket(BATCH_LE, METRICS_N_BATCH, (double)rows)], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&m->batch_sum, (unsigned long long)rows, memory_order_relaxed);
}

void metrics_queue(struct metrics *m, double seconds) {
    atomic_fetch_add_explicit(&m->queue[bucket(QUEUE_LE, METRICS_N_QUEUE, seconds)], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&m->queue_sum_ns, (unsigned long long)(seconds * 1e9), memory_order_relaxed);
}

void metrics_load(struct metrics *m, int ok) {
    if (!ok) {
        atomic_fetch_add(&m->load_failures, 1);
        return;
    }
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    atomic_store(&m->last_load_success_ms, (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
    atomic_fetch_add(&m->loads, 1);
}

/* ---- rendering ---------------------------------------------------------------------- */
struct buf {
    char *p;
    size_t len, cap;
    int failed;
};

static void put(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(struct buf *b, const char *fmt, ...) {
    for (;;) {
        if (b->failed)
            return;
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
        va_end(ap);
        if (n < 0) {
            b->failed = 1;
            return;
        }
        if ((size_t)n < b->cap - b->len) {
            b->len += (size_t)n;
            return;
        }
        size_t cap = (b->cap + (size_t)n) * 2;
        char *p = realloc(b->p, cap);
        if (!p) {
            b->failed = 1;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
}

/* A label value with \\, " and newline escaped, as the text format requires. */
static void label_value(char *dst, size_t cap, const char *src) {
    size_t n = 0;
    for (; *src && n + 3 < cap; src++) {
        char c = *src == '\n' ? 'n' : *src;
        if (*src == '\\' || *src == '"' || *src == '\n')
            dst[n++] = '\\';
        dst[n++] = c;
    }
    dst[n] = '\0';
}

static void header(struct buf *b, const char *name, const char *type, const char *help) {
    put(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* Histogram samples from per-bucket counts (made cumulative here). */
static void histogram(struct buf *b, const char *name, const char *labels, const double *le, int n,
                      atomic_ullong *counts, double sum) {
    unsigned long long cum = 0;
    const char *sep = *labels ? "," : "";
    for (int i = 0; i <= n; i++) {
        cum += atomic_load_explicit(&counts[i], memory_order_relaxed);
        if (i < n)
            put(b, "%s_bucket{%s%sle=\"%g\"} %llu\n", name, labels, sep, le[i], cum);
        else
            put(b, "%s_bucket{%s%sle=\"+Inf\"} %llu\n", name, labels, sep, cum);
    }
    put(b, "%s_sum%s%s%s%s %.9g\n", name, *labels ? "{" : "", labels, *labels ? "}" : "", "", sum);
    put(b, "%s_count%s%s%s %llu\n", name, *labels ? "{" : "", labels, *labels ? "}" : "", cum);
}

char *metrics_render(struct metrics *m, size_t *len) {
    struct buf b = {malloc(8192), 0, 8192, 0};
    if (!b.p)
        return NULL;

    header(&b, "mlinfer_requests_total", "counter", "HTTP requests by endpoint, model and status code.");
    int n_models = atomic_load_explicit(&m->n_models, memory_order_acquire);
    for (int k = 0; k < n_models; k++) {
        char model[2 * sizeof m->models[k].name];
        label_value(model, sizeof model, m->models[k].name);
        for (int e = 0; e < EP_COUNT; e++)
            for (int c = 0; c < METRICS_N_CODES; c++) {
                unsigned long long v = atomic_load_explicit(&m->models[k].requests[e][c], memory_order_relaxed);
                if (v)
                    put(&b, "mlinfer_requests_total{endpoint=\"%s\",model=\"%s\",code=\"%d\"} %llu\n", EP_NAMES[e],
                        model, CODES[c], v);
            }
    }

    header(&b, "mlinfer_input_errors_total", "counter",
           "Requests refused (400) for the values of named rows, by reason.");
    for (int i = 0; i < METRICS_N_REASONS; i++)
        put(&b, "mlinfer_input_errors_total{reason=\"%s\"} %llu\n", REASONS[i],
            atomic_load_explicit(&m->input_errors[i], memory_order_relaxed));

    header(&b, "mlinfer_request_duration_seconds", "histogram", "Time from request arrival to response, by endpoint.");
    for (int e = 0; e < EP_COUNT; e++) {
        char labels[64];
        snprintf(labels, sizeof labels, "endpoint=\"%s\"", EP_NAMES[e]);
        histogram(&b, "mlinfer_request_duration_seconds", labels, DURATION_LE, METRICS_N_DURATION, m->duration[e],
                  (double)atomic_load(&m->duration_sum_ns[e]) / 1e9);
    }

    header(&b, "mlinfer_batch_size", "histogram",
           "Rows per executed model call (predict or predict_proba); with dynamic batching, the coalesced batch.");
    histogram(&b, "mlinfer_batch_size", "", BATCH_LE, METRICS_N_BATCH, m->batch, (double)atomic_load(&m->batch_sum));
    header(&b, "mlinfer_batch_queue_seconds", "histogram",
           "Time a prediction waited in the dynamic batching queue before its batch ran.");
    histogram(&b, "mlinfer_batch_queue_seconds", "", QUEUE_LE, METRICS_N_QUEUE, m->queue,
              (double)atomic_load(&m->queue_sum_ns) / 1e9);

    header(&b, "mlinfer_inflight_requests", "gauge", "Requests being processed.");
    put(&b, "mlinfer_inflight_requests %lld\n", atomic_load(&m->inflight));
    header(&b, "mlinfer_predict_inflight_requests", "gauge",
           "Prediction requests in flight (capped by MLI_MAX_INFLIGHT).");
    put(&b, "mlinfer_predict_inflight_requests %lld\n", atomic_load(&m->predict_inflight));
    header(&b, "mlinfer_overload_rejections_total", "counter",
           "Prediction requests refused with 503 (MLI_MAX_INFLIGHT).");
    put(&b, "mlinfer_overload_rejections_total %llu\n", atomic_load(&m->overload_rejections));
    header(&b, "mlinfer_connection_timeouts_total", "counter",
           "Connections closed for not delivering a complete request within MLI_CONNECTION_TIMEOUT_S.");
    put(&b, "mlinfer_connection_timeouts_total %llu\n", atomic_load(&m->connection_timeouts));
    header(&b, "mlinfer_model_loads_total", "counter", "Successful model loads (startup and reloads).");
    put(&b, "mlinfer_model_loads_total %llu\n", atomic_load(&m->loads));
    header(&b, "mlinfer_model_load_failures_total", "counter", "Failed model loads; the old model kept serving.");
    put(&b, "mlinfer_model_load_failures_total %llu\n", atomic_load(&m->load_failures));
    header(&b, "mlinfer_model_last_load_success_timestamp_seconds", "gauge",
           "Unix time of the last successful model load.");
    put(&b, "mlinfer_model_last_load_success_timestamp_seconds %.3f\n",
        (double)atomic_load(&m->last_load_success_ms) / 1000.0);
    header(&b, "mlinfer_build_info", "gauge", "Build information; the value is always 1.");
    put(&b, "mlinfer_build_info{version=\"%s\"} 1\n", mli_version());

    if (b.failed) {
        free(b.p);
        return NULL;
    }
    *len = b.len;
    return b.p;
}
