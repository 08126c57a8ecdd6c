/* format.h — the .mli container (docs/FORMAT.md): a checked section table over bytes the
 * container owns (read from a file, or copied from the caller's memory). */
#ifndef MLI_FORMAT_H
#define MLI_FORMAT_H

#include <stddef.h>
#include <stdint.h>

#include "internal.h"

enum { MLI__DT_U8 = 0, MLI__DT_F32 = 1, MLI__DT_F64 = 2, MLI__DT_I32 = 3, MLI__DT_I64 = 4, MLI__DT_STRINGS = 5 };
enum { MLI__SEC_COMPRESSED = 1, MLI__SEC_REQUIRED = 2 };

#define MLI__FORMAT_MAJOR 1
#define MLI__FORMAT_MINOR 9
#define MLI__MAX_SECTIONS 4096
#define MLI__MAX_SECTION_BYTES (4ull << 30)
#define MLI__MAX_TOTAL_BYTES (16ull << 30)
#define MLI__MAX_INFLATE_RATIO 1024ull
#define MLI__MAX_STRING_BYTES (64u << 10)
#define MLI__MAX_STRINGS (16u << 20)

/* CRC-32 as zlib's crc32() computes it (the sections' and the table's checksums). */
uint32_t mli__crc32(const void *data, uint64_t n);

typedef struct mli__section {
    char name[33];
    uint8_t dtype, flags;
    uint32_t crc;
    uint64_t offset, stored_size, size;
    const void *data; /* decoded payload, aligned for its dtype */
    void *owned;      /* non-NULL when decoded into our own buffer */
    int used;         /* consumed by the model builder */
} mli__section;

typedef struct mli__container {
    const char *origin; /* file path or "<memory>", for messages */
    const uint8_t *bytes;
    size_t size;
    void *copy; /* the bytes, 64-byte aligned, owned */
    uint16_t major, minor;
    uint32_t n_sections;
    mli__section *sections;
} mli__container;

/* Opens and validates a container. On failure everything is released and the thread's
 * last error names the problem. */
mli_status mli__container_open_file(const char *path, mli__container *c);
mli_status mli__container_open_memory(const void *data, size_t size, mli__container *c);
void mli__container_close(mli__container *c);

/* Takes ownership of `buf` (64-byte aligned, from posix_memalign; freed on failure too)
 * and validates it as a container named `origin`. */
mli_status mli__container_adopt(void *buf, size_t size, const char *origin, mli__container *c);
/* Reads a whole regular file into a 64-byte aligned buffer (free() it). */
mli_status mli__read_file(const char *path, void **out, size_t *size);
/* A 64-byte aligned copy of `size` bytes (free() it). */
mli_status mli__copy_aligned(const void *data, size_t size, void **out);

/* The section called `name`, or NULL. */
mli__section *mli__container_find(mli__container *c, const char *name);

/* Iterates a `strings` payload: returns 1 and the next string (not NUL-terminated) while
 * there is one. The payload was validated when the container was opened. */
typedef struct {
    const uint8_t *p, *end;
    uint32_t left;
} mli__strings_iter;
void mli__strings_begin(const mli__section *s, mli__strings_iter *it, uint32_t *count);
int mli__strings_next(mli__strings_iter *it, const char **str, uint32_t *len);
/* The optional strings section `name`, which must hold n names (`what` words the count in
 * the message: "%lld <what>"): marks it used and starts *it at its first name; *found is 0
 * (and MLI_OK) when the file has no such section. */
mli_status mli__strings_section(mli__container *c, const char *name, int64_t n, const char *what, mli__strings_iter *it,
                                int *found);

#endif
