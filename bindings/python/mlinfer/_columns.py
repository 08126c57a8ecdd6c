"""Tables as named columns for mli_model_predict_columns: a pandas DataFrame, a pyarrow
Table, a dict of columns (or of one row's values), taken by name. Strings go to the C
library dictionary-encoded (pandas' factorize, Arrow's dictionary_encode), so each distinct
string is looked up once per call. pandas and pyarrow are imported only when the caller
passes one of their objects."""
from __future__ import annotations

import ctypes
import sys

import numpy as np

from ._native import Column, address
from .errors import InputError

T_F64, T_F32, T_I64, T_UTF8, T_DICT = 0, 1, 2, 3, 4
CODE_NULL, CODE_NONE = -1, -2
KIND_NAMES = {0: "number", 1: "string", 2: "unused"}


def _module_of(x) -> str:
    return type(x).__module__.split(".")[0]


def is_table(X) -> bool:
    """Whether X is something predict takes by column name."""
    mod = _module_of(X)
    return isinstance(X, dict) or (mod == "pandas" and hasattr(X, "columns")) or (
        mod == "pyarrow" and hasattr(X, "column_names"))


def _getter(X):
    """(names, get(name) -> column, rows)."""
    if isinstance(X, dict):
        vals = list(X.values())
        one_row = vals and all(np.ndim(v) == 0 for v in vals)
        cols = {k: ([v] if one_row else v) for k, v in X.items()}
        rows = len(next(iter(cols.values()))) if cols else 0
        for k, v in cols.items():
            if len(v) != rows:
                raise InputError(f"column {k!r} has {len(v)} values but column {next(iter(cols))!r} has {rows}", 11)
        return set(cols), cols.__getitem__, rows
    if _module_of(X) == "pyarrow":
        return set(X.column_names), X.column, X.num_rows
    return set(X.columns), X.__getitem__, len(X)


def _first_bad(values, ok) -> int:
    for i, v in enumerate(values):
        if not ok(v):
            return i
    return -1


def _is_num(v) -> bool:
    if v is None:
        return True
    try:
        float(v)
        return not isinstance(v, (str, bytes))
    except (TypeError, ValueError):
        return False


def _numbers(name, col):
    """A float64 numpy array of the column (NaN where missing)."""
    mod = _module_of(col)
    if mod == "pyarrow":
        import pyarrow as pa
        import pyarrow.compute as pc
        arr = col.combine_chunks() if hasattr(col, "combine_chunks") else col
        if pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type) or pa.types.is_dictionary(arr.type):
            raise InputError(f"column {name!r} holds numbers in this model but was given as strings ({arr.type})", 11)
        arr = pc.fill_null(arr.cast(pa.float64()), float("nan"))
        return arr.to_numpy(zero_copy_only=False)
    if mod == "pandas":
        try:
            return col.to_numpy(dtype=np.float64, na_value=np.nan)
        except (TypeError, ValueError):
            values = col.to_numpy(dtype=object)
    else:
        try:
            return np.asarray(col, dtype=np.float64).reshape(-1)
        except (TypeError, ValueError):
            values = np.asarray(col, dtype=object).reshape(-1)
    r = _first_bad(values, _is_num)
    raise InputError(f"column {name!r}, row {r}: {values[r]!r} is not a number (the column holds numbers in this "
                     "model)", 11)


def _encode_dict(name, uniques):
    """Dictionary bytes and int64 offsets for a list of str."""
    try:
        parts = [u.encode("utf-8") for u in uniques]
    except AttributeError:
        r = _first_bad(uniques, lambda u: isinstance(u, str))
        raise InputError(f"column {name!r}: {uniques[r]!r} is not a string (the column holds strings in this "
                         "model)", 11) from None
    except UnicodeEncodeError as exc:
        raise InputError(f"column {name!r}: a string is not valid Unicode ({exc})", 11) from None
    offsets = np.zeros(len(parts) + 1, dtype=np.int64)
    if parts:
        np.cumsum([len(p) for p in parts], out=offsets[1:])
    return np.frombuffer(b"".join(parts) + b"\0", dtype=np.uint8), offsets


def _strings(name, col):
    """(codes int32, dictionary bytes, offsets) of a string column."""
    mod = _module_of(col)
    if mod == "pyarrow":
        import pyarrow as pa
        arr = col.combine_chunks() if hasattr(col, "combine_chunks") else col
        if not pa.types.is_dictionary(arr.type):
            if not (pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type) or pa.types.is_null(arr.type)):
                raise InputError(f"column {name!r} holds strings in this model but was given as {arr.type}", 11)
            arr = arr.cast(pa.string()).dictionary_encode()
        codes = arr.indices.fill_null(CODE_NULL).to_numpy(zero_copy_only=False).astype(np.int32)
        data, offsets = _encode_dict(name, arr.dictionary.to_pylist())
        return codes, data, offsets
    if mod == "pandas":
        import pandas as pd
        dtype = col.dtype
        if isinstance(dtype, pd.CategoricalDtype):
            codes = col.cat.codes.to_numpy().astype(np.int32)
            data, offsets = _encode_dict(name, list(dtype.categories))
            return codes, data, offsets
        if dtype.kind in "biufcmM":
            raise InputError(f"column {name!r} holds strings in this model but was given as {dtype}", 11)
        codes, uniques = pd.factorize(col, use_na_sentinel=True)
        values = None
    else:
        values = np.asarray(col, dtype=object).reshape(-1)
        if "pandas" in sys.modules:
            codes, uniques = sys.modules["pandas"].factorize(values, use_na_sentinel=True)
        else:
            seen, codes = {}, np.empty(len(values), dtype=np.int64)
            for i, v in enumerate(values):
                codes[i] = CODE_NULL if (v is None or v != v) else seen.setdefault(v, len(seen))
            uniques = list(seen)
    codes = codes.astype(np.int32)
    uniques = list(uniques)
    if not all(type(u) is str for u in uniques):
        bad = next(u for u in uniques if not isinstance(u, str))
        vals = values if values is not None else col.to_numpy(dtype=object)
        r = _first_bad(vals, lambda v: v is not bad)
        raise InputError(f"column {name!r}, row {r}: {bad!r} is not a string (the column holds strings in this "
                         "model)", 11)
    na = np.flatnonzero(codes < 0)
    if na.size:  # None is kept apart from NaN, as scikit-learn does in object columns
        vals = values if values is not None else col.to_numpy(dtype=object)
        nones = [i for i in na if vals[i] is None]
        if nones:
            codes[nones] = CODE_NONE
    data, offsets = _encode_dict(name, uniques)
    return codes, data, offsets


def columns_for(model, X):
    """(ctypes array of mli_column, rows, keep-alive list) for the model's columns from X."""
    have, get, rows = _getter(X)
    schema = model.schema
    cols = (Column * len(schema))()
    keep = []
    n = 0
    for i, (name, kind) in enumerate(schema):
        if kind == "unused":
            continue
        if name not in have:
            missing = [nm for nm, k in schema if k != "unused" and nm not in have]
            raise InputError(f"the input lacks column(s) {missing[:5]}{' ...' if len(missing) > 5 else ''} "
                             "that the model takes", 11)
        c = cols[n]
        n += 1
        c.name = None
        c.index = i
        src = get(name)
        if kind == "number":
            arr = np.ascontiguousarray(_numbers(name, src), dtype=np.float64)
            if arr.shape[0] != rows:
                raise InputError(f"column {name!r} has {arr.shape[0]} values for {rows} rows", 11)
            keep.append(arr)
            c.type, c.values = T_F64, address(arr) if arr.size else None
        else:
            codes, data, offsets = _strings(name, src)
            keep += [codes, data, offsets]
            c.type = T_DICT
            c.values = codes.ctypes.data if codes.size else None
            c.offsets, c.dict_bytes, c.n_dict = offsets.ctypes.data, data.ctypes.data, len(offsets) - 1
    return ctypes.cast(cols, ctypes.POINTER(Column)), n, rows, keep
