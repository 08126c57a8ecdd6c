/* prep_values — test helper (not installed): the prep stage's float64 outputs for rows of
 * numbers, so tests/python can compare transformed values with scikit-learn's transform at a
 * stated tolerance (the model stages after the prep stage round to float32 or compare with
 * thresholds, which hides the last bits).
 *   prep_values MODEL.mli IN OUT
 * IN: rows x n_features float64, row-major (every model column a number); OUT: rows x n_out
 * float64 from the row form (mli__prep_row), a row with an input error all NaN. Exit status 0,
 * or 3 when the block form (mli__prep_block) disagrees with the row form on any bit or on which
 * rows fail, 2 on a usage or load error. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mlinfer.h"
#include "model.h"

static int same_bits(double a, double b) { return memcmp(&a, &b, sizeof a) == 0 || (isnan(a) && isnan(b)); }

int main(int argc, char **argv) {
    mli_model *m = NULL;
    if (argc != 4 || mli_model_load(argv[1], &m) != MLI_OK || !m->prep) {
        fprintf(stderr, "usage: prep_values MODEL.mli IN OUT (a model with a prep stage): %s\n", mli_last_error());
        return 2;
    }
    const mli__prep *p = m->prep;
    FILE *f = fopen(argv[2], "rb");
    if (!f || fseek(f, 0, SEEK_END) != 0)
        return 2;
    long bytes = ftell(f);
    rewind(f);
    int64_t rows = bytes / (int64_t)(8 * p->n_cols);
    double *x = malloc((size_t)(rows * p->n_cols + 1) * 8), *out = malloc((size_t)(rows * p->n_out + 1) * 8);
    double *blk = malloc((size_t)(rows * p->n_out + 1) * 8), *work = malloc((size_t)(p->n_regs * (rows + 1)) * 8);
    if (!x || !out || !blk || !work || fread(x, 8, (size_t)(rows * p->n_cols), f) != (size_t)(rows * p->n_cols))
        return 2;
    fclose(f);
    mli__prep_call call = {.p = p, .rows = rows};
    if (mli__prep_call_matrix("prep_values", &call, x, 1, p->n_cols) != MLI_OK) {
        fprintf(stderr, "%s\n", mli_last_error());
        return 2;
    }
    int status = 0;
    for (int64_t r = 0; r < rows; ++r) {
        int64_t bad;
        if (mli__prep_row(&call, r, work, out + r * p->n_out, &bad))
            for (int64_t c = 0; c < p->n_out; ++c)
                out[r * p->n_out + c] = NAN;
    }
    for (int64_t r = 0; r < rows; ++r) { /* the block form, one row at a time from each failing row */
        int64_t first = mli__prep_block(&call, r, rows - r, 0, work, blk + r * p->n_out, NULL);
        int64_t upto = first < 0 ? rows : first;
        for (int64_t i = r * p->n_out; i < upto * p->n_out; ++i)
            status |= same_bits(out[i], blk[i]) ? 0 : 3;
        for (int64_t c = 0; first >= 0 && c < p->n_out; ++c)
            status |= isnan(out[first * p->n_out + c]) ? 0 : 3;
        r = upto;
    }
    f = fopen(argv[3], "wb");
    if (!f || fwrite(out, 8, (size_t)(rows * p->n_out), f) != (size_t)(rows * p->n_out) || fclose(f) != 0)
        return 2;
    mli__prep_call_free(&call);
    mli_model_free(m);
    free(x);
    free(out);
    free(blk);
    free(work);
    return status;
}
