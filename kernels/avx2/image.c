/* image.c (avx2) — image resampling kernels: 8 lanes, masked gathers for the tails; byte
 * tails go through a small copy (there is no masked byte load before AVX-512BW). */
#include <string.h>

#include "avx2/simd.h"

typedef __m256i vi;

MLI_INLINE vf img_load_u8(const uint8_t *p) {
    return _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(const void *)p)));
}
MLI_INLINE vf img_load_u8_n(const uint8_t *p, int64_t n) {
    uint8_t tmp[8] = {0};
    memcpy(tmp, p, (size_t)(n < 8 ? n : 8));
    return img_load_u8(tmp);
}
MLI_INLINE vi img_load_idx(const int32_t *p) { return _mm256_loadu_si256((const __m256i *)(const void *)p); }
MLI_INLINE vi img_load_idx_n(const int32_t *p, int64_t n) { return _mm256_maskload_epi32(p, vf_mask(n)); }
MLI_INLINE vf img_gather(const float *base, vi idx) { return _mm256_i32gather_ps(base, idx, 4); }
MLI_INLINE vf img_gather_n(const float *base, vi idx, int64_t n) {
    return _mm256_mask_i32gather_ps(_mm256_setzero_ps(), base, idx, _mm256_castsi256_ps(vf_mask(n)), 4);
}

#include "generic/image_body.h"
