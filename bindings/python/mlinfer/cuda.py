"""The CUDA backend from Python (include/mlinfer_cuda.h, docs/CUDA.md).

    mlinfer.cuda_available()                 # True when the library has CUDA and a GPU is usable
    m = mlinfer.load("model.mli", device="cuda:0")   # parameters copied to GPU 0 once
    m.predict(X)                             # large batches run on the GPU, small ones on the CPU
    m.cuda.min_rows = 0                      # every batch to the GPU (default 4096 rows)
    mlinfer.load("model.mli", device="auto") # GPU 0 when available, else the CPU

`device` is None or "cpu" (the CPU), "cuda" / "cuda:N" / N (GPU N: raises
mlinfer.DeviceError when it cannot be used, mlinfer.UnsupportedError when the library was
built without CUDA), or "auto" (GPU 0 when cuda_available(), else the CPU, silently).
Inputs and outputs are numpy arrays in host memory; predictions have the CPU path's
shapes and dtypes, tree ensembles its exact values, linear and MLP models its values
within float32 rounding (1e-5 relative)."""
from __future__ import annotations

import ctypes
from ctypes import POINTER, c_char, c_int, c_int32, c_int64, c_uint32, c_void_p

import numpy as np

from . import _native
from ._native import address, check, lib


class DeviceProps(ctypes.Structure):
    """mli_cuda_device_props."""
    _fields_ = [("name", c_char * 256), ("total_memory", c_int64), ("free_memory", c_int64), ("major", c_int32),
                ("minor", c_int32), ("multiprocessors", c_int32), ("reserved_i", c_int32 * 7),
                ("reserved", c_int64 * 4)]


try:
    _native._fn("mli_cuda_built", c_int)
    _native._fn("mli_cuda_available", c_int)
    _native._fn("mli_cuda_device_count", c_int, POINTER(c_int))
    _native._fn("mli_cuda_device_query", c_int, c_int, POINTER(DeviceProps))
    _native._fn("mli_model_to_device", c_int, c_void_p, c_int, POINTER(c_void_p))
    _native._fn("mli_cuda_model_free", None, c_void_p)
    _native._fn("mli_cuda_model_set_min_rows", c_int, c_void_p, c_int64)
    _native._fn("mli_cuda_model_min_rows", c_int64, c_void_p)
    _native._fn("mli_cuda_model_predict", c_int, c_void_p, c_void_p, c_int, c_void_p, c_int, c_int64, c_int64,
                c_void_p, c_int64, c_uint32)
    HAS_CUDA_API = True
except AttributeError:  # a libmlinfer from before the CUDA backend
    HAS_CUDA_API = False

FORCE_GPU = 4  # MLI_CUDA_FORCE_GPU
_OUTPUT = {}   # the CPU predict function -> its mli_output value


def built() -> bool:
    """True when the loaded libmlinfer was built with the CUDA backend."""
    return HAS_CUDA_API and bool(lib.mli_cuda_built())


def available() -> bool:
    """True when the library has the CUDA backend and at least one GPU can be used."""
    return HAS_CUDA_API and bool(lib.mli_cuda_available())


def device_count() -> int:
    """The number of usable GPUs (0 without CUDA, driver or device; never raises)."""
    if not HAS_CUDA_API:
        return 0
    n = c_int(0)
    lib.mli_cuda_device_count(ctypes.byref(n))
    return int(n.value)


def devices() -> list:
    """One dict per usable GPU: index, name, compute capability, total and free memory."""
    out = []
    for d in range(device_count()):
        p = DeviceProps()
        check(lib.mli_cuda_device_query(d, ctypes.byref(p)))
        out.append({"index": d, "name": p.name.decode("utf-8", "replace"), "compute_capability": (p.major, p.minor),
                    "multiprocessors": p.multiprocessors, "total_memory": p.total_memory,
                    "free_memory": p.free_memory})
    return out


def parse_device(device):
    """The GPU index `device` names, or None for the CPU (see the module docstring)."""
    if device is None:
        return None
    if isinstance(device, (int, np.integer)) and not isinstance(device, bool):
        if device < 0:
            raise ValueError(f"device index must be >= 0, got {device}")
        return int(device)
    if not isinstance(device, str):
        raise TypeError(f"device must be None, a str or an int, got {type(device).__name__}")
    d = device.strip().lower()
    if d == "cpu":
        return None
    if d == "auto":
        return 0 if available() else None
    if d == "cuda":
        return 0
    if d.startswith("cuda:") and d[5:].isdigit():
        return int(d[5:])
    raise ValueError(f"unknown device {device!r}: use 'cpu', 'cuda', 'cuda:N', 'auto' or an index")


class DeviceModel:
    """A model's device copy (mli_cuda_model); Model.cuda when the model was loaded with a
    device. Thread-safe: each thread predicts on its own default CUDA stream."""

    def __init__(self, model, index: int):
        if not HAS_CUDA_API:
            from .errors import UnsupportedError
            raise UnsupportedError("this libmlinfer has no CUDA API (built before the CUDA backend)")
        h = c_void_p()
        check(lib.mli_model_to_device(model._h, int(index), ctypes.byref(h)))
        self._h = h
        self.index = int(index)
        if not _OUTPUT:
            _OUTPUT.update({id(lib.mli_model_predict): 0, id(lib.mli_model_predict_proba): 1,
                            id(lib.mli_model_decision_function): 2, id(lib.mli_model_predict_raw): 3})

    @property
    def min_rows(self) -> int:
        """Batches with fewer rows run on the CPU (default 4096, or $MLI_CUDA_MIN_ROWS)."""
        return int(lib.mli_cuda_model_min_rows(self._h))

    @min_rows.setter
    def min_rows(self, rows: int) -> None:
        check(lib.mli_cuda_model_set_min_rows(self._h, int(rows)))

    def handles(self, fn) -> bool:
        """Whether this CPU predict function has a GPU counterpart (apply has none)."""
        return id(fn) in _OUTPUT

    def call(self, fn, arr: np.ndarray, n_features: int, cols: int, force_gpu: bool = False) -> np.ndarray:
        """The outputs of CPU function `fn` for the rows of `arr`, computed through the device copy."""
        rows = arr.shape[0]
        out = np.empty((rows, cols), dtype=np.float64)
        status = lib.mli_cuda_model_predict(self._h, None, _OUTPUT[id(fn)], address(arr) if rows else None,
                                            1 if arr.dtype == np.float64 else 0, rows, n_features,
                                            address(out) if out.size else None, out.size,
                                            FORCE_GPU if force_gpu else 0)
        if status:
            check(status)
        return out

    def close(self) -> None:
        h, self._h = self._h, None
        if h is not None and h.value:
            lib.mli_cuda_model_free(h)

    def __del__(self):
        try:
            self.close()
        except Exception:  # interpreter shutdown
            pass

    def __repr__(self) -> str:
        return f"<mlinfer.cuda.DeviceModel cuda:{self.index} min_rows={self.min_rows}>"


def attach(model, device) -> None:
    """Copies `model` to the GPU `device` names (nothing for the CPU); see the module docstring."""
    index = parse_device(device)
    if index is not None:
        model.cuda = DeviceModel(model, index)
