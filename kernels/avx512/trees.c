/* trees.c (avx512) — compact tree walks, 16 rows per vector: each level gathers the 16
 * nodes (threshold, feature|offset), then the 16 feature values, compares, and steps each
 * lane to its left child (+1) or right child (+offset). A level is a chain of dependent
 * gathers, so the walk is latency-bound; up to four independent vectors (64 rows)
 * advance together to keep the gather units busy, and the top seven levels of each tree
 * come from small per-level tables (mli__ttop) through permutes rather than gathers. A batch's last rows fill a vector
 * by repeating its last row (their results are dropped). Batches under 16 rows walk 64
 * trees at once for each row instead (walk_trees64r_): the row in registers, the top four
 * levels from the transposed per-16-trees tables (mli__tlanes), the rest by nodes loaded
 * lane by lane (load8_nodes), the leaf values summed in a register while the next 64
 * trees are walked. Each walk comes in two forms: blocks without NaN
 * ignore the nodes' NaN bit; blocks with NaN also send a NaN lane left where the node's
 * MLI__TN_NAN_LEFT bit is set (two more mask operations per level). In blocks of 16 rows or
 * more, trees of at most 64 leaves skip the walk: their leaf masks (bits_tiles, below)
 * evaluate every node over transposed tiles and pick their values by permutes. */
#include <immintrin.h>
#include <string.h>

#include "avx512/simd.h"
#include "generic/decls.h"
#include "generic/tree_walk.h"
#include "tree_rules.h"

/* The end of a level for vector v of lanes at nodes (thr, fr) with feature values x: left
 * (+1) where x < thr, or x is NaN and the node's NaN bit is set (blocks with NaN), else
 * right (+offset); `moved` collects the steps (all zero once every lane is on a leaf). */
#define STEP_TO(v, x, thr, fr)                                                                                         \
    do {                                                                                                               \
        __mmask16 left_ = _mm512_cmp_ps_mask(x, thr, _CMP_LT_OQ);                                                      \
        if (nan)                                                                                                       \
            left_ |= _mm512_mask_cmp_ps_mask(_mm512_test_epi32_mask(fr, nanbit), x, x, _CMP_UNORD_Q);                  \
        __m512i step_ = _mm512_mask_blend_epi32(left_, _mm512_srli_epi32(fr, 16), one);                                \
        idx##v = _mm512_add_epi32(idx##v, step_);                                                                      \
        moved = _mm512_or_si512(moved, step_);                                                                         \
    } while (0)

#define STEP(v)                                                                                                        \
    do {                                                                                                               \
        __m512 thr_ = _mm512_i32gather_ps(idx##v, (const float *)base, 8);                                             \
        __m512i fr_ = _mm512_i32gather_epi32(idx##v, (const int *)base + 1, 8);                                        \
        __m512 x_ = _mm512_i32gather_ps(_mm512_add_epi32(off##v, _mm512_and_si512(fr_, fmask)), x, 4);                 \
        STEP_TO(v, x_, thr_, fr_);                                                                                     \
    } while (0)

/* One level of the nv (1 to 4) vectors in flight, with step macro S. */
#define STEPS(S)                                                                                                       \
    do {                                                                                                               \
        S(0);                                                                                                          \
        if (nv > 1)                                                                                                    \
            S(1);                                                                                                      \
        if (nv > 2)                                                                                                    \
            S(2);                                                                                                      \
        if (nv > 3)                                                                                                    \
            S(3);                                                                                                      \
    } while (0)

/* Where lanes [0, n) of a vector of rows r0.. ended: leaf indices, or their leaves'
 * values added to the rows' sums (two 8-lane float64 gathers when each row has one
 * contiguous score). */
static inline void finish(const mli__tree_walk *w, int32_t t, int64_t r0, __m512i idx, int n) {
    if (n <= 0)
        return;
    if (w->value && w->ld_acc == 1 && n == 16) {
        const double *v = w->value + w->start[t];
        double *acc = w->acc + r0;
        __m512d lo = _mm512_i32gather_pd(_mm512_castsi512_si256(idx), v, 8);
        __m512d hi = _mm512_i32gather_pd(_mm512_extracti64x4_epi64(idx, 1), v, 8);
        _mm512_storeu_pd(acc, _mm512_add_pd(_mm512_loadu_pd(acc), lo));
        _mm512_storeu_pd(acc + 8, _mm512_add_pd(_mm512_loadu_pd(acc + 8), hi));
        return;
    }
    int32_t tmp[16];
    _mm512_storeu_si512((void *)tmp, idx);
    mli__walk_finish(w, t, r0, tmp, n < 16 ? n : 16);
}

/* tab[q] for each lane, from a table of n = 1, 2, 4, ..., 128 entries (q < n): one
 * permute up to 32 entries, then permutes of 32-entry halves merged by q's high bits. */
static inline __m512i lut32(const int32_t *tab, __m512i q, int n) {
    if (n <= 16)
        return _mm512_permutexvar_epi32(q, _mm512_loadu_si512((const void *)tab));
    __m512i lo = _mm512_permutex2var_epi32(_mm512_loadu_si512((const void *)tab), q,
                                           _mm512_loadu_si512((const void *)(tab + 16)));
    if (n == 32)
        return lo;
    const __m512i b5 = _mm512_set1_epi32(32), b6 = _mm512_set1_epi32(64);
    __m512i hi = _mm512_permutex2var_epi32(_mm512_loadu_si512((const void *)(tab + 32)), q,
                                           _mm512_loadu_si512((const void *)(tab + 48)));
    __m512i r = _mm512_mask_blend_epi32(_mm512_test_epi32_mask(q, b5), lo, hi);
    if (n == 64)
        return r;
    __m512i lo2 = _mm512_permutex2var_epi32(_mm512_loadu_si512((const void *)(tab + 64)), q,
                                            _mm512_loadu_si512((const void *)(tab + 80)));
    __m512i hi2 = _mm512_permutex2var_epi32(_mm512_loadu_si512((const void *)(tab + 96)), q,
                                            _mm512_loadu_si512((const void *)(tab + 112)));
    __m512i r2 = _mm512_mask_blend_epi32(_mm512_test_epi32_mask(q, b5), lo2, hi2);
    return _mm512_mask_blend_epi32(_mm512_test_epi32_mask(q, b6), r, r2);
}

/* One top level d (positions base .. base + n - 1): the node's threshold and feature come
 * from the level's table, only the feature values are gathered. */
#define TOPSTEP(v)                                                                                                     \
    do {                                                                                                               \
        __m512i q_ = _mm512_sub_epi32(idx##v, vbase);                                                                  \
        __m512 thr_ = _mm512_castsi512_ps(lut32((const int32_t *)(const void *)(tp->thr + first), q_, len));           \
        __m512i f_ = lut32((nan ? tp->featnan : tp->feat) + first, q_, len);                                           \
        __m512 x_ = _mm512_i32gather_ps(_mm512_add_epi32(off##v, nan ? _mm512_and_si512(f_, fmask) : f_), x, 4);       \
        __mmask16 right_ = _mm512_cmp_ps_mask(x_, thr_, _CMP_NLT_UQ);                                                  \
        if (nan)                                                                                                       \
            right_ &= ~_mm512_mask_cmp_ps_mask(_mm512_test_epi32_mask(f_, nanbit), x_, x_, _CMP_UNORD_Q);              \
        __m512i p_ = _mm512_add_epi32(_mm512_add_epi32(idx##v, idx##v), one);                                          \
        idx##v = _mm512_mask_add_epi32(p_, right_, p_, one);                                                           \
    } while (0)

#define NEXT(v) idx##v = lut32(tp->next, _mm512_sub_epi32(idx##v, vbase), len)

/* Rows r0 .. r0 + n - 1 (1 <= n <= 64) through tree t, in nv = ceil(n / 16) vectors;
 * `nan`: the rows may hold NaN (a constant in each instantiation below). */
static inline __attribute__((always_inline)) void walk_rows_(const mli__tree_walk *w, int32_t t, int64_t r0, int n,
                                                             const int nan) {
    const mli__tnode *base = w->nodes + w->start[t];
    const float *x = w->x + r0 * w->ldx;
    const __m512i one = _mm512_set1_epi32(1), fmask = _mm512_set1_epi32(MLI__TN_FEATURE),
                  nanbit = _mm512_set1_epi32(MLI__TN_NAN_LEFT);
    const __m512i lane = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    const __m512i last = _mm512_set1_epi32(n - 1), ld = _mm512_set1_epi32((int)w->ldx);
    int nv = (n + 15) / 16;
    /* Row offsets (int32: the framework passes blocks with nb * ldx < 2^31); lanes past
     * the last row repeat it. */
    __m512i off0 = _mm512_mullo_epi32(_mm512_min_epi32(lane, last), ld);
    __m512i off1 = _mm512_mullo_epi32(_mm512_min_epi32(_mm512_add_epi32(lane, _mm512_set1_epi32(16)), last), ld);
    __m512i off2 = _mm512_mullo_epi32(_mm512_min_epi32(_mm512_add_epi32(lane, _mm512_set1_epi32(32)), last), ld);
    __m512i off3 = _mm512_mullo_epi32(_mm512_min_epi32(_mm512_add_epi32(lane, _mm512_set1_epi32(48)), last), ld);
    __m512i idx0 = _mm512_setzero_si512(), idx1 = idx0, idx2 = idx0, idx3 = idx0;
    int32_t d = 0;
    if (w->top) {
        const mli__ttop *tp = w->top + t;
        for (; d < tp->levels; ++d) {
            int first = (1 << d) - 1, len = 1 << d;
            const __m512i vbase = _mm512_set1_epi32(first);
            TOPSTEP(0);
            if (nv > 1)
                TOPSTEP(1);
            if (nv > 2)
                TOPSTEP(2);
            if (nv > 3)
                TOPSTEP(3);
        }
        int len = 1 << d;
        const __m512i vbase = _mm512_set1_epi32(len - 1);
        NEXT(0);
        NEXT(1);
        NEXT(2);
        NEXT(3);
    }
    for (; d < w->depth[t]; ++d) {
        __m512i moved = _mm512_setzero_si512();
        STEPS(STEP);
        if (!_mm512_test_epi32_mask(moved, moved))
            break;
    }
    finish(w, t, r0, idx0, n);
    finish(w, t, r0 + 16, idx1, n - 16);
    finish(w, t, r0 + 32, idx2, n - 32);
    finish(w, t, r0 + 48, idx3, n - 48);
}

static void walk_rows(const mli__tree_walk *w, int32_t t, int64_t r0, int n) { walk_rows_(w, t, r0, n, 0); }
static void walk_rows_nan(const mli__tree_walk *w, int32_t t, int64_t r0, int n) { walk_rows_(w, t, r0, n, 1); }

/* One row through trees t0 .. t0 + 16 * nv - 1 (nv <= 4 vectors of 16 trees): the lanes
 * are trees, the node indices absolute (tree start + position). */
#define TSTEP(v)                                                                                                       \
    do {                                                                                                               \
        __m512 thr_ = _mm512_i32gather_ps(idx##v, (const float *)w->nodes, 8);                                         \
        __m512i fr_ = _mm512_i32gather_epi32(idx##v, (const int *)w->nodes + 1, 8);                                    \
        __m512 x_ = _mm512_i32gather_ps(_mm512_and_si512(fr_, fmask), xr, 4);                                          \
        STEP_TO(v, x_, thr_, fr_);                                                                                     \
    } while (0)

/* Where row r ended in trees t0 .. t0 + n - 1 (n <= 64; absolute node indices, 16 trees per
 * vector), in tree order so that the sums match the other walks. */
static inline void finish_trees(const mli__tree_walk *w, int32_t t0, int64_t r, __m512i i0, __m512i i1, __m512i i2,
                                __m512i i3, int n) {
    int32_t node[64];
    _mm512_storeu_si512((void *)node, i0);
    _mm512_storeu_si512((void *)(node + 16), i1);
    _mm512_storeu_si512((void *)(node + 32), i2);
    _mm512_storeu_si512((void *)(node + 48), i3);
    double *acc = w->value && !w->col ? w->acc + r * w->ld_acc : NULL;
    double sum = mli__walk_finish_nodes(w, t0, r, node, n, acc ? *acc : 0.0);
    if (acc)
        *acc = sum;
}

static __m512i tree_starts(const mli__tree_walk *w, int32_t t0) {
    __m256i lo = _mm512_cvtepi64_epi32(_mm512_loadu_si512((const void *)(w->start + t0)));
    __m256i hi = _mm512_cvtepi64_epi32(_mm512_loadu_si512((const void *)(w->start + t0 + 8)));
    return _mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1);
}

static inline __attribute__((always_inline)) void walk_trees64_(const mli__tree_walk *w, int64_t r, int32_t t0,
                                                                const int nan) {
    const float *xr = w->x + r * w->ldx;
    const __m512i one = _mm512_set1_epi32(1), fmask = _mm512_set1_epi32(MLI__TN_FEATURE),
                  nanbit = _mm512_set1_epi32(MLI__TN_NAN_LEFT);
    __m512i s0 = tree_starts(w, t0), s1 = tree_starts(w, t0 + 16), s2 = tree_starts(w, t0 + 32),
            s3 = tree_starts(w, t0 + 48);
    __m512i idx0 = s0, idx1 = s1, idx2 = s2, idx3 = s3;
    int32_t depth = 0;
    for (int k = 0; k < 64; ++k)
        depth = w->depth[t0 + k] > depth ? w->depth[t0 + k] : depth;
    for (int32_t d = 0; d < depth; ++d) {
        __m512i moved = _mm512_setzero_si512();
        TSTEP(0);
        TSTEP(1);
        TSTEP(2);
        TSTEP(3);
        if (!_mm512_test_epi32_mask(moved, moved))
            break;
    }
    finish_trees(w, t0, r, idx0, idx1, idx2, idx3, 64);
}

static void walk_trees64(const mli__tree_walk *w, int64_t r, int32_t t0) { walk_trees64_(w, r, t0, 0); }
static void walk_trees64_nan(const mli__tree_walk *w, int64_t r, int32_t t0) { walk_trees64_(w, r, t0, 1); }

/* x[f] for 16 lanes of feature indices f < 16 * nq, from the row held in nq registers:
 * permutes over pairs of registers (they read the low 5 bits of f), merged by f's bits 5
 * and 6. Bits of f above those (NaN bit, offset) are ignored. */
static inline __attribute__((always_inline)) __m512 xsel(const __m512 *xv, __m512i f, const int nq) {
    __m512 a = _mm512_permutex2var_ps(xv[0], f, xv[1]);
    if (nq == 2)
        return a;
    const __m512i b5 = _mm512_set1_epi32(32), b6 = _mm512_set1_epi32(64);
    a = _mm512_mask_blend_ps(_mm512_test_epi32_mask(f, b5), a, _mm512_permutex2var_ps(xv[2], f, xv[3]));
    if (nq == 4)
        return a;
    __m512 c = _mm512_mask_blend_ps(_mm512_test_epi32_mask(f, b5), _mm512_permutex2var_ps(xv[4], f, xv[5]),
                                    _mm512_permutex2var_ps(xv[6], f, xv[7]));
    return _mm512_mask_blend_ps(_mm512_test_epi32_mask(f, b6), a, c);
}

/* Eight 8-byte nodes, nodes[ix[0..7]], into one vector in lane order, by scalar loads
 * paired into 128-bit halves and inserted (on Zen 4 an 8-lane gather of 8-byte elements
 * sustains about one per 17 cycles, several times its loads and inserts). */
static inline __attribute__((always_inline)) __m512i load8_nodes(const mli__tnode *nodes, const int32_t *ix) {
#define PAIR(a, b)                                                                                                     \
    _mm_castpd_si128(_mm_loadh_pd(_mm_castsi128_pd(_mm_loadl_epi64((const __m128i *)(const void *)(nodes + ix[a]))),   \
                                  (const double *)(const void *)(nodes + ix[b])))
    __m256i lo = _mm256_setr_m128i(PAIR(0, 1), PAIR(2, 3)), hi = _mm256_setr_m128i(PAIR(4, 5), PAIR(6, 7));
#undef PAIR
    return _mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1);
}

/* One level for 16 trees, the row in registers: the 16 nodes come as 8-byte elements
 * (load8_nodes), split into thresholds and feature|offset words by two permutes. */
#define RSTEP(v)                                                                                                       \
    do {                                                                                                               \
        int32_t ix_[16];                                                                                               \
        _mm512_storeu_si512((void *)ix_, idx##v);                                                                      \
        __m512i lo_ = load8_nodes(w->nodes, ix_), hi_ = load8_nodes(w->nodes, ix_ + 8);                                \
        __m512 thr_ = _mm512_castsi512_ps(_mm512_permutex2var_epi32(lo_, even, hi_));                                  \
        __m512i fr_ = _mm512_permutex2var_epi32(lo_, odd, hi_);                                                        \
        __m512 x_ = xsel(xv, fr_, nq);                                                                                 \
        STEP_TO(v, x_, thr_, fr_);                                                                                     \
    } while (0)

/* Lanes going right at one top level: x >= thr or unordered, except a NaN x at a node whose
 * NaN bit says left (padding nodes: threshold NaN, no bit, so always right). */
static inline __attribute__((always_inline)) __mmask16 lane_right(const __m512 *xv, __m512i f, __m512i thr,
                                                                  const int nq, const int nan) {
    __m512 x = xsel(xv, f, nq);
    __mmask16 right = _mm512_cmp_ps_mask(x, _mm512_castsi512_ps(thr), _CMP_NLT_UQ);
    if (nan)
        right &= ~_mm512_mask_cmp_ps_mask(_mm512_test_epi32_mask(f, _mm512_set1_epi32(MLI__TN_NAN_LEFT)), x, x,
                                          _CMP_UNORD_Q);
    return right;
}

#define LD(a) _mm512_load_si512((const void *)(a))
#define PICK2(m, a, b) _mm512_mask_blend_epi32(m, LD(a), LD(b))
#define PICK4(m0, m1, a, i) _mm512_mask_blend_epi32(m0, PICK2(m1, a[i], a[i + 1]), PICK2(m1, a[i + 2], a[i + 3]))
#define PICK8(m0, m1, m2, a, i) _mm512_mask_blend_epi32(m0, PICK4(m1, m2, a, i), PICK4(m1, m2, a, i + 4))

/* The compact node index (absolute) each of 16 trees reaches after its top
 * MLI__LANE_LEVELS levels, from their lane tables: each level merges the candidates of
 * its positions by the lanes' earlier decisions (loads and blends, no dependent load),
 * and each lane steps from its root by its nodes' offsets. */
static inline __attribute__((always_inline)) __m512i lanes_top(const mli__tlanes *g, const __m512 *xv, const int nq,
                                                               const int nan) {
    const __m512i one = _mm512_set1_epi32(1);
#define TSTEP_(m, fr) _mm512_mask_blend_epi32(m, one, _mm512_srli_epi32(fr, 16))
    __m512i fr0 = LD(g->fr[0]);
    __mmask16 m0 = lane_right(xv, fr0, LD(g->thr[0]), nq, nan);
    __m512i fr1 = PICK2(m0, g->fr[1], g->fr[2]);
    __mmask16 m1 = lane_right(xv, fr1, PICK2(m0, g->thr[1], g->thr[2]), nq, nan);
    __m512i fr2 = PICK4(m0, m1, g->fr, 3);
    __mmask16 m2 = lane_right(xv, fr2, PICK4(m0, m1, g->thr, 3), nq, nan);
    __m512i fr3 = PICK8(m0, m1, m2, g->fr, 7);
    __mmask16 m3 = lane_right(xv, fr3, PICK8(m0, m1, m2, g->thr, 7), nq, nan);
    __m512i idx = _mm512_add_epi32(_mm512_add_epi32(LD(g->root), TSTEP_(m0, fr0)), TSTEP_(m1, fr1));
    return _mm512_add_epi32(_mm512_add_epi32(idx, TSTEP_(m2, fr2)), TSTEP_(m3, fr3));
#undef TSTEP_
}

/* The values of n leaves (absolute node indices p[0 .. n)) added to *sum in order. */
static inline __attribute__((always_inline)) void add_leaves(const double *value, const int32_t *p, int n,
                                                             double *sum) {
    double s = *sum;
    for (int k = 0; k < n; ++k)
        s += value[p[k]];
    *sum = s;
}

/* One row (its values in registers xv) through trees t0 .. t0 + n - 1 (n <= 64, t0 a
 * multiple of 16): the top levels from the lane tables, the rest by gathers of 16 nodes
 * as in the batch walk, up to four vectors in flight. Lanes past n walk padding trees.
 * With `sum` (one score per row, added in place), the leaves this row reached in the
 * previous call's trees, pend[0 .. npend), are added to *sum in tree order 16 per level
 * of this walk: the 64 dependent additions then run beside the gathers instead of after
 * them (in the end they stalled the next walk; 0.27 us of a 500-tree row on Zen 4). This
 * call's leaves go to pend for the next call (or the caller's last add). */
static inline __attribute__((always_inline)) void walk_trees64r_(const mli__tree_walk *w, const __m512 *xv, int64_t r,
                                                                 int32_t t0, int n, int32_t *pend, int npend,
                                                                 double *sum, const int nq, const int nan) {
    _Static_assert(MLI__LANE_LEVELS == 4, "lanes_top walks four levels");
    const __m512i one = _mm512_set1_epi32(1), nanbit = _mm512_set1_epi32(MLI__TN_NAN_LEFT);
    const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    const __m512i odd = _mm512_add_epi32(even, one);
    const mli__tlanes *g = w->lanes + t0 / 16;
    int nv = (n + 15) / 16;
    __m512i idx0 = lanes_top(g, xv, nq, nan), idx1 = idx0, idx2 = idx0, idx3 = idx0;
    int32_t depth = g[0].depth;
    if (nv > 1) {
        idx1 = lanes_top(g + 1, xv, nq, nan);
        depth = g[1].depth > depth ? g[1].depth : depth;
    }
    if (nv > 2) {
        idx2 = lanes_top(g + 2, xv, nq, nan);
        depth = g[2].depth > depth ? g[2].depth : depth;
    }
    if (nv > 3) {
        idx3 = lanes_top(g + 3, xv, nq, nan);
        depth = g[3].depth > depth ? g[3].depth : depth;
    }
    int done = 0; /* pending leaves added so far */
    for (int32_t d = MLI__LANE_LEVELS; d < depth; ++d) {
        __m512i moved = _mm512_setzero_si512();
        STEPS(RSTEP);
        if (sum && done < npend) {
            add_leaves(w->value, pend + done, 16, sum); /* npend is 0 or 64 (a full group) here */
            done += 16;
        }
        if (!_mm512_test_epi32_mask(moved, moved))
            break;
    }
    if (!sum) {
        finish_trees(w, t0, r, idx0, idx1, idx2, idx3, n);
        return;
    }
    add_leaves(w->value, pend + done, npend - done, sum);
    _mm512_storeu_si512((void *)pend, idx0);
    _mm512_storeu_si512((void *)(pend + 16), idx1);
    _mm512_storeu_si512((void *)(pend + 32), idx2);
    _mm512_storeu_si512((void *)(pend + 48), idx3);
}

#define MLI_TREES64R(nq)                                                                                               \
    static void walk_trees64r##nq(const mli__tree_walk *w, const __m512 *xv, int64_t r, int32_t t0, int n,             \
                                  int32_t *pend, int npend, double *sum) {                                             \
        walk_trees64r_(w, xv, r, t0, n, pend, npend, sum, nq, 0);                                                      \
    }                                                                                                                  \
    static void walk_trees64r##nq##_nan(const mli__tree_walk *w, const __m512 *xv, int64_t r, int32_t t0, int n,       \
                                        int32_t *pend, int npend, double *sum) {                                       \
        walk_trees64r_(w, xv, r, t0, n, pend, npend, sum, nq, 1);                                                      \
    }
MLI_TREES64R(2)
MLI_TREES64R(4)
MLI_TREES64R(8)

/* ---- batches: trees of at most 64 leaves by leaf masks ---------------------------------- */

/* Rows going right at the n nodes nd (16 rows of each of the nt tiles at t, t + ts) AND the
 * low or high halves of their masks of possible leaves, b[], with the nodes' halves: per
 * node and tile a load, a compare and a masked AND (the tiles share the node's loads). */
static inline __attribute__((always_inline)) void bits_half(const mli__tbit *nd, int32_t n, const float *t, int64_t ts,
                                                            const int nt, const int nan, __m512i *b) {
    for (int q = 0; q < nt; ++q)
        b[q] = _mm512_set1_epi32(-1);
    for (int32_t j = 0; j < n; ++j) {
        int32_t f = nd[j].feat;
        const float *xf = t + 16 * (int64_t)(f & MLI__TN_FEATURE);
        __m512 thr = _mm512_set1_ps(nd[j].thr);
        __m512i mk = _mm512_set1_epi32((int)nd[j].mask);
        for (int q = 0; q < nt; ++q) {
            __m512 x = _mm512_load_ps(xf + q * ts);
            /* right: x >= thr or unordered (written thr !> x, so that the load folds into the
             * compare), except a NaN x at a node sending NaN left */
            __mmask16 r = _mm512_cmp_ps_mask(thr, x, _CMP_NGT_UQ);
            if (nan && (f & MLI__TN_NAN_LEFT))
                r &= (__mmask16)~_mm512_cmp_ps_mask(x, x, _CMP_UNORD_Q);
            b[q] = _mm512_mask_and_epi32(b[q], r, b[q], mk);
        }
    }
}

/* The index of each lane's lowest set bit (lanes not 0): b & -b is 2^k, exactly a float
 * whose exponent is k. */
static inline __m512i lowest_bit(__m512i b) {
    __m512i l = _mm512_and_si512(b, _mm512_sub_epi32(_mm512_setzero_si512(), b));
    return _mm512_sub_epi32(_mm512_srli_epi32(_mm512_castps_si512(_mm512_cvtepu32_ps(l)), 23), _mm512_set1_epi32(127));
}

/* The values of leaves k (8 lanes, k < 64, or < 32 unless `wide`) from a tree's table of
 * values by leaf bit held in v[0 .. 7] (8 per register): permutes over pairs of registers
 * (they read k's low 4 bits), merged by bits 4 and 5. Exactly the stored doubles, so the sums
 * are those of the gathers they replace (two dependent gathers per 8 rows, slow on Zen 4). */
static inline __attribute__((always_inline)) __m512d leaf_values(const __m512d *v, __m512i k, const int wide) {
    const __m512i b4 = _mm512_set1_epi64(16), b5 = _mm512_set1_epi64(32);
    __m512d r = _mm512_mask_blend_pd(_mm512_test_epi64_mask(k, b4), _mm512_permutex2var_pd(v[0], k, v[1]),
                                     _mm512_permutex2var_pd(v[2], k, v[3]));
    if (!wide)
        return r;
    __m512d h = _mm512_mask_blend_pd(_mm512_test_epi64_mask(k, b4), _mm512_permutex2var_pd(v[4], k, v[5]),
                                     _mm512_permutex2var_pd(v[6], k, v[7]));
    return _mm512_mask_blend_pd(_mm512_test_epi64_mask(k, b5), r, h);
}

/* Adds the values vl (rows r0 .. r0 + 7) and vh (r0 + 8 .. r0 + 15) of tree tr to the rows'
 * scores, the first nq of them: in place where each row has one score, else through
 * mli__walk_add (several scores: the tree's column; or the block's last rows). */
static inline void add_values16(const mli__tree_walk *w, int32_t tr, int64_t r0, __m512d vl, __m512d vh, int nq) {
    if (w->ld_acc == 1 && nq == 16) {
        double *acc = w->acc + r0;
        _mm512_storeu_pd(acc, _mm512_add_pd(_mm512_loadu_pd(acc), vl));
        _mm512_storeu_pd(acc + 8, _mm512_add_pd(_mm512_loadu_pd(acc + 8), vh));
        return;
    }
    double val[16];
    _mm512_storeu_pd(val, vl);
    _mm512_storeu_pd(val + 8, vh);
    mli__walk_add(w, tr, r0, val, nq);
}

/* The nt (1, 2 or 4) tiles of 16 rows at t, t + ts (feature f of row k at t[16 f + k]; rows
 * r0 .., the first n real) through tree `tr` by its leaf masks (mli__tbit): every inner node
 * is evaluated, one aligned load and one compare for 16 rows, and the rows going right AND
 * their masks of possible leaves with the node's (16 x 32 bits, one vector per half); then
 * each row's leaf is its mask's lowest set bit, and its value comes from the tree's table
 * by permutes (leaf_values). No dependent load and no gather at all, where a walk takes a
 * dependent gather step per level (the leaf outputs, without values, gather the leaves'
 * compact indices). */
static inline __attribute__((always_inline)) void bits_tiles(const mli__tree_walk *w, int32_t tr, const float *t,
                                                             int64_t ts, const int nt, int64_t r0, int n,
                                                             const int nan) {
    const mli__tbit *nd = w->bits + w->bits_tree[3 * tr];
    int32_t n0 = w->bits_tree[3 * tr + 1], n1 = w->bits_tree[3 * tr + 2];
    __m512i lo[4], hi[4], k[4];
    bits_half(nd, n0, t, ts, nt, nan, lo);
    for (int q = 0; q < nt; ++q)
        k[q] = lowest_bit(lo[q]);
    if (n1 >= 0) { /* more than 32 leaves: rows with no leaf left in the low half end in the high one */
        bits_half(nd + n0, n1, t, ts, nt, nan, hi);
        for (int q = 0; q < nt; ++q)
            k[q] = _mm512_mask_add_epi32(k[q], _mm512_testn_epi32_mask(lo[q], lo[q]), lowest_bit(hi[q]),
                                         _mm512_set1_epi32(32));
    }
    if (w->bits_val && w->value) { /* the values by permutes (leaf_values) */
        const double *tv = w->bits_val + (int64_t)MLI__TBIT_LEAVES * tr;
        const int wide = n1 >= 0; /* 64 entries, else 32 */
        __m512d v[8];             /* all 64 entries, always there: a loop of 4 or 8 became a copy through the stack */
        for (int j = 0; j < 8; ++j)
            v[j] = _mm512_load_pd(tv + 8 * j);
        for (int q = 0; q < nt; ++q) {
            __m512d vl = leaf_values(v, _mm512_cvtepu32_epi64(_mm512_castsi512_si256(k[q])), wide);
            __m512d vh = leaf_values(v, _mm512_cvtepu32_epi64(_mm512_extracti64x4_epi64(k[q], 1)), wide);
            add_values16(w, tr, r0 + 16 * q, vl, vh, n - 16 * q < 16 ? n - 16 * q : 16);
        }
        return;
    }
    for (int q = 0; q < nt; ++q) {
        __m512i c = _mm512_i32gather_epi32(k[q], w->bits_leaf + (int64_t)MLI__TBIT_LEAVES * tr, 4);
        int nq = n - 16 * q < 16 ? n - 16 * q : 16;
        int32_t i[16]; /* the leaves' compact indices (the leaf outputs) */
        _mm512_storeu_si512((void *)i, c);
        mli__walk_finish(w, tr, r0 + 16 * q, i, nq);
    }
}

/* The nt tiles of 16 rows at t, t + ts (rows r0 .., the first n real) through tree `tr` by
 * its wide masks (kernel_api.h, MLI__TWIDE_LEAVES): word by word as bits_tiles does its
 * halves, each row's leaf taken from the first word that has a bit left; then the rows'
 * values (or compact leaves) by gathers from the tree's table by leaf number. */
static inline __attribute__((always_inline)) void wide_tiles(const mli__tree_walk *w, int32_t tr, const float *t,
                                                             int64_t ts, const int nt, int64_t r0, int n,
                                                             const int nan) {
    const int32_t *wt = w->wide_tree + (int64_t)MLI__TWIDE_STRIDE * tr;
    const mli__tbit *nd = w->bits + wt[0];
    const int nw = wt[1];
    __m512i b[4], k[4];
    __mmask16 found[4];
    for (int q = 0; q < nt; ++q) {
        k[q] = _mm512_setzero_si512();
        found[q] = 0;
    }
    for (int h = 0; h < nw; ++h) {
        bits_half(nd, wt[3 + h], t, ts, nt, nan, b);
        nd += wt[3 + h];
        const __m512i base = _mm512_set1_epi32(32 * h);
        for (int q = 0; q < nt; ++q) {
            __mmask16 hit = _mm512_test_epi32_mask(b[q], b[q]) & (__mmask16)~found[q];
            k[q] = _mm512_mask_add_epi32(k[q], hit, lowest_bit(b[q]), base);
            found[q] |= hit;
        }
    }
    const int64_t s = (int64_t)MLI__TWIDE_LEAVES * wt[2];
    for (int q = 0; q < nt; ++q) {
        int nq = n - 16 * q < 16 ? n - 16 * q : 16;
        if (w->wide_val && w->value) {
            const double *tv = w->wide_val + s;
            __m512d vl = _mm512_i32gather_pd(_mm512_castsi512_si256(k[q]), tv, 8);
            __m512d vh = _mm512_i32gather_pd(_mm512_extracti64x4_epi64(k[q], 1), tv, 8);
            add_values16(w, tr, r0 + 16 * q, vl, vh, nq);
            continue;
        }
        int32_t i[16]; /* the leaves' compact indices (the leaf outputs) */
        _mm512_storeu_si512((void *)i, _mm512_i32gather_epi32(k[q], w->wide_leaf + s, 4));
        mli__walk_finish(w, tr, r0 + 16 * q, i, nq);
    }
}

/* A block of 16 rows or more: tiles first (in the caller's scratch), then tree by tree, the
 * trees with leaf masks over the tiles and the others by the gather walk. */
static inline __attribute__((always_inline)) void walk_block(const mli__tree_walk *w, const int nan) {
    int64_t nx = w->nx, nb = w->nb;
    float *tiles = w->tile;
    mli__walk_tiles(w, tiles, 16);
    for (int32_t tr = 0; tr < w->n_trees; ++tr) {
        if (w->bits_tree[3 * tr + 1] >= 0) {
            int64_t g = 0;
            for (; g + 64 <= nb; g += 64) /* four tiles at a time */
                bits_tiles(w, tr, tiles + g * nx, 16 * nx, 4, g, 64, nan);
            for (; g + 32 <= nb; g += 32) /* two tiles at a time */
                bits_tiles(w, tr, tiles + g * nx, 16 * nx, 2, g, 32, nan);
            for (; g < nb; g += 16)
                bits_tiles(w, tr, tiles + g * nx, 16 * nx, 1, g, nb - g < 16 ? (int)(nb - g) : 16, nan);
            continue;
        }
        if (w->wide_tree && w->wide_tree[(int64_t)MLI__TWIDE_STRIDE * tr + 1] > 0) {
            int64_t g = 0;
            for (; g + 64 <= nb; g += 64)
                wide_tiles(w, tr, tiles + g * nx, 16 * nx, 4, g, 64, nan);
            for (; g + 32 <= nb; g += 32)
                wide_tiles(w, tr, tiles + g * nx, 16 * nx, 2, g, 32, nan);
            for (; g < nb; g += 16)
                wide_tiles(w, tr, tiles + g * nx, 16 * nx, 1, g, nb - g < 16 ? (int)(nb - g) : 16, nan);
            continue;
        }
        for (int64_t r = 0; r < nb; r += 64) {
            int n = nb - r < 64 ? (int)(nb - r) : 64;
            if (nan)
                walk_rows_nan(w, tr, r, n);
            else
                walk_rows(w, tr, r, n);
        }
    }
}
static void walk_block_nonan(const mli__tree_walk *w) { walk_block(w, 0); }
static void walk_block_nan(const mli__tree_walk *w) { walk_block(w, 1); }

void MLI_KNAME(tree_walk)(const mli__tree_walk *w) {
    if (w->nb < 16) {
        /* Few rows: vectors over trees. Node indices are absolute here, so the node
         * array must be addressable with int32 indices. */
        int32_t n64 = w->start[w->n_trees] < 2147483647 ? w->n_trees & ~63 : 0;
        for (int64_t r = 0; r < w->nb; ++r) {
            if (w->lanes && w->nx <= 128) {
                __m512 xv[8];
                int nq = w->nx <= 32 ? 2 : w->nx <= 64 ? 4 : 8;
                for (int q = 0; q < nq; ++q) /* masked: never reads past the row's nx values */
                    xv[q] =
                        _mm512_maskz_loadu_ps(vf_mask(w->nx > 16 * q ? w->nx - 16 * q : 0), w->x + r * w->ldx + 16 * q);
                void (*fn)(const mli__tree_walk *, const __m512 *, int64_t, int32_t, int, int32_t *, int, double *) =
                    nq == 2   ? (w->nan ? walk_trees64r2_nan : walk_trees64r2)
                    : nq == 4 ? (w->nan ? walk_trees64r4_nan : walk_trees64r4)
                              : (w->nan ? walk_trees64r8_nan : walk_trees64r8);
                /* one score per row: each call adds the previous call's leaves (above) */
                double *acc = w->value && !w->col ? w->acc + r * w->ld_acc : NULL;
                int32_t pend[64];
                int npend = 0;
                for (int32_t t = 0; t < w->n_trees; t += 64) {
                    int n = w->n_trees - t < 64 ? w->n_trees - t : 64;
                    fn(w, xv, r, t, n, pend, npend, acc);
                    npend = n;
                }
                if (acc)
                    add_leaves(w->value, pend, npend, acc);
                continue;
            }
            for (int32_t t = 0; t < n64; t += 64) {
                if (w->nan)
                    walk_trees64_nan(w, r, t);
                else
                    walk_trees64(w, r, t);
            }
            for (int32_t t = n64; t < w->n_trees; t += MLI_WALK_LANES)
                mli__walk_trees(w, r, t, w->n_trees - t < MLI_WALK_LANES ? (int)(w->n_trees - t) : MLI_WALK_LANES);
        }
        return;
    }
    if (w->bits && w->tile) {
        if (w->nan)
            walk_block_nan(w);
        else
            walk_block_nonan(w);
        return;
    }
    for (int32_t t = 0; t < w->n_trees; ++t)
        for (int64_t r = 0; r < w->nb; r += 64) {
            int n = w->nb - r < 64 ? (int)(w->nb - r) : 64;
            if (w->nan)
                walk_rows_nan(w, t, r, n);
            else
                walk_rows(w, t, r, n);
        }
}

void MLI_KNAME(f64_to_f32_up)(const double *x, float *y, int64_t n) {
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) /* embedded rounding: upward, no MXCSR change */
        _mm256_storeu_ps(y + i,
                         _mm512_cvt_roundpd_ps(_mm512_loadu_pd(x + i), _MM_FROUND_TO_POS_INF | _MM_FROUND_NO_EXC));
    for (; i < n; ++i)
        y[i] = mli__f32_round_up(x[i]);
}

/* Eight values at a time (the last ones masked), rounded to nearest by the instruction (not
 * MXCSR); NaN by an unordered compare, the infinities by their class. */
int MLI_KNAME(f64_to_f32)(const double *x, float *y, int64_t n) {
    __mmask8 nan = 0, inf = 0;
    for (int64_t i = 0; i < n; i += 8) {
        __mmask8 in = n - i >= 8 ? 0xFF : (__mmask8)((1u << (n - i)) - 1);
        __m512d xd = _mm512_maskz_loadu_pd(in, x + i);
        __m256 yf = _mm512_cvt_roundpd_ps(xd, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
        _mm256_mask_storeu_ps(y + i, in, yf);
        nan |= _mm512_cmp_pd_mask(xd, xd, _CMP_UNORD_Q);
        inf |= _mm256_fpclass_ps_mask(yf, 0x18); /* +inf, -inf (lanes past n hold 0) */
    }
    return (nan ? MLI__SCAN_NAN : 0) | (inf ? MLI__SCAN_INF : 0);
}

int MLI_KNAME(f32_scan)(const float *x, int64_t n) {
    __mmask16 nan = 0, inf = 0;
    for (int64_t i = 0; i < n; i += 16) {
        __mmask16 in = n - i >= 16 ? 0xFFFF : (__mmask16)((1u << (n - i)) - 1);
        __m512 v = _mm512_maskz_loadu_ps(in, x + i);
        nan |= _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q);
        inf |= _mm512_fpclass_ps_mask(v, 0x18);
    }
    return (nan ? MLI__SCAN_NAN : 0) | (inf ? MLI__SCAN_INF : 0);
}

/* Eight values at a time: the upward conversion, then for the lanes it rounded up the
 * filter's hash in 64-bit lanes (tree_rules.h: multiply, shift, xor), one gather of their
 * filter words and a test of both bits; groups of 8 never straddle a candidate word. */
int MLI_KNAME(f64_prepass)(const double *x, float *y, int64_t n, const uint64_t *filter, int log2, uint64_t *cand) {
    const __m512i mul = _mm512_set1_epi64((long long)0x9E3779B97F4A7C15ull), m63 = _mm512_set1_epi64(63),
                  one = _mm512_set1_epi64(1), step = _mm512_set1_epi64((long long)8 << 32);
    const __m512i wshift = _mm512_set1_epi64(64 - (log2 - 6));
    __m512i feat = _mm512_slli_epi64(_mm512_setr_epi64(0, 1, 2, 3, 4, 5, 6, 7), 32);
    __mmask8 nan = 0;
    for (int64_t w = 0; w < (n + 63) / 64; ++w)
        cand[w] = 0;
    for (int64_t i = 0; i < n; i += 8, feat = _mm512_add_epi64(feat, step)) {
        __mmask8 in = n - i >= 8 ? 0xFF : (__mmask8)((1u << (n - i)) - 1);
        __m512d xd = _mm512_maskz_loadu_pd(in, x + i);
        __m256 yf = _mm512_cvt_roundpd_ps(xd, _MM_FROUND_TO_POS_INF | _MM_FROUND_NO_EXC);
        _mm256_mask_storeu_ps(y + i, in, yf);
        nan |= _mm512_cmp_pd_mask(xd, xd, _CMP_UNORD_Q);
        __mmask8 up = _mm512_cmp_pd_mask(_mm512_cvtps_pd(yf), xd, _CMP_GT_OQ); /* lanes past n: 0 -> 0 */
        if (!filter || !up)
            continue;
        __m512i h = _mm512_mullo_epi64(_mm512_or_si512(_mm512_cvtepu32_epi64(_mm256_castps_si256(yf)), feat), mul);
        h = _mm512_xor_si512(h, _mm512_srli_epi64(h, 29));
        __m512i wd = _mm512_mask_i64gather_epi64(_mm512_setzero_si512(), up, _mm512_srlv_epi64(h, wshift),
                                                 (const void *)filter, 8);
        __m512i m = _mm512_or_si512(_mm512_sllv_epi64(one, _mm512_and_si512(h, m63)),
                                    _mm512_sllv_epi64(one, _mm512_and_si512(_mm512_srli_epi64(h, 6), m63)));
        __mmask8 maybe = _mm512_mask_cmpeq_epi64_mask(up, _mm512_and_si512(wd, m), m);
        cand[i / 64] |= (uint64_t)maybe << (i % 64);
    }
    return nan != 0;
}
