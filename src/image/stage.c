/* stage.c — the .mli `image` stage (docs/FORMAT.md): its metadata keys and mean/std
 * sections read into an mli_image_spec, checked against the model's n_features. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "image/image.h"
#include "model.h"

/* Index of the value of `key` in `names` (NULL-terminated); `dflt` when the key is absent
 * and dflt >= 0; -1 with the error set otherwise. */
static int meta_choice(const mli_model *m, const char *key, const char *const *names, int dflt) {
    const char *v = mli_model_meta(m, key);
    if (!v) {
        if (dflt < 0)
            mli__fail(MLI_ERR_CORRUPT, "%s: metadata key '%s' is missing", m->c.origin, key);
        return dflt;
    }
    for (int i = 0; names[i]; ++i)
        if (strcmp(v, names[i]) == 0)
            return i;
    char list[128] = "";
    for (int i = 0; names[i]; ++i) {
        strncat(list, i ? ", " : "", sizeof list - strlen(list) - 1);
        strncat(list, names[i], sizeof list - strlen(list) - 1);
    }
    mli__fail(MLI_ERR_UNSUPPORTED, "%s: metadata key '%s': '%.40s' is not one of %s", m->c.origin, key, v, list);
    return -1;
}

static mli_status meta_flag(const mli_model *m, const char *key, int dflt, int *out) {
    static const char *const bits[] = {"0", "1", NULL};
    int v = meta_choice(m, key, bits, dflt);
    if (v < 0)
        return mli__fail(MLI_ERR_CORRUPT, "%s: metadata key '%s' must be 0 or 1", m->c.origin, key);
    *out = v;
    return MLI_OK;
}

static mli_status meta_real(const mli_model *m, const char *key, double dflt, double *out) {
    const char *v = mli_model_meta(m, key);
    *out = dflt;
    if (!v)
        return MLI_OK;
    char *end;
    errno = 0;
    double x = mli__strtod_c(v, &end);
    if (end == v || *end || !isfinite(x))
        return mli__fail(MLI_ERR_CORRUPT, "%s: metadata key '%s': '%.40s' is not a finite number", m->c.origin, key, v);
    *out = x;
    return MLI_OK;
}

mli_status mli__image_stage_build(mli_model *m, int i) {
    static const char *const colors[] = {"gray", "rgb", "bgr", NULL};
    static const char *const fits[] = {"stretch", "shorter", "crop", NULL};
    static const char *const resizes[] = {"bilinear", "area", NULL};
    static const char *const layouts[] = {"hwc", "chw", NULL};
    mli_image_spec *s = &m->image;
    mli_image_spec_init(s);
    char key[64];
    int64_t v;
    mli_status rc;
#define KEY(name) (snprintf(key, sizeof key, "stage.%d.%s", i, name), key)
    if ((rc = mli__model_meta_int(m, KEY("width"), 1, MLI_IMAGE_MAX_SIDE, &v)) != MLI_OK)
        return rc;
    s->width = (int32_t)v;
    if ((rc = mli__model_meta_int(m, KEY("height"), 1, MLI_IMAGE_MAX_SIDE, &v)) != MLI_OK)
        return rc;
    s->height = (int32_t)v;
    if ((s->color = meta_choice(m, KEY("color"), colors, -1)) < 0 ||
        (s->fit = meta_choice(m, KEY("fit"), fits, MLI_FIT_STRETCH)) < 0 ||
        (s->resize = meta_choice(m, KEY("resize"), resizes, MLI_RESIZE_BILINEAR)) < 0 ||
        (s->layout = meta_choice(m, KEY("layout"), layouts, MLI_LAYOUT_HWC)) < 0)
        return mli_model_meta(m, key) ? MLI_ERR_UNSUPPORTED : MLI_ERR_CORRUPT;
    if (s->fit == MLI_FIT_SHORTER) {
        if ((rc = mli__model_meta_int(m, KEY("shorter"), 1, MLI_IMAGE_MAX_SIDE, &v)) != MLI_OK)
            return rc;
        s->shorter = (int32_t)v;
    }
    int invert = 0, dct = 1, warn = 0;
    if ((rc = meta_real(m, KEY("scale"), 1.0, &s->scale)) != MLI_OK ||
        (rc = meta_flag(m, KEY("invert"), 0, &invert)) != MLI_OK ||
        (rc = meta_flag(m, KEY("dct_scaling"), 1, &dct)) != MLI_OK ||
        (rc = meta_flag(m, KEY("accept_warnings"), 0, &warn)) != MLI_OK)
        return rc;
    s->flags = (invert ? MLI_IMAGE_INVERT : 0u) | (dct ? 0u : MLI_IMAGE_NO_DCT_SCALING) |
               (warn ? MLI_IMAGE_ACCEPT_WARNINGS : 0u);
    if (mli_model_meta(m, KEY("max_pixels"))) {
        if ((rc = mli__model_meta_int(m, key, 1, INT64_MAX, &v)) != MLI_OK)
            return rc;
        s->max_pixels = v;
    }
    int channels = mli__color_channels(s->color);
    const void *p;
    if ((rc = mli__model_array(m, KEY("mean"), MLI__DT_F64, channels, 1, &p)) != MLI_OK)
        return rc;
    if (p)
        memcpy(s->mean, p, sizeof(double) * (size_t)channels);
    if ((rc = mli__model_array(m, KEY("std"), MLI__DT_F64, channels, 1, &p)) != MLI_OK)
        return rc;
    if (p)
        memcpy(s->std, p, sizeof(double) * (size_t)channels);
#undef KEY
    int64_t len;
    char where[96];
    snprintf(where, sizeof where, "%s: stage %d (image)", m->c.origin, i);
    if ((rc = mli__image_spec_check(where, s, &len)) != MLI_OK)
        return MLI_ERR_CORRUPT;
    if (len != m->n_features)
        return mli__fail(MLI_ERR_CORRUPT, "%s: stage %d (image) makes a %d x %d x %d tensor of %lld values, but the "
                         "model takes n_features = %lld", m->c.origin, i, s->height, s->width, channels,
                         (long long)len, (long long)m->n_features);
    m->has_image = 1;
    return MLI_OK;
}

int mli_model_has_image(const mli_model *m) { return m ? m->has_image : 0; }

mli_status mli_model_image_spec(const mli_model *m, mli_image_spec *out) {
    if (!m || !out)
        return mli__fail(MLI_ERR_INVALID_ARGUMENT, "mli_model_image_spec: %s is NULL", m ? "out" : "model");
    if (!m->has_image)
        return mli__fail(MLI_ERR_UNSUPPORTED, "mli_model_image_spec: this model (%s) has no image stage",
                         mli_model_meta(m, "source") ? mli_model_meta(m, "source") : "unknown source");
    *out = m->image;
    return MLI_OK;
}
