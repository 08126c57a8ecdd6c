/* PLACEHOLDER written by the lead so the library links until the importer lands: overwrite this file freely. */
#include "import.h"
mli_status mli__import_lightgbm(const char *origin, const uint8_t *data, size_t size, mli__writer *w) { (void)data; (void)size; (void)w;
    return mli__fail(MLI_ERR_UNSUPPORTED, "%s: importer not built yet", origin);
}
