/* test_alloc_bounds.c — a small input must not make the loader, the importers, a predict
 * or the server's request parsers allocate more than a bounded multiple of its size:
 *
 *   peak heap growth during the call <= ALLOC_RATIO x input bytes + ALLOC_CONSTANT
 *
 * and for a predict, whose input is its rows (rows x n_features x 4 or 8 bytes), with
 * PREDICT_RATIO. The test replaces malloc
 * and friends for the whole process (glibc allows it; they forward to __libc_*), counts
 * live bytes and the peak, and refuses any single request over 1 GiB so that a regression
 * shows up as a failed bound, not as a machine out of memory. Not built in sanitizer
 * builds (the sanitizers bring their own allocator); there libFuzzer's -malloc_limit_mb
 * holds the same line (tests/fuzz/run_fuzzers.sh).
 *
 * ALLOC_RATIO covers parse trees (cJSON: a 64-byte node per value of >= 2 bytes) and the
 * arrays built from them; ALLOC_CONSTANT the fixed costs (thread pool, kernel tables,
 * message buffers). A compressed .mli section may legitimately inflate up to 1024 x (the
 * format's limit, docs/FORMAT.md); the golden models here are stored uncompressed. */
#define _GNU_SOURCE
#include <errno.h>
#include <malloc.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "mlinfer.h"
#include "protocol.h"
#include "registry.h"

#define ALLOC_RATIO 32
#define PREDICT_RATIO 2 /* scratch: at most a float32 copy of the rows, plus the scores */
#define ALLOC_CONSTANT ((size_t)1 << 20)
#define REFUSE_BYTES ((size_t)1 << 30)

/* ---- counting allocator ------------------------------------------------------------- */
extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void *__libc_memalign(size_t, size_t);
extern void __libc_free(void *);

static atomic_size_t live, peak, largest;

/* the build hides symbols by default; these must replace libc's in every library */
#define EXPORTED __attribute__((visibility("default")))

static void grew(size_t n)
{
    size_t now = atomic_fetch_add(&live, n) + n, p = atomic_load(&peak);
    while (now > p && !atomic_compare_exchange_weak(&peak, &p, now))
        ;
}

static int admit(size_t n)
{
    size_t l = atomic_load(&largest);
    while (n > l && !atomic_compare_exchange_weak(&largest, &l, n))
        ;
    if (n > REFUSE_BYTES) {
        errno = ENOMEM;
        return 0;
    }
    return 1;
}

static void *counted(void *p)
{
    if (p)
        grew(malloc_usable_size(p));
    return p;
}

EXPORTED void *malloc(size_t n)
{
    return admit(n) ? counted(__libc_malloc(n)) : NULL;
}

EXPORTED void *calloc(size_t n, size_t m)
{
    if (m && n > SIZE_MAX / m)
        return NULL;
    return admit(n * m) ? counted(__libc_calloc(n, m)) : NULL;
}

EXPORTED void free(void *p)
{
    if (p)
        atomic_fetch_sub(&live, malloc_usable_size(p));
    __libc_free(p);
}

EXPORTED void *realloc(void *p, size_t n)
{
    if (!admit(n))
        return NULL;
    size_t old = p ? malloc_usable_size(p) : 0;
    void *q = __libc_realloc(p, n);
    if (q || n == 0)
        atomic_fetch_sub(&live, old);
    return counted(q);
}

EXPORTED void *memalign(size_t a, size_t n)
{
    return admit(n) ? counted(__libc_memalign(a, n)) : NULL;
}

EXPORTED void *aligned_alloc(size_t a, size_t n)
{
    return memalign(a, n);
}

EXPORTED int posix_memalign(void **out, size_t a, size_t n)
{
    void *p = memalign(a, n);
    if (!p)
        return ENOMEM;
    *out = p;
    return 0;
}

/* ---- measuring ------------------------------------------------------------------------ */
static size_t base;

static void start(void)
{
    base = atomic_load(&live);
    atomic_store(&peak, base);
    atomic_store(&largest, 0);
}

/* The call's peak growth must stay within the bound for `input` bytes. */
static void check_ratio(const char *what, size_t input, size_t ratio)
{
    size_t grown = atomic_load(&peak) - base, bound = ratio * input + ALLOC_CONSTANT;
    printf("%-48s input %9zu B  peak +%11zu B  largest request %11zu B  bound %11zu B\n", what, input, grown,
           atomic_load(&largest), bound);
    if (grown > bound || atomic_load(&largest) > bound)
        fail_msg("%s: %zu bytes of input made it allocate %zu bytes (largest single request %zu), over the bound "
                 "%zu x input + %zu",
                 what, input, grown, atomic_load(&largest), ratio, ALLOC_CONSTANT);
}

static void check(const char *what, size_t input)
{
    check_ratio(what, input, ALLOC_RATIO);
}

static unsigned char *read_file(const char *path, size_t *size)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        fail_msg("cannot open %s", path);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *buf = __libc_malloc((size_t)n + 1);
    if (fread(buf, 1, (size_t)n, f) != (size_t)n)
        fail_msg("cannot read %s", path);
    fclose(f);
    *size = (size_t)n;
    return buf;
}

/* ---- the loader and the importers ------------------------------------------------- */
static const char *const model_files[] = {
    MLI_DATA_DIR "/forest_multi.mli",  MLI_DATA_DIR "/hgb_nan.mli",       MLI_DATA_DIR "/logreg_binary.mli",
    MLI_DATA_DIR "/mlp_pipeline.mli",  MLI_DATA_DIR "/ridge_multi.mli",   MLI_DATA_DIR "/xgb_binary.json",
    MLI_DATA_DIR "/lgb_multi.txt",     MLI_FUZZ_DIR "/corpus/xgboost_ubjson/xgb_binary.ubj",
    MLI_FUZZ_DIR "/regression/xgboost_json/wide_model_one_row.json",
    MLI_FUZZ_DIR "/corpus/catboost_json/multiclass_str.json",
    MLI_FUZZ_DIR "/corpus/catboost_json/poisson_depth3.json",
};

static void test_loader(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof model_files / sizeof model_files[0]; ++i) {
        size_t size;
        unsigned char *data = read_file(model_files[i], &size);
        mli_model *m = NULL;
        start();
        mli_status st = mli_model_load_memory(data, size, &m);
        const char *name = strrchr(model_files[i], '/') + 1;
        char what[96];
        snprintf(what, sizeof what, "load %s", name);
        check(what, size);
        if (st != MLI_OK)
            fail_msg("%s: %s", name, mli_last_error());
        mli_model_free(m);
        __libc_free(data);
    }
}

/* One row on a model declaring 2^24 features (a 1.3 KB XGBoost file): scratch must follow
 * the rows given, not a whole block of rows (it asked for 4 GiB). */
static void test_predict_one_row_wide_model(void **state)
{
    (void)state;
    size_t size;
    unsigned char *data = read_file(MLI_FUZZ_DIR "/regression/xgboost_json/wide_model_one_row.json", &size);
    mli_model *m = NULL;
    assert_int_equal(mli_model_load_memory(data, size, &m), MLI_OK);
    int64_t nf = mli_model_n_features(m);
    assert_int_equal(nf, (int64_t)1 << 24);
    double *x = __libc_calloc((size_t)nf, sizeof *x), y = 0;
    float *xf = __libc_calloc((size_t)nf, sizeof *xf);
    start();
    mli_status st = mli_model_predict(m, x, MLI_F64, 1, nf, &y, 1);
    check_ratio("predict 1 row f64, 2^24 features", (size_t)nf * sizeof *x, PREDICT_RATIO);
    assert_int_equal(st, MLI_OK);
    start();
    st = mli_model_predict(m, xf, MLI_F32, 1, nf, &y, 1);
    check_ratio("predict 1 row f32, 2^24 features", (size_t)nf * sizeof *xf, PREDICT_RATIO);
    assert_int_equal(st, MLI_OK);
    __libc_free(x);
    __libc_free(xf);
    mli_model_free(m);
    __libc_free(data);
}

/* ---- the server's request parsers -------------------------------------------------------- */
static struct model_ref *numeric, *image, *named;

static struct model_ref *ref_of(const char *path)
{
    mli_model *model = NULL;
    char err[256];
    if (mli_model_load(path, &model) != MLI_OK)
        fail_msg("%s: %s", path, mli_last_error());
    struct model_ref *r = model_ref_new(model, err, sizeof err);
    if (!r)
        fail_msg("%s: %s", path, err);
    return r;
}

/* A corpus file of fuzz_server_request (selector byte, then the body); runs its parser. */
static void parse_request_file(const char *path)
{
    size_t size;
    unsigned char *data = read_file(path, &size);
    int which = data[0] % 6;
    int pick = (data[0] / 6) % 3;
    struct model_ref *m = pick == 2 ? named : pick == 1 ? image : numeric;
    const char *body = (const char *)data + 1;
    size_t len = size - 1;
    struct proto_call *call = NULL;
    cJSON *out = NULL;
    char hl[24];
    start();
    if (which <= 1) {
        proto_predict_parse(m, body, len, which, NULL, &call, &out);
    } else if (which == 2 || which == 3) {
        struct v2_body b = {body, len, NULL};
        if (which == 3) {
            snprintf(hl, sizeof hl, "%u", (unsigned)(uint8_t)body[0] | (unsigned)(uint8_t)body[1] << 8);
            b = (struct v2_body){body + 2, len - 2, hl};
        }
        proto_v2_parse(m, &b, &call, &out);
    } else {
        __libc_free(data);
        return; /* JPEG bodies and query values: the image decoder's pixel limit bounds those */
    }
    char what[96];
    snprintf(what, sizeof what, "parse %s", strrchr(path, '/') + 1);
    check(what, size);
    proto_call_free(call);
    cJSON_Delete(out);
    __libc_free(data);
}

static void test_request_parsers(void **state)
{
    (void)state;
    numeric = ref_of(MLI_SERVER_DIR "/demo_model.mli");
    image = ref_of(MLI_FUZZ_DIR "/models/digits_logreg.mli");
    named = ref_of(MLI_FUZZ_DIR "/models/churn_named.mli");
    static const char *const files[] = {
        "corpus/server_request/seed_features",          "corpus/server_request/seed_instances",
        "corpus/server_request/v1_instances",           "corpus/server_request/v2_json",
        "corpus/server_request/v2_binary",              "regression/server_request/v2_json_billion_rows",
        "regression/server_request/v2_json_large_shape", "regression/server_request/v2_binary_billion_rows",
        "regression/server_request/v2_binary_shape_vs_size", "regression/server_request/v2_json_images_many",
        "corpus/server_request/named_instances",        "corpus/server_request/named_features",
        "corpus/server_request/v1_named_unknown_category", "corpus/server_request/v2_named_json",
        "corpus/server_request/v2_named_binary",
    };
    for (size_t i = 0; i < sizeof files / sizeof files[0]; ++i) {
        char path[512];
        snprintf(path, sizeof path, "%s/%s", MLI_FUZZ_DIR, files[i]);
        parse_request_file(path);
    }
    model_ref_release(numeric);
    model_ref_release(image);
    model_ref_release(named);
}

/* The counting allocator itself: a bound that must fail does. */
static void test_counter_sees_allocations(void **state)
{
    (void)state;
    start();
    void *p = malloc(ALLOC_CONSTANT + 1000);
    assert_non_null(p);
    assert_true(atomic_load(&peak) - base > ALLOC_CONSTANT);
    free(p);
    assert_null(malloc(REFUSE_BYTES + 1));
    assert_int_equal(atomic_load(&largest), REFUSE_BYTES + 1);
}

int main(void)
{
    mli_set_num_threads(1); /* the pool's own allocations stay out of the measured calls */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_counter_sees_allocations),
        cmocka_unit_test(test_loader),
        cmocka_unit_test(test_predict_one_row_wide_model),
        cmocka_unit_test(test_request_parsers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
