/* batch.h — model calls and dynamic batching.
 *
 * A request's model calls are jobs. Without batching (MLI_MAX_BATCH <= 1) the HTTP thread
 * runs them itself (pred_run). With batching, jobs go to the batcher: jobs for the same
 * model instance, output and input type are coalesced into one library call of at most
 * MLI_MAX_BATCH rows (interactions: and at most PRED_MAX_INTERACTION_VALUES values), waiting
 * at most MLI_BATCH_DELAY_US after the first for more (and not at all once every prediction
 * request in flight is waiting: none could join); a job of MLI_MAX_BATCH rows or more goes
 * alone. Jobs of named columns (mli_model_predict_columns)
 * batch with each other: their columns are stacked into one call. Executor threads run the
 * batches and hand each job exactly its own rows back through its `done` callback; when a
 * batch's call fails, its jobs run one by one, so each gets its own error. */
#ifndef MLI_SERVER_BATCH_H
#define MLI_SERVER_BATCH_H

#include <mlinfer.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <time.h>

struct model_ref;
struct metrics;

/* mli_model_predict, mli_model_predict_proba, mli_model_predict_contrib, mli_model_predict_interactions */
enum pred_kind { PRED_PREDICT = 0, PRED_PROBA = 1, PRED_CONTRIB = 2, PRED_INTER = 3 };

#define PRED_ERRLEN 256

/* The most interaction values (rows x mli_model_n_interactions) one request may ask for, and
 * one batch coalesce: 8 MiB of doubles, some 25 MB as JSON. The protocols refuse larger
 * requests (400) before allocating anything. */
#define PRED_MAX_INTERACTION_VALUES ((int64_t)1 << 20)

struct pred_job {
    /* set by the request */
    struct model_ref *m;    /* held by the request until `done` has been called */
    int kind;               /* enum pred_kind */
    mli_dtype dtype;        /* MLI_F64 or MLI_F32 */
    const void *x;          /* rows x m->n_features, row-major; unused when `cols` is set */
    const mli_column *cols; /* named columns (mli_model_predict_columns), or NULL */
    int64_t n_cols;
    int64_t rows;
    double *y; /* room for rows x pred_cols(m, kind) */
    /* the outcome */
    int failed;
    int bad_input; /* failed on the request's values (MLI_ERR_INPUT, a column's value or type): a 400 */
    char err[PRED_ERRLEN];
    /* batcher bookkeeping */
    void (*done)(struct pred_job *job, void *arg); /* called once, on an executor thread */
    void *arg;
    struct pred_job *next;
    struct timespec queued;
};

/* Values per row a job of `kind` writes. */
int64_t pred_cols(const struct model_ref *m, int kind);
/* Runs one job on the calling thread (counted as a batch of its rows). */
void pred_run(struct pred_job *job, struct metrics *mt);

struct batch;

struct batcher {
    pthread_mutex_t lock;
    pthread_cond_t cond; /* work arrived, or an open batch's deadline moved */
    struct batch *open;  /* collecting, oldest (earliest deadline) first */
    struct batch *ready, *ready_tail;
    long long open_jobs;    /* jobs in open batches */
    atomic_llong *inflight; /* prediction requests in flight (NULL: unknown, always wait) */
    int stopping, started;
    int64_t max_rows;
    long long delay_ns;
    struct metrics *metrics;
    pthread_t *threads;
    int n_threads;
};

/* Starts `threads` executors; max_rows >= 2. `inflight` counts the prediction requests in
 * flight, each of which may still submit jobs. Returns 0, or -1 (nothing to destroy). */
int batcher_start(struct batcher *b, int threads, int64_t max_rows, long delay_us, struct metrics *mt,
                  atomic_llong *inflight);
/* Queues a job (its `done`, `arg` and the request fields set). Returns -1 once the batcher
 * is stopping (or out of memory): the caller then runs the job itself. */
int batcher_submit(struct batcher *b, struct pred_job *job);
/* Runs every queued job at once (no more waiting) and joins the executors; later submits
 * return -1. The lock stays usable until batcher_destroy, so call that only when no thread
 * can submit any more (after the HTTP daemon has stopped). */
void batcher_stop(struct batcher *b);
void batcher_destroy(struct batcher *b);

#endif
