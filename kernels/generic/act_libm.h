/* act_libm.h — the activations by libm, one float at a time: the scalar table's
 * kernels and the reference the SIMD versions are measured against. */
#ifndef MLI_ACT_LIBM_H
#define MLI_ACT_LIBM_H

#include <math.h>

#include "kernel_api.h"

static inline float s_relu(float x) { return x > 0.0f ? x : (x == x ? 0.0f : x); }
static inline float s_sigmoid(float x) { return 1.0f / (1.0f + expf(-x)); }
static inline float s_tanh(float x) { return tanhf(x); }
static inline float s_gelu(float x) {
    /* x * Phi(x) via erfc so neither tail cancels; finite clamp keeps -Inf -> -0. */
    if (x < -20.0f)
        return -0.0f;
    return 0.5f * x * erfcf(-x * 0.70710678118654752f);
}
static inline float s_gelu_tanh(float x) {
    if (x < -20.0f)
        return -0.0f;
    float u = 0.79788456080286536f * (x + 0.044715f * x * x * x);
    return x / (1.0f + expf(-2.0f * u));
}

static inline float v_act(int act, float x) {
    switch (act) {
    case MLI__ACT_RELU: return s_relu(x);
    case MLI__ACT_SIGMOID: return s_sigmoid(x);
    case MLI__ACT_TANH: return s_tanh(x);
    case MLI__ACT_GELU: return s_gelu(x);
    case MLI__ACT_GELU_TANH: return s_gelu_tanh(x);
    default: return x;
    }
}

#endif
