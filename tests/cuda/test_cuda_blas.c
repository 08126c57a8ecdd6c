/* test_cuda_blas.c — cuBLAS opened at first use (src/cuda/cuda_blas.c), no GPU needed:
 * nothing maps cuBLAS before the first CUDA stream (a machine without a device never maps
 * it and gets the no-device error), the loader resolves every function it lists from the
 * installed libcublas, and a library it cannot open is an error naming the file. Linked
 * to the static library to reach the loader. */
#define _GNU_SOURCE /* dladdr */
#include <dlfcn.h>

#include "cuda_testutil.h"
#include "cuda/cuda_blas.h"

#define STR_(x) #x
#define STR(x) STR_(x)

/* Runs first: start-up and a no-device stream call leave cuBLAS unmapped; with a device
 * the first stream maps it. */
static void test_loaded_at_first_stream(void **state) {
    (void)state;
    assert_false(ct_cublas_mapped());
    int n = 0;
    mli_status st = mli_cuda_device_count(&n);
    mli_cuda_stream *s = (mli_cuda_stream *)1;
    if (st == MLI_OK && n > 0) {
        assert_int_equal(mli_cuda_stream_create(0, &s), MLI_OK);
        assert_true(ct_cublas_mapped());
        mli_cuda_stream_free(s);
        return;
    }
    assert_int_equal(mli_cuda_stream_create(0, &s), MLI_ERR_DEVICE);
    assert_null(s);
    printf("no CUDA device: %s\n", mli_last_error());
    assert_non_null(strstr(mli_last_error(), "mli_cuda_stream_create: no"));
    assert_non_null(strstr(mli_last_error(), "CUDA device"));
    assert_false(ct_cublas_mapped());
}

static void test_resolves_every_function(void **state) {
    (void)state;
    /* the soname CMake derived from the library found is the header's major version */
    assert_string_equal(mli__cublas_file(), "libcublas.so." STR(CUBLAS_VER_MAJOR));
    mli_status st = mli__cublas_load("test");
    if (st != MLI_OK)
        fail_msg("mli__cublas_load: %s", mli_last_error());
    assert_true(ct_cublas_mapped());
    Dl_info info;
#define CHECK_RESOLVED(field, symbol)                                                                                  \
    {                                                                                                                  \
        void *p;                                                                                                       \
        assert_non_null(mli__cublas.field);                                                                            \
        memcpy(&p, &mli__cublas.field, sizeof p);                                                                      \
        assert_true(dladdr(p, &info) != 0);                                                                            \
        printf("%-22s %s\n", #symbol, info.dli_fname);                                                                 \
        assert_non_null(strstr(info.dli_fname, "/libcublas.so"));                                                      \
        assert_string_equal(info.dli_sname, #symbol);                                                                  \
    }
    MLI_CUBLAS_FUNCTIONS(CHECK_RESOLVED)
#undef CHECK_RESOLVED
    /* a call that needs no device */
    const char *text = mli__cublas.status_string(CUBLAS_STATUS_NOT_INITIALIZED);
    assert_non_null(text);
    assert_string_equal(text, "the library was not initialized");
    assert_int_equal(mli__cublas_load("again"), MLI_OK);
}

static void test_missing_library(void **state) {
    (void)state;
    static const char file[] = "libcublas.so.0-mlinfer-test-missing";
    mli__cublas_api api;
    memset(&api, 0x5a, sizeof api);
    char why[512] = "";
    assert_int_equal(mli__cublas_open(file, &api, why, sizeof why), -1);
    printf("%s\n", why);
    assert_non_null(strstr(why, file));
    assert_non_null(strstr(why, "cannot load cuBLAS"));
    mli__cublas_api zero;
    memset(&zero, 0, sizeof zero);
    assert_memory_equal(&api, &zero, sizeof api);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_loaded_at_first_stream),
        cmocka_unit_test(test_resolves_every_function),
        cmocka_unit_test(test_missing_library),
    };
    return cmocka_run_group_tests_name("cuda_blas", tests, NULL, NULL);
}
