/* table.c (avx2) — fills the avx2 kernel table. */
#include "avx2/simd.h"
#include "generic/decls.h"

void mli__kernels_init_avx2(mli__kernels *t) { MLI_KERNEL_TABLE_INIT(t); }
