/* jpeg.c — JPEG headers and decoding with libjpeg-turbo's TurboJPEG API. The headers up
 * to the frame header are walked here first, so that what libjpeg-turbo cannot or should
 * not decode (not a JPEG, lossless or 12-bit coding, a zero side, more pixels than the
 * limit) fails with a precise message before any pixel buffer is allocated. Warnings
 * about corrupt data stop the decode (TJFLAG_STOPONWARNING) unless the caller accepts
 * them; nothing is ever printed (TurboJPEG keeps its messages in the handle). */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <turbojpeg.h>

#ifndef JMSG_LENGTH_MAX
#define JMSG_LENGTH_MAX 200 /* jpeglib.h; TurboJPEG messages are no longer */
#endif

#include "image/image.h"

void mli__pixels_free(mli__pixels *p) {
    if (p) {
        free(p->owned);
        p->owned = NULL;
        p->data = NULL;
    }
}

static unsigned be16(const uint8_t *p) { return (unsigned)p[0] << 8 | p[1]; }

static int is_sof(unsigned m) { return m >= 0xC0 && m <= 0xCF && m != 0xC4 && m != 0xC8 && m != 0xCC; }

static mli_status check_sof(const char *fn, unsigned sof, const uint8_t *seg, unsigned len, int64_t max_pixels,
                            mli__jpeg_head *h) {
    if (len < 8)
        return mli__fail(MLI_ERR_IMAGE, "%s: corrupt JPEG: frame header (SOF) of %u bytes is too short", fn, len);
    h->sof = (int)sof;
    h->precision = seg[0];
    h->height = (int32_t)be16(seg + 1);
    h->width = (int32_t)be16(seg + 3);
    h->components = seg[5];
    if (sof == 0xC3 || sof == 0xC7 || sof == 0xCB || sof == 0xCF)
        return mli__fail(MLI_ERR_UNSUPPORTED, "%s: lossless JPEG (SOF%u) is not supported", fn, sof - 0xC0);
    if (sof == 0xC5 || sof == 0xC6 || sof == 0xCD || sof == 0xCE)
        return mli__fail(MLI_ERR_UNSUPPORTED, "%s: hierarchical JPEG (SOF%u) is not supported", fn, sof - 0xC0);
    if (h->precision != 8)
        return mli__fail(MLI_ERR_UNSUPPORTED, "%s: JPEG with %d-bit samples is not supported (only 8-bit)", fn,
                         h->precision);
    if (h->width == 0 || h->height == 0)
        return mli__fail(MLI_ERR_IMAGE, "%s: JPEG declares a %d x %d image (zero width or height)", fn, h->width,
                         h->height);
    if (h->components != 1 && h->components != 3 && h->components != 4)
        return mli__fail(MLI_ERR_UNSUPPORTED, "%s: JPEG with %d colour components is not supported (1, 3 or 4)", fn,
                         h->components);
    if (len < 8u + 3u * (unsigned)h->components)
        return mli__fail(MLI_ERR_IMAGE, "%s: corrupt JPEG: frame header too short for %d components", fn,
                         h->components);
    int64_t pixels = (int64_t)h->width * h->height;
    if (pixels > max_pixels)
        return mli__fail(MLI_ERR_IMAGE,
                         "%s: JPEG of %d x %d = %lld pixels exceeds the limit of %lld pixels "
                         "(max_pixels)",
                         fn, h->width, h->height, (long long)pixels, (long long)max_pixels);
    return MLI_OK;
}

mli_status mli__jpeg_read_head(const char *fn, const void *jpeg, size_t size, int64_t max_pixels, uint32_t flags,
                               mli__jpeg_head *h) {
    const uint8_t *p = jpeg;
    memset(h, 0, sizeof *h);
    if (!jpeg)
        return mli__fail(MLI_ERR_INVALID_ARGUMENT, "%s: jpeg is NULL", fn);
    if (size < 3 || p[0] != 0xFF || p[1] != 0xD8 || p[2] != 0xFF) {
        if (size < 3)
            return mli__fail(MLI_ERR_IMAGE, "%s: not a JPEG: %zu bytes (a JPEG starts with FF D8 FF)", fn, size);
        return mli__fail(MLI_ERR_IMAGE, "%s: not a JPEG: starts with %02X %02X %02X (a JPEG starts with FF D8 FF)", fn,
                         p[0], p[1], p[2]);
    }
    if (size > ULONG_MAX)
        return mli__fail(MLI_ERR_IMAGE, "%s: JPEG of %zu bytes is too large", fn, size);
    size_t pos = 2;
    for (;;) {
        if (pos >= size)
            return mli__fail(MLI_ERR_IMAGE,
                             "%s: truncated JPEG: the data ends at byte %zu, before the frame header "
                             "(SOF)",
                             fn, size);
        if (p[pos] != 0xFF) { /* junk between segments: libjpeg skips it with a warning */
            size_t junk = pos;
            while (pos < size && p[pos] != 0xFF)
                ++pos;
            if (!(flags & MLI_IMAGE_ACCEPT_WARNINGS))
                return mli__fail(MLI_ERR_IMAGE,
                                 "%s: corrupt JPEG: %zu extraneous bytes at byte %zu, where a marker "
                                 "should be (MLI_IMAGE_ACCEPT_WARNINGS skips them)",
                                 fn, pos - junk, junk);
            continue;
        }
        while (pos < size && p[pos] == 0xFF) /* fill bytes */
            ++pos;
        if (pos >= size)
            continue;
        unsigned m = p[pos++];
        if (m == 0x01 || (m >= 0xD0 && m <= 0xD7)) /* standalone markers */
            continue;
        if (m == 0xD8 || m == 0xD9 || m == 0xDA || m == 0x00)
            return mli__fail(MLI_ERR_IMAGE,
                             "%s: corrupt JPEG: marker FF %02X at byte %zu comes before the frame "
                             "header (SOF)",
                             fn, m, pos - 2);
        if (pos + 2 > size)
            return mli__fail(MLI_ERR_IMAGE, "%s: truncated JPEG: the data ends inside the marker FF %02X at byte %zu",
                             fn, m, pos - 2);
        unsigned len = be16(p + pos);
        if (len < 2)
            return mli__fail(MLI_ERR_IMAGE, "%s: corrupt JPEG: marker FF %02X at byte %zu has length %u", fn, m,
                             pos - 2, len);
        if (pos + len > size)
            return mli__fail(MLI_ERR_IMAGE, "%s: truncated JPEG: segment FF %02X at byte %zu needs %u bytes, %zu left",
                             fn, m, pos - 2, len, size - pos);
        if (is_sof(m))
            return check_sof(fn, m, p + pos + 2, len, max_pixels, h);
        pos += len;
    }
}

/* TurboJPEG's colour space constants, in the order of mli_jpeg_colorspace. */
static int32_t map_colorspace(int tjcs) {
    switch (tjcs) {
    case TJCS_GRAY: return MLI_JPEG_GRAY;
    case TJCS_YCbCr: return MLI_JPEG_YCBCR;
    case TJCS_RGB: return MLI_JPEG_RGB;
    case TJCS_CMYK: return MLI_JPEG_CMYK;
    case TJCS_YCCK: return MLI_JPEG_YCCK;
    default: return -1;
    }
}

/* libjpeg-turbo's warnings (corrupt or truncated data it can decode around) are errors
 * unless the caller accepts them. TurboJPEG reports a warning and a fatal error that
 * follows one with the same code, so the code is trusted only from a call that stops at
 * the first warning; a lenient retry is accepted only if its message is still that first
 * warning (libjpeg formats only the first warning, and a later fatal error overwrites it). */
static mli_status warning_error(const char *fn, const char *msg) {
    return mli__fail(MLI_ERR_IMAGE,
                     "%s: corrupt or truncated JPEG data: %s (a libjpeg-turbo warning, treated as an "
                     "error; MLI_IMAGE_ACCEPT_WARNINGS keeps such images)",
                     fn, msg);
}

static mli_status fatal_error(const char *fn, const char *what, const char *msg) {
    return mli__fail(MLI_ERR_IMAGE, "%s: cannot %s the JPEG: %s", fn, what, msg);
}

static void copy_msg(char *dst, size_t cap, tjhandle tj) {
    const char *m = tjGetErrorStr2(tj);
    snprintf(dst, cap, "%s", m ? m : "?");
}

/* The colour space as TurboJPEG infers it (JFIF/Adobe markers). A header that parses only
 * with warnings leaves the outputs set; a fatal error leaves them untouched. */
static mli_status read_colorspace(const char *fn, tjhandle tj, const void *jpeg, size_t size, uint32_t flags,
                                  mli__jpeg_head *h) {
    int w = 0, ht = 0, subsamp = -1, cs = -1;
    if (tjDecompressHeader3(tj, jpeg, (unsigned long)size, &w, &ht, &subsamp, &cs) != 0) {
        char msg[JMSG_LENGTH_MAX];
        copy_msg(msg, sizeof msg, tj);
        if (w <= 0 || ht <= 0 || cs < 0)
            return fatal_error(fn, "read the header of", msg);
        if (!(flags & MLI_IMAGE_ACCEPT_WARNINGS))
            return warning_error(fn, msg);
    }
    h->colorspace = map_colorspace(cs);
    if (h->colorspace < 0)
        return mli__fail(MLI_ERR_UNSUPPORTED, "%s: JPEG colour space %d is not supported", fn, cs);
    if (w != h->width || ht != h->height)
        return mli__fail(MLI_ERR_IMAGE, "%s: corrupt JPEG: frame headers disagree (%d x %d, then %d x %d)", fn,
                         h->width, h->height, w, ht);
    return MLI_OK;
}

mli_status mli__jpeg_read_colorspace(const char *fn, const void *jpeg, size_t size, uint32_t flags, mli__jpeg_head *h) {
    tjhandle tj = tjInitDecompress();
    if (!tj)
        return mli__fail(MLI_ERR_OUT_OF_MEMORY, "%s: cannot create a TurboJPEG decompressor: %s", fn,
                         tjGetErrorStr2(NULL));
    mli_status rc = read_colorspace(fn, tj, jpeg, size, flags, h);
    tjDestroy(tj);
    return rc;
}

static mli_status decompress(const char *fn, tjhandle tj, const void *jpeg, size_t size, uint8_t *buf, int w, int h,
                             int pf, uint32_t flags) {
    if (tjDecompress2(tj, jpeg, (unsigned long)size, buf, w, 0, h, pf, TJFLAG_LIMITSCANS | TJFLAG_STOPONWARNING) == 0)
        return MLI_OK;
    char first[JMSG_LENGTH_MAX];
    copy_msg(first, sizeof first, tj);
    if (tjGetErrorCode(tj) != TJERR_WARNING)
        return fatal_error(fn, "decode", first);
    if (!(flags & MLI_IMAGE_ACCEPT_WARNINGS))
        return warning_error(fn, first);
    if (tjDecompress2(tj, jpeg, (unsigned long)size, buf, w, 0, h, pf, TJFLAG_LIMITSCANS) != 0) {
        char last[JMSG_LENGTH_MAX];
        copy_msg(last, sizeof last, tj);
        if (strcmp(first, last) != 0)
            return fatal_error(fn, "decode", last);
    }
    return MLI_OK;
}

int32_t mli__jpeg_scaled(int32_t side, int m) { return (int32_t)(((int64_t)side * m + 7) / 8); }

int mli__jpeg_scale_offered(int m) {
    int n = 0;
    const tjscalingfactor *sf = tjGetScalingFactors(&n);
    for (int i = 0; sf && i < n; ++i)
        if (sf[i].num * 8 == m * sf[i].denom)
            return 1;
    return m == 8;
}

int mli__jpeg_pick_scale(int32_t width, int32_t height, int32_t min_w, int32_t min_h, int32_t *out_w, int32_t *out_h) {
    int best = 8;
    for (int m = 1; m < 8 && (min_w > 0 || min_h > 0); ++m)
        if (mli__jpeg_scaled(width, m) >= min_w && mli__jpeg_scaled(height, m) >= min_h && mli__jpeg_scale_offered(m)) {
            best = m;
            break;
        }
    *out_w = mli__jpeg_scaled(width, best);
    *out_h = mli__jpeg_scaled(height, best);
    return best;
}

mli_status mli__jpeg_decode(const char *fn, const void *jpeg, size_t size, const mli__jpeg_head *h0, int m,
                            mli_color color, uint32_t flags, mli__pixels *out) {
    memset(out, 0, sizeof *out);
    tjhandle tj = tjInitDecompress();
    if (!tj)
        return mli__fail(MLI_ERR_OUT_OF_MEMORY, "%s: cannot create a TurboJPEG decompressor: %s", fn,
                         tjGetErrorStr2(NULL));
    mli__jpeg_head h = *h0;
    mli_status rc = read_colorspace(fn, tj, jpeg, size, flags, &h);
    if (rc != MLI_OK) {
        tjDestroy(tj);
        return rc;
    }
    int cmyk = h.colorspace == MLI_JPEG_CMYK || h.colorspace == MLI_JPEG_YCCK;
    int pf = cmyk ? TJPF_CMYK : color == MLI_COLOR_GRAY ? TJPF_GRAY : color == MLI_COLOR_BGR ? TJPF_BGR : TJPF_RGB;
    int32_t w = mli__jpeg_scaled(h.width, m), ht = mli__jpeg_scaled(h.height, m);
    int ps = tjPixelSize[pf];
    uint8_t *buf = malloc((size_t)w * (size_t)ht * (size_t)ps);
    if (!buf) {
        tjDestroy(tj);
        return mli__fail(MLI_ERR_OUT_OF_MEMORY, "%s: out of memory for a %d x %d image", fn, w, ht);
    }
    if ((rc = decompress(fn, tj, jpeg, size, buf, w, ht, pf, flags)) != MLI_OK) {
        free(buf);
        tjDestroy(tj);
        return rc;
    }
    tjDestroy(tj);
    out->owned = buf;
    out->data = buf;
    out->width = w;
    out->height = ht;
    out->channels = ps;
    out->stride = (int64_t)w * ps;
    if (cmyk) { /* in place: each output pixel is no wider than its input pixel */
        mli__pixels src = *out;
        mli__convert_color(&src, color, buf);
        out->channels = mli__color_channels(color);
        out->stride = (int64_t)w * out->channels;
    }
    return MLI_OK;
}
