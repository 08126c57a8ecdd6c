/* cuda_trees.h — a tree stage (src/trees/trees.h) in the form the GPU kernels read
 * (kernels/cuda/cuda_kernels.h). Internal. */
#ifndef MLI_CUDA_TREES_H
#define MLI_CUDA_TREES_H

#include "cuda/cuda_kernels.h"
#include "trees/trees.h"

/* Fills *out with the scalars of `t` and pointers to its host arrays, and *nodes with a
 * malloc'd array of its t->n_nodes generic nodes (out->nodes points there; the caller
 * frees it). max_smem_optin is left 0. MLI_ERR_UNSUPPORTED for a categorical bitset of
 * 2^24 words or more (the node record keeps 24 bits for its length). */
mli_status mli__cuda_trees_view(const mli__trees *t, mli__cuda_trees *out, mli__cuda_gnode **nodes);

#endif
