/* image.c (avx512) — image resampling kernels: 16 lanes, masked byte loads (AVX-512BW)
 * and masked gathers for the tails. */
#include "avx512/simd.h"

typedef __m512i vi;

MLI_INLINE vf img_load_u8(const uint8_t *p) {
    return _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)(const void *)p)));
}
MLI_INLINE vf img_load_u8_n(const uint8_t *p, int64_t n) {
    return _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(_mm_maskz_loadu_epi8(vf_mask(n), p)));
}
MLI_INLINE vi img_load_idx(const int32_t *p) { return _mm512_loadu_si512((const void *)p); }
MLI_INLINE vi img_load_idx_n(const int32_t *p, int64_t n) { return _mm512_maskz_loadu_epi32(vf_mask(n), p); }
MLI_INLINE vf img_gather(const float *base, vi idx) { return _mm512_i32gather_ps(idx, base, 4); }
MLI_INLINE vf img_gather_n(const float *base, vi idx, int64_t n) {
    return _mm512_mask_i32gather_ps(_mm512_setzero_ps(), vf_mask(n), idx, base, 4);
}

#include "generic/image_body.h"
