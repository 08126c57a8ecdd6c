/* test_threads.c — 16 threads call mli_sgemm, mli_sgemm_bias_act, mli_activate and
 * mli_softmax at once on shared read-only inputs with private outputs; every result must
 * equal the single-threaded run bit for bit. Run once per ISA (ctest sets MLI_FORCE_ISA). */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "testutil.h"

#define N_THREADS 16
#define ROUNDS 3

typedef struct gemm_shape {
    mli_trans ta, tb;
    int64_t m, n, k;
    float alpha, beta;
} gemm_shape;

static const gemm_shape k_shapes[] = {
    {MLI_NO_TRANS, MLI_NO_TRANS, 5, 67, 33, 1.0f, 0.0f},
    {MLI_TRANS, MLI_NO_TRANS, 64, 96, 80, 0.5f, 1.0f},
    {MLI_NO_TRANS, MLI_TRANS, 150, 130, 170, -2.0f, -0.75f},
    {MLI_TRANS, MLI_TRANS, 9, 200, 17, 1.0f, 0.0f},
    /* small m with enough work to be split across the library's own threads */
    {MLI_NO_TRANS, MLI_NO_TRANS, 4, 300, 120, 1.0f, 0.0f},
    {MLI_NO_TRANS, MLI_TRANS, 8, 129, 150, 1.0f, 1.0f},
    {MLI_TRANS, MLI_NO_TRANS, 1, 1000, 40, -2.0f, 0.0f},
};
#define N_SHAPES 7
static const char *const k_shape_names[N_SHAPES] = {
    "mli_sgemm NN 5x67x33",  "mli_sgemm TN 64x96x80",  "mli_sgemm NT 150x130x170", "mli_sgemm TT 9x200x17",
    "mli_sgemm NN 4x300x120", "mli_sgemm NT 8x129x150", "mli_sgemm TN 1x1000x40"};
#define ACT_N 10007
#define SM_ROWS 37
#define SM_COLS 129
#define BA_M 7
#define BA_N 67
#define BA_K 50

/* Shared read-only inputs and the single-threaded results. */
static float *g_a, *g_b, *g_c0, *g_bias, *g_x;
static float *g_gemm_want[N_SHAPES], *g_act_want[TU_N_ACTS], *g_sm_want, *g_ba_want;

typedef struct worker {
    pthread_t tid;
    int failures;
    char first[200];
} worker;

static size_t c_size(const gemm_shape *s)
{
    return (size_t)(s->m * s->n);
}

static mli_status run_gemm(const gemm_shape *s, float *c)
{
    memcpy(c, g_c0, c_size(s) * sizeof(float));
    int64_t lda = s->ta == MLI_NO_TRANS ? s->k : s->m, ldb = s->tb == MLI_NO_TRANS ? s->n : s->k;
    return mli_sgemm(s->ta, s->tb, s->m, s->n, s->k, s->alpha, g_a, lda, g_b, ldb, s->beta, c, s->n);
}

static mli_status run_bias_act(float *c)
{
    return mli_sgemm_bias_act(BA_M, BA_N, BA_K, g_a, BA_K, g_b, BA_N, g_bias, MLI_ACT_GELU, c, BA_N);
}

/* Set while the thread count changes under the workers: the engine a GEMM runs on may then
 * differ from the single-threaded run's, so GEMM results are compared to a tolerance
 * instead of bit for bit. */
static int g_gemm_tolerant;

static int64_t first_mismatch(const char *what, const float *got, const float *want, size_t n)
{
    if (!g_gemm_tolerant || strncmp(what, "mli_sgemm", 9) != 0)
        return tu_first_bit_diff(got, want, n);
    for (size_t i = 0; i < n; i++)
        if (!(fabsf(got[i] - want[i]) <= 1e-4f * (1.0f + fabsf(want[i]))))
            return (int64_t)i;
    return -1;
}

static void note(worker *w, const char *what, mli_status st, const float *got, const float *want, size_t n)
{
    int64_t d = st == MLI_OK ? first_mismatch(what, got, want, n) : -1;
    if (st == MLI_OK && d < 0)
        return;
    if (w->failures++ == 0) {
        if (st != MLI_OK)
            snprintf(w->first, sizeof w->first, "%s returned %s: %s", what, mli_status_string(st),
                     mli_last_error());
        else
            snprintf(w->first, sizeof w->first, "%s: element %lld is %.9g, single-threaded %.9g", what,
                     (long long)d, (double)got[d], (double)want[d]);
    }
}

static void *work(void *arg)
{
    worker *w = arg;
    /* no cmocka calls off the main thread: they are not thread-safe */
    float *out = malloc(200 * 200 * sizeof(float));
    if (out == NULL) {
        w->failures = 1;
        snprintf(w->first, sizeof w->first, "out of memory");
        return NULL;
    }
    for (int round = 0; round < ROUNDS; round++) {
        for (int s = 0; s < N_SHAPES; s++)
            note(w, k_shape_names[s], run_gemm(&k_shapes[s], out), out, g_gemm_want[s], c_size(&k_shapes[s]));
        for (int act = 0; act < TU_N_ACTS; act++)
            note(w, "mli_activate", mli_activate((mli_act)act, g_x, out, ACT_N), out, g_act_want[act],
                 ACT_N);
        note(w, "mli_softmax", mli_softmax(g_x, out, SM_ROWS, SM_COLS), out, g_sm_want,
             SM_ROWS * SM_COLS);
        note(w, "mli_sgemm_bias_act", run_bias_act(out), out, g_ba_want, BA_M * BA_N);
    }
    free(out);
    return NULL;
}

static int setup(void **state)
{
    (void)state;
    tu_rng rng = {41};
    const size_t big = 200 * 200;
    g_a = tu_falloc(big);
    g_b = tu_falloc(big);
    g_c0 = tu_falloc(big);
    g_bias = tu_falloc(BA_N);
    g_x = tu_falloc(ACT_N);
    tu_frand(&rng, g_a, big, -1, 1);
    tu_frand(&rng, g_b, big, -1, 1);
    tu_frand(&rng, g_c0, big, -1, 1);
    tu_frand(&rng, g_bias, BA_N, -1, 1);
    tu_frand(&rng, g_x, ACT_N, -10, 10);
    for (int s = 0; s < N_SHAPES; s++)
        g_gemm_want[s] = tu_falloc(c_size(&k_shapes[s]));
    for (int act = 0; act < TU_N_ACTS; act++)
        g_act_want[act] = tu_falloc(ACT_N);
    g_sm_want = tu_falloc(SM_ROWS * SM_COLS);
    g_ba_want = tu_falloc(BA_M * BA_N);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    free(g_a);
    free(g_b);
    free(g_c0);
    free(g_bias);
    free(g_x);
    for (int s = 0; s < N_SHAPES; s++)
        free(g_gemm_want[s]);
    for (int act = 0; act < TU_N_ACTS; act++)
        free(g_act_want[act]);
    free(g_sm_want);
    free(g_ba_want);
    return 0;
}

static void compute_single_threaded_results(void)
{
    for (int s = 0; s < N_SHAPES; s++)
        TU_EXPECT_OK(run_gemm(&k_shapes[s], g_gemm_want[s]));
    for (int act = 0; act < TU_N_ACTS; act++)
        TU_EXPECT_OK(mli_activate((mli_act)act, g_x, g_act_want[act], ACT_N));
    TU_EXPECT_OK(mli_softmax(g_x, g_sm_want, SM_ROWS, SM_COLS));
    TU_EXPECT_OK(run_bias_act(g_ba_want));
}

static atomic_int g_stop_toggling;

/* Changes the thread count over and over while the workers compute. */
static void *toggle_threads(void *arg)
{
    (void)arg;
    for (int i = 0; !atomic_load(&g_stop_toggling); i++)
        (void)mli_set_num_threads(1 + i % 4);
    return NULL;
}

static void run_workers(int with_toggler)
{
    worker w[N_THREADS];
    memset(w, 0, sizeof w);
    pthread_t toggler;
    atomic_store(&g_stop_toggling, 0);
    if (with_toggler)
        assert_int_equal(pthread_create(&toggler, NULL, toggle_threads, NULL), 0);
    for (int t = 0; t < N_THREADS; t++)
        assert_int_equal(pthread_create(&w[t].tid, NULL, work, &w[t]), 0);
    for (int t = 0; t < N_THREADS; t++)
        assert_int_equal(pthread_join(w[t].tid, NULL), 0);
    if (with_toggler) {
        atomic_store(&g_stop_toggling, 1);
        assert_int_equal(pthread_join(toggler, NULL), 0);
        TU_EXPECT_OK(mli_set_num_threads(0));
    }
    int failed = 0;
    for (int t = 0; t < N_THREADS; t++)
        if (w[t].failures) {
            fprintf(stderr, "thread %d: %d mismatches; first: %s\n", t, w[t].failures, w[t].first);
            failed = 1;
        }
    assert_false(failed);
}

static void test_concurrent_calls_match_single_threaded(void **state)
{
    (void)state;
    tu_require_kernels();
    compute_single_threaded_results();
    run_workers(0);
}

/* mli_set_num_threads affects calls that start after it; calls in flight must neither
 * break nor change their results. */
static void test_thread_count_changes_during_calls(void **state)
{
    (void)state;
    tu_require_kernels();
    compute_single_threaded_results();
    g_gemm_tolerant = 1;
    run_workers(1);
    g_gemm_tolerant = 0;
}

/* A process that forks after using the library (a pre-fork server) gets a child in which
 * the library still works, including calls that use its worker threads. */
static void test_usable_after_fork(void **state)
{
    (void)state;
    tu_require_kernels();
    compute_single_threaded_results();
    TU_EXPECT_OK(mli_set_num_threads(4));
    compute_single_threaded_results(); /* warm the pool with several workers */
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        alarm(60); /* a deadlocked child dies instead of hanging the suite */
        worker w;
        memset(&w, 0, sizeof w);
        work(&w);
        if (w.failures)
            fprintf(stderr, "child: %d mismatches; first: %s\n", w.failures, w.first);
        _exit(w.failures ? 1 : 0);
    }
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    TU_EXPECT_OK(mli_set_num_threads(0));
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        fprintf(stderr, "child after fork: %s %d\n", WIFSIGNALED(status) ? "killed by signal" : "exit status",
                WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
        fail();
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_concurrent_calls_match_single_threaded),
        cmocka_unit_test(test_thread_count_changes_during_calls),
        cmocka_unit_test(test_usable_after_fork),
    };
    printf("mli_cpu_isa() = %s, mli_get_num_threads() = %d\n", mli_cpu_isa(), mli_get_num_threads());
    return cmocka_run_group_tests(tests, setup, teardown);
}
