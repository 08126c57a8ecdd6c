/* test_cuda_api.c — the CUDA API of include/mlinfer_cuda.h through the shared library.
 *
 *   test_cuda_api no_device   error paths: argument checks (always), and on a machine
 *                             without a usable GPU every device call returns
 *                             MLI_ERR_DEVICE with a message while the CPU API keeps working,
 *                             and cuBLAS is never mapped (skipped when a device is present)
 *   test_cuda_api kernels     device query, streams, mli_cuda_sgemm (all transposes, alpha,
 *                             beta, padded leading dimensions, TF32 opt-in), activations,
 *                             softmax and the fused dense layer against double-precision
 *                             references with the bounds of mlinfer.h (skipped without GPU) */
#include "cuda_testutil.h"

#ifndef MLI_TESTS_DIR
#error "MLI_TESTS_DIR must name tests/"
#endif

/* ---- error paths ------------------------------------------------------------------- */

static void expect_status(mli_status got, mli_status want, const char *call) {
    if (got != want)
        fail_msg("%s: got %s, want %s (%s)", call, mli_status_string(got), mli_status_string(want), mli_last_error());
    if (got != MLI_OK && strlen(mli_last_error()) == 0)
        fail_msg("%s: failed without a message", call);
}

static void test_invalid_arguments(void **state) {
    (void)state;
    float a[4] = {0}, y[4];
    expect_status(mli_cuda_device_count(NULL), MLI_ERR_INVALID_ARGUMENT, "mli_cuda_device_count(NULL)");
    expect_status(mli_cuda_device_query(0, NULL), MLI_ERR_INVALID_ARGUMENT, "mli_cuda_device_query(NULL)");
    expect_status(mli_cuda_stream_create(0, NULL), MLI_ERR_INVALID_ARGUMENT, "mli_cuda_stream_create(NULL)");
    expect_status(mli_cuda_malloc(0, 16, NULL), MLI_ERR_INVALID_ARGUMENT, "mli_cuda_malloc(NULL)");
    expect_status(mli_cuda_memcpy(NULL, NULL, a, 4), MLI_ERR_INVALID_ARGUMENT, "mli_cuda_memcpy(dst NULL)");
    expect_status(mli_cuda_sgemm(NULL, MLI_NO_TRANS, MLI_NO_TRANS, -1, 2, 2, 1.0f, a, 2, a, 2, 0.0f, y, 2),
                  MLI_ERR_INVALID_ARGUMENT, "mli_cuda_sgemm(m=-1)");
    expect_status(mli_cuda_sgemm(NULL, (mli_trans)7, MLI_NO_TRANS, 2, 2, 2, 1.0f, a, 2, a, 2, 0.0f, y, 2),
                  MLI_ERR_INVALID_ARGUMENT, "mli_cuda_sgemm(trans_a=7)");
    expect_status(mli_cuda_sgemm(NULL, MLI_NO_TRANS, MLI_NO_TRANS, 2, 2, 2, 1.0f, NULL, 2, a, 2, 0.0f, y, 2),
                  MLI_ERR_INVALID_ARGUMENT, "mli_cuda_sgemm(A NULL)");
    expect_status(mli_cuda_sgemm(NULL, MLI_NO_TRANS, MLI_NO_TRANS, 2, 2, 3, 1.0f, a, 2, a, 2, 0.0f, y, 2),
                  MLI_ERR_INVALID_ARGUMENT, "mli_cuda_sgemm(lda < k)");
    expect_status(mli_cuda_activate(NULL, (mli_act)99, a, y, 4), MLI_ERR_INVALID_ARGUMENT, "mli_cuda_activate(99)");
    expect_status(mli_cuda_activate(NULL, MLI_ACT_RELU, a, y, -1), MLI_ERR_INVALID_ARGUMENT, "mli_cuda_activate(n<0)");
    expect_status(mli_cuda_activate(NULL, MLI_ACT_RELU, NULL, y, 4), MLI_ERR_INVALID_ARGUMENT,
                  "mli_cuda_activate(x NULL)");
    expect_status(mli_cuda_softmax(NULL, a, y, -2, 2), MLI_ERR_INVALID_ARGUMENT, "mli_cuda_softmax(rows<0)");
    expect_status(mli_cuda_softmax(NULL, a, y, INT64_MAX, 4), MLI_ERR_INVALID_ARGUMENT, "mli_cuda_softmax(overflow)");
    expect_status(mli_cuda_sgemm_bias_act(NULL, 2, 2, 2, a, 2, a, 2, NULL, (mli_act)-1, y, 2),
                  MLI_ERR_INVALID_ARGUMENT, "mli_cuda_sgemm_bias_act(act=-1)");
    expect_status(mli_model_to_device(NULL, 0, NULL), MLI_ERR_INVALID_ARGUMENT, "mli_model_to_device(out NULL)");
    mli_cuda_model *dm = (mli_cuda_model *)1;
    expect_status(mli_model_to_device(NULL, 0, &dm), MLI_ERR_INVALID_ARGUMENT, "mli_model_to_device(NULL)");
    assert_null(dm);
    double out[4];
    expect_status(mli_cuda_model_predict(NULL, NULL, MLI_OUTPUT_PREDICT, a, MLI_F32, 1, 4, out, 4, 0),
                  MLI_ERR_INVALID_ARGUMENT, "mli_cuda_model_predict(NULL)");
    expect_status(mli_cuda_model_set_min_rows(NULL, 5), MLI_ERR_INVALID_ARGUMENT, "mli_cuda_model_set_min_rows");
    /* NULL handles are harmless */
    mli_cuda_stream_free(NULL);
    mli_cuda_model_free(NULL);
    mli_cuda_free(NULL);
    assert_null(mli_cuda_stream_native(NULL));
    assert_int_equal(mli_cuda_stream_device(NULL), -1);
    assert_null(mli_cuda_model_host(NULL));
    assert_int_equal(mli_cuda_model_device(NULL), -1);
    assert_int_equal(mli_cuda_model_min_rows(NULL), 0);
    assert_int_equal(mli_cuda_built(), 1);
}

/* Every device call fails cleanly on a machine without a usable GPU or driver. */
static void test_no_device_errors(void **state) {
    (void)state;
    int n = -1;
    if (mli_cuda_device_count(&n) == MLI_OK && n > 0) {
        printf("skipping: a CUDA device is present (%d); the no-device paths cannot be reached\n", n);
        skip();
    }
    assert_int_equal(n, 0);
    assert_int_equal(mli_cuda_available(), 0);
    expect_status(mli_cuda_device_count(&n), MLI_ERR_DEVICE, "mli_cuda_device_count");
    printf("no CUDA device, as expected: %s\n", mli_last_error());
    assert_non_null(strstr(mli_last_error(), "CUDA"));
    mli_cuda_device_props props;
    expect_status(mli_cuda_device_query(0, &props), MLI_ERR_DEVICE, "mli_cuda_device_query");
    mli_cuda_stream *s = (mli_cuda_stream *)1;
    expect_status(mli_cuda_stream_create(0, &s), MLI_ERR_DEVICE, "mli_cuda_stream_create");
    assert_null(s);
    expect_status(mli_cuda_stream_wrap(0, NULL, &s), MLI_ERR_DEVICE, "mli_cuda_stream_wrap");
    expect_status(mli_cuda_stream_synchronize(NULL), MLI_ERR_DEVICE, "mli_cuda_stream_synchronize");
    expect_status(mli_cuda_stream_set_tf32(NULL, 1), MLI_ERR_DEVICE, "mli_cuda_stream_set_tf32");
    void *p = (void *)1;
    expect_status(mli_cuda_malloc(0, 64, &p), MLI_ERR_DEVICE, "mli_cuda_malloc");
    assert_null(p);
    float a[16] = {1, 2, 3, 4}, b[16] = {1, 0, 0, 1}, c[16];
    expect_status(mli_cuda_memcpy(NULL, c, a, sizeof a), MLI_ERR_DEVICE, "mli_cuda_memcpy");
    expect_status(mli_cuda_sgemm(NULL, MLI_NO_TRANS, MLI_NO_TRANS, 2, 2, 2, 1.0f, a, 2, b, 2, 0.0f, c, 2),
                  MLI_ERR_DEVICE, "mli_cuda_sgemm");
    expect_status(mli_cuda_activate(NULL, MLI_ACT_GELU, a, c, 4), MLI_ERR_DEVICE, "mli_cuda_activate");
    expect_status(mli_cuda_softmax(NULL, a, c, 2, 2), MLI_ERR_DEVICE, "mli_cuda_softmax");
    expect_status(mli_cuda_sgemm_bias_act(NULL, 2, 2, 2, a, 2, b, 2, a, MLI_ACT_RELU, c, 2), MLI_ERR_DEVICE,
                  "mli_cuda_sgemm_bias_act");

    /* A model loads and predicts on the CPU; copying it to a device fails cleanly. */
    mli_model *m = NULL;
    char path[1024]; /* $MLI_TESTS_DIR (binaries run from another checkout) or the source tree */
    snprintf(path, sizeof path, "%s/data/logreg_binary.mli", getenv("MLI_TESTS_DIR") ? getenv("MLI_TESTS_DIR")
                                                                                      : MLI_TESTS_DIR);
    assert_int_equal(mli_model_load(path, &m), MLI_OK);
    mli_cuda_model *dm = (mli_cuda_model *)1;
    expect_status(mli_model_to_device(m, 0, &dm), MLI_ERR_DEVICE, "mli_model_to_device");
    assert_null(dm);
    int64_t nf = mli_model_n_features(m);
    double *x = calloc((size_t)nf, sizeof(double)), out[1];
    assert_non_null(x);
    assert_int_equal(mli_model_predict(m, x, MLI_F64, 1, nf, out, 1), MLI_OK);
    free(x);
    mli_model_free(m);
    /* libmlinfer.so does not link cuBLAS, and no path above opened it */
    assert_false(ct_cublas_mapped());
}

/* ---- kernels on a device ------------------------------------------------------------ */

static void test_device_query(void **state) {
    (void)state;
    CT_REQUIRE_DEVICE();
    int n = 0;
    assert_int_equal(mli_cuda_device_count(&n), MLI_OK);
    assert_true(n >= 1);
    assert_int_equal(mli_cuda_available(), 1);
    for (int d = 0; d < n; ++d) {
        mli_cuda_device_props p;
        assert_int_equal(mli_cuda_device_query(d, &p), MLI_OK);
        printf("device %d: %s, compute %d.%d, %d SMs, %.1f GiB (%.1f free)\n", d, p.name, p.major, p.minor,
               p.multiprocessors, (double)p.total_memory / (1 << 30), (double)p.free_memory / (1 << 30));
        assert_true(p.total_memory > 0 && p.free_memory > 0 && p.free_memory <= p.total_memory);
        assert_true(p.major >= 1 && p.multiprocessors >= 1 && strlen(p.name) > 0);
    }
    mli_cuda_device_props p;
    expect_status(mli_cuda_device_query(n, &p), MLI_ERR_DEVICE, "mli_cuda_device_query(count)");
    expect_status(mli_cuda_device_query(-1, &p), MLI_ERR_DEVICE, "mli_cuda_device_query(-1)");
    mli_cuda_stream *s = NULL;
    expect_status(mli_cuda_stream_create(n + 3, &s), MLI_ERR_DEVICE, "mli_cuda_stream_create(bad device)");
}

/* sum_p |alpha A_ip B_pj| + |beta C_ij| and the double-precision value of one element. */
static double gemm_ref(int ta, int tb, int64_t k, float alpha, const float *a, int64_t lda, const float *b,
                       int64_t ldb, float beta, float c0, int64_t i, int64_t j, double *mag) {
    double s = 0.0, g = 0.0;
    for (int64_t p = 0; p < k; ++p) {
        double av = ta ? a[p * lda + i] : a[i * lda + p];
        double bv = tb ? b[j * ldb + p] : b[p * ldb + j];
        s += av * bv;
        g += fabs(av * bv);
    }
    *mag = fabs((double)alpha) * g + (beta == 0.0f ? 0.0 : fabs((double)beta * c0));
    return (double)alpha * s + (beta == 0.0f ? 0.0 : (double)beta * c0);
}

/* One GEMM on the device against the reference; `rel` bounds |error| / (k * magnitude). */
static void check_gemm(mli_cuda_stream *s, int ta, int tb, int64_t m, int64_t n, int64_t k, float alpha, float beta,
                       double rel, ct_rng *rng) {
    int64_t lda = (ta ? m : k) + 3, ldb = (tb ? k : n) + 1, ldc = n + 2;
    int64_t na = (ta ? k : m) * lda, nb = (tb ? n : k) * ldb, nc = m * ldc;
    float *a = malloc(sizeof(float) * (size_t)(na + 1)), *b = malloc(sizeof(float) * (size_t)(nb + 1));
    float *c = malloc(sizeof(float) * (size_t)(nc + 1)), *got = malloc(sizeof(float) * (size_t)(nc + 1));
    assert_true(a && b && c && got);
    for (int64_t i = 0; i < na; ++i)
        a[i] = (float)ct_uniform(rng, -1, 1);
    for (int64_t i = 0; i < nb; ++i)
        b[i] = (float)ct_uniform(rng, -1, 1);
    for (int64_t i = 0; i < nc; ++i)
        c[i] = beta == 0.0f ? NAN : (float)ct_uniform(rng, -1, 1); /* beta 0: C must not be read */
    float *da = ct_dev_floats(a, na), *db = ct_dev_floats(b, nb), *dc = ct_dev_floats(c, nc);
    assert_int_equal(mli_cuda_sgemm(s, ta ? MLI_TRANS : MLI_NO_TRANS, tb ? MLI_TRANS : MLI_NO_TRANS, m, n, k, alpha, da,
                                    lda, db, ldb, beta, dc, ldc),
                     MLI_OK);
    assert_int_equal(mli_cuda_stream_synchronize(s), MLI_OK);
    ct_to_host(got, dc, nc);
    double worst = 0.0;
    for (int64_t i = 0; i < m; ++i)
        for (int64_t j = 0; j < n; ++j) {
            double mag, want = gemm_ref(ta, tb, k, alpha, a, lda, b, ldb, beta, c[i * ldc + j], i, j, &mag);
            double err = fabs((double)got[i * ldc + j] - want), bound = rel * (double)(k + 2) * mag + 1e-30;
            if (!(err <= bound))
                fail_msg("sgemm %c%c m=%lld n=%lld k=%lld: C[%lld,%lld] = %.9g, want %.9g (bound %.3g)", ta ? 'T' : 'N',
                         tb ? 'T' : 'N', (long long)m, (long long)n, (long long)k, (long long)i, (long long)j,
                         (double)got[i * ldc + j], want, bound);
            worst = err / bound > worst ? err / bound : worst;
        }
    for (int64_t i = 0; i < m; ++i) /* padding between rows untouched */
        for (int64_t j = n; j < ldc && i * ldc + j < nc; ++j)
            if (!(got[i * ldc + j] == c[i * ldc + j] || (isnan(got[i * ldc + j]) && isnan(c[i * ldc + j]))))
                fail_msg("sgemm wrote outside C at [%lld,%lld]", (long long)i, (long long)j);
    mli_cuda_free(da);
    mli_cuda_free(db);
    mli_cuda_free(dc);
    free(a);
    free(b);
    free(c);
    free(got);
}

static void test_sgemm(void **state) {
    (void)state;
    CT_REQUIRE_DEVICE();
    ct_rng rng = {0x5eed1234u};
    mli_cuda_stream *s = NULL;
    assert_int_equal(mli_cuda_stream_create(0, &s), MLI_OK);
    static const int64_t shapes[][3] = {{1, 1, 1}, {1, 257, 64}, {8, 4096, 33}, {37, 19, 513}, {128, 128, 128},
                                        {300, 7, 1}, {5, 6, 0}};
    for (size_t sh = 0; sh < sizeof shapes / sizeof shapes[0]; ++sh)
        for (int t = 0; t < 4; ++t) {
            check_gemm(s, t & 1, t >> 1, shapes[sh][0], shapes[sh][1], shapes[sh][2], 1.0f, 0.0f, 1.2e-7, &rng);
            check_gemm(s, t & 1, t >> 1, shapes[sh][0], shapes[sh][1], shapes[sh][2], -0.75f, 0.5f, 1.2e-7, &rng);
        }
    check_gemm(NULL, 0, 0, 64, 64, 64, 2.0f, 1.0f, 1.2e-7, &rng); /* the thread's default stream */
    check_gemm(s, 0, 1, 16, 16, 16, 0.0f, 2.0f, 1.2e-7, &rng);    /* alpha 0: C = beta C */
    /* m or n == 0 does nothing, even with NULL buffers */
    assert_int_equal(mli_cuda_sgemm(s, MLI_NO_TRANS, MLI_NO_TRANS, 0, 4, 4, 1.0f, NULL, 4, NULL, 4, 0.0f, NULL, 4),
                     MLI_OK);
    mli_cuda_stream_free(s);
}

/* TF32 only when asked: the opted-in stream gets TF32's looser bound, a fresh one full
 * float32 again. */
static void test_sgemm_tf32(void **state) {
    (void)state;
    CT_REQUIRE_DEVICE();
    ct_rng rng = {77};
    mli_cuda_stream *s = NULL;
    assert_int_equal(mli_cuda_stream_create(0, &s), MLI_OK);
    assert_int_equal(mli_cuda_stream_set_tf32(s, 1), MLI_OK);
    check_gemm(s, 0, 0, 256, 256, 256, 1.0f, 0.0f, 2e-3 / 258.0 * 4, &rng); /* ~2^-10 per product */
    assert_int_equal(mli_cuda_stream_set_tf32(s, 0), MLI_OK);
    check_gemm(s, 0, 0, 256, 256, 256, 1.0f, 0.0f, 1.2e-7, &rng);
    mli_cuda_stream_free(s);
}

static double act_ref(int act, double x) {
    switch (act) {
    case MLI_ACT_RELU: return x > 0 ? x : (x == x ? 0.0 : x);
    case MLI_ACT_SIGMOID: return 1.0 / (1.0 + exp(-x));
    case MLI_ACT_TANH: return tanh(x);
    case MLI_ACT_GELU: return isinf(x) ? (x > 0 ? x : 0.0) : 0.5 * x * erfc(-x / sqrt(2.0));
    case MLI_ACT_GELU_TANH:
        if (isinf(x))
            return x > 0 ? x : 0.0;
        return 0.5 * x * (1.0 + tanh(0.79788456080286535588 * (x + 0.044715 * x * x * x)));
    default: return x;
    }
}

static double act_bound(int act, double x) {
    switch (act) {
    case MLI_ACT_IDENTITY:
    case MLI_ACT_RELU: return 0.0;
    case MLI_ACT_SIGMOID:
    case MLI_ACT_TANH: return 1e-6;
    default: return 2e-6 * (fabs(x) > 1.0 ? fabs(x) : 1.0);
    }
}

static void check_act_values(int act, const float *x, const float *y, int64_t n) {
    for (int64_t i = 0; i < n; ++i) {
        double want = act_ref(act, x[i]);
        if (isnan(want)) {
            if (!isnan(y[i]))
                fail_msg("act %d: x=%g gave %.9g, want NaN", act, (double)x[i], (double)y[i]);
            continue;
        }
        if (isinf(want)) {
            if (y[i] != want)
                fail_msg("act %d: x=%g gave %.9g, want %g", act, (double)x[i], (double)y[i], want);
            continue;
        }
        if (!(fabs((double)y[i] - want) <= act_bound(act, x[i])))
            fail_msg("act %d: x=%.9g gave %.9g, want %.12g (bound %.3g)", act, (double)x[i], (double)y[i], want,
                     act_bound(act, x[i]));
    }
}

static void test_activate(void **state) {
    (void)state;
    CT_REQUIRE_DEVICE();
    const int64_t n = 100003; /* odd: the vector loop's tail too */
    float *x = malloc(sizeof(float) * (size_t)(n + 1)), *y = malloc(sizeof(float) * (size_t)(n + 1));
    assert_true(x && y);
    static const float special[] = {NAN, INFINITY, -INFINITY, 0.0f, -0.0f, 1e-40f, -1e-40f, 1e30f, -1e30f,
                                    20.0f, -20.0f, -20.5f, 88.7f, -88.7f, 3.4e38f, -3.4e38f};
    const int64_t ns = (int64_t)(sizeof special / sizeof special[0]);
    ct_rng rng = {42};
    for (int64_t i = 0; i < n; ++i)
        x[i] = i < ns ? special[i] : i < n / 2 ? (float)(-30.0 + 60.0 * (double)i / (double)n)
                                               : (float)ct_uniform(&rng, -12, 12);
    float *dx = ct_dev_floats(x, n + 1), *dy = ct_dev_floats(NULL, n + 1);
    for (int act = 0; act < 6; ++act) {
        /* aligned (16-byte loads), misaligned by one float (the scalar path), in place */
        assert_int_equal(mli_cuda_activate(NULL, (mli_act)act, dx, dy, n), MLI_OK);
        ct_to_host(y, dy, n);
        check_act_values(act, x, y, n);
        assert_int_equal(mli_cuda_activate(NULL, (mli_act)act, dx + 1, dy + 1, n - 1), MLI_OK);
        ct_to_host(y, dy + 1, n - 1);
        check_act_values(act, x + 1, y, n - 1);
        float *dz = ct_dev_floats(x, n);
        assert_int_equal(mli_cuda_activate(NULL, (mli_act)act, dz, dz, n), MLI_OK);
        ct_to_host(y, dz, n);
        check_act_values(act, x, y, n);
        mli_cuda_free(dz);
    }
    assert_int_equal(mli_cuda_activate(NULL, MLI_ACT_RELU, NULL, NULL, 0), MLI_OK);
    mli_cuda_free(dx);
    mli_cuda_free(dy);
    free(x);
    free(y);
}

static void test_softmax(void **state) {
    (void)state;
    CT_REQUIRE_DEVICE();
    static const int64_t colss[] = {1, 3, 10, 33, 1000};
    ct_rng rng = {9};
    for (size_t ci = 0; ci < sizeof colss / sizeof colss[0]; ++ci) {
        int64_t cols = colss[ci], rows = 517, n = rows * cols;
        float *x = malloc(sizeof(float) * (size_t)n), *y = malloc(sizeof(float) * (size_t)n);
        assert_true(x && y);
        for (int64_t i = 0; i < n; ++i)
            x[i] = (float)ct_uniform(&rng, -30, 30);
        x[0] = NAN;                          /* row 0: NaN -> all NaN */
        x[1 * cols] = INFINITY;              /* row 1: +Inf -> all NaN */
        for (int64_t j = 0; j < cols; ++j)   /* row 2: only -Inf -> all NaN */
            x[2 * cols + j] = -INFINITY;
        if (cols > 1)
            x[3 * cols + 1] = -INFINITY; /* row 3: one -Inf -> 0 there */
        float *dx = ct_dev_floats(x, n), *dy = ct_dev_floats(NULL, n);
        for (int inplace = 0; inplace < 2; ++inplace) {
            if (inplace) {
                assert_int_equal(mli_cuda_softmax(NULL, dx, dx, rows, cols), MLI_OK);
                ct_to_host(y, dx, n);
            } else {
                assert_int_equal(mli_cuda_softmax(NULL, dx, dy, rows, cols), MLI_OK);
                ct_to_host(y, dy, n);
            }
            for (int64_t r = 0; r < rows; ++r) {
                const float *xr = x + r * cols;
                int all_nan = r < 3;
                double mx = -INFINITY, sum = 0.0;
                for (int64_t j = 0; j < cols; ++j)
                    mx = xr[j] > mx ? xr[j] : mx;
                for (int64_t j = 0; j < cols; ++j)
                    sum += exp((double)xr[j] - mx);
                for (int64_t j = 0; j < cols; ++j) {
                    float g = y[r * cols + j];
                    if (all_nan) {
                        if (!isnan(g))
                            fail_msg("softmax cols=%lld row %lld: %g, want NaN", (long long)cols, (long long)r,
                                     (double)g);
                        continue;
                    }
                    double want = exp((double)xr[j] - mx) / sum;
                    if (!(fabs(g - want) <= 1e-6 + 1e-5 * want))
                        fail_msg("softmax cols=%lld [%lld,%lld]: %.9g, want %.9g", (long long)cols, (long long)r,
                                 (long long)j, (double)g, want);
                }
            }
        }
        mli_cuda_free(dx);
        mli_cuda_free(dy);
        free(x);
        free(y);
    }
}

static void test_sgemm_bias_act(void **state) {
    (void)state;
    CT_REQUIRE_DEVICE();
    ct_rng rng = {2024};
    static const int64_t shapes[][3] = {{1, 64, 32}, {33, 100, 50}, {256, 10, 128}, {7, 5, 0}};
    for (size_t sh = 0; sh < sizeof shapes / sizeof shapes[0]; ++sh)
        for (int act = 0; act < 6; ++act)
            for (int with_bias = 0; with_bias < 2; ++with_bias) {
                int64_t m = shapes[sh][0], n = shapes[sh][1], k = shapes[sh][2], lda = k + 1, ldb = n, ldc = n + 3;
                float *a = malloc(sizeof(float) * (size_t)(m * lda + 1)), *b = malloc(sizeof(float) * (size_t)(k * ldb + 1));
                float *bias = malloc(sizeof(float) * (size_t)n), *c = malloc(sizeof(float) * (size_t)(m * ldc));
                assert_true(a && b && bias && c);
                for (int64_t i = 0; i < m * lda; ++i)
                    a[i] = (float)ct_uniform(&rng, -1, 1);
                for (int64_t i = 0; i < k * ldb; ++i)
                    b[i] = (float)ct_uniform(&rng, -1, 1);
                for (int64_t j = 0; j < n; ++j)
                    bias[j] = (float)ct_uniform(&rng, -2, 2);
                float *da = ct_dev_floats(a, m * lda), *db = ct_dev_floats(b, k * ldb), *dbias = ct_dev_floats(bias, n);
                float *dc = ct_dev_floats(NULL, m * ldc);
                assert_int_equal(mli_cuda_sgemm_bias_act(NULL, m, n, k, da, lda, db, ldb, with_bias ? dbias : NULL,
                                                         (mli_act)act, dc, ldc),
                                 MLI_OK);
                ct_to_host(c, dc, m * ldc);
                for (int64_t i = 0; i < m; ++i)
                    for (int64_t j = 0; j < n; ++j) {
                        double mag, z = gemm_ref(0, 0, k, 1.0f, a, lda, b, ldb, 0.0f, 0.0f, i, j, &mag);
                        if (with_bias)
                            z += bias[j], mag += fabs(bias[j]);
                        double want = act_ref(act, z), got = c[i * ldc + j];
                        /* the GEMM's error, carried through the activation (slope <= 1.13), + its own */
                        double bound = 1.2e-7 * (double)(k + 3) * mag * 1.2 + act_bound(act, z) + 1e-30;
                        if (!(fabs(got - want) <= bound))
                            fail_msg("bias_act act=%d bias=%d m=%lld n=%lld k=%lld [%lld,%lld]: %.9g want %.9g", act,
                                     with_bias, (long long)m, (long long)n, (long long)k, (long long)i, (long long)j,
                                     got, want);
                    }
                mli_cuda_free(da);
                mli_cuda_free(db);
                mli_cuda_free(dbias);
                mli_cuda_free(dc);
                free(a);
                free(b);
                free(bias);
                free(c);
            }
}

static void test_streams(void **state) {
    (void)state;
    CT_REQUIRE_DEVICE();
    mli_cuda_stream *own = NULL, *wrapped = NULL;
    assert_int_equal(mli_cuda_stream_create(0, &own), MLI_OK);
    assert_int_equal(mli_cuda_stream_device(own), 0);
    assert_non_null(mli_cuda_stream_native(own));
    /* wrapping the legacy default stream (NULL) and the own stream's CUDA stream */
    assert_int_equal(mli_cuda_stream_wrap(0, NULL, &wrapped), MLI_OK);
    float x[8] = {-1, 2, -3, 4, -5, 6, -7, 8}, y[8];
    float *d = ct_dev_floats(x, 8);
    assert_int_equal(mli_cuda_activate(wrapped, MLI_ACT_RELU, d, d, 8), MLI_OK);
    assert_int_equal(mli_cuda_stream_synchronize(wrapped), MLI_OK);
    mli_cuda_stream_free(wrapped);
    assert_int_equal(mli_cuda_stream_wrap(0, mli_cuda_stream_native(own), &wrapped), MLI_OK);
    assert_int_equal(mli_cuda_activate(wrapped, MLI_ACT_IDENTITY, d, d, 8), MLI_OK);
    assert_int_equal(mli_cuda_memcpy(wrapped, y, d, sizeof y), MLI_OK);
    for (int i = 0; i < 8; ++i)
        assert_true(y[i] == (x[i] > 0 ? x[i] : 0.0f));
    mli_cuda_stream_free(wrapped);
    mli_cuda_stream_free(own); /* the own stream outlives the wrapper that borrowed it */
    mli_cuda_free(d);
    void *z = (void *)1;
    assert_int_equal(mli_cuda_malloc(0, 0, &z), MLI_OK);
    assert_null(z);
}

int main(int argc, char **argv) {
    const char *group = argc > 1 ? argv[1] : "all";
    const struct CMUnitTest no_device[] = {
        cmocka_unit_test(test_invalid_arguments),
        cmocka_unit_test(test_no_device_errors),
    };
    const struct CMUnitTest kernels[] = {
        cmocka_unit_test(test_device_query), cmocka_unit_test(test_streams),  cmocka_unit_test(test_sgemm),
        cmocka_unit_test(test_sgemm_tf32),   cmocka_unit_test(test_activate), cmocka_unit_test(test_softmax),
        cmocka_unit_test(test_sgemm_bias_act),
    };
    int failed = 0;
    if (strcmp(group, "no_device") == 0 || strcmp(group, "all") == 0)
        failed |= cmocka_run_group_tests_name("cuda_no_device", no_device, NULL, NULL);
    if (strcmp(group, "kernels") == 0 || strcmp(group, "all") == 0)
        failed |= cmocka_run_group_tests_name("cuda_kernels", kernels, NULL, NULL);
    return failed ? 1 : 0;
}
