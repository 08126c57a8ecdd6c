/* trees.c (avx2) — compact tree walks for AVX2 cores: batches of 8 rows or more through
 * transposed tiles (below), trees of at most 64 leaves by their leaf masks over the same
 * tiles; smaller batches go to the one-row walk of 8 trees per vector (trees_row.c). */
#include <immintrin.h>

#include "avx2/simd.h"
#include "avx2/trees_row.h"
#include "generic/decls.h"
#include "generic/tree_walk.h"
#include "tree_rules.h"

/* Rows a batch of at least 8 rows takes, 8 at a time (a "group"), tree by tree. No
 * gathers: on the AVX2 cores measured (AMD Zen 3; Intel cores under the Gather Data
 * Sampling mitigation are alike) an 8-lane gather costs about as much as 8 dependent
 * scalar loads, and the walk is a chain of them. Instead each group's rows are copied
 * transposed into a tile (feature f of the group's 8 rows is 8 adjacent floats), so:
 * - the top TOP levels (table mli__ttop) are evaluated for every node of those levels,
 *   8 rows per compare (one aligned load of the node's feature column, one compare), and
 *   each lane's path picks its nodes' results with blends: 2^TOP - 1 compares and
 *   2^TOP - TOP - 1 blends replace TOP dependent steps of 8 rows each;
 * - the levels below are walked by 8 scalar lanes in lock-step, one register each,
 *   reading the row's value from the tile at a constant offset per lane.
 * Each row's leaf values are added tree by tree in tree order, as every walk does. */
#define TOP 4

/* Lane k's step from node base[i_k] (tile t: feature f of lane k is t[8 f + k]). */
#define LSTEP(k)                                                                                                       \
    do {                                                                                                               \
        int32_t s_ = mli__walk_step_strided(base + i##k, t + (k), 8, nan);                                             \
        i##k += s_;                                                                                                    \
        moved |= (uint32_t)s_;                                                                                         \
    } while (0)

/* The same step for blocks without NaN, written out: compilers turn the select into a
 * branch (mispredicted on about half the nodes) or into five mask operations; this is
 * ten instructions: the node's threshold compared with the row's value as "threshold
 * above value" (false when unordered: a leaf's NaN threshold keeps the lane in place,
 * its offset being 0) and a conditional move of 1 over the right offset. */
#define ASTEP(k)                                                                                                       \
    do {                                                                                                               \
        uint32_t fr_, f_;                                                                                              \
        __asm__("movl 4(%[b],%[i],8), %[fr]\n\t"                                                                       \
                "movl %[fr], %[f]\n\t"                                                                                 \
                "andl $0x7fff, %[f]\n\t"                                                                               \
                "shll $5, %[f]\n\t"                                                                                    \
                "vmovss (%[b],%[i],8), %%xmm15\n\t"                                                                    \
                "shrl $16, %[fr]\n\t" /* before the compare: a shift sets the flags */                                 \
                "vucomiss " #k "*4(%[t],%q[f]), %%xmm15\n\t"                                                           \
                "cmoval %[one], %[fr]\n\t"                                                                             \
                "addq %q[fr], %[i]\n\t"                                                                                \
                "orl %[fr], %[mv]"                                                                                     \
                : [fr] "=&r"(fr_), [f] "=&r"(f_), [i] "+r"(i##k), [mv] "+r"(moved)                                     \
                : [b] "r"(base), [t] "r"(t), [one] "r"(one)                                                            \
                : "cc", "xmm15");                                                                                      \
    } while (0)

/* The levels from `d` down for the 8 lanes at positions i[] of level d (at[]: their compact
 * indices); i[] gets the final indices. A function of its own so that the lanes' indices
 * stay in registers. */
static inline __attribute__((always_inline)) void walk_lanes(const mli__tnode *base, const float *t, const int32_t *at,
                                                             int32_t *i, int32_t d, int32_t depth, const int nan) {
    /* 64-bit: the asm addresses nodes with them */
    int64_t i0 = at[i[0]], i1 = at[i[1]], i2 = at[i[2]], i3 = at[i[3]], i4 = at[i[4]], i5 = at[i[5]], i6 = at[i[6]],
            i7 = at[i[7]];
    const uint32_t one = 1;
    for (; d < depth; ++d) {
        uint32_t moved = 0;
        if (nan) {
            LSTEP(0);
            LSTEP(1);
            LSTEP(2);
            LSTEP(3);
            LSTEP(4);
            LSTEP(5);
            LSTEP(6);
            LSTEP(7);
        } else {
            ASTEP(0);
            ASTEP(1);
            ASTEP(2);
            ASTEP(3);
            ASTEP(4);
            ASTEP(5);
            ASTEP(6);
            ASTEP(7);
        }
        if (!moved)
            break;
    }
    (void)one;
    i[0] = (int32_t)i0, i[1] = (int32_t)i1, i[2] = (int32_t)i2, i[3] = (int32_t)i3;
    i[4] = (int32_t)i4, i[5] = (int32_t)i5, i[6] = (int32_t)i6, i[7] = (int32_t)i7;
}
static __attribute__((noinline)) void walk_lanes_nonan(const mli__tnode *base, const float *t, const int32_t *at,
                                                       int32_t *i, int32_t d, int32_t depth) {
    walk_lanes(base, t, at, i, d, depth, 0);
}
static __attribute__((noinline)) void walk_lanes_nan(const mli__tnode *base, const float *t, const int32_t *at,
                                                     int32_t *i, int32_t d, int32_t depth) {
    walk_lanes(base, t, at, i, d, depth, 1);
}

/* Where the 8 rows of a tile (r0 .., the first n real) ended in tree tr (compact indices i). */
static inline __attribute__((always_inline)) void finish8(const mli__tree_walk *w, int32_t tr, int64_t r0,
                                                          const int32_t *i, int n) {
    if (w->value && w->ld_acc == 1 && n == 8) { /* one score per row: add in place */
        const double *v = w->value + w->start[tr];
        double *acc = w->acc + r0;
        for (int k = 0; k < 8; ++k)
            acc[k] += v[i[k]];
        return;
    }
    mli__walk_finish(w, tr, r0, i, n);
}

/* Node p's "goes right" mask for the 8 rows of tile t: x >= thr or unordered (a padding
 * node's threshold is NaN: always right), except a NaN x where the node sends NaN left. */
static inline __attribute__((always_inline)) __m256 node_right(const mli__ttop *tp, int p, const float *t,
                                                               const int nan) {
    int32_t f = nan ? tp->featnan[p] : tp->feat[p];
    __m256 x = _mm256_load_ps(t + 8 * (f & MLI__TN_FEATURE));
    __m256 r = _mm256_cmp_ps(x, _mm256_set1_ps(tp->thr[p]), _CMP_NLT_UQ);
    if (nan && (f & MLI__TN_NAN_LEFT))
        r = _mm256_andnot_ps(_mm256_cmp_ps(x, x, _CMP_UNORD_Q), r);
    return r;
}

/* The 8 rows of tile t (rows r0 .., the first n real) through tree `tr`. */
static inline __attribute__((always_inline)) void walk_tile(const mli__tree_walk *w, int32_t tr, const float *t,
                                                            int64_t r0, int n, const int nan) {
    const mli__ttop *tp = w->top + tr;
    const mli__tnode *base = w->nodes + w->start[tr];
    int levels = tp->levels, top = levels > TOP ? TOP : levels;
    /* r<d>v: each lane's decision at level d (all ones: right); q: the lanes' positions on
     * level `top` (q = 2 q + 1 for each step right). A single leaf has no level. */
    __m256i q = _mm256_setzero_si256();
    if (top > 0) {
        __m256 r0v = node_right(tp, 0, t, nan), r1v = r0v, r2v = r0v;
        q = _mm256_castps_si256(r0v);
        q = _mm256_sub_epi32(_mm256_setzero_si256(), q);
        if (top > 1) {
            r1v = _mm256_blendv_ps(node_right(tp, 1, t, nan), node_right(tp, 2, t, nan), r0v);
            q = _mm256_sub_epi32(_mm256_add_epi32(q, q), _mm256_castps_si256(r1v));
        }
        if (top > 2) {
            __m256 a = _mm256_blendv_ps(node_right(tp, 3, t, nan), node_right(tp, 4, t, nan), r1v);
            __m256 b = _mm256_blendv_ps(node_right(tp, 5, t, nan), node_right(tp, 6, t, nan), r1v);
            r2v = _mm256_blendv_ps(a, b, r0v);
            q = _mm256_sub_epi32(_mm256_add_epi32(q, q), _mm256_castps_si256(r2v));
        }
        if (top > 3) {
            __m256 a = _mm256_blendv_ps(node_right(tp, 7, t, nan), node_right(tp, 8, t, nan), r2v);
            __m256 b = _mm256_blendv_ps(node_right(tp, 9, t, nan), node_right(tp, 10, t, nan), r2v);
            __m256 c = _mm256_blendv_ps(node_right(tp, 11, t, nan), node_right(tp, 12, t, nan), r2v);
            __m256 d = _mm256_blendv_ps(node_right(tp, 13, t, nan), node_right(tp, 14, t, nan), r2v);
            __m256 r3v = _mm256_blendv_ps(_mm256_blendv_ps(a, b, r1v), _mm256_blendv_ps(c, d, r1v), r0v);
            q = _mm256_sub_epi32(_mm256_add_epi32(q, q), _mm256_castps_si256(r3v));
        }
    }
    /* ... then their compact indices */
    const int32_t *at = top == levels ? tp->next : tp->at + ((1 << top) - 1);
    int32_t i[8]; /* positions in, compact indices out */
    _mm256_storeu_si256((__m256i *)(void *)i, q);
    if (nan)
        walk_lanes_nan(base, t, at, i, top, w->depth[tr]);
    else
        walk_lanes_nonan(base, t, at, i, top, w->depth[tr]);
    finish8(w, tr, r0, i, n);
}

/* Rows going right at the n nodes nd (8 rows of each of the nt tiles at t, t + ts) clear
 * their leaves from the low or high halves of their masks of possible leaves, b[]: per node
 * and tile a load, a compare, an and, an andnot (the tiles share the node's loads). */
static inline __attribute__((always_inline)) void bits_half(const mli__tbit *nd, int32_t n, const float *t, int64_t ts,
                                                            const int nt, const int nan, __m256i *b) {
    for (int q = 0; q < nt; ++q)
        b[q] = _mm256_set1_epi32(-1);
    for (int32_t j = 0; j < n; ++j) {
        int32_t f = nd[j].feat;
        const float *xf = t + 8 * (int64_t)(f & MLI__TN_FEATURE);
        __m256 thr = _mm256_set1_ps(nd[j].thr);
        __m256i left = _mm256_set1_epi32((int)~nd[j].mask); /* the left subtree's leaves */
        for (int q = 0; q < nt; ++q) {
            __m256 x = _mm256_load_ps(xf + q * ts);
            /* right: x >= thr or unordered, except a NaN x at a node sending NaN left */
            __m256 r = _mm256_cmp_ps(x, thr, _CMP_NLT_UQ);
            if (nan && (f & MLI__TN_NAN_LEFT))
                r = _mm256_andnot_ps(_mm256_cmp_ps(x, x, _CMP_UNORD_Q), r);
            b[q] = _mm256_andnot_si256(_mm256_and_si256(_mm256_castps_si256(r), left), b[q]);
        }
    }
}

/* The nt tiles of 8 rows at t, t + ts (rows r0 .., the first n real) through tree `tr` by its
 * leaf masks (mli__tbit; the AVX-512 walk of kernels/avx512/trees.c with 8 rows, one 32-bit
 * lane per row and half): every inner node is evaluated, and each row's leaf is the lowest
 * bit left. */
static inline __attribute__((always_inline)) void bits_tiles(const mli__tree_walk *w, int32_t tr, const float *t,
                                                             int64_t ts, const int nt, int64_t r0, int n,
                                                             const int nan) {
    const mli__tbit *nd = w->bits + w->bits_tree[3 * tr];
    int32_t n0 = w->bits_tree[3 * tr + 1], n1 = w->bits_tree[3 * tr + 2];
    __m256i lo[4], hi[4];
    bits_half(nd, n0, t, ts, nt, nan, lo);
    if (n1 >= 0) /* more than 32 leaves */
        bits_half(nd + n0, n1, t, ts, nt, nan, hi);
    const int32_t *lt = w->bits_leaf + (int64_t)MLI__TBIT_LEAVES * tr;
    const double *bv = w->bits_val && w->value ? w->bits_val + (int64_t)MLI__TBIT_LEAVES * tr : NULL;
    for (int q = 0; q < nt; ++q) {
        uint32_t l[8], h[8];
        _mm256_storeu_si256((__m256i *)(void *)l, lo[q]);
        if (n1 >= 0)
            _mm256_storeu_si256((__m256i *)(void *)h, hi[q]);
        int nq = n - 8 * q < 8 ? n - 8 * q : 8;
        if (bv) { /* the values by leaf bit: one load per row, not two dependent ones */
            double val[8];
            for (int k = 0; k < nq; ++k)
                val[k] = bv[l[k] ? __builtin_ctz(l[k]) : 32 + __builtin_ctz(h[k])];
            mli__walk_add(w, tr, r0 + 8 * q, val, nq);
            continue;
        }
        int32_t i[8];
        for (int k = 0; k < 8; ++k) /* l 0 only with more than 32 leaves: the row's own leaf stays */
            i[k] = lt[l[k] ? __builtin_ctz(l[k]) : 32 + __builtin_ctz(h[k])];
        finish8(w, tr, r0 + 8 * q, i, nq);
    }
}

/* The block's rows through every tree: tiles first (in the caller's scratch,
 * mli__tree_walk.tile), then tree by tree over the tiles. */
static inline __attribute__((always_inline)) void walk_block(const mli__tree_walk *w, float *tiles, const int nan) {
    int64_t nx = w->nx, nb = w->nb;
    mli__walk_tiles(w, tiles, 8);
    for (int32_t tr = 0; tr < w->n_trees; ++tr) {
        /* Trees of at most 64 leaves by their leaf masks, four tiles at a time (measured with
         * AVX2 forced on Zen 4: HistGradientBoosting 2.7x, LightGBM 1.6x, XGBoost 500 x 8 1.8x
         * the tile walk; one tile at a time, trees of 33-64 leaves were slower by masks) */
        if (w->bits && w->bits_tree[3 * tr + 1] >= 0) {
            int64_t g = 0;
            for (; g + 32 <= nb; g += 32) /* four tiles at a time */
                bits_tiles(w, tr, tiles + g * nx, 8 * nx, 4, g, 32, nan);
            for (; g < nb; g += 8)
                bits_tiles(w, tr, tiles + g * nx, 8 * nx, 1, g, nb - g < 8 ? (int)(nb - g) : 8, nan);
            continue;
        }
        for (int64_t g = 0; g < nb; g += 8)
            walk_tile(w, tr, tiles + g * nx, g, nb - g < 8 ? (int)(nb - g) : 8, nan);
    }
}

static void walk_block_nonan(const mli__tree_walk *w) { walk_block(w, w->tile, 0); }
static void walk_block_nan(const mli__tree_walk *w) { walk_block(w, w->tile, 1); }

void MLI_KNAME(tree_walk)(const mli__tree_walk *w) {
    if (w->nb < 8) {
        MLI_KNAME(tree_walk_few)(w);
        return;
    }
    if (!w->top || !w->tile) {
        mli__walk_portable(w, 0);
        return;
    }
    if (w->nan)
        walk_block_nan(w);
    else
        walk_block_nonan(w);
}

/* Converts with the MXCSR rounding mode set to upward for the loop (restored after):
 * vcvtpd2ps then gives the smallest float32 >= x, +inf above the float range and
 * -FLT_MAX below it, as mli__f32_round_up. The ldmxcsr instructions are volatile, so
 * the compiler keeps the conversions between them. */
void MLI_KNAME(f64_to_f32_up)(const double *x, float *y, int64_t n) {
    int64_t i = 0;
    if (n >= 4) {
        const unsigned csr = _mm_getcsr();
        _mm_setcsr((csr & ~0x6000u) | 0x4000u);
        for (; i + 4 <= n; i += 4)
            _mm_storeu_ps(y + i, _mm256_cvtpd_ps(_mm256_loadu_pd(x + i)));
        _mm_setcsr(csr);
    }
    for (; i < n; ++i)
        y[i] = mli__f32_round_up(x[i]);
}

/* Four values at a time: vcvtpd2ps rounds by MXCSR (to nearest unless the host program set
 * another mode, as the scalar conversion it replaces); NaN by an unordered compare, the
 * infinities by |y| == inf. */
int MLI_KNAME(f64_to_f32)(const double *x, float *y, int64_t n) {
    const __m128 abs = _mm_castsi128_ps(_mm_set1_epi32(0x7fffffff)), inf = _mm_set1_ps(INFINITY);
    __m256d nan = _mm256_setzero_pd();
    __m128 big = _mm_setzero_ps();
    int64_t i = 0;
    for (; i + 4 <= n; i += 4) {
        __m256d xd = _mm256_loadu_pd(x + i);
        __m128 yf = _mm256_cvtpd_ps(xd);
        _mm_storeu_ps(y + i, yf);
        nan = _mm256_or_pd(nan, _mm256_cmp_pd(xd, xd, _CMP_UNORD_Q));
        big = _mm_or_ps(big, _mm_cmpeq_ps(_mm_and_ps(yf, abs), inf));
    }
    int f = (_mm256_movemask_pd(nan) ? MLI__SCAN_NAN : 0) | (_mm_movemask_ps(big) ? MLI__SCAN_INF : 0);
    return f | mli__f64_to_f32_tail(x + i, y + i, n - i);
}

int MLI_KNAME(f32_scan)(const float *x, int64_t n) {
    const __m256 abs = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff)), inf = _mm256_set1_ps(INFINITY);
    __m256 nan = _mm256_setzero_ps(), big = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 v = _mm256_loadu_ps(x + i);
        nan = _mm256_or_ps(nan, _mm256_cmp_ps(v, v, _CMP_UNORD_Q));
        big = _mm256_or_ps(big, _mm256_cmp_ps(_mm256_and_ps(v, abs), inf, _CMP_EQ_OQ));
    }
    int f = (_mm256_movemask_ps(nan) ? MLI__SCAN_NAN : 0) | (_mm256_movemask_ps(big) ? MLI__SCAN_INF : 0);
    return f | mli__f32_scan_tail(x + i, n - i);
}

int MLI_KNAME(f64_prepass)(const double *x, float *y, int64_t n, const uint64_t *filter, int log2, uint64_t *cand) {
    MLI_KNAME(f64_to_f32_up)(x, y, n);
    return mli__prepass_scan(x, y, n, filter, log2, cand);
}
