/* utf8.h — the UTF-8 check the programs (mlinfer's CSV reader, mlinfer-server's JSON
 * parsers) make on outside strings before they reach the library as categories: a string
 * that is not valid UTF-8 is refused there, naming the byte, as pandas and Python's json
 * refuse it, rather than taken for an unseen category. Header-only: the programs use the
 * library's public API alone. */
#ifndef MLI_PROGRAMS_UTF8_H
#define MLI_PROGRAMS_UTF8_H

#include <stddef.h>

/* The offset of the first byte of f[0..len) that does not start a valid UTF-8 sequence (as
 * Python's strict decoder sees it: no overlong forms, no surrogates, at most U+10FFFF), or
 * len when it is all valid. */
static inline size_t utf8_invalid_at(const unsigned char *f, size_t len) {
    size_t i = 0;
    while (i < len) {
        unsigned c = f[i];
        size_t n = c < 0x80 ? 1 : (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3 : (c & 0xF8) == 0xF0 ? 4 : 0;
        if (n == 0 || c == 0xC0 || c == 0xC1 || c > 0xF4 || len - i < n)
            return i;
        for (size_t k = 1; k < n; ++k)
            if ((f[i + k] & 0xC0) != 0x80)
                return i;
        if ((c == 0xE0 && f[i + 1] < 0xA0) || (c == 0xED && f[i + 1] >= 0xA0) || (c == 0xF0 && f[i + 1] < 0x90) ||
            (c == 0xF4 && f[i + 1] >= 0x90))
            return i;
        i += n;
    }
    return len;
}

#endif
