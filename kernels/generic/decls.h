/* decls.h — names and prototypes of one ISA's kernels. Include after simd.h, which sets
 * MLI_ISA; MLI_KNAME(f32_relu) then reads mli__f32_relu__avx512 (and so on). */
#ifndef MLI_KERNEL_DECLS_H
#define MLI_KERNEL_DECLS_H

#include "kernel_api.h"

#define MLI_KNAME__(op, isa) mli__##op##__##isa
#define MLI_KNAME_(op, isa) MLI_KNAME__(op, isa)
#define MLI_KNAME(op) MLI_KNAME_(op, MLI_ISA)

void MLI_KNAME(f32_gemm_small)(const mli__gemm_args *g);
void MLI_KNAME(f32_identity)(const float *x, float *y, int64_t n);
void MLI_KNAME(f32_relu)(const float *x, float *y, int64_t n);
void MLI_KNAME(f32_sigmoid)(const float *x, float *y, int64_t n);
void MLI_KNAME(f32_tanh)(const float *x, float *y, int64_t n);
void MLI_KNAME(f32_gelu)(const float *x, float *y, int64_t n);
void MLI_KNAME(f32_gelu_tanh)(const float *x, float *y, int64_t n);
void MLI_KNAME(f32_bias_act)(float *y, const float *bias, int64_t n, int act);
void MLI_KNAME(f32_softmax)(const float *x, float *y, int64_t cols);
void MLI_KNAME(tree_walk)(const mli__tree_walk *w);
int MLI_KNAME(f64_to_f32)(const double *x, float *y, int64_t n);
int MLI_KNAME(f32_scan)(const float *x, int64_t n);
void MLI_KNAME(f64_to_f32_up)(const double *x, float *y, int64_t n);
int MLI_KNAME(f64_prepass)(const double *x, float *y, int64_t n, const uint64_t *filter, int log2, uint64_t *cand);
void MLI_KNAME(shap_walk)(const mli__shap_walk *w);
void MLI_KNAME(u8_img_vpass)(const uint8_t *const *rows, const float *w, int taps, float *out, int64_t n);
void MLI_KNAME(f32_img_hpass)(const mli__img_hpass *h);
void MLI_KNAME(u8_img_affine)(const uint8_t *x, const float *a, const float *b, float *out, int64_t n);
void MLI_KNAME(f32_img_affine)(const float *x, const float *a, const float *b, float *out, int64_t n);

/* The table of one ISA, from the functions above. */
#define MLI_KERNEL_TABLE_INIT(t)                                                                                       \
    do {                                                                                                               \
        (t)->isa = MLI_KNAME_STR(MLI_ISA);                                                                             \
        (t)->tree_mask_leaves = MLI__TBIT_LEAVES;                                                                      \
        (t)->gemm_small = MLI_KNAME(f32_gemm_small);                                                                   \
        (t)->act[MLI__ACT_IDENTITY] = MLI_KNAME(f32_identity);                                                         \
        (t)->act[MLI__ACT_RELU] = MLI_KNAME(f32_relu);                                                                 \
        (t)->act[MLI__ACT_SIGMOID] = MLI_KNAME(f32_sigmoid);                                                           \
        (t)->act[MLI__ACT_TANH] = MLI_KNAME(f32_tanh);                                                                 \
        (t)->act[MLI__ACT_GELU] = MLI_KNAME(f32_gelu);                                                                 \
        (t)->act[MLI__ACT_GELU_TANH] = MLI_KNAME(f32_gelu_tanh);                                                       \
        (t)->bias_act = MLI_KNAME(f32_bias_act);                                                                       \
        (t)->softmax = MLI_KNAME(f32_softmax);                                                                         \
        (t)->tree_walk = MLI_KNAME(tree_walk);                                                                         \
        (t)->f64_to_f32 = MLI_KNAME(f64_to_f32);                                                                       \
        (t)->f32_scan = MLI_KNAME(f32_scan);                                                                           \
        (t)->f64_to_f32_up = MLI_KNAME(f64_to_f32_up);                                                                 \
        (t)->f64_prepass = MLI_KNAME(f64_prepass);                                                                     \
        (t)->shap_walk = MLI_KNAME(shap_walk);                                                                         \
        (t)->img_vpass = MLI_KNAME(u8_img_vpass);                                                                      \
        (t)->img_hpass = MLI_KNAME(f32_img_hpass);                                                                     \
        (t)->img_affine_u8 = MLI_KNAME(u8_img_affine);                                                                 \
        (t)->img_affine_f32 = MLI_KNAME(f32_img_affine);                                                               \
    } while (0)
#define MLI_KNAME_STR_(isa) #isa
#define MLI_KNAME_STR(isa) MLI_KNAME_STR_(isa)

#endif
