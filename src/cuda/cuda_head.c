/* cuda_head.c — the model heads over scores computed on the GPU. This is the rule set of
 * head_row in src/predict.c, kept in step with it by tests/cuda/test_cuda_head.c, which
 * checks every output of every test model against the CPU path bit for bit (it runs
 * without a GPU). When predict.c exposes its head (mli__head_row), this file goes. */
#include <math.h>

#include "cuda_head.h"

enum { OUT_PREDICT = 0, OUT_PROBA = 1, OUT_DECISION = 2, OUT_RAW = 3 }; /* mli_output */

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

void mli__cuda_head_row(const mli_model *m, int what, const float *sf, const double *sd, double *out) {
    int64_t k = m->n_raw;
    if (m->head == MLI__HEAD_ISOLATION && what != OUT_RAW) {
        double dec = -exp2(-SCORE(0) / m->iso_norm) - m->iso_offset;
        out[0] = what == OUT_PREDICT ? (dec >= 0.0 ? 1.0 : 0.0) : dec;
        return;
    }
    if (what == OUT_RAW || what == OUT_DECISION || m->head == MLI__HEAD_IDENTITY ||
        (m->head == MLI__HEAD_PROBA && what == OUT_PROBA)) {
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
    case MLI__HEAD_BINARY_LOGISTIC:
    case MLI__HEAD_BINARY_SIGN:
    case MLI__HEAD_BINARY_MHUBER:
        if (what == OUT_PREDICT) {
            out[0] = SCORE(0) > 0.0 || (m->zero_positive && SCORE(0) == 0.0) ? 1.0 : 0.0;
        } else {
            double p = m->head == MLI__HEAD_BINARY_LOGISTIC ? sigmoid(SCORE(0)) : (clip1(SCORE(0)) + 1.0) / 2.0;
            out[0] = 1.0 - p;
            out[1] = p;
        }
        return;
    default: break;
    }
    if (what == OUT_PREDICT) {
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
    } else if (m->head == MLI__HEAD_OVR_LOGISTIC) {
        for (int64_t i = 0; i < k; ++i)
            sum += out[i] = sigmoid(SCORE(i));
    } else { /* ovr modified huber: all-zero rows become uniform, as in scikit-learn */
        for (int64_t i = 0; i < k; ++i)
            sum += out[i] = (clip1(SCORE(i)) + 1.0) / 2.0;
        if (sum == 0.0) {
            for (int64_t i = 0; i < k; ++i)
                out[i] = 1.0;
            sum = (double)k;
        }
    }
    for (int64_t i = 0; i < k; ++i)
        out[i] /= sum;
}
