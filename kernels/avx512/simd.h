/* simd.h (AVX-512) — the vector vocabulary the generic kernel bodies in kernels/generic/
 * are written in: 16 float lanes, masks from AVX-512F. */
#ifndef MLI_SIMD_AVX512_H
#define MLI_SIMD_AVX512_H

#include <immintrin.h>
#include <stdint.h>

#define MLI_ISA avx512
#define MLI_VL 16
/* Vectors of accumulators per GEMM tile for MR rows (32 zmm registers). */
#define MLI_GEMM_NV(mr) ((mr) == 1 ? 8 : (mr) == 2 ? 8 : (mr) <= 4 ? 4 : 2)
#define MLI_INLINE static inline __attribute__((always_inline))

typedef __m512 vf;

MLI_INLINE __mmask16 vf_mask(int64_t n) { return (__mmask16)(n >= 16 ? 0xFFFF : ((1u << n) - 1u)); }
MLI_INLINE vf vf_zero(void) { return _mm512_setzero_ps(); }
MLI_INLINE vf vf_set1(float x) { return _mm512_set1_ps(x); }
MLI_INLINE vf vf_load(const float *p) { return _mm512_loadu_ps(p); }
/* First n lanes from p (n <= VL); the rest are `fill`. Never touches memory past p[n-1]. */
MLI_INLINE vf vf_load_n(const float *p, int64_t n, float fill) {
    return _mm512_mask_loadu_ps(_mm512_set1_ps(fill), vf_mask(n), p);
}
MLI_INLINE void vf_store(float *p, vf v) { _mm512_storeu_ps(p, v); }
MLI_INLINE void vf_store_n(float *p, vf v, int64_t n) { _mm512_mask_storeu_ps(p, vf_mask(n), v); }
/* Non-temporal store to a VL*4-byte aligned address; call vf_stream_fence() after. */
MLI_INLINE void vf_stream(float *p, vf v) { _mm512_stream_ps(p, v); }
MLI_INLINE void vf_stream_fence(void) { _mm_sfence(); }
MLI_INLINE vf vf_add(vf a, vf b) { return _mm512_add_ps(a, b); }
MLI_INLINE vf vf_sub(vf a, vf b) { return _mm512_sub_ps(a, b); }
MLI_INLINE vf vf_mul(vf a, vf b) { return _mm512_mul_ps(a, b); }
MLI_INLINE vf vf_div(vf a, vf b) { return _mm512_div_ps(a, b); }
MLI_INLINE vf vf_fmadd(vf a, vf b, vf c) { return _mm512_fmadd_ps(a, b, c); }
/* x86 semantics: when either operand is NaN the SECOND is returned. */
MLI_INLINE vf vf_max(vf a, vf b) { return _mm512_max_ps(a, b); }
MLI_INLINE vf vf_min(vf a, vf b) { return _mm512_min_ps(a, b); }
MLI_INLINE vf vf_abs(vf a) { return _mm512_abs_ps(a); }
MLI_INLINE vf vf_xor(vf a, vf b) {
    return _mm512_castsi512_ps(_mm512_xor_si512(_mm512_castps_si512(a), _mm512_castps_si512(b)));
}
MLI_INLINE vf vf_and(vf a, vf b) {
    return _mm512_castsi512_ps(_mm512_and_si512(_mm512_castps_si512(a), _mm512_castps_si512(b)));
}
/* Round to nearest integer (ties to even). */
MLI_INLINE vf vf_round(vf a) { return _mm512_roundscale_ps(a, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC); }
/* a * 2^n for integral n, with IEEE overflow to Inf and gradual underflow. */
MLI_INLINE vf vf_scale2(vf a, vf n) { return _mm512_scalef_ps(a, n); }
/* lt ? a : b, lane-wise, where lt is (x < y) (false for NaN). */
MLI_INLINE vf vf_select_lt(vf x, vf y, vf a, vf b) {
    return _mm512_mask_blend_ps(_mm512_cmp_ps_mask(x, y, _CMP_LT_OQ), b, a);
}
/* ge ? a : b, where ge is (x >= y) (false for NaN). */
MLI_INLINE vf vf_select_ge(vf x, vf y, vf a, vf b) {
    return _mm512_mask_blend_ps(_mm512_cmp_ps_mask(x, y, _CMP_GE_OQ), b, a);
}
MLI_INLINE float vf_hsum(vf a) { return _mm512_reduce_add_ps(a); }
MLI_INLINE float vf_hmax(vf a) { return _mm512_reduce_max_ps(a); }

#endif
