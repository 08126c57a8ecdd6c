/* mlinfer.h — the stable C ABI of libmlinfer, an embeddable inference runtime for
 * scikit-learn-style models. This header is the whole public API: what is not declared
 * here is not API.
 *
 * Conventions
 *  - Every fallible call returns mli_status (MLI_OK == 0) and writes results through
 *    out-parameters. On failure, mli_last_error() returns a message naming the problem.
 *  - The caller owns every buffer it passes in; the library never keeps a pointer to a
 *    caller buffer after the call returns.
 *  - The library never aborts, exits or prints, whatever the input.
 *  - Calls are thread-safe unless a comment says otherwise.
 */
#ifndef MLINFER_H
#define MLINFER_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- export macro ------------------------------------------------------------------ */
#if defined(MLI_API)
#error "MLI_API is defined by mlinfer.h; do not define it yourself"
#endif
#if defined(_WIN32)
#if defined(MLI_BUILDING_LIBRARY) && !defined(MLI_STATIC)
#define MLI_API __declspec(dllexport)
#elif !defined(MLI_STATIC)
#define MLI_API __declspec(dllimport)
#else
#define MLI_API
#endif
#elif defined(__GNUC__) || defined(__clang__)
#define MLI_API __attribute__((visibility("default")))
#else
#define MLI_API
#endif

/* ---- version ----------------------------------------------------------------------- */
#define MLI_VERSION_MAJOR 0
#define MLI_VERSION_MINOR 1
#define MLI_VERSION_PATCH 0
#define MLI_VERSION_NUMBER (MLI_VERSION_MAJOR * 10000 + MLI_VERSION_MINOR * 100 + MLI_VERSION_PATCH)

/* The library's version as "MAJOR.MINOR.PATCH" (a static string; do not free). Compare it
 * with the MLI_VERSION_* macros to detect a header/library mismatch. */
MLI_API const char *mli_version(void);
/* The same version as MLI_VERSION_NUMBER computes it. */
MLI_API int mli_version_number(void);

/* ---- errors ------------------------------------------------------------------------ */
typedef enum mli_status {
    MLI_OK = 0,
    MLI_ERR_INVALID_ARGUMENT = 1, /* a NULL pointer, a negative or overflowing size, ... */
    MLI_ERR_OUT_OF_MEMORY = 2,
    MLI_ERR_UNSUPPORTED = 3, /* valid request the library or this CPU cannot serve */
    MLI_ERR_IO = 4,          /* a file could not be opened or read */
    MLI_ERR_CORRUPT = 5,     /* a model file or buffer is malformed */
    MLI_ERR_VERSION = 6,     /* a model file needs a newer library */
    MLI_ERR_SHAPE = 7,       /* input or output shape does not fit the model */
    MLI_ERR_DEVICE = 8,      /* GPU missing or a driver error */
    MLI_ERR_INTERNAL = 9,    /* a bug in libmlinfer; please report it */
    MLI_ERR_IMAGE = 10,      /* an input image is not a JPEG, is truncated or corrupt, or is too
                                     large (the pixel limit); the message says which */
    MLI_ERR_INPUT = 11       /* a value in the input cannot be scored: an unknown category, a missing
                                value or infinity the model cannot take; the message names the
                                column, the row and the value */
} mli_status;

/* A short constant name for a status ("MLI_ERR_SHAPE: shape mismatch"). Never NULL. */
MLI_API const char *mli_status_string(mli_status status);

/* The detailed message of the calling thread's most recent failure, e.g.
 * "mli_sgemm: lda (3) is smaller than 4, the row length of A". The string is owned by the
 * library and stays valid until the same thread's next failing call. Returns "" if this
 * thread has not failed yet. Successful calls do not clear it. */
MLI_API const char *mli_last_error(void);

/* ---- threads ----------------------------------------------------------------------- */
/* Sets how many threads the library (and the OpenBLAS it calls) may use for one call.
 * n <= 0 restores the default: the CPUs this process may run on, capped by a cgroup CPU
 * quota when one is set (a Kubernetes CPU limit), or the MLI_THREADS environment variable
 * when it holds a positive number. Affects calls that start after it returns. */
MLI_API mli_status mli_set_num_threads(int n);
/* The thread count in force (always >= 1). */
MLI_API int mli_get_num_threads(void);

/* ---- CPU kernels ------------------------------------------------------------------- */
/* The kernel table is chosen once, at first use, from CPUID and the OS-enabled register
 * state (XCR0): "avx512" (AVX-512 F/BW/DQ/VL), else "avx2" (AVX2 + FMA), else "scalar".
 * MLI_FORCE_ISA=scalar|avx2|avx512 in the environment forces one; forcing an ISA the CPU
 * lacks makes every kernel call fail with MLI_ERR_UNSUPPORTED and a message saying so. */
MLI_API const char *mli_cpu_isa(void);

typedef enum { MLI_NO_TRANS = 0, MLI_TRANS = 1 } mli_trans;

/* Row-major C = alpha * op(A) * op(B) + beta * C; op(A) is m x k, op(B) is k x n.
 * A is m x k (lda >= k) when trans_a == MLI_NO_TRANS, else k x m (lda >= m); likewise B is
 * k x n (ldb >= n) or n x k (ldb >= k); C is m x n with ldc >= n. Leading dimensions are in
 * elements. When beta == 0, C is not read (it may hold NaN). m, n or k == 0 is valid.
 * Error bound: |C - C_exact| <= 1e-5 * k * (|alpha| * sum_p |A_ip||B_pj| / k + ...) — in
 * practice each element is within 1e-5 * k relative of a double-precision reference.
 * Thread count: see mli_set_num_threads. A, B and C must not overlap. */
MLI_API mli_status mli_sgemm(mli_trans trans_a, mli_trans trans_b, int64_t m, int64_t n, int64_t k, float alpha,
                             const float *a, int64_t lda, const float *b, int64_t ldb, float beta, float *c,
                             int64_t ldc);

typedef enum {
    MLI_ACT_IDENTITY = 0,
    MLI_ACT_RELU = 1,
    MLI_ACT_SIGMOID = 2,
    MLI_ACT_TANH = 3,
    MLI_ACT_GELU = 4,     /* erf form: 0.5 x (1 + erf(x / sqrt 2)) */
    MLI_ACT_GELU_TANH = 5 /* 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))) */
} mli_act;

/* Elementwise y = act(x) over n floats; x == y (in place) is allowed, other overlap is not.
 * Error bounds against the exact function: identity and relu exact; sigmoid and tanh
 * within 1e-6 absolute; gelu and gelu_tanh within 2e-6 * max(1, |x|).
 * NaN in -> NaN out (relu included). +-Inf give the limits: sigmoid 1/0, tanh +-1,
 * relu +Inf/0, gelu +Inf/-0. */
MLI_API mli_status mli_activate(mli_act act, const float *x, float *y, int64_t n);

/* Row-wise softmax over a rows x cols row-major matrix; x == y (in place) is allowed.
 * Numerically stable (the row maximum is subtracted first); each output within 1e-6
 * absolute and 1e-5 relative of the exact value. A row holding NaN or +Inf, or made only
 * of -Inf, comes out all NaN (there is no meaningful distribution). cols == 0 or
 * rows == 0 is a no-op. */
MLI_API mli_status mli_softmax(const float *x, float *y, int64_t rows, int64_t cols);

/* ---- models ------------------------------------------------------------------------ */
/* A loaded model (a .mli file, docs/FORMAT.md). Immutable once loaded: any number of
 * threads may predict on one model at once, without locks. */
typedef struct mli_model mli_model;

typedef enum { MLI_TASK_REGRESSION = 0, MLI_TASK_CLASSIFICATION = 1 } mli_task;
typedef enum { MLI_F32 = 0, MLI_F64 = 1 } mli_dtype;

/* Loads a model file: an .mli file, an XGBoost model (JSON `.json` or UBJSON `.ubj`,
 * gbtree) or a LightGBM text model (`.txt`); the kind is recognised from the content, not
 * the name. The file is read once into memory (uncompressed arrays are then used in
 * place, never copied again), so replacing or rewriting the file later cannot affect a
 * loaded model. On failure *out is set to NULL and mli_last_error() names the problem
 * (file, section, offset, field). Free with mli_model_free. */
MLI_API mli_status mli_model_load(const char *path, mli_model **out);
/* Loads a model from `size` bytes at `data`; the bytes are copied, the caller keeps
 * ownership of `data`. */
MLI_API mli_status mli_model_load_memory(const void *data, size_t size, mli_model **out);
/* Frees a model; NULL is a no-op. No predict call may be running on it. */
MLI_API void mli_model_free(mli_model *model);
/* Writes the model as an .mli file (for a model loaded from XGBoost or LightGBM: the
 * converted form; for an .mli file: the bytes it was loaded from). The file is written to
 * a temporary name beside `path` and renamed into place, so readers never see half. */
MLI_API mli_status mli_model_save(const mli_model *model, const char *path);

/* Metadata. For a NULL model these return 0 / NULL. */
MLI_API mli_task mli_model_task(const mli_model *model);
MLI_API int64_t mli_model_n_features(const mli_model *model);
/* Values per row written by mli_model_predict: regression targets, or 1 for classifiers. */
MLI_API int64_t mli_model_n_outputs(const mli_model *model);
/* Classes of a classifier (>= 2); 0 for a regressor. */
MLI_API int64_t mli_model_n_classes(const mli_model *model);
/* Columns written by mli_model_decision_function (1 for a binary linear classifier),
 * or 0 when the model has no decision function. */
MLI_API int64_t mli_model_n_decision(const mli_model *model);
/* 1 if the model has predict_proba, else 0. */
MLI_API int mli_model_has_proba(const mli_model *model);
/* 1 if class labels are strings, 0 if integers (classifiers only). */
MLI_API int mli_model_labels_are_strings(const mli_model *model);
/* Label of class `i` (0 <= i < n_classes). The string is owned by the model. */
MLI_API mli_status mli_model_class_label_int(const mli_model *model, int64_t i, int64_t *out);
MLI_API mli_status mli_model_class_label_str(const mli_model *model, int64_t i, const char **out);
/* Name of input column `i` (0 <= i < n_features), as the model was trained with it
 * (scikit-learn's feature_names_in_, XGBoost's and LightGBM's feature names). Owned by the
 * model. MLI_ERR_UNSUPPORTED when the model records no names. */
MLI_API mli_status mli_model_feature_name(const mli_model *model, int64_t i, const char **out);
/* A metadata value by key (docs/FORMAT.md: "source", "producer", "stage.0.kind", ...), or
 * NULL when absent. Owned by the model. */
MLI_API const char *mli_model_meta(const mli_model *model, const char *key);

/* Predictions for `rows` rows of `x`, row-major with n_features columns and leading
 * dimension `ldx` (>= n_features), of type `dtype`. `out` holds `out_len` doubles and
 * must have room for rows * n_outputs: regression values, or for a classifier the class
 * index (0 .. n_classes-1) of each row (map it with mli_model_class_label_*).
 * Tree models take NaN as a missing value, routed as the framework routes it. A linear
 * model or MLP cannot (scikit-learn refuses such input): NaN or an infinity in a row gives
 * MLI_ERR_INPUT naming the first such row and its column, and no outputs are to be used. */
MLI_API mli_status mli_model_predict(const mli_model *model, const void *x, mli_dtype dtype, int64_t rows, int64_t ldx,
                                     double *out, int64_t out_len);
/* Class probabilities, rows * n_classes doubles. MLI_ERR_UNSUPPORTED for models without. */
MLI_API mli_status mli_model_predict_proba(const mli_model *model, const void *x, mli_dtype dtype, int64_t rows,
                                           int64_t ldx, double *out, int64_t out_len);
/* Decision function, rows * n_decision doubles. MLI_ERR_UNSUPPORTED for models without. */
MLI_API mli_status mli_model_decision_function(const mli_model *model, const void *x, mli_dtype dtype, int64_t rows,
                                               int64_t ldx, double *out, int64_t out_len);

/* Raw scores: the model's outputs before the link function and argmax (XGBoost's
 * output_margin, a boosted model's summed trees plus its prior, a linear model's
 * decision values, a forest's averaged leaves), rows * n_raw doubles. */
MLI_API int64_t mli_model_n_raw(const mli_model *model);
MLI_API mli_status mli_model_predict_raw(const mli_model *model, const void *x, mli_dtype dtype, int64_t rows,
                                         int64_t ldx, double *out, int64_t out_len);
/* Tree models: the number of trees (0 for other models), and for each row the leaf it
 * reaches in each tree, rows * n_trees values, as the framework numbers its leaves
 * (scikit-learn's `apply`: the node index; XGBoost's `pred_leaf`: the node id; LightGBM's
 * `pred_leaf`: the leaf index). MLI_ERR_UNSUPPORTED for models without trees. */
MLI_API int64_t mli_model_n_trees(const mli_model *model);
MLI_API mli_status mli_model_apply(const mli_model *model, const void *x, mli_dtype dtype, int64_t rows, int64_t ldx,
                                   int64_t *out, int64_t out_len);

/* Exact SHAP contributions of each input column to the raw scores (docs/TREES.md,
 * "Contributions"): for every row, (n_features + 1) x n_raw doubles, row-major: value
 * [j][k] is column j's share of raw score k and [n_features][k] the bias (the expected
 * score), so that each row's column sums equal mli_model_predict_raw. Tree models:
 * path-dependent TreeSHAP (XGBoost's pred_contribs, LightGBM's pred_contrib,
 * shap.TreeExplainer), which needs the node covers that importers and exporters record.
 * Linear models: coef x (value - mean of the background data given at export), as
 * shap.LinearExplainer with an independent masker. mli_model_n_contrib gives the values
 * per row, or 0 for a model that cannot be explained; mli_model_predict_contrib then
 * fails with MLI_ERR_UNSUPPORTED saying why. */
MLI_API int64_t mli_model_n_contrib(const mli_model *model);
MLI_API mli_status mli_model_predict_contrib(const mli_model *model, const void *x, mli_dtype dtype, int64_t rows,
                                             int64_t ldx, double *out, int64_t out_len);
/* Models with a prep stage (named columns, below) are explained per input column as well:
 * the contributions are computed on the features the preprocessing gives the model stages
 * (scikit-learn's pipeline[:-1].transform(X); a linear model's background mean is taken in
 * that space) and each feature's share is added to the input column it comes from alone: a
 * one-hot block sums to its column; scaled, imputed, encoded, binned or transformed values
 * and an imputer's missing indicator go to their column. A feature made from several input
 * columns (a Normalizer over several columns, PCA, polynomial features, or any operation
 * this library version does not map) is not split up: it is reported as a contribution
 * column of its own, after the n_features input columns. A row then holds (n_columns + 1) x
 * n_raw values, n_columns = mli_model_n_contrib / n_raw - 1 = n_features + the features
 * reported on their own; the layout, the bias (last) and the sum rule are those above. An
 * input column the pipeline drops (MLI_COLUMN_UNUSED), or one only used through such mixed
 * features, gets 0. Without a prep stage n_columns = n_features.
 *
 * What contribution column i (0 <= i < n_columns) refers to: *column gets the input column
 * (i itself, for i < n_features) or -1 for a transformed feature reported on its own; *name
 * the input column's name (NULL when the model records no names) or, for a transformed
 * feature, "transformed:" followed by its name as the pipeline's get_feature_names_out gave
 * it at export (or, without one, its index among the transformed features). The name is
 * owned by the model and valid until mli_model_free. Either out pointer may be NULL.
 * MLI_ERR_INVALID_ARGUMENT for i outside 0..n_columns-1 (the bias is not a column). */
MLI_API mli_status mli_model_contrib_column(const mli_model *model, int64_t i, int64_t *column, const char **name);

/* SHAP interaction values of tree models (docs/TREES.md, "Interactions"; XGBoost's
 * pred_interactions, shap.TreeExplainer's shap_interaction_values, path-dependent): for
 * every row, (n_columns + 1) x (n_columns + 1) x n_raw doubles, row-major, n_columns as for
 * the contributions (mli_model_contrib_column names the columns). Value [i][j][k], i != j,
 * is the interaction of columns i and j in raw score k (half of it each way: [i][j] ==
 * [j][i]), [i][i][k] column i's main effect (its contribution less its interactions), the
 * last row and column (the bias) 0 but for [n_columns][n_columns][k], the bias itself. So
 * row i of a row's matrix sums to column i's contribution (mli_model_predict_contrib) and
 * the whole matrix to the raw score. Through a prep stage the features' values are summed
 * into their columns' blocks on both axes (what shap run on the transformed matrix and so
 * summed gives). mli_model_n_interactions gives the values per row, or 0 for a model that
 * has none: not a tree model, no node covers (as for the contributions), or more than 2^28
 * values per row; mli_model_predict_interactions then fails with MLI_ERR_UNSUPPORTED saying
 * why. Cost: about the depth times the contributions' (docs/TREES.md). Rows are split
 * over the thread pool as predict splits them. */
MLI_API int64_t mli_model_n_interactions(const mli_model *model);
MLI_API mli_status mli_model_predict_interactions(const mli_model *model, const void *x, mli_dtype dtype, int64_t rows,
                                                  int64_t ldx, double *out, int64_t out_len);

/* ---- images: JPEG input (docs/IMAGE.md) ------------------------------------------- */
/* JPEG decoding uses libjpeg-turbo (TurboJPEG API): baseline, extended and progressive
 * JPEGs with 8-bit samples; grayscale, YCbCr, RGB, CMYK and YCCK (CMYK is taken as Adobe
 * writes it, inverted, and converted as Pillow converts it). libjpeg-turbo's warnings
 * about corrupt data ("Premature end of JPEG file", "Corrupt JPEG data: ...") are errors
 * (MLI_ERR_IMAGE) unless the spec sets MLI_IMAGE_ACCEPT_WARNINGS. Nothing is printed. */

/* Default limit on the pixels (width x height, as the JPEG header declares them) of one
 * image: 2^26 = 67,108,864, e.g. 8192 x 8192. Larger images fail with MLI_ERR_IMAGE before
 * any pixel buffer is allocated (decompression bombs). */
#define MLI_IMAGE_DEFAULT_MAX_PIXELS ((int64_t)1 << 26)
/* Largest output side (spec width or height). */
#define MLI_IMAGE_MAX_SIDE 16384

typedef enum { MLI_COLOR_GRAY = 0, MLI_COLOR_RGB = 1, MLI_COLOR_BGR = 2 } mli_color;
/* How the image is fitted to width x height:
 *  STRETCH  the whole image is resized to width x height (the aspect ratio is not kept);
 *  SHORTER  resized so that its shorter side is `shorter` pixels (the longer side
 *           floor(shorter * long / short)), then the centre width x height is cut out
 *           (torchvision's Resize(shorter) + CenterCrop((height, width)));
 *  CROP     the largest centred region with the aspect ratio width : height is resized to
 *           width x height (Pillow's ImageOps.fit). */
typedef enum { MLI_FIT_STRETCH = 0, MLI_FIT_SHORTER = 1, MLI_FIT_CROP = 2 } mli_fit;
/* BILINEAR: the triangle filter, widened by the scale factor when shrinking (antialiased,
 * as Pillow's Image.BILINEAR); AREA: each output pixel is the mean of the source area it
 * covers, partial pixels weighted by the covered fraction (as OpenCV's INTER_AREA). */
typedef enum { MLI_RESIZE_BILINEAR = 0, MLI_RESIZE_AREA = 1 } mli_resize;
/* HWC: out[(y * width + x) * channels + c]; CHW: out[(c * height + y) * width + x]. */
typedef enum { MLI_LAYOUT_HWC = 0, MLI_LAYOUT_CHW = 1 } mli_layout;

/* Spec flags. */
#define MLI_IMAGE_INVERT 1u          /* use 255 - v for each 8-bit sample v (dark ink -> high values) */
#define MLI_IMAGE_NO_DCT_SCALING 2u  /* always decode at full size (see mli_image_spec) */
#define MLI_IMAGE_ACCEPT_WARNINGS 4u /* keep an image libjpeg-turbo decoded with a warning */

/* What turns an image into a model's input tensor: decode, colour conversion, resize and
 * crop, then per channel out = (v * scale - mean[c]) / std[c] for each 8-bit sample v (after
 * MLI_IMAGE_INVERT), computed in float32 from float64 constants, written as float32 in
 * `layout`. The tensor holds width * height * channels floats (channels: 1 for GRAY, 3
 * for RGB and BGR).
 * Unless MLI_IMAGE_NO_DCT_SCALING is set, a JPEG much larger than needed is decoded at a
 * reduced size by libjpeg-turbo (a factor M/8, M = 1..8: the smallest that keeps the
 * decoded image at least as large as the resize target in both directions); the geometry
 * is then computed on the decoded image. This is several times faster for large photos
 * and changes values slightly (within a few levels) against a full decode + resize.
 * Fill with mli_image_spec_init and change what differs; `reserved` must stay zero. */
typedef struct mli_image_spec {
    int32_t width, height; /* output size, 1..MLI_IMAGE_MAX_SIDE */
    int32_t color;         /* mli_color */
    int32_t fit;           /* mli_fit */
    int32_t shorter;       /* MLI_FIT_SHORTER: the shorter side after resizing, >= width and height */
    int32_t resize;        /* mli_resize */
    int32_t layout;        /* mli_layout */
    uint32_t flags;        /* MLI_IMAGE_* flags */
    double scale;          /* finite */
    double mean[3];        /* per output channel (mean[0] only for GRAY); finite */
    double std[3];         /* per output channel; finite and non-zero */
    int64_t max_pixels;    /* pixel limit of the source image; 0: MLI_IMAGE_DEFAULT_MAX_PIXELS */
    int64_t reserved[6];
} mli_image_spec;

/* Defaults: 224 x 224, RGB, STRETCH, BILINEAR, HWC, no flags, scale 1/255, mean 0, std 1,
 * max_pixels 0 (the default limit). `spec` NULL is a no-op. */
MLI_API void mli_image_spec_init(mli_image_spec *spec);
/* Checks a spec and writes the number of floats of its tensor (width * height * channels)
 * to *out. MLI_ERR_INVALID_ARGUMENT names the bad field. */
MLI_API mli_status mli_image_spec_tensor_len(const mli_image_spec *spec, int64_t *out);

typedef enum {
    MLI_JPEG_GRAY = 0,
    MLI_JPEG_YCBCR = 1,
    MLI_JPEG_RGB = 2,
    MLI_JPEG_CMYK = 3,
    MLI_JPEG_YCCK = 4
} mli_jpeg_colorspace;

typedef struct mli_image_info {
    int32_t width, height; /* as the frame header declares them */
    int32_t components;    /* 1, 3 or 4 */
    int32_t colorspace;    /* mli_jpeg_colorspace */
    int32_t progressive;   /* 1 for a progressive JPEG, else 0 */
    int32_t reserved[3];
} mli_image_info;

/* Reads a JPEG's headers (no pixel data is decoded). MLI_ERR_IMAGE for data that is not a
 * JPEG or whose headers are truncated or malformed; MLI_ERR_UNSUPPORTED for JPEGs that
 * libjpeg-turbo cannot decode (lossless, hierarchical, 12-bit, unknown colour spaces). */
MLI_API mli_status mli_image_jpeg_info(const void *jpeg, size_t size, mli_image_info *out);

/* Decodes a JPEG to 8-bit pixels, row-major HWC without padding, 1 channel for
 * MLI_COLOR_GRAY and 3 for RGB/BGR. The image is decoded at the smallest libjpeg-turbo
 * scale M/8 (M = 1..8) whose size is at least min_width x min_height (0, 0: full size;
 * the rule mli_image_spec's DCT scaling follows). With `out` NULL, only *width and *height
 * are written: the size it would decode to, so that a caller can size `out` (out_len bytes,
 * at least width * height * channels). Grayscale from a colour JPEG is its luma as decoded
 * by libjpeg-turbo; from CMYK, Pillow's ITU-R 601 formula. `max_pixels` <= 0 means
 * MLI_IMAGE_DEFAULT_MAX_PIXELS. Warnings fail unless `flags` has MLI_IMAGE_ACCEPT_WARNINGS. */
MLI_API mli_status mli_image_decode_jpeg(const void *jpeg, size_t size, mli_color color, int32_t min_width,
                                         int32_t min_height, int64_t max_pixels, uint32_t flags, uint8_t *out,
                                         int64_t out_len, int32_t *width, int32_t *height);

/* Decodes and preprocesses one JPEG into `out` (out_len floats, at least the spec's tensor
 * length). Single-threaded; thread-safe. */
MLI_API mli_status mli_image_preprocess_jpeg(const void *jpeg, size_t size, const mli_image_spec *spec, float *out,
                                             int64_t out_len);
/* The same from pixels already decoded: `height` rows of `width` pixels with `channels`
 * (1: gray, 3: RGB, 4: CMYK as mli_image_decode_jpeg would read it from a JPEG, inverted)
 * 8-bit samples each, rows `stride` bytes apart (>= width * channels). DCT scaling does not
 * apply; the pixel limit does. RGB to gray uses Pillow's ITU-R 601 formula
 * (L = (19595 R + 38470 G + 7471 B + 32768) >> 16). */
MLI_API mli_status mli_image_preprocess_pixels(const uint8_t *pixels, int32_t width, int32_t height, int32_t channels,
                                               int64_t stride, const mli_image_spec *spec, float *out, int64_t out_len);

/* ---- models with an image stage ----------------------------------------------------- */
/* A model exported with an image stage (docs/FORMAT.md, stage kind `image`) takes JPEG
 * bytes: the stage's tensor is the model's input row (n_features = its tensor length). */
typedef enum { MLI_OUTPUT_PREDICT = 0, MLI_OUTPUT_PROBA = 1, MLI_OUTPUT_DECISION = 2, MLI_OUTPUT_RAW = 3 } mli_output;

/* Values per input row for `what` (n_outputs, n_classes, n_decision or n_raw), or 0 when
 * the model does not have that output (or is NULL). */
MLI_API int64_t mli_model_output_len(const mli_model *model, mli_output what);
/* 1 when the model has an image stage, else 0. */
MLI_API int mli_model_has_image(const mli_model *model);
/* Copies the model's image stage to *out; MLI_ERR_UNSUPPORTED when it has none. */
MLI_API mli_status mli_model_image_spec(const mli_model *model, mli_image_spec *out);
/* Decodes and preprocesses one JPEG with the model's image stage and writes the outputs
 * `what` asks for, mli_model_output_len(model, what) doubles (out_len at least that), as
 * mli_model_predict & co. would for the tensor. MLI_ERR_UNSUPPORTED for a model without
 * an image stage or without that output; image errors as mli_image_preprocess_jpeg. */
MLI_API mli_status mli_model_predict_jpeg(const mli_model *model, const void *jpeg, size_t size, mli_output what,
                                          double *out, int64_t out_len);
/* The same for n JPEGs (jpegs[i], sizes[i] bytes), decoded on the library's threads (see
 * mli_set_num_threads): out holds n * mli_model_output_len(model, what) doubles, row i for
 * image i. If any image fails, the call fails and the message names the first failing
 * image's index; `out` is then unspecified. */
MLI_API mli_status mli_model_predict_jpeg_batch(const mli_model *model, const void *const *jpegs, const size_t *sizes,
                                                int64_t n, mli_output what, double *out, int64_t out_len);

/* ---- named columns: models with an input schema (docs/models/pipelines.md) ---------- */
/* A model exported from a scikit-learn pipeline with a ColumnTransformer, imputers or
 * encoders starts with a `prep` stage (docs/FORMAT.md): its inputs are named columns, each a
 * number or a string, with missing values. Other models have n_features numeric columns. */
typedef enum {
    MLI_COLUMN_NUMBER = 0, /* numbers; NaN or a null is a missing value */
    MLI_COLUMN_STRING = 1, /* UTF-8 strings (categories, or a text model's documents); a null is a missing value */
    MLI_COLUMN_UNUSED = 2  /* dropped by the pipeline: it may be left out of the input */
} mli_column_kind;
/* The kind of input column `i` (0 <= i < n_features). */
MLI_API mli_status mli_model_column_kind(const mli_model *model, int64_t i, mli_column_kind *out);
/* The index of the input column called `name` (a NUL-terminated UTF-8 string);
 * MLI_ERR_INVALID_ARGUMENT when the model has no such column (or records no names). */
MLI_API mli_status mli_model_column_index(const mli_model *model, const char *name, int64_t *out);
/* How one column of input is laid out (each value one row):
 *  F64, F32, I64  `rows` numbers at `values`;
 *  UTF8           `rows` strings: string r is the bytes values[offsets[r] .. offsets[r+1]),
 *                 `offsets` holds rows + 1 non-decreasing offsets (Arrow's large_string);
 *  DICT_UTF8      `rows` int32 codes at `values` into a dictionary of n_dict strings, entry k
 *                 being dict_bytes[offsets[k] .. offsets[k+1]) (n_dict + 1 offsets; Arrow's
 *                 dictionary array, pandas' factorize); the code MLI_CODE_NULL is a missing
 *                 value, MLI_CODE_NONE Python's None, which scikit-learn keeps apart from NaN
 *                 in an object column (a null and NaN are the same missing value). */
typedef enum {
    MLI_COLUMN_F64 = 0,
    MLI_COLUMN_F32 = 1,
    MLI_COLUMN_I64 = 2,
    MLI_COLUMN_UTF8 = 3,
    MLI_COLUMN_DICT_UTF8 = 4
} mli_column_type;
#define MLI_CODE_NULL (-1)
#define MLI_CODE_NONE (-2)
/* One input column. The caller owns every buffer; nothing is kept after the call. Zero the
 * struct (reserved fields included) and fill what the type uses. */
typedef struct mli_column {
    const char *name;        /* the model column by name, or NULL to take `index` */
    int64_t index;           /* the model column by position, when name is NULL */
    int32_t type;            /* mli_column_type */
    int32_t flags;           /* 0 */
    const void *values;      /* numbers, string bytes or int32 codes (above) */
    const int64_t *offsets;  /* UTF8: rows + 1 offsets; DICT_UTF8: n_dict + 1 offsets */
    const char *dict_bytes;  /* DICT_UTF8: the dictionary's bytes */
    int64_t n_dict;          /* DICT_UTF8: dictionary entries */
    const uint8_t *validity; /* NULL, or a bitmap: bit (r % 8) of byte r / 8 is 0 where row r is
                                missing (a null), as Arrow's validity bitmap */
    int64_t reserved[4];
} mli_column;
/* Predictions for `rows` rows given as columns: every column of the model whose kind is not
 * MLI_COLUMN_UNUSED exactly once, in any order (numbers as F64/F32/I64, strings as UTF8 or
 * DICT_UTF8), and no column the model lacks. `what` and `out` as mli_model_predict_jpeg:
 * rows * mli_model_output_len(model, what) doubles. Works for every model (a model without a
 * prep stage takes n_features numeric columns). Errors: MLI_ERR_INVALID_ARGUMENT for a
 * missing, repeated or unknown column, a wrong type or a bad offset or code (naming the
 * column); MLI_ERR_INPUT for a value the model cannot score, naming the column, the row
 * (the first such row) and the value, and for a float32 column that goes through a step
 * scikit-learn computes in float32 (imputer, scaler, ufunc, ...) before a tree stage (naming
 * the column; float64 is exact: docs/models/pipelines.md); `out` is then unspecified. */
MLI_API mli_status mli_model_predict_columns(const mli_model *model, const mli_column *columns, int64_t n_columns,
                                             int64_t rows, mli_output what, double *out, int64_t out_len);
/* Contributions (mli_model_predict_contrib, and the columns mli_model_contrib_column names)
 * for `rows` rows given as columns, as mli_model_predict_columns takes them: out holds
 * rows * mli_model_n_contrib(model) doubles, row-major. The same errors as
 * mli_model_predict_columns, and MLI_ERR_UNSUPPORTED (saying why) for a model that cannot
 * be explained. The caller owns every buffer; nothing is kept after the call. */
MLI_API mli_status mli_model_predict_contrib_columns(const mli_model *model, const mli_column *columns,
                                                     int64_t n_columns, int64_t rows, double *out, int64_t out_len);
/* Tree models: the leaf each row reaches in each tree (mli_model_apply) for rows given as
 * columns, as mli_model_predict_columns takes them: out holds rows * mli_model_n_trees(model)
 * values. The errors of mli_model_predict_columns; MLI_ERR_UNSUPPORTED for a model without
 * trees. */
MLI_API mli_status mli_model_apply_columns(const mli_model *model, const mli_column *columns, int64_t n_columns,
                                           int64_t rows, int64_t *out, int64_t out_len);
/* Interactions (mli_model_predict_interactions) for rows given as columns: out holds rows *
 * mli_model_n_interactions(model) doubles. The errors of mli_model_predict_contrib_columns. */
MLI_API mli_status mli_model_predict_interactions_columns(const mli_model *model, const mli_column *columns,
                                                          int64_t n_columns, int64_t rows, double *out,
                                                          int64_t out_len);
#if defined(MLI_EXPERIMENTAL)
/* Experimental: may change or go away in any release.
 *
 * Fused C = act(A * B + bias) with A m x k (lda), B k x n (ldb), bias n floats (or NULL
 * for none), C m x n (ldc), all row-major and not transposed — the dense layer of an MLP.
 * Same error bounds as mli_sgemm followed by mli_activate. */
MLI_API mli_status mli_sgemm_bias_act(int64_t m, int64_t n, int64_t k, const float *a, int64_t lda, const float *b,
                                      int64_t ldb, const float *bias, mli_act act, float *c, int64_t ldc);
#endif

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* MLINFER_H */
