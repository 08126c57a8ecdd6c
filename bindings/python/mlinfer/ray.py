"""Batch scoring on Ray Data: mlinfer.ray.Predictor for Dataset.map_batches (docs/BATCH.md).

    kwargs = mlinfer.ray.predictor_kwargs("model.json", output="proba")   # loads and checks, here
    ds.map_batches(mlinfer.ray.Predictor, fn_constructor_kwargs=kwargs, concurrency=2, batch_format="numpy")

Each actor loads the model once (from .mli bytes, never a pickle of the model) and scores
whole batches. predictor_kwargs loads the model on the driver, so a missing or corrupt file
fails there with the loader's message; it puts the .mli bytes in Ray's object store once
for all actors. Ray is imported only when needed: `import mlinfer` never needs it.

Null semantics as in mlinfer.spark: a missing value (NaN, or a null in a pandas column) is
scored as missing; a non-numeric column is an error, except for a model with named string
columns (a pipeline over a DataFrame), which takes its columns by name from any batch format --
best `batch_format="pyarrow"`, whose Arrow columns go to the library as they are.
"""
from __future__ import annotations

import numpy as np

from ._batch import (_arrow_dict, _cached_model, _check_output, _frame_matrix, _model_bytes, _model_input, _model_key,
                     _named_columns, _score, _table_columns, _takes_table, _with_context)

_COLUMN = {"prediction": "prediction", "proba": "proba", "margin": "margin"}


def predictor_kwargs(model, output: str = "prediction", feature_columns=None, threads: int | None = None,
                     keep_columns=None) -> dict:
    """fn_constructor_kwargs for Predictor, validated on the driver: the model is loaded here
    (missing / corrupt files raise now), `output` and the feature-column count are checked,
    and the .mli bytes go to Ray's object store once (when Ray is initialised)."""
    data, loaded = _model_bytes(model)
    _check_output(loaded, output)
    if _takes_table(loaded):
        if feature_columns is not None:
            _table_columns(loaded, feature_columns, feature_columns)  # a missing column is named here
    elif feature_columns is not None and len(feature_columns) != loaded.n_features_in_:
        raise ValueError(f"{len(feature_columns)} feature columns given, but the model expects "
                         f"{loaded.n_features_in_}")
    ref = data
    try:
        import ray
        if ray.is_initialized():
            ref = ray.put(data)
    except ImportError:
        pass
    return {"model": ref, "output": output, "feature_columns": None if feature_columns is None else
            list(feature_columns), "threads": threads,
            "keep_columns": None if keep_columns is None else list(keep_columns)}


class Predictor:
    """A callable class for `ds.map_batches(Predictor, fn_constructor_kwargs=..., concurrency=N)`:
    adds a `prediction` (output="prediction"), `proba` (a 2-D array / a column of arrays) or
    `margin` column to each batch (batch_format "numpy", "pandas" or "pyarrow").

    model: a path, .mli / XGBoost / LightGBM bytes, a Ray ObjectRef to such bytes, or (for
    use in-process) a loaded mlinfer.Model. feature_columns: the columns in the model's
    feature order; None means the model's feature names when it records them and the batch
    has them all (other columns are then left alone), else every column of the batch, in
    order -- or, when the batch has a single 2-D (tensor) column, that column. threads: library threads per actor (default:
    the actor's num_cpus share, 1 unless map_batches is given num_cpus). keep_columns: the
    batch columns returned beside the scores (None: all of them; ["id"]: just the key, so
    the features are not carried on to the writer)."""

    def __init__(self, model, output: str = "prediction", feature_columns=None, threads: int | None = None,
                 keep_columns=None):
        try:
            import ray
            if isinstance(model, ray.ObjectRef):
                model = ray.get(model)
        except ImportError:
            pass
        data, loaded = _model_bytes(model)
        _check_output(loaded, output)
        self.model = _cached_model(data, _model_key(data))
        self.output = output
        self.column = _COLUMN[output]
        self.feature_columns = None if feature_columns is None else list(feature_columns)
        self.keep_columns = None if keep_columns is None else list(keep_columns)
        n = self.model.n_features_in_
        self.by_name = _takes_table(self.model)
        if self.by_name:
            if self.feature_columns is not None:
                _table_columns(self.model, self.feature_columns, self.feature_columns)
        elif self.feature_columns is not None and len(self.feature_columns) != n:
            raise ValueError(f"{len(self.feature_columns)} feature columns given, but the model expects {n}")
        if threads is None:
            threads = 1
            try:
                import ray
                if ray.is_initialized():
                    cpus = ray.get_runtime_context().get_assigned_resources().get("CPU")
                    threads = max(1, int(cpus or 1))
            except Exception:
                pass
        from . import set_num_threads
        set_num_threads(int(threads))

    def __call__(self, batch):
        from ._columns import _module_of
        is_arrow = _module_of(batch) == "pyarrow" and hasattr(batch, "column_names")
        is_pandas = not is_arrow and hasattr(batch, "columns") and hasattr(batch, "iloc")
        names = batch.column_names if is_arrow else list(batch.columns if is_pandas else batch.keys())
        if self.by_name:
            columns = _table_columns(self.model, [c for c in names if c != self.column], self.feature_columns)
            X = _model_input(self.model, batch, columns)
            out = _with_context(lambda: _score(self.model, X, self.output), "row counted within this Ray batch")
        else:
            source = _arrow_dict(batch, names) if is_arrow else batch
            columns = self.feature_columns
            if columns is None:
                columns = _named_columns(self.model, names, exclude=(self.column,))
            X = _frame_matrix(source, self.model, columns, is_pandas, exclude=(self.column,))
            out = _score(self.model, X, self.output)
        keep = self.keep_columns
        if keep is not None:
            missing = [c for c in keep if c not in names]
            if missing:
                raise ValueError(f"keep_columns {missing} are not in the batch")
        if is_arrow:
            import pyarrow as pa
            if keep is not None:
                batch = batch.select(keep)
            if self.column in batch.column_names:
                batch = batch.drop_columns([self.column])
            if out.ndim == 2:
                flat = pa.array(np.ascontiguousarray(out, dtype=np.float64).reshape(-1))
                col = pa.FixedSizeListArray.from_arrays(flat, out.shape[1])
            else:
                col = pa.array(out if out.dtype.kind != "U" else out.astype(object))
            return batch.append_column(self.column, col)
        if is_pandas:
            batch = batch.copy() if keep is None else batch[keep].copy()
            batch[self.column] = list(out) if out.ndim == 2 else out
        else:
            batch = dict(batch) if keep is None else {c: batch[c] for c in keep}
            batch[self.column] = out
        return batch
