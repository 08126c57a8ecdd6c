/* cuda_trees.c — a tree stage as the GPU kernels read it: the file's node arrays packed
 * into one 32-byte record per node for the generic walk, beside the compact form the CPU
 * built at load (src/trees/build.c), which the GPU walks as it is. */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "cuda_trees.h"

/* Layouts the kernels (kernels/cuda/tree_row.cuh) read as they are laid out here. */
_Static_assert(sizeof(mli__tnode) == 8 && offsetof(mli__tnode, fr) == 4,
               "tree_row.cuh loads a compact node as one 8-byte {thr, fr}");
_Static_assert(sizeof(mli__cuda_gnode) == 32, "a generic node is one 32-byte record on the device");
_Static_assert(MLI__TF_NEGATIVE_OUT < 256, "flags_words keeps every MLI__TF_* flag in its low 8 bits");

mli_status mli__cuda_trees_view(const mli__trees *t, mli__cuda_trees *out, mli__cuda_gnode **nodes) {
    memset(out, 0, sizeof *out);
    *nodes = NULL;
    mli__cuda_gnode *nd = malloc(sizeof *nd * (size_t)t->n_nodes);
    if (!nd)
        return mli__fail(MLI_ERR_OUT_OF_MEMORY, "mli_model_to_device: out of memory for %lld tree nodes",
                         (long long)t->n_nodes);
    for (int64_t g = 0; g < t->n_nodes; ++g) {
        int32_t words = t->cat_words ? t->cat_words[g] : 0;
        if (words >= (1 << 24)) {
            free(nd);
            return mli__fail(MLI_ERR_UNSUPPORTED,
                             "mli_model_to_device: tree node %lld has a categorical bitset of "
                             "%d words; the GPU kernel takes at most 2^24 - 1",
                             (long long)g, words);
        }
        nd[g] = (mli__cuda_gnode){.threshold = t->threshold[g],
                                  .feature = t->feature[g],
                                  .left = t->left[g],
                                  .right = t->right[g],
                                  .flags_words = t->flags[g] | (uint32_t)words << 8,
                                  .cat_offset = t->cat_offset ? t->cat_offset[g] : 0};
    }
    *out = (mli__cuda_trees){.n_features = t->n_features,
                             .n_out = t->n_out,
                             .leaf_width = t->leaf_width,
                             .n_trees = t->n_trees,
                             .compare = t->compare,
                             .mean = t->mean,
                             .needs_f64 = t->needs_f64,
                             .tree_start = t->tree_start,
                             .tree_out = t->tree_out,
                             .nodes = nd,
                             .value = t->value,
                             .cat_bits = t->cat_bits,
                             /* the device's compact rows have no +inf fix-up (trees.h, inf_feature):
                                such models walk generically there, as before */
                             .fast = t->inf_feature ? NULL : t->fast,
                             .fast_value = t->fast_value,
                             .depth = t->depth,
                             .base = t->base};
    *nodes = nd;
    return MLI_OK;
}
