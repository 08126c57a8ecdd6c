/* activate.c (avx512) — activations, bias+activation epilogue and softmax for avx512. */
#include "avx512/simd.h"
#include "generic/activate_body.h"
