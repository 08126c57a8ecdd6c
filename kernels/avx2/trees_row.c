/* trees_row.c (avx2) — the few-rows tree walk for AVX2 CPUs: one row through 8 trees per
 * vector (the AVX2 counterpart of walk_trees64r_ in kernels/avx512/trees.c). Each 16
 * trees' top four levels come from their transposed table built at load (mli__tlanes:
 * per level, aligned loads of two 8-lane halves merged by the lanes' earlier decisions,
 * no dependent load); up to 64 features the row sits in ceil(nx / 8) registers and a
 * feature value there is one permute per register merged by blends (above, a gather from
 * the row). Deeper nodes and their feature values are scalar loads put together into
 * vectors, the compare and step vector-wide. ROW_NV vectors advance together, and the
 * leaf values of a single-score model are summed in a register in tree order, so the sums
 * equal the other walks' bit for bit. Batches without the tables (node indices past
 * int32) take the portable walk.
 *
 * Measured on Zen 3 (benchmarks/README.md, issue 22; one row, XGBoost 500 x depth 8, 50
 * features): AVX2 gathers are slow there. Gathers everywhere (the row and the deeper
 * nodes): 6.2 us; the row in 8 registers: 5.4; in 7 (ceil(nx / 8), hence one variant per
 * register count): 5.0; the deeper levels by scalar loads instead of gathers: 4.3, the
 * nodes loaded in pairs into vector halves: 4.2 (the portable walk of main: 7.8). Tried and dropped: 4-byte node gathers (8 lanes, no
 * deinterleave: no faster), the deeper levels walked tree by tree or in lock-step by
 * scalar code (6.3 / 7.0 us), the top levels' feature values by scalar loads (4.7),
 * the tables' last level (next) by a gather instead of blends (5.45 against 5.0), 2 or 8
 * vectors in flight instead of 4 (slower / no faster), the next group's table levels
 * computed between this group's deeper levels (software pipelining: no faster), each
 * group's leaf sum spread over the next group's deeper levels (no faster). */
#include <immintrin.h>

#include "avx2/simd.h"
#include "avx2/trees_row.h"
#include "generic/decls.h"
#include "generic/tree_walk.h"

/* Vectors of 8 trees in flight (an even number: two per mli__tlanes group). */
#define ROW_NV 4
#define ROW_TREES (8 * ROW_NV)

#define I2F(v) _mm256_castsi256_ps(v)
#define F2I(v) _mm256_castps_si256(v)

/* Two row registers merged by bit b of f (the second where set); blendv reads sign bits. */
#define XMERGE(a, b, f, bit) _mm256_blendv_ps(a, b, I2F(_mm256_slli_epi32(f, 31 - (bit))))

/* x[f & MLI__TN_FEATURE] for each lane: with nq == 0 a gather from the row xr; else from
 * the row's first 8 * nq values in xv (nq of 2, 4 or 8 registers, read as memory
 * operands): one permute per register (it reads f's low 3 bits), merged by f's bits 3 to
 * 5. Bits of f above those (NaN bit, offset) are ignored. */
static inline __attribute__((always_inline)) __m256 xval(const float *xr, const __m256 *xv, __m256i f, const int nq) {
    if (nq == 0)
        return _mm256_i32gather_ps(xr, _mm256_and_si256(f, _mm256_set1_epi32(MLI__TN_FEATURE)), 4);
    __m256 p[8];
    for (int q = 0; q < nq; ++q)
        p[q] = _mm256_permutevar8x32_ps(xv[q], f);
    int m = nq;
    for (int bit = 3; m > 1; ++bit, m = (m + 1) / 2) /* pairs merged by bit 3, then 4, then 5 */
        for (int q = 0; q < m; q += 2)
            p[q / 2] = q + 1 < m ? XMERGE(p[q], p[q + 1], f, bit) : p[q];
    return p[0];
}

/* Lanes going right at one top level, as sign bits: x >= thr or unordered, except a NaN x
 * at a node whose NaN bit (bit 15 of f, moved to the sign) says left. Padding nodes
 * (threshold NaN, no bit) always go right. */
static inline __attribute__((always_inline)) __m256 lane_right(const float *xr, const __m256 *xv, __m256i f, __m256 thr,
                                                               const int nq, const int nan) {
    __m256 x = xval(xr, xv, f, nq);
    __m256 right = _mm256_cmp_ps(x, thr, _CMP_NLT_UQ);
    if (nan)
        right =
            _mm256_andnot_ps(_mm256_and_ps(_mm256_cmp_ps(x, x, _CMP_UNORD_Q), I2F(_mm256_slli_epi32(f, 16))), right);
    return right;
}

/* Rows a / b of one half (8 lanes) of a table, merged by the sign bits of m (b where set). */
#define LD(a) _mm256_load_ps((const float *)(const void *)(a))
#define PICK2(m, a, b) _mm256_blendv_ps(LD(a), LD(b), m)
#define PICK4(m0, m1, a, i, h)                                                                                         \
    _mm256_blendv_ps(PICK2(m1, a[i] + h, a[i + 1] + h), PICK2(m1, a[i + 2] + h, a[i + 3] + h), m0)
#define PICK8(m0, m1, m2, a, i, h) _mm256_blendv_ps(PICK4(m1, m2, a, i, h), PICK4(m1, m2, a, i + 4, h), m0)

/* The absolute compact node index each of 8 trees (half h of group g) reaches after the
 * top MLI__LANE_LEVELS levels: each lane steps from its root by its nodes' offsets. */
static inline __attribute__((always_inline)) __m256i lanes_top(const mli__tlanes *g, int h, const float *xr,
                                                               const __m256 *xv, const int nq, const int nan) {
    _Static_assert(MLI__LANE_LEVELS == 4, "lanes_top walks four levels");
    h *= 8;
    const __m256 one = I2F(_mm256_set1_epi32(1));
#define TSTEP_(m, fr) F2I(_mm256_blendv_ps(one, I2F(_mm256_srli_epi32(F2I(fr), 16)), m))
    __m256 fr0 = LD(g->fr[0] + h);
    __m256 m0 = lane_right(xr, xv, F2I(fr0), LD(g->thr[0] + h), nq, nan);
    __m256 fr1 = PICK2(m0, g->fr[1] + h, g->fr[2] + h);
    __m256 m1 = lane_right(xr, xv, F2I(fr1), PICK2(m0, g->thr[1] + h, g->thr[2] + h), nq, nan);
    __m256 fr2 = PICK4(m0, m1, g->fr, 3, h);
    __m256 m2 = lane_right(xr, xv, F2I(fr2), PICK4(m0, m1, g->thr, 3, h), nq, nan);
    __m256 fr3 = PICK8(m0, m1, m2, g->fr, 7, h);
    __m256 m3 = lane_right(xr, xv, F2I(fr3), PICK8(m0, m1, m2, g->thr, 7, h), nq, nan);
    __m256i idx = _mm256_add_epi32(_mm256_add_epi32(F2I(LD(g->root + h)), TSTEP_(m0, fr0)), TSTEP_(m1, fr1));
    return _mm256_add_epi32(_mm256_add_epi32(idx, TSTEP_(m2, fr2)), TSTEP_(m3, fr3));
#undef TSTEP_
}

/* One level below the tables for 8 trees at absolute node indices idx: the nodes and
 * their feature values come lane by lane, scalar loads put together into vectors (on
 * Zen 3 an AVX2 gather costs more than its loads and inserts: 4.3 against 5.0 us a row);
 * left (+1) where x < thr or x is NaN and the node's NaN bit is set, else right
 * (+offset; 0 on a leaf). */
static inline __attribute__((always_inline)) __m256i deep_step(const mli__tnode *nodes, const float *xr, __m256i idx,
                                                               __m256i *moved, const int nan) {
    int32_t ix[8];
    _mm256_storeu_si256((__m256i *)(void *)ix, idx);
    /* nodes a and b in one 128-bit half; halves ordered so that shufps, which takes two
     * elements of each source per 128-bit lane, yields lanes 0..7 in order */
#define PAIR(a, b)                                                                                                     \
    _mm_castpd_si128(_mm_loadh_pd(_mm_castsi128_pd(_mm_loadl_epi64((const __m128i *)(const void *)(nodes + ix[a]))),   \
                                  (const double *)(const void *)(nodes + ix[b])))
    __m256 lo = I2F(_mm256_setr_m128i(PAIR(0, 1), PAIR(4, 5)));
    __m256 hi = I2F(_mm256_setr_m128i(PAIR(2, 3), PAIR(6, 7)));
#undef PAIR
    __m256 thr = _mm256_shuffle_ps(lo, hi, 0x88);
    __m256i fr = F2I(_mm256_shuffle_ps(lo, hi, 0xDD));
#define XS(k) xr[nodes[ix[k]].fr & MLI__TN_FEATURE]
    __m256 x = _mm256_setr_ps(XS(0), XS(1), XS(2), XS(3), XS(4), XS(5), XS(6), XS(7));
#undef XS
    __m256 left = _mm256_cmp_ps(x, thr, _CMP_LT_OQ);
    if (nan)
        left = _mm256_or_ps(left, _mm256_and_ps(_mm256_cmp_ps(x, x, _CMP_UNORD_Q), I2F(_mm256_slli_epi32(fr, 16))));
    __m256i step = F2I(_mm256_blendv_ps(I2F(_mm256_srli_epi32(fr, 16)), I2F(_mm256_set1_epi32(1)), left));
    *moved = _mm256_or_si256(*moved, step);
    return _mm256_add_epi32(idx, step);
}

/* Row r through trees t0 .. t0 + n - 1 (n <= ROW_TREES, t0 a multiple of 16). Lanes past
 * n walk the tables' padding trees (always right, to a leaf) and are dropped. */
static inline __attribute__((always_inline)) void walk_group_(const mli__tree_walk *w, const float *xr,
                                                              const __m256 *xv, int64_t r, int32_t t0, int n,
                                                              double *sum, const int nq, const int nan) {
    const mli__tlanes *g = w->lanes + t0 / 16;
    int nv = (n + 7) / 8;
    __m256i idx[ROW_NV];
    for (int v = 0; v < ROW_NV; ++v)
        idx[v] = v < nv ? lanes_top(g + v / 2, v % 2, xr, xv, nq, nan) : _mm256_setzero_si256();
    int32_t depth = 0; /* the deepest tree of the groups walked (stored per 16 trees at load) */
    for (int q = 0; q < (n + 15) / 16; ++q)
        depth = g[q].depth > depth ? g[q].depth : depth;
    for (int32_t d = MLI__LANE_LEVELS; d < depth; ++d) {
        __m256i moved = _mm256_setzero_si256();
        for (int v = 0; v < ROW_NV; ++v)
            if (v < nv)
                idx[v] = deep_step(w->nodes, xr, idx[v], &moved, nan);
        if (_mm256_testz_si256(moved, moved))
            break;
    }
    int32_t node[ROW_TREES];
    for (int v = 0; v < ROW_NV; ++v)
        _mm256_storeu_si256((__m256i *)(void *)(node + 8 * v), idx[v]);
    *sum = mli__walk_finish_nodes(w, t0, r, node, n, *sum);
}

#define MLI_ROW_WALK(nq)                                                                                               \
    static void walk_group##nq(const mli__tree_walk *w, const float *xr, const __m256 *xv, int64_t r, int32_t t0,      \
                               int n, double *sum) {                                                                   \
        walk_group_(w, xr, xv, r, t0, n, sum, nq, 0);                                                                  \
    }                                                                                                                  \
    static void walk_group##nq##_nan(const mli__tree_walk *w, const float *xr, const __m256 *xv, int64_t r,            \
                                     int32_t t0, int n, double *sum) {                                                 \
        walk_group_(w, xr, xv, r, t0, n, sum, nq, 1);                                                                  \
    }
MLI_ROW_WALK(0)
MLI_ROW_WALK(1)
MLI_ROW_WALK(2)
MLI_ROW_WALK(3)
MLI_ROW_WALK(4)
MLI_ROW_WALK(5)
MLI_ROW_WALK(6)
MLI_ROW_WALK(7)
MLI_ROW_WALK(8)

typedef void (*group_fn)(const mli__tree_walk *, const float *, const __m256 *, int64_t, int32_t, int, double *);
/* By registers of the row (0: gathers), without and with NaN. */
static const group_fn group_fns[9][2] = {
    {walk_group0, walk_group0_nan}, {walk_group1, walk_group1_nan}, {walk_group2, walk_group2_nan},
    {walk_group3, walk_group3_nan}, {walk_group4, walk_group4_nan}, {walk_group5, walk_group5_nan},
    {walk_group6, walk_group6_nan}, {walk_group7, walk_group7_nan}, {walk_group8, walk_group8_nan}};

/* Row r through every tree: up to 64 features, the row copied into ceil(nx / 8)
 * registers (zeros past nx; nothing past the row is read), else gathered from the row.
 * Each register fewer saves a permute and a blend per feature value, hence one variant
 * per register count. */
static void walk_row(const mli__tree_walk *w, int64_t r) {
    const float *xr = w->x + r * w->ldx;
    __m256 xv[8];
    int nq = w->nx <= 64 ? (int)((w->nx + 7) / 8) : 0;
    for (int q = 0; q < nq; ++q)
        xv[q] = vf_load_n(xr + 8 * q, w->nx - 8 * q, 0.0f);
    group_fn fn = group_fns[nq][w->nan ? 1 : 0];
    double *acc = w->value && !w->col ? w->acc + r * w->ld_acc : NULL, sum = acc ? *acc : 0.0;
    for (int32_t t = 0; t < w->n_trees; t += ROW_TREES)
        fn(w, xr, xv, r, t, w->n_trees - t < ROW_TREES ? (int)(w->n_trees - t) : ROW_TREES, &sum);
    if (acc)
        *acc = sum;
}

void MLI_KNAME(tree_walk_few)(const mli__tree_walk *w) {
    if (!w->lanes) { /* no tables (node indices past int32): the portable walk */
        mli__walk_portable(w, 0);
        return;
    }
    for (int64_t r = 0; r < w->nb; ++r)
        walk_row(w, r);
}
