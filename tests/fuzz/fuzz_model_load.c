/* fuzz_model_load.c — libFuzzer harness for mli_model_load_memory: any bytes either fail
 * with a message or give a model that can predict a row of zeros (and proba, and the
 * decision function, when it has them).
 *
 * Build with clang, the library instrumented for coverage and sanitizers:
 *
 *   CC=clang cmake -S . -B build-fuzz -DMLI_BUILD_FUZZERS=ON -DMLI_BUILD_BENCHMARKS=OFF \
 *       -DCMAKE_BUILD_TYPE=RelWithDebInfo -DMLI_SANITIZE=address,undefined \
 *       -DCMAKE_C_FLAGS=-fsanitize=fuzzer-no-link
 *   cmake --build build-fuzz --target fuzz_model_load    (links mlinfer_static)
 *
 * Run, seeded with the golden models and the corrupt corpus (new inputs go to the first
 * folder; crashes to ./crash-*):
 *
 *   mkdir -p build-fuzz/corpus && find tests/data -name '*.mli' -exec cp {} build-fuzz/corpus \;
 *   build-fuzz/tests/model/fuzz_model_load build-fuzz/corpus -max_total_time=60 \
 *       -max_len=65536 -rss_limit_mb=4096
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mlinfer.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* An accepted model must predict; running out of memory for scratch is the one excuse. */
static void must_succeed(mli_status st)
{
    if (st != MLI_OK && st != MLI_ERR_OUT_OF_MEMORY)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    mli_model *m = NULL;
    if (mli_model_load_memory(data, size, &m) != MLI_OK) {
        const char *msg = mli_last_error();
        if (m != NULL || msg == NULL || msg[0] == 0)
            abort(); /* the failure contract: NULL model and a message */
        return 0;
    }
    int64_t nf = mli_model_n_features(m);
    int64_t cols = mli_model_n_outputs(m);
    if (mli_model_n_classes(m) > cols)
        cols = mli_model_n_classes(m);
    if (mli_model_n_decision(m) > cols)
        cols = mli_model_n_decision(m);
    double *x = calloc((size_t)nf, sizeof(double));
    float *xf = calloc((size_t)nf, sizeof(float));
    double *out = malloc(sizeof(double) * (size_t)cols);
    if (x && xf && out) {
        must_succeed(mli_model_predict(m, x, MLI_F64, 1, nf, out, cols));
        must_succeed(mli_model_predict(m, xf, MLI_F32, 1, nf, out, cols));
        if (mli_model_has_proba(m))
            must_succeed(mli_model_predict_proba(m, x, MLI_F64, 1, nf, out, cols));
        if (mli_model_n_decision(m) > 0)
            must_succeed(mli_model_decision_function(m, x, MLI_F64, 1, nf, out, cols));
    }
    free(out);
    free(xf);
    free(x);
    mli_model_free(m);
    return 0;
}
