/* shap.c (avx512) — the tree-shared TreeSHAP walk (kernels/generic/shap_walk.h) at this ISA. */
#include "avx512/simd.h"
#include "generic/decls.h"
#include "generic/shap_walk.h"

void MLI_KNAME(shap_walk)(const mli__shap_walk *w) { mli__shap_walk_body(w); }
