/* config.c — flags and environment. */
#include "config.h"

#include "log.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <mlinfer.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifndef MLI_DEMO_MODEL_SOURCE
#define MLI_DEMO_MODEL_SOURCE "demo_model.mli"
#endif
#ifndef MLI_DEMO_MODEL_INSTALLED
#define MLI_DEMO_MODEL_INSTALLED "/usr/local/share/mlinfer/demo_model.mli"
#endif

static const char USAGE[] =
    "usage: mlinfer-server [--model PATH] [--port N]\n"
    "  --model PATH  model file (.mli) to serve, a repository DIR/<name>/<version>/model.mli, or a\n"
    "                directory holding one .mli file (env MODEL_PATH; default: the bundled demo model)\n"
    "  --port N      TCP port (env PORT; default 8000)\n"
    "environment: LOG_LEVEL, MLI_HTTP_THREADS (alias MLI_THREADS), MLI_PREDICT_THREADS, MLI_API_KEY,\n"
    "  MLI_API_KEY_FILE, MLI_MAX_BODY_BYTES,\n"
    "  MLI_MAX_BATCH, MLI_BATCH_DELAY_US, MLI_MAX_INFLIGHT, MLI_CONNECTION_TIMEOUT_S, MLI_DRAIN_SECONDS\n"
    "  (see programs/server/README.md)\n";

static int parse_long(const char *s, long lo, long hi, long *out) {
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi)
        return -1;
    *out = v;
    return 0;
}

/* Integer-valued env var in [lo, hi]; absent or empty leaves *out alone. */
static int env_long(const char *name, long lo, long hi, long *out, char *err, size_t errlen) {
    const char *s = getenv(name);
    if (!s || !*s)
        return 0;
    if (parse_long(s, lo, hi, out) != 0) {
        snprintf(err, errlen, "%s: expected an integer in [%ld, %ld], got '%s'", name, lo, hi, s);
        return -1;
    }
    return 0;
}

static char *read_key_file(const char *path, char *err, size_t errlen) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errlen, "MLI_API_KEY_FILE: cannot open '%s'", path);
        return NULL;
    }
    char buf[4096];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    while (n > 0 && isspace((unsigned char)buf[n - 1]))
        buf[--n] = '\0';
    if (n == 0) {
        snprintf(err, errlen, "MLI_API_KEY_FILE: '%s' is empty", path);
        return NULL;
    }
    return strdup(buf);
}

static int set_port(struct config *cfg, const char *s, const char *what, char *err, size_t errlen) {
    long v;
    if (parse_long(s, 0, 65535, &v) != 0) {
        snprintf(err, errlen, "%s: expected a port number in [0, 65535], got '%s'", what, s);
        return -1;
    }
    cfg->port = (unsigned)v;
    return 0;
}

static int load_env(struct config *cfg, char *err, size_t errlen) {
    const char *s;
    if ((s = getenv("MODEL_PATH")) && *s)
        cfg->model_path = strdup(s);
    if ((s = getenv("PORT")) && *s && set_port(cfg, s, "PORT", err, errlen) != 0)
        return -1;
    if ((s = getenv("LOG_LEVEL")) && *s) {
        cfg->log_level = log_level_parse(s);
        if (cfg->log_level < 0) {
            snprintf(err, errlen, "LOG_LEVEL: expected debug, info, warn or error, got '%s'", s);
            return -1;
        }
    }
    /* Threads are named apart: in the library MLI_THREADS means threads per call, here the
     * HTTP threads. MLI_HTTP_THREADS says which; MLI_THREADS stays as its alias (it wins
     * only when MLI_HTTP_THREADS is unset). The library's own count is MLI_PREDICT_THREADS. */
    long v = 0;
    if (env_long("MLI_THREADS", 1, 1024, &v, err, errlen) != 0 ||
        env_long("MLI_HTTP_THREADS", 1, 1024, &v, err, errlen) != 0)
        return -1;
    if (v > 0)
        cfg->threads = (int)v;
    v = cfg->predict_threads;
    if (env_long("MLI_PREDICT_THREADS", 1, 1024, &v, err, errlen) != 0)
        return -1;
    cfg->predict_threads = (int)v;
    v = (long)cfg->max_body_bytes;
    if (env_long("MLI_MAX_BODY_BYTES", 1, LONG_MAX, &v, err, errlen) != 0)
        return -1;
    cfg->max_body_bytes = (size_t)v;
    if (env_long("MLI_MAX_BATCH", 0, 1 << 20, &cfg->max_batch, err, errlen) != 0 ||
        env_long("MLI_BATCH_DELAY_US", 0, 10000000, &cfg->batch_delay_us, err, errlen) != 0)
        return -1;
    if (env_long("MLI_MAX_INFLIGHT", 1, 1 << 24, &cfg->max_inflight, err, errlen) != 0)
        return -1;
    if (env_long("MLI_CONNECTION_TIMEOUT_S", 1, 3600, &cfg->connection_timeout_s, err, errlen) != 0)
        return -1;
    if ((s = getenv("MLI_DRAIN_SECONDS")) && *s) {
        char *end;
        double d = strtod(s, &end);
        if (end == s || *end || !isfinite(d) || d < 0 || d > 3600) {
            snprintf(err, errlen, "MLI_DRAIN_SECONDS: expected seconds in [0, 3600], got '%s'", s);
            return -1;
        }
        cfg->drain_seconds = d;
    }
    if ((s = getenv("MLI_API_KEY")) && *s)
        cfg->api_key = strdup(s);
    else if ((s = getenv("MLI_API_KEY_FILE")) && *s && !(cfg->api_key = read_key_file(s, err, errlen)))
        return -1;
    return 0;
}

/* "--name value" or "--name=value"; returns the value and advances *i, or NULL. */
static const char *flag_value(int argc, char **argv, int *i, const char *name) {
    size_t n = strlen(name);
    if (strncmp(argv[*i], name, n) != 0)
        return NULL;
    if (argv[*i][n] == '=')
        return argv[*i] + n + 1;
    if (argv[*i][n] == '\0' && *i + 1 < argc)
        return argv[++*i];
    return NULL;
}

/* <bindir>/../share/mlinfer beside this executable (an install to any prefix, relocated or
 * not), else the source tree's copy (a build run from a checkout), else the configured prefix's. */
static char *demo_model_path(void) {
    char beside[4096];
    ssize_t n = readlink("/proc/self/exe", beside, sizeof beside - 64);
    if (n > 0)
        beside[n] = '\0';
    char *slash = n > 0 ? strrchr(beside, '/') : NULL;
    if (slash) {
        snprintf(slash, sizeof beside - (size_t)(slash - beside), "/../share/mlinfer/demo_model.mli");
        if (access(beside, R_OK) == 0)
            return strdup(beside);
    }
    if (access(MLI_DEMO_MODEL_SOURCE, R_OK) == 0)
        return strdup(MLI_DEMO_MODEL_SOURCE);
    return strdup(MLI_DEMO_MODEL_INSTALLED);
}

int config_load(struct config *cfg, int argc, char **argv, char *err, size_t errlen) {
    memset(cfg, 0, sizeof *cfg);
    cfg->port = 8000;
    cfg->log_level = LOG_INFO;
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    cfg->threads = cpus > 0 ? (int)(cpus < 256 ? cpus : 256) : 1;
    cfg->predict_threads = 1; /* concurrency comes from the HTTP threads and the executors */
    cfg->max_body_bytes = (size_t)64 << 20;
    cfg->max_batch = 1;
    cfg->batch_delay_us = 0;
    cfg->connection_timeout_s = 30;
    cfg->drain_seconds = 5.0;
    if (load_env(cfg, err, errlen) != 0)
        return CONFIG_ERROR;
    if (cfg->max_inflight == 0) /* unset: a queue of 64 requests per worker thread */
        cfg->max_inflight = 64L * cfg->threads;

    for (int i = 1; i < argc; i++) {
        const char *v;
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            fputs(USAGE, stdout);
            return CONFIG_EXIT;
        } else if (strcmp(argv[i], "--version") == 0) {
            printf("mlinfer-server %s\n", mli_version());
            return CONFIG_EXIT;
        } else if ((v = flag_value(argc, argv, &i, "--model"))) {
            free(cfg->model_path);
            cfg->model_path = strdup(v);
        } else if ((v = flag_value(argc, argv, &i, "--port"))) {
            if (set_port(cfg, v, "--port", err, errlen) != 0)
                return CONFIG_ERROR;
        } else {
            snprintf(err, errlen, "unknown or incomplete argument '%s' (see --help)", argv[i]);
            return CONFIG_ERROR;
        }
    }
    if (!cfg->model_path) {
        cfg->model_path = demo_model_path();
        cfg->model_is_demo = 1;
    }
    if (!cfg->model_path) {
        snprintf(err, errlen, "out of memory");
        return CONFIG_ERROR;
    }
    return CONFIG_OK;
}

void config_free(struct config *cfg) {
    free(cfg->model_path);
    if (cfg->api_key) {
        memset(cfg->api_key, 0, strlen(cfg->api_key));
        free(cfg->api_key);
    }
    memset(cfg, 0, sizeof *cfg);
}
