/* shap_walk.h — the tree-shared quadrature walk of TreeSHAP (kernel_api.h, mli__shap_walk;
 * derived in src/trees/shap.c), included by every ISA's shap.c. Defines
 * mli__shap_walk_body(w) for the including ISA.
 *
 * Rows go through each tree SB at a time, lane l of every array being row l: the tree's
 * nodes and the path's q values are the same for every row, only p (0 or 1) differs. At
 * each node and quadrature point k the lanes hold P (the product of the path's factors,
 * the point's weight folded in), and the walk returns R = sum over the leaves below of
 * v_leaf P_leaf / P. With f the split feature's factor q + x (p - q) at the child, f_prev
 * its factor above (1 when the feature is new on the path) and g = f / f_prev, a child
 * gets P g; the node returns sum_children g R_child, and adds to the feature's share
 *
 *     sum_k P_k / f_prev_k x R_child,k x ((p - q) - (p_prev - q_prev) g_k)
 *
 * per child. Where the row left the feature's path above (p_prev = 0), g is the cover
 * ratio and the share is 0; 1 / f_prev depends only on q_prev (p_prev = 1), so it is one
 * vector of K per node, shared by the lanes. Lanes are rows so no sum runs across a
 * vector; the K points are the outer loop. A block with fewer rows than SB repeats its
 * last row and drops those lanes' shares. SB = 8 for batches; the one-row walk (SB = 1)
 * does each lane's operations in the same order, so results are bit-identical either way:
 * its lanes are the points (K = 8 or more), or for K = 4 both children's points at once.
 *
 * Both walk the trees' node records (kernel_api.h, mli__shap_rec; built once in
 * src/trees/shap.c): depth first, one cache line per node, each with the place of its
 * feature on the path and the feature's q above it (q depends only on the tree), so a
 * node neither searches the path for its feature nor keeps q: only p (the rows', per place
 * on the path, 1 where not taken) is kept. One row through 500 XGBoost trees of depth 8:
 * 3.0 ms with the node arrays and the search, 1.45 ms so (docs: bench_contrib_row.py). */
#ifndef MLI_SHAP_WALK_H
#define MLI_SHAP_WALK_H

#include "kernel_api.h"
#include "tree_rules.h"

#define SB MLI__SHAP_LANES
enum { MLI__SHAP_ROW_BY_ROW = 3 }; /* rows of a last partial block walked one at a time */
/* The lanes as one GNU C vector (a zmm register on AVX-512, two ymm on AVX2, four xmm on
 * the scalar table's SSE2): arithmetic on it is lane by lane, scalars broadcast. */
typedef double mli__v8d __attribute__((vector_size(8 * SB), aligned(8 * SB)));
typedef double mli__v4d __attribute__((vector_size(4 * SB))); /* half of it */

typedef struct {
    const mli__shap_walk *w;
    int64_t s;   /* the tree's first node */
    int32_t col; /* its score */
    int live;    /* lanes holding rows of their own */
    const void *xr[SB];
    double *phi[SB];
    int K;          /* the tree's lanes of points (4, 8, 16, 24 or 32) */
    double x[32];   /* its rule's points, padded with 0.5 */
    mli__v8d xv[4]; /* the same as vectors (one row) */
    mli__v4d x4;    /* K = 4, one row: the points */
    mli__v8d *lev;  /* per level: P (K vectors), R (K vectors); one row: (K + 7) / 8 each */
    mli__v8d *p;    /* the rows' p per place on the path (the records' slot), 1 where not taken */
} mli__shap_state;

/* A leaf's R: its value at each of the n vectors (the walks call the node functions below
 * for inner nodes only: a tree of one leaf is skipped, a leaf child filled here). */
static inline void mli__shap_leaf(const mli__shap_walk *w, int64_t g, mli__v8d *R, int n) {
    const double v = w->value[g * w->value_stride];
    for (int k = 0; k < n; ++k)
        R[k] = (mli__v8d){0} + v;
}

/* Whether row xr goes left at record nd (mli__tree_decide: missing modes, categorical
 * bitsets, the stage's comparison, exactly as predict does), 1.0 or 0.0: the 0 or 1
 * converted, not selected (a select of two constants compiles to a branch on the
 * comparison, which the walk mispredicts half the time: it visits both sides). */
static inline double mli__shap_rec_left(const mli__shap_state *st, const mli__shap_rec *nd, const void *xr) {
    const mli__shap_walk *w = st->w;
    const double v = w->f64 ? ((const double *)xr)[nd->feature] : (double)((const float *)xr)[nd->feature];
    return (double)mli__tree_goes_left(w->compare, nd->flags, w->cat_words, w->cat_offset, w->cat_bits,
                                       st->s + nd->node, nd->threshold, v);
}

/* Inner node record i of the tree (w->nodes: its slot and q give the place and q of its
 * feature on the path of distinct features, so only the rows' p is kept, per place) at
 * depth lev, whose P is at level lev; writes its R there. */
static void mli__shap_node(mli__shap_state *st, const mli__shap_rec *nodes, int32_t i, int lev) {
    const mli__shap_walk *w = st->w;
    const int K = st->K;
    const double *x = st->x;
    const mli__shap_rec *nd = nodes + i;
    mli__v8d *restrict P = st->lev + (size_t)lev * 2 * K, *restrict R = P + K;
    mli__v8d left;
    for (int l = 0; l < SB; ++l)
        left[l] = mli__shap_rec_left(st, nd, st->xr[l]);
    const int j = nd->slot;
    const double q0 = nd->q, back = 1.0 - q0;
    const mli__v8d p0 = st->p[j], np0 = 1.0 - p0;
    double inv[MLI__SHAP_MAX_K];
    for (int k = 0; k < K; ++k) /* q0 = 1 (the feature new on the path, or all its cover kept): 1 */
        inv[k] = q0 != 1.0 ? 1.0 / (q0 + x[k] * back) : 1.0;
    mli__v8d share = {0};
    mli__v8d *restrict Pc = P + 2 * K, *restrict Rc = Pc + K;
    for (int side = 0; side < 2; ++side) {
        const int32_t child = side ? nd->right : i + 1;
        const double r = nd->frac[side], qc = q0 * r;
        const mli__v8d pc = p0 * (side ? 1.0 - left : left), d = pc - qc, rr = np0 * r;
        /* g = f / f_prev, or the cover ratio where p_prev = 0 (p0 is 0 or 1: the blend is exact) */
        for (int k = 0; k < K; ++k)
            Pc[k] = P[k] * (p0 * ((qc + x[k] * d) * inv[k]) + rr);
        st->p[j] = pc;
        if (nodes[child].feature < 0) /* a leaf: its R without the call */
            mli__shap_leaf(w, st->s + nodes[child].node, Rc, K);
        else
            mli__shap_node(st, nodes, child, lev + 1);
        for (int k = 0; k < K; ++k) {
            const mli__v8d gk = p0 * ((qc + x[k] * d) * inv[k]) + rr, rc = Rc[k];
            R[k] = side ? R[k] + gk * rc : gk * rc;
            share += p0 * (P[k] * inv[k] * rc * (d - back * gk));
        }
    }
    st->p[j] = p0;
    const int64_t at = (int64_t)nd->feature * w->n_out + st->col;
    for (int l = 0; l < st->live; ++l)
        st->phi[l][at] += share[l] * w->scale;
}

/* The one-row walk on the trees' node records (w->nodes, whose slot and q give the path's
 * place and q of the node's feature, so only the row's p is kept, per place: 1 at a place
 * not yet taken): mli__shap_node's operations for one lane, the K points as the lanes of
 * (K + 7) / 8 vectors (the padding points have weight 0, so their P stay 0). The share adds
 * the points' terms one by one in the block walk's order, and every blend with p (0 or 1)
 * is exact, so a row gets the same bits alone as in a block. */
static void mli__shap_node1(mli__shap_state *st, const mli__shap_rec *nodes, double *path_p, int32_t i, int lev);
static void mli__shap_node8(mli__shap_state *st, const mli__shap_rec *nodes, double *path_p, int32_t i, int lev);
/* Its body for KV vectors of points: KV = 1 (K = 8) compiled apart (mli__shap_node8), its
 * loops and the share's lanes known. */
MLI_INLINE void mli__shap_node1_kv(mli__shap_state *st, const mli__shap_rec *nodes, double *path_p, int32_t i, int lev,
                                   const int KV) {
    const mli__shap_walk *w = st->w;
    const int K = KV == 1 ? SB : st->K;
    const mli__shap_rec *nd = nodes + i;
    mli__v8d *restrict P = st->lev + (size_t)lev * 2 * KV, *restrict R = P + KV;
    const double left = mli__shap_rec_left(st, nd, st->xr[0]);
    const int j = nd->slot;
    const double q0 = nd->q, back = 1.0 - q0, p0 = path_p[j], np0 = 1.0 - p0;
    mli__v8d inv[4], T[4];
    for (int k = 0; k < KV; ++k) /* where the feature is new, q0 = 1 and back = 0 give exactly 1 */
        inv[k] = 1.0 / (q0 + st->xv[k] * back);
    double share = 0.0;
    mli__v8d *restrict Pc = P + 2 * KV, *restrict Rc = Pc + KV;
    for (int side = 0; side < 2; ++side) {
        const int32_t child = side ? nd->right : i + 1;
        const double r = nd->frac[side], qc = q0 * r;
        const double pc = p0 * (side ? 1.0 - left : left), d = pc - qc, rr = np0 * r;
        for (int k = 0; k < KV; ++k)
            Pc[k] = P[k] * (p0 * ((qc + st->xv[k] * d) * inv[k]) + rr);
        path_p[j] = pc;
        if (nodes[child].feature < 0) /* a leaf: its R without the call */
            mli__shap_leaf(w, st->s + nodes[child].node, Rc, KV);
        else if (KV == 1)
            mli__shap_node8(st, nodes, path_p, child, lev + 1);
        else
            mli__shap_node1(st, nodes, path_p, child, lev + 1);
        for (int k = 0; k < KV; ++k) {
            const mli__v8d gk = p0 * ((qc + st->xv[k] * d) * inv[k]) + rr, rc = Rc[k];
            R[k] = side ? R[k] + gk * rc : gk * rc;
            T[k] = P[k] * inv[k] * rc * (d - back * gk);
        }
        for (int k = 0; k < K; ++k)
            share += p0 * T[k / SB][k % SB];
    }
    path_p[j] = p0;
    st->phi[0][(int64_t)nd->feature * w->n_out + st->col] += share * w->scale;
}
static void mli__shap_node1(mli__shap_state *st, const mli__shap_rec *nodes, double *path_p, int32_t i, int lev) {
    mli__shap_node1_kv(st, nodes, path_p, i, lev, (st->K + SB - 1) / SB);
}
static void mli__shap_node8(mli__shap_state *st, const mli__shap_rec *nodes, double *path_p, int32_t i, int lev) {
    mli__shap_node1_kv(st, nodes, path_p, i, lev, 1);
}

/* Lanes of two vectors by index (0-7 a's, 8-15 b's): GCC's and clang's spelling. */
#if defined(__clang__)
#define MLI__SHAP_SHUFFLE(a, b, ...) __builtin_shufflevector(a, b, __VA_ARGS__)
#else
typedef int64_t mli__v8i __attribute__((vector_size(8 * SB)));
#define MLI__SHAP_SHUFFLE(a, b, ...) __builtin_shuffle(a, b, (mli__v8i){__VA_ARGS__})
#endif

/* mli__shap_node1 for a rule of K = 4 points on the trees' node records (w->nodes): both
 * children at once, lanes 0-3 the left child's points and 4-7 the right's (one row fills
 * half a vector otherwise); the record gives the feature's place on the path and its q, so
 * only p (the row's, 0 or 1 per place; 1 at a place not yet taken) is kept. P: the node's P
 * in both halves; writes its R, in both halves, to *R. Each lane does the block walk's
 * operations in its order (the right's R term added to the left's, the share's 8 terms in
 * the order side, point), so a row gets the same bits alone as in a block. */
static void mli__shap_node4(const mli__shap_state *st, const mli__shap_rec *nodes, double *path_p, int32_t i,
                            const mli__v8d *P, mli__v8d *R) {
    _Static_assert(SB == 8, "the halves of mli__shap_node4 are the 4 points");
    const mli__shap_walk *w = st->w;
    const mli__shap_rec *nd = nodes + i;
    const double left = mli__shap_rec_left(st, nd, st->xr[0]);
    const int j = nd->slot;
    const double q0 = nd->q, back = 1.0 - q0, p0 = path_p[j], np0 = 1.0 - p0, nl = 1.0 - left;
    /* 1 / f_prev, one half divided (a division costs per lane); where the feature is new, q0 =
     * 1 and back = 0 give exactly the block walk's 1 */
    const mli__v4d h = 1.0 / (q0 + st->x4 * back);
    const mli__v8d inv = {h[0], h[1], h[2], h[3], h[0], h[1], h[2], h[3]};
    const double rl = nd->frac[0], rr = nd->frac[1];
    const mli__v8d r = {rl, rl, rl, rl, rr, rr, rr, rr}, follows = {left, left, left, left, nl, nl, nl, nl};
    const mli__v8d qc = q0 * r, pc = p0 * follows, d = pc - qc, rn = np0 * r;
    const mli__v8d gk = p0 * ((qc + st->xv[0] * d) * inv) + rn, Pc = *P * gk;
    const mli__v8d Pl = MLI__SHAP_SHUFFLE(Pc, Pc, 0, 1, 2, 3, 0, 1, 2, 3);
    const mli__v8d Pr = MLI__SHAP_SHUFFLE(Pc, Pc, 4, 5, 6, 7, 4, 5, 6, 7);
    mli__v8d Rl, Rr;
    path_p[j] = pc[0];
    if (nodes[i + 1].feature < 0) /* a leaf: its R without the call */
        mli__shap_leaf(w, st->s + nodes[i + 1].node, &Rl, 1);
    else
        mli__shap_node4(st, nodes, path_p, i + 1, &Pl, &Rl);
    path_p[j] = pc[SB / 2];
    if (nodes[nd->right].feature < 0)
        mli__shap_leaf(w, st->s + nodes[nd->right].node, &Rr, 1);
    else
        mli__shap_node4(st, nodes, path_p, nd->right, &Pr, &Rr);
    path_p[j] = p0;
    const mli__v8d rc = MLI__SHAP_SHUFFLE(Rl, Rr, 0, 1, 2, 3, 8, 9, 10, 11), gr = gk * rc;
    *R = gr + MLI__SHAP_SHUFFLE(gr, gr, 4, 5, 6, 7, 0, 1, 2, 3);
    const mli__v8d T = p0 * (*P * inv * rc * (d - back * gk));
    double share = 0.0;
    for (int l = 0; l < SB; ++l)
        share += T[l];
    st->phi[0][(int64_t)nd->feature * w->n_out + st->col] += share * w->scale;
}

/* The tree's rule: m = tree_m[t] Gauss-Legendre points padded to K lanes (weights 0), the
 * weights as the root's P (rows lanes, or one row's points as lanes: K = 4 twice). */
static inline void mli__shap_tree_rule(mli__shap_state *st, int32_t t, int64_t rows) {
    const mli__shap_walk *w = st->w;
    const int m = w->tree_m[t];
    const double *rule = w->gl + (int64_t)m * (m - 1);
    st->K = m <= 4 ? 4 : (m + 7) / 8 * 8;
    for (int k = 0; k < st->K; ++k) {
        st->x[k] = k < m ? rule[k] : 0.5;
        const double wk = k < m ? rule[m + k] : 0.0;
        if (rows == 1) {
            st->xv[k / SB][k % SB] = st->x[k];
            st->lev[k / SB][k % SB] = wk;
        } else {
            st->lev[k] = (mli__v8d){0} + wk;
        }
    }
    if (rows == 1 && st->K == 4) /* mli__shap_node4: the points in both halves, and as a half */
        for (int k = 0; k < 4; ++k) {
            st->xv[0][k + 4] = st->x4[k] = st->x[k];
            st->lev[0][k + 4] = st->lev[0][k];
        }
}

static inline void mli__shap_walk_body(const mli__shap_walk *w) {
    const size_t es = w->f64 ? sizeof(double) : sizeof(float);
    mli__v8d *lev = w->scratch, *path = lev + ((size_t)w->max_depth + 2) * 2 * MLI__SHAP_MAX_K;
    mli__shap_state st = {.w = w, .lev = lev, .p = path};
    double path_p[MLI__SHAP_MAX_K * 2]; /* one row: p per place on the path, 1 where not taken */
    for (int k = 0; k < MLI__SHAP_MAX_K * 2; ++k)
        path_p[k] = 1.0;
    for (int k = 0; k < w->max_depth + 2; ++k)
        path[k] = (mli__v8d){0} + 1.0;
    for (int64_t r0 = 0, rows; r0 < w->nb; r0 += rows) {
        /* A block of 8 lanes costs about 3.1-3.4 one-row walks (measured on XGBoost 100 x 6 and
         * 500 x 8, LightGBM 500 x 63: bench_contrib_row.py's models), so a last block of up
         * to 3 rows goes row by row (the same bits either way) */
        rows = w->nb - r0 < SB ? w->nb - r0 : SB;
        if (rows <= MLI__SHAP_ROW_BY_ROW)
            rows = 1;
        st.live = (int)rows;
        for (int l = 0; l < SB; ++l) { /* lanes past the last row repeat it; their shares are dropped */
            const int64_t r = r0 + (l < rows ? l : rows - 1);
            st.xr[l] = (const char *)w->rows + (size_t)(r * w->ldx) * es;
            st.phi[l] = w->out + r * w->ld_out;
        }
        for (int32_t t = 0; t < w->n_trees; ++t) {
            st.s = w->tree_start[t];
            if (w->nodes[st.s].feature < 0) /* a single leaf explains nothing: only the bias */
                continue;
            st.col = w->tree_out ? w->tree_out[t] : w->value_col;
            mli__shap_tree_rule(&st, t, rows);
            if (rows == 1 && st.K == 4)
                mli__shap_node4(&st, w->nodes + st.s, path_p, 0, lev, lev + 1);
            else if (rows == 1 && st.K == SB)
                mli__shap_node8(&st, w->nodes + st.s, path_p, 0, 0);
            else if (rows == 1)
                mli__shap_node1(&st, w->nodes + st.s, path_p, 0, 0);
            else
                mli__shap_node(&st, w->nodes + st.s, 0, 0);
        }
    }
}
#undef SB

#endif
