/* table.c (scalar) — fills the portable kernel table. */
#include "scalar/simd.h"
#include "generic/decls.h"

void mli__kernels_init_scalar(mli__kernels *t) { MLI_KERNEL_TABLE_INIT(t); }
