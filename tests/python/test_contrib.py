"""SHAP contributions (Model.predict_contrib, mli_model_predict_contrib) against their
references, on models trained here (HistGradientBoosting with categorical splits: the sum
rule only, shap cannot read them):

* XGBoost `pred_contribs=True` and LightGBM `pred_contrib=True` (their own TreeSHAP) for
  models imported from their files, with NaN, categorical splits and multiclass;
* `shap.TreeExplainer` (path-dependent) for scikit-learn trees, forests, gradient boosting
  and HistGradientBoosting exported with mlinfer.export;
* a brute-force Shapley sum over every feature subset of the path-dependent value function
  (independent of any TreeSHAP implementation) for a small tree with NaN;
* `shap.LinearExplainer` (independent masker) for linear models exported with background
  data.

Tolerance: |ours - reference| <= 1e-5 x sum |reference| per row and score (the issue's
contract). XGBoost runs TreeSHAP in float32 and we in float64, so their differences are
float32 rounding (~1e-7 relative per tree); shap and LightGBM work in float64. The sum
rule -- contributions plus bias equal predict_raw -- is checked on every row, to the same
relative tolerance (linear models: predict_raw is computed in float32).
"""
from __future__ import annotations

import itertools
import json
import math

import numpy as np
import pytest

xgb = pytest.importorskip("xgboost")
lgb = pytest.importorskip("lightgbm")
shap = pytest.importorskip("shap")
from sklearn.ensemble import (ExtraTreesRegressor, GradientBoostingClassifier, GradientBoostingRegressor,  # noqa: E402
                              HistGradientBoostingClassifier, HistGradientBoostingRegressor,
                              RandomForestClassifier, RandomForestRegressor)
from sklearn.linear_model import LinearRegression, LogisticRegression  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402
from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor  # noqa: E402

TOL = 1e-5


def _cls_last(c, ndim=3):
    """Model.predict_contrib and predict_interactions put the class axis second, (n, K, F + 1)
    and (n, K, F + 1, F + 1), as XGBoost does (DESIGN.md); these tests compare in the C
    layout, class last: (n, F + 1, K) and (n, F + 1, F + 1, K). ndim: that of a result with
    classes (3 for contributions, 4 for interactions)."""
    if isinstance(c, tuple):
        return (_cls_last(c[0], ndim),) + tuple(c[1:])
    c = np.asarray(c)
    return np.moveaxis(c, 1, -1) if c.ndim == ndim else c


def _as3(c, n_features):
    """(n, F + 1) or (n, F + 1, K) -> (n, F + 1, K)."""
    c = np.asarray(c, np.float64)
    return c[:, :, None] if c.ndim == 2 else c


def assert_close(ours, ref, what=""):
    ours, ref = np.asarray(ours, np.float64), np.asarray(ref, np.float64)
    assert ours.shape == ref.shape, (what, ours.shape, ref.shape)
    scale = np.abs(ref).sum(axis=1, keepdims=True)  # per row (and score): sum over features + bias
    err = np.abs(ours - ref) / np.maximum(scale, 1e-300)
    worst = np.unravel_index(np.argmax(err), err.shape)
    assert err.max() <= TOL, f"{what}: relative error {err.max():.3g} at {worst}: {ours[worst]} vs {ref[worst]}"


def assert_sum_rule(model, X, c=None):
    c = _cls_last(model.predict_contrib(X)) if c is None else c
    c3 = _as3(c, model.n_features_in_)
    raw = np.asarray(model.predict_raw(X), np.float64).reshape(len(X), -1)
    total = c3.sum(axis=1)
    scale = np.abs(c3).sum(axis=1)
    err = np.abs(total - raw) / np.maximum(scale, 1e-300)
    assert err.max() <= TOL, f"sum rule: relative error {err.max():.3g}"


def _data(n=800, d=6, seed=0, nan=0.08):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    X[rng.random(X.shape) < nan] = np.nan
    return X


def _rows(X):
    """1 row, many rows, float32 and float64."""
    yield X[:1]
    yield X
    yield X.astype(np.float32)


# ---- XGBoost ----------------------------------------------------------------------------

def _xgb_train(params, X, y, rounds=30, dm=None):
    d = xgb.DMatrix(X, y, **(dm or {}))
    return xgb.train({"max_depth": 5, "eta": 0.3, **params}, d, rounds)


def _xgb_check(mlinfer, booster, X, tmp_path, dm=None, fmt="json"):
    path = tmp_path / f"m.{fmt}"
    booster.save_model(str(path))
    m = mlinfer.load(str(path))
    for Xr in _rows(X):
        ours = _as3(_cls_last(m.predict_contrib(Xr)), X.shape[1])
        ref = booster.predict(xgb.DMatrix(Xr, **(dm or {})), pred_contribs=True)
        ref = ref[:, :, None] if ref.ndim == 2 else np.transpose(ref, (0, 2, 1))  # (n, K, F+1) -> (n, F+1, K)
        assert_close(ours, ref, f"xgboost {Xr.dtype} {len(Xr)} rows")
        assert_sum_rule(m, Xr, ours[:, :, 0] if ours.shape[2] == 1 else ours)
    return m


@pytest.mark.parametrize("fmt", ["json", "ubj"])
def test_xgboost_binary_nan(mlinfer, tmp_path, fmt):
    X = _data()
    y = (np.nan_to_num(X[:, 0]) + np.nan_to_num(X[:, 1]) * X[:, 2].clip(-1, 1) > 0).astype(float)
    _xgb_check(mlinfer, _xgb_train({"objective": "binary:logistic"}, X, y), X, tmp_path, fmt=fmt)


def test_xgboost_regression_deep(mlinfer, tmp_path):
    X = _data(d=8, seed=1)
    y = np.nansum(X[:, :4] ** 2, axis=1) + np.nan_to_num(X[:, 5])
    _xgb_check(mlinfer, _xgb_train({"objective": "reg:squarederror", "max_depth": 9}, X, y, rounds=20), X, tmp_path)


def test_first_contributions_from_many_threads_at_once(mlinfer, tmp_path):
    """What TreeSHAP needs besides the covers is computed on the first contributions call,
    not at load: eight threads making that first call together must all get the answer
    of a model that had it computed before (and XGBoost's)."""
    import threading
    X = _data(n=300, seed=5)
    y = np.nan_to_num(X[:, 0]) - np.nan_to_num(X[:, 3])
    booster = _xgb_train({"objective": "reg:squarederror", "max_depth": 7}, X, y, rounds=40)
    path = tmp_path / "m.json"
    booster.save_model(str(path))
    ref = booster.predict(xgb.DMatrix(X), pred_contribs=True)[:, :, None]
    for _ in range(3):
        m = mlinfer.load(str(path))
        out, start = [None] * 8, threading.Barrier(8)

        def run(i):
            start.wait()
            out[i] = _as3(_cls_last(m.predict_contrib(X)), X.shape[1])

        threads = [threading.Thread(target=run, args=(i,)) for i in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        for o in out:
            assert_close(o, ref, "first call from eight threads")
            np.testing.assert_array_equal(o, out[0])


def test_xgboost_multiclass(mlinfer, tmp_path):
    X = _data(seed=2)
    y = np.digitize(np.nan_to_num(X[:, 0]) + 0.5 * np.nan_to_num(X[:, 3]), [-0.5, 0.5]).astype(float)
    m = _xgb_check(mlinfer, _xgb_train({"objective": "multi:softprob", "num_class": 3}, X, y, rounds=15), X,
                   tmp_path)
    assert _cls_last(m.predict_contrib(X[:4])).shape == (4, X.shape[1] + 1, 3)


def test_multiclass_layout_is_xgboosts(mlinfer, tmp_path):
    """The public layout (DESIGN.md): (rows, n_classes, n_in + 1) for contributions and
    (rows, n_classes, n_in + 1, n_in + 1) for interactions, as XGBoost's own arrays, compared
    without any transposition (the rest of this file compares in the C layout, class last)."""
    X = _data(seed=4)
    y = np.digitize(np.nan_to_num(X[:, 1]), [-0.5, 0.5]).astype(float)
    booster = _xgb_train({"objective": "multi:softprob", "num_class": 3, "max_depth": 4}, X, y, rounds=8)
    booster.save_model(str(tmp_path / "m.json"))
    m = mlinfer.load(str(tmp_path / "m.json"))
    D = xgb.DMatrix(X[:50])
    c = m.predict_contrib(X[:50])
    assert c.shape == (50, 3, X.shape[1] + 1) and c.flags.c_contiguous
    np.testing.assert_allclose(c, booster.predict(D, pred_contribs=True), rtol=1e-5, atol=2e-6)
    np.testing.assert_allclose(c.sum(axis=2), m.predict_raw(X[:50]), rtol=1e-9, atol=1e-9)
    v = m.predict_interactions(X[:20])
    assert v.shape == (20, 3, X.shape[1] + 1, X.shape[1] + 1)
    np.testing.assert_allclose(v, booster.predict(xgb.DMatrix(X[:20]), pred_interactions=True), rtol=1e-5,
                               atol=2e-6)


@pytest.mark.parametrize("onehot", [1, 8], ids=["partition", "onehot"])
def test_xgboost_categorical(mlinfer, tmp_path, onehot):
    rng = np.random.default_rng(7)
    n = 2000
    X = np.c_[rng.integers(0, 30, n).astype(float), rng.standard_normal(n), rng.integers(0, 4, n).astype(float)]
    X[rng.random(X.shape) < 0.05] = np.nan
    c0 = np.nan_to_num(X[:, 0], nan=-1)
    y = np.isin(c0 % 4, [0, 1]) * 2.0 + (X[:, 2] == 2) + 0.3 * np.nan_to_num(X[:, 1])
    dm = {"enable_categorical": True, "feature_types": ["c", "q", "c"]}
    booster = _xgb_train({"max_cat_to_onehot": onehot, "tree_method": "hist", "max_depth": 4}, X, y, rounds=10, dm=dm)
    _xgb_check(mlinfer, booster, X, tmp_path, dm=dm)


def test_xgboost_without_covers_is_refused(mlinfer, tmp_path):
    X = _data(n=200)
    booster = _xgb_train({"objective": "reg:squarederror"}, X, np.nan_to_num(X[:, 0]), rounds=3)
    path = tmp_path / "m.json"
    booster.save_model(str(path))
    doc = json.loads(path.read_text())
    for tree in doc["learner"]["gradient_booster"]["model"]["trees"]:
        del tree["sum_hessian"]
    path.write_text(json.dumps(doc))
    m = mlinfer.load(str(path))
    np.testing.assert_allclose(m.predict_raw(X), booster.predict(xgb.DMatrix(X), output_margin=True), rtol=1e-5)
    with pytest.raises(mlinfer.Error, match="no node covers"):
        _cls_last(m.predict_contrib(X))


# ---- LightGBM ----------------------------------------------------------------------------

def _lgb_check(mlinfer, booster, X, tmp_path, ref_scale=1.0):
    path = tmp_path / "m.txt"
    booster.save_model(str(path))
    m = mlinfer.load(str(path))
    F = X.shape[1]
    for Xr in _rows(X):
        ours = _as3(_cls_last(m.predict_contrib(Xr)), F)
        ref = np.asarray(booster.predict(Xr.astype(np.float64), pred_contrib=True))
        K = ref.shape[1] // (F + 1)
        ref = ref.reshape(len(Xr), K, F + 1).transpose(0, 2, 1) * ref_scale
        assert_close(ours, ref, f"lightgbm {Xr.dtype} {len(Xr)} rows")
        assert_sum_rule(m, Xr, ours[:, :, 0] if K == 1 else ours)
    return m


def _lgb_train(params, X, y, rounds=30, categorical="auto"):
    p = {"verbose": -1, "num_leaves": 31, "min_data_in_leaf": 5, **params}
    return lgb.train(p, lgb.Dataset(X, y, categorical_feature=categorical), num_boost_round=rounds)


@pytest.mark.parametrize("extra", [{}, {"use_missing": False}, {"zero_as_missing": True}])
def test_lightgbm_regression_missing_types(mlinfer, tmp_path, extra):
    X = _data(seed=3)
    X[np.random.default_rng(3).random(X.shape) < 0.1] = 0.0
    y = np.nansum(X[:, :3], axis=1) + np.nan_to_num(X[:, 4]) ** 2
    _lgb_check(mlinfer, _lgb_train({"objective": "regression", **extra}, X, y), X, tmp_path)


def test_lightgbm_multiclass(mlinfer, tmp_path):
    X = _data(seed=4)
    y = np.digitize(np.nan_to_num(X[:, 0]) - np.nan_to_num(X[:, 2]), [-0.7, 0.7])
    _lgb_check(mlinfer, _lgb_train({"objective": "multiclass", "num_class": 3}, X, y, rounds=10), X, tmp_path)


def test_lightgbm_categorical(mlinfer, tmp_path):
    rng = np.random.default_rng(8)
    n = 3000
    X = rng.normal(size=(n, 4))
    X[:, 2] = rng.integers(0, 70, size=n)
    X[:, 3] = rng.integers(0, 5, size=n)
    X[rng.random(n) < 0.05, 2] = np.nan
    good = np.isin(X[:, 2], [1, 3, 4, 9, 33, 40, 41, 50, 66, 69])
    y = ((X[:, 0] + 2.0 * good - 1 + 0.5 * (X[:, 3] == 2)) > 0).astype(int)
    params = {"objective": "binary", "min_data_per_group": 5, "cat_smooth": 1, "max_cat_threshold": 64,
              "cat_l2": 1, "max_cat_to_onehot": 4}
    _lgb_check(mlinfer, _lgb_train(params, X, y, rounds=10, categorical=[2, 3]), X, tmp_path)


def test_lightgbm_random_forest(mlinfer, tmp_path):
    """LightGBM's pred_contrib (like its raw_score) sums an rf model's trees where predict
    averages them; ours explain predict_raw, the average: the reference divided by the trees."""
    X = _data(seed=5)
    y = np.nansum(X[:, :2], axis=1)
    params = {"objective": "regression", "boosting": "rf", "bagging_fraction": 0.7, "bagging_freq": 1}
    booster = _lgb_train(params, X, y, rounds=8)
    m = _lgb_check(mlinfer, booster, X, tmp_path, ref_scale=1.0 / 8)
    np.testing.assert_allclose(m.predict_raw(X), booster.predict(X), rtol=1e-9)


# ---- scikit-learn against shap.TreeExplainer ------------------------------------------------

def _shap_tree(est, X):
    """shap's path-dependent values, (n, F + 1, K) with the bias last."""
    ex = shap.TreeExplainer(est, feature_perturbation="tree_path_dependent")
    sv = np.asarray(ex.shap_values(X, check_additivity=False), np.float64)
    ev = np.atleast_1d(np.asarray(ex.expected_value, np.float64))
    if sv.ndim == 2:
        sv = sv[:, :, None]
    bias = np.broadcast_to(ev, (len(X), sv.shape[2]))[:, None, :]
    return np.concatenate([sv, bias], axis=1)


def _sk_check(mlinfer, est, X, tmp_path, shap_ref=True):
    path = tmp_path / "m.mli"
    mlinfer.export(est, str(path))
    m = mlinfer.load(str(path))
    for Xr in _rows(X):
        ours = _as3(_cls_last(m.predict_contrib(Xr)), X.shape[1])
        if shap_ref:
            # sklearn.tree routes float32(x), HistGradientBoosting float64 x: give shap what the model sees
            seen = Xr.astype(np.float64) if "Hist" in type(est).__name__ else Xr.astype(np.float32).astype(np.float64)
            assert_close(ours, _shap_tree(est, seen),
                         f"{type(est).__name__} {Xr.dtype} {len(Xr)} rows")
        assert_sum_rule(m, Xr, ours[:, :, 0] if ours.shape[2] == 1 else ours)
    return m


def _sk_data(seed, nan=0.0, n=600, d=5):
    X = _data(n=n, d=d, seed=seed, nan=nan)
    y = np.nan_to_num(X[:, 0]) + 0.5 * np.nan_to_num(X[:, 1]) * np.nan_to_num(X[:, 2])
    return X, y


@pytest.mark.parametrize("make", [
    lambda: DecisionTreeRegressor(max_depth=7, random_state=0),
    lambda: RandomForestRegressor(n_estimators=10, max_depth=6, random_state=0),
    lambda: ExtraTreesRegressor(n_estimators=10, max_depth=6, random_state=0),
    lambda: GradientBoostingRegressor(n_estimators=20, max_depth=3, random_state=0),
    lambda: HistGradientBoostingRegressor(max_iter=15, random_state=0),
], ids=["tree", "forest", "extra_trees", "gb", "hgb"])
def test_sklearn_regressors(mlinfer, tmp_path, make):
    X, y = _sk_data(10)
    _sk_check(mlinfer, make().fit(X, y), X, tmp_path)


@pytest.mark.parametrize("make", [
    lambda: DecisionTreeClassifier(max_depth=6, random_state=0),
    lambda: RandomForestClassifier(n_estimators=10, max_depth=6, random_state=0),
    lambda: GradientBoostingClassifier(n_estimators=15, max_depth=3, random_state=0),
], ids=["tree", "forest", "gb"])
@pytest.mark.parametrize("n_classes", [2, 3])
def test_sklearn_classifiers(mlinfer, tmp_path, make, n_classes):
    if n_classes == 3 and make().__class__ is GradientBoostingClassifier:
        pytest.skip("shap explains binary GradientBoostingClassifier only: test_gb_multiclass_brute_force")
    X, y = _sk_data(11)
    labels = np.digitize(y, [-0.5, 0.5]) if n_classes == 3 else (y > 0).astype(int)
    _sk_check(mlinfer, make().fit(X, labels), X, tmp_path)


def test_sklearn_nan(mlinfer, tmp_path):
    X, y = _sk_data(12, nan=0.1)
    _sk_check(mlinfer, RandomForestRegressor(n_estimators=5, max_depth=6, random_state=0).fit(X, y), X, tmp_path)
    _sk_check(mlinfer, HistGradientBoostingRegressor(max_iter=10, random_state=0).fit(X, y), X, tmp_path)


def test_hgb_categorical(mlinfer, tmp_path):
    """shap does not read HistGradientBoosting's categorical splits, so no reference values
    here: the sum rule on every row (which fails if a categorical node routes the row
    differently from predict) and the bias against the mean prediction. (The TreeSHAP
    arithmetic itself is checked against brute force below.)"""
    rng = np.random.default_rng(13)
    n = 1500
    X = np.c_[rng.integers(0, 12, n).astype(float), rng.standard_normal(n), rng.standard_normal(n)]
    X[rng.random(n) < 0.05, 0] = np.nan
    y = np.isin(X[:, 0], [1, 4, 7, 8]) * 2.0 + X[:, 1]
    est = HistGradientBoostingRegressor(max_iter=8, max_depth=4, categorical_features=[0], random_state=0).fit(X, y)
    m = _sk_check(mlinfer, est, X[:200], tmp_path, shap_ref=False)
    # the bias is the model's expected value over the training cover: close to the mean prediction
    c = _cls_last(m.predict_contrib(X))
    assert abs(c[:, -1].mean() - est.predict(X).mean()) < 0.05 * np.abs(y).mean()


# ---- an independent reference: brute-force Shapley values -----------------------------------

def _brute_force(parts, x, n_out=1, base=None):
    """Exact Shapley values of v(S) = path-dependent E[f(x) | x_S] of an ensemble of
    sklearn trees, parts = [(tree, scale, score column)], by enumerating every subset
    (F small); (F + 1, n_out) with the bias last."""
    F = len(x)
    phi = np.zeros((F + 1, n_out))
    for tree, scale, k in parts:
        t = tree.tree_
        cover = t.weighted_n_node_samples
        value = t.value[:, 0, 0]
        miss_left = getattr(t, "missing_go_to_left", np.zeros(t.node_count, np.uint8))

        def goes_left(i):
            v = x[t.feature[i]]
            if np.isnan(v):
                return bool(miss_left[i])
            return np.float32(v) <= t.threshold[i]

        def v(S, i=0):
            if t.children_left[i] == -1:
                return value[i]
            le, ri = t.children_left[i], t.children_right[i]
            if t.feature[i] in S:
                return v(S, le if goes_left(i) else ri)
            return (cover[le] * v(S, le) + cover[ri] * v(S, ri)) / cover[i]

        for j in range(F):
            others = [q for q in range(F) if q != j]
            for size in range(F):
                w = math.factorial(size) * math.factorial(F - size - 1) / math.factorial(F)
                for S in itertools.combinations(others, size):
                    phi[j, k] += scale * w * (v(set(S) | {j}) - v(set(S)))
        phi[F, k] += scale * v(set())
    if base is not None:
        phi[F] += base
    return phi


def test_gb_multiclass_brute_force(mlinfer, tmp_path):
    """shap does not explain a multiclass GradientBoostingClassifier: brute force instead."""
    X, y = _sk_data(20, n=500, d=4)
    est = GradientBoostingClassifier(n_estimators=6, max_depth=3, random_state=0).fit(X, np.digitize(y, [-0.5, 0.5]))
    path = tmp_path / "m.mli"
    mlinfer.export(est, str(path))
    m = mlinfer.load(str(path))
    rows = X[:12]
    parts = [(est.estimators_[i, k], est.learning_rate, k) for i in range(est.n_estimators_) for k in range(3)]
    base = est._raw_predict_init(np.zeros((1, 4), np.float32))[0]  # a constant prior
    ref = np.array([_brute_force(parts, r, 3, base) for r in rows])
    assert_close(_cls_last(m.predict_contrib(rows)), ref, "gb multiclass brute force")
    assert_sum_rule(m, X)


def test_brute_force_reference(mlinfer, tmp_path):
    X, y = _sk_data(14, nan=0.15, n=400, d=5)
    est = DecisionTreeRegressor(max_depth=6, random_state=0).fit(X, y)
    path = tmp_path / "m.mli"
    mlinfer.export(est, str(path))
    m = mlinfer.load(str(path))
    rows = X[:25]
    ours = _cls_last(m.predict_contrib(rows))
    ref = np.array([_brute_force([(est, 1.0, 0)], r)[:, 0] for r in rows])
    assert_close(ours, ref, "brute force")


# ---- linear models -------------------------------------------------------------------------

def _shap_linear(est, X, background):
    ex = shap.LinearExplainer(est, shap.maskers.Independent(background, max_samples=len(background)))
    sv = np.asarray(ex.shap_values(X), np.float64)
    ev = np.atleast_1d(np.asarray(ex.expected_value, np.float64))
    if sv.ndim == 2:
        sv = sv[:, :, None]
    return np.concatenate([sv, np.broadcast_to(ev, (len(X), sv.shape[2]))[:, None, :]], axis=1)


@pytest.mark.parametrize("kind", ["regression", "binary", "multiclass"])
def test_linear(mlinfer, tmp_path, kind):
    X, y = _sk_data(15, d=6)
    if kind == "regression":
        est = LinearRegression().fit(X, y)
    else:
        labels = (y > 0).astype(int) if kind == "binary" else np.digitize(y, [-0.5, 0.5])
        est = LogisticRegression(max_iter=500).fit(X, labels)
    bg = X[:300]
    path = tmp_path / "m.mli"
    mlinfer.export(est, str(path), background=bg)
    m = mlinfer.load(str(path))
    for Xr in _rows(X[300:]):
        ours = _as3(_cls_last(m.predict_contrib(Xr)), X.shape[1])
        assert_close(ours, _shap_linear(est, Xr.astype(np.float64), bg), f"linear {kind}")
        assert_sum_rule(m, Xr, ours[:, :, 0] if ours.shape[2] == 1 else ours)


def test_linear_after_scaler(mlinfer, tmp_path):
    """Pipeline(StandardScaler, LogisticRegression): contributions per input column equal
    shap on the scaled matrix (a per-column scaler passes contributions through)."""
    X, y = _sk_data(16, d=4)
    X = X * [1, 10, 100, 0.1] + [0, 5, -50, 1]
    pipe = make_pipeline(StandardScaler(), LogisticRegression(max_iter=500)).fit(X, y > 0)
    bg = X[:200]
    path = tmp_path / "m.mli"
    mlinfer.export(pipe, str(path), background=bg)
    m = mlinfer.load(str(path))
    sc, lr = pipe[0], pipe[1]
    ref = _shap_linear(lr, sc.transform(X[200:]), sc.transform(bg))
    assert_close(_as3(_cls_last(m.predict_contrib(X[200:])), 4), ref, "scaled linear")
    assert_sum_rule(m, X[200:])


def test_trees_after_scaler(mlinfer, tmp_path):
    """Pipeline(StandardScaler, forest): the trees split on scaled values, so the
    contributions are shap's on the scaled matrix, column by column (a per-column scaler
    passes each column's share through). Computing them on the raw input would route the
    rows wrongly: the sum rule and shap would both catch it."""
    from sklearn.ensemble import RandomForestRegressor
    X, y = _sk_data(19, d=4)
    X = X * [1, 10, 100, 0.1] + [0, 5, -50, 1]
    pipe = make_pipeline(StandardScaler(), RandomForestRegressor(n_estimators=8, max_depth=6, random_state=0))
    pipe.fit(X, y)
    path = tmp_path / "m.mli"
    mlinfer.export(pipe, str(path))
    m = mlinfer.load(str(path))
    for Xr in _rows(X[:300]):
        ours = _as3(_cls_last(m.predict_contrib(Xr)), 4)
        seen = pipe[0].transform(Xr.astype(np.float64)).astype(np.float32).astype(np.float64)
        assert_close(ours, _shap_tree(pipe[1], seen), f"scaled forest {Xr.dtype} {len(Xr)} rows")
        assert_sum_rule(m, Xr, ours[:, :, 0])


def test_linear_without_background_is_refused(mlinfer, tmp_path):
    X, y = _sk_data(17)
    path = tmp_path / "m.mli"
    mlinfer.export(LinearRegression().fit(X, y), str(path))
    m = mlinfer.load(str(path))
    with pytest.raises(mlinfer.Error, match="background"):
        _cls_last(m.predict_contrib(X))
    with pytest.raises(ValueError, match="NaN"):
        mlinfer.export(LinearRegression().fit(X, y), str(path), background=np.full_like(X, np.nan))


def test_unsupported_model_is_refused(mlinfer, tmp_path):
    from sklearn.neural_network import MLPRegressor
    X, y = _sk_data(18, n=200)
    path = tmp_path / "m.mli"
    mlinfer.export(MLPRegressor(hidden_layer_sizes=(4,), max_iter=50).fit(X, y), str(path), background=X)
    with pytest.raises(mlinfer.Error, match="tree model or a linear model"):
        _cls_last(mlinfer.load(str(path)).predict_contrib(X))


def test_names_and_empty_input(mlinfer, tmp_path):
    import pandas as pd
    X, y = _sk_data(19)
    df = pd.DataFrame(X, columns=[f"col{i}" for i in range(X.shape[1])])
    path = tmp_path / "m.mli"
    mlinfer.export(DecisionTreeRegressor(max_depth=3).fit(df, y), str(path))
    m = mlinfer.load(str(path))
    c, names = _cls_last(m.predict_contrib(df.iloc[:3], return_names=True))
    assert names == [f"col{i}" for i in range(X.shape[1])] + ["bias"]
    assert c.shape == (3, X.shape[1] + 1)
    assert _cls_last(m.predict_contrib(X[:0])).shape == (0, X.shape[1] + 1)


# ---- the command line ------------------------------------------------------------------------

def _cli(mlinfer):
    """`mlinfer predict ...` from the build next to the library: run(model, csv, *options)."""
    import os
    import subprocess
    lib = os.environ.get("MLINFER_LIBRARY") or mlinfer._native.lib._name
    exe = os.path.join(os.path.dirname(os.path.abspath(lib)), "mlinfer")
    if not os.access(exe, os.X_OK):
        pytest.skip(f"no mlinfer executable next to {lib}")
    env = dict(os.environ, LD_LIBRARY_PATH=os.path.dirname(os.path.abspath(lib)))
    return lambda model, csv, *args: subprocess.run([exe, "predict", str(model), str(csv), *args],
                                                    capture_output=True, text=True, env=env, timeout=120)


def _write_csv(path, X, header):
    with open(path, "w") as f:
        f.write(",".join(header) + "\n")
        for row in X:
            f.write(",".join("" if np.isnan(v) else repr(float(v)) for v in row) + "\n")


def _cli_multiclass(tmp_path, seed):
    """An XGBoost 3-class model on 4 features with NaN (its .json file), its data, and 20
    rows of it in a CSV file with header a,b,c,d."""
    X = _data(n=300, d=4, seed=seed)
    y = np.digitize(np.nan_to_num(X[:, 0]) + np.nan_to_num(X[:, 1]), [-0.5, 0.5])
    booster = _xgb_train({"objective": "multi:softprob", "num_class": 3}, X, y.astype(float), rounds=5)
    model = tmp_path / "m.json"
    booster.save_model(str(model))
    csv = tmp_path / "x.csv"
    _write_csv(csv, X[:20], "abcd")
    return booster, model, X, y, csv


def test_cli_contrib(mlinfer, tmp_path):
    run = _cli(mlinfer)
    booster, model, X, y, csv = _cli_multiclass(tmp_path, 21)
    r = run(model, csv, "--contrib")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.strip().split("\n")
    assert lines[0].split(",")[:4] == ["f0:0", "f0:1", "f0:2", "f1:0"] and lines[0].endswith("bias:2")
    got = np.array([[float(v) for v in line.split(",")] for line in lines[1:]])
    want = _cls_last(mlinfer.load(str(model)).predict_contrib(X[:20])).reshape(20, -1)
    np.testing.assert_array_equal(got, want)  # %.17g round-trips
    # a model that cannot be explained: the reason, and a failing exit status
    lin = tmp_path / "lin.mli"
    mlinfer.export(LinearRegression().fit(np.nan_to_num(X), y), str(lin))
    r = run(lin, csv, "--contrib")
    assert r.returncode != 0 and "background" in r.stderr


def test_cli_interactions(mlinfer, tmp_path):
    """mlinfer predict --interactions: a header naming each pair "A|B" (":K" per raw score),
    then per row the (columns + 1)^2 matrix row by row, equal to predict_interactions (and
    to XGBoost's pred_interactions, 1e-5 of the row's total); rows over several batches of
    the CLI (a wide model: 2^18 values a batch); a model without interactions fails."""
    run = _cli(mlinfer)
    booster, model, X, y, csv = _cli_multiclass(tmp_path, 22)
    r = run(model, csv, "--interactions")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.strip().split("\n")
    header = lines[0].split(",")
    assert len(header) == 5 * 5 * 3
    assert header[:4] == ["f0|f0:0", "f0|f0:1", "f0|f0:2", "f0|f1:0"] and header[-1] == "bias|bias:2"
    assert header[3 * 5 * 3 + 1 * 3 + 2] == "f3|f1:2"
    got = np.array([[float(v) for v in line.split(",")] for line in lines[1:]])
    want = _cls_last(mlinfer.load(str(model)).predict_interactions(X[:20]), 4)  # (20, 5, 5, 3)
    np.testing.assert_array_equal(got, want.reshape(20, -1))  # %.17g round-trips
    ref = booster.predict(xgb.DMatrix(X[:20]), pred_interactions=True).transpose(0, 2, 3, 1)
    scale = np.abs(ref).sum(axis=(1, 2), keepdims=True)
    assert (np.abs(got.reshape(ref.shape) - ref) / scale).max() <= 1e-5
    # --interactions excludes --contrib and --proba
    assert run(model, csv, "--interactions", "--contrib").returncode == 2
    assert run(model, csv, "--proba", "--interactions").returncode == 2

    # 30 named columns: 31 x 31 = 961 values a row, 272 rows a batch: 300 rows take two
    import pandas as pd
    rng = np.random.default_rng(5)
    Xw = rng.standard_normal((300, 30))
    cols = [f"c{i}" for i in range(30)]
    dt = DecisionTreeRegressor(max_depth=6, random_state=0).fit(pd.DataFrame(Xw, columns=cols), Xw[:, 0] * Xw[:, 1])
    wide = tmp_path / "wide.mli"
    mlinfer.export(dt, str(wide))
    wcsv = tmp_path / "w.csv"
    _write_csv(wcsv, Xw, cols)
    r = run(wide, wcsv, "--interactions")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.strip().split("\n")
    assert lines[0].split(",")[:2] == ["c0|c0", "c0|c1"] and lines[0].split(",")[31] == "c1|c0"
    got = np.array([[float(v) for v in line.split(",")] for line in lines[1:]])
    np.testing.assert_array_equal(got, _cls_last(mlinfer.load(str(wide)).predict_interactions(Xw), 4).reshape(300, -1))

    lin = tmp_path / "lin.mli"
    mlinfer.export(LinearRegression().fit(np.nan_to_num(X), y), str(lin), background=np.nan_to_num(X))
    r = run(lin, csv, "--interactions")
    assert r.returncode != 0 and "--interactions" in r.stderr and "tree" in r.stderr, r.stderr


# ---- rows walked together equal rows walked alone ------------------------------------------

def _blocks_models(tmp_path):
    """Models that take every walk of trees/shap.c and its kernel: the per-leaf rules (up to 8,
    up to 16 and over 16 distinct features on a path), the tree-shared walk's rules of 4 to 24
    points and its fallback (over 64); NaN, categorical splits, leaf_width 1 (score columns
    per tree) and > 1 (forest classes)."""
    rng = np.random.default_rng(21)
    X = rng.standard_normal((1000, 24))
    X[rng.random(X.shape) < 0.05] = np.nan
    y = rng.standard_normal(1000) + np.nan_to_num(X[:, 0])
    b = xgb.train({"max_depth": 20, "eta": 0.3, "min_child_weight": 0, "lambda": 0}, xgb.DMatrix(X, y), 6)
    b.save_model(str(tmp_path / "deep.json"))
    yield "xgboost depth 20", str(tmp_path / "deep.json"), X
    yield "xgboost depth 6", str(tmp_path / "x6.json"), X
    c = np.digitize(np.nan_to_num(X[:, 1]), [-0.5, 0.5])
    lgb.train({"verbose": -1, "num_leaves": 63, "min_data_in_leaf": 3, "objective": "multiclass", "num_class": 3},
              lgb.Dataset(X, c), 8).save_model(str(tmp_path / "l.txt"))
    yield "lightgbm multiclass", str(tmp_path / "l.txt"), X
    Xc = X[:, :6].copy()
    Xc[:, 0] = np.where(np.isnan(X[:, 0]), np.nan, rng.integers(0, 12, 1000))
    hgb = HistGradientBoostingRegressor(max_iter=10, max_depth=6, categorical_features=[0], random_state=0)
    mlinfer_export(hgb.fit(Xc, np.isin(Xc[:, 0], [1, 4, 7]) * 2.0 + np.nan_to_num(Xc[:, 1])), tmp_path / "h.mli")
    yield "hgb categorical", str(tmp_path / "h.mli"), Xc
    rf = RandomForestClassifier(n_estimators=4, max_depth=12, random_state=0).fit(np.nan_to_num(X), c)
    mlinfer_export(rf, tmp_path / "rf.mli")
    yield "forest 3 classes", str(tmp_path / "rf.mli"), X
    # fully grown on noise over 60 features: paths of 20 and more distinct features (leaf_quad_any)
    Xw = rng.standard_normal((1000, 60))
    mlinfer_export(DecisionTreeRegressor(random_state=0).fit(Xw, rng.standard_normal(1000)), tmp_path / "dt.mli")
    yield "tree on noise", str(tmp_path / "dt.mli"), Xw
    # chains peeling one row per split, each on its own one-hot feature: paths of 47 distinct
    # features (the tree-shared walk's rule of 24 points) and of 69 (over its 64: per leaf)
    for n in (48, 70):
        Xe = np.eye(n)
        chain = DecisionTreeRegressor(random_state=0).fit(Xe, 4.0 ** np.arange(n))
        assert chain.get_depth() == n - 1
        mlinfer_export(chain, tmp_path / f"chain{n}.mli")
        Xc = np.vstack([Xe, rng.standard_normal((40, n)), 1 - Xe[:20]])
        yield f"chain of {n - 1} features", str(tmp_path / f"chain{n}.mli"), Xc


def mlinfer_export(est, path):
    import mlinfer
    mlinfer.export(est, str(path))


def test_contrib_blocks_equal_single_rows(mlinfer, tmp_path):
    """The batch walk takes rows 8 at a time through each tree (trees/shap.c, walk_block), the
    rest one by one: every lane must do the one-row walk's operations in its order, so the
    contributions of N rows equal N one-row calls bit for bit (no tolerance: a lane mixed up
    or an operation reordered shows as a difference)."""
    X6 = _data(n=50, d=24, seed=22)
    xgb.train({"max_depth": 6}, xgb.DMatrix(X6, np.nansum(X6, axis=1)), 20).save_model(str(tmp_path / "x6.json"))
    for what, path, X in _blocks_models(tmp_path):
        m = mlinfer.load(path)
        for dtype in (np.float64, np.float32):
            Xd = X.astype(dtype)
            single = np.stack([_cls_last(m.predict_contrib(Xd[i:i + 1]))[0] for i in range(len(Xd))])
            for n in list(range(1, 21)) + [len(Xd)]:
                got = _cls_last(m.predict_contrib(Xd[:n]))
                assert got.dtype == np.float64
                bad = np.argwhere(got.view(np.uint64) != single[:n].view(np.uint64))
                assert len(bad) == 0, f"{what} {dtype.__name__} {n} rows: first difference at {bad[0]}"


def test_walks_and_isas_agree(mlinfer, tmp_path):
    """The tree-shared quadrature walk (the default, a kernel per ISA), the per-leaf
    quadrature (MLI_TREESHAP=leaf) and the classic recursion (MLI_TREESHAP=classic) compute
    the same contributions by different arithmetic, and the kernel compiled for each ISA
    (MLI_FORCE_ISA; FMA contraction differs) the same walk: on every model of the block test
    (every lane count and fallback, NaN, categorical splits, vector leaves) all agree to
    1e-11 of each row's sum |phi| (float64 throughout). Each setting is read once per
    process: subprocesses."""
    import os
    import subprocess
    import sys
    X6 = _data(n=50, d=24, seed=22)
    xgb.train({"max_depth": 6}, xgb.DMatrix(X6, np.nansum(X6, axis=1)), 20).save_model(str(tmp_path / "x6.json"))
    models = list(_blocks_models(tmp_path))
    code = ("import sys, numpy as np, mlinfer\n"
            "for i, p in enumerate(sys.argv[2:]):\n"
            "    np.save(sys.argv[1] + str(i) + '.npy', mlinfer.load(p).predict_contrib(np.load(p + '.x.npy')))\n")
    for _, path, X in models:
        np.save(path + ".x.npy", X[:300])
    settings = [{"MLI_TREESHAP": "leaf"}, {"MLI_TREESHAP": "classic"}, {"MLI_FORCE_ISA": "scalar"}]
    if mlinfer.cpu_isa() == "avx512":
        settings.append({"MLI_FORCE_ISA": "avx2"})
    assert len(models) == 8
    for k, setting in enumerate(settings):
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path), **setting)
        prefix = str(tmp_path / f"s{k}_")
        subprocess.run([sys.executable, "-c", code, prefix] + [p for _, p, _ in models], env=env, check=True)
        for i, (what, path, X) in enumerate(models):
            ref = _as3(_cls_last(np.load(f"{prefix}{i}.npy")), X.shape[1])
            ours = _as3(_cls_last(mlinfer.load(path).predict_contrib(X[:300])), X.shape[1])
            err = np.abs(ours - ref).max(axis=1) / np.abs(ref).sum(axis=1)
            assert err.max() <= 1e-11, f"{what} vs {setting}: {err.max():.3g}"
