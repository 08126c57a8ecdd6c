// header_cxx.cpp — mlinfer.h from C++11: the extern "C" block must give the declarations
// C linkage (a mangled name would not link) and the header must be warning-free C++.
#include <mlinfer.h>

#include <cstdio>
#include <cstring>

int main() {
    float a[4] = {1, 2, 3, 4}, b[4] = {1, 0, 0, 1}, c[4] = {0, 0, 0, 0};
    mli_status st = mli_sgemm(MLI_NO_TRANS, MLI_TRANS, 2, 2, 2, 1.0f, a, 2, b, 2, 0.0f, c, 2);
    if (st != MLI_OK || c[0] != 1 || c[3] != 4) {
        std::printf("mli_sgemm: %s (%s)\n", mli_status_string(st), mli_last_error());
        return 1;
    }
    if (mli_activate(MLI_ACT_GELU, a, a, 4) != MLI_OK || mli_softmax(a, a, 1, 4) != MLI_OK)
        return 1;
#if defined(MLI_EXPERIMENTAL)
    if (mli_sgemm_bias_act(2, 2, 2, b, 2, b, 2, nullptr, MLI_ACT_RELU, c, 2) != MLI_OK)
        return 1;
#endif
    if (mli_activate(static_cast<mli_act>(99), a, a, 4) == MLI_OK || std::strlen(mli_last_error()) == 0)
        return 1;
    std::printf("mlinfer %s, %s: C++ %ld ok\n", mli_version(), mli_cpu_isa(), static_cast<long>(__cplusplus));
    return 0;
}
