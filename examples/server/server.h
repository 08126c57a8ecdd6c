/* server.h — the state shared by the HTTP threads and the main (control) thread. */
#ifndef MLI_SERVER_SERVER_H
#define MLI_SERVER_SERVER_H

#include "config.h"
#include "log.h"
#include "metrics.h"
#include "repo.h"

#include <stdatomic.h>

struct server {
    struct config cfg;
    struct logger log;
    struct metrics metrics;
    struct repo repo;
    atomic_int draining; /* set on SIGTERM: readiness fails, responses close their connection */
};

#endif
