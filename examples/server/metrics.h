/* metrics.h — Prometheus counters and histograms, lock-free (C11 atomics). */
#ifndef MLI_SERVER_METRICS_H
#define MLI_SERVER_METRICS_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

enum endpoint {
    EP_PREDICT, EP_V1_PREDICT, EP_V2_INFER, EP_V2_MODEL, EP_V2_SERVER, EP_HEALTH, EP_READY, EP_METRICS,
    EP_OTHER, EP_COUNT
};

#define METRICS_N_CODES 10     /* 200 400 401 404 405 413 500 503 other-4xx other */
#define METRICS_N_DURATION 15  /* finite latency buckets */
#define METRICS_N_BATCH 12     /* finite batch-size buckets */

struct metrics {
    char model[256]; /* the served model's name: the `model` label */
    atomic_ullong requests[EP_COUNT][2][METRICS_N_CODES]; /* [endpoint][model known][code] */
    atomic_ullong duration[EP_COUNT][METRICS_N_DURATION + 1];
    atomic_ullong duration_sum_ns[EP_COUNT];
    atomic_ullong batch[METRICS_N_BATCH + 1];
    atomic_ullong batch_sum;
    atomic_llong inflight;
    atomic_llong predict_inflight; /* prediction requests only: what MLI_MAX_INFLIGHT caps */
    atomic_ullong overload_rejections;
    atomic_ullong loads, load_failures;
    atomic_llong last_load_success_ms; /* unix time, ms; 0: never */
};

void metrics_init(struct metrics *m, const char *model_name);
/* One finished request; `model_known`: it addressed the served model. */
void metrics_request(struct metrics *m, enum endpoint ep, int model_known, int code, double seconds);
void metrics_batch(struct metrics *m, int64_t rows);
void metrics_load(struct metrics *m, int ok);
/* The exposition text (format 0.0.4), malloc'd; NULL when out of memory. */
char *metrics_render(struct metrics *m, size_t *len);

#endif
