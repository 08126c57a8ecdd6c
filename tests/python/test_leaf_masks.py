"""The leaf-mask walks (docs/TREES.md, "Walks") on the models that take them: trees of at
most 64 leaves from the frameworks themselves -- LightGBM at its 31 and 63 leaves (deep,
uneven trees), XGBoost at depth 6 (nearly full trees of 64 leaves, some with their last
leaves on a right spine, where no left subtree reaches leaf 32) and HistGradientBoosting --
and LightGBM and XGBoost multiclass models (each tree adding to its class's score) --
trained on data with NaN, scored on rows that sit on the trees' thresholds, one float step
either side, NaN and infinities. Trees of 65 to 256 leaves take the wide masks (up to 8
words of 32 bits) where the CPU has AVX-512: LightGBM at 100 and 250 leaves (deep, uneven:
up to 8 words), XGBoost at depth 8 on a table of one-hot columns (trees of 65 to ~200
leaves; the full ones stay on the walk), a LightGBM multiclass model of 120 leaves, and a
scikit-learn forest classifier of 150-leaf trees (vector leaves: the rows' leaves, not
values, come out of the masks).

Each walk runs in its own process (MLI_TREE_STRATEGY and MLI_FORCE_ISA are read once):
the masks as the CPU picks them ("simd"), the walks without them ("walk"), and the AVX2
kernels where the CPU has AVX-512. Their margins must be equal bit for bit (the same leaves,
summed in the same order), in batches and row by row, and equal to the framework's own
margins within 1e-5 (float32 leaf values in XGBoost and LightGBM's sums).
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import mlinfer

# the rows hold values beyond the float32 range (infinity once cast), as data can
pytestmark = pytest.mark.filterwarnings("ignore:overflow encountered in cast:RuntimeWarning")

WORKER = r"""
import sys, numpy as np, mlinfer
X = np.load(sys.argv[1])
m = mlinfer.load(sys.argv[2])
out = {}
for dt in ("f64", "f32"):
    Z = X.astype(np.float64 if dt == "f64" else np.float32)
    out[dt] = m.predict_raw(Z)
    out[dt + "_blocks"] = np.concatenate([m.predict_raw(Z[i:i + 23]) for i in range(0, len(Z), 23)])
np.savez(sys.argv[3], **out)
"""


def _isas():
    best = mlinfer.cpu_isa()
    order = ["scalar", "avx2", "avx512"]
    return order[: order.index(best) + 1] if best in order else ["scalar"]


def _rows(rng, X, thresholds, n):
    """Rows of X with values put on, and one float32 or float64 step either side of, the thresholds."""
    Z = X[rng.integers(len(X), size=n)].copy()
    for i in range(n):
        for _ in range(4):
            f, t = thresholds[rng.integers(len(thresholds))]
            step = [0, 1, -1, 2, -2][rng.integers(5)]
            if step in (1, -1):
                v = np.nextafter(t, np.inf if step > 0 else -np.inf)
            elif step in (2, -2):
                v = float(np.nextafter(np.float32(t), np.float32(np.inf if step > 0 else -np.inf)))
            else:
                v = t
            Z[i, f] = v
    Z[rng.random(Z.shape) < 0.03] = np.nan
    Z[rng.random(Z.shape) < 0.003] = np.inf
    Z[: n // 4][np.isnan(Z[: n // 4])] = 0.5  # a quarter of the rows without NaN: the NaN-free walks
    return Z


def _lgb_thresholds(booster):
    out = []

    def walk(n):
        if "split_feature" in n:
            out.append((n["split_feature"], float(n["threshold"])))
            walk(n["left_child"])
            walk(n["right_child"])

    for t in booster.dump_model()["tree_info"]:
        walk(t["tree_structure"])
    return out


def _xgb_thresholds(booster):
    df = booster.trees_to_dataframe()
    df = df[df["Feature"] != "Leaf"]
    return [(int(f[1:]), float(s)) for f, s in zip(df["Feature"], df["Split"])]


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    lgb = pytest.importorskip("lightgbm")
    xgb = pytest.importorskip("xgboost")
    from sklearn.ensemble import HistGradientBoostingRegressor

    d = tmp_path_factory.mktemp("masks")
    rng = np.random.default_rng(3)
    X = rng.normal(size=(4000, 12))
    y = X[:, 0] + np.sin(3 * X[:, 1]) + (X[:, 2] > 0.3) * X[:, 3] + 0.1 * rng.normal(size=len(X))
    X[rng.random(X.shape) < 0.05] = np.nan
    out = []
    f64_f32 = (("f64", np.float64), ("f32", np.float32))

    def lgb_case(name, params, Xf, yf, rounds):
        b = lgb.train({"min_data_in_leaf": 5, "verbose": -1, "seed": 0, **params}, lgb.Dataset(Xf, yf),
                      num_boost_round=rounds)
        path = d / f"{name}.txt"
        b.save_model(str(path))
        Z = _rows(rng, Xf, _lgb_thresholds(b), 600)
        out.append((name, path, Z, {dt: b.predict(Z.astype(t).astype(np.float64), raw_score=True)
                                    for dt, t in f64_f32}))

    def xgb_case(name, m, Xf):
        path = d / f"{name}.json"
        m.get_booster().save_model(str(path))
        Z = _rows(rng, Xf, _xgb_thresholds(m.get_booster()), 600)
        out.append((name, path, Z, {dt: m.get_booster().inplace_predict(Z.astype(t), predict_type="margin")
                                    for dt, t in f64_f32}))

    for leaves in (31, 63):
        lgb_case(f"lightgbm-{leaves}", {"objective": "regression", "num_leaves": leaves}, X, y, 40)
    xgb_case("xgboost-6", xgb.XGBRegressor(n_estimators=40, max_depth=6, tree_method="hist",
                                           random_state=0).fit(X, y), X)
    # several scores: each tree adds to its class's column (the permuted values added one by one)
    yc = np.digitize(y, np.quantile(y, [0.25, 0.5, 0.75]))
    lgb_case("lightgbm-multiclass", {"objective": "multiclass", "num_class": 4, "num_leaves": 40}, X, yc, 15)
    xgb_case("xgboost-multiclass", xgb.XGBClassifier(n_estimators=15, max_depth=6, tree_method="hist",
                                                     random_state=0).fit(X, yc), X)
    # wide masks: trees of 65 to 256 leaves
    for leaves in (100, 250):
        lgb_case(f"lightgbm-{leaves}", {"objective": "regression", "num_leaves": leaves, "min_data_in_leaf": 3},
                 X, y, 12)
    lgb_case("lightgbm-multiclass-wide", {"objective": "multiclass", "num_class": 3, "num_leaves": 120,
                                          "min_data_in_leaf": 3}, X, np.minimum(yc, 2), 6)
    # one-hot columns (as a ColumnTransformer gives them) and two numeric ones, NaN in those
    codes = rng.integers(0, 8, size=(len(X), 4))
    Xo = np.hstack([X[:, :2]] + [(codes[:, [j]] == np.arange(8)).astype(float) for j in range(4)])
    Xn = np.nan_to_num(X)
    yo = Xn[:, 0] + (codes[:, 0] == 3) - 0.5 * (codes[:, 1] > 4) + 0.3 * codes[:, 2] * Xn[:, 1]
    yo = yo + rng.normal(size=len(X))
    xgb_case("xgboost-8-onehot", xgb.XGBRegressor(n_estimators=20, max_depth=8, tree_method="hist",
                                                  random_state=0).fit(Xo, yo), Xo)
    from sklearn.ensemble import RandomForestClassifier
    rf = RandomForestClassifier(n_estimators=6, max_leaf_nodes=150, random_state=0).fit(np.nan_to_num(X), yc)
    path = d / "rf150.mli"
    mlinfer.export(rf, str(path))
    Z = _rows(rng, np.nan_to_num(X), [(int(f), float(t)) for e in rf.estimators_ for f, t in
                                      zip(e.tree_.feature, e.tree_.threshold) if f >= 0], 600)
    Z = np.nan_to_num(Z, nan=0.25, posinf=3e38)  # the forest was fitted without NaN; sklearn refuses inf
    out.append(("randomforest-150", path, Z, {dt: rf.predict_proba(Z.astype(t).astype(np.float32))
                                              for dt, t in f64_f32}))
    h = HistGradientBoostingRegressor(max_iter=30, random_state=0).fit(X, y)
    path = d / "hgb.mli"
    mlinfer.export(h, str(path))
    Z = _rows(rng, X, [(f, float(t)) for p in h._predictors for f, t in
                       zip(p[0].nodes["feature_idx"], p[0].nodes["num_threshold"])], 600)
    out.append(("histgradientboosting", path, Z, {dt: h.predict(Z.astype(t).astype(np.float64))
                                                  for dt, t in f64_f32}))
    return d, out


def _run(d, name, path, Z, strategy, isa):
    pkg = str(Path(mlinfer.__file__).resolve().parents[1])
    env = dict(os.environ, MLI_TREE_STRATEGY=strategy,
               PYTHONPATH=os.pathsep.join([pkg] + [p for p in [os.environ.get("PYTHONPATH")] if p]))
    if isa:
        env["MLI_FORCE_ISA"] = isa
    xp, res = d / f"{name}.npy", d / f"{name}-{strategy}-{isa}.npz"
    np.save(xp, Z)
    subprocess.run([sys.executable, "-c", WORKER, str(xp), str(path), str(res)], env=env, check=True)
    return np.load(res)


def test_leaf_masks_equal_the_walks_and_the_frameworks(models):
    d, cases = models
    isas = [i for i in ("avx2", "avx512") if i in _isas()]
    for name, path, Z, ref in cases:
        base = _run(d, name, path, Z, "walk", None)
        for dt in ("f64", "f32"):
            # the frameworks: XGBoost and LightGBM sum float32 leaf values (1e-5 of the margin's scale)
            np.testing.assert_allclose(base[dt].ravel(), np.asarray(ref[dt]).ravel(), rtol=1e-5, atol=1e-5,
                                       err_msg=f"{name}/{dt}: the walk against the framework")
        for strategy, isa in [("simd", None)] + [("simd", i) for i in isas] + [("walk", i) for i in isas]:
            got = _run(d, name, path, Z, strategy, isa)
            for dt in ("f64", "f32"):
                for k in (dt, dt + "_blocks"):
                    np.testing.assert_array_equal(got[k], base[dt], err_msg=f"{name}/{k} ({strategy}, {isa})")
