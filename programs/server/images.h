/* images.h — JPEG inputs: images turned into the float32 rows a model with an image stage
 * predicts on, by that stage (mli_image_preprocess_jpeg), on the calling HTTP thread. The
 * rows then go through the ordinary predict path, dynamic batching included. */
#ifndef MLI_SERVER_IMAGES_H
#define MLI_SERVER_IMAGES_H

#include <stddef.h>
#include <stdint.h>

struct model_ref;

/* The float32 rows of one request's images may take at most this many bytes (a small JPEG
 * can expand to a large tensor: 224 x 224 x 3 floats are 588 KiB). */
#define IMAGE_MAX_TENSOR_BYTES ((size_t)256 << 20)

/* 1 when a body is a JPEG: it starts with FF D8 FF. */
int image_sniff(const void *data, size_t len);

/* Decodes base64 (standard or URL-safe alphabet, padding optional, ASCII whitespace
 * skipped) of `len` characters into out (room for at least len / 4 * 3 + 3 bytes).
 * Returns the decoded length, or -1 with err naming the offending character. */
long long base64_decode(const char *s, size_t len, unsigned char *out, char *err, size_t errlen);

/* The rows of n images (jpegs[i], sizes[i] bytes) through m's image stage, into a malloc'd
 * n x m->n_features matrix (*rows). Returns 0, or the HTTP status of the failure with err
 * set: 400 for a model without an image stage, an image that is not a JPEG, truncated,
 * corrupt, unsupported or over the pixel limit (the library's message, after `what` and,
 * when n > 1, "element i"); 413 beyond IMAGE_MAX_TENSOR_BYTES; 500 out of memory. */
int image_rows(const struct model_ref *m, const unsigned char *const *jpegs, const size_t *sizes, int64_t n,
               const char *what, float **rows, char *err, size_t errlen);

#endif
