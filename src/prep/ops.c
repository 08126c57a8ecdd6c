/* prep/ops.c — runs the `prep` stage: binds the caller's columns to the model's schema,
 * maps string dictionaries once per call, then evaluates the op table row by row in
 * float64 (the arithmetic of scikit-learn's transformers). Read-only on the model; all
 * per-call state lives in mli__prep_call. */
#define _POSIX_C_SOURCE 200809L
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "prep.h"

enum { V_VALUE = 0, V_NULL = 1, V_NONE = 2 }; /* a string cell: a string, a null (NaN), None */

static int valid_at(const uint8_t *validity, int64_t r) { return !validity || (validity[r >> 3] >> (r & 7)) & 1; }

/* The table index of string s in op's table, or -1. */
static int32_t find(const mli__prep *p, const mli__prep_op *op, const char *s, uint32_t len) {
    return mli__prep_lookup(p, op->str0, op->hash, op->hmask, s, len);
}

static const char *col_name(const mli__prep_call *call, int64_t c, char *buf, size_t n) {
    if (c < 0) /* a register made of several columns (after a projection) */
        return "(several columns)";
    if (call->names)
        return call->names[c];
    snprintf(buf, n, "#%lld", (long long)c);
    return buf;
}

static double number_at(const mli__bound_col *b, int64_t r) {
    if (!valid_at(b->validity, r))
        return NAN;
    switch (b->type) {
    case MLI_COLUMN_F64: return ((const double *)b->values)[r * b->stride];
    case MLI_COLUMN_F32: return (double)((const float *)b->values)[r * b->stride];
    default: return (double)((const int64_t *)b->values)[r * b->stride];
    }
}

/* A string cell's bytes: V_VALUE with *s, *len, or V_NULL / V_NONE. */
static int text_at(const mli__bound_col *b, int64_t r, const char **s, int64_t *len) {
    if (!valid_at(b->validity, r))
        return V_NULL;
    if (b->type == MLI_COLUMN_DICT_UTF8) {
        int32_t code = ((const int32_t *)b->values)[r];
        if (code < 0)
            return code == MLI_CODE_NONE ? V_NONE : V_NULL;
        *s = b->dict_bytes + b->offsets[code];
        *len = b->offsets[code + 1] - b->offsets[code];
        return V_VALUE;
    }
    *s = (const char *)b->values + b->offsets[r];
    *len = b->offsets[r + 1] - b->offsets[r];
    return V_VALUE;
}

/* A string cell: V_VALUE with *k its table index (-1: unknown), or V_NULL / V_NONE. */
static int string_at(const mli__prep_call *call, int64_t o, const mli__bound_col *b, int64_t r, int32_t *k) {
    const char *s = NULL;
    int64_t len = 0;
    int v = text_at(b, r, &s, &len);
    if (v == V_VALUE) /* a dictionary code: its entry's index, mapped once per call */
        *k = b->type == MLI_COLUMN_DICT_UTF8 ? call->op_dict[o][((const int32_t *)b->values)[r]]
                                             : find(call->p, &call->p->ops[o], s, (uint32_t)len);
    return v;
}

/* pandas' NA in a string column, as the Python bindings pass it (mlinfer/_columns.py): U+FFFF
 * (a noncharacter) then "<NA>". An encoder takes it for an unknown category; to a vectorizer it
 * is a missing document, which scikit-learn raises on. */
static int pandas_na(const char *s, int64_t len) { return len == 7 && memcmp(s, "\xef\xbf\xbf<NA>", 7) == 0; }

/* A document: V_VALUE with *s, *len, or V_NULL / V_NONE (pandas' NA is V_NULL). */
static int document_at(const mli__bound_col *b, int64_t r, const char **s, int64_t *len) {
    int v = text_at(b, r, s, len);
    return v == V_VALUE && pandas_na(*s, *len) ? V_NULL : v;
}

/* A TEXT op on row r, its outputs at y[0], y[st], ...: 0, or 1 (a missing document or an
 * analysis error: NaN outputs; mli__prep_row_error says which). */
static int text_op(const mli__prep_call *call, const mli__prep_op *op, int64_t r, mli__text_work *w, double *y,
                   int64_t st, int cleared) {
    const char *s = NULL;
    int64_t len = 0, where = 0;
    if (document_at(&call->cols[op->src], r, &s, &len) == V_VALUE &&
        mli__text_row(call->p, op, s, len, w, y, st, cleared, &where) == MLI__TEXT_OK)
        return 0;
    for (int64_t k = 0; k < op->count; ++k)
        y[k * st] = NAN;
    return 1;
}

static int is_missing(double x, double missing) { return isnan(missing) ? isnan(x) : x == missing; }

/* Index of x in the sorted keys, or -1. */
static int64_t search(const double *keys, int64_t n, double x) {
    int64_t lo = 0, hi = n;
    while (lo < hi) {
        int64_t mid = lo + (hi - lo) / 2;
        if (keys[mid] < x)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < n && keys[lo] == x ? lo : -1;
}

/* FUNC: function fn of x; 1 when x is an input error (binarize refuses NaN and +-inf, as
 * scikit-learn's Binarizer validates its input). The ufuncs are NumPy's, which call the C
 * library's for log1p / expm1 and give the IEEE result for sqrt / abs; NaN passes through,
 * and log / sqrt of a negative number are NaN, as NumPy gives them (with a warning). */
static int apply_fn(int64_t fn, int32_t flags, const double *q, double x, double *y) {
    if (fn != MLI__FN_BINARIZE && (flags & MLI__OPF_FINITE_OUT)) {
        int bad = apply_fn(fn, 0, q, x, y);
        return bad || isinf(*y);
    }
    switch (fn) {
    case MLI__FN_FINITE: *y = x; return !isfinite(x);
    case MLI__FN_FINITE32: /* float32(x) is infinite from FLT_MAX + half its ulp (ties to even) up */
        *y = x;
        return isnan(x) ? q[0] != 0.0 : !(fabs(x) < MLI__F32_OVERFLOW);
    case MLI__FN_BINARIZE:
        if (!isfinite(x))
            return 1;
        *y = x > q[0] ? 1.0 : 0.0;
        return 0;
    case MLI__FN_YEO_JOHNSON: { /* scipy's _yeojohnson_transform, float64 (eps: float64's) */
        double l = q[0];
        if (x >= 0.0)
            *y = fabs(l) < DBL_EPSILON ? log1p(x) : expm1(l * log1p(x)) / l;
        else /* and NaN */
            *y = fabs(l - 2.0) > DBL_EPSILON ? -expm1((2.0 - l) * log1p(-x)) / (2.0 - l) : -log1p(-x);
        return 0;
    }
    case MLI__FN_BOX_COX: { /* scipy.special.boxcox; PowerTransformer refuses x <= 0, NaN passes */
        double l = q[0];
        if (x <= 0.0)
            return 1;
        if (fabs(l) < 1e-19)
            *y = log(x);
        else if (l * log(x) < 709.78)
            *y = expm1(l * log(x)) / l;
        else
            *y = (l > 0.0 ? 1.0 : l < 0.0 ? -1.0 : 0.0) * exp(l * log(x) - log(fabs(l))) - 1.0 / l;
        return 0;
    }
    case MLI__FN_LOG1P: *y = log1p(x); return 0;
    case MLI__FN_LOG: *y = log(x); return 0;
    case MLI__FN_EXP: *y = exp(x); return 0;
    case MLI__FN_SQRT: *y = sqrt(x); return 0;
    case MLI__FN_ABS: *y = fabs(x); return 0;
    default: *y = expm1(x); return 0; /* MLI__FN_EXPM1: fn is checked at load */
    }
}

/* BIN: np.searchsorted(edges, x, side='right'), the bin KBinsDiscretizer gives x: how many
 * of the n non-decreasing edges are <= x. */
static int64_t bin_of(const double *edges, int64_t n, double x) {
    int64_t lo = 0, hi = n;
    while (lo < hi) {
        int64_t mid = lo + (hi - lo) / 2;
        if (edges[mid] <= x)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* NumPy's pairwise sum of |a[i]| (numpy/_core/src/umath/loops_utils.h.src), the order
 * np.abs(X).sum(axis=1) adds a row in: below 8 values one by one, up to 128 in 8 interleaved
 * partial sums, above that in halves (multiples of 8). */
static double pairwise_abs_sum(const double *a, int64_t n, int64_t st) {
    if (n < 8) {
        double r = 0.0;
        for (int64_t i = 0; i < n; ++i)
            r += fabs(a[i * st]);
        return r;
    }
    if (n <= 128) {
        double r[8];
        for (int j = 0; j < 8; ++j)
            r[j] = fabs(a[j * st]);
        int64_t i;
        for (i = 8; i < n - (n % 8); i += 8)
            for (int j = 0; j < 8; ++j)
                r[j] += fabs(a[(i + j) * st]);
        double res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
        for (; i < n; ++i)
            res += fabs(a[i * st]);
        return res;
    }
    int64_t n2 = n / 2;
    n2 -= n2 % 8;
    return pairwise_abs_sum(a, n2, st) + pairwise_abs_sum(a + n2 * st, n - n2, st);
}

/* NORM on one row (x: count values, y: count outputs, both `st` apart): scikit-learn's
 * normalize(); a norm below 10 eps (float64's) divides by 1. 1 on a NaN or infinite value (scikit-learn's
 * Normalizer validates its input), the outputs then NaN.
 * l2: sqrt of the squares summed in order. scikit-learn's row_norms is np.einsum, whose SIMD
 * summation order (and FMA use) depends on NumPy's build and CPU dispatch: no fixed order gives
 * its bits (measured: 17-77% of rows identical, whatever the order), so within count x eps
 * relative, and model.c refuses it before trees. */
static int normalize(int64_t n, double kind, const double *x, double *y, int64_t st) {
    double norm = 0.0;
    for (int64_t c = 0; c < n; ++c)
        if (!isfinite(x[c * st])) {
            for (int64_t k = 0; k < n; ++k)
                y[k * st] = NAN;
            return 1;
        }
    if (kind == 0.0) {
        norm = pairwise_abs_sum(x, n, st);
    } else if (kind == 1.0) {
        for (int64_t c = 0; c < n; ++c)
            norm += x[c * st] * x[c * st];
        norm = sqrt(norm);
    } else {
        for (int64_t c = 0; c < n; ++c)
            norm = fabs(x[c * st]) > norm ? fabs(x[c * st]) : norm;
    }
    if (norm < 10.0 * DBL_EPSILON) /* _handle_zeros_in_scale: a near-zero norm divides by 1 */
        norm = 1.0;
    for (int64_t c = 0; c < n; ++c)
        y[c * st] = x[c * st] / norm;
    return 0;
}

/* The first of n values `st` apart that is NaN or infinite, or -1. */
static int64_t first_nonfinite(const double *x, int64_t n, int64_t st) {
    for (int64_t j = 0; j < n; ++j)
        if (!isfinite(x[j * st]))
            return j;
    return -1;
}

/* PROJECT on one row (x: n_in values, y: count outputs, both `st` apart): scikit-learn's
 * (X @ components_.T - mean_ @ components_.T) / scale, the dot product summed in order j =
 * 0, 1, ... (BLAS sums in its own blocked order: see docs/models/pipelines.md, tolerances).
 * 1 on a NaN or infinite input (PCA and TruncatedSVD validate their input), outputs NaN. */
static int project(const mli__prep_op *op, const double *x, double *y, int64_t st) {
    const int64_t n = op->n_in, m = op->count;
    const double *w = op->p, *b = op->p + m * n, *s = b + m;
    if (first_nonfinite(x, n, st) >= 0) {
        for (int64_t k = 0; k < m; ++k)
            y[k * st] = NAN;
        return 1;
    }
    for (int64_t k = 0; k < m; ++k) {
        double acc = 0.0;
        for (int64_t j = 0; j < n; ++j)
            acc += x[j * st] * w[k * n + j];
        y[k * st] = (acc - b[k]) / s[k];
    }
    return 0;
}

/* POLY on one row: term k = (input f_k, or 1) * (term p_k, or 1), scikit-learn's order of
 * multiplications (a degree-d term is a degree d-1 term times one feature). 1 on a NaN or
 * infinite input (PolynomialFeatures validates its input), outputs NaN. */
static int poly(const mli__prep_op *op, const double *x, double *y, int64_t st) {
    const double *q = op->p;
    if (first_nonfinite(x, op->n_in, st) >= 0) {
        for (int64_t k = 0; k < op->count; ++k)
            y[k * st] = NAN;
        return 1;
    }
    for (int64_t k = 0; k < op->count; ++k) {
        int64_t f = (int64_t)q[2 * k], par = (int64_t)q[2 * k + 1]; /* -1 or in range: checked at load */
        y[k * st] = (par < 0 ? 1.0 : y[par * st]) * (f < 0 ? 1.0 : x[f * st]);
    }
    return 0;
}

/* np.interp(x, xp, fp) for n points xp[i] = sg * a[sg > 0 ? i : n-1-i], fp[i] likewise from b (sg -1:
 * the reversed, negated tables): NumPy's arr_interp -- j the last index with xp[j] <= x; below
 * xp[0]: fp[0], above xp[n-1]: fp[n-1]; at xp[j]: fp[j]; else slope * (x - xp[j]) + fp[j], retried
 * from xp[j+1] when that is NaN. x is not NaN. */
static double interp(double x, const double *a, const double *b, int64_t n, double sg) {
#define XP(i) (sg * a[sg > 0 ? (i) : n - 1 - (i)])
#define FP(i) (sg * b[sg > 0 ? (i) : n - 1 - (i)])
    if (n == 1)
        return x < XP(0) ? FP(0) : x > XP(0) ? FP(n - 1) : FP(0);
    if (x < XP(0))
        return FP(0);
    if (x > XP(n - 1))
        return FP(n - 1);
    int64_t lo = 0, hi = n; /* the first index with xp > x, minus 1 */
    while (lo < hi) {
        int64_t mid = lo + (hi - lo) / 2;
        if (x >= XP(mid))
            lo = mid + 1;
        else
            hi = mid;
    }
    int64_t j = lo - 1;
    if (j == n - 1 || XP(j) == x)
        return FP(j);
    double slope = (FP(j + 1) - FP(j)) / (XP(j + 1) - XP(j));
    double r = slope * (x - XP(j)) + FP(j);
    if (isnan(r)) {
        r = slope * (x - XP(j + 1)) + FP(j + 1);
        if (isnan(r) && FP(j) == FP(j + 1))
            r = FP(j);
    }
    return r;
#undef XP
#undef FP
}

/* The inverse of the standard normal CDF at p (scipy.special.ndtri): Wichura's algorithm AS 241
 * (PPND16, Applied Statistics 37, 1988), rational approximations of degree 7 in three ranges of
 * p, about 1e-16 relative. p <= 0: -inf, p >= 1: +inf, NaN passes. Not scipy's algorithm (Cephes),
 * so not bit for bit: measured within a few ulp (docs/models/pipelines.md). */
static double horner8(const double c[8], double x) {
    double r = c[7];
    for (int i = 6; i >= 0; --i)
        r = r * x + c[i];
    return r;
}

static double normal_quantile(double p) {
    static const double a[8] = {3.387132872796366608,  133.14166789178437745, 1971.5909503065514427,
                                13731.693765509461125, 45921.953931549871457, 67265.770927008700853,
                                33430.575583588128105, 2509.0809287301226727};
    static const double b[8] = {1.0,
                                42.313330701600911252,
                                687.1870074920579083,
                                5394.1960214247511077,
                                21213.794301586595867,
                                39307.89580009271061,
                                28729.085735721942674,
                                5226.495278852545925};
    static const double c[8] = {1.42343711074968357734,   4.6303378461565452959,   5.7694972214606914055,
                                3.64784832476320460504,   1.27045825245236838258,  0.24178072517745061177,
                                0.0227238449892691845833, 7.7454501427834140764e-4};
    static const double d[8] = {1.0,
                                2.05319162663775882187,
                                1.6763848301838038494,
                                0.68976733498510000455,
                                0.14810397642748007459,
                                0.0151986665636164571966,
                                5.475938084995344946e-4,
                                1.05075007164441684324e-9};
    static const double e[8] = {6.6579046435011037772,     5.4637849111641143699,    1.7848265399172913358,
                                0.29656057182850489123,    0.026532189526576123093,  0.0012426609473880784386,
                                2.71155556874348757815e-5, 2.01033439929228813265e-7};
    static const double f[8] = {1.0,
                                0.59983220655588793769,
                                0.13692988092273580531,
                                0.0148753612908506148525,
                                7.868691311456132591e-4,
                                1.8463183175100546818e-5,
                                1.4215117583164458887e-7,
                                2.04426310338993978564e-15};
    if (isnan(p))
        return p;
    if (p <= 0.0)
        return -INFINITY;
    if (p >= 1.0)
        return INFINITY;
    double q = p - 0.5;
    if (fabs(q) <= 0.425) { /* the central range: a rational function of q^2 */
        double r = 0.180625 - q * q;
        return q * horner8(a, r) / horner8(b, r);
    }
    double r = sqrt(-log(q < 0.0 ? p : 1.0 - p)); /* the tails: of sqrt(-log(min(p, 1 - p))) */
    double v = r <= 5.0 ? horner8(c, r - 1.6) / horner8(d, r - 1.6) : horner8(e, r - 5.0) / horner8(f, r - 5.0);
    return q < 0.0 ? -v : v;
}

/* QUANTILE on one value: QuantileTransformer._transform_col. NaN passes; +-inf is an input error
 * (scikit-learn's allow-nan validation). Normal output: the bounds are taken within
 * BOUNDS_THRESHOLD (1e-7, the upper first, so the lower wins), then norm.ppf, clipped to
 * [norm.ppf(1e-7 - eps), norm.ppf(1 - (1e-7 - eps))] (stored; computed by scipy at export). */
static int quantile(const mli__prep_op *op, double x, double *y) {
    const int64_t n = op->count;
    const double *q = op->p, *r = op->p + n;
    if (isinf(x))
        return 1;
    if (isnan(x)) {
        *y = x;
        return 0;
    }
    double v = 0.5 * (interp(x, q, r, n, 1.0) - interp(-x, q, r, n, -1.0));
    if (op->flags & MLI__OPF_NORMAL) {
        const double lo = op->p[2 * n], hi = op->p[2 * n + 1];
        if (x + 1e-7 > q[n - 1])
            v = 1.0;
        if (x - 1e-7 < q[0])
            v = 0.0;
        v = normal_quantile(v);
        *y = v < lo ? lo : v > hi ? hi : v;
        return 0;
    }
    if (x == q[n - 1])
        v = 1.0;
    if (x == q[0])
        v = 0.0;
    *y = v;
    return 0;
}

/* NumPy's float remainder (np.remainder, npy_divmod): C's fmod, moved into the divisor's sign;
 * a zero result takes the divisor's sign. */
static double py_mod(double a, double b) {
    double m = fmod(a, b);
    if (m != 0.0)
        return (b < 0.0) != (m < 0.0) ? m + b : m;
    return copysign(0.0, b);
}

/* scipy's _find_interval with extrapolation, for n basis functions of degree k over knots t:
 * the l in [k, n - 1] with t[l] <= x < t[l + 1]; below t[k]: k; at or above t[n]: n - 1 (with
 * repeated knots, the last of them). */
static int64_t spline_interval(const double *t, int64_t k, int64_t n, double x) {
    int64_t lo = k + 1, hi = n; /* the first index in [k + 1, n] whose knot is above x, or n */
    while (lo < hi) {
        int64_t mid = lo + (hi - lo) / 2;
        if (t[mid] > x)
            hi = mid;
        else
            lo = mid + 1;
    }
    return lo - 1;
}

/* The k + 1 B-splines of degree k that are non-zero on interval l, at x, into h[0..k] (h holds
 * 2k + 2 doubles): the Cox-de Boor recurrence, raising the degree one step at a time, with the
 * operations in the order of scipy's evaluation (_deBoor_D), so that the values round alike. */
static void spline_basis(const double *t, double x, int64_t k, int64_t l, double *h) {
    double *prev = h + k + 1;
    h[0] = 1.0;
    for (int64_t d = 1; d <= k; ++d) {
        memcpy(prev, h, sizeof(double) * (size_t)d);
        h[0] = 0.0;
        for (int64_t r = 1; r <= d; ++r) {
            double right = t[l + r], left = t[l + r - d];
            if (right == left) { /* a repeated knot: that piece is empty */
                h[r] = 0.0;
                continue;
            }
            double w = prev[r - 1] / (right - left);
            h[r - 1] += w * (right - x);
            h[r] = w * (x - left);
        }
    }
}

/* SPLINE on one value: SplineTransformer.transform of x for one feature, its count basis
 * functions into y (`st` apart). Params: scipy's knots t; then, for the `constant` and `linear`
 * extrapolations, the range [lo, hi] evaluated as a spline and the number L of functions
 * extrapolated at each end (scikit-learn: t[degree], t[-degree - 1] and degree, except that its
 * `linear` branch raises its degree variable by one below 2, for the next features too, so
 * later features get a narrower range), then the values and the slopes of the basis at lo and
 * at hi (computed at export by scipy as scikit-learn computes them). scipy sums c[l - k + a][j] * h[a] over a for the identity
 * coefficients c (periodic: the first degree rows repeated below), so output j is the sum, in
 * order of a, of the h[a] whose basis function is j: here added in the same order. Returns 1
 * on an input error: NaN under handle_missing='error' (zeros otherwise), +-inf (scikit-learn
 * refuses it, or gives non-finite features that the linear model or MLP after it refuses), a
 * value outside the knots under extrapolation='error'; the outputs are then 0. */
static int spline(const mli__prep_op *op, double x, double *y, int64_t st) {
    const int64_t k = op->n_in, m = op->count, mode = op->flags & MLI__OPF_SPLINE_MODE;
    const int64_t nb = m + (mode == MLI__SPLINE_PERIODIC ? k : 0); /* basis functions */
    const double *t = op->p, *e = t + nb + k + 1, *f_lo = e + 3, *f_hi = f_lo + m, *d_lo = f_hi + m, *d_hi = d_lo + m;
    const double lo = mode == MLI__SPLINE_CONSTANT || mode == MLI__SPLINE_LINEAR ? e[0] : t[k];
    const double hi = mode == MLI__SPLINE_CONSTANT || mode == MLI__SPLINE_LINEAR ? e[1] : t[nb];
    for (int64_t j = 0; j < m; ++j)
        y[j * st] = 0.0;
    if (isnan(x))
        return !(op->flags & MLI__OPF_NAN_ZEROS);
    if (isinf(x))
        return 1;
    if (mode == MLI__SPLINE_PERIODIC) { /* mapped into [t[k], t[nb]] as scikit-learn maps it */
        x = hi - lo > 0.0 ? lo + py_mod(x - lo, hi - lo) : 0.0;
    } else if (x < lo || x > hi) {
        if (mode == MLI__SPLINE_ERROR)
            return 1;
        if (mode == MLI__SPLINE_CONSTANT || mode == MLI__SPLINE_LINEAR) {
            /* the first / last L functions keep their end value, or continue along their slope */
            for (int64_t j = 0; j < (int64_t)e[2]; ++j) {
                int64_t c = x < lo ? j : m - 1 - j;
                double v = x < lo ? f_lo[c] : f_hi[c];
                if (mode == MLI__SPLINE_LINEAR)
                    v = x < lo ? f_lo[c] + (x - lo) * d_lo[c] : f_hi[c] + (x - hi) * d_hi[c];
                y[c * st] = v;
            }
            return 0;
        }
        /* continue: the end pieces' polynomials, as scipy extrapolates */
    }
    double h[2 * (MLI__SPLINE_MAX_DEGREE + 1)];
    const int64_t l = spline_interval(t, k, nb, x);
    spline_basis(t, x, k, l, h);
    for (int64_t a = 0; a <= k; ++a) {
        int64_t b = l - k + a; /* 0 <= b < nb; periodic: b >= m folds onto b - m */
        y[(b >= m ? b - m : b) * st] += h[a];
    }
    return 0;
}

int mli__prep_row(const mli__prep_call *call, int64_t row, double *work, double *out, int64_t *bad_op) {
    const mli__prep *p = call->p;
    for (int64_t o = 0; o < p->n_ops; ++o) {
        const mli__prep_op *op = &p->ops[o];
        const double *q = op->p;
        double x;
        switch (op->kind) {
        case MLI__OP_NUM:
            x = number_at(&call->cols[op->src], row);
            if ((op->flags & MLI__OPF_FINITE) && isinf(x))
                goto bad;
            work[op->dst] = x;
            break;
        case MLI__OP_FILL:
            x = work[op->src];
            work[op->dst] = is_missing(x, q[0]) ? q[1] : x;
            break;
        case MLI__OP_AFFINE:
            x = (((work[op->src] - q[0]) / q[1]) * q[2]) + q[3];
            if (op->flags & MLI__OPF_CLIP) /* np.clip: NaN stays NaN */
                x = x < q[4] ? q[4] : x > q[5] ? q[5] : x;
            work[op->dst] = x;
            break;
        case MLI__OP_INDICATOR: work[op->dst] = is_missing(work[op->src], q[0]) ? 1.0 : 0.0; break;
        case MLI__OP_STRCAT: {
            int32_t k = -1;
            int v = string_at(call, o, &call->cols[op->src], row, &k);
            int64_t n = op->count;
            if (v == V_NULL) {
                if (op->flags & MLI__OPF_ERR_NAN)
                    goto bad;
                work[op->dst] = q[n];
            } else if (v == V_NONE) {
                if (op->flags & MLI__OPF_ERR_NONE)
                    goto bad;
                work[op->dst] = q[n + 1];
            } else if (k < 0) {
                if (op->flags & MLI__OPF_ERR_UNKNOWN)
                    goto bad;
                work[op->dst] = q[n + 2];
            } else {
                work[op->dst] = q[k];
            }
            break;
        }
        case MLI__OP_NUMCAT: {
            int64_t n = op->count, k;
            x = work[op->src];
            if (isnan(x)) {
                if (op->flags & MLI__OPF_ERR_NAN)
                    goto bad;
                work[op->dst] = q[2 * n];
            } else if ((k = search(q, n, x)) < 0) {
                if (op->flags & MLI__OPF_ERR_UNKNOWN)
                    goto bad;
                work[op->dst] = q[2 * n + 1];
            } else {
                work[op->dst] = q[n + k];
            }
            break;
        }
        case MLI__OP_ONEHOT: {
            double code = work[op->src]; /* -1 or 0..count-1: checked at load */
            double *d = work + op->dst;
            for (int64_t c = 0; c < op->count; ++c)
                d[c] = 0.0;
            if (code >= 0.0)
                d[(int64_t)code] = 1.0;
            break;
        }
        case MLI__OP_NORM:
            if (normalize(op->count, q[0], work + op->src, work + op->dst, 1))
                goto bad;
            break;
        case MLI__OP_PROJECT:
            if (project(op, work + op->src, work + op->dst, 1))
                goto bad;
            break;
        case MLI__OP_POLY:
            if (poly(op, work + op->src, work + op->dst, 1))
                goto bad;
            break;
        case MLI__OP_QUANTILE:
            if (quantile(op, work[op->src], &work[op->dst]))
                goto bad;
            break;
        case MLI__OP_SPLINE:
            if (spline(op, work[op->src], work + op->dst, 1))
                goto bad;
            break;
        case MLI__OP_TEXT: {
            mli__text_work tw = {0};
            int e = text_op(call, op, row, &tw, work + op->dst, 1, 0);
            mli__text_work_free(&tw);
            if (e)
                goto bad;
            break;
        }
        case MLI__OP_BIN:
            x = work[op->src];
            if (!isfinite(x))
                goto bad;
            work[op->dst] = (double)bin_of(q, op->count, x);
            break;
        case MLI__OP_FUNC:
            if (apply_fn(op->count, op->flags, q, work[op->src], &work[op->dst]))
                goto bad;
            break;
        default: goto bad; /* not reached: kinds are checked at load */
        }
        continue;
    bad:
        *bad_op = o;
        return 1;
    }
    for (int64_t c = 0; c < p->n_out; ++c)
        out[c] = work[p->out_reg[c]];
    return 0;
}

/* ---- the block form: one op at a time over a block of rows ------------------------------ */

#define AT(reg, i) work[(reg)*nb + (i)]
#define BAD(i)                                                                                                         \
    do {                                                                                                               \
        if ((i) < bad)                                                                                                 \
            bad = (i);                                                                                                 \
    } while (0)

/* Writes 8 rows of the prep outputs (register c's values at work[out_reg[c] * nb + i]) into
 * rows of n_out values, float32 when out32, and adds v * 0 into acc[i] (see mli__prep_block). */
static void emit_rows8(const mli__prep *p, const double *work, int64_t nb, double *out, float *out32, double acc[8]) {
    double a[8] = {0};
    const int64_t n = p->n_out;
    for (int64_t c = 0; c < n; ++c) {
        const double *src = work + p->out_reg[c] * nb;
        double v[8];
        for (int i = 0; i < 8; ++i)
            v[i] = src[i];
        if (out32) /* the float32 value in the check: infinite where v is beyond float32's range */
            for (int i = 0; i < 8; ++i) {
                float f = (float)v[i];
                out32[i * n + c] = f;
                a[i] += f * 0.0f;
            }
        else
            for (int i = 0; i < 8; ++i) {
                out[i * n + c] = v[i];
                a[i] += v[i] * 0.0;
            }
    }
    for (int i = 0; i < 8; ++i)
        acc[i] = a[i];
}

int64_t mli__prep_block_ops(const mli__prep_call *call, int64_t r0, int64_t nb, const uint8_t *skip, double *work) {
    const mli__prep *p = call->p;
    int64_t bad = INT64_MAX;
    for (int64_t o = 0; o < p->n_ops; ++o) {
        const mli__prep_op *op = &p->ops[o];
        if (skip && skip[o])
            continue;
        const double *q = op->p;
        const int64_t src = op->src, dst = op->dst;
        switch (op->kind) {
        case MLI__OP_NUM: {
            const mli__bound_col *b = &call->cols[src];
            if (b->type == MLI_COLUMN_F64 && b->stride == 1 && !b->validity) {
                const double *x = (const double *)b->values + r0;
                for (int64_t i = 0; i < nb; ++i)
                    AT(dst, i) = x[i];
            } else {
                for (int64_t i = 0; i < nb; ++i)
                    AT(dst, i) = number_at(b, r0 + i);
            }
            if (op->flags & MLI__OPF_FINITE)
                for (int64_t i = 0; i < nb; ++i)
                    if (isinf(AT(dst, i)))
                        BAD(i);
            break;
        }
        case MLI__OP_FILL:
            if (isnan(q[0])) /* the usual missing value: a loop without the test of q[0] */
                for (int64_t i = 0; i < nb; ++i) {
                    double x = AT(src, i);
                    AT(dst, i) = isnan(x) ? q[1] : x;
                }
            else
                for (int64_t i = 0; i < nb; ++i) {
                    double x = AT(src, i);
                    AT(dst, i) = x == q[0] ? q[1] : x;
                }
            break;
        case MLI__OP_AFFINE: {
            const double sub = q[0], div = q[1], mul = q[2], add = q[3];
            for (int64_t i = 0; i < nb; ++i)
                AT(dst, i) = (((AT(src, i) - sub) / div) * mul) + add;
            if (op->flags & MLI__OPF_CLIP) /* np.clip: NaN stays NaN */
                for (int64_t i = 0; i < nb; ++i) {
                    double x = AT(dst, i);
                    AT(dst, i) = x < q[4] ? q[4] : x > q[5] ? q[5] : x;
                }
            break;
        }
        case MLI__OP_INDICATOR:
            for (int64_t i = 0; i < nb; ++i)
                AT(dst, i) = is_missing(AT(src, i), q[0]) ? 1.0 : 0.0;
            break;
        case MLI__OP_STRCAT: {
            const mli__bound_col *b = &call->cols[src];
            const int64_t n = op->count;
            const int32_t *map = call->op_dict[o];
            if (map && !b->validity) { /* dictionary codes, the common case: a value per code */
                const int32_t *codes = (const int32_t *)b->values + r0;
                const double *val = call->op_val[o] + 2;
                const uint8_t *err = (const uint8_t *)(val + b->n_dict) + 2;
                int any = 0;
                for (int64_t i = 0; i < nb; ++i) {
                    AT(dst, i) = val[codes[i]];
                    any |= err[codes[i]];
                }
                for (int64_t i = 0; any && i < nb; ++i)
                    if (err[codes[i]]) {
                        BAD(i);
                        AT(dst, i) = NAN; /* a one-hot op after it sets nothing */
                    }
                break;
            }
            for (int64_t i = 0; i < nb; ++i) {
                int32_t k = -1;
                int v;
                if (map && !b->validity) { /* dictionary codes: the common case, no hashing */
                    int32_t code = ((const int32_t *)b->values)[r0 + i];
                    v = code >= 0 ? V_VALUE : code == MLI_CODE_NONE ? V_NONE : V_NULL;
                    k = code >= 0 ? map[code] : -1;
                } else {
                    v = string_at(call, o, b, r0 + i, &k);
                }
                int err = v == V_NULL   ? (op->flags & MLI__OPF_ERR_NAN) != 0
                          : v == V_NONE ? (op->flags & MLI__OPF_ERR_NONE) != 0
                                        : k < 0 && (op->flags & MLI__OPF_ERR_UNKNOWN);
                if (err) {
                    BAD(i);
                    AT(dst, i) = NAN; /* a one-hot op after it sets nothing */
                    continue;
                }
                AT(dst, i) = v == V_NULL ? q[n] : v == V_NONE ? q[n + 1] : k < 0 ? q[n + 2] : q[k];
            }
            break;
        }
        case MLI__OP_NUMCAT: {
            const int64_t n = op->count;
            for (int64_t i = 0; i < nb; ++i) {
                double x = AT(src, i);
                int64_t k = isnan(x) ? -2 : search(q, n, x);
                if ((k == -2 && (op->flags & MLI__OPF_ERR_NAN)) || (k == -1 && (op->flags & MLI__OPF_ERR_UNKNOWN))) {
                    BAD(i);
                    AT(dst, i) = NAN;
                    continue;
                }
                AT(dst, i) = k == -2 ? q[2 * n] : k == -1 ? q[2 * n + 1] : q[n + k];
            }
            break;
        }
        case MLI__OP_ONEHOT:
            memset(&AT(dst, 0), 0, sizeof(double) * (size_t)(op->count * nb));
            for (int64_t i = 0; i < nb; ++i) {
                double code = AT(src, i); /* -1, 0..count-1 (checked at load), or NaN after an error */
                if (code >= 0.0)
                    AT(dst + (int64_t)code, i) = 1.0;
            }
            break;
        case MLI__OP_NORM: /* a register's rows are nb apart: row i's group is strided */
            for (int64_t i = 0; i < nb; ++i)
                if (normalize(op->count, q[0], &AT(src, i), &AT(dst, i), nb))
                    BAD(i);
            break;
        case MLI__OP_PROJECT: { /* row by row in the block: the same sums as mli__prep_row */
            const int64_t n = op->n_in, m = op->count;
            const double *w = q, *b = q + m * n, *s = b + m;
            for (int64_t k = 0; k < m; ++k) {
                double *y = &AT(dst + k, 0);
                for (int64_t i = 0; i < nb; ++i)
                    y[i] = 0.0;
                for (int64_t j = 0; j < n; ++j) { /* each y[i] adds its terms in order j = 0, 1, ... */
                    const double *x = &AT(src + j, 0), wk = w[k * n + j];
                    for (int64_t i = 0; i < nb; ++i)
                        y[i] += x[i] * wk;
                }
                for (int64_t i = 0; i < nb; ++i)
                    y[i] = (y[i] - b[k]) / s[k];
            }
            for (int64_t i = 0; i < nb; ++i)
                if (first_nonfinite(&AT(src, i), n, nb) >= 0) {
                    BAD(i);
                    for (int64_t k = 0; k < m; ++k)
                        AT(dst + k, i) = NAN;
                }
            break;
        }
        case MLI__OP_POLY:
            for (int64_t k = 0; k < op->count; ++k) {
                int64_t f = (int64_t)q[2 * k], par = (int64_t)q[2 * k + 1];
                double *y = &AT(dst + k, 0);
                const double *a = par < 0 ? NULL : &AT(dst + par, 0), *x = f < 0 ? NULL : &AT(src + f, 0);
                for (int64_t i = 0; i < nb; ++i)
                    y[i] = (a ? a[i] : 1.0) * (x ? x[i] : 1.0);
            }
            for (int64_t i = 0; i < nb; ++i)
                if (first_nonfinite(&AT(src, i), op->n_in, nb) >= 0) {
                    BAD(i);
                    for (int64_t k = 0; k < op->count; ++k)
                        AT(dst + k, i) = NAN;
                }
            break;
        case MLI__OP_QUANTILE:
            for (int64_t i = 0; i < nb; ++i)
                if (quantile(op, AT(src, i), &AT(dst, i))) {
                    BAD(i);
                    AT(dst, i) = NAN;
                }
            break;
        case MLI__OP_SPLINE: /* a register's rows are nb apart */
            for (int64_t i = 0; i < nb; ++i)
                if (spline(op, AT(src, i), &AT(dst, i), nb)) {
                    BAD(i);
                    for (int64_t j = 0; j < op->count; ++j)
                        AT(dst + j, i) = NAN;
                }
            break;
        case MLI__OP_TEXT: { /* document by document; the buffers kept across the block */
            mli__text_work tw = {0};
            /* the block's outputs cleared at once, in order: a selecting op before a forest
             * has thousands, which row by row would be strided writes */
            const double init = mli__text_initial(op);
            for (int64_t k = 0; k < op->count * nb; ++k)
                AT(dst, k) = init;
            for (int64_t i = 0; i < nb; ++i)
                if (text_op(call, op, r0 + i, &tw, &AT(dst, i), nb, 1))
                    BAD(i);
            mli__text_work_free(&tw);
            break;
        }
        case MLI__OP_BIN:
            for (int64_t i = 0; i < nb; ++i) {
                double x = AT(src, i);
                if (!isfinite(x)) {
                    BAD(i);
                    AT(dst, i) = NAN; /* a one-hot op after it sets nothing */
                } else {
                    AT(dst, i) = (double)bin_of(q, op->count, x);
                }
            }
            break;
        case MLI__OP_FUNC:
            for (int64_t i = 0; i < nb; ++i)
                if (apply_fn(op->count, op->flags, q, AT(src, i), &AT(dst, i))) {
                    BAD(i);
                    AT(dst, i) = NAN;
                }
            break;
        default: BAD(0); break; /* not reached: kinds are checked at load */
        }
    }
    return bad == INT64_MAX ? -1 : bad;
}

int64_t mli__prep_block(const mli__prep_call *call, int64_t r0, int64_t nb, int finite, double *work, double *out,
                        float *out32) {
    const mli__prep *p = call->p;
    int64_t bad = mli__prep_block_ops(call, r0, nb, NULL, work);
    bad = bad < 0 ? INT64_MAX : bad;
    /* the outputs, row-major, 8 rows at a time (a register's 8 values are one cache line);
     * v * 0 is 0 for a finite v and NaN otherwise, summed per row for the finite check. A
     * whole chunk of 8 has constant trip counts, so that acc stays in registers (a variable
     * count kept it in memory: a store-to-load chain on every value). */
    for (int64_t i0 = 0; i0 < nb; i0 += 8) {
        int64_t n8 = nb - i0 < 8 ? nb - i0 : 8;
        double acc[8] = {0};
        if (n8 == 8)
            emit_rows8(p, work + i0, nb, out ? out + i0 * p->n_out : NULL, out32 ? out32 + i0 * p->n_out : NULL, acc);
        else
            for (int64_t c = 0; c < p->n_out; ++c) {
                const double *src = work + p->out_reg[c] * nb + i0;
                for (int64_t i = 0; i < n8; ++i) {
                    if (out32) {
                        float f = (float)src[i];
                        out32[(i0 + i) * p->n_out + c] = f;
                        acc[i] += f * 0.0f;
                    } else {
                        out[(i0 + i) * p->n_out + c] = src[i];
                        acc[i] += src[i] * 0.0;
                    }
                }
            }
        for (int64_t i = 0; finite && i < n8; ++i)
            if (acc[i] != 0.0) /* NaN */
                BAD(i0 + i);
    }
    return bad == INT64_MAX ? -1 : r0 + bad;
}

#undef AT
#undef BAD

/* Writes at most n - 1 bytes of s (len bytes) into buf, printable ASCII kept, others as
 * \xNN, for a message. */
static void quote(const char *s, int64_t len, char *buf, size_t n) {
    size_t w = 0;
    for (int64_t i = 0; i < len && w + 5 < n; ++i) {
        unsigned char ch = (unsigned char)s[i];
        if (ch >= 0x20 && ch < 0x7f && ch != '\'')
            buf[w++] = (char)ch;
        else if (ch >= 0x80) /* UTF-8 passes through */
            buf[w++] = (char)ch;
        else
            w += (size_t)snprintf(buf + w, n - w, "\\x%02x", ch);
    }
    if (len > 0 && w + 5 >= n && w >= 3)
        memcpy(buf + w - 3, "...", 3);
    buf[w] = 0;
}

mli_status mli__prep_row_error(const char *fn, const mli__prep_call *call, int64_t row, int64_t o) {
    const mli__prep_op *op = &call->p->ops[o];
    char nb[32], val[160];
    const char *name = col_name(call, op->col, nb, sizeof nb);
    if (op->kind == MLI__OP_NUM)
        return mli__fail(MLI_ERR_INPUT,
                         "%s: column '%s', row %lld: %g is not finite (scikit-learn's transformers refuse "
                         "infinity)",
                         fn, name, (long long)row, number_at(&call->cols[op->src], row));
    if (op->kind == MLI__OP_STRCAT) {
        const mli__bound_col *b = &call->cols[op->src];
        int32_t k = -1;
        int v = string_at(call, o, b, row, &k);
        if (v != V_VALUE)
            return mli__fail(MLI_ERR_INPUT,
                             "%s: column '%s', row %lld: a missing value (%s), which the pipeline's "
                             "encoder did not see in training and cannot take",
                             fn, name, (long long)row, v == V_NONE ? "None" : "null/NaN");
        const char *s = NULL;
        int64_t len = 0;
        text_at(b, row, &s, &len);
        quote(s, len, val, sizeof val);
        return mli__fail(MLI_ERR_INPUT,
                         "%s: column '%s', row %lld: unknown category '%s' (not seen in training; the model "
                         "refuses it: an encoder with handle_unknown='error', or XGBoost's category re-coding)",
                         fn, name, (long long)row, val);
    }
    if (op->kind == MLI__OP_TEXT) {
        const char *s = NULL;
        int64_t len = 0, where = 0;
        int v = document_at(&call->cols[op->src], row, &s, &len);
        if (v != V_VALUE)
            return mli__fail(MLI_ERR_INPUT,
                             "%s: column '%s', row %lld: a missing document (%s); a text vectorizer takes strings "
                             "only (scikit-learn raises on it too)",
                             fn, name, (long long)row, v == V_NONE ? "None" : "null/NaN/NA");
        mli__text_work tw = {0};
        double *y = malloc(sizeof(double) * (size_t)op->count);
        int e = y ? mli__text_row(call->p, op, s, len, &tw, y, 1, 0, &where) : MLI__TEXT_NOMEM;
        mli__text_work_free(&tw);
        free(y);
        switch (e) {
        case MLI__TEXT_BAD_UTF8:
            return mli__fail(MLI_ERR_INPUT, "%s: column '%s', row %lld: the text is not valid UTF-8 (byte %lld)", fn,
                             name, (long long)row, (long long)where);
        case MLI__TEXT_UNASSIGNED:
            return mli__fail(MLI_ERR_INPUT,
                             "%s: column '%s', row %lld: character U+%04llX is unassigned in this libmlinfer's Unicode "
                             "%d.%d tables, and the model was exported with Unicode %d.%d, where it may be a letter",
                             fn, name, (long long)row, (unsigned long long)where, mli__text_unicode_version() / 100,
                             mli__text_unicode_version() % 100, (int)op->p[3] / 100, (int)op->p[3] % 100);
        case MLI__TEXT_ICU:
            return mli__fail(MLI_ERR_INTERNAL, "%s: column '%s', row %lld: ICU failed on the text (its data missing?)",
                             fn, name, (long long)row);
        default:
            return mli__fail(MLI_ERR_OUT_OF_MEMORY, "%s: column '%s', row %lld: out of memory analysing the text", fn,
                             name, (long long)row);
        }
    }
    /* NUMCAT, FUNC, BIN, NORM, PROJECT, POLY, QUANTILE, SPLINE: recompute its input; for a group
     * of registers, the first that is not finite names the column */
    const mli__prep *p = call->p;
    const int64_t n_in = op->kind == MLI__OP_NORM                                  ? op->count
                         : op->kind == MLI__OP_PROJECT || op->kind == MLI__OP_POLY ? op->n_in
                                                                                   : 1;
    double *work = malloc(sizeof(double) * (size_t)p->n_regs), x = NAN;
    if (work) {
        mli__prep cut = *p; /* the ops before o only */
        cut.n_ops = o;
        cut.n_out = 0;
        mli__prep_call c2 = *call;
        c2.p = &cut;
        int64_t unused;
        if (mli__prep_row(&c2, row, work, NULL, &unused) == 0) {
            int64_t j = n_in > 1 ? first_nonfinite(work + op->src, n_in, 1) : 0;
            j = j < 0 ? 0 : j;
            x = work[op->src + j];
            name = col_name(call, p->reg_col[op->src + j], nb, sizeof nb);
        }
        free(work);
    }
    static const char *const fn_names[MLI__FN_COUNT] = {
        "binarize", "log1p", "log", "exp", "sqrt", "abs", "expm1", "finite", "yeo-johnson", "box-cox", "finite32"};
    if (op->kind == MLI__OP_FUNC && op->count == MLI__FN_BOX_COX && x <= 0.0)
        return mli__fail(MLI_ERR_INPUT,
                         "%s: column '%s', row %lld: %g reaches a PowerTransformer(method='box-cox'), which takes "
                         "only positive values, as in scikit-learn",
                         fn, name, (long long)row, x);
    if (op->kind == MLI__OP_FUNC && (op->count == MLI__FN_BOX_COX || op->count == MLI__FN_YEO_JOHNSON))
        return mli__fail(MLI_ERR_INPUT,
                         "%s: column '%s', row %lld: the %s transform of %g (lambda %g) is infinite, which the "
                         "pipeline's next steps refuse, as in scikit-learn",
                         fn, name, (long long)row, fn_names[op->count], x, op->p[0]);
    if (op->kind == MLI__OP_FUNC && op->count == MLI__FN_FINITE)
        return mli__fail(MLI_ERR_INPUT,
                         "%s: column '%s', row %lld: %g reaches a feature selector (SelectKBest, SelectFromModel, "
                         "...), or an imputer or MissingIndicator whose missing_values is not NaN, which refuses "
                         "missing and infinite values, as in scikit-learn; impute the column before it",
                         fn, name, (long long)row, x);
    if (op->kind == MLI__OP_FUNC && op->count == MLI__FN_FINITE32)
        return mli__fail(MLI_ERR_INPUT,
                         "%s: column '%s', row %lld: %g reaches the model, which refuses %s, as in scikit-learn (its "
                         "trees take their input as float32)",
                         fn, name, (long long)row, x,
                         isnan(x) ? "missing values (gradient boosting, or trees given a sparse matrix)"
                                  : "infinite values and values too large for float32");
    if (op->kind == MLI__OP_FUNC && op->count != MLI__FN_BINARIZE)
        return mli__fail(MLI_ERR_INPUT,
                         "%s: column '%s', row %lld: numpy.%s(%g) is infinite, which the pipeline's next steps "
                         "refuse (scikit-learn's transformers and linear models refuse infinity)",
                         fn, name, (long long)row, fn_names[op->count], x);
    if (op->kind == MLI__OP_NORM || op->kind == MLI__OP_PROJECT || op->kind == MLI__OP_POLY)
        return mli__fail(MLI_ERR_INPUT,
                         "%s: column '%s', row %lld: %g reaches a %s, which refuses missing and infinite values, as "
                         "in scikit-learn; impute the columns before it",
                         fn, name, (long long)row, x,
                         op->kind == MLI__OP_NORM      ? "Normalizer"
                         : op->kind == MLI__OP_PROJECT ? "PCA or TruncatedSVD"
                                                       : "PolynomialFeatures");
    if (op->kind == MLI__OP_SPLINE)
        return mli__fail(MLI_ERR_INPUT,
                         "%s: column '%s', row %lld: %g reaches a SplineTransformer, which refuses %s, as in "
                         "scikit-learn",
                         fn, name, (long long)row, x,
                         isnan(x)   ? "missing values with handle_missing='error'"
                         : isinf(x) ? "infinite values"
                                    : "values beyond its knots with extrapolation='error'");
    if (op->kind == MLI__OP_QUANTILE)
        return mli__fail(MLI_ERR_INPUT,
                         "%s: column '%s', row %lld: %g reaches a QuantileTransformer, which refuses infinite values, "
                         "as in scikit-learn",
                         fn, name, (long long)row, x);
    if (op->kind == MLI__OP_FUNC || op->kind == MLI__OP_BIN)
        return mli__fail(MLI_ERR_INPUT,
                         "%s: column '%s', row %lld: %g reaches a %s, which refuses missing and infinite "
                         "values, as in scikit-learn; impute the column before it",
                         fn, name, (long long)row, x, op->kind == MLI__OP_BIN ? "KBinsDiscretizer" : "Binarizer");
    if (isnan(x))
        return mli__fail(MLI_ERR_INPUT,
                         "%s: column '%s', row %lld: a missing value, which the pipeline's encoder "
                         "(or CategoricalNB) did not see in training and cannot take",
                         fn, name, (long long)row);
    return mli__fail(MLI_ERR_INPUT,
                     "%s: column '%s', row %lld: unknown category %.17g (not seen in training; the model "
                     "refuses it: an encoder with handle_unknown='error', or CategoricalNB's category indexes)",
                     fn, name, (long long)row, x);
}

/* ---- binding ------------------------------------------------------------------------- */

void mli__prep_call_free(mli__prep_call *call) {
    for (int64_t o = 0; o < call->p->n_ops; ++o) {
        if (call->op_dict)
            free(call->op_dict[o]);
        if (call->op_val)
            free(call->op_val[o]);
    }
    free(call->op_dict);
    free(call->op_val);
    call->op_val = NULL;
    free(call->cols);
    call->op_dict = NULL;
    call->cols = NULL;
}

static const char *type_name(int t) {
    static const char *const names[] = {"float64", "float32", "int64", "utf8 strings", "dictionary strings"};
    return t >= 0 && t <= 4 ? names[t] : "?";
}

/* Offsets of n strings: offsets[0] >= 0, non-decreasing, lengths below 4 GiB. */
static mli_status check_offsets(const char *fn, const char *name, const char *what, const int64_t *off, int64_t n) {
    if (off[0] < 0)
        return mli__fail(MLI_ERR_INVALID_ARGUMENT, "%s: column '%s': %s offset 0 is negative", fn, name, what);
    for (int64_t i = 0; i < n; ++i)
        if (off[i + 1] < off[i] || off[i + 1] - off[i] > (int64_t)UINT32_MAX)
            return mli__fail(MLI_ERR_INVALID_ARGUMENT,
                             "%s: column '%s': %s offsets %lld..%lld are decreasing or span "
                             "4 GiB or more",
                             fn, name, what, (long long)i, (long long)i + 1);
    return MLI_OK;
}

static mli_status map_dictionaries(const char *fn, mli__prep_call *call) {
    const mli__prep *p = call->p;
    char nb[32];
    call->op_dict = calloc((size_t)p->n_ops, sizeof *call->op_dict);
    call->op_val = calloc((size_t)p->n_ops, sizeof *call->op_val);
    if (!call->op_dict || !call->op_val)
        return mli__fail(MLI_ERR_OUT_OF_MEMORY, "%s: out of memory", fn);
    for (int64_t o = 0; o < p->n_ops; ++o) {
        const mli__prep_op *op = &p->ops[o];
        if (op->kind != MLI__OP_STRCAT || call->cols[op->src].type != MLI_COLUMN_DICT_UTF8)
            continue;
        const mli__bound_col *b = &call->cols[op->src];
        int32_t *map = malloc(sizeof(int32_t) * (size_t)(b->n_dict ? b->n_dict : 1));
        if (!map)
            return mli__fail(MLI_ERR_OUT_OF_MEMORY, "%s: column '%s': out of memory for its dictionary", fn,
                             col_name(call, op->src, nb, sizeof nb));
        call->op_dict[o] = map;
        for (int64_t k = 0; k < b->n_dict; ++k)
            map[k] = find(p, op, b->dict_bytes + b->offsets[k], (uint32_t)(b->offsets[k + 1] - b->offsets[k]));
        /* each code's value and whether it is an input error, as mli__prep_block's general loop decides */
        double *val = malloc((sizeof(double) + 1) * (size_t)(b->n_dict + 2));
        if (!val)
            return mli__fail(MLI_ERR_OUT_OF_MEMORY, "%s: column '%s': out of memory for its dictionary", fn,
                             col_name(call, op->src, nb, sizeof nb));
        call->op_val[o] = val;
        uint8_t *err = (uint8_t *)(val + b->n_dict + 2);
        const double *q = op->p;
        const int64_t n = op->count;
        for (int64_t c = -2; c < b->n_dict; ++c) {
            int64_t k = c >= 0 ? map[c] : -1;
            val[c + 2] = c == MLI_CODE_NONE ? q[n + 1] : c < 0 ? q[n] : k < 0 ? q[n + 2] : q[k];
            err[c + 2] = (uint8_t)(c == MLI_CODE_NONE ? (op->flags & MLI__OPF_ERR_NONE) != 0
                                   : c < 0            ? (op->flags & MLI__OPF_ERR_NAN) != 0
                                                      : k < 0 && (op->flags & MLI__OPF_ERR_UNKNOWN));
        }
    }
    return MLI_OK;
}

/* Checks one given column against model column c (kind). */
static mli_status check_column(const char *fn, mli__prep_call *call, int64_t c, const mli_column *g) {
    char nb[32];
    const char *name = col_name(call, c, nb, sizeof nb);
    int kind = call->p->col_kind[c];
    int t = g->type;
    if (t < MLI_COLUMN_F64 || t > MLI_COLUMN_DICT_UTF8 || g->flags != 0)
        return mli__fail(MLI_ERR_INVALID_ARGUMENT, "%s: column '%s': type %d is not an mli_column_type (or flags set)",
                         fn, name, t);
    int is_str = t == MLI_COLUMN_UTF8 || t == MLI_COLUMN_DICT_UTF8;
    if (kind == MLI__COL_NUMBER && is_str)
        return mli__fail(MLI_ERR_INPUT, "%s: column '%s' holds numbers in this model but was given as %s", fn, name,
                         type_name(t));
    if (kind == MLI__COL_STRING && !is_str)
        return mli__fail(MLI_ERR_INPUT, "%s: column '%s' holds strings in this model but was given as %s", fn, name,
                         type_name(t));
    int64_t rows = call->rows;
    if (rows > 0 && (!g->values || (is_str && !g->offsets)))
        return mli__fail(MLI_ERR_INVALID_ARGUMENT, "%s: column '%s': %s is NULL", fn, name,
                         g->values ? "offsets" : "values");
    mli__bound_col *b = &call->cols[c];
    *b = (mli__bound_col){.type = t,
                          .values = g->values,
                          .stride = 1,
                          .offsets = g->offsets,
                          .dict_bytes = g->dict_bytes,
                          .n_dict = g->n_dict,
                          .validity = g->validity};
    if (rows == 0 || kind == MLI__COL_UNUSED)
        return MLI_OK;
    if (t == MLI_COLUMN_UTF8)
        return check_offsets(fn, name, "string", g->offsets, rows);
    if (t == MLI_COLUMN_DICT_UTF8) {
        if (g->n_dict < 0 || g->n_dict > INT32_MAX || (g->n_dict > 0 && !g->dict_bytes))
            return mli__fail(MLI_ERR_INVALID_ARGUMENT,
                             "%s: column '%s': n_dict (%lld) is negative or too large, or "
                             "dict_bytes is NULL",
                             fn, name, (long long)g->n_dict);
        mli_status rc = check_offsets(fn, name, "dictionary", g->offsets, g->n_dict);
        if (rc != MLI_OK)
            return rc;
        const int32_t *codes = g->values;
        for (int64_t r = 0; r < rows; ++r)
            if ((codes[r] < MLI_CODE_NONE || codes[r] >= g->n_dict) && valid_at(g->validity, r))
                return mli__fail(MLI_ERR_INVALID_ARGUMENT, "%s: column '%s', row %lld: code %d is outside -2..%lld", fn,
                                 name, (long long)r, codes[r], (long long)g->n_dict - 1);
    }
    return MLI_OK;
}

static mli_status alloc_cols(const char *fn, mli__prep_call *call) {
    call->cols = malloc(sizeof *call->cols * (size_t)call->p->n_cols);
    if (!call->cols)
        return mli__fail(MLI_ERR_OUT_OF_MEMORY, "%s: out of memory", fn);
    for (int64_t c = 0; c < call->p->n_cols; ++c)
        call->cols[c] = (mli__bound_col){.type = -1};
    return MLI_OK;
}

/* Float32 numbers through a step that scikit-learn computes in float32 before a tree stage:
 * refused, naming the column and the step (the prep stage computes in float64, within the
 * last float32 digit of scikit-learn's values, and a row on a split could take the other
 * branch); float64 input, or float32 straight into the trees, is exact. */
static mli_status check_f32(const char *fn, const mli__prep_call *call) {
    static const char *const what[MLI__OP_KINDS] = {
        [MLI__OP_FILL] = "an imputer",         [MLI__OP_AFFINE] = "a scaler",
        [MLI__OP_FUNC] = "a function",         [MLI__OP_NORM] = "a Normalizer",
        [MLI__OP_POLY] = "PolynomialFeatures", [MLI__OP_QUANTILE] = "a QuantileTransformer"};
    const mli__prep *p = call->p;
    for (int64_t c = 0; p->f32_refused && c < p->n_cols; ++c)
        if (call->cols[c].type == MLI_COLUMN_F32 && p->f32_op[c] >= 0) {
            char nb[32];
            const char *w = what[p->f32_op[c]];
            return mli__fail(MLI_ERR_INPUT,
                             "%s: column '%s' is float32 and goes through %s before the trees: scikit-learn computes "
                             "that step in float32 and libmlinfer in float64, so a row on a split could reach another "
                             "leaf; pass the column as float64",
                             fn, col_name(call, c, nb, sizeof nb), w ? w : "a step");
        }
    return MLI_OK;
}

mli_status mli__prep_call_columns(const char *fn, mli__prep_call *call, const mli_column *given, int64_t n_given) {
    const mli__prep *p = call->p;
    mli_status rc = alloc_cols(fn, call);
    if (rc != MLI_OK)
        return rc;
    if (n_given > 0 && !given)
        return mli__fail(MLI_ERR_INVALID_ARGUMENT, "%s: columns is NULL but n_columns is %lld", fn, (long long)n_given);
    for (int64_t i = 0; i < n_given; ++i) {
        const mli_column *g = &given[i];
        int64_t c = g->index;
        if (g->name) {
            c = -1;
            for (int64_t k = 0; call->names && k < p->n_cols && c < 0; ++k)
                if (strcmp(call->names[k], g->name) == 0)
                    c = k;
            if (c < 0)
                return mli__fail(MLI_ERR_INVALID_ARGUMENT,
                                 "%s: columns[%lld] is '%.80s', which the model does not "
                                 "have",
                                 fn, (long long)i, g->name);
        } else if (c < 0 || c >= p->n_cols) {
            return mli__fail(MLI_ERR_INVALID_ARGUMENT, "%s: columns[%lld] has index %lld, outside 0..%lld", fn,
                             (long long)i, (long long)c, (long long)p->n_cols - 1);
        }
        char nb[32];
        if (call->cols[c].type >= 0)
            return mli__fail(MLI_ERR_INVALID_ARGUMENT, "%s: column '%s' is given twice", fn,
                             col_name(call, c, nb, sizeof nb));
        if ((rc = check_column(fn, call, c, g)) != MLI_OK)
            return rc;
    }
    for (int64_t c = 0; c < p->n_cols; ++c) {
        char nb[32];
        if (call->cols[c].type < 0 && p->col_kind[c] != MLI__COL_UNUSED)
            return mli__fail(MLI_ERR_INVALID_ARGUMENT, "%s: column '%s' (%s) is missing from the input", fn,
                             col_name(call, c, nb, sizeof nb), p->col_kind[c] ? "strings" : "numbers");
    }
    if ((rc = check_f32(fn, call)) != MLI_OK)
        return rc;
    return map_dictionaries(fn, call);
}

mli_status mli__prep_call_matrix(const char *fn, mli__prep_call *call, const void *x, int f64, int64_t ldx) {
    const mli__prep *p = call->p;
    mli_status rc = alloc_cols(fn, call);
    if (rc != MLI_OK)
        return rc;
    for (int64_t c = 0; c < p->n_cols; ++c) {
        char nb[32];
        if (p->col_kind[c] == MLI__COL_STRING)
            return mli__fail(MLI_ERR_UNSUPPORTED,
                             "%s: column '%s' of this model holds strings: pass the input as "
                             "columns (mli_model_predict_columns)",
                             fn, col_name(call, c, nb, sizeof nb));
        call->cols[c] = (mli__bound_col){.type = f64 ? MLI_COLUMN_F64 : MLI_COLUMN_F32,
                                         .values = (const char *)x + (size_t)c * (f64 ? 8 : 4),
                                         .stride = ldx};
    }
    return check_f32(fn, call);
}
