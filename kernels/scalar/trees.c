/* trees.c (scalar) — compact tree walks with the portable lock-step code. */
#include "scalar/simd.h"
#include "generic/decls.h"
#include "generic/tree_walk.h"

void MLI_KNAME(tree_walk)(const mli__tree_walk *w) { mli__walk_portable(w, 0); }
