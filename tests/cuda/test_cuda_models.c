/* test_cuda_models.c — models on the GPU against the CPU path, which the model tests and
 * the Python suites hold to scikit-learn, XGBoost and LightGBM. Linked to the static
 * library: the inputs are built from the model's own thresholds (rows sitting exactly on
 * a split, one float32 step either side, NaN, zeros, categories in and out of range), and
 * the host head is reachable.
 *
 *   test_cuda_models host    no GPU needed: the shared head (mli__head_row) over the
 *                            CPU's raw scores gives the CPU's outputs bit for bit, and the
 *                            GPU tree kernel's row code (kernels/cuda/tree_row.cuh, run on
 *                            the host by mli__cuda_trees_scores_host over the same node
 *                            layout the GPU reads) gives the CPU's raw scores bit for bit:
 *                            both walks, staged and in-place rows, float32 and float64
 *   test_cuda_models models  every golden model of tests/data on device 0: tree ensembles
 *                            give the CPU's outputs bit for bit (same leaves, same float64
 *                            sums), linear and MLP models agree within 1e-5 relative + 1e-5
 *                            absolute (the float32 GEMMs round differently) and predict the
 *                            same classes away from ties; float32 and float64 input, padded
 *                            rows, device input and output, the small-batch CPU fallback,
 *                            and four threads on one device model (skipped without GPU)
 * MLI_CUDA_TREE_STRATEGY=generic and MLI_CUDA_CHUNK_ROWS (ctest sets both in a second run)
 * cover the generic tree walk for every row and inputs split into chunks;
 * MLI_CUDA_TEST_ROWS (default 2000, > 100) shortens the GPU runs under compute-sanitizer. */
#include <pthread.h>

#include "cuda_testutil.h"
#include "model.h"
#include "cuda/cuda_trees.h"
#include "model.h"

#ifndef MLI_TESTS_DIR
#error "MLI_TESTS_DIR must name tests/"
#endif

/* The golden models of tests/data, and tests/cuda/data's categorical and missing-mode
 * tree models (tests/cuda/make_models.py), as paths under tests/. */
static const char *const golden[] = {
    "data/logreg_binary.mli", "data/logreg_multi_strlabels.mli", "data/ridge_multi.mli", "data/mlp_pipeline.mli",
    "data/mlp_regressor_z.mli", "data/sgd_ovr_mhuber.mli", "data/forest_multi.mli", "data/hgb_nan.mli",
    "data/xgb_binary.json", "data/lgb_multi.txt", "cuda/data/lgb_cat_zero.txt", "cuda/data/lgb_none.txt",
    "cuda/data/xgb_cat.json", "cuda/data/hgb_cat.mli"};
#define N_GOLDEN (sizeof golden / sizeof golden[0])
/* More tree models to check on the host (absolute paths from the command line:
 * `test_cuda_models host FILE...`), e.g. benchmarks/cuda/make_models.py's. */
static char **extra_models;
static int n_extra;

static mli_model *load(const char *name) {
    char path[1024];
    if (name[0] == '/') {
        mli_model *m = NULL;
        if (mli_model_load(name, &m) != MLI_OK)
            fail_msg("%s: %s", name, mli_last_error());
        return m;
    }
    const char *dir = getenv("MLI_TESTS_DIR"); /* binaries run from another checkout (run_on_device.sh) */
    snprintf(path, sizeof path, "%s/%s", dir ? dir : MLI_TESTS_DIR, name);
    mli_model *m = NULL;
    if (mli_model_load(path, &m) != MLI_OK)
        fail_msg("%s: %s", path, mli_last_error());
    return m;
}

/* A value for feature c of a tree model: mostly a split value of c itself (exactly, or
 * one float32 step away), sometimes NaN, a zero, a category index or a random value. */
static double tree_value(const mli__trees *t, int64_t c, ct_rng *rng) {
    uint64_t pick = ct_next(rng) % 16;
    if (pick == 0)
        return NAN;
    if (pick == 1) { /* zeros and the edges of LightGBM's zero band |x| <= 1e-35f */
        static const double z[] = {0.0, -0.0, 1e-36, (double)1e-35f, -(double)1e-35f, 1.0000001e-35, -1.0000001e-35};
        return z[ct_next(rng) % (sizeof z / sizeof z[0])];
    }
    if (pick == 2)
        return (double)((int64_t)(ct_next(rng) % 48) - 3) + ((ct_next(rng) % 4 == 0) ? 0.5 : 0.0);
    if (pick <= 9) {
        for (int tries = 0; tries < 64; ++tries) {
            int64_t g = (int64_t)(ct_next(rng) % (uint64_t)t->n_nodes);
            if (t->feature[g] != c || (t->flags[g] & MLI__TF_CATEGORICAL))
                continue;
            double thr = t->threshold[g];
            switch (ct_next(rng) % 4) {
            case 0: return thr;
            case 1: return (double)(float)thr;
            case 2: return (double)nextafterf((float)thr, INFINITY);
            default: return (double)nextafterf((float)thr, -INFINITY);
            }
        }
    }
    return ct_uniform(rng, -4, 4);
}

/* rows x ldx float64 inputs (padding columns hold NaN, which must never be read). */
static double *make_rows(const mli_model *m, int64_t rows, int64_t ldx, uint64_t seed) {
    ct_rng rng = {seed | 1};
    int64_t nf = mli_model_n_features(m);
    double *x = malloc(sizeof(double) * (size_t)(rows * ldx));
    assert_non_null(x);
    for (int64_t r = 0; r < rows; ++r)
        for (int64_t c = 0; c < ldx; ++c)
            x[r * ldx + c] = c >= nf ? NAN : m->trees ? tree_value(m->trees, c, &rng) : ct_uniform(&rng, -3, 3);
    return x; /* no NaN in a dense model's rows: both engines refuse it (checked in check_model) */
}

static float *to_f32(const double *x, int64_t n) {
    float *f = malloc(sizeof(float) * (size_t)n);
    assert_non_null(f);
    for (int64_t i = 0; i < n; ++i)
        f[i] = (float)x[i];
    return f;
}

static const char *const what_name[] = {"predict", "predict_proba", "decision_function", "predict_raw"};

/* ---- the host head (no GPU needed) --------------------------------------------------- */

static void test_head_matches_cpu(void **state) {
    (void)state;
    for (size_t i = 0; i < N_GOLDEN; ++i) {
        mli_model *m = load(golden[i]);
        int64_t rows = 300, nf = mli_model_n_features(m), nraw = mli_model_n_raw(m);
        double *x = make_rows(m, rows, nf, 1000 + i);
        double *raw = malloc(sizeof(double) * (size_t)(rows * nraw));
        float *rawf = malloc(sizeof(float) * (size_t)(rows * nraw));
        assert_true(raw && rawf);
        assert_int_equal(mli_model_predict_raw(m, x, MLI_F64, rows, nf, raw, rows * nraw), MLI_OK);
        for (int64_t k = 0; k < rows * nraw; ++k)
            rawf[k] = (float)raw[k];
        for (int what = 0; what < 4; ++what) {
            int64_t cols = mli_model_output_len(m, (mli_output)what);
            if (cols == 0)
                continue;
            double *want = malloc(sizeof(double) * (size_t)(rows * cols)), *got = malloc(sizeof(double) * (size_t)cols);
            assert_true(want && got);
            mli_status (*const fns[4])(const mli_model *, const void *, mli_dtype, int64_t, int64_t, double *,
                                       int64_t) = {mli_model_predict, mli_model_predict_proba,
                                                   mli_model_decision_function, mli_model_predict_raw};
            assert_int_equal(fns[what](m, x, MLI_F64, rows, nf, want, rows * cols), MLI_OK);
            for (int64_t r = 0; r < rows; ++r) {
                mli__head_row(m, what, m->trees ? NULL : rawf + r * nraw, m->trees ? raw + r * nraw : NULL, got);
                if (memcmp(got, want + r * cols, sizeof(double) * (size_t)cols) != 0)
                    fail_msg("%s %s row %lld: the host head gives %.17g, the CPU %.17g", golden[i], what_name[what],
                             (long long)r, got[0], want[r * cols]);
            }
            free(want);
            free(got);
        }
        free(raw);
        free(rawf);
        free(x);
        mli_model_free(m);
    }
}

/* The GPU tree kernel's row code, run on the host, against the CPU engine. */
static void test_tree_rows_match_cpu(void **state) {
    (void)state;
    int checked = 0;
    for (size_t i = 0; i < N_GOLDEN + (size_t)n_extra; ++i) {
        const char *name = i < N_GOLDEN ? golden[i] : extra_models[i - N_GOLDEN];
        mli_model *m = load(name);
        if (!m->trees) {
            mli_model_free(m);
            continue;
        }
        mli__cuda_trees view;
        mli__cuda_gnode *nodes;
        assert_int_equal(mli__cuda_trees_view(m->trees, &view, &nodes), MLI_OK);
        int64_t rows = 1500, nf = mli_model_n_features(m), ldx = nf + 2, nraw = mli_model_n_raw(m);
        double *x = make_rows(m, rows, ldx, 31 + i);
        float *xf = to_f32(x, rows * ldx);
        double *want = malloc(sizeof(double) * (size_t)(rows * nraw)), *got = malloc(sizeof(double) * (size_t)(rows * nraw));
        assert_true(want && got);
        for (int f64 = 0; f64 < 2; ++f64) {
            const void *in = f64 ? (const void *)x : (const void *)xf;
            assert_int_equal(mli_model_predict_raw(m, in, f64 ? MLI_F64 : MLI_F32, rows, ldx, want, rows * nraw), MLI_OK);
            for (int variant = 0; variant < 4; ++variant) {
                int generic = variant & 1, stage = variant >> 1;
                memset(got, 0xff, sizeof(double) * (size_t)(rows * nraw));
                assert_int_equal(mli__cuda_trees_scores_host(&view, in, f64, ldx, rows, got, generic, stage), 0);
                for (int64_t k = 0; k < rows * nraw; ++k)
                    if (memcmp(&got[k], &want[k], sizeof(double)) != 0)
                        fail_msg("%s %s input, %s walk, %s rows: score %lld is %.17g, the CPU's %.17g", name,
                                 f64 ? "float64" : "float32", generic ? "generic" : "compact/generic",
                                 stage ? "staged" : "in-place", (long long)k, got[k], want[k]);
            }
        }
        printf("%-28s GPU row code == CPU bit for bit (%s compact form)\n", name,
               view.fast ? "with" : "without");
        ++checked;
        free(want);
        free(got);
        free(x);
        free(xf);
        free(nodes);
        mli_model_free(m);
    }
    assert_true(checked >= 8);
}

/* ---- models on the GPU --------------------------------------------------------------- */

/* Whether a classifier's class may differ at row r: its top two raw scores (or a binary
 * score and 0) lie within 1e-4, closer than the float32 rounding of two GEMMs can keep
 * apart. */
static int near_tie(const double *raw, int64_t nraw) {
    if (nraw == 1)
        return fabs(raw[0]) < 1e-4;
    double a = -INFINITY, b = -INFINITY;
    for (int64_t k = 0; k < nraw; ++k) {
        if (raw[k] > a)
            b = a, a = raw[k];
        else if (raw[k] > b)
            b = raw[k];
    }
    return a - b < 1e-4;
}

static void compare(const char *name, int what, const mli_model *m, const double *got, const double *want,
                    const double *raw, int64_t rows, int64_t cols, int exact) {
    if (exact) {
        for (int64_t k = 0; k < rows * cols; ++k)
            if (memcmp(&got[k], &want[k], sizeof(double)) != 0)
                fail_msg("%s %s [%lld]: GPU %.17g, CPU %.17g (must be bit for bit)", name, what_name[what],
                         (long long)k, got[k], want[k]);
        return;
    }
    int classes = what == MLI_OUTPUT_PREDICT && mli_model_task(m) == MLI_TASK_CLASSIFICATION;
    int64_t nraw = mli_model_n_raw(m), ties = 0;
    for (int64_t r = 0; r < rows; ++r)
        for (int64_t j = 0; j < cols; ++j) {
            double g = got[r * cols + j], w = want[r * cols + j];
            if (isnan(w) || isnan(g)) {
                if (isnan(w) != isnan(g))
                    fail_msg("%s %s [%lld,%lld]: GPU %.17g, CPU %.17g", name, what_name[what], (long long)r,
                             (long long)j, g, w);
                continue;
            }
            if (classes) {
                if (g != w && !near_tie(raw + r * nraw, nraw))
                    fail_msg("%s predict row %lld: GPU class %g, CPU class %g", name, (long long)r, g, w);
                ties += g != w;
            } else if (!(fabs(g - w) <= 1e-5 * fabs(w) + 1e-5)) {
                fail_msg("%s %s [%lld,%lld]: GPU %.17g, CPU %.17g (tolerance 1e-5 rel + 1e-5 abs)", name,
                         what_name[what], (long long)r, (long long)j, g, w);
            }
        }
    if (ties)
        printf("%s: %lld rows within 1e-4 of a tie predicted differently\n", name, (long long)ties);
}

typedef struct {
    const mli_cuda_model *dm;
    const double *x;
    int64_t rows, ldx, cols;
    double *out;
    mli_status st;
} thread_job;

static void *thread_predict(void *p) {
    thread_job *j = p;
    for (int rep = 0; rep < 3 && j->st == MLI_OK; ++rep)
        j->st = mli_cuda_model_predict(j->dm, NULL, MLI_OUTPUT_RAW, j->x, MLI_F64, j->rows, j->ldx, j->out,
                                       j->rows * j->cols, MLI_CUDA_FORCE_GPU);
    return NULL;
}

static void check_model(const char *name) {
    mli_model *m = load(name);
    mli_cuda_model *dm = NULL;
    assert_int_equal(mli_model_to_device(m, 0, &dm), MLI_OK);
    assert_ptr_equal(mli_cuda_model_host(dm), m);
    assert_int_equal(mli_cuda_model_device(dm), 0);
    const int exact = m->trees != NULL;
    const char *env_rows = getenv("MLI_CUDA_TEST_ROWS"); /* fewer under compute-sanitizer */
    const int64_t rows = env_rows && atoll(env_rows) > 100 ? atoll(env_rows) : 2000;
    const int64_t nf = mli_model_n_features(m), ldx = nf + 2, nraw = mli_model_n_raw(m);
    double *x = make_rows(m, rows, ldx, 77);
    float *xf = to_f32(x, rows * ldx);
    double *raw = malloc(sizeof(double) * (size_t)(rows * nraw));
    assert_non_null(raw);
    assert_int_equal(mli_model_predict_raw(m, x, MLI_F64, rows, ldx, raw, rows * nraw), MLI_OK);
    for (int what = 0; what < 4; ++what) {
        int64_t cols = mli_model_output_len(m, (mli_output)what);
        if (cols == 0) {
            double o;
            assert_int_equal(mli_cuda_model_predict(dm, NULL, (mli_output)what, x, MLI_F64, 1, ldx, &o, 1,
                                                    MLI_CUDA_FORCE_GPU),
                             MLI_ERR_UNSUPPORTED);
            continue;
        }
        size_t bytes = sizeof(double) * (size_t)(rows * cols);
        double *want = malloc(bytes), *got = malloc(bytes), *got2 = malloc(bytes);
        assert_true(want && got && got2);
        mli_status (*const fns[4])(const mli_model *, const void *, mli_dtype, int64_t, int64_t, double *, int64_t) = {
            mli_model_predict, mli_model_predict_proba, mli_model_decision_function, mli_model_predict_raw};
        for (int f64 = 0; f64 < 2; ++f64) {
            const void *in = f64 ? (const void *)x : (const void *)xf;
            mli_dtype dt = f64 ? MLI_F64 : MLI_F32;
            assert_int_equal(fns[what](m, in, dt, rows, ldx, want, rows * cols), MLI_OK);
            assert_int_equal(mli_cuda_model_predict(dm, NULL, (mli_output)what, in, dt, rows, ldx, got, rows * cols,
                                                    MLI_CUDA_FORCE_GPU),
                             MLI_OK);
            compare(name, what, m, got, want, raw, rows, cols, exact);
            /* device input and output: the same numbers as the host-buffer GPU path */
            size_t in_bytes = (f64 ? sizeof(double) : sizeof(float)) * (size_t)(rows * ldx);
            void *dx = NULL, *dout = NULL;
            assert_int_equal(mli_cuda_malloc(0, in_bytes, &dx), MLI_OK);
            assert_int_equal(mli_cuda_malloc(0, bytes, &dout), MLI_OK);
            assert_int_equal(mli_cuda_memcpy(NULL, dx, in, in_bytes), MLI_OK);
            assert_int_equal(mli_cuda_model_predict(dm, NULL, (mli_output)what, dx, dt, rows, ldx, dout, rows * cols,
                                                    MLI_CUDA_X_DEVICE | MLI_CUDA_OUT_DEVICE),
                             MLI_OK);
            assert_int_equal(mli_cuda_memcpy(NULL, got2, dout, bytes), MLI_OK);
            compare(name, what, m, got2, got, raw, rows, cols, exact); /* cuBLAS may tile other ldx otherwise */
            /* host input, device output, below the threshold: the CPU's outputs copied over */
            assert_int_equal(mli_cuda_model_set_min_rows(dm, rows + 1), MLI_OK);
            assert_int_equal(mli_cuda_model_predict(dm, NULL, (mli_output)what, in, dt, rows, ldx, dout, rows * cols,
                                                    MLI_CUDA_OUT_DEVICE),
                             MLI_OK);
            assert_int_equal(mli_cuda_memcpy(NULL, got2, dout, bytes), MLI_OK);
            if (memcmp(want, got2, bytes) != 0)
                fail_msg("%s %s: the small-batch path differs from the CPU", name, what_name[what]);
            assert_int_equal(mli_cuda_model_set_min_rows(dm, MLI_CUDA_DEFAULT_MIN_ROWS), MLI_OK);
            mli_cuda_free(dx);
            mli_cuda_free(dout);
        }
        /* small host batch: the CPU path itself */
        assert_int_equal(mli_cuda_model_min_rows(dm), MLI_CUDA_DEFAULT_MIN_ROWS);
        assert_int_equal(fns[what](m, x, MLI_F64, 100, ldx, want, 100 * cols), MLI_OK);
        assert_int_equal(mli_cuda_model_predict(dm, NULL, (mli_output)what, x, MLI_F64, 100, ldx, got, 100 * cols, 0),
                         MLI_OK);
        assert_memory_equal(got, want, sizeof(double) * (size_t)(100 * cols));
        /* shape errors as on the CPU */
        assert_int_equal(mli_cuda_model_predict(dm, NULL, (mli_output)what, x, MLI_F64, rows, nf - 1, got,
                                                rows * cols, 0),
                         MLI_ERR_SHAPE);
        assert_int_equal(mli_cuda_model_predict(dm, NULL, (mli_output)what, x, MLI_F64, rows, ldx, got,
                                                rows * cols - 1, 0),
                         MLI_ERR_SHAPE);
        free(want);
        free(got);
        free(got2);
    }
    if (!m->trees) { /* a NaN in a dense model's host rows: MLI_ERR_INPUT on the GPU path as on the CPU */
        double o[64], keep = x[5 * ldx];
        x[5 * ldx] = NAN;
        assert_true(nraw <= 64);
        assert_int_equal(mli_model_predict_raw(m, x, MLI_F64, 6, ldx, o, 6 * nraw), MLI_ERR_INPUT);
        assert_int_equal(mli_cuda_model_predict(dm, NULL, MLI_OUTPUT_RAW, x, MLI_F64, 6, ldx, o, 6 * nraw,
                                                MLI_CUDA_FORCE_GPU),
                         MLI_ERR_INPUT);
        x[5 * ldx] = keep;
    }
    /* four threads on one device model, each on its own default stream */
    double *ref = malloc(sizeof(double) * (size_t)(rows * nraw));
    assert_non_null(ref);
    assert_int_equal(mli_cuda_model_predict(dm, NULL, MLI_OUTPUT_RAW, x, MLI_F64, rows, ldx, ref, rows * nraw,
                                            MLI_CUDA_FORCE_GPU),
                     MLI_OK);
    pthread_t th[4];
    thread_job jobs[4];
    for (int t = 0; t < 4; ++t) {
        jobs[t] = (thread_job){.dm = dm, .x = x, .rows = rows, .ldx = ldx, .cols = nraw, .st = MLI_OK,
                               .out = malloc(sizeof(double) * (size_t)(rows * nraw))};
        assert_non_null(jobs[t].out);
        assert_int_equal(pthread_create(&th[t], NULL, thread_predict, &jobs[t]), 0);
    }
    for (int t = 0; t < 4; ++t) {
        pthread_join(th[t], NULL);
        assert_int_equal(jobs[t].st, MLI_OK);
        assert_memory_equal(jobs[t].out, ref, sizeof(double) * (size_t)(rows * nraw));
        free(jobs[t].out);
    }
    /* an own stream works like the default one */
    mli_cuda_stream *s = NULL;
    assert_int_equal(mli_cuda_stream_create(0, &s), MLI_OK);
    assert_int_equal(mli_cuda_model_predict(dm, s, MLI_OUTPUT_RAW, x, MLI_F64, rows, ldx, raw, rows * nraw,
                                            MLI_CUDA_FORCE_GPU),
                     MLI_OK);
    assert_memory_equal(raw, ref, sizeof(double) * (size_t)(rows * nraw));
    mli_cuda_stream_free(s);
    printf("%-28s GPU == CPU (%s)\n", name, exact ? "bit for bit" : "within 1e-5");
    free(ref);
    free(raw);
    free(x);
    free(xf);
    mli_cuda_model_free(dm);
    mli_model_free(m);
}

static void test_models_on_gpu(void **state) {
    (void)state;
    CT_REQUIRE_DEVICE();
    for (size_t i = 0; i < N_GOLDEN; ++i)
        check_model(golden[i]);
}

int main(int argc, char **argv) {
    const char *group = argc > 1 ? argv[1] : "all";
    extra_models = argv + 2;
    n_extra = argc > 2 ? argc - 2 : 0;
    const struct CMUnitTest host[] = {cmocka_unit_test(test_head_matches_cpu),
                                      cmocka_unit_test(test_tree_rows_match_cpu)};
    const struct CMUnitTest models[] = {cmocka_unit_test(test_models_on_gpu)};
    int failed = 0;
    if (strcmp(group, "host") == 0 || strcmp(group, "all") == 0)
        failed |= cmocka_run_group_tests_name("cuda_host", host, NULL, NULL);
    if (strcmp(group, "models") == 0 || strcmp(group, "all") == 0)
        failed |= cmocka_run_group_tests_name("cuda_models", models, NULL, NULL);
    return failed ? 1 : 0;
}
