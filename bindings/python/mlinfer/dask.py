"""Batch scoring on Dask: mlinfer.dask.predict for dask.dataframe (docs/BATCH.md).

    scores = mlinfer.dask.predict(ddf, "model.json", output="proba", feature_columns=cols)
    ddf.assign(prediction=mlinfer.dask.predict(ddf, "model.mli"))

The model is loaded here, so a missing or corrupt file fails on the client. Its .mli bytes
enter the task graph once (one shared key, not a copy per partition) and each worker
process loads them once; every partition is scored in whole-array calls. Nulls are missing
values (NaN), as in mlinfer.spark and mlinfer.ray. Dask is imported only when called.
"""
from __future__ import annotations

from ._batch import (_cached_model, _check_output, _frame_matrix, _model_bytes, _model_input, _model_key,
                     _named_columns, _output_template, _score, _table_columns, _takes_table, _with_context)


def _score_partition(pdf, data: bytes, key: str, output: str, feature_columns, columns, threads,
                     partition_info=None):
    import pandas as pd
    model = _cached_model(data, key)
    if threads is not None:
        from . import get_num_threads, set_num_threads
        if get_num_threads() != threads:
            set_num_threads(threads)
    if _takes_table(model):  # named string columns: whole columns through Arrow, by name
        X = _model_input(model, pdf, feature_columns)
        part = None if not partition_info else partition_info.get("number")
        where = "row counted within this Dask partition" + ("" if part is None else f" ({part})")
        out = _with_context(lambda: _score(model, X, output), where, labels=pdf.index)
    else:
        X = _frame_matrix(pdf, model, feature_columns, True)
        out = _score(model, X, output)
    if columns is None:
        return pd.Series(out.reshape(len(pdf)) if out.ndim == 2 else out, index=pdf.index, name=output)
    return pd.DataFrame(out.reshape(len(pdf), -1), index=pdf.index, columns=columns)


def predict(df, model, output: str = "prediction", feature_columns=None, threads: int | None = None):
    """Score a dask DataFrame partition by partition with an mlinfer model.

    model: a path (.mli, XGBoost JSON/UBJSON, LightGBM text), its bytes, or a loaded
    mlinfer.Model. output: "prediction" -> a Series named "prediction"; "proba" -> a
    DataFrame with one column per class ("proba_<class>"); "margin" -> a Series ("margin"),
    or a DataFrame ("margin_<k>") for models with several raw scores. feature_columns: the
    columns in the model's feature order (None: the model's feature names when it records
    them and the DataFrame has them all, else every column, in order). threads: library
    threads per worker process (None leaves the library's setting; with a threaded Dask
    scheduler keep threads x scheduler threads within the cores).

    A model with named string columns (a pipeline over a DataFrame) takes its columns by name
    (feature_columns, when given, is the set to pick them from); a missing one is named here,
    on the client. Strings go to the library as Arrow columns, and a null (None, NaN, pd.NA)
    is the missing value (docs/BATCH.md)."""
    import numpy as np
    import dask
    data, loaded = _model_bytes(model)
    _check_output(loaded, output)
    n = loaded.n_features_in_
    if _takes_table(loaded):
        if feature_columns is not None:
            missing = [c for c in feature_columns if c not in df.columns]
            if missing:
                raise ValueError(f"feature columns {missing} are not in the DataFrame")
        names = _table_columns(loaded, list(df.columns), feature_columns)
    else:
        names = list(feature_columns) if feature_columns is not None else (
            _named_columns(loaded, df.columns) or list(df.columns))
        if len(names) != n:
            raise ValueError(f"{len(names)} feature columns given, but the model expects {n}")
        missing = [c for c in names if c not in df.columns]
        if missing:
            raise ValueError(f"feature columns {missing} are not in the DataFrame")
    dtype, width = _output_template(loaded, output)  # without scoring: a string model takes no zeros
    columns = None
    if output == "proba":
        columns = [f"proba_{c}" for c in loaded.classes_]
    elif width is not None and width > 1:
        columns = [f"{output}_{k}" for k in range(width)]
    import pandas as pd
    if columns is None:
        meta = pd.Series(np.empty(0, dtype=dtype), name=output)
    else:
        meta = pd.DataFrame(np.empty((0, len(columns)), dtype=dtype), columns=columns)
    shared = dask.delayed(data, pure=True)  # one graph key for every partition
    return df.map_partitions(_score_partition, shared, _model_key(data), output, names, columns, threads,
                             meta=meta, align_dataframes=False)
