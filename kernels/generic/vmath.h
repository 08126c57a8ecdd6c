/* vmath.h — vector exp and the activations built on it, written once against the
 * simd.h vocabulary and compiled per ISA. Error bounds (checked by tests/unit):
 *   exp: ~2 ulp over the whole float range (Inf on overflow, 0 below -104, NaN kept);
 *   sigmoid, tanh: within 1e-6 absolute (in practice ~2e-7);
 *   gelu, gelu_tanh: within 2e-6 * max(1, |x|).
 * NaN propagates through every function: clamps put x second in min/max, whose x86
 * semantics return the second operand when either is NaN. */
#ifndef MLI_VMATH_H
#define MLI_VMATH_H

#include "kernel_api.h"

MLI_INLINE vf v_exp(vf x) {
    /* Below -104 e^x underflows to 0; above 88.73 it overflows to Inf (both via scale2). */
    vf xc = vf_max(vf_set1(-104.0f), vf_min(vf_set1(88.75f), x));
    vf n = vf_round(vf_mul(xc, vf_set1(1.44269504088896341f)));
    /* r = x - n ln2 in two steps (Cody-Waite) so r keeps full precision. */
    vf r = vf_fmadd(n, vf_set1(-0.693145751953125f), xc);
    r = vf_fmadd(n, vf_set1(-1.428606765330187045e-06f), r);
    /* e^r on |r| <= ln2/2 by its Taylor series to degree 7: truncation < 6e-9 relative.
     * (Measured faster here than a degree-5 minimax form plus its extra multiply.) */
    vf p = vf_set1(1.0f / 5040.0f);
    p = vf_fmadd(p, r, vf_set1(1.0f / 720.0f));
    p = vf_fmadd(p, r, vf_set1(1.0f / 120.0f));
    p = vf_fmadd(p, r, vf_set1(1.0f / 24.0f));
    p = vf_fmadd(p, r, vf_set1(1.0f / 6.0f));
    p = vf_fmadd(p, r, vf_set1(0.5f));
    p = vf_fmadd(p, r, vf_set1(1.0f));
    p = vf_fmadd(p, r, vf_set1(1.0f));
    return vf_scale2(p, n);
}

MLI_INLINE vf v_relu(vf x) { return vf_max(vf_zero(), x); }

/* 1 / (1 + e^-x): exact limits 1 and 0 at +-Inf because e^-x reaches 0 and Inf. A true
 * division: measured, a refined reciprocal plus the selects it needs for the limits was
 * slower (the division is not the bottleneck on these cores). */
MLI_INLINE vf v_sigmoid(vf x) {
    vf one = vf_set1(1.0f);
    return vf_div(one, vf_add(one, v_exp(vf_xor(x, vf_set1(-0.0f)))));
}

/* tanh |x| = (1 - e^-2|x|) / (1 + e^-2|x|), sign restored; an odd Taylor polynomial below
 * |x| < 2^-7 keeps small inputs accurate to the last bit instead of cancelling. */
MLI_INLINE vf v_tanh(vf x) {
    vf sign = vf_and(x, vf_set1(-0.0f));
    vf ax = vf_abs(x);
    vf e = v_exp(vf_mul(ax, vf_set1(-2.0f)));
    vf one = vf_set1(1.0f);
    vf t = vf_div(vf_sub(one, e), vf_add(one, e));
    vf x2 = vf_mul(ax, ax);
    vf small = vf_fmadd(vf_fmadd(x2, vf_set1(2.0f / 15.0f), vf_set1(-1.0f / 3.0f)), vf_mul(x2, ax), ax);
    t = vf_select_lt(ax, vf_set1(0.0078125f), small, t);
    return vf_xor(t, sign);
}

/* erfc(z) for z >= 0 by the Chebyshev-fitted form t * exp(-z^2 + P(t)), t = 1/(1 + z/2):
 * relative error below 1.2e-7 for every z >= 0 (Numerical Recipes, "erfcc"). */
MLI_INLINE vf v_erfc_pos(vf z) {
    vf t = vf_div(vf_set1(1.0f), vf_fmadd(z, vf_set1(0.5f), vf_set1(1.0f)));
    vf p = vf_set1(0.17087277f);
    p = vf_fmadd(p, t, vf_set1(-0.82215223f));
    p = vf_fmadd(p, t, vf_set1(1.48851587f));
    p = vf_fmadd(p, t, vf_set1(-1.13520398f));
    p = vf_fmadd(p, t, vf_set1(0.27886807f));
    p = vf_fmadd(p, t, vf_set1(-0.18628806f));
    p = vf_fmadd(p, t, vf_set1(0.09678418f));
    p = vf_fmadd(p, t, vf_set1(0.37409196f));
    p = vf_fmadd(p, t, vf_set1(1.00002368f));
    p = vf_fmadd(p, t, vf_set1(-1.26551223f));
    vf arg = vf_sub(p, vf_mul(z, z));
    return vf_mul(t, v_exp(arg));
}

/* gelu(x) = x * Phi(x). With q = 0.5 * x * erfc(|x| / sqrt 2): x < 0 gives q directly and
 * x >= 0 gives x - q, so neither side cancels. |x| is clamped to 20 for q (erfc is 0 in
 * float long before) so +-Inf give +Inf and -0 instead of Inf * 0. */
MLI_INLINE vf v_gelu(vf x) {
    vf xc = vf_max(vf_set1(-20.0f), vf_min(vf_set1(20.0f), x));
    vf e = v_erfc_pos(vf_mul(vf_abs(xc), vf_set1(0.70710678118654752f)));
    vf q = vf_mul(vf_mul(vf_set1(0.5f), xc), e);
    return vf_select_ge(x, vf_zero(), vf_sub(x, q), q);
}

/* gelu_tanh(x) = x * sigmoid(2u), u = sqrt(2/pi) (x + 0.044715 x^3), because
 * 0.5 (1 + tanh u) = sigmoid(2u). Negative x uses the clamped value so -Inf gives -0. */
MLI_INLINE vf v_gelu_tanh(vf x) {
    vf xc = vf_max(vf_set1(-20.0f), vf_min(vf_set1(20.0f), x));
    vf x3 = vf_mul(vf_mul(xc, xc), xc);
    vf u2 = vf_mul(vf_fmadd(x3, vf_set1(0.044715f), xc), vf_set1(2.0f * 0.79788456080286536f));
    vf s = v_sigmoid(u2);
    return vf_select_ge(x, vf_zero(), vf_mul(x, s), vf_mul(xc, s));
}

MLI_INLINE vf v_act(int act, vf x) {
    switch (act) {
    case MLI__ACT_RELU: return v_relu(x);
    case MLI__ACT_SIGMOID: return v_sigmoid(x);
    case MLI__ACT_TANH: return v_tanh(x);
    case MLI__ACT_GELU: return v_gelu(x);
    case MLI__ACT_GELU_TANH: return v_gelu_tanh(x);
    default: return x;
    }
}

#endif
