/* testutil.h — helpers shared by the libmlinfer unit tests: aligned buffers, a seeded RNG,
 * a double-precision reference GEMM, element checks that name the first failing index,
 * and the per-ISA skip. Header-only; everything is static inline so unused helpers cost
 * nothing and raise no warnings. */
#ifndef MLI_TESTUTIL_H
#define MLI_TESTUTIL_H

#include <float.h>
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

/* ---- buffers --------------------------------------------------------------------------- */

/* n floats (plus slack for a misalignment offset) on a 64-byte boundary; never NULL. */
static inline float *tu_falloc(size_t n)
{
    size_t bytes = (n + 32) * sizeof(float);
    bytes = (bytes + 63) / 64 * 64;
    float *p = aligned_alloc(64, bytes);
    assert_non_null(p);
    return p;
}

static inline double *tu_dalloc(size_t n)
{
    double *p = malloc((n ? n : 1) * sizeof(double));
    assert_non_null(p);
    return p;
}

static inline void tu_ffill(float *p, size_t n, float v)
{
    for (size_t i = 0; i < n; i++)
        p[i] = v;
}

/* A bit pattern no kernel produces by accident: written where a call must not write. */
static inline float tu_sentinel(void)
{
    return -1234.5678f;
}

/* Index of the first element whose bits differ, or -1. NaNs compare by bits too. */
static inline int64_t tu_first_bit_diff(const float *a, const float *b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (memcmp(&a[i], &b[i], sizeof(float)) != 0)
            return (int64_t)i;
    return -1;
}

/* ---- random numbers (splitmix64: fixed seed, same stream on every host) ---------------- */

typedef struct tu_rng {
    uint64_t s;
} tu_rng;

static inline uint64_t tu_next(tu_rng *r)
{
    uint64_t z = (r->s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* Uniform in [0, 1). */
static inline double tu_unit(tu_rng *r)
{
    return (double)(tu_next(r) >> 11) * (1.0 / 9007199254740992.0);
}

static inline float tu_uniform(tu_rng *r, float lo, float hi)
{
    return (float)(lo + (hi - lo) * tu_unit(r));
}

/* Uniform integer in [lo, hi]. */
static inline int64_t tu_randint(tu_rng *r, int64_t lo, int64_t hi)
{
    return lo + (int64_t)(tu_next(r) % (uint64_t)(hi - lo + 1));
}

static inline void tu_frand(tu_rng *r, float *p, size_t n, float lo, float hi)
{
    for (size_t i = 0; i < n; i++)
        p[i] = tu_uniform(r, lo, hi);
}

/* ---- reference GEMM -------------------------------------------------------------------- */

/* ref[i*n + j] = alpha * sum_p op(A)_ip op(B)_pj + beta * C_ij computed in double, and
 * mag[i*n + j] = |alpha| * sum_p |op(A)_ip op(B)_pj| + |beta C_ij|, the scale of the
 * rounding error. beta == 0 ignores C (it may hold NaN). op(A) and op(B) are copied to
 * contiguous double rows first so the inner loop is a plain dot product. */
static inline void tu_ref_sgemm(mli_trans ta, mli_trans tb, int64_t m, int64_t n, int64_t k,
                                float alpha, const float *a, int64_t lda, const float *b,
                                int64_t ldb, float beta, const float *c, int64_t ldc,
                                double *ref, double *mag)
{
    double *ad = tu_dalloc((size_t)(m * k));
    double *bt = tu_dalloc((size_t)(n * k)); /* op(B) transposed: n rows of k */
    for (int64_t i = 0; i < m; i++)
        for (int64_t p = 0; p < k; p++)
            ad[i * k + p] = ta == MLI_NO_TRANS ? a[i * lda + p] : a[p * lda + i];
    for (int64_t j = 0; j < n; j++)
        for (int64_t p = 0; p < k; p++)
            bt[j * k + p] = tb == MLI_NO_TRANS ? b[p * ldb + j] : b[j * ldb + p];
    for (int64_t i = 0; i < m; i++) {
        const double *ar = ad + i * k;
        for (int64_t j = 0; j < n; j++) {
            const double *br = bt + j * k;
            double s = 0, sa = 0;
            for (int64_t p = 0; p < k; p++) {
                double t = ar[p] * br[p];
                s += t;
                sa += fabs(t);
            }
            double r = (double)alpha * s, g = fabs((double)alpha) * sa;
            if (beta != 0.0f) {
                r += (double)beta * c[i * ldc + j];
                g += fabs((double)beta * c[i * ldc + j]);
            }
            ref[i * n + j] = r;
            mag[i * n + j] = g;
        }
    }
    free(ad);
    free(bt);
}

/* ---- reference activations ------------------------------------------------------------ */

/* act(x) in double for finite x, the exact function the header describes. */
static inline double tu_ref_act(mli_act act, double x)
{
    switch (act) {
    case MLI_ACT_IDENTITY:
        return x;
    case MLI_ACT_RELU:
        return x > 0 ? x : 0.0;
    case MLI_ACT_SIGMOID:
        return 1.0 / (1.0 + exp(-x));
    case MLI_ACT_TANH:
        return tanh(x);
    case MLI_ACT_GELU:
        return 0.5 * x * (1.0 + erf(x / 1.41421356237309504880));
    case MLI_ACT_GELU_TANH:
        return 0.5 * x * (1.0 + tanh(0.79788456080286535588 * (x + 0.044715 * x * x * x)));
    }
    return NAN;
}

/* The header's error bound for act at x. */
static inline double tu_act_tol(mli_act act, double x)
{
    switch (act) {
    case MLI_ACT_IDENTITY:
    case MLI_ACT_RELU:
        return 0.0;
    case MLI_ACT_SIGMOID:
    case MLI_ACT_TANH:
        return 1e-6;
    case MLI_ACT_GELU:
    case MLI_ACT_GELU_TANH:
        return 2e-6 * fmax(1.0, fabs(x));
    }
    return 0.0;
}

static inline const char *tu_act_name(mli_act act)
{
    static const char *const names[] = {"identity", "relu", "sigmoid", "tanh", "gelu", "gelu_tanh"};
    return (unsigned)act < 6 ? names[act] : "?";
}

#define TU_N_ACTS 6

/* ---- checks ---------------------------------------------------------------------------- */

/* Every got[i] within tol[i] of ref[i] (NaN anywhere fails). Prints the first failure
 * with its index and values, prefixed by `what`, and returns 0; 1 when all pass. */
static inline int tu_check_within(const char *what, const float *got, const double *ref,
                                  const double *tol, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)got[i] - ref[i]);
        if (!(d <= tol[i])) {
            fprintf(stderr, "%s: element %zu: got %.9g, reference %.17g, |diff| %.3g > bound %.3g\n",
                    what, i, (double)got[i], ref[i], d, tol[i]);
            return 0;
        }
    }
    return 1;
}

static inline int tu_is_ident_char(char ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
           ch == '_';
}

static inline int tu_lower(char ch)
{
    return ch >= 'A' && ch <= 'Z' ? ch - 'A' + 'a' : ch;
}

/* True if `word` occurs in msg, ignoring case, as a whole identifier (not inside a longer
 * name): tu_mentions("mli_sgemm: A is NULL", "a") holds, "mli_sgemm" alone names no "m". */
static inline int tu_mentions(const char *msg, const char *word)
{
    size_t wl = strlen(word);
    for (const char *p = msg; *p; p++) {
        size_t i = 0;
        while (i < wl && p[i] && tu_lower(p[i]) == tu_lower(word[i]))
            i++;
        if (i < wl)
            continue;
        int before = p > msg && tu_is_ident_char(p[-1]);
        if (!before && !tu_is_ident_char(p[wl]))
            return 1;
    }
    return 0;
}

/* Returns 1 when `got` == `want` and mli_last_error() names `word` (word NULL: only that
 * the message is not empty); otherwise prints what went wrong and returns 0. */
static inline int tu_failed_as(const char *file, int line, const char *expr, mli_status got,
                               mli_status want, const char *word)
{
    const char *msg = mli_last_error();
    if (got != want) {
        fprintf(stderr, "%s:%d: %s\n  returned %s (%d), expected %s; last error: \"%s\"\n", file,
                line, expr, mli_status_string(got), (int)got, mli_status_string(want),
                msg ? msg : "(null)");
        return 0;
    }
    if (msg == NULL) {
        fprintf(stderr, "%s:%d: %s\n  mli_last_error() returned NULL\n", file, line, expr);
        return 0;
    }
    if (word ? !tu_mentions(msg, word) : msg[0] == 0) {
        fprintf(stderr, "%s:%d: %s\n  message \"%s\" does not name \"%s\"\n", file, line, expr, msg,
                word ? word : "anything");
        return 0;
    }
    return 1;
}

/* Asserts that `call` returns `status` and that the error message names `word`. */
#define TU_EXPECT_FAIL(call, status, word) \
    assert_true(tu_failed_as(__FILE__, __LINE__, #call, (call), (status), (word)))

static inline int tu_ok(const char *file, int line, const char *expr, mli_status got)
{
    if (got == MLI_OK)
        return 1;
    fprintf(stderr, "%s:%d: %s\n  returned %s; last error: \"%s\"\n", file, line, expr,
            mli_status_string(got), mli_last_error());
    return 0;
}

#define TU_EXPECT_OK(call) assert_true(tu_ok(__FILE__, __LINE__, #call, (call)))

/* ---- ISA selection --------------------------------------------------------------------- */

/* Kernel tests run once per ISA (ctest sets MLI_FORCE_ISA). When the forced ISA is missing
 * on this CPU the library reports "unavailable" and every kernel call fails; the test then
 * skips rather than fails. ctest matches the message to mark the test skipped. */
static inline void tu_require_kernels(void)
{
    const char *isa = mli_cpu_isa();
    assert_non_null(isa);
    if (strcmp(isa, "unavailable") == 0) {
        static int said;
        const char *forced = getenv("MLI_FORCE_ISA");
        if (!said++)
            printf("skipping: ISA %s not available on this CPU\n", forced ? forced : "(default)");
        skip();
    }
}

#endif /* MLI_TESTUTIL_H */
