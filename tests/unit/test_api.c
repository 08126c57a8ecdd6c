/* test_api.c — the framework calls: version, status strings, the per-thread last error,
 * and the thread-count setting (registered twice with ctest: without MLI_THREADS, and with
 * MLI_THREADS=2 to check the environment default). */
#define _GNU_SOURCE /* sched_getaffinity, CPU_COUNT */
#include <pthread.h>
#include <sched.h>

#include "testutil.h"

/* ---- version --------------------------------------------------------------------------- */

static void test_version_matches_header(void **state)
{
    (void)state;
    char want[32];
    snprintf(want, sizeof want, "%d.%d.%d", MLI_VERSION_MAJOR, MLI_VERSION_MINOR, MLI_VERSION_PATCH);
    assert_non_null(mli_version());
    assert_string_equal(mli_version(), want);
    assert_int_equal(mli_version_number(), MLI_VERSION_NUMBER);
    assert_int_equal(MLI_VERSION_NUMBER,
                     MLI_VERSION_MAJOR * 10000 + MLI_VERSION_MINOR * 100 + MLI_VERSION_PATCH);
}

/* ---- status strings ---------------------------------------------------------------------- */

static const struct {
    mli_status status;
    const char *name;
} k_statuses[] = {
    {MLI_OK, "MLI_OK"},
    {MLI_ERR_INVALID_ARGUMENT, "MLI_ERR_INVALID_ARGUMENT"},
    {MLI_ERR_OUT_OF_MEMORY, "MLI_ERR_OUT_OF_MEMORY"},
    {MLI_ERR_UNSUPPORTED, "MLI_ERR_UNSUPPORTED"},
    {MLI_ERR_IO, "MLI_ERR_IO"},
    {MLI_ERR_CORRUPT, "MLI_ERR_CORRUPT"},
    {MLI_ERR_VERSION, "MLI_ERR_VERSION"},
    {MLI_ERR_SHAPE, "MLI_ERR_SHAPE"},
    {MLI_ERR_DEVICE, "MLI_ERR_DEVICE"},
    {MLI_ERR_INTERNAL, "MLI_ERR_INTERNAL"},
    {MLI_ERR_IMAGE, "MLI_ERR_IMAGE"},
};
#define N_STATUSES (sizeof k_statuses / sizeof k_statuses[0])

static void test_status_strings(void **state)
{
    (void)state;
    for (size_t i = 0; i < N_STATUSES; i++) {
        assert_int_equal((int)k_statuses[i].status, (int)i); /* explicit, dense values */
        const char *s = mli_status_string(k_statuses[i].status);
        assert_non_null(s);
        if (!tu_mentions(s, k_statuses[i].name)) {
            fprintf(stderr, "mli_status_string(%d) = \"%s\" does not contain %s\n", (int)i, s,
                    k_statuses[i].name);
            fail();
        }
        for (size_t j = 0; j < i; j++)
            if (strcmp(s, mli_status_string(k_statuses[j].status)) == 0) {
                fprintf(stderr, "statuses %zu and %zu share the string \"%s\"\n", j, i, s);
                fail();
            }
    }
    static const int out_of_range[] = {10, 11, 99, 1000, -1, -100, 0x7fffffff};
    for (size_t i = 0; i < sizeof out_of_range / sizeof out_of_range[0]; i++) {
        const char *s = mli_status_string((mli_status)out_of_range[i]);
        assert_non_null(s);
        assert_true(strlen(s) < 1000);
    }
}

/* ---- last error ---------------------------------------------------------------------------- */

static void *fresh_thread_error(void *arg)
{
    const char *msg = mli_last_error();
    *(int *)arg = msg != NULL && msg[0] == 0;
    return NULL;
}

static void test_last_error_empty_on_fresh_thread(void **state)
{
    (void)state;
    int empty = 0;
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, fresh_thread_error, &empty), 0);
    assert_int_equal(pthread_join(t, NULL), 0);
    assert_true(empty);
}

typedef struct pair_state {
    pthread_barrier_t barrier;
    int a_status;           /* thread A's failing call */
    char a_msg[256];        /* its message right after */
    int a_kept_after_ok;    /* A's message unchanged by a later successful call */
    int a_kept_after_b;     /* ... and by B's failure */
    int b_empty_before;     /* B sees "" although A has failed */
    int b_status;
    char b_msg[256];
} pair_state;

static void *thread_a(void *arg)
{
    pair_state *ps = arg;
    float x[4] = {0};
    ps->a_status = mli_activate(MLI_ACT_RELU, x, x, -1);
    snprintf(ps->a_msg, sizeof ps->a_msg, "%s", mli_last_error());
    (void)mli_get_num_threads();
    (void)mli_status_string(MLI_OK);
    ps->a_kept_after_ok = strcmp(mli_last_error(), ps->a_msg) == 0;
    pthread_barrier_wait(&ps->barrier); /* 1: A has failed */
    pthread_barrier_wait(&ps->barrier); /* 2: B has checked and failed */
    ps->a_kept_after_b = strcmp(mli_last_error(), ps->a_msg) == 0;
    return NULL;
}

static void *thread_b(void *arg)
{
    pair_state *ps = arg;
    pthread_barrier_wait(&ps->barrier); /* 1 */
    const char *msg = mli_last_error();
    ps->b_empty_before = msg != NULL && msg[0] == 0;
    float x[4] = {0};
    ps->b_status = mli_softmax(x, x, 1, -3);
    snprintf(ps->b_msg, sizeof ps->b_msg, "%s", mli_last_error());
    pthread_barrier_wait(&ps->barrier); /* 2 */
    return NULL;
}

static void test_last_error_is_per_thread(void **state)
{
    (void)state;
    /* the main thread's own failure, which the others must not disturb */
    float x[4] = {0};
    assert_int_equal(mli_sgemm(MLI_NO_TRANS, MLI_NO_TRANS, -5, 1, 1, 1, x, 1, x, 1, 0, x, 1),
                     MLI_ERR_INVALID_ARGUMENT);
    char main_msg[256];
    snprintf(main_msg, sizeof main_msg, "%s", mli_last_error());
    assert_true(main_msg[0] != 0);

    pair_state ps;
    memset(&ps, 0, sizeof ps);
    assert_int_equal(pthread_barrier_init(&ps.barrier, NULL, 2), 0);
    pthread_t a, b;
    assert_int_equal(pthread_create(&a, NULL, thread_a, &ps), 0);
    assert_int_equal(pthread_create(&b, NULL, thread_b, &ps), 0);
    assert_int_equal(pthread_join(a, NULL), 0);
    assert_int_equal(pthread_join(b, NULL), 0);
    pthread_barrier_destroy(&ps.barrier);

    fprintf(stderr, "main: \"%s\"\nA: \"%s\"\nB: \"%s\"\n", main_msg, ps.a_msg, ps.b_msg);
    assert_int_equal(ps.a_status, MLI_ERR_INVALID_ARGUMENT);
    assert_true(tu_mentions(ps.a_msg, "n"));
    assert_true(ps.a_kept_after_ok);
    assert_true(ps.b_empty_before);
    assert_int_equal(ps.b_status, MLI_ERR_INVALID_ARGUMENT);
    assert_true(tu_mentions(ps.b_msg, "cols"));
    assert_true(ps.a_kept_after_b);
    assert_string_not_equal(ps.a_msg, ps.b_msg);
    assert_string_equal(mli_last_error(), main_msg);
}

/* ---- thread count -------------------------------------------------------------------------- */

/* MLI_THREADS when it holds a positive number, else 0. */
static int env_threads(void)
{
    const char *s = getenv("MLI_THREADS");
    if (s == NULL || *s == 0)
        return 0;
    char *end;
    long v = strtol(s, &end, 10);
    return *end == 0 && v > 0 && v < 1 << 20 ? (int)v : 0;
}

static int affinity_cpus(void)
{
    cpu_set_t set;
    CPU_ZERO(&set);
    if (sched_getaffinity(0, sizeof set, &set) != 0)
        return 0;
    return CPU_COUNT(&set);
}

static int g_default_threads;

static void check_default(int got)
{
    int env = env_threads(), cpus = affinity_cpus();
    fprintf(stderr, "default threads %d (MLI_THREADS=%s, affinity CPUs %d)\n", got,
            getenv("MLI_THREADS") ? getenv("MLI_THREADS") : "(unset)", cpus);
    if (env > 0) {
        assert_int_equal(got, env);
    } else {
        assert_true(got >= 1);
        if (cpus > 0)
            assert_true(got <= cpus); /* a cgroup quota can only lower it */
    }
}

/* Must run before anything sets the count: the first call reads the environment. */
static void test_default_thread_count(void **state)
{
    (void)state;
    g_default_threads = mli_get_num_threads();
    check_default(g_default_threads);
}

static void test_set_num_threads(void **state)
{
    (void)state;
    assert_int_equal(mli_set_num_threads(3), MLI_OK);
    assert_int_equal(mli_get_num_threads(), 3);
    assert_int_equal(mli_set_num_threads(1), MLI_OK);
    assert_int_equal(mli_get_num_threads(), 1);
    assert_int_equal(mli_set_num_threads(0), MLI_OK);
    assert_int_equal(mli_get_num_threads(), g_default_threads);
    check_default(mli_get_num_threads());
    assert_int_equal(mli_set_num_threads(5), MLI_OK);
    assert_int_equal(mli_get_num_threads(), 5);
    assert_int_equal(mli_set_num_threads(-7), MLI_OK);
    assert_int_equal(mli_get_num_threads(), g_default_threads);

    /* a kernel call still works (and agrees) under a changed count */
    float a[6] = {1, 2, 3, 4, 5, 6}, b[6] = {1, 0, 0, 1, 1, 1}, c[4];
    assert_int_equal(mli_set_num_threads(2), MLI_OK);
    if (strcmp(mli_cpu_isa(), "unavailable") != 0) {
        TU_EXPECT_OK(mli_sgemm(MLI_NO_TRANS, MLI_NO_TRANS, 2, 2, 3, 1, a, 3, b, 2, 0, c, 2));
        assert_true(c[0] == 4 && c[1] == 5 && c[2] == 10 && c[3] == 11);
    }
    assert_int_equal(mli_set_num_threads(0), MLI_OK);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_default_thread_count), /* first: before any set */
        cmocka_unit_test(test_version_matches_header),
        cmocka_unit_test(test_status_strings),
        cmocka_unit_test(test_last_error_empty_on_fresh_thread),
        cmocka_unit_test(test_last_error_is_per_thread),
        cmocka_unit_test(test_set_num_threads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
