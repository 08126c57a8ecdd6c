"""scikit-learn's tree models through mlinfer.export -> mlinfer.load, against scikit-learn.

Families: DecisionTree/ExtraTree classifiers and regressors, RandomForest and ExtraTrees,
GradientBoosting, HistGradientBoosting (with categorical features) and IsolationForest.
Each case fits the estimator, exports it, loads the file and compares predict,
predict_proba, decision_function, score_samples (IsolationForest), predict_raw and the
leaves of `apply`, on float32 and float64 input, on 1 row and on 10 000 rows (training rows
drawn with replacement plus 5% per-feature jitter; for estimators that take NaN, 3% of the
cells NaN, in columns with and without NaN in training). Rows sitting exactly on split
thresholds, and one float step either side of them, are compared separately: for the
float32 comparison of sklearn.tree the threshold's float32 neighbours, for
HistGradientBoosting's float64 comparison the float64 neighbours.

Tolerance
---------
Leaves are reached with each framework's own comparison, so classes and leaves must be
identical. Values are sums of float64 leaves, in the same order as scikit-learn except
that the prior (base) is added after the trees where scikit-learn starts from it, so
single trees and forests agree bit for bit (checked for their probabilities, whose ties
decide predict) and boosted models to a few ulps. The bound for every value
(probability, score, regression output) is

    |ours - sklearn| <= 1e-5 * |sklearn| + 1e-9

(1e-5 relative, DESIGN.md; the 1e-9 floor covers scores that cancel to ~0, whose error is
a few float64 ulps of the summed leaves -- the measured worst is ~1e-12). The worst
relative error seen is reported with the other families at the end of the run.
"""
from __future__ import annotations

import functools
import os
import warnings

import numpy as np
import pytest

pytest.importorskip("sklearn", reason="scikit-learn is needed for the mlinfer Python tests")

import mlinfer
from sklearn import datasets
from sklearn.dummy import DummyClassifier, DummyRegressor
from sklearn.ensemble import (AdaBoostClassifier, ExtraTreesClassifier, ExtraTreesRegressor,
                              GradientBoostingClassifier, GradientBoostingRegressor, HistGradientBoostingClassifier,
                              HistGradientBoostingRegressor, IsolationForest, RandomForestClassifier,
                              RandomForestRegressor)
from sklearn.linear_model import LinearRegression
from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor, ExtraTreeClassifier, ExtraTreeRegressor
from threadpoolctl import threadpool_limits

N_ROWS = 10_000
# single trees and forests: leaves summed from 0 in estimator order, then divided by T
SUMMED_IN_ORDER = {"DecisionTreeClassifier", "ExtraTreeClassifier", "RandomForestClassifier", "ExtraTreesClassifier"}
REL, ABS = 1e-5, 1e-9
WORST = {"rel": 0.0}


# ---- datasets -----------------------------------------------------------------------------

@functools.lru_cache(maxsize=None)
def dataset(name: str):
    """(X, y) by name; '+nan' puts NaN in 5% of the cells of the first 5 columns."""
    base, _, nan = name.partition("+")
    if base == "iris":
        X, y = datasets.load_iris(return_X_y=True)
    elif base == "iris_str":
        d = datasets.load_iris()
        X, y = d.data, d.target_names[d.target]
    elif base == "cancer":
        X, y = datasets.load_breast_cancer(return_X_y=True)
    elif base == "diabetes":
        X, y = datasets.load_diabetes(return_X_y=True)
    elif base == "clf50":
        X, y = datasets.make_classification(800, 50, n_informative=12, n_classes=3, random_state=0)
    elif base == "reg50":
        X, y = datasets.make_regression(800, 50, n_informative=20, noise=1.0, random_state=0)
    elif base == "reg50x2":  # two targets
        X, y = datasets.make_regression(800, 50, n_informative=20, n_targets=2, noise=1.0, random_state=1)
    else:
        raise KeyError(name)
    if nan:
        rng = np.random.default_rng(7)
        X = X.copy()
        X[:, :5][rng.random((X.shape[0], 5)) < 0.05] = np.nan
    return X, y


@functools.lru_cache(maxsize=None)
def eval_rows(name: str, nan: bool):
    X, _ = dataset(name)
    rng = np.random.default_rng(1234)
    idx = rng.integers(0, X.shape[0], N_ROWS)
    std = np.nanstd(X, axis=0)
    out = X[idx] + 0.05 * std * rng.standard_normal((N_ROWS, X.shape[1]))
    if nan:
        out[rng.random(out.shape) < 0.03] = np.nan
    return out


# ---- cases --------------------------------------------------------------------------------

class Case:
    def __init__(self, make, data: str, nan: bool = False):
        self.make, self.data, self.nan = make, data, nan
        self.id = f"{type(make()).__name__}-{data}"

    def __repr__(self):
        return self.id


P = functools.partial
CASES = [
    Case(P(DecisionTreeClassifier, random_state=0), "iris"),
    Case(P(DecisionTreeClassifier, random_state=0), "iris_str"),
    Case(P(DecisionTreeClassifier, max_depth=8, random_state=0), "cancer+nan", nan=True),
    Case(P(DecisionTreeRegressor, random_state=0), "diabetes+nan", nan=True),
    Case(P(DecisionTreeRegressor, max_depth=10, random_state=0), "reg50x2"),
    Case(P(ExtraTreeClassifier, random_state=0), "clf50"),
    Case(P(ExtraTreeRegressor, random_state=0), "diabetes+nan", nan=True),
    Case(P(RandomForestClassifier, n_estimators=12, max_depth=8, random_state=0), "cancer+nan", nan=True),
    Case(P(RandomForestClassifier, n_estimators=12, class_weight="balanced", random_state=0), "iris_str"),
    Case(P(RandomForestRegressor, n_estimators=12, max_depth=10, random_state=0), "diabetes+nan", nan=True),
    Case(P(RandomForestRegressor, n_estimators=8, max_depth=8, random_state=0), "reg50x2"),
    Case(P(ExtraTreesClassifier, n_estimators=12, max_depth=10, random_state=0), "clf50"),
    Case(P(ExtraTreesRegressor, n_estimators=12, max_depth=10, random_state=0), "reg50"),
    Case(P(GradientBoostingClassifier, n_estimators=30, random_state=0), "cancer"),
    Case(P(GradientBoostingClassifier, n_estimators=20, random_state=0), "iris_str"),
    Case(P(GradientBoostingClassifier, n_estimators=15, init="zero", subsample=0.8, max_features=0.5,
           random_state=0), "clf50"),
    Case(P(GradientBoostingRegressor, n_estimators=30, random_state=0), "diabetes"),
    Case(P(GradientBoostingRegressor, n_estimators=20, loss="huber", random_state=0), "reg50"),
    Case(P(GradientBoostingRegressor, n_estimators=20, loss="absolute_error", random_state=0), "diabetes"),
    Case(P(GradientBoostingRegressor, n_estimators=20, loss="quantile", alpha=0.8, random_state=0), "diabetes"),
    Case(P(GradientBoostingRegressor, n_estimators=20, init="zero", learning_rate=0.3, random_state=0), "reg50"),
    Case(P(GradientBoostingRegressor, n_estimators=10, init=DummyRegressor(strategy="median"), random_state=0),
         "diabetes"),
    Case(P(HistGradientBoostingClassifier, max_iter=30, random_state=0), "cancer+nan", nan=True),
    Case(P(HistGradientBoostingClassifier, max_iter=20, random_state=0), "iris_str"),
    Case(P(HistGradientBoostingClassifier, max_iter=15, random_state=0), "clf50"),
    Case(P(HistGradientBoostingRegressor, max_iter=30, random_state=0), "diabetes+nan", nan=True),
    Case(P(HistGradientBoostingRegressor, max_iter=20, loss="poisson", random_state=0), "diabetes+nan", nan=True),
    Case(P(HistGradientBoostingRegressor, max_iter=20, loss="gamma", random_state=0), "diabetes"),
    Case(P(HistGradientBoostingRegressor, max_iter=20, loss="absolute_error", random_state=0), "reg50"),
    Case(P(HistGradientBoostingRegressor, max_iter=20, loss="quantile", quantile=0.3, random_state=0), "diabetes"),
    Case(P(IsolationForest, n_estimators=20, random_state=0), "cancer+nan", nan=True),
    Case(P(IsolationForest, n_estimators=15, max_features=0.4, contamination=0.1, random_state=0), "clf50"),
    Case(P(IsolationForest, n_estimators=15, max_samples=64, bootstrap=True, random_state=0), "diabetes"),
]


@functools.lru_cache(maxsize=None)
def fitted(case: Case, tmpdir: str):
    X, y = dataset(case.data)
    est = case.make()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est.fit(X, y)
    path = os.path.join(tmpdir, f"{case.id}.mli")
    mlinfer.export(est, path)
    return est, mlinfer.load(path)


@pytest.fixture(scope="module", autouse=True)
def one_openmp_thread():
    """scikit-learn's OpenMP loops (HistGradientBoosting) slow down by 10x or more when the
    few cores of a CI machine are busy; one thread keeps the file fast everywhere."""
    with threadpool_limits(1):
        yield


@pytest.fixture(scope="module")
def tmpdir_str(tmp_path_factory):
    return str(tmp_path_factory.mktemp("trees_sklearn"))


# ---- comparisons ----------------------------------------------------------------------------

def assert_close(ours, want, what):
    ours, want = np.asarray(ours), np.asarray(want, dtype=np.float64)
    assert ours.shape == want.shape, f"{what}: shape {ours.shape} != scikit-learn's {want.shape}"
    err = np.abs(ours - want)
    bound = REL * np.abs(want) + ABS
    bad = ~(err <= bound)
    assert not bad.any(), (f"{what}: {bad.sum()} values beyond the bound; worst {ours[bad][:3]} vs "
                           f"{want[bad][:3]}")
    WORST["rel"] = max(WORST["rel"], float(np.max(err / np.maximum(np.abs(want), 1e-300), initial=0.0)))


def sk_leaves(est, X):
    """scikit-learn's leaves, one column per tree in the order of the exported stage, or
    None for HistGradientBoosting, which has no apply (checked by leaf value instead)."""
    name = type(est).__name__
    if name.startswith("HistGradientBoosting"):
        return None
    if name == "IsolationForest":
        X32 = np.asarray(X, dtype=np.float32)
        subsample = est._max_features != X.shape[1]
        cols = [t.apply(np.ascontiguousarray(X32[:, f] if subsample else X32), check_input=False)
                for t, f in zip(est.estimators_, est.estimators_features_)]
        return np.stack(cols, axis=1)
    leaves = np.asarray(est.apply(X))
    return leaves.reshape(len(X), -1)  # trees (n,), forests (n, T), GradientBoosting (n, stages, K)


def check_hgb_leaves(est, m, X, leaves):
    """Each leaf we report must be a leaf whose value is what scikit-learn's own predictor
    returns for that tree and row."""
    Xp = est._preprocess_X(X, reset=False)
    known, f_idx_map = est._bin_mapper.make_known_categories_bitsets()
    t = 0
    for iteration in est._predictors:
        for pred in iteration:
            want = pred.predict(Xp, known, f_idx_map, 1)
            got = leaves[:, t]
            assert pred.nodes["is_leaf"][got].all(), f"tree {t}: apply returned internal nodes"
            np.testing.assert_array_equal(pred.nodes["value"][got], want, err_msg=f"tree {t}: leaf values")
            t += 1
    assert t == leaves.shape[1] == m.n_trees_


def sk_raw(est, X):
    name = type(est).__name__
    if name.startswith(("GradientBoosting", "HistGradientBoosting")):
        raw = est._raw_predict(np.asarray(X, dtype=np.float32) if name.startswith("Gradient") else X)
        return raw[:, 0] if raw.shape[1] == 1 else raw
    if name == "IsolationForest":  # E[h] from score_samples = -2^(-E[h] / c)
        return None
    return est.predict_proba(X) if hasattr(est, "classes_") else est.predict(X)


def compare(est, m, X):
    name = type(est).__name__
    if name == "IsolationForest":
        want_dec = est.decision_function(X)
        assert_close(m.score_samples(X), est.score_samples(X), "score_samples")
        assert_close(m.decision_function(X), want_dec, "decision_function")
        ours, want = m.predict(X), est.predict(X)
        tie = np.abs(want_dec) <= 1e-12  # scikit-learn's own decision is a rounding away from flipping
        assert tie.sum() <= 1
        np.testing.assert_array_equal(ours[~tie], want[~tie], err_msg="predict")
        assert ours.dtype.kind == want.dtype.kind
    elif hasattr(est, "classes_"):
        ours, want = m.predict(X), est.predict(X)
        np.testing.assert_array_equal(ours, want, err_msg="predict")
        assert_close(m.predict_proba(X), est.predict_proba(X), "predict_proba")
        if name in SUMMED_IN_ORDER:  # same additions in the same order: ties (0.5 / 0.5) stay ties
            np.testing.assert_array_equal(m.predict_proba(X), est.predict_proba(X), err_msg="predict_proba")
        if hasattr(est, "decision_function"):
            assert_close(m.decision_function(X), est.decision_function(X), "decision_function")
        else:
            with pytest.raises(AttributeError):
                m.decision_function(X)
    else:
        assert_close(m.predict(X), est.predict(X), "predict")
    raw = sk_raw(est, X)
    if raw is not None:
        assert_close(m.predict_raw(X), raw, "predict_raw")
    leaves = m.apply(X)
    assert leaves.dtype == np.int64 and leaves.shape == (len(X), m.n_trees_)
    want = sk_leaves(est, X)
    if want is None:
        check_hgb_leaves(est, m, X, leaves)
    else:
        np.testing.assert_array_equal(leaves, want, err_msg="apply")


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("case", CASES, ids=repr)
def test_matches_sklearn(case, dtype, tmpdir_str):
    est, m = fitted(case, tmpdir_str)
    X = eval_rows(case.data, case.nan).astype(dtype)
    compare(est, m, X[:1])
    compare(est, m, X)


# ---- rows on the thresholds -----------------------------------------------------------------

def f32_neighbours(thr: float):
    """The float32 values around a float64 threshold: the largest float32 <= thr (on the
    threshold when it is a float32) and one float32 step either side of it."""
    a = np.float32(thr)
    if float(a) > thr:
        a = np.nextafter(a, np.float32(-np.inf))
    return [a, np.nextafter(a, np.float32(np.inf)), np.nextafter(a, np.float32(-np.inf))]


def sk_tree_nodes(est):
    """(tree estimator, column map or None) for the sklearn.tree trees of a model."""
    name = type(est).__name__
    if name == "IsolationForest":
        sub = est._max_features != est.n_features_in_
        return [(t, np.asarray(f) if sub else None) for t, f in zip(est.estimators_, est.estimators_features_)]
    if name.startswith("GradientBoosting"):
        return [(t, None) for t in np.asarray(est.estimators_).ravel()]
    if hasattr(est, "estimators_"):
        return [(t, None) for t in est.estimators_]
    return [(est, None)]


def threshold_rows(est, X_train, dtype, max_trees=4, max_nodes=150):
    """Rows that reach a split with the split feature on the threshold or one step off."""
    rows = []
    name = type(est).__name__
    if name.startswith("HistGradientBoosting"):
        Xp = np.nan_to_num(X_train)
        cols = np.arange(X_train.shape[1])
        for iteration in est._predictors[:max_trees]:
            for pred in iteration:
                nodes = pred.nodes
                for i in np.flatnonzero(~nodes["is_leaf"].astype(bool) & ~nodes["is_categorical"].astype(bool)):
                    f, thr = cols[nodes["feature_idx"][i]], float(nodes["num_threshold"][i])
                    if np.isinf(thr):
                        values = [np.inf, -np.inf, np.nan, 1e300]
                    elif dtype == np.float32:
                        values = f32_neighbours(thr)
                    else:
                        values = [thr, np.nextafter(thr, np.inf), np.nextafter(thr, -np.inf)]
                    for v in values:
                        r = Xp[i % len(Xp)].copy()
                        r[f] = v
                        rows.append(r)
        return np.array(rows, dtype=dtype)
    for tree, cols in sk_tree_nodes(est)[:max_trees]:
        t = tree.tree_
        Xt = X_train if cols is None else X_train[:, cols]
        path = tree.decision_path(np.ascontiguousarray(Xt, dtype=np.float32)).tocsc()
        for i in np.flatnonzero(t.children_left != -1)[:max_nodes]:
            members = path[:, i].nonzero()[0]
            base = X_train[members[0] if len(members) else 0]
            f = t.feature[i] if cols is None else cols[t.feature[i]]
            thr = float(t.threshold[i])
            if np.isinf(thr):  # a split of NaN from the rest (scikit-learn refuses infinite input)
                values = [float(np.finfo(np.float32).max), -1e30, np.nan]
            else:
                values = [float(v) for v in f32_neighbours(thr)]
            if dtype == np.float64 and not np.isinf(thr):  # float64 input is rounded to float32 by both sides
                values += [thr, np.nextafter(thr, np.inf), np.nextafter(thr, -np.inf)]
            for v in values:
                r = base.copy()
                r[f] = v
                rows.append(r)
    return np.array(rows, dtype=dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("case", CASES, ids=repr)
def test_threshold_rows(case, dtype, tmpdir_str):
    est, m = fitted(case, tmpdir_str)
    X = threshold_rows(est, dataset(case.data)[0], dtype)
    assert len(X) > 0
    compare(est, m, X)


def f32_cell_values(thr: float):
    """float64 values a float32 shortcut can misroute at float64 threshold thr: the float32
    numbers either side, values strictly between them below and above thr, thr and one
    float64 step either side."""
    lo = float(f32_neighbours(thr)[0])
    hi = float(np.nextafter(np.float32(lo), np.float32(np.inf)))
    vals = [lo, hi, thr, np.nextafter(thr, np.inf), np.nextafter(thr, -np.inf)]
    if lo < thr:
        vals += [lo + (thr - lo) / 2, thr + (hi - thr) / 2, np.nextafter(lo, np.inf), np.nextafter(hi, -np.inf)]
    return vals


@pytest.mark.parametrize("case", [c for c in CASES if c.id in ("HistGradientBoostingClassifier-cancer+nan",
                                                                "HistGradientBoostingRegressor-diabetes+nan")],
                         ids=repr)
def test_hgb_float64_rows_inside_float32_cells(case, tmpdir_str):
    """HistGradientBoosting compares float64 x <= t. Rows with a value in a float32 cell
    around a threshold (see f32_cell_values), mixed with plain rows in every block, go
    through the float32 walk and its exact float64 fix-up (trees/predict.c). Raw scores
    must equal scikit-learn's tree-by-tree leaf values summed in our order (trees, then the
    baseline) bit for bit; the public outputs are checked with the usual bound, and a
    float32 shortcut must misroute some of these rows."""
    est, m = fitted(case, tmpdir_str)
    X_train = dataset(case.data)[0]
    plain = eval_rows(case.data, case.nan)
    rng = np.random.default_rng(5)
    rows = []
    for iteration in est._predictors:
        nodes = iteration[0].nodes
        for i in np.flatnonzero(~nodes["is_leaf"].astype(bool)):
            thr = float(nodes["num_threshold"][i])
            if np.isinf(thr):
                continue
            for v in f32_cell_values(thr):
                r = plain[rng.integers(len(plain))].copy()
                r[nodes["feature_idx"][i]] = v
                rows.append(r)
    assert len(rows) > 500 and len(X_train)
    X = np.concatenate([np.array(rows), plain[: len(rows)]])
    X = X[rng.permutation(len(X))]
    compare(est, m, X)
    Xp = est._preprocess_X(X, reset=False)
    known, f_idx_map = est._bin_mapper.make_known_categories_bitsets()
    want = np.zeros(len(X))
    route = []
    for iteration in est._predictors:
        leaf_vals = iteration[0].predict(Xp, known, f_idx_map, 1)
        want += leaf_vals
        route.append(leaf_vals)
    want += est._baseline_prediction.ravel()[0]
    np.testing.assert_array_equal(np.asarray(m.predict_raw(X)).ravel(), want)
    short = X.astype(np.float32).astype(np.float64)
    moved = sum((it[0].predict(short, known, f_idx_map, 1) != r) for it, r in zip(est._predictors, route))
    assert (moved > 0).sum() > 10


# ---- HistGradientBoosting with categorical features -------------------------------------------

@functools.lru_cache(maxsize=None)
def categorical_data():
    """Columns 1 and 3 categorical: column 1 takes 0..7 but never 5 in training (5 is an
    unknown category), column 3 takes sparse values {0, 2, 3, 10, 40, 77} and some NaN;
    columns 0, 2, 4 numerical (column 2 with NaN)."""
    rng = np.random.default_rng(3)
    n = 1500
    X = rng.normal(size=(n, 5))
    X[:, 1] = rng.choice([0, 1, 2, 3, 4, 6, 7], n)
    X[:, 3] = rng.choice([0, 2, 3, 10, 40, 77], n)
    X[rng.random(n) < 0.05, 3] = np.nan
    X[rng.random(n) < 0.05, 2] = np.nan
    effect1 = np.array([0.0, 2.0, -1.0, 1.5, -2.0, 0.0, 0.7, -0.4])
    effect3 = {0: 1.0, 2: -1.5, 3: 0.5, 10: 2.0, 40: -2.0, 77: 0.2}
    e3 = np.array([effect3.get(v, 0.0) for v in np.nan_to_num(X[:, 3], nan=-1)])
    score = effect1[X[:, 1].astype(int)] + e3 + X[:, 0] + 0.5 * np.nan_to_num(X[:, 2])
    return X, score, (score > 0.3).astype(int) + (score > 1.5).astype(int)


def categorical_eval_rows(n=N_ROWS):
    """Known and unknown categories, values >= the number of categories (within and beyond
    the bitsets, up to 3e38), negatives and NaN in the categorical columns; a few
    infinities in a numerical one."""
    X, _, _ = categorical_data()
    rng = np.random.default_rng(11)
    out = X[rng.integers(0, len(X), n)].copy()
    out[:, [0, 2, 4]] += 0.05 * rng.standard_normal((n, 3))
    odd = [5, 8, 9, 31, 32, 33, 63, 64, 76, 78, 95, 96, 255, 256, 300, 1e6, 3e38, -1, -3, -0.0, -3e38, np.nan]
    for col in (1, 3):  # (scikit-learn's OrdinalEncoder refuses infinities)
        pick = rng.random(n) < 0.3
        out[pick, col] = rng.choice(odd, pick.sum())
    pick = rng.random(n) < 0.01
    out[pick, 2] = rng.choice([np.inf, -np.inf], pick.sum())
    return out


@pytest.mark.parametrize("kind", ["classifier", "regressor", "binary"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
def test_hgb_categorical(kind, dtype, tmp_path):
    X, score, y3 = categorical_data()
    if kind == "regressor":
        est = HistGradientBoostingRegressor(max_iter=25, categorical_features=[1, 3], random_state=0)
        est.fit(X, score)
    elif kind == "binary":
        mask = np.zeros(5, dtype=bool)
        mask[[1, 3]] = True
        est = HistGradientBoostingClassifier(max_iter=25, categorical_features=mask, max_bins=32, random_state=0)
        est.fit(X, y3 > 0)
    else:
        est = HistGradientBoostingClassifier(max_iter=20, categorical_features=[1, 3], random_state=0)
        est.fit(X, y3)
    mlinfer.export(est, tmp_path / "m.mli")
    m = mlinfer.load(tmp_path / "m.mli")
    assert any(p.nodes["is_categorical"].any() for it in est._predictors for p in it)
    Xe = categorical_eval_rows().astype(dtype)
    compare(est, m, Xe[:1])
    compare(est, m, Xe)


def test_hgb_categorical_non_integer_values(tmp_path):
    X, _, y3 = categorical_data()
    est = HistGradientBoostingClassifier(max_iter=20, categorical_features=[1, 3], random_state=0).fit(X, y3)
    mlinfer.export(est, tmp_path / "m.mli")
    m = mlinfer.load(tmp_path / "m.mli")
    Xe = categorical_eval_rows(2000)
    finite = np.isfinite(Xe[:, 1])
    Xe[finite, 1] = np.abs(Xe[finite, 1]) % 8 + 0.5  # 0.5 .. 7.5: no training category
    Xe[:1000, 3] = -0.5
    assert_close(m.decision_function(Xe), est.decision_function(Xe), "decision_function")


def test_hgb_negative_training_category_is_refused(tmp_path):
    X, _, y3 = categorical_data()
    X = X.copy()
    X[:50, 1] = -2  # scikit-learn >= 1.4 makes -2 a category of its own
    est = HistGradientBoostingClassifier(max_iter=5, categorical_features=[1]).fit(X, y3)
    with pytest.raises(mlinfer.UnsupportedModelError, match="HistGradientBoostingClassifier.*category -2"):
        mlinfer.export(est, tmp_path / "m.mli")


# ---- the Python surface ---------------------------------------------------------------------

def test_save_raw_apply_shapes(tmp_path):
    X, y = dataset("iris")
    est = GradientBoostingClassifier(n_estimators=7, random_state=0).fit(X, y)
    mlinfer.export(est, tmp_path / "gb.mli")
    m = mlinfer.load(tmp_path / "gb.mli")
    assert m.n_trees_ == 21 and m.meta("stage.0.kind") == "trees"
    assert m.predict_raw(X).shape == (150, 3) and m.apply(X).shape == (150, 21)
    m.save(tmp_path / "copy.mli")
    assert (tmp_path / "copy.mli").read_bytes() == (tmp_path / "gb.mli").read_bytes()
    again = mlinfer.load((tmp_path / "copy.mli").read_bytes())
    np.testing.assert_array_equal(again.predict_proba(X), m.predict_proba(X))
    # the header names format 1.1, where the trees stage came in
    assert (tmp_path / "gb.mli").read_bytes()[8:12] == b"\x01\x00\x01\x00"

    reg = DecisionTreeRegressor(max_depth=3).fit(X, y)
    mlinfer.export(reg, tmp_path / "t.mli")
    t = mlinfer.load(tmp_path / "t.mli")
    assert t.predict_raw(X).shape == (150,) and t.apply(X).shape == (150, 1) and t.n_trees_ == 1
    with pytest.raises(AttributeError):
        t.score_samples(X)


def test_non_tree_model_has_no_apply(tmp_path):
    X, y = dataset("diabetes")
    mlinfer.export(LinearRegression().fit(X, y), tmp_path / "lin.mli")
    m = mlinfer.load(tmp_path / "lin.mli")
    assert m.n_trees_ == 0
    assert m.predict_raw(X).shape == (len(X),)
    with pytest.raises(mlinfer.Error):
        m.apply(X)


@pytest.mark.parametrize("make, fit_y, match", [
    (lambda: AdaBoostClassifier(n_estimators=3), "y", "AdaBoostClassifier"),
    (lambda: DecisionTreeClassifier(), "y2", "DecisionTreeClassifier.*multi-output"),
    (lambda: RandomForestClassifier(n_estimators=2), "y2", "RandomForestClassifier.*multi-output"),
    (lambda: GradientBoostingClassifier(n_estimators=3, loss="exponential"), "y",
     "GradientBoostingClassifier.*exponential"),
    (lambda: GradientBoostingRegressor(n_estimators=3, init=LinearRegression()), "y",
     "GradientBoostingRegressor.*init"),
    # random_state=2 draws the same class for the exporter's probe rows, which then looked constant:
    # exported with one prior while scikit-learn's decision_function is a random draw per row
    (lambda: GradientBoostingClassifier(n_estimators=3, init=DummyClassifier(strategy="stratified", random_state=2)),
     "y", "GradientBoostingClassifier.*stratified.*random class"),
], ids=["adaboost", "tree-multioutput", "forest-multioutput", "gb-exponential", "gb-custom-init", "gb-stratified-init"])
# (scalers before a forest export since format 1.3: tests/python/test_wrappers.py)
def test_unsupported_raises(make, fit_y, match, tmp_path):
    X, y = dataset("cancer")
    target = np.stack([y, 1 - y], axis=1) if fit_y == "y2" else y
    est = make().fit(X, target)
    with pytest.raises(mlinfer.UnsupportedModelError, match=match):
        mlinfer.export(est, tmp_path / "m.mli")
    assert not (tmp_path / "m.mli").exists()


@pytest.mark.parametrize("suffix", [".json", ".ubj", ".txt", ""])
def test_load_does_not_go_by_the_file_name(suffix, tmp_path):
    """mlinfer.load leaves the kind of file to the C loader, which reads the content."""
    X, y = dataset("iris")
    est = RandomForestClassifier(n_estimators=3, random_state=0).fit(X, y)
    path = tmp_path / f"model{suffix}"
    mlinfer.export(est, path)
    np.testing.assert_array_equal(mlinfer.load(path).predict(X), est.predict(X))
    np.testing.assert_array_equal(mlinfer.load(str(path)).predict(X), est.predict(X))


def test_report_worst():
    """Runs last in this file: prints the worst relative error of the comparisons above."""
    print(f"\nsklearn trees: worst relative error {WORST['rel']:.3g} (bound {REL:g} relative + {ABS:g})")
