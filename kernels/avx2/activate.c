/* activate.c (avx2) — activations, bias+activation epilogue and softmax for avx2. */
#include "avx2/simd.h"
#include "generic/activate_body.h"
