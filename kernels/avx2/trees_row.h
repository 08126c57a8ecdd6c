/* trees_row.h (avx2) — the few-rows tree walk of trees_row.c, called by the AVX2
 * tree_walk (trees.c) for blocks under 8 rows. Include after simd.h. */
#ifndef MLI_AVX2_TREES_ROW_H
#define MLI_AVX2_TREES_ROW_H

#include "generic/decls.h"

/* Rows [0, w->nb) through every tree of w, each row 8 trees per vector (any w->nb; meant
 * for few rows). Same results as the other walks, sums bit for bit. */
void MLI_KNAME(tree_walk_few)(const mli__tree_walk *w);

#endif
