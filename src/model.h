/* model.h — a loaded model: the container it lives in, its metadata, and the stages and
 * head that predict runs (docs/FORMAT.md). Everything here is read-only after load. */
#ifndef MLI_MODEL_H
#define MLI_MODEL_H

#include "format.h"
#include "internal.h"
#include "stage_reader.h"
#include "prep/prep.h"
#include "trees/trees.h"

#define MLI__MAX_STAGES 16
#define MLI__MAX_LAYERS 64

typedef enum { MLI__STAGE_AFFINE, MLI__STAGE_LINEAR, MLI__STAGE_MLP, MLI__STAGE_TREES } mli__stage_kind;

typedef enum {
    MLI__HEAD_IDENTITY,
    MLI__HEAD_BINARY_LOGISTIC,
    MLI__HEAD_BINARY_SIGN,
    MLI__HEAD_BINARY_MHUBER,
    MLI__HEAD_MULTINOMIAL,
    MLI__HEAD_OVR_LOGISTIC,
    MLI__HEAD_OVR_MHUBER,
    MLI__HEAD_ARGMAX,
    MLI__HEAD_LOGISTIC,
    MLI__HEAD_EXP,
    MLI__HEAD_PROBA,
    MLI__HEAD_ISOLATION,
    MLI__HEAD_OVR_SIGMOID,  /* format 1.2 */
    MLI__HEAD_OVR_PROBA,    /* format 1.5 */
    MLI__HEAD_SOFTPLUS,     /* format 1.6 */
    MLI__HEAD_SIGNED_SQUARE /* format 1.6 */
} mli__head;

typedef struct mli__stage {
    mli__stage_kind kind;
    int64_t n_in, n_out;
    /* affine: y = ((x - sub) / div) * mul + add, optionally clipped; NULL = identity */
    const double *sub, *div, *mul, *add;
    int clip;
    int f32_params; /* float32 input: sub/div/mul/add rounded to float32 first (StandardScaler) */
    double clip_lo, clip_hi;
    /* linear: coef is n_out x n_in */
    const float *coef, *intercept;
    /* mlp: W[l] is dims[l] x dims[l+1], b[l] has dims[l+1] */
    int n_layers, act;
    const float *W[MLI__MAX_LAYERS], *b[MLI__MAX_LAYERS];
    int64_t dims[MLI__MAX_LAYERS + 1];
} mli__stage;

struct mli_model {
    mli__container c;
    char *meta_buf; /* "key\0value\0" pairs */
    const char **meta_keys, **meta_values;
    uint32_t n_meta;
    mli_task task;
    int64_t n_features, n_outputs, n_classes, n_decision;
    int has_proba;
    int labels_str;
    const int64_t *labels_int;
    char **labels_text;
    char **feature_names; /* n_features names, or NULL; one allocation (pointers, then text) */
    int n_stages;
    mli__stage stages[MLI__MAX_STAGES];
    mli__head head;
    int64_t width_max; /* widest stage input or output */
    int64_t n_raw;     /* outputs of the last stage */
    int n_affine;      /* leading affine stages (format 1.3: they may precede a tree stage) */
    mli__trees *trees; /* the tree stage (the last stage, after n_affine affine stages), or NULL */
    double iso_norm, iso_offset;
    int zero_positive;  /* binary heads: class 1 where the score is >= 0 rather than > 0 */
    int ovr_link;       /* head ovr_proba: 0 proba (score / ovr_trees), 1 sigmoid, 2 sigmoid in float32 */
    double ovr_trees;   /* head ovr_proba, link proba: the trees of each one-vs-rest estimator */
    int has_image;      /* stage 0 is an image stage (src/image/stage.c): `image` is its spec */
    mli__prep *prep;    /* stage 0 is a prep stage (src/prep/): named columns in, n_in_model values out */
    int64_t n_in_model; /* width of the first model stage's input: n_features, or the prep's n_out */
    int finite_only;    /* the model stages cannot take NaN or infinity (linear, MLP), as scikit-learn */
    int input_check;    /* without a prep stage: the rows the model refuses (mli__input_check) */
    mli_image_spec image;
    const double *background_mean; /* n_in_model: the mean of the export's background data (after the prep
                                      stage when there is one), or NULL */
    struct mli__contrib_map *cmap; /* a prep model's contribution groups (src/contrib.c), or NULL */
};

/* One row's outputs `what` (an mli_output) from its scores: sf (float32, the dense stages)
 * or, when sf is NULL, sd (float64, a tree stage); n_raw values either way. The one head of
 * every predict path, CPU or GPU (src/predict.c). */
void mli__head_row(const mli_model *m, int what, const float *sf, const double *sd, double *out);

/* The leading affine stages (scalers) as predict applies them (src/predict.c, after
 * kernels/affine_rules.h): column c's value v, given as float32 (f32) or float64;
 * mli__affine_rows_f64 does nb rows of x (leading dimension ldx) into dst (nb x n_in_model,
 * float64), the input of a tree stage that follows scalers. Every path that feeds a tree
 * stage (predict, apply, contributions, GPU) must scale first when m->n_affine > 0. */
double mli__affine_value(const mli_model *m, int64_t c, double v, int f32);
void mli__affine_rows_f64(const mli_model *m, const void *x, int f64, int64_t ldx, int64_t nb, double *dst);

/* MLI_ERR_INPUT naming the first row and column of x holding a value the model refuses
 * (m->input_check), else MLI_OK (src/predict.c; the CPU predict paths check block by block
 * themselves). */
mli_status mli__check_finite(const char *fn, const mli_model *m, const void *x, int f64, int64_t rows, int64_t ldx);

/* Argument checks shared by every predict path (CPU rows, CUDA, JPEG; src/predict.c).
 * mli__check_output: m is not NULL, `what` is an mli_output and the model has that output
 * (the error names the model's source). mli__check_predict: that, then dtype, rows, ldx, x
 * and out for `rows` rows of `cols` outputs each (cols: the output's width, or the number of
 * trees for apply); *need gets rows x cols. rows == 0 passes with x and out unchecked. */
mli_status mli__check_output(const char *fn, const mli_model *m, mli_output what);
mli_status mli__check_predict(const char *fn, const mli_model *m, mli_output what, int64_t cols, const void *x,
                              mli_dtype dtype, int64_t rows, int64_t ldx, const void *out, int64_t out_len,
                              int64_t *need);

/* The message of the first failing row `row` of a prep model's call: a bad value, or a value
 * the model stages cannot take (NaN or infinity reaching a linear model or an MLP);
 * MLI_ERR_INPUT (src/predict.c). */
mli_status mli__prep_input_error(const char *fn, const mli_model *m, const mli__prep_call *call, int64_t row);
/* The argument checks shared by the columnar calls (rows x cols outputs into out[out_len],
 * n_columns columns): MLI_OK, or the failure recorded for `fn`. */
mli_status mli__check_columns_call(const char *fn, int64_t rows, int64_t cols, const mli_column *columns,
                                   int64_t n_columns, const void *out, int64_t out_len);
/* The columns of a model without a prep stage gathered into a rows x n_features float64
 * matrix (*xout, freed by the caller), checked as mli_model_predict_columns checks them. */
mli_status mli__columns_to_matrix(const char *fn, const mli_model *m, const mli_column *given, int64_t n_given,
                                  int64_t rows, double **xout);

/* Contributions per input column (src/contrib.c). A model with a prep stage computes them
 * on the prep stage's outputs (the model stages' input features) and adds each feature's
 * share to a group: the input column it derives from alone, or, for a feature that mixes
 * several columns (or comes from an op contrib.c does not know), a group of its own after
 * the n_features input columns. */
typedef struct mli__contrib_map {
    int64_t n_groups;       /* n_features + n_mixed */
    int64_t n_mixed;        /* transformed features reported on their own */
    int64_t *group;         /* n_in_model: the group of each model input feature */
    int64_t *mixed_feature; /* n_mixed: the model input feature of each such group */
    char **mixed_name;      /* n_mixed: "transformed:<name>" (one allocation with the text) */
} mli__contrib_map;

/* Reads the optional `background_mean` section (linear contributions) and, for a prep
 * model, builds its contribution map (reading the optional `stage.0.out_names`). */
mli_status mli__contrib_build(mli_model *m, const mli__reader *r);
void mli__contrib_free(mli_model *m);

#endif
