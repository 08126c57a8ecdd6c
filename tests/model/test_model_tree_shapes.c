/* test_model_tree_shapes.c — tree ensembles of every shape the batch walks choose between
 * (docs/TREES.md, "Walks"): LightGBM text models written here, with trees grown by
 * splitting a random leaf (uneven, as LightGBM grows them), the newest leaf or leaf 0 (right
 * and left spines as deep as the tree has leaves), level by level (full trees), of 1 to 256
 * leaves and around the word boundaries of the leaf masks (32, 33, 64, 65, 96, 97, 256),
 * NaN sent left or right. Batches of 203 rows (tiles of 64, 32 and 16 rows and a part)
 * and rows one at a time must equal a double-precision walk of the same trees: exactly,
 * also where a tree tests one condition at many nodes (three thresholds a feature: the
 * mask lists merge such nodes into one entry, docs/TREES.md, "Walks"),
 * since the leaves are the same doubles added in tree order. Under ASan+UBSan in CI, the
 * walks' reads of their tables and tiles are checked with them. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "mlinfer.h"

#define NF 6     /* features */
#define ROWS 203 /* rows scored */
#define MAXL 256 /* leaves per tree at most */
#define TEXT (1 << 21)

typedef struct {
    int n_leaves;
    int feat[MAXL], dt[MAXL], left[MAXL], right[MAXL]; /* internal nodes 0 .. n_leaves - 2 */
    double thr[MAXL], leaf[MAXL];
} gtree;

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static uint64_t rnd(void) {
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}
static double unif(void) { return (double)(rnd() >> 11) / 9007199254740992.0 * 2.0 - 1.0; } /* [-1, 1) */

enum { GROW_RANDOM, GROW_RIGHT, GROW_LEFT };

/* Nonzero: thresholds from {-0.5, 0, 0.5} only, so the trees repeat their conditions. */
static int few_thresholds;

/* Splits leaf L of t (n leaves) in LightGBM's numbering: a new internal node whose left
 * child is L and whose right child is the new leaf n (children < 0 are ~leaf); leaf L
 * hangs on parent[L]'s side[L] (0 left, 1 right; parent -1: the root). */
static void split(gtree *t, int *parent, int *side, int L) {
    int node = t->n_leaves - 1, nl = t->n_leaves;
    t->feat[node] = (int)(rnd() % NF);
    t->thr[node] = few_thresholds ? 0.5 * (double)((int)(rnd() % 3) - 1) : unif();
    t->dt[node] = rnd() % 2 ? 10 : 8; /* NaN as missing, default left (10) or right (8) */
    t->left[node] = ~L;
    t->right[node] = ~nl;
    if (parent[L] >= 0)
        (side[L] ? t->right : t->left)[parent[L]] = node;
    parent[nl] = node;
    side[nl] = 1;
    parent[L] = node;
    side[L] = 0;
    t->n_leaves = nl + 1;
}

/* A tree of n leaves grown by splitting a random leaf (uneven, as LightGBM grows), the
 * newest leaf (a right spine), or leaf 0 (a left spine: every left subtree spans words);
 * depth > 0: a full tree of that depth instead (each level's leaves split in turn). */
static void grow(gtree *t, int n, int how, int depth) {
    int parent[MAXL], side[MAXL];
    parent[0] = -1;
    side[0] = 0;
    t->n_leaves = 1;
    for (int d = 0; d < depth; ++d)
        for (int L = 0, nl = t->n_leaves; L < nl; ++L)
            split(t, parent, side, L);
    while (depth == 0 && t->n_leaves < n)
        split(t, parent, side,
              how == GROW_RANDOM  ? (int)(rnd() % (uint64_t)t->n_leaves)
              : how == GROW_RIGHT ? t->n_leaves - 1
                                  : 0);
    for (int l = 0; l < t->n_leaves; ++l)
        t->leaf[l] = unif();
}

/* LightGBM's rule for a numeric split with NaN as missing. */
static double eval(const gtree *t, const double *x) {
    if (t->n_leaves == 1)
        return t->leaf[0];
    int i = 0;
    for (;;) {
        double v = x[t->feat[i]];
        int left = isnan(v) ? (t->dt[i] & 2) != 0 : v <= t->thr[i];
        int c = left ? t->left[i] : t->right[i];
        if (c < 0)
            return t->leaf[~c];
        i = c;
    }
}

__attribute__((format(printf, 3, 4))) static size_t put(char *buf, size_t at, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int w = vsnprintf(buf + at, TEXT - at, fmt, ap);
    va_end(ap);
    assert_true(w >= 0 && (size_t)w < TEXT - at);
    return at + (size_t)w;
}

static size_t put_ints(char *buf, size_t at, const char *key, const int *v, int n) {
    at = put(buf, at, "%s=", key);
    for (int i = 0; i < n; ++i)
        at = put(buf, at, i ? " %d" : "%d", v[i]);
    return put(buf, at, "\n");
}

static size_t put_doubles(char *buf, size_t at, const char *key, const double *v, int n) {
    at = put(buf, at, "%s=", key);
    for (int i = 0; i < n; ++i)
        at = put(buf, at, i ? " %.17g" : "%.17g", v[i]);
    return put(buf, at, "\n");
}

static size_t lightgbm_text(char *buf, const gtree *trees, int n_trees) {
    size_t at = put(buf, 0,
                    "tree\nversion=v4\nnum_class=1\nnum_tree_per_iteration=1\nlabel_index=0\n"
                    "max_feature_idx=%d\nobjective=regression\nfeature_names=",
                    NF - 1);
    for (int f = 0; f < NF; ++f)
        at = put(buf, at, f ? " f%d" : "f%d", f);
    at = put(buf, at, "\nfeature_infos=");
    for (int f = 0; f < NF; ++f)
        at = put(buf, at, f ? " [-1:1]" : "[-1:1]");
    at = put(buf, at, "\n\n");
    for (int k = 0; k < n_trees; ++k) {
        const gtree *t = &trees[k];
        int ni = t->n_leaves - 1;
        at = put(buf, at, "Tree=%d\nnum_leaves=%d\nnum_cat=0\n", k, t->n_leaves);
        if (ni > 0) {
            at = put_ints(buf, at, "split_feature", t->feat, ni);
            at = put_doubles(buf, at, "threshold", t->thr, ni);
            at = put_ints(buf, at, "decision_type", t->dt, ni);
            at = put_ints(buf, at, "left_child", t->left, ni);
            at = put_ints(buf, at, "right_child", t->right, ni);
        }
        at = put_doubles(buf, at, "leaf_value", t->leaf, t->n_leaves);
        at = put(buf, at, "is_linear=0\nshrinkage=1\n\n\n");
    }
    return put(buf, at, "end of trees\n");
}

/* Rows: uniform values, a tenth of them exactly a threshold of the model, 5 % NaN. */
static void make_rows(double *x, const gtree *trees, int n_trees) {
    for (int i = 0; i < ROWS * NF; ++i) {
        uint64_t r = rnd() % 100;
        if (r < 5) {
            x[i] = NAN;
        } else if (r < 15) {
            const gtree *t = &trees[rnd() % (uint64_t)n_trees];
            x[i] = t->n_leaves > 1 ? t->thr[rnd() % (uint64_t)(t->n_leaves - 1)] : 0.5;
        } else {
            x[i] = unif();
        }
    }
}

static void check_model(const gtree *trees, int n_trees, const char *what) {
    char *text = malloc(TEXT);
    double *x = malloc(sizeof(double) * ROWS * NF);
    float *xf = malloc(sizeof(float) * ROWS * NF);
    assert_non_null(text);
    assert_non_null(x);
    assert_non_null(xf);
    size_t n = lightgbm_text(text, trees, n_trees);
    mli_model *m = NULL;
    if (mli_model_load_memory(text, n, &m) != MLI_OK)
        fail_msg("%s: %s", what, mli_last_error());
    make_rows(x, trees, n_trees);
    for (int dt = 0; dt < 2; ++dt) { /* float64 rows, then the same values as float32 */
        double want[ROWS], got[ROWS], one;
        if (dt == 1)
            for (int i = 0; i < ROWS * NF; ++i) {
                xf[i] = (float)x[i];
                x[i] = (double)xf[i];
            }
        for (int r = 0; r < ROWS; ++r) {
            want[r] = 0.0;
            for (int k = 0; k < n_trees; ++k)
                want[r] += eval(&trees[k], x + r * NF);
        }
        const void *in = dt ? (const void *)xf : (const void *)x;
        mli_dtype d = dt ? MLI_F32 : MLI_F64;
        assert_int_equal(mli_model_predict(m, in, d, ROWS, NF, got, ROWS), MLI_OK);
        for (int r = 0; r < ROWS; ++r) {
            if (got[r] != want[r])
                fail_msg("%s (%s): batch row %d: %.17g, the double walk %.17g", what, dt ? "f32" : "f64", r, got[r],
                         want[r]);
            const char *row = dt ? (const char *)(xf + r * NF) : (const char *)(x + r * NF);
            assert_int_equal(mli_model_predict(m, row, d, 1, NF, &one, 1), MLI_OK);
            if (one != want[r])
                fail_msg("%s (%s): row %d alone: %.17g, the double walk %.17g", what, dt ? "f32" : "f64", r, one,
                         want[r]);
        }
    }
    mli_model_free(m);
    free(text);
    free(x);
    free(xf);
}

/* One model per shape and leaf count, each of a few trees. */
static void test_each_shape_and_size(void **state) {
    (void)state;
    static const int sizes[] = {1, 2, 31, 32, 33, 63, 64, 65, 80, 96, 97, 128, 129, 160, 200, 255, 256};
    gtree *trees = malloc(sizeof(gtree) * 3);
    assert_non_null(trees);
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; ++s)
        for (int how = GROW_RANDOM; how <= GROW_LEFT; ++how) {
            char what[64];
            snprintf(what, sizeof what, "%d leaves, %s", sizes[s],
                     how == GROW_RANDOM  ? "random splits"
                     : how == GROW_RIGHT ? "right spine"
                                         : "left spine");
            for (int k = 0; k < 3; ++k)
                grow(&trees[k], sizes[s], how, 0);
            check_model(trees, 3, what);
        }
    free(trees);
}

/* Full trees of depth 5 to 8 (32 to 256 leaves), and a model mixing every kind: full,
 * spines, random trees of 2 to 256 leaves. */
static void test_full_and_mixed(void **state) {
    (void)state;
    gtree *trees = malloc(sizeof(gtree) * 40);
    assert_non_null(trees);
    for (int depth = 5; depth <= 8; ++depth) {
        char what[64];
        snprintf(what, sizeof what, "full trees of depth %d", depth);
        for (int k = 0; k < 3; ++k)
            grow(&trees[k], 0, GROW_RANDOM, depth);
        check_model(trees, 3, what);
    }
    for (int k = 0; k < 40; ++k) {
        grow(&trees[k], 2 + (int)(rnd() % (MAXL - 1)),
             k % 5 == 1   ? GROW_RIGHT
             : k % 5 == 2 ? GROW_LEFT
                          : GROW_RANDOM,
             k % 5 == 0 ? 5 + k % 4 : 0);
    }
    check_model(trees, 40, "40 trees of every shape");
    free(trees);
}

/* Trees that test the same (feature, threshold, NaN direction) at many nodes, of every
 * size around the masks' word boundaries, and full ones. */
static void test_repeated_conditions(void **state) {
    (void)state;
    static const int sizes[] = {8, 33, 64, 65, 97, 128, 200, 256};
    gtree *trees = malloc(sizeof(gtree) * 4);
    assert_non_null(trees);
    few_thresholds = 1;
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; ++s) {
        char what[64];
        snprintf(what, sizeof what, "%d leaves, three thresholds a feature", sizes[s]);
        for (int k = 0; k < 4; ++k)
            grow(&trees[k], sizes[s], k == 3 ? GROW_LEFT : GROW_RANDOM, 0);
        check_model(trees, 4, what);
    }
    for (int depth = 6; depth <= 8; ++depth) {
        for (int k = 0; k < 4; ++k)
            grow(&trees[k], 0, GROW_RANDOM, depth);
        check_model(trees, 4, "full trees, three thresholds a feature");
    }
    few_thresholds = 0;
    free(trees);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_each_shape_and_size),
        cmocka_unit_test(test_full_and_mixed),
        cmocka_unit_test(test_repeated_conditions),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
