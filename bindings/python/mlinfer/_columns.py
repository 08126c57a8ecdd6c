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
from .errors import InputError, ShapeError

T_F64, T_F32, T_I64, T_UTF8, T_DICT = 0, 1, 2, 3, 4
CODE_NULL, CODE_NONE = -1, -2
KIND_NAMES = {0: "number", 1: "string", 2: "unused"}


def _module_of(x) -> str:
    return type(x).__module__.split(".")[0]


def from_polars(X):
    """A polars DataFrame as an Arrow table (no copy), its Categorical and Enum columns as strings:
    scikit-learn reads a polars frame's nulls in them as None, which an Arrow string column's
    nulls are here (a dictionary column's are NaN: _strings)."""
    import polars as pl
    cats = [c for c, t in X.schema.items() if isinstance(t, (pl.Categorical, pl.Enum))]
    if cats:
        X = X.with_columns([pl.col(c).cast(pl.String) for c in cats])
    return X.to_arrow()


def is_table(X) -> bool:
    """Whether X is something predict takes by column name."""
    mod = _module_of(X)
    return isinstance(X, dict) or (mod == "pandas" and hasattr(X, "columns")) or (
        mod == "pyarrow" and hasattr(X, "column_names"))


def _getter(X, by_position=False):
    """(names, get(name) -> column, rows). With by_position (a model without column names) a
    DataFrame's or Arrow table's columns are 0, 1, ... in order, whatever their labels, as
    scikit-learn reads a frame it was not fitted with names on; a dict's keys are the positions."""
    if by_position and not isinstance(X, dict):
        if _module_of(X) == "pyarrow":
            return set(range(X.num_columns)), X.column, X.num_rows
        return set(range(X.shape[1])), lambda i: X.iloc[:, i], len(X)
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
        _check_unique(X.column_names)
        return set(X.column_names), X.column, X.num_rows
    if not X.columns.is_unique:
        _check_unique(X.columns)
    return set(X.columns), X.__getitem__, len(X)


def _check_unique(names) -> None:
    """A column name given twice is an error: which of the two the model should read is unknown."""
    seen = set()
    for n in names:
        if n in seen:
            raise InputError(f"the input has the column {n!r} twice", 11)
        seen.add(n)


def _first_bad(values, ok) -> int:
    for i, v in enumerate(values):
        if not ok(v):
            return i
    return -1


def _is_num(v) -> bool:
    if v is None:
        return True
    if isinstance(v, (complex, np.complexfloating)):  # float() of a NumPy one drops the imaginary part
        return False
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
        if pa.types.is_dictionary(arr.type) and _is_arrow_number(arr.type.value_type):
            arr = arr.dictionary_decode()  # numbers dictionary-encoded (from a pandas category column): its values
        if pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type) or pa.types.is_dictionary(arr.type):
            raise InputError(f"column {name!r} holds numbers in this model but was given as strings ({arr.type})", 11)
        arr = pc.fill_null(arr.cast(pa.float64()), float("nan"))
        return arr.to_numpy(zero_copy_only=False)
    # strings are never numbers here, "nan" and "1.5" neither (NumPy and pandas would parse them:
    # a column the model reads as numbers, where scikit-learn kept strings -- one only a
    # MissingIndicator reads -- would silently take the string "nan" for a missing value)
    kind = getattr(getattr(col, "dtype", None), "kind", "")
    if kind == "c":  # a cast would drop the imaginary part
        raise InputError(f"column {name!r} holds complex numbers ({col.dtype}): the column holds real numbers in this "
                         "model", 11)
    if kind in "mM" and kind:  # a cast would give nanoseconds; scikit-learn refuses them
        raise InputError(f"column {name!r} holds {col.dtype} values: the column holds numbers in this model "
                         "(convert dates and durations to numbers as the model was fitted)", 11)
    if mod == "pandas":
        if col.dtype.kind != "O":
            try:
                return col.to_numpy(dtype=np.float64, na_value=np.nan)
            except (TypeError, ValueError):
                pass
        values = col.to_numpy(dtype=object)
    else:
        arr = np.asarray(col)
        if arr.dtype.kind in "biuf":
            return arr.astype(np.float64).reshape(-1)
        if arr.dtype.kind == "c":
            raise InputError(f"column {name!r} holds complex numbers ({arr.dtype}): the column holds real numbers in "
                             "this model", 11)
        values = np.asarray(col, dtype=object).reshape(-1)
    r = _first_bad(values, lambda v: _is_num(v) or _is_missing(v))
    if r < 0:  # numbers and pandas' NA (a list from a nullable column): NA is NaN
        return np.array([np.nan if v is None or _is_missing(v) else float(v) for v in values], dtype=np.float64)
    raise InputError(f"column {name!r}, row {r}: {values[r]!r} is not a number (the column holds numbers in this "
                     "model)", 11)


def _is_arrow_number(t) -> bool:
    import pyarrow as pa
    return pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_boolean(t)


def _category_values(col):
    """The categories of a pandas category column or an Arrow dictionary column, as a NumPy
    array, or None for another column."""
    dtype = getattr(col, "dtype", None)
    if type(dtype).__name__ == "CategoricalDtype":
        return dtype.categories.to_numpy()
    if _module_of(col) == "pyarrow" and str(getattr(col, "type", "")).startswith("dictionary<"):
        arr = col.combine_chunks() if hasattr(col, "combine_chunks") else col
        return arr.dictionary.to_numpy(zero_copy_only=False)
    return None


def _is_float32(col):
    """Whether a column holds float32 numbers (NumPy float32, pandas float32 or Float32, Arrow
    float, or a list of NumPy float32 scalars only: pandas makes that a float32 column)."""
    dt = getattr(col, "dtype", None)
    if dt is not None:
        return str(dt) in ("float32", "Float32")
    t = getattr(col, "type", None)  # a pyarrow Array / ChunkedArray
    if t is not None:
        return str(t) == "float"
    return (isinstance(col, (list, tuple)) and len(col) > 0 and type(col[0]) is np.float32
            and all(type(v) is np.float32 for v in col))


class _PandasNA:
    """pandas' NA in a string column, as a dictionary entry. scikit-learn does not take it for a
    missing value there (is_scalar_nan(pd.NA) is False, unlike None and NaN): its encoders see a
    value never seen in fit, an unknown category (OneHotEncoder(handle_unknown='ignore') gives
    zeros where NaN would give the NaN category); its imputers raise on it. So it reaches the
    library as a string no category is, "\\uffff<NA>" (U+FFFF: a noncharacter): unknown to an
    encoder's table, and the missing value after an imputer, whose tables name it
    (export_pipeline.PANDAS_NA)."""

    BYTES = "\uffff<NA>".encode("utf-8")

    def __repr__(self):
        return "<NA>"


_NA = _PandasNA()


def _is_na(v) -> bool:
    return type(v).__name__ == "NAType"


class _NotUnicode(InputError):
    """A dictionary entry with no UTF-8 (a lone surrogate); `k`: its index, for the row."""

    def __init__(self, msg, k):
        super().__init__(msg, 11)
        self.k = k


def _utf8_ok(u: str) -> bool:
    try:
        u.encode("utf-8")
        return True
    except UnicodeEncodeError:
        return False


def _named_row(name, exc: _NotUnicode, codes) -> InputError:
    """The message of exc with the first row holding the entry."""
    r = int(np.argmax(np.asarray(codes) == exc.k))
    return InputError(str(exc).replace(f"column {name!r}:", f"column {name!r}, row {r}:", 1), 11)


def _encode_dict(name, uniques):
    """Dictionary bytes and int64 offsets for a list of str (and _NA)."""
    try:
        parts = [_NA.BYTES if u is _NA else u.encode("utf-8") for u in uniques]
    except AttributeError:
        r = _first_bad(uniques, lambda u: isinstance(u, str))
        raise InputError(f"column {name!r}: {uniques[r]!r} is not a string (the column holds strings in this "
                         "model)", 11) from None
    except UnicodeEncodeError as exc:
        k = _first_bad(uniques, lambda u: u is _NA or _utf8_ok(u))
        raise _NotUnicode(f"column {name!r}: {uniques[k]!r} is not valid Unicode ({exc.reason}: no UTF-8 for it)",
                          k) from None
    offsets = np.zeros(len(parts) + 1, dtype=np.int64)
    if parts:
        np.cumsum([len(p) for p in parts], out=offsets[1:])
    parts.append(b"\0")  # never empty (a NULL pointer); joined once (documents: megabytes)
    return np.frombuffer(b"".join(parts), dtype=np.uint8), offsets


def _object_pointers(values: np.ndarray) -> np.ndarray:
    """The PyObject pointers of an object array, as integers (read only; `values` keeps the
    objects alive)."""
    return np.ctypeslib.as_array((ctypes.c_ssize_t * len(values)).from_address(values.ctypes.data))


def _factorize_objects(name, values: np.ndarray, pd):
    """(codes int32, dictionary bytes, offsets) of an object array of str / None / NaN.

    Columns read by pandas (read_csv) or converted from Arrow hold one object per distinct
    string, so the cells are factorized by object identity first, which hashes machine words
    instead of strings (several times faster); the distinct objects are then classified one
    by one. When the cells are mostly distinct objects, pandas' factorize by value is used."""
    n = len(values)
    if n > 64 and pd is not None:
        codes, uniq = pd.factorize(_object_pointers(values))
        if len(uniq) <= max(1024, n // 8):
            # the distinct objects from their addresses (`values` holds them): no pass over the rows
            reps = [ctypes.cast(int(p), ctypes.py_object).value for p in uniq]
            remap = np.empty(len(uniq), dtype=np.int32)
            strings, index = [], {}
            for k, v in enumerate(reps):
                if isinstance(v, str) or _is_na(v):
                    v = _NA if _is_na(v) else v
                    remap[k] = index.setdefault(v, len(strings))
                    if remap[k] == len(strings):
                        strings.append(v)
                elif v is None:
                    remap[k] = CODE_NONE
                elif _is_missing(v):
                    remap[k] = CODE_NULL
                else:
                    r = int(np.argmax(codes == k))  # its first row
                    raise InputError(f"column {name!r}, row {r}: {v!r} is not a string (the column holds strings "
                                     "in this model)", 11)
            try:
                data, offsets = _encode_dict(name, strings)
            except _NotUnicode as exc:
                raise _named_row(name, exc, remap[codes]) from None
            return remap[codes], data, offsets
        if len(uniq) > n // 2:  # mostly distinct objects (documents): no hashing of the strings
            return _entry_per_row(name, values)
    if pd is not None and n > 64:
        codes, uniques = pd.factorize(values, use_na_sentinel=True)
    else:  # a few rows: a dict is quicker than pandas' machinery
        seen, codes = {}, np.empty(n, dtype=np.int32)
        for i, v in enumerate(values):
            v = _NA if _is_na(v) else v
            codes[i] = CODE_NONE if v is None else CODE_NULL if _is_missing(v) else seen.setdefault(v, len(seen))
        uniques = list(seen)
    codes = codes.astype(np.int32)
    uniques = list(uniques)
    if not all(isinstance(u, str) or u is _NA for u in uniques):
        bad = next(u for u in uniques if not isinstance(u, str) and u is not _NA)
        r = _first_bad(values, lambda v: v is not bad)
        raise InputError(f"column {name!r}, row {r}: {bad!r} is not a string (the column holds strings in this "
                         "model)", 11)
    na = np.flatnonzero(codes < 0)
    if na.size:  # None is kept apart from NaN, as scikit-learn does in object columns
        nones = [i for i in na if values[i] is None]
        if nones:
            codes[nones] = CODE_NONE
        nas = [i for i in na if _is_na(values[i])]  # pandas' NA: not a null for scikit-learn (_PandasNA)
        if nas:
            codes[nas] = len(uniques)
            uniques.append(_NA)
    try:
        data, offsets = _encode_dict(name, uniques)
    except _NotUnicode as exc:
        raise _named_row(name, exc, codes) from None
    return codes, data, offsets


def _entry_per_row(name, values: np.ndarray):
    """(codes, dictionary bytes, offsets) with one dictionary entry per string cell (a column of
    mostly distinct strings, such as documents: the C API takes repeated entries, and hashing
    every string to find the few repeats costs more than it saves)."""
    codes = np.empty(len(values), dtype=np.int32)
    strings = []
    for i, v in enumerate(values):
        if isinstance(v, str) or _is_na(v):
            codes[i] = len(strings)
            strings.append(_NA if _is_na(v) else v)
        elif v is None:
            codes[i] = CODE_NONE
        elif _is_missing(v):
            codes[i] = CODE_NULL
        else:
            raise InputError(f"column {name!r}, row {i}: {v!r} is not a string (the column holds strings in this "
                             "model)", 11)
    try:
        data, offsets = _encode_dict(name, strings)
    except _NotUnicode as exc:
        raise _named_row(name, exc, codes) from None
    return codes, data, offsets


def _is_missing(v) -> bool:
    """NaN (any float NaN), pandas' NA or NaT: a null."""
    try:
        return v != v or type(v).__name__ in ("NAType", "NaTType")
    except (TypeError, ValueError):
        return type(v).__name__ == "NAType"


def _strings(name, col):
    """(codes int32, dictionary bytes, offsets) of a string column."""
    mod = _module_of(col)
    if mod == "pyarrow":
        import pyarrow as pa
        arr = col.combine_chunks() if hasattr(col, "combine_chunks") else col
        # A null is what Table.to_pandas() makes of it, and so what scikit-learn would see: None
        # in a string column (also how scikit-learn reads a polars frame's nulls), NaN in a
        # dictionary one (a pandas Categorical's missing value). The two differ where an imputer
        # (missing_values=NaN) or an encoder fitted on None meets them.
        null = CODE_NULL
        if not pa.types.is_dictionary(arr.type):
            view = getattr(pa.types, "is_string_view", lambda t: False)(arr.type)
            if not (pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type) or view or
                    pa.types.is_null(arr.type)):
                raise InputError(f"column {name!r} holds strings in this model but was given as {arr.type}", 11)
            arr = arr.cast(pa.string()).dictionary_encode()
            null = CODE_NONE
        codes = arr.indices.fill_null(null).to_numpy(zero_copy_only=False).astype(np.int32)
        data, offsets = _encode_dict(name, arr.dictionary.to_pylist())
        return codes, data, offsets
    if mod == "pandas":
        import pandas as pd
        dtype = col.dtype
        if isinstance(dtype, pd.CategoricalDtype):
            codes = col.cat.codes if hasattr(col, "cat") else col.codes  # a Series, or a Categorical (in a dict)
            codes = np.asarray(codes).astype(np.int32)
            data, offsets = _encode_dict(name, list(dtype.categories))
            return codes, data, offsets
        if dtype.kind in "biufcmM":
            raise InputError(f"column {name!r} holds strings in this model but was given as {dtype}", 11)
        return _factorize_objects(name, col.to_numpy(dtype=object), pd)
    values = np.asarray(col, dtype=object).reshape(-1)
    if values.dtype != object:
        raise InputError(f"column {name!r} holds strings in this model but was given as {values.dtype}", 11)
    return _factorize_objects(name, values, sys.modules.get("pandas"))


_SCALARS = (str, int, float, bool, type(None))


def _may_have_categories(X) -> bool:
    """Whether a table may hold a category (dictionary) column, asked cheaply: a DataFrame's
    block dtypes, an Arrow table's schema, a dict's values."""
    if _module_of(X) == "pyarrow":
        return any(str(t).startswith("dictionary<") for t in X.schema.types)
    if isinstance(X, dict):
        return any(_category_values(v) is not None for v in X.values())
    try:
        dtypes = [b.dtype for b in X._mgr.blocks]
    except AttributeError:  # another pandas layout
        dtypes = list(X.dtypes)
    return any(type(t).__name__ == "CategoricalDtype" for t in dtypes)


def _has_float32(df):
    """Whether a DataFrame has a float32 (or nullable Float32) column; its blocks' dtypes cost
    well under a microsecond where df.dtypes builds a Series (tens of microseconds)."""
    try:
        dtypes = [b.dtype for b in df._mgr.blocks]
    except AttributeError:  # another pandas layout
        dtypes = list(df.dtypes)
    return any(getattr(t, "kind", "") == "f" and getattr(t, "itemsize", 0) == 4 for t in dtypes)


def one_row(X, by_position=False):
    """X as {name: value} when it is one row (a dict of scalars, a one-row DataFrame), else None
    (also for a DataFrame read by_position: columns_for checks its width)."""
    if isinstance(X, dict):
        for v in X.values():
            if not isinstance(v, _SCALARS) and (np.ndim(v) != 0 or type(v) is np.float32):
                return None  # a NumPy float32 scalar keeps its type (columns_for), as in pandas
        return X
    if _module_of(X) == "pandas" and hasattr(X, "columns") and len(X) == 1:
        if _has_float32(X):
            return None  # float32 columns keep their type (columns_for)
        if by_position:
            return None  # columns_for, which checks the width
        if not X.columns.is_unique:
            _check_unique(X.columns)
        return dict(zip(X.columns, X.to_numpy(dtype=object)[0]))
    return None


def _number(name, v) -> float:
    if v is None:
        return float("nan")
    if isinstance(v, (str, bytes)):
        raise InputError(f"column {name!r}, row 0: {v!r} is not a number (the column holds numbers in this model)", 11)
    try:
        return float(v)
    except (TypeError, ValueError):
        if _is_missing(v):
            return float("nan")
        raise InputError(f"column {name!r}, row 0: {v!r} is not a number (the column holds numbers in this model)",
                         11) from None


def one_row_columns(model, row):
    """mli_column for one row given as {name: value}: numbers in one float64 buffer, each string
    a one-entry dictionary in one bytes buffer (None and NaN as codes). No numpy, no pandas: a
    one-row request costs microseconds here."""
    schema = model.schema
    n_use = model._n_used
    cols = (Column * n_use)()
    nums, strs, codes, idx = [], [], [], []
    for i, (key, kind) in enumerate(schema):
        if kind == "unused":
            continue
        key, name = (i, f"#{i}") if key is None else (key, key)  # a model without names: by position
        try:
            v = row[key]
        except KeyError:
            missing = _missing(schema, row)
            raise InputError(f"the input lacks column(s) {missing[:5]}{' ...' if len(missing) > 5 else ''} "
                             "that the model takes", 11) from None
        idx.append(i)
        if kind == "number":
            nums.append(_number(name, v))
        elif type(v) is str or isinstance(v, str):
            codes.append(0)
            strs.append(v.encode("utf-8"))
        elif _is_na(v):  # pandas' NA: an unknown value for scikit-learn's encoders (_PandasNA)
            codes.append(0)
            strs.append(_NA.BYTES)
        elif v is None:
            codes.append(CODE_NONE)
            strs.append(b"")
        elif _is_missing(v):
            codes.append(CODE_NULL)
            strs.append(b"")
        else:
            raise InputError(f"column {name!r}, row 0: {v!r} is not a string (the column holds strings in this "
                             "model)", 11)
    num_buf = (ctypes.c_double * max(1, len(nums)))(*nums)
    code_buf = (ctypes.c_int32 * max(1, len(codes)))(*codes)
    offs = []
    for b in strs:
        offs += (0, len(b))
    off_buf = (ctypes.c_int64 * max(2, len(offs)))(*offs)
    data = b"".join(strs) + b"\0"
    data_buf = ctypes.create_string_buffer(data, len(data))
    num_at, code_at, off_at, data_at = (ctypes.addressof(num_buf), ctypes.addressof(code_buf),
                                        ctypes.addressof(off_buf), ctypes.addressof(data_buf))
    k_num = k_str = pos = 0
    for j, i in enumerate(idx):
        c = cols[j]
        c.index = i
        if schema[i][1] == "number":
            c.type, c.values = T_F64, num_at + 8 * k_num
            k_num += 1
        else:
            c.type, c.values, c.offsets = T_DICT, code_at + 4 * k_str, off_at + 16 * k_str
            c.dict_bytes, c.n_dict = data_at + pos, 1 if codes[k_str] == 0 else 0
            pos += len(strs[k_str])
            k_str += 1
    return cols, n_use, (num_buf, code_buf, off_buf, data_buf)


def check_category_codes(model, X) -> None:
    """For a model whose file records no categories of the DataFrame it was trained on
    (metadata category_input=codes: XGBoost and LightGBM trained on arrays): its framework
    feeds the trees a pandas category column's codes 0..k-1, where libmlinfer reads the
    values. The two agree only when each category is its own code, so any other category
    column is an input error, never a silent remap."""
    if not is_table(X) or not _may_have_categories(X):
        return
    names, get, _ = _getter(X, model.feature_names_in_ is None)
    used = {key for key, kind in model.schema if kind != "unused"}
    for name in names:
        if model.feature_names_in_ is not None and name not in used:
            continue
        cats = _category_values(get(name))
        if cats is None or len(cats) == 0 or (
                cats.dtype.kind in "iuf" and np.array_equal(cats, np.arange(len(cats)))):
            continue  # no category, or each its own code
        shown = cats[:5].tolist() + (["..."] if len(cats) > 5 else [])
        label = f"#{name}" if model.feature_names_in_ is None else name
        raise InputError(f"column {label!r} is a category column with the categories {shown}: this model's "
                         f"{(model.meta('source') or 'framework').split()[0]} file records no categories, so its "
                         "framework would read the category codes (0, 1, ...) where libmlinfer reads the values; "
                         "pass the values (.astype(float)) or the codes (.cat.codes) as numbers", 11)


def check_number_categories(model, X, counts) -> None:
    """XGBoost refuses a DataFrame value outside the categories it recorded at fit (an unseen
    category). For the columns whose recorded categories are the numbers 0..k-1 ({feature: k},
    metadata category_counts) a table is checked the same way, naming the column, the row and
    the value; an array is read as XGBoost reads one, by value (a category no split lists
    takes the branch of the categories not listed)."""
    if not is_table(X):
        return
    names, get, _ = _getter(X, model.feature_names_in_ is None)
    for f, k in counts.items():
        key = model.schema[f][0]
        key, name = (f, f"#{f}") if key is None else (key, key)
        if key not in names:
            continue  # a missing column: columns_for names it
        values = _numbers(name, get(key))
        bad = np.flatnonzero(~np.isnan(values) & ~((values >= 0) & (values < k) & (values == np.floor(values))))
        if bad.size:
            r = int(bad[0])
            raise InputError(f"column {name!r}, row {r}: {values[r]:g} is not one of the categories 0..{k - 1} the "
                             "model was trained on (XGBoost refuses a category not in the training set)", 11)


def _missing(schema, have):
    return [i if nm is None else nm for i, (nm, k) in enumerate(schema)
            if k != "unused" and (i if nm is None else nm) not in have]


def check_width(model, X) -> None:
    """A table read by position (a model without column names) must have the model's width,
    as scikit-learn demands of an array."""
    if model.feature_names_in_ is None and not isinstance(X, dict):
        width = X.num_columns if _module_of(X) == "pyarrow" else X.shape[1]
        if width != model.n_features_in_:
            raise ShapeError(f"X has {width} features, but the model expects {model.n_features_in_} (a model "
                             "without column names takes a table's columns by position)", 7)


def columns_for(model, X):
    """(ctypes array of mli_column, rows, keep-alive list) for the model's columns from X."""
    check_width(model, X)
    have, get, rows = _getter(X, model.feature_names_in_ is None)
    schema = model.schema
    cols = (Column * len(schema))()
    keep = []
    n = 0
    for i, (key, kind) in enumerate(schema):
        if kind == "unused":
            continue
        key, name = (i, f"#{i}") if key is None else (key, key)  # a model without names: by position
        if key not in have:
            missing = _missing(schema, have)
            raise InputError(f"the input lacks column(s) {missing[:5]}{' ...' if len(missing) > 5 else ''} "
                             "that the model takes", 11)
        c = cols[n]
        n += 1
        c.name = None
        c.index = i
        src = get(key)
        if kind == "number":
            # a float32 column stays float32 (exactly: widening and narrowing back lose
            # nothing): the library must know, since scikit-learn computes some steps on it
            # in float32 and refuses what it cannot reproduce (docs/models/pipelines.md)
            f32 = _is_float32(src)
            arr = np.ascontiguousarray(_numbers(name, src), dtype=np.float32 if f32 else np.float64)
            if arr.shape[0] != rows:
                raise InputError(f"column {name!r} has {arr.shape[0]} values for {rows} rows", 11)
            keep.append(arr)
            c.type, c.values = T_F32 if f32 else T_F64, address(arr) if arr.size else None
        else:
            codes, data, offsets = _strings(name, src)
            keep += [codes, data, offsets]
            c.type = T_DICT
            c.values = codes.ctypes.data if codes.size else None
            c.offsets, c.dict_bytes, c.n_dict = offsets.ctypes.data, data.ctypes.data, len(offsets) - 1
    return ctypes.cast(cols, ctypes.POINTER(Column)), n, rows, keep
