/* main.c — the smallest program that embeds libmlinfer: one mli_sgemm on a 2x3 by 3x2
 * product, checked against the hand-computed answer, and a look for a CUDA device (which
 * links the CUDA runtime when the library has the CUDA backend). Build it with CMake
 * (find_package) or with the Makefile (pkg-config); see README.md at the top of the
 * repository. */
#include <mlinfer.h>
#include <mlinfer_cuda.h>

#include <math.h>
#include <stdio.h>

int main(void) {
    /* Row-major A (2x3) and B (3x2); C = A * B is 2x2. */
    const float a[2 * 3] = {1, 2, 3,
                            4, 5, 6};
    const float b[3 * 2] = {7, 8,
                            9, 10,
                            11, 12};
    const float expected[2 * 2] = {58, 64,
                                   139, 154};
    float c[2 * 2] = {0};

    mli_status st = mli_sgemm(MLI_NO_TRANS, MLI_NO_TRANS, 2, 2, 3, 1.0f, a, 3, b, 2, 0.0f, c, 2);
    if (st != MLI_OK) {
        fprintf(stderr, "mli_sgemm failed: %s (%s)\n", mli_status_string(st), mli_last_error());
        return 1;
    }

    printf("libmlinfer %s (header %d.%d.%d), kernels: %s\n", mli_version(), MLI_VERSION_MAJOR,
           MLI_VERSION_MINOR, MLI_VERSION_PATCH, mli_cpu_isa());
    int ok = 1;
    for (int i = 0; i < 2; i++) {
        printf("  [%6.1f %6.1f]\n", (double)c[i * 2], (double)c[i * 2 + 1]);
        for (int j = 0; j < 2; j++) {
            if (fabsf(c[i * 2 + j] - expected[i * 2 + j]) > 1e-4f) {
                ok = 0;
            }
        }
    }
    if (mli_version_number() != MLI_VERSION_NUMBER) {
        fprintf(stderr, "header/library version mismatch: header %d, library %d\n", MLI_VERSION_NUMBER,
                mli_version_number());
        return 1;
    }
    if (!ok) {
        fprintf(stderr, "wrong result: expected [[58 64] [139 154]]\n");
        return 1;
    }
    /* Without a GPU (or without the CUDA backend) the CPU is the answer, not an error. */
    int devices = 0;
    st = mli_cuda_device_count(&devices);
    if (st == MLI_OK)
        printf("CUDA devices: %d\n", devices);
    else
        printf("CUDA: none (%s), the CPU serves\n", mli_last_error());
    printf("ok\n");
    return 0;
}
