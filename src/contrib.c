/* contrib.c — mli_model_predict_contrib: exact SHAP contributions per input column.
 *
 * Tree models: path-dependent TreeSHAP over the tree stage (trees/shap.c). Linear models
 * (per-column affine stages, then one linear stage): with the background mean b_j stored
 * at export, column j's share of score k is coef[k][j] x (t(x_j) - t(b_j)), t the affine
 * stages, and the bias is intercept[k] + sum_j coef[k][j] t(b_j). That is
 * shap.LinearExplainer with an independent masker, whose expected value is the model at
 * the background mean (an affine stage without clipping maps the mean of the background
 * to the mean of its image, so t(b) is the transformed background's mean). Everything is
 * in float64; the raw scores predict computes in float32 match to float32 rounding.
 *
 * Models with a prep stage: the same on the prep stage's outputs (the features the model
 * stages see, scikit-learn's pipeline[:-1].transform(X); the background mean is stored in
 * that space), then each feature's share is added to its group (mli__contrib_map): the
 * input column the feature derives from alone, or a group of its own for a feature that
 * mixes columns. Shapley values are additive over a partition of the players, so the sum
 * over a one-hot block is the block's (its column's) contribution in the game played on the
 * transformed features — what shap run on the transformed matrix and summed by column gives.
 * The map is built from the op table by a whitelist (map_registers): an op kind not named
 * there, present or future, makes its outputs features of their own; nothing is guessed. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model.h"

#define MLI_CONTRIB_BLOCK 16 /* rows per pool task */
/* Interactions: one row per pool task (a row is (F + 1)^2 x K values and depth times the
 * work of its contributions); at most 2^28 values (2 GiB) per row. */
#define MLI_INTERACT_MAX_VALUES ((int64_t)1 << 28)

/* ---- the map from transformed features to input columns ----------------------------- */

/* The input column each prep register derives from alone, or -1 (several, none, or an op
 * kind this function does not know). Registers are written in order, so op o writes
 * [dst, next op's dst). Ops of several registers (NORM, PROJECT, POLY terms) keep a column
 * only when every register they read derives from that one column. */
static void map_registers(const mli__prep *p, int64_t *reg_col) {
    enum { NONE = -2 }; /* POLY: a factor of 1 (no input) */
    for (int64_t r = 0; r < p->n_regs; ++r)
        reg_col[r] = -1;
    for (int64_t o = 0; o < p->n_ops; ++o) {
        const mli__prep_op *op = &p->ops[o];
        int64_t end = o + 1 < p->n_ops ? p->ops[o + 1].dst : p->n_regs, col = -1;
        switch (op->kind) {
        case MLI__OP_NUM:
        case MLI__OP_STRCAT:
        case MLI__OP_TEXT: col = op->src; break; /* an input column */
        case MLI__OP_FILL:
        case MLI__OP_AFFINE:
        case MLI__OP_INDICATOR:
        case MLI__OP_NUMCAT:
        case MLI__OP_FUNC:
        case MLI__OP_BIN:
        case MLI__OP_ONEHOT:
        case MLI__OP_QUANTILE:
        case MLI__OP_SPLINE: col = reg_col[op->src]; break; /* one register in, all outputs from it */
        case MLI__OP_NORM:    /* each output divides by the norm over all `count` inputs */
        case MLI__OP_PROJECT: /* each output is a weighted sum of all n_in inputs (PCA, TruncatedSVD) */
            col = reg_col[op->src];
            for (int64_t c = 1; c < (op->kind == MLI__OP_NORM ? op->count : op->n_in) && col >= 0; ++c)
                if (reg_col[op->src + c] != col)
                    col = -1;
            break;
        case MLI__OP_POLY: /* term k = input f_k (or 1) x earlier term p_k (or 1): its own set of columns */
            for (int64_t k = 0; k < op->count && op->dst + k < end; ++k) {
                int64_t f = (int64_t)op->p[2 * k], par = (int64_t)op->p[2 * k + 1];
                int64_t a = f < 0 ? NONE : reg_col[op->src + f], b = par < 0 ? NONE : reg_col[op->dst + par];
                reg_col[op->dst + k] = a == NONE ? b : b == NONE || a == b ? a : -1;
            }
            for (int64_t d = op->dst; d < end; ++d) /* a constant term (the bias column): its own feature */
                if (reg_col[d] == NONE)
                    reg_col[d] = -1;
            continue;
        default: col = -1; break; /* unknown to this map: reported per transformed feature */
        }
        for (int64_t d = op->dst; d < end; ++d)
            reg_col[d] = col;
    }
}

void mli__contrib_free(mli_model *m) {
    mli__contrib_map *c = m->cmap;
    if (!c)
        return;
    free(c->group);
    free(c->mixed_feature);
    free(c->mixed_name);
    free(c);
    m->cmap = NULL;
}

/* Reads the optional `stage.0.out_names` (strings, one per prep output: the pipeline's
 * get_feature_names_out) into names[n_out] pointing into the file, lens their lengths. */
static mli_status read_out_names(mli_model *m, const char **names, uint32_t *lens) {
    mli__strings_iter it;
    uint32_t len;
    const char *str;
    int found;
    mli_status rc = mli__strings_section(&m->c, "stage.0.out_names", m->prep->n_out, "prep outputs", &it, &found);
    if (rc != MLI_OK || !found)
        return rc;
    for (uint32_t i = 0; mli__strings_next(&it, &str, &len); ++i) {
        names[i] = str;
        lens[i] = len;
    }
    return MLI_OK;
}

static mli_status build_map(mli_model *m) {
    const mli__prep *p = m->prep;
    const int64_t n_in = p->n_out;
    static const char prefix[] = "transformed:";
    mli__contrib_map *c = calloc(1, sizeof *c);
    int64_t *reg_col = malloc(sizeof(int64_t) * (size_t)p->n_regs);
    const char **names = calloc((size_t)n_in, sizeof *names);
    uint32_t *lens = calloc((size_t)n_in, sizeof *lens);
    mli_status rc = MLI_OK;
    m->cmap = c;
    if (!c || !reg_col || !names || !lens || !(c->group = malloc(sizeof(int64_t) * (size_t)n_in))) {
        rc = mli__fail(MLI_ERR_OUT_OF_MEMORY, "%s: out of memory for the contribution map", m->c.origin);
        goto done;
    }
    if ((rc = read_out_names(m, names, lens)) != MLI_OK)
        goto done;
    map_registers(p, reg_col);
    size_t text = 0;
    for (int64_t f = 0; f < n_in; ++f)
        if (reg_col[p->out_reg[f]] < 0) {
            c->n_mixed++;
            text += sizeof prefix + (names[f] ? lens[f] : 24);
        }
    c->n_groups = m->n_features + c->n_mixed;
    if (c->n_mixed > 0) {
        c->mixed_feature = malloc(sizeof(int64_t) * (size_t)c->n_mixed);
        c->mixed_name = malloc(sizeof(char *) * (size_t)c->n_mixed + text);
        if (!c->mixed_feature || !c->mixed_name) {
            rc = mli__fail(MLI_ERR_OUT_OF_MEMORY, "%s: out of memory for the contribution map", m->c.origin);
            goto done;
        }
    }
    char *at = c->mixed_name ? (char *)(c->mixed_name + c->n_mixed) : NULL;
    for (int64_t f = 0, k = 0; f < n_in; ++f) {
        int64_t col = reg_col[p->out_reg[f]];
        if (col >= 0) {
            c->group[f] = col;
            continue;
        }
        c->group[f] = m->n_features + k;
        c->mixed_feature[k] = f;
        c->mixed_name[k] = at;
        memcpy(at, prefix, sizeof prefix - 1);
        at += sizeof prefix - 1;
        if (names[f]) {
            memcpy(at, names[f], lens[f]);
            at += lens[f];
            *at++ = 0;
        } else {
            at += snprintf(at, 24, "%lld", (long long)f) + 1;
        }
        ++k;
    }
done:
    free(reg_col);
    free(names);
    free(lens);
    return rc;
}

mli_status mli__contrib_build(mli_model *m, const mli__reader *r) {
    const void *p;
    mli_status rc = mli__section_array(r, "background_mean", MLI__DT_F64, m->n_in_model, 1, &p);
    if (rc != MLI_OK)
        return rc;
    m->background_mean = p;
    for (int64_t j = 0; p && j < m->n_in_model; ++j)
        if (!isfinite(m->background_mean[j]))
            return mli__fail(MLI_ERR_CORRUPT, "%s: background_mean of %s %lld is not finite", m->c.origin,
                             m->prep ? "transformed feature" : "column", (long long)j);
    return m->prep ? build_map(m) : MLI_OK;
}

/* ---- which models --------------------------------------------------------------------- */

/* The linear stage of a model of affine stages (none clipping) and one linear stage, after
 * a prep stage or not. */
static const mli__stage *linear_stage(const mli_model *m) {
    if (m->trees || m->has_image || m->n_stages < 1)
        return NULL;
    for (int s = 0; s < m->n_stages - 1; ++s)
        if (m->stages[s].kind != MLI__STAGE_AFFINE || m->stages[s].clip)
            return NULL;
    const mli__stage *st = &m->stages[m->n_stages - 1];
    return st->kind == MLI__STAGE_LINEAR && st->n_in == m->n_in_model ? st : NULL;
}

static int64_t n_groups(const mli_model *m) { return m->cmap ? m->cmap->n_groups : m->n_features; }

int64_t mli_model_n_contrib(const mli_model *m) {
    if (!m || (m->prep && !m->cmap))
        return 0;
    if (m->trees ? !m->trees->shap_ok : !(linear_stage(m) && m->background_mean))
        return 0;
    return (n_groups(m) + 1) * m->n_raw;
}

/* (n_groups + 1)^2 x n_raw, or 0 when that exceeds MLI_INTERACT_MAX_VALUES. */
static int64_t interaction_values(const mli_model *m) {
    int64_t side = n_groups(m) + 1, sq, v;
    if (!mli__mul_ok(side, side, &sq) || !mli__mul_ok(sq, m->n_raw, &v) || v > MLI_INTERACT_MAX_VALUES)
        return 0;
    return v;
}

int64_t mli_model_n_interactions(const mli_model *m) {
    if (!m || !m->trees || mli_model_n_contrib(m) == 0)
        return 0;
    return interaction_values(m);
}

mli_status mli_model_contrib_column(const mli_model *m, int64_t i, int64_t *column, const char **name) {
    static const char fn[] = "mli_model_contrib_column";
    if (!m)
        return mli__fail(MLI_ERR_INVALID_ARGUMENT, "%s: model is NULL", fn);
    if (i < 0 || i >= n_groups(m))
        return mli__fail(MLI_ERR_INVALID_ARGUMENT, "%s: column %lld is outside 0..%lld (the bias, last, is none)", fn,
                         (long long)i, (long long)n_groups(m) - 1);
    int input = i < m->n_features;
    if (column)
        *column = input ? i : -1;
    if (name)
        *name = input ? (m->feature_names ? m->feature_names[i] : NULL) : m->cmap->mixed_name[i - m->n_features];
    return MLI_OK;
}

static const char *source_of(const mli_model *m) {
    const char *src = mli_model_meta(m, "source");
    return src ? src : "unknown source";
}

/* Why mli_model_n_contrib is 0, as an error. */
static mli_status refuse(const char *fn, const mli_model *m) {
    if (m->trees && m->trees->lin_const)
        return mli__fail(MLI_ERR_UNSUPPORTED,
                         "%s: this model (%s) has linear leaves (LightGBM linear_tree), whose output depends on the "
                         "row's features beyond the path; TreeSHAP over the leaf values would not sum to the "
                         "prediction, and LightGBM's pred_contrib refuses such models too",
                         fn, source_of(m));
    if (m->trees)
        return mli__fail(MLI_ERR_UNSUPPORTED,
                         "%s: this model (%s) has no node covers (the training weight reaching each node), which "
                         "TreeSHAP needs: the file was written before covers were recorded (re-export or re-import "
                         "it with this libmlinfer), or a leaf that no training row reached (cover 0) has a score "
                         "other than 0, whose share the path-dependent value function leaves undefined",
                         fn, source_of(m));
    if (linear_stage(m))
        return mli__fail(MLI_ERR_UNSUPPORTED,
                         "%s: this linear model (%s) has no background mean: export it with background data "
                         "(mlinfer.export(model, path, background=X)) to get contributions",
                         fn, source_of(m));
    return mli__fail(MLI_ERR_UNSUPPORTED,
                     "%s: contributions need a tree model or a linear model (optionally after preprocessing); "
                     "this model (%s) is neither",
                     fn, source_of(m));
}

/* Why mli_model_n_interactions is 0, as an error. */
static mli_status refuse_interactions(const char *fn, const mli_model *m) {
    if (m->trees && mli_model_n_contrib(m) > 0)
        return mli__fail(MLI_ERR_UNSUPPORTED,
                         "%s: this model's interaction matrix, (%lld + 1)^2 x %lld values per row, exceeds the "
                         "limit of %lld values per row",
                         fn, (long long)n_groups(m), (long long)m->n_raw, (long long)MLI_INTERACT_MAX_VALUES);
    if (!m->trees && mli_model_n_contrib(m) > 0)
        return mli__fail(MLI_ERR_UNSUPPORTED,
                         "%s: SHAP interaction values are computed for tree models only; this model (%s) is not "
                         "one (its contributions are available: mli_model_predict_contrib)",
                         fn, source_of(m));
    if (!m->trees)
        return mli__fail(MLI_ERR_UNSUPPORTED,
                         "%s: SHAP interaction values are computed for tree models only; this model (%s) is not one",
                         fn, source_of(m));
    return refuse(fn, m);
}

/* ---- computing them ------------------------------------------------------------------- */

/* Rows [0, nb) of x (the model stages' input: n_in_model values, leading dimension ldx)
 * through the affine stages into the linear stage: (n_in_model + 1) x K values per row. */
static void linear_rows(const mli_model *m, const void *x, int f64, int64_t ldx, int64_t nb, double *out) {
    const mli__stage *st = linear_stage(m);
    const int64_t nf = m->n_in_model, K = st->n_out, width = (nf + 1) * K;
    for (int64_t r = 0; r < nb; ++r) {
        double *phi = out + r * width;
        for (int64_t k = 0; k < K; ++k)
            phi[nf * K + k] = (double)st->intercept[k];
        for (int64_t j = 0; j < nf; ++j) {
            double v = f64 ? ((const double *)x)[r * ldx + j] : (double)((const float *)x)[r * ldx + j];
            double tb = mli__affine_value(m, j, m->background_mean[j], 0), d = mli__affine_value(m, j, v, 0) - tb;
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
    const mli__prep_call *call; /* a prep model: the bound input; else x */
    const void *x;
    int f64;
    int64_t ldx, rows;
    double *out;
    int interact; /* interactions instead of contributions */
    const mli__kernels *kt;
    atomic_int oom;
    atomic_llong bad_row; /* the first row the prep stage refuses (INT64_MAX: none) */
} contrib_job;

/* Per-task scratch, one allocation: the prep stage's registers and outputs, the scaled rows,
 * the per-feature contributions before grouping, and TreeSHAP's path buffer. */
typedef struct {
    double *work, *pre, *xs, *phi;
    void *tree;
    void *mem;
} scratch;

static size_t al64(size_t n) { return (n + 63) & ~(size_t)63; }

/* Rows per pool task, and output values per row (of the model stages' input features:
 * features; or of the groups: out). */
static int64_t job_block(const contrib_job *j) { return j->interact ? 1 : MLI_CONTRIB_BLOCK; }
static int64_t row_values(const contrib_job *j, int64_t features) {
    int64_t side = features + 1;
    return (j->interact ? side * side : side) * j->m->n_raw;
}

static int scratch_alloc(const contrib_job *j, scratch *s) {
    const mli_model *m = j->m;
    const size_t B = (size_t)job_block(j), nf = (size_t)m->n_in_model;
    size_t work = m->prep ? al64(sizeof(double) * B * (size_t)m->prep->n_regs) : 0;
    size_t pre = m->prep ? al64(sizeof(double) * B * nf) : 0;
    size_t xs = m->trees && m->n_affine ? al64(sizeof(double) * B * nf) : 0;
    size_t phi = m->cmap ? al64(sizeof(double) * B * (size_t)row_values(j, m->n_in_model)) : 0;
    size_t tree = m->trees ? al64(mli__trees_contrib_scratch(m->trees)) : 0;
    char *p = NULL;
    if (posix_memalign((void **)&p, 64, work + pre + xs + phi + tree + 64) != 0)
        return 0;
    s->mem = p;
    s->work = (double *)(void *)p;
    s->pre = (double *)(void *)(p += work);
    s->xs = (double *)(void *)(p += pre);
    s->phi = (double *)(void *)(p += xs);
    s->tree = p + phi;
    return 1;
}

/* Records `row` as failing unless an earlier row already did. */
static void note_bad_row(contrib_job *j, int64_t row) {
    long long cur = atomic_load(&j->bad_row);
    while (row < cur && !atomic_compare_exchange_weak(&j->bad_row, &cur, row)) {
    }
}

/* Rows [r, r + nb): contributions per model input feature into phi ((n_in_model + 1) x K
 * per row), from x (leading dimension ldx, float64 or not). */
static void features_block(const contrib_job *j, const void *x, int f64, int64_t ldx, int64_t nb, scratch *s,
                           double *phi) {
    const mli_model *m = j->m;
    if (!m->trees) {
        linear_rows(m, x, f64, ldx, nb, phi);
        return;
    }
    if (m->n_affine > 0) { /* the trees see the scaled float64 values, exactly as predict hands them over */
        mli__affine_rows_f64(m, x, f64, ldx, nb, s->xs);
        x = s->xs;
        f64 = 1;
        ldx = m->n_in_model;
    }
    if (j->interact)
        mli__trees_interactions(m->trees, j->kt, x, f64, ldx, nb, phi, s->tree);
    else
        mli__trees_contrib(m->trees, j->kt, x, f64, ldx, nb, phi, s->tree);
}

/* Interactions: the block of each pair of groups is the sum of its features' pairs, on both
 * axes (the bias row and column stay last). */
static void group_interactions(const mli_model *m, const double *phi, double *out) {
    const mli__contrib_map *c = m->cmap;
    const int64_t nf = m->n_in_model, K = m->n_raw, G = c->n_groups;
    memset(out, 0, sizeof(double) * (size_t)((G + 1) * (G + 1) * K));
    for (int64_t a = 0; a <= nf; ++a) {
        const int64_t ga = a < nf ? c->group[a] : G;
        for (int64_t b = 0; b <= nf; ++b) {
            const int64_t gb = b < nf ? c->group[b] : G;
            const double *src = phi + (a * (nf + 1) + b) * K;
            double *dst = out + (ga * (G + 1) + gb) * K;
            for (int64_t k = 0; k < K; ++k)
                dst[k] += src[k];
        }
    }
}

/* Adds each feature's share in phi to its group: out gets nb rows of (n_groups + 1) x K. */
static void group_block(const mli_model *m, const double *phi, int64_t nb, double *out) {
    const mli__contrib_map *c = m->cmap;
    const int64_t nf = m->n_in_model, K = m->n_raw, G = c->n_groups;
    for (int64_t r = 0; r < nb; ++r) {
        const double *src = phi + r * (nf + 1) * K;
        double *dst = out + r * (G + 1) * K;
        memset(dst, 0, sizeof(double) * (size_t)(G * K));
        for (int64_t f = 0; f < nf; ++f)
            for (int64_t k = 0; k < K; ++k)
                dst[c->group[f] * K + k] += src[f * K + k];
        for (int64_t k = 0; k < K; ++k)
            dst[G * K + k] = src[nf * K + k];
    }
}

static void run_blocks(void *ctx, int64_t b0, int64_t b1) {
    contrib_job *j = ctx;
    const mli_model *m = j->m;
    scratch s;
    if (!scratch_alloc(j, &s)) {
        atomic_store(&j->oom, 1);
        return;
    }
    const int64_t width = row_values(j, n_groups(m)), B = job_block(j);
    const size_t es = j->f64 ? sizeof(double) : sizeof(float);
    int64_t end = b1 * B < j->rows ? b1 * B : j->rows;
    for (int64_t r = b0 * B; r < end; r += B) {
        int64_t nb = end - r < B ? end - r : B;
        if (!m->prep) {
            features_block(j, (const char *)j->x + (size_t)(r * j->ldx) * es, j->f64, j->ldx, nb, &s,
                           j->out + r * width);
            continue;
        }
        if (atomic_load_explicit(&j->bad_row, memory_order_relaxed) < r)
            break; /* an earlier row failed: nothing after it matters */
        int64_t bad = mli__prep_block(j->call, r, nb, m->finite_only, s.work, s.pre, NULL);
        if (bad >= 0) {
            note_bad_row(j, bad);
            break;
        }
        features_block(j, s.pre, 1, m->n_in_model, nb, &s, s.phi);
        if (j->interact)
            group_interactions(m, s.phi, j->out + r * width); /* nb = B = 1 */
        else
            group_block(m, s.phi, nb, j->out + r * width);
    }
    free(s.mem);
}

/* Runs the job over its rows on the pool; the first failing row's message, or MLI_OK. */
static mli_status run_job(const char *fn, contrib_job *j) {
    mli_status st;
    if (j->m->trees && (st = mli__trees_shap_ready(j->m->trees, fn)) != MLI_OK)
        return st;
    if (j->m->trees && !(j->kt = mli__get_kernels()))
        return MLI_ERR_UNSUPPORTED; /* the reason is set (MLI_FORCE_ISA names an ISA this CPU lacks) */
    atomic_init(&j->oom, 0);
    atomic_init(&j->bad_row, INT64_MAX);
    int64_t blocks = (j->rows + job_block(j) - 1) / job_block(j);
    if (blocks == 1 || mli__num_threads() == 1)
        run_blocks(j, 0, blocks);
    else
        mli__parallel_for_parts(blocks, 1, MLI_PARTS_PER_THREAD, run_blocks, j);
    long long bad = atomic_load(&j->bad_row);
    if (bad != INT64_MAX) /* the input's fault is reported first */
        return mli__prep_input_error(fn, j->m, j->call, bad);
    if (atomic_load(&j->oom))
        return mli__fail(MLI_ERR_OUT_OF_MEMORY, "%s: cannot allocate the %s' scratch", fn,
                         j->interact ? "interactions" : "contributions");
    return MLI_OK;
}

/* The values per row of contributions or interactions, or the reason there are none. */
static mli_status values_per_row(const char *fn, const mli_model *m, int interact, int64_t *cols) {
    if (!m)
        return mli__fail(MLI_ERR_INVALID_ARGUMENT, "%s: model is NULL", fn);
    *cols = interact ? mli_model_n_interactions(m) : mli_model_n_contrib(m);
    if (*cols == 0)
        return interact ? refuse_interactions(fn, m) : refuse(fn, m);
    return MLI_OK;
}

static mli_status predict_matrix(const char *fn, int interact, const mli_model *m, const void *x, mli_dtype dtype,
                                 int64_t rows, int64_t ldx, double *out, int64_t out_len) {
    int64_t need, cols;
    mli_status st = values_per_row(fn, m, interact, &cols);
    if (st != MLI_OK)
        return st;
    st = mli__check_predict(fn, m, MLI_OUTPUT_RAW, cols, x, dtype, rows, ldx, out, out_len, &need);
    if (st != MLI_OK || rows == 0)
        return st;
    contrib_job j = {
        .m = m, .x = x, .f64 = dtype == MLI_F64, .ldx = ldx, .rows = rows, .out = out, .interact = interact};
    if (!m->prep) {
        /* a linear model cannot take NaN or infinity, as predict refuses them */
        if ((st = mli__check_finite(fn, m, x, dtype == MLI_F64, rows, ldx)) != MLI_OK)
            return st;
        return run_job(fn, &j);
    }
    /* a prep model given a numeric matrix: its columns are the model's columns */
    mli__prep_call call = {.p = m->prep, .names = (const char *const *)m->feature_names, .rows = rows};
    st = mli__prep_call_matrix(fn, &call, x, dtype == MLI_F64, ldx);
    if (st == MLI_OK) {
        j.call = &call;
        st = run_job(fn, &j);
    }
    mli__prep_call_free(&call);
    return st;
}

static mli_status predict_columns(const char *fn, int interact, const mli_model *m, const mli_column *columns,
                                  int64_t n_columns, int64_t rows, double *out, int64_t out_len) {
    int64_t cols;
    mli_status st = values_per_row(fn, m, interact, &cols);
    if (st != MLI_OK)
        return st;
    if ((st = mli__check_columns_call(fn, rows, cols, columns, n_columns, out, out_len)) != MLI_OK)
        return st;
    if (!m->prep) {
        double *x = NULL;
        if ((st = mli__columns_to_matrix(fn, m, columns, n_columns, rows, &x)) != MLI_OK)
            return st;
        st = rows == 0 ? MLI_OK : predict_matrix(fn, interact, m, x, MLI_F64, rows, m->n_features, out, out_len);
        free(x);
        return st;
    }
    mli__prep_call call = {.p = m->prep, .names = (const char *const *)m->feature_names, .rows = rows};
    st = mli__prep_call_columns(fn, &call, columns, n_columns);
    if (st == MLI_OK && rows > 0) {
        contrib_job j = {.m = m, .call = &call, .rows = rows, .out = out, .interact = interact};
        st = run_job(fn, &j);
    }
    mli__prep_call_free(&call);
    return st;
}

mli_status mli_model_predict_contrib(const mli_model *m, const void *x, mli_dtype dtype, int64_t rows, int64_t ldx,
                                     double *out, int64_t out_len) {
    return predict_matrix("mli_model_predict_contrib", 0, m, x, dtype, rows, ldx, out, out_len);
}

mli_status mli_model_predict_contrib_columns(const mli_model *m, const mli_column *columns, int64_t n_columns,
                                             int64_t rows, double *out, int64_t out_len) {
    return predict_columns("mli_model_predict_contrib_columns", 0, m, columns, n_columns, rows, out, out_len);
}

mli_status mli_model_predict_interactions(const mli_model *m, const void *x, mli_dtype dtype, int64_t rows, int64_t ldx,
                                          double *out, int64_t out_len) {
    return predict_matrix("mli_model_predict_interactions", 1, m, x, dtype, rows, ldx, out, out_len);
}

mli_status mli_model_predict_interactions_columns(const mli_model *m, const mli_column *columns, int64_t n_columns,
                                                  int64_t rows, double *out, int64_t out_len) {
    return predict_columns("mli_model_predict_interactions_columns", 1, m, columns, n_columns, rows, out, out_len);
}
