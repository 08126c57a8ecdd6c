"""CatBoost JSON models read by libmlinfer, checked against CatBoost itself.

For every model: the raw scores (`predict(prediction_type="RawFormulaVal")`) to 1e-5
relative, the leaf reached in every tree (`calc_leaf_indexes`, exactly), and the predictions
(probabilities, labels, regression outputs). Rows are placed exactly on every border and one
float32 step either side, in float32 and float64 input; NaN goes through every nan_mode.
Broken files come from tests/data/corrupt_trees/make_catboost_corrupt.py and must fail with a
message naming the problem.

Both sides sum the leaves in float64 in tree order; libmlinfer multiplies each leaf by the
model's scale where CatBoost scales the sum, so the measured differences are 0 at scale 1
and a few ulps otherwise; the 1e-5 bound is the exactness contract's (DESIGN.md), the
absolute floor 1e-9 keeps raw scores that cancel to ~0 comparable.
"""
from __future__ import annotations

import json
import subprocess
import os
import sys
from pathlib import Path

import numpy as np
import pytest

cb = pytest.importorskip("catboost")

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "data" / "corrupt_trees"))
import corrupt_corpus  # noqa: E402
import make_catboost_corrupt as corrupt  # noqa: E402

RTOL, ATOL = 1e-5, 1e-9


# ---- data and models --------------------------------------------------------------------

def _data(n=600, d=5, seed=0, nan=0.0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    X[:, 1] = np.round(X[:, 1] * 4) / 4  # ties: borders sit between repeated values
    signal = X[:, 0] + 0.7 * np.sin(2 * X[:, 1]) + 0.5 * X[:, 2] * X[:, 3]
    if nan:
        X[rng.random((n, d)) < nan] = np.nan
    return X, np.nan_to_num(signal)


def _fit(cls, X, y, **params):
    p = {"iterations": 12, "depth": 4, "verbose": 0, "thread_count": 1, "random_seed": 0,
         "allow_writing_files": False}
    p.update(params)
    return getattr(cb, cls)(**p).fit(X, y)


def _save_load(mlinfer, est, tmp_path, name="model.json"):
    path = tmp_path / name
    est.save_model(str(path), format="json")
    return mlinfer.load(str(path)), path


def _border_rows(path, X, nan=True):
    """Rows at every border of the model, one float32 step and one float64 step either side
    (the other columns from X), and rows of NaN / +-inf (float64)."""
    doc = json.loads(Path(path).read_text())
    base = np.nan_to_num(X[: 1])
    rows = []
    for f in doc["features_info"]["float_features"]:
        for b in f["borders"]:
            b32 = np.float32(b)
            b64 = np.float64(b32)
            with np.errstate(over="ignore"):  # nan_mode Min/Max add borders at -+FLT_MAX
                steps = (np.nextafter(b32, np.float32(-np.inf)), np.nextafter(b32, np.float32(np.inf)),
                         # float64 input one double step away: float32 rounds it onto the border
                         np.nextafter(b64, -np.inf), np.nextafter(b64, np.inf))
            for v in (b64, *steps):
                r = base.copy()
                r[0, f["flat_feature_index"]] = v
                rows.append(r)
    specials = [np.inf, -np.inf] + ([np.nan] if nan else [])
    for v in specials:
        r = np.repeat(base, X.shape[1], axis=0)
        np.fill_diagonal(r, v)
        rows.append(r)
        rows.append(np.full_like(base, v))
    return np.vstack(rows)


def _compare(m, est, X):
    """libmlinfer model `m` against the fitted CatBoost estimator `est` on X (as given)."""
    want_raw = np.asarray(est.predict(X, prediction_type="RawFormulaVal")).reshape(len(X), -1)
    np.testing.assert_allclose(np.asarray(m.predict_raw(X)).reshape(len(X), -1), want_raw, rtol=RTOL, atol=ATOL)
    np.testing.assert_array_equal(m.apply(X), est.calc_leaf_indexes(cb.Pool(np.asarray(X, np.float64))))
    if isinstance(est, cb.CatBoostClassifier):
        np.testing.assert_allclose(m.predict_proba(X), est.predict_proba(X), rtol=RTOL, atol=ATOL)
        np.testing.assert_array_equal(m.predict(X), np.asarray(est.predict(X)).ravel())
    else:
        want = np.asarray(est.predict(X))
        np.testing.assert_allclose(np.asarray(m.predict(X)).reshape(want.shape), want, rtol=RTOL, atol=ATOL)


def _both_dtypes(m, est, X):
    for dt in (np.float64, np.float32):
        _compare(m, est, np.ascontiguousarray(X, dtype=dt))


# ---- agreement --------------------------------------------------------------------------

@pytest.mark.parametrize("depth", [1, 2, 6, 10])
def test_binary_depths(mlinfer, tmp_path, depth):
    X, s = _data(nan=0.08)
    est = _fit("CatBoostClassifier", X, (s > 0).astype(int), depth=depth)
    m, path = _save_load(mlinfer, est, tmp_path)
    assert m.is_classifier and list(m.classes_) == [0, 1]
    _both_dtypes(m, est, X)
    _both_dtypes(m, est, _border_rows(path, X))


@pytest.mark.parametrize("nan_mode", ["Min", "Max", "Forbidden"])
def test_nan_modes(mlinfer, tmp_path, nan_mode):
    """NaN: bit 0 under Min (AsFalse) and Forbidden (AsIs: NaN > border is false), bit 1 under
    Max (AsTrue) for a feature that had NaNs in training, bit 0 for one that had none."""
    X, s = _data(nan=0.0 if nan_mode == "Forbidden" else 0.1)
    X[:, 4] = np.nan_to_num(X[:, 4])  # a feature without NaNs in training: AsTrue is not applied
    est = _fit("CatBoostRegressor", X, s, nan_mode=nan_mode, depth=5)
    m, path = _save_load(mlinfer, est, tmp_path)
    X_test, _ = _data(n=300, seed=1, nan=0.2)
    _both_dtypes(m, est, X_test)
    _both_dtypes(m, est, _border_rows(path, X))


@pytest.mark.parametrize("labels", ["int", "str", "bool"])
def test_class_labels(mlinfer, tmp_path, labels):
    X, s = _data()
    k = np.digitize(s, [-0.5, 0.5]) if labels != "bool" else (s > 0).astype(int)
    y = {"int": k * 3 + 1, "str": np.array(["low", "mid", "high"])[k], "bool": k.astype(bool)}[labels]
    est = _fit("CatBoostClassifier", X, y)
    m, _ = _save_load(mlinfer, est, tmp_path)
    # a bool label is written as Boolean and read as the integers 0 and 1
    want = np.asarray(est.classes_).astype(int) if labels == "bool" else np.asarray(est.classes_)
    np.testing.assert_array_equal(m.classes_, want)
    want_raw = np.asarray(est.predict(X, prediction_type="RawFormulaVal")).reshape(len(X), -1)
    np.testing.assert_allclose(np.asarray(m.predict_raw(X)).reshape(len(X), -1), want_raw, rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(m.predict_proba(X), est.predict_proba(X), rtol=RTOL, atol=ATOL)
    got = m.predict(X)
    np.testing.assert_array_equal(got.astype(bool) if labels == "bool" else got, np.asarray(est.predict(X)).ravel())


@pytest.mark.parametrize("loss", ["RMSE", "MAE", "Quantile:alpha=0.3", "Poisson", "Tweedie:variance_power=1.5",
                                  "Huber:delta=1.0", "Expectile:alpha=0.3", "MAPE", "LogCosh", "Lq:q=1.5"])
def test_regression_losses(mlinfer, tmp_path, loss):
    X, s = _data(nan=0.05)
    y = np.random.default_rng(3).poisson(np.exp(0.5 * s)) if loss.startswith(("Poisson", "Tweedie")) else s + 5
    est = _fit("CatBoostRegressor", X, y, loss_function=loss)
    m, path = _save_load(mlinfer, est, tmp_path)
    _both_dtypes(m, est, X)
    _both_dtypes(m, est, _border_rows(path, X))


def test_scale_and_bias(mlinfer, tmp_path):
    """CatBoost computes scale * sum + bias; libmlinfer scales each leaf (a few ulps apart)."""
    X, s = _data()
    est = _fit("CatBoostRegressor", X, s)
    est.set_scale_and_bias(0.37, [2.5])
    m, _ = _save_load(mlinfer, est, tmp_path)
    _both_dtypes(m, est, X)
    est = _fit("CatBoostClassifier", X, np.digitize(s, [-0.5, 0.5]))
    est.set_scale_and_bias(1.7, [0.1, -0.2, 0.3])
    m, _ = _save_load(mlinfer, est, tmp_path)
    _both_dtypes(m, est, X)


def test_multiclass(mlinfer, tmp_path):
    X, s = _data(nan=0.05)
    est = _fit("CatBoostClassifier", X, np.digitize(s, [-1, 0, 1]), depth=6)
    m, path = _save_load(mlinfer, est, tmp_path)
    _both_dtypes(m, est, X)
    _both_dtypes(m, est, _border_rows(path, X))


def test_multi_rmse(mlinfer, tmp_path):
    X, s = _data()
    est = _fit("CatBoostRegressor", X, np.c_[s, -2 * s + X[:, 3], X[:, 4]], loss_function="MultiRMSE")
    m, path = _save_load(mlinfer, est, tmp_path)
    assert m.n_outputs_ == 3
    _both_dtypes(m, est, X)
    _both_dtypes(m, est, _border_rows(path, X))


@pytest.mark.parametrize("n", [1, 10000])
def test_row_counts(mlinfer, tmp_path, n):
    X, s = _data()
    est = _fit("CatBoostClassifier", X, (s > 0).astype(int), iterations=30, depth=6)
    m, _ = _save_load(mlinfer, est, tmp_path)
    X_test, _ = _data(n=n, seed=7, nan=0.05)
    _both_dtypes(m, est, X_test)


def test_feature_names(mlinfer, tmp_path):
    pd = pytest.importorskip("pandas")
    X, s = _data()
    df = pd.DataFrame(X, columns=["a", "b", "c", "d", "e"])
    est = _fit("CatBoostRegressor", df, s)
    m, _ = _save_load(mlinfer, est, tmp_path)
    assert list(m.feature_names_in_) == ["a", "b", "c", "d", "e"]
    np.testing.assert_allclose(m.predict(df), est.predict(df), rtol=RTOL, atol=ATOL)


# ---- export and the command line --------------------------------------------------------

@pytest.mark.parametrize("cls,target", [("CatBoostClassifier", "str"), ("CatBoostClassifier", "int"),
                                        ("CatBoostRegressor", "Poisson")])
def test_export_wrappers(mlinfer, tmp_path, cls, target):
    X, s = _data(nan=0.05)
    if target == "str":
        est = _fit(cls, X, np.array(["no", "yes"])[(s > 0).astype(int)])
    elif target == "int":
        est = _fit(cls, X, np.digitize(s, [-0.5, 0.5]) * 2 + 3)
    else:
        est = _fit(cls, X, np.random.default_rng(3).poisson(np.exp(0.5 * s)), loss_function="Poisson")
    path = tmp_path / "model.mli"
    mlinfer.export(est, path)
    m = mlinfer.load(path)
    if cls == "CatBoostClassifier":
        np.testing.assert_array_equal(m.classes_, est.classes_)
        np.testing.assert_array_equal(m.predict(X), np.asarray(est.predict(X)).ravel())
        np.testing.assert_allclose(m.predict_proba(X), est.predict_proba(X), rtol=RTOL, atol=ATOL)
    else:
        np.testing.assert_allclose(m.predict(X), est.predict(X), rtol=RTOL, atol=ATOL)


def test_export_refuses_categorical_and_unfitted(mlinfer, tmp_path):
    pd = pytest.importorskip("pandas")
    X, s = _data()
    df = pd.DataFrame({"x": X[:, 0], "color": np.array(["red", "blue"])[(X[:, 1] > 0).astype(int)]})
    est = _fit("CatBoostClassifier", df, (s > 0).astype(int), cat_features=["color"])
    with pytest.raises(mlinfer.UnsupportedModelError, match="categorical feature 'color'"):
        mlinfer.export(est, tmp_path / "m.mli")
    est.save_model(str(tmp_path / "cat.json"), format="json")
    with pytest.raises(mlinfer.Error, match="categorical feature 'color'") as e:
        mlinfer.load(str(tmp_path / "cat.json"))
    assert e.value.status == corrupt_corpus.STATUS_CODES["MLI_ERR_UNSUPPORTED"]
    with pytest.raises(mlinfer.UnsupportedModelError, match="not fitted"):
        mlinfer.export(cb.CatBoostRegressor(), tmp_path / "m.mli")


def test_export_refuses_a_model_catboost_cannot_write_as_json(mlinfer, tmp_path):
    """Trained on -inf, CatBoost's JSON writer fails ("invalid float value: -inf"); the export
    let its CatBoostError through (a crash, pipeline hunt seed 7068): now a refusal saying why."""
    X, s = _data()
    X[::4, 0] = -np.inf
    est = _fit("CatBoostClassifier", X, (X[:, 1] > 0).astype(int) ^ np.isinf(X[:, 0]))
    with pytest.raises(cb.CatBoostError):
        est.save_model(str(tmp_path / "m.json"), format="json")
    with pytest.raises(mlinfer.UnsupportedModelError, match="cannot write it as JSON.*-inf"):
        mlinfer.export(est, tmp_path / "m.mli")


def test_refuses_other_losses(mlinfer, tmp_path):
    X, s = _data()
    est = _fit("CatBoostRegressor", X, s, loss_function="RMSEWithUncertainty")
    with pytest.raises(mlinfer.Error, match="loss_function 'RMSEWithUncertainty' is not supported"):
        _save_load(mlinfer, est, tmp_path)


def test_refuses_non_symmetric_trees(mlinfer, tmp_path):
    X, s = _data()
    est = _fit("CatBoostRegressor", X, s, grow_policy="Depthwise")
    with pytest.raises(mlinfer.Error, match="oblivious"):
        _save_load(mlinfer, est, tmp_path)


def test_cli_convert(mlinfer, tmp_path):
    lib = os.environ.get("MLINFER_LIBRARY") or mlinfer._native.lib._name
    exe = os.path.join(os.path.dirname(os.path.abspath(lib)), "mlinfer")
    if not os.access(exe, os.X_OK):
        pytest.skip(f"no mlinfer executable next to {lib}")
    X, s = _data()
    est = _fit("CatBoostClassifier", X, np.digitize(s, [-0.5, 0.5]))
    est.save_model(str(tmp_path / "m.json"), format="json")
    env = dict(os.environ, LD_LIBRARY_PATH=os.path.dirname(os.path.abspath(lib)))
    r = subprocess.run([exe, "convert", str(tmp_path / "m.json"), str(tmp_path / "m.mli")], capture_output=True,
                       text=True, env=env, timeout=60)
    assert r.returncode == 0, r.stderr
    assert "catboost MultiClass" in r.stderr
    m = mlinfer.load(tmp_path / "m.mli")
    np.testing.assert_allclose(m.predict_proba(X), est.predict_proba(X), rtol=RTOL, atol=ATOL)


# ---- contributions ----------------------------------------------------------------------

def test_contributions_match_shap_values(mlinfer, tmp_path):
    """Path-dependent TreeSHAP on the expanded tree (the last split at the root, as CatBoost
    walks its levels) is CatBoost's ShapValues, when no node of a tree has zero weight."""
    X, s = _data(n=2000)
    for cls, y in (("CatBoostRegressor", s), ("CatBoostClassifier", np.digitize(s, [-0.5, 0.5]))):
        est = _fit(cls, X, y, depth=2, iterations=10)
        m, _ = _save_load(mlinfer, est, tmp_path)
        got = np.asarray(m.predict_contrib(X[:200]))  # (rows[, classes], columns + 1), as CatBoost's
        want = est.get_feature_importance(cb.Pool(X[:200]), type="ShapValues")
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-9)
        raw = np.asarray(m.predict_raw(X[:200])).reshape(200, -1)
        np.testing.assert_allclose(got.reshape(200, -1, X.shape[1] + 1).sum(-1), raw, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("cls,depth,classes", [("CatBoostRegressor", 6, 0), ("CatBoostClassifier", 4, 2),
                                                ("CatBoostClassifier", 5, 3), ("CatBoostRegressor", 8, 0)])
def test_contributions_with_zero_weight_leaves(mlinfer, tmp_path, cls, depth, classes):
    """Leaves no training row reached (weight 0: nearly every symmetric tree of depth >= 3 has
    them) count 0 in CatBoost's value function (its ShapValues skips them); so do ours, and
    the contributions match CatBoost's to rounding, on rows with NaN, one row at a time and in
    blocks, and sum to the raw score. The pairwise interactions match its
    ShapInteractionValues (the bias row and column are laid out differently: not compared)."""
    X, s = _data(n=400, nan=0.05, seed=3)
    y = s if not classes else (s > 0) if classes == 2 else np.digitize(s, [-0.5, 0.5])
    est = _fit(cls, X, y, depth=depth, iterations=30)
    m, path = _save_load(mlinfer, est, tmp_path)
    doc = json.loads(path.read_text())
    zero = [t for t in doc["oblivious_trees"] if 0 in t["leaf_weights"]]
    assert len(zero) > 10  # the case under test is there
    for t in zero:  # CatBoost leaves them at 0 (what the refusal below relies on)
        w = np.repeat(np.asarray(t["leaf_weights"]), len(t["leaf_values"]) // len(t["leaf_weights"]))
        assert not np.asarray(t["leaf_values"])[w == 0].any()
    Xt, _ = _data(n=300, nan=0.05, seed=4)
    Xt *= 2.0  # beyond the training range: rows in rarely reached leaves
    want = est.get_feature_importance(cb.Pool(Xt), type="ShapValues")
    got = np.asarray(m.predict_contrib(Xt)).reshape(want.shape)
    scale = np.abs(want).sum(-1, keepdims=True)
    assert np.abs(got - want).max() <= 1e-12 * scale.max()
    one = np.concatenate([np.asarray(m.predict_contrib(Xt[r:r + 1])).reshape(want[r:r + 1].shape)
                          for r in range(0, 300, 37)])
    np.testing.assert_array_equal(one, got[::37])  # the one-row walk gives the block walk's bits
    raw = np.asarray(m.predict_raw(Xt)).reshape(len(Xt), -1)
    np.testing.assert_allclose(got.reshape(len(Xt), -1, X.shape[1] + 1).sum(-1), raw, rtol=1e-12, atol=1e-12)
    if depth <= 5:
        F = X.shape[1]
        wi = est.get_feature_importance(cb.Pool(Xt[:40]), type="ShapInteractionValues")
        gi = np.asarray(m.predict_interactions(Xt[:40])).reshape(wi.shape)
        np.testing.assert_allclose(gi[..., :F, :F], wi[..., :F, :F], rtol=0, atol=1e-12 * np.abs(wi).max())


def test_contributions_refused_for_a_scored_zero_weight_leaf(mlinfer, tmp_path):
    """A leaf of weight 0 with a value other than 0 (only a hand-edited file has one) would
    count where CatBoost's ShapValues does not, and a row reaching it could not both match
    CatBoost and sum to its score: contributions are refused, naming the cause; predict is
    unaffected."""
    X, s = _data(n=200)
    est = _fit("CatBoostRegressor", X, s, depth=6)
    _, path = _save_load(mlinfer, est, tmp_path)
    doc = json.loads(path.read_text())
    t = next(t for t in doc["oblivious_trees"] if 0 in t["leaf_weights"])
    t["leaf_values"][t["leaf_weights"].index(0)] = 0.25
    path.write_text(json.dumps(doc))
    ref = cb.CatBoostRegressor()
    ref.load_model(str(path), format="json")
    m = mlinfer.load(str(path))
    np.testing.assert_allclose(np.asarray(m.predict_raw(X)).ravel(), ref.predict(X, prediction_type="RawFormulaVal"),
                               rtol=RTOL, atol=ATOL)
    with pytest.raises(mlinfer.Error, match="no training row reached"):
        m.predict_contrib(X[:5])


# ---- broken files ----------------------------------------------------------------------------

def test_corrupt_base_model_is_valid(mlinfer, tmp_path):
    """The corpus' base model is one CatBoost loads, and we agree with it."""
    path = tmp_path / "good.json"
    path.write_bytes(corrupt.to_json(corrupt.base_model()))
    ref = cb.CatBoostClassifier()
    ref.load_model(str(path), format="json")
    X = np.array([[0.5, 0.25, 1.5], [0.6, 0.3, 1.6], [np.nan] * 3, [-1, 0, 0], [-0.5, 0.2500001, 1.4999999]])
    m = mlinfer.load(path)
    np.testing.assert_allclose(np.asarray(m.predict_raw(X)).ravel(), ref.predict(X, prediction_type="RawFormulaVal"),
                               rtol=RTOL, atol=ATOL)
    np.testing.assert_array_equal(m.apply(X), ref.calc_leaf_indexes(cb.Pool(X)))


@pytest.mark.parametrize("case", corrupt.cases(), ids=lambda c: c[0])
def test_corrupt_file(mlinfer, tmp_path, case):
    corrupt_corpus.check_fails(mlinfer, tmp_path, case)


def test_truncations_and_byte_flips(mlinfer):
    """Every prefix of a small model and 400 single-byte changes load or raise mlinfer.Error."""
    good = corrupt.to_json(corrupt.base_model())
    for k in range(len(good)):
        try:
            mlinfer.load(good[:k])
        except mlinfer.Error:
            pass
    rng = np.random.default_rng(0)
    for _ in range(400):
        b = bytearray(good)
        b[rng.integers(len(b))] = int(rng.integers(256))
        try:
            m = mlinfer.load(bytes(b))
        except mlinfer.Error:
            continue
        m.predict(np.zeros((2, m.n_features_in_)))
