/* resample.c — the geometry of a spec (stretch, shorter side + centre crop, aspect crop),
 * separable resampling weights (antialiased triangle for bilinear, covered fraction for
 * area) and the row loop: a vertical pass blends the source rows of one output row into a
 * float row, a horizontal pass applies the column taps and the normalisation, writing HWC
 * or CHW. Both passes run on the kernel table; weights are computed in float64. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "image/image.h"

/* Python's round(d / 2) for d >= 0 (halves to even), as torchvision's center_crop. */
static int64_t half_even(int64_t d) {
    int64_t k = d / 2;
    return (d % 2 == 0 || k % 2 == 0) ? k : k + 1;
}

void mli__image_geometry(const mli_image_spec *spec, int32_t sw, int32_t sh, mli__image_geom *g) {
    const int64_t W = spec->width, H = spec->height;
    g->x0 = 0.0;
    g->y0 = 0.0;
    g->x1 = sw;
    g->y1 = sh;
    g->vw = W;
    g->vh = H;
    g->ox = g->oy = 0;
    if (spec->fit == MLI_FIT_SHORTER) {
        int64_t s = spec->shorter;
        if (sw <= sh) {
            g->vw = s;
            g->vh = s * sh / sw;
        } else {
            g->vh = s;
            g->vw = s * sw / sh;
        }
        g->ox = half_even(g->vw - W);
        g->oy = half_even(g->vh - H);
    } else if (spec->fit == MLI_FIT_CROP) { /* the float arithmetic of Pillow's ImageOps.fit */
        double live = (double)sw / (double)sh, want = (double)W / (double)H;
        double cw = sw, ch = sh;
        if (live > want)
            cw = want * sh;
        else if (live < want)
            ch = sw / want;
        g->x0 = (sw - cw) * 0.5;
        g->y0 = (sh - ch) * 0.5;
        g->x1 = g->x0 + cw;
        g->y1 = g->y0 + ch;
    }
}

/* Taps of one axis: output j reads count[j] source samples from start[j] with weights
 * w[j * kmax ...]. */
typedef struct {
    int32_t *start, *count;
    float *w;
    int32_t kmax;  /* allocated taps per output */
    int32_t kused; /* largest count */
} taps;

static void taps_free(taps *t) {
    free(t->start);
    free(t->count);
    free(t->w);
}

static double triangle(double x) {
    x = fabs(x);
    return x < 1.0 ? 1.0 - x : 0.0;
}

/* Weights for outputs off .. off + n - 1 of a resize of [in0, in1) (inside 0..in_size) to
 * vsize samples. Returns 0 when out of memory. */
static int make_taps(int method, int32_t in_size, double in0, double in1, int64_t vsize, int64_t off, int32_t n,
                     taps *t) {
    double scale = (in1 - in0) / (double)vsize;
    double fs = scale < 1.0 ? 1.0 : scale; /* the filter widens only when shrinking */
    double support = method == MLI_RESIZE_AREA ? 0.5 * scale : fs;
    int64_t kmax = (int64_t)ceil(support) * 2 + 2;
    if (kmax > in_size + 1)
        kmax = in_size + 1;
    memset(t, 0, sizeof *t);
    t->kmax = (int32_t)kmax;
    t->start = malloc(sizeof(int32_t) * (size_t)n);
    t->count = malloc(sizeof(int32_t) * (size_t)n);
    t->w = malloc(sizeof(float) * (size_t)n * (size_t)kmax);
    double *wd = malloc(sizeof(double) * (size_t)kmax);
    if (!t->start || !t->count || !t->w || !wd) {
        free(wd);
        taps_free(t);
        return 0;
    }
    for (int32_t j = 0; j < n; ++j) {
        double v = (double)(off + j);
        int64_t lo, hi;
        double sum = 0.0;
        if (method == MLI_RESIZE_AREA) {
            double a = in0 + v * scale, b = in0 + (v + 1.0) * scale;
            lo = (int64_t)floor(a);
            hi = (int64_t)ceil(b);
            lo = lo < 0 ? 0 : lo;
            hi = hi > in_size ? in_size : hi;
            if (hi - lo > kmax)
                hi = lo + kmax;
            for (int64_t x = lo; x < hi; ++x) {
                double c = fmin((double)x + 1.0, b) - fmax((double)x, a);
                wd[x - lo] = c > 0.0 ? c : 0.0;
                sum += wd[x - lo];
            }
        } else {
            double center = in0 + (v + 0.5) * scale;
            lo = (int64_t)(center - support + 0.5);
            hi = (int64_t)(center + support + 0.5);
            lo = lo < 0 ? 0 : lo;
            hi = hi > in_size ? in_size : hi;
            if (hi - lo > kmax)
                hi = lo + kmax;
            for (int64_t x = lo; x < hi; ++x) {
                wd[x - lo] = triangle(((double)x - center + 0.5) / fs);
                sum += wd[x - lo];
            }
        }
        /* drop zero weights at both ends, so that taps stay few */
        while (hi > lo && wd[hi - 1 - lo] == 0.0)
            --hi;
        int64_t first = 0;
        while (first < hi - lo && wd[first] == 0.0)
            ++first;
        if (hi <= lo + first || !(sum > 0.0)) { /* degenerate: the nearest sample */
            int64_t x = (int64_t)floor(in0 + (v + 0.5) * scale);
            x = x < 0 ? 0 : x >= in_size ? in_size - 1 : x;
            t->start[j] = (int32_t)x;
            t->count[j] = 1;
            t->w[(int64_t)j * kmax] = 1.0f;
        } else {
            t->start[j] = (int32_t)(lo + first);
            t->count[j] = (int32_t)(hi - lo - first);
            for (int64_t k = 0; k < t->count[j]; ++k)
                t->w[(int64_t)j * kmax + k] = (float)(wd[first + k] / sum);
        }
        if (t->count[j] > t->kused)
            t->kused = t->count[j];
    }
    free(wd);
    return 1;
}

/* Per-call buffers of the row loop. */
typedef struct {
    taps h, v;
    int32_t *idx;
    float *wt, *a, *b, *row;
    const uint8_t **rows;
} plan;

static void plan_free(plan *p) {
    taps_free(&p->h);
    taps_free(&p->v);
    free(p->idx);
    free(p->wt);
    free(p->a);
    free(p->b);
    free(p->row);
    free((void *)p->rows);
}

mli_status mli__image_resample(const char *fn, const mli__kernels *kt, const mli__pixels *src,
                               const mli_image_spec *spec, float *out) {
    const int32_t W = spec->width, H = spec->height, C = mli__color_channels(spec->color);
    const int chw = spec->layout == MLI_LAYOUT_CHW;
    const int64_t n = (int64_t)W * C;
    mli__image_geom g;
    mli__image_geometry(spec, src->width, src->height, &g);
    plan p;
    memset(&p, 0, sizeof p);
    if (!make_taps(spec->resize, src->width, g.x0, g.x1, g.vw, g.ox, W, &p.h) ||
        !make_taps(spec->resize, src->height, g.y0, g.y1, g.vh, g.oy, H, &p.v)) {
        plan_free(&p);
        return mli__fail(MLI_ERR_OUT_OF_MEMORY, "%s: out of memory for resampling weights", fn);
    }
    /* the source columns the horizontal taps read, and each output's taps shifted left
     * where needed so that all kh taps (the padding ones with weight 0) stay inside */
    const int32_t kh = p.h.kused;
    int32_t xlo = p.h.start[0], xhi = 0;
    for (int32_t j = 0; j < W; ++j) {
        xlo = p.h.start[j] < xlo ? p.h.start[j] : xlo;
        xhi = p.h.start[j] + p.h.count[j] > xhi ? p.h.start[j] + p.h.count[j] : xhi;
    }
    const int64_t cols = (int64_t)(xhi - xlo) * C, wn = chw ? W : n;
    p.idx = malloc(sizeof(int32_t) * (size_t)n);
    p.wt = calloc((size_t)kh * (size_t)wn, sizeof(float));
    p.a = malloc(sizeof(float) * (size_t)n);
    p.b = malloc(sizeof(float) * (size_t)n);
    p.row = malloc(sizeof(float) * (size_t)cols);
    p.rows = malloc(sizeof(*p.rows) * (size_t)p.v.kused);
    if (!p.idx || !p.wt || !p.a || !p.b || !p.row || !p.rows) {
        plan_free(&p);
        return mli__fail(MLI_ERR_OUT_OF_MEMORY, "%s: out of memory for a %d x %d resize", fn, W, H);
    }
    float ca[3], cb[3];
    const int inv = (spec->flags & MLI_IMAGE_INVERT) != 0;
    for (int c = 0; c < C; ++c) { /* (v' * scale - mean) / std with v' = v or 255 - v */
        double a = spec->scale / spec->std[c];
        double b = -spec->mean[c] / spec->std[c];
        ca[c] = (float)(inv ? -a : a);
        cb[c] = (float)(inv ? b + 255.0 * a : b);
    }
    /* Element e of an output row: HWC e = j * C + c; CHW e = c * W + j (one horizontal pass
     * per channel plane, all planes sharing the W columns of weights). */
    int h_ident = kh == 1;
    for (int32_t j = 0; j < W; ++j) {
        int32_t s = p.h.start[j], shift = s + kh > xhi ? s + kh - xhi : 0;
        h_ident = h_ident && s == xlo + j && p.h.w[(int64_t)j * p.h.kmax] == 1.0f;
        for (int c = 0; c < C; ++c) {
            int64_t e = chw ? (int64_t)c * W + j : (int64_t)j * C + c;
            p.idx[e] = (s - shift - xlo) * C + c;
            p.a[e] = ca[c];
            p.b[e] = cb[c];
            if (chw && c > 0)
                continue;
            for (int32_t k = 0; k < p.h.count[j]; ++k)
                p.wt[(int64_t)(k + shift) * wn + (chw ? j : e)] = p.h.w[(int64_t)j * p.h.kmax + k];
        }
    }
    const uint8_t *base = src->data + (int64_t)xlo * C;
    for (int32_t y = 0; y < H; ++y) {
        const float *vw = p.v.w + (int64_t)y * p.v.kmax;
        int taps_y = p.v.count[y];
        for (int t = 0; t < taps_y; ++t)
            p.rows[t] = base + (int64_t)(p.v.start[y] + t) * src->stride;
        int v_ident = taps_y == 1 && vw[0] == 1.0f;
        if (!chw && h_ident && v_ident) {
            kt->img_affine_u8(p.rows[0], p.a, p.b, out + (int64_t)y * n, n);
            continue;
        }
        kt->img_vpass(p.rows, vw, taps_y, p.row, cols);
        if (!chw && h_ident) {
            kt->img_affine_f32(p.row, p.a, p.b, out + (int64_t)y * n, n);
        } else if (!chw) {
            mli__img_hpass hp = {.row = p.row,
                                 .idx = p.idx,
                                 .w = p.wt,
                                 .ksize = kh,
                                 .step = C,
                                 .a = p.a,
                                 .b = p.b,
                                 .out = out + (int64_t)y * n,
                                 .n = n};
            kt->img_hpass(&hp);
        } else {
            for (int c = 0; c < C; ++c) {
                mli__img_hpass hp = {.row = p.row,
                                     .idx = p.idx + (int64_t)c * W,
                                     .w = p.wt,
                                     .ksize = kh,
                                     .step = C,
                                     .a = p.a + (int64_t)c * W,
                                     .b = p.b + (int64_t)c * W,
                                     .out = out + ((int64_t)c * H + y) * W,
                                     .n = W};
                kt->img_hpass(&hp);
            }
        }
    }
    plan_free(&p);
    return MLI_OK;
}
