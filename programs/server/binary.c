/* binary.c — encoding and decoding of the binary tensor extension's tensors. */
#include "binary.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

void bbuf_put(struct bbuf *b, const void *data, size_t n) {
    if (b->failed)
        return;
    if (n > b->cap - b->len) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap - b->len < n)
            cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p) {
            free(b->p);
            memset(b, 0, sizeof *b);
            b->failed = 1;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, data, n);
    b->len += n;
}

static void put_le(struct bbuf *b, uint64_t v, int bytes) {
    unsigned char tmp[8];
    for (int i = 0; i < bytes; i++)
        tmp[i] = (unsigned char)(v >> (8 * i));
    bbuf_put(b, tmp, (size_t)bytes);
}

void bbuf_f64(struct bbuf *b, const double *v, int64_t n) {
    for (int64_t i = 0; i < n; i++) {
        uint64_t u;
        memcpy(&u, &v[i], sizeof u);
        put_le(b, u, 8);
    }
}

void bbuf_i64(struct bbuf *b, int64_t v) { put_le(b, (uint64_t)v, 8); }

void bbuf_bytes(struct bbuf *b, const char *s, size_t n) {
    put_le(b, (uint64_t)n, 4);
    bbuf_put(b, s, n);
}

size_t binary_elem_size(const char *datatype) {
    if (strcmp(datatype, "FP32") == 0 || strcmp(datatype, "INT32") == 0)
        return 4;
    if (strcmp(datatype, "FP64") == 0 || strcmp(datatype, "INT64") == 0)
        return 8;
    return 0;
}

static uint64_t get_le(const unsigned char *p, size_t bytes) {
    uint64_t v = 0;
    for (size_t i = 0; i < bytes; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

int64_t binary_decode(const unsigned char *src, const char *datatype, double *dst, int64_t n) {
    size_t size = binary_elem_size(datatype);
    int fp = datatype[0] == 'F';
    for (int64_t i = 0; i < n; i++) {
        uint64_t u = get_le(src + (size_t)i * size, size);
        if (fp && size == 4) {
            uint32_t w = (uint32_t)u;
            float f;
            memcpy(&f, &w, sizeof f);
            dst[i] = f;
        } else if (fp) {
            memcpy(&dst[i], &u, sizeof dst[i]);
        } else {
            dst[i] = size == 4 ? (double)(int32_t)(uint32_t)u : (double)(int64_t)u;
        }
        if (!isfinite(dst[i]))
            return i;
    }
    return -1;
}
