/* gemm.c (avx2) — the small-m GEMM body instantiated for avx2. */
#include "avx2/simd.h"
#include "generic/gemm_small.h"
