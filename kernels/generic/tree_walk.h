/* tree_walk.h — the portable walks over compact trees (kernel_api.h, mli__tree_walk),
 * included by every ISA's trees.c: the fallback for rows the vector walk does not cover,
 * and the whole walk on the scalar table.
 *
 * A walk is a chain of dependent loads (node, then feature, then the next node), so one
 * row through one tree leaves the core idle most of the time. These walks advance
 * several independent chains in lock-step instead: 8 rows through one tree for blocks of
 * rows, 8 trees for one row when there are fewer rows than that (the AVX-512 walk takes
 * 16 trees per vector instead, kernels/avx512/trees.c). The step is a select,
 * not a branch, and a group stops early once every chain sits on a leaf (absorbing:
 * threshold NaN, offset 0). Blocks with NaN (w->nan) take a variant that honours each
 * node's NaN direction. */
#ifndef MLI_TREE_WALK_H
#define MLI_TREE_WALK_H

#include <string.h>

#include "kernel_api.h"
#include "tree_rules.h"

#define MLI_WALK_LANES 8

/* The step from a node: +1 (left) or +offset (right). Written with masks rather than
 * conditionals so that it compiles to straight-line code: a branch here mispredicts on
 * about half the nodes of real data. With `nan` (a constant in each instantiation) a NaN
 * goes where the node's MLI__TN_NAN_LEFT bit says (a leaf's bit is clear, so a leaf
 * stays a leaf); without it the rows hold no NaN and the bit is ignored. */
static inline int32_t mli__walk_step_strided(const mli__tnode *nd, const float *xr, int64_t stride, const int nan) {
    uint32_t fr = nd->fr;
    float v = xr[(int64_t)(fr & MLI__TN_FEATURE) * stride];
    int32_t left = v < nd->thr;
    if (nan)
        left |= (v != v) & (int32_t)((fr >> 15) & 1u);
    int32_t right = left - 1; /* all ones when going right */
    return 1 + (((int32_t)(fr >> 16) - 1) & right);
}

/* The same with the row's values adjacent (xr[f]). */
static inline int32_t mli__walk_step(const mli__tnode *nd, const float *xr, const int nan) {
    return mli__walk_step_strided(nd, xr, 1, nan);
}

/* Copies the block's rows transposed into tiles of R rows (the tile walks of kernels/avx2
 * and avx512): tile g (rows g R ..) at tiles + g R nx, feature f of its row k at
 * [R f + k]; lanes past the last row repeat it (their results are dropped). */
static inline void mli__walk_tiles(const mli__tree_walk *w, float *tiles, const int R) {
    int64_t nx = w->nx, nb = w->nb;
    for (int64_t g = 0; g < nb; g += R) {
        float *t = tiles + g * nx;
        for (int k = 0; k < R; ++k) {
            const float *xr = w->x + (g + k < nb ? g + k : nb - 1) * w->ldx;
            for (int64_t f = 0; f < nx; ++f)
                t[R * f + k] = xr[f];
        }
    }
}

/* mli__f64_to_f32_fn and mli__f32_scan_fn one value at a time (the scalar table, and the
 * vector kernels' tails). */
static inline int mli__f64_to_f32_tail(const double *x, float *y, int64_t n) {
    int nan = 0, inf = 0;
    for (int64_t i = 0; i < n; ++i) {
        nan |= x[i] != x[i];
        y[i] = mli__f32_round(x[i]);
        inf |= y[i] == INFINITY || y[i] == -INFINITY;
    }
    return nan * MLI__SCAN_NAN | inf * MLI__SCAN_INF;
}
static inline int mli__f32_scan_tail(const float *x, int64_t n) {
    int nan = 0, inf = 0;
    for (int64_t i = 0; i < n; ++i) {
        nan |= x[i] != x[i];
        inf |= x[i] == INFINITY || x[i] == -INFINITY;
    }
    return nan * MLI__SCAN_NAN | inf * MLI__SCAN_INF;
}

/* The pre-pass (mli__f64_prepass_fn) after y = x rounded up: NaN, and the candidates. */
static inline int mli__prepass_scan(const double *x, const float *y, int64_t n, const uint64_t *filter, int log2,
                                    uint64_t *cand) {
    int nan = 0;
    for (int64_t w = 0; w < (n + 63) / 64; ++w)
        cand[w] = 0;
    for (int64_t i = 0; i < n; ++i) {
        nan |= x[i] != x[i];
        uint32_t b;
        memcpy(&b, &y[i], sizeof b);
        if (filter && (double)y[i] > x[i] && mli__amb_filter_maybe(filter, log2, i, b))
            cand[i / 64] |= 1ull << (i % 64);
    }
    return nan;
}

/* Adds tree t's values val[0 .. n) to the sums of rows r0 .. r0 + n - 1 (value set): its
 * column of each row's scores (see mli__tree_walk). */
static inline void mli__walk_add(const mli__tree_walk *w, int32_t t, int64_t r0, const double *val, int n) {
    double *acc = w->acc + r0 * w->ld_acc + (w->col ? w->col[t] : 0);
    for (int k = 0; k < n; ++k)
        acc[k * w->ld_acc] += val[k];
}

/* Records where rows r0 .. r0 + n - 1 ended in tree t (see mli__tree_walk). */
static inline void mli__walk_finish(const mli__tree_walk *w, int32_t t, int64_t r0, const int32_t *idx, int n) {
    if (w->value) {
        const double *v = w->value + w->start[t];
        double *acc = w->acc + r0 * w->ld_acc + (w->col ? w->col[t] : 0);
        for (int k = 0; k < n; ++k)
            acc[k * w->ld_acc] += v[idx[k]];
    } else {
        int32_t *out = w->leaf + (int64_t)t * w->nb + r0;
        for (int k = 0; k < n; ++k)
            out[k] = idx[k];
    }
}

/* Where row r ended in trees t0 .. t0 + n - 1, as absolute node indices (the one-row
 * vector walks): for single-score models (value set, col NULL) the leaf values added to
 * `sum` in tree order and the new sum returned (the caller keeps it in a register: through
 * memory each add would wait for the previous store, about three times an add's latency);
 * otherwise leaf indices or multi-output sums through mli__walk_finish, `sum` unchanged. */
static inline double mli__walk_finish_nodes(const mli__tree_walk *w, int32_t t0, int64_t r, const int32_t *node, int n,
                                            double sum) {
    if (w->value && !w->col) {
        for (int k = 0; k < n; ++k)
            sum += w->value[node[k]];
        return sum;
    }
    for (int k = 0; k < n; ++k) {
        int32_t i = node[k] - (int32_t)w->start[t0 + k];
        mli__walk_finish(w, t0 + k, r, &i, 1);
    }
    return sum;
}

/* Rows [r0, r0 + n) (n <= 8) through tree `t`. */
static inline __attribute__((always_inline)) void mli__walk_rows_(const mli__tree_walk *w, int32_t t, int64_t r0, int n,
                                                                  const int nan) {
    const mli__tnode *base = w->nodes + w->start[t];
    const float *xr[MLI_WALK_LANES];
    int32_t idx[MLI_WALK_LANES] = {0};
    for (int k = 0; k < MLI_WALK_LANES; ++k)
        xr[k] = w->x + (r0 + (k < n ? k : 0)) * w->ldx;
    if (n == MLI_WALK_LANES) { /* the common case, unrolled by the compiler */
        for (int32_t d = 0; d < w->depth[t]; ++d) {
            int32_t moved = 0;
            for (int k = 0; k < MLI_WALK_LANES; ++k) {
                int32_t s = mli__walk_step(base + idx[k], xr[k], nan);
                idx[k] += s;
                moved |= s;
            }
            if (!moved)
                break;
        }
    } else {
        for (int32_t d = 0; d < w->depth[t]; ++d) {
            int32_t moved = 0;
            for (int k = 0; k < n; ++k) {
                int32_t s = mli__walk_step(base + idx[k], xr[k], nan);
                idx[k] += s;
                moved |= s;
            }
            if (!moved)
                break;
        }
    }
    mli__walk_finish(w, t, r0, idx, n);
}

static inline void mli__walk_rows(const mli__tree_walk *w, int32_t t, int64_t r0, int n) {
    if (w->nan)
        mli__walk_rows_(w, t, r0, n, 1);
    else
        mli__walk_rows_(w, t, r0, n, 0);
}

/* One row `r` through trees [t0, t0 + n) (n <= 8). */
static inline __attribute__((always_inline)) void mli__walk_trees_(const mli__tree_walk *w, int64_t r, int32_t t0,
                                                                   int n, const int nan) {
    const mli__tnode *base[MLI_WALK_LANES];
    int32_t idx[MLI_WALK_LANES] = {0}, depth = 0;
    const float *xr = w->x + r * w->ldx;
    for (int k = 0; k < n; ++k) {
        base[k] = w->nodes + w->start[t0 + k];
        depth = w->depth[t0 + k] > depth ? w->depth[t0 + k] : depth;
    }
    for (int32_t d = 0; d < depth; ++d) {
        int32_t moved = 0;
        for (int k = 0; k < n; ++k) {
            int32_t s = mli__walk_step(base[k] + idx[k], xr, nan);
            idx[k] += s;
            moved |= s;
        }
        if (!moved)
            break;
    }
    if (w->value && !w->col) { /* one sum, in tree order, in a register (not through memory) */
        double *acc = w->acc + r * w->ld_acc, sum = *acc;
        for (int k = 0; k < n; ++k)
            sum += w->value[w->start[t0 + k] + idx[k]];
        *acc = sum;
        return;
    }
    for (int k = 0; k < n; ++k) /* in tree order, so the sums match the other walks */
        mli__walk_finish(w, t0 + k, r, &idx[k], 1);
}

static inline void mli__walk_trees(const mli__tree_walk *w, int64_t r, int32_t t0, int n) {
    if (w->nan)
        mli__walk_trees_(w, r, t0, n, 1);
    else
        mli__walk_trees_(w, r, t0, n, 0);
}

/* The whole walk with the portable code: rows r0.. of every tree. */
static inline void mli__walk_portable(const mli__tree_walk *w, int64_t r0) {
    if (w->nb - r0 < MLI_WALK_LANES) {
        for (int64_t r = r0; r < w->nb; ++r)
            for (int32_t t = 0; t < w->n_trees; t += MLI_WALK_LANES)
                mli__walk_trees(w, r, t, w->n_trees - t < MLI_WALK_LANES ? (int)(w->n_trees - t) : MLI_WALK_LANES);
        return;
    }
    for (int32_t t = 0; t < w->n_trees; ++t)
        for (int64_t r = r0; r < w->nb; r += MLI_WALK_LANES)
            mli__walk_rows(w, t, r, w->nb - r < MLI_WALK_LANES ? (int)(w->nb - r) : MLI_WALK_LANES);
}

#endif
