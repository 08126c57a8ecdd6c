/* images.c — JPEG request inputs into model rows, and base64 for JSON BYTES tensors. */
#include "images.h"

#include "registry.h"

#include <mlinfer.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int image_sniff(const void *data, size_t len) {
    const unsigned char *p = data;
    return len >= 3 && p[0] == 0xFF && p[1] == 0xD8 && p[2] == 0xFF;
}

static int b64_value(unsigned char c) {
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+' || c == '-')
        return 62;
    if (c == '/' || c == '_')
        return 63;
    return -1;
}

long long base64_decode(const char *s, size_t len, unsigned char *out, char *err, size_t errlen) {
    unsigned acc = 0;
    int bits = 0;
    size_t n = 0, pad_at = 0;
    int padding = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == ' ' || c == '\t' || c == '\r' || c == '\n')
            continue;
        if (c == '=') {
            if (!padding)
                pad_at = i;
            padding++;
            continue;
        }
        int v = b64_value(c);
        if (v < 0 || padding) {
            if (v < 0 && c >= 0x20 && c < 0x7F)
                snprintf(err, errlen, "not base64: '%c' at offset %zu", c, i);
            else if (v < 0)
                snprintf(err, errlen, "not base64: byte 0x%02X at offset %zu", c, i);
            else
                snprintf(err, errlen, "not base64: data after the padding '=' at offset %zu", pad_at);
            return -1;
        }
        acc = (acc << 6) | (unsigned)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[n++] = (unsigned char)(acc >> bits);
            acc &= (1u << bits) - 1;
        }
    }
    /* 6 leftover bits (one character of a group of four) cannot encode a byte */
    if (bits >= 6 || padding > 2) {
        snprintf(err, errlen, "not base64: %s",
                 padding > 2 ? "more than two '=' of padding"
                             : "its length leaves a single character in the last group");
        return -1;
    }
    return (long long)n;
}

/* The library's message without its "mli_image_...: " prefix (the call's name). */
static const char *image_error(void) {
    static const char prefix[] = "mli_image_";
    const char *msg = mli_last_error(), *colon = strstr(msg, ": ");
    return strncmp(msg, prefix, sizeof prefix - 1) == 0 && colon ? colon + 2 : msg;
}

/* The status and message for image `i` of `n` that the library refused (st). */
static int image_failed(mli_status st, const char *what, int64_t n, int64_t i, char *err, size_t errlen) {
    if (n > 1)
        snprintf(err, errlen, "%s element %lld: %s", what, (long long)i, image_error());
    else
        snprintf(err, errlen, "%s: %s", what, image_error());
    return st == MLI_ERR_IMAGE || st == MLI_ERR_UNSUPPORTED ? 400 : 500;
}

int image_rows(const struct model_ref *m, const unsigned char *const *jpegs, const size_t *sizes, int64_t n,
               const char *what, float **rows, char *err, size_t errlen) {
    *rows = NULL;
    if (!m->has_image) {
        snprintf(err, errlen,
                 "%s: model '%s' has no image stage: it takes %lld numeric features (export it with "
                 "an image stage to send JPEG bytes)",
                 what, m->name, (long long)m->n_features);
        return 400;
    }
    size_t row_bytes = (size_t)m->n_features * sizeof(float);
    if (n < 1) {
        snprintf(err, errlen, "%s: no images", what);
        return 400;
    }
    if ((uint64_t)n > IMAGE_MAX_TENSOR_BYTES / row_bytes) {
        snprintf(err, errlen,
                 "%s: %lld images of %lld floats each exceed the limit of %zu MiB of input tensors per "
                 "request; send fewer images per request",
                 what, (long long)n, (long long)m->n_features, IMAGE_MAX_TENSOR_BYTES >> 20);
        return 413;
    }
    /* The headers of every image first (no pixels decoded): n declared images of a few
     * bytes each must not cost n tensors before the first one is found to be no JPEG. */
    for (int64_t i = 0; i < n; i++) {
        mli_image_info info;
        mli_status st = mli_image_jpeg_info(jpegs[i], sizes[i], &info);
        if (st != MLI_OK)
            return image_failed(st, what, n, i, err, errlen);
    }
    float *x = malloc((size_t)n * row_bytes);
    if (!x) {
        snprintf(err, errlen, "%s: out of memory for %lld image tensors", what, (long long)n);
        return 500;
    }
    for (int64_t i = 0; i < n; i++) {
        mli_status st = mli_image_preprocess_jpeg(jpegs[i], sizes[i], &m->image, x + (size_t)i * (size_t)m->n_features,
                                                  m->n_features);
        if (st != MLI_OK) {
            free(x);
            return image_failed(st, what, n, i, err, errlen);
        }
    }
    *rows = x;
    return 0;
}
