/* simd.h (scalar) — the same vocabulary as kernels/<isa>/simd.h with one lane, so the
 * generic GEMM body also yields the portable scalar kernel. Activations on this table
 * use libm directly (kernels/scalar/activate.c), not the polynomial vmath. */
#ifndef MLI_SIMD_SCALAR_H
#define MLI_SIMD_SCALAR_H

#include <math.h>
#include <stdint.h>

#define MLI_ISA scalar
#define MLI_VL 1
#define MLI_GEMM_NV(mr) ((mr) == 1 ? 8 : (mr) == 2 ? 4 : 2)
#if defined(__GNUC__) || defined(__clang__)
#define MLI_INLINE static inline __attribute__((always_inline))
#else
#define MLI_INLINE static inline
#endif

typedef float vf;

MLI_INLINE vf vf_zero(void) { return 0.0f; }
MLI_INLINE vf vf_set1(float x) { return x; }
MLI_INLINE vf vf_load(const float *p) { return *p; }
MLI_INLINE vf vf_load_n(const float *p, int64_t n, float fill) { return n > 0 ? *p : fill; }
MLI_INLINE void vf_store(float *p, vf v) { *p = v; }
MLI_INLINE void vf_store_n(float *p, vf v, int64_t n) {
    if (n > 0)
        *p = v;
}
MLI_INLINE vf vf_add(vf a, vf b) { return a + b; }
MLI_INLINE vf vf_mul(vf a, vf b) { return a * b; }
MLI_INLINE vf vf_fmadd(vf a, vf b, vf c) { return a * b + c; }
MLI_INLINE vf vf_max(vf a, vf b) { return a > b ? a : b; }
MLI_INLINE float vf_hsum(vf a) { return a; }

#endif
