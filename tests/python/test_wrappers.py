"""mlinfer.export for the scikit-learn wrappers of XGBoost and LightGBM, scalers before tree
models (format 1.3), OneVsRestClassifier and `python -m mlinfer export`, against the
frameworks' own outputs on the same rows.

Tolerances, and why:
- class labels and leaves (apply) are compared exactly;
- LightGBM sums float64 leaves in tree order as libmlinfer does: RTOL_LGB = 1e-12;
- XGBoost sums float32 leaves in float32, libmlinfer in float64: margins agree to about
  1e-6 relative for the model sizes here, bound RTOL_XGB = 1e-5 (DESIGN.md's contract) with
  an absolute floor ATOL_XGB = 1e-5 for margins that cancel to ~0;
- linear stages run in float32 (docs/FORMAT.md): 1e-5 relative, 1e-6 absolute for
  probabilities.
"""
from __future__ import annotations

import os
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

xgb = pytest.importorskip("xgboost")
lgb = pytest.importorskip("lightgbm")

from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestRegressor  # noqa: E402
from sklearn.linear_model import LogisticRegression, RidgeClassifier, SGDClassifier  # noqa: E402
from sklearn.multiclass import OneVsRestClassifier  # noqa: E402
from sklearn.naive_bayes import GaussianNB  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import MaxAbsScaler, MinMaxScaler, RobustScaler, StandardScaler  # noqa: E402
from sklearn.svm import LinearSVC  # noqa: E402
from sklearn.tree import DecisionTreeClassifier  # noqa: E402

RTOL_LGB = 1e-12
RTOL_XGB, ATOL_XGB = 1e-5, 1e-5
REPO = Path(__file__).resolve().parents[2]


def _data(n=500, d=6, seed=0, nan=0.08):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d)) * np.linspace(1, 30, d) + np.linspace(-5, 50, d)
    if nan:
        X[rng.random(X.shape) < nan] = np.nan
    signal = np.nan_to_num(X[:, 0] / 1.0) + np.nan_to_num(X[:, 1] / 6.8) - np.nan_to_num(X[:, 2] / 12.6) + 6.0
    return X, signal, rng


def _export_load(mlinfer, est, tmp_path, name="m.mli"):
    path = tmp_path / name
    mlinfer.export(est, path)
    return mlinfer.load(path)


def _margin(est, X):
    """The framework's raw scores for X (after the pipeline's scalers)."""
    final = est[-1] if hasattr(est, "steps") else est
    Xs = est[:-1].transform(X) if hasattr(est, "steps") else X
    if type(final).__module__.startswith("xgboost"):
        return final.predict(Xs, output_margin=True)
    return final.predict(Xs, raw_score=True)


def _leaves(est, X):
    final = est[-1] if hasattr(est, "steps") else est
    Xs = est[:-1].transform(X) if hasattr(est, "steps") else X
    if type(final).__module__.startswith("xgboost"):
        return final.apply(Xs)
    if type(final).__module__.startswith("lightgbm"):
        return final.predict(Xs, pred_leaf=True)
    return final.apply(Xs)


def _compare(m, est, X, xgboost: bool):
    rtol, atol = (RTOL_XGB, ATOL_XGB) if xgboost else (RTOL_LGB, 0.0)
    if m.classes_ is not None:
        assert list(m.classes_) == list(est.classes_)
        np.testing.assert_array_equal(m.predict(X), est.predict(X))
    else:
        np.testing.assert_allclose(m.predict(X), est.predict(X), rtol=rtol, atol=atol)
    if hasattr(est, "predict_proba"):
        np.testing.assert_allclose(m.predict_proba(X), est.predict_proba(X), rtol=rtol, atol=1e-6 if xgboost else 0)
    raw = np.asarray(_margin(est, X))
    final = est[-1] if hasattr(est, "steps") else est
    if getattr(final, "boosting_type", None) == "rf":  # LightGBM's raw_score sums what rf predicts averaged
        raw = raw / final.booster_.current_iteration()
    np.testing.assert_allclose(m.predict_raw(X).reshape(raw.shape), raw, rtol=rtol, atol=atol)


# ---- the wrappers, bare ------------------------------------------------------------------

def _labels(signal, kind, rng):
    if kind == "binary":
        return (signal > np.median(signal)).astype(int)
    if kind == "multi":
        return np.digitize(signal, np.quantile(signal, [0.3, 0.6]))
    if kind == "str":
        return np.array(["ant", "bee", "cat", "dog"])[np.digitize(signal, np.quantile(signal, [0.25, 0.5, 0.75]))]
    return signal + rng.normal(size=signal.shape)


XGB_CASES = {
    "XGBClassifier-binary": (lambda: xgb.XGBClassifier(n_estimators=40, max_depth=4), "binary"),
    "XGBClassifier-multi": (lambda: xgb.XGBClassifier(n_estimators=30, max_depth=3), "multi"),
    "XGBClassifier-softmax": (lambda: xgb.XGBClassifier(n_estimators=20, objective="multi:softmax"), "multi"),
    "XGBRegressor": (lambda: xgb.XGBRegressor(n_estimators=50, max_depth=5), "reg"),
    "XGBRegressor-poisson": (lambda: xgb.XGBRegressor(n_estimators=20, objective="count:poisson"), "count"),
    "XGBRFClassifier": (lambda: xgb.XGBRFClassifier(n_estimators=25, max_depth=5), "multi"),
    "XGBRFRegressor": (lambda: xgb.XGBRFRegressor(n_estimators=25, max_depth=5), "reg"),
    "XGBClassifier-dart": (lambda: xgb.XGBClassifier(n_estimators=15, booster="dart", rate_drop=0.2), "binary"),
}


@pytest.mark.parametrize("case", sorted(XGB_CASES))
def test_xgboost_wrapper(mlinfer, case, tmp_path):
    make, kind = XGB_CASES[case]
    X, signal, rng = _data(seed=1)
    y = np.abs(np.round(_labels(signal, "reg", rng))) if kind == "count" else _labels(signal, kind, rng)
    est = make().fit(X, y)
    m = _export_load(mlinfer, est, tmp_path)
    for Xin in (X, X.astype(np.float32)):
        _compare(m, est, Xin, xgboost=True)
        np.testing.assert_array_equal(m.apply(Xin), _leaves(est, Xin))


LGB_CASES = {
    "LGBMClassifier-binary": (lambda: lgb.LGBMClassifier(n_estimators=40, num_leaves=12, verbose=-1), "binary"),
    "LGBMClassifier-str": (lambda: lgb.LGBMClassifier(n_estimators=30, num_leaves=8, verbose=-1), "str"),
    "LGBMClassifier-ova": (lambda: lgb.LGBMClassifier(n_estimators=20, objective="multiclassova", verbose=-1), "str"),
    "LGBMRegressor": (lambda: lgb.LGBMRegressor(n_estimators=60, num_leaves=16, verbose=-1), "reg"),
    "LGBMRegressor-rf": (lambda: lgb.LGBMRegressor(boosting_type="rf", n_estimators=20, subsample=0.7,
                                                   subsample_freq=1, verbose=-1), "reg"),
}


@pytest.mark.parametrize("case", sorted(LGB_CASES))
def test_lightgbm_wrapper(mlinfer, case, tmp_path):
    make, kind = LGB_CASES[case]
    X, signal, rng = _data(seed=2)
    est = make().fit(X, _labels(signal, kind, rng))
    m = _export_load(mlinfer, est, tmp_path)
    if kind == "str":
        assert m.classes_.dtype.kind == "U" and list(m.classes_) == ["ant", "bee", "cat", "dog"]
    for Xin in (X, X.astype(np.float32)):
        _compare(m, est, Xin, xgboost=False)
        np.testing.assert_array_equal(m.apply(Xin), _leaves(est, Xin))


def test_xgboost_label_encoded_strings(mlinfer, tmp_path):
    """XGBClassifier takes labels 0..K-1; with a LabelEncoder in front the wrapper's classes_
    are those codes, and the exported model keeps them (the caller decodes, as with XGBoost)."""
    from sklearn.preprocessing import LabelEncoder
    X, signal, rng = _data(seed=3)
    enc = LabelEncoder().fit(_labels(signal, "str", rng))
    est = xgb.XGBClassifier(n_estimators=20).fit(X, enc.transform(_labels(signal, "str", rng)))
    m = _export_load(mlinfer, est, tmp_path)
    np.testing.assert_array_equal(enc.inverse_transform(m.predict(X)), enc.inverse_transform(est.predict(X)))


@pytest.mark.filterwarnings("ignore:The argument 'eval_set' is deprecated")  # LightGBM 4.7; still the API of 4.x
@pytest.mark.parametrize("framework", ["xgboost", "lightgbm"])
@pytest.mark.parametrize("kind", ["binary", "str", "reg"])
def test_early_stopping_uses_best_iteration(mlinfer, framework, kind, tmp_path):
    """After early stopping with an eval_set the wrappers predict with the rounds up to
    best_iteration; the export keeps exactly those (and predicts what the wrapper does)."""
    X, signal, rng = _data(n=800, seed=4, nan=0.05)
    y = _labels(signal + rng.normal(size=signal.shape) * 3.0, kind, rng)  # noisy: stops early
    if framework == "xgboost":
        if kind == "str":
            y = np.searchsorted(np.unique(y), y)
        cls = xgb.XGBClassifier if kind != "reg" else xgb.XGBRegressor
        est = cls(n_estimators=400, learning_rate=0.3, max_depth=6, early_stopping_rounds=5)
        est.fit(X[:500], y[:500], eval_set=[(X[500:], y[500:])], verbose=False)
        best = est.best_iteration
        per_round = 1 if kind != "str" else len(np.unique(y))
    else:
        cls = lgb.LGBMClassifier if kind != "reg" else lgb.LGBMRegressor
        est = cls(n_estimators=400, learning_rate=0.3, num_leaves=31, verbose=-1)
        est.fit(X[:500], y[:500], eval_set=[(X[500:], y[500:])], callbacks=[lgb.early_stopping(5, verbose=False)])
        best = est.best_iteration_ - 1  # LightGBM counts iterations from 1
        per_round = 1 if kind != "str" else len(np.unique(y))
    assert 0 <= best < 300, "the data should stop training early"
    m = _export_load(mlinfer, est, tmp_path)
    assert m.n_trees_ == (best + 1) * per_round
    _compare(m, est, X, xgboost=framework == "xgboost")



@pytest.mark.filterwarnings("ignore:The argument 'eval_set' is deprecated")  # LightGBM 4.7
@pytest.mark.parametrize("framework", ["xgboost", "lightgbm"])
@pytest.mark.parametrize("objective", ["default", "pairwise"])
def test_rankers(mlinfer, framework, objective, tmp_path):
    """XGBRanker / LGBMRanker export like the regressors (their predict is the ranking score,
    the margin), with the rounds up to the best iteration after early stopping. (XGBRanker
    was refused as "not fitted" before: it keeps no attribute ending in '_'.)"""
    X, signal, rng = _data(n=800, seed=6, nan=0.05)
    y = np.clip(np.round((signal - 6.0) / 2.0 + rng.normal(size=signal.shape)), 0, 3).astype(int)
    group, qid = [50] * 10, np.repeat(np.arange(10), 50)
    if framework == "xgboost":
        kw = {} if objective == "default" else {"objective": "rank:pairwise"}
        est = xgb.XGBRanker(n_estimators=300, learning_rate=0.5, max_depth=5, early_stopping_rounds=3, **kw)
        est.fit(X[:500], y[:500], qid=qid, eval_set=[(X[500:], y[500:])], eval_qid=[np.repeat(np.arange(6), 50)],
                verbose=False)
        best = est.best_iteration
    else:
        kw = {} if objective == "default" else {"objective": "rank_xendcg"}
        est = lgb.LGBMRanker(n_estimators=300, learning_rate=0.5, num_leaves=15, verbose=-1, **kw)
        est.fit(X[:500], y[:500], group=group, eval_set=[(X[500:], y[500:])], eval_group=[[50] * 6],
                callbacks=[lgb.early_stopping(3, verbose=False)])
        best = est.best_iteration_ - 1
    assert 0 <= best < 250, "the data should stop training early"
    m = _export_load(mlinfer, est, tmp_path)
    assert m.n_trees_ == best + 1
    for rows in (X, X.astype(np.float32)):
        want = est.predict(rows)
        if framework == "xgboost":
            np.testing.assert_allclose(m.predict(rows), want, rtol=RTOL_XGB, atol=ATOL_XGB)
        else:
            np.testing.assert_allclose(m.predict(rows), want, rtol=RTOL_LGB, atol=0)



@pytest.mark.parametrize("objective", ["multi:softprob", "multi:softmax"])
def test_xgboost_softprob_two_classes(mlinfer, objective, tmp_path):
    """A multi-class objective over two classes: predict_proba is XGBoost's; predict gives the
    labels. (XGBoost's own predict for multi:softprob returns an (n, 2) 0/1 matrix, its
    multi-label branch: documented in wrappers.md, the labels are that matrix's argmax.)"""
    X, signal, rng = _data(n=400, seed=9, nan=0.05)
    y = (signal > np.median(signal)).astype(int)
    est = xgb.XGBClassifier(n_estimators=10, max_depth=4, objective=objective, num_class=2).fit(X, y)
    m = _export_load(mlinfer, est, tmp_path)
    proba = est.predict_proba(X)
    np.testing.assert_allclose(m.predict_proba(X), proba, rtol=RTOL_XGB, atol=ATOL_XGB)
    want = est.predict(X)
    if want.ndim == 2:  # multi:softprob: XGBoost's 0/1 per column
        assert np.all(want.sum(axis=1) == 1)
        want = np.argmax(want, axis=1)
    np.testing.assert_array_equal(m.predict(X), want)


def test_xgboost_missing_numpy_nan_is_nan(mlinfer, tmp_path):
    """missing=np.float32('nan') (a numpy NaN, not a Python float) is NaN to XGBoost: exported,
    not refused."""
    X, signal, rng = _data(n=300, seed=8, nan=0.1)
    for missing in (np.float32("nan"), np.float64("nan")):
        est = xgb.XGBRegressor(n_estimators=10, max_depth=4, missing=missing).fit(X, signal)
        m = _export_load(mlinfer, est, tmp_path)
        np.testing.assert_allclose(m.predict(X), est.predict(X), rtol=RTOL_XGB, atol=ATOL_XGB)


# ---- scalers before tree models ------------------------------------------------------------

def _near_threshold_rows(mlinfer, path, scaler, X, rng, n_rows=400):
    """Rows whose scaled value in some feature sits on one of the model's thresholds or a few
    float64 / float32 steps from it: the rows that float32-vs-float64 scaling would flip."""
    from mlinfer._format import parse
    meta, arrays = parse(Path(path).read_bytes())
    t = int(meta["stages"]) - 1
    feature, thr = arrays[f"stage.{t}.feature"], arrays[f"stage.{t}.threshold"]
    keep = (feature >= 0) & np.isfinite(thr)  # scikit-learn's "missing vs the rest" splits have t = inf
    pairs = list(zip(feature[keep], thr[keep]))
    pick = rng.choice(len(pairs), size=min(len(pairs), n_rows // 8), replace=False)
    rows = []
    for i in pick:
        f, t_ = pairs[i]
        base = X[rng.integers(len(X))].copy()
        base[np.isnan(base)] = 0.0
        scaled = scaler.transform(base[None, :].astype(np.float64))
        scaled[0, f] = t_
        x = scaler.inverse_transform(scaled)[0]
        for k in (-2, -1, 0, 1, 2):
            r = base.copy()
            r[f] = x[f] + k * np.spacing(x[f])
            rows.append(r)
            r32 = base.copy()
            r32[f] = np.float32(x[f]) + np.float32(k) * np.spacing(np.float32(x[f]))
            rows.append(r32)
    return np.vstack([np.array(rows), X])


SCALERS = {"standard": StandardScaler, "minmax": lambda: MinMaxScaler(feature_range=(-1, 2)), "maxabs": MaxAbsScaler,
           "robust": RobustScaler, "minmax-clip": lambda: MinMaxScaler(clip=True)}
FINALS = {
    "XGBClassifier": lambda: xgb.XGBClassifier(n_estimators=25, max_depth=5),
    "LGBMClassifier": lambda: lgb.LGBMClassifier(n_estimators=25, num_leaves=20, verbose=-1),
    "RandomForestRegressor": lambda: RandomForestRegressor(n_estimators=8, max_depth=8, random_state=0),
    "HistGradientBoostingClassifier": lambda: HistGradientBoostingClassifier(max_iter=15, random_state=0),
}


@pytest.mark.parametrize("final", sorted(FINALS))
@pytest.mark.parametrize("scaler", sorted(SCALERS))
def test_scaler_before_trees_exact(mlinfer, scaler, final, tmp_path):
    """A Pipeline of a scaler and a tree model reaches the framework's leaf for every row,
    float64 and float32 input, including rows within a few ulps of every threshold: the
    scaler runs in float64 (float32 per operation for float32 input) as scikit-learn's."""
    X, signal, rng = _data(n=400, seed=5)
    y = signal if final.endswith("Regressor") else _labels(signal, "str", rng)
    if final == "XGBClassifier":
        y = np.searchsorted(np.unique(y), y)
    est = make_pipeline(SCALERS[scaler](), FINALS[final]()).fit(X, y)
    path = tmp_path / "m.mli"
    mlinfer.export(est, path)
    assert Path(path).read_bytes()[10] == 3  # format 1.3: affine stages before a trees stage
    m = mlinfer.load(path)
    rows = _near_threshold_rows(mlinfer, path, est[0], X, rng)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for Xin in (rows, rows.astype(np.float32)):
            if final != "HistGradientBoostingClassifier":
                np.testing.assert_array_equal(m.apply(Xin).reshape(-1), np.asarray(_leaves(est, Xin)).reshape(-1))
            np.testing.assert_array_equal(m.predict(Xin), est.predict(Xin))
            if hasattr(est, "predict_proba"):
                rtol = RTOL_XGB if final == "XGBClassifier" else 1e-9
                np.testing.assert_allclose(m.predict_proba(Xin), est.predict_proba(Xin), rtol=rtol, atol=1e-7)
            else:
                np.testing.assert_allclose(m.predict(Xin), est.predict(Xin), rtol=1e-12)


def test_standard_scaler_float32_rounds_as_sklearn(mlinfer, tmp_path):
    """StandardScaler casts mean_ and scale_ to float32 for float32 input (f32_params): the
    scaled value of a float32 row is scikit-learn's float32 value exactly. A one-split tree
    whose threshold is put between scikit-learn's value and the value without the cast
    tells the two apart."""
    rng = np.random.default_rng(6)
    # large offsets: float32(mean_) is several float32 steps of x away from mean_
    X = rng.normal(size=(300, 3)) * [3.0, 2.0, 1.0] + [1234567.3, 7654321.1, 42.0]
    sc = StandardScaler().fit(X)
    X32 = X.astype(np.float32)
    s32 = sc.transform(X32)
    assert s32.dtype == np.float32
    uncast = ((X32.astype(np.float64) - sc.mean_).astype(np.float32).astype(np.float64) / sc.scale_).astype(np.float32)
    r, f = np.argwhere(s32 != uncast)[0]
    tree = DecisionTreeClassifier(max_depth=1, random_state=0).fit(s32, (X[:, 0] > X[:, 0].mean()).astype(int))
    tree.tree_.feature[0] = f
    tree.tree_.threshold[0] = (float(s32[r, f]) + float(uncast[r, f])) / 2.0
    est = make_pipeline(sc, tree)
    path = tmp_path / "m.mli"
    mlinfer.export(est, path)
    from mlinfer._format import parse
    meta, _ = parse(path.read_bytes())
    assert meta["stage.0.f32_params"] == "1"
    m = mlinfer.load(path)
    np.testing.assert_array_equal(m.apply(X32).reshape(-1), tree.apply(s32))
    np.testing.assert_array_equal(m.apply(X32[r:r + 1]).reshape(-1), tree.apply(s32[r:r + 1]))
    np.testing.assert_array_equal(m.predict(X32), est.predict(X32))
    np.testing.assert_array_equal(m.predict(X), est.predict(X))


# ---- OneVsRestClassifier ---------------------------------------------------------------------

OVR = {
    "logreg": LogisticRegression,
    "sgd-log": lambda: SGDClassifier(loss="log_loss", random_state=0),
    "linearsvc": LinearSVC,
    "ridge": RidgeClassifier,
}


@pytest.mark.parametrize("k", [2, 3, 5])
@pytest.mark.parametrize("inner", sorted(OVR))
@pytest.mark.parametrize("scaled", [False, True])
def test_one_vs_rest(mlinfer, inner, k, scaled, tmp_path):
    """predict (first class of largest decision_function), decision_function, and
    predict_proba normalised per row exactly as OneVsRestClassifier does."""
    X, signal, rng = _data(n=400, seed=7, nan=0)
    y = np.array(["north", "south", "east", "west", "up"])[:k][
        np.digitize(signal, np.quantile(signal, np.linspace(0, 1, k + 1)[1:-1]))]
    ovr = OneVsRestClassifier(OVR[inner]())
    est = (make_pipeline(StandardScaler(), ovr) if scaled else ovr).fit(X if scaled else X / 30.0, y)
    Xin = X if scaled else X / 30.0
    m = _export_load(mlinfer, est, tmp_path)
    assert list(m.classes_) == list(est.classes_)
    np.testing.assert_array_equal(m.predict(Xin), est.predict(Xin))
    d = est.decision_function(Xin)
    np.testing.assert_allclose(m.decision_function(Xin).reshape(d.shape), d, rtol=1e-5, atol=1e-5 * np.abs(d).max())
    if hasattr(est, "predict_proba"):
        np.testing.assert_allclose(m.predict_proba(Xin), est.predict_proba(Xin), rtol=1e-5, atol=1e-6)
    else:
        with pytest.raises(AttributeError, match="no predict_proba"):
            m.predict_proba(Xin)


# ---- refusals ------------------------------------------------------------------------------

def _cat_frame(categories, n=300, seed=8):
    import pandas as pd
    rng = np.random.default_rng(seed)
    X = pd.DataFrame({"a": rng.normal(size=n), "b": rng.normal(size=n),
                      "colour": pd.Categorical(rng.choice(categories, n))})
    y = ((X["a"] > 0) ^ (X["colour"] == categories[0])).astype(int).to_numpy()
    return X, y


@pytest.mark.parametrize("framework", ["xgboost", "lightgbm"])
@pytest.mark.parametrize("categories", [[3, 7, 11]], ids=["not-identity"])
def test_pandas_categories_refused(mlinfer, framework, categories, tmp_path):
    """Number categories that are not their own codes: a number given to the model would be read
    as a code, so refused (string categories are mapped: test_string_categories.py)."""
    pytest.importorskip("pandas")
    X, y = _cat_frame(categories)
    if framework == "xgboost":
        est = xgb.XGBClassifier(n_estimators=5, enable_categorical=True, tree_method="hist").fit(X, y)
    else:
        est = lgb.LGBMClassifier(n_estimators=5, verbose=-1).fit(X, y)
    with pytest.raises(mlinfer.UnsupportedModelError, match=r"colour.*" + repr(sorted(categories)[0])):
        mlinfer.export(est, tmp_path / "m.mli")
    assert not (tmp_path / "m.mli").exists()
    if framework == "lightgbm":  # the text model file itself: refused by the C importer
        with pytest.raises(mlinfer.UnsupportedError, match="pandas category columns.*category column 0"):
            mlinfer.load(est.booster_.model_to_string().encode())
    else:  # XGBoost >= 3.1 records the categories in the model file: refused by the C importer
        for fmt in ("json", "ubj"):
            with pytest.raises(mlinfer.UnsupportedError,
                               match=r"feature 2 \('colour'\) was trained from a pandas category column"):
                mlinfer.load(bytes(est.get_booster().save_raw(fmt)))


@pytest.mark.parametrize("framework", ["xgboost", "lightgbm"])
def test_identity_categories_export(mlinfer, framework, tmp_path):
    """Categories 0..n-1 (the codes are the values): exported, and predicts like the wrapper
    on the codes."""
    pd = pytest.importorskip("pandas")
    X, y = _cat_frame([0, 1, 2, 3])
    if framework == "xgboost":
        est = xgb.XGBClassifier(n_estimators=10, enable_categorical=True, tree_method="hist").fit(X, y)
    else:
        est = lgb.LGBMClassifier(n_estimators=10, min_data_per_group=5, cat_smooth=1, verbose=-1).fit(X, y)
    m = _export_load(mlinfer, est, tmp_path)
    codes = X.assign(colour=X["colour"].cat.codes.astype(float)).to_numpy(np.float64)
    np.testing.assert_array_equal(m.predict(codes), est.predict(X))
    np.testing.assert_allclose(m.predict_proba(codes), est.predict_proba(X), rtol=1e-5, atol=1e-6)
    assert isinstance(pd.DataFrame, type)


def test_malformed_xgboost_cats_is_corrupt(mlinfer):
    import json
    X, y = _cat_frame([0, 1, 2])
    doc = json.loads(xgb.XGBClassifier(n_estimators=2, enable_categorical=True).fit(X, y).get_booster().save_raw("json"))
    cats = doc["learner"]["gradient_booster"]["model"]["cats"]
    mlinfer.load(json.dumps(doc).encode())  # identity codes load
    for mutate in (lambda c: c.__setitem__("enc", [1, 2]), lambda c: c["enc"].__setitem__(0, "x"),
                   lambda c: c["enc"][2].__setitem__("values", ["a"])):
        bad = json.loads(json.dumps(doc))
        mutate(bad["learner"]["gradient_booster"]["model"]["cats"])
        with pytest.raises(mlinfer.CorruptModelError, match="cats.enc"):
            mlinfer.load(json.dumps(bad).encode())
    assert len(cats["enc"]) == 3


def test_malformed_pandas_categorical_is_corrupt(mlinfer):
    X, signal, rng = _data(n=200, seed=9)
    text = lgb.LGBMRegressor(n_estimators=3, verbose=-1).fit(X, signal).booster_.model_to_string()
    assert "pandas_categorical:null" in text
    for bad, err in (("[1, 2]", mlinfer.CorruptModelError), ("[[0, 1", mlinfer.CorruptModelError),
                     ("[[true, false]]", mlinfer.UnsupportedError), ('[[0, "x"]]', mlinfer.UnsupportedError)):
        with pytest.raises(err, match="pandas_categorical|category"):
            mlinfer.load(text.replace("pandas_categorical:null", "pandas_categorical:" + bad).encode())
    mlinfer.load(text.replace("pandas_categorical:null", "pandas_categorical:[[0, 1, 2], []]").encode())


@pytest.mark.parametrize("make, match", [
    (lambda: xgb.XGBClassifier(n_estimators=3, missing=0.0), "missing=0.0"),
    (lambda: xgb.XGBClassifier(n_estimators=3, missing=np.float32(-999)), "missing=.*-999"),
    (lambda: xgb.XGBClassifier(n_estimators=3, objective="binary:logitraw"), "logitraw"),
    (lambda: xgb.XGBRegressor(n_estimators=3, booster="gblinear"), "gblinear"),
    (lambda: OneVsRestClassifier(GaussianNB()), "GaussianNB"),
    (lambda: OneVsRestClassifier(SGDClassifier(loss="modified_huber")), "modified_huber"),
], ids=["xgb-missing", "xgb-missing-f32", "xgb-logitraw", "xgb-gblinear", "ovr-tree", "ovr-mhuber"])
def test_unsupported_wrappers_raise(mlinfer, make, match, tmp_path):
    X, signal, rng = _data(n=200, seed=10, nan=0)
    y = (signal > np.median(signal)).astype(int)
    est = make().fit(X, np.digitize(signal, [5, 8]) if "OneVsRest" in repr(make()) else y)
    with pytest.raises(mlinfer.UnsupportedModelError, match=match):
        mlinfer.export(est, tmp_path / "m.mli")


def test_multilabel_ovr_refused(mlinfer, tmp_path):
    X, signal, rng = _data(n=200, seed=11, nan=0)
    Y = np.column_stack([signal > np.median(signal), signal > np.quantile(signal, 0.7)]).astype(int)
    est = OneVsRestClassifier(LogisticRegression()).fit(X, Y)
    with pytest.raises(mlinfer.UnsupportedModelError, match="multi-label"):
        mlinfer.export(est, tmp_path / "m.mli")


# ---- python -m mlinfer export ----------------------------------------------------------------

def _run_cli(args, tmp_path):
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO / "bindings" / "python") + os.pathsep + env.get("PYTHONPATH", "")
    return subprocess.run([sys.executable, "-m", "mlinfer", *args], capture_output=True, text=True, env=env,
                          cwd=tmp_path, timeout=120)


def test_cli_export_joblib(mlinfer, tmp_path):
    joblib = pytest.importorskip("joblib")
    X, signal, rng = _data(seed=12)
    est = make_pipeline(RobustScaler(), lgb.LGBMClassifier(n_estimators=20, verbose=-1))
    est.fit(X, _labels(signal, "str", rng))
    joblib.dump(est, tmp_path / "model.joblib")
    r = _run_cli(["export", "model.joblib", "out.mli"], tmp_path)
    assert r.returncode == 0, r.stderr
    m = mlinfer.load(tmp_path / "out.mli")
    np.testing.assert_array_equal(m.predict(X), est.predict(X))
    np.testing.assert_allclose(m.predict_proba(X), est.predict_proba(X), rtol=1e-9)


def test_cli_export_errors(mlinfer, tmp_path):
    joblib = pytest.importorskip("joblib")
    from sklearn.neighbors import KNeighborsClassifier
    X, signal, rng = _data(n=100, seed=13, nan=0)
    joblib.dump(KNeighborsClassifier().fit(X, signal > 5), tmp_path / "knn.joblib")
    r = _run_cli(["export", "knn.joblib", "out.mli"], tmp_path)
    assert r.returncode == 1 and "KNeighborsClassifier" in r.stderr and not (tmp_path / "out.mli").exists()
    r = _run_cli(["export", "missing.joblib", "out.mli"], tmp_path)
    assert r.returncode == 1 and "missing.joblib" in r.stderr
    (tmp_path / "junk.joblib").write_bytes(b"not a pickle")
    r = _run_cli(["export", "junk.joblib", "out.mli"], tmp_path)
    assert r.returncode == 1 and "cannot load" in r.stderr
    r = _run_cli([], tmp_path)
    assert r.returncode == 2


def test_cli_export_refuses_a_pickle_of_another_scikit_learn(mlinfer, tmp_path):
    """scikit-learn warns (InconsistentVersionWarning) when an estimator pickled by another
    release is unpickled: its fitted attributes, which the export reads, may have changed
    meaning. The export stops and says which releases, unless --allow-version-mismatch. The
    pickle is made by writing another version string of the same length into a real one."""
    joblib = pytest.importorskip("joblib")
    import sklearn
    X, signal, rng = _data(n=200, seed=14, nan=0)
    joblib.dump(make_pipeline(RobustScaler(), LogisticRegression()).fit(X, signal > np.median(signal)),
                tmp_path / "now.joblib")
    data = (tmp_path / "now.joblib").read_bytes()
    old = ("0" + sklearn.__version__[1:]).encode()
    assert sklearn.__version__.encode() in data  # once: pickle memoizes the string
    (tmp_path / "old.joblib").write_bytes(data.replace(sklearn.__version__.encode(), old))
    r = _run_cli(["export", "now.joblib", "now.mli"], tmp_path)
    assert r.returncode == 0 and "pickled by" not in r.stderr, r.stderr
    r = _run_cli(["export", "old.joblib", "out.mli"], tmp_path)
    assert r.returncode == 1 and not (tmp_path / "out.mli").exists()
    assert f"scikit-learn {old.decode()} (" in r.stderr and "RobustScaler" in r.stderr and \
        f"this is scikit-learn {sklearn.__version__}" in r.stderr and "--allow-version-mismatch" in r.stderr, r.stderr
    r = _run_cli(["export", "old.joblib", "out.mli", "--allow-version-mismatch"], tmp_path)
    assert r.returncode == 0 and "exported anyway" in r.stderr, r.stderr
    assert (tmp_path / "out.mli").read_bytes() == (tmp_path / "now.mli").read_bytes()


@pytest.mark.parametrize("final", ["XGBClassifier", "XGBRegressor", "LGBMClassifier", "LGBMRegressor"])
def test_column_transformer_before_wrapper(mlinfer, final, tmp_path):
    """A ColumnTransformer (imputer + scaler on numbers with NaN, imputer + one-hot on strings
    with None, NaN and unseen values) before an XGBoost / LightGBM wrapper: the prep stage hands
    the trees float64 values, compared by the booster's own rule, so labels are identical and
    scores agree with the framework's on the transformed matrix (XGBoost's float32 outputs: 1e-5)."""
    pd = pytest.importorskip("pandas")
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.preprocessing import OneHotEncoder

    rng = np.random.default_rng(21)
    n = 3000
    df = pd.DataFrame({"a": rng.normal(size=n), "b": rng.gamma(2.0, 3.0, n),
                       "s": rng.choice(["x", "y", "z", "w"], n).astype(object), "t": rng.choice(["p", "q"], n)})
    df.loc[rng.random(n) < 0.1, "a"] = np.nan
    df.loc[rng.random(n) < 0.05, "s"] = None
    df.loc[rng.random(n) < 0.05, "s"] = np.nan
    signal = df["a"].fillna(0.3) + 0.2 * df["b"] + (df["s"] == "x") - 0.5 * (df["t"] == "q")
    y = signal.to_numpy() if final.endswith("Regressor") else np.digitize(signal, [0.5, 1.5])
    est = {"XGBClassifier": lambda: xgb.XGBClassifier(n_estimators=40, max_depth=5),
           "XGBRegressor": lambda: xgb.XGBRegressor(n_estimators=40, max_depth=5),
           "LGBMClassifier": lambda: lgb.LGBMClassifier(n_estimators=40, verbose=-1),
           "LGBMRegressor": lambda: lgb.LGBMRegressor(n_estimators=40, verbose=-1)}[final]()
    pre = ColumnTransformer([("num", make_pipeline(SimpleImputer(strategy="median"), StandardScaler()), ["a", "b"]),
                             ("cat", make_pipeline(SimpleImputer(strategy="constant", fill_value="missing"),
                                                   OneHotEncoder(handle_unknown="ignore")), ["s", "t"])],
                            remainder="drop")
    pipe = make_pipeline(pre, est).fit(df, y)
    mlinfer.export(pipe, tmp_path / "m.mli")
    m = mlinfer.load(tmp_path / "m.mli")
    test = df.sample(frac=1.0, random_state=1).reset_index(drop=True)
    test.loc[:20, "s"] = "never-seen"  # handle_unknown="ignore": all zeros
    test = test[["t", "b", "s", "a"]]  # columns by name, in another order
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for rows in (test, test.iloc[:1]):
            if final.endswith("Classifier"):
                np.testing.assert_array_equal(m.predict(rows), pipe.predict(rows))
                np.testing.assert_allclose(m.predict_proba(rows), pipe.predict_proba(rows), rtol=1e-5, atol=1e-6)
            else:
                np.testing.assert_allclose(m.predict(rows), pipe.predict(rows), rtol=1e-5, atol=1e-5)
