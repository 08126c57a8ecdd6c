"""What mlinfer.spark, mlinfer.ray and mlinfer.dask share (docs/BATCH.md): the model as .mli
bytes (never a pickle), loaded once per worker process, and feature matrices built from
whole columns.

Null semantics: a null in a numeric feature column (or in an array column's elements) is
scored as a missing value, NaN -- what XGBoost and LightGBM do with a missing feature, and
what `mlinfer.load(path).predict` does with NaN. A null array (the whole feature vector) and
a non-numeric column are errors that name the column or row.
"""
from __future__ import annotations

import hashlib
import os
import tempfile
import threading

import numpy as np

_MLI_MAGIC = b"MLINFER\x00"
_OUTPUTS = ("prediction", "proba", "margin")

_cache: dict = {}
_cache_lock = threading.Lock()


def _model_bytes(model):
    """(mli bytes, loaded Model) for a path, raw bytes or a loaded mlinfer.Model. A missing or
    corrupt file raises the loader's error here, on the caller's side."""
    from .model import Model, load
    if isinstance(model, Model):
        loaded = model
    else:
        if isinstance(model, (bytes, bytearray, memoryview)):
            data = bytes(model)
        else:
            with open(os.fspath(model), "rb") as fh:  # FileNotFoundError names the path
                data = fh.read()
        loaded = load(data)  # the loader's own message for a corrupt file
        if data[:8] == _MLI_MAGIC:
            return data, loaded
    # an XGBoost / LightGBM file or a Model: its converted .mli form
    with tempfile.TemporaryDirectory(prefix="mlinfer-") as tmp:
        path = os.path.join(tmp, "model.mli")
        loaded.save(path)
        with open(path, "rb") as fh:
            return fh.read(), loaded


def _check_output(model, output: str) -> None:
    if output not in _OUTPUTS:
        raise ValueError(f"output must be one of {_OUTPUTS}, got {output!r}")
    if output == "proba" and not (model.is_classifier and model._has_proba):
        raise ValueError(f"output='proba': this model ({model.meta('source') or '?'}) has no predict_proba")
    if output == "margin" and model._n_raw < 1:
        raise ValueError(f"output='margin': this model ({model.meta('source') or '?'}) has no raw scores")


def _model_key(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _cached_model(data: bytes, key: str):
    """The Model for these .mli bytes, loaded once per process."""
    m = _cache.get(key)
    if m is None:
        with _cache_lock:
            m = _cache.get(key)
            if m is None:
                from .model import load
                m = load(data)
                _cache[key] = m
    return m


def _score(model, X: np.ndarray, output: str):
    if output == "prediction":
        return model.predict(X)
    if output == "proba":
        return model.predict_proba(X)
    return model.predict_raw(X)


def _column_matrix(columns, n_features: int, names=None) -> np.ndarray:
    """A (rows, n_features) matrix from one numeric array per feature: float32 when every
    column is float32 (the library takes it as is, half the memory traffic), else float64."""
    if len(columns) != n_features:
        raise ValueError(f"{len(columns)} feature columns given, but the model expects {n_features}")
    arrays = []
    for j, col in enumerate(columns):
        a = np.asarray(col)
        if a.dtype.kind not in "biuf":
            name = names[j] if names is not None else f"#{j}"
            raise ValueError(f"feature column {name} is not numeric (dtype {a.dtype}); mlinfer scores numeric "
                             "features only (nulls become NaN, the missing value)")
        arrays.append(a)
    rows = len(arrays[0]) if arrays else 0
    dtype = np.float32 if arrays and all(a.dtype == np.float32 for a in arrays) else np.float64
    X = np.empty((rows, n_features), dtype=dtype)
    for j, a in enumerate(arrays):
        X[:, j] = a
    return X


def _array_matrix(values, n_features: int) -> np.ndarray:
    """A (rows, n_features) matrix from a sequence of per-row arrays (an array column)."""
    rows = len(values)
    if rows and all(type(v) is np.ndarray and v.dtype.kind in "biuf" and v.shape == (n_features,)
                    for v in values):
        X = np.stack(values)  # the common case: one copy, no per-row Python work beyond the check
        return X if X.dtype in (np.float32, np.float64) else X.astype(np.float64)
    X = np.empty((rows, n_features), dtype=np.float64)
    for i, v in enumerate(values):
        if v is None:
            raise ValueError(f"row {i}: the feature array is null")
        a = np.asarray(v)
        if a.ndim != 1 or a.shape[0] != n_features:
            raise ValueError(f"row {i}: the feature array has {a.size} values, but the model expects {n_features}")
        if a.dtype.kind not in "biuf":
            try:  # nulls inside an array arrive as None in an object array
                a = np.array([np.nan if x is None else x for x in a], dtype=np.float64)
            except (TypeError, ValueError):
                raise ValueError(f"row {i}: the feature array is not numeric (dtype {a.dtype})") from None
        X[i] = a
    return X


def _named_columns(model, columns, exclude=()):
    """The feature columns to use when none are given, for a model that records feature
    names (scikit-learn, XGBoost): its names, when the table has them all (in any order,
    beside other columns). None -- every column, in order -- when the model has no names,
    the table's columns are not all strings, or it has one (tensor or array) column; a table
    of string columns without the model's names is a ValueError naming them (as
    Model.predict on a DataFrame)."""
    names = model.feature_names_in_ if model._names_checked else None
    if names is None:
        return None
    cols = [c for c in columns if c not in exclude]
    if len(cols) == 1 and len(names) != 1:
        return None  # one tensor or array column holds the features
    have = set(cols)
    if all(name in have for name in names):
        return list(names)
    if all(isinstance(c, str) for c in cols):
        from types import SimpleNamespace
        from .model import _check_names
        _check_names(SimpleNamespace(columns=cols), names)
    return None


def _frame_matrix(batch, n: int, feature_columns, is_pandas: bool, exclude=()) -> np.ndarray:
    """The (rows, n) feature matrix of a pandas DataFrame or a dict of NumPy arrays (a Ray
    "numpy" batch). feature_columns: the columns in the model's feature order; None means
    every column not in `exclude`, in order -- or, when that is one 2-D (tensor) column or
    one column of per-row arrays, that column."""
    names = feature_columns
    if names is None:
        names = [c for c in (batch.columns if is_pandas else batch.keys()) if c not in exclude]
        if len(names) == 1:
            only = batch[names[0]]
            values = only.to_numpy() if is_pandas else np.asarray(only)
            if values.ndim == 2:  # a tensor column
                if values.shape[1] != n:
                    raise ValueError(f"column {names[0]!r} has {values.shape[1]} values per row, but the model "
                                     f"expects {n}")
                if values.dtype.kind not in "biuf":
                    raise ValueError(f"column {names[0]!r} is not numeric (dtype {values.dtype})")
                return np.ascontiguousarray(values, dtype=values.dtype if values.dtype in (np.float32, np.float64)
                                            else np.float64)
            if values.dtype == object and n != 1:  # a column of per-row arrays
                return _array_matrix(values, n)
    else:
        missing = [c for c in names if c not in (batch.columns if is_pandas else batch)]
        if missing:
            raise ValueError(f"feature columns {missing} are not in the batch")
    cols = []
    for c in names:
        v = batch[c]
        if is_pandas:  # nullable pandas dtypes (Int64, Float64, boolean): nulls -> NaN
            if isinstance(v.dtype, np.dtype) or v.dtype.kind not in "biuf":
                v = v.to_numpy()
            else:
                v = v.to_numpy(dtype=np.float64, na_value=np.nan)
        cols.append(np.asarray(v))
    return _column_matrix(cols, n, names)
