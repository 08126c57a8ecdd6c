"""The dense kernels on numpy arrays: mlinfer.ops.sgemm, activate, softmax."""
from __future__ import annotations

from ctypes import c_void_p

import numpy as np

from ._native import check, lib

_ACTS = {"identity": 0, "relu": 1, "sigmoid": 2, "logistic": 2, "tanh": 3, "gelu": 4, "gelu_tanh": 5}


def _f32(x, ndim=None):
    a = np.ascontiguousarray(x, dtype=np.float32)
    if ndim is not None and a.ndim != ndim:
        raise ValueError(f"expected a {ndim}-D array, got {a.ndim}-D")
    return a


def sgemm(a, b, alpha: float = 1.0) -> np.ndarray:
    """alpha * a @ b in float32 (a: m x k, b: k x n)."""
    a, b = _f32(a, 2), _f32(b, 2)
    if a.shape[1] != b.shape[0]:
        raise ValueError(f"shapes {a.shape} and {b.shape} do not align")
    m, k = a.shape
    n = b.shape[1]
    c = np.empty((m, n), dtype=np.float32)
    check(lib.mli_sgemm(0, 0, m, n, k, alpha, a.ctypes.data_as(c_void_p), max(k, 1), b.ctypes.data_as(c_void_p),
                        max(n, 1), 0.0, c.ctypes.data_as(c_void_p), max(n, 1)))
    return c


def activate(x, act: str = "relu") -> np.ndarray:
    """Elementwise activation (identity, relu, sigmoid, tanh, gelu, gelu_tanh) in float32."""
    if act not in _ACTS:
        raise ValueError(f"unknown activation {act!r}; expected one of {sorted(_ACTS)}")
    x = _f32(x)
    y = np.empty_like(x)
    check(lib.mli_activate(_ACTS[act], x.ctypes.data_as(c_void_p), y.ctypes.data_as(c_void_p), x.size))
    return y


def softmax(x) -> np.ndarray:
    """Row-wise softmax of a 2-D array (a 1-D array is one row) in float32."""
    x = _f32(x)
    rows, cols = (1, x.size) if x.ndim == 1 else (int(np.prod(x.shape[:-1])), x.shape[-1])
    y = np.empty_like(x)
    check(lib.mli_softmax(x.ctypes.data_as(c_void_p), y.ctypes.data_as(c_void_p), rows, cols))
    return y
