/* gemm_small.h — GEMM for few rows (m small), the serving case: one or a handful of
 * feature rows against a weight matrix. No packing: B is streamed once per row block
 * straight from memory and each tile's accumulators stay in registers for the whole k
 * loop. Written once against simd.h; kernels/<isa>/gemm.c instantiates it.
 *
 * Tile shapes: MR rows (<= MLI__GEMM_MR) x NV vectors, NV = MLI_GEMM_NV(MR), chosen so
 * MR * NV accumulators plus the B vectors fit the register file and there are enough
 * independent FMA chains to hide the FMA latency even at m = 1. */
#include <stddef.h>
#include <string.h>

#include "generic/decls.h"
#if MLI_VL > 1
#include "generic/vmath.h"
#else
#include "generic/act_libm.h"
#endif

#define MLI_NV_MAX 8

/* alpha * acc + beta * C + bias, activation, store `lanes` lanes. */
MLI_INLINE void gemm_epilogue(const mli__gemm_args *g, float *c, const float *bias, vf x, int64_t lanes) {
    if (g->alpha != 1.0f)
        x = vf_mul(x, vf_set1(g->alpha));
    if (g->beta != 0.0f)
        x = vf_fmadd(vf_set1(g->beta), lanes == MLI_VL ? vf_load(c) : vf_load_n(c, lanes, 0.0f), x);
    if (bias)
        x = vf_add(x, lanes == MLI_VL ? vf_load(bias) : vf_load_n(bias, lanes, 0.0f));
    if (g->act != MLI__ACT_IDENTITY)
        x = v_act(g->act, x);
    if (lanes == MLI_VL)
        vf_store(c, x);
    else
        vf_store_n(c, x, lanes);
}

/* B not transposed: C[i0:i0+MR, j0:j0+NV*VL) with the last vector `last` lanes wide. */
MLI_INLINE void gemm_tile_nn(const mli__gemm_args *g, int64_t i0, int64_t j0, const int MR, const int NV,
                             const int64_t last, const int A_CONTIG) {
    vf acc[MLI__GEMM_MR][MLI_NV_MAX];
    for (int r = 0; r < MR; ++r)
        for (int v = 0; v < NV; ++v)
            acc[r][v] = vf_zero();
    const float *ar[MLI__GEMM_MR];
    for (int r = 0; r < MR; ++r)
        ar[r] = g->a + (i0 + r) * g->a_rs;
    const float *b = g->b + j0;
    /* a_cs is 1 unless A is transposed; the constant lets the compiler fold the A loads
     * into the FMAs as embedded broadcasts. */
    const int64_t a_cs = A_CONTIG ? 1 : g->a_cs, ldb = g->ldb;
    for (int64_t p = 0; p < g->k; ++p) {
        vf bv[MLI_NV_MAX];
        for (int v = 0; v < NV - 1; ++v)
            bv[v] = vf_load(b + v * MLI_VL);
        bv[NV - 1] = last == MLI_VL ? vf_load(b + (NV - 1) * MLI_VL) : vf_load_n(b + (NV - 1) * MLI_VL, last, 0.0f);
        for (int r = 0; r < MR; ++r) {
            vf av = vf_set1(ar[r][p * a_cs]);
            for (int v = 0; v < NV; ++v)
                acc[r][v] = vf_fmadd(av, bv[v], acc[r][v]);
        }
        b += ldb;
    }
    for (int r = 0; r < MR; ++r) {
        float *c = g->c + (i0 + r) * g->ldc + j0;
        for (int v = 0; v < NV; ++v)
            gemm_epilogue(g, c + v * MLI_VL, g->bias ? g->bias + j0 + v * MLI_VL : NULL, acc[r][v],
                          v == NV - 1 ? last : MLI_VL);
    }
}

/* All columns of rows i0..i0+MR-1 for B not transposed. */
MLI_INLINE void gemm_rows_nn(const mli__gemm_args *g, int64_t i0, const int MR, const int A_CONTIG) {
    const int NV = MLI_GEMM_NV(MR);
    const int64_t step = (int64_t)NV * MLI_VL;
    int64_t j0 = 0;
    for (; j0 + step <= g->n; j0 += step)
        gemm_tile_nn(g, i0, j0, MR, NV, MLI_VL, A_CONTIG);
    int64_t rem = g->n - j0;
    if (rem <= 0)
        return;
    int nvt = (int)((rem + MLI_VL - 1) / MLI_VL);
    int64_t last = rem - (int64_t)(nvt - 1) * MLI_VL;
    switch (nvt) {
#define MLI_TAIL_CASE(x)                                                                                               \
    case x:                                                                                                            \
        if (x <= NV)                                                                                                   \
            gemm_tile_nn(g, i0, j0, MR, x, last, A_CONTIG);                                                            \
        break;
        MLI_TAIL_CASE(1)
        MLI_TAIL_CASE(2)
        MLI_TAIL_CASE(3)
        MLI_TAIL_CASE(4)
        MLI_TAIL_CASE(5)
        MLI_TAIL_CASE(6)
        MLI_TAIL_CASE(7)
        MLI_TAIL_CASE(8)
#undef MLI_TAIL_CASE
    default: break;
    }
}

/* B transposed (op(B)(p, j) = b[j * ldb + p]): C(i, j) is a dot product of two contiguous
 * rows, so vectorise along k. A's rows must be contiguous here (a_cs == 1). */
#define MLI_NT_MR 4
MLI_INLINE void gemm_tile_nt(const mli__gemm_args *g, const float *a, int64_t a_rs, int64_t i0, int64_t j0,
                             const int MR, const int NC) {
    vf acc[MLI_NT_MR][4];
    for (int r = 0; r < MR; ++r)
        for (int c = 0; c < NC; ++c)
            acc[r][c] = vf_zero();
    const int64_t k = g->k, ldb = g->ldb;
    const float *b = g->b + j0 * ldb;
    int64_t p = 0;
    for (; p + MLI_VL <= k; p += MLI_VL) {
        vf bv[4];
        for (int c = 0; c < NC; ++c)
            bv[c] = vf_load(b + c * ldb + p);
        for (int r = 0; r < MR; ++r) {
            vf av = vf_load(a + r * a_rs + p);
            for (int c = 0; c < NC; ++c)
                acc[r][c] = vf_fmadd(av, bv[c], acc[r][c]);
        }
    }
    if (p < k) {
        int64_t rem = k - p;
        vf bv[4];
        for (int c = 0; c < NC; ++c)
            bv[c] = vf_load_n(b + c * ldb + p, rem, 0.0f);
        for (int r = 0; r < MR; ++r) {
            vf av = vf_load_n(a + r * a_rs + p, rem, 0.0f);
            for (int c = 0; c < NC; ++c)
                acc[r][c] = vf_fmadd(av, bv[c], acc[r][c]);
        }
    }
    for (int r = 0; r < MR; ++r) {
        float dots[MLI_VL > 4 ? MLI_VL : 4];
        for (int c = 0; c < NC; ++c)
            dots[c] = vf_hsum(acc[r][c]);
        float *cp = g->c + (i0 + r) * g->ldc + j0;
        const float *bias = g->bias ? g->bias + j0 : NULL;
        /* NC <= 4 <= VL lanes (VL == 1 on the scalar table: one lane at a time). */
        for (int c = 0; c < NC; c += MLI_VL)
            gemm_epilogue(g, cp + c, bias ? bias + c : NULL, vf_load_n(dots + c, NC - c, 0.0f),
                          NC - c < MLI_VL ? NC - c : MLI_VL);
    }
}

MLI_INLINE void gemm_rows_nt(const mli__gemm_args *g, const float *a, int64_t a_rs, int64_t i0, const int MR) {
    const int NC = MR <= 2 ? 4 : 2;
    int64_t j0 = 0;
    for (; j0 + NC <= g->n; j0 += NC)
        gemm_tile_nt(g, a, a_rs, i0, j0, MR, NC);
    for (; j0 < g->n; ++j0)
        gemm_tile_nt(g, a, a_rs, i0, j0, MR, 1);
}

MLI_INLINE void gemm_rows_nn_mr(const mli__gemm_args *g, int64_t i0, int64_t mr, const int A_CONTIG) {
    switch (mr) {
    case 1: gemm_rows_nn(g, i0, 1, A_CONTIG); break;
    case 2: gemm_rows_nn(g, i0, 2, A_CONTIG); break;
    case 3: gemm_rows_nn(g, i0, 3, A_CONTIG); break;
    case 4: gemm_rows_nn(g, i0, 4, A_CONTIG); break;
    case 5: gemm_rows_nn(g, i0, 5, A_CONTIG); break;
    case 6: gemm_rows_nn(g, i0, 6, A_CONTIG); break;
    case 7: gemm_rows_nn(g, i0, 7, A_CONTIG); break;
    default: gemm_rows_nn(g, i0, 8, A_CONTIG); break;
    }
}

void MLI_KNAME(f32_gemm_small)(const mli__gemm_args *g) {
    if (!g->trans_b) {
        for (int64_t i0 = 0; i0 < g->m; i0 += MLI__GEMM_MR) {
            int64_t mr = g->m - i0 < MLI__GEMM_MR ? g->m - i0 : MLI__GEMM_MR;
            if (g->a_cs == 1)
                gemm_rows_nn_mr(g, i0, mr, 1);
            else
                gemm_rows_nn_mr(g, i0, mr, 0);
        }
        return;
    }
    for (int64_t i0 = 0; i0 < g->m; i0 += MLI_NT_MR) {
        int64_t mr = g->m - i0 < MLI_NT_MR ? g->m - i0 : MLI_NT_MR;
        const float *a = g->a + i0 * g->a_rs;
        int64_t a_rs = g->a_rs;
        switch (mr) {
        case 1: gemm_rows_nt(g, a, a_rs, i0, 1); break;
        case 2: gemm_rows_nt(g, a, a_rs, i0, 2); break;
        case 3: gemm_rows_nt(g, a, a_rs, i0, 3); break;
        default: gemm_rows_nt(g, a, a_rs, i0, 4); break;
        }
    }
}
