/* trees.c (avx2) — compact tree walks, 8 rows per vector with AVX2 gathers (see the
 * avx512 file for the scheme). Batches under 8 rows go to the one-row walk of 8 trees
 * per vector (trees_row.c). */
#include <immintrin.h>

#include "avx2/simd.h"
#include "avx2/trees_row.h"
#include "generic/decls.h"
#include "generic/tree_walk.h"
#include "tree_rules.h"

/* Rows r0 .. r0 + 7 through tree t; `nan`: the rows may hold NaN (a constant in each
 * instantiation below). */
static inline __attribute__((always_inline)) void walk8_(const mli__tree_walk *w, int32_t t, int64_t r0, __m256i rowoff,
                                                         const int nan) {
    const mli__tnode *base = w->nodes + w->start[t];
    const float *x = w->x + r0 * w->ldx;
    const __m256i one = _mm256_set1_epi32(1), fmask = _mm256_set1_epi32(MLI__TN_FEATURE),
                  nanbit = _mm256_set1_epi32(MLI__TN_NAN_LEFT);
    __m256i idx = _mm256_setzero_si256();
    for (int32_t d = 0; d < w->depth[t]; ++d) {
        __m256 thr = _mm256_i32gather_ps((const float *)base, idx, 8);
        __m256i fr = _mm256_i32gather_epi32((const int *)base + 1, idx, 8);
        __m256i feat = _mm256_and_si256(fr, fmask);
        __m256 v = _mm256_i32gather_ps(x, _mm256_add_epi32(rowoff, feat), 4);
        __m256i left = _mm256_castps_si256(_mm256_cmp_ps(v, thr, _CMP_LT_OQ));
        if (nan) { /* a NaN lane goes left where the node's bit says so */
            __m256i isnan = _mm256_castps_si256(_mm256_cmp_ps(v, v, _CMP_UNORD_Q));
            __m256i bit = _mm256_cmpeq_epi32(_mm256_and_si256(fr, nanbit), nanbit);
            left = _mm256_or_si256(left, _mm256_and_si256(isnan, bit));
        }
        __m256i step = _mm256_blendv_epi8(_mm256_srli_epi32(fr, 16), one, left);
        idx = _mm256_add_epi32(idx, step);
        if (_mm256_testz_si256(step, step))
            break;
    }
    int32_t tmp[8];
    _mm256_storeu_si256((__m256i *)(void *)tmp, idx);
    mli__walk_finish(w, t, r0, tmp, 8);
}

static void walk8(const mli__tree_walk *w, int32_t t, int64_t r0, __m256i rowoff) { walk8_(w, t, r0, rowoff, 0); }
static void walk8_nan(const mli__tree_walk *w, int32_t t, int64_t r0, __m256i rowoff) { walk8_(w, t, r0, rowoff, 1); }

void MLI_KNAME(tree_walk)(const mli__tree_walk *w) {
    if (w->nb < 8) {
        MLI_KNAME(tree_walk_few)(w);
        return;
    }
    const __m256i rowoff =
        _mm256_mullo_epi32(_mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7), _mm256_set1_epi32((int)w->ldx));
    int64_t full = w->nb & ~(int64_t)7;
    for (int32_t t = 0; t < w->n_trees; ++t) {
        for (int64_t r = 0; r < full; r += 8) {
            if (w->nan)
                walk8_nan(w, t, r, rowoff);
            else
                walk8(w, t, r, rowoff);
        }
        if (full < w->nb)
            mli__walk_rows(w, t, full, (int)(w->nb - full));
    }
}

/* Converts with the MXCSR rounding mode set to upward for the loop (restored after):
 * vcvtpd2ps then gives the smallest float32 >= x, +inf above the float range and
 * -FLT_MAX below it, as mli__f32_round_up. The ldmxcsr instructions are volatile, so
 * the compiler keeps the conversions between them. */
void MLI_KNAME(f64_to_f32_up)(const double *x, float *y, int64_t n) {
    int64_t i = 0;
    if (n >= 4) {
        const unsigned csr = _mm_getcsr();
        _mm_setcsr((csr & ~0x6000u) | 0x4000u);
        for (; i + 4 <= n; i += 4)
            _mm_storeu_ps(y + i, _mm256_cvtpd_ps(_mm256_loadu_pd(x + i)));
        _mm_setcsr(csr);
    }
    for (; i < n; ++i)
        y[i] = mli__f32_round_up(x[i]);
}
