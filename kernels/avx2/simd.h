/* simd.h (AVX2 + FMA) — the vector vocabulary the generic kernel bodies in
 * kernels/generic/ are written in: 8 float lanes, masks as integer vectors. */
#ifndef MLI_SIMD_AVX2_H
#define MLI_SIMD_AVX2_H

#include <immintrin.h>
#include <stdint.h>

#define MLI_ISA avx2
#define MLI_VL 8
/* Vectors of accumulators per GEMM tile for MR rows (16 ymm registers). */
#define MLI_GEMM_NV(mr) ((mr) == 1 ? 8 : (mr) == 2 ? 5 : (mr) <= 4 ? 3 : (mr) <= 6 ? 2 : 1)
#define MLI_INLINE static inline __attribute__((always_inline))

typedef __m256 vf;

MLI_INLINE __m256i vf_mask(int64_t n) {
    const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    return _mm256_cmpgt_epi32(_mm256_set1_epi32((int)(n > 8 ? 8 : n)), lane);
}
MLI_INLINE vf vf_zero(void) { return _mm256_setzero_ps(); }
MLI_INLINE vf vf_set1(float x) { return _mm256_set1_ps(x); }
MLI_INLINE vf vf_load(const float *p) { return _mm256_loadu_ps(p); }
/* First n lanes from p (n <= VL); the rest are `fill`. Masked-off lanes are not read. */
MLI_INLINE vf vf_load_n(const float *p, int64_t n, float fill) {
    __m256i m = vf_mask(n);
    return _mm256_blendv_ps(_mm256_set1_ps(fill), _mm256_maskload_ps(p, m), _mm256_castsi256_ps(m));
}
MLI_INLINE void vf_store(float *p, vf v) { _mm256_storeu_ps(p, v); }
/* Not vmaskmovps: on AMD cores its store form is microcoded and costs tens of cycles,
 * which dominated short rows. A spill and a short copy is cheaper everywhere. */
MLI_INLINE void vf_store_n(float *p, vf v, int64_t n) {
    float tmp[8];
    _mm256_storeu_ps(tmp, v);
    for (int64_t i = 0; i < n && i < 8; ++i)
        p[i] = tmp[i];
}
/* Non-temporal store to a VL*4-byte aligned address; call vf_stream_fence() after. */
MLI_INLINE void vf_stream(float *p, vf v) { _mm256_stream_ps(p, v); }
MLI_INLINE void vf_stream_fence(void) { _mm_sfence(); }
MLI_INLINE vf vf_add(vf a, vf b) { return _mm256_add_ps(a, b); }
MLI_INLINE vf vf_sub(vf a, vf b) { return _mm256_sub_ps(a, b); }
MLI_INLINE vf vf_mul(vf a, vf b) { return _mm256_mul_ps(a, b); }
MLI_INLINE vf vf_div(vf a, vf b) { return _mm256_div_ps(a, b); }
MLI_INLINE vf vf_fmadd(vf a, vf b, vf c) { return _mm256_fmadd_ps(a, b, c); }
/* x86 semantics: when either operand is NaN the SECOND is returned. */
MLI_INLINE vf vf_max(vf a, vf b) { return _mm256_max_ps(a, b); }
MLI_INLINE vf vf_min(vf a, vf b) { return _mm256_min_ps(a, b); }
MLI_INLINE vf vf_abs(vf a) { return _mm256_andnot_ps(_mm256_set1_ps(-0.0f), a); }
MLI_INLINE vf vf_xor(vf a, vf b) { return _mm256_xor_ps(a, b); }
MLI_INLINE vf vf_and(vf a, vf b) { return _mm256_and_ps(a, b); }
MLI_INLINE vf vf_round(vf a) { return _mm256_round_ps(a, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC); }
/* a * 2^n for integral n in [-254, 254]: two exact power-of-two factors, so Inf on
 * overflow and gradual underflow like scalef. */
MLI_INLINE vf vf_scale2(vf a, vf n) {
    __m256i ni = _mm256_cvtps_epi32(n);
    __m256i n1 = _mm256_srai_epi32(ni, 1);
    __m256i n2 = _mm256_sub_epi32(ni, n1);
    __m256i bias = _mm256_set1_epi32(127);
    vf f1 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(n1, bias), 23));
    vf f2 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(n2, bias), 23));
    return _mm256_mul_ps(_mm256_mul_ps(a, f1), f2);
}
MLI_INLINE vf vf_select_lt(vf x, vf y, vf a, vf b) { return _mm256_blendv_ps(b, a, _mm256_cmp_ps(x, y, _CMP_LT_OQ)); }
MLI_INLINE vf vf_select_ge(vf x, vf y, vf a, vf b) { return _mm256_blendv_ps(b, a, _mm256_cmp_ps(x, y, _CMP_GE_OQ)); }
MLI_INLINE float vf_hsum(vf a) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}
MLI_INLINE float vf_hmax(vf a) {
    __m128 s = _mm_max_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
    s = _mm_max_ps(s, _mm_movehl_ps(s, s));
    s = _mm_max_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

#endif
