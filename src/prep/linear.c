/* prep/linear.c — a linear model stage right after the prep stage, summed from the prep
 * stage's registers column by column (prep.h, mli__prep_linear): the block of registers is
 * never transposed into rows, and a one-hot op that nothing else reads is not run: its code
 * register picks the weight of the one category set. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "prep.h"

void mli__prep_linear_free(mli__prep_linear *l) {
    if (!l)
        return;
    free(l->terms);
    free(l->w);
    free(l->skip);
    free(l);
}

/* Marks the registers that op reads in `read`. */
static void mark_reads(const mli__prep_op *op, uint8_t *read) {
    int64_t n = op->kind == MLI__OP_NORM                                  ? op->count
                : op->kind == MLI__OP_PROJECT || op->kind == MLI__OP_POLY ? op->n_in
                : op->kind == MLI__OP_NUM || op->kind == MLI__OP_STRCAT   ? 0 /* an input column */
                                                                          : 1;
    for (int64_t k = 0; k < n; ++k)
        read[op->src + k] = 1;
}

/* Fills l's terms (l->w sized by the caller's first pass when w is not NULL); returns the
 * number of weights. uses[r]: the outputs that are register r; pos[r]: the last of them;
 * owner[r]: the skipped one-hot op writing r, or -1. */
static int64_t make_terms(const mli__prep *p, mli__prep_linear *l, const float *coef, const int64_t *uses,
                          const int64_t *pos, const int64_t *owner, uint8_t *done) {
    const int64_t n_k = l->n_k, n_in = p->n_out;
    int64_t n_w = 0;
    l->n_terms = 0;
    memset(done, 0, (size_t)p->n_ops);
    for (int64_t c = 0; c < p->n_out; ++c) {
        int64_t reg = p->out_reg[c], o = owner[reg];
        mli__prep_term t = {.reg = reg};
        if (o >= 0) { /* a one-hot op: all its categories here, at its first output */
            const mli__prep_op *op = &p->ops[o];
            if (done[o])
                continue;
            done[o] = 1;
            t = (mli__prep_term){.reg = op->src, .n_codes = op->count};
            for (int64_t code = 0; l->w && code < op->count; ++code)
                for (int64_t k = 0; k < n_k; ++k) {
                    int64_t d = op->dst + code;
                    l->w[n_w + code * n_k + k] = uses[d] ? coef[k * n_in + pos[d]] : 0.0f;
                }
        } else {
            for (int64_t k = 0; l->w && k < n_k; ++k)
                l->w[n_w + k] = coef[k * n_in + c];
        }
        if (l->w) {
            t.w = l->w + n_w;
            l->terms[l->n_terms] = t;
        }
        l->n_terms++;
        n_w += (t.n_codes ? t.n_codes : 1) * n_k;
    }
    return n_w;
}

mli_status mli__prep_linear_build(mli__prep *p, const float *coef, const float *intercept, int64_t n_k) {
    const int64_t n_regs = p->n_regs;
    mli__prep_linear *l = calloc(1, sizeof *l);
    uint8_t *read = calloc((size_t)n_regs, 1), *done = malloc((size_t)p->n_ops);
    int64_t *uses = calloc((size_t)n_regs, sizeof *uses), *pos = malloc(sizeof *pos * (size_t)n_regs);
    int64_t *owner = malloc(sizeof *owner * (size_t)n_regs);
    mli_status rc = MLI_ERR_OUT_OF_MEMORY;
    if (!l || !read || !done || !uses || !pos || !owner || !(l->skip = calloc((size_t)p->n_ops, 1)) ||
        !(l->terms = malloc(sizeof *l->terms * (size_t)p->n_out)))
        goto out;
    l->n_k = n_k;
    l->intercept = intercept;
    for (int64_t o = 0; o < p->n_ops; ++o)
        mark_reads(&p->ops[o], read);
    for (int64_t c = 0; c < p->n_out; ++c) {
        uses[p->out_reg[c]]++;
        pos[p->out_reg[c]] = c;
    }
    for (int64_t r = 0; r < n_regs; ++r)
        owner[r] = -1;
    /* a one-hot op is summed by its code when no op reads its registers and no register is
     * two outputs (a category adds one weight per score) */
    for (int64_t o = 0; o < p->n_ops; ++o) {
        const mli__prep_op *op = &p->ops[o];
        int ok = op->kind == MLI__OP_ONEHOT;
        for (int64_t d = op->dst; ok && d < op->dst + op->count; ++d)
            ok = !read[d] && uses[d] <= 1;
        l->skip[o] = (uint8_t)ok;
        for (int64_t d = op->dst; ok && d < op->dst + op->count; ++d)
            owner[d] = o;
    }
    int64_t n_w = make_terms(p, l, coef, uses, pos, owner, done), n_values = 0;
    if (!(l->w = malloc(sizeof(float) * (size_t)(n_w ? n_w : 1))))
        goto out;
    make_terms(p, l, coef, uses, pos, owner, done);
    for (int64_t t = 0; t < l->n_terms; ++t)
        n_values += l->terms[t].n_codes == 0;
    rc = MLI_OK;
    /* Summed value by value, a score costs a pass over the block per value term, where the row
     * form transposes each output once and runs the ISA's GEMM: with many scores and few one-hot
     * ops that is slower (200 values, 10 classes: 1.7x the row form), so such models keep it. */
    if (n_k * n_values > 2 * p->n_out)
        goto out;
    p->lin = l;
    l = NULL;
out:
    mli__prep_linear_free(l);
    free(read);
    free(done);
    free(uses);
    free(pos);
    free(owner);
    return rc;
}

/* Adds weight w times the float32 value of x[i] to s[i]; returns the first i whose x is NaN,
 * infinite or beyond float32's range (its float32 infinite), or nb. */
static int64_t add_value(const double *x, float w, int64_t nb, float *s) {
    int nonfinite = 0;
    for (int64_t i = 0; i < nb; ++i) {
        float f = (float)x[i];
        s[i] += f * w;
        nonfinite |= f * 0.0f != 0.0f; /* NaN for NaN and +-inf */
    }
    for (int64_t i = 0; nonfinite && i < nb; ++i)
        if (!(fabs(x[i]) < MLI__F32_OVERFLOW))
            return i;
    return nb;
}

int64_t mli__prep_block_linear(const mli__prep_call *call, int64_t r0, int64_t nb, double *work, float *scores) {
    const mli__prep_linear *l = call->p->lin;
    const int64_t n_k = l->n_k;
    int64_t bad = mli__prep_block_ops(call, r0, nb, l->skip, work);
    bad = bad < 0 ? nb : bad;
    for (int64_t i = 0; i < n_k * nb; ++i)
        scores[i] = 0.0f;
    for (int64_t t = 0; t < l->n_terms; ++t) {
        const mli__prep_term *tm = &l->terms[t];
        const double *x = work + tm->reg * nb;
        if (tm->n_codes == 0) {
            for (int64_t k = 0; k < n_k; ++k) {
                int64_t b = add_value(x, tm->w[k], nb, scores + k * nb);
                bad = b < bad ? b : bad;
            }
            continue;
        }
        for (int64_t i = 0; i < nb; ++i) { /* -1 (none set), 0..n_codes-1, NaN after an input error */
            if (!(x[i] >= 0.0))
                continue;
            const float *w = tm->w + (int64_t)x[i] * n_k;
            for (int64_t k = 0; k < n_k; ++k)
                scores[k * nb + i] += w[k];
        }
    }
    for (int64_t k = 0; k < n_k; ++k)
        for (int64_t i = 0; i < nb; ++i)
            scores[k * nb + i] += l->intercept[k];
    return bad < nb ? r0 + bad : -1;
}
