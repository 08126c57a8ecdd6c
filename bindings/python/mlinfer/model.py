"""mlinfer.load and the Model class: predictions from the C runtime, shaped like
scikit-learn's."""
from __future__ import annotations

import ctypes
import os
from ctypes import c_char_p, c_int64, c_void_p

import numpy as np

from . import _native
from ._columns import (check_category_codes, check_number_categories, columns_for, from_polars, is_table, one_row,
                       one_row_columns)
from ._native import address, check, lib
from .errors import InputError

_F32, _F64 = 0, 1
_CONTRIB = -1  # _call_columns: mli_model_predict_contrib_columns
_INTERACT = -2  # _call_columns: mli_model_predict_interactions_columns
_APPLY = -3  # _call_columns: mli_model_apply_columns (int64 leaf numbers)


_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))


def _as_rows(X, n_features: int):
    """A C-contiguous 2-D float32/float64 view of X (zero-copy when it already is one)."""
    if (type(X) is np.ndarray and X.ndim == 2 and X.dtype in _FLOATS and X.flags.c_contiguous
            and X.shape[1] == n_features):
        return X  # the common case, checked cheaply
    if type(X).__module__.startswith("pandas") and hasattr(X, "dtypes"):  # a frame of datetimes goes to objects...
        for name, dt in getattr(X.dtypes, "items", lambda: [])():
            if getattr(dt, "kind", "") in ("m", "M", "c"):  # ...which to_numpy then turns into numbers
                raise ValueError(f"column {name!r} holds {dt} values: libmlinfer takes real numbers (as scikit-learn)")
    arr = np.asarray(X)
    if arr.dtype.kind == "c":  # NumPy's cast would drop the imaginary part without a word
        raise ValueError("X holds complex numbers: libmlinfer takes real numbers (as scikit-learn: "
                         "'Complex data not supported')")
    if arr.dtype.kind in "mM":  # the cast would give nanoseconds; scikit-learn refuses them
        raise ValueError(f"X holds {arr.dtype} values: libmlinfer takes numbers (as scikit-learn)")
    if arr.dtype not in (np.float32, np.float64):
        if arr.dtype == object and hasattr(X, "to_numpy") and type(X).__module__.startswith("pandas"):
            arr = X.to_numpy(dtype=np.float64, na_value=np.nan)  # nullable columns: pd.NA is NaN, as scikit-learn
        else:
            arr = arr.astype(np.float64)
    if arr.ndim != 2:
        raise ValueError(f"Expected a 2-D array of shape (n_samples, {n_features}), got {arr.ndim}-D; "
                         "reshape a single sample with X.reshape(1, -1)")
    if arr.shape[1] != n_features:
        raise ValueError(f"X has {arr.shape[1]} features, but the model expects {n_features}")
    if not arr.flags.c_contiguous or not arr.dtype.isnative:
        arr = np.ascontiguousarray(arr, dtype=arr.dtype.newbyteorder("="))
    return arr


def _check_names(X, names) -> None:
    """As scikit-learn and XGBoost: a table (pandas, polars, ...) whose column names are all
    strings must have the model's feature names in the model's order, or scoring it would
    silently feed the wrong columns."""
    cols = getattr(X, "column_names", None) if type(X).__module__.startswith("pyarrow") else getattr(X, "columns", None)
    if cols is None:
        return
    got = list(cols)
    if not all(isinstance(c, str) for c in got):
        return  # unnamed or numbered columns: nothing to check
    if len(got) == len(names) and all(a == b for a, b in zip(got, names)):
        return
    have, want = set(got), set(names)
    missing = [n for n in names if n not in have]
    unexpected = [c for c in got if c not in want]
    if not missing and not unexpected and len(got) == len(names):
        raise ValueError("X has the model's feature names in another order; pass X[model.feature_names_in_]")
    parts = []
    if unexpected:
        parts.append(f"not seen in training: {unexpected[:5]}" + (" ..." if len(unexpected) > 5 else ""))
    if missing:
        parts.append(f"missing: {missing[:5]}" + (" ..." if len(missing) > 5 else ""))
    if not parts:
        parts.append("a name appears twice")
    raise ValueError("X's column names do not match the feature names the model was trained with; "
                     + "; ".join(parts))


class Model:
    """A model loaded by libmlinfer. Thread-safe: share one Model between threads."""

    cuda = None  # the GPU copy (mlinfer.cuda.DeviceModel) when loaded with a device

    def __init__(self, handle: int):
        self._h = c_void_p(handle)
        self.n_features_in_ = int(lib.mli_model_n_features(self._h))
        self.n_outputs_ = int(lib.mli_model_n_outputs(self._h))
        self._task = int(lib.mli_model_task(self._h))
        self._n_classes = int(lib.mli_model_n_classes(self._h))
        self._n_decision = int(lib.mli_model_n_decision(self._h))
        self._has_proba = bool(lib.mli_model_has_proba(self._h))
        self._y_2d = self.meta("y_ndim") == "2"
        self._n_raw = int(lib.mli_model_n_raw(self._h))
        self.n_trees_ = int(lib.mli_model_n_trees(self._h))  # 0 for models without trees
        self._iso_norm = float(self.meta("iso_norm")) if self.meta("head") == "isolation" else None
        self.classes_ = self._read_classes() if self._task == 1 else None
        self.feature_names_in_ = self._read_feature_names()
        # LightGBM names the columns of data without names (Column_0, ...) and does not check
        # names when predicting; scikit-learn and XGBoost do
        self._names_checked = self.feature_names_in_ is not None and not (self.meta("source") or "").startswith(
            "lightgbm")
        self._has_image = bool(_native.HAS_IMAGE and lib.mli_model_has_image(self._h))
        self._has_prep = self.meta("stage.0.kind") == "prep"
        self.schema = self._read_schema()
        # tables go to mli_model_predict_columns (by name) for models with a prep stage
        # (a model without names takes tables by position, when it has string columns)
        self._by_columns = self._has_prep and _native.HAS_COLUMNS and (
            self.feature_names_in_ is not None or any(k == "string" for _, k in self.schema))
        self._numeric_only = all(k != "string" for _, k in self.schema)
        # a vectorizer + linear model: predict takes a list (array, Series) of documents
        self._text_input = self.meta("text_input") == "1" and self._by_columns
        self._n_used = sum(k != "unused" for _, k in self.schema)
        self._category_codes = self.meta("category_input") == "codes"
        # {feature: k}: a table value there must be one of the recorded categories 0..k-1
        self._category_counts = {int(f): int(k) for f, k in
                                 (p.split(":") for p in (self.meta("category_counts") or "").split())}

    # -- metadata ----------------------------------------------------------------------
    def meta(self, key: str):
        v = lib.mli_model_meta(self._h, key.encode())
        return None if v is None else v.decode("utf-8")

    def _read_feature_names(self):
        """The names of the input columns, or None when the model records none."""
        name = c_char_p()
        if lib.mli_model_feature_name(self._h, 0, ctypes.byref(name)) != 0:
            return None
        names = []
        for i in range(self.n_features_in_):
            check(lib.mli_model_feature_name(self._h, i, ctypes.byref(name)))
            names.append(name.value.decode("utf-8"))
        return np.array(names, dtype=object)

    def _read_schema(self):
        """[(name, 'number' | 'string' | 'unused')] for the input columns (name None when the
        model records no names)."""
        from ._columns import KIND_NAMES
        names = self.feature_names_in_
        kinds = [0] * self.n_features_in_
        if _native.HAS_COLUMNS:
            k = ctypes.c_int()
            for i in range(self.n_features_in_):
                check(lib.mli_model_column_kind(self._h, i, ctypes.byref(k)))
                kinds[i] = k.value
        return [(None if names is None else str(names[i]), KIND_NAMES[kinds[i]]) for i in range(self.n_features_in_)]

    def _read_classes(self):
        n = self._n_classes
        dtype = np.dtype(self.meta("classes_dtype") or ("U" if lib.mli_model_labels_are_strings(self._h) else "int64"))
        if lib.mli_model_labels_are_strings(self._h):
            out = c_char_p()
            labels = []
            for i in range(n):
                check(lib.mli_model_class_label_str(self._h, i, ctypes.byref(out)))
                labels.append(out.value.decode("utf-8"))
            if dtype.kind == "f":
                return np.array([float(s) for s in labels], dtype=dtype)
            if dtype.kind == "b":
                return np.array([s == "True" for s in labels], dtype=dtype)
            return np.array(labels, dtype=dtype)
        out = c_int64()
        labels = []
        for i in range(n):
            check(lib.mli_model_class_label_int(self._h, i, ctypes.byref(out)))
            labels.append(out.value)
        return np.array(labels, dtype=dtype)

    @property
    def is_classifier(self) -> bool:
        return self._task == 1

    # -- predictions -------------------------------------------------------------------
    def _call_columns(self, what: int, X, cols: int) -> np.ndarray:
        row = one_row(X, self.feature_names_in_ is None)
        if row is not None:
            arr, n, keep = one_row_columns(self, row)
            rows = 1
        else:
            arr, n, rows, keep = columns_for(self, X)
        out = np.empty((rows, cols), dtype=np.int64 if what == _APPLY else np.float64)
        if what == _APPLY:
            status = lib.mli_model_apply_columns(self._h, arr, n, rows, address(out) if out.size else None, out.size)
        elif what in (_CONTRIB, _INTERACT):
            fn = lib.mli_model_predict_contrib_columns if what == _CONTRIB else lib.mli_model_predict_interactions_columns
            status = fn(self._h, arr, n, rows, address(out) if out.size else None, out.size)
        else:
            status = lib.mli_model_predict_columns(self._h, arr, n, rows, what, address(out) if out.size else None,
                                                   out.size)
        del keep
        if status:
            check(status)
        return out

    def _documents(self, X):
        """A text model's input: documents as the column named in its schema."""
        if isinstance(X, (str, bytes)):
            raise InputError("a text model takes an iterable of documents, not one string (as scikit-learn)", 11)
        if isinstance(X, np.ndarray) and X.ndim != 1:
            raise InputError(f"a text model takes a 1-D sequence of documents, not an array of shape {X.shape}", 11)
        if isinstance(X, (list, tuple)):  # an object array at once: numpy's asarray probes each str as a sequence
            X = np.fromiter(X, dtype=object, count=len(X))
        return {self.feature_names_in_[0]: X if hasattr(X, "__len__") else list(X)}

    _WHAT = {"mli_model_predict": 0, "mli_model_predict_proba": 1, "mli_model_decision_function": 2,
             "mli_model_predict_raw": 3}
    if _native.HAS_CONTRIB_COLUMNS:
        _WHAT["mli_model_predict_contrib"] = _CONTRIB
    if _native.HAS_INTERACTIONS:
        _WHAT["mli_model_predict_interactions"] = _INTERACT
    if _native.HAS_APPLY_COLUMNS:
        _WHAT["mli_model_apply"] = _APPLY

    def _call(self, fn, X, cols: int, out_dtype=np.float64) -> np.ndarray:
        if type(X).__module__.startswith("polars") and hasattr(X, "to_arrow"):
            X = from_polars(X)  # a polars DataFrame: an Arrow table, read by column name like any table
        if type(X).__module__.startswith("scipy.sparse"):
            raise TypeError("a scipy.sparse matrix: libmlinfer takes dense rows (X.toarray()); mind that an XGBoost "
                            "model fitted on sparse data takes the entries it leaves out as missing, so give those "
                            "NaN, not 0 (a text vectorizer or sparse encoder inside the exported pipeline does this "
                            "itself)")
        if self._text_input and not is_table(X):
            X = self._documents(X)
        if self._category_codes and type(X) is not np.ndarray:
            check_category_codes(self, X)
        if self._category_counts and type(X) is not np.ndarray:
            check_number_categories(self, X, self._category_counts)
        if self._by_columns and type(X) is not np.ndarray:
            if is_table(X) and fn.__name__ in self._WHAT:
                return self._call_columns(self._WHAT[fn.__name__], X, cols)
        # an object array goes by column too when some column is unused: it may hold strings
        # (scikit-learn's ColumnTransformer drops it unread)
        if self._has_prep and type(X) is np.ndarray and (not self._numeric_only or (
                X.dtype == object and _native.HAS_COLUMNS and self._n_used < len(self.schema))):
            if X.ndim == 2 and X.shape[1] == self.n_features_in_ and fn.__name__ in self._WHAT:
                names = self.feature_names_in_ if self.feature_names_in_ is not None else range(X.shape[1])
                return self._call_columns(self._WHAT[fn.__name__], {n: X[:, i] for i, n in enumerate(names)}, cols)
        if self._names_checked and type(X) is not np.ndarray:
            _check_names(X, self.feature_names_in_)
        arr = _as_rows(X, self.n_features_in_)
        if self.cuda is not None and self.cuda.handles(fn):
            return self.cuda.call(fn, arr, self.n_features_in_, cols)
        rows = arr.shape[0]
        out = np.empty((rows, cols), dtype=out_dtype)
        status = fn(self._h, address(arr) if rows else None, _F64 if arr.dtype == _FLOATS[1] else _F32, rows,
                    self.n_features_in_, address(out) if out.size else None, out.size)
        if status:
            check(status)
        return out

    def predict(self, X) -> np.ndarray:
        out = self._call(lib.mli_model_predict, X, self.n_outputs_)
        if self.is_classifier:
            return self.classes_[out[:, 0].astype(np.int64)]
        return out if (self._y_2d or self.n_outputs_ > 1) else out[:, 0]

    def predict_proba(self, X) -> np.ndarray:
        if not self.is_classifier:
            raise AttributeError("predict_proba is only available for classifiers")
        if not self._has_proba:  # as scikit-learn: LinearSVC, SGDClassifier(loss='hinge'), ...
            raise AttributeError(f"this model ({self.meta('source') or '?'}) has no predict_proba")
        return self._call(lib.mli_model_predict_proba, X, self._n_classes)

    def decision_function(self, X) -> np.ndarray:
        if self._n_decision == 0:
            raise AttributeError("this model has no decision_function")
        out = self._call(lib.mli_model_decision_function, X, self._n_decision)
        return out[:, 0] if self._n_decision == 1 else out

    def predict_raw(self, X) -> np.ndarray:
        """The raw scores before the head: a boosted model's summed trees plus its prior
        (XGBoost's output_margin), a forest's averaged leaves, a linear model's decision
        values. Shape (n,) for one score per row, else (n, n_raw)."""
        out = self._call(lib.mli_model_predict_raw, X, self._n_raw)
        return out[:, 0] if self._n_raw == 1 else out

    def apply(self, X) -> np.ndarray:
        """Tree models: the leaf each row reaches in each tree, int64 (n, n_trees_), numbered
        as the framework numbers them (scikit-learn's `apply`, XGBoost/LightGBM `pred_leaf`).
        X as predict takes it: a matrix, or (models with named columns) a DataFrame, a pyarrow
        Table or a dict of columns, strings included."""
        return self._call(lib.mli_model_apply, X, self.n_trees_, np.int64)

    def _n_contrib_columns(self) -> int:
        """Contribution columns before the bias: the input columns, then (models with
        preprocessing) the transformed features reported on their own."""
        n = int(lib.mli_model_n_contrib(self._h))
        return n // self._n_raw - 1 if n > 0 and self._n_raw > 0 else self.n_features_in_

    @property
    def contrib_columns(self):
        """For each column of predict_contrib but the bias: the index of the input column whose
        share it is, or -1 for a transformed feature made from several input columns (PCA,
        polynomial features, a Normalizer over several columns, ...), reported on its own."""
        n = self._n_contrib_columns()
        if not _native.HAS_CONTRIB_COLUMNS:
            return list(range(n))
        col = c_int64()
        out = []
        for i in range(n):
            check(lib.mli_model_contrib_column(self._h, i, ctypes.byref(col), None))
            out.append(int(col.value))
        return out

    @property
    def contrib_names(self):
        """The names of the columns of predict_contrib: the input columns (feature_names_in_,
        else f0, f1, ...), then, for a model with preprocessing, the transformed features
        reported on their own ("transformed:<name>", the name scikit-learn's
        get_feature_names_out gave it), and last "bias"."""
        n = self._n_contrib_columns()
        names = (list(self.feature_names_in_) if self.feature_names_in_ is not None else
                 [f"f{i}" for i in range(self.n_features_in_)])
        if n > self.n_features_in_ and _native.HAS_CONTRIB_COLUMNS:
            name = c_char_p()
            for i in range(self.n_features_in_, n):
                check(lib.mli_model_contrib_column(self._h, i, None, ctypes.byref(name)))
                names.append(name.value.decode("utf-8"))
        return names + ["bias"]

    def predict_contrib(self, X, return_names: bool = False):
        """Exact SHAP contributions of each input column to the raw scores (predict_raw),
        docs/TREES.md "Contributions": tree models by path-dependent TreeSHAP (as XGBoost's
        pred_contribs, LightGBM's pred_contrib, shap.TreeExplainer), linear models exported
        with background data as coef x (value - background mean) (shap.LinearExplainer,
        independent masker). Shape (n, n_columns + 1) with the bias last, or
        (n, n_raw, n_columns + 1) for models with several raw scores (one set per class, as
        XGBoost's pred_contribs); each set sums to its predict_raw score. n_columns is n_features_in_, plus, for a pipeline with
        preprocessing, the transformed features that mix several input columns (see
        contrib_columns); a pipeline's one-hot block, scaled or imputed values and missing
        indicators add up into their input column. Models with named columns take X as
        predict does (a DataFrame, pyarrow Table or dict of columns). With
        return_names=True, also the column names (contrib_names).
        Raises mlinfer.UnsupportedError for a model that cannot be explained."""
        n = int(lib.mli_model_n_contrib(self._h))
        if n <= 0:  # the library says why, before the input is converted (it may be a table)
            check(lib.mli_model_predict_contrib(self._h, None, 1, 0, 0, None, 0))
        groups = n // self._n_raw - 1
        out = self._call(lib.mli_model_predict_contrib, X, n)
        out = out.reshape(out.shape[0], groups + 1, self._n_raw)  # the C layout: score fastest
        out = out[:, :, 0] if self._n_raw == 1 else np.ascontiguousarray(out.transpose(0, 2, 1))
        return (out, self.contrib_names) if return_names else out

    def predict_interactions(self, X, return_names: bool = False):
        """SHAP interaction values of tree models (docs/TREES.md "Interactions"; XGBoost's
        pred_interactions, shap.TreeExplainer(model).shap_interaction_values, path-dependent).
        Shape (n, n_columns + 1, n_columns + 1), or (n, n_raw, n_columns + 1, n_columns + 1)
        for models with several raw scores (as XGBoost's pred_interactions), the columns those
        of predict_contrib (bias last):
        [r, i, j] (i != j) is half the interaction of columns i and j (symmetric), [r, i, i]
        column i's main effect, the bias row and column 0 but for the bias at [r, -1, -1].
        Row i sums to predict_contrib's column i, the whole matrix to predict_raw. Costs about
        the trees' depth times predict_contrib, and (n_columns + 1)^2 values per row and
        score. With return_names=True, also the column names (contrib_names).
        Raises mlinfer.UnsupportedError for models other than trees with covers."""
        if not _native.HAS_INTERACTIONS:
            raise AttributeError("this libmlinfer has no interaction values (mli_model_predict_interactions)")
        n = int(lib.mli_model_n_interactions(self._h))
        if n <= 0:  # the library says why
            check(lib.mli_model_predict_interactions(self._h, None, 1, 0, 0, None, 0))
        side = self._n_contrib_columns() + 1
        out = self._call(lib.mli_model_predict_interactions, X, n)
        out = out.reshape(out.shape[0], side, side, self._n_raw)  # the C layout: score fastest
        out = out[:, :, :, 0] if self._n_raw == 1 else np.ascontiguousarray(out.transpose(0, 3, 1, 2))
        return (out, self.contrib_names) if return_names else out

    def score_samples(self, X) -> np.ndarray:
        """IsolationForest: the opposite of the anomaly score, -2^(-E[h] / c(max_samples)),
        from the mean path length E[h] (docs/FORMAT.md, head `isolation`)."""
        if self._iso_norm is None:
            raise AttributeError("score_samples is only available for IsolationForest models")
        return -np.exp2(-self.predict_raw(X) / self._iso_norm)

    # -- image input (models exported with an image stage) ------------------------------
    @property
    def image_spec(self):
        """The model's image stage as an mlinfer.ImagePreprocess, or None without one."""
        if not self._has_image:
            return None
        from .image import ImagePreprocess
        spec = _native.ImageSpec()
        check(lib.mli_model_image_spec(self._h, ctypes.byref(spec)))
        return ImagePreprocess._from_c(spec)

    @staticmethod
    def _image_list(images):
        from .image import read_bytes
        if isinstance(images, (bytes, bytearray, memoryview, str, os.PathLike)) or hasattr(images, "read"):
            images = [images]
        return [read_bytes(i) for i in images]

    def _call_images(self, what: int, images, cols: int) -> np.ndarray:
        datas = self._image_list(images)
        n = len(datas)
        out = np.empty((n, cols), dtype=np.float64)
        ptrs = (c_void_p * n)(*[ctypes.cast(ctypes.c_char_p(d), c_void_p) for d in datas])
        sizes = (ctypes.c_size_t * n)(*[len(d) for d in datas])
        if not _native.HAS_IMAGE:
            from .image import _require
            _require()
        check(lib.mli_model_predict_jpeg_batch(self._h, ptrs, sizes, n, what, address(out) if out.size else None,
                                               out.size))
        return out

    def predict_image(self, images) -> np.ndarray:
        """Predictions for JPEG images (bytes, paths or binary files; one or a list), decoded
        and preprocessed by the model's image stage. One row per image, as predict."""
        out = self._call_images(0, images, self.n_outputs_)
        if self.is_classifier:
            return self.classes_[out[:, 0].astype(np.int64)]
        return out if (self._y_2d or self.n_outputs_ > 1) else out[:, 0]

    def predict_proba_image(self, images) -> np.ndarray:
        if not self.is_classifier or not self._has_proba:
            raise AttributeError(f"this model ({self.meta('source') or '?'}) has no predict_proba")
        return self._call_images(1, images, self._n_classes)

    def decision_function_image(self, images) -> np.ndarray:
        if self._n_decision == 0:
            raise AttributeError("this model has no decision_function")
        out = self._call_images(2, images, self._n_decision)
        return out[:, 0] if self._n_decision == 1 else out

    def preprocess_image(self, images) -> np.ndarray:
        """The float32 rows (n_images, n_features) the model sees for these JPEG images."""
        from .image import preprocess
        spec = self.image_spec
        if spec is None:
            raise AttributeError("this model has no image stage")
        datas = self._image_list(images)
        out = np.empty((len(datas), self.n_features_in_), dtype=np.float32)
        for i, d in enumerate(datas):
            out[i] = preprocess(d, spec).reshape(-1)
        return out

    def save(self, path) -> None:
        """Writes the model as an .mli file (an XGBoost or LightGBM model: its converted form),
        atomically: written beside `path`, then renamed into place."""
        check(lib.mli_model_save(self._h, os.fsencode(os.fspath(path))))

    # -- lifetime ----------------------------------------------------------------------
    @property
    def device(self) -> str:
        """'cpu', or 'cuda:N' for a model loaded with a device."""
        return "cpu" if self.cuda is None else f"cuda:{self.cuda.index}"

    def close(self) -> None:
        if self.cuda is not None:  # the device copy refers to the host model: it goes first
            self.cuda.close()
            self.cuda = None
        h, self._h = self._h, None
        if h is not None and h.value:
            lib.mli_model_free(h)

    def __del__(self):
        try:
            self.close()
        except Exception:  # interpreter shutdown
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __repr__(self) -> str:
        return f"<mlinfer.Model {self.meta('source') or '?'} features={self.n_features_in_}>"


def load(path, device=None) -> Model:
    """Loads a model file: .mli, an XGBoost model (.json / .ubj) or a LightGBM text model
    (.txt) -- the kind is recognised from the content, not the name -- or the bytes of one.
    `device`: None / "cpu", "cuda" / "cuda:N" (raises mlinfer.DeviceError without a usable
    GPU), or "auto" (a GPU when one is usable, else the CPU); see mlinfer.cuda."""
    handle = c_void_p()
    if isinstance(path, (bytes, bytearray, memoryview)):
        buf = bytes(path)
        check(lib.mli_model_load_memory(buf, len(buf), ctypes.byref(handle)))
    else:
        check(lib.mli_model_load(os.fsencode(os.fspath(path)), ctypes.byref(handle)))
    model = Model(handle.value)
    if device is not None:
        from . import cuda
        cuda.attach(model, device)
    return model
