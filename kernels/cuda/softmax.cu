/* softmax.cu — row-wise softmax, one warp per row: the row maximum, exp(x - max) stored
 * with its sum, then a scale by 1 / sum (three passes over the row, as on the CPU). A NaN
 * or +Inf anywhere, or a row of only -Inf, makes x - max NaN and so the whole row, as
 * mli_softmax documents (fmaxf skips NaN, the sum then carries it). */
#include <cuda_runtime.h>

#include "act.cuh"
#include "cuda_kernels.h"

#define WARPS_PER_BLOCK 8

__global__ void mli_f32_softmax_warp__cuda(const float *x, float *y, long long rows, long long cols) {
    const unsigned lane = threadIdx.x & 31u;
    long long r = blockIdx.x * (long long)WARPS_PER_BLOCK + (threadIdx.x >> 5);
    for (; r < rows; r += (long long)gridDim.x * WARPS_PER_BLOCK) {
        const float *xr = x + r * cols;
        float *yr = y + r * cols;
        float mx = -INFINITY;
        for (long long j = lane; j < cols; j += 32)
            mx = fmaxf(mx, xr[j]);
        for (int o = 16; o > 0; o >>= 1)
            mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, o));
        float sum = 0.0f;
        for (long long j = lane; j < cols; j += 32) {
            float e = expf(xr[j] - mx);
            yr[j] = e;
            sum += e;
        }
        for (int o = 16; o > 0; o >>= 1)
            sum += __shfl_xor_sync(0xffffffffu, sum, o);
        float inv = 1.0f / sum;
        for (long long j = lane; j < cols; j += 32)
            yr[j] *= inv;
    }
}

extern "C" int mli__cuda_softmax(void *stream, const float *x, float *y, int64_t rows, int64_t cols) {
    if (rows <= 0 || cols <= 0)
        return 0;
    long long blocks = (rows + WARPS_PER_BLOCK - 1) / WARPS_PER_BLOCK;
    unsigned grid = (unsigned)(blocks > 65536 ? 65536 : blocks);
    mli_f32_softmax_warp__cuda<<<grid, 32 * WARPS_PER_BLOCK, 0, (cudaStream_t)stream>>>(x, y, (long long)rows,
                                                                                        (long long)cols);
    return (int)cudaGetLastError();
}
