/* gemm.c — mli_sgemm and the fused dense layer: argument checks, then the own small-m
 * kernels (no packing, no thread hand-off: the serving case) or OpenBLAS (large shapes,
 * where its packed, multithreaded kernels win). */
#include <limits.h>
#include <stdlib.h>

#include <cblas.h>

#include "internal.h"

/* The own kernels' row limit: each row block re-streams all of B, so beyond a few rows
 * OpenBLAS's packed, cache-blocked kernels win. */
#define MLI_GEMM_SMALL_M 8

/* Checks one operand: `rows` x `cols` stored row-major with leading dimension `ld`. */
mli_status mli__check_matrix(const char *fn, const char *name, const char *ldname, const void *p, int64_t rows,
                             int64_t cols, int64_t ld) {
    if (rows == 0 || cols == 0)
        return MLI_OK; /* nothing is read or written: NULL and any ld are fine */
    if (!p)
        return mli__fail(MLI_ERR_INVALID_ARGUMENT, "%s: %s is NULL but holds %lld x %lld elements", fn, name,
                         (long long)rows, (long long)cols);
    if (ld < cols)
        return mli__fail(MLI_ERR_INVALID_ARGUMENT, "%s: %s (%lld) is smaller than %lld, the row length of %s", fn,
                         ldname, (long long)ld, (long long)cols, name);
    int64_t extent, bytes;
    if (!mli__mul_ok(rows - 1, ld, &extent) || __builtin_add_overflow(extent, cols, &extent) ||
        !mli__mul_ok(extent, (int64_t)sizeof(float), &bytes))
        return mli__fail(MLI_ERR_INVALID_ARGUMENT,
                         "%s: %s spans more memory than can be addressed (%lld rows, %s %lld)", fn, name,
                         (long long)rows, ldname, (long long)ld);
    return MLI_OK;
}

mli_status mli__check_dims(const char *fn, int64_t m, int64_t n, int64_t k) {
    const char *bad = m < 0 ? "m" : n < 0 ? "n" : k < 0 ? "k" : NULL;
    if (bad)
        return mli__fail(MLI_ERR_INVALID_ARGUMENT, "%s: %s is negative (m=%lld, n=%lld, k=%lld)", fn, bad, (long long)m,
                         (long long)n, (long long)k);
    return MLI_OK;
}

/* C = beta * C (C write-only when beta == 0): the whole result when alpha == 0 or k == 0. */
static void scale_c(int64_t m, int64_t n, float beta, float *c, int64_t ldc) {
    for (int64_t i = 0; i < m; ++i)
        for (int64_t j = 0; j < n; ++j)
            c[i * ldc + j] = beta == 0.0f ? 0.0f : beta * c[i * ldc + j];
}

/* OpenBLAS takes int dimensions; larger calls (rare, and only possible with huge
 * leading dimensions) stay on the own kernels, which take int64_t. */
static int blas_can_take(int64_t m, int64_t n, int64_t k, int64_t lda, int64_t ldb, int64_t ldc) {
    return m <= INT_MAX && n <= INT_MAX && k <= INT_MAX && lda <= INT_MAX && ldb <= INT_MAX && ldc <= INT_MAX;
}

/* Small-m work below this many multiply-adds stays on the calling thread: the hand-off
 * to a warm worker (~0.2 us) would cost more than it saves. */
#define MLI_GEMM_PARALLEL_MIN_WORK (1 << 15)

/* Fewer rows than this are bound by streaming B through the caches, not by arithmetic:
 * measured (benchmarks/README.md), splitting 1-3 rows across cores is slower than one
 * core, from 4 rows on it is 1.3-1.6x faster. */
#define MLI_GEMM_PARALLEL_MIN_M 4

static int parallel_pays(int64_t m, int64_t n, int64_t k) {
    int64_t work;
    return m >= MLI_GEMM_PARALLEL_MIN_M && mli__num_threads() > 1 && mli__mul_ok(m, n, &work) &&
           mli__mul_ok(work, k, &work) && work >= MLI_GEMM_PARALLEL_MIN_WORK;
}

/* Which engine serves a plain GEMM, by measurement (benchmarks/README.md): the own
 * kernels for one row (no packing; on par with OpenBLAS) and for 4-8 rows when they can
 * spread over cores; OpenBLAS for 2-8 rows on one thread (its kernel overlaps the L2
 * stream and the FMAs better there), for 2-3 rows, and for everything larger. */
static int use_own_kernels(int64_t m, int64_t n, int64_t k) {
    return m == 1 || (m <= MLI_GEMM_SMALL_M && parallel_pays(m, n, k));
}
/* Columns per parallel part, at least: a multiple of every ISA's tile width. */
#define MLI_GEMM_COLUMN_GRAIN 64

static void gemm_columns(void *ctx, int64_t j0, int64_t j1) {
    const mli__gemm_args *g = ctx;
    mli__gemm_args part = *g;
    part.n = j1 - j0;
    part.b = g->b + (g->trans_b ? j0 * g->ldb : j0); /* not NULL: run_small */
    part.c = g->c + j0;
    part.bias = g->bias ? g->bias + j0 : NULL;
    mli__get_kernels()->gemm_small(&part);
}

/* The own kernels: columns split across the pool when there is enough work (each core
 * then streams its own share of B through its own L2). */
static mli_status run_small(const char *fn, mli__gemm_args *g) {
    float *packed = NULL;
    /* With k == 0, A and B may be NULL (empty operands) and are never read; the kernels
     * still form row and column addresses from them, so give them an address to start at. */
    static const float no_operand[1];
    if (g->k == 0) {
        g->a = g->a ? g->a : no_operand;
        g->b = g->b ? g->b : no_operand;
    }
    if (g->trans_b && g->a_cs != 1) { /* the dot-product kernel wants rows of A contiguous */
        size_t bytes = (size_t)g->m * (size_t)g->k * sizeof(float);
        packed = malloc(bytes ? bytes : 1);
        if (!packed)
            return mli__fail(MLI_ERR_OUT_OF_MEMORY, "%s: cannot allocate %zu bytes to pack A", fn, bytes);
        for (int64_t i = 0; i < g->m; ++i)
            for (int64_t p = 0; p < g->k; ++p)
                packed[i * g->k + p] = g->a[i * g->a_rs + p * g->a_cs];
        g->a = packed;
        g->a_rs = g->k;
        g->a_cs = 1;
    }
    if (parallel_pays(g->m, g->n, g->k))
        mli__parallel_for(g->n, MLI_GEMM_COLUMN_GRAIN, gemm_columns, g);
    else
        gemm_columns(g, 0, g->n);
    free(packed);
    return MLI_OK;
}

mli_status mli__check_sgemm(const char *fn, mli_trans trans_a, mli_trans trans_b, int64_t m, int64_t n, int64_t k,
                            const void *a, int64_t lda, const void *b, int64_t ldb, const void *c, int64_t ldc) {
    mli_status st;
    if (trans_a != MLI_NO_TRANS && trans_a != MLI_TRANS)
        return mli__fail(MLI_ERR_INVALID_ARGUMENT, "%s: trans_a (%d) is neither MLI_NO_TRANS nor MLI_TRANS", fn,
                         (int)trans_a);
    if (trans_b != MLI_NO_TRANS && trans_b != MLI_TRANS)
        return mli__fail(MLI_ERR_INVALID_ARGUMENT, "%s: trans_b (%d) is neither MLI_NO_TRANS nor MLI_TRANS", fn,
                         (int)trans_b);
    if ((st = mli__check_dims(fn, m, n, k)) != MLI_OK)
        return st;
    int ta = trans_a == MLI_TRANS, tb = trans_b == MLI_TRANS;
    if ((st = mli__check_matrix(fn, "A", "lda", a, ta ? k : m, ta ? m : k, lda)) != MLI_OK ||
        (st = mli__check_matrix(fn, "B", "ldb", b, tb ? n : k, tb ? k : n, ldb)) != MLI_OK)
        return st;
    return mli__check_matrix(fn, "C", "ldc", c, m, n, ldc);
}

mli_status mli_sgemm(mli_trans trans_a, mli_trans trans_b, int64_t m, int64_t n, int64_t k, float alpha, const float *a,
                     int64_t lda, const float *b, int64_t ldb, float beta, float *c, int64_t ldc) {
    static const char fn[] = "mli_sgemm";
    mli_status st;
    if ((st = mli__check_sgemm(fn, trans_a, trans_b, m, n, k, a, lda, b, ldb, c, ldc)) != MLI_OK)
        return st;
    int ta = trans_a == MLI_TRANS, tb = trans_b == MLI_TRANS;
    const mli__kernels *kt = mli__get_kernels();
    if (!kt)
        return MLI_ERR_UNSUPPORTED;
    if (m == 0 || n == 0)
        return MLI_OK;
    if (k == 0 || alpha == 0.0f) { /* BLAS semantics: A and B are not read */
        scale_c(m, n, beta, c, ldc);
        return MLI_OK;
    }
    if (use_own_kernels(m, n, k) || !blas_can_take(m, n, k, lda, ldb, ldc)) {
        mli__gemm_args g = {.m = m,
                            .n = n,
                            .k = k,
                            .a = a,
                            .a_rs = ta ? 1 : lda,
                            .a_cs = ta ? lda : 1,
                            .b = b,
                            .ldb = ldb,
                            .trans_b = tb,
                            .alpha = alpha,
                            .beta = beta,
                            .c = c,
                            .ldc = ldc,
                            .bias = NULL,
                            .act = MLI__ACT_IDENTITY};
        return run_small(fn, &g);
    }
    mli__blas_enter();
    cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, (int)m, (int)n, (int)k,
                alpha, a, (int)lda, b, (int)ldb, beta, c, (int)ldc);
    mli__blas_leave();
    return MLI_OK;
}

mli_status mli_sgemm_bias_act(int64_t m, int64_t n, int64_t k, const float *a, int64_t lda, const float *b, int64_t ldb,
                              const float *bias, mli_act act, float *c, int64_t ldc) {
    static const char fn[] = "mli_sgemm_bias_act";
    mli_status st;
    if ((unsigned)act >= MLI__ACT_COUNT)
        return mli__fail(MLI_ERR_INVALID_ARGUMENT, "%s: act (%d) is not an mli_act value", fn, (int)act);
    if ((st = mli__check_sgemm(fn, MLI_NO_TRANS, MLI_NO_TRANS, m, n, k, a, lda, b, ldb, c, ldc)) != MLI_OK)
        return st;
    if (!bias && n > 0 && m > 0 && act == MLI_ACT_IDENTITY && k > 0)
        return mli_sgemm(MLI_NO_TRANS, MLI_NO_TRANS, m, n, k, 1.0f, a, lda, b, ldb, 0.0f, c, ldc);
    const mli__kernels *kt = mli__get_kernels();
    if (!kt)
        return MLI_ERR_UNSUPPORTED;
    if (m == 0 || n == 0)
        return MLI_OK;
    if (m <= MLI_GEMM_SMALL_M || k == 0 || !blas_can_take(m, n, k, lda, ldb, ldc)) {
        mli__gemm_args g = {.m = m,
                            .n = n,
                            .k = k,
                            .a = a,
                            .a_rs = lda,
                            .a_cs = 1,
                            .b = b,
                            .ldb = ldb,
                            .trans_b = 0,
                            .alpha = 1.0f,
                            .beta = 0.0f,
                            .c = c,
                            .ldc = ldc,
                            .bias = bias,
                            .act = (int)act};
        return run_small(fn, &g);
    }
    mli__blas_enter();
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)m, (int)n, (int)k, 1.0f, a, (int)lda, b, (int)ldb, 0.0f,
                c, (int)ldc);
    mli__blas_leave();
    for (int64_t i = 0; i < m; ++i)
        kt->bias_act(c + i * ldc, bias, n, (int)act);
    return MLI_OK;
}

void mli__dense(const mli__kernels *kt, int64_t m, int64_t n, int64_t k, const float *a, int64_t lda, const float *b,
                int64_t ldb, int trans_b, const float *bias, int act, float *c, int64_t ldc) {
    if (n == 1 && !trans_b) { /* a k x 1 column is also a 1 x k row: use the dot-product kernel */
        trans_b = 1;
        ldb = k;
    }
    mli__gemm_args g = {.m = m,
                        .n = n,
                        .k = k,
                        .a = a,
                        .a_rs = lda,
                        .a_cs = 1,
                        .b = b,
                        .ldb = ldb,
                        .trans_b = trans_b,
                        .alpha = 1.0f,
                        .beta = 0.0f,
                        .c = c,
                        .ldc = ldc,
                        .bias = bias,
                        .act = act};
    kt->gemm_small(&g);
}
