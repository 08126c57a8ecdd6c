/* writer.c — lays out an .mli file in memory (docs/FORMAT.md), the same layout the Python
 * writer produces: header, section table, 64-byte aligned uncompressed payloads. */
#define _POSIX_C_SOURCE 200809L
#include "writer.h"

#include "format.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    char name[33];
    uint8_t dtype;
    uint8_t flags; /* MLI__SEC_REQUIRED or 0 */
    uint8_t *data;
    size_t size;
} wsection;

struct mli__writer {
    mli_status status;
    wsection *secs;
    uint32_t n;
    size_t cap;
    char *meta; /* the meta strings payload being built: count, then length-prefixed */
    size_t meta_len, meta_cap;
    uint32_t meta_count;
    int minor; /* the oldest format minor that reads every stage kind and head written */
};

static void put32(uint8_t *p, uint32_t v) {
    for (int i = 0; i < 4; ++i)
        p[i] = (uint8_t)(v >> (8 * i));
}
static void put64(uint8_t *p, uint64_t v) {
    put32(p, (uint32_t)v);
    put32(p + 4, (uint32_t)(v >> 32));
}

static mli_status oom(mli__writer *w) {
    w->status = mli__fail(MLI_ERR_OUT_OF_MEMORY, "out of memory while building a model");
    return w->status;
}

mli__writer *mli__writer_new(void) {
    mli__writer *w = calloc(1, sizeof *w);
    if (!w)
        mli__fail(MLI_ERR_OUT_OF_MEMORY, "out of memory while building a model");
    return w;
}

void mli__writer_free(mli__writer *w) {
    if (!w)
        return;
    for (uint32_t i = 0; i < w->n; ++i)
        free(w->secs[i].data);
    free(w->secs);
    free(w->meta);
    free(w);
}

mli_status mli__writer_status(const mli__writer *w) { return w ? w->status : MLI_ERR_INVALID_ARGUMENT; }

static mli_status meta_append(mli__writer *w, const char *s, size_t len) {
    if (len > MLI__MAX_STRING_BYTES)
        return w->status = mli__fail(MLI_ERR_INTERNAL, "metadata entry of %zu bytes is too long", len);
    if (!mli__reserve((void **)&w->meta, &w->meta_cap, w->meta_len, len + 4, 1))
        return oom(w);
    put32((uint8_t *)w->meta + w->meta_len, (uint32_t)len);
    memcpy(w->meta + w->meta_len + 4, s, len);
    w->meta_len += len + 4;
    w->meta_count++;
    return MLI_OK;
}

mli_status mli__writer_meta(mli__writer *w, const char *key, const char *fmt, ...) {
    if (!w)
        return MLI_ERR_INVALID_ARGUMENT;
    if (w->status != MLI_OK)
        return w->status;
    char buf[4096];
    int k = snprintf(buf, sizeof buf, "%s=", key);
    va_list ap;
    va_start(ap, fmt);
    int v = k < 0 || (size_t)k >= sizeof buf ? -1 : vsnprintf(buf + k, sizeof buf - (size_t)k, fmt, ap);
    va_end(ap);
    if (v < 0 || (size_t)(k + v) >= sizeof buf)
        return w->status = mli__fail(MLI_ERR_INTERNAL, "metadata '%.40s' is too long", key);
    /* the header's minor: format 1.1 brought the trees and image stages, 1.2 the ovr_sigmoid
     * head, 1.4 the prep stage (an importer's category lookup), 1.5 the ovr_proba head, 1.6 the
     * softplus and signed_square heads */
    const char *value = buf + k;
    size_t kl = strlen(key);
    int needs = 0;
    if (kl > 5 && strcmp(key + kl - 5, ".kind") == 0)
        needs = strcmp(value, "prep") == 0 ? 4 : strcmp(value, "trees") == 0 || strcmp(value, "image") == 0 ? 1 : 0;
    if (strcmp(key, "head") == 0 && strcmp(value, "ovr_sigmoid") == 0)
        needs = 2;
    if (strcmp(key, "head") == 0 && strcmp(value, "ovr_proba") == 0)
        needs = 5;
    if (strcmp(key, "head") == 0 && (strcmp(value, "softplus") == 0 || strcmp(value, "signed_square") == 0))
        needs = 6;
    if (w->minor < needs)
        w->minor = needs;
    return meta_append(w, buf, (size_t)(k + v));
}

static mli_status add(mli__writer *w, const char *name, int dtype, const void *data, size_t bytes, uint8_t flags) {
    if (!w)
        return MLI_ERR_INVALID_ARGUMENT;
    if (w->status != MLI_OK)
        return w->status;
    size_t nl = strlen(name);
    if (nl == 0 || nl > 32)
        return w->status = mli__fail(MLI_ERR_INTERNAL, "section name '%.40s' is empty or longer than 32 bytes", name);
    for (uint32_t i = 0; i < w->n; ++i)
        if (strcmp(w->secs[i].name, name) == 0)
            return w->status = mli__fail(MLI_ERR_INTERNAL, "section '%s' written twice", name);
    if (!mli__reserve((void **)&w->secs, &w->cap, w->n, 1, sizeof *w->secs))
        return oom(w);
    wsection *s = &w->secs[w->n];
    memset(s, 0, sizeof *s);
    memcpy(s->name, name, nl);
    s->dtype = (uint8_t)dtype;
    s->flags = flags;
    s->size = bytes;
    s->data = malloc(bytes ? bytes : 1);
    if (!s->data)
        return oom(w);
    if (bytes)
        memcpy(s->data, data, bytes);
    w->n++;
    return MLI_OK;
}

static mli_status add_array(mli__writer *w, const char *name, int dtype, const void *data, int64_t count,
                            uint8_t flags) {
    size_t es = dtype == MLI__DT_U8 ? 1 : dtype == MLI__DT_F32 || dtype == MLI__DT_I32 ? 4 : 8;
    if (w && w->status == MLI_OK &&
        (dtype < MLI__DT_U8 || dtype > MLI__DT_I64 || count < 0 || (uint64_t)count > MLI__MAX_SECTION_BYTES / es))
        return w->status = mli__fail(MLI_ERR_INTERNAL, "section '%.40s': bad dtype %d or count %lld", name, dtype,
                                     (long long)count);
    return add(w, name, dtype, data, (size_t)count * es, flags);
}

mli_status mli__writer_array(mli__writer *w, const char *name, int dtype, const void *data, int64_t count) {
    return add_array(w, name, dtype, data, count, 0);
}

mli_status mli__writer_array_required(mli__writer *w, const char *name, int dtype, const void *data, int64_t count,
                                      int minor) {
    if (w && w->minor < minor)
        w->minor = minor;
    return add_array(w, name, dtype, data, count, MLI__SEC_REQUIRED);
}

mli_status mli__writer_strings(mli__writer *w, const char *name, const char *const *items, uint32_t count) {
    if (!w)
        return MLI_ERR_INVALID_ARGUMENT;
    if (w->status != MLI_OK)
        return w->status;
    size_t total = 4;
    for (uint32_t i = 0; i < count; ++i)
        total += 4 + strlen(items[i]);
    uint8_t *buf = malloc(total), *p = buf + 4;
    if (!buf)
        return oom(w);
    put32(buf, count);
    for (uint32_t i = 0; i < count; ++i) {
        size_t l = strlen(items[i]);
        put32(p, (uint32_t)l);
        memcpy(p + 4, items[i], l);
        p += 4 + l;
    }
    mli_status st = add(w, name, MLI__DT_STRINGS, buf, total, 0);
    free(buf);
    return st;
}

static size_t align64(size_t n) { return (n + 63) & ~(size_t)63; }

mli_status mli__writer_finish(mli__writer *w, uint8_t **out, size_t *size) {
    *out = NULL;
    *size = 0;
    if (!w)
        return MLI_ERR_INVALID_ARGUMENT;
    if (w->status != MLI_OK)
        return w->status;
    if (w->meta_count == 0)
        return w->status = mli__fail(MLI_ERR_INTERNAL, "a model needs metadata");
    uint32_t n = w->n + 1; /* meta first */
    size_t offset = align64(64 + 64 * (size_t)n), total;
    size_t *offs = malloc(n * sizeof *offs);
    if (!offs)
        return oom(w);
    for (uint32_t i = 0; i < n; ++i) {
        offs[i] = offset;
        offset = align64(offset + (i == 0 ? w->meta_len + 4 : w->secs[i - 1].size));
    }
    total = offset;
    uint8_t *buf;
    if (posix_memalign((void **)&buf, 64, total) != 0) {
        free(offs);
        return oom(w);
    }
    memset(buf, 0, total);
    for (uint32_t i = 0; i < n; ++i) {
        uint8_t *e = buf + 64 + 64 * (size_t)i, *payload = buf + offs[i];
        const char *name = i == 0 ? "meta" : w->secs[i - 1].name;
        size_t sz = i == 0 ? w->meta_len + 4 : w->secs[i - 1].size;
        if (i == 0) {
            put32(payload, w->meta_count);
            memcpy(payload + 4, w->meta, w->meta_len);
        } else if (sz) {
            memcpy(payload, w->secs[i - 1].data, sz);
        }
        memcpy(e, name, strlen(name));
        e[32] = i == 0 ? MLI__DT_STRINGS : w->secs[i - 1].dtype;
        e[33] = i == 0 ? MLI__SEC_REQUIRED : w->secs[i - 1].flags;
        put32(e + 36, mli__crc32(payload, sz));
        put64(e + 40, offs[i]);
        put64(e + 48, sz);
        put64(e + 56, sz);
    }
    free(offs);
    memcpy(buf, "MLINFER", 8);
    buf[8] = MLI__FORMAT_MAJOR;
    buf[10] = (uint8_t)w->minor;
    put32(buf + 16, n);
    put64(buf + 24, 64);
    put64(buf + 32, total);
    put32(buf + 40, mli__crc32(buf + 64, 64 * (size_t)n));
    put32(buf + 60, mli__crc32(buf, 60));
    *out = buf;
    *size = total;
    return MLI_OK;
}
