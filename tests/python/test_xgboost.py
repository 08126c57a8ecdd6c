"""XGBoost models loaded by libmlinfer (src/import/xgboost.c) against XGBoost itself.

Each model is trained here with xgboost, saved as JSON and as UBJSON, loaded with
`mlinfer.load` and compared with `Booster.predict` on the same rows:

* raw scores (`mli_model_predict_raw`) against `output_margin=True`, and predictions /
  probabilities / classes against XGBoost's: rtol 1e-5 (XGBoost adds leaves in float32, we
  in float64; with <= 40 trees the float32 sums differ from exact by ~1e-6 at most) plus
  atol 1e-5 for margins near 0;
* leaves (`mli_model_apply`) against `pred_leaf=True`: exactly, including rows placed on every
  threshold and one float32 step either side, NaN, and categorical edge values.

Broken files come from tests/data/corrupt_trees/make_xgboost_corrupt.py (written into
tmp_path at test time): each must raise mlinfer.Error naming the problem, never crash.
"""
from __future__ import annotations

import importlib.util
import json
import os
import random
import subprocess
import sys
import time
import zlib
from pathlib import Path

import numpy as np
import pytest

xgb = pytest.importorskip("xgboost")

REPO = Path(__file__).resolve().parents[2]
RTOL, ATOL = 1e-5, 1e-5
FORMATS = ("json", "ubj")


def _load_corrupt_maker():
    path = REPO / "tests" / "data" / "corrupt_trees" / "make_xgboost_corrupt.py"
    spec = importlib.util.spec_from_file_location("make_xgboost_corrupt", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


# ---- raw scores and leaves ------------------------------------------------------------------

def raw_scores(mlinfer, model, X):
    """`predict_raw` as (n, n_raw): XGBoost's output_margin."""
    return np.asarray(model.predict_raw(X)).reshape(len(X), -1)


def leaves(mlinfer, model, X):
    """`apply`: XGBoost's pred_leaf node ids, (n, n_trees)."""
    return model.apply(X)


# ---- data and models ---------------------------------------------------------------------

def _data(n=600, d=6, seed=0, nan=0.08):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    X[rng.random(X.shape) < nan] = np.nan
    return X, rng


def _targets(kind, X, rng):
    z = np.nan_to_num(X)
    n = len(X)
    if kind == "reg":
        return z[:, 0] + np.sin(2 * z[:, 1]) + 0.1 * rng.standard_normal(n)
    if kind == "pos":
        return np.exp(0.5 * z[:, 0]) + 0.2
    if kind == "count":
        return rng.poisson(np.exp(0.5 * z[:, 0])).astype(float)
    if kind == "prob":
        return 1 / (1 + np.exp(-2 * z[:, 0]))
    if kind in ("bin", "rankbin"):
        return (z[:, 0] + z[:, 2] > 0).astype(float)
    if kind == "rank":
        return np.clip(np.round(z[:, 0] + 1.5), 0, 3)
    if kind == "multi":
        return np.digitize(z[:, 0] + 0.5 * z[:, 3], [-0.7, 0, 0.7]).astype(float)
    if kind == "aft":
        return np.exp(0.5 * z[:, 0]) + 0.2
    raise ValueError(kind)


# objective -> (target kind, extra params)
OBJECTIVES = {
    "reg:squarederror": ("reg", {}),
    "reg:squaredlogerror": ("pos", {}),
    "reg:pseudohubererror": ("reg", {}),
    "reg:absoluteerror": ("reg", {}),
    "reg:quantileerror": ("reg", {"quantile_alpha": 0.3}),
    "reg:logistic": ("prob", {}),
    "count:poisson": ("count", {}),
    "reg:gamma": ("pos", {}),
    "reg:tweedie": ("count", {"tweedie_variance_power": 1.4}),
    "survival:aft": ("aft", {}),
    "survival:cox": ("pos", {}),
    "rank:ndcg": ("rank", {}),
    "rank:pairwise": ("rank", {}),
    "rank:map": ("rankbin", {}),
    "binary:logistic": ("bin", {}),
    "binary:logitraw": ("bin", {}),
    "binary:hinge": ("bin", {}),
    "multi:softprob": ("multi", {"num_class": 4}),
    "multi:softmax": ("multi", {"num_class": 4}),
}


def _train(params, X, y, rounds=8, dm=None, setup=None):
    d = xgb.DMatrix(X, y, nthread=1, **(dm or {}))
    if setup:
        setup(d)
    return xgb.train({"nthread": 1, "max_depth": 4, "seed": 0, **params}, d, rounds)


def _train_objective(objective):
    kind, extra = OBJECTIVES[objective]
    X, rng = _data(seed=zlib.crc32(objective.encode()) % 1000)
    y = _targets(kind, X, rng)
    setup = None
    if kind == "aft":
        def setup(d):
            d.set_float_info("label_lower_bound", y)
            d.set_float_info("label_upper_bound", np.where(rng.random(len(y)) < 0.3, np.inf, y))
    elif kind.startswith("rank"):
        def setup(d):
            d.set_group([100] * (len(y) // 100))
    return _train({"objective": objective, **extra}, X, y, setup=setup), X


@pytest.fixture(scope="session")
def xgb_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("xgb_models")


def _save(booster, directory, name, fmt):
    path = Path(directory) / f"{name}.{fmt}"
    booster.save_model(str(path))
    return path


def _softmax(z):
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def check_model(mlinfer, booster, path, X, dm=None):
    """Margins, predictions and leaves of the model at `path` against the booster's, for X
    as float32 and as float64. Returns the loaded model."""
    m = mlinfer.load(path)
    obj = json.loads(booster.save_config())["learner"]["objective"]["name"]
    for dtype in (np.float32, np.float64):
        Xd = np.ascontiguousarray(X, dtype=dtype)
        D = xgb.DMatrix(Xd, nthread=1, **(dm or {}))
        margin = booster.predict(D, output_margin=True).reshape(len(X), -1)
        ref = booster.predict(D)
        np.testing.assert_allclose(raw_scores(mlinfer, m, Xd), margin, rtol=RTOL, atol=ATOL,
                                   err_msg=f"{path.name} margins ({dtype.__name__})")
        lv = booster.predict(D, pred_leaf=True).reshape(len(X), -1).astype(np.int64)
        np.testing.assert_array_equal(leaves(mlinfer, m, Xd), lv, err_msg=f"{path.name} leaves ({dtype.__name__})")
        if obj == "binary:logistic":
            np.testing.assert_allclose(m.predict_proba(Xd)[:, 1], ref, rtol=RTOL, atol=1e-6)
            np.testing.assert_allclose(m.decision_function(Xd), margin[:, 0], rtol=RTOL, atol=ATOL)
            np.testing.assert_array_equal(m.predict(Xd), (margin[:, 0] > 0).astype(np.int64))
        elif obj in ("binary:logitraw", "binary:hinge"):
            np.testing.assert_allclose(m.decision_function(Xd), margin[:, 0], rtol=RTOL, atol=ATOL)
            np.testing.assert_array_equal(m.predict(Xd), (margin[:, 0] > 0).astype(np.int64))
            if obj == "binary:hinge":
                np.testing.assert_array_equal(m.predict(Xd), ref)
        elif obj == "multi:softprob":
            np.testing.assert_allclose(m.predict_proba(Xd), ref, rtol=RTOL, atol=1e-6)
            np.testing.assert_array_equal(m.predict(Xd), ref.argmax(axis=1))
        elif obj == "multi:softmax":
            np.testing.assert_array_equal(m.predict(Xd), ref.astype(np.int64))
            np.testing.assert_allclose(m.predict_proba(Xd), _softmax(margin), rtol=RTOL, atol=1e-6)
        else:
            got = m.predict(Xd)
            np.testing.assert_allclose(got.reshape(ref.shape), ref, rtol=RTOL, atol=ATOL,
                                       err_msg=f"{path.name} predictions ({dtype.__name__})")
    return m


# ---- equivalence ---------------------------------------------------------------------------

@pytest.fixture(scope="session")
def objective_models():
    cache = {}

    def get(objective):
        if objective not in cache:
            cache[objective] = _train_objective(objective)
        return cache[objective]
    return get


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("objective", list(OBJECTIVES))
def test_objective(mlinfer, xgb_dir, objective_models, objective, fmt):
    booster, X = objective_models(objective)
    path = _save(booster, xgb_dir, objective.replace(":", "_"), fmt)
    m = check_model(mlinfer, booster, path, X)
    kind = OBJECTIVES[objective][0]
    assert m.n_features_in_ == X.shape[1]
    assert m.meta("source") == f"xgboost {xgb.__version__} {objective}"
    assert m.meta("stage.0.compare") == "lt_f32"
    if kind in ("bin", "multi"):
        assert m.is_classifier
        k = 4 if kind == "multi" else 2
        np.testing.assert_array_equal(m.classes_, np.arange(k))
    else:
        assert not m.is_classifier


def test_many_rows_and_one_row(mlinfer, xgb_dir):
    X, rng = _data(n=3000, d=8, seed=3)
    booster = _train({"objective": "binary:logistic", "max_depth": 6}, X, _targets("bin", X, rng), rounds=20)
    Xt, _ = _data(n=10_000, d=8, seed=4, nan=0.05)
    for fmt in FORMATS:
        path = _save(booster, xgb_dir, "many_rows", fmt)
        check_model(mlinfer, booster, path, Xt)
        check_model(mlinfer, booster, path, Xt[:1])
        m = mlinfer.load(path)
        np.testing.assert_allclose(m.predict_proba(Xt[:1])[:, 1], booster.inplace_predict(Xt[:1]), rtol=RTOL)


def _thresholds(booster):
    """(feature, float32 threshold) of every numerical split of the model."""
    out = set()
    for tree in json.loads(booster.save_raw("json"))["learner"]["gradient_booster"]["model"]["trees"]:
        stype = tree.get("split_type") or [0] * len(tree["left_children"])
        for lc, f, c, s in zip(tree["left_children"], tree["split_indices"], tree["split_conditions"], stype):
            if lc != -1 and s == 0:
                out.add((f, np.float32(c)))
    return sorted(out)


def test_rows_on_thresholds(mlinfer, xgb_dir):
    """Every threshold, exactly and one float32 step either side, as float32 and as float64
    input (float64 values a hair off the float32 threshold must round onto it, as XGBoost
    rounds its input to float32)."""
    X, rng = _data(n=800, d=5, seed=5)
    z = np.nan_to_num(X)
    y = np.digitize(z[:, 0] + z[:, 1] - z[:, 2] * z[:, 3] + 0.5 * rng.standard_normal(len(X)), [-0.5, 0.5])
    booster = _train({"objective": "multi:softprob", "num_class": 3, "max_depth": 5}, X, y.astype(float), rounds=6)
    base = np.nan_to_num(X[:40])
    rows = []
    for f, t in _thresholds(booster):
        for v in (t, np.nextafter(t, np.float32(np.inf)), np.nextafter(t, np.float32(-np.inf))):
            r = base[len(rows) % len(base)].copy()
            r[f] = v
            rows.append(r)
    T = np.array(rows, dtype=np.float32)
    assert len(T) > 30
    for fmt in FORMATS:
        path = _save(booster, xgb_dir, "thresholds", fmt)
        check_model(mlinfer, booster, path, T)
        # float64 values within half a float32 ulp of a threshold
        T64 = T.astype(np.float64)
        ulp = np.spacing(np.abs(T).astype(np.float32)).astype(np.float64)
        for frac in (0.49, -0.49):
            check_model(mlinfer, booster, path, T64 + frac * ulp)


def test_nan_and_default_directions(mlinfer, xgb_dir):
    X, rng = _data(n=1000, d=4, seed=6, nan=0.3)
    y = np.where(np.isnan(X[:, 0]), 3.0, np.nan_to_num(X[:, 0]))
    booster = _train({"objective": "reg:squarederror"}, X, y, rounds=10)
    T = np.full((3, 4), np.nan)
    T[1, 1:] = 0.5
    for fmt in FORMATS:
        check_model(mlinfer, booster, _save(booster, xgb_dir, "nan", fmt), np.vstack([X[:200], T]))


# ---- few-rows walks, every ISA --------------------------------------------------------------

FEW_ROWS_WORKER = r"""
import sys, numpy as np, mlinfer
m = mlinfer.load(sys.argv[1])
data = np.load(sys.argv[2])
out = {"isa": np.array(mlinfer.cpu_isa())}
if mlinfer.cpu_isa() != "unavailable":
    for k in data.files:
        A = data[k]
        out[k + "_full"] = np.asarray(m.predict_raw(A)).reshape(len(A), -1)
        parts, r = [], 0
        while r < len(A):  # blocks of 1 to 7 rows: the few-rows walks
            n = 1 + (r // 3) % 7
            parts.append(np.asarray(m.predict_raw(A[r:r + n])).reshape(-1, out[k + "_full"].shape[1]))
            r += n
        out[k + "_few"] = np.concatenate(parts)
np.savez(sys.argv[3], **out)
"""


@pytest.mark.parametrize("n_features,objective,rounds", [(12, "binary:logistic", 77), (50, "binary:logistic", 77),
                                                        (70, "binary:logistic", 77), (40, "multi:softprob", 25)],
                         ids=["12f", "50f", "70f", "multiclass"])
def test_few_rows_every_isa_bit_for_bit(mlinfer, xgb_dir, tmp_path, n_features, objective, rounds):
    """Blocks of 1 to 7 rows (the few-rows walks: trees per vector, the row in registers up to
    64 features, gathers above) under every ISA this CPU has, MLI_FORCE_ISA: margins against
    XGBoost, and bit for bit against the scalar table and against the same ISA's batch walk.
    77 trees (not a multiple of 8 or 16) of depth 7 (below the four table levels), NaN in
    training (learned default directions) and at test time, float32 and float64 rows,
    multi-class (one score per class: trees alternate outputs)."""
    X, rng = _data(n=2500, d=n_features, seed=n_features, nan=0.05)
    z = np.nan_to_num(X)
    if objective == "multi:softprob":
        y = np.digitize(z[:, 0] + z[:, 1] - z[:, 2] * z[:, 3], [-0.5, 0.5]).astype(float)
        params = {"objective": objective, "num_class": 3, "max_depth": 7}
    else:
        y = (z[:, 0] + z[:, -1] * z[:, 1] - z[:, n_features // 2] + 0.3 * rng.standard_normal(len(X)) > 0) * 1.0
        params = {"objective": objective, "max_depth": 7}
    booster = _train(params, X, y, rounds=rounds)
    path = _save(booster, xgb_dir, f"few_rows_{n_features}_{objective.replace(':', '_')}", "json")
    T, _ = _data(n=150, d=n_features, seed=n_features + 1, nan=0.0)
    T[50:100][rng.random((50, n_features)) < 0.1] = np.nan  # rows with NaN after rows without
    T[100:, rng.integers(n_features, size=5)] = np.nan       # and whole NaN columns
    data = tmp_path / "rows.npz"
    np.savez(data, f32=T.astype(np.float32), f64=T)
    pkg = str(Path(mlinfer.__file__).resolve().parents[1])
    got = {}
    for isa in ("scalar", "avx2", "avx512"):
        env = dict(os.environ, MLI_FORCE_ISA=isa,
                   PYTHONPATH=os.pathsep.join([pkg] + [p for p in [os.environ.get("PYTHONPATH")] if p]))
        res = tmp_path / f"{isa}.npz"
        subprocess.run([sys.executable, "-c", FEW_ROWS_WORKER, str(path), str(data), str(res)], env=env, check=True)
        r = np.load(res)
        if str(r["isa"]) != "unavailable":
            got[isa] = r
    assert "scalar" in got
    for kind, A in (("f32", T.astype(np.float32)), ("f64", T)):
        margin = booster.predict(xgb.DMatrix(A, nthread=1), output_margin=True).reshape(len(A), -1)
        ref = got["scalar"][kind + "_full"]
        np.testing.assert_allclose(ref, margin, rtol=RTOL, atol=ATOL, err_msg=f"scalar batch ({kind})")
        for isa, r in got.items():
            np.testing.assert_array_equal(r[kind + "_few"], r[kind + "_full"], err_msg=f"{isa}: few rows != batch ({kind})")
            np.testing.assert_array_equal(r[kind + "_few"], ref, err_msg=f"{isa}: few rows != scalar ({kind})")
            np.testing.assert_allclose(r[kind + "_few"], margin, rtol=RTOL, atol=ATOL, err_msg=f"{isa} ({kind})")


# ---- categorical splits -------------------------------------------------------------------

CAT_TYPES = ["c", "q", "c"]
CAT_EDGES = [0, 1, 2, 3, 5, 29, 30, 31, 32, 33, 100, 1000, -0.0, 0.5, 1.5, 2.999, 3 - 1e-12, 16777215,
             16777216, 16777217, 1e30, np.nan]
NEGATIVE_FRACTIONS = [-0.5, -1e-30, -0.999]


def _categorical_model(onehot):
    rng = np.random.default_rng(7)
    n = 3000
    c0 = rng.integers(0, 30, n).astype(float)
    c1 = rng.integers(0, 4, n).astype(float)
    q = rng.standard_normal(n)
    X = np.c_[c0, q, c1]
    X[rng.random(X.shape) < 0.05] = np.nan
    y = (np.isin(np.nan_to_num(X[:, 0], nan=-1) % 4, [0, 1]) * 2.0 + (X[:, 2] == 2) + 0.3 * q +
         (np.nan_to_num(X[:, 0], nan=-1) == 0) + 1.5 * (np.nan_to_num(X[:, 2], nan=-1) == 0))
    booster = _train({"max_depth": 4, "max_cat_to_onehot": onehot, "tree_method": "hist"}, X, y, rounds=8,
                     dm={"enable_categorical": True, "feature_types": CAT_TYPES})
    return booster, X


def _edge_rows(values):
    rows = []
    for v in values:
        for w in (0.0, 2.0, 5.0, np.nan):
            rows.append([v, 0.1, w])
        rows.append([1.0, 0.1, v])
        rows.append([0.0, -0.1, v])
    return np.array(rows)


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("onehot", [1, 8], ids=["partition", "onehot"])
def test_categorical(mlinfer, xgb_dir, onehot, fmt):
    booster, X = _categorical_model(onehot)
    path = _save(booster, xgb_dir, f"cat{onehot}", fmt)
    dm = {"enable_categorical": True, "feature_types": CAT_TYPES}
    tree_json = json.loads(booster.save_raw("json"))["learner"]["gradient_booster"]["model"]["trees"]
    assert any(1 in t["split_type"] for t in tree_json), "the model should have categorical splits"
    check_model(mlinfer, booster, path, X[:500], dm=dm)
    check_model(mlinfer, booster, path, _edge_rows(CAT_EDGES), dm=dm)


def test_categorical_negative_fractions(mlinfer, xgb_dir):
    booster, _ = _categorical_model(8)
    trees = json.loads(booster.save_raw("json"))["learner"]["gradient_booster"]["model"]["trees"]
    assert any(0 in t["categories"] for t in trees), "the test needs a split listing category 0"
    path = _save(booster, xgb_dir, "cat_neg", "json")
    check_model(mlinfer, booster, path, _edge_rows(NEGATIVE_FRACTIONS),
                dm={"enable_categorical": True, "feature_types": CAT_TYPES})


# ---- boosters and multi-output models -------------------------------------------------------

@pytest.mark.parametrize("fmt", FORMATS)
def test_dart(mlinfer, xgb_dir, fmt):
    X, rng = _data(seed=8)
    booster = _train({"booster": "dart", "objective": "binary:logistic", "rate_drop": 0.3, "one_drop": 1}, X,
                     _targets("bin", X, rng), rounds=12)
    weights = json.loads(booster.save_raw("json"))["learner"]["gradient_booster"]["weight_drop"]
    assert min(weights) < 0.9, "the test needs trees with a weight below 1"
    check_model(mlinfer, booster, _save(booster, xgb_dir, "dart", fmt), X)


@pytest.mark.parametrize("fmt", FORMATS)
def test_random_forest_rounds(mlinfer, xgb_dir, fmt):
    """num_parallel_tree > 1 with several classes: trees grouped by tree_info, all summed."""
    X, rng = _data(seed=9)
    booster = _train({"objective": "multi:softprob", "num_class": 4, "num_parallel_tree": 3, "subsample": 0.7,
                      "colsample_bynode": 0.7}, X, _targets("multi", X, rng), rounds=4)
    check_model(mlinfer, booster, _save(booster, xgb_dir, "forest", fmt), X)


@pytest.mark.parametrize("fmt", FORMATS)
def test_multi_target_regression(mlinfer, xgb_dir, fmt):
    X, rng = _data(seed=10)
    z = np.nan_to_num(X)
    Y = np.c_[z[:, 0], 2 * z[:, 1] + 1, -z[:, 2]]
    booster = _train({"objective": "reg:squarederror"}, X, Y, rounds=6)
    m = check_model(mlinfer, booster, _save(booster, xgb_dir, "multi_target", fmt), X)
    assert m.n_outputs_ == 3


@pytest.mark.parametrize("fmt", FORMATS)
def test_multi_quantile(mlinfer, xgb_dir, fmt):
    X, rng = _data(seed=11)
    booster = _train({"objective": "reg:quantileerror", "quantile_alpha": [0.1, 0.5, 0.9]}, X,
                     _targets("reg", X, rng), rounds=6)
    m = check_model(mlinfer, booster, _save(booster, xgb_dir, "quantiles", fmt), X)
    assert m.n_outputs_ == 3


@pytest.mark.parametrize("objective,base_score", [("binary:logistic", 0.2), ("binary:logistic", 0.97),
                                                  ("count:poisson", 3.5), ("reg:squarederror", -12.5),
                                                  ("reg:logistic", 0.1)])
def test_explicit_base_score(mlinfer, xgb_dir, objective, base_score):
    X, rng = _data(seed=12)
    kind = {"binary:logistic": "bin", "count:poisson": "count", "reg:squarederror": "reg",
            "reg:logistic": "prob"}[objective]
    booster = _train({"objective": objective, "base_score": base_score}, X, _targets(kind, X, rng), rounds=3)
    check_model(mlinfer, booster, _save(booster, xgb_dir, f"base_{objective.replace(':', '_')}", "json"), X)



@pytest.mark.parametrize("objective", ["binary:logistic", "reg:logistic", "count:poisson", "reg:gamma"])
def test_base_score_margin_bit_for_bit(mlinfer, objective):
    """The margin of base_score is XGBoost's ProbToMargin to the last float32 bit: -logf(1/p - 1)
    for the logit (p clamped to [1e-6, 1 - 1e-6]), logf(p) for the log link. The importer computed
    logf(p / (1 - p)), the same number in exact arithmetic but not in float32: 0.057 off at
    p = 1 - 1e-6 (predict_proba[:, 0] 6 % off), 1e-4 at 0.9999 (beyond the 1e-5 bound), and one
    float32 step off for about half of all p. Trees with eta = 0 add exactly 0, so the margin is the
    intercept alone."""
    rng = np.random.default_rng(21)
    X = rng.normal(size=(40, 2))
    y = np.exp(X[:, 0]) if objective in ("count:poisson", "reg:gamma") else (X[:, 0] > 0).astype(float)
    if objective in ("count:poisson", "reg:gamma"):
        scores = list(10 ** rng.uniform(-20, 20, 30))
    else:
        scores = list(rng.uniform(0, 1, 20)) + list(1 - 10 ** rng.uniform(-9, -2, 20)) + \
            list(10 ** rng.uniform(-9, -2, 10)) + [1 - 1e-6, 0.9999, 1e-6]
    d = xgb.DMatrix(X[:1])
    wrong = []
    for p in scores:
        booster = _train({"objective": objective, "base_score": float(p), "eta": 0.0}, X, y, rounds=1)
        want = booster.predict(d, output_margin=True)[0]
        got = mlinfer.load(bytes(booster.save_raw("json"))).predict_raw(X[:1])[0]
        if np.float32(got) != want:
            wrong.append((float(p), float(got), float(want)))
    assert not wrong, f"{len(wrong)} of {len(scores)} base_scores give another margin (p, ours, XGBoost): {wrong[:3]}"


def test_feature_names_and_old_style_scalar_base_score(mlinfer, xgb_dir):
    X, rng = _data(seed=13, d=4)
    names = ["alpha", "beta", "gamma", "delta"]
    booster = _train({"objective": "multi:softprob", "num_class": 4}, X, _targets("multi", X, rng), rounds=3,
                     dm={"feature_names": names})
    path = _save(booster, xgb_dir, "named", "json")
    m = mlinfer.load(path)
    assert list(m.feature_names_in_) == names
    # Files before XGBoost 3.1 hold one scalar base_score, added to every class.
    doc = json.loads(path.read_text())
    doc["learner"]["learner_model_param"]["base_score"] = "5E-1"
    old = Path(xgb_dir) / "scalar_base.json"
    old.write_text(json.dumps(doc))
    m_old = mlinfer.load(old)
    X32 = np.nan_to_num(X).astype(np.float32)
    delta = raw_scores(mlinfer, m_old, X32) - raw_scores(mlinfer, m, X32)
    base = np.array([float(v) for v in
                     json.loads(path.read_text())["learner"]["learner_model_param"]["base_score"][1:-1].split(",")])
    np.testing.assert_allclose(delta, np.broadcast_to(0.5 - base, delta.shape), atol=1e-6)


@pytest.mark.parametrize("objective", ["reg:squarederror", "multi:softprob"])
def test_sklearn_early_stopping_uses_best_iteration(mlinfer, xgb_dir, objective):
    """A file saved by XGBRegressor/XGBClassifier after early stopping predicts as the estimator
    does (rounds up to best_iteration); a plain Booster's file keeps every tree."""
    X, rng = _data(n=800, seed=17)
    kind = "reg" if objective.startswith("reg") else "multi"
    y = _targets(kind, X, rng) + (0.8 * rng.standard_normal(len(X)) if kind == "reg" else 0)
    cls = xgb.XGBRegressor if kind == "reg" else xgb.XGBClassifier
    est = cls(n_estimators=60, early_stopping_rounds=2, max_depth=4, learning_rate=0.5, n_jobs=1, random_state=0)
    est.fit(X[:500], y[:500], eval_set=[(X[500:], y[500:])], verbose=False)
    n_rounds = est.get_booster().num_boosted_rounds()
    assert est.best_iteration + 1 < n_rounds, "the test needs rounds after the best one"
    path = Path(xgb_dir) / f"early_{kind}.json"
    est.save_model(str(path))
    m = mlinfer.load(path)
    X32 = X.astype(np.float32)
    assert m.meta("xgboost.best_iteration") == str(est.best_iteration)
    np.testing.assert_array_equal(leaves(mlinfer, m, X32), est.apply(X32))
    if kind == "reg":
        np.testing.assert_allclose(m.predict(X32), est.predict(X32), rtol=RTOL, atol=ATOL)
    else:
        np.testing.assert_allclose(m.predict_proba(X32), est.predict_proba(X32), rtol=RTOL, atol=1e-6)
        np.testing.assert_array_equal(m.predict(X32), est.predict(X32))
    # the same trees as a plain Booster file: every round counts
    booster = est.get_booster()
    doc = json.loads(path.read_text())
    doc["learner"]["attributes"].pop("scikit_learn")
    plain = Path(xgb_dir) / f"early_{kind}_booster.json"
    plain.write_text(json.dumps(doc))
    check_model(mlinfer, booster, plain, X)


def test_older_schema(mlinfer):
    """XGBoost 1.x JSON: default_left as booleans, no split_type / categories, no num_target,
    no iteration_indptr, a scalar base_score. Same predictions as the 3.2 form."""
    new_doc = CORRUPT.base_model()
    old = CORRUPT.base_model()
    old["version"] = [1, 7, 6]
    model = old["learner"]["gradient_booster"]["model"]
    model.pop("iteration_indptr")
    model.pop("cats")
    model["trees"] = model["trees"][:2]
    model["tree_info"] = [0, 0]
    model["gbtree_model_param"]["num_trees"] = "2"
    for t in model["trees"]:
        t["default_left"] = [bool(v) for v in t["default_left"]]
        for k in ("split_type", "categories", "categories_nodes", "categories_segments", "categories_sizes"):
            t.pop(k)
    lmp = old["learner"]["learner_model_param"]
    lmp.pop("num_target")
    lmp["base_score"] = "4E-1"
    nd = new_doc["learner"]["gradient_booster"]["model"]
    nd["trees"], nd["tree_info"], nd["iteration_indptr"] = nd["trees"][:2], [0, 0], [0, 1, 2]
    nd["gbtree_model_param"]["num_trees"] = "2"
    X = np.array([[0.5, 0.2, 1], [0.4, -0.3, 3], [np.nan, 1.6, 40], [0.1, 1.5, 2], [0.6, np.nan, np.nan]])
    a = mlinfer.load(json.dumps(old).encode())
    b = mlinfer.load(CORRUPT.to_json(new_doc))
    assert a.meta("source") == "xgboost 1.7.6 binary:logistic"
    np.testing.assert_array_equal(a.predict_proba(X), b.predict_proba(X))
    np.testing.assert_array_equal(leaves(mlinfer, a, X), leaves(mlinfer, b, X))


# ---- what is refused -------------------------------------------------------------------------

@pytest.mark.filterwarnings("ignore::UserWarning")  # "max_depth is not used" by gblinear
def test_rejects_gblinear(mlinfer, xgb_dir):
    X, rng = _data(seed=14, nan=0)
    booster = _train({"booster": "gblinear"}, X, _targets("reg", X, rng), rounds=2)
    for fmt in FORMATS:
        with pytest.raises(mlinfer.Error, match="gblinear") as e:
            mlinfer.load(_save(booster, xgb_dir, "linear", fmt))
        assert e.value.status == 3


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("kind", ["reg2", "reg3-deep", "softprob"])
def test_multi_output_trees(mlinfer, xgb_dir, fmt, kind):
    """multi_strategy="multi_output_tree": one tree per round for every target (or class), its
    leaves vectors (`leaf_weights`); a stage of leaf_width n_out. Margins, predictions and
    leaves against XGBoost's; contributions (which XGBoost does not compute for such trees)
    by the sum rule and against the classic recursion and the per-leaf quadrature."""
    X, rng = _data(seed=15)
    z = np.nan_to_num(X)
    params = {"multi_strategy": "multi_output_tree", "tree_method": "hist"}
    if kind == "softprob":
        y = _targets("multi", X, rng)
        params.update(objective="multi:softprob", num_class=int(y.max()) + 1)
    else:
        y = np.c_[z[:, 0], 2 * z[:, 1] + 1, -z[:, 2]][:, :2 if kind == "reg2" else 3]
        params["max_depth"] = 4 if kind == "reg2" else 9
    booster = _train(params, X, y, rounds=6)
    path = _save(booster, xgb_dir, f"mot_{kind}", fmt)
    m = check_model(mlinfer, booster, path, X)
    assert m.n_outputs_ == (1 if kind == "softprob" else y.shape[1])
    c = m.predict_contrib(X)  # (rows, outputs, features + 1)
    raw = raw_scores(mlinfer, m, X)
    np.testing.assert_allclose(c.sum(axis=-1), raw, rtol=1e-9, atol=1e-9)
    code = f"""
import sys, numpy as np, mlinfer
m = mlinfer.load(sys.argv[1]); X = np.load(sys.argv[2])
np.save(sys.argv[3], m.predict_contrib(X))
"""
    np.save(xgb_dir / f"mot_{kind}_x.npy", X)
    for setting in ("classic", "leaf"):
        out = xgb_dir / f"mot_{kind}_{fmt}_{setting}.npy"
        env = dict(os.environ, MLI_TREESHAP=setting)
        subprocess.run([sys.executable, "-c", code, str(path), str(xgb_dir / f"mot_{kind}_x.npy"), str(out)],
                       env=env, check=True)
        np.testing.assert_allclose(np.load(out), c, rtol=1e-9, atol=1e-9, err_msg=setting)


def test_rejects_mixed_leaf_vectors(mlinfer, xgb_dir):
    """Vector leaves must be every tree's, of one value per output (the corrupt files below
    hold the other cases)."""
    doc = CORRUPT.base_model()
    CORRUPT._vector(doc, trees=(0, 1))
    path = Path(xgb_dir) / "mixed_vectors.json"
    path.write_bytes(CORRUPT.to_json(doc))
    with pytest.raises(mlinfer.Error, match="a mix of vector and scalar trees") as e:
        mlinfer.load(path)
    assert e.value.status == 3


# ---- broken files ----------------------------------------------------------------------------

CORRUPT = _load_corrupt_maker()


def test_corrupt_base_model_is_valid(mlinfer, tmp_path):
    """The corpus' base model is a real XGBoost model: XGBoost loads it, we agree with it."""
    X = np.array([[0.5, 0.2, 1], [0.4, -0.3, 3], [np.nan, 1.6, 40], [0.1, 1.5, 2], [0.6, np.nan, np.nan],
                  [-1, -1, 0.5], [2, 2, 41]])
    for name, data in (("good.json", CORRUPT.to_json(CORRUPT.base_model())),
                       ("good.ubj", CORRUPT.to_ubjson(CORRUPT.base_model()))):
        path = tmp_path / name
        path.write_bytes(data)
        ref = xgb.Booster(model_file=str(path))
        ref.set_param({"nthread": 1})
        check_model(mlinfer, ref, path, X,
                    dm={"enable_categorical": True, "feature_types": ["float", "float", "c"]})


@pytest.mark.parametrize("case", CORRUPT.cases(), ids=lambda c: c[0])
def test_corrupt_file(mlinfer, tmp_path, case):
    sys.path.insert(0, str(REPO / "tests" / "data" / "corrupt_trees"))
    import corrupt_corpus
    corrupt_corpus.check_fails(mlinfer, tmp_path, case, names_file=case[0] != "empty.json")


def _survives(mlinfer, data):
    try:
        m = mlinfer.load(data)
    except mlinfer.Error:
        return 0
    m.predict(np.zeros((2, m.n_features_in_)))
    return 1


@pytest.mark.parametrize("fmt", FORMATS)
def test_truncations_and_byte_flips(mlinfer, fmt):
    """Every prefix of a small model and 400 single-byte changes load or raise mlinfer.Error."""
    good = CORRUPT.to_json(CORRUPT.base_model()) if fmt == "json" else CORRUPT.to_ubjson(CORRUPT.base_model())
    loaded = 0
    for n in range(len(good)):
        loaded += _survives(mlinfer, good[:n])
    assert loaded == 0, "no proper prefix of a model is a model"
    rnd = random.Random(1234)
    for _ in range(400):
        b = bytearray(good)
        i = rnd.randrange(len(b))
        b[i] = rnd.choice([0, 0xFF, 0x7F, ord("-"), ord("9"), ord("["), ord("{"), ord("L"), rnd.randrange(256)])
        _survives(mlinfer, bytes(b))


def _synthetic_model(n_trees, depth, n_features, seed=0):
    """A full-depth random model in XGBoost's JSON schema (no training needed)."""
    rng = np.random.default_rng(seed)
    n = 2 ** (depth + 1) - 1
    ids = np.arange(n)
    internal = ids < n // 2
    left = np.where(internal, 2 * ids + 1, -1).tolist()
    right = np.where(internal, 2 * ids + 2, -1).tolist()
    trees = []
    for t in range(n_trees):
        cond = np.where(internal, rng.standard_normal(n), 0.01 * rng.standard_normal(n)).astype(np.float32)
        feat = np.where(internal, rng.integers(0, n_features, n), 0).tolist()
        dflt = (internal & (rng.random(n) < 0.5)).astype(int).tolist()
        tree = CORRUPT._tree(t, left, right, feat, [float(c) for c in cond], dflt)
        tree["tree_param"]["num_feature"] = str(n_features)
        trees.append(tree)
    doc = CORRUPT.base_model()
    model = doc["learner"]["gradient_booster"]["model"]
    model.update(trees=trees, tree_info=[0] * n_trees, iteration_indptr=list(range(n_trees + 1)))
    model["gbtree_model_param"]["num_trees"] = str(n_trees)
    doc["learner"]["learner_model_param"]["num_feature"] = str(n_features)
    doc["learner"]["feature_types"] = []
    return doc


def test_import_speed(mlinfer, tmp_path):
    """A 500-tree depth-8 model (XGBoost needs ~115 ms for its JSON, ~7 ms for UBJSON) loads
    well within a generous bound, and agrees with XGBoost."""
    doc = _synthetic_model(500, 8, 50)
    X, _ = _data(n=300, d=50, seed=16, nan=0.05)
    for fmt in FORMATS:
        path = tmp_path / f"big.{fmt}"
        path.write_bytes(CORRUPT.to_json(doc) if fmt == "json" else CORRUPT.to_ubjson(doc))
        best = min(_timed(lambda: mlinfer.load(path)) for _ in range(3))
        assert best < 1.0, f"{fmt}: loading took {best:.3f} s"
        ref = xgb.Booster(model_file=str(path))
        ref.set_param({"nthread": 1})
        check_model(mlinfer, ref, path, X)


def _timed(fn):
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t
