/* image.h — JPEG input inside libmlinfer: header scan and TurboJPEG decoding (jpeg.c),
 * colour conversion (color.c), resize/crop/normalisation on the kernel table (resample.c),
 * the .mli `image` stage (stage.c); predictions from JPEG bytes use them (src/predict_image.c). */
#ifndef MLI_IMAGE_H
#define MLI_IMAGE_H

#include <stddef.h>
#include <stdint.h>

#include "internal.h"

/* Largest JPEG side (the format stores 16-bit sizes); also the limit for raw pixels. */
#define MLI__IMAGE_MAX_SOURCE_SIDE 65535

/* What the frame header of a JPEG says, plus the colour space TurboJPEG infers. */
typedef struct mli__jpeg_head {
    int32_t width, height, components, precision;
    int32_t colorspace; /* mli_jpeg_colorspace */
    int sof;            /* the SOF marker's code, 0xC0..0xCF */
} mli__jpeg_head;

/* 8-bit pixels, rows `stride` bytes apart; `owned` is freed by mli__pixels_free. */
typedef struct mli__pixels {
    const uint8_t *data;
    uint8_t *owned;
    int32_t width, height, channels;
    int64_t stride;
} mli__pixels;

void mli__pixels_free(mli__pixels *p);

/* Reads the headers up to the frame header and checks what this library can decode:
 * sequential or progressive Huffman/arithmetic coding, 8-bit samples, 1, 3 or 4
 * components, sides > 0, width x height <= max_pixels. Junk between segments is an error
 * unless flags has MLI_IMAGE_ACCEPT_WARNINGS. `fn` prefixes messages. */
mli_status mli__jpeg_read_head(const char *fn, const void *jpeg, size_t size, int64_t max_pixels, uint32_t flags,
                               mli__jpeg_head *h);

/* The smallest decode scale M/8 (M = 1..8) libjpeg-turbo offers whose output is at least
 * min_w x min_h; 8 (full size) when none is. Writes the scaled size. */
int mli__jpeg_pick_scale(int32_t width, int32_t height, int32_t min_w, int32_t min_h, int32_t *out_w, int32_t *out_h);
/* Fills h->colorspace as libjpeg-turbo infers it from the JFIF/Adobe markers. */
mli_status mli__jpeg_read_colorspace(const char *fn, const void *jpeg, size_t size, uint32_t flags, mli__jpeg_head *h);
/* Whether libjpeg-turbo decodes at scale m/8. */
int mli__jpeg_scale_offered(int m);
/* ceil(side * m / 8), libjpeg's scaled size. */
int32_t mli__jpeg_scaled(int32_t side, int m);

/* Decodes at scale m/8 to `color` (1 channel for gray, 3 for RGB/BGR; CMYK/YCCK images
 * converted as Pillow does). Allocates out->owned. */
mli_status mli__jpeg_decode(const char *fn, const void *jpeg, size_t size, const mli__jpeg_head *h, int m,
                            mli_color color, uint32_t flags, mli__pixels *out);

/* Converts `src` (1: gray, 3: RGB, 4: CMYK as stored in an Adobe JPEG, inverted) to
 * `color` into dst (width * channels(color) bytes per row, unpadded). */
void mli__convert_color(const mli__pixels *src, mli_color color, uint8_t *dst);

/* Channels of a colour mode: 1 for gray, 3 otherwise. */
static inline int mli__color_channels(int32_t color) { return color == MLI_COLOR_GRAY ? 1 : 3; }

/* Validates a spec (messages prefixed by fn) and writes its tensor length. */
mli_status mli__image_spec_check(const char *fn, const mli_image_spec *spec, int64_t *len);

/* The source region and virtual output grid of a spec on a source of sw x sh pixels:
 * the box [x0, x1) x [y0, y1) of the source is resized to vw x vh pixels, of which the
 * window starting at (ox, oy) with the spec's width x height is kept. */
typedef struct mli__image_geom {
    double x0, x1, y0, y1;
    int64_t vw, vh, ox, oy;
} mli__image_geom;
void mli__image_geometry(const mli_image_spec *spec, int32_t sw, int32_t sh, mli__image_geom *g);

/* Resizes/crops `src` (channels == the spec's) and writes the normalised tensor. */
mli_status mli__image_resample(const char *fn, const mli__kernels *kt, const mli__pixels *src,
                               const mli_image_spec *spec, float *out);

/* The whole pipeline for one JPEG: header, DCT-scaled decode, resample. */
mli_status mli__image_from_jpeg(const char *fn, const mli__kernels *kt, const void *jpeg, size_t size,
                                const mli_image_spec *spec, float *out);

struct mli__reader;
/* Reads the image stage `stage.<i>.*` of a .mli file into *spec and checks that its tensor
 * has n_features values (src/image/stage.c). */
mli_status mli__image_stage_build(const struct mli__reader *r, int i, int64_t n_features, mli_image_spec *spec);

#endif
