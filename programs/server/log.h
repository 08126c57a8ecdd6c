/* log.h — structured JSON logs: one object per line on stderr. */
#ifndef MLI_SERVER_LOG_H
#define MLI_SERVER_LOG_H

enum log_level { LOG_DEBUG = 0, LOG_INFO = 1, LOG_WARN = 2, LOG_ERROR = 3 };

struct logger {
    int level; /* messages below it are dropped; set once at startup */
};

/* Parses "debug" / "info" / "warn" / "warning" / "error" (any case); -1 otherwise. */
int log_level_parse(const char *s);

/* Writes {"ts":..., "level":..., "event":..., <fields>} as one line. `fields` names the
 * extra arguments, space separated, each "key:type" with type s (const char *, NULL
 * writes null), i (long long), d (double) or b (int, as true/false):
 *   log_event(lg, LOG_INFO, "model_loaded", "path:s features:i", path, (long long)n); */
void log_event(const struct logger *lg, int level, const char *event, const char *fields, ...);

#endif
