/* cuda_head.h — the head of a model (link functions, argmax) over scores copied back
 * from the GPU, on the host. Internal. */
#ifndef MLI_CUDA_HEAD_H
#define MLI_CUDA_HEAD_H

#include "model.h"

/* One row's outputs `what` (an mli_output) from its scores: sf (float32, the dense
 * stages) or, when sf is NULL, sd (float64, a tree stage); n_raw values either way.
 * The rules and the arithmetic are those of head_row in src/predict.c, so that outputs
 * computed from the same scores are bit for bit those of the CPU path. */
void mli__cuda_head_row(const mli_model *m, int what, const float *sf, const double *sd, double *out);

#endif
