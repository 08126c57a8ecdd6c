"""Loads libmlinfer and declares the C ABI for ctypes (include/mlinfer.h)."""
from __future__ import annotations

import ctypes
import ctypes.util
import os
from ctypes import POINTER, c_char_p, c_double, c_float, c_int, c_int64, c_size_t, c_void_p

from .errors import raise_for_status


def _candidates():
    env = os.environ.get("MLINFER_LIBRARY")
    if env:
        return [env]  # an explicit choice: do not fall back silently
    here = os.path.dirname(os.path.abspath(__file__))
    names = ["libmlinfer.so", "libmlinfer.so.0", "libmlinfer.dylib"]
    found = [os.path.join(here, n) for n in names if os.path.exists(os.path.join(here, n))]
    system = ctypes.util.find_library("mlinfer")
    return found + ([system] if system else []) + ["libmlinfer.so.0", "libmlinfer.so"]


def _load():
    errors = []
    for path in _candidates():
        try:
            return ctypes.CDLL(path)
        except OSError as exc:
            errors.append(f"{path}: {exc}")
    raise ImportError("cannot load libmlinfer; set MLINFER_LIBRARY to the path of libmlinfer.so.\n  " +
                      "\n  ".join(errors))


lib = _load()


def _fn(name, restype, *argtypes):
    f = getattr(lib, name)
    f.restype = restype
    f.argtypes = list(argtypes)
    return f


_fn("mli_version", c_char_p)
_fn("mli_status_string", c_char_p, c_int)
_fn("mli_last_error", c_char_p)
_fn("mli_set_num_threads", c_int, c_int)
_fn("mli_get_num_threads", c_int)
_fn("mli_cpu_isa", c_char_p)
_fn("mli_sgemm", c_int, c_int, c_int, c_int64, c_int64, c_int64, c_float, c_void_p, c_int64, c_void_p, c_int64,
    c_float, c_void_p, c_int64)
_fn("mli_activate", c_int, c_int, c_void_p, c_void_p, c_int64)
_fn("mli_softmax", c_int, c_void_p, c_void_p, c_int64, c_int64)
_fn("mli_model_load", c_int, c_char_p, POINTER(c_void_p))
_fn("mli_model_load_memory", c_int, c_void_p, c_size_t, POINTER(c_void_p))
_fn("mli_model_free", None, c_void_p)
_fn("mli_model_task", c_int, c_void_p)
_fn("mli_model_n_features", c_int64, c_void_p)
_fn("mli_model_n_outputs", c_int64, c_void_p)
_fn("mli_model_n_classes", c_int64, c_void_p)
_fn("mli_model_n_decision", c_int64, c_void_p)
_fn("mli_model_has_proba", c_int, c_void_p)
_fn("mli_model_labels_are_strings", c_int, c_void_p)
_fn("mli_model_class_label_int", c_int, c_void_p, c_int64, POINTER(c_int64))
_fn("mli_model_class_label_str", c_int, c_void_p, c_int64, POINTER(c_char_p))
_fn("mli_model_feature_name", c_int, c_void_p, c_int64, POINTER(c_char_p))
_fn("mli_model_meta", c_char_p, c_void_p, c_char_p)
_fn("mli_model_save", c_int, c_void_p, c_char_p)
_fn("mli_model_n_raw", c_int64, c_void_p)
_fn("mli_model_n_trees", c_int64, c_void_p)
_fn("mli_model_n_contrib", c_int64, c_void_p)
_fn("mli_model_predict_contrib", c_int, c_void_p, c_void_p, c_int, c_int64, c_int64, c_void_p, c_int64)
for _name in ("mli_model_predict", "mli_model_predict_proba", "mli_model_decision_function", "mli_model_predict_raw",
              "mli_model_apply"):  # apply writes int64 leaves, the others doubles
    _fn(_name, c_int, c_void_p, c_void_p, c_int, c_int64, c_int64, c_void_p, c_int64)


# ---- image input (include/mlinfer.h, "images"); absent from libraries built before it


class ImageSpec(ctypes.Structure):
    """mli_image_spec."""
    _fields_ = [("width", ctypes.c_int32), ("height", ctypes.c_int32), ("color", ctypes.c_int32),
                ("fit", ctypes.c_int32), ("shorter", ctypes.c_int32), ("resize", ctypes.c_int32),
                ("layout", ctypes.c_int32), ("flags", ctypes.c_uint32), ("scale", c_double),
                ("mean", c_double * 3), ("std", c_double * 3), ("max_pixels", c_int64), ("reserved", c_int64 * 6)]


class ImageInfo(ctypes.Structure):
    """mli_image_info."""
    _fields_ = [("width", ctypes.c_int32), ("height", ctypes.c_int32), ("components", ctypes.c_int32),
                ("colorspace", ctypes.c_int32), ("progressive", ctypes.c_int32), ("reserved", ctypes.c_int32 * 3)]


try:
    _i32, _u32 = ctypes.c_int32, ctypes.c_uint32
    _fn("mli_image_spec_init", None, POINTER(ImageSpec))
    _fn("mli_image_spec_tensor_len", c_int, POINTER(ImageSpec), POINTER(c_int64))
    _fn("mli_image_jpeg_info", c_int, c_void_p, c_size_t, POINTER(ImageInfo))
    _fn("mli_image_decode_jpeg", c_int, c_void_p, c_size_t, c_int, _i32, _i32, c_int64, _u32, c_void_p, c_int64,
        POINTER(_i32), POINTER(_i32))
    _fn("mli_image_preprocess_jpeg", c_int, c_void_p, c_size_t, POINTER(ImageSpec), c_void_p, c_int64)
    _fn("mli_image_preprocess_pixels", c_int, c_void_p, _i32, _i32, _i32, c_int64, POINTER(ImageSpec), c_void_p,
        c_int64)
    _fn("mli_model_output_len", c_int64, c_void_p, c_int)
    _fn("mli_model_has_image", c_int, c_void_p)
    _fn("mli_model_image_spec", c_int, c_void_p, POINTER(ImageSpec))
    _fn("mli_model_predict_jpeg", c_int, c_void_p, c_void_p, c_size_t, c_int, c_void_p, c_int64)
    _fn("mli_model_predict_jpeg_batch", c_int, c_void_p, POINTER(c_void_p), POINTER(c_size_t), c_int64, c_int,
        c_void_p, c_int64)
    HAS_IMAGE = True
except AttributeError:  # an older libmlinfer: everything else still works
    HAS_IMAGE = False



class Column(ctypes.Structure):
    """mli_column."""
    _fields_ = [("name", c_char_p), ("index", c_int64), ("type", ctypes.c_int32), ("flags", ctypes.c_int32),
                ("values", c_void_p), ("offsets", c_void_p), ("dict_bytes", c_void_p), ("n_dict", c_int64),
                ("validity", c_void_p), ("reserved", c_int64 * 4)]


try:
    _fn("mli_model_column_kind", c_int, c_void_p, c_int64, POINTER(c_int))
    _fn("mli_model_column_index", c_int, c_void_p, c_char_p, POINTER(c_int64))
    _fn("mli_model_predict_columns", c_int, c_void_p, POINTER(Column), c_int64, c_int64, c_int, c_void_p, c_int64)
    HAS_COLUMNS = True
except AttributeError:  # an older libmlinfer
    HAS_COLUMNS = False

try:  # contributions per input column of models with a prep stage
    _fn("mli_model_contrib_column", c_int, c_void_p, c_int64, POINTER(c_int64), POINTER(c_char_p))
    _fn("mli_model_predict_contrib_columns", c_int, c_void_p, POINTER(Column), c_int64, c_int64, c_void_p, c_int64)
    HAS_CONTRIB_COLUMNS = True
except AttributeError:  # an older libmlinfer
    HAS_CONTRIB_COLUMNS = False

try:  # leaf numbers of rows given as columns
    _fn("mli_model_apply_columns", c_int, c_void_p, POINTER(Column), c_int64, c_int64, c_void_p, c_int64)
    HAS_APPLY_COLUMNS = True
except AttributeError:  # an older libmlinfer
    HAS_APPLY_COLUMNS = False

try:  # SHAP interaction values of tree models
    _fn("mli_model_n_interactions", c_int64, c_void_p)
    _fn("mli_model_predict_interactions", c_int, c_void_p, c_void_p, c_int, c_int64, c_int64, c_void_p, c_int64)
    _fn("mli_model_predict_interactions_columns", c_int, c_void_p, POINTER(Column), c_int64, c_int64, c_void_p,
        c_int64)
    HAS_INTERACTIONS = True
except AttributeError:  # an older libmlinfer
    HAS_INTERACTIONS = False

_char = ctypes.c_char
_addressof = ctypes.addressof


def address(arr) -> int:
    """The data address of a numpy array, fast: ctypes.from_buffer costs ~0.3 us where
    arr.ctypes.data costs ~1 us, which matters for single-row predicts."""
    try:
        return _addressof(_char.from_buffer(arr))
    except (TypeError, ValueError):  # read-only or empty buffers
        return arr.ctypes.data


def check(status: int) -> None:
    if status != 0:
        raise_for_status(status, lib.mli_last_error().decode("utf-8", "replace"))
