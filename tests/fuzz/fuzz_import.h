/* fuzz_import.h — drives one importer directly (no sniffing, so every input reaches it),
 * then loads and predicts on the .mli it wrote: what mli_model_load_memory does for an
 * XGBoost, LightGBM or CatBoost file. Internal API: the targets link mlinfer_static. */
#ifndef MLI_FUZZ_IMPORT_H
#define MLI_FUZZ_IMPORT_H

#include "fuzz_harness.h"
#include "import/import.h"
#include "writer.h"

enum { FUZZ_XGB_JSON, FUZZ_XGB_UBJSON, FUZZ_LIGHTGBM, FUZZ_CATBOOST_JSON };

static inline void fuzz_import(const uint8_t *data, size_t size, int kind)
{
    mli__writer *w = mli__writer_new();
    if (!w)
        return;
    mli_status st = kind == FUZZ_LIGHTGBM        ? mli__import_lightgbm("fuzz", data, size, w)
                    : kind == FUZZ_CATBOOST_JSON ? mli__import_catboost("fuzz", data, size, w)
                                                 : mli__import_xgboost("fuzz", data, size, kind == FUZZ_XGB_UBJSON, w);
    uint8_t *mli = NULL;
    size_t mli_size = 0;
    if (st == MLI_OK)
        st = mli__writer_finish(w, &mli, &mli_size);
    mli__writer_free(w);
    if (st != MLI_OK) {
        fuzz_check_failure(st, "import");
        return;
    }
    /* what an importer writes, the loader must accept: the importer checked the input */
    mli_model *m = NULL;
    st = mli_model_load_memory(mli, mli_size, &m);
    FUZZ_CHECK(st == MLI_OK || st == MLI_ERR_OUT_OF_MEMORY, "the loader refused what the importer wrote: %s",
               mli_last_error());
    if (m)
        fuzz_predict_rows(m, data, size);
    mli_model_free(m);
    free(mli);
}

#endif
