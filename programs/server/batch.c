/* batch.c — model calls, and the dynamic batcher that coalesces them across requests. */
#include "batch.h"

#include "metrics.h"
#include "registry.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Jobs for one model instance, output and input type (a numeric matrix of `dtype`, or named
 * columns); at most batch_rows rows unless a single job is larger. Holds its own reference to
 * the model it will run on. */
struct batch {
    struct model_ref *m;
    int kind;
    mli_dtype dtype;
    int columns; /* jobs of named columns (mli_model_predict_columns) */
    int64_t rows;
    int n_jobs;
    struct pred_job *jobs, *jobs_tail;
    struct timespec deadline; /* an open batch is run by then at the latest */
    struct batch *next;
};

int64_t pred_cols(const struct model_ref *m, int kind) {
    return kind == PRED_INTER     ? mli_model_n_interactions(m->model)
           : kind == PRED_CONTRIB ? mli_model_n_contrib(m->model)
           : kind == PRED_PROBA   ? m->n_classes
                                  : m->n_outputs;
}

static int call_model(const struct model_ref *m, int kind, mli_dtype dtype, const void *x, int64_t rows, double *y,
                      char *err) {
    int64_t n = rows * pred_cols(m, kind);
    mli_status st = kind == PRED_INTER ? mli_model_predict_interactions(m->model, x, dtype, rows, m->n_features, y, n)
                    : kind == PRED_CONTRIB ? mli_model_predict_contrib(m->model, x, dtype, rows, m->n_features, y, n)
                    : kind == PRED_PROBA   ? mli_model_predict_proba(m->model, x, dtype, rows, m->n_features, y, n)
                                           : mli_model_predict(m->model, x, dtype, rows, m->n_features, y, n);
    if (st != MLI_OK) /* (a value the model refuses, MLI_ERR_INPUT, is the client's: a 400) */
        snprintf(err, PRED_ERRLEN, "prediction failed: %s", mli_last_error());
    return (int)st;
}

/* A job of named columns: the library's message as it is, since it names the column, the
 * row and the value; errors about the request's values are the client's (bad_input). */
static void call_columns(struct pred_job *job) {
    int64_t n = job->rows * pred_cols(job->m, job->kind);
    mli_output what = job->kind == PRED_PROBA ? MLI_OUTPUT_PROBA : MLI_OUTPUT_PREDICT;
    mli_status st = job->kind == PRED_INTER ? mli_model_predict_interactions_columns(job->m->model, job->cols,
                                                                                     job->n_cols, job->rows, job->y, n)
                    : job->kind == PRED_CONTRIB
                        ? mli_model_predict_contrib_columns(job->m->model, job->cols, job->n_cols, job->rows, job->y, n)
                        : mli_model_predict_columns(job->m->model, job->cols, job->n_cols, job->rows, what, job->y, n);
    job->failed = st != MLI_OK;
    job->bad_input = st == MLI_ERR_INPUT || st == MLI_ERR_INVALID_ARGUMENT;
    if (st != MLI_OK)
        snprintf(job->err, PRED_ERRLEN, "%s", mli_last_error());
}

void pred_run(struct pred_job *job, struct metrics *mt) {
    if (job->cols) {
        call_columns(job);
    } else {
        int st = call_model(job->m, job->kind, job->dtype, job->x, job->rows, job->y, job->err);
        job->failed = st != MLI_OK;
        job->bad_input = st == MLI_ERR_INPUT;
    }
    metrics_batch(mt, job->rows);
}

/* ---- running a batch ------------------------------------------------------------------------ */
static double seconds_between(const struct timespec *a, const struct timespec *b) {
    return (double)(b->tv_sec - a->tv_sec) + (double)(b->tv_nsec - a->tv_nsec) / 1e9;
}

/* Each job's outputs, in order, from the batch's outputs y. */
static void split_outputs(struct batch *bt, const double *y) {
    size_t yrow = (size_t)pred_cols(bt->m, bt->kind) * sizeof(double);
    const char *src = (const char *)y;
    for (struct pred_job *j = bt->jobs; j; j = j->next) {
        memcpy(j->y, src, (size_t)j->rows * yrow);
        src += (size_t)j->rows * yrow;
        j->failed = 0;
    }
}

/* One call over the jobs' rows of numbers, concatenated. 0, or -1 when it cannot be made or
 * fails. */
static int run_rows(struct batcher *b, struct batch *bt) {
    const struct model_ref *m = bt->m;
    size_t xrow = (size_t)m->n_features * (bt->dtype == MLI_F32 ? sizeof(float) : sizeof(double));
    char *x = malloc((size_t)bt->rows * xrow);
    double *y = malloc((size_t)bt->rows * (size_t)pred_cols(m, bt->kind) * sizeof(double));
    char err[PRED_ERRLEN];
    int ok = x && y;
    if (ok) {
        size_t off = 0;
        for (struct pred_job *j = bt->jobs; j; j = j->next) {
            memcpy(x + off, j->x, (size_t)j->rows * xrow);
            off += (size_t)j->rows * xrow;
        }
        ok = call_model(m, bt->kind, bt->dtype, x, bt->rows, y, err) == 0;
        metrics_batch(b->metrics, bt->rows);
    }
    if (ok)
        split_outputs(bt, y);
    free(x);
    free(y);
    return ok ? 0 : -1;
}

/* ---- named columns: the jobs' columns stacked into one set --------------------------------- */
static size_t round8(size_t n) { return (n + 7) & ~(size_t)7; }

static size_t number_size(int32_t type) {
    return type == MLI_COLUMN_F64 || type == MLI_COLUMN_I64 ? 8 : type == MLI_COLUMN_F32 ? 4 : 0;
}

/* Whether column k of job j can be stacked under the first job's: the same model column and
 * type (numbers or UTF8 strings: dictionaries are not merged), and sane string offsets. The
 * parsers build every request for one model the same way, so a mismatch only means the
 * batch runs job by job. */
static int stackable(const mli_column *first, const mli_column *c, int64_t rows) {
    if (c->type != first->type || c->flags != 0 || (c->name == NULL) != (first->name == NULL) ||
        (c->name ? strcmp(c->name, first->name) != 0 : c->index != first->index))
        return 0;
    if (number_size(c->type))
        return c->values != NULL;
    if (c->type != MLI_COLUMN_UTF8 || !c->offsets || c->offsets[0] < 0 ||
        (!c->values && c->offsets[rows] > c->offsets[0]))
        return 0;
    for (int64_t r = 0; r < rows; r++)
        if (c->offsets[r + 1] < c->offsets[r])
            return 0;
    return 1;
}

/* The jobs' columns stacked: column k of the result holds column k of every job, rows in job
 * order, with the validity bits of each (set where a job has no bitmap). The buffers are one
 * block (*mem). NULL when the jobs' columns do not line up, or out of memory. */
static mli_column *stack_columns(const struct batch *bt, void **mem) {
    const struct pred_job *first = bt->jobs;
    int64_t n_cols = first->n_cols, rows = bt->rows;
    size_t vbytes = round8(((size_t)rows + 7) / 8), total = 0;
    for (int64_t k = 0; k < n_cols; k++) {
        const mli_column *c0 = &first->cols[k];
        size_t bytes = 0;
        for (const struct pred_job *j = bt->jobs; j; j = j->next) {
            if (j->n_cols != n_cols || !stackable(c0, &j->cols[k], j->rows))
                return NULL;
            if (c0->type == MLI_COLUMN_UTF8)
                bytes += (size_t)(j->cols[k].offsets[j->rows] - j->cols[k].offsets[0]);
        }
        total += vbytes + (number_size(c0->type) ? (size_t)rows * number_size(c0->type)
                                                 : ((size_t)rows + 1) * sizeof(int64_t) + round8(bytes));
    }
    char *p = calloc(total ? total : 1, 1);
    mli_column *out = calloc((size_t)n_cols + 1, sizeof *out);
    if (!p || !out) {
        free(p);
        free(out);
        return NULL;
    }
    *mem = p;
    for (int64_t k = 0; k < n_cols; k++) {
        mli_column *o = &out[k];
        const mli_column *c0 = &first->cols[k];
        o->name = c0->name;
        o->index = c0->index;
        o->type = c0->type;
        uint8_t *valid = (uint8_t *)p;
        p += vbytes;
        size_t es = number_size(c0->type);
        int64_t *offs = NULL;
        char *dst = NULL;
        if (es) {
            o->values = dst = p;
            p += (size_t)rows * es;
        } else {
            o->offsets = offs = (int64_t *)(void *)p;
            p += ((size_t)rows + 1) * sizeof(int64_t);
            o->values = dst = p;
        }
        int any_bitmap = 0;
        int64_t at = 0; /* first row of job j in the batch */
        for (const struct pred_job *j = bt->jobs; j; j = j->next) {
            const mli_column *c = &j->cols[k];
            if (es) {
                memcpy(dst + (size_t)at * es, c->values, (size_t)j->rows * es);
            } else {
                int64_t base = c->offsets[0], len = c->offsets[j->rows] - base;
                if (len > 0)
                    memcpy(dst + offs[at], (const char *)c->values + base, (size_t)len);
                for (int64_t r = 0; r < j->rows; r++)
                    offs[at + r + 1] = offs[at] + (c->offsets[r + 1] - base);
            }
            any_bitmap |= c->validity != NULL;
            for (int64_t r = 0; r < j->rows; r++)
                if (!c->validity || (c->validity[r / 8] >> (r % 8) & 1))
                    valid[(at + r) / 8] |= (uint8_t)(1u << ((at + r) % 8));
            at += j->rows;
        }
        o->validity = any_bitmap ? valid : NULL;
        if (!es)
            p += round8((size_t)offs[rows]);
    }
    return out;
}

/* One mli_model_predict_columns call over the jobs' columns stacked (through call_columns, as
 * a job of its own). 0, or -1 when the columns cannot be stacked or the call fails: the
 * error may be any job's, and names a row of the batch, not of the request. */
static int run_columns(struct batcher *b, struct batch *bt) {
    void *mem = NULL;
    struct pred_job all;
    memset(&all, 0, sizeof all);
    all.m = bt->m;
    all.kind = bt->kind;
    all.dtype = bt->dtype;
    all.rows = bt->rows;
    all.n_cols = bt->jobs->n_cols;
    mli_column *cols = stack_columns(bt, &mem);
    double *y = malloc((size_t)bt->rows * (size_t)pred_cols(bt->m, bt->kind) * sizeof(double));
    int ok = cols && y;
    if (ok) {
        all.cols = cols;
        all.y = y;
        call_columns(&all);
        metrics_batch(b->metrics, bt->rows);
        ok = !all.failed;
    }
    if (ok)
        split_outputs(bt, y);
    free(y);
    free(cols);
    free(mem);
    return ok ? 0 : -1;
}

/* One library call over the concatenated rows, each job's rows copied back; when that call
 * cannot be made or fails, every job runs alone, so one job's failure stays its own (and
 * its error names its own row). */
static void run_batch(struct batcher *b, struct batch *bt) {
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    for (struct pred_job *j = bt->jobs; j; j = j->next)
        metrics_queue(b->metrics, seconds_between(&j->queued, &now));

    if (bt->n_jobs == 1) {
        pred_run(bt->jobs, b->metrics);
    } else if ((bt->columns ? run_columns(b, bt) : run_rows(b, bt)) != 0) {
        for (struct pred_job *j = bt->jobs; j; j = j->next)
            pred_run(j, b->metrics);
    }
    /* a job may be freed as soon as its done() returns: read `next` first */
    for (struct pred_job *j = bt->jobs, *next; j; j = next) {
        next = j->next;
        j->done(j, j->arg);
    }
    model_ref_release(bt->m);
    free(bt);
}

/* ---- the queue ------------------------------------------------------------------------------- */
/* The rows a batch of `kind` coalesces: max_rows, and for interactions ((columns + 1)^2
 * values a row) no more than PRED_MAX_INTERACTION_VALUES values (at least one job). */
static int64_t batch_rows(const struct batcher *b, const struct model_ref *m, int kind) {
    if (kind != PRED_INTER)
        return b->max_rows;
    int64_t most = PRED_MAX_INTERACTION_VALUES / (pred_cols(m, kind) > 0 ? pred_cols(m, kind) : 1);
    return most < 1 ? 1 : most < b->max_rows ? most : b->max_rows;
}

static int same_key(const struct batch *bt, const struct model_ref *m, int kind, mli_dtype dtype, int columns) {
    return bt->m == m && bt->kind == kind && bt->columns == columns && (columns || bt->dtype == dtype);
}

static void push_ready(struct batcher *b, struct batch *bt) {
    bt->next = NULL;
    if (b->ready_tail)
        b->ready_tail->next = bt;
    else
        b->ready = bt;
    b->ready_tail = bt;
}

/* Pops the first ready batch, merging into it the later ready batches of the same key that
 * still fit: under load with no delay, this is where requests coalesce. Lock held. */
static struct batch *take_ready(struct batcher *b) {
    struct batch *bt = b->ready;
    b->ready = bt->next;
    bt->next = NULL;
    int merged = 0;
    int64_t cap = batch_rows(b, bt->m, bt->kind);
    for (struct batch **pp = &b->ready; *pp && bt->rows < cap;) {
        struct batch *o = *pp;
        if (!same_key(o, bt->m, bt->kind, bt->dtype, bt->columns) || bt->rows + o->rows > cap) {
            pp = &o->next;
            continue;
        }
        *pp = o->next;
        bt->jobs_tail->next = o->jobs;
        bt->jobs_tail = o->jobs_tail;
        bt->rows += o->rows;
        bt->n_jobs += o->n_jobs;
        model_ref_release(o->m); /* bt holds a reference to the same model */
        free(o);
        merged = 1;
    }
    if (!b->ready) {
        b->ready_tail = NULL;
    } else if (merged) {
        struct batch *t = b->ready;
        while (t->next)
            t = t->next;
        b->ready_tail = t;
    }
    return bt;
}

static int before(const struct timespec *a, const struct timespec *b) {
    return a->tv_sec < b->tv_sec || (a->tv_sec == b->tv_sec && a->tv_nsec < b->tv_nsec);
}

static void *executor(void *arg) {
    struct batcher *b = arg;
    pthread_mutex_lock(&b->lock);
    for (;;) {
        if (b->ready) {
            struct batch *bt = take_ready(b);
            pthread_mutex_unlock(&b->lock);
            run_batch(b, bt);
            pthread_mutex_lock(&b->lock);
            continue;
        }
        if (b->open) {
            struct timespec now;
            clock_gettime(CLOCK_MONOTONIC, &now);
            if (b->stopping || !before(&now, &b->open->deadline)) { /* its time is up */
                struct batch *bt = b->open;
                b->open = bt->next;
                b->open_jobs -= bt->n_jobs;
                push_ready(b, bt);
            } else {
                struct timespec until = b->open->deadline; /* the batch may be gone while we wait */
                pthread_cond_timedwait(&b->cond, &b->lock, &until);
            }
            continue;
        }
        if (b->stopping)
            break;
        pthread_cond_wait(&b->cond, &b->lock);
    }
    pthread_mutex_unlock(&b->lock);
    return NULL;
}

int batcher_submit(struct batcher *b, struct pred_job *job) {
    clock_gettime(CLOCK_MONOTONIC, &job->queued);
    job->next = NULL;
    job->failed = 0;
    int columns = job->cols != NULL;
    pthread_mutex_lock(&b->lock);
    if (b->stopping) {
        pthread_mutex_unlock(&b->lock);
        return -1;
    }
    /* an open batch of the same key with room, else a new one at the end of the list */
    struct batch **pp = &b->open, *bt = NULL;
    int64_t cap = batch_rows(b, job->m, job->kind);
    for (; *pp; pp = &(*pp)->next)
        if (same_key(*pp, job->m, job->kind, job->dtype, columns) && (*pp)->rows + job->rows <= cap) {
            bt = *pp;
            break;
        }
    int wake = 0;
    if (!bt) {
        if (!(bt = calloc(1, sizeof *bt))) {
            pthread_mutex_unlock(&b->lock);
            return -1;
        }
        bt->m = model_ref_retain(job->m);
        bt->kind = job->kind;
        bt->dtype = job->dtype;
        bt->columns = columns;
        long long ns = job->queued.tv_nsec + b->delay_ns;
        bt->deadline.tv_sec = job->queued.tv_sec + (time_t)(ns / 1000000000LL);
        bt->deadline.tv_nsec = (long)(ns % 1000000000LL);
        *pp = bt; /* pp is the list's last link */
        wake = 1; /* an executor waits for its deadline */
    }
    if (bt->jobs_tail)
        bt->jobs_tail->next = job;
    else
        bt->jobs = job;
    bt->jobs_tail = job;
    bt->rows += job->rows;
    bt->n_jobs++;
    b->open_jobs++;
    if (bt->rows >= cap || b->delay_ns == 0) { /* full, or no waiting: ready now */
        *pp = bt->next;
        b->open_jobs -= bt->n_jobs;
        push_ready(b, bt);
        wake = 1;
    }
    /* Every prediction request in flight is waiting in an open batch: nobody else can join
     * before one of them is answered, so waiting longer only adds latency. (A request with two
     * jobs counts twice here: at worst a batch closes a little early.) */
    if (b->open && b->inflight && b->open_jobs >= atomic_load_explicit(b->inflight, memory_order_relaxed)) {
        while (b->open) {
            struct batch *o = b->open;
            b->open = o->next;
            push_ready(b, o);
            wake++;
        }
        b->open_jobs = 0;
    }
    if (wake > 1)
        pthread_cond_broadcast(&b->cond);
    else if (wake)
        pthread_cond_signal(&b->cond);
    pthread_mutex_unlock(&b->lock);
    return 0;
}

int batcher_start(struct batcher *b, int threads, int64_t max_rows, long delay_us, struct metrics *mt,
                  atomic_llong *inflight) {
    memset(b, 0, sizeof *b);
    b->max_rows = max_rows;
    b->delay_ns = (long long)delay_us * 1000;
    b->metrics = mt;
    b->inflight = inflight;
    pthread_condattr_t ca;
    if (pthread_condattr_init(&ca) != 0)
        return -1;
    int rc = pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    if (rc == 0 && (rc = pthread_cond_init(&b->cond, &ca)) == 0 && (rc = pthread_mutex_init(&b->lock, NULL)) != 0)
        pthread_cond_destroy(&b->cond);
    pthread_condattr_destroy(&ca);
    if (rc != 0 || !(b->threads = calloc((size_t)threads, sizeof *b->threads))) {
        if (rc == 0) {
            pthread_cond_destroy(&b->cond);
            pthread_mutex_destroy(&b->lock);
        }
        return -1;
    }
    b->started = 1;
    for (int i = 0; i < threads; i++) {
        if (pthread_create(&b->threads[i], NULL, executor, b) != 0)
            break;
        b->n_threads++;
    }
    if (b->n_threads == 0) {
        batcher_destroy(b);
        return -1;
    }
    return 0;
}

void batcher_stop(struct batcher *b) {
    if (!b->started)
        return;
    pthread_mutex_lock(&b->lock);
    b->stopping = 1;
    pthread_cond_broadcast(&b->cond);
    pthread_mutex_unlock(&b->lock);
    for (int i = 0; i < b->n_threads; i++)
        pthread_join(b->threads[i], NULL);
    free(b->threads);
    b->threads = NULL;
    b->n_threads = 0;
}

void batcher_destroy(struct batcher *b) {
    if (!b->started)
        return;
    batcher_stop(b);
    pthread_cond_destroy(&b->cond);
    pthread_mutex_destroy(&b->lock);
    memset(b, 0, sizeof *b);
}
