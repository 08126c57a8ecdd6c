/* header_c.c — mlinfer.h under strict ISO C (built as C99 and C11 with -pedantic-errors):
 * the header must compile cleanly and every declaration must link against the library. */
#include <mlinfer.h>

#include <stdio.h>
#include <string.h>

int main(void) {
    float a[4] = {1, 2, 3, 4}, b[4] = {1, 0, 0, 1}, c[4] = {0, 0, 0, 0};
    float y[4];
    mli_status st = mli_sgemm(MLI_NO_TRANS, MLI_NO_TRANS, 2, 2, 2, 1.0f, a, 2, b, 2, 0.0f, c, 2);
    if (st != MLI_OK || c[0] != 1 || c[1] != 2 || c[2] != 3 || c[3] != 4) {
        printf("mli_sgemm: %s (%s)\n", mli_status_string(st), mli_last_error());
        return 1;
    }
    if (mli_activate(MLI_ACT_RELU, a, y, 4) != MLI_OK || mli_softmax(a, y, 2, 2) != MLI_OK) {
        printf("mli_activate/mli_softmax: %s\n", mli_last_error());
        return 1;
    }
#if defined(MLI_EXPERIMENTAL)
    if (mli_sgemm_bias_act(2, 2, 2, a, 2, b, 2, NULL, MLI_ACT_IDENTITY, c, 2) != MLI_OK || c[3] != 4) {
        printf("mli_sgemm_bias_act: %s\n", mli_last_error());
        return 1;
    }
#endif
    if (mli_set_num_threads(1) != MLI_OK || mli_get_num_threads() != 1)
        return 1;
    if (mli_sgemm(MLI_NO_TRANS, MLI_NO_TRANS, -1, 2, 2, 1.0f, a, 2, b, 2, 0.0f, c, 2) == MLI_OK ||
        strlen(mli_last_error()) == 0)
        return 1;
    if (mli_version_number() != MLI_VERSION_NUMBER)
        return 1;
    printf("mlinfer %s, %s: C %ld ok\n", mli_version(), mli_cpu_isa(), (long)__STDC_VERSION__);
    return 0;
}
