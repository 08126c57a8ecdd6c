/* test_activate.c — mli_activate for every activation against a double-precision reference
 * with the header's error bounds: random, dense sweep, tiny/huge/zero inputs, every tail
 * length, misaligned and in-place buffers, NaN/Inf semantics, argument validation.
 * Run once per ISA (ctest sets MLI_FORCE_ISA). */
#include "testutil.h"

/* Whether y is an acceptable act(x): NaN in -> NaN out, +-Inf -> the limits, finite x ->
 * within the header's bound of the exact value (and never NaN). On failure fills why. */
static int act_value_ok(mli_act act, float x, float y, char *why, size_t len)
{
    if (isnan(x)) {
        if (isnan(y))
            return 1;
        snprintf(why, len, "NaN in must give NaN out");
        return 0;
    }
    if (isinf(x)) {
        double want;
        switch (act) {
        case MLI_ACT_IDENTITY:
            want = x;
            break;
        case MLI_ACT_RELU:
        case MLI_ACT_GELU:
        case MLI_ACT_GELU_TANH:
            want = x > 0 ? INFINITY : 0.0; /* -Inf -> 0 of either sign */
            break;
        case MLI_ACT_SIGMOID:
            want = x > 0 ? 1.0 : 0.0;
            break;
        case MLI_ACT_TANH:
            want = x > 0 ? 1.0 : -1.0;
            break;
        default:
            want = NAN;
        }
        if ((double)y == want)
            return 1;
        snprintf(why, len, "expected the limit %g", want);
        return 0;
    }
    double ref = tu_ref_act(act, x), tol = tu_act_tol(act, x);
    double d = fabs((double)y - ref);
    if (d <= tol)
        return 1;
    snprintf(why, len, "reference %.17g, |diff| %.3g > bound %.3g", ref, d, tol);
    return 0;
}

/* Runs act over xs[0..n) at `off` floats from a 64-byte boundary, in place or not, and checks
 * every output plus: the input untouched (out of place), nothing written before y or after
 * y[n-1]. */
static void check_act(mli_act act, const float *xs, int64_t n, int64_t off, int in_place,
                      const char *label)
{
    size_t total = (size_t)(off + n + 16);
    float *xbuf = tu_falloc(total), *ybuf = in_place ? xbuf : tu_falloc(total);
    float *xsnap = tu_falloc(total);
    tu_ffill(xbuf, total, tu_sentinel());
    if (!in_place)
        tu_ffill(ybuf, total, tu_sentinel());
    if (n > 0)
        memcpy(xbuf + off, xs, (size_t)n * sizeof(float));
    memcpy(xsnap, xbuf, total * sizeof(float));

    mli_status st = mli_activate(act, xbuf + off, ybuf + off, n);
    if (st != MLI_OK) {
        fprintf(stderr, "%s: mli_activate(%s, n=%lld, off=%lld, %s) returned %s: %s\n", label,
                tu_act_name(act), (long long)n, (long long)off, in_place ? "in place" : "out of place",
                mli_status_string(st), mli_last_error());
        fail();
    }
    int ok = 1;
    char why[160];
    for (int64_t i = 0; i < n && ok; i++) {
        float x = xs[i], y = ybuf[off + i];
        if (!act_value_ok(act, x, y, why, sizeof why)) {
            fprintf(stderr, "%s: %s n=%lld off=%lld %s: element %lld: x = %.9g, y = %.9g: %s\n",
                    label, tu_act_name(act), (long long)n, (long long)off,
                    in_place ? "in place" : "out of place", (long long)i, (double)x, (double)y, why);
            ok = 0;
        }
    }
    if (ok && !in_place) {
        int64_t d = tu_first_bit_diff(xbuf, xsnap, total);
        if (d >= 0) {
            fprintf(stderr, "%s: %s n=%lld: input x[%lld] was modified\n", label, tu_act_name(act),
                    (long long)n, (long long)(d - off));
            ok = 0;
        }
    }
    /* outside y[0..n) nothing may change */
    for (size_t i = 0; i < total && ok; i++) {
        if (i >= (size_t)off && i < (size_t)(off + n))
            continue;
        float want = in_place ? xsnap[i] : tu_sentinel();
        if (memcmp(&ybuf[i], &want, sizeof(float)) != 0) {
            fprintf(stderr, "%s: %s n=%lld off=%lld: wrote y[%lld] outside [0, n)\n", label,
                    tu_act_name(act), (long long)n, (long long)off, (long long)i - (long long)off);
            ok = 0;
        }
    }
    if (!in_place)
        free(ybuf);
    free(xbuf);
    free(xsnap);
    assert_true(ok);
}

static void for_each_act(const float *xs, int64_t n, int64_t off, int in_place, const char *label)
{
    for (int act = 0; act < TU_N_ACTS; act++)
        check_act((mli_act)act, xs, n, off, in_place, label);
}

/* ---- value coverage ------------------------------------------------------------------------ */

static void test_random(void **state)
{
    (void)state;
    tu_require_kernels();
    const int64_t n = 100003;
    float *x = tu_falloc((size_t)n);
    tu_rng rng = {21};
    tu_frand(&rng, x, (size_t)n, -10.0f, 10.0f);
    for_each_act(x, n, 0, 0, "random [-10, 10]");
    free(x);
}

static void test_dense_sweep(void **state)
{
    (void)state;
    tu_require_kernels();
    const int64_t n = 400001; /* step 1e-4 over [-20, 20] */
    float *x = tu_falloc((size_t)n);
    for (int64_t i = 0; i < n; i++)
        x[i] = (float)(-20.0 + 1e-4 * (double)i);
    for_each_act(x, n, 0, 0, "sweep [-20, 20]");
    free(x);
}

static const float k_specials[] = {
    0.0f, -0.0f, 1e-10f, -1e-10f, 1e-30f, -1e-30f, 1e-38f, -1e-38f, FLT_MIN, -FLT_MIN,
    1e-40f /* denormal */, -1e-40f, FLT_TRUE_MIN, -FLT_TRUE_MIN, 1.0f, -1.0f,
    88.0f, -88.0f, 88.7f, -88.7f, 89.0f, -89.0f, 100.0f, -100.0f, 1e4f, -1e4f,
    1e30f, -1e30f, FLT_MAX, -FLT_MAX, 9.0f, -9.0f, 15.0f, -15.0f, 0.5f, -0.5f, 3.0f, -3.0f};
#define N_SPECIALS (sizeof k_specials / sizeof k_specials[0])

/* Tiny, huge and zero inputs, rotated so each one lands in every SIMD lane and in tails. */
static void test_special_values(void **state)
{
    (void)state;
    tu_require_kernels();
    float x[67];
    for (int r = 0; r < 17; r++) {
        for (int i = 0; i < 67; i++)
            x[i] = k_specials[(size_t)(i + r) % N_SPECIALS];
        for_each_act(x, 67, r % 2, r % 3 == 0, "special values");
        for_each_act(x, 5 + r, 0, 0, "special values (short)");
    }
}

/* ---- sizes and layouts ---------------------------------------------------------------------- */

static void test_every_size(void **state)
{
    (void)state;
    tu_require_kernels();
    tu_rng rng = {22};
    float x[67];
    for (int64_t n = 1; n <= 67; n++) {
        tu_frand(&rng, x, (size_t)n, -10.0f, 10.0f);
        for (int64_t off = 0; off <= 1; off++)
            for (int in_place = 0; in_place <= 1; in_place++)
                for_each_act(x, n, off, in_place, "tail sizes");
    }
}

static void test_large_sizes_misaligned_in_place(void **state)
{
    (void)state;
    tu_require_kernels();
    static const int64_t sizes[] = {1000, 100003};
    tu_rng rng = {23};
    float *x = tu_falloc(100003);
    for (size_t s = 0; s < 2; s++) {
        tu_frand(&rng, x, (size_t)sizes[s], -10.0f, 10.0f);
        for (int64_t off = 0; off <= 3; off += off ? 2 : 1) /* 0, 1, 3 */
            for (int in_place = 0; in_place <= 1; in_place++)
                for_each_act(x, sizes[s], off, in_place, "large sizes");
    }
    free(x);
}

/* Outputs far larger than the caches (where a library may switch to non-temporal stores
 * behind an alignment prologue), out of place, aligned and misaligned. */
static void test_beyond_cache_sizes(void **state)
{
    (void)state;
    tu_require_kernels();
    const int64_t n = ((int64_t)1 << 21) + 37; /* 8 MiB + a tail */
    float *x = tu_falloc((size_t)n);
    tu_rng rng = {26};
    tu_frand(&rng, x, (size_t)n, -10.0f, 10.0f);
    x[0] = NAN;
    x[n - 1] = -INFINITY;
    for (int act = 0; act < TU_N_ACTS; act++)
        check_act((mli_act)act, x, n, act % 3 == 2 ? 3 : act % 2, 0, "beyond cache sizes");
    free(x);
}

static void test_size_zero(void **state)
{
    (void)state;
    tu_require_kernels();
    float x[4] = {1, 2, 3, 4}, y[4] = {5, 6, 7, 8};
    for (int act = 0; act < TU_N_ACTS; act++) {
        TU_EXPECT_OK(mli_activate((mli_act)act, x, y, 0));
        TU_EXPECT_OK(mli_activate((mli_act)act, NULL, NULL, 0));
        assert_true(y[0] == 5 && y[3] == 8);
    }
}

/* ---- NaN and infinity ------------------------------------------------------------------------- */

static float nan_with_sign_and_payload(int variant)
{
    uint32_t bits = variant == 0 ? 0x7FC00000u : variant == 1 ? 0xFFC00000u : 0x7F800001u + (uint32_t)variant;
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

static void test_nan_propagates(void **state)
{
    (void)state;
    tu_require_kernels();
    tu_rng rng = {24};
    float x[67];
    for (int64_t n = 1; n <= 67; n += (n < 20 ? 1 : 7)) {
        for (int stride = 1; stride <= 5; stride += 2) {
            tu_frand(&rng, x, (size_t)n, -10.0f, 10.0f);
            for (int64_t i = (int64_t)stride / 2; i < n; i += stride)
                x[i] = nan_with_sign_and_payload((int)(i % 4));
            x[n - 1] = NAN; /* always one in the tail */
            for_each_act(x, n, 0, 0, "NaN");
            for_each_act(x, n, 1, 1, "NaN (in place)");
        }
    }
}

static void test_infinities(void **state)
{
    (void)state;
    tu_require_kernels();
    tu_rng rng = {25};
    float x[67];
    for (int64_t n = 1; n <= 67; n += (n < 20 ? 1 : 7)) {
        tu_frand(&rng, x, (size_t)n, -10.0f, 10.0f);
        for (int64_t i = 0; i < n; i += 3)
            x[i] = (i / 3) % 2 ? -INFINITY : INFINITY;
        x[n - 1] = n % 2 ? -INFINITY : INFINITY;
        for_each_act(x, n, 0, 0, "Inf");
        for_each_act(x, n, 1, 1, "Inf (in place)");
    }
    /* all of one kind, a full vector's worth */
    for (int sign = 0; sign < 2; sign++) {
        tu_ffill(x, 67, sign ? -INFINITY : INFINITY);
        for_each_act(x, 67, 0, 0, "all Inf");
    }
}

/* ---- argument validation ------------------------------------------------------------------------ */

static void test_bad_arguments(void **state)
{
    (void)state;
    tu_require_kernels();
    float x[8] = {0}, y[8];
    const mli_status INV = MLI_ERR_INVALID_ARGUMENT;
    TU_EXPECT_FAIL(mli_activate(MLI_ACT_RELU, NULL, y, 8), INV, "x");
    TU_EXPECT_FAIL(mli_activate(MLI_ACT_RELU, x, NULL, 8), INV, "y");
    TU_EXPECT_FAIL(mli_activate(MLI_ACT_SIGMOID, x, y, -1), INV, "n");
    TU_EXPECT_FAIL(mli_activate(MLI_ACT_SIGMOID, x, y, INT64_MIN), INV, "n");
    TU_EXPECT_FAIL(mli_activate(MLI_ACT_SIGMOID, x, y, INT64_MAX), INV, "n"); /* n * 4 bytes overflows */
    TU_EXPECT_FAIL(mli_activate((mli_act)99, x, y, 8), INV, "act");
    TU_EXPECT_FAIL(mli_activate((mli_act)-1, x, y, 8), INV, "act");
    TU_EXPECT_FAIL(mli_activate((mli_act)6, x, y, 8), INV, "act");
    /* a negative n with NULL pointers is still an error */
    TU_EXPECT_FAIL(mli_activate(MLI_ACT_TANH, NULL, NULL, -5), INV, NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bad_arguments),
        cmocka_unit_test(test_size_zero),
        cmocka_unit_test(test_random),
        cmocka_unit_test(test_dense_sweep),
        cmocka_unit_test(test_special_values),
        cmocka_unit_test(test_every_size),
        cmocka_unit_test(test_large_sizes_misaligned_in_place),
        cmocka_unit_test(test_beyond_cache_sizes),
        cmocka_unit_test(test_nan_propagates),
        cmocka_unit_test(test_infinities),
    };
    printf("mli_cpu_isa() = %s\n", mli_cpu_isa());
    return cmocka_run_group_tests(tests, NULL, NULL);
}
