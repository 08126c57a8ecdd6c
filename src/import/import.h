/* import.h — readers for other frameworks' model files. Each one parses a file held in
 * memory and writes the equivalent .mli model (metadata, one `trees` stage, a head; see
 * docs/FORMAT.md) through a writer; the loader then validates that like any .mli file.
 * An importer never trusts its input: every count, index and number is checked, memory
 * stays proportional to the input, and failures name the file and the place. */
#ifndef MLI_IMPORT_H
#define MLI_IMPORT_H

#include <stddef.h>
#include <stdint.h>

#include "../writer.h"

typedef enum {
    MLI__SRC_UNKNOWN,
    MLI__SRC_MLI,
    MLI__SRC_XGBOOST_JSON,
    MLI__SRC_XGBOOST_UBJ,
    MLI__SRC_LIGHTGBM,
    MLI__SRC_CATBOOST_JSON
} mli__source;

/* The string categories of a model trained from pandas `category` columns: its framework
 * maps each string to its code (the position in the column's category list) before the trees
 * see it, so the importer puts a `prep` stage doing that lookup in front of the trees. */
typedef struct mli__input_categories {
    const uint8_t *is_string; /* n_features: 1 for a string column, 0 for a number column (passed on as is) */
    const int64_t *start;     /* n_features + 1: column j's categories are str[start[j]] .. str[start[j+1] - 1] */
    const char *const *str;   /* NUL-terminated UTF-8, none twice in one column */
    int unknown_error;        /* a string outside the list: 1 an input error (XGBoost), 0 missing (LightGBM) */
} mli__input_categories;

/* The storage behind an importer's mli__input_categories: one allocation per array, filled
 * by the importer (start[j], is_string[j], str[k] pointing into bytes), then published. */
typedef struct mli__owned_categories {
    mli__input_categories view; /* valid once `set` */
    int set;
    uint8_t *is_string;
    int64_t *start;
    const char **str;
    char *bytes;
} mli__owned_categories;

/* Allocates the arrays for n_features columns holding `count` strings of `bytes` bytes in
 * all (terminators included); 0 when out of memory (free it all the same). */
int mli__owned_categories_alloc(mli__owned_categories *c, int64_t n_features, size_t count, size_t bytes);
/* Makes c->view describe the filled arrays and sets c->set. */
void mli__owned_categories_publish(mli__owned_categories *c, int unknown_error);
void mli__owned_categories_free(mli__owned_categories *c);

/* Whether bytes [s, s + n) are UTF-8 (shortest forms; surrogates not checked: the
 * loader and the lookup compare bytes). */
int mli__utf8_valid(const char *s, size_t n);

/* A tree-ensemble model as the importers hand it to the writer: the facts of its header
 * and node arrays in the `trees` layout of docs/FORMAT.md. */
typedef struct mli__tree_model {
    const char *origin; /* the file, for messages */
    const char *source; /* the `source` metadata, e.g. "xgboost 2.1.0 binary:logistic" */
    int64_t n_features;
    int64_t n_classes; /* 0: a regressor with n_out outputs; else n_classes classes */
    /* the class labels: class_int (n_classes integers), else class_str (n_classes UTF-8
     * strings), else the integers 0 .. n_classes-1 */
    const int64_t *class_int;
    const char *const *class_str;
    int64_t n_trees, n_nodes, n_out;
    const char *compare; /* lt_f32, le_f32 or le_f64 */
    const char *head;
    int mean;                  /* aggregate: mean of the trees instead of their sum */
    const int64_t *tree_start; /* n_trees + 1 */
    int64_t leaf_width;        /* values per leaf: 1 (0 reads as 1), or n_out (vector leaves: value is
                                  n_nodes x n_out, tree_out NULL) */
    const int32_t *tree_out;   /* n_trees score columns, or NULL when n_out == 1 or vector leaves */
    const int32_t *feature, *left, *right, *leaf_id;
    const double *threshold, *value;
    const uint8_t *flags;
    const double *base;        /* n_out, or NULL */
    const int64_t *cat_offset; /* NULL: no categorical node */
    const int32_t *cat_words;
    const uint32_t *cat_bits;
    int64_t n_cat_words;
    const double *cover; /* per node: training weight reaching it (TreeSHAP), or NULL */
    /* linear leaves (format 1.6; NULL: none): a leaf's output is lin_const + the sum of its
     * terms lin_coeff[k] * x[lin_feature[k]], k in [lin_start[node], lin_start[node + 1]) (n_nodes
     * + 1 offsets, n_lin_terms terms), or its value when one of those features is NaN */
    const int64_t *lin_start;
    const double *lin_const, *lin_coeff;
    const int32_t *lin_feature;
    int64_t n_lin_terms;
    const mli__input_categories *cats; /* string category columns (a prep stage first), or NULL */
    /* 1: the file records no categories of the DataFrame it was trained on, so its framework
     * feeds a pandas category column's codes, not its values, to the trees (metadata
     * `category_input=codes`, read by the Python binding) */
    int category_codes;
} mli__tree_model;

/* Writes the metadata, class labels, the prep stage of tm->cats when set and the `trees`
 * stage of `tm`. */
mli_status mli__write_tree_model(const mli__tree_model *tm, mli__writer *w);
/* Writes n feature names as the `feature_names` section and, when they are short and free
 * of \x1f, also as the metadata key the Python binding reads (joined by \x1f). */
mli_status mli__write_feature_names(const char *const *names, int64_t n, mli__writer *w);

/* Guesses the kind of a model file from its first bytes. */
mli__source mli__sniff(const uint8_t *data, size_t size);

/* XGBoost gbtree model, JSON (`save_model("m.json")`) or UBJSON (`.ubj`). */
mli_status mli__import_xgboost(const char *origin, const uint8_t *data, size_t size, int ubjson, mli__writer *w);

/* LightGBM text model (`save_model("m.txt")`). */
mli_status mli__import_lightgbm(const char *origin, const uint8_t *data, size_t size, mli__writer *w);

/* CatBoost JSON model (`save_model("m.json", format="json")`): float features only. */
mli_status mli__import_catboost(const char *origin, const uint8_t *data, size_t size, mli__writer *w);

#endif
