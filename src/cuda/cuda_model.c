/* cuda_model.c — a model's parameters on a GPU (mli_model_to_device) and predictions
 * there (mli_cuda_model_predict): input rows copied in (or read where they lie in device
 * memory), the affine stages and float32 conversion, the dense layers through cuBLAS with
 * the fused bias/activation pass, or the tree-ensemble kernel; the scores come back to
 * the host for the head. Small host batches run on the CPU (the threshold below). */
#define _POSIX_C_SOURCE 200809L
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "cuda/cuda_kernels.h"
#include "model.h"
#include "cuda_internal.h"
#include "cuda_trees.h"
#include "model.h"

/* Device scratch of one predict call is kept under this; larger inputs go in chunks. */
#define MLI_CUDA_SCRATCH_BYTES ((size_t)256 << 20)

typedef struct {
    const float *coef, *intercept;                        /* linear */
    const float *W[MLI__MAX_LAYERS], *b[MLI__MAX_LAYERS]; /* mlp */
} dev_stage;

struct mli_cuda_model {
    const mli_model *host;
    int device;
    _Atomic int64_t min_rows;
    void **allocs; /* every device allocation, freed together */
    int n_allocs, cap_allocs;
    int n_affine;
    mli__cuda_affine affine[MLI__CUDA_MAX_AFFINE];
    dev_stage stages[MLI__MAX_STAGES];
    int has_trees;
    mli__cuda_trees trees;
    int tree_generic;   /* MLI_CUDA_TREE_STRATEGY=generic: the generic walk for every row */
    int64_t chunk_rows; /* MLI_CUDA_CHUNK_ROWS: rows per chunk (tests); 0 = by scratch size */
};

static const char to_dev[] = "mli_model_to_device";

/* Copies `bytes` of host memory to a new device allocation (NULL stays NULL). */
static mli_status upload(mli_cuda_model *dm, const void *src, size_t bytes, const void **dst) {
    *dst = NULL;
    if (!src || bytes == 0)
        return MLI_OK;
    if (dm->n_allocs == dm->cap_allocs) {
        int cap = dm->cap_allocs ? 2 * dm->cap_allocs : 32;
        void **a = realloc(dm->allocs, sizeof *a * (size_t)cap);
        if (!a)
            return mli__fail(MLI_ERR_OUT_OF_MEMORY, "%s: out of memory", to_dev);
        dm->allocs = a;
        dm->cap_allocs = cap;
    }
    void *p;
    cudaError_t e = cudaMalloc(&p, bytes);
    if (e != cudaSuccess)
        return mli__cuda_fail(to_dev, "cudaMalloc of the model's parameters", e);
    dm->allocs[dm->n_allocs++] = p;
    if ((e = cudaMemcpy(p, src, bytes, cudaMemcpyHostToDevice)) != cudaSuccess)
        return mli__cuda_fail(to_dev, "cudaMemcpy of the model's parameters", e);
    *dst = p;
    return MLI_OK;
}

#define UPLOAD(src, count, dst)                                                                                        \
    do {                                                                                                               \
        const void *p_;                                                                                                \
        if ((st = upload(dm, (src), sizeof *(src) * (size_t)(count), &p_)) != MLI_OK)                                  \
            return st;                                                                                                 \
        (dst) = p_;                                                                                                    \
    } while (0)

static mli_status upload_trees(mli_cuda_model *dm, const mli__trees *t) {
    mli__cuda_trees h;
    mli__cuda_gnode *nodes;
    mli_status st = mli__cuda_trees_view(t, &h, &nodes);
    if (st != MLI_OK)
        return st;
    mli__cuda_trees *d = &dm->trees;
    *d = h; /* the scalars; every pointer is replaced by its device copy below */
    const void *p;
    st = upload(dm, nodes, sizeof *nodes * (size_t)t->n_nodes, &p);
    free(nodes);
    if (st != MLI_OK)
        return st;
    d->nodes = p;
    UPLOAD(h.tree_start, t->n_trees + 1, d->tree_start);
    UPLOAD(h.tree_out, t->n_trees, d->tree_out);
    UPLOAD(h.value, t->n_nodes * t->leaf_width, d->value);
    UPLOAD(h.cat_bits, t->n_cat_words, d->cat_bits);
    UPLOAD(h.fast, t->n_nodes, d->fast);
    UPLOAD(h.fast_value, t->n_nodes * t->leaf_width, d->fast_value);
    UPLOAD(h.depth, t->n_trees, d->depth);
    UPLOAD(h.base, t->n_out, d->base);
    int optin = 0;
    if (cudaDeviceGetAttribute(&optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, dm->device) != cudaSuccess) {
        (void)cudaGetLastError();
        optin = 48 * 1024;
    }
    d->max_smem_optin = optin;
    return MLI_OK;
}

/* The leading affine stages (scalers), before dense stages or a tree stage. */
static mli_status upload_affine(mli_cuda_model *dm) {
    const mli_model *m = dm->host;
    mli_status st;
    int s = 0;
    for (; s < m->n_affine; ++s) {
        const mli__stage *hs = &m->stages[s];
        mli__cuda_affine *a = &dm->affine[s];
        if (s >= MLI__CUDA_MAX_AFFINE)
            return mli__fail(MLI_ERR_UNSUPPORTED, "%s: more than %d affine stages", to_dev, MLI__CUDA_MAX_AFFINE);
        UPLOAD(hs->sub, hs->n_in, a->sub);
        UPLOAD(hs->div, hs->n_in, a->div);
        UPLOAD(hs->mul, hs->n_in, a->mul);
        UPLOAD(hs->add, hs->n_in, a->add);
        a->clip = hs->clip;
        a->clip_lo = hs->clip_lo;
        a->clip_hi = hs->clip_hi;
        a->f32_params = hs->f32_params;
    }
    dm->n_affine = s;
    return MLI_OK;
}

static mli_status upload_dense(mli_cuda_model *dm) {
    const mli_model *m = dm->host;
    mli_status st;
    for (int s = dm->n_affine; s < m->n_stages; ++s) {
        const mli__stage *hs = &m->stages[s];
        dev_stage *ds = &dm->stages[s];
        if (hs->kind == MLI__STAGE_LINEAR) {
            UPLOAD(hs->coef, hs->n_out * hs->n_in, ds->coef);
            UPLOAD(hs->intercept, hs->n_out, ds->intercept);
        } else if (hs->kind == MLI__STAGE_MLP) {
            for (int l = 0; l < hs->n_layers; ++l) {
                UPLOAD(hs->W[l], hs->dims[l] * hs->dims[l + 1], ds->W[l]);
                UPLOAD(hs->b[l], hs->dims[l + 1], ds->b[l]);
            }
        }
    }
    return MLI_OK;
}

static void free_allocs(mli_cuda_model *dm) {
    for (int i = 0; i < dm->n_allocs; ++i)
        (void)cudaFree(dm->allocs[i]);
    free(dm->allocs);
}

/* A whole number >= 0 from the environment, else `def`. */
static int64_t env_rows(const char *name, int64_t def) {
    const char *e = getenv(name);
    if (e && *e) {
        char *end;
        long long v = strtoll(e, &end, 10);
        if (*end == '\0' && v >= 0)
            return (int64_t)v;
    }
    return def;
}

mli_status mli_model_to_device(const mli_model *model, int device, mli_cuda_model **out) {
    if (!out)
        return mli__fail(MLI_ERR_INVALID_ARGUMENT, "%s: out is NULL", to_dev);
    *out = NULL;
    if (!model)
        return mli__fail(MLI_ERR_INVALID_ARGUMENT, "%s: model is NULL", to_dev);
    if (model->prep) /* named string columns are a host-side stage; the GPU takes rows of numbers */
        return mli__fail(MLI_ERR_UNSUPPORTED, "%s: a model with a prep stage (named columns) runs on the CPU only",
                         to_dev);
    if (model->trees && model->trees->lin_const) /* the device walks sum plain leaf values */
        return mli__fail(MLI_ERR_UNSUPPORTED,
                         "%s: a tree model with linear leaves (LightGBM linear_tree) runs on the CPU only", to_dev);
    mli_status st = mli__cuda_check_device(to_dev, device);
    if (st != MLI_OK)
        return st;
    mli_cuda_model *dm = calloc(1, sizeof *dm);
    if (!dm)
        return mli__fail(MLI_ERR_OUT_OF_MEMORY, "%s: out of memory", to_dev);
    dm->host = model;
    dm->device = device;
    atomic_init(&dm->min_rows, env_rows("MLI_CUDA_MIN_ROWS", MLI_CUDA_DEFAULT_MIN_ROWS));
    dm->chunk_rows = env_rows("MLI_CUDA_CHUNK_ROWS", 0);
    const char *strategy = getenv("MLI_CUDA_TREE_STRATEGY");
    dm->tree_generic = strategy && strcmp(strategy, "generic") == 0;
    int prev;
    if ((st = mli__cuda_enter(to_dev, device, &prev)) != MLI_OK) {
        free(dm);
        return st;
    }
    st = upload_affine(dm);
    if (st == MLI_OK && model->trees) {
        dm->has_trees = 1;
        st = upload_trees(dm, model->trees);
    } else if (st == MLI_OK) {
        st = upload_dense(dm);
    }
    if (st != MLI_OK) {
        free_allocs(dm);
        free(dm);
    } else {
        *out = dm;
    }
    mli__cuda_leave(device, prev);
    return st;
}

void mli_cuda_model_free(mli_cuda_model *dm) {
    if (!dm)
        return;
    int prev;
    if (mli__cuda_enter("mli_cuda_model_free", dm->device, &prev) == MLI_OK) {
        free_allocs(dm);
        mli__cuda_leave(dm->device, prev);
    } else {
        free(dm->allocs);
    }
    free(dm);
}

const mli_model *mli_cuda_model_host(const mli_cuda_model *dm) { return dm ? dm->host : NULL; }
int mli_cuda_model_device(const mli_cuda_model *dm) { return dm ? dm->device : -1; }

mli_status mli_cuda_model_set_min_rows(mli_cuda_model *dm, int64_t rows) {
    if (!dm)
        return mli__fail(MLI_ERR_INVALID_ARGUMENT, "mli_cuda_model_set_min_rows: model is NULL");
    if (rows < 0)
        return mli__fail(MLI_ERR_INVALID_ARGUMENT, "mli_cuda_model_set_min_rows: rows (%lld) is negative",
                         (long long)rows);
    atomic_store(&dm->min_rows, rows);
    return MLI_OK;
}

int64_t mli_cuda_model_min_rows(const mli_cuda_model *dm) {
    return dm ? atomic_load(&((mli_cuda_model *)dm)->min_rows) : 0;
}

/* ---- predict ------------------------------------------------------------------------ */

static const char pred[] = "mli_cuda_model_predict";

typedef mli_status (*cpu_fn)(const mli_model *, const void *, mli_dtype, int64_t, int64_t, double *, int64_t);
static const cpu_fn cpu_predict[4] = {mli_model_predict, mli_model_predict_proba, mli_model_decision_function,
                                      mli_model_predict_raw};

/* One predict call's state. */
typedef struct {
    const mli_cuda_model *dm;
    mli_cuda_stream *s;
    int what, f64;
    const void *x;
    int64_t ldx, rows, cols;
    double *out;
    uint32_t flags;
    size_t es;
    int64_t chunk;
    /* device scratch */
    void *dx;        /* input rows copied in (host input) */
    float *buf[2];   /* dense activations */
    double *dscores; /* tree scores */
    double *dscaled; /* rows after the affine stages, for a tree stage */
    /* host scratch */
    void *hscores; /* scores copied back for the head */
    double *hout;  /* outputs before their copy to device memory */
} job;

static mli_status cuda_check(cudaError_t e, const char *what) {
    return e == cudaSuccess ? MLI_OK : mli__cuda_fail(pred, what, e);
}

static mli_status dev_alloc(job *j, size_t bytes, void **p) {
    *p = NULL;
    if (bytes == 0)
        return MLI_OK;
    return cuda_check(cudaMallocAsync(p, bytes, j->s->stream), "cudaMallocAsync of the scratch");
}

/* The dense stages for nb rows at dx (leading dimension ld); the float32 scores are left
 * in *scores with leading dimension *sld. */
static mli_status dense_forward(job *j, const void *dx, int64_t ld, int64_t nb, const float **scores, int64_t *sld) {
    const mli_cuda_model *dm = j->dm;
    const mli_model *m = dm->host;
    const float *cur;
    int next = 0;
    mli_status st;
    if (dm->n_affine > 0 || j->f64) {
        int e = mli__cuda_prepare_input(j->s->stream, dx, j->f64, ld, nb, m->n_features, dm->affine, dm->n_affine,
                                        j->buf[0]);
        if ((st = cuda_check((cudaError_t)e, "the input conversion kernel")) != MLI_OK)
            return st;
        cur = j->buf[0];
        ld = m->n_features;
        next = 1;
    } else {
        cur = dx;
    }
    for (int s = dm->n_affine; s < m->n_stages; ++s) {
        const mli__stage *hs = &m->stages[s];
        const dev_stage *ds = &dm->stages[s];
        if (hs->kind == MLI__STAGE_LINEAR) {
            if ((st = mli__cuda_dense(pred, j->s, nb, hs->n_out, hs->n_in, cur, ld, ds->coef, hs->n_in, 1,
                                      ds->intercept, MLI__ACT_IDENTITY, j->buf[next], hs->n_out)) != MLI_OK)
                return st;
            cur = j->buf[next];
            ld = hs->n_out;
            next ^= 1;
        } else if (hs->kind == MLI__STAGE_MLP) {
            for (int l = 0; l < hs->n_layers; ++l) {
                int act = l + 1 < hs->n_layers ? hs->act : MLI__ACT_IDENTITY;
                if ((st = mli__cuda_dense(pred, j->s, nb, hs->dims[l + 1], hs->dims[l], cur, ld, ds->W[l],
                                          hs->dims[l + 1], 0, ds->b[l], act, j->buf[next], hs->dims[l + 1])) != MLI_OK)
                    return st;
                cur = j->buf[next];
                ld = hs->dims[l + 1];
                next ^= 1;
            }
        }
    }
    *scores = cur;
    *sld = ld;
    return MLI_OK;
}

/* Rows [r0, r0 + nb). */
static mli_status run_chunk(job *j, int64_t r0, int64_t nb) {
    const mli_cuda_model *dm = j->dm;
    const mli_model *m = dm->host;
    cudaStream_t cs = j->s->stream;
    int64_t nf = m->n_features, nraw = m->n_raw, ld;
    const void *dx;
    mli_status st;
    if (j->flags & MLI_CUDA_X_DEVICE) {
        dx = (const char *)j->x + (size_t)(r0 * j->ldx) * j->es;
        ld = j->ldx;
    } else {
        if ((st = cuda_check(
                 cudaMemcpy2DAsync(j->dx, (size_t)nf * j->es, (const char *)j->x + (size_t)(r0 * j->ldx) * j->es,
                                   (size_t)j->ldx * j->es, (size_t)nf * j->es, (size_t)nb, cudaMemcpyHostToDevice, cs),
                 "cudaMemcpy2DAsync of the input rows")) != MLI_OK)
            return st;
        dx = j->dx;
        ld = nf;
    }
    int raw_direct = dm->has_trees && j->what == MLI_OUTPUT_RAW; /* the tree scores are the outputs */
    const float *sf = NULL;
    int64_t sld = 0;
    if (dm->has_trees) {
        double *dst = raw_direct && (j->flags & MLI_CUDA_OUT_DEVICE) ? j->out + r0 * nraw : j->dscores;
        int f64 = j->f64, e;
        if (dm->n_affine > 0) { /* scaled in float64 first, as scikit-learn hands the trees its output */
            e = mli__cuda_prepare_input_f64(cs, dx, j->f64, ld, nb, nf, dm->affine, dm->n_affine, j->dscaled);
            if ((st = cuda_check((cudaError_t)e, "the input scaling kernel")) != MLI_OK)
                return st;
            dx = j->dscaled;
            ld = nf;
            f64 = 1;
        }
        e = mli__cuda_trees_scores(cs, &dm->trees, dx, f64, ld, nb, dst, dm->tree_generic);
        if ((st = cuda_check((cudaError_t)e, "the tree kernel")) != MLI_OK)
            return st;
        if (dst != j->dscores)
            return MLI_OK;
        void *hdst = raw_direct ? (void *)(j->out + r0 * nraw) : j->hscores;
        if ((st = cuda_check(
                 cudaMemcpyAsync(hdst, j->dscores, sizeof(double) * (size_t)(nb * nraw), cudaMemcpyDeviceToHost, cs),
                 "cudaMemcpyAsync of the scores")) != MLI_OK)
            return st;
    } else {
        if ((st = dense_forward(j, dx, ld, nb, &sf, &sld)) != MLI_OK)
            return st;
        if ((st =
                 cuda_check(cudaMemcpy2DAsync(j->hscores, sizeof(float) * (size_t)nraw, sf, sizeof(float) * (size_t)sld,
                                              sizeof(float) * (size_t)nraw, (size_t)nb, cudaMemcpyDeviceToHost, cs),
                            "cudaMemcpy2DAsync of the scores")) != MLI_OK)
            return st;
    }
    if ((st = cuda_check(cudaStreamSynchronize(cs), "the GPU work (cudaStreamSynchronize)")) != MLI_OK || raw_direct)
        return st;
    double *o = j->flags & MLI_CUDA_OUT_DEVICE ? j->hout : j->out + r0 * j->cols;
    for (int64_t i = 0; i < nb; ++i)
        mli__head_row(m, j->what, dm->has_trees ? NULL : (const float *)j->hscores + i * nraw,
                      dm->has_trees ? (const double *)j->hscores + i * nraw : NULL, o + i * j->cols);
    if (j->flags & MLI_CUDA_OUT_DEVICE)
        return cuda_check(cudaMemcpyAsync(j->out + r0 * j->cols, j->hout, sizeof(double) * (size_t)(nb * j->cols),
                                          cudaMemcpyHostToDevice, cs),
                          "cudaMemcpyAsync of the outputs");
    return MLI_OK;
}

static mli_status run_gpu(job *j) {
    const mli_cuda_model *dm = j->dm;
    const mli_model *m = dm->host;
    int64_t nf = m->n_features, nraw = m->n_raw;
    int64_t width = m->width_max > nf ? m->width_max : nf;
    size_t per_row = (j->flags & MLI_CUDA_X_DEVICE) ? 0 : (size_t)nf * j->es;
    per_row +=
        dm->has_trees ? sizeof(double) * (size_t)(nraw + (dm->n_affine ? nf : 0)) : 2 * sizeof(float) * (size_t)width;
    int64_t chunk = dm->chunk_rows > 0 ? dm->chunk_rows : (int64_t)(MLI_CUDA_SCRATCH_BYTES / per_row);
    j->chunk = chunk < 1 ? 1 : chunk > j->rows ? j->rows : chunk;
    size_t n = (size_t)j->chunk;
    mli_status st = MLI_OK;
    if (!(j->flags & MLI_CUDA_X_DEVICE))
        st = dev_alloc(j, n * (size_t)nf * j->es, &j->dx);
    if (st == MLI_OK && dm->has_trees)
        st = dev_alloc(j, n * (size_t)nraw * sizeof(double), (void **)&j->dscores);
    if (st == MLI_OK && dm->has_trees && dm->n_affine > 0)
        st = dev_alloc(j, n * (size_t)nf * sizeof(double), (void **)&j->dscaled);
    for (int b = 0; b < 2 && st == MLI_OK && !dm->has_trees; ++b)
        st = dev_alloc(j, n * (size_t)width * sizeof(float), (void **)&j->buf[b]);
    if (st == MLI_OK) {
        j->hscores = malloc(n * (size_t)nraw * (dm->has_trees ? sizeof(double) : sizeof(float)));
        j->hout = j->flags & MLI_CUDA_OUT_DEVICE ? malloc(n * (size_t)j->cols * sizeof(double)) : NULL;
        if (!j->hscores || ((j->flags & MLI_CUDA_OUT_DEVICE) && !j->hout))
            st = mli__fail(MLI_ERR_OUT_OF_MEMORY, "%s: cannot allocate host memory for %lld rows of scores", pred,
                           (long long)j->chunk);
    }
    for (int64_t r0 = 0; r0 < j->rows && st == MLI_OK; r0 += j->chunk)
        st = run_chunk(j, r0, j->rows - r0 < j->chunk ? j->rows - r0 : j->chunk);
    void *dev[5] = {j->dx, j->dscores, j->dscaled, j->buf[0], j->buf[1]};
    for (int i = 0; i < 5; ++i)
        if (dev[i])
            (void)cudaFreeAsync(dev[i], j->s->stream);
    cudaError_t e = cudaStreamSynchronize(j->s->stream);
    if (st == MLI_OK && e != cudaSuccess)
        st = mli__cuda_fail(pred, "cudaStreamSynchronize", e);
    free(j->hscores);
    free(j->hout);
    return st;
}

mli_status mli_cuda_model_predict(const mli_cuda_model *dm, mli_cuda_stream *stream, mli_output what, const void *x,
                                  mli_dtype dtype, int64_t rows, int64_t ldx, double *out, int64_t out_len,
                                  uint32_t flags) {
    if (!dm)
        return mli__fail(MLI_ERR_INVALID_ARGUMENT, "%s: model is NULL", pred);
    const mli_model *m = dm->host;
    if (flags & ~(uint32_t)(MLI_CUDA_X_DEVICE | MLI_CUDA_OUT_DEVICE | MLI_CUDA_FORCE_GPU))
        return mli__fail(MLI_ERR_INVALID_ARGUMENT, "%s: unknown flags 0x%x", pred, (unsigned)flags);
    int64_t cols = mli_model_output_len(m, what), need;
    mli_status st = mli__check_predict(pred, m, what, cols, x, dtype, rows, ldx, out, out_len, &need);
    if (st != MLI_OK || rows == 0)
        return st;

    /* NaN or infinity into a linear model or MLP is an error, as on the CPU; rows already in
     * device memory are not scanned (docs/CUDA.md). */
    if (!(flags & MLI_CUDA_X_DEVICE) && (st = mli__check_finite(pred, m, x, dtype == MLI_F64, rows, ldx)) != MLI_OK)
        return st;
    int on_cpu = !(flags & (MLI_CUDA_X_DEVICE | MLI_CUDA_FORCE_GPU)) && rows < mli_cuda_model_min_rows(dm);
    if (on_cpu && !(flags & MLI_CUDA_OUT_DEVICE))
        return cpu_predict[what](m, x, dtype, rows, ldx, out, out_len);

    mli_cuda_stream *s;
    int prev;
    if ((st = mli__cuda_resolve_stream(pred, stream, dm->device, &s)) != MLI_OK ||
        (st = mli__cuda_enter(pred, dm->device, &prev)) != MLI_OK)
        return st;
    if (on_cpu) { /* a small batch whose outputs go to device memory */
        double *tmp = malloc(sizeof(double) * (size_t)need);
        if (!tmp)
            st = mli__fail(MLI_ERR_OUT_OF_MEMORY, "%s: cannot allocate %lld outputs", pred, (long long)need);
        else if ((st = cpu_predict[what](m, x, dtype, rows, ldx, tmp, need)) == MLI_OK)
            st = cuda_check(cudaMemcpyAsync(out, tmp, sizeof(double) * (size_t)need, cudaMemcpyHostToDevice, s->stream),
                            "cudaMemcpyAsync of the outputs");
        if (st == MLI_OK)
            st = cuda_check(cudaStreamSynchronize(s->stream), "cudaStreamSynchronize");
        free(tmp);
    } else {
        job j = {.dm = dm,
                 .s = s,
                 .what = (int)what,
                 .f64 = dtype == MLI_F64,
                 .x = x,
                 .ldx = ldx,
                 .rows = rows,
                 .cols = cols,
                 .out = out,
                 .flags = flags,
                 .es = dtype == MLI_F64 ? sizeof(double) : sizeof(float)};
        st = run_gpu(&j);
    }
    mli__cuda_leave(dm->device, prev);
    return st;
}
