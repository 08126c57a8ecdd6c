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


def _frame_matrix(batch, model, feature_columns, is_pandas: bool, exclude=()) -> np.ndarray:
    """The (rows, model.n_features_in_) feature matrix of a pandas DataFrame or a dict of NumPy
    arrays (a Ray "numpy" batch). feature_columns: the columns in the model's feature order;
    None means every column not in `exclude`, in order -- or, when that is one 2-D (tensor)
    column or one column of per-row arrays, that column. A category column is read by value,
    so it is checked as Model.predict checks it (a booster that would read its codes)."""
    from ._columns import check_category_codes
    n = model.n_features_in_
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
    if is_pandas and model._category_codes:
        check_category_codes(model, batch[list(names)])
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


# -- models with an input schema (string columns, nulls): whole columns by name -------------
#
# A model exported from a pipeline over a DataFrame (a `prep` stage, docs/models/pipelines.md)
# takes named columns of numbers and strings. The engines hand it whole columns, never a
# per-row Python loop: Spark's Arrow batches and Ray's pyarrow batches as they are (the library
# dictionary-encodes each Arrow string column), pandas / NumPy batches column by column
# (numbers as float64 arrays, strings as object arrays that mlinfer._columns factorizes by
# object identity); each distinct string is looked up once per call.
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


def _object_strings(name, values):
    """The cells of a string column as what the library's table path takes: a pandas
    categorical Series as it is (its codes), anything else as an object array in which every
    missing cell -- None, NaN, pd.NA, an Arrow null -- is NaN, the one missing value here. The
    object array is then factorized by object identity (mlinfer._columns), not row by row in
    Python; a value that is not a string is named there with its row."""
    import pandas as pd
    from ._columns import _module_of
    mod = _module_of(values)
    if mod == "pandas" and isinstance(values.dtype, pd.CategoricalDtype):
        return values
    if mod == "pyarrow":
        import pyarrow as pa
        if isinstance(values.type, pa.ExtensionType):
            # e.g. Ray's column of pickled Python objects (strings mixed with None and NaN): the
            # chunks convert to their objects (a ChunkedArray would give the pickled storage)
            chunks = values.chunks if isinstance(values, pa.ChunkedArray) else [values]
            parts = [np.asarray(ch.to_numpy(zero_copy_only=False), dtype=object).reshape(-1) for ch in chunks]
            obj = np.concatenate(parts) if parts else np.empty(0, dtype=object)
        else:
            if pa.types.is_dictionary(values.type):
                values = values.cast(values.type.value_type)
            obj = np.asarray(values.to_numpy(zero_copy_only=False), dtype=object).reshape(-1)
    elif mod == "pandas":
        obj = values.to_numpy(dtype=object)
    else:
        obj = np.asarray(values, dtype=object).reshape(-1)
    missing = pd.isna(obj)
    if missing.any():
        obj = obj.copy()  # to_numpy may be a view of the caller's frame
        obj[missing] = np.nan
    return obj


def _nulls_missing(batch, columns, kind_of):
    """The Arrow batch with the plain string columns the model reads as strings dictionary-
    encoded: Model.predict reads a null in an Arrow string column as None (what to_pandas()
    gives) and in a dictionary column as NaN, and here a null is the one missing value, NaN,
    whatever the batch format. The library dictionary-encodes a string column anyway."""
    import pyarrow as pa
    import pyarrow.compute as pc
    view = getattr(pa.types, "is_string_view", lambda t: False)
    for c in columns:
        t = batch.column(c).type
        if kind_of.get(c) == "string" and (pa.types.is_string(t) or pa.types.is_large_string(t) or view(t)):
            if isinstance(batch, pa.RecordBatch):
                batch = pa.Table.from_batches([batch])
            batch = batch.set_column(batch.schema.get_field_index(c), c, pc.dictionary_encode(batch.column(c)))
    return batch


def _model_input(model, batch, columns):
    """What Model.predict takes by name, from one batch: a pyarrow Table / RecordBatch is
    handed over (the library reads its Arrow columns; string ones dictionary-encoded, so that
    their nulls are the missing value, NaN: _nulls_missing);
    anything else -- a pandas DataFrame, a dict of arrays, an Arrow batch holding extension
    columns, any batch for a model without names -- becomes a dict of the model's columns
    (numbers as float64 arrays with NaN, strings as _object_strings), keyed by name, or by
    position for a model without names. `columns` comes from _table_columns."""
    from ._columns import _module_of, _numbers
    kinds = [kind for _, kind in model.schema]
    named = model.feature_names_in_ is not None
    if named:
        kind_of = {str(n): k for n, k in model.schema}
    is_arrow = _module_of(batch) == "pyarrow"
    if is_arrow:
        import pyarrow as pa
        if named and not any(isinstance(batch.column(c).type, pa.ExtensionType) for c in columns):
            return _nulls_missing(batch, columns, kind_of)  # the library takes the columns by name
    out = {}
    for j, c in enumerate(columns):
        kind = kind_of[c] if named else kinds[j]
        if kind == "unused":
            continue
        values = batch.column(c) if is_arrow else batch[c]
        if kind == "number":
            if is_arrow and isinstance(values.type, pa.ExtensionType):
                values = _object_strings(c, values)  # Python objects; None / NaN -> NaN
            out[c if named else j] = np.ascontiguousarray(_numbers(c, values), dtype=np.float64)
        else:
            out[c if named else j] = _object_strings(c, values)
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
