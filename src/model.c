/* model.c — builds a model from a validated container: metadata, class labels, stages
 * and head, each cross-checked (array sizes against declared widths, widths chained
 * from stage to stage) so predict can run without further checks. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "import/import.h"
#include "image/image.h"
#include "model.h"

/* ---- metadata ------------------------------------------------------------------------ */

static mli_status parse_meta(mli_model *m) {
    mli__section *s = mli__container_find(&m->c, "meta");
    if (!s)
        return mli__fail(MLI_ERR_CORRUPT, "%s: required section 'meta' is missing", m->c.origin);
    if (s->dtype != MLI__DT_STRINGS)
        return mli__fail(MLI_ERR_CORRUPT, "%s: section 'meta' has dtype %u, expected strings (5)", m->c.origin,
                         s->dtype);
    s->used = 1;
    mli__strings_iter it;
    uint32_t count, len;
    const char *str;
    mli__strings_begin(s, &it, &count);
    m->meta_buf = malloc(s->size + 2); /* each "k=v" becomes "k\0v\0": never longer than the section */
    m->meta_keys = calloc(count ? count : 1, sizeof *m->meta_keys);
    m->meta_values = calloc(count ? count : 1, sizeof *m->meta_values);
    if (!m->meta_buf || !m->meta_keys || !m->meta_values)
        return mli__fail(MLI_ERR_OUT_OF_MEMORY, "%s: out of memory reading metadata", m->c.origin);
    char *w = m->meta_buf;
    while (mli__strings_next(&it, &str, &len)) {
        const char *eq = memchr(str, '=', len);
        if (!eq || eq == str)
            return mli__fail(MLI_ERR_CORRUPT, "%s: section 'meta': entry %u is not key=value", m->c.origin, m->n_meta);
        size_t klen = (size_t)(eq - str), vlen = len - klen - 1;
        m->meta_keys[m->n_meta] = w;
        memcpy(w, str, klen);
        w += klen;
        *w++ = 0;
        m->meta_values[m->n_meta] = w;
        memcpy(w, eq + 1, vlen);
        w += vlen;
        *w++ = 0;
        m->n_meta++;
    }
    return MLI_OK;
}

/* The reader the stage builders get: this model's sections and metadata. */
static mli__reader reader_of(mli_model *m) {
    return (mli__reader){.c = &m->c,
                         .keys = (const char *const *)m->meta_keys,
                         .values = (const char *const *)m->meta_values,
                         .n_meta = m->n_meta};
}

const char *mli_model_meta(const mli_model *m, const char *key) {
    if (!m || !key)
        return NULL;
    mli__reader r = {
        .keys = (const char *const *)m->meta_keys, .values = (const char *const *)m->meta_values, .n_meta = m->n_meta};
    return mli__meta(&r, key);
}

/* Index of `v` in the NULL-terminated list `names`, or -1. */
static int lookup(const char *v, const char *const *names) {
    for (int i = 0; names[i]; ++i)
        if (strcmp(v, names[i]) == 0)
            return i;
    return -1;
}

/* ---- stages -------------------------------------------------------------------------- */

static mli_status build_affine(const mli__reader *r, int i, mli__stage *st) {
    char key[64];
    const void *p;
    mli_status rc;
    st->n_out = st->n_in;
    const char *names[4] = {"sub", "div", "mul", "add"};
    const double **dst[4] = {&st->sub, &st->div, &st->mul, &st->add};
    for (int a = 0; a < 4; ++a) {
        snprintf(key, sizeof key, "stage.%d.%s", i, names[a]);
        if ((rc = mli__section_array(r, key, MLI__DT_F64, st->n_in, 1, &p)) != MLI_OK)
            return rc;
        *dst[a] = p;
    }
    snprintf(key, sizeof key, "stage.%d.f32_params", i);
    const char *f32p = mli__meta(r, key);
    st->f32_params = f32p && strcmp(f32p, "1") == 0;
    snprintf(key, sizeof key, "stage.%d.clip", i);
    const char *clip = mli__meta(r, key);
    st->clip = clip && strcmp(clip, "1") == 0;
    if (st->clip) {
        snprintf(key, sizeof key, "stage.%d.clip_lo", i);
        if ((rc = mli__meta_double(r, key, &st->clip_lo)) != MLI_OK)
            return rc;
        snprintf(key, sizeof key, "stage.%d.clip_hi", i);
        if ((rc = mli__meta_double(r, key, &st->clip_hi)) != MLI_OK)
            return rc;
    }
    return MLI_OK;
}

static mli_status build_linear(const mli__reader *r, int i, mli__stage *st) {
    char key[64];
    const void *p;
    int64_t n_in, n_out, cells;
    mli_status rc;
    snprintf(key, sizeof key, "stage.%d.n_in", i);
    if ((rc = mli__meta_int(r, key, 1, MLI__MAX_WIDTH, &n_in)) != MLI_OK)
        return rc;
    snprintf(key, sizeof key, "stage.%d.n_out", i);
    if ((rc = mli__meta_int(r, key, 1, MLI__MAX_WIDTH, &n_out)) != MLI_OK)
        return rc;
    if (n_in != st->n_in)
        return mli__fail(MLI_ERR_CORRUPT, "%s: stage %d (linear) takes %lld inputs but receives %lld", r->c->origin, i,
                         (long long)n_in, (long long)st->n_in);
    if (!mli__mul_ok(n_in, n_out, &cells))
        return mli__fail(MLI_ERR_CORRUPT, "%s: stage %d: coef size overflows", r->c->origin, i);
    st->n_out = n_out;
    snprintf(key, sizeof key, "stage.%d.coef", i);
    if ((rc = mli__section_array(r, key, MLI__DT_F32, cells, 0, &p)) != MLI_OK)
        return rc;
    st->coef = p;
    snprintf(key, sizeof key, "stage.%d.intercept", i);
    if ((rc = mli__section_array(r, key, MLI__DT_F32, n_out, 0, &p)) != MLI_OK)
        return rc;
    st->intercept = p;
    return MLI_OK;
}

static const char *const mli__act_names[] = {"identity", "relu", "logistic", "tanh", NULL};
static const int mli__act_codes[] = {MLI__ACT_IDENTITY, MLI__ACT_RELU, MLI__ACT_SIGMOID, MLI__ACT_TANH};

static mli_status build_mlp(const mli__reader *r, int i, mli__stage *st) {
    char key[64];
    const void *p;
    int64_t layers;
    const char *act;
    mli_status rc;
    snprintf(key, sizeof key, "stage.%d.n_layers", i);
    if ((rc = mli__meta_int(r, key, 1, MLI__MAX_LAYERS, &layers)) != MLI_OK)
        return rc;
    st->n_layers = (int)layers;
    snprintf(key, sizeof key, "stage.%d.activation", i);
    if ((rc = mli__meta_str(r, key, &act)) != MLI_OK)
        return rc;
    int a = lookup(act, mli__act_names);
    if (a < 0)
        return mli__fail(MLI_ERR_UNSUPPORTED, "%s: stage %d: unknown hidden activation '%.40s'", r->c->origin, i, act);
    st->act = mli__act_codes[a];
    st->dims[0] = st->n_in;
    for (int l = 0; l < st->n_layers; ++l) {
        int64_t in, out, cells;
        snprintf(key, sizeof key, "stage.%d.in.%d", i, l);
        if ((rc = mli__meta_int(r, key, 1, MLI__MAX_WIDTH, &in)) != MLI_OK)
            return rc;
        snprintf(key, sizeof key, "stage.%d.out.%d", i, l);
        if ((rc = mli__meta_int(r, key, 1, MLI__MAX_WIDTH, &out)) != MLI_OK)
            return rc;
        if (in != st->dims[l])
            return mli__fail(MLI_ERR_CORRUPT, "%s: stage %d layer %d takes %lld inputs but receives %lld", r->c->origin,
                             i, l, (long long)in, (long long)st->dims[l]);
        if (!mli__mul_ok(in, out, &cells))
            return mli__fail(MLI_ERR_CORRUPT, "%s: stage %d layer %d: weight size overflows", r->c->origin, i, l);
        snprintf(key, sizeof key, "stage.%d.W.%d", i, l);
        if ((rc = mli__section_array(r, key, MLI__DT_F32, cells, 0, &p)) != MLI_OK)
            return rc;
        st->W[l] = p;
        snprintf(key, sizeof key, "stage.%d.b.%d", i, l);
        if ((rc = mli__section_array(r, key, MLI__DT_F32, out, 0, &p)) != MLI_OK)
            return rc;
        st->b[l] = p;
        st->dims[l + 1] = out;
    }
    st->n_out = st->dims[st->n_layers];
    return MLI_OK;
}

static mli_status build_stages(mli_model *m, const mli__reader *r) {
    int64_t n;
    mli_status rc = mli__meta_int(r, "stages", 1, MLI__MAX_STAGES, &n);
    if (rc != MLI_OK)
        return rc;
    /* An image stage (src/image/stage.c) turns JPEG bytes into the n_features input; it is
     * kept apart from the stages predict runs on rows, which follow it. */
    int first = 0;
    const char *kind0 = mli__meta(r, "stage.0.kind");
    if (kind0 && strcmp(kind0, "image") == 0) {
        if ((rc = mli__image_stage_build(r, 0, m->n_features, &m->image)) != MLI_OK)
            return rc;
        m->has_image = 1;
        if (n == 1)
            return mli__fail(MLI_ERR_CORRUPT, "%s: the image stage must be followed by a model stage", m->c.origin);
        first = 1;
    }
    if (kind0 && strcmp(kind0, "prep") == 0) {
        m->prep = calloc(1, sizeof *m->prep);
        if (!m->prep)
            return mli__fail(MLI_ERR_OUT_OF_MEMORY, "%s: out of memory", m->c.origin);
        if ((rc = mli__prep_build(r, 0, m->n_features, m->prep)) != MLI_OK)
            return rc;
        if (n == 1)
            return mli__fail(MLI_ERR_CORRUPT, "%s: the prep stage must be followed by a model stage", m->c.origin);
        first = 1;
    }
    m->n_stages = (int)n - first;
    int64_t width = m->prep ? m->prep->n_out : m->n_features;
    m->n_in_model = width;
    m->width_max = width;
    static const char *const kinds[] = {"affine", "linear", "mlp", "trees", "image", "prep", NULL};
    for (int i = first; i < (int)n; ++i) {
        char key[64];
        const char *kind;
        snprintf(key, sizeof key, "stage.%d.kind", i);
        if ((rc = mli__meta_str(r, key, &kind)) != MLI_OK)
            return rc;
        mli__stage *st = &m->stages[i - first];
        st->n_in = width;
        switch (lookup(kind, kinds)) {
        case 0:
            st->kind = MLI__STAGE_AFFINE;
            rc = build_affine(r, i, st);
            break;
        case 1:
            st->kind = MLI__STAGE_LINEAR;
            rc = build_linear(r, i, st);
            break;
        case 2:
            st->kind = MLI__STAGE_MLP;
            rc = build_mlp(r, i, st);
            break;
        case 3:
            st->kind = MLI__STAGE_TREES;
            /* format 1.3: affine stages (scalers) may precede the trees; nothing else may */
            if (i - first != m->n_stages - 1 || i - first != m->n_affine)
                return mli__fail(MLI_ERR_UNSUPPORTED,
                                 "%s: stage %d: a trees stage must be the model's last stage, after affine stages "
                                 "only%s",
                                 m->c.origin, i, first ? " (and the image stage)" : "");
            m->trees = calloc(1, sizeof *m->trees);
            if (!m->trees)
                return mli__fail(MLI_ERR_OUT_OF_MEMORY, "%s: out of memory", m->c.origin);
            rc = mli__trees_build(r, i, width, m->trees);
            st->n_out = m->trees->n_out;
            break;
        case 4:
        case 5:
            return mli__fail(MLI_ERR_CORRUPT, "%s: stage %d: an %s stage must be the first stage", m->c.origin, i,
                             kind);
        default:
            return mli__fail(MLI_ERR_UNSUPPORTED, "%s: stage %d has kind '%.40s', which this libmlinfer does not know",
                             m->c.origin, i, kind);
        }
        if (rc != MLI_OK)
            return rc;
        if (st->kind == MLI__STAGE_AFFINE && i > first && m->stages[i - first - 1].kind != MLI__STAGE_AFFINE)
            return mli__fail(MLI_ERR_UNSUPPORTED, "%s: stage %d: an affine stage after a model stage is not supported",
                             m->c.origin, i);
        if (st->kind == MLI__STAGE_AFFINE)
            m->n_affine = i - first + 1;
        width = st->n_out;
        for (int l = 0; l <= st->n_layers; ++l)
            if (st->kind == MLI__STAGE_MLP && st->dims[l] > m->width_max)
                m->width_max = st->dims[l];
        if (width > m->width_max)
            m->width_max = width;
    }
    for (int s = 0; s < m->n_stages; ++s)
        if (m->stages[s].kind != MLI__STAGE_AFFINE) {
            m->finite_only = m->stages[s].kind != MLI__STAGE_TREES;
            break;
        }
    if (m->prep && m->trees) /* with a prep stage, its own ops check what reaches the model */
        m->trees->input_check = MLI__CHECK_NONE;
    if (!m->prep)
        m->input_check = m->finite_only ? MLI__CHECK_FINITE : m->trees ? m->trees->input_check : MLI__CHECK_NONE;
    if (m->prep) /* float32 rounding that a linear stage's 1e-5 covers can move a row across a split */
        m->prep->f32_refused = m->trees != NULL;
    if (m->prep && m->n_stages == 1 && m->stages[0].kind == MLI__STAGE_LINEAR &&
        mli__prep_linear_build(m->prep, m->stages[0].coef, m->stages[0].intercept, m->stages[0].n_out) != MLI_OK)
        return mli__fail(MLI_ERR_OUT_OF_MEMORY, "%s: out of memory", m->c.origin);
    for (int64_t o = 0; m->prep && m->trees && o < m->prep->n_ops; ++o) /* so can any last-bit difference */
        if (mli__prep_op_inexact(&m->prep->ops[o]))
            return mli__fail(MLI_ERR_UNSUPPORTED,
                             "%s: prep op %lld computes values that may differ from scikit-learn's in the last bit "
                             "(a SplineTransformer, a normal QuantileTransformer, an l2 Normalizer), which must not "
                             "feed a tree stage",
                             m->c.origin, (long long)o);
    if (m->stages[m->n_stages - 1].kind == MLI__STAGE_AFFINE)
        return mli__fail(MLI_ERR_CORRUPT, "%s: the last stage is preprocessing; a model stage must end the pipeline",
                         m->c.origin);
    return MLI_OK;
}

/* ---- head and labels ----------------------------------------------------------------- */

/* Head `ovr_proba`: how each one-vs-rest estimator's score becomes its probability. */
static mli_status build_ovr_link(mli_model *m, const mli__reader *r) {
    static const char *const links[] = {"proba", "sigmoid", "sigmoid_f32", NULL};
    const char *l;
    mli_status rc = mli__meta_str(r, "ovr_link", &l);
    if (rc != MLI_OK)
        return rc;
    m->ovr_link = lookup(l, links);
    if (m->ovr_link < 0)
        return mli__fail(MLI_ERR_UNSUPPORTED, "%s: ovr_link '%.40s' is not known to this libmlinfer", m->c.origin, l);
    m->ovr_trees = 1.0;
    if (m->ovr_link == 0) {
        if ((rc = mli__meta_double(r, "ovr_trees", &m->ovr_trees)) != MLI_OK)
            return rc;
        if (!(m->ovr_trees >= 1.0 && m->ovr_trees <= 2147483647.0) || m->ovr_trees != floor(m->ovr_trees))
            return mli__fail(MLI_ERR_CORRUPT, "%s: head 'ovr_proba' needs ovr_trees, a whole number >= 1", m->c.origin);
    }
    return MLI_OK;
}

static mli_status build_head(mli_model *m, const mli__reader *r) {
    static const char *const heads[] = {"identity",
                                        "binary_logistic",
                                        "binary_sign",
                                        "binary_modified_huber",
                                        "multinomial",
                                        "ovr_logistic",
                                        "ovr_modified_huber",
                                        "argmax",
                                        "logistic",
                                        "exp",
                                        "proba",
                                        "isolation",
                                        "ovr_sigmoid",
                                        "ovr_proba",
                                        "softplus",
                                        "signed_square",
                                        NULL};
    const char *h;
    mli_status rc = mli__meta_str(r, "head", &h);
    if (rc != MLI_OK)
        return rc;
    int idx = lookup(h, heads);
    if (idx < 0)
        return mli__fail(MLI_ERR_UNSUPPORTED, "%s: head '%.40s' is not known to this libmlinfer", m->c.origin, h);
    m->head = (mli__head)idx;
    int64_t width = m->stages[m->n_stages - 1].n_out;
    m->n_raw = width;
    int binary = m->head == MLI__HEAD_BINARY_LOGISTIC || m->head == MLI__HEAD_BINARY_SIGN ||
                 m->head == MLI__HEAD_BINARY_MHUBER || m->head == MLI__HEAD_ISOLATION ||
                 (m->head == MLI__HEAD_OVR_PROBA && m->n_classes == 2);
    if (m->head == MLI__HEAD_IDENTITY || m->head == MLI__HEAD_LOGISTIC || m->head == MLI__HEAD_EXP ||
        m->head == MLI__HEAD_SOFTPLUS || m->head == MLI__HEAD_SIGNED_SQUARE) {
        if (m->task != MLI_TASK_REGRESSION || width != m->n_outputs)
            return mli__fail(MLI_ERR_CORRUPT,
                             "%s: head '%s' needs a regressor whose last stage gives n_outputs "
                             "(%lld) values, not %lld",
                             m->c.origin, h, (long long)m->n_outputs, (long long)width);
        return MLI_OK;
    }
    if (m->task != MLI_TASK_CLASSIFICATION)
        return mli__fail(MLI_ERR_CORRUPT, "%s: head '%s' needs task=classification", m->c.origin, h);
    if (binary ? (width != 1 || m->n_classes != 2) : width != m->n_classes)
        return mli__fail(MLI_ERR_CORRUPT, "%s: head '%s' with %lld classes cannot take %lld scores", m->c.origin, h,
                         (long long)m->n_classes, (long long)width);
    const char *zp = mli__meta(r, "binary_zero_positive");
    m->zero_positive = zp && strcmp(zp, "1") == 0;
    m->has_proba = m->head != MLI__HEAD_BINARY_SIGN && m->head != MLI__HEAD_ARGMAX && m->head != MLI__HEAD_ISOLATION;
    const char *dec = mli__meta(r, "has_decision");
    m->n_decision =
        (dec && strcmp(dec, "0") == 0) || m->head == MLI__HEAD_PROBA || m->head == MLI__HEAD_OVR_PROBA ? 0 : width;
    if (m->head == MLI__HEAD_OVR_PROBA && (rc = build_ovr_link(m, r)) != MLI_OK)
        return rc;
    if (m->head == MLI__HEAD_ISOLATION) {
        if ((rc = mli__meta_double(r, "iso_norm", &m->iso_norm)) != MLI_OK ||
            (rc = mli__meta_double(r, "iso_offset", &m->iso_offset)) != MLI_OK)
            return rc;
        if (!(m->iso_norm > 0.0) || !isfinite(m->iso_norm) || !isfinite(m->iso_offset))
            return mli__fail(MLI_ERR_CORRUPT,
                             "%s: head 'isolation' needs a positive finite iso_norm and a finite "
                             "iso_offset",
                             m->c.origin);
    }
    return MLI_OK;
}

static mli_status build_labels(mli_model *m, const mli__reader *r) {
    const char *kind;
    mli_status rc = mli__meta_str(r, "class_labels", &kind);
    if (rc != MLI_OK)
        return rc;
    mli__section *s = mli__container_find(&m->c, "classes");
    if (strcmp(kind, "int") == 0) {
        const void *p;
        if ((rc = mli__section_array(r, "classes", MLI__DT_I64, m->n_classes, 0, &p)) != MLI_OK)
            return rc;
        m->labels_int = p;
        return MLI_OK;
    }
    if (strcmp(kind, "str") != 0)
        return mli__fail(MLI_ERR_CORRUPT, "%s: class_labels is '%.40s', not int or str", m->c.origin, kind);
    if (!s || s->dtype != MLI__DT_STRINGS)
        return mli__fail(MLI_ERR_CORRUPT, "%s: string class labels need a 'classes' section of dtype strings",
                         m->c.origin);
    s->used = 1;
    mli__strings_iter it;
    uint32_t count, len;
    const char *str;
    mli__strings_begin(s, &it, &count);
    if (count != (uint64_t)m->n_classes)
        return mli__fail(MLI_ERR_CORRUPT, "%s: section 'classes' holds %u labels for %lld classes", m->c.origin, count,
                         (long long)m->n_classes);
    m->labels_str = 1;
    m->labels_text = calloc((size_t)count, sizeof *m->labels_text);
    if (!m->labels_text)
        return mli__fail(MLI_ERR_OUT_OF_MEMORY, "%s: out of memory for class labels", m->c.origin);
    for (uint32_t i = 0; mli__strings_next(&it, &str, &len); ++i) {
        m->labels_text[i] = malloc(len + 1);
        if (!m->labels_text[i])
            return mli__fail(MLI_ERR_OUT_OF_MEMORY, "%s: out of memory for class labels", m->c.origin);
        memcpy(m->labels_text[i], str, len);
        m->labels_text[i][len] = 0;
    }
    return MLI_OK;
}

/* n names of `total` bytes (without terminators) into one allocation: the pointer array,
 * then the NUL-terminated text, filled by the caller through *text. */
static mli_status alloc_names(mli_model *m, int64_t n, size_t total, char **text) {
    size_t bytes = sizeof(char *) * (size_t)n + total + (size_t)n;
    m->feature_names = malloc(bytes);
    if (!m->feature_names)
        return mli__fail(MLI_ERR_OUT_OF_MEMORY, "%s: out of memory for %lld feature names (%zu bytes)", m->c.origin,
                         (long long)n, bytes);
    *text = (char *)(m->feature_names + n);
    return MLI_OK;
}

/* Feature names, from the `feature_names` section (n_features strings) or else the
 * metadata key of the same name (joined by \x1f). Either must name every feature. */
static mli_status build_feature_names(mli_model *m, const mli__reader *r) {
    const char *joined = mli__meta(r, "feature_names");
    int64_t n = m->n_features;
    char *text = NULL;
    mli__strings_iter it, first;
    int found;
    mli_status rc = mli__strings_section(&m->c, "feature_names", n, "features", &it, &found);
    if (rc != MLI_OK)
        return rc;
    if (found) {
        uint32_t len;
        const char *str;
        size_t total = 0;
        first = it;
        while (mli__strings_next(&it, &str, &len)) /* the container has rejected NUL bytes */
            total += len;
        if ((rc = alloc_names(m, n, total, &text)) != MLI_OK)
            return rc;
        it = first;
        for (uint32_t i = 0; mli__strings_next(&it, &str, &len); ++i) {
            m->feature_names[i] = text;
            memcpy(text, str, len);
            text[len] = 0;
            text += len + 1;
        }
        return MLI_OK;
    }
    if (!joined)
        return MLI_OK;
    int64_t count = 1;
    for (const char *p = joined; *p; ++p)
        count += *p == 0x1f;
    if (count != n)
        return mli__fail(MLI_ERR_CORRUPT, "%s: metadata key 'feature_names' holds %lld names for %lld features",
                         m->c.origin, (long long)count, (long long)n);
    size_t total = strlen(joined);
    if ((rc = alloc_names(m, n, total, &text)) != MLI_OK)
        return rc;
    memcpy(text, joined, total + 1);
    m->feature_names[0] = text;
    for (int64_t i = 1; *text; ++text)
        if (*text == 0x1f) {
            *text = 0;
            m->feature_names[i++] = text + 1;
        }
    return MLI_OK;
}

static mli_status build(mli_model *m) {
    mli_status rc = parse_meta(m);
    if (rc != MLI_OK)
        return rc;
    const mli__reader reader = reader_of(m), *r = &reader;
    const char *task;
    if ((rc = mli__meta_str(r, "task", &task)) != MLI_OK)
        return rc;
    if (strcmp(task, "regression") == 0)
        m->task = MLI_TASK_REGRESSION;
    else if (strcmp(task, "classification") == 0)
        m->task = MLI_TASK_CLASSIFICATION;
    else
        return mli__fail(MLI_ERR_UNSUPPORTED, "%s: task '%.40s' is not regression or classification", m->c.origin,
                         task);
    if ((rc = mli__meta_int(r, "n_features", 1, MLI__MAX_WIDTH, &m->n_features)) != MLI_OK)
        return rc;
    if (m->task == MLI_TASK_REGRESSION) {
        if ((rc = mli__meta_int(r, "n_outputs", 1, MLI__MAX_WIDTH, &m->n_outputs)) != MLI_OK)
            return rc;
    } else {
        m->n_outputs = 1;
        if ((rc = mli__meta_int(r, "n_classes", 2, MLI__MAX_WIDTH, &m->n_classes)) != MLI_OK ||
            (rc = build_labels(m, r)) != MLI_OK)
            return rc;
    }
    if ((rc = build_stages(m, r)) != MLI_OK || (rc = build_head(m, r)) != MLI_OK)
        return rc;
    if ((rc = build_feature_names(m, r)) != MLI_OK)
        return rc;
    if ((rc = mli__contrib_build(m, r)) != MLI_OK)
        return rc;
    for (uint32_t i = 0; i < m->c.n_sections; ++i)
        if ((m->c.sections[i].flags & MLI__SEC_REQUIRED) && !m->c.sections[i].used)
            return mli__fail(MLI_ERR_UNSUPPORTED,
                             "%s: section '%s' is marked required but this libmlinfer does not "
                             "know it",
                             m->c.origin, m->c.sections[i].name);
    return MLI_OK;
}

/* ---- public -------------------------------------------------------------------------- */

void mli_model_free(mli_model *m) {
    if (!m)
        return;
    if (m->labels_text)
        for (int64_t i = 0; i < m->n_classes; ++i)
            free(m->labels_text[i]);
    free(m->labels_text);
    free(m->feature_names);
    free(m->meta_buf);
    free(m->meta_keys);
    free(m->meta_values);
    mli__trees_free(m->trees);
    free(m->trees);
    mli__contrib_free(m);
    mli__prep_free(m->prep);
    free(m->prep);
    mli__container_close(&m->c);
    free(m);
}

static mli_status finish_load(mli_model *m, mli_status rc, mli_model **out) {
    if (rc == MLI_OK) {
        rc = build(m);
        /* a file of a newer minor version that fails here most likely uses what came after
         * this library (an op kind, a flag, a head): the header's version says so */
        if (rc != MLI_OK && m->c.major == MLI__FORMAT_MAJOR && m->c.minor > MLI__FORMAT_MINOR)
            mli__fail_note(" (the file is format %u.%u, newer than the %d.%d this libmlinfer reads: upgrade it)",
                           (unsigned)m->c.major, (unsigned)m->c.minor, MLI__FORMAT_MAJOR, MLI__FORMAT_MINOR);
    }
    if (rc != MLI_OK) {
        mli_model_free(m);
        return rc;
    }
    *out = m;
    return MLI_OK;
}

/* Opens `buf` (owned, 64-byte aligned) as a container: an .mli file as it is, another
 * framework's model file through its importer. */
static mli_status open_bytes(void *buf, size_t size, const char *origin, mli__container *c) {
    mli__source src = mli__sniff(buf, size);
    if (src == MLI__SRC_MLI || src == MLI__SRC_UNKNOWN) {
        if (src == MLI__SRC_UNKNOWN && size >= 8) {
            free(buf);
            memset(c, 0, sizeof *c);
            return mli__fail(
                MLI_ERR_CORRUPT,
                "%s: not an .mli model file, nor another model format libmlinfer reads (bad magic at offset 0; "
                "expected an .mli file, an XGBoost JSON/UBJSON model, a LightGBM text model or a CatBoost JSON model)",
                origin);
        }
        return mli__container_adopt(buf, size, origin, c);
    }
    memset(c, 0, sizeof *c);
    mli__writer *w = mli__writer_new();
    mli_status rc = w ? MLI_OK : MLI_ERR_OUT_OF_MEMORY;
    if (rc == MLI_OK)
        rc = src == MLI__SRC_LIGHTGBM        ? mli__import_lightgbm(origin, buf, size, w)
             : src == MLI__SRC_CATBOOST_JSON ? mli__import_catboost(origin, buf, size, w)
                                             : mli__import_xgboost(origin, buf, size, src == MLI__SRC_XGBOOST_UBJ, w);
    free(buf);
    uint8_t *file = NULL;
    size_t n = 0;
    if (rc == MLI_OK)
        rc = mli__writer_finish(w, &file, &n);
    mli__writer_free(w);
    return rc != MLI_OK ? rc : mli__container_adopt(file, n, origin, c);
}

mli_status mli_model_load(const char *path, mli_model **out) {
    if (!out)
        return mli__fail(MLI_ERR_INVALID_ARGUMENT, "mli_model_load: out is NULL");
    *out = NULL;
    if (!path)
        return mli__fail(MLI_ERR_INVALID_ARGUMENT, "mli_model_load: path is NULL");
    mli_model *m = calloc(1, sizeof *m);
    if (!m)
        return mli__fail(MLI_ERR_OUT_OF_MEMORY, "mli_model_load: out of memory");
    void *buf;
    size_t size;
    mli_status rc = mli__read_file(path, &buf, &size);
    if (rc == MLI_OK)
        rc = open_bytes(buf, size, path, &m->c);
    return finish_load(m, rc, out);
}

mli_status mli_model_load_memory(const void *data, size_t size, mli_model **out) {
    if (!out)
        return mli__fail(MLI_ERR_INVALID_ARGUMENT, "mli_model_load_memory: out is NULL");
    *out = NULL;
    if (!data && size > 0)
        return mli__fail(MLI_ERR_INVALID_ARGUMENT, "mli_model_load_memory: data is NULL but size is %zu", size);
    mli_model *m = calloc(1, sizeof *m);
    if (!m)
        return mli__fail(MLI_ERR_OUT_OF_MEMORY, "mli_model_load_memory: out of memory");
    void *buf;
    mli_status rc = mli__copy_aligned(data, size, &buf);
    if (rc == MLI_OK)
        rc = open_bytes(buf, size, "<memory>", &m->c);
    return finish_load(m, rc, out);
}

/* Creates a new file beside `path` (tmp receives its name). Not mkstemp: that makes the file
 * 0600, and a model must be readable as the umask allows (0644 usually), so that a server
 * running under another UID can load a mounted file. A unique name opened O_EXCL with 0666. */
static int create_beside(const char *path, char *tmp, size_t len) {
    for (int attempt = 0; attempt < 100; attempt++) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        snprintf(tmp, len, "%s.tmp.%ld.%09ld.%d", path, (long)getpid(), (long)ts.tv_nsec, attempt);
        int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
        if (fd >= 0 || errno != EEXIST)
            return fd;
    }
    return -1;
}

mli_status mli_model_save(const mli_model *m, const char *path) {
    if (!m || !path)
        return mli__fail(MLI_ERR_INVALID_ARGUMENT, "mli_model_save: %s is NULL", m ? "path" : "model");
    size_t len = strlen(path) + 64;
    char *tmp = malloc(len);
    if (!tmp)
        return mli__fail(MLI_ERR_OUT_OF_MEMORY, "mli_model_save: out of memory");
    int fd = create_beside(path, tmp, len);
    if (fd < 0) {
        mli_status rc =
            mli__fail(MLI_ERR_IO, "%s: cannot create a temporary file beside it: %s", path, strerror(errno));
        free(tmp);
        return rc;
    }
    const uint8_t *p = m->c.bytes;
    size_t left = m->c.size;
    int err = 0;
    while (left > 0 && !err) {
        ssize_t n = write(fd, p, left);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            err = n < 0 ? errno : EIO;
        else {
            p += n;
            left -= (size_t)n;
        }
    }
    if (!err && fsync(fd) != 0)
        err = errno;
    if (close(fd) != 0 && !err)
        err = errno;
    if (!err && rename(tmp, path) != 0)
        err = errno;
    if (err)
        unlink(tmp);
    free(tmp);
    if (err)
        return mli__fail(MLI_ERR_IO, "%s: cannot write the model: %s", path, strerror(err));
    return MLI_OK;
}

mli_task mli_model_task(const mli_model *m) { return m ? m->task : MLI_TASK_REGRESSION; }
int64_t mli_model_n_features(const mli_model *m) { return m ? m->n_features : 0; }
int64_t mli_model_n_outputs(const mli_model *m) { return m ? m->n_outputs : 0; }
int64_t mli_model_n_classes(const mli_model *m) { return m ? m->n_classes : 0; }
int64_t mli_model_n_decision(const mli_model *m) { return m ? m->n_decision : 0; }
int mli_model_has_proba(const mli_model *m) { return m ? m->has_proba : 0; }
int mli_model_labels_are_strings(const mli_model *m) { return m ? m->labels_str : 0; }
int64_t mli_model_n_raw(const mli_model *m) { return m ? m->n_raw : 0; }
int64_t mli_model_n_trees(const mli_model *m) { return m && m->trees ? m->trees->n_trees : 0; }

static mli_status check_class(const mli_model *m, int64_t i, const void *out, const char *fn) {
    if (!m || !out)
        return mli__fail(MLI_ERR_INVALID_ARGUMENT, "%s: %s is NULL", fn, m ? "out" : "model");
    if (m->task != MLI_TASK_CLASSIFICATION)
        return mli__fail(MLI_ERR_UNSUPPORTED, "%s: the model is a regressor and has no classes", fn);
    if (i < 0 || i >= m->n_classes)
        return mli__fail(MLI_ERR_INVALID_ARGUMENT, "%s: class index %lld is outside 0..%lld", fn, (long long)i,
                         (long long)m->n_classes - 1);
    return MLI_OK;
}

mli_status mli_model_class_label_int(const mli_model *m, int64_t i, int64_t *out) {
    mli_status rc = check_class(m, i, out, "mli_model_class_label_int");
    if (rc != MLI_OK)
        return rc;
    if (m->labels_str)
        return mli__fail(MLI_ERR_UNSUPPORTED, "mli_model_class_label_int: the labels are strings");
    *out = m->labels_int[i];
    return MLI_OK;
}

mli_status mli_model_feature_name(const mli_model *m, int64_t i, const char **out) {
    if (!m || !out)
        return mli__fail(MLI_ERR_INVALID_ARGUMENT, "mli_model_feature_name: %s is NULL", m ? "out" : "model");
    if (!m->feature_names)
        return mli__fail(MLI_ERR_UNSUPPORTED, "mli_model_feature_name: %s records no feature names", m->c.origin);
    if (i < 0 || i >= m->n_features)
        return mli__fail(MLI_ERR_INVALID_ARGUMENT, "mli_model_feature_name: feature index %lld is outside 0..%lld",
                         (long long)i, (long long)m->n_features - 1);
    *out = m->feature_names[i];
    return MLI_OK;
}

mli_status mli_model_class_label_str(const mli_model *m, int64_t i, const char **out) {
    mli_status rc = check_class(m, i, out, "mli_model_class_label_str");
    if (rc != MLI_OK)
        return rc;
    if (!m->labels_str)
        return mli__fail(MLI_ERR_UNSUPPORTED, "mli_model_class_label_str: the labels are integers");
    *out = m->labels_text[i];
    return MLI_OK;
}

mli_status mli_model_column_kind(const mli_model *m, int64_t i, mli_column_kind *out) {
    if (!m || !out)
        return mli__fail(MLI_ERR_INVALID_ARGUMENT, "mli_model_column_kind: %s is NULL", m ? "out" : "model");
    if (i < 0 || i >= m->n_features)
        return mli__fail(MLI_ERR_INVALID_ARGUMENT, "mli_model_column_kind: column %lld is outside 0..%lld",
                         (long long)i, (long long)m->n_features - 1);
    *out = m->prep ? (mli_column_kind)m->prep->col_kind[i] : MLI_COLUMN_NUMBER;
    return MLI_OK;
}

mli_status mli_model_column_index(const mli_model *m, const char *name, int64_t *out) {
    if (!m || !name || !out)
        return mli__fail(MLI_ERR_INVALID_ARGUMENT, "mli_model_column_index: %s is NULL",
                         !m      ? "model"
                         : !name ? "name"
                                 : "out");
    for (int64_t i = 0; m->feature_names && i < m->n_features; ++i)
        if (strcmp(m->feature_names[i], name) == 0) {
            *out = i;
            return MLI_OK;
        }
    return mli__fail(MLI_ERR_INVALID_ARGUMENT, "mli_model_column_index: the model has no column '%.80s'%s", name,
                     m->feature_names ? "" : " (it records no column names)");
}
