"""Batch scoring on Apache Spark: mlinfer.spark.predict_udf (docs/BATCH.md).

The model travels as .mli bytes (never a pickle): broadcast once from the driver, loaded
once per Python worker process (a cache keyed by the bytes' SHA-256) and then fed whole
Arrow batches as NumPy arrays. pyspark is imported only when a UDF is made, so
`import mlinfer` never needs Spark. Nulls are missing values (NaN); see mlinfer._batch.
"""
from __future__ import annotations

import numpy as np

from ._batch import _array_matrix, _cached_model, _check_output, _column_matrix, _model_bytes, _model_key, _score

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


def predict_udf(model, output: str = "prediction", batch_size: int = 10000):
    """A Spark UDF scoring rows with an mlinfer model, for
    `df.withColumn("score", udf(*feature_columns))` or `udf(array_column)`.

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


def _wrap_iter(fn, n_cols: int):
    """`fn` with the type hints Spark reads to pick the iterator pandas UDF form."""
    from typing import Iterator, Tuple
    import pandas as pd
    def score(batches):
        return fn(batches)
    arg = Iterator[pd.Series] if n_cols == 1 else Iterator[Tuple[(pd.Series,) * n_cols]]
    score.__annotations__ = {"batches": arg, "return": Iterator[pd.Series]}  # real types, not strings
    return score
