/* test_isa.c — kernel table selection: mli_cpu_isa() names the table the host's CPUID
 * allows (or the one MLI_FORCE_ISA forces), and a forced table the CPU lacks, or a bogus
 * MLI_FORCE_ISA value, makes every kernel call fail with MLI_ERR_UNSUPPORTED and a message
 * saying why. Registered with ctest without MLI_FORCE_ISA, with each ISA, and with "bogus". */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>

#include "testutil.h"

static int host_has(const char *isa)
{
    if (strcmp(isa, "scalar") == 0)
        return 1;
#if defined(__x86_64__) || defined(__i386__)
    /* GCC's checks consult XCR0 too, as the library must */
    __builtin_cpu_init();
    if (strcmp(isa, "avx2") == 0)
        return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    if (strcmp(isa, "avx512") == 0)
        return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
               __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl");
#endif
    return 0;
}

static const char *host_best(void)
{
    return host_has("avx512") ? "avx512" : host_has("avx2") ? "avx2" : "scalar";
}

static int is_known_isa(const char *s)
{
    return strcmp(s, "scalar") == 0 || strcmp(s, "avx2") == 0 || strcmp(s, "avx512") == 0;
}

/* What mli_cpu_isa() must say under the current environment. */
static const char *expected_isa(void)
{
    const char *forced = getenv("MLI_FORCE_ISA");
    if (forced == NULL)
        return host_best();
    if (is_known_isa(forced))
        return host_has(forced) ? forced : "unavailable";
    return "unavailable";
}

static void *isa_in_thread(void *arg)
{
    *(const char **)arg = mli_cpu_isa();
    return NULL;
}

static void test_isa_name(void **state)
{
    (void)state;
    const char *isa = mli_cpu_isa();
    assert_non_null(isa);
    printf("MLI_FORCE_ISA=%s, mli_cpu_isa() = %s, host best = %s\n",
           getenv("MLI_FORCE_ISA") ? getenv("MLI_FORCE_ISA") : "(unset)", isa, host_best());
    assert_true(is_known_isa(isa) || strcmp(isa, "unavailable") == 0);
    assert_string_equal(isa, expected_isa());
    /* chosen once: the same answer later and on other threads */
    assert_string_equal(mli_cpu_isa(), isa);
    const char *other = NULL;
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, isa_in_thread, &other), 0);
    assert_int_equal(pthread_join(t, NULL), 0);
    assert_non_null(other);
    assert_string_equal(other, isa);
}

/* With a usable table, a small call of each kernel gives the right answer. */
static void test_kernels_work(void **state)
{
    (void)state;
    if (strcmp(mli_cpu_isa(), "unavailable") == 0)
        skip();
    float a[6] = {1, 2, 3, 4, 5, 6}, b[6] = {1, 0, 0, 1, 1, 1}, bias[2] = {-10, 0.5f}, c[4];
    TU_EXPECT_OK(mli_sgemm(MLI_NO_TRANS, MLI_NO_TRANS, 2, 2, 3, 1, a, 3, b, 2, 0, c, 2));
    assert_true(c[0] == 4 && c[1] == 5 && c[2] == 10 && c[3] == 11);
    TU_EXPECT_OK(mli_sgemm_bias_act(2, 2, 3, a, 3, b, 2, bias, MLI_ACT_RELU, c, 2));
    assert_true(c[0] == 0 && c[1] == 5.5f && c[2] == 0 && c[3] == 11.5f);
    float x[3] = {-1, 0, 2}, y[3];
    TU_EXPECT_OK(mli_activate(MLI_ACT_RELU, x, y, 3));
    assert_true(y[0] == 0 && y[1] == 0 && y[2] == 2);
    TU_EXPECT_OK(mli_activate(MLI_ACT_SIGMOID, x, y, 3));
    assert_true(fabs(y[1] - 0.5) <= 1e-6);
    TU_EXPECT_OK(mli_softmax(x, y, 1, 3));
    double s = exp(-1.0) + 1 + exp(2.0);
    assert_true(fabs(y[2] - exp(2.0) / s) <= 1e-6);
}

/* Does msg say why: the variable, or the ISA asked for? */
static int explains(const char *msg, const char *forced)
{
    return tu_mentions(msg, "MLI_FORCE_ISA") || (forced && *forced && tu_mentions(msg, forced));
}

static void expect_unsupported(const char *what, mli_status st, const char *forced, int need_var)
{
    const char *msg = mli_last_error();
    printf("%s -> %s: \"%s\"\n", what, mli_status_string(st), msg);
    assert_int_equal(st, MLI_ERR_UNSUPPORTED);
    assert_true(explains(msg, forced));
    if (need_var)
        assert_true(tu_mentions(msg, "MLI_FORCE_ISA"));
}

/* With no usable table (a missing or bogus forced ISA), every kernel call fails cleanly. */
static void test_unavailable_table_fails_every_kernel(void **state)
{
    (void)state;
    if (strcmp(mli_cpu_isa(), "unavailable") != 0)
        skip();
    const char *forced = getenv("MLI_FORCE_ISA");
    int bogus = forced == NULL || !is_known_isa(forced);
    float a[6] = {1, 2, 3, 4, 5, 6}, b[6] = {1, 0, 0, 1, 1, 1}, c[4], x[3] = {-1, 0, 2}, y[3];
    expect_unsupported("mli_sgemm",
                       mli_sgemm(MLI_NO_TRANS, MLI_NO_TRANS, 2, 2, 3, 1, a, 3, b, 2, 0, c, 2), forced,
                       bogus);
    expect_unsupported("mli_sgemm (transposed A)",
                       mli_sgemm(MLI_TRANS, MLI_NO_TRANS, 1, 2, 3, 1, a, 1, b, 2, 1, c, 2), forced,
                       bogus);
    expect_unsupported("mli_sgemm_bias_act",
                       mli_sgemm_bias_act(2, 2, 3, a, 3, b, 2, NULL, MLI_ACT_TANH, c, 2), forced, bogus);
    for (int act = 0; act < TU_N_ACTS; act++)
        expect_unsupported("mli_activate", mli_activate((mli_act)act, x, y, 3), forced, bogus);
    expect_unsupported("mli_softmax", mli_softmax(x, y, 1, 3), forced, bogus);

    /* the rest of the library still works */
    assert_non_null(mli_version());
    assert_int_equal(mli_set_num_threads(2), MLI_OK);
    assert_int_equal(mli_get_num_threads(), 2);
    assert_int_equal(mli_set_num_threads(0), MLI_OK);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_isa_name),
        cmocka_unit_test(test_kernels_work),
        cmocka_unit_test(test_unavailable_table_fails_every_kernel),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
