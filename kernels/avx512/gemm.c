/* gemm.c (avx512) — the small-m GEMM body instantiated for avx512. */
#include "avx512/simd.h"
#include "generic/gemm_small.h"
