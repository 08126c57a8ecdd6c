/* predict_image.c — predictions from JPEG bytes: each image goes through the model's image
 * stage into a float32 row, and the rows go to the ordinary predict calls. Batches decode
 * on the thread pool, a chunk of images at a time so that scratch stays bounded. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "image/image.h"
#include "model.h"

#define MLI_IMAGE_STACK_FLOATS 4096       /* a tensor this small lives on the stack */
#define MLI_IMAGE_CHUNK_BYTES (32u << 20) /* batch scratch per chunk of images */
#define MLI_IMAGE_CHUNK_MAX 256

typedef mli_status (*predict_fn)(const mli_model *, const void *, mli_dtype, int64_t, int64_t, double *, int64_t);

int64_t mli_model_output_len(const mli_model *m, mli_output what) {
    if (!m)
        return 0;
    switch (what) {
    case MLI_OUTPUT_PREDICT: return m->n_outputs;
    case MLI_OUTPUT_PROBA: return m->has_proba ? m->n_classes : 0;
    case MLI_OUTPUT_DECISION: return m->n_decision;
    case MLI_OUTPUT_RAW: return m->n_raw;
    }
    return 0;
}

static mli_status check_model(const char *fn, const mli_model *m, mli_output what, predict_fn *pf) {
    static const predict_fn by_output[] = {mli_model_predict, mli_model_predict_proba, mli_model_decision_function,
                                           mli_model_predict_raw};
    mli_status st = mli__check_output(fn, m, what);
    if (st != MLI_OK)
        return st;
    *pf = by_output[what];
    if (!m->has_image)
        return mli__fail(MLI_ERR_UNSUPPORTED,
                         "%s: this model (%s) has no image stage; export it with one to predict "
                         "from JPEG bytes",
                         fn, mli_model_meta(m, "source") ? mli_model_meta(m, "source") : "unknown");
    return MLI_OK;
}

mli_status mli_model_predict_jpeg(const mli_model *m, const void *jpeg, size_t size, mli_output what, double *out,
                                  int64_t out_len) {
    static const char fn[] = "mli_model_predict_jpeg";
    predict_fn pf;
    mli_status rc = check_model(fn, m, what, &pf);
    if (rc != MLI_OK)
        return rc;
    if (!out)
        return mli__fail(MLI_ERR_INVALID_ARGUMENT, "%s: out is NULL", fn);
    const mli__kernels *kt = mli__get_kernels();
    if (!kt)
        return MLI_ERR_UNSUPPORTED;
    _Alignas(64) float stack[MLI_IMAGE_STACK_FLOATS];
    float *x = stack;
    if (m->n_features > MLI_IMAGE_STACK_FLOATS && !(x = malloc(sizeof(float) * (size_t)m->n_features)))
        return mli__fail(MLI_ERR_OUT_OF_MEMORY, "%s: out of memory for a tensor of %lld floats", fn,
                         (long long)m->n_features);
    rc = mli__image_from_jpeg(fn, kt, jpeg, size, &m->image, x);
    if (rc == MLI_OK)
        rc = pf(m, x, MLI_F32, 1, m->n_features, out, out_len);
    if (x != stack)
        free(x);
    return rc;
}

typedef struct {
    const mli_model *m;
    const mli__kernels *kt;
    const void *const *jpegs;
    const size_t *sizes;
    int64_t first;
    float *x;
    mli_status *status;
} batch_job;

static void decode_range(void *ctx, int64_t begin, int64_t end) {
    batch_job *j = ctx;
    for (int64_t i = begin; i < end; ++i)
        j->status[i] = mli__image_from_jpeg("mli_model_predict_jpeg_batch", j->kt, j->jpegs[j->first + i],
                                            j->sizes[j->first + i], &j->m->image, j->x + i * j->m->n_features);
}

mli_status mli_model_predict_jpeg_batch(const mli_model *m, const void *const *jpegs, const size_t *sizes, int64_t n,
                                        mli_output what, double *out, int64_t out_len) {
    static const char fn[] = "mli_model_predict_jpeg_batch";
    predict_fn pf;
    mli_status rc = check_model(fn, m, what, &pf);
    if (rc != MLI_OK)
        return rc;
    if (n < 0)
        return mli__fail(MLI_ERR_INVALID_ARGUMENT, "%s: n (%lld) is negative", fn, (long long)n);
    if (n == 0)
        return MLI_OK;
    if (!jpegs || !sizes || !out)
        return mli__fail(MLI_ERR_INVALID_ARGUMENT, "%s: %s is NULL", fn, !jpegs ? "jpegs" : !sizes ? "sizes" : "out");
    int64_t cols = mli_model_output_len(m, what), need;
    if (cols > 0 && (!mli__mul_ok(n, cols, &need) || out_len < need))
        return mli__fail(MLI_ERR_SHAPE, "%s: out holds %lld values but %lld images x %lld columns need more", fn,
                         (long long)out_len, (long long)n, (long long)cols);
    const mli__kernels *kt = mli__get_kernels();
    if (!kt)
        return MLI_ERR_UNSUPPORTED;
    int64_t chunk = MLI_IMAGE_CHUNK_BYTES / (sizeof(float) * (uint64_t)m->n_features);
    chunk = chunk < 1 ? 1 : chunk > MLI_IMAGE_CHUNK_MAX ? MLI_IMAGE_CHUNK_MAX : chunk;
    chunk = chunk > n ? n : chunk;
    float *x = malloc(sizeof(float) * (size_t)(chunk * m->n_features));
    mli_status *status = malloc(sizeof(mli_status) * (size_t)chunk);
    if (!x || !status) {
        free(x);
        free(status);
        return mli__fail(MLI_ERR_OUT_OF_MEMORY, "%s: out of memory for %lld tensors of %lld floats", fn,
                         (long long)chunk, (long long)m->n_features);
    }
    for (int64_t first = 0; first < n && rc == MLI_OK; first += chunk) {
        int64_t count = n - first < chunk ? n - first : chunk;
        batch_job j = {.m = m, .kt = kt, .jpegs = jpegs, .sizes = sizes, .first = first, .x = x, .status = status};
        mli__parallel_for(count, 1, decode_range, &j);
        for (int64_t i = 0; i < count && rc == MLI_OK; ++i)
            if (status[i] != MLI_OK) { /* messages are per thread: redo the first failure here for its text */
                char where[96];
                snprintf(where, sizeof where, "%s: image %lld", fn, (long long)(first + i));
                rc = mli__image_from_jpeg(where, kt, jpegs[first + i], sizes[first + i], &m->image, x);
                if (rc == MLI_OK) /* cannot happen: decoding is deterministic */
                    rc = mli__fail(status[i], "%s: failed (status %d)", where, (int)status[i]);
            }
        if (rc == MLI_OK)
            rc = pf(m, x, MLI_F32, count, m->n_features, out + first * cols, out_len - first * cols);
    }
    free(x);
    free(status);
    return rc;
}

int mli_model_has_image(const mli_model *m) { return m ? m->has_image : 0; }

mli_status mli_model_image_spec(const mli_model *m, mli_image_spec *out) {
    if (!m || !out)
        return mli__fail(MLI_ERR_INVALID_ARGUMENT, "mli_model_image_spec: %s is NULL", m ? "out" : "model");
    if (!m->has_image)
        return mli__fail(MLI_ERR_UNSUPPORTED, "mli_model_image_spec: this model (%s) has no image stage",
                         mli_model_meta(m, "source") ? mli_model_meta(m, "source") : "unknown source");
    *out = m->image;
    return MLI_OK;
}
