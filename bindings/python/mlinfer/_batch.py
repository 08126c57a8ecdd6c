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


# -- models with an input schema (string columns, nulls): whole Arrow columns by name ---------
#
# A model exported from a pipeline over a DataFrame (a `prep` stage, docs/models/pipelines.md)
# takes named columns of numbers and strings. The engines hand it their batches as Arrow
# columns -- a pyarrow Table of the model's columns, never a per-row Python loop: Spark's Arrow
# batches as they arrive, Ray's pyarrow batches as they are, and pandas / NumPy batches
# converted column by column (numbers to float64 arrays, strings to Arrow string arrays). The
# library then dictionary-encodes each string column once per call (mlinfer._columns).
#
# Nulls: the engines keep tables in Arrow, where a missing value is a null; so here a null,
# None and NaN in a string column are all the one missing value (NaN in scikit-learn's terms,
# what pandas.read_csv gives for an empty cell) -- whatever the batch format, the same answer.
# Model.predict on a pandas DataFrame keeps None apart from NaN; use it where that matters.

def _takes_table(model) -> bool:
    """Whether the model takes its input as named columns (strings included) rather than a
    numeric matrix: a pipeline with a `prep` stage and an input schema."""
    return bool(getattr(model, "_by_columns", False))


def _lacks(missing) -> Exception:
    from .errors import InputError
    return InputError(f"the input lacks column(s) {missing[:5]}{' ...' if len(missing) > 5 else ''} "
                      "that the model takes", 11)


def _table_columns(model, available, feature_columns=None) -> list:
    """The batch columns to hand a table model, in the model's column order.

    A model that records names takes its columns by name, wherever they are among the batch's
    (`feature_columns`, when given, narrows the choice); one that is missing raises an
    InputError (a ValueError) naming it. A model without names takes `feature_columns` (else
    every column) by position, one per model column."""
    available = list(available)
    if feature_columns is not None:
        feature_columns = list(feature_columns)
        absent = [c for c in feature_columns if c not in set(available)]
        if absent:
            raise ValueError(f"feature columns {absent} are not in the batch")
    names = model.feature_names_in_
    if names is None:
        cols = feature_columns if feature_columns is not None else available
        if len(cols) != model.n_features_in_:
            raise ValueError(f"{len(cols)} feature columns given, but the model expects {model.n_features_in_} "
                             "(it records no column names, so they are taken in order)")
        return cols
    pool = set(feature_columns if feature_columns is not None else available)
    want = [str(n) for (n, kind) in model.schema if kind != "unused"]
    missing = [n for n in want if n not in pool]
    if missing:
        raise _lacks(missing)
    return want


def _arrow_strings(name, values):
    """An Arrow array of the strings in a pandas Series or NumPy array (None, NaN and pandas
    NA become nulls). A value that is not a string raises the library's message naming the
    column and the row."""
    import pyarrow as pa
    from ._columns import _strings
    try:
        arr = pa.array(values, from_pandas=True)
    except (pa.ArrowException, TypeError, ValueError):
        _strings(name, values)  # raises "column 'x', row i: 5 is not a string ..."
        raise
    return arr


def _model_input(model, batch, columns):
    """What Model.predict takes by name, from one batch: a pyarrow Table / RecordBatch is
    handed over as is; a pandas DataFrame or a dict of arrays becomes a pyarrow Table of the
    model's columns (numbers as float64, strings as Arrow strings). `columns` comes from
    _table_columns. For a model without names, a dict {position: array}."""
    import pyarrow as pa
    from ._columns import _module_of, _numbers
    kinds = [kind for _, kind in model.schema]
    named = model.feature_names_in_ is not None
    if named:
        kind_of = {str(n): k for n, k in model.schema}
    is_arrow = _module_of(batch) == "pyarrow"
    if is_arrow and named and not any(isinstance(batch.column(c).type, pa.ExtensionType) for c in columns):
        return batch  # the library takes the columns by name; others are ignored
    out = {}
    for j, c in enumerate(columns):
        kind = kind_of[c] if named else kinds[j]
        if kind == "unused":
            continue
        values = batch.column(c) if is_arrow else batch[c]
        if is_arrow and isinstance(values.type, pa.ExtensionType):
            # e.g. Ray's column of pickled Python objects (strings mixed with None and NaN)
            # (the chunks convert to their Python objects; a ChunkedArray would give the storage)
            chunks = values.chunks if isinstance(values, pa.ChunkedArray) else [values]
            values = np.concatenate([np.asarray(ch.to_numpy(zero_copy_only=False), dtype=object).reshape(-1)
                                     for ch in chunks]) if chunks else np.empty(0, dtype=object)
            is_arrow_col = False
        else:
            is_arrow_col = is_arrow
        label = c if named else j
        if kind == "number":
            arr = np.ascontiguousarray(_numbers(c, values), dtype=np.float64)
            out[label] = pa.array(arr) if named else arr
            continue
        if not is_arrow_col:
            values = _arrow_strings(c, values)
        if named:
            out[label] = values
        else:  # positions: the dict path takes NumPy; a null is NaN (the missing value)
            if isinstance(values, pa.ChunkedArray):
                values = values.combine_chunks()
            if pa.types.is_dictionary(values.type) or pa.types.is_large_string(values.type):
                values = values.cast(pa.string())
            obj = values.to_numpy(zero_copy_only=False).astype(object)
            obj[values.is_null().to_numpy(zero_copy_only=False)] = np.nan
            out[label] = obj
    if named:
        return pa.table(out) if out else pa.table({})
    return out


def _with_context(fn, where: str, offset: int = 0, labels=None):
    """fn(), with an input error's row counted in the engine's terms: `offset` is added to the
    row the library names (the row within the piece it was given) and `where` says what the row
    counts within; `labels` (a pandas Index) adds the row's index label."""
    import re
    from .errors import InputError
    try:
        return fn()
    except InputError as exc:
        msg = str(exc)
        m = re.search(r"\brow (\d+)", msg)
        if m:
            row = int(m.group(1)) + offset
            msg = msg[:m.start()] + f"row {row}" + msg[m.end():]
            extra = where
            if labels is not None and 0 <= row < len(labels):
                label = labels[row]
                label = label.item() if isinstance(label, np.generic) else label
                extra += f"; index label {label!r}"
            msg += f" ({extra})"
        raise type(exc)(msg, exc.status) from None


def _output_template(model, output: str):
    """(dtype, width) of a model's output without scoring: width None for one value per row
    (a 1-D result), else the number of columns."""
    if output == "proba":
        return np.dtype(np.float64), int(model._n_classes)
    if output == "margin":
        return np.dtype(np.float64), (None if model._n_raw == 1 else int(model._n_raw))
    if model.is_classifier:
        return model.classes_.dtype, None
    return np.dtype(np.float64), (int(model.n_outputs_) if (model._y_2d or model.n_outputs_ > 1) else None)


def _arrow_dict(batch, columns):
    """{name: NumPy array} of a pyarrow batch's columns, for numeric-matrix models: numbers as
    float64 with nulls as NaN; other columns (Ray's tensor columns, arrays) as Arrow converts
    them, checked later as in a NumPy batch."""
    import pyarrow as pa
    import pyarrow.compute as pc
    out = {}
    for c in columns:
        col = batch.column(c)
        if isinstance(col, pa.ChunkedArray):
            col = col.combine_chunks()
        t = col.type
        if (pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_boolean(t) or pa.types.is_decimal(t)
                or pa.types.is_null(t)):
            out[c] = pc.fill_null(col.cast(pa.float64()), float("nan")).to_numpy(zero_copy_only=False)
        else:
            out[c] = col.to_numpy(zero_copy_only=False)
    return out
