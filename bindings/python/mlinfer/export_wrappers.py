"""mlinfer.export for the scikit-learn APIs of XGBoost, LightGBM and CatBoost (XGBClassifier,
XGBRegressor, XGBRFClassifier, XGBRFRegressor, XGBRanker, LGBMClassifier, LGBMRegressor, LGBMRanker,
CatBoostClassifier, CatBoostRegressor).

The booster is saved in its own format (XGBoost JSON, LightGBM text, CatBoost JSON) and
converted by the C importers that `mlinfer.load` uses for those files (src/import/), so a
wrapper and its booster file predict through the same code. What the wrapper adds on top of
its booster is taken from the wrapper: its class labels (`classes_`, strings included), the
rounds its `predict` uses (`best_iteration` after early stopping), and its input rules. What
the wrapper would compute differently from the converted booster is refused, never
approximated: number categories whose codes are not the values themselves, XGBoost's `missing`
other than NaN, custom objectives, and XGBClassifier's `binary:logitraw`. String categories
(pandas `category` columns: LightGBM's `pandas_categorical`, XGBoost's recorded categories) are
mapped to their codes by a prep stage that the C importer puts in front of the trees.
"""
from __future__ import annotations

import os
import tempfile

import numpy as np

from ._export_common import _fail, _labels
from ._format import parse

XGB = {"XGBClassifier", "XGBRegressor", "XGBRFClassifier", "XGBRFRegressor", "XGBRanker"}
LGBM = {"LGBMClassifier", "LGBMRegressor", "LGBMRanker"}
CATBOOST = {"CatBoostClassifier", "CatBoostRegressor"}
ESTIMATORS = XGB | LGBM | CATBOOST

# keys of the converted model that the exporter sets itself (from the wrapper)
_OWN_KEYS = {"producer", "source", "n_features", "feature_names", "stages", "n_classes", "class_labels",
             "classes_dtype"}
# keys of the converted model about how its own input columns are read (model.py)
_INPUT_KEYS = {"category_input", "category_counts"}


def _is_classifier(est) -> bool:
    return type(est).__name__.endswith("Classifier")


def _check_categories(est, feature, values):
    """One categorical feature's categories (in code order): strings (the C importer maps them
    to their codes), or numbers that are their own codes (0, 1, 2, ...), which is all a number
    given to the model can stand for."""
    vals = list(values)
    if vals and all(isinstance(v, str) for v in vals):
        return
    for i, v in enumerate(vals):
        if isinstance(v, (str, bytes)) or not isinstance(v, (int, float, np.integer, np.floating)):
            _fail(est, f"categorical feature {feature!r} has the category {v!r} among categories of another type: "
                  "categories are either all strings or all numbers")
        if float(v) != float(i):
            _fail(est, f"categorical feature {feature!r} has the category {v!r} at code {i}: the model would see "
                  "the code, not the number you pass; train on categories 0..n-1, on the codes, or on strings")


# ---- XGBoost ----------------------------------------------------------------------------

def _xgb_native(est) -> bytes:
    try:
        booster = est.get_booster()
    except Exception as e:  # NotFittedError and XGBoostError alike
        _fail(est, f"it is not fitted ({e})")
    missing = getattr(est, "missing", np.nan)
    if missing is not None and not (isinstance(missing, (float, np.floating)) and np.isnan(missing)):
        _fail(est, f"missing={missing!r}: values equal to it are missing for XGBoost but numbers for the .mli "
              "model; train with missing=np.nan (the default) or turn them into NaN yourself")
    if callable(getattr(est, "objective", None)):
        _fail(est, "a custom objective function (its predictions are not stored in the booster)")
    if getattr(est, "booster", None) == "gblinear":
        _fail(est, "booster='gblinear' (linear boosters are not tree models)")
    config = booster.save_config()
    if _is_classifier(est) and '"binary:logitraw"' in config:
        _fail(est, "objective='binary:logitraw': XGBClassifier.predict thresholds the raw margin at 0.5, which is "
              "not a probability; export the booster (Booster.save_model) for its margins instead")
    # the categories the booster records (XGBoost >= 3.1 keeps them to re-code DataFrames)
    if any(t == "c" for t in (booster.feature_types or [])):
        get = getattr(booster, "get_categories", None)
        if get is not None:
            try:
                cats = get(export_to_arrow=True).to_arrow()
            except TypeError:
                cats = []
            for name, arr in cats or []:
                if arr is not None:
                    try:
                        values = arr.to_pylist()
                    except UnicodeDecodeError:  # XGBoost keeps a prefix of a non-ASCII string's bytes
                        _fail(est, f"categorical feature {name!r} holds non-ASCII categories, which XGBoost stores "
                                   "cut to a prefix of their bytes: not reproducible as a string lookup")
                    _check_categories(est, name, values)
    # the rounds the wrapper's predict uses: (0, best_iteration + 1) after early stopping
    rng_fn = getattr(est, "_get_iteration_range", None)
    if rng_fn is not None:
        start, end = rng_fn(None)
    else:
        try:
            start, end = 0, int(est.best_iteration) + 1
        except AttributeError:
            start, end = 0, 0
    if end > 0 or start > 0:
        try:
            booster = booster[start:end]
        except Exception as e:
            _fail(est, f"its rounds {start}..{end} cannot be sliced out of the booster ({e})")
    else:
        booster = booster.copy()
    # a Booster file with these attributes stands for an early-stopped wrapper (the importer
    # would drop rounds again); the rounds are already chosen here
    booster.set_attr(best_iteration=None, best_score=None, scikit_learn=None)
    return bytes(booster.save_raw("json"))


# ---- LightGBM ---------------------------------------------------------------------------

def _lgb_native(est) -> bytes:
    try:
        booster = est.booster_
    except Exception as e:
        _fail(est, f"it is not fitted ({e})")
    if callable(getattr(est, "objective", None)):
        _fail(est, "a custom objective function (LGBMClassifier/LGBMRegressor then predict raw scores that the "
              "wrapper post-processes in Python)")
    # LGBMModel.predict (num_iteration=None) uses best_iteration when early stopping set one
    best = int(getattr(booster, "best_iteration", 0) or 0)
    text = booster.model_to_string(num_iteration=best if best > 0 else -1)
    cats = getattr(booster, "pandas_categorical", None) or []
    if cats:
        # the pandas category columns are the categorical features in column order: their
        # feature_infos list categories ("0:1:2"), a numeric feature's is a range ("[lo:hi]")
        names = booster.feature_name()
        infos = next((ln[len("feature_infos="):].split() for ln in text.splitlines()
                      if ln.startswith("feature_infos=")), [])
        cat_names = [n for n, info in zip(names, infos) if not info.startswith("[") and info != "none"]
        for j, values in enumerate(cats):
            feature = cat_names[j] if len(cat_names) == len(cats) else f"pandas category column {j}"
            _check_categories(est, feature, values)
    return text.encode("utf-8")


# ---- CatBoost ---------------------------------------------------------------------------

def _cb_native(est) -> bytes:
    try:
        fitted = est.is_fitted()
    except Exception:
        fitted = False
    if not fitted:
        _fail(est, "it is not fitted")
    threshold = getattr(est, "get_probability_threshold", lambda: None)()
    if threshold is not None and float(threshold) != 0.5:
        _fail(est, f"a probability threshold of {threshold} (the .mli binary head predicts class 1 above 0.5)")
    # CatBoost writes JSON to a file only; categorical, text and embedding features are
    # refused by the C importer, naming the feature
    fd, tmp = tempfile.mkstemp(suffix=".json")
    os.close(fd)
    try:
        try:
            est.save_model(tmp, format="json")
        except Exception as e:  # noqa: BLE001 -- CatBoostError: e.g. an infinite border (trained on +-inf)
            _fail(est, f"CatBoost cannot write it as JSON, which the export reads: {str(e).strip()}"
                       + (" (an infinite value in the model: was it trained on infinite values?)"
                          if "inf" in str(e) else ""))
        with open(tmp, "rb") as f:
            return f.read()
    finally:
        os.unlink(tmp)


# ---- conversion ---------------------------------------------------------------------------

def _convert(est, native: bytes):
    """The converted model's metadata and arrays (the C importer through mlinfer.load)."""
    from .errors import Error
    from .model import load
    try:
        m = load(native)
    except Error as e:
        _fail(est, str(e))
    fd, tmp = tempfile.mkstemp(suffix=".mli")
    os.close(fd)
    try:
        m.save(tmp)
        m.close()
        with open(tmp, "rb") as f:
            return parse(f.read())
    finally:
        os.unlink(tmp)


def write(w, est, n_in: int) -> None:
    """Writes a fitted XGBoost/LightGBM/CatBoost scikit-learn wrapper as the `trees` stage of
    `w`, after the stages already in `w` (scalers)."""
    name = type(est).__name__
    native = _xgb_native(est) if name in XGB else _cb_native(est) if name in CATBOOST else _lgb_native(est)
    meta, arrays = _convert(est, native)
    if int(meta["n_features"]) != n_in:
        _fail(est, f"its booster takes {meta['n_features']} features, the input has {n_in}")
    # one trees stage, after the prep stage of string categories when the booster has them
    n_conv = int(meta["stages"])
    kinds = [meta.get(f"stage.{i}.kind") for i in range(n_conv)]
    if kinds not in (["trees"], ["prep", "trees"]):
        _fail(est, f"the converted booster has the stages {kinds}, not one trees stage")
    task = meta["task"]
    if _is_classifier(est) != (task == "classification"):
        _fail(est, f"its objective makes a {task} model, not what {name} predicts")
    if kinds[0] == "prep" and w.n_stages:
        cols = [str(n) for n, k in zip(meta.get("feature_names", "").split("\x1f"), arrays["stage.0.col_kind"])
                if k == 1]
        _fail(est, f"string category columns {cols} behind other preprocessing: the booster maps the strings of "
              "its own input, which a pipeline step before it has already transformed")
    # preprocessing (a prep stage: ColumnTransformer, encoders, imputers; scalers; an image
    # stage) may come before the trees: they hand the trees float64 values, which the trees
    # stage compares by the booster's own rule, as the booster compares a float64 matrix
    for i in range(w.n_stages):
        if w.meta.get(f"stage.{i}.kind") not in ("image", "prep", "affine"):
            _fail(est, "a model stage before a tree model (only preprocessing may precede the trees)")
    first = w.n_stages
    w.n_stages += n_conv

    def renamed(k):
        for i in range(n_conv):
            if k.startswith(f"stage.{i}."):
                return f"stage.{first + i}." + k[len(f"stage.{i}."):]
        return k

    for k, v in meta.items():
        # category_input and category_counts speak of the booster's own input columns: behind
        # preprocessing the model's input is read by scikit-learn's transformers, by value
        if k not in _OWN_KEYS and not (k in _INPUT_KEYS and first > 0):
            w.meta[renamed(k)] = v
    for k, v in arrays.items():
        if k not in ("classes", "feature_names"):
            w.arrays[renamed(k)] = v
    if task == "regression":
        w.meta["y_ndim"] = 2 if int(meta["n_outputs"]) > 1 else 1
    else:
        classes = np.asarray(est.classes_)
        if classes.ndim != 1 or len(classes) != int(meta["n_classes"]):
            _fail(est, f"it has {len(classes)} classes but its booster predicts {meta['n_classes']}")
        _labels(w, classes)
