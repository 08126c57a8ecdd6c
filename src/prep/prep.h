/* prep/prep.h — the `prep` stage (docs/FORMAT.md): a table of small column operations that
 * turns named input columns (numbers or strings, with missing values) into the float64
 * row the model stages take — scikit-learn's ColumnTransformer, imputers, encoders and
 * scalers, exported with their fitted values. build.c reads and validates it from the
 * file; ops.c runs it on rows. */
#ifndef MLI_PREP_H
#define MLI_PREP_H

#include <math.h>
#include <stdint.h>
#include <string.h>

#include "internal.h"

/* The smallest double float32 rounds to infinity: FLT_MAX + half its ulp (a tie, to even). A
 * value of at least this magnitude cannot reach a float32 model stage (linear, MLP): its
 * float32 is infinite, where scikit-learn computes with the float64 value. */
#define MLI__F32_OVERFLOW 0x1.ffffffp+127

/* Operation kinds; each op is one row of 8 int64 in section `ops`:
 * kind, src, dst, count, param, str, flags, n_in (docs/FORMAT.md, "prep"; n_in is 0 except
 * for the ops that read a group of registers, PROJECT and POLY, and SPLINE: its degree). */
enum {
    MLI__OP_NUM = 0,       /* reg[dst] = numeric input column src (missing: NaN) */
    MLI__OP_FILL = 1,      /* reg[dst] = reg[src] is missing (params[0]; NaN: is NaN) ? params[1] : reg[src] */
    MLI__OP_AFFINE = 2,    /* reg[dst] = ((reg[src] - p0) / p1) * p2 + p3, clipped to [p4, p5] with flag 1 */
    MLI__OP_INDICATOR = 3, /* reg[dst] = reg[src] is missing (params[0]) ? 1 : 0 */
    MLI__OP_STRCAT = 4,    /* reg[dst] = the value of string input column src in a table of `count` strings */
    MLI__OP_NUMCAT = 5,    /* reg[dst] = the value of reg[src] in a sorted table of `count` numbers */
    MLI__OP_ONEHOT = 6,    /* reg[dst + c] = (c == reg[src]) for c < count; a code of -1 (or NaN) sets none */
    MLI__OP_FUNC = 7,      /* reg[dst] = function `count` (MLI__FN_*) of reg[src]; binarize: param 0 the threshold */
    MLI__OP_BIN =
        8, /* reg[dst] = how many of the `count` sorted edges (params) are <= reg[src]; NaN, +-inf: an input error */
    MLI__OP_NORM =
        9, /* reg[dst + c] = reg[src + c] / the row norm of those `count` registers (param 0: 0 l1, 1 l2, 2 max) */
    /* reg[dst + k] = (sum_j reg[src + j] * W[k][j] - b[k]) / s[k], k < count, j < n_in (PCA, TruncatedSVD) */
    MLI__OP_PROJECT = 10,
    /* reg[dst + k] = (f_k < 0 ? 1 : reg[src + f_k]) * (p_k < 0 ? 1 : reg[dst + p_k]), p_k < k (PolynomialFeatures) */
    MLI__OP_POLY = 11,
    /* reg[dst] = QuantileTransformer's uniform output of reg[src] over `count` quantiles q and references r:
     * (interp(x, q, r) - interp(-x, -q reversed, -r reversed)) / 2, 0 at q[0], 1 at q[count-1]; with
     * MLI__OPF_NORMAL, the bounds within 1e-7, then the inverse normal CDF, clipped to params 2 count.. */
    MLI__OP_QUANTILE = 12,
    /* reg[dst + j] = B-spline basis function j of reg[src], j < count, degree n_in, over the knots in
     * params, with the extrapolation of flags & MLI__OPF_SPLINE_MODE (SplineTransformer; ops.c) */
    MLI__OP_SPLINE = 13,
    /* reg[dst + k] = sum_j x_j * W[j][k], k < count, over the terms j of string column src's document that are
     * in its vocabulary of n_in strings (scikit-learn's CountVectorizer / TfidfVectorizer, word analyzer), x_j
     * its count, tf-idf weighted and normalized as the flags say, W the linear model's weights of those
     * columns (the vectorizer's sparse columns never exist as registers; text.c) */
    MLI__OP_TEXT = 14,
    MLI__OP_KINDS = 15
};

/* SPLINE extrapolation modes (flags & MLI__OPF_SPLINE_MODE), SplineTransformer's `extrapolation`. */
enum {
    MLI__SPLINE_ERROR = 0,
    MLI__SPLINE_CONSTANT = 1,
    MLI__SPLINE_LINEAR = 2,
    MLI__SPLINE_CONTINUE = 3,
    MLI__SPLINE_PERIODIC = 4
};
#define MLI__SPLINE_MAX_DEGREE 31 /* the de Boor work array lives on the stack */

/* FUNC functions (the op's count): Binarizer, then FunctionTransformer's NumPy ufuncs. */
enum {
    MLI__FN_BINARIZE = 0, /* x > p0 ? 1 : 0; NaN or +-inf is an input error (scikit-learn's check_array) */
    MLI__FN_LOG1P = 1,
    MLI__FN_LOG = 2,
    MLI__FN_EXP = 3,
    MLI__FN_SQRT = 4,
    MLI__FN_ABS = 5,
    MLI__FN_EXPM1 = 6,
    MLI__FN_FINITE = 7,      /* x; NaN or +-inf is an input error (a feature selector validating its input) */
    MLI__FN_YEO_JOHNSON = 8, /* scipy.stats.yeojohnson(x, p0) */
    MLI__FN_BOX_COX = 9,     /* scipy.special.boxcox(x, p0); x <= 0 is an input error (PowerTransformer) */
    MLI__FN_FINITE32 = 10,   /* x; +-inf or a number float32 rounds to +-inf is an input error, NaN too when p0
                                is 1 (the float32 check_array of sklearn.tree's models, allow-nan when p0 is 0) */
    MLI__FN_COUNT = 11
};

/* Op flags. */
#define MLI__OPF_CLIP 1u                /* AFFINE */
#define MLI__OPF_ERR_NAN 1u             /* STRCAT, NUMCAT: a missing value (null / NaN) is an input error */
#define MLI__OPF_ERR_NONE 2u            /* STRCAT: Python's None is an input error */
#define MLI__OPF_ERR_UNKNOWN 4u         /* STRCAT, NUMCAT: a value outside the table is an input error */
#define MLI__OPF_FINITE 1u              /* NUM: +-Inf is an input error (scikit-learn's transformers refuse it) */
#define MLI__OPF_FINITE_OUT 1u          /* FUNC (not binarize): an infinite result is an input error */
#define MLI__OPF_SPLINE_MODE 7u         /* SPLINE: the extrapolation mode (MLI__SPLINE_*) */
#define MLI__OPF_NAN_ZEROS 8u           /* SPLINE: NaN gives zeros (handle_missing='zeros'); else an input error */
#define MLI__OPF_NORMAL 1u              /* QUANTILE: the normal output (the inverse normal CDF, clipped; ops.c) */
#define MLI__OPF_TEXT_LOWER 1u          /* TEXT: str.lower() first */
#define MLI__OPF_TEXT_ASCII 2u          /* TEXT: strip_accents='ascii' (NFKD, then ASCII only) */
#define MLI__OPF_TEXT_UNICODE 4u        /* TEXT: strip_accents='unicode' (NFKD, then no combining marks) */
#define MLI__OPF_TEXT_SHORT 8u          /* TEXT: tokens of one character too (r"(?u)\b\w+\b"); else two or more */
#define MLI__OPF_TEXT_BINARY 16u        /* TEXT: counts of 1 */
#define MLI__OPF_TEXT_SUBLINEAR 32u     /* TEXT: tf = 1 + log(tf) */
#define MLI__OPF_TEXT_IDF 64u           /* TEXT: tf x idf (the idf after the 4 header params) */
#define MLI__OPF_TEXT_L1 128u           /* TEXT: rows divided by their l1 norm */
#define MLI__OPF_TEXT_L2 256u           /* TEXT: rows divided by their l2 norm */
#define MLI__OPF_TEXT_CHAR 512u         /* TEXT (1.8): analyzer='char': character n-grams (no tokens, stop words) */
#define MLI__OPF_TEXT_CHAR_WB 1024u     /* TEXT (1.8): analyzer='char_wb': character n-grams within words */
#define MLI__OPF_TEXT_HASH 2048u        /* TEXT (1.8): HashingVectorizer: term column |murmur3(term)| mod n_in */
#define MLI__OPF_TEXT_ALT_SIGN 4096u    /* TEXT (1.8), with HASH: a term of negative hash counts -1 */
#define MLI__OPF_TEXT_SELECT 8192u      /* TEXT (1.9): no weights; per column its output (-1: none), the value itself */
#define MLI__OPF_TEXT_ABSENT_NAN 16384u /* TEXT (1.9), with SELECT: a column with no entry is NaN (else 0) */
#define MLI__TEXT_MAX_NGRAM 64          /* TEXT: the longest n-gram a file may ask for */
#define MLI__TEXT_MAX_VOCAB (1 << 24)   /* TEXT: vocabulary entries (the strings section's own limit) */

/* Limits of the stage's keys (docs/FORMAT.md), checked by the reader. */
#define MLI__PREP_MAX_OPS (1 << 22)
#define MLI__PREP_MAX_PARAMS (1ll << 28)

/* Column kinds of the input schema (mli_column_kind in mlinfer.h). */
enum { MLI__COL_NUMBER = 0, MLI__COL_STRING = 1, MLI__COL_UNUSED = 2 };

/* Whether an op's outputs each depend on several of its input registers (a row norm, a
 * projection, products of features): a value after it cannot be attributed to one input
 * column (contributions, messages). */
static inline int mli__prep_op_mixes(int kind) {
    return kind == MLI__OP_NORM || kind == MLI__OP_PROJECT || kind == MLI__OP_POLY;
}

typedef struct mli__prep_op {
    int32_t kind, flags;
    int64_t src, dst, count;
    int64_t n_in;    /* PROJECT, POLY: the input registers src..src + n_in - 1; NORM: count; SPLINE: degree; TEXT: the
                     vocabulary size (its columns: hashed, n_features) */
    const double *p; /* params */
    int64_t str0;    /* STRCAT: first string of its table; TEXT: of its vocabulary */
    uint32_t hmask;  /* STRCAT, TEXT: hash slots - 1 */
    uint64_t *hash;  /* STRCAT, TEXT (its vocabulary): slots, a string's hash << 32 | its index + 1, or 0 */
    uint32_t smask;  /* TEXT: stop-word hash slots - 1 */
    uint64_t *shash; /* TEXT: the stop words' slots (their strings follow the vocabulary's) */
    int64_t col;     /* the input column the op's value derives from (messages) */
} mli__prep_op;

/* A TEXT op's vocabulary strings (before its stop words): none when it hashes its terms. */
static inline int64_t mli__text_vocab(const mli__prep_op *op) {
    return (op->flags & MLI__OPF_TEXT_HASH) ? 0 : op->n_in;
}

/* Whether an op's values are not guaranteed bit for bit equal to scikit-learn's (computed by
 * another library's algorithm or summation order, which its build may round differently): such an
 * op must not feed a tree stage, where a last-bit difference can change the leaf (model.c refuses
 * it): a SPLINE, a normal QUANTILE, an l2 NORM; a TEXT op with weights (its outputs are a linear
 * model's partial sums, not features) or with sublinear tf (the log). A selecting TEXT op gives
 * counts, times idf, divided by the row's norm summed in scipy's order: bit for bit. */
static inline int mli__prep_op_inexact(const mli__prep_op *op) {
    return op->kind == MLI__OP_SPLINE ||
           (op->kind == MLI__OP_TEXT &&
            (!(op->flags & MLI__OPF_TEXT_SELECT) || (op->flags & MLI__OPF_TEXT_SUBLINEAR))) ||
           (op->kind == MLI__OP_QUANTILE && (op->flags & MLI__OPF_NORMAL)) ||
           (op->kind == MLI__OP_NORM && op->p[0] == 1.0);
}

typedef struct mli__prep {
    int64_t n_cols, n_regs, n_out, n_ops;
    const uint8_t *col_kind; /* n_cols */
    mli__prep_op *ops;
    const int64_t *out_reg; /* n_out: the register each output column is */
    int64_t *out_col;       /* n_out: the input column an output derives from (messages); -1: several */
    int64_t *reg_col;       /* n_regs: the same for each register */
    int64_t first_mixing;   /* the first op for which mli__prep_op_mixes holds, or -1: then every
                               output is a function of the one input column out_col names */
    int32_t *f32_op;        /* n_cols: the first op kind doing arithmetic on the column's values
                               that scikit-learn runs in float32 for float32 input (an imputer's
                               fill, a scaler, a ufunc, a norm, products, quantiles), or -1 */
    int f32_refused;        /* set by the model: float32 input through such an op is refused
                               (a tree stage follows, where a last-bit difference changes leaves) */
    int64_t n_strings;
    const char **str; /* n_strings strings of the `strings` section, not NUL-terminated */
    uint32_t *str_len;
    uint64_t *hash_store;
    struct mli__prep_linear *lin; /* set by the model when one linear stage follows (linear.c), or NULL */
} mli__prep;

/* FNV-1a of a string: the hash of the STRCAT and TEXT tables. */
uint32_t mli__prep_hash(const char *s, uint32_t len);

/* The index of string s in the table of strings str0.. hashed into `slots` (open addressing,
 * mask + 1 slots of hash << 32 | index + 1, 0 empty), or -1. The stored hash spares the strings
 * of other keys a look (a text model's vocabulary: most of a document's n-grams are not in it). */
static inline int32_t mli__prep_lookup(const mli__prep *p, int64_t str0, const uint64_t *slots, uint32_t mask,
                                       const char *s, uint32_t len) {
    const uint32_t hv = mli__prep_hash(s, len);
    for (uint32_t h = hv & mask;; h = (h + 1) & mask) {
        uint64_t e = slots[h];
        if (!e)
            return -1;
        if ((uint32_t)(e >> 32) != hv)
            continue;
        int32_t k = (int32_t)(uint32_t)e - 1;
        int64_t at = str0 + k;
        if (p->str_len[at] == len && (len == 0 || memcmp(p->str[at], s, len) == 0))
            return k;
    }
}

/* A TEXT op's analysis of one document (text.c): *where is the byte of invalid UTF-8 or the
 * code point an error names. */
enum { MLI__TEXT_OK = 0, MLI__TEXT_BAD_UTF8 = 1, MLI__TEXT_UNASSIGNED = 2, MLI__TEXT_NOMEM = 3, MLI__TEXT_ICU = 4 };
typedef struct mli__text_work {
    char *tok, *gram; /* the tokens' UTF-8 bytes; one n-gram joined by spaces */
    size_t tcap, gcap;
    int64_t *off; /* token k: tok + off[2k], off[2k + 1] bytes */
    size_t ocap;
    int32_t *idx, *idx2; /* the vocabulary indexes of the document's terms; scratch for their sort */
    size_t icap, i2cap;
    double *tf; /* the terms' weights */
    size_t fcap;
} mli__text_work;
/* The op's count outputs for document s (len bytes of UTF-8) into out[0], out[st], ...; with
 * cleared, the caller has set them to mli__text_initial(op) (a block at once: contiguous). */
int mli__text_row(const mli__prep *p, const mli__prep_op *op, const char *s, int64_t len, mli__text_work *w,
                  double *out, int64_t st, int cleared, int64_t *where);
/* What a text op's output holds before a document's terms: 0, or NaN (a selecting op's absent
 * terms with MLI__OPF_TEXT_ABSENT_NAN: XGBoost's missing value). */
static inline double mli__text_initial(const mli__prep_op *op) {
    return (op->flags & MLI__OPF_TEXT_ABSENT_NAN) ? NAN : 0.0;
}
void mli__text_work_free(mli__text_work *w);
/* The Unicode version of the library's character tables (ICU's), as major * 100 + minor. */
int mli__text_unicode_version(void);

struct mli__reader;
/* Reads and validates stage `i`, the prep stage of a model with n_cols input columns. */
mli_status mli__prep_build(const struct mli__reader *r, int i, int64_t n_cols, mli__prep *p);
void mli__prep_free(mli__prep *p);

/* One input column bound to a model column for a call (ops.c). */
typedef struct mli__bound_col {
    int type; /* mli_column_type; -1: not given (an unused column) */
    const void *values;
    int64_t stride; /* numeric: elements between rows */
    const int64_t *offsets;
    const char *dict_bytes;
    int64_t n_dict;
    const uint8_t *validity;
    int32_t *dict_map; /* DICT: per STRCAT op reading it, filled per call: see ops.c */
} mli__bound_col;

/* Per-call state: the bound columns and, for dictionary strings, each STRCAT op's table
 * index for every dictionary entry (-1: unknown). */
typedef struct mli__prep_call {
    const mli__prep *p;
    const char *const *names; /* the model's column names (NULL: none), for messages */
    int64_t rows;
    mli__bound_col *cols; /* n_cols */
    int32_t **op_dict;    /* n_ops: NULL, or the map of a STRCAT op over a DICT column */
    double **op_val;      /* n_ops: NULL, or that op's value for each code + 2 (codes -2..n_dict-1), then as
                             many bytes: 1 where the code is an input error */
} mli__prep_call;

/* Binds the caller's columns (by name or index) to the model's columns and checks them
 * (types against the schema, offsets, dictionary codes), then maps each dictionary.
 * `fn` names the API call in messages. Free with mli__prep_call_free, also on failure. */
mli_status mli__prep_call_columns(const char *fn, mli__prep_call *call, const mli_column *given, int64_t n_given);
/* The same for a row-major numeric matrix (the ordinary predict calls). */
mli_status mli__prep_call_matrix(const char *fn, mli__prep_call *call, const void *x, int f64, int64_t ldx);
void mli__prep_call_free(mli__prep_call *call);

/* Runs the ops on row `row`, writing n_out values to out (work: n_regs doubles). Returns 0,
 * or 1 on an input error (bad value in the row), then *bad_op names the failing op. */
int mli__prep_row(const mli__prep_call *call, int64_t row, double *work, double *out, int64_t *bad_op);
/* The ops on rows [r0, r0 + nb) at once, one op over the block at a time: registers in
 * `work` (n_regs x nb doubles, a register's rows together), outputs in `out` (nb x n_out),
 * or rounded to float32 in `out32` when it is not NULL (for the float32 model stages).
 * Returns -1, or the first row with an input error (with `finite`, a NaN or infinite output
 * counts as one); mli__prep_row on that row then says which. */
int64_t mli__prep_block(const mli__prep_call *call, int64_t r0, int64_t nb, int finite, double *work, double *out,
                        float *out32);
/* The ops alone over rows [r0, r0 + nb), registers in `work` as for mli__prep_block; the ops
 * with skip[o] set (skip may be NULL) are not run. Returns -1, or the first row of the block
 * (0..nb-1) with an input error. */
int64_t mli__prep_block_ops(const mli__prep_call *call, int64_t r0, int64_t nb, const uint8_t *skip, double *work);

/* A linear model stage fed by the prep stage, summed straight from the registers, column by
 * column, instead of from rows of outputs (linear.c): no transpose of the block, and a one-hot
 * op that only the sums read is not run (its code picks one weight per score instead of a
 * product per category). Each score is the float32 sum over the outputs, in output order, of
 * float32(output) x float32 weight (a one-hot op's categories at the place of its first
 * output; its zeros add nothing), then the intercept: the arithmetic of the row form. */
typedef struct mli__prep_term {
    int64_t reg;     /* the register summed, or the code register of a one-hot op */
    int64_t n_codes; /* 0: a value times w[k]; else a one-hot op: code c adds w[c * n_k + k] */
    const float *w;
} mli__prep_term;

typedef struct mli__prep_linear {
    int64_t n_k, n_terms; /* scores; terms */
    mli__prep_term *terms;
    float *w;               /* the terms' weights (one allocation) */
    const float *intercept; /* n_k */
    uint8_t *skip;          /* n_ops: the one-hot ops the sums replace */
} mli__prep_linear;

/* Builds p->lin for a linear stage of n_k scores (coef n_k x p->n_out, row-major), or leaves it
 * NULL where the row form is quicker (many scores over many values: linear.c). */
mli_status mli__prep_linear_build(mli__prep *p, const float *coef, const float *intercept, int64_t n_k);
void mli__prep_linear_free(mli__prep_linear *l);
/* The ops and the scores of rows [r0, r0 + nb): scores[k * nb + i] (score k of row i), work as
 * for mli__prep_block. Returns -1, or the first row (r0-based) with an input error or a NaN or
 * infinite output (the linear stage cannot take one). */
int64_t mli__prep_block_linear(const mli__prep_call *call, int64_t r0, int64_t nb, double *work, float *scores);

/* The message for the input error that mli__prep_row reported on `row`: MLI_ERR_INPUT. */
mli_status mli__prep_row_error(const char *fn, const mli__prep_call *call, int64_t row, int64_t bad_op);

#endif
