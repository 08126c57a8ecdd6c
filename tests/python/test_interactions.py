"""SHAP interaction values (Model.predict_interactions, mli_model_predict_interactions)
against independent references:

* XGBoost `pred_interactions=True` (its own conditioned TreeSHAP, run once per feature and
  condition) for models imported from its files: binary with NaN, regression with paths of
  more than 8 and more than 16 distinct features (the three leaf kernels), multiclass,
  categorical splits;
* `shap.TreeExplainer(...).shap_interaction_values` (path-dependent) for scikit-learn
  forests, gradient boosting and HistGradientBoosting, and LightGBM (which has no
  interaction values of its own);
* a brute-force Shapley interaction index over every feature subset of the path-dependent
  value function, for a small tree with NaN (independent of any TreeSHAP code);
* through a prep stage: shap on the transformed matrix, summed by column blocks on both
  axes.

Tolerance: |ours - reference| <= TOL x sum |reference| over the row's matrix (per score).
XGBoost computes in float32 and forms each interaction as a difference of two float32
contribution runs, so its values carry float32 rounding of the contributions' size
(~1e-7 relative each, over tens of trees); shap works in float64. Structure checked on
every row: symmetry, each row of the matrix summing to predict_contrib (1e-9 relative: the
same float64 values, summed in another order), the whole matrix to predict_raw (1e-5:
predict_raw computes in float32 where the model does).
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
from sklearn.ensemble import (GradientBoostingRegressor, HistGradientBoostingRegressor,  # noqa: E402
                              RandomForestClassifier, RandomForestRegressor)
from sklearn.linear_model import LinearRegression  # noqa: E402
from sklearn.tree import DecisionTreeRegressor  # noqa: E402
from test_contrib import _cls_last, _data, _rows, _sk_data, _xgb_train  # noqa: E402  (the contributions' data)

TOL = 1e-5


def _as4(v):
    """(n, G, G) or (n, G, G, K) -> (n, G, G, K)."""
    v = np.asarray(v, np.float64)
    return v[..., None] if v.ndim == 3 else v


def assert_close(ours, ref, what="", tol=TOL):
    ours, ref = _as4(ours), _as4(ref)
    assert ours.shape == ref.shape, (what, ours.shape, ref.shape)
    scale = np.abs(ref).sum(axis=(1, 2), keepdims=True)
    err = np.abs(ours - ref) / np.maximum(scale, 1e-300)
    worst = np.unravel_index(np.argmax(err), err.shape)
    assert err.max() <= tol, f"{what}: relative error {err.max():.3g} at {worst}: {ours[worst]} vs {ref[worst]}"


def assert_structure(model, X, inter):
    """Symmetric; row i sums to contribution i; the matrix sums to the raw score; the bias
    row and column are 0 but for the bias."""
    v = _as4(inter)
    c = np.asarray(_cls_last(model.predict_contrib(X)), np.float64)
    c = c[..., None] if c.ndim == 2 else c
    scale = np.abs(c).sum(axis=1, keepdims=True)
    # symmetric (exactly in the default form, which writes each pair once to both; the classic
    # reference to rounding)
    assert (np.abs(v - v.transpose(0, 2, 1, 3)).max(axis=(1, 2)) / scale[:, 0]).max() <= 1e-12
    assert (np.abs(v.sum(axis=2) - c) / scale).max() <= 1e-9
    raw = np.asarray(model.predict_raw(X), np.float64).reshape(len(X), -1)
    assert (np.abs(v.sum(axis=(1, 2)) - raw) / scale[:, 0]).max() <= TOL
    assert not v[:, -1, :-1].any() and not v[:, :-1, -1].any()
    np.testing.assert_array_equal(v[:, -1, -1], c[:, -1])


# ---- XGBoost -----------------------------------------------------------------------------

def _xgb_check(mlinfer, booster, X, tmp_path, dm=None, tol=TOL):
    path = tmp_path / "m.json"
    booster.save_model(str(path))
    m = mlinfer.load(str(path))
    for Xr in _rows(X):
        ours = _cls_last(m.predict_interactions(Xr), 4)
        ref = booster.predict(xgb.DMatrix(Xr, **(dm or {})), pred_interactions=True)
        if ref.ndim == 4:  # (n, K, F+1, F+1) -> (n, F+1, F+1, K)
            ref = ref.transpose(0, 2, 3, 1)
        assert_close(ours, ref, f"xgboost {Xr.dtype} {len(Xr)} rows", tol)
        assert_structure(m, Xr, ours)
    return m


def test_xgboost_binary_nan(mlinfer, tmp_path):
    X = _data()
    y = (np.nan_to_num(X[:, 0]) + np.nan_to_num(X[:, 1]) * X[:, 2].clip(-1, 1) > 0).astype(float)
    m = _xgb_check(mlinfer, _xgb_train({"objective": "binary:logistic"}, X, y), X, tmp_path)
    assert _cls_last(m.predict_interactions(X[:3]), 4).shape == (3, 7, 7)


def test_xgboost_long_paths(mlinfer, tmp_path):
    """Paths of more than 8 distinct features: the 8-point leaf kernel. (More than 16: the
    general kernel, test_deep_forest_against_shap; XGBoost's float32 recursion drifts by
    ~2e-5 relative on paths of 20 splits, in its contributions as in its interactions.)"""
    X = _data(n=1500, d=12, seed=1, nan=0.03)
    y = np.nansum(X[:, :6] ** 2, axis=1) + np.nansum(X, axis=1)
    b = _xgb_train({"objective": "reg:squarederror", "max_depth": 11, "min_child_weight": 0}, X, y, rounds=6)
    longest = max(len(set(p)) for p in _paths(json.loads(b.save_raw("json"))))
    assert longest > 8, longest
    _xgb_check(mlinfer, b, X[:60], tmp_path)


def _paths(doc):
    """The split features of every root-to-leaf path of an XGBoost JSON model."""
    for t in doc["learner"]["gradient_booster"]["model"]["trees"]:
        left, right, feat = t["left_children"], t["right_children"], t["split_indices"]
        stack = [(0, [])]
        while stack:
            i, p = stack.pop()
            if left[i] == -1:
                yield p
            else:
                stack += [(left[i], p + [feat[i]]), (right[i], p + [feat[i]])]


def test_xgboost_multiclass(mlinfer, tmp_path):
    X = _data(seed=2)
    y = np.digitize(np.nan_to_num(X[:, 0]) + 0.5 * np.nan_to_num(X[:, 3]), [-0.5, 0.5]).astype(float)
    m = _xgb_check(mlinfer, _xgb_train({"objective": "multi:softprob", "num_class": 3}, X, y, rounds=15), X,
                   tmp_path)
    assert _cls_last(m.predict_interactions(X[:4]), 4).shape == (4, 7, 7, 3)


@pytest.mark.parametrize("onehot", [1, 8], ids=["partition", "onehot"])
def test_xgboost_categorical(mlinfer, tmp_path, onehot):
    rng = np.random.default_rng(7)
    n = 2000
    X = np.c_[rng.integers(0, 30, n).astype(float), rng.standard_normal(n), rng.integers(0, 4, n).astype(float)]
    X[rng.random(X.shape) < 0.05] = np.nan
    c0 = np.nan_to_num(X[:, 0], nan=-1)
    y = np.isin(c0 % 4, [0, 1]) * 2.0 + (X[:, 2] == 2) * np.nan_to_num(X[:, 1]) + 0.3 * np.nan_to_num(X[:, 1])
    dm = {"enable_categorical": True, "feature_types": ["c", "q", "c"]}
    booster = _xgb_train({"max_cat_to_onehot": onehot, "tree_method": "hist", "max_depth": 4}, X, y, rounds=10, dm=dm)
    _xgb_check(mlinfer, booster, X[:300], tmp_path, dm=dm)


def test_threads(mlinfer, tmp_path):
    """16 threads on one model give the bits of 1 thread (each row is computed by one task)."""
    X = _data(n=700, seed=3)
    y = np.nan_to_num(X[:, 0]) * np.nan_to_num(X[:, 1]) + np.nan_to_num(X[:, 2])
    b = _xgb_train({"objective": "reg:squarederror"}, X, y, rounds=20)
    path = tmp_path / "m.json"
    b.save_model(str(path))
    m = mlinfer.load(str(path))
    before = mlinfer.get_num_threads()
    try:
        mlinfer.set_num_threads(1)
        one = _cls_last(m.predict_interactions(X), 4)
        mlinfer.set_num_threads(16)
        many = _cls_last(m.predict_interactions(X), 4)
    finally:
        mlinfer.set_num_threads(before)
    np.testing.assert_array_equal(one, many)
    assert_close(many, b.predict(xgb.DMatrix(X), pred_interactions=True), "16 threads")


# ---- shap.TreeExplainer: scikit-learn and LightGBM ------------------------------------------

def _shap_inter(est, X):
    """shap's path-dependent interaction values with the bias row and column appended:
    (n, F + 1, F + 1, K)."""
    ex = shap.TreeExplainer(est, feature_perturbation="tree_path_dependent")
    sv = ex.shap_interaction_values(X)
    sv = np.stack(sv, axis=-1) if isinstance(sv, list) else np.asarray(sv, np.float64)
    if sv.ndim == 3:
        sv = sv[..., None]
    n, F, _, K = sv.shape
    out = np.zeros((n, F + 1, F + 1, K))
    out[:, :F, :F] = sv
    out[:, F, F] = np.broadcast_to(np.atleast_1d(np.asarray(ex.expected_value, np.float64)), (n, K))
    return out


def _sk_check(mlinfer, est, X, tmp_path):
    path = tmp_path / "m.mli"
    mlinfer.export(est, str(path))
    m = mlinfer.load(str(path))
    for Xr in _rows(X):
        ours = _as4(_cls_last(m.predict_interactions(Xr), 4))
        # sklearn.tree routes float32(x), HistGradientBoosting float64 x: shap gets what the model sees
        seen = Xr.astype(np.float64) if "Hist" in type(est).__name__ else Xr.astype(np.float32).astype(np.float64)
        assert_close(ours, _shap_inter(est, seen), f"{type(est).__name__} {Xr.dtype} {len(Xr)} rows")
        assert_structure(m, Xr, ours)
    return m


@pytest.mark.parametrize("make", [
    lambda: RandomForestRegressor(n_estimators=8, max_depth=6, random_state=0),
    lambda: GradientBoostingRegressor(n_estimators=15, max_depth=3, random_state=0),
    lambda: HistGradientBoostingRegressor(max_iter=10, random_state=0),
], ids=["forest", "gb", "hgb"])
def test_sklearn_regressors(mlinfer, tmp_path, make):
    X, y = _sk_data(10)
    _sk_check(mlinfer, make().fit(X, y), X[:200], tmp_path)


def _longest_path(tree):
    t, stack, best = tree.tree_, [(0, frozenset())], 0
    while stack:
        i, feats = stack.pop()
        if t.children_left[i] == -1:
            best = max(best, len(feats))
        else:
            f = feats | {t.feature[i]}
            stack += [(t.children_left[i], f), (t.children_right[i], f)]
    return best


def test_deep_forest_against_shap(mlinfer, tmp_path):
    """Paths of more than 16 distinct features (the general leaf kernel), against shap's
    float64 recursion (measured agreement ~3e-14)."""
    X = _data(n=1500, d=24, seed=1, nan=0.0)
    y = np.sum(X[:, :12] ** 2, axis=1) + np.sum(X, axis=1)
    est = RandomForestRegressor(n_estimators=3, max_depth=22, random_state=0).fit(X, y)
    assert max(_longest_path(e) for e in est.estimators_) > 16
    _sk_check(mlinfer, est, X[:40], tmp_path)


def test_sklearn_forest_multiclass(mlinfer, tmp_path):
    """A forest of multi-output leaves (one probability per class in each leaf)."""
    X, y = _sk_data(11)
    est = RandomForestClassifier(n_estimators=6, max_depth=5, random_state=0).fit(X, np.digitize(y, [-0.5, 0.5]))
    m = _sk_check(mlinfer, est, X[:150], tmp_path)
    assert _cls_last(m.predict_interactions(X[:2]), 4).shape == (2, 6, 6, 3)


def test_sklearn_nan(mlinfer, tmp_path):
    X, y = _sk_data(12, nan=0.1)
    _sk_check(mlinfer, HistGradientBoostingRegressor(max_iter=8, random_state=0).fit(X, y), X[:200], tmp_path)


def test_lightgbm_against_shap(mlinfer, tmp_path):
    X = _data(seed=4)
    y = np.nansum(X[:, :3], axis=1) + np.nan_to_num(X[:, 0]) * np.nan_to_num(X[:, 4])
    params = {"objective": "regression", "verbose": -1, "num_leaves": 31, "min_data_in_leaf": 5}
    booster = lgb.train(params, lgb.Dataset(X, y), num_boost_round=20)
    path = tmp_path / "m.txt"
    booster.save_model(str(path))
    m = mlinfer.load(str(path))
    for Xr in _rows(X[:200]):
        ours = _cls_last(m.predict_interactions(Xr), 4)
        assert_close(ours, _shap_inter(booster, Xr.astype(np.float64)), f"lightgbm {Xr.dtype} {len(Xr)} rows")
        assert_structure(m, Xr, ours)


# ---- an independent reference: the Shapley interaction index by brute force -----------------

def _brute_force(tree, x):
    """Shapley interaction values of v(S) = path-dependent E[f(x) | x_S] of one sklearn tree
    by enumerating subsets: phi_ij = sum_S |S|! (F - |S| - 2)! / (2 (F - 1)!) (v(S+ij) -
    v(S+i) - v(S+j) + v(S)), the diagonal phi_i - sum_{j != i} phi_ij; (F + 1, F + 1)."""
    t = tree.tree_
    cover, value, F = t.weighted_n_node_samples, t.value[:, 0, 0], len(x)
    miss_left = getattr(t, "missing_go_to_left", np.zeros(t.node_count, np.uint8))

    def goes_left(i):
        v = x[t.feature[i]]
        return bool(miss_left[i]) if np.isnan(v) else np.float32(v) <= t.threshold[i]

    def v(S, i=0):
        if t.children_left[i] == -1:
            return value[i]
        le, ri = t.children_left[i], t.children_right[i]
        if t.feature[i] in S:
            return v(S, le if goes_left(i) else ri)
        return (cover[le] * v(S, le) + cover[ri] * v(S, ri)) / cover[i]

    phi = np.zeros((F + 1, F + 1))
    main = np.zeros(F)
    for i in range(F):
        others = [q for q in range(F) if q != i]
        for size in range(F):
            w = math.factorial(size) * math.factorial(F - size - 1) / math.factorial(F)
            for S in itertools.combinations(others, size):
                main[i] += w * (v(set(S) | {i}) - v(set(S)))
    for i, j in itertools.combinations(range(F), 2):
        rest = [q for q in range(F) if q not in (i, j)]
        for size in range(F - 1):
            w = math.factorial(size) * math.factorial(F - size - 2) / (2 * math.factorial(F - 1))
            for S in itertools.combinations(rest, size):
                S = set(S)
                phi[i, j] += w * (v(S | {i, j}) - v(S | {i}) - v(S | {j}) + v(S))
        phi[j, i] = phi[i, j]
    for i in range(F):
        phi[i, i] = main[i] - phi[i, :F].sum()
    phi[F, F] = v(set())
    return phi


def test_brute_force_reference(mlinfer, tmp_path):
    X, y = _sk_data(14, nan=0.15, n=400, d=5)
    est = DecisionTreeRegressor(max_depth=7, random_state=0).fit(X, y)
    path = tmp_path / "m.mli"
    mlinfer.export(est, str(path))
    m = mlinfer.load(str(path))
    rows = X[:20]
    ref = np.array([_brute_force(est, r) for r in rows])
    assert_close(_cls_last(m.predict_interactions(rows), 4), ref, "brute force")


# ---- refusals, names, empty input ------------------------------------------------------------

def test_refusals(mlinfer, tmp_path):
    X, y = _sk_data(17, n=200)
    path = tmp_path / "lin.mli"
    mlinfer.export(LinearRegression().fit(X, y), str(path), background=X)
    lin = mlinfer.load(str(path))
    _cls_last(lin.predict_contrib(X[:2]))  # has contributions, but no interactions
    with pytest.raises(mlinfer.Error, match="tree models only"):
        _cls_last(lin.predict_interactions(X), 4)
    b = _xgb_train({"objective": "reg:squarederror"}, X, y, rounds=3)
    path = tmp_path / "m.json"
    b.save_model(str(path))
    doc = json.loads(path.read_text())
    for tree in doc["learner"]["gradient_booster"]["model"]["trees"]:
        del tree["sum_hessian"]
    path.write_text(json.dumps(doc))
    with pytest.raises(mlinfer.Error, match="no node covers"):
        _cls_last(mlinfer.load(str(path)).predict_interactions(X), 4)


def test_names_and_empty_input(mlinfer, tmp_path):
    pd = pytest.importorskip("pandas")
    X, y = _sk_data(19)
    df = pd.DataFrame(X, columns=[f"col{i}" for i in range(X.shape[1])])
    path = tmp_path / "m.mli"
    mlinfer.export(DecisionTreeRegressor(max_depth=4).fit(df, y), str(path))
    m = mlinfer.load(str(path))
    v, names = _cls_last(m.predict_interactions(df.iloc[:3], return_names=True), 4)
    assert names == [f"col{i}" for i in range(X.shape[1])] + ["bias"]
    assert v.shape == (3, 6, 6)
    assert _cls_last(m.predict_interactions(X[:0]), 4).shape == (0, 6, 6)


# ---- through a prep stage: blocks summed on both axes ----------------------------------------

def test_pipeline_blocks_against_shap(mlinfer, tmp_path):
    """ColumnTransformer (imputer + indicator, scaler, one-hot, ordinal, bins, and a
    Normalizer over two columns that stays a column of its own) + forest: shap's
    interactions on the transformed matrix, summed over each column's block of rows and
    columns, equal ours."""
    from test_contrib_pipelines import COLS, _ct, _frame, _group_map
    from sklearn.pipeline import make_pipeline
    df, y = _frame(500, 1)
    pipe = make_pipeline(_ct(mix=True), RandomForestRegressor(n_estimators=5, max_depth=6, random_state=0))
    pipe.fit(df, y)
    path = tmp_path / "m.mli"
    mlinfer.export(pipe, str(path))
    m = mlinfer.load(str(path))
    X = df.iloc[400:]
    ours, names = _cls_last(m.predict_interactions(X, return_names=True), 4)
    gmap = _group_map(pipe, COLS)
    mixed = [f for f, g in enumerate(gmap) if g is None]
    group = [g if g is not None else len(COLS) + mixed.index(f) for f, g in enumerate(gmap)] + [len(COLS) + len(mixed)]
    T = pipe[:-1].transform(X).astype(np.float32).astype(np.float64)
    per_feature = _shap_inter(pipe[-1], T)[..., 0]
    G = len(COLS) + len(mixed) + 1
    onehot = np.zeros((len(group), G))
    onehot[np.arange(len(group)), group] = 1.0
    ref = np.einsum("nab,ag,bh->ngh", per_feature, onehot, onehot)
    assert ours.shape == (len(X), G, G) and len(names) == G
    assert_close(ours, ref, "pipeline blocks")
    assert_structure(m, X, ours)
    row = {k: X.iloc[3][k] for k in COLS}
    np.testing.assert_array_equal(_cls_last(m.predict_interactions(row), 4)[0], ours[3])


# ---- the two algorithms agree -----------------------------------------------------------------

def test_classic_recursion_agrees(mlinfer, tmp_path):
    """The quadrature form (default) against the classic recursion conditioned on each
    feature as XGBoost does (MLI_TREESHAP=classic, read once per process: a subprocess),
    on a multiclass model with paths of more than 8 features, NaN included: float64 both,
    1e-11 relative."""
    import os
    import subprocess
    import sys
    X = _data(n=1200, d=10, seed=5, nan=0.05)
    y = np.digitize(np.nansum(X[:, :5], axis=1) + np.nan_to_num(X[:, 6]) * np.nan_to_num(X[:, 7]), [-1, 1])
    b = _xgb_train({"objective": "multi:softprob", "num_class": 3, "max_depth": 10, "min_child_weight": 0}, X,
                   y.astype(float), rounds=4)
    path, xs, out = tmp_path / "m.json", tmp_path / "x.npy", tmp_path / "classic.npy"
    b.save_model(str(path))
    np.save(xs, X[:80])
    code = ("import sys, numpy as np, mlinfer; m = mlinfer.load(sys.argv[1]); "
            "np.save(sys.argv[3], m.predict_interactions(np.load(sys.argv[2])))")
    env = dict(os.environ, MLI_TREESHAP="classic", PYTHONPATH=os.pathsep.join(sys.path))
    subprocess.run([sys.executable, "-c", code, str(path), str(xs), str(out)], env=env, check=True)
    ours = _cls_last(mlinfer.load(str(path)).predict_interactions(X[:80]), 4)
    assert_close(ours, _cls_last(np.load(out), 4), "quadrature vs classic", tol=1e-11)


def test_trees_after_scaler(mlinfer, tmp_path):
    """Pipeline(StandardScaler, forest): the trees see the scaled values (as predict hands
    them over): shap on the scaled matrix."""
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    X, y = _sk_data(19, d=4)
    X = X * [1, 10, 100, 0.1] + [0, 5, -50, 1]
    pipe = make_pipeline(StandardScaler(), RandomForestRegressor(n_estimators=6, max_depth=6, random_state=0))
    pipe.fit(X, y)
    path = tmp_path / "m.mli"
    mlinfer.export(pipe, str(path))
    m = mlinfer.load(str(path))
    for Xr in _rows(X[:150]):
        ours = _cls_last(m.predict_interactions(Xr), 4)
        seen = pipe[0].transform(Xr.astype(np.float64)).astype(np.float32).astype(np.float64)
        assert_close(ours, _shap_inter(pipe[1], seen), f"scaled forest {Xr.dtype} {len(Xr)} rows")
        assert_structure(m, Xr, ours)


def test_too_many_features_is_refused(mlinfer, tmp_path):
    """(F + 1)^2 values per row above 2^28 (F >= 16 384): refused, contributions still work."""
    rng = np.random.default_rng(0)
    F = 16400
    X = rng.standard_normal((40, F)).astype(np.float32)
    b = _xgb_train({"objective": "reg:squarederror", "max_depth": 2}, X, X[:, 0] + X[:, 1], rounds=2)
    path = tmp_path / "wide.json"
    b.save_model(str(path))
    m = mlinfer.load(str(path))
    assert _cls_last(m.predict_contrib(X[:2])).shape == (2, F + 1)
    with pytest.raises(mlinfer.Error, match="exceeds the limit"):
        _cls_last(m.predict_interactions(X[:1]), 4)
