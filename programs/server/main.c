/* main.c — mlinfer-server: configuration, signals, model watching and the drain.
 *
 * The main thread is the control thread: HTTP runs on libmicrohttpd daemons, one thread each (and,
 * with dynamic batching, model calls on the batcher's executors), and this thread loads
 * models (at startup, on SIGHUP, when the file changes), closes connections that overstay
 * MLI_CONNECTION_TIMEOUT_S, and handles SIGTERM/SIGINT: readiness fails at once, serving
 * goes on for MLI_DRAIN_SECONDS, then the listener closes, in-flight requests finish
 * (queued batches included) and the process exits 0. */
#include "http.h"
#include "server.h"

#include <microhttpd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define TICK_NS 50000000L     /* control loop period: 50 ms */
#define WATCH_EVERY_TICKS 20  /* model file poll: every second */
#define FINISH_TIMEOUT_S 30.0 /* longest wait for in-flight requests after the drain */

static volatile sig_atomic_t g_stop;   /* SIGTERM / SIGINT seen */
static volatile sig_atomic_t g_reload; /* SIGHUP seen */

static void on_signal(int sig) {
    if (sig == SIGHUP)
        g_reload = 1;
    else
        g_stop = 1;
}

static int install_signals(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    struct sigaction ign;
    memset(&ign, 0, sizeof ign);
    ign.sa_handler = SIG_IGN;
    sigemptyset(&ign.sa_mask);
    return sigaction(SIGTERM, &sa, NULL) | sigaction(SIGINT, &sa, NULL) | sigaction(SIGHUP, &sa, NULL) |
           sigaction(SIGPIPE, &ign, NULL);
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* One control period; connections past MLI_CONNECTION_TIMEOUT_S are closed on each. */
static void sleep_tick(struct server *s) {
    struct timespec ts = {0, TICK_NS};
    nanosleep(&ts, NULL); /* a signal cuts it short, which is fine */
    http_reap(s);
}

static void log_startup(struct server *s) {
    const struct config *c = &s->cfg;
    log_event(&s->log, LOG_INFO, "startup",
              "version:s model:s model_path:s demo_model:b port:i threads:i predict_threads:i auth:b max_body_bytes:i "
              "max_batch:i batch_delay_us:i dynamic_batching:b max_inflight:i connection_timeout_s:i "
              "drain_seconds:d",
              mli_version(), s->repo.label, c->model_path, c->model_is_demo, (long long)c->port, (long long)c->threads,
              (long long)mli_get_num_threads(), c->api_key != NULL, (long long)c->max_body_bytes,
              (long long)c->max_batch, (long long)c->batch_delay_us, s->batching, (long long)c->max_inflight,
              (long long)c->connection_timeout_s, c->drain_seconds);
}

/* Serves until SIGTERM/SIGINT, reloading on SIGHUP or a file change; then drains. */
static void control_loop(struct server *s) {
    for (unsigned tick = 1; !g_stop; tick++) {
        sleep_tick(s);
        if (g_reload) {
            g_reload = 0;
            repo_refresh(&s->repo, &s->log, &s->metrics, "SIGHUP", 1);
        } else if (tick % WATCH_EVERY_TICKS == 0) {
            repo_refresh(&s->repo, &s->log, &s->metrics, "file changed", 0);
        }
    }
    atomic_store(&s->draining, 1);
    log_event(&s->log, LOG_INFO, "draining", "drain_seconds:d", s->cfg.drain_seconds);
    double end = now_s() + s->cfg.drain_seconds;
    while (now_s() < end)
        sleep_tick(s);
}

static void finish(struct server *s, struct http *d) {
    http_quiesce(d); /* stop accepting; open connections go on */
    double end = now_s() + FINISH_TIMEOUT_S;
    while (atomic_load(&s->metrics.inflight) > 0 && now_s() < end)
        sleep_tick(s);
    long long left = atomic_load(&s->metrics.inflight);
    /* every queued batch runs and resumes its connections before the daemon stops (MHD must
     * not stop with suspended connections); a prediction arriving later runs on its thread */
    batcher_stop(&s->batcher);
    http_stop(d);
    batcher_destroy(&s->batcher);
    log_event(&s->log, LOG_INFO, "stopped", "unfinished_requests:i", left);
}

int main(int argc, char **argv) {
    struct server *s = calloc(1, sizeof *s);
    if (!s)
        return 1;
    char err[512];
    int rc = config_load(&s->cfg, argc, argv, err, sizeof err);
    if (rc != CONFIG_OK) {
        if (rc == CONFIG_ERROR)
            fprintf(stderr, "mlinfer-server: %s\n", err);
        config_free(&s->cfg);
        free(s);
        return rc == CONFIG_EXIT ? 0 : 2;
    }
    s->log.level = s->cfg.log_level;
    if (repo_init(&s->repo, s->cfg.model_path) != 0 || install_signals() != 0) {
        fprintf(stderr, "mlinfer-server: initialisation failed\n");
        return 1;
    }
    metrics_init(&s->metrics);
    atomic_init(&s->draining, 0);
    mli_set_num_threads(s->cfg.predict_threads); /* MLI_PREDICT_THREADS, default 1 */
    if (pthread_mutex_init(&s->conns_lock, NULL) != 0) {
        fprintf(stderr, "mlinfer-server: initialisation failed\n");
        return 1;
    }
    if (s->cfg.max_batch > 1) { /* one executor per HTTP thread */
        if (batcher_start(&s->batcher, s->cfg.threads, s->cfg.max_batch, s->cfg.batch_delay_us, &s->metrics,
                          &s->metrics.predict_inflight) != 0) {
            fprintf(stderr, "mlinfer-server: cannot start the batching threads\n");
            return 1;
        }
        s->batching = 1;
    }
    log_startup(s);

    struct http *d = http_start(s);
    if (!d) {
        log_event(&s->log, LOG_ERROR, "listen_failed", "port:i", (long long)s->cfg.port);
        return 1;
    }
    log_event(&s->log, LOG_INFO, "listening", "port:i", (long long)s->cfg.port);
    if (repo_refresh(&s->repo, &s->log, &s->metrics, "startup", 0) == 0) {
        batcher_stop(&s->batcher);
        http_stop(d);
        char why[1024];
        repo_startup_error(&s->repo, why, sizeof why);
        log_event(&s->log, LOG_ERROR, "exit", "reason:s error:s", "the model could not be loaded at startup", why);
        return 1;
    }
    control_loop(s);
    finish(s, d);
    pthread_mutex_destroy(&s->conns_lock);
    repo_destroy(&s->repo);
    config_free(&s->cfg);
    free(s);
    return 0;
}
