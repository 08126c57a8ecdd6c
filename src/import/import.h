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

typedef enum { MLI__SRC_UNKNOWN, MLI__SRC_MLI, MLI__SRC_XGBOOST_JSON, MLI__SRC_XGBOOST_UBJ, MLI__SRC_LIGHTGBM } mli__source;

/* Guesses the kind of a model file from its first bytes. */
mli__source mli__sniff(const uint8_t *data, size_t size);

/* XGBoost gbtree model, JSON (`save_model("m.json")`) or UBJSON (`.ubj`). */
mli_status mli__import_xgboost(const char *origin, const uint8_t *data, size_t size, int ubjson, mli__writer *w);

/* LightGBM text model (`save_model("m.txt")`). */
mli_status mli__import_lightgbm(const char *origin, const uint8_t *data, size_t size, mli__writer *w);

#endif
