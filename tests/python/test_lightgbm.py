"""LightGBM text models read by libmlinfer, checked against LightGBM itself.

For every model: the raw scores (`predict(raw_score=True)`) to 1e-5 relative, the leaf
reached in every tree (`pred_leaf=True`, which must agree exactly), and the predictions
(probabilities, classes, transformed regression outputs). Rows are placed exactly on
every numerical threshold and one representable step either side, for float64 input
(the next double) and float32 input (the next float32). Broken files come from
tests/data/corrupt_trees/make_lightgbm_corrupt.py and must fail with a message naming
the problem.

Both sides sum the leaves in float64 in the same order, so the measured differences are
0; the 1e-5 bound is the exactness contract's (DESIGN.md), the absolute floor 1e-9 keeps
raw scores that cancel to ~0 comparable.
"""
from __future__ import annotations

import locale
import re
import struct
import sys
import time
from pathlib import Path

import numpy as np
import pytest

lgb = pytest.importorskip("lightgbm")

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "data" / "corrupt_trees"))
import make_lightgbm_corrupt as corrupt  # noqa: E402

RTOL, ATOL = 1e-5, 1e-9


# ---- data and models --------------------------------------------------------------------

def _data(n=600, d=6, seed=0, nan=0.08, zeros=0.0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    X[:, 1] = np.round(X[:, 1] * 4) / 4  # many ties: thresholds sit between repeated values
    if zeros:
        X[rng.random((n, d)) < zeros] = 0.0
    signal = X[:, 0] + 0.7 * np.sin(2 * X[:, 1]) + 0.5 * X[:, 2] * X[:, 3]
    if nan:
        X[rng.random((n, d)) < nan] = np.nan
    return X, signal


def _train(params, X, y, rounds=8, categorical="auto", **dataset):
    p = {"verbose": -1, "num_leaves": 8, "min_data_in_leaf": 5, "num_threads": 1, "seed": 0,
         "deterministic": True, "learning_rate": 0.3}
    p.update(params)
    return lgb.train(p, lgb.Dataset(X, y, categorical_feature=categorical, **dataset), num_boost_round=rounds)


def _save_load(mlinfer, booster, tmp_path, name="model.txt"):
    """Saves the model and loads it twice: by libmlinfer and by LightGBM from the same file."""
    path = tmp_path / name
    booster.save_model(str(path))
    return mlinfer.load(str(path)), lgb.Booster(model_file=str(path))


def _raw(m, X):
    return np.asarray(m.predict_raw(X)).reshape(len(X), -1)


def _compare(m, ref, X, raw_scale=1.0):
    """Raw scores, leaves and predictions of libmlinfer model `m` against Booster `ref`."""
    want_raw = ref.predict(X, raw_score=True).reshape(len(X), -1) * raw_scale
    np.testing.assert_allclose(_raw(m, X), want_raw, rtol=RTOL, atol=ATOL)
    np.testing.assert_array_equal(m.apply(X), ref.predict(X, pred_leaf=True).reshape(len(X), -1))
    pred = ref.predict(X)
    if not m.is_classifier:
        np.testing.assert_allclose(m.predict(X), pred, rtol=RTOL, atol=ATOL)
        return
    proba = np.column_stack([1 - pred, pred]) if pred.ndim == 1 else pred
    np.testing.assert_allclose(m.predict_proba(X), proba, rtol=RTOL, atol=ATOL)
    np.testing.assert_array_equal(m.predict(X), np.argmax(proba, axis=1))


def _both_dtypes(m, ref, X, **kw):
    _compare(m, ref, X, **kw)
    with np.errstate(over="ignore"):  # values beyond the float32 range become +-inf, as intended
        X32 = X.astype(np.float32)
    _compare(m, ref, X32, **kw)


# ---- objectives -------------------------------------------------------------------------

def _labels(kind, signal, rng):
    if kind == "binary":
        return (signal + rng.normal(scale=0.5, size=signal.shape) > 0).astype(int)
    if kind == "multi":
        return np.digitize(signal + rng.normal(scale=0.3, size=signal.shape), [-0.5, 0.5])
    if kind == "positive":
        return np.exp(0.5 * signal) + 0.1
    if kind == "unit":
        return 1 / (1 + np.exp(-2 * signal))
    if kind == "rank":
        return np.clip(np.round(signal + 1.5), 0, 3).astype(int)
    return signal + 10.0  # an offset: boost_from_average folds it into the first tree


OBJECTIVES = [
    ("regression", {}, "real", "identity"),
    ("regression_l1", {}, "real", "identity"),
    ("huber", {}, "real", "identity"),
    ("fair", {}, "real", "identity"),
    ("quantile", {"alpha": 0.7}, "real", "identity"),
    ("mape", {}, "positive", "identity"),
    ("poisson", {}, "positive", "exp"),
    ("gamma", {}, "positive", "exp"),
    ("tweedie", {"tweedie_variance_power": 1.3}, "positive", "exp"),
    ("cross_entropy", {}, "unit", "logistic"),
    ("cross_entropy_lambda", {}, "unit", "softplus"),
    ("regression", {"reg_sqrt": True}, "real", "signed_square"),
    ("quantile", {"reg_sqrt": True, "alpha": 0.3}, "real", "signed_square"),
    ("huber", {"reg_sqrt": True}, "real", "identity"),  # LightGBM's huber ignores reg_sqrt
    ("binary", {}, "binary", "binary_logistic"),
    ("multiclass", {"num_class": 3}, "multi", "multinomial"),
    ("multiclassova", {"num_class": 3}, "multi", "ovr_sigmoid"),
    ("lambdarank", {}, "rank", "identity"),
    ("rank_xendcg", {}, "rank", "identity"),
    ("regression", {"boosting": "dart", "drop_rate": 0.3}, "real", "identity"),
    ("binary", {"boosting": "goss"}, "binary", "binary_logistic"),
]


@pytest.mark.parametrize("objective,extra,labels,head", OBJECTIVES,
                         ids=[f"{o}-{e.get('boosting', 'gbdt')}" for o, e, _, _ in OBJECTIVES])
def test_objective(mlinfer, tmp_path, objective, extra, labels, head):
    X, signal = _data()
    y = _labels(labels, signal, np.random.default_rng(1))
    dataset = {"group": [50] * 12} if labels == "rank" else {}
    booster = _train({"objective": objective, **extra}, X, y, **dataset)
    m, ref = _save_load(mlinfer, booster, tmp_path)
    assert m.meta("head") == head
    assert m.meta("source").startswith(f"lightgbm v4 {objective}")
    Xt, _ = _data(n=300, seed=5)
    _both_dtypes(m, ref, Xt)
    if head in ("softplus", "signed_square"):  # format 1.6 heads: the header names 1.6
        path = tmp_path / "m.mli"
        m.save(str(path))
        assert path.read_bytes()[8:12] == bytes([1, 0, 6, 0])
        assert np.array_equal(mlinfer.load(str(path)).predict(Xt), m.predict(Xt))


def test_custom_objective_predicts_raw_scores(mlinfer, tmp_path):
    X, signal = _data()

    def l2(preds, data):
        return preds - data.get_label(), np.ones_like(preds)

    booster = _train({"objective": l2}, X, signal)
    m, ref = _save_load(mlinfer, booster, tmp_path)
    assert m.meta("head") == "identity" and not m.is_classifier
    _both_dtypes(m, ref, _data(n=200, seed=3)[0])


def test_binary_sigmoid_is_folded_into_the_scores(mlinfer, tmp_path):
    X, signal = _data()
    y = _labels("binary", signal, np.random.default_rng(2))
    m, ref = _save_load(mlinfer, _train({"objective": "binary", "sigmoid": 2.5}, X, y), tmp_path)
    # probabilities are LightGBM's 1 / (1 + exp(-2.5 s)); our raw scores are 2.5 s
    _both_dtypes(m, ref, _data(n=300, seed=4)[0], raw_scale=2.5)


def test_multiclassova_sigmoid(mlinfer, tmp_path):
    X, signal = _data()
    y = _labels("multi", signal, np.random.default_rng(2))
    booster = _train({"objective": "multiclassova", "num_class": 3, "sigmoid": 0.5}, X, y)
    m, ref = _save_load(mlinfer, booster, tmp_path)
    _both_dtypes(m, ref, _data(n=300, seed=4)[0], raw_scale=0.5)


def test_multiclassova_probabilities_are_not_normalised(mlinfer, tmp_path):
    """LightGBM's multiclassova gives K independent sigmoids (their sum is not 1), and so
    does the `ovr_sigmoid` head; saved as .mli the file is format 1.2, the head's minor."""
    X, signal = _data()
    y = _labels("multi", signal, np.random.default_rng(7))
    m, ref = _save_load(mlinfer, _train({"objective": "multiclassova", "num_class": 3}, X, y), tmp_path)
    Xt = _data(n=300, seed=8)[0]
    proba = m.predict_proba(Xt)
    np.testing.assert_allclose(proba, ref.predict(Xt), rtol=RTOL, atol=ATOL)
    assert np.abs(proba.sum(axis=1) - 1).max() > 0.05
    m.save(tmp_path / "ova.mli")
    data = (tmp_path / "ova.mli").read_bytes()
    assert data[8:12] == bytes([1, 0, 2, 0])
    np.testing.assert_array_equal(mlinfer.load(tmp_path / "ova.mli").predict_proba(Xt), proba)
    m, _ = _save_load(mlinfer, _train({"objective": "multiclass", "num_class": 3}, X, y), tmp_path, "soft.txt")
    m.save(tmp_path / "soft.mli")
    assert (tmp_path / "soft.mli").read_bytes()[8:12] == bytes([1, 0, 1, 0])  # trees: 1.1


@pytest.mark.parametrize("objective,labels", [("regression", "real"), ("binary", "binary"), ("multiclass", "multi")])
def test_random_forest_averages(mlinfer, tmp_path, objective, labels):
    X, signal = _data()
    y = _labels(labels, signal, np.random.default_rng(3))
    params = {"objective": objective, "boosting": "rf", "bagging_fraction": 0.6, "bagging_freq": 1}
    if labels == "multi":
        params["num_class"] = 3
    m, ref = _save_load(mlinfer, _train(params, X, y, rounds=6), tmp_path)
    # LightGBM's raw_score is the sum over iterations; its predictions (and our raw scores) use the mean
    _both_dtypes(m, ref, _data(n=300, seed=6)[0], raw_scale=1 / 6)


def test_classifier_metadata(mlinfer, tmp_path):
    X, signal = _data(d=4)
    y = _labels("multi", signal, np.random.default_rng(0))
    booster = _train({"objective": "multiclass", "num_class": 3}, X, y,
                     feature_name=["age", "height", "weight", "score"])
    m, _ = _save_load(mlinfer, booster, tmp_path)
    assert m.is_classifier and list(m.classes_) == [0, 1, 2]
    assert m.n_features_in_ == 4 and list(m.feature_names_in_) == ["age", "height", "weight", "score"]
    assert m.n_trees_ == booster.num_trees() == 24
    assert m.meta("stage.0.compare") == "le_f64"


def test_model_to_string_bytes(mlinfer):
    X, signal = _data()
    booster = _train({"objective": "regression"}, X, signal)
    m = mlinfer.load(booster.model_to_string().encode())
    _compare(m, booster, _data(n=100, seed=9)[0])


def test_crlf_line_ends(mlinfer):
    """A model file that went through a Windows checkout (LightGBM itself aborts on it)."""
    X, signal = _data()
    booster = _train({"objective": "binary"}, X, (signal > 0).astype(int))
    m = mlinfer.load(booster.model_to_string().replace("\n", "\r\n").encode())
    _compare(m, booster, _data(n=100, seed=9)[0])


# ---- missing values ---------------------------------------------------------------------

def _decision_types(text):
    return {int(v) for line in re.findall(r"^decision_type=(.*)$", text, flags=re.M) for v in line.split()}


@pytest.mark.parametrize("params,missing_type", [
    ({}, 2),                          # NaN: missing values take the learned direction
    ({"zero_as_missing": True}, 1),   # Zero: 0 (and NaN, as 0) take it
    ({"use_missing": False}, 0),      # None: NaN is treated as 0
])
def test_missing_types(mlinfer, tmp_path, params, missing_type):
    X, signal = _data(nan=0.1 if missing_type != 0 else 0.0, zeros=0.15)
    booster = _train({"objective": "regression", **params}, X, signal, rounds=10)
    m, ref = _save_load(mlinfer, booster, tmp_path)
    assert missing_type in {(d >> 2) & 3 for d in _decision_types(booster.model_to_string())}
    Xt, _ = _data(n=400, seed=11, nan=0.15, zeros=0.15)
    Xt[:5, :] = np.nan
    Xt[5:10, :] = 0.0
    Xt[10:15, :] = -0.0
    _both_dtypes(m, ref, Xt)


def _without_tree_sizes(text):
    return re.sub(r"^tree_sizes=.*\n", "", text, flags=re.M)  # LightGBM then parses tree by tree


def _set_all(text, key, fn):
    return re.sub(rf"^{key}=(.*)$", lambda mt: f"{key}=" + " ".join(fn(v) for v in mt.group(1).split()),
                  text, flags=re.M)


@pytest.mark.parametrize("decision_type", [0, 2, 4, 6, 8, 10])
def test_every_numerical_decision_type(mlinfer, decision_type):
    """Each missing type with and without default-left, on NaN, +-0, tiny and normal values."""
    X, signal = _data(nan=0.0)
    text = _without_tree_sizes(_train({"objective": "regression"}, X, signal).model_to_string())
    text = _set_all(text, "decision_type", lambda _v: str(decision_type))
    ref = lgb.Booster(model_str=text)
    m = mlinfer.load(text.encode())
    Xt, _ = _data(n=300, seed=12, nan=0.2, zeros=0.2)
    tiny = [1e-40, -1e-40, 1e-36, -1e-36, 1e-35, -1e-35, 2e-35, -2e-35]
    Xt[: len(tiny)] = np.repeat(tiny, 6).reshape(-1, 6)
    _both_dtypes(m, ref, Xt)


def test_values_within_1e35_of_zero_are_zero(mlinfer):
    """LightGBM's predictor zeroes |x| <= 1e-35f before the trees: thresholds near 0 are
    moved so that `<=` gives the same leaf."""
    X, signal = _data(nan=0.0)
    text = _without_tree_sizes(_train({"objective": "regression"}, X, signal).model_to_string())
    e = float(np.float32(1e-35))
    edges = [0.0, -0.0, 1e-40, -1e-40, 5e-36, -5e-36, e, -e, np.nextafter(e, 1), np.nextafter(-e, -1),
             np.nextafter(e, 0), np.nextafter(-e, 0), 2e-35, -2e-35]
    vals = np.array(edges + [np.nextafter(v, np.inf) for v in edges] + [np.nextafter(v, -np.inf) for v in edges])
    for thr in [-e, e, -5e-36, 5e-36, 0.0, -0.0, np.nextafter(-e, -1), np.nextafter(e, 1)]:
        t = _set_all(text, "threshold", lambda _v: repr(float(thr)))
        for dt in (0, 2, 8, 10):
            tt = _set_all(t, "decision_type", lambda _v: str(dt))
            ref = lgb.Booster(model_str=tt)
            m = mlinfer.load(tt.encode())
            Xt = np.tile(vals[:, None], (1, 6))
            np.testing.assert_array_equal(m.apply(Xt), ref.predict(Xt, pred_leaf=True), err_msg=f"{thr} {dt}")
            np.testing.assert_allclose(_raw(m, Xt)[:, 0], ref.predict(Xt, raw_score=True), rtol=RTOL, atol=ATOL)


# ---- thresholds -------------------------------------------------------------------------

def _numerical_splits(text):
    splits = set()
    for block in text.split("Tree=")[1:]:
        f = re.search(r"^split_feature=(.*)$", block, flags=re.M)
        if not f or not f.group(1).strip():
            continue
        thr = re.search(r"^threshold=(.*)$", block, flags=re.M).group(1).split()
        dts = re.search(r"^decision_type=(.*)$", block, flags=re.M).group(1).split()
        for feat, t, d in zip(f.group(1).split(), thr, dts):
            if not int(d) & 1:
                splits.add((int(feat), float(t)))
    return sorted(splits)


def _f32_below(t):
    f = np.float32(t)
    return np.nextafter(f, np.float32(-np.inf)) if float(f) > t else f


@pytest.mark.parametrize("train_dtype", [np.float64, np.float32])
def test_rows_on_every_threshold(mlinfer, tmp_path, train_dtype):
    X, signal = _data(n=800, nan=0.05)
    y = _labels("multi", signal, np.random.default_rng(4))
    booster = _train({"objective": "multiclass", "num_class": 3}, X.astype(train_dtype), y, rounds=6)
    m, ref = _save_load(mlinfer, booster, tmp_path)
    splits = _numerical_splits(booster.model_to_string())
    assert len(splits) > 30
    base = _data(n=3, seed=21, nan=0.0)[0]
    rows64, rows32 = [], []
    for feat, t in splits:
        f32 = _f32_below(t)
        for b in base:
            for v in (t, np.nextafter(t, np.inf), np.nextafter(t, -np.inf)):
                r = b.copy()
                r[feat] = v
                rows64.append(r)
            for v in (f32, np.nextafter(f32, np.float32(np.inf)), np.nextafter(f32, np.float32(-np.inf))):
                r = b.astype(np.float32)
                r[feat] = v
                rows32.append(r)
    _compare(m, ref, np.array(rows64))
    _compare(m, ref, np.array(rows32, dtype=np.float32))


def _f32_cell_values(t):
    """float64 values around threshold t that a float32 shortcut can misroute: the float32
    numbers below and above t, values strictly between them on either side of t (the
    midpoints), t itself and one float64 step either side."""
    lo = float(_f32_below(t))
    hi = float(np.nextafter(np.float32(lo), np.float32(np.inf)))
    vals = [lo, hi, t, np.nextafter(t, np.inf), np.nextafter(t, -np.inf), float(np.float32(t))]
    if lo < t:  # t is not a float32: the cell (lo, hi) holds values on both sides of it
        vals += [lo + (t - lo) / 2, t + (hi - t) / 2, np.nextafter(lo, np.inf), np.nextafter(hi, -np.inf)]
    return vals


@pytest.mark.parametrize("nan", [0.0, 0.05])
def test_float64_rows_inside_float32_cells(mlinfer, tmp_path, nan):
    """float64 rows on the thresholds and strictly between two adjacent float32 numbers
    around them, mixed with plain float64 rows in every block, so that the float32 walk
    with its exact float64 fix-up (trees/predict.c) and the rows it leaves alone both run.
    Raw scores must equal LightGBM's bit for bit (both add the same float64 leaves in tree
    order) and a float32 shortcut (either rounding) must be shown to misroute some rows."""
    X, signal = _data(n=2000, seed=3, nan=nan)
    y = _labels("binary", signal, np.random.default_rng(6))
    booster = _train({"objective": "binary", "num_leaves": 15}, X, y, rounds=25)
    m, ref = _save_load(mlinfer, booster, tmp_path)
    splits = _numerical_splits(booster.model_to_string())
    assert sum(float(np.float32(t)) != t for _, t in splits) > 20  # thresholds between float32 numbers
    rng = np.random.default_rng(8)
    plain = _data(n=4 * len(splits) * 10, seed=22, nan=nan)[0]
    rows = []
    for feat, t in splits:
        for v in _f32_cell_values(t):
            r = plain[rng.integers(len(plain))].copy()
            r[feat] = v
            rows.append(r)
    X64 = np.concatenate([np.array(rows), plain[: len(rows)]])
    X64 = X64[rng.permutation(len(X64))]
    want = ref.predict(X64, raw_score=True)
    np.testing.assert_array_equal(_raw(m, X64)[:, 0], want)
    for i in (0, 1, 63, 64, 65):  # one row alone: the small-batch walks
        np.testing.assert_array_equal(_raw(m, X64[i:i + 1])[:, 0], want[i:i + 1])
    _compare(m, ref, X64)
    leaves = ref.predict(X64, pred_leaf=True)
    near = X64.astype(np.float32).astype(np.float64)
    up = np.where(near < X64, np.nextafter(near.astype(np.float32), np.float32(np.inf)), near.astype(np.float32))
    for short in (near, up.astype(np.float64)):
        assert (ref.predict(short, pred_leaf=True) != leaves).any(axis=1).sum() > 10


def test_float32_cells_shared_by_several_thresholds(mlinfer, tmp_path):
    """A float32 cell holding two float64 thresholds of one feature, and a cell whose lower
    end is itself a (float32) threshold: the float32 walk turns a value at most the cell's
    lowest threshold into the float32 below (trees.h, amb_lo), which is exact only when no
    float32 threshold sits at the cell's lower end and no threshold of the cell lies above
    the value; every other value of the cell is walked again in float64. The model is
    LightGBM's own text with thresholds edited into those cases, so LightGBM (its predictor
    reading the same file) is the reference, bit for bit, on values all over the cells."""
    X, signal = _data(n=2000, seed=5, nan=0.0)
    booster = _train({"objective": "regression", "num_leaves": 7}, X, signal, rounds=12)
    text = booster.model_to_string()
    blocks = text.split("Tree=")
    f0 = None
    cells = []
    for b in range(1, len(blocks)):
        feats = re.search(r"^split_feature=(.*)$", blocks[b], flags=re.M)
        if not feats or not feats.group(1).strip():
            continue
        fs = [int(v) for v in feats.group(1).split()]
        m_thr = re.search(r"^threshold=(.*)$", blocks[b], flags=re.M)
        thr = m_thr.group(1).split()
        if f0 is not None and f0 in fs and cells:  # one edit per later tree: any row can reach it
            i = fs.index(f0)
            thr[i] = repr(cells.pop(0))
        for i, f in enumerate(fs):
            if f0 is None and float(np.float32(float(thr[i]))) != float(thr[i]):
                f0, t0 = f, float(thr[i])  # the first non-float32 threshold: the cell around it
                lo = float(_f32_below(t0))
                hi = float(np.nextafter(np.float32(lo), np.float32(np.inf)))
                # another threshold in its cell, then its lower end, each in a tree of its own
                cells = [t0 + (hi - t0) / 2, lo, t0 + (hi - t0) / 2, lo]
        blocks[b] = blocks[b].replace(m_thr.group(0), "threshold=" + " ".join(thr))
    assert f0 is not None and not cells, "the model needs splits on one feature in five trees"
    path = tmp_path / "edited.txt"
    # tree_sizes gives each tree's length in bytes, which the edits change: without it,
    # LightGBM reads the trees one after the other
    path.write_text(re.sub(r"^tree_sizes=.*\n", "", "Tree=".join(blocks), flags=re.M))
    ref = lgb.Booster(model_file=str(path))
    m = mlinfer.load(str(path))
    t1 = t0 + (hi - t0) / 2
    vals = [lo, np.nextafter(lo, np.inf), lo + (t0 - lo) / 2, np.nextafter(t0, -np.inf), t0, np.nextafter(t0, np.inf),
            t0 + (t1 - t0) / 2, t1, np.nextafter(t1, np.inf), t1 + (hi - t1) / 2, np.nextafter(hi, -np.inf), hi]
    rows = np.repeat(X[:40], len(vals), axis=0)
    rows[:, f0] = np.tile(vals, 40)
    want = ref.predict(rows, raw_score=True)
    np.testing.assert_array_equal(_raw(m, rows)[:, 0], want)
    np.testing.assert_array_equal(m.apply(rows), ref.predict(rows, pred_leaf=True))
    for i in range(len(vals)):  # one row alone: the small-batch walks
        np.testing.assert_array_equal(_raw(m, rows[i:i + 1])[:, 0], want[i:i + 1])


# ---- categorical splits -----------------------------------------------------------------

CAT_EDGES = [np.nan, -1.0, -0.5, -1e-300, 0.0, 0.3, 0.999, 1.0, 3.7, 31.0, 32.0, 33.5, 63.0, 64.0, 69.0, 70.0,
             1000.0, 2.0**31 - 1, 2.0**31, 1e300, np.inf, -np.inf, -2.0**31, 1e-40]


def _categorical_model(objective="binary", **extra):
    rng = np.random.default_rng(8)
    n = 3000
    X = rng.normal(size=(n, 4))
    X[:, 2] = rng.integers(0, 70, size=n)  # 70 categories: bitsets of 3 words
    X[:, 3] = rng.integers(0, 5, size=n)
    X[rng.random(n) < 0.05, 2] = np.nan
    good = np.isin(X[:, 2], [1, 3, 4, 9, 33, 40, 41, 50, 66, 69])
    signal = X[:, 0] + 2.0 * good - 1 + 0.5 * (X[:, 3] == 2)
    y = (signal > 0).astype(int) if objective == "binary" else signal
    params = {"objective": objective, "min_data_per_group": 5, "cat_smooth": 1, "max_cat_threshold": 64,
              "cat_l2": 1, "max_cat_to_onehot": 4, **extra}
    return _train(params, X, y, rounds=10, categorical=[2, 3]), X


@pytest.mark.parametrize("extra", [{}, {"use_missing": False}, {"zero_as_missing": True}])
def test_categorical(mlinfer, tmp_path, extra):
    booster, X = _categorical_model(**extra)
    text = booster.model_to_string()
    assert any(d & 1 for d in _decision_types(text))
    widths = [np.diff([int(v) for v in b.split()]) for b in re.findall(r"^cat_boundaries=(.*)$", text, flags=re.M)]
    assert max(w.max() for w in widths) >= 2  # a bitset of more than one 32-bit word
    m, ref = _save_load(mlinfer, booster, tmp_path)
    Xt = X[:500].copy()
    edges = np.array(CAT_EDGES)
    Xt[: len(edges), 2] = edges
    Xt[len(edges): 2 * len(edges), 3] = edges
    _both_dtypes(m, ref, Xt)
    one_hot = np.arange(-2, 72, 0.5)  # every category, halves and a few beyond
    Xc = np.repeat(Xt[:1], len(one_hot), axis=0)
    Xc[:, 2] = one_hot
    _both_dtypes(m, ref, Xc)


@pytest.mark.parametrize("decision_type", [1, 3, 5, 7, 9, 11])
def test_every_categorical_decision_type(mlinfer, decision_type):
    """LightGBM's CategoricalDecision ignores the missing type and default-left bits: NaN
    and negative values go right whatever they say."""
    booster, X = _categorical_model()
    text = _without_tree_sizes(booster.model_to_string())
    text = _set_all(text, "decision_type", lambda v: str(decision_type) if int(v) & 1 else v)
    ref = lgb.Booster(model_str=text)
    m = mlinfer.load(text.encode())
    Xt = np.repeat(X[:4], len(CAT_EDGES), axis=0)
    Xt[:, 2] = np.tile(CAT_EDGES, 4)
    _both_dtypes(m, ref, Xt)


# ---- sizes ------------------------------------------------------------------------------

def test_one_row_and_ten_thousand_rows(mlinfer, tmp_path):
    X, signal = _data(n=10_000, seed=13, nan=0.02)
    y = _labels("binary", signal, np.random.default_rng(5))
    m, ref = _save_load(mlinfer, _train({"objective": "binary", "num_leaves": 31}, X, y, rounds=20), tmp_path)
    _both_dtypes(m, ref, X)
    _both_dtypes(m, ref, X[:1])
    _both_dtypes(m, ref, X[7:8])


def test_single_leaf_trees(mlinfer, tmp_path):
    X, signal = _data()
    booster = _train({"objective": "regression", "min_data_in_leaf": 10_000}, X, signal + 3)
    text = booster.model_to_string()
    assert "num_leaves=1\n" in text
    m, ref = _save_load(mlinfer, booster, tmp_path)
    _both_dtypes(m, ref, X[:50])
    # a single leaf among ordinary trees, in a multiclass model
    y = _labels("multi", signal, np.random.default_rng(0))
    text = _without_tree_sizes(_train({"objective": "multiclass", "num_class": 3}, X, y, rounds=3).model_to_string())
    start, end = corrupt._tree_span(text, 4)
    text = text[:start] + "Tree=4\nnum_leaves=1\nnum_cat=0\nsplit_feature=\nsplit_gain=\nthreshold=\n" \
        "decision_type=\nleft_child=\nright_child=\nleaf_value=-0.25\nleaf_weight=\nleaf_count=600\n" \
        "internal_value=\ninternal_weight=\ninternal_count=\nis_linear=0\nshrinkage=1\n\n\n" + text[end:]
    ref = lgb.Booster(model_str=text)
    m = mlinfer.load(text.encode())
    _both_dtypes(m, ref, X[:50])


# ---- linear trees (linear_tree=true) ---------------------------------------------------

def _linear_model(objective, labels, extra=None, rounds=12):
    X, signal = _data(n=1500, nan=0.08)
    X[:, 4] = signal + np.random.default_rng(3).normal(scale=0.1, size=len(X))  # a linear feature to fit
    p = {"objective": objective, "linear_tree": True, "num_leaves": 6}
    p.update(extra or {})
    booster = _train(p, X, _labels(labels, signal, np.random.default_rng(1)), rounds=rounds)
    text = booster.model_to_string()
    assert "is_linear=1" in text and re.search(r"^num_features=.*[1-9]", text, flags=re.M)
    return booster, X


def _nan_in_a_linear_leaf(booster, X):
    """How many (row, tree) pairs reach a linear leaf one of whose features is NaN in the row:
    LightGBM then adds the leaf's plain leaf_value (docs/models/lightgbm.md)."""
    leaves = booster.predict(X, pred_leaf=True).reshape(len(X), -1)
    info = booster.dump_model()["tree_info"]
    count = 0
    for t, tree in enumerate(info):
        feats, stack = {}, [tree["tree_structure"]]
        while stack:
            n = stack.pop()
            if "leaf_index" in n:
                feats[n["leaf_index"]] = n.get("leaf_features", [])
            else:
                stack += [n["left_child"], n["right_child"]]
        count += sum(bool(np.isnan(X[r, feats.get(leaves[r, t], [])]).any()) for r in range(len(X)))
    return count


@pytest.mark.parametrize("objective,extra,labels", [
    ("regression", {}, "real"),
    ("binary", {}, "binary"),
    ("multiclass", {"num_class": 3}, "multi"),
    ("binary", {"sigmoid": 0.5}, "binary"),  # the sigmoid folded into constants and coefficients
])
def test_linear_trees(mlinfer, tmp_path, objective, extra, labels):
    """A linear leaf outputs leaf_const + sum coeff_j x[feature_j] in float64; with NaN in any
    of its features, its leaf_value. Measured: raw scores equal LightGBM's to the last bit."""
    booster, X = _linear_model(objective, labels, extra)
    assert _nan_in_a_linear_leaf(booster, X) > 50  # the NaN rule is exercised
    m, ref = _save_load(mlinfer, booster, tmp_path)
    _both_dtypes(m, ref, X, raw_scale=extra.get("sigmoid", 1.0))
    _both_dtypes(m, ref, X[:1], raw_scale=extra.get("sigmoid", 1.0))
    if not extra:
        np.testing.assert_array_equal(_raw(m, X), ref.predict(X, raw_score=True).reshape(len(X), -1))


def test_linear_trees_through_the_compact_walks(mlinfer, tmp_path):
    """The compact walks find linear trees' leaves (their leaf-index mode, 64 trees a chunk),
    the outputs are added row by row in file order: more trees than a chunk, 3 classes, wider
    trees, float64 and float32 rows in blocks of 1, 7, 9 and 2 000 rows (the one-row walks, the
    tile walks and a partial tile), NaN in 8 % of the values: raw scores equal LightGBM's bit
    for bit."""
    booster, X = _linear_model("multiclass", "multi", {"num_class": 3, "num_leaves": 20}, rounds=30)
    assert booster.num_trees() == 90
    m, ref = _save_load(mlinfer, booster, tmp_path)
    X = np.concatenate([X, X[:500] * 1.7])
    for Xd in (X, X.astype(np.float32)):
        want = ref.predict(Xd, raw_score=True).reshape(len(Xd), -1)
        for n in (1, 7, 9, len(Xd)):
            np.testing.assert_array_equal(_raw(m, Xd[:n]), want[:n])
        np.testing.assert_array_equal(m.apply(Xd), ref.predict(Xd, pred_leaf=True).reshape(len(Xd), -1))


def test_linear_trees_mixed_with_categorical_splits(mlinfer):
    """One linear tree (hand-made, after a categorical split) among plain trees."""
    text = corrupt.make_linear(corrupt.base_model())
    ref = lgb.Booster(model_str=text)
    rng = np.random.default_rng(2)
    X = rng.normal(size=(300, 4))
    X[:, 3] = rng.integers(0, 12, size=300)
    X[rng.random(X.shape) < 0.1] = np.nan
    _both_dtypes(mlinfer.load(text.encode()), ref, X)


def test_single_leaf_linear_tree(mlinfer):
    """A linear tree of one leaf (hand-made) among ordinary trees: every row reaches leaf 0,
    which outputs its linear model, or its value when a feature it reads is NaN."""
    X, signal = _data()
    text = _without_tree_sizes(_train({"objective": "regression"}, X, signal, rounds=3).model_to_string())
    start, end = corrupt._tree_span(text, 1)
    text = text[:start] + "Tree=1\nnum_leaves=1\nnum_cat=0\nsplit_feature=\nsplit_gain=\nthreshold=\n" \
        "decision_type=\nleft_child=\nright_child=\nleaf_value=-0.25\nleaf_weight=600\nleaf_count=600\n" \
        "internal_value=\ninternal_weight=\ninternal_count=\nis_linear=1\nleaf_const=0.125\nnum_features=2\n" \
        "leaf_features=0 5  \nleaf_coeff=0.5 -1.75  \nshrinkage=1\n\n\n" + text[end:]
    ref = lgb.Booster(model_str=text)
    m = mlinfer.load(text.encode())
    _both_dtypes(m, ref, X)
    nan_rows = np.isnan(X[:, 0]) | np.isnan(X[:, 5])
    assert nan_rows.any() and (~nan_rows).any()


def test_linear_tree_mli_round_trip(mlinfer, tmp_path):
    """The converted model is format 1.6, its linear-leaf sections flagged required: a reader
    that does not know them refuses the file instead of predicting the plain leaf values."""
    from mlinfer import _format

    booster, X = _linear_model("regression", "real")
    m = mlinfer.load(booster.model_to_string().encode())
    path = tmp_path / "m.mli"
    m.save(path)
    raw = path.read_bytes()
    assert raw[8:12] == bytes([1, 0, 6, 0])
    _both_dtypes(mlinfer.load(path), booster, X)
    _, count = struct.unpack_from("<II", raw, 12)
    flags = {}
    for i in range(count):
        name, _dt, fl = struct.unpack_from("<32sBB", raw, 64 + 64 * i)
        flags[name.rstrip(b"\0").decode()] = fl
    assert all(flags[f"stage.0.{s}"] & 2 for s in ("lin_start", "lin_const", "lin_feature", "lin_coeff"))
    # what a reader without linear leaves sees: required sections it does not know
    meta, arrays = _format.parse(raw)
    renamed = {k.replace(".lin_", ".future_"): v for k, v in arrays.items()}
    old = tmp_path / "old.mli"
    old.write_bytes(_format.build(meta, renamed, required=("meta", "stage.0.future_const")))
    with pytest.raises(mlinfer.UnsupportedError, match="stage.0.future_const' is marked required"):
        mlinfer.load(old)
    # the Python writer (exporters that start from a converted model) keeps them required
    again = tmp_path / "again.mli"
    again.write_bytes(_format.build(meta, arrays))
    assert again.read_bytes()[8:12] == bytes([1, 0, 6, 0])
    _both_dtypes(mlinfer.load(again), booster, X[:100])


def _mli_edit(tmp_path, raw, fn, name="bad.mli"):
    from mlinfer import _format

    meta, arrays = _format.parse(raw)
    arrays = {k: (v.copy() if isinstance(v, np.ndarray) else v) for k, v in arrays.items()}
    fn(meta, arrays)
    path = tmp_path / name
    path.write_bytes(_format.build(meta, arrays))
    return path


def _first_term_leaf(arrays):
    start = arrays["stage.0.lin_start"]
    return int(np.flatnonzero(np.diff(start) > 0)[0])


def _set(key, index, value):
    def fn(_meta, arrays):
        arrays[key][index] = value
    return fn


def _terms_on_inner_node(_meta, arrays):
    start = arrays["stage.0.lin_start"]
    g = _first_term_leaf(arrays)
    inner = int(np.flatnonzero(arrays["stage.0.feature"] >= 0)[0])
    assert inner < g
    start[inner + 1:g + 1] += 1  # node `inner` takes the first term of leaf g
    start[g + 1:] += 1
    arrays["stage.0.lin_feature"] = np.insert(arrays["stage.0.lin_feature"], 0, 0)
    arrays["stage.0.lin_coeff"] = np.insert(arrays["stage.0.lin_coeff"], 0, 1.0)


def _truncated_coeff(_meta, arrays):
    arrays["stage.0.lin_coeff"] = arrays["stage.0.lin_coeff"][:-1]


def _no_lin_const(_meta, arrays):
    del arrays["stage.0.lin_const"]


def _backwards_start(_meta, arrays):
    start = arrays["stage.0.lin_start"]
    g = _first_term_leaf(arrays)
    start[g + 1] = start[g] - 1


@pytest.mark.parametrize("edit,words", [
    (_set("stage.0.lin_feature", 0, 6), "linear term 0 reads feature 6 of 6"),
    (_set("stage.0.lin_feature", 0, -1), "linear term 0 reads feature -1 of 6"),
    (_set("stage.0.lin_coeff", 1, np.nan), "linear term 1 has a non-finite lin_coeff"),
    (_set("stage.0.lin_const", -1, np.inf), "non-finite lin_const"),
    (_truncated_coeff, "section 'stage.0.lin_coeff' holds"),
    (_no_lin_const, "section lin_start without lin_const"),
    (_backwards_start, "not forward within the"),
    (_terms_on_inner_node, "is not a leaf but has 1 linear terms"),
], ids=["feature_too_large", "feature_negative", "nan_coeff", "infinite_const", "truncated_coeff",
        "start_without_const", "start_backwards", "terms_on_inner_node"])
def test_linear_tree_mli_corrupt(mlinfer, tmp_path, edit, words):
    booster, _X = _linear_model("regression", "real", rounds=3)
    path = tmp_path / "m.mli"
    mlinfer.load(booster.model_to_string().encode()).save(path)
    bad = _mli_edit(tmp_path, path.read_bytes(), edit)
    with pytest.raises(mlinfer.CorruptModelError, match=re.escape(words)):
        mlinfer.load(bad)


def test_linear_tree_contributions_and_device_refused(mlinfer):
    """LightGBM's pred_contrib refuses linear trees; so does predict_contrib, rather than
    return TreeSHAP values of the plain leaf values, which would not sum to the prediction.
    The device walks sum plain leaf values: to_device refuses such a model."""
    booster, X = _linear_model("binary", "binary", rounds=3)
    with pytest.raises(lgb.basic.LightGBMError, match="linear trees"):
        booster.predict(X[:5], pred_contrib=True)
    m = mlinfer.load(booster.model_to_string().encode())
    with pytest.raises(mlinfer.UnsupportedError, match="linear leaves"):
        m.predict_contrib(X[:5])
    from mlinfer import cuda

    if cuda.built():
        with pytest.raises(mlinfer.UnsupportedError, match="linear leaves.*CPU only"):
            mlinfer.load(booster.model_to_string().encode(), device="cuda:0")


def test_linear_tree_sklearn_wrapper_export(mlinfer, tmp_path):
    X, signal = _data(n=800)
    est = lgb.LGBMRegressor(linear_tree=True, n_estimators=10, num_leaves=6, verbose=-1).fit(X, signal)
    path = tmp_path / "w.mli"
    mlinfer.export(est, str(path))
    assert path.read_bytes()[8:12] == bytes([1, 0, 6, 0])
    np.testing.assert_allclose(mlinfer.load(path).predict(X), est.predict(X), rtol=RTOL, atol=ATOL)


# ---- rejected models --------------------------------------------------------------------

@pytest.mark.parametrize("edit,words", [
    (lambda t: corrupt._edit_header(t, "objective", lambda _v: "telepathy"), "objective 'telepathy'"),
    (lambda t: corrupt._edit_header(t, "version", lambda _v: "v9"), "version 'v9'"),
], ids=["objective", "version"])
def test_unsupported_models(mlinfer, valid_text, edit, words):
    with pytest.raises(mlinfer.UnsupportedError, match=words):
        mlinfer.load(edit(valid_text).encode())


def test_reg_sqrt_only_after_regression_objectives(mlinfer):
    """LightGBM writes `sqrt` after the regression objectives only (reg_sqrt=true); after a
    classifier's objective (a hand-edited file) it is refused rather than squaring a
    probability's score."""
    X, signal = _data(nan=0.0)
    text = _train({"objective": "binary"}, X, _labels("binary", signal, np.random.default_rng(0))).model_to_string()
    assert "objective=binary sigmoid:1\n" in text
    with pytest.raises(mlinfer.UnsupportedError, match="reg_sqrt"):
        mlinfer.load(text.replace("objective=binary sigmoid:1\n", "objective=binary sigmoid:1 sqrt\n").encode())


@pytest.fixture(scope="module")
def valid_text():
    return corrupt.base_model()


@pytest.mark.parametrize("case", corrupt.CASES, ids=[c.__name__ for c in corrupt.CASES])
def test_corrupt_models_fail_with_a_message(mlinfer, tmp_path, valid_text, case):
    mlinfer.load(valid_text.encode())  # the base is fine
    broken, words = case(valid_text)
    path = tmp_path / f"{case.__name__}.txt"
    path.write_bytes(broken.encode())
    with pytest.raises(mlinfer.Error) as info:
        mlinfer.load(str(path))
    assert words in str(info.value)
    assert str(path) in str(info.value)


def test_comma_decimal_locale(mlinfer, tmp_path):
    """Numbers are read the same whatever LC_NUMERIC the host program has set."""
    old = locale.setlocale(locale.LC_NUMERIC)  # the query; a set returns the new name
    for name in ("de_DE.UTF-8", "de_DE.utf8", "fr_FR.UTF-8", "fr_FR.utf8"):
        try:
            locale.setlocale(locale.LC_NUMERIC, name)
            break
        except locale.Error:
            continue
    else:
        pytest.skip("no locale with a comma decimal point is installed")
    try:
        X, signal = _data()
        booster = _train({"objective": "regression"}, X, signal)
        m = mlinfer.load(booster.model_to_string().encode())
    finally:
        locale.setlocale(locale.LC_NUMERIC, old)
    _compare(m, booster, X[:100])


def test_load_time_against_lightgbm(mlinfer, tmp_path):
    """Not a benchmark, a guard: a 100-tree model loads within 5x LightGBM's own load time."""
    X, signal = _data(n=3000, d=20, nan=0.0)
    path = tmp_path / "m.txt"
    _train({"objective": "regression", "num_leaves": 63}, X, signal, rounds=100).save_model(str(path))

    def best(fn):
        times = []
        for _ in range(5):
            t0 = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t0)
        return min(times)

    ours = best(lambda: mlinfer.load(str(path)))
    theirs = best(lambda: lgb.Booster(model_file=str(path)))
    assert ours < 5 * theirs + 0.01, (ours, theirs)
