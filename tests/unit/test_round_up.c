/* test_round_up.c — the float64 -> float32 upward conversion of each ISA's kernel table
 * (f64_to_f32_up, used for float64 rows on float64 `<=` tree models), against a reference
 * built from nextafterf: the smallest float32 >= x, NaN kept, +inf above the float range,
 * -FLT_MAX below it. Every length 0..40 (vector bodies and tails), values on, between and
 * around float32 numbers, signed zeros, denormals and the range ends. Internal kernels:
 * linked to the static library; registered per ISA (MLI_FORCE_ISA) like the kernel tests.
 * Also the row pre-pass built on it (f64_prepass), and the rounding to nearest with its NaN
 * and infinity flags (f64_to_f32, f32_scan: the float32 walks' scan of a row, which also
 * decides what scikit-learn's trees refuse), below. */
#define _POSIX_C_SOURCE 200809L
#include <float.h>
#include <stdint.h>

#include "testutil.h"

#include "internal.h"

static float reference(double x) {
    if (x != x)
        return NAN;
    if (x > FLT_MAX)
        return INFINITY;
    if (x < -FLT_MAX)
        return x == -INFINITY ? -INFINITY : -FLT_MAX;
    float f = (float)x;
    return (double)f < x ? nextafterf(f, INFINITY) : f;
}

static int same(float a, float b) {
    uint32_t u, v;
    memcpy(&u, &a, 4);
    memcpy(&v, &b, 4);
    return u == v || (a != a && b != b);
}

static void test_round_up_matches_reference(void **state) {
    (void)state;
    tu_require_kernels();
    const mli__kernels *kt = mli__get_kernels();
    assert_non_null(kt);
    assert_non_null(kt->f64_to_f32_up);
    double v[4096];
    int n = 0;
    const double specials[] = {NAN,
                               INFINITY,
                               -INFINITY,
                               0.0,
                               -0.0,
                               FLT_MAX,
                               -FLT_MAX,
                               3.4028235677973366e38,
                               -3.4028235677973366e38,
                               1e39,
                               -1e39,
                               1e300,
                               -1e300,
                               DBL_MAX,
                               -DBL_MAX,
                               FLT_MIN,
                               -FLT_MIN,
                               1e-45,
                               -1e-45,
                               1e-300,
                               -1e-300,
                               5e-324,
                               1.0,
                               -1.0,
                               0.1,
                               -0.1,
                               1.0 / 3};
    for (size_t i = 0; i < sizeof specials / sizeof specials[0]; ++i)
        v[n++] = specials[i];
    uint64_t s = 88172645463325252ull;
    while (n < 4096) {
        s ^= s << 13, s ^= s >> 7, s ^= s << 17;
        double base = ((double)(s >> 11) / 9007199254740992.0 - 0.5) * 200.0;
        float f = (float)base;
        switch (n % 6) {
        case 0: v[n++] = base; break;
        case 1: v[n++] = (double)f; break; /* exactly a float32 */
        case 2: v[n++] = nextafter((double)f, INFINITY); break;
        case 3: v[n++] = nextafter((double)f, -INFINITY); break;
        case 4: v[n++] = ((double)f + (double)nextafterf(f, INFINITY)) / 2; break; /* a float32 midpoint */
        default: v[n++] = ldexp(base, (int)(s % 300) - 150); break;
        }
    }
    float out[4096 + 1];
    for (int len = 0; len <= 40; ++len)
        for (int off = 0; off + len <= n; off += 97) {
            out[len] = 12345.0f; /* the kernel writes len values, no more */
            kt->f64_to_f32_up(v + off, out, len);
            for (int i = 0; i < len; ++i)
                if (!same(out[i], reference(v[off + i]))) {
                    printf("%s: len %d: x = %.17g -> %.9g, want %.9g\n", kt->isa, len, v[off + i], out[i],
                           reference(v[off + i]));
                    fail();
                }
            assert_true(out[len] == 12345.0f);
        }
    kt->f64_to_f32_up(v, out, n);
    for (int i = 0; i < n; ++i)
        assert_true(same(out[i], reference(v[i])));
}

/* The float64 `<=` models' row pre-pass (f64_prepass): the same float32 values, the NaN
 * flag, and a candidate bit exactly where the value was rounded up and both of its filter
 * bits are set (the hash written out here again, from the builder's definition in
 * kernels/tree_rules.h), over filters of several sizes and densities, lengths across the
 * 8-lane groups and 64-bit candidate words, and no filter. */
static int want_cand(const uint64_t *filter, int lg, int64_t i, double x, float y) {
    if (!filter || !((double)y > x))
        return 0;
    uint32_t b;
    memcpy(&b, &y, 4);
    uint64_t h = ((uint64_t)i << 32 | b) * 0x9E3779B97F4A7C15ull;
    h ^= h >> 29;
    uint64_t w = filter[h >> (70 - lg)];
    return (w >> (h & 63) & 1) && (w >> (h >> 6 & 63) & 1);
}

static void test_prepass_matches_reference(void **state) {
    (void)state;
    tu_require_kernels();
    const mli__kernels *kt = mli__get_kernels();
    assert_non_null(kt->f64_prepass);
    enum { N = 300 };
    static double v[N];
    static uint64_t filter[1 << 8];
    uint64_t s = 0x2545F4914F6CDD1Dull;
    int seen_cand = 0, seen_up_no_cand = 0;
    for (int lg = 7; lg <= 14; lg += 7)
        for (int dense = 0; dense < 3; ++dense) {
            for (int i = 0; i < 1 << (lg - 6); ++i) { /* about 1/2, 3/4 or 15/16 of the bits set */
                s ^= s << 13, s ^= s >> 7, s ^= s << 17;
                uint64_t a = s;
                s ^= s << 13, s ^= s >> 7, s ^= s << 17;
                filter[i] = dense == 0 ? a : dense == 1 ? a | s : a | s | (s >> 3) | (a << 5);
            }
            for (int i = 0; i < N; ++i) {
                s ^= s << 13, s ^= s >> 7, s ^= s << 17;
                double base = ((double)(s >> 11) / 9007199254740992.0 - 0.5) * 64.0;
                v[i] = i % 29 == 5 ? NAN : i % 7 == 3 ? (double)(float)base : i % 31 == 7 ? 1e39 : base;
            }
            const int lens[] = {0, 1, 7, 8, 9, 31, 63, 64, 65, 127, 128, 129, 200, N};
            for (size_t li = 0; li < sizeof lens / sizeof lens[0]; ++li)
                for (int with = 0; with < 2; ++with) {
                    int n = lens[li];
                    float y[N + 1];
                    uint64_t cand[N / 64 + 2];
                    y[n] = 12345.0f;
                    cand[(n + 63) / 64] = 0xABCDull; /* written: ceil(n / 64) words, no more */
                    for (int w = 0; w < (n + 63) / 64; ++w)
                        cand[w] = ~0ull;
                    int nan = kt->f64_prepass(v, y, n, with ? filter : NULL, lg, cand);
                    int want_nan = 0;
                    for (int i = 0; i < n; ++i) {
                        want_nan |= v[i] != v[i];
                        assert_true(same(y[i], reference(v[i])));
                        int c = (int)(cand[i / 64] >> (i % 64) & 1),
                            want = want_cand(with ? filter : NULL, lg, i, v[i], y[i]);
                        if (c != want) {
                            printf("%s: lg %d, n %d, value %d (%.17g): candidate %d, want %d\n", kt->isa, lg, n, i,
                                   v[i], c, want);
                            fail();
                        }
                        seen_cand += want;
                        seen_up_no_cand += with && !want && (double)y[i] > v[i];
                    }
                    for (int i = n; i < 64 * ((n + 63) / 64); ++i)
                        assert_true((cand[i / 64] >> (i % 64) & 1) == 0);
                    assert_int_equal(nan, want_nan);
                    assert_true(y[n] == 12345.0f);
                    assert_true(cand[(n + 63) / 64] == 0xABCDull);
                }
        }
    assert_true(seen_cand > 100 && seen_up_no_cand > 100); /* both outcomes exercised */
}

/* f64_to_f32 against the C conversion (round to nearest: C99's rounding of an in-range double,
 * +-inf from FLT_MAX + half its ulp up) and f32_scan, with their flags, for every length 0..40
 * and every position of one NaN, one infinity or one number beyond float32's range. */
static float nearest(double x) {
    if (x >= 3.4028235677973366e38)
        return INFINITY;
    if (x <= -3.4028235677973366e38)
        return -INFINITY;
    return (float)x; /* in range (or NaN): defined */
}

static void test_nearest_and_flags(void **state) {
    (void)state;
    tu_require_kernels();
    const mli__kernels *kt = mli__get_kernels();
    assert_non_null(kt->f64_to_f32);
    assert_non_null(kt->f32_scan);
    const double odd[] = {NAN,     INFINITY, -INFINITY, 1e300, -1e39, 3.4028235677973366e38, 3.4028235677973362e38,
                          FLT_MAX, -FLT_MAX, 0.0};
    double v[48];
    float in32[48], y[49];
    uint64_t s = 0x9E3779B97F4A7C15ull;
    for (int len = 0; len <= 40; ++len)
        for (size_t k = 0; k < sizeof odd / sizeof odd[0]; ++k)
            for (int at = -1; at < len; ++at) { /* at -1: no odd value */
                for (int i = 0; i < len; ++i) {
                    s ^= s << 13, s ^= s >> 7, s ^= s << 17;
                    v[i] = i == at ? odd[k] : ((double)(s >> 11) / 9007199254740992.0 - 0.5) * 1e6;
                    in32[i] = (float)(v[i] == v[i] && fabs(v[i]) < 1e38 ? v[i] : (double)nearest(v[i]));
                }
                y[len] = 12345.0f;
                int f = kt->f64_to_f32(v, y, len), want = 0;
                for (int i = 0; i < len; ++i) {
                    float w = nearest(v[i]);
                    if (!same(y[i], w)) {
                        printf("%s: len %d: %.17g -> %.9g, want %.9g\n", kt->isa, len, v[i], y[i], w);
                        fail();
                    }
                    want |= (v[i] != v[i] ? MLI__SCAN_NAN : 0) | (w == INFINITY || w == -INFINITY ? MLI__SCAN_INF : 0);
                }
                assert_true(y[len] == 12345.0f);
                if (f != want) {
                    printf("%s: f64_to_f32 len %d, odd %.17g at %d: flags %d, want %d\n", kt->isa, len, odd[k], at, f,
                           want);
                    fail();
                }
                int g = kt->f32_scan(in32, len);
                if (g != want) {
                    printf("%s: f32_scan len %d, odd %.17g at %d: flags %d, want %d\n", kt->isa, len, odd[k], at, g,
                           want);
                    fail();
                }
            }
}

int main(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_round_up_matches_reference),
                                       cmocka_unit_test(test_prepass_matches_reference),
                                       cmocka_unit_test(test_nearest_and_flags)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
