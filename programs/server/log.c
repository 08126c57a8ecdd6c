/* log.c — structured JSON logs. */
#include "log.h"

#include <cjson/cJSON.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

static const char *const LEVEL_NAMES[] = {"debug", "info", "warn", "error"};

int log_level_parse(const char *s) {
    if (!s)
        return -1;
    for (int i = 0; i < 4; i++)
        if (strcasecmp(s, LEVEL_NAMES[i]) == 0)
            return i;
    if (strcasecmp(s, "warning") == 0)
        return LOG_WARN;
    return -1;
}

static void add_timestamp(cJSON *obj) {
    struct timespec ts;
    struct tm tm;
    char buf[40];
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    size_t n = strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf + n, sizeof buf - n, ".%03ldZ", ts.tv_nsec / 1000000L);
    cJSON_AddStringToObject(obj, "ts", buf);
}

void log_event(const struct logger *lg, int level, const char *event, const char *fields, ...) {
    if (level < lg->level || level < LOG_DEBUG || level > LOG_ERROR)
        return;
    cJSON *obj = cJSON_CreateObject();
    if (!obj)
        return;
    add_timestamp(obj);
    cJSON_AddStringToObject(obj, "level", LEVEL_NAMES[level]);
    cJSON_AddStringToObject(obj, "event", event);

    va_list ap;
    va_start(ap, fields);
    const char *p = fields ? fields : "";
    while (*p) {
        while (*p == ' ')
            p++;
        const char *colon = strchr(p, ':');
        if (!*p || !colon || !colon[1])
            break;
        char key[64];
        size_t klen = (size_t)(colon - p) < sizeof key - 1 ? (size_t)(colon - p) : sizeof key - 1;
        memcpy(key, p, klen);
        key[klen] = '\0';
        switch (colon[1]) {
        case 's': {
            const char *v = va_arg(ap, const char *);
            if (v)
                cJSON_AddStringToObject(obj, key, v);
            else
                cJSON_AddNullToObject(obj, key);
            break;
        }
        case 'i': cJSON_AddNumberToObject(obj, key, (double)va_arg(ap, long long)); break;
        case 'd': cJSON_AddNumberToObject(obj, key, va_arg(ap, double)); break;
        case 'b': cJSON_AddBoolToObject(obj, key, va_arg(ap, int)); break;
        default: break;
        }
        p = colon + 2;
    }
    va_end(ap);

    char *line = cJSON_PrintUnformatted(obj);
    cJSON_Delete(obj);
    if (!line)
        return;
    flockfile(stderr);
    fputs(line, stderr);
    fputc('\n', stderr);
    fflush(stderr);
    funlockfile(stderr);
    free(line);
}
