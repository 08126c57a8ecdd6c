/* test_regressions.c — the bugs fuzzing found, through the public API, each checked for
 * the behaviour the fix gives (the inputs also sit in regression/, replayed by the fuzz
 * tests; the one here that is too large to keep as a file is built in memory). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "mlinfer.h"

static void expect_load_failure(const void *data, size_t size, mli_status want, const char *mentions)
{
    mli_model *m = (mli_model *)1;
    mli_status st = mli_model_load_memory(data, size, &m);
    assert_int_equal(st, want);
    assert_null(m);
    if (!strstr(mli_last_error(), mentions))
        fail_msg("message '%s' does not mention '%s'", mli_last_error(), mentions);
}

/* jdoc.c did arithmetic on a NULL pointer for an empty container and a key lookup in an
 * empty object (UBSan: "applying zero offset to null pointer"; clang's UBSan build fails
 * these before the fix). */
static void test_jdoc_empty_object_json(void **state)
{
    (void)state;
    expect_load_failure("{}", 2, MLI_ERR_CORRUPT, "learner");
    expect_load_failure("{\"learner\":{}}", 14, MLI_ERR_CORRUPT, "learner_model_param");
}

static void test_jdoc_empty_object_ubjson(void **state)
{
    (void)state;
    expect_load_failure("{#U\0", 4, MLI_ERR_CORRUPT, "learner");
    static const char with_key[] = "{U\x07learner{#U\0}";
    expect_load_failure(with_key, sizeof with_key - 1, MLI_ERR_CORRUPT, "learner_model_param");
}

/* An XGBoost scikit-learn model with hostile counts: 65537 trees (as `{}`: the count path
 * runs before the trees are read), num_class = 65537, best_iteration = 65536 and
 * num_parallel_tree = 2^31 - 1. (best_iteration + 1) x num_parallel_tree x num_class
 * overflowed int64 (UBSan in the gcc build; in release a wrapped count). Now each count is
 * bounded first: num_parallel_tree cannot exceed the trees present. */
static char *count_overflow_model(size_t *size)
{
    enum { T = 65537 };
    size_t cap = 512 + (size_t)T * 6;
    char *s = malloc(cap), *p = s;
    p += sprintf(p, "{\"learner\":{\"attributes\":{\"best_iteration\":\"65536\",\"scikit_learn\":\"{}\"},"
                    "\"learner_model_param\":{\"base_score\":\"5E-1\",\"num_class\":\"%d\",\"num_feature\":\"2\"},"
                    "\"objective\":{\"name\":\"multi:softprob\"},\"gradient_booster\":{\"name\":\"gbtree\","
                    "\"model\":{\"gbtree_model_param\":{\"num_parallel_tree\":\"2147483647\",\"num_trees\":\"%d\"},"
                    "\"tree_info\":[",
                 T, T);
    for (int i = 0; i < T; ++i)
        p += sprintf(p, i ? ",0" : "0");
    p += sprintf(p, "],\"trees\":[");
    for (int i = 0; i < T; ++i)
        p += sprintf(p, i ? ",{}" : "{}");
    p += sprintf(p, "]}}}}");
    *size = (size_t)(p - s);
    return s;
}

static void test_xgboost_tree_count_overflow(void **state)
{
    (void)state;
    size_t size;
    char *json = count_overflow_model(&size);
    expect_load_failure(json, size, MLI_ERR_CORRUPT, "num_parallel_tree");
    free(json);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_jdoc_empty_object_json),
        cmocka_unit_test(test_jdoc_empty_object_ubjson),
        cmocka_unit_test(test_xgboost_tree_count_overflow),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
