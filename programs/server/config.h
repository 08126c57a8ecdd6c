/* config.h — mlinfer-server settings from flags and environment (DESIGN.md, "Server"). */
#ifndef MLI_SERVER_CONFIG_H
#define MLI_SERVER_CONFIG_H

#include <stddef.h>

struct config {
    char *model_path; /* --model / MODEL_PATH; the bundled demo model when unset */
    int model_is_demo;
    unsigned port;             /* --port / PORT, default 8000 */
    int log_level;             /* LOG_LEVEL, default info */
    int threads;               /* MLI_HTTP_THREADS (alias MLI_THREADS): HTTP worker threads and batch
                            * executors, default the CPU count */
    int predict_threads;       /* MLI_PREDICT_THREADS: library threads for one prediction call, default 1 */
    char *api_key;             /* MLI_API_KEY or MLI_API_KEY_FILE; NULL: no auth */
    size_t max_body_bytes;     /* MLI_MAX_BODY_BYTES, default 64 MiB */
    long max_batch;            /* MLI_MAX_BATCH: rows per coalesced model call; 0 or 1 (default): no batching */
    long batch_delay_us;       /* MLI_BATCH_DELAY_US: longest wait for more rows, default 0 (no waiting) */
    long connection_timeout_s; /* MLI_CONNECTION_TIMEOUT_S: to deliver a whole request, or idle; default 30 */
    double drain_seconds;      /* MLI_DRAIN_SECONDS, default 5 */
    long max_inflight;         /* MLI_MAX_INFLIGHT: prediction requests in flight before 503, default 64 x threads */
};

enum { CONFIG_OK = 0, CONFIG_EXIT = 1, CONFIG_ERROR = -1 };

/* Fills `cfg` from the environment, then the command line (flags win). Returns CONFIG_OK,
 * CONFIG_EXIT after printing --help / --version, or CONFIG_ERROR with `err` set. */
int config_load(struct config *cfg, int argc, char **argv, char *err, size_t errlen);
void config_free(struct config *cfg);

#endif
