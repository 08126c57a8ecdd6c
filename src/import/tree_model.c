/* tree_model.c — the part of a .mli file that every tree importer writes the same way:
 * header metadata, integer class labels, the one `trees` stage and the feature names. */
#include <stdlib.h>
#include <string.h>

#include "import.h"

#define MLI__JOINED_NAMES_MAX 4000 /* the metadata copy of the names stays a short string */

mli_status mli__write_tree_model(const mli__tree_model *tm, mli__writer *w) {
    mli__writer_meta(w, "producer", "libmlinfer %s", mli_version());
    mli__writer_meta(w, "source", "%s", tm->source);
    mli__writer_meta(w, "task", "%s", tm->n_classes ? "classification" : "regression");
    mli__writer_meta(w, "n_features", "%lld", (long long)tm->n_features);
    mli__writer_meta(w, "n_outputs", "%lld", tm->n_classes ? 1LL : (long long)tm->n_out);
    if (tm->n_classes) {
        int64_t *cls = malloc((size_t)tm->n_classes * sizeof *cls);
        if (!cls)
            return mli__fail(MLI_ERR_OUT_OF_MEMORY, "%s: out of memory for %lld class labels", tm->origin,
                             (long long)tm->n_classes);
        for (int64_t k = 0; k < tm->n_classes; ++k)
            cls[k] = k;
        mli__writer_meta(w, "n_classes", "%lld", (long long)tm->n_classes);
        mli__writer_meta(w, "class_labels", "int");
        mli__writer_meta(w, "classes_dtype", "int64");
        mli__writer_array(w, "classes", MLI__DT_I64, cls, tm->n_classes);
        free(cls);
    }
    mli__writer_meta(w, "stages", "1");
    mli__writer_meta(w, "stage.0.kind", "trees");
    mli__writer_meta(w, "stage.0.n_trees", "%lld", (long long)tm->n_trees);
    mli__writer_meta(w, "stage.0.n_nodes", "%lld", (long long)tm->n_nodes);
    mli__writer_meta(w, "stage.0.n_out", "%lld", (long long)tm->n_out);
    mli__writer_meta(w, "stage.0.leaf_width", "1");
    mli__writer_meta(w, "stage.0.compare", "%s", tm->compare);
    mli__writer_meta(w, "stage.0.aggregate", "%s", tm->mean ? "mean" : "sum");
    mli__writer_meta(w, "head", "%s", tm->head);

    int64_t N = tm->n_nodes, T = tm->n_trees;
    mli__writer_array(w, "stage.0.tree_start", MLI__DT_I64, tm->tree_start, T + 1);
    if (tm->tree_out)
        mli__writer_array(w, "stage.0.tree_out", MLI__DT_I32, tm->tree_out, T);
    mli__writer_array(w, "stage.0.feature", MLI__DT_I32, tm->feature, N);
    mli__writer_array(w, "stage.0.left", MLI__DT_I32, tm->left, N);
    mli__writer_array(w, "stage.0.right", MLI__DT_I32, tm->right, N);
    mli__writer_array(w, "stage.0.threshold", MLI__DT_F64, tm->threshold, N);
    mli__writer_array(w, "stage.0.flags", MLI__DT_U8, tm->flags, N);
    mli__writer_array(w, "stage.0.value", MLI__DT_F64, tm->value, N);
    mli__writer_array(w, "stage.0.leaf_id", MLI__DT_I32, tm->leaf_id, N);
    if (tm->cover)
        mli__writer_array(w, "stage.0.cover", MLI__DT_F64, tm->cover, N);
    if (tm->base)
        mli__writer_array(w, "stage.0.base", MLI__DT_F64, tm->base, tm->n_out);
    if (tm->cat_offset) {
        static const uint32_t no_bits[1] = {0}; /* every listed set empty: keep the section non-empty */
        mli__writer_array(w, "stage.0.cat_offset", MLI__DT_I64, tm->cat_offset, N);
        mli__writer_array(w, "stage.0.cat_words", MLI__DT_I32, tm->cat_words, N);
        if (tm->n_cat_words > 0)
            mli__writer_array(w, "stage.0.cat_bits", MLI__DT_I32, tm->cat_bits, tm->n_cat_words);
        else
            mli__writer_array(w, "stage.0.cat_bits", MLI__DT_I32, no_bits, 1);
    }
    return mli__writer_status(w);
}

mli_status mli__write_feature_names(const char *const *names, int64_t n, mli__writer *w) {
    mli__writer_strings(w, "feature_names", names, (uint32_t)n);
    size_t total = 0;
    for (int64_t i = 0; i < n; ++i) {
        if (strchr(names[i], 0x1f))
            return mli__writer_status(w);
        total += strlen(names[i]) + 1;
    }
    if (n > 0 && total < MLI__JOINED_NAMES_MAX) {
        char joined[MLI__JOINED_NAMES_MAX];
        size_t at = 0;
        for (int64_t i = 0; i < n; ++i) {
            size_t l = strlen(names[i]);
            memcpy(joined + at, names[i], l);
            at += l;
            joined[at++] = 0x1f;
        }
        joined[at - 1] = 0;
        mli__writer_meta(w, "feature_names", "%s", joined);
    }
    return mli__writer_status(w);
}
