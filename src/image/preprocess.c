/* preprocess.c — the public mli_image_* calls: spec defaults and checks, JPEG headers,
 * decoding, and the decode -> convert -> resize -> normalise pipeline (with the DCT scale
 * chosen from the spec's geometry). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "image/image.h"

void mli_image_spec_init(mli_image_spec *spec) {
    if (!spec)
        return;
    memset(spec, 0, sizeof *spec);
    spec->width = spec->height = 224;
    spec->color = MLI_COLOR_RGB;
    spec->fit = MLI_FIT_STRETCH;
    spec->resize = MLI_RESIZE_BILINEAR;
    spec->layout = MLI_LAYOUT_HWC;
    spec->scale = 1.0 / 255.0;
    for (int c = 0; c < 3; ++c)
        spec->std[c] = 1.0;
}

mli_status mli__image_spec_check(const char *fn, const mli_image_spec *s, int64_t *len) {
    if (!s)
        return mli__fail(MLI_ERR_INVALID_ARGUMENT, "%s: spec is NULL", fn);
    if (s->width < 1 || s->width > MLI_IMAGE_MAX_SIDE || s->height < 1 || s->height > MLI_IMAGE_MAX_SIDE)
        return mli__fail(MLI_ERR_INVALID_ARGUMENT, "%s: spec width x height %d x %d is outside 1..%d", fn, s->width,
                         s->height, MLI_IMAGE_MAX_SIDE);
    if (s->color < MLI_COLOR_GRAY || s->color > MLI_COLOR_BGR)
        return mli__fail(MLI_ERR_INVALID_ARGUMENT, "%s: spec color %d is not an mli_color", fn, s->color);
    if (s->fit < MLI_FIT_STRETCH || s->fit > MLI_FIT_CROP)
        return mli__fail(MLI_ERR_INVALID_ARGUMENT, "%s: spec fit %d is not an mli_fit", fn, s->fit);
    if (s->fit == MLI_FIT_SHORTER &&
        (s->shorter < s->width || s->shorter < s->height || s->shorter > MLI_IMAGE_MAX_SIDE))
        return mli__fail(MLI_ERR_INVALID_ARGUMENT,
                         "%s: spec shorter (%d) must be at least width and height "
                         "(%d, %d) and at most %d",
                         fn, s->shorter, s->width, s->height, MLI_IMAGE_MAX_SIDE);
    if (s->resize != MLI_RESIZE_BILINEAR && s->resize != MLI_RESIZE_AREA)
        return mli__fail(MLI_ERR_INVALID_ARGUMENT, "%s: spec resize %d is not an mli_resize", fn, s->resize);
    if (s->layout != MLI_LAYOUT_HWC && s->layout != MLI_LAYOUT_CHW)
        return mli__fail(MLI_ERR_INVALID_ARGUMENT, "%s: spec layout %d is not an mli_layout", fn, s->layout);
    const uint32_t known = MLI_IMAGE_INVERT | MLI_IMAGE_NO_DCT_SCALING | MLI_IMAGE_ACCEPT_WARNINGS;
    if (s->flags & ~known)
        return mli__fail(MLI_ERR_INVALID_ARGUMENT, "%s: spec flags 0x%x has unknown bits", fn, s->flags);
    if (!isfinite(s->scale))
        return mli__fail(MLI_ERR_INVALID_ARGUMENT, "%s: spec scale is not finite", fn);
    int channels = mli__color_channels(s->color);
    for (int c = 0; c < channels; ++c)
        if (!isfinite(s->mean[c]) || !isfinite(s->std[c]) || s->std[c] == 0.0)
            return mli__fail(MLI_ERR_INVALID_ARGUMENT,
                             "%s: spec channel %d: mean must be finite and std finite and "
                             "non-zero (mean %g, std %g)",
                             fn, c, s->mean[c], s->std[c]);
    if (s->max_pixels < 0)
        return mli__fail(MLI_ERR_INVALID_ARGUMENT, "%s: spec max_pixels (%lld) is negative", fn,
                         (long long)s->max_pixels);
    for (size_t i = 0; i < sizeof s->reserved / sizeof s->reserved[0]; ++i)
        if (s->reserved[i] != 0)
            return mli__fail(MLI_ERR_INVALID_ARGUMENT,
                             "%s: spec reserved[%zu] is not zero (initialise specs with "
                             "mli_image_spec_init)",
                             fn, i);
    *len = (int64_t)s->width * s->height * channels;
    return MLI_OK;
}

mli_status mli_image_spec_tensor_len(const mli_image_spec *spec, int64_t *out) {
    if (!out)
        return mli__fail(MLI_ERR_INVALID_ARGUMENT, "mli_image_spec_tensor_len: out is NULL");
    return mli__image_spec_check("mli_image_spec_tensor_len", spec, out);
}

static int64_t limit_of(int64_t max_pixels) { return max_pixels > 0 ? max_pixels : MLI_IMAGE_DEFAULT_MAX_PIXELS; }

mli_status mli_image_jpeg_info(const void *jpeg, size_t size, mli_image_info *out) {
    static const char fn[] = "mli_image_jpeg_info";
    if (!out)
        return mli__fail(MLI_ERR_INVALID_ARGUMENT, "%s: out is NULL", fn);
    memset(out, 0, sizeof *out);
    mli__jpeg_head h;
    /* no pixel limit here: reading the header allocates nothing for pixels */
    mli_status rc = mli__jpeg_read_head(fn, jpeg, size, INT64_MAX, MLI_IMAGE_ACCEPT_WARNINGS, &h);
    if (rc == MLI_OK)
        rc = mli__jpeg_read_colorspace(fn, jpeg, size, MLI_IMAGE_ACCEPT_WARNINGS, &h);
    if (rc != MLI_OK)
        return rc;
    out->width = h.width;
    out->height = h.height;
    out->components = h.components;
    out->colorspace = h.colorspace;
    out->progressive = h.sof == 0xC2 || h.sof == 0xCA;
    return MLI_OK;
}

mli_status mli_image_decode_jpeg(const void *jpeg, size_t size, mli_color color, int32_t min_width, int32_t min_height,
                                 int64_t max_pixels, uint32_t flags, uint8_t *out, int64_t out_len, int32_t *width,
                                 int32_t *height) {
    static const char fn[] = "mli_image_decode_jpeg";
    if (!width || !height)
        return mli__fail(MLI_ERR_INVALID_ARGUMENT, "%s: %s is NULL", fn, width ? "height" : "width");
    *width = *height = 0;
    if ((int)color < MLI_COLOR_GRAY || (int)color > MLI_COLOR_BGR)
        return mli__fail(MLI_ERR_INVALID_ARGUMENT, "%s: color %d is not an mli_color", fn, (int)color);
    if (min_width < 0 || min_height < 0)
        return mli__fail(MLI_ERR_INVALID_ARGUMENT, "%s: min_width and min_height must be >= 0 (%d, %d)", fn, min_width,
                         min_height);
    if (flags & ~(uint32_t)MLI_IMAGE_ACCEPT_WARNINGS)
        return mli__fail(MLI_ERR_INVALID_ARGUMENT, "%s: flags 0x%x: only MLI_IMAGE_ACCEPT_WARNINGS applies", fn, flags);
    mli__jpeg_head h;
    mli_status rc = mli__jpeg_read_head(fn, jpeg, size, limit_of(max_pixels), flags, &h);
    if (rc != MLI_OK)
        return rc;
    int32_t w, ht;
    int m = mli__jpeg_pick_scale(h.width, h.height, min_width, min_height, &w, &ht);
    if (!out) {
        *width = w;
        *height = ht;
        return MLI_OK;
    }
    int64_t need = (int64_t)w * ht * mli__color_channels(color);
    if (out_len < need)
        return mli__fail(MLI_ERR_SHAPE, "%s: out holds %lld bytes but the %d x %d image needs %lld", fn,
                         (long long)out_len, w, ht, (long long)need);
    mli__pixels px;
    if ((rc = mli__jpeg_decode(fn, jpeg, size, &h, m, color, flags, &px)) != MLI_OK)
        return rc;
    for (int32_t y = 0; y < px.height; ++y)
        memcpy(out + (int64_t)y * px.width * px.channels, px.data + y * px.stride, (size_t)px.width * px.channels);
    *width = px.width;
    *height = px.height;
    mli__pixels_free(&px);
    return MLI_OK;
}

/* The decode scale for a spec: the smallest m/8 for which the resize still shrinks (or
 * keeps) the image in both directions. */
static int pick_spec_scale(const mli_image_spec *spec, const mli__jpeg_head *h) {
    if (spec->flags & MLI_IMAGE_NO_DCT_SCALING)
        return 8;
    for (int m = 1; m < 8; ++m) {
        int32_t w = mli__jpeg_scaled(h->width, m), ht = mli__jpeg_scaled(h->height, m);
        mli__image_geom g;
        mli__image_geometry(spec, w, ht, &g);
        if (g.x1 - g.x0 >= (double)g.vw && g.y1 - g.y0 >= (double)g.vh && mli__jpeg_scale_offered(m))
            return m;
    }
    return 8;
}

mli_status mli__image_from_jpeg(const char *fn, const mli__kernels *kt, const void *jpeg, size_t size,
                                const mli_image_spec *spec, float *out) {
    mli__jpeg_head h;
    mli_status rc = mli__jpeg_read_head(fn, jpeg, size, limit_of(spec->max_pixels), spec->flags, &h);
    if (rc != MLI_OK)
        return rc;
    mli__pixels px;
    if ((rc = mli__jpeg_decode(fn, jpeg, size, &h, pick_spec_scale(spec, &h), (mli_color)spec->color, spec->flags,
                               &px)) != MLI_OK)
        return rc;
    rc = mli__image_resample(fn, kt, &px, spec, out);
    mli__pixels_free(&px);
    return rc;
}

static mli_status check_out(const char *fn, const mli_image_spec *spec, float *out, int64_t out_len) {
    int64_t len;
    mli_status rc = mli__image_spec_check(fn, spec, &len);
    if (rc != MLI_OK)
        return rc;
    if (!out)
        return mli__fail(MLI_ERR_INVALID_ARGUMENT, "%s: out is NULL", fn);
    if (out_len < len)
        return mli__fail(MLI_ERR_SHAPE, "%s: out holds %lld floats but the %d x %d x %d tensor needs %lld", fn,
                         (long long)out_len, spec->height, spec->width, mli__color_channels(spec->color),
                         (long long)len);
    return MLI_OK;
}

mli_status mli_image_preprocess_jpeg(const void *jpeg, size_t size, const mli_image_spec *spec, float *out,
                                     int64_t out_len) {
    static const char fn[] = "mli_image_preprocess_jpeg";
    mli_status rc = check_out(fn, spec, out, out_len);
    if (rc != MLI_OK)
        return rc;
    const mli__kernels *kt = mli__get_kernels();
    if (!kt)
        return MLI_ERR_UNSUPPORTED;
    return mli__image_from_jpeg(fn, kt, jpeg, size, spec, out);
}

mli_status mli_image_preprocess_pixels(const uint8_t *pixels, int32_t width, int32_t height, int32_t channels,
                                       int64_t stride, const mli_image_spec *spec, float *out, int64_t out_len) {
    static const char fn[] = "mli_image_preprocess_pixels";
    mli_status rc = check_out(fn, spec, out, out_len);
    if (rc != MLI_OK)
        return rc;
    if (!pixels)
        return mli__fail(MLI_ERR_INVALID_ARGUMENT, "%s: pixels is NULL", fn);
    if (width < 1 || height < 1 || width > MLI__IMAGE_MAX_SOURCE_SIDE || height > MLI__IMAGE_MAX_SOURCE_SIDE)
        return mli__fail(MLI_ERR_INVALID_ARGUMENT, "%s: image of %d x %d pixels: sides must be 1..%d", fn, width,
                         height, MLI__IMAGE_MAX_SOURCE_SIDE);
    if (channels != 1 && channels != 3 && channels != 4)
        return mli__fail(MLI_ERR_INVALID_ARGUMENT, "%s: channels is %d, not 1 (gray), 3 (RGB) or 4 (CMYK)", fn,
                         channels);
    if (stride < (int64_t)width * channels)
        return mli__fail(MLI_ERR_INVALID_ARGUMENT, "%s: stride (%lld) is less than width x channels (%lld)", fn,
                         (long long)stride, (long long)width * channels);
    int64_t pixels_n = (int64_t)width * height;
    if (pixels_n > limit_of(spec->max_pixels))
        return mli__fail(MLI_ERR_IMAGE,
                         "%s: image of %d x %d = %lld pixels exceeds the limit of %lld pixels "
                         "(max_pixels)",
                         fn, width, height, (long long)pixels_n, (long long)limit_of(spec->max_pixels));
    const mli__kernels *kt = mli__get_kernels();
    if (!kt)
        return MLI_ERR_UNSUPPORTED;
    mli__pixels src = {.data = pixels, .width = width, .height = height, .channels = channels, .stride = stride};
    int oc = mli__color_channels(spec->color);
    int same = channels == oc && spec->color != MLI_COLOR_BGR; /* gray -> gray, RGB -> RGB: used in place */
    if (same)
        return mli__image_resample(fn, kt, &src, spec, out);
    mli__pixels conv = {.width = width, .height = height, .channels = oc, .stride = (int64_t)width * oc};
    conv.owned = malloc((size_t)pixels_n * (size_t)oc);
    if (!conv.owned)
        return mli__fail(MLI_ERR_OUT_OF_MEMORY, "%s: out of memory converting a %d x %d image", fn, width, height);
    conv.data = conv.owned;
    mli__convert_color(&src, (mli_color)spec->color, conv.owned);
    rc = mli__image_resample(fn, kt, &conv, spec, out);
    mli__pixels_free(&conv);
    return rc;
}
