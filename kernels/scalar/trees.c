/* trees.c (scalar) — compact tree walks with the portable lock-step code. */
#include "scalar/simd.h"
#include "generic/decls.h"
#include "generic/tree_walk.h"
#include "tree_rules.h"

void MLI_KNAME(tree_walk)(const mli__tree_walk *w) { mli__walk_portable(w, 0); }

void MLI_KNAME(f64_to_f32_up)(const double *x, float *y, int64_t n) {
    for (int64_t i = 0; i < n; ++i)
        y[i] = mli__f32_round_up(x[i]);
}

int MLI_KNAME(f64_to_f32)(const double *x, float *y, int64_t n) { return mli__f64_to_f32_tail(x, y, n); }
int MLI_KNAME(f32_scan)(const float *x, int64_t n) { return mli__f32_scan_tail(x, n); }

int MLI_KNAME(f64_prepass)(const double *x, float *y, int64_t n, const uint64_t *filter, int log2, uint64_t *cand) {
    MLI_KNAME(f64_to_f32_up)(x, y, n);
    return mli__prepass_scan(x, y, n, filter, log2, cand);
}
