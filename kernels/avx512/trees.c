/* trees.c (avx512) — compact tree walks, 16 rows per vector: each level gathers the 16
 * nodes (threshold, feature|offset), then the 16 feature values, compares, and steps each
 * lane to its left child (+1) or right child (+offset). Rows that do not fill a vector
 * and small batches go to the portable lock-step walk. */
#include <immintrin.h>

#include "avx512/simd.h"
#include "generic/decls.h"
#include "generic/tree_walk.h"

static void walk16(const mli__tree_walk *w, int32_t t, int64_t r0, __m512i rowoff) {
    const mli__tnode *base = w->nodes + w->start[t];
    const float *x = w->x + r0 * w->ldx;
    const __m512i one = _mm512_set1_epi32(1), lo16 = _mm512_set1_epi32(0xffff);
    __m512i idx = _mm512_setzero_si512();
    for (int32_t d = 0; d < w->depth[t]; ++d) {
        __m512 thr = _mm512_i32gather_ps(idx, (const float *)base, 8);
        __m512i fr = _mm512_i32gather_epi32(idx, (const int *)base + 1, 8);
        __m512i feat = _mm512_and_si512(fr, lo16);
        __m512 v = _mm512_i32gather_ps(_mm512_add_epi32(rowoff, feat), x, 4);
        __mmask16 left = _mm512_cmp_ps_mask(v, thr, _CMP_LT_OQ);
        __m512i step = _mm512_mask_blend_epi32(left, _mm512_srli_epi32(fr, 16), one);
        idx = _mm512_add_epi32(idx, step);
        if (!_mm512_test_epi32_mask(step, step))
            break;
    }
    _mm512_storeu_si512((void *)(w->leaf + (int64_t)t * w->nb + r0), idx);
}

void MLI_KNAME(tree_walk)(const mli__tree_walk *w) {
    if (w->nb < 16) {
        mli__walk_portable(w, 0);
        return;
    }
    /* Row offsets fit in int32: the framework passes blocks with nb * ldx < 2^31. */
    const __m512i rowoff = _mm512_mullo_epi32(
        _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15), _mm512_set1_epi32((int)w->ldx));
    int64_t full = w->nb & ~(int64_t)15;
    for (int32_t t = 0; t < w->n_trees; ++t) {
        for (int64_t r = 0; r < full; r += 16)
            walk16(w, t, r, rowoff);
        for (int64_t r = full; r < w->nb; r += MLI_WALK_LANES)
            mli__walk_rows(w, t, r, w->nb - r < MLI_WALK_LANES ? (int)(w->nb - r) : MLI_WALK_LANES);
    }
}
