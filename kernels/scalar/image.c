/* image.c (scalar) — image resampling kernels, one lane: the portable reference the vector
 * tables are tested against. */
#include "scalar/simd.h"

typedef int32_t vi;

MLI_INLINE vf img_load_u8(const uint8_t *p) { return (float)*p; }
MLI_INLINE vf img_load_u8_n(const uint8_t *p, int64_t n) { return n > 0 ? (float)*p : 0.0f; }
MLI_INLINE vi img_load_idx(const int32_t *p) { return *p; }
MLI_INLINE vi img_load_idx_n(const int32_t *p, int64_t n) { return n > 0 ? *p : 0; }
MLI_INLINE vf img_gather(const float *base, vi idx) { return base[idx]; }
MLI_INLINE vf img_gather_n(const float *base, vi idx, int64_t n) { return n > 0 ? base[idx] : 0.0f; }

#include "generic/image_body.h"
