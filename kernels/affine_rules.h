/* affine_rules.h — the one home of the `affine` stage's arithmetic (docs/FORMAT.md): the
 * scalers of scikit-learn (StandardScaler, MinMaxScaler, MaxAbsScaler, RobustScaler) as
 * their transform computes them. Included by the CPU runtime (src/predict.c) and the CUDA
 * input kernel (kernels/cuda/input.cu), so that both give the model stages the same values.
 *
 * scikit-learn keeps the input's dtype and updates the array in place, one operation at a
 * time (X -= mean_; X /= scale_; ...): each operation is computed in float64 and, for
 * float32 input, rounded to float32 before the next one. Tree models compare exactly these
 * values, so the rounding is kept per operation here too (`f32`). */
#ifndef MLI_AFFINE_RULES_H
#define MLI_AFFINE_RULES_H

#include "tree_rules.h" /* mli__f32_round */

#ifdef __CUDA_ARCH__
/* the _rn intrinsics keep nvcc from fusing a multiply and an add into an FMA */
#define MLI__A_SUB(a, b) __dsub_rn(a, b)
#define MLI__A_DIV(a, b) __ddiv_rn(a, b)
#define MLI__A_MUL(a, b) __dmul_rn(a, b)
#define MLI__A_ADD(a, b) __dadd_rn(a, b)
#else
#define MLI__A_SUB(a, b) ((a) - (b))
#define MLI__A_DIV(a, b) ((a) / (b))
#define MLI__A_MUL(a, b) ((a) * (b))
#define MLI__A_ADD(a, b) ((a) + (b))
#endif

/* Keeps v as the array's dtype would: float32 input stays float32 between operations. */
MLI__TREE_FN double mli__affine_keep(double v, int f32) { return f32 ? (double)mli__f32_round(v) : v; }

/* Column c's value after one affine stage: ((v - sub) / div) * mul + add, then clipped to
 * [lo, hi] when `clip`; a NULL array is the identity. */
MLI__TREE_FN double mli__affine_apply(double v, int64_t c, const double *sub, const double *div, const double *mul,
                                      const double *add, int clip, double lo, double hi, int f32) {
    if (sub)
        v = mli__affine_keep(MLI__A_SUB(v, sub[c]), f32);
    if (div)
        v = mli__affine_keep(MLI__A_DIV(v, div[c]), f32);
    if (mul)
        v = mli__affine_keep(MLI__A_MUL(v, mul[c]), f32);
    if (add)
        v = mli__affine_keep(MLI__A_ADD(v, add[c]), f32);
    if (clip) /* np.clip; NaN stays NaN */
        v = mli__affine_keep(v < lo ? lo : v > hi ? hi : v, f32);
    return v;
}

/* One affine stage for column c as the CPU and the GPU both apply it: with `f32_params`
 * (StandardScaler on float32 input) the stage's parameters are first cast to the input's
 * dtype, as scikit-learn casts mean_ and scale_ to X's dtype. */
MLI__TREE_FN double mli__affine_stage(double v, int64_t c, const double *sub, const double *div, const double *mul,
                                      const double *add, int clip, double lo, double hi, int f32, int f32_params) {
    if (!(f32 && f32_params))
        return mli__affine_apply(v, c, sub, div, mul, add, clip, lo, hi, f32);
    double s = sub ? (double)mli__f32_round(sub[c]) : 0.0, d = div ? (double)mli__f32_round(div[c]) : 1.0;
    double m = mul ? (double)mli__f32_round(mul[c]) : 1.0, a = add ? (double)mli__f32_round(add[c]) : 0.0;
    return mli__affine_apply(v, 0, sub ? &s : NULL, div ? &d : NULL, mul ? &m : NULL, add ? &a : NULL, clip, lo, hi, 1);
}

#endif
