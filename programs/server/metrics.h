/* metrics.h — Prometheus counters and histograms, lock-free (C11 atomics). */
#ifndef MLI_SERVER_METRICS_H
#define MLI_SERVER_METRICS_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

enum endpoint {
    EP_PREDICT,
    EP_V1_PREDICT,
    EP_V2_INFER,
    EP_V2_MODEL,
    EP_V2_SERVER,
    EP_HEALTH,
    EP_READY,
    EP_METRICS,
    EP_OTHER,
    EP_COUNT
};

#define METRICS_N_REASONS 8    /* input error reasons: see metrics.c's REASONS */
#define METRICS_N_CODES 10     /* 200 400 401 404 405 413 500 503 other-4xx other */
#define METRICS_N_DURATION 15  /* finite latency buckets */
#define METRICS_N_BATCH 12     /* finite batch-size buckets */
#define METRICS_N_QUEUE 14     /* finite batch queue-time buckets */
#define METRICS_MAX_MODELS 256 /* distinct `model` label values; more share the last one, "_other" */

/* Request counters of one `model` label value. Slot 0 is the empty label: requests that
 * name no served model (probes, scrapes, unknown names). */
struct metrics_model {
    char name[256];
    atomic_ullong requests[EP_COUNT][METRICS_N_CODES];
};

struct metrics {
    struct metrics_model models[METRICS_MAX_MODELS + 1];
    atomic_int n_models; /* slots in use, >= 1; only the control thread adds slots */
    atomic_ullong duration[EP_COUNT][METRICS_N_DURATION + 1];
    atomic_ullong duration_sum_ns[EP_COUNT];
    atomic_ullong batch[METRICS_N_BATCH + 1]; /* rows per executed model call */
    atomic_ullong batch_sum;
    atomic_ullong queue[METRICS_N_QUEUE + 1]; /* time a prediction waited for its batch */
    atomic_ullong queue_sum_ns;
    atomic_ullong connection_timeouts;
    atomic_llong inflight;
    atomic_llong predict_inflight; /* prediction requests only: what MLI_MAX_INFLIGHT caps */
    atomic_ullong overload_rejections;
    atomic_ullong input_errors[METRICS_N_REASONS]; /* 400s for the values of named rows, by reason */
    atomic_ullong loads, load_failures;
    atomic_llong last_load_success_ms; /* unix time, ms; 0: never */
};

void metrics_init(struct metrics *m);
/* The label slot of model `name`, added when new. Control thread only (the one writer). */
int metrics_model_slot(struct metrics *m, const char *name);
/* One finished request; `model_slot`: metrics_model_slot of the model it addressed, or 0. */
void metrics_request(struct metrics *m, enum endpoint ep, int model_slot, int code, double seconds);
/* One executed model call (predict or predict_proba) on `rows` rows. */
void metrics_batch(struct metrics *m, int64_t rows);
/* A prediction that waited `seconds` in the dynamic batching queue. */
void metrics_queue(struct metrics *m, double seconds);
/* A request refused for its values ("reason" of the error body: missing_column, ...). */
void metrics_input_error(struct metrics *m, const char *reason);
void metrics_load(struct metrics *m, int ok);
/* The exposition text (format 0.0.4), malloc'd; NULL when out of memory. */
char *metrics_render(struct metrics *m, size_t *len);

#endif
