"""Batch scoring on Apache Spark: mlinfer.spark.predict_udf (docs/BATCH.md).

The model travels as .mli bytes (never a pickle): broadcast once from the driver, loaded
once per Python worker process (a cache keyed by the bytes' SHA-256) and then fed whole
Arrow batches as NumPy arrays. pyspark is imported only when a UDF is made, so
`import mlinfer` never needs Spark. Nulls are missing values (NaN); see mlinfer._batch.
"""
from __future__ import annotations

import numpy as np

from ._batch import (_array_matrix, _cached_model, _check_output, _column_matrix, _model_bytes, _model_input,
                     _model_key, _output_template, _score, _table_columns, _takes_table, _with_context)

# -- Spark ---------------------------------------------------------------------------------
def _return_type(model, output: str):
    from pyspark.sql import types as T
    if output == "proba":
        return T.ArrayType(T.DoubleType())
    if output == "margin":
        return T.DoubleType() if model._n_raw == 1 else T.ArrayType(T.DoubleType())
    if model.is_classifier:
        kind = model.classes_.dtype.kind
        return {"i": T.LongType(), "u": T.LongType(), "f": T.DoubleType(), "b": T.BooleanType()}.get(kind,
                                                                                                    T.StringType())
    return T.DoubleType() if model.n_outputs_ == 1 and not model._y_2d else T.ArrayType(T.DoubleType())


def _task_threads(default: int) -> int:
    try:
        from pyspark import TaskContext
        tc = TaskContext.get()
        if tc is not None:
            return max(1, int(tc.cpus()))
    except Exception:  # older Spark: the driver's spark.task.cpus
        pass
    return default


_threads_set = [None]


def predict_udf(model, output: str = "prediction", batch_size: int = 10000, *, _arrow: bool | None = None):
    """A Spark UDF scoring rows with an mlinfer model, for
    `df.withColumn("score", udf(*feature_columns))` or `udf(array_column)`.

    A model with named columns (a pipeline over a DataFrame, with string columns: docs/BATCH.md)
    takes them by name: `udf(*df.columns)`, `udf("plan", "age", ...)` in any order, or one
    struct column `udf(F.struct(...))`; extra columns are ignored (given as names, they are not
    even sent to Python) and a missing one is named. Each Arrow batch goes to the library as
    Arrow columns (an Arrow UDF; a null is the missing value).

    model: a path (.mli, XGBoost JSON/UBJSON, LightGBM text), the bytes of one, or a loaded
    mlinfer.Model. It is loaded here, so a missing or corrupt file fails now, on the driver.
    output: "prediction" (class labels / values), "proba" (an array column of class
    probabilities) or "margin" (raw scores, XGBoost's output_margin).
    batch_size: the most rows handed to the library in one call.
    Each Python worker loads the model once and uses spark.task.cpus library threads."""
    from pyspark.sql import Column, SparkSession
    from pyspark.sql.functions import col as _col, pandas_udf

    if int(batch_size) < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    batch_size = int(batch_size)
    data, loaded = _model_bytes(model)
    _check_output(loaded, output)
    n_features = loaded.n_features_in_
    key = _model_key(data)
    rtype = _return_type(loaded, output)
    array_out = output == "proba" or rtype.typeName() == "array"

    if _takes_table(loaded):
        return _table_udf(loaded, data, output, batch_size, rtype, array_out, _arrow)
    names = loaded.feature_names_in_ if loaded._names_checked else None

    spark = SparkSession.getActiveSession()
    threads = 1
    payload = data
    if spark is not None:
        sc = spark.sparkContext
        threads = max(1, int(sc.getConf().get("spark.task.cpus", "1")))
        payload = sc.broadcast(data)  # shipped once per executor, not once per task

    def _predict(batches):
        import pandas as pd
        raw = payload if isinstance(payload, bytes) else payload.value
        m = _cached_model(raw, key)
        want = _task_threads(threads)
        if _threads_set[0] != want:
            from . import set_num_threads
            set_num_threads(want)
            _threads_set[0] = want
        for batch in batches:
            series = list(batch) if isinstance(batch, tuple) else [batch]
            if len(series) == 1 and series[0].dtype == object:
                X = _array_matrix(series[0].to_numpy(), n_features)
            elif len(series) == 1 and n_features != 1:
                raise ValueError(f"one scalar feature column given, but the model expects {n_features} features; "
                                 f"pass {n_features} numeric columns or one array column")
            else:
                X = _column_matrix([s.to_numpy() for s in series], n_features,
                                   [s.name for s in series])
            parts = []
            for start in range(0, X.shape[0], batch_size):
                parts.append(_score(m, X[start:start + batch_size], output))
            out = (np.concatenate(parts) if parts else
                   np.empty((0,) if not array_out else (0, 1)))
            yield pd.Series(list(out)) if array_out else pd.Series(out)

    # Iterator[pd.Series] / Iterator[Tuple[pd.Series, ...]] -> Iterator[pd.Series]: the
    # setup above runs once per task, each Arrow batch is scored in whole-array calls.
    single = pandas_udf(_wrap_iter(_predict, 1), returnType=rtype)
    cache = {1: single}

    def udf(*columns):
        if not columns:
            raise ValueError(f"pass the model's {n_features} feature columns, or one array column")
        if len(columns) == 1 and isinstance(columns[0], (list, tuple)):
            columns = tuple(columns[0])
        if names is not None and (len(columns) > 1 or n_features == 1) and all(isinstance(c, str) for c in columns):
            columns = _by_name(columns, names)  # the model's feature names, in its order
        if len(columns) > 1 and len(columns) != n_features:
            raise ValueError(f"{len(columns)} feature columns given, but the model expects {n_features}")
        cols = [c if isinstance(c, Column) else _col(c) for c in columns]
        fn = cache.get(len(cols))
        if fn is None:
            fn = cache[len(cols)] = pandas_udf(_wrap_iter(_predict, len(cols)), returnType=rtype)
        return fn(*cols)

    udf.n_features = n_features
    udf.output = output
    udf.returnType = rtype
    return udf


def _by_name(columns, names):
    """The model's feature names in its order, when the column names given include them all
    (in any order, with others); else a ValueError naming the differences, as Model.predict on
    a DataFrame (scoring the columns by position could silently feed the wrong ones)."""
    have = set(columns)
    if all(n in have for n in names):
        return tuple(str(n) for n in names)
    from types import SimpleNamespace
    from .model import _check_names
    _check_names(SimpleNamespace(columns=list(columns)), names)
    return tuple(columns)


def _quoted(name: str):
    """A column reference to a top-level column named `name` (dots, spaces included)."""
    from pyspark.sql.functions import col
    return col("`" + name.replace("`", "``") + "`")


def _arrow_result(out, array_out: bool, rtype):
    """A pyarrow Array of Spark's return type from the scores."""
    import pyarrow as pa
    if array_out:
        out = np.ascontiguousarray(out, dtype=np.float64).reshape(len(out), -1)
        k = out.shape[1]
        offsets = pa.array(np.arange(0, (len(out) + 1) * k, k, dtype=np.int32) if k else
                           np.zeros(len(out) + 1, dtype=np.int32))
        return pa.ListArray.from_arrays(offsets, pa.array(out.reshape(-1)))
    name = rtype.typeName()
    if name == "long":
        return pa.array(np.asarray(out, dtype=np.int64))
    if name == "double":
        return pa.array(np.asarray(out, dtype=np.float64))
    if name == "boolean":
        return pa.array(np.asarray(out, dtype=bool))
    return pa.array(np.asarray(out).astype(str).astype(object), type=pa.string())


def _table_udf(loaded, data: bytes, output: str, batch_size: int, rtype, array_out: bool, arrow):
    """predict_udf for a model that takes named columns (strings and nulls): one struct column
    in, its fields taken by name, whole Arrow batches into the library's columnar call."""
    from pyspark.sql import Column, SparkSession
    from pyspark.sql import functions as F

    key = _model_key(data)
    if arrow is None:
        arrow = hasattr(F, "arrow_udf")  # Spark 4.1+: Arrow arrays in, no pandas on the way
    spark = SparkSession.getActiveSession()
    threads = 1
    payload = data
    if spark is not None:
        sc = spark.sparkContext
        threads = max(1, int(sc.getConf().get("spark.task.cpus", "1")))
        payload = sc.broadcast(data)

    def _setup():
        raw = payload if isinstance(payload, bytes) else payload.value
        m = _cached_model(raw, key)
        want = _task_threads(threads)
        if _threads_set[0] != want:
            from . import set_num_threads
            set_num_threads(want)
            _threads_set[0] = want
        pid = None
        try:
            from pyspark import TaskContext
            tc = TaskContext.get()
            pid = None if tc is None else tc.partitionId()
        except Exception:
            pass
        return m, (f"row counted within this task's input, Spark partition {pid}" if pid is not None else
                   "row counted within this task's input")

    def _scores(m, table, columns, where, offset):
        """Scores of one Arrow RecordBatch / pandas DataFrame, in pieces of batch_size rows."""
        n = table.num_rows if hasattr(table, "num_rows") else len(table)
        parts = []
        for start in range(0, n, batch_size):
            piece = table.slice(start, batch_size) if hasattr(table, "num_rows") else table.iloc[start:start + batch_size]
            X = _model_input(m, piece, columns)
            parts.append(_with_context(lambda: _score(m, X, output), where, offset + start))
        if parts:
            return np.concatenate(parts)
        dtype, width = _output_template(m, output)
        return np.empty((0,) if width is None else (0, width), dtype=dtype)

    own = set() if loaded.feature_names_in_ is None else set(map(str, loaded.feature_names_in_))

    def _unwrap(names, nested):
        """A single struct column passed as udf(struct_col) arrives wrapped in the UDF's own struct."""
        return len(names) == 1 and nested and names[0] not in own

    def _predict_arrow(batches):
        import pyarrow as pa
        m, where = _setup()
        offset = 0
        for arr in batches:
            if isinstance(arr, pa.ChunkedArray):
                arr = arr.combine_chunks()
            rb = pa.RecordBatch.from_struct_array(arr)
            if _unwrap(rb.schema.names, pa.types.is_struct(rb.schema.types[0]) if rb.num_columns else False):
                rb = pa.RecordBatch.from_struct_array(rb.column(0))
            rb = _plain_strings(rb)
            columns = _table_columns(m, rb.schema.names)
            out = _scores(m, rb, columns, where, offset)
            offset += rb.num_rows
            yield _arrow_result(out, array_out, rtype)

    def _predict_pandas(batches):
        import pandas as pd
        m, where = _setup()
        offset = 0
        for frame in batches:  # the struct column as a DataFrame (Spark < 4.1: no nested structs)
            columns = _table_columns(m, frame.columns)
            out = _scores(m, frame, columns, where, offset)
            offset += len(frame)
            yield pd.Series(list(out)) if array_out else pd.Series(out)

    if arrow:
        fn = F.arrow_udf(_annotated(_predict_arrow, "pyarrow"), returnType=rtype)
    else:
        fn = F.pandas_udf(_annotated(_predict_pandas, "pandas"), returnType=rtype)

    def udf(*columns):
        if len(columns) == 1 and isinstance(columns[0], (list, tuple)):
            columns = tuple(columns[0])
        if not columns:
            raise ValueError("pass the model's columns: udf(*df.columns), their names, or one struct column")
        if all(isinstance(c, str) for c in columns):
            # names known here: check them now, on the driver, and send only the model's columns
            columns = [_quoted(c) for c in _table_columns(loaded, columns)]
        cols = [c if isinstance(c, Column) else _quoted(c) for c in columns]
        return fn(F.struct(*cols))

    udf.n_features = loaded.n_features_in_
    udf.output = output
    udf.returnType = rtype
    return udf


def _plain_strings(rb):
    """Spark may send strings as large_string or string_view: the library's Arrow path takes
    string, large_string and dictionary arrays; views are cast to string."""
    import pyarrow as pa
    is_view = getattr(pa.types, "is_string_view", lambda t: False)
    if not any(is_view(t) for t in rb.schema.types):
        return rb
    cols = [c.cast(pa.string()) if is_view(c.type) else c for c in rb.columns]
    return pa.RecordBatch.from_arrays(cols, names=rb.schema.names)


def _annotated(fn, kind: str):
    """`fn` with the type hints Spark reads: Iterator[pa.Array] -> Iterator[pa.Array] (an
    iterator Arrow UDF) or Iterator[pd.DataFrame] -> Iterator[pd.Series] (a pandas one; a struct
    column arrives as a DataFrame)."""
    from typing import Iterator
    def score(batches):
        return fn(batches)
    if kind == "pyarrow":
        import pyarrow as pa
        score.__annotations__ = {"batches": Iterator[pa.Array], "return": Iterator[pa.Array]}
    else:
        import pandas as pd
        score.__annotations__ = {"batches": Iterator[pd.DataFrame], "return": Iterator[pd.Series]}
    return score


def _wrap_iter(fn, n_cols: int):
    """`fn` with the type hints Spark reads to pick the iterator pandas UDF form."""
    from typing import Iterator, Tuple
    import pandas as pd
    def score(batches):
        return fn(batches)
    arg = Iterator[pd.Series] if n_cols == 1 else Iterator[Tuple[(pd.Series,) * n_cols]]
    score.__annotations__ = {"batches": arg, "return": Iterator[pd.Series]}  # real types, not strings
    return score
