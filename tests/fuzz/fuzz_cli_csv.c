/* fuzz_cli_csv.c — the `mlinfer predict MODEL INPUT.csv` reader (programs/cli/mlinfer.c, included
 * here so its static functions are reachable; the command itself is built unchanged): the
 * input becomes a CSV file predicted on with MLI_FUZZ_CSV_MODEL, with --proba when the
 * first byte is odd, --no-header when its bit 1 is set, and with MLI_FUZZ_CSV_NAMED_MODEL (a
 * pipeline with named number and string columns) instead when its bit 2 is set, --keep-na-text
 * when its bit 3 is set: the RFC 4180 record reader (a leading BOM,
 * quotes, doubled quotes, newlines in quotes), header mapping by name and the per-record
 * memory bounds. Any input ends in an exit status, never a crash. */
#define _POSIX_C_SOURCE 200809L
#include "fuzz_harness.h"

#include <unistd.h>

int mli_cli_main(int argc, char **argv);
#define main mli_cli_main
#include "../../programs/cli/mlinfer.c"
#undef main

static char csv_path[64];

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    snprintf(csv_path, sizeof csv_path, "/tmp/mli-fuzz-csv-%ld.csv", (long)getpid());
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    FILE *f = fopen(csv_path, "wb");
    if (!f)
        return 0;
    if (size > 1)
        fwrite(data + 1, 1, size - 1, f);
    fclose(f);
    int rc = cmd_predict(size > 0 && (data[0] & 4) ? MLI_FUZZ_CSV_NAMED_MODEL : MLI_FUZZ_CSV_MODEL, csv_path,
                         "/dev/null", size > 0 && (data[0] & 1), size > 0 && (data[0] & 2), size > 0 && (data[0] & 8));
    FUZZ_CHECK(rc == 0 || rc == 1, "mlinfer predict exited %d", rc);
    unlink(csv_path);
    return 0;
}
