/* color.c — 8-bit colour conversions, with Pillow's integer formulas so that results
 * match an image converted with Image.convert: RGB -> L is ITU-R 601 luma
 * (19595 R + 38470 G + 7471 B + 32768) >> 16; CMYK -> RGB takes the samples as an Adobe
 * JPEG stores them (inverted: 255 is no ink) and multiplies out the black. */
#include "image/image.h"

/* round(a * b / 255) for a, b in 0..255, exactly as Pillow's MULDIV255. */
static inline unsigned muldiv255(unsigned a, unsigned b) {
    unsigned t = a * b + 128;
    return ((t >> 8) + t) >> 8;
}

static inline uint8_t luma(unsigned r, unsigned g, unsigned b) {
    return (uint8_t)((r * 19595u + g * 38470u + b * 7471u + 0x8000u) >> 16);
}

/* One pixel of stored (inverted) CMYK to RGB: with ink = 255 - stored and nk = 255 - ink_k,
 * each channel is nk - round(ink * nk / 255). */
static inline void cmyk_rgb(const uint8_t *in, unsigned *r, unsigned *g, unsigned *b) {
    unsigned nk = in[3];
    *r = nk - muldiv255(255u - in[0], nk);
    *g = nk - muldiv255(255u - in[1], nk);
    *b = nk - muldiv255(255u - in[2], nk);
}

/* Works in place (dst == src->data) when dst rows are no wider than source rows: every
 * pixel is read whole before its output is written, and outputs never pass inputs. */
void mli__convert_color(const mli__pixels *src, mli_color color, uint8_t *dst) {
    const int oc = mli__color_channels(color);
    const int bgr = color == MLI_COLOR_BGR;
    for (int32_t y = 0; y < src->height; ++y) {
        const uint8_t *s = src->data + (int64_t)y * src->stride;
        uint8_t *d = dst + (int64_t)y * src->width * oc;
        for (int32_t x = 0; x < src->width; ++x, d += oc) {
            unsigned r, g, b;
            switch (src->channels) {
            case 1: r = g = b = s[x]; break;
            case 3:
                r = s[3 * x];
                g = s[3 * x + 1];
                b = s[3 * x + 2];
                break;
            default: cmyk_rgb(s + 4 * (int64_t)x, &r, &g, &b); break;
            }
            if (oc == 1) {
                d[0] = src->channels == 1 ? (uint8_t)r : luma(r, g, b);
            } else {
                d[0] = (uint8_t)(bgr ? b : r);
                d[1] = (uint8_t)g;
                d[2] = (uint8_t)(bgr ? r : b);
            }
        }
    }
}
