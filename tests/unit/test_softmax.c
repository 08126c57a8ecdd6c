/* test_softmax.c — mli_softmax against a double-precision reference: every column tail,
 * many rows, in place, large magnitudes, -Inf entries, NaN/+Inf/all -Inf rows, empty
 * shapes, argument validation. Run once per ISA (ctest sets MLI_FORCE_ISA). */
#include "testutil.h"

/* Reference for one row. Returns 0 when the row must come out all NaN. */
static int ref_softmax_row(const float *x, double *ref, int64_t cols)
{
    double mx = -INFINITY;
    for (int64_t j = 0; j < cols; j++) {
        if (isnan(x[j]) || (isinf(x[j]) && x[j] > 0))
            return 0;
        if (x[j] > mx)
            mx = x[j];
    }
    if (isinf(mx))
        return 0; /* all -Inf */
    double sum = 0;
    for (int64_t j = 0; j < cols; j++)
        sum += ref[j] = exp((double)x[j] - mx);
    for (int64_t j = 0; j < cols; j++)
        ref[j] /= sum;
    return 1;
}

/* Runs softmax over a rows x cols copy of xs placed `off` floats from a 64-byte boundary,
 * in place or not; checks every row against the reference and that nothing outside the
 * matrix changes (and, out of place, that x is untouched). */
static void check_softmax(const float *xs, int64_t rows, int64_t cols, int64_t off, int in_place,
                          const char *label)
{
    size_t cnt = (size_t)(rows * cols), total = (size_t)off + cnt + 16;
    float *xbuf = tu_falloc(total), *ybuf = in_place ? xbuf : tu_falloc(total);
    tu_ffill(xbuf, total, tu_sentinel());
    if (!in_place)
        tu_ffill(ybuf, total, tu_sentinel());
    memcpy(xbuf + off, xs, cnt * sizeof(float));

    mli_status st = mli_softmax(xbuf + off, ybuf + off, rows, cols);
    if (st != MLI_OK) {
        fprintf(stderr, "%s: mli_softmax(rows=%lld, cols=%lld) returned %s: %s\n", label,
                (long long)rows, (long long)cols, mli_status_string(st), mli_last_error());
        fail();
    }

    int ok = 1;
    double *ref = tu_dalloc((size_t)cols);
    for (int64_t r = 0; r < rows && ok; r++) {
        const float *xr = xs + r * cols, *yr = ybuf + off + r * cols;
        int finite_row = ref_softmax_row(xr, ref, cols);
        for (int64_t j = 0; j < cols && ok; j++) {
            double y = yr[j];
            const char *why = NULL;
            if (!finite_row) {
                if (!isnan(y))
                    why = "row holds NaN/+Inf or only -Inf: expected NaN";
            } else if (isinf(xr[j])) {
                if (y != 0.0)
                    why = "-Inf entry: expected exactly 0";
            } else if (!(fabs(y - ref[j]) <= 1e-6 + 1e-5 * fabs(ref[j]))) {
                why = "outside 1e-6 + 1e-5 * |ref|";
            }
            if (why) {
                fprintf(stderr,
                        "%s: rows=%lld cols=%lld off=%lld %s: row %lld col %lld: x = %.9g, y = %.9g, "
                        "reference %.17g: %s\n",
                        label, (long long)rows, (long long)cols, (long long)off,
                        in_place ? "in place" : "out of place", (long long)r, (long long)j,
                        (double)xr[j], y, finite_row ? ref[j] : NAN, why);
                ok = 0;
            }
        }
    }
    free(ref);
    if (ok && !in_place) {
        int64_t d = tu_first_bit_diff(xbuf + off, xs, cnt);
        if (d >= 0) {
            fprintf(stderr, "%s: input x[%lld] was modified\n", label, (long long)d);
            ok = 0;
        }
    }
    for (size_t i = 0; i < total && ok; i++) {
        float s = tu_sentinel();
        if ((i < (size_t)off || i >= (size_t)off + cnt) && memcmp(&ybuf[i], &s, sizeof s) != 0) {
            fprintf(stderr, "%s: rows=%lld cols=%lld: wrote outside the matrix at offset %lld\n", label,
                    (long long)rows, (long long)cols, (long long)i - (long long)off);
            ok = 0;
        }
    }
    if (!in_place)
        free(ybuf);
    free(xbuf);
    assert_true(ok);
}

static void test_shapes(void **state)
{
    (void)state;
    tu_require_kernels();
    tu_rng rng = {31};
    float *x = tu_falloc(5 * 1000);
    int idx = 0;
    for (int64_t cols = 1; cols <= 1000; cols = cols < 67 ? cols + 1 : cols == 67 ? 1000 : 1001)
        for (int64_t rows = 1; rows <= 5; rows++, idx++) {
            tu_frand(&rng, x, (size_t)(rows * cols), -10.0f, 10.0f);
            check_softmax(x, rows, cols, idx % 2, (idx / 2) % 2, "shapes");
        }
    free(x);
}

static void test_many_rows(void **state)
{
    (void)state;
    tu_require_kernels();
    tu_rng rng = {32};
    static const int64_t cols[] = {1, 7, 16, 67, 1000};
    float *x = tu_falloc(1000 * 1000);
    for (size_t c = 0; c < 5; c++) {
        tu_frand(&rng, x, (size_t)(1000 * cols[c]), -10.0f, 10.0f);
        check_softmax(x, 1000, cols[c], (int64_t)(c % 2), 0, "1000 rows");
        check_softmax(x, 1000, cols[c], 0, 1, "1000 rows");
    }
    free(x);
}

/* Subtracting the row maximum keeps exp() in range however large the inputs. */
static void test_large_magnitudes(void **state)
{
    (void)state;
    tu_require_kernels();
    tu_rng rng = {33};
    float x[4 * 67];
    for (int64_t cols = 1; cols <= 67; cols += 3) {
        tu_frand(&rng, x, (size_t)cols, -1e4f, 1e4f);                /* 1e4 spread */
        tu_frand(&rng, x + cols, (size_t)cols, 1e4f - 8, 1e4f + 8);   /* large, close together */
        tu_frand(&rng, x + 2 * cols, (size_t)cols, -1e4f - 8, -1e4f + 8);
        for (int64_t j = 0; j < cols; j++)
            x[3 * cols + j] = j % 2 ? -FLT_MAX : FLT_MAX;
        check_softmax(x, 4, cols, 0, 0, "large magnitudes");
        check_softmax(x, 4, cols, 1, 1, "large magnitudes");
    }
    /* equal values give a uniform distribution */
    for (int64_t cols = 1; cols <= 67; cols++) {
        tu_ffill(x, (size_t)cols, 1e30f);
        check_softmax(x, 1, cols, 0, 0, "equal values");
    }
}

static void test_negative_infinity_entries(void **state)
{
    (void)state;
    tu_require_kernels();
    tu_rng rng = {34};
    float x[3 * 67];
    for (int64_t cols = 2; cols <= 67; cols++) {
        tu_frand(&rng, x, (size_t)(3 * cols), -5.0f, 5.0f);
        for (int64_t j = 0; j < cols; j += 2)
            x[j] = -INFINITY;                      /* row 0: every other entry */
        x[cols + cols - 1] = -INFINITY;            /* row 1: the tail entry */
        for (int64_t j = 1; j < cols; j++)
            x[2 * cols + j] = -INFINITY;           /* row 2: all but one -> exactly 1 */
        check_softmax(x, 3, cols, cols % 2, 0, "-Inf entries");
        check_softmax(x, 3, cols, 0, 1, "-Inf entries");
    }
}

/* A row holding NaN or +Inf, or only -Inf, comes out all NaN; the other rows are normal. */
static void test_degenerate_rows(void **state)
{
    (void)state;
    tu_require_kernels();
    tu_rng rng = {35};
    static const int64_t colss[] = {1, 2, 5, 8, 16, 17, 33, 67, 1000};
    float *x = tu_falloc(7 * 1000);
    for (size_t c = 0; c < sizeof colss / sizeof colss[0]; c++) {
        int64_t cols = colss[c];
        tu_frand(&rng, x, (size_t)(7 * cols), -10.0f, 10.0f);
        x[1 * cols + (cols - 1)] = NAN;            /* row 1: NaN in the tail */
        x[2 * cols + 0] = INFINITY;                /* row 2: +Inf first */
        tu_ffill(x + 3 * cols, (size_t)cols, -INFINITY); /* row 3: all -Inf */
        x[5 * cols + cols / 2] = -NAN;             /* row 5: NaN in the middle */
        x[5 * cols + 0] = INFINITY;                /* and +Inf */
        check_softmax(x, 7, cols, 0, 0, "degenerate rows");
        check_softmax(x, 7, cols, 1, 1, "degenerate rows");
    }
    free(x);
}

static void test_empty_shapes(void **state)
{
    (void)state;
    tu_require_kernels();
    float x[4] = {1, 2, 3, 4}, y[4] = {5, 6, 7, 8};
    TU_EXPECT_OK(mli_softmax(x, y, 0, 4));
    TU_EXPECT_OK(mli_softmax(x, y, 4, 0));
    TU_EXPECT_OK(mli_softmax(NULL, NULL, 0, 4));
    TU_EXPECT_OK(mli_softmax(NULL, NULL, 4, 0));
    TU_EXPECT_OK(mli_softmax(NULL, NULL, 0, 0));
    assert_true(y[0] == 5 && y[1] == 6 && y[2] == 7 && y[3] == 8);
    assert_true(x[0] == 1 && x[3] == 4);
}

static void test_bad_arguments(void **state)
{
    (void)state;
    tu_require_kernels();
    float x[8] = {0}, y[8];
    const mli_status INV = MLI_ERR_INVALID_ARGUMENT;
    TU_EXPECT_FAIL(mli_softmax(NULL, y, 2, 4), INV, "x");
    TU_EXPECT_FAIL(mli_softmax(x, NULL, 2, 4), INV, "y");
    TU_EXPECT_FAIL(mli_softmax(x, y, -1, 4), INV, "rows");
    TU_EXPECT_FAIL(mli_softmax(x, y, 2, -1), INV, "cols");
    TU_EXPECT_FAIL(mli_softmax(x, y, INT64_MIN, 4), INV, "rows");
    TU_EXPECT_FAIL(mli_softmax(x, y, -1, 0), INV, "rows");
    TU_EXPECT_FAIL(mli_softmax(x, y, 0, -1), INV, "cols");
    const int64_t big = (int64_t)1 << 40;
    TU_EXPECT_FAIL(mli_softmax(x, y, big, big), INV, NULL); /* rows * cols overflows */
    TU_EXPECT_FAIL(mli_softmax(x, y, INT64_MAX, 2), INV, NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bad_arguments),
        cmocka_unit_test(test_empty_shapes),
        cmocka_unit_test(test_shapes),
        cmocka_unit_test(test_many_rows),
        cmocka_unit_test(test_large_magnitudes),
        cmocka_unit_test(test_negative_infinity_entries),
        cmocka_unit_test(test_degenerate_rows),
    };
    printf("mli_cpu_isa() = %s\n", mli_cpu_isa());
    return cmocka_run_group_tests(tests, NULL, NULL);
}
