/* gemm.c (scalar) — the small-m GEMM body with one lane: the portable fallback. */
#include "scalar/simd.h"
#include "generic/gemm_small.h"
