/* server.h — the state shared by the HTTP threads and the main (control) thread. */
#ifndef MLI_SERVER_SERVER_H
#define MLI_SERVER_SERVER_H

#include "batch.h"
#include "config.h"
#include "log.h"
#include "metrics.h"
#include "repo.h"

#include <pthread.h>
#include <stdatomic.h>

struct conn_track;

struct server {
    struct config cfg;
    struct logger log;
    struct metrics metrics;
    struct repo repo;
    atomic_int draining; /* set on SIGTERM: readiness fails, responses close their connection */
    int batching;        /* MLI_MAX_BATCH > 1: predictions go through `batcher` */
    struct batcher batcher;
    pthread_mutex_t conns_lock; /* guards `conns`: every open connection (http.c) */
    struct conn_track *conns;
};

#endif
