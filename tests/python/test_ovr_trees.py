"""mlinfer.export of OneVsRestClassifier over binary tree classifiers (docs/models/wrappers.md,
"OneVsRestClassifier"), against scikit-learn's OneVsRestClassifier on the same rows.

Tolerances, and why:
- class labels are compared exactly (ties included: OvR takes the first largest score);
- HistGradientBoosting / GradientBoosting / LightGBM margins and forest probabilities are
  summed in float64 in tree order as the frameworks sum them: rtol 1e-12;
- XGBoost sums float32 leaves in float32 and computes its probabilities in float32,
  libmlinfer sums in float64: rtol 1e-5 (DESIGN.md's contract) with an absolute floor of 1e-5
  (test_wrappers.py's ATOL_XGB: a float32 sum over 300 trees of margins ~40 drifts that far).
"""
from __future__ import annotations

import struct
import warnings

import numpy as np
import pytest

xgb = pytest.importorskip("xgboost")
lgb = pytest.importorskip("lightgbm")

from sklearn.datasets import make_classification  # noqa: E402
from sklearn.ensemble import (ExtraTreesClassifier, GradientBoostingClassifier,  # noqa: E402
                              HistGradientBoostingClassifier, RandomForestClassifier)
from sklearn.multiclass import OneVsRestClassifier  # noqa: E402
from sklearn.naive_bayes import GaussianNB  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402
from sklearn.tree import DecisionTreeClassifier  # noqa: E402
from test_contrib import _cls_last  # noqa: E402  (Python's class-second layout -> class last)

MAKE = {
    "hgb": lambda: HistGradientBoostingClassifier(max_iter=25, max_leaf_nodes=15),
    "gb": lambda: GradientBoostingClassifier(n_estimators=25, max_depth=3),
    "rf": lambda: RandomForestClassifier(n_estimators=12, max_depth=6, random_state=0),
    "et": lambda: ExtraTreesClassifier(n_estimators=12, max_depth=6, random_state=0),
    "dt": lambda: DecisionTreeClassifier(max_depth=6, random_state=0),
    "xgb": lambda: xgb.XGBClassifier(n_estimators=25, max_depth=4),
    "lgbm": lambda: lgb.LGBMClassifier(n_estimators=25, num_leaves=15, verbose=-1),
}
# the format head each kind exports with (K >= 3)
HEAD = {"hgb": "ovr_logistic", "gb": "ovr_logistic", "lgbm": "ovr_logistic", "xgb": "ovr_proba", "rf": "ovr_proba",
        "et": "ovr_proba", "dt": "ovr_proba"}
RTOL = {"xgb": 1e-5}
ATOL = {"xgb": 1e-5}  # XGBoost's float32 margin sums drift ~1e-5 absolute over hundreds of trees


def _data(k, seed, nan=True):
    X, y = make_classification(n_samples=500, n_features=6, n_informative=4, n_redundant=1, n_classes=k,
                               n_clusters_per_class=1, random_state=seed)
    rng = np.random.default_rng(seed)
    if nan:
        X[rng.random(X.shape) < 0.06] = np.nan
    return X, y, rng


def _fit(kind, X, y):
    ovr = OneVsRestClassifier(MAKE[kind]())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return ovr.fit(X, y), X
        except ValueError:  # a scikit-learn tree that does not take NaN
            X = np.nan_to_num(X)
            return ovr.fit(X, y), X


def _rows(X, rng):
    """Training rows, rows nearby, far-out rows (saturated probabilities, ties) and NaN rows."""
    near = X + rng.normal(scale=0.3, size=X.shape)
    far = X[:100] * 25.0
    rows = np.vstack([X, near, far])
    if np.isnan(X).any():
        rows[rng.random(rows.shape) < 0.03] = np.nan
    return rows


def _compare(m, ovr, X, kind):
    rtol = RTOL.get(kind, 1e-12)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for dt in (np.float64, np.float32):
            x = X.astype(dt)
            np.testing.assert_array_equal(m.predict(x), ovr.predict(x))
            np.testing.assert_allclose(m.predict_proba(x), ovr.predict_proba(x), rtol=rtol, atol=ATOL.get(kind, 0))
            if hasattr(ovr, "decision_function"):
                np.testing.assert_allclose(m.decision_function(x), ovr.decision_function(x), rtol=rtol, atol=0)
            else:
                with pytest.raises(AttributeError):
                    m.decision_function(x)


def _minor(path):
    with open(path, "rb") as f:
        return struct.unpack_from("<H", f.read(12), 10)[0]


@pytest.mark.parametrize("k", [2, 3, 5])
@pytest.mark.parametrize("kind", list(MAKE))
def test_ovr_trees(mlinfer, kind, k, tmp_path):
    """predict, predict_proba and decision_function (where scikit-learn's OvR has it) after a
    round trip through an .mli file, float32 and float64 rows, NaN where the estimator takes it."""
    X, y, rng = _data(k, seed=k * 7 + len(kind))
    ovr, X = _fit(kind, X, y)
    path = tmp_path / "m.mli"
    mlinfer.export(ovr, path)
    m = mlinfer.load(path)
    rows = _rows(X, rng)
    _compare(m, ovr, rows, kind)
    m.save(tmp_path / "copy.mli")  # Model.save keeps the file as it is, header minor included
    again = mlinfer.load(tmp_path / "copy.mli")
    np.testing.assert_array_equal(again.predict_proba(rows), m.predict_proba(rows))
    assert _minor(tmp_path / "copy.mli") == _minor(path)
    if k > 2:
        assert _minor(path) == (5 if HEAD[kind] == "ovr_proba" else 1)


def test_ovr_string_labels(mlinfer, tmp_path):
    X, y, rng = _data(4, seed=3)
    labels = np.array(["cat", "dog", "emu", "fox"])[y]
    for kind in ("hgb", "rf", "xgb"):
        ovr, Xf = _fit(kind, X, labels)
        mlinfer.export(ovr, tmp_path / "m.mli")
        _compare(mlinfer.load(tmp_path / "m.mli"), ovr, _rows(Xf, rng), kind)


def test_ovr_tree_ties_and_empty_rows(mlinfer, tmp_path):
    """Single trees with pure leaves: many rows where two estimators both say 1 (OvR takes the
    first) and rows where all say 0 (scikit-learn leaves the all-zero row as it is, and predicts
    the first class). The test data must contain both, or the test proves nothing."""
    X, y, rng = _data(4, seed=5, nan=False)
    ovr = OneVsRestClassifier(DecisionTreeClassifier(random_state=0)).fit(X, y)
    rows = _rows(X, rng)
    q = np.column_stack([e.predict_proba(rows)[:, 1] for e in ovr.estimators_])
    top = q.max(axis=1)
    assert np.sum(((q == top[:, None]).sum(axis=1) > 1) & (top > 0)) > 0
    assert np.sum(top == 0) > 0
    mlinfer.export(ovr, tmp_path / "m.mli")
    m = mlinfer.load(tmp_path / "m.mli")
    _compare(m, ovr, rows, "dt")
    p = m.predict_proba(rows)
    assert np.all(p[top == 0] == 0.0)


def test_ovr_xgboost_saturated_ties(mlinfer, tmp_path):
    """XGBoost's float32 probabilities round to 1 above a margin of about 16.6: where two
    estimators both do, OvR predicts the first of them, as the model does (ovr_link=sigmoid_f32),
    although their margins differ."""
    # class 0 where x0 > 1, class 1 where x1 > 1 (never both in training), class 2 elsewhere;
    # increasing in x0 and x1, estimators 0 and 1 both saturate where x0 > 1 and x1 > 1
    rng = np.random.default_rng(9)
    X = rng.uniform(-3, 3, size=(3000, 3))
    X = X[~((X[:, 0] > 1) & (X[:, 1] > 1))]
    y = np.where(X[:, 0] > 1, 0, np.where(X[:, 1] > 1, 1, 2))
    ovr = OneVsRestClassifier(xgb.XGBClassifier(n_estimators=300, learning_rate=1.0, max_depth=2, reg_lambda=0.0,
                                                min_child_weight=0.0, monotone_constraints=(1, 1, 0))).fit(X, y)
    rows = rng.uniform(-3, 3, size=(3000, 3))
    q = np.column_stack([e.predict_proba(rows)[:, 1] for e in ovr.estimators_])
    margins = np.column_stack([e.predict(rows, output_margin=True) for e in ovr.estimators_])
    tied = (q == 1.0).sum(axis=1) > 1
    assert np.any(tied & (np.argmax(q, axis=1) != np.argmax(margins, axis=1)))  # argmax of margins would differ
    mlinfer.export(ovr, tmp_path / "m.mli")
    _compare(mlinfer.load(tmp_path / "m.mli"), ovr, rows, "xgb")


@pytest.mark.parametrize("kind", ["hgb", "rf", "lgbm", "xgb"])
def test_ovr_trees_in_pipeline(mlinfer, kind, tmp_path):
    X, y, rng = _data(3, seed=13)
    pipe = make_pipeline(StandardScaler(), OneVsRestClassifier(MAKE[kind]()))
    if kind == "rf":
        X = np.nan_to_num(X)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pipe.fit(X, y)
    mlinfer.export(pipe, tmp_path / "m.mli")
    _compare(mlinfer.load(tmp_path / "m.mli"), pipe, _rows(X, rng), kind)


@pytest.mark.parametrize("kind", ["hgb", "dt", "lgbm", "xgb"])
def test_ovr_trees_after_column_transformer(mlinfer, kind, tmp_path):
    pd = pytest.importorskip("pandas")
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.preprocessing import OneHotEncoder

    rng = np.random.default_rng(17)
    n = 800
    df = pd.DataFrame({"a": rng.normal(size=n), "b": rng.gamma(2.0, 3.0, n),
                       "s": rng.choice(["x", "y", "z", "w"], n).astype(object)})
    df.loc[rng.random(n) < 0.1, "a"] = np.nan
    df.loc[rng.random(n) < 0.05, "s"] = None
    signal = df["a"].fillna(0.3) + 0.2 * df["b"] + (df["s"] == "x")
    y = np.digitize(signal, [0.5, 1.5, 2.5])
    pre = ColumnTransformer([("num", SimpleImputer(strategy="median"), ["a", "b"]),
                             ("cat", make_pipeline(SimpleImputer(strategy="constant", fill_value="missing"),
                                                   OneHotEncoder(handle_unknown="ignore")), ["s"])])
    pipe = make_pipeline(pre, OneVsRestClassifier(MAKE[kind]())).fit(df, y)
    mlinfer.export(pipe, tmp_path / "m.mli")
    m = mlinfer.load(tmp_path / "m.mli")
    test = df.sample(frac=1.0, random_state=1).reset_index(drop=True)
    test.loc[:20, "s"] = "never-seen"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        np.testing.assert_array_equal(m.predict(test), pipe.predict(test))
        np.testing.assert_allclose(m.predict_proba(test), pipe.predict_proba(test), rtol=RTOL.get(kind, 1e-12),
                                   atol=1e-6)


@pytest.mark.parametrize("kind", ["hgb", "gb", "lgbm", "xgb", "rf", "dt"])
def test_ovr_trees_contributions(mlinfer, kind, tmp_path):
    """SHAP contributions per class: each class's contributions and bias sum to predict_raw, and
    equal the contributions of its binary estimator exported alone (the same trees)."""
    pytest.importorskip("shap")
    X, y, rng = _data(3, seed=21)
    ovr, X = _fit(kind, X, y)
    mlinfer.export(ovr, tmp_path / "m.mli")
    m = mlinfer.load(tmp_path / "m.mli")
    rows = _rows(X, rng)[:300]
    c = _cls_last(m.predict_contrib(rows))
    raw = m.predict_raw(rows)
    assert c.shape == (len(rows), X.shape[1] + 1, 3)
    np.testing.assert_allclose(c.sum(axis=1), raw, rtol=1e-9, atol=1e-9)
    for j, e in enumerate(ovr.estimators_):
        mlinfer.export(e, tmp_path / f"e{j}.mli")
        alone = _cls_last(mlinfer.load(tmp_path / f"e{j}.mli").predict_contrib(rows))
        if alone.ndim == 3:  # a forest alone: contributions to both class fractions; OvR keeps class 1
            alone = alone[:, :, 1]
            if kind == "rf":  # the forest alone averages its trees; under OvR the head divides the sum
                alone = alone * len(e.estimators_)
        np.testing.assert_allclose(c[:, :, j], alone, rtol=1e-9, atol=1e-9)


def _refused(mlinfer, est, X, y, match, tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est.fit(X, y)
    with pytest.raises(mlinfer.UnsupportedModelError, match=match):
        mlinfer.export(est, tmp_path / "m.mli")


def test_ovr_refusals(mlinfer, tmp_path):
    X, y, rng = _data(3, seed=23, nan=False)
    _refused(mlinfer, OneVsRestClassifier(GaussianNB()), X, y, "GaussianNB.*HistGradientBoostingClassifier", tmp_path)
    _refused(mlinfer, OneVsRestClassifier(xgb.XGBClassifier(n_estimators=3, objective="binary:hinge")), X, y,
             "binary_sign", tmp_path)
    _refused(mlinfer, OneVsRestClassifier(lgb.LGBMClassifier(n_estimators=3, sigmoid=2.0, verbose=-1)), X, y,
             "sigmoid=2.0", tmp_path)
    _refused(mlinfer, OneVsRestClassifier(GradientBoostingClassifier(n_estimators=3, loss="exponential")), X, y,
             "exponential", tmp_path)
    _refused(mlinfer, OneVsRestClassifier(lgb.LGBMClassifier(boosting_type="rf", bagging_freq=1, bagging_fraction=0.8,
                                                             n_estimators=3, verbose=-1)), X, y, "averages", tmp_path)
    Y = np.column_stack([y == 0, y == 1]).astype(int)
    _refused(mlinfer, OneVsRestClassifier(RandomForestClassifier(3)), X, Y, "multi-label", tmp_path)
    # estimators of different kinds (OvR clones one, but its estimators_ can be replaced)
    ovr = OneVsRestClassifier(DecisionTreeClassifier(max_depth=3)).fit(X, y)
    ovr.estimators_[1] = RandomForestClassifier(3).fit(X, y == 1)
    with pytest.raises(mlinfer.UnsupportedModelError, match="different kinds"):
        mlinfer.export(ovr, tmp_path / "m.mli")


def test_ovr_hgb_string_categories_refused(mlinfer, tmp_path):
    pd = pytest.importorskip("pandas")
    rng = np.random.default_rng(29)
    df = pd.DataFrame({"a": rng.normal(size=300), "s": pd.Categorical(rng.choice(["u", "v", "w"], 300))})
    y = np.digitize(df["a"] + (df["s"] == "u"), [0.0, 1.0])
    ovr = OneVsRestClassifier(HistGradientBoostingClassifier(max_iter=5, categorical_features="from_dtype"))
    ovr.fit(df, y)
    with pytest.raises(mlinfer.UnsupportedModelError, match="string categories"):
        mlinfer.export(ovr, tmp_path / "m.mli")


def test_ovr_proba_head_checked(mlinfer, tmp_path):
    """The reader checks the `ovr_proba` head's keys: an unknown link is unsupported, a tree
    count that is not a whole number >= 1 (or none) corrupt; the header says format 1.5."""
    from mlinfer._format import build, parse
    from mlinfer.export import to_bytes

    X, y, rng = _data(3, seed=31, nan=False)
    ovr = OneVsRestClassifier(RandomForestClassifier(n_estimators=4, max_depth=3, random_state=0)).fit(X, y)
    meta, arrays = parse(to_bytes(ovr))
    assert meta["head"] == "ovr_proba" and meta["ovr_link"] == "proba" and meta["ovr_trees"] == "4"
    mlinfer.load(build(meta, arrays))
    with pytest.raises(mlinfer.UnsupportedError, match="ovr_link 'softmax'"):
        mlinfer.load(build({**meta, "ovr_link": "softmax"}, arrays))
    for bad in ("0", "2.5", "-1"):
        with pytest.raises(mlinfer.CorruptModelError, match="ovr_trees"):
            mlinfer.load(build({**meta, "ovr_trees": bad}, arrays))
    with pytest.raises(mlinfer.Error, match="ovr_trees"):
        mlinfer.load(build({k: v for k, v in meta.items() if k != "ovr_trees"}, arrays))


def test_ovr_hgb_number_categories(mlinfer, tmp_path):
    """HistGradientBoosting with categorical features given as numbers: each estimator's
    category bitsets are merged into one stage (offsets moved); unknown, negative and fractional
    categories follow each estimator's rules."""
    rng = np.random.default_rng(37)
    n = 800
    X = np.column_stack([rng.integers(0, 40, n).astype(float), rng.normal(size=n), rng.integers(0, 5, n).astype(float)])
    X[rng.random(n) < 0.05, 0] = np.nan
    y = np.digitize((X[:, 0] % 7) / 3 + X[:, 1] + (X[:, 2] == 2), [0.5, 1.5, 2.5])
    ovr = OneVsRestClassifier(HistGradientBoostingClassifier(max_iter=15, categorical_features=[0, 2])).fit(X, y)
    mlinfer.export(ovr, tmp_path / "m.mli")
    rows = np.vstack([X, np.column_stack([rng.integers(-2, 60, n).astype(float), rng.normal(size=n),
                                          rng.integers(0, 7, n) + 0.5 * (rng.random(n) < 0.1)])])
    _compare(mlinfer.load(tmp_path / "m.mli"), ovr, rows, "hgb")
