/* binary.h — the binary tensor extension's wire format: little-endian, row-major tensors
 * after the JSON header; BYTES elements as a 4-byte little-endian length and the bytes. */
#ifndef MLI_SERVER_BINARY_H
#define MLI_SERVER_BINARY_H

#include <stddef.h>
#include <stdint.h>

/* A growable byte buffer; `failed` is set (and the content dropped) when out of memory. */
struct bbuf {
    char *p;
    size_t len, cap;
    int failed;
};

void bbuf_put(struct bbuf *b, const void *data, size_t n);
void bbuf_f64(struct bbuf *b, const double *v, int64_t n);
void bbuf_i64(struct bbuf *b, int64_t v);
void bbuf_bytes(struct bbuf *b, const char *s, size_t n);

/* Bytes per element of FP32, FP64, INT32, INT64; 0 for any other datatype. */
size_t binary_elem_size(const char *datatype);
/* Decodes n little-endian elements of `datatype` (one binary_elem_size accepts) into dst.
 * Returns -1 when all are finite, else the index of the first value that is not. */
int64_t binary_decode(const unsigned char *src, const char *datatype, double *dst, int64_t n);

#endif
