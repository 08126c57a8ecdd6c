/* test_gemm.c — mli_sgemm and mli_sgemm_bias_act against a double-precision naive
 * reference, over every transpose, alpha/beta class, tail length, padded and misaligned
 * layout, plus argument validation. Run once per ISA (ctest sets MLI_FORCE_ISA). */
#include "testutil.h"

static const float k_alphas[] = {1.0f, 0.5f, -2.0f, 0.0f};
static const float k_betas[] = {0.0f, 1.0f, -0.75f};
#define N_ALPHAS 4
#define N_BETAS 3

typedef struct gemm_case {
    mli_trans ta, tb;
    int64_t m, n, k;
    float alpha, beta;
    int64_t pad_a, pad_b, pad_c; /* leading dimension minus the minimal one */
    int64_t off;                 /* floats from a 64-byte boundary (misalignment) */
} gemm_case;

static int64_t max64(int64_t a, int64_t b)
{
    return a > b ? a : b;
}

static void describe(const gemm_case *g, char *buf, size_t len)
{
    snprintf(buf, len,
             "sgemm(%c%c m=%lld n=%lld k=%lld alpha=%g beta=%g pads=%lld/%lld/%lld off=%lld)",
             g->ta == MLI_TRANS ? 'T' : 'N', g->tb == MLI_TRANS ? 'T' : 'N', (long long)g->m,
             (long long)g->n, (long long)g->k, (double)g->alpha, (double)g->beta,
             (long long)g->pad_a, (long long)g->pad_b, (long long)g->pad_c, (long long)g->off);
}

/* Rows and columns of the stored (not transposed-view) matrix. */
static void stored_shape(mli_trans t, int64_t rows_op, int64_t cols_op, int64_t *rows, int64_t *cols)
{
    *rows = t == MLI_NO_TRANS ? rows_op : cols_op;
    *cols = t == MLI_NO_TRANS ? cols_op : rows_op;
}

/* Runs one case and checks: every element of the m x n window within the header bound of
 * the reference, no NaN when beta == 0 (C holds NaN before the call), and every float of
 * C's buffer outside the window (ldc padding, before and after) bit-identical. */
static void check_gemm(const gemm_case *g, tu_rng *rng)
{
    char what[200];
    describe(g, what, sizeof what);

    int64_t ar, ac, br, bc;
    stored_shape(g->ta, g->m, g->k, &ar, &ac);
    stored_shape(g->tb, g->k, g->n, &br, &bc);
    int64_t lda = max64(ac, 1) + g->pad_a, ldb = max64(bc, 1) + g->pad_b;
    int64_t ldc = max64(g->n, 1) + g->pad_c;

    size_t na = (size_t)(ar * lda), nb = (size_t)(br * ldb);
    size_t nc_total = (size_t)(g->off + g->m * ldc + 16);
    float *abase = tu_falloc(na + (size_t)g->off), *bbase = tu_falloc(nb + (size_t)g->off);
    float *cbase = tu_falloc(nc_total), *c0 = tu_falloc(nc_total);
    float *a = abase + g->off, *b = bbase + g->off, *c = cbase + g->off;

    tu_frand(rng, a, na, -1.0f, 1.0f);
    tu_frand(rng, b, nb, -1.0f, 1.0f);
    tu_ffill(cbase, nc_total, tu_sentinel());
    for (int64_t i = 0; i < g->m; i++)
        for (int64_t j = 0; j < g->n; j++)
            c[i * ldc + j] = g->beta == 0.0f ? NAN : tu_uniform(rng, -1.0f, 1.0f);
    memcpy(c0, cbase, nc_total * sizeof(float));

    size_t mn = (size_t)(g->m * g->n);
    double *ref = tu_dalloc(mn), *tol = tu_dalloc(mn);
    tu_ref_sgemm(g->ta, g->tb, g->m, g->n, g->k, g->alpha, a, lda, b, ldb, g->beta, c0 + g->off,
                 ldc, ref, tol);
    for (size_t i = 0; i < mn; i++)
        tol[i] = 1e-5 * (double)max64(g->k, 1) * tol[i] + 1e-30;

    mli_status st = mli_sgemm(g->ta, g->tb, g->m, g->n, g->k, g->alpha, a, lda, b, ldb, g->beta,
                              c, ldc);
    if (st != MLI_OK) {
        fprintf(stderr, "%s returned %s: %s\n", what, mli_status_string(st), mli_last_error());
        fail();
    }

    float *got = tu_falloc(mn);
    for (int64_t i = 0; i < g->m; i++)
        for (int64_t j = 0; j < g->n; j++)
            got[i * g->n + j] = c[i * ldc + j];
    int ok = tu_check_within(what, got, ref, tol, mn);
    if (ok) {
        /* Restore the window in the snapshot; everything else must match it bit for bit. */
        for (int64_t i = 0; i < g->m; i++)
            for (int64_t j = 0; j < g->n; j++)
                c0[g->off + i * ldc + j] = c[i * ldc + j];
        int64_t d = tu_first_bit_diff(cbase, c0, nc_total);
        if (d >= 0) {
            fprintf(stderr, "%s: wrote outside the m x n window at buffer float %lld "
                            "(offset %lld from c): %g, was %g\n",
                    what, (long long)d, (long long)(d - g->off), (double)cbase[d], (double)c0[d]);
            ok = 0;
        }
    }
    free(got);
    free(ref);
    free(tol);
    free(abase);
    free(bbase);
    free(cbase);
    free(c0);
    assert_true(ok);
}

static void run_all_combos(tu_rng *rng, int64_t m, int64_t n, int64_t k, int64_t pad, int64_t off)
{
    for (int t = 0; t < 4; t++)
        for (int ai = 0; ai < N_ALPHAS; ai++)
            for (int bi = 0; bi < N_BETAS; bi++) {
                gemm_case g = {(mli_trans)(t & 1), (mli_trans)(t >> 1), m, n, k, k_alphas[ai],
                               k_betas[bi], pad, pad, pad, off};
                check_gemm(&g, rng);
            }
}

/* ---- shapes ------------------------------------------------------------------------------ */

static void test_sizes_zero_and_one(void **state)
{
    (void)state;
    tu_require_kernels();
    tu_rng rng = {1};
    for (int s = 0; s < 8; s++)
        run_all_combos(&rng, s & 1, (s >> 1) & 1, (s >> 2) & 1, 0, 0);
    for (int s = 0; s < 8; s++)
        run_all_combos(&rng, s & 1, (s >> 1) & 1, (s >> 2) & 1, 3, 1);
}

static void test_all_transposes_alphas_betas(void **state)
{
    (void)state;
    tu_require_kernels();
    tu_rng rng = {2};
    static const int64_t shapes[][3] = {{2, 3, 4},  {7, 9, 5},   {8, 16, 16}, {9, 33, 17},
                                        {13, 64, 1}, {1, 67, 67}, {37, 45, 29}, {64, 8, 130}};
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
        run_all_combos(&rng, shapes[s][0], shapes[s][1], shapes[s][2], (int64_t)(s % 3) * 5,
                       (int64_t)(s & 1));
}

/* Every n tail 1..67 with each small m 1..9, every transpose; k and alpha/beta rotate. */
static void test_n_tails_small_m(void **state)
{
    (void)state;
    tu_require_kernels();
    tu_rng rng = {3};
    static const int64_t ks[] = {1, 2, 3, 5, 8, 16, 17, 31, 33, 64, 67};
    int idx = 0;
    for (int64_t n = 1; n <= 67; n++)
        for (int64_t m = 1; m <= 9; m++)
            for (int t = 0; t < 4; t++, idx++) {
                gemm_case g = {(mli_trans)(t & 1), (mli_trans)(t >> 1), m, n, ks[idx % 11],
                               k_alphas[idx % N_ALPHAS], k_betas[(idx / N_ALPHAS) % N_BETAS],
                               idx % 3, (idx / 3) % 2, (idx / 2) % 3, idx % 2};
                check_gemm(&g, &rng);
            }
}

/* Every k tail 1..67 with each small m 1..9, every transpose; n and alpha/beta rotate. */
static void test_k_tails_small_m(void **state)
{
    (void)state;
    tu_require_kernels();
    tu_rng rng = {4};
    static const int64_t ns[] = {1, 3, 4, 7, 8, 15, 16, 24, 32, 33, 48, 64, 65};
    int idx = 0;
    for (int64_t k = 1; k <= 67; k++)
        for (int64_t m = 1; m <= 9; m++)
            for (int t = 0; t < 4; t++, idx++) {
                gemm_case g = {(mli_trans)(t & 1), (mli_trans)(t >> 1), m, ns[idx % 13], k,
                               k_alphas[(idx / 3) % N_ALPHAS], k_betas[idx % N_BETAS],
                               (idx / 2) % 2, idx % 3, idx % 2, (idx / 5) % 2};
                check_gemm(&g, &rng);
            }
}

/* Small m with enough work that a library may split the columns across threads: every n
 * tail (and a few widths around a 64-column split), k with every tail mod 16, under 2, 3
 * and 16 threads so the parts come out uneven or tiny. */
static void test_small_m_split_across_threads(void **state)
{
    (void)state;
    tu_require_kernels();
    tu_rng rng = {13};
    static const int64_t wide[] = {100, 127, 128, 129, 130, 192, 200, 257};
    static const int thread_counts[] = {2, 3, 16};
    int idx = 0;
    for (int tc = 0; tc < 3; tc++) {
        TU_EXPECT_OK(mli_set_num_threads(thread_counts[tc]));
        for (int64_t m = 1; m <= 9; m++)
            for (int64_t ni = 0; ni < 67 + 8; ni++, idx++) {
                int64_t n = ni < 67 ? ni + 1 : wide[ni - 67];
                int64_t need = (40000 + m * n - 1) / (m * n);
                int64_t k = (need + 63) / 64 * 64 + idx % 17;
                int t = idx % 4;
                gemm_case g = {(mli_trans)(t & 1), (mli_trans)(t >> 1), m, n, k,
                               k_alphas[(idx / 4) % N_ALPHAS], k_betas[idx % N_BETAS],
                               idx % 2, (idx / 2) % 2, idx % 3, (idx / 3) % 2};
                check_gemm(&g, &rng);
            }
    }
    TU_EXPECT_OK(mli_set_num_threads(0));
}

static void test_random_shapes(void **state)
{
    (void)state;
    tu_require_kernels();
    tu_rng rng = {5};
    for (int i = 0; i < 60; i++) {
        gemm_case g = {(mli_trans)tu_randint(&rng, 0, 1),
                       (mli_trans)tu_randint(&rng, 0, 1),
                       tu_randint(&rng, 1, 300),
                       tu_randint(&rng, 1, 300),
                       tu_randint(&rng, 1, 300),
                       k_alphas[tu_randint(&rng, 0, N_ALPHAS - 1)],
                       k_betas[tu_randint(&rng, 0, N_BETAS - 1)],
                       tu_randint(&rng, 0, 2) * tu_randint(&rng, 0, 20),
                       tu_randint(&rng, 0, 2) * tu_randint(&rng, 0, 20),
                       tu_randint(&rng, 0, 2) * tu_randint(&rng, 0, 20),
                       tu_randint(&rng, 0, 1)};
        check_gemm(&g, &rng);
    }
}

static void test_large(void **state)
{
    (void)state;
    tu_require_kernels();
    tu_rng rng = {6};
    gemm_case cases[] = {
        {MLI_NO_TRANS, MLI_NO_TRANS, 512, 512, 512, 1.0f, 0.0f, 0, 0, 0, 0},
        {MLI_TRANS, MLI_TRANS, 333, 515, 420, -2.0f, 1.0f, 3, 0, 1, 1},
        {MLI_NO_TRANS, MLI_TRANS, 200, 1024, 300, 0.5f, -0.75f, 0, 5, 0, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        check_gemm(&cases[i], &rng);
}

static void test_padded_leading_dims(void **state)
{
    (void)state;
    tu_require_kernels();
    tu_rng rng = {7};
    static const int64_t pads[] = {1, 7, 16, 64, 1000};
    for (int t = 0; t < 4; t++)
        for (size_t p = 0; p < 5; p++) {
            gemm_case g1 = {(mli_trans)(t & 1), (mli_trans)(t >> 1), 5, 19, 23, 1.0f, 1.0f,
                            pads[p], 0, 0, 0};
            gemm_case g2 = {(mli_trans)(t & 1), (mli_trans)(t >> 1), 17, 40, 9, 0.5f, 0.0f,
                            0, pads[p], 0, 0};
            gemm_case g3 = {(mli_trans)(t & 1), (mli_trans)(t >> 1), 8, 33, 65, -2.0f, -0.75f,
                            0, 0, pads[p], 1};
            gemm_case g4 = {(mli_trans)(t & 1), (mli_trans)(t >> 1), 70, 70, 70, 1.0f, 0.0f,
                            pads[p], pads[4 - p], pads[(p + 2) % 5], 1};
            check_gemm(&g1, &rng);
            check_gemm(&g2, &rng);
            check_gemm(&g3, &rng);
            check_gemm(&g4, &rng);
        }
}

static void test_misaligned(void **state)
{
    (void)state;
    tu_require_kernels();
    tu_rng rng = {8};
    static const int64_t shapes[][3] = {{1, 64, 64}, {4, 17, 33}, {9, 128, 16}, {100, 100, 100}};
    for (size_t s = 0; s < 4; s++)
        for (int t = 0; t < 4; t++)
            for (int64_t off = 1; off <= 3; off += 2) {
                gemm_case g = {(mli_trans)(t & 1), (mli_trans)(t >> 1), shapes[s][0], shapes[s][1],
                               shapes[s][2], 1.0f, (float)(t & 1), 0, 0, 0, off};
                check_gemm(&g, &rng);
            }
}

/* alpha == 0 and beta == 0: C becomes exactly zero without reading A, B products or C. */
static void test_alpha0_beta0_gives_zero(void **state)
{
    (void)state;
    tu_require_kernels();
    int64_t m = 6, n = 21, k = 11;
    float *a = tu_falloc((size_t)(m * k)), *b = tu_falloc((size_t)(k * n)), *c = tu_falloc((size_t)(m * n));
    tu_rng rng = {9};
    tu_frand(&rng, a, (size_t)(m * k), -1e30f, 1e30f);
    tu_frand(&rng, b, (size_t)(k * n), -1e30f, 1e30f);
    tu_ffill(c, (size_t)(m * n), NAN);
    TU_EXPECT_OK(mli_sgemm(MLI_NO_TRANS, MLI_NO_TRANS, m, n, k, 0.0f, a, k, b, n, 0.0f, c, n));
    for (int64_t i = 0; i < m * n; i++)
        if (c[i] != 0.0f) {
            fprintf(stderr, "alpha=0 beta=0: c[%lld] = %g, expected 0\n", (long long)i, (double)c[i]);
            fail();
        }
    free(a);
    free(b);
    free(c);
}

/* ---- argument validation ------------------------------------------------------------------ */

static void test_bad_arguments(void **state)
{
    (void)state;
    tu_require_kernels();
    float a[64], b[64], c[64];
    tu_ffill(a, 64, 1.0f);
    tu_ffill(b, 64, 1.0f);
    tu_ffill(c, 64, 1.0f);
    const mli_trans N = MLI_NO_TRANS, T = MLI_TRANS;
    const mli_status INV = MLI_ERR_INVALID_ARGUMENT;

    /* m = 4, n = 5, k = 6 */
    TU_EXPECT_FAIL(mli_sgemm(N, N, -1, 5, 6, 1, a, 6, b, 5, 0, c, 5), INV, "m");
    TU_EXPECT_FAIL(mli_sgemm(N, N, 4, -1, 6, 1, a, 6, b, 5, 0, c, 5), INV, "n");
    TU_EXPECT_FAIL(mli_sgemm(N, N, 4, 5, -1, 1, a, 6, b, 5, 0, c, 5), INV, "k");
    TU_EXPECT_FAIL(mli_sgemm(N, N, INT64_MIN, 5, 6, 1, a, 6, b, 5, 0, c, 5), INV, "m");

    TU_EXPECT_FAIL(mli_sgemm(N, N, 4, 5, 6, 1, NULL, 6, b, 5, 0, c, 5), INV, "a");
    TU_EXPECT_FAIL(mli_sgemm(N, N, 4, 5, 6, 1, a, 6, NULL, 5, 0, c, 5), INV, "b");
    TU_EXPECT_FAIL(mli_sgemm(N, N, 4, 5, 6, 1, a, 6, b, 5, 0, NULL, 5), INV, "c");

    /* leading dimensions too small, for each transpose */
    TU_EXPECT_FAIL(mli_sgemm(N, N, 4, 5, 6, 1, a, 5, b, 5, 0, c, 5), INV, "lda");
    TU_EXPECT_FAIL(mli_sgemm(T, N, 4, 5, 6, 1, a, 3, b, 5, 0, c, 5), INV, "lda");
    TU_EXPECT_FAIL(mli_sgemm(N, N, 4, 5, 6, 1, a, 6, b, 4, 0, c, 5), INV, "ldb");
    TU_EXPECT_FAIL(mli_sgemm(N, T, 4, 5, 6, 1, a, 6, b, 5, 0, c, 5), INV, "ldb");
    TU_EXPECT_FAIL(mli_sgemm(N, N, 4, 5, 6, 1, a, 6, b, 5, 0, c, 4), INV, "ldc");
    TU_EXPECT_FAIL(mli_sgemm(T, T, 4, 5, 6, 1, a, 4, b, 6, 0, c, 4), INV, "ldc");
    TU_EXPECT_FAIL(mli_sgemm(N, N, 4, 5, 6, 1, a, -6, b, 5, 0, c, 5), INV, "lda");
    /* the transposed minimum is the other dimension: valid with T, invalid with N */
    TU_EXPECT_OK(mli_sgemm(T, N, 4, 5, 6, 1, a, 4, b, 5, 0, c, 5));
    TU_EXPECT_OK(mli_sgemm(N, T, 4, 5, 6, 1, a, 6, b, 6, 0, c, 5));

    /* invalid transpose values */
    TU_EXPECT_FAIL(mli_sgemm((mli_trans)2, N, 4, 5, 6, 1, a, 6, b, 5, 0, c, 5), INV, "trans_a");
    TU_EXPECT_FAIL(mli_sgemm(N, (mli_trans)7, 4, 5, 6, 1, a, 6, b, 5, 0, c, 5), INV, "trans_b");
    TU_EXPECT_FAIL(mli_sgemm((mli_trans)-1, N, 4, 5, 6, 1, a, 6, b, 5, 0, c, 5), INV, "trans_a");

    /* sizes whose products overflow int64: must be rejected, never read */
    const int64_t big = (int64_t)1 << 40;
    TU_EXPECT_FAIL(mli_sgemm(N, N, big, 1, big, 1, a, big, b, 1, 0, c, 1), INV, NULL);
    TU_EXPECT_FAIL(mli_sgemm(N, N, 1, big, big, 1, a, big, b, big, 0, c, big), INV, NULL);
    TU_EXPECT_FAIL(mli_sgemm(N, N, 4, 5, 6, 1, a, INT64_MAX / 2, b, 5, 0, c, 5), INV, NULL);
    TU_EXPECT_FAIL(mli_sgemm(N, N, INT64_MAX, INT64_MAX, 2, 1, a, 2, b, INT64_MAX, 0, c, INT64_MAX),
                   INV, NULL);
}

/* An operand with no elements is never read, so it may be NULL (and its leading dimension
 * is not checked against anything). */
static void test_null_with_zero_sizes(void **state)
{
    (void)state;
    tu_require_kernels();
    const mli_trans N = MLI_NO_TRANS;
    float buf[64];
    tu_ffill(buf, 64, 1.0f);
    for (int t = 0; t < 4; t++) {
        mli_trans ta = (mli_trans)(t & 1), tb = (mli_trans)(t >> 1);
        /* m == 0: A (0 x k) and C (0 x n) hold nothing */
        TU_EXPECT_OK(mli_sgemm(ta, tb, 0, 5, 6, 1, NULL, 6, buf, 6, 0, NULL, 5));
        /* n == 0: B and C hold nothing */
        TU_EXPECT_OK(mli_sgemm(ta, tb, 4, 0, 6, 1, buf, 6, NULL, 6, 1, NULL, 1));
        TU_EXPECT_OK(mli_sgemm(ta, tb, 0, 0, 0, 1, NULL, 1, NULL, 1, 0, NULL, 1));
        /* k == 0: A and B hold nothing */
        TU_EXPECT_OK(mli_sgemm(ta, tb, 2, 3, 0, 1, NULL, 1, NULL, 3, 0, buf, 3));
    }
    /* k == 0: C = beta * C, with A and B never read */
    float c[3 * 5];
    for (int bi = 0; bi < N_BETAS; bi++) {
        float beta = k_betas[bi];
        for (int i = 0; i < 15; i++)
            c[i] = beta == 0.0f ? NAN : (float)(i + 1);
        TU_EXPECT_OK(mli_sgemm(N, N, 3, 5, 0, 1, NULL, 1, NULL, 5, beta, c, 5));
        for (int i = 0; i < 15; i++) {
            float want = beta == 0.0f ? 0.0f : beta * (float)(i + 1);
            if (!(fabsf(c[i] - want) <= 1e-6f * fabsf(want))) {
                fprintf(stderr, "k=0 beta=%g: c[%d] = %g, expected %g\n", (double)beta, i,
                        (double)c[i], (double)want);
                fail();
            }
        }
    }
}

/* The header's minimum leading dimensions are exact: lda >= k etc., so 0 is valid when the
 * dimension is 0. */
static void test_minimal_leading_dims_with_zero_sizes(void **state)
{
    (void)state;
    tu_require_kernels();
    float a[8] = {0}, b[8] = {0}, c[8] = {0};
    TU_EXPECT_OK(mli_sgemm(MLI_NO_TRANS, MLI_NO_TRANS, 2, 3, 0, 1, a, 0, b, 3, 0, c, 3));
    TU_EXPECT_OK(mli_sgemm(MLI_TRANS, MLI_NO_TRANS, 0, 3, 2, 1, a, 0, b, 3, 0, c, 3));
    TU_EXPECT_OK(mli_sgemm(MLI_NO_TRANS, MLI_NO_TRANS, 2, 0, 2, 1, a, 2, b, 0, 0, c, 0));
    TU_EXPECT_OK(mli_sgemm(MLI_NO_TRANS, MLI_TRANS, 2, 3, 0, 1, a, 0, b, 0, 0, c, 3));
}

/* Leading dimensions beyond INT32_MAX (what a 32-bit BLAS interface can take) with one row,
 * so only a few floats are touched: the result must be right, or the call must fail
 * cleanly (MLI_ERR_UNSUPPORTED / MLI_ERR_INVALID_ARGUMENT), never truncate the stride. */
static void test_huge_leading_dims(void **state)
{
    (void)state;
    tu_require_kernels();
    const int64_t huge = ((int64_t)1 << 31) + 3;
    static const int64_t shapes[][2] = {{1, 1}, {64, 64}, {67, 300}}; /* n, k */
    tu_rng rng = {12};
    for (size_t s = 0; s < 3; s++) {
        int64_t n = shapes[s][0], k = shapes[s][1];
        /* A: 1 x k row (NO_TRANS, lda huge); B: k x n (NO_TRANS, ldb = n); C: 1 x n (ldc huge) */
        float *a = tu_falloc((size_t)k), *b = tu_falloc((size_t)(k * n)), *c = tu_falloc((size_t)n);
        double *ref = tu_dalloc((size_t)n), *tol = tu_dalloc((size_t)n);
        tu_frand(&rng, a, (size_t)k, -1, 1);
        tu_frand(&rng, b, (size_t)(k * n), -1, 1);
        tu_ffill(c, (size_t)n, NAN);
        tu_ref_sgemm(MLI_NO_TRANS, MLI_NO_TRANS, 1, n, k, 1.0f, a, k, b, n, 0.0f, NULL, 0, ref, tol);
        for (int64_t j = 0; j < n; j++)
            tol[j] = 1e-5 * (double)k * tol[j] + 1e-30;
        mli_status st = mli_sgemm(MLI_NO_TRANS, MLI_NO_TRANS, 1, n, k, 1.0f, a, huge, b, n, 0.0f, c, huge);
        if (st == MLI_OK) {
            assert_true(tu_check_within("sgemm with lda = ldc = 2^31 + 3", c, ref, tol, (size_t)n));
        } else if (st != MLI_ERR_UNSUPPORTED && st != MLI_ERR_INVALID_ARGUMENT) {
            fprintf(stderr, "lda = 2^31 + 3: unexpected %s: %s\n", mli_status_string(st), mli_last_error());
            fail();
        }
        free(a);
        free(b);
        free(c);
        free(ref);
        free(tol);
    }
}

/* ---- mli_sgemm_bias_act --------------------------------------------------------------------- */

static void check_bias_act(tu_rng *rng, int64_t m, int64_t n, int64_t k, mli_act act,
                           int with_bias, int64_t pad, int64_t off)
{
    char what[160];
    snprintf(what, sizeof what, "sgemm_bias_act(m=%lld n=%lld k=%lld act=%s bias=%s pad=%lld off=%lld)",
             (long long)m, (long long)n, (long long)k, tu_act_name(act), with_bias ? "yes" : "NULL",
             (long long)pad, (long long)off);
    int64_t lda = k + pad, ldb = n + (pad ? pad + 1 : 0), ldc = n + pad / 2;
    size_t nc = (size_t)(off + m * ldc + 16);
    float *abase = tu_falloc((size_t)(m * lda + off)), *bbase = tu_falloc((size_t)(k * ldb + off));
    float *bias = tu_falloc((size_t)n + 1), *cbase = tu_falloc(nc), *c0 = tu_falloc(nc);
    float *a = abase + off, *b = bbase + off, *c = cbase + off;
    tu_frand(rng, a, (size_t)(m * lda), -1.0f, 1.0f);
    tu_frand(rng, b, (size_t)(k * ldb), -1.0f, 1.0f);
    tu_frand(rng, bias, (size_t)n, -1.0f, 1.0f);
    tu_ffill(cbase, nc, tu_sentinel());
    for (int64_t i = 0; i < m; i++)
        for (int64_t j = 0; j < n; j++)
            c[i * ldc + j] = NAN; /* output only: must not be read */
    memcpy(c0, cbase, nc * sizeof(float));

    size_t mn = (size_t)(m * n);
    double *ref = tu_dalloc(mn), *tol = tu_dalloc(mn);
    tu_ref_sgemm(MLI_NO_TRANS, MLI_NO_TRANS, m, n, k, 1.0f, a, lda, b, ldb, 0.0f, NULL, 0, ref, tol);
    for (int64_t i = 0; i < m; i++)
        for (int64_t j = 0; j < n; j++) {
            size_t e = (size_t)(i * n + j);
            double bj = with_bias ? bias[j] : 0.0;
            double v = ref[e] + bj;
            /* gemm rounding (plus the bias add) carried through act (Lipschitz <= 1.2),
             * then the activation's own bound */
            double gemm_err = 1e-5 * (double)max64(k, 1) * (tol[e] + fabs(bj)) + 1e-30;
            ref[e] = tu_ref_act(act, v);
            tol[e] = 1.2 * gemm_err + tu_act_tol(act, fabs(v) + gemm_err);
        }

    mli_status st = mli_sgemm_bias_act(m, n, k, a, lda, b, ldb, with_bias ? bias : NULL, act, c, ldc);
    if (st != MLI_OK) {
        fprintf(stderr, "%s returned %s: %s\n", what, mli_status_string(st), mli_last_error());
        fail();
    }
    float *got = tu_falloc(mn);
    for (int64_t i = 0; i < m; i++)
        for (int64_t j = 0; j < n; j++)
            got[i * n + j] = c[i * ldc + j];
    int ok = tu_check_within(what, got, ref, tol, mn);
    if (ok) {
        for (int64_t i = 0; i < m; i++)
            for (int64_t j = 0; j < n; j++)
                c0[off + i * ldc + j] = c[i * ldc + j];
        int64_t d = tu_first_bit_diff(cbase, c0, nc);
        if (d >= 0) {
            fprintf(stderr, "%s: wrote outside the m x n window at offset %lld from c\n", what,
                    (long long)(d - off));
            ok = 0;
        }
    }
    free(got);
    free(ref);
    free(tol);
    free(abase);
    free(bbase);
    free(bias);
    free(cbase);
    free(c0);
    assert_true(ok);
}

static void test_bias_act_small_m(void **state)
{
    (void)state;
    tu_require_kernels();
    tu_rng rng = {10};
    int idx = 0;
    for (int act = 0; act < TU_N_ACTS; act++)
        for (int with_bias = 0; with_bias < 2; with_bias++)
            for (int64_t m = 1; m <= 9; m++)
                for (int64_t n = 1; n <= 67; n++, idx++) {
                    int64_t k = (n * 7 + m * 3) % 67 + 1;
                    check_bias_act(&rng, m, n, k, (mli_act)act, with_bias, idx % 3 == 0 ? 0 : idx % 5,
                                   idx % 2);
                }
}

static void test_bias_act_large_m(void **state)
{
    (void)state;
    tu_require_kernels();
    tu_rng rng = {11};
    static const int64_t ns[] = {1, 8, 17, 33, 64, 67};
    static const int64_t ks[] = {1, 31, 100};
    int idx = 0;
    for (int act = 0; act < TU_N_ACTS; act++)
        for (int with_bias = 0; with_bias < 2; with_bias++)
            for (size_t ni = 0; ni < 6; ni++, idx++)
                check_bias_act(&rng, 200, ns[ni], ks[idx % 3], (mli_act)act, with_bias, idx % 4,
                               idx % 2);
}

static void test_bias_act_bad_arguments(void **state)
{
    (void)state;
    tu_require_kernels();
    float a[64], b[64], bias[8], c[64];
    tu_ffill(a, 64, 1.0f);
    tu_ffill(b, 64, 1.0f);
    tu_ffill(bias, 8, 1.0f);
    const mli_status INV = MLI_ERR_INVALID_ARGUMENT;
    const mli_act R = MLI_ACT_RELU;
    /* m = 4, n = 5, k = 6 */
    TU_EXPECT_FAIL(mli_sgemm_bias_act(-1, 5, 6, a, 6, b, 5, bias, R, c, 5), INV, "m");
    TU_EXPECT_FAIL(mli_sgemm_bias_act(4, -1, 6, a, 6, b, 5, bias, R, c, 5), INV, "n");
    TU_EXPECT_FAIL(mli_sgemm_bias_act(4, 5, -1, a, 6, b, 5, bias, R, c, 5), INV, "k");
    TU_EXPECT_FAIL(mli_sgemm_bias_act(4, 5, 6, NULL, 6, b, 5, bias, R, c, 5), INV, "a");
    TU_EXPECT_FAIL(mli_sgemm_bias_act(4, 5, 6, a, 6, NULL, 5, bias, R, c, 5), INV, "b");
    TU_EXPECT_FAIL(mli_sgemm_bias_act(4, 5, 6, a, 6, b, 5, bias, R, NULL, 5), INV, "c");
    TU_EXPECT_FAIL(mli_sgemm_bias_act(4, 5, 6, a, 5, b, 5, bias, R, c, 5), INV, "lda");
    TU_EXPECT_FAIL(mli_sgemm_bias_act(4, 5, 6, a, 6, b, 4, bias, R, c, 5), INV, "ldb");
    TU_EXPECT_FAIL(mli_sgemm_bias_act(4, 5, 6, a, 6, b, 5, bias, R, c, 4), INV, "ldc");
    TU_EXPECT_FAIL(mli_sgemm_bias_act(4, 5, 6, a, 6, b, 5, bias, (mli_act)99, c, 5), INV, "act");
    TU_EXPECT_FAIL(mli_sgemm_bias_act(4, 5, 6, a, 6, b, 5, bias, (mli_act)-1, c, 5), INV, "act");
    const int64_t big = (int64_t)1 << 40;
    TU_EXPECT_FAIL(mli_sgemm_bias_act(big, 1, big, a, big, b, 1, NULL, R, c, 1), INV, NULL);
}

static void test_bias_act_zero_sizes(void **state)
{
    (void)state;
    tu_require_kernels();
    float buf[64];
    tu_ffill(buf, 64, 1.0f);
    TU_EXPECT_OK(mli_sgemm_bias_act(0, 5, 6, NULL, 6, buf, 5, buf, MLI_ACT_RELU, NULL, 5));
    TU_EXPECT_OK(mli_sgemm_bias_act(4, 0, 6, buf, 6, NULL, 1, NULL, MLI_ACT_RELU, NULL, 1));
    /* k == 0: C = act(bias), for few and for many rows */
    float bias[5] = {-2.0f, -0.5f, 0.0f, 0.5f, 2.0f}, c[20 * 5];
    tu_ffill(c, 100, NAN);
    TU_EXPECT_OK(mli_sgemm_bias_act(2, 5, 0, NULL, 1, NULL, 5, bias, MLI_ACT_RELU, c, 5));
    TU_EXPECT_OK(mli_sgemm_bias_act(18, 5, 0, NULL, 1, NULL, 5, bias, MLI_ACT_RELU, c + 10, 5));
    for (int i = 0; i < 100; i++) {
        float want = bias[i % 5] > 0 ? bias[i % 5] : 0.0f;
        if (c[i] != want) {
            fprintf(stderr, "k=0 relu(bias): c[%d] = %g, expected %g\n", i, (double)c[i], (double)want);
            fail();
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bad_arguments),
        cmocka_unit_test(test_bias_act_bad_arguments),
        cmocka_unit_test(test_null_with_zero_sizes),
        cmocka_unit_test(test_minimal_leading_dims_with_zero_sizes),
        cmocka_unit_test(test_huge_leading_dims),
        cmocka_unit_test(test_sizes_zero_and_one),
        cmocka_unit_test(test_all_transposes_alphas_betas),
        cmocka_unit_test(test_alpha0_beta0_gives_zero),
        cmocka_unit_test(test_n_tails_small_m),
        cmocka_unit_test(test_k_tails_small_m),
        cmocka_unit_test(test_small_m_split_across_threads),
        cmocka_unit_test(test_random_shapes),
        cmocka_unit_test(test_large),
        cmocka_unit_test(test_padded_leading_dims),
        cmocka_unit_test(test_misaligned),
        cmocka_unit_test(test_bias_act_zero_sizes),
        cmocka_unit_test(test_bias_act_small_m),
        cmocka_unit_test(test_bias_act_large_m),
    };
    printf("mli_cpu_isa() = %s\n", mli_cpu_isa());
    return cmocka_run_group_tests(tests, NULL, NULL);
}
