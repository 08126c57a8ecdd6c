/* activate.c (scalar) — activations and softmax with libm, one element at a time. This is
 * both the portable fallback and the accuracy/speed baseline for the SIMD tables. */
#include <math.h>

#include "scalar/simd.h"
#include "generic/decls.h"
#include "generic/act_libm.h"

#define MLI_SCALAR_ACT(name, expr)                                                                                     \
    void MLI_KNAME(f32_##name)(const float *x, float *y, int64_t n) {                                                  \
        for (int64_t i = 0; i < n; ++i)                                                                                \
            y[i] = expr(x[i]);                                                                                         \
    }
static inline float s_identity(float x) { return x; }
MLI_SCALAR_ACT(identity, s_identity)
MLI_SCALAR_ACT(relu, s_relu)
MLI_SCALAR_ACT(sigmoid, s_sigmoid)
MLI_SCALAR_ACT(tanh, s_tanh)
MLI_SCALAR_ACT(gelu, s_gelu)
MLI_SCALAR_ACT(gelu_tanh, s_gelu_tanh)

void MLI_KNAME(f32_bias_act)(float *y, const float *bias, int64_t n, int act) {
    for (int64_t i = 0; i < n; ++i)
        y[i] = v_act(act, bias ? y[i] + bias[i] : y[i]);
}

void MLI_KNAME(f32_softmax)(const float *x, float *y, int64_t cols) {
    float max = -INFINITY;
    for (int64_t j = 0; j < cols; ++j)
        max = x[j] > max ? x[j] : max;
    float sum = 0.0f;
    for (int64_t j = 0; j < cols; ++j) {
        y[j] = expf(x[j] - max); /* NaN, +Inf or an all -Inf row make this NaN */
        sum += y[j];
    }
    float inv = 1.0f / sum;
    for (int64_t j = 0; j < cols; ++j)
        y[j] *= inv;
}
