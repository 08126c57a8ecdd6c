/* fuzz_model_load.c — mli_model_load_memory on any bytes (.mli files with every stage kind,
 * and whatever the sniffer sends to an importer): a load fails with a message and no
 * model, or gives a model that predicts every output it has on a few rows. */
#include "fuzz_harness.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_load_and_predict(data, size);
    return 0;
}
