/* test_round_up.c — the float64 -> float32 upward conversion of each ISA's kernel table
 * (f64_to_f32_up, used for float64 rows on float64 `<=` tree models), against a reference
 * built from nextafterf: the smallest float32 >= x, NaN kept, +inf above the float range,
 * -FLT_MAX below it. Every length 0..40 (vector bodies and tails), values on, between and
 * around float32 numbers, signed zeros, denormals and the range ends. Internal kernels:
 * linked to the static library; registered per ISA (MLI_FORCE_ISA) like the kernel tests. */
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
    const double specials[] = {NAN, INFINITY, -INFINITY, 0.0, -0.0, FLT_MAX, -FLT_MAX, 3.4028235677973366e38,
                               -3.4028235677973366e38, 1e39, -1e39, 1e300, -1e300, DBL_MAX, -DBL_MAX, FLT_MIN,
                               -FLT_MIN, 1e-45, -1e-45, 1e-300, -1e-300, 5e-324, 1.0, -1.0, 0.1, -0.1, 1.0 / 3};
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

int main(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_round_up_matches_reference)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
