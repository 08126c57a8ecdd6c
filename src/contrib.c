/* contrib.c — mli_model_predict_contrib: exact SHAP contributions per input column.
 *
 * Tree models: path-dependent TreeSHAP over the tree stage (trees/shap.c). Linear models
 * (per-column affine stages, then one linear stage): with the background mean b_j stored
 * at export, column j's share of score k is coef[k][j] x (t(x_j) - t(b_j)), t the affine
 * stages, and the bias is intercept[k] + sum_j coef[k][j] t(b_j). That is
 * shap.LinearExplainer with an independent masker, whose expected value is the model at
 * the background mean (an affine stage without clipping maps the mean of the background
 * to the mean of its image, so t(b) is the transformed background's mean). Everything is
 * in float64; the raw scores predict computes in float32 match to float32 rounding. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "model.h"

#define MLI_CONTRIB_BLOCK 16 /* rows per pool task */

mli_status mli__contrib_build(mli_model *m, const mli__reader *r) {
    const void *p;
    mli_status rc = mli__section_array(r, "background_mean", MLI__DT_F64, m->n_features, 1, &p);
    if (rc != MLI_OK)
        return rc;
    m->background_mean = p;
    for (int64_t j = 0; p && j < m->n_features; ++j)
        if (!isfinite(m->background_mean[j]))
            return mli__fail(MLI_ERR_CORRUPT, "%s: background_mean of column %lld is not finite", m->c.origin,
                             (long long)j);
    return MLI_OK;
}

/* The linear stage of a model of affine stages (none clipping) and one linear stage. */
static const mli__stage *linear_stage(const mli_model *m) {
    if (m->trees || m->has_image || m->prep || m->n_stages < 1)
        return NULL;
    for (int s = 0; s < m->n_stages - 1; ++s)
        if (m->stages[s].kind != MLI__STAGE_AFFINE || m->stages[s].clip)
            return NULL;
    const mli__stage *st = &m->stages[m->n_stages - 1];
    return st->kind == MLI__STAGE_LINEAR && st->n_in == m->n_features ? st : NULL;
}

int64_t mli_model_n_contrib(const mli_model *m) {
    if (!m || m->prep) /* per input column through a prep stage: not yet (issue 19) */
        return 0;
    if (m->trees ? !m->trees->expected : !(linear_stage(m) && m->background_mean))
        return 0;
    return (m->n_features + 1) * m->n_raw;
}

static const char *source_of(const mli_model *m) {
    const char *src = mli_model_meta(m, "source");
    return src ? src : "unknown source";
}

/* Why mli_model_n_contrib is 0, as an error. */
static mli_status refuse(const char *fn, const mli_model *m) {
    if (m->prep)
        return mli__fail(MLI_ERR_UNSUPPORTED,
                         "%s: this model (%s) starts with column preprocessing (a prep stage: encoders, "
                         "imputers); contributions per input column through it are not supported yet",
                         fn, source_of(m));
    if (m->trees)
        return mli__fail(MLI_ERR_UNSUPPORTED,
                         "%s: this model (%s) has no node covers (the training weight reaching each node), which "
                         "TreeSHAP needs: the file was written before covers were recorded, or a split node has "
                         "cover 0; re-export or re-import it with this libmlinfer",
                         fn, source_of(m));
    if (linear_stage(m))
        return mli__fail(MLI_ERR_UNSUPPORTED,
                         "%s: this linear model (%s) has no background mean: export it with background data "
                         "(mlinfer.export(model, path, background=X)) to get contributions",
                         fn, source_of(m));
    return mli__fail(MLI_ERR_UNSUPPORTED,
                     "%s: contributions need a tree model or a linear model (optionally after per-column "
                     "scaling); this model (%s) is neither",
                     fn, source_of(m));
}

/* Column c's value after the affine stages, in float64 (as predict scales float64 rows). */
static double affine(const mli_model *m, int64_t c, double v) { return mli__affine_value(m, c, v, 0); }

static void linear_rows(const mli_model *m, const void *x, int f64, int64_t ldx, int64_t r0, int64_t r1, double *out) {
    const mli__stage *st = linear_stage(m);
    const int64_t nf = m->n_features, K = st->n_out, width = (nf + 1) * K;
    for (int64_t r = r0; r < r1; ++r) {
        double *phi = out + r * width;
        for (int64_t k = 0; k < K; ++k)
            phi[nf * K + k] = (double)st->intercept[k];
        for (int64_t j = 0; j < nf; ++j) {
            double v = f64 ? ((const double *)x)[r * ldx + j] : (double)((const float *)x)[r * ldx + j];
            double tb = affine(m, j, m->background_mean[j]), d = affine(m, j, v) - tb;
            for (int64_t k = 0; k < K; ++k) {
                double c = (double)st->coef[k * nf + j];
                phi[j * K + k] = c * d;
                phi[nf * K + k] += c * tb;
            }
        }
    }
}

typedef struct {
    const mli_model *m;
    const void *x;
    int f64;
    int64_t ldx, rows;
    double *out;
    atomic_int oom;
} contrib_job;

static void run_blocks(void *ctx, int64_t b0, int64_t b1) {
    contrib_job *j = ctx;
    int64_t r0 = b0 * MLI_CONTRIB_BLOCK, r1 = b1 * MLI_CONTRIB_BLOCK < j->rows ? b1 * MLI_CONTRIB_BLOCK : j->rows;
    if (!j->m->trees) {
        linear_rows(j->m, j->x, j->f64, j->ldx, r0, r1, j->out);
        return;
    }
    const mli__trees *t = j->m->trees;
    _Alignas(64) unsigned char stack[16384];
    size_t need = mli__trees_contrib_scratch(t);
    void *scratch = need <= sizeof stack ? (void *)stack : malloc(need);
    if (!scratch) {
        atomic_store(&j->oom, 1);
        return;
    }
    size_t es = j->f64 ? sizeof(double) : sizeof(float);
    int64_t width = (j->m->n_features + 1) * t->n_out, nf = j->m->n_features;
    const char *x = (const char *)j->x + (size_t)(r0 * j->ldx) * es;
    if (j->m->n_affine > 0) {
        /* Scalers before the trees: the trees see the scaled float64 values, exactly as
         * predict hands them over; a per-column scaler passes each column's share through. */
        double *xs = malloc(sizeof(double) * (size_t)(MLI_CONTRIB_BLOCK * nf));
        if (!xs) {
            atomic_store(&j->oom, 1);
        } else {
            for (int64_t r = r0; r < r1; r += MLI_CONTRIB_BLOCK) {
                int64_t nb = r1 - r < MLI_CONTRIB_BLOCK ? r1 - r : MLI_CONTRIB_BLOCK;
                mli__affine_rows_f64(j->m, (const char *)j->x + (size_t)(r * j->ldx) * es, j->f64, j->ldx, nb, xs);
                mli__trees_contrib(t, xs, 1, nf, nb, j->out + r * width, scratch);
            }
            free(xs);
        }
    } else {
        mli__trees_contrib(t, x, j->f64, j->ldx, r1 - r0, j->out + r0 * width, scratch);
    }
    if (scratch != (void *)stack)
        free(scratch);
}

mli_status mli_model_predict_contrib(const mli_model *m, const void *x, mli_dtype dtype, int64_t rows, int64_t ldx,
                                     double *out, int64_t out_len) {
    static const char fn[] = "mli_model_predict_contrib";
    int64_t need;
    if (!m)
        return mli__fail(MLI_ERR_INVALID_ARGUMENT, "%s: model is NULL", fn);
    int64_t cols = mli_model_n_contrib(m);
    if (cols == 0)
        return refuse(fn, m);
    mli_status st = mli__check_predict(fn, m, MLI_OUTPUT_RAW, cols, x, dtype, rows, ldx, out, out_len, &need);
    if (st != MLI_OK || rows == 0)
        return st;
    contrib_job j = {.m = m, .x = x, .f64 = dtype == MLI_F64, .ldx = ldx, .rows = rows, .out = out};
    atomic_init(&j.oom, 0);
    int64_t blocks = (rows + MLI_CONTRIB_BLOCK - 1) / MLI_CONTRIB_BLOCK;
    if (blocks == 1 || mli__num_threads() == 1)
        run_blocks(&j, 0, blocks);
    else
        mli__parallel_for(blocks, 1, run_blocks, &j);
    if (atomic_load(&j.oom))
        return mli__fail(MLI_ERR_OUT_OF_MEMORY, "%s: cannot allocate the TreeSHAP path buffer", fn);
    return MLI_OK;
}
