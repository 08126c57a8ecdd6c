/* table.c (avx512) — fills the avx512 kernel table. */
#include "avx512/simd.h"
#include "generic/decls.h"

void mli__kernels_init_avx512(mli__kernels *t) {
    MLI_KERNEL_TABLE_INIT(t);
    t->tree_mask_leaves = MLI__TWIDE_LEAVES; /* trees.c: wide_tiles */
}
