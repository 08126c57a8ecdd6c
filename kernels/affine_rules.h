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

#endif
