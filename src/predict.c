/* predict.c — runs a model over rows: input conversion and preprocessing in float64,
 * model stages in float32 on the own kernels, the head (link functions, argmax) in
 * float64. Rows go in blocks; large inputs spread blocks over the pool, one row takes no
 * thread hand-off and no heap allocation. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "affine_rules.h"
#include "model.h"

#define MLI_BLOCK_ROWS 64
#define MLI_STACK_FLOATS 8192 /* scratch that lives on the stack when it fits */

typedef struct {
    const mli_model *m;
    const mli__kernels *kt;
    const void *x;
    int f64;
    int64_t ldx;
    int what;
    double *out;
    int64_t *apply; /* mli_model_apply's output instead of out */
    int64_t out_cols;
    int64_t rows;
    const mli__prep_call *call; /* a model with a prep stage: the input, bound to its columns */
    atomic_int oom;
    atomic_llong bad_row;  /* the first row with an input error (INT64_MAX: none) */
    atomic_llong overflow; /* the first row whose float32 scores overflowed (INT64_MAX: none) */
} predict_job;

/* The input rows of the model stages: the caller's matrix, or a block the prep stage made. */
typedef struct {
    const void *x;
    int f64;
    int64_t ldx;
} rows_in;

static double input_at(const rows_in *j, int64_t r, int64_t c) {
    return j->f64 ? ((const double *)j->x)[r * j->ldx + c] : (double)((const float *)j->x)[r * j->ldx + c];
}

/* Column c's value v (the input's dtype: f32 or not) after the model's leading affine
 * stages (kernels/affine_rules.h). */
double mli__affine_value(const mli_model *m, int64_t c, double v, int f32) {
    for (int a = 0; a < m->n_affine; ++a) {
        const mli__stage *st = &m->stages[a];
        v = mli__affine_stage(v, c, st->sub, st->div, st->mul, st->add, st->clip, st->clip_lo, st->clip_hi, f32,
                              st->f32_params);
    }
    return v;
}

void mli__affine_rows_f64(const mli_model *m, const void *x, int f64, int64_t ldx, int64_t nb, double *dst) {
    const int64_t n = m->n_in_model;
    for (int64_t r = 0; r < nb; ++r)
        for (int64_t c = 0; c < n; ++c) {
            double v = f64 ? ((const double *)x)[r * ldx + c] : (double)((const float *)x)[r * ldx + c];
            dst[r * n + c] = mli__affine_value(m, c, v, !f64);
        }
}

/* Row r's value in column c after the leading affine stages. */
static double affine_value(const mli_model *m, const rows_in *j, int64_t r, int64_t c) {
    return mli__affine_value(m, c, input_at(j, r, c), !j->f64);
}

/* Rows [r0, r0 + nb) after the affine stages, in float64 (a tree stage's input). */
static void affine_rows_f64(const mli_model *m, const rows_in *j, int64_t r0, int64_t nb, double *dst) {
    size_t es = j->f64 ? sizeof(double) : sizeof(float);
    mli__affine_rows_f64(m, (const char *)j->x + (size_t)(r0 * j->ldx) * es, j->f64, j->ldx, nb, dst);
}

/* The model stages over rows [r0, r0 + nb); returns the scores (width of the last stage,
 * leading dimension *ld) in one of the two scratch buffers. */
static const float *forward(const mli_model *m, const mli__kernels *kt, const rows_in *j, int64_t r0, int64_t nb,
                            float *buf[2], int64_t *ld) {
    const float *cur;
    int s = 0, next = 0;
    int64_t n = m->n_in_model;
    if (m->n_affine > 0) {
        float *dst = buf[0];
        for (int64_t r = 0; r < nb; ++r)
            for (int64_t c = 0; c < n; ++c)
                dst[r * n + c] = mli__f32_round(affine_value(m, j, r0 + r, c));
        s = m->n_affine;
        cur = dst;
        *ld = n;
        next = 1;
    } else if (j->f64) {
        float *dst = buf[0];
        const double *x = (const double *)j->x + r0 * j->ldx;
        for (int64_t r = 0; r < nb; ++r)
            for (int64_t c = 0; c < n; ++c)
                dst[r * n + c] = (float)x[r * j->ldx + c];
        cur = dst;
        *ld = n;
        next = 1;
    } else { /* float32 input is used in place */
        cur = (const float *)j->x + r0 * j->ldx;
        *ld = j->ldx;
    }
    for (; s < m->n_stages; ++s) {
        const mli__stage *st = &m->stages[s];
        if (st->kind == MLI__STAGE_LINEAR) {
            float *dst = buf[next];
            mli__dense(kt, nb, st->n_out, st->n_in, cur, *ld, st->coef, st->n_in, 1, st->intercept, MLI__ACT_IDENTITY,
                       dst, st->n_out);
            cur = dst;
            *ld = st->n_out;
            next ^= 1;
        } else if (st->kind == MLI__STAGE_MLP) {
            for (int l = 0; l < st->n_layers; ++l) {
                float *dst = buf[next];
                int act = l + 1 < st->n_layers ? st->act : MLI__ACT_IDENTITY;
                mli__dense(kt, nb, st->dims[l + 1], st->dims[l], cur, *ld, st->W[l], st->dims[l + 1], 0, st->b[l], act,
                           dst, st->dims[l + 1]);
                cur = dst;
                *ld = st->dims[l + 1];
                next ^= 1;
            }
        }
    }
    return cur;
}

/* Score i of a row: the dense stages give float32, the tree stage float64. */
#define SCORE(i) (sf ? (double)sf[i] : sd[i])

/* numpy's argmax: the first NaN if any, else the first maximum. */
static int64_t argmax(const float *sf, const double *sd, int64_t k) {
    int64_t best = 0;
    for (int64_t i = 0; i < k; ++i) {
        if (SCORE(i) != SCORE(i))
            return i;
        if (SCORE(i) > SCORE(best))
            best = i;
    }
    return best;
}

static double sigmoid(double s) { return 1.0 / (1.0 + exp(-s)); }
static double clip1(double s) { return s < -1.0 ? -1.0 : s > 1.0 ? 1.0 : s; }

/* Head ovr_proba: one-vs-rest estimator k's probability of its class from its score: a
 * forest's mean (the sum of its trees' leaves over their number, as scikit-learn divides its
 * sum), LightGBM's sigmoid, or XGBoost's, which it computes in float32. */
static double ovr_q(const mli_model *m, double s) {
    if (m->ovr_link == 1)
        return sigmoid(s);
    if (m->ovr_link == 2)
        return (double)(1.0f / (1.0f + expf(-(float)s)));
    return s / m->ovr_trees;
}

/* scikit-learn's OneVsRestClassifier over estimators without decision_function: predict is
 * the first largest probability (binary: class 1 where it is > 0.5), predict_proba the
 * probabilities over their row sum, a row summing to 0 left as it is. */
static void ovr_proba_row(const mli_model *m, int what, const float *sf, const double *sd, int64_t k, double *out) {
    if (k == 1) {
        double q = ovr_q(m, SCORE(0));
        if (what == MLI_OUTPUT_PREDICT) {
            out[0] = q > 0.5 ? 1.0 : 0.0;
        } else {
            double sum = (1.0 - q) + q;
            out[0] = (1.0 - q) / sum;
            out[1] = q / sum;
        }
        return;
    }
    if (what == MLI_OUTPUT_PREDICT) {
        int64_t best = 0;
        double qb = ovr_q(m, SCORE(0));
        for (int64_t i = 1; i < k; ++i) {
            double q = ovr_q(m, SCORE(i));
            if (q > qb || (q != q && qb == qb)) {
                best = i;
                qb = q;
            }
        }
        out[0] = (double)best;
        return;
    }
    double sum = 0.0;
    for (int64_t i = 0; i < k; ++i)
        sum += out[i] = ovr_q(m, SCORE(i));
    if (sum != 0.0)
        for (int64_t i = 0; i < k; ++i)
            out[i] /= sum;
}

/* One row's outputs from its scores (sf, or sd when sf is NULL). */
void mli__head_row(const mli_model *m, int what, const float *sf, const double *sd, double *out) {
    int64_t k = m->n_raw;
    if (m->head == MLI__HEAD_ISOLATION && what != MLI_OUTPUT_RAW) {
        double dec = -exp2(-SCORE(0) / m->iso_norm) - m->iso_offset;
        out[0] = what == MLI_OUTPUT_PREDICT ? (dec >= 0.0 ? 1.0 : 0.0) : dec;
        return;
    }
    if (what == MLI_OUTPUT_RAW || what == MLI_OUTPUT_DECISION || m->head == MLI__HEAD_IDENTITY ||
        (m->head == MLI__HEAD_PROBA && what == MLI_OUTPUT_PROBA)) {
        for (int64_t i = 0; i < k; ++i)
            out[i] = SCORE(i);
        return;
    }
    switch (m->head) {
    case MLI__HEAD_LOGISTIC:
        for (int64_t i = 0; i < k; ++i)
            out[i] = sigmoid(SCORE(i));
        return;
    case MLI__HEAD_EXP:
        for (int64_t i = 0; i < k; ++i)
            out[i] = exp(SCORE(i));
        return;
    case MLI__HEAD_SOFTPLUS: /* log(1 + e^s) without overflow: s + log(1 + e^-s) for s > 0 */
        for (int64_t i = 0; i < k; ++i) {
            double s = SCORE(i);
            out[i] = s > 0.0 ? s + log1p(exp(-s)) : log1p(exp(s));
        }
        return;
    case MLI__HEAD_SIGNED_SQUARE: /* a model fitted to sign(y) sqrt(|y|) */
        for (int64_t i = 0; i < k; ++i)
            out[i] = SCORE(i) * fabs(SCORE(i));
        return;
    case MLI__HEAD_OVR_PROBA: ovr_proba_row(m, what, sf, sd, k, out); return;
    case MLI__HEAD_BINARY_LOGISTIC:
    case MLI__HEAD_BINARY_SIGN:
    case MLI__HEAD_BINARY_MHUBER:
        if (what == MLI_OUTPUT_PREDICT) {
            out[0] = SCORE(0) > 0.0 || (m->zero_positive && SCORE(0) == 0.0) ? 1.0 : 0.0;
        } else {
            double p = m->head == MLI__HEAD_BINARY_LOGISTIC ? sigmoid(SCORE(0)) : (clip1(SCORE(0)) + 1.0) / 2.0;
            out[0] = 1.0 - p;
            out[1] = p;
        }
        return;
    default: break;
    }
    if (what == MLI_OUTPUT_PREDICT) {
        out[0] = (double)argmax(sf, sd, k);
        return;
    }
    double sum = 0.0;
    if (m->head == MLI__HEAD_MULTINOMIAL) {
        double mx = -INFINITY;
        for (int64_t i = 0; i < k; ++i)
            mx = SCORE(i) > mx ? SCORE(i) : mx;
        for (int64_t i = 0; i < k; ++i)
            sum += out[i] = exp(SCORE(i) - mx);
    } else if (m->head == MLI__HEAD_OVR_SIGMOID) { /* K independent sigmoids, as LightGBM's multiclassova */
        for (int64_t i = 0; i < k; ++i)
            out[i] = sigmoid(SCORE(i));
        return;
    } else { /* ovr logistic or modified huber: all-zero rows become uniform, as in scikit-learn */
        for (int64_t i = 0; i < k; ++i)
            sum += out[i] = m->head == MLI__HEAD_OVR_LOGISTIC ? sigmoid(SCORE(i)) : (clip1(SCORE(i)) + 1.0) / 2.0;
        if (sum == 0.0) {
            for (int64_t i = 0; i < k; ++i)
                out[i] = 1.0;
            sum = (double)k;
        }
    }
    for (int64_t i = 0; i < k; ++i)
        out[i] /= sum;
}
#undef SCORE

/* Scratch bytes for a block of `block` rows. */
static size_t align64(size_t n) { return (n + 63) & ~(size_t)63; }

/* A tree model's scratch: the scores, the scaled input (with affine stages), the walk's. */
static size_t scores_bytes(const mli_model *m, int64_t block) {
    return align64(sizeof(double) * (size_t)(block * m->n_raw));
}
static size_t scaled_bytes(const mli_model *m, int64_t block) {
    return m->n_affine ? align64(sizeof(double) * (size_t)(block * m->n_in_model)) : 0;
}
/* The prep stage's: its registers and its output rows. */
static size_t prep_bytes(const mli_model *m, int64_t block) {
    return m->prep ? align64(sizeof(double) * (size_t)block * (size_t)(m->prep->n_regs + m->prep->n_out)) : 0;
}

static size_t scratch_bytes(const mli_model *m, int64_t block) {
    if (m->trees)
        return prep_bytes(m, block) + scores_bytes(m, block) + scaled_bytes(m, block) +
               mli__trees_scratch(m->trees, block);
    return prep_bytes(m, block) + sizeof(float) * 2 * (size_t)block * (size_t)m->width_max;
}

/* Whether the prep stage hands float32 to the model stages: a linear or MLP stage next, or a
 * trees stage that compares float32(x) (scikit-learn's trees, XGBoost), which would round the
 * rows itself: one pass over them less (a forest after a text op reads thousands of columns).
 * An affine stage, and a trees stage comparing in float64 or with linear leaves (LightGBM),
 * get float64. */
static int prep_f32(const mli_model *m) {
    return m->n_affine == 0 && (!m->trees || (!m->trees->needs_f64 && !m->trees->lin_const));
}

/* Records `row` as failing unless an earlier row already did. */
static void note_bad_row(predict_job *j, int64_t row) {
    long long cur = atomic_load(&j->bad_row);
    while (row < cur && !atomic_compare_exchange_weak(&j->bad_row, &cur, row)) {
    }
}

/* Records the first of nb rows of k float32 scores (row i at s[i * rs], score c at s[c * cs])
 * that is infinite or NaN: the float32 arithmetic of a linear or MLP stage overflowed, where
 * scikit-learn's float64 gives a number (its inputs are finite: the others are refused before);
 * 0, or 1 when there is one. */
static int scores_overflow(predict_job *j, int64_t r, const float *s, int64_t nb, int64_t k, int64_t rs, int64_t cs) {
    for (int64_t i = 0; i < nb; ++i) {
        float acc = 0.0f;
        for (int64_t c = 0; c < k; ++c)
            acc += s[i * rs + c * cs] * 0.0f;
        if (acc != 0.0f) {
            long long cur = atomic_load(&j->overflow);
            while (r + i < cur && !atomic_compare_exchange_weak(&j->overflow, &cur, r + i)) {
            }
            return 1;
        }
    }
    return 0;
}

/* The prep stage over rows [r, r + nb) into rows of n_out values; 0, or 1 when a row fails
 * (recorded in j->bad_row): a bad value, or, for a model that cannot take them, a missing or
 * infinite value reaching the model. */
static int prep_block(predict_job *j, int64_t r, int64_t nb, double *pre) {
    const mli__prep *p = j->m->prep;
    if (atomic_load_explicit(&j->bad_row, memory_order_relaxed) < r)
        return 1; /* an earlier row failed: nothing after it matters */
    /* the dense stages take float32: the prep stage's outputs are rounded as it writes them */
    float *pre32 = prep_f32(j->m) ? (float *)pre : NULL;
    int64_t bad = mli__prep_block(j->call, r, nb, j->m->finite_only, pre + nb * p->n_out, pre, pre32);
    if (bad >= 0) {
        note_bad_row(j, bad);
        return 1;
    }
    return 0;
}

/* Rows [r, r + nb) of a prep model whose one linear stage sums the prep registers
 * (m->prep->lin): scores, then the head; 0, or 1 when a row fails (as prep_block). */
static int linear_block(predict_job *j, int64_t r, int64_t nb, double *work, void *scratch, int64_t block) {
    const mli_model *m = j->m;
    const int64_t n_k = m->prep->lin->n_k;
    float *cols = scratch, *rows = cols + block * m->width_max; /* scores k x nb, then nb x k */
    if (atomic_load_explicit(&j->bad_row, memory_order_relaxed) < r)
        return 1;
    int64_t bad = mli__prep_block_linear(j->call, r, nb, work, cols);
    if (bad >= 0) {
        note_bad_row(j, bad);
        return 1;
    }
    if (n_k > 1)
        for (int64_t i = 0; i < nb; ++i)
            for (int64_t k = 0; k < n_k; ++k)
                rows[i * n_k + k] = cols[k * nb + i];
    const float *s = n_k > 1 ? rows : cols;
    if (scores_overflow(j, r, s, nb, n_k, n_k, 1))
        return 1;
    for (int64_t i = 0; i < nb; ++i)
        mli__head_row(m, j->what, s + i * n_k, NULL, j->out + (r + i) * j->out_cols);
    return 0;
}

/* Whether the model refuses value v (m->input_check): an infinity or a number float32 rounds to
 * one (the dense stages compute in float32; scikit-learn's trees take float32), and NaN unless
 * MLI__CHECK_FINITE_NAN. */
static inline int refused(int check, double v) {
    return check == MLI__CHECK_FINITE_NAN ? fabs(v) >= MLI__F32_OVERFLOW : !(fabs(v) < MLI__F32_OVERFLOW);
}

/* The value of row r, column c of the caller's rows that the model stages get: after the
 * scalers for a trees stage (its check is on float32 of what scikit-learn hands the trees),
 * else the row's own (the dense stages' check is on their input). */
static double checked_value(const mli_model *m, const rows_in *in, int64_t r, int64_t c) {
    return m->trees && m->n_affine ? affine_value(m, in, r, c) : input_at(in, r, c);
}

/* The first row in [r, r + nb) of the caller's rows holding a value the model refuses
 * (refused(), m->input_check), or -1. */
static int64_t first_nonfinite_row(const mli_model *m, const rows_in *in, int64_t r, int64_t nb) {
    const int64_t n = m->n_features;
    const int check = m->input_check;
    for (int64_t i = r; i < r + nb; ++i) {
        int bad = 0;
        if (m->trees && m->n_affine) {
            for (int64_t c = 0; c < n; ++c)
                bad |= refused(check, checked_value(m, in, i, c));
        } else if (in->f64) {
            const double *row = (const double *)in->x + i * in->ldx;
            for (int64_t c = 0; c < n; ++c)
                bad |= refused(check, row[c]);
        } else {
            const float *row = (const float *)in->x + i * in->ldx;
            for (int64_t c = 0; c < n; ++c)
                bad |= refused(check, (double)row[c]);
        }
        if (bad)
            return i;
    }
    return -1;
}

static void run_rows_with(predict_job *j, int64_t r0, int64_t r1, void *scratch, int64_t block) {
    const mli_model *m = j->m;
    double *pre = scratch;
    scratch = (char *)scratch + prep_bytes(m, block);
    for (int64_t r = r0; r < r1; r += block) {
        int64_t nb = r1 - r < block ? r1 - r : block, ld;
        rows_in in = {.x = j->x, .f64 = j->f64, .ldx = j->ldx};
        int64_t base = r; /* the first row of `in` */
        if (atomic_load_explicit(&j->bad_row, memory_order_relaxed) < r)
            return; /* an earlier row failed: nothing after it matters */
        if (m->input_check != MLI__CHECK_NONE && !m->trees) {
            /* A linear model or MLP cannot take NaN or infinity: scikit-learn refuses such
             * input, and its arithmetic would turn a missing value into class 0. (A trees
             * stage checks its own input as it reads it, below.) */
            int64_t bad = first_nonfinite_row(m, &in, r, nb);
            if (bad >= 0) {
                note_bad_row(j, bad);
                return;
            }
        }
        if (m->prep && m->prep->lin) { /* the linear stage summed from the prep registers (prep/linear.c) */
            if (linear_block(j, r, nb, pre, scratch, block))
                return;
            continue;
        }
        if (m->prep) {
            if (prep_block(j, r, nb, pre))
                return;
            in = (rows_in){.x = pre, .f64 = !prep_f32(m), .ldx = m->prep->n_out};
            base = 0;
        }
        if (m->trees) {
            double *scores = scratch;
            char *ts = (char *)scratch + scores_bytes(m, block);
            int refused;
            if (m->n_affine) { /* scaled in float64 first, as scikit-learn hands the trees its output */
                double *xs = (double *)(void *)ts;
                ts += scaled_bytes(m, block);
                affine_rows_f64(m, &in, base, nb, xs);
                refused = mli__trees_scores(m->trees, j->kt, xs, 1, m->n_in_model, nb, scores, ts);
            } else {
                size_t es = in.f64 ? sizeof(double) : sizeof(float);
                refused = mli__trees_scores(m->trees, j->kt, (const char *)in.x + (size_t)(base * in.ldx) * es, in.f64,
                                            in.ldx, nb, scores, ts);
            }
            if (refused) { /* scikit-learn's trees refuse an infinity, GradientBoosting NaN too */
                int64_t bad = first_nonfinite_row(m, &in, r, nb);
                note_bad_row(j, bad >= 0 ? bad : r); /* (the same test: bad >= 0) */
                return;
            }
            for (int64_t i = 0; i < nb; ++i)
                mli__head_row(m, j->what, NULL, scores + i * m->n_raw, j->out + (r + i) * j->out_cols);
            continue;
        }
        float *buf[2] = {scratch, (float *)scratch + block * m->width_max};
        const float *scores = forward(m, j->kt, &in, base, nb, buf, &ld);
        if (scores_overflow(j, r, scores, nb, m->n_raw, ld, 1))
            return;
        for (int64_t i = 0; i < nb; ++i)
            mli__head_row(m, j->what, scores + i * ld, NULL, j->out + (r + i) * j->out_cols);
    }
}

/* A pool task: blocks [b0, b1) of MLI_BLOCK_ROWS rows (the last one clipped at the
 * input's end), with scratch of its own. */
static void run_blocks(void *ctx, int64_t b0, int64_t b1) {
    predict_job *j = ctx;
    int64_t r0 = b0 * MLI_BLOCK_ROWS, end = b1 * MLI_BLOCK_ROWS < j->rows ? b1 * MLI_BLOCK_ROWS : j->rows;
    if (j->apply && j->m->prep) { /* the prep stage's rows (scaled when affine stages follow), then the walk */
        const mli_model *m = j->m;
        int64_t block = end - r0 < MLI_BLOCK_ROWS ? end - r0 : MLI_BLOCK_ROWS;
        double *pre = NULL;
        if (posix_memalign((void **)&pre, 64, prep_bytes(m, block) + scaled_bytes(m, block)) != 0) {
            atomic_store(&j->oom, 1);
            return;
        }
        double *xs = (double *)(void *)((char *)pre + prep_bytes(m, block));
        for (int64_t r = r0; r < end; r += block) {
            int64_t nb = end - r < block ? end - r : block;
            if (prep_block(j, r, nb, pre))
                break;
            const void *rows = pre;
            int f64 = !prep_f32(m);
            if (m->n_affine) {
                rows_in in = {.x = pre, .f64 = 1, .ldx = m->prep->n_out};
                affine_rows_f64(m, &in, 0, nb, xs);
                rows = xs;
                f64 = 1;
            }
            mli__trees_apply(m->trees, rows, f64, m->n_in_model, nb, j->apply + r * m->trees->n_trees);
        }
        free(pre);
        return;
    }
    if (j->apply) { /* the generic walk: no scratch, but for scaled rows */
        rows_in raw = {.x = j->x, .f64 = j->f64, .ldx = j->ldx};
        int64_t bad = j->m->input_check ? first_nonfinite_row(j->m, &raw, r0, end - r0) : -1;
        if (bad >= 0) { /* refused as predict refuses it */
            note_bad_row(j, bad);
            return;
        }
        if (j->m->n_affine) {
            int64_t nb = end - r0;
            double *xs = malloc(sizeof(double) * (size_t)(nb * j->m->n_features));
            if (!xs) {
                atomic_store(&j->oom, 1);
                return;
            }
            affine_rows_f64(j->m, &raw, r0, nb, xs);
            mli__trees_apply(j->m->trees, xs, 1, j->m->n_features, nb, j->apply + r0 * j->m->trees->n_trees);
            free(xs);
            return;
        }
        size_t es = j->f64 ? sizeof(double) : sizeof(float);
        mli__trees_apply(j->m->trees, (const char *)j->x + (size_t)(r0 * j->ldx) * es, j->f64, j->ldx, end - r0,
                         j->apply + r0 * j->m->trees->n_trees);
        return;
    }
    /* Scratch for the rows this task was given, not a whole block: one row on a model with
     * millions of features must not ask for 64 rows' worth. */
    int64_t block = end - r0 < MLI_BLOCK_ROWS ? end - r0 : MLI_BLOCK_ROWS;
    void *scratch = NULL;
    if (posix_memalign(&scratch, 64, scratch_bytes(j->m, block)) != 0) {
        atomic_store(&j->oom, 1);
        return;
    }
    run_rows_with(j, r0, end, scratch, block);
    free(scratch);
}

static const char *source_of(const mli_model *m) {
    const char *src = mli_model_meta(m, "source");
    return src ? src : "unknown source";
}

mli_status mli__check_output(const char *fn, const mli_model *m, mli_output what) {
    if (!m)
        return mli__fail(MLI_ERR_INVALID_ARGUMENT, "%s: model is NULL", fn);
    if ((unsigned)what > MLI_OUTPUT_RAW)
        return mli__fail(MLI_ERR_INVALID_ARGUMENT, "%s: what (%d) is not an mli_output value", fn, (int)what);
    if (what == MLI_OUTPUT_PROBA && !m->has_proba)
        return mli__fail(MLI_ERR_UNSUPPORTED, "%s: this model (%s) has no predict_proba", fn, source_of(m));
    if (what == MLI_OUTPUT_DECISION && m->n_decision == 0)
        return mli__fail(MLI_ERR_UNSUPPORTED, "%s: this model (%s) has no decision_function", fn, source_of(m));
    return MLI_OK;
}

mli_status mli__check_predict(const char *fn, const mli_model *m, mli_output what, int64_t cols, const void *x,
                              mli_dtype dtype, int64_t rows, int64_t ldx, const void *out, int64_t out_len,
                              int64_t *need) {
    if (!m)
        return mli__fail(MLI_ERR_INVALID_ARGUMENT, "%s: model is NULL", fn);
    if (dtype != MLI_F32 && dtype != MLI_F64)
        return mli__fail(MLI_ERR_INVALID_ARGUMENT, "%s: dtype (%d) is neither MLI_F32 nor MLI_F64", fn, (int)dtype);
    if (rows < 0)
        return mli__fail(MLI_ERR_INVALID_ARGUMENT, "%s: rows (%lld) is negative", fn, (long long)rows);
    if (ldx < m->n_features)
        return mli__fail(MLI_ERR_SHAPE, "%s: ldx (%lld) is smaller than the model's %lld features", fn, (long long)ldx,
                         (long long)m->n_features);
    mli_status st = mli__check_output(fn, m, what);
    if (st != MLI_OK)
        return st;
    int64_t extent;
    if (!mli__mul_ok(rows, cols, need) ||
        (rows > 0 && (!mli__mul_ok(rows - 1, ldx, &extent) || !mli__mul_ok(extent + m->n_features, 8, &extent))))
        return mli__fail(MLI_ERR_INVALID_ARGUMENT, "%s: %lld rows overflow the addressable size", fn, (long long)rows);
    if (rows == 0)
        return MLI_OK;
    if (!x)
        return mli__fail(MLI_ERR_INVALID_ARGUMENT, "%s: x is NULL but rows is %lld", fn, (long long)rows);
    if (!out)
        return mli__fail(MLI_ERR_INVALID_ARGUMENT, "%s: out is NULL", fn);
    if (out_len < *need)
        return mli__fail(MLI_ERR_SHAPE, "%s: out holds %lld values but %lld rows x %lld columns need %lld", fn,
                         (long long)out_len, (long long)rows, (long long)cols, (long long)*need);
    return MLI_OK;
}

/* The message for the first failing row of a prep model: a bad value, or a value the model
 * stages cannot take (NaN or infinity reaching a linear model or an MLP). */
mli_status mli__prep_input_error(const char *fn, const mli_model *m, const mli__prep_call *call, int64_t row) {
    const mli__prep *p = m->prep;
    if (!p)
        return mli__fail(MLI_ERR_INTERNAL, "%s: row %lld failed", fn, (long long)row);
    double *work = malloc(sizeof(double) * (size_t)(p->n_regs + p->n_out));
    if (!work)
        return mli__fail(MLI_ERR_OUT_OF_MEMORY, "%s: out of memory", fn);
    int64_t op = -1;
    mli_status rc;
    if (mli__prep_row(call, row, work, work + p->n_regs, &op) != 0) {
        rc = mli__prep_row_error(fn, call, row, op);
    } else {
        int64_t c = 0;
        while (c < p->n_out - 1 && fabs(work[p->n_regs + c]) < MLI__F32_OVERFLOW)
            ++c;
        int64_t col = p->out_col[c];
        const char *name = m->feature_names && col >= 0 ? m->feature_names[col] : "?";
        double v = work[p->n_regs + c];
        if (isfinite(v))
            rc = mli__fail(MLI_ERR_INPUT,
                           "%s: column '%s', row %lld: %g reaches the model (feature %lld after preprocessing), "
                           "beyond float32's range, in which %s computes (scikit-learn computes in float64 and "
                           "would give another answer); scale the column in the pipeline",
                           fn, name, (long long)row, v, (long long)c, source_of(m));
        else
            rc = mli__fail(MLI_ERR_INPUT,
                           "%s: column '%s', row %lld: %s reaches the model (feature %lld after preprocessing), and "
                           "%s cannot take %s values, as in scikit-learn; impute the column in the pipeline",
                           fn, name, (long long)row, isnan(v) ? "a missing value (NaN)" : "an infinite value",
                           (long long)c, source_of(m), isnan(v) ? "missing" : "infinite");
    }
    free(work);
    return rc;
}

/* The message for rows of numbers holding NaN or an infinity given to a model that cannot
 * take them: the row, the column (and its name), the value. */
static mli_status nonfinite_error(const char *fn, const mli_model *m, const predict_job *j, int64_t row) {
    const rows_in in = {.x = j->x, .f64 = j->f64, .ldx = j->ldx};
    int64_t c = 0;
    double v = 0;
    for (; c < m->n_features; ++c) {
        v = checked_value(m, &in, row, c);
        if (refused(m->input_check, v))
            break;
    }
    const char *name = m->feature_names && c < m->n_features ? m->feature_names[c] : NULL;
    if (m->trees) { /* scikit-learn's trees and GradientBoosting: check_array to float32 */
        char scaled[64] = "";
        if (m->n_affine && isfinite(input_at(&in, row, c))) /* finite, then out of range once scaled */
            snprintf(scaled, sizeof scaled, " (%.17g before the scaling)", input_at(&in, row, c));
        return mli__fail(MLI_ERR_INPUT,
                         "%s: row %lld, column %lld%s%s%s holds %s%s, and %s refuses %s, as scikit-learn does (its "
                         "trees take their input as float32)%s",
                         fn, (long long)row, (long long)c, name ? " ('" : "", name ? name : "", name ? "')" : "",
                         isnan(v)   ? "a missing value (NaN)"
                         : isinf(v) ? "an infinite value"
                                    : "a number beyond float32's range",
                         scaled, source_of(m),
                         isnan(v) ? "missing values" : "infinite values and numbers beyond float32's range",
                         isnan(v) ? "; impute them first, or use HistGradientBoosting, which takes them" : "");
    }
    if (isfinite(v))
        return mli__fail(MLI_ERR_INPUT,
                         "%s: row %lld, column %lld%s%s%s holds %g, beyond float32's range, in which %s computes "
                         "(scikit-learn computes in float64 and would give another answer); scale it first",
                         fn, (long long)row, (long long)c, name ? " ('" : "", name ? name : "", name ? "')" : "", v,
                         source_of(m));
    return mli__fail(MLI_ERR_INPUT,
                     "%s: row %lld, column %lld%s%s%s holds %s, and %s cannot take %s values, as scikit-learn refuses "
                     "them; impute them first (a SimpleImputer in the pipeline)",
                     fn, (long long)row, (long long)c, name ? " ('" : "", name ? name : "", name ? "')" : "",
                     isnan(v) ? "a missing value (NaN)" : "an infinite value", source_of(m),
                     isnan(v) ? "missing" : "infinite");
}

/* MLI_ERR_INPUT naming the first row whose float32 scores overflowed, else MLI_OK. */
static mli_status overflow_error(const char *fn, const mli_model *m, predict_job *j) {
    long long row = atomic_load(&j->overflow);
    if (row == INT64_MAX)
        return MLI_OK;
    return mli__fail(MLI_ERR_INPUT,
                     "%s: row %lld: the scores of %s overflow float32, in which it computes (scikit-learn computes "
                     "in float64 and gives a number); scale the input",
                     fn, row, source_of(m));
}

mli_status mli__check_finite(const char *fn, const mli_model *m, const void *x, int f64, int64_t rows, int64_t ldx) {
    if (m->input_check == MLI__CHECK_NONE)
        return MLI_OK;
    rows_in in = {.x = x, .f64 = f64, .ldx = ldx};
    int64_t bad = first_nonfinite_row(m, &in, 0, rows);
    if (bad < 0)
        return MLI_OK;
    predict_job j = {.m = m, .x = x, .f64 = f64, .ldx = ldx};
    return nonfinite_error(fn, m, &j, bad);
}

static mli_status run_call(const char *fn, const mli_model *m, const mli__prep_call *call, const void *x,
                           mli_dtype dtype, int64_t rows, int64_t ldx, double *out, int64_t *apply, int64_t cols,
                           int what) {
    const mli__kernels *kt = mli__get_kernels();
    if (!kt)
        return MLI_ERR_UNSUPPORTED;

    predict_job j = {.m = m,
                     .kt = kt,
                     .x = x,
                     .f64 = dtype == MLI_F64,
                     .ldx = ldx,
                     .what = what,
                     .out = out,
                     .apply = apply,
                     .out_cols = cols,
                     .rows = rows,
                     .call = call};
    atomic_init(&j.oom, 0);
    atomic_init(&j.bad_row, INT64_MAX);
    atomic_init(&j.overflow, INT64_MAX);
    int64_t blocks = (rows + MLI_BLOCK_ROWS - 1) / MLI_BLOCK_ROWS;
    if (blocks == 1 || mli__num_threads() == 1) {
        int64_t block = rows < MLI_BLOCK_ROWS ? rows : MLI_BLOCK_ROWS;
        if (!apply && scratch_bytes(m, block) <= sizeof(float) * MLI_STACK_FLOATS) { /* the one-row path: no heap */
            _Alignas(64) float stack[MLI_STACK_FLOATS];
            run_rows_with(&j, 0, rows, stack, block);
            long long bad = atomic_load(&j.bad_row);
            if (bad != INT64_MAX)
                return call ? mli__prep_input_error(fn, m, call, bad) : nonfinite_error(fn, m, &j, bad);
            return overflow_error(fn, m, &j);
        }
        run_blocks(&j, 0, blocks);
    } else {
        mli__parallel_for_parts(blocks, 2, MLI_PARTS_PER_THREAD, run_blocks, &j);
    }
    long long bad = atomic_load(&j.bad_row);
    if (bad != INT64_MAX) /* before the out-of-memory check: the input's fault is reported first */
        return call ? mli__prep_input_error(fn, m, call, bad) : nonfinite_error(fn, m, &j, bad);
    if (atomic_load(&j.oom))
        return mli__fail(MLI_ERR_OUT_OF_MEMORY, "%s: cannot allocate scratch for a block of rows", fn);
    return overflow_error(fn, m, &j);
}

static mli_status run(const char *fn, const mli_model *m, const void *x, mli_dtype dtype, int64_t rows, int64_t ldx,
                      double *out, int64_t *apply, int64_t out_len, int what) {
    int64_t cols = mli_model_output_len(m, what), need;
    if (m && apply) {
        if (!m->trees)
            return mli__fail(MLI_ERR_UNSUPPORTED, "%s: this model (%s) has no trees", fn, source_of(m));
        cols = m->trees->n_trees;
    }
    mli_status st =
        mli__check_predict(fn, m, what, cols, x, dtype, rows, ldx, apply ? (const void *)apply : out, out_len, &need);
    if (st != MLI_OK || rows == 0)
        return st;
    if (!m->prep)
        return run_call(fn, m, NULL, x, dtype, rows, ldx, out, apply, cols, what);
    /* a prep model given a numeric matrix: its columns are the model's columns */
    mli__prep_call call = {.p = m->prep, .names = (const char *const *)m->feature_names, .rows = rows};
    st = mli__prep_call_matrix(fn, &call, x, dtype == MLI_F64, ldx);
    if (st == MLI_OK)
        st = run_call(fn, m, &call, NULL, MLI_F64, rows, 0, out, apply, cols, what);
    mli__prep_call_free(&call);
    return st;
}

/* predict_columns for a model without a prep stage: the columns gathered into a matrix. */
mli_status mli__columns_to_matrix(const char *fn, const mli_model *m, const mli_column *given, int64_t n_given,
                                  int64_t rows, double **xout) {
    int64_t n = m->n_features, cells;
    if (!mli__mul_ok(rows, n, &cells) || !mli__mul_ok(cells, 8, &cells))
        return mli__fail(MLI_ERR_INVALID_ARGUMENT, "%s: %lld rows overflow the addressable size", fn, (long long)rows);
    double *x = malloc((size_t)(cells ? cells : 8));
    uint8_t *seen = calloc((size_t)n, 1);
    mli_status rc = x && seen ? MLI_OK : mli__fail(MLI_ERR_OUT_OF_MEMORY, "%s: out of memory", fn);
    for (int64_t i = 0; i < n_given && rc == MLI_OK; ++i) {
        const mli_column *g = &given[i];
        int64_t c = g->index;
        if (g->name && mli_model_column_index(m, g->name, &c) != MLI_OK)
            rc = mli__fail(MLI_ERR_INVALID_ARGUMENT, "%s: columns[%lld] is '%.80s', which the model does not have", fn,
                           (long long)i, g->name);
        else if (c < 0 || c >= n)
            rc = mli__fail(MLI_ERR_INVALID_ARGUMENT, "%s: columns[%lld] has index %lld, outside 0..%lld", fn,
                           (long long)i, (long long)c, (long long)n - 1);
        else if (seen[c])
            rc = mli__fail(MLI_ERR_INVALID_ARGUMENT, "%s: column %lld is given twice", fn, (long long)c);
        else if (g->type < MLI_COLUMN_F64 || g->type > MLI_COLUMN_I64 || g->flags)
            rc = mli__fail(g->type == MLI_COLUMN_UTF8 || g->type == MLI_COLUMN_DICT_UTF8 ? MLI_ERR_INPUT
                                                                                         : MLI_ERR_INVALID_ARGUMENT,
                           "%s: column %lld holds numbers in this model but was given with type %d", fn, (long long)c,
                           (int)g->type);
        else if (rows > 0 && !g->values)
            rc = mli__fail(MLI_ERR_INVALID_ARGUMENT, "%s: column %lld: values is NULL", fn, (long long)c);
        if (rc != MLI_OK)
            break;
        seen[c] = 1;
        for (int64_t r = 0; r < rows; ++r) {
            double v = g->type == MLI_COLUMN_F64   ? ((const double *)g->values)[r]
                       : g->type == MLI_COLUMN_F32 ? (double)((const float *)g->values)[r]
                                                   : (double)((const int64_t *)g->values)[r];
            x[r * n + c] = g->validity && !((g->validity[r >> 3] >> (r & 7)) & 1) ? NAN : v;
        }
    }
    for (int64_t c = 0; c < n && rc == MLI_OK; ++c)
        if (!seen[c])
            rc = mli__fail(MLI_ERR_INVALID_ARGUMENT, "%s: column %lld%s%s%s is missing from the input", fn,
                           (long long)c, m->feature_names ? " ('" : "", m->feature_names ? m->feature_names[c] : "",
                           m->feature_names ? "')" : "");
    free(seen);
    if (rc != MLI_OK) {
        free(x);
        return rc;
    }
    *xout = x;
    return MLI_OK;
}

mli_status mli__check_columns_call(const char *fn, int64_t rows, int64_t cols, const mli_column *columns,
                                   int64_t n_columns, const void *out, int64_t out_len) {
    int64_t need;
    if (rows < 0 || n_columns < 0)
        return mli__fail(MLI_ERR_INVALID_ARGUMENT, "%s: %s is negative", fn, rows < 0 ? "rows" : "n_columns");
    if (!mli__mul_ok(rows, cols, &need) || !mli__mul_ok(need, 8, &need) || !mli__mul_ok(rows, cols, &need))
        return mli__fail(MLI_ERR_INVALID_ARGUMENT, "%s: %lld rows overflow the addressable size", fn, (long long)rows);
    if (rows > 0 && !out)
        return mli__fail(MLI_ERR_INVALID_ARGUMENT, "%s: out is NULL", fn);
    if (out_len < need)
        return mli__fail(MLI_ERR_SHAPE, "%s: out holds %lld values but %lld rows x %lld columns need %lld", fn,
                         (long long)out_len, (long long)rows, (long long)cols, (long long)need);
    if (n_columns > 0 && !columns)
        return mli__fail(MLI_ERR_INVALID_ARGUMENT, "%s: columns is NULL but n_columns is %lld", fn,
                         (long long)n_columns);
    return MLI_OK;
}

/* predict_columns and apply_columns: out (doubles) or apply (leaf numbers), cols per row. */
static mli_status columns_run(const char *fn, const mli_model *m, const mli_column *columns, int64_t n_columns,
                              int64_t rows, int what, double *out, int64_t *apply, int64_t cols, int64_t out_len) {
    mli_status st = mli__check_columns_call(fn, rows, cols, columns, n_columns,
                                            apply ? (const void *)apply : (const void *)out, out_len);
    if (st != MLI_OK)
        return st;
    if (!m->prep) {
        double *x = NULL;
        if ((st = mli__columns_to_matrix(fn, m, columns, n_columns, rows, &x)) != MLI_OK)
            return st;
        st = rows == 0 ? MLI_OK : run_call(fn, m, NULL, x, MLI_F64, rows, m->n_features, out, apply, cols, what);
        free(x);
        return st;
    }
    mli__prep_call call = {.p = m->prep, .names = (const char *const *)m->feature_names, .rows = rows};
    st = mli__prep_call_columns(fn, &call, columns, n_columns);
    if (st == MLI_OK && rows > 0)
        st = run_call(fn, m, &call, NULL, MLI_F64, rows, 0, out, apply, cols, what);
    mli__prep_call_free(&call);
    return st;
}

mli_status mli_model_predict_columns(const mli_model *m, const mli_column *columns, int64_t n_columns, int64_t rows,
                                     mli_output what, double *out, int64_t out_len) {
    static const char fn[] = "mli_model_predict_columns";
    mli_status st = mli__check_output(fn, m, what);
    if (st != MLI_OK)
        return st;
    return columns_run(fn, m, columns, n_columns, rows, what, out, NULL, mli_model_output_len(m, what), out_len);
}

mli_status mli_model_apply_columns(const mli_model *m, const mli_column *columns, int64_t n_columns, int64_t rows,
                                   int64_t *out, int64_t out_len) {
    static const char fn[] = "mli_model_apply_columns";
    if (!m)
        return mli__fail(MLI_ERR_INVALID_ARGUMENT, "%s: model is NULL", fn);
    if (!m->trees)
        return mli__fail(MLI_ERR_UNSUPPORTED, "%s: this model (%s) has no trees", fn, source_of(m));
    return columns_run(fn, m, columns, n_columns, rows, MLI_OUTPUT_RAW, NULL, out, m->trees->n_trees, out_len);
}

mli_status mli_model_predict(const mli_model *m, const void *x, mli_dtype dtype, int64_t rows, int64_t ldx, double *out,
                             int64_t out_len) {
    return run("mli_model_predict", m, x, dtype, rows, ldx, out, NULL, out_len, MLI_OUTPUT_PREDICT);
}

mli_status mli_model_predict_proba(const mli_model *m, const void *x, mli_dtype dtype, int64_t rows, int64_t ldx,
                                   double *out, int64_t out_len) {
    return run("mli_model_predict_proba", m, x, dtype, rows, ldx, out, NULL, out_len, MLI_OUTPUT_PROBA);
}

mli_status mli_model_decision_function(const mli_model *m, const void *x, mli_dtype dtype, int64_t rows, int64_t ldx,
                                       double *out, int64_t out_len) {
    return run("mli_model_decision_function", m, x, dtype, rows, ldx, out, NULL, out_len, MLI_OUTPUT_DECISION);
}

mli_status mli_model_predict_raw(const mli_model *m, const void *x, mli_dtype dtype, int64_t rows, int64_t ldx,
                                 double *out, int64_t out_len) {
    return run("mli_model_predict_raw", m, x, dtype, rows, ldx, out, NULL, out_len, MLI_OUTPUT_RAW);
}

mli_status mli_model_apply(const mli_model *m, const void *x, mli_dtype dtype, int64_t rows, int64_t ldx, int64_t *out,
                           int64_t out_len) {
    return run("mli_model_apply", m, x, dtype, rows, ldx, NULL, out, out_len, MLI_OUTPUT_RAW);
}
