#!/usr/bin/env python3
"""make_models.py — regenerates the golden models in tests/data/ with the Python exporter,
and, next to each NAME.mli, NAME.expected.txt: the metadata the C tests check, a few input
rows and scikit-learn's outputs for them (float64, %.17g), so tests/model/ can check
predictions without Python.

    MLINFER_LIBRARY=build-hard/libmlinfer.so PYTHONPATH=bindings/python \
        python3 tests/data/make_models.py            # from the repository root

Deterministic: fixed seeds, fixed datasets (written with scikit-learn 1.9.1; another
version may train slightly different weights, so regenerate both files together). After a run, regenerate the corrupt corpus
(tests/data/corrupt/make_corrupt.py), which is derived from these files.

NAME.expected.txt is whitespace-separated tokens:
    task classification|regression
    n_features F  n_outputs O  n_classes K  n_decision D  has_proba 0|1
    labels none | labels int K v0 .. | labels str K s0 ..     (no spaces inside labels)
    meta KEY VALUE                                                 (a few metadata checks)
    input R F   then R*F values, row-major
    predict R O then values (class indices 0..K-1 for classifiers)
    proba R K   then values                                    (when has_proba)
    decision R D then values                                   (when D > 0)
    end
"""
from __future__ import annotations

import os
import sys
import warnings

import numpy as np
from sklearn.datasets import load_iris, make_classification, make_regression
from sklearn.ensemble import HistGradientBoostingRegressor, RandomForestClassifier
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression, Ridge, SGDClassifier
from sklearn.neural_network import MLPClassifier, MLPRegressor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import MinMaxScaler, StandardScaler

from mlinfer.export import to_bytes

HERE = os.path.dirname(os.path.abspath(__file__))
ROWS = 8
MIN_MARGIN = 1e-3  # rows this close to a decision boundary are skipped: float32 may flip them
MAX_FILE = 50_000


def _fmt(v) -> str:
    return "%.17g" % float(v)


def _pick_rows(X, scores):
    """The first ROWS rows whose top two scores (or the binary score and 0) differ by
    at least MIN_MARGIN, so float32 arithmetic cannot change the predicted class."""
    keep = []
    for i in range(X.shape[0]):
        s = np.atleast_1d(scores[i])
        if s.shape[0] == 1:
            margin = abs(s[0])
        else:
            top = np.sort(s)[::-1]
            margin = top[0] - top[1]
        if margin >= MIN_MARGIN:
            keep.append(i)
        if len(keep) == ROWS:
            break
    return X[keep]


def _matrix(name, M) -> str:
    M = np.asarray(M, dtype=np.float64)
    if M.ndim == 1:
        M = M[:, None]
    lines = [f"{name} {M.shape[0]} {M.shape[1]}"]
    lines += [" ".join(_fmt(v) for v in row) for row in M]
    return "\n".join(lines)


def write_model(name, est, X, compress=False, meta_checks=()):
    model = est[-1] if hasattr(est, "steps") else est
    classifier = hasattr(model, "classes_")
    if classifier:
        score_fn = est.decision_function if hasattr(est, "decision_function") else est.predict_proba
        X = _pick_rows(X, score_fn(X))
    else:
        X = X[:ROWS]
    data = to_bytes(est, compress=compress)
    assert len(data) < MAX_FILE, f"{name}: {len(data)} bytes is over the {MAX_FILE}-byte budget"
    with open(os.path.join(HERE, name + ".mli"), "wb") as f:
        f.write(data)

    out = []
    n_features = X.shape[1]
    if classifier:
        classes = model.classes_
        k = len(classes)
        has_proba = hasattr(est, "predict_proba")
        n_decision = 0
        if hasattr(est, "decision_function"):
            d = np.asarray(est.decision_function(X))
            n_decision = 1 if d.ndim == 1 else d.shape[1]
        out.append("task classification")
        out.append(f"n_features {n_features} n_outputs 1 n_classes {k} n_decision {n_decision} "
                   f"has_proba {int(has_proba)}")
        if classes.dtype.kind in "iu":
            out.append(f"labels int {k} " + " ".join(str(int(c)) for c in classes))
        else:
            assert all(" " not in str(c) for c in classes)
            out.append(f"labels str {k} " + " ".join(str(c) for c in classes))
    else:
        y = np.asarray(est.predict(X))
        n_out = 1 if y.ndim == 1 else y.shape[1]
        out.append("task regression")
        out.append(f"n_features {n_features} n_outputs {n_out} n_classes 0 n_decision 0 has_proba 0")
        out.append("labels none")
    for key, value in meta_checks:
        out.append(f"meta {key} {value}")
    out.append(_matrix("input", X))
    if classifier:
        pred = est.predict(X)
        idx = np.array([int(np.flatnonzero(model.classes_ == p)[0]) for p in pred])
        out.append(_matrix("predict", idx))
        if has_proba:
            out.append(_matrix("proba", est.predict_proba(X)))
        if n_decision:
            out.append(_matrix("decision", est.decision_function(X)))
    else:
        out.append(_matrix("predict", est.predict(X)))
    out.append("end\n")
    with open(os.path.join(HERE, name + ".expected.txt"), "w") as f:
        f.write("\n".join(out))
    print(f"{name}.mli: {len(data)} bytes")


def write_framework_model(name, ext, save, X, margin, proba, meta_checks=()):
    """A model file of another framework (XGBoost JSON, LightGBM text) that the C loader
    reads directly, with the framework's own outputs as the expected values: a classifier
    with labels 0..K-1, `margin` its raw scores and `proba` its probabilities."""
    path = os.path.join(HERE, name + ext)
    save(path)
    assert os.path.getsize(path) < MAX_FILE, f"{name}: over the {MAX_FILE}-byte budget"
    margin = np.asarray(margin, np.float64)
    k = proba.shape[1]
    n_decision = 1 if margin.ndim == 1 else margin.shape[1]
    out = ["task classification",
           f"n_features {X.shape[1]} n_outputs 1 n_classes {k} n_decision {n_decision} has_proba 1",
           f"labels int {k} " + " ".join(str(i) for i in range(k))]
    out += [f"meta {key} {value}" for key, value in meta_checks]
    out += [_matrix("input", X), _matrix("predict", np.argmax(proba, axis=1)), _matrix("proba", proba),
            _matrix("decision", margin), "end\n"]
    with open(os.path.join(HERE, name + ".expected.txt"), "w") as f:
        f.write("\n".join(out))
    print(f"{name}{ext}: {os.path.getsize(path)} bytes")


def write_scaled_forest():
    """Scalers before a tree stage (format 1.3): StandardScaler (f32_params) + RandomForest."""
    Xq, yq = make_classification(n_samples=300, n_features=5, n_informative=3, n_classes=3,
                                 n_clusters_per_class=1, random_state=10)
    Xq = Xq * 40.0 + 7.0
    labels = np.array(["low", "mid", "high"])[yq]
    est = make_pipeline(StandardScaler(), RandomForestClassifier(n_estimators=6, max_depth=4, random_state=0))
    write_model("scaled_forest", est.fit(Xq, labels), Xq, compress=False,
                meta_checks=[("stages", "2"), ("stage.0.kind", "affine"), ("stage.0.f32_params", "1"),
                             ("stage.1.kind", "trees"), ("class_labels", "str")])


def main():
    warnings.filterwarnings("ignore", category=ConvergenceWarning)  # small max_iter on purpose: tiny files
    rng = np.random.RandomState(0)

    X, y = make_classification(n_samples=300, n_features=8, n_informative=5, random_state=1)
    write_model("logreg_binary", LogisticRegression(max_iter=1000).fit(X, y), X,
                meta_checks=[("task", "classification"), ("head", "binary_logistic"), ("stage.0.kind", "linear")])

    iris = load_iris()
    Xi, yi = iris.data, iris.target_names[iris.target]  # string labels
    perm = rng.permutation(len(Xi))
    write_model("logreg_multi_strlabels", LogisticRegression(max_iter=2000).fit(Xi, yi), Xi[perm],
                meta_checks=[("head", "multinomial"), ("class_labels", "str")])

    Xr, yr = make_regression(n_samples=200, n_features=6, n_targets=3, noise=0.5, random_state=2)
    write_model("ridge_multi", Ridge(alpha=0.7).fit(Xr, yr), Xr,
                meta_checks=[("task", "regression"), ("head", "identity"), ("n_outputs", "3")])

    Xc, yc = make_classification(n_samples=400, n_features=10, n_informative=6, n_classes=3,
                                 n_clusters_per_class=1, random_state=3)
    labels = np.array([-7, 3, 42])[yc]  # integer labels that are not 0..K-1
    Xc = Xc * 5.0 + 2.0  # give the scaler something to do
    mlp = make_pipeline(StandardScaler(), MLPClassifier(hidden_layer_sizes=(16, 8), max_iter=600, random_state=0))
    write_model("mlp_pipeline", mlp.fit(Xc, labels), Xc,
                meta_checks=[("stages", "2"), ("stage.0.kind", "affine"), ("stage.1.kind", "mlp"),
                             ("class_labels", "int")])

    # compressed: every section over 256 bytes is a zlib stream
    Xm, ym = make_regression(n_samples=300, n_features=12, noise=1.0, random_state=4)
    mlpr = make_pipeline(MinMaxScaler(clip=True),
                         MLPRegressor(hidden_layer_sizes=(24,), activation="tanh", max_iter=800, random_state=0))
    write_model("mlp_regressor_z", mlpr.fit(Xm, ym), Xm, compress=True,
                meta_checks=[("stage.0.clip", "1"), ("stage.1.activation", "tanh")])

    Xs, ys = make_classification(n_samples=300, n_features=5, n_informative=3, n_classes=4,
                                 n_clusters_per_class=1, random_state=5)
    sgd = SGDClassifier(loss="modified_huber", random_state=0, max_iter=50, tol=None).fit(Xs, ys)
    write_model("sgd_ovr_mhuber", sgd, Xs, meta_checks=[("head", "ovr_modified_huber")])

    # tree ensembles: a forest (vector leaves, le_f32) and a boosted model with NaN (le_f64)
    Xt, yt = make_classification(n_samples=400, n_features=6, n_informative=4, n_classes=3,
                                 n_clusters_per_class=1, random_state=6)
    rf = RandomForestClassifier(n_estimators=12, max_depth=5, random_state=0).fit(Xt, yt)
    write_model("forest_multi", rf, Xt, compress=True,
                meta_checks=[("stage.0.kind", "trees"), ("stage.0.compare", "le_f32"), ("head", "proba")])
    Xh, yh = make_regression(n_samples=400, n_features=5, noise=2.0, random_state=7)
    Xh[rng.rand(*Xh.shape) < 0.1] = np.nan
    hgb = HistGradientBoostingRegressor(max_iter=15, max_leaf_nodes=8, random_state=0).fit(Xh, yh)
    write_model("hgb_nan", hgb, Xh,
                meta_checks=[("stage.0.kind", "trees"), ("stage.0.compare", "le_f64")])

    write_scaled_forest()

    # framework files the C loader imports itself: XGBoost JSON (binary, NaN) and LightGBM text
    # (multiclass). Inputs are float32 values, the frameworks' own working type for XGBoost.
    import lightgbm as lgb
    import xgboost as xgb

    Xx, yx = make_classification(n_samples=400, n_features=6, n_informative=4, random_state=8)
    Xx[rng.rand(*Xx.shape) < 0.05] = np.nan
    Xx = Xx.astype(np.float32).astype(np.float64)
    bst = xgb.train({"objective": "binary:logistic", "max_depth": 3, "nthread": 1, "seed": 0},
                    xgb.DMatrix(Xx, yx), num_boost_round=8)
    Xe = _pick_rows(Xx, bst.predict(xgb.DMatrix(Xx), output_margin=True))
    p1 = bst.predict(xgb.DMatrix(Xe))
    write_framework_model("xgb_binary", ".json", bst.save_model, Xe,
                          bst.predict(xgb.DMatrix(Xe), output_margin=True), np.column_stack([1 - p1, p1]),
                          meta_checks=[("stage.0.compare", "lt_f32"), ("head", "binary_logistic")])

    Xl, yl = make_classification(n_samples=600, n_features=7, n_informative=4, n_classes=3,
                                 n_clusters_per_class=1, random_state=9)
    Xl = Xl.astype(np.float32).astype(np.float64)
    gbm = lgb.train({"objective": "multiclass", "num_class": 3, "num_leaves": 6, "verbose": -1,
                     "num_threads": 1, "seed": 0}, lgb.Dataset(Xl, yl), num_boost_round=6)
    Xe = _pick_rows(Xl, gbm.predict(Xl, raw_score=True))
    write_framework_model("lgb_multi", ".txt", gbm.save_model, Xe, gbm.predict(Xe, raw_score=True),
                          gbm.predict(Xe), meta_checks=[("stage.0.compare", "le_f64"), ("head", "multinomial")])


def write_prep_models():
    """Pipelines with a prep stage (docs/FORMAT.md, `prep`). prep_numeric: numeric columns only
    (imputer + indicator + scaler, one-hot of an integer column, clipped min-max), so the
    golden-file tests of tests/model/ (rows of numbers, truncation, bit flips) cover the stage.
    prep_strings: string columns with missing values, for tests/model/test_model_columns.c,
    with prep_strings.columns.txt: one token per cell (a number, nan, null, none, or s:TEXT)
    and scikit-learn's outputs."""
    import pandas as pd
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.impute import SimpleImputer
    from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder

    rng = np.random.RandomState(11)
    n = 300
    df = pd.DataFrame({"x0": rng.normal(0, 2, n), "x1": rng.normal(5, 1, n), "k": rng.randint(0, 5, n).astype(float),
                       "m": rng.uniform(-3, 3, n)})
    df.loc[rng.rand(n) < 0.1, "x0"] = np.nan
    df.loc[rng.rand(n) < 0.1, "m"] = np.nan
    y = (df["x1"] + (df["k"] == 2) - 0.3 * df["x0"].fillna(0) + rng.normal(0, 0.5, n) > 5.2).astype(int)
    ct = ColumnTransformer([
        ("num", make_pipeline(SimpleImputer(add_indicator=True), StandardScaler()), ["x0", "x1"]),
        ("k", OneHotEncoder(handle_unknown="ignore"), ["k"]),
        ("m", make_pipeline(SimpleImputer(strategy="median"), MinMaxScaler(clip=True)), ["m"]),
    ])
    est = make_pipeline(ct, LogisticRegression(max_iter=1000)).fit(df, y)
    X = df.to_numpy()
    keep = _pick_rows(np.arange(n)[:, None], est.decision_function(df))[:, 0]
    X[keep[0], 2] = 7.0  # a category never seen in training: all zeros
    rows = pd.DataFrame(X[keep], columns=df.columns)
    data = to_bytes(est)
    with open(os.path.join(HERE, "prep_numeric.mli"), "wb") as f:
        f.write(data)
    pred = est.predict(rows)
    out = ["task classification", "n_features 4 n_outputs 1 n_classes 2 n_decision 1 has_proba 1", "labels int 2 0 1",
           "meta stage.0.kind prep", "meta stage.1.kind linear", _matrix("input", rows.to_numpy()),
           _matrix("predict", pred), _matrix("proba", est.predict_proba(rows)),
           _matrix("decision", est.decision_function(rows)), "end\n"]
    with open(os.path.join(HERE, "prep_numeric.expected.txt"), "w") as f:
        f.write("\n".join(out))
    print(f"prep_numeric.mli: {len(data)} bytes")

    cats = {"plan": ["basic", "plus", "pro"], "city": ["oslo", "rome", "lima", "kyiv", "nuuk"],
            "dev": ["ios", "android", "web"]}
    df = pd.DataFrame({"age": rng.normal(40, 12, n), "spend": rng.gamma(2, 30, n)})
    for c, v in cats.items():
        col = rng.choice(v, n).astype(object)
        if c != "plan":
            col[rng.rand(n) < 0.08] = np.nan
            col[rng.rand(n) < 0.05] = None
        df[c] = col
    df.loc[rng.rand(n) < 0.1, "age"] = np.nan
    y = np.where(df["plan"] == "pro", 2, np.where(df["spend"] > 60, 1, 0))
    y = np.where(rng.rand(n) < 0.1, rng.randint(0, 3, n), y)
    ct = ColumnTransformer([
        ("plan", OneHotEncoder(handle_unknown="error"), ["plan"]),
        ("city", make_pipeline(SimpleImputer(strategy="constant", fill_value="missing"),
                               OneHotEncoder(handle_unknown="infrequent_if_exist", min_frequency=40)), ["city"]),
        ("dev", OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1), ["dev"]),
        ("num", "passthrough", ["age", "spend"]),
    ], sparse_threshold=0)
    est = make_pipeline(ct, HistGradientBoostingClassifier(max_iter=10, max_leaf_nodes=6, random_state=0)).fit(df, y)
    data = to_bytes(est)
    with open(os.path.join(HERE, "prep_strings.mli"), "wb") as f:
        f.write(data)
    rows = df.iloc[:12].copy()
    rows.iloc[0, rows.columns.get_loc("city")] = "paris"  # unknown: the infrequent group
    rows.iloc[1, rows.columns.get_loc("dev")] = "tv"  # unknown: -1
    rows.iloc[2, rows.columns.get_loc("city")] = None
    rows.iloc[3, rows.columns.get_loc("dev")] = np.nan

    def tok(v):
        if v is None:
            return "none"
        if isinstance(v, str):
            assert " " not in v
            return "s:" + v
        return "null" if np.isnan(v) else _fmt(v)
    out = [f"columns {len(rows.columns)}"] + [f"{c} {'string' if rows[c].dtype == object else 'number'}"
                                              for c in rows.columns]
    out.append(f"rows {len(rows)}")
    out += [" ".join(tok(v) for v in rows.iloc[i]) for i in range(len(rows))]
    out += [_matrix("predict", est.predict(rows)), _matrix("proba", est.predict_proba(rows)), "end\n"]
    with open(os.path.join(HERE, "prep_strings.columns.txt"), "w") as f:
        f.write("\n".join(out))
    print(f"prep_strings.mli: {len(data)} bytes")


def write_prep_linalg():
    """prep_linalg: the prep ops that read a group of registers or check values -- a feature
    selector (its `func finite` checks), PolynomialFeatures (`poly`), PCA with whiten (`project`)
    -- after an imputer, then a LogisticRegression; rows of numbers with NaN, so the golden-file
    tests of tests/model/ (truncation, bit flips) and test_model_columns.c's flips with CRCs fixed
    cover them."""
    from sklearn.decomposition import PCA
    from sklearn.feature_selection import SelectKBest
    from sklearn.impute import SimpleImputer
    from sklearn.preprocessing import PolynomialFeatures

    rng = np.random.RandomState(17)
    n = 400
    X = rng.normal(0, 1, (n, 5)) * [1.0, 2.0, 0.5, 3.0, 1.0]
    y = (X[:, 0] * X[:, 1] + X[:, 2] - 0.2 * X[:, 3] + rng.normal(0, 0.5, n) > 0).astype(int)
    X[rng.rand(n, 5) < 0.08] = np.nan
    est = make_pipeline(SimpleImputer(), SelectKBest(k=4), PolynomialFeatures(2, include_bias=False),
                        PCA(4, whiten=True), LogisticRegression(max_iter=2000)).fit(X, y)
    _write_prep_binary("prep_linalg", est, _pick_rows(X, est.decision_function(X)))


def _write_prep_binary(name, est, rows):
    """NAME.mli and NAME.expected.txt for a binary classifier with a prep stage before a linear one,
    over rows of numbers."""
    data = to_bytes(est)
    with open(os.path.join(HERE, name + ".mli"), "wb") as f:
        f.write(data)
    out = ["task classification", f"n_features {rows.shape[1]} n_outputs 1 n_classes 2 n_decision 1 has_proba 1",
           "labels int 2 0 1", "meta stage.0.kind prep", "meta stage.1.kind linear", _matrix("input", rows),
           _matrix("predict", est.predict(rows)), _matrix("proba", est.predict_proba(rows)),
           _matrix("decision", est.decision_function(rows)), "end\n"]
    with open(os.path.join(HERE, name + ".expected.txt"), "w") as f:
        f.write("\n".join(out))
    print(f"{name}.mli: {len(data)} bytes")

def write_prep_spline():
    """prep_spline: SplineTransformer `spline` ops in every extrapolation mode (linear at degree 1,
    whose raised degree carries over to the next feature; periodic; constant; continue without the
    bias column; error with handle_missing='zeros', so NaN gives zeros), and a QuantileTransformer with the
    normal output and an l2 Normalizer (the other ops not bit for bit scikit-learn's) before a LogisticRegression,
    rows of numbers with NaN in the `zeros` columns: the golden-file tests (truncation, bit flips)
    and the corrupt corpus's `prep_spline_*` cases."""
    from sklearn.compose import ColumnTransformer
    from sklearn.preprocessing import Normalizer, QuantileTransformer, SplineTransformer

    rng = np.random.RandomState(23)
    n = 400
    X = rng.normal(0, 1, (n, 6)) * [1.0, 2.0, 3.0, 0.5, 1.0, 1.0]
    y = (np.sin(X[:, 0]) + np.cos(X[:, 2]) + X[:, 3] - 0.3 * X[:, 4] + rng.normal(0, 0.3, n) > 0.5).astype(int)
    ct = ColumnTransformer([
        ("lin", SplineTransformer(n_knots=4, degree=1, extrapolation="linear"), [0, 1]),
        ("per", SplineTransformer(n_knots=5, degree=3, extrapolation="periodic"), [2]),
        ("con", SplineTransformer(n_knots=3, degree=2, extrapolation="constant", knots="quantile"), [3]),
        ("cont", SplineTransformer(n_knots=4, degree=3, extrapolation="continue", include_bias=False), [4]),
        ("zero", SplineTransformer(n_knots=4, degree=2, handle_missing="zeros"), [5]),
        ("qn", QuantileTransformer(n_quantiles=20, output_distribution="normal"), [0, 2]),
        ("l2", Normalizer(), [1, 3, 4]),
    ])
    est = make_pipeline(ct, LogisticRegression(max_iter=2000)).fit(X, y)
    T = rng.normal(0, 1, (n, 6)) * [1.0, 2.0, 3.0, 0.5, 1.0, 1.0] * 1.5  # beyond the knots too
    T[:, 5] = np.clip(T[:, 5], X[:, 5].min(), X[:, 5].max())  # extrapolation='error'
    T[rng.rand(n) < 0.1, 5] = np.nan
    T[[1, 4], 5] = np.nan  # among the rows picked
    _write_prep_binary("prep_spline", est, _pick_rows(T, est.decision_function(T)))


def write_contrib_models():
    """prep_contrib.mli and prep_contrib_linear.mli: pipelines with a prep stage for the
    contributions per input column (tests/model/test_model_contrib_columns.c, and fuzz seeds
    with the `stage.0.out_names` and `background_mean` sections). Columns: age (number,
    missing), spend (number), plan (strings, None and NaN), city (strings, ordinal with unknown
    values), a and b (numbers mixed by an l1 Normalizer: two features reported on their own).
    The C test checks the sum rule and threads, not values: shap is the Python tests' job."""
    import pandas as pd
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.impute import SimpleImputer
    from sklearn.preprocessing import Normalizer, OneHotEncoder, OrdinalEncoder

    rng = np.random.RandomState(19)
    n = 400
    df = pd.DataFrame({"age": rng.normal(40, 12, n), "spend": rng.gamma(2, 30, n),
                       "plan": rng.choice(["basic", "plus", "pro"], n).astype(object),
                       "city": rng.choice(["oslo", "rome", "lima"], n).astype(object),
                       "a": rng.uniform(0, 1, n), "b": rng.uniform(0, 1, n)})
    df.loc[rng.rand(n) < 0.1, "age"] = np.nan
    plan = df["plan"].to_numpy()
    plan[rng.rand(n) < 0.06] = np.nan
    plan[rng.rand(n) < 0.06] = None
    df["plan"] = plan
    y = np.digitize(0.04 * df["age"].fillna(40) + (df["plan"] == "pro") + df["a"] - df["b"] + 0.3 * rng.randn(n),
                    [1.2, 2.0])

    def ct():
        return ColumnTransformer([
            ("num", make_pipeline(SimpleImputer(add_indicator=True), StandardScaler()), ["age", "spend"]),
            ("plan", make_pipeline(SimpleImputer(strategy="constant", fill_value="none"),
                                   OneHotEncoder(handle_unknown="ignore")), ["plan"]),
            ("city", OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1), ["city"]),
            ("norm", Normalizer(norm="l1"), ["a", "b"]),
        ], sparse_threshold=0)
    trees = make_pipeline(ct(), HistGradientBoostingClassifier(max_iter=12, max_leaf_nodes=8, random_state=0))
    linear = make_pipeline(ct(), LogisticRegression(max_iter=2000))
    for name, est, kw in (("prep_contrib", trees, {}), ("prep_contrib_linear", linear, {"background": df})):
        est.fit(df, y)
        data = to_bytes(est, **kw)
        with open(os.path.join(HERE, name + ".mli"), "wb") as f:
            f.write(data)
        print(f"{name}.mli: {len(data)} bytes")


if __name__ == "__main__":
    if sys.argv[1:] == ["--prep"]:  # the prep models only
        write_prep_linalg()
        sys.exit(write_prep_models())
    if sys.argv[1:] == ["--prep-linalg"]:
        sys.exit(write_prep_linalg())
    if sys.argv[1:] == ["--prep-spline"]:
        sys.exit(write_prep_spline())
    if sys.argv[1:] == ["--contrib"]:  # the contribution models only
        sys.exit(write_contrib_models())
    main()
    write_prep_linalg()
    write_prep_spline()
    write_prep_models()
    sys.exit(write_contrib_models())
