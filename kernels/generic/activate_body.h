/* activate_body.h — elementwise activations, the bias+activation epilogue and row
 * softmax, written once against simd.h and instantiated by kernels/<isa>/activate.c. */
#include <stdint.h>

#include "generic/decls.h"
#include "generic/vmath.h"

/* Out-of-place outputs at least this large bypass the caches: a normal store first reads
 * the line it writes (read-for-ownership), a third memory stream that memcpy avoids. */
#define MLI_STREAM_BYTES (8u << 20)

MLI_INLINE vf v_identity(vf x) { return x; }

/* y = fn(x) over n floats; two vectors per step so the long dependency chains of the
 * transcendental functions overlap. */
#define MLI_VEC_ACT(name, fn)                                                                                          \
    void MLI_KNAME(f32_##name)(const float *x, float *y, int64_t n) {                                                  \
        int64_t i = 0;                                                                                                 \
        if (x != y && (uint64_t)n * sizeof(float) >= MLI_STREAM_BYTES) {                                               \
            for (; i < n && ((uintptr_t)(y + i) % (MLI_VL * sizeof(float))) != 0; ++i)                                 \
                vf_store_n(y + i, fn(vf_load_n(x + i, 1, 0.0f)), 1);                                                   \
            for (; i + 2 * MLI_VL <= n; i += 2 * MLI_VL) {                                                             \
                vf a = vf_load(x + i), b = vf_load(x + i + MLI_VL);                                                    \
                vf_stream(y + i, fn(a));                                                                               \
                vf_stream(y + i + MLI_VL, fn(b));                                                                      \
            }                                                                                                          \
            vf_stream_fence();                                                                                         \
        }                                                                                                              \
        for (; i + 2 * MLI_VL <= n; i += 2 * MLI_VL) {                                                                 \
            vf a = vf_load(x + i), b = vf_load(x + i + MLI_VL);                                                        \
            vf_store(y + i, fn(a));                                                                                    \
            vf_store(y + i + MLI_VL, fn(b));                                                                           \
        }                                                                                                              \
        for (; i < n; i += MLI_VL) {                                                                                   \
            int64_t lanes = n - i < MLI_VL ? n - i : MLI_VL;                                                           \
            vf_store_n(y + i, fn(vf_load_n(x + i, lanes, 0.0f)), lanes);                                               \
        }                                                                                                              \
    }

MLI_VEC_ACT(identity, v_identity)
MLI_VEC_ACT(relu, v_relu)
MLI_VEC_ACT(sigmoid, v_sigmoid)
MLI_VEC_ACT(tanh, v_tanh)
MLI_VEC_ACT(gelu, v_gelu)
MLI_VEC_ACT(gelu_tanh, v_gelu_tanh)

void MLI_KNAME(f32_bias_act)(float *y, const float *bias, int64_t n, int act) {
    for (int64_t i = 0; i < n; i += MLI_VL) {
        int64_t lanes = n - i < MLI_VL ? n - i : MLI_VL;
        vf v = vf_load_n(y + i, lanes, 0.0f);
        if (bias)
            v = vf_add(v, vf_load_n(bias + i, lanes, 0.0f));
        vf_store_n(y + i, v_act(act, v), lanes);
    }
}

/* Three passes: row max, exp(x - max) stored with its sum, scale by 1 / sum. A NaN or
 * +Inf anywhere, or a row of only -Inf, turns x - max into NaN and so the whole row. */
void MLI_KNAME(f32_softmax)(const float *x, float *y, int64_t cols) {
    const float ninf = -__builtin_inff();
    vf vmax = vf_set1(ninf);
    int64_t j = 0;
    for (; j + MLI_VL <= cols; j += MLI_VL)
        vmax = vf_max(vmax, vf_load(x + j));
    if (j < cols)
        vmax = vf_max(vmax, vf_load_n(x + j, cols - j, ninf));
    vf max = vf_set1(vf_hmax(vmax));

    vf s0 = vf_zero(), s1 = vf_zero();
    for (j = 0; j + 2 * MLI_VL <= cols; j += 2 * MLI_VL) {
        vf e0 = v_exp(vf_sub(vf_load(x + j), max));
        vf e1 = v_exp(vf_sub(vf_load(x + j + MLI_VL), max));
        vf_store(y + j, e0);
        vf_store(y + j + MLI_VL, e1);
        s0 = vf_add(s0, e0);
        s1 = vf_add(s1, e1);
    }
    for (; j < cols; j += MLI_VL) {
        int64_t lanes = cols - j < MLI_VL ? cols - j : MLI_VL;
        vf e = v_exp(vf_sub(vf_load_n(x + j, lanes, ninf), max));
        vf_store_n(y + j, e, lanes);
        s0 = vf_add(s0, e);
    }
    vf inv = vf_set1(1.0f / vf_hsum(vf_add(s0, s1)));
    for (j = 0; j < cols; j += MLI_VL) {
        int64_t lanes = cols - j < MLI_VL ? cols - j : MLI_VL;
        vf_store_n(y + j, vf_mul(vf_load_n(y + j, lanes, 0.0f), inv), lanes);
    }
}
