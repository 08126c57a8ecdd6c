"""libmlinfer for Python: load .mli models (and XGBoost / LightGBM model files),
predict like scikit-learn, export fitted scikit-learn estimators to .mli."""
from __future__ import annotations

from . import image, ops
from ._native import lib as _lib
from .errors import (CorruptModelError, DeviceError, Error, ImageError, InputError, InternalError, InvalidArgumentError,
                     IOError,
                     OutOfMemoryError, ShapeError, UnsupportedError, UnsupportedModelError, VersionError)
from .export import export
from .image import ImagePreprocess
from .model import Model, load

__version__ = "0.1.0"


def library_version() -> str:
    return _lib.mli_version().decode()


def cpu_isa() -> str:
    return _lib.mli_cpu_isa().decode()


def set_num_threads(n: int) -> None:
    from ._native import check
    check(_lib.mli_set_num_threads(int(n)))


def get_num_threads() -> int:
    return int(_lib.mli_get_num_threads())


def cuda_available() -> bool:
    """True when libmlinfer was built with CUDA and a GPU can be used (mlinfer.cuda)."""
    from . import cuda
    return cuda.available()


__all__ = ["load", "export", "Model", "ops", "image", "ImagePreprocess", "ImageError", "InputError", "Error", "UnsupportedModelError", "InvalidArgumentError",
           "OutOfMemoryError", "UnsupportedError", "IOError", "CorruptModelError", "VersionError", "ShapeError",
           "DeviceError", "InternalError", "library_version", "cpu_isa", "set_num_threads", "get_num_threads",
           "cuda_available"]
