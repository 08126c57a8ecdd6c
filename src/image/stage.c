/* stage.c — the .mli `image` stage (docs/FORMAT.md): its metadata keys and mean/std
 * sections read into an mli_image_spec, checked against the model's n_features. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "image/image.h"
#include "stage_reader.h"

static mli_status meta_flag(const mli__reader *r, const char *key, int dflt, int *out) {
    static const char *const bits[] = {"0", "1", NULL};
    if (mli__meta_choice(r, key, bits, dflt, out) != MLI_OK)
        return mli__fail(MLI_ERR_CORRUPT, "%s: metadata key '%s' must be 0 or 1", r->c->origin, key);
    return MLI_OK;
}

mli_status mli__image_stage_build(const mli__reader *r, int i, int64_t n_features, mli_image_spec *s) {
    static const char *const colors[] = {"gray", "rgb", "bgr", NULL};
    static const char *const fits[] = {"stretch", "shorter", "crop", NULL};
    static const char *const resizes[] = {"bilinear", "area", NULL};
    static const char *const layouts[] = {"hwc", "chw", NULL};
    mli_image_spec_init(s);
    char key[64];
    int64_t v;
    mli_status rc;
#define KEY(name) (snprintf(key, sizeof key, "stage.%d.%s", i, name), key)
    if ((rc = mli__meta_int(r, KEY("width"), 1, MLI_IMAGE_MAX_SIDE, &v)) != MLI_OK)
        return rc;
    s->width = (int32_t)v;
    if ((rc = mli__meta_int(r, KEY("height"), 1, MLI_IMAGE_MAX_SIDE, &v)) != MLI_OK)
        return rc;
    s->height = (int32_t)v;
    int color, fit, resize, layout;
    if ((rc = mli__meta_choice(r, KEY("color"), colors, -1, &color)) != MLI_OK ||
        (rc = mli__meta_choice(r, KEY("fit"), fits, MLI_FIT_STRETCH, &fit)) != MLI_OK ||
        (rc = mli__meta_choice(r, KEY("resize"), resizes, MLI_RESIZE_BILINEAR, &resize)) != MLI_OK ||
        (rc = mli__meta_choice(r, KEY("layout"), layouts, MLI_LAYOUT_HWC, &layout)) != MLI_OK)
        return rc;
    s->color = color;
    s->fit = fit;
    s->resize = resize;
    s->layout = layout;
    if (s->fit == MLI_FIT_SHORTER) {
        if ((rc = mli__meta_int(r, KEY("shorter"), 1, MLI_IMAGE_MAX_SIDE, &v)) != MLI_OK)
            return rc;
        s->shorter = (int32_t)v;
    }
    int invert = 0, dct = 1, warn = 0;
    if ((rc = mli__meta_finite(r, KEY("scale"), 1.0, &s->scale)) != MLI_OK ||
        (rc = meta_flag(r, KEY("invert"), 0, &invert)) != MLI_OK ||
        (rc = meta_flag(r, KEY("dct_scaling"), 1, &dct)) != MLI_OK ||
        (rc = meta_flag(r, KEY("accept_warnings"), 0, &warn)) != MLI_OK)
        return rc;
    s->flags = (invert ? MLI_IMAGE_INVERT : 0u) | (dct ? 0u : MLI_IMAGE_NO_DCT_SCALING) |
               (warn ? MLI_IMAGE_ACCEPT_WARNINGS : 0u);
    if (mli__meta(r, KEY("max_pixels"))) {
        if ((rc = mli__meta_int(r, key, 1, INT64_MAX, &v)) != MLI_OK)
            return rc;
        s->max_pixels = v;
    }
    int channels = mli__color_channels(s->color);
    const void *p;
    if ((rc = mli__section_array(r, KEY("mean"), MLI__DT_F64, channels, 1, &p)) != MLI_OK)
        return rc;
    if (p)
        memcpy(s->mean, p, sizeof(double) * (size_t)channels);
    if ((rc = mli__section_array(r, KEY("std"), MLI__DT_F64, channels, 1, &p)) != MLI_OK)
        return rc;
    if (p)
        memcpy(s->std, p, sizeof(double) * (size_t)channels);
#undef KEY
    int64_t len;
    char where[96];
    snprintf(where, sizeof where, "%s: stage %d (image)", r->c->origin, i);
    if ((rc = mli__image_spec_check(where, s, &len)) != MLI_OK)
        return MLI_ERR_CORRUPT;
    if (len != n_features)
        return mli__fail(MLI_ERR_CORRUPT,
                         "%s: stage %d (image) makes a %d x %d x %d tensor of %lld values, but the "
                         "model takes n_features = %lld",
                         r->c->origin, i, s->height, s->width, channels, (long long)len, (long long)n_features);
    return MLI_OK;
}
