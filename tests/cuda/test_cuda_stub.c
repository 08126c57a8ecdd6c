/* test_cuda_stub.c — a library built without CUDA still has every call of
 * include/mlinfer_cuda.h: each fails with MLI_ERR_UNSUPPORTED and "built without CUDA",
 * writes NULL / 0 to its out-parameters, and the CPU API is unaffected. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "mlinfer_cuda.h"

static void expect_unsupported(mli_status st, const char *call) {
    if (st != MLI_ERR_UNSUPPORTED || !strstr(mli_last_error(), "built without CUDA"))
        fail_msg("%s: got %s (%s), want MLI_ERR_UNSUPPORTED 'built without CUDA'", call, mli_status_string(st),
                 mli_last_error());
}

static void test_stubs(void **state) {
    (void)state;
    assert_int_equal(mli_cuda_built(), 0);
    assert_int_equal(mli_cuda_available(), 0);
    int n = 5;
    expect_unsupported(mli_cuda_device_count(&n), "mli_cuda_device_count");
    assert_int_equal(n, 0);
    mli_cuda_device_props p;
    expect_unsupported(mli_cuda_device_query(0, &p), "mli_cuda_device_query");
    mli_cuda_stream *s = (mli_cuda_stream *)1;
    expect_unsupported(mli_cuda_stream_create(0, &s), "mli_cuda_stream_create");
    assert_null(s);
    s = (mli_cuda_stream *)1;
    expect_unsupported(mli_cuda_stream_wrap(0, NULL, &s), "mli_cuda_stream_wrap");
    assert_null(s);
    expect_unsupported(mli_cuda_stream_synchronize(NULL), "mli_cuda_stream_synchronize");
    expect_unsupported(mli_cuda_stream_set_tf32(NULL, 1), "mli_cuda_stream_set_tf32");
    void *mem = (void *)1;
    expect_unsupported(mli_cuda_malloc(0, 16, &mem), "mli_cuda_malloc");
    assert_null(mem);
    float a[4] = {1, 2, 3, 4}, c[4];
    expect_unsupported(mli_cuda_memcpy(NULL, c, a, sizeof a), "mli_cuda_memcpy");
    expect_unsupported(mli_cuda_sgemm(NULL, MLI_NO_TRANS, MLI_NO_TRANS, 2, 2, 2, 1.0f, a, 2, a, 2, 0.0f, c, 2),
                       "mli_cuda_sgemm");
    expect_unsupported(mli_cuda_activate(NULL, MLI_ACT_RELU, a, c, 4), "mli_cuda_activate");
    expect_unsupported(mli_cuda_softmax(NULL, a, c, 2, 2), "mli_cuda_softmax");
    expect_unsupported(mli_cuda_sgemm_bias_act(NULL, 2, 2, 2, a, 2, a, 2, NULL, MLI_ACT_RELU, c, 2),
                       "mli_cuda_sgemm_bias_act");
    mli_cuda_model *dm = (mli_cuda_model *)1;
    expect_unsupported(mli_model_to_device(NULL, 0, &dm), "mli_model_to_device");
    assert_null(dm);
    double out[2];
    expect_unsupported(mli_cuda_model_predict(NULL, NULL, MLI_OUTPUT_PREDICT, a, MLI_F32, 1, 4, out, 2, 0),
                       "mli_cuda_model_predict");
    expect_unsupported(mli_cuda_model_set_min_rows(NULL, 1), "mli_cuda_model_set_min_rows");
    assert_int_equal(mli_cuda_model_min_rows(NULL), 0);
    assert_null(mli_cuda_model_host(NULL));
    assert_int_equal(mli_cuda_model_device(NULL), -1);
    assert_null(mli_cuda_stream_native(NULL));
    assert_int_equal(mli_cuda_stream_device(NULL), -1);
    mli_cuda_stream_free(NULL);
    mli_cuda_model_free(NULL);
    mli_cuda_free(NULL);
    /* the CPU API is untouched */
    assert_int_equal(mli_activate(MLI_ACT_RELU, a, c, 4), MLI_OK);
    assert_true(c[3] == 4.0f);
}

int main(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_stubs)};
    return cmocka_run_group_tests_name("cuda_stub", tests, NULL, NULL);
}
