/* test_image.c — the image kernels (vertical blend, horizontal taps with normalisation,
 * affine) through mli_image_preprocess_pixels, against a direct two-dimensional
 * double-precision evaluation of the resize the header defines (antialiased triangle for
 * BILINEAR, covered area for AREA), for every fit, colour mode, layout and odd size;
 * plus spec checks and the JPEG error paths that need no encoder (not a JPEG, truncated
 * headers, zero and huge sizes, 12-bit and lossless frames). Run once per ISA. */
#include "testutil.h"

/* ---- the reference ---------------------------------------------------------------------- */

typedef struct {
    double x0, x1, y0, y1;
    int64_t vw, vh, ox, oy;
} ref_geom;

static int64_t round_half_even_half(int64_t d) /* Python's round(d / 2) */
{
    if (d % 2 == 0)
        return d / 2;
    return (d / 2) % 2 == 0 ? d / 2 : d / 2 + 1;
}

static void ref_geometry(const mli_image_spec *s, int sw, int sh, ref_geom *g)
{
    g->x0 = 0;
    g->y0 = 0;
    g->x1 = sw;
    g->y1 = sh;
    g->vw = s->width;
    g->vh = s->height;
    g->ox = g->oy = 0;
    if (s->fit == MLI_FIT_SHORTER) {
        if (sw <= sh) {
            g->vw = s->shorter;
            g->vh = (int64_t)s->shorter * sh / sw;
        } else {
            g->vh = s->shorter;
            g->vw = (int64_t)s->shorter * sw / sh;
        }
        g->ox = round_half_even_half(g->vw - s->width);
        g->oy = round_half_even_half(g->vh - s->height);
    } else if (s->fit == MLI_FIT_CROP) {
        double live = (double)sw / sh, want = (double)s->width / s->height;
        double cw = sw, ch = sh;
        if (live > want)
            cw = want * sh;
        else if (live < want)
            ch = sw / want;
        g->x0 = (sw - cw) / 2;
        g->y0 = (sh - ch) / 2;
        g->x1 = g->x0 + cw;
        g->y1 = g->y0 + ch;
    }
}

/* Normalised weights of output v (virtual index) over source samples 0..n-1. */
static void ref_weights(int method, int n, double in0, double in1, int64_t vsize, int64_t v, double *w)
{
    double scale = (in1 - in0) / (double)vsize, sum = 0;
    for (int i = 0; i < n; i++) {
        if (method == MLI_RESIZE_AREA) {
            double a = in0 + v * scale, b = a + scale;
            double c = fmin(i + 1.0, b) - fmax((double)i, a);
            w[i] = c > 0 ? c : 0;
        } else {
            double fs = scale < 1 ? 1 : scale, center = in0 + (v + 0.5) * scale;
            /* Pillow's window: [trunc(center - fs + 0.5), trunc(center + fs + 0.5)) */
            int64_t lo = (int64_t)(center - fs + 0.5), hi = (int64_t)(center + fs + 0.5);
            double d = fabs((i - center + 0.5) / fs);
            w[i] = (i >= lo && i < hi && d < 1) ? 1 - d : 0;
        }
        sum += w[i];
    }
    for (int i = 0; i < n; i++)
        w[i] /= sum;
}

static int channels_of(const mli_image_spec *s) { return s->color == MLI_COLOR_GRAY ? 1 : 3; }

/* The tensor in double from `src` (sw x sh x src_ch, already the spec's channels when
 * src_ch == channels); also the per-element error scale in mag. */
static void ref_tensor(const uint8_t *src, int sw, int sh, const mli_image_spec *s, double *ref, double *mag)
{
    int C = channels_of(s), W = s->width, H = s->height;
    ref_geom g;
    ref_geometry(s, sw, sh, &g);
    double *wx = tu_dalloc((size_t)W * sw), *wy = tu_dalloc((size_t)H * sh);
    for (int x = 0; x < W; x++)
        ref_weights(s->resize, sw, g.x0, g.x1, g.vw, g.ox + x, wx + (size_t)x * sw);
    for (int y = 0; y < H; y++)
        ref_weights(s->resize, sh, g.y0, g.y1, g.vh, g.oy + y, wy + (size_t)y * sh);
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++)
            for (int c = 0; c < C; c++) {
                double acc = 0;
                for (int i = 0; i < sh; i++) {
                    if (wy[(size_t)y * sh + i] == 0)
                        continue;
                    for (int j = 0; j < sw; j++)
                        acc += wy[(size_t)y * sh + i] * wx[(size_t)x * sw + j] * src[((size_t)i * sw + j) * C + c];
                }
                double v = (s->flags & MLI_IMAGE_INVERT) ? 255 - acc : acc;
                double a = s->scale / s->std[c], b = -s->mean[c] / s->std[c];
                size_t e = s->layout == MLI_LAYOUT_HWC ? ((size_t)y * W + x) * C + c : ((size_t)c * H + y) * W + x;
                ref[e] = (v * s->scale - s->mean[c]) / s->std[c];
                mag[e] = 255 * fabs(a) + fabs(b);
            }
    free(wx);
    free(wy);
}

/* ---- checks ----------------------------------------------------------------------------- */

/* Float32 weights and sums: each output is within 1e-6 of the value range (255 |a| + |b|)
 * of the exact resize (measured worst case between 1e-7 and 3e-7 on every ISA). */
#define REL_TOL 1e-6

static void check_case(tu_rng *r, int sw, int sh, const mli_image_spec *s, const char *label)
{
    int C = channels_of(s);
    size_t npx = (size_t)sw * sh * C, len = (size_t)s->width * s->height * C;
    uint8_t *src = malloc(npx);
    assert_non_null(src);
    /* smooth content plus noise: resizes of both are exercised */
    for (int i = 0; i < sh; i++)
        for (int j = 0; j < sw; j++)
            for (int c = 0; c < C; c++) {
                double v = 127 + 100 * sin(0.3 * i + 0.2 * j + c) + tu_uniform(r, -27, 27);
                src[((size_t)i * sw + j) * C + c] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
            }
    float *out = tu_falloc(len + 16);
    tu_ffill(out, len + 16, tu_sentinel());
    double *ref = tu_dalloc(len), *mag = tu_dalloc(len);
    mli_status st = mli_image_preprocess_pixels(src, sw, sh, C, (int64_t)sw * C, s, out, (int64_t)len);
    if (st != MLI_OK) {
        fprintf(stderr, "%s: %s\n", label, mli_last_error());
        fail();
    }
    ref_tensor(src, sw, sh, s, ref, mag);
    for (size_t e = 0; e < len; e++) {
        double d = fabs(out[e] - ref[e]);
        if (!(d <= REL_TOL * mag[e])) {
            fprintf(stderr, "%s: %dx%d -> %dx%d fit %d resize %d color %d layout %d: element %zu: got %.9g, "
                    "reference %.9g\n", label, sw, sh, s->width, s->height, s->fit, s->resize, s->color, s->layout,
                    e, (double)out[e], ref[e]);
            fail();
        }
    }
    for (size_t e = len; e < len + 16; e++)
        assert_true(memcmp(&out[e], &(float){tu_sentinel()}, sizeof(float)) == 0); /* nothing past the tensor */
    free(src);
    free(out);
    free(ref);
    free(mag);
}

static void test_resize_matches_reference(void **state)
{
    (void)state;
    tu_require_kernels();
    tu_rng r = {42};
    static const int sizes[][4] = {/* sw, sh, W, H */
                                   {64, 64, 8, 8},   {67, 45, 8, 8},    {40, 30, 40, 30}, {33, 17, 50, 41},
                                   {224, 224, 224, 224}, {120, 90, 37, 53}, {5, 3, 17, 16}, {1, 1, 3, 2},
                                   {200, 7, 19, 5}, {31, 97, 16, 16}};
    for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++)
        for (int fit = 0; fit < 3; fit++)
            for (int resize = 0; resize < 2; resize++)
                for (int color = 0; color < 2; color++)
                    for (int layout = 0; layout < 2; layout++) {
                        mli_image_spec s;
                        mli_image_spec_init(&s);
                        s.width = sizes[k][2];
                        s.height = sizes[k][3];
                        s.fit = fit;
                        s.shorter = (s.width > s.height ? s.width : s.height) + (int)(k % 3);
                        s.resize = resize;
                        s.color = color;
                        s.layout = layout;
                        s.scale = color ? 1.0 / 255 : -16.0 / 255;
                        for (int c = 0; c < 3; c++) {
                            s.mean[c] = 0.4 + 0.05 * c;
                            s.std[c] = 0.2 + 0.03 * c;
                        }
                        if (k % 2)
                            s.flags |= MLI_IMAGE_INVERT;
                        check_case(&r, sizes[k][0], sizes[k][1], &s, "resize");
                    }
}

/* Row lengths around every vector width and tail, identity and resampled. */
static void test_row_lengths(void **state)
{
    (void)state;
    tu_require_kernels();
    tu_rng r = {7};
    for (int w = 1; w <= 70; w++) {
        mli_image_spec s;
        mli_image_spec_init(&s);
        s.width = w;
        s.height = 3;
        s.color = w % 2 ? MLI_COLOR_RGB : MLI_COLOR_GRAY;
        s.layout = w % 3 == 0 ? MLI_LAYOUT_CHW : MLI_LAYOUT_HWC;
        check_case(&r, w, 3, &s, "identity");
        check_case(&r, w + 5, 4, &s, "shrink");
        s.resize = MLI_RESIZE_AREA;
        check_case(&r, 2 * w + 1, 7, &s, "area");
    }
}

/* Colour conversion before the resize: RGB -> gray with Pillow's integer luma, gray -> RGB
 * replicated, RGB -> BGR swapped, CMYK (inverted) -> RGB multiplied out. */
static void test_color_conversion(void **state)
{
    (void)state;
    tu_require_kernels();
    const uint8_t rgb[2][3] = {{10, 200, 30}, {255, 0, 128}};
    const uint8_t cmyk[2][4] = {{245, 55, 225, 215}, {0, 255, 127, 248}}; /* as stored: 255 = no ink */
    mli_image_spec s;
    mli_image_spec_init(&s);
    s.width = 2;
    s.height = 1;
    s.scale = 1.0;
    float out[6];
    s.color = MLI_COLOR_GRAY;
    TU_EXPECT_OK(mli_image_preprocess_pixels(&rgb[0][0], 2, 1, 3, 6, &s, out, 6));
    for (int i = 0; i < 2; i++)
        assert_true(out[i] == (float)((rgb[i][0] * 19595 + rgb[i][1] * 38470 + rgb[i][2] * 7471 + 0x8000) >> 16));
    s.color = MLI_COLOR_BGR;
    TU_EXPECT_OK(mli_image_preprocess_pixels(&rgb[0][0], 2, 1, 3, 6, &s, out, 6));
    for (int i = 0; i < 2; i++)
        for (int c = 0; c < 3; c++)
            assert_true(out[3 * i + c] == rgb[i][2 - c]);
    s.color = MLI_COLOR_RGB;
    TU_EXPECT_OK(mli_image_preprocess_pixels(&cmyk[0][0], 2, 1, 4, 8, &s, out, 6));
    for (int i = 0; i < 2; i++)
        for (int c = 0; c < 3; c++) {
            unsigned nk = cmyk[i][3], t = (255u - cmyk[i][c]) * nk + 128;
            assert_true(out[3 * i + c] == (float)(nk - (((t >> 8) + t) >> 8)));
        }
}

/* ---- arguments and specs ------------------------------------------------------------------ */

static void test_spec_checks(void **state)
{
    (void)state;
    mli_image_spec s;
    int64_t len = -1;
    mli_image_spec_init(&s);
    TU_EXPECT_OK(mli_image_spec_tensor_len(&s, &len));
    assert_int_equal(len, 224 * 224 * 3);
    s.width = 0;
    TU_EXPECT_FAIL(mli_image_spec_tensor_len(&s, &len), MLI_ERR_INVALID_ARGUMENT, "width");
    mli_image_spec_init(&s);
    s.fit = MLI_FIT_SHORTER;
    s.shorter = 100;
    TU_EXPECT_FAIL(mli_image_spec_tensor_len(&s, &len), MLI_ERR_INVALID_ARGUMENT, "shorter");
    mli_image_spec_init(&s);
    s.std[1] = 0;
    TU_EXPECT_FAIL(mli_image_spec_tensor_len(&s, &len), MLI_ERR_INVALID_ARGUMENT, "std");
    mli_image_spec_init(&s);
    s.reserved[2] = 1;
    TU_EXPECT_FAIL(mli_image_spec_tensor_len(&s, &len), MLI_ERR_INVALID_ARGUMENT, "reserved");
    mli_image_spec_init(&s);
    s.color = 7;
    TU_EXPECT_FAIL(mli_image_spec_tensor_len(&s, &len), MLI_ERR_INVALID_ARGUMENT, "color");
    TU_EXPECT_FAIL(mli_image_spec_tensor_len(NULL, &len), MLI_ERR_INVALID_ARGUMENT, "spec");
    mli_image_spec_init(NULL); /* a no-op */

    mli_image_spec_init(&s);
    uint8_t px[12] = {0};
    float out[224 * 224 * 3];
    TU_EXPECT_FAIL(mli_image_preprocess_pixels(px, 2, 2, 3, 6, &s, out, 10), MLI_ERR_SHAPE, "out");
    TU_EXPECT_FAIL(mli_image_preprocess_pixels(px, 2, 2, 3, 5, &s, out, 224 * 224 * 3), MLI_ERR_INVALID_ARGUMENT,
                   "stride");
    TU_EXPECT_FAIL(mli_image_preprocess_pixels(px, 2, 2, 2, 6, &s, out, 224 * 224 * 3), MLI_ERR_INVALID_ARGUMENT,
                   "channels");
    TU_EXPECT_FAIL(mli_image_preprocess_pixels(NULL, 2, 2, 3, 6, &s, out, 224 * 224 * 3), MLI_ERR_INVALID_ARGUMENT,
                   "pixels");
    s.max_pixels = 3;
    TU_EXPECT_FAIL(mli_image_preprocess_pixels(px, 2, 2, 3, 6, &s, out, 224 * 224 * 3), MLI_ERR_IMAGE, "max_pixels");
}

/* A minimal JPEG header: SOI, then an SOF of the given kind, precision and size. */
static size_t fake_jpeg(uint8_t *p, int sof, int precision, int w, int h, int comps)
{
    size_t n = 0;
    p[n++] = 0xFF;
    p[n++] = 0xD8;
    p[n++] = 0xFF;
    p[n++] = (uint8_t)sof;
    unsigned len = 8 + 3 * (unsigned)comps;
    p[n++] = (uint8_t)(len >> 8);
    p[n++] = (uint8_t)len;
    p[n++] = (uint8_t)precision;
    p[n++] = (uint8_t)(h >> 8);
    p[n++] = (uint8_t)h;
    p[n++] = (uint8_t)(w >> 8);
    p[n++] = (uint8_t)w;
    p[n++] = (uint8_t)comps;
    for (int c = 0; c < comps; c++) {
        p[n++] = (uint8_t)(c + 1);
        p[n++] = 0x11;
        p[n++] = 0;
    }
    return n;
}

static void test_jpeg_header_errors(void **state)
{
    (void)state;
    uint8_t buf[64];
    mli_image_info info;
    mli_image_spec s;
    mli_image_spec_init(&s);
    float out[224 * 224 * 3];
    const int64_t len = 224 * 224 * 3;
    static const char png[] = "\x89PNG\r\n\x1a\n";
    TU_EXPECT_FAIL(mli_image_preprocess_jpeg(png, 8, &s, out, len), MLI_ERR_IMAGE, "JPEG");
    TU_EXPECT_FAIL(mli_image_preprocess_jpeg(png, 0, &s, out, len), MLI_ERR_IMAGE, "JPEG");
    TU_EXPECT_FAIL(mli_image_preprocess_jpeg(NULL, 0, &s, out, len), MLI_ERR_INVALID_ARGUMENT, "jpeg");
    size_t n = fake_jpeg(buf, 0xC0, 8, 0, 10, 3);
    TU_EXPECT_FAIL(mli_image_preprocess_jpeg(buf, n, &s, out, len), MLI_ERR_IMAGE, "zero");
    n = fake_jpeg(buf, 0xC0, 8, 65535, 65535, 3);
    TU_EXPECT_FAIL(mli_image_preprocess_jpeg(buf, n, &s, out, len), MLI_ERR_IMAGE, "max_pixels");
    n = fake_jpeg(buf, 0xC0, 12, 8, 8, 3);
    TU_EXPECT_FAIL(mli_image_preprocess_jpeg(buf, n, &s, out, len), MLI_ERR_UNSUPPORTED, "12");
    n = fake_jpeg(buf, 0xC3, 8, 8, 8, 3);
    TU_EXPECT_FAIL(mli_image_preprocess_jpeg(buf, n, &s, out, len), MLI_ERR_UNSUPPORTED, "lossless");
    n = fake_jpeg(buf, 0xC0, 8, 8, 8, 2);
    TU_EXPECT_FAIL(mli_image_preprocess_jpeg(buf, n, &s, out, len), MLI_ERR_UNSUPPORTED, "components");
    for (size_t cut = 0; cut < n; cut++) /* every truncation of the headers */
        TU_EXPECT_FAIL(mli_image_preprocess_jpeg(buf, cut, &s, out, len), MLI_ERR_IMAGE, NULL);
    /* a valid-looking header without tables or data: the decoder itself reports it */
    n = fake_jpeg(buf, 0xC0, 8, 8, 8, 3);
    TU_EXPECT_FAIL(mli_image_preprocess_jpeg(buf, n, &s, out, len), MLI_ERR_IMAGE, NULL);
    TU_EXPECT_FAIL(mli_image_jpeg_info(png, 8, &info), MLI_ERR_IMAGE, "JPEG");
    int32_t w, h;
    TU_EXPECT_FAIL(mli_image_decode_jpeg(png, 8, MLI_COLOR_RGB, 0, 0, 0, 0, NULL, 0, &w, &h), MLI_ERR_IMAGE, "JPEG");
    TU_EXPECT_FAIL(mli_image_decode_jpeg(buf, n, (mli_color)9, 0, 0, 0, 0, NULL, 0, &w, &h), MLI_ERR_INVALID_ARGUMENT,
                   "color");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_resize_matches_reference),
        cmocka_unit_test(test_row_lengths),
        cmocka_unit_test(test_color_conversion),
        cmocka_unit_test(test_spec_checks),
        cmocka_unit_test(test_jpeg_header_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
