/* fuzz_catboost_json.c — CatBoost JSON model files (save_model("m.json", format="json")):
 * the importer, then the loader and a predict on what it wrote (fuzz_import.h). */
#include "fuzz_import.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_import(data, size, FUZZ_CATBOOST_JSON);
    return 0;
}
