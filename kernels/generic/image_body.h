/* image_body.h — the image resampling kernels (vertical blend of 8-bit rows, horizontal
 * taps with the normalisation folded in, 8-bit/float affine), written once against simd.h
 * plus five helpers each ISA's image.c defines before including this file:
 *   vf img_load_u8(const uint8_t *p)              VL samples as floats
 *   vf img_load_u8_n(const uint8_t *p, int64_t n) the first n (< VL), the rest 0, no read past p[n-1]
 *   vi img_load_idx(const int32_t *p) / img_load_idx_n(p, n)
 *   vf img_gather(const float *base, vi idx) / img_gather_n(base, idx, n)  base[idx[lane]] */
#include <stdint.h>

#include "generic/decls.h"

void MLI_KNAME(u8_img_vpass)(const uint8_t *const *rows, const float *w, int taps, float *out, int64_t n) {
    int64_t i = 0;
    for (; i + MLI_VL <= n; i += MLI_VL) {
        vf acc = vf_mul(img_load_u8(rows[0] + i), vf_set1(w[0]));
        for (int t = 1; t < taps; ++t)
            acc = vf_fmadd(img_load_u8(rows[t] + i), vf_set1(w[t]), acc);
        vf_store(out + i, acc);
    }
    if (i < n) {
        int64_t lanes = n - i;
        vf acc = vf_mul(img_load_u8_n(rows[0] + i, lanes), vf_set1(w[0]));
        for (int t = 1; t < taps; ++t)
            acc = vf_fmadd(img_load_u8_n(rows[t] + i, lanes), vf_set1(w[t]), acc);
        vf_store_n(out + i, acc, lanes);
    }
}

/* Lanes are consecutive output elements: the weights are contiguous loads (tap-major
 * layout), the samples a gather from the float row. */
void MLI_KNAME(f32_img_hpass)(const mli__img_hpass *h) {
    const int64_t n = h->n;
    const float *row = h->row, *w = h->w;
    const int32_t ksize = h->ksize, step = h->step;
    int64_t e = 0;
    for (; e + MLI_VL <= n; e += MLI_VL) {
        vi idx = img_load_idx(h->idx + e);
        vf acc = vf_mul(vf_load(w + e), img_gather(row, idx));
        for (int32_t k = 1; k < ksize; ++k)
            acc = vf_fmadd(vf_load(w + (int64_t)k * n + e), img_gather(row + (int64_t)k * step, idx), acc);
        vf_store(h->out + e, vf_fmadd(acc, vf_load(h->a + e), vf_load(h->b + e)));
    }
    if (e < n) {
        int64_t lanes = n - e;
        vi idx = img_load_idx_n(h->idx + e, lanes);
        vf acc = vf_mul(vf_load_n(w + e, lanes, 0.0f), img_gather_n(row, idx, lanes));
        for (int32_t k = 1; k < ksize; ++k)
            acc = vf_fmadd(vf_load_n(w + (int64_t)k * n + e, lanes, 0.0f),
                           img_gather_n(row + (int64_t)k * step, idx, lanes), acc);
        vf_store_n(h->out + e, vf_fmadd(acc, vf_load_n(h->a + e, lanes, 0.0f), vf_load_n(h->b + e, lanes, 0.0f)),
                   lanes);
    }
}

void MLI_KNAME(u8_img_affine)(const uint8_t *x, const float *a, const float *b, float *out, int64_t n) {
    int64_t i = 0;
    for (; i + MLI_VL <= n; i += MLI_VL)
        vf_store(out + i, vf_fmadd(img_load_u8(x + i), vf_load(a + i), vf_load(b + i)));
    if (i < n) {
        int64_t lanes = n - i;
        vf_store_n(out + i,
                   vf_fmadd(img_load_u8_n(x + i, lanes), vf_load_n(a + i, lanes, 0.0f), vf_load_n(b + i, lanes, 0.0f)),
                   lanes);
    }
}

void MLI_KNAME(f32_img_affine)(const float *x, const float *a, const float *b, float *out, int64_t n) {
    int64_t i = 0;
    for (; i + MLI_VL <= n; i += MLI_VL)
        vf_store(out + i, vf_fmadd(vf_load(x + i), vf_load(a + i), vf_load(b + i)));
    if (i < n) {
        int64_t lanes = n - i;
        vf_store_n(
            out + i,
            vf_fmadd(vf_load_n(x + i, lanes, 0.0f), vf_load_n(a + i, lanes, 0.0f), vf_load_n(b + i, lanes, 0.0f)),
            lanes);
    }
}
