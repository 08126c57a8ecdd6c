/* clocale.c — decimal numbers read the same whatever locale the host program has set.
 *
 * Model files write '.' as the decimal point. strtod follows the calling thread's
 * LC_NUMERIC, so in a host that called setlocale(LC_ALL, "") under de_DE it stops at the
 * '.' of "0.5". These read in the "C" locale instead, switched for the calling thread only
 * (uselocale), so other threads and the host's own formatting are untouched. */
#define _POSIX_C_SOURCE 200809L
#include <locale.h>
#include <pthread.h>
#include <stdlib.h>

#include "internal.h"

static pthread_once_t c_once = PTHREAD_ONCE_INIT;
static locale_t c_numeric; /* made once, kept for the life of the process */

static void make_c_locale(void) { c_numeric = newlocale(LC_NUMERIC_MASK, "C", (locale_t)0); }

/* Switches the calling thread to the "C" numeric locale and returns the one to restore;
 * (locale_t)0 when the C locale could not be made (out of memory). */
static locale_t enter_c(void) {
    pthread_once(&c_once, make_c_locale);
    return c_numeric ? uselocale(c_numeric) : (locale_t)0;
}

double mli__strtod_c(const char *s, char **end) {
    locale_t previous = enter_c();
    if (!previous) { /* report no number rather than read in the wrong locale */
        if (end)
            *end = (char *)s;
        return 0.0;
    }
    double v = strtod(s, end);
    uselocale(previous);
    return v;
}

float mli__strtof_c(const char *s, char **end) {
    locale_t previous = enter_c();
    if (!previous) {
        if (end)
            *end = (char *)s;
        return 0.0f;
    }
    float v = strtof(s, end);
    uselocale(previous);
    return v;
}
