"""Contributions per input column through a pipeline's preprocessing (a `prep` stage):
Model.predict_contrib on DataFrames / dicts, mli_model_predict_contrib_columns.

The references are computed on the transformed matrix, independently of mlinfer's column
map: T = pipeline[:-1].transform(X); shap.TreeExplainer / XGBoost pred_contribs / LightGBM
pred_contrib / shap.LinearExplainer (independent masker over the transformed background) on
T; then summed by column with a map derived here from scikit-learn's output names
(get_feature_names_out: each name holds the one input column it comes from; a Normalizer's
outputs over several columns are their own columns). Tolerance as tests/python/
test_contrib.py: 1e-5 x the sum of |reference| per row and score; the sum rule
(contributions + bias == predict_raw) on every row to the same bound.
"""
from __future__ import annotations

import numpy as np
import pytest

pd = pytest.importorskip("pandas")
shap = pytest.importorskip("shap")
from sklearn.compose import ColumnTransformer  # noqa: E402
from sklearn.ensemble import GradientBoostingClassifier, HistGradientBoostingRegressor  # noqa: E402
from sklearn.ensemble import RandomForestRegressor  # noqa: E402
from sklearn.impute import SimpleImputer  # noqa: E402
from sklearn.linear_model import LinearRegression, LogisticRegression  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import (KBinsDiscretizer, Normalizer, OneHotEncoder, OrdinalEncoder,  # noqa: E402
                                   StandardScaler)
from test_contrib import _cls_last  # noqa: E402  (Python's class-second layout -> class last)

TOL = 1e-5
COLS = ["age", "spend", "plan", "city", "tenure", "score"]


def _frame(n, seed, missing=True):
    rng = np.random.default_rng(seed)
    df = pd.DataFrame({
        "age": rng.normal(40, 12, n),
        "spend": rng.gamma(2.0, 30.0, n),
        "plan": rng.choice(["basic", "plus", "pro"], n).astype(object),
        "city": rng.choice(["oslo", "rome", "lima", "kyiv"], n).astype(object),
        "tenure": rng.uniform(0, 10, n),
        "score": rng.normal(0, 1, n),
    })
    if missing:
        df.loc[rng.random(n) < 0.1, "age"] = np.nan
        city = df["city"].to_numpy()
        city[rng.random(n) < 0.07] = np.nan
        city[rng.random(n) < 0.05] = None
        df["city"] = city
    y = (0.03 * df["age"].fillna(40) + 0.01 * df["spend"] + (df["plan"] == "pro") * 1.5 +
         (df["city"] == "rome") * 0.8 + 0.2 * df["tenure"] + rng.normal(0, 0.4, n))
    return df, y.to_numpy()


def _ct(mix=False):
    parts = [
        ("num", make_pipeline(SimpleImputer(add_indicator=True), StandardScaler()), ["age", "spend"]),
        ("plan", OrdinalEncoder(), ["plan"]),
        ("city", OneHotEncoder(handle_unknown="ignore"), ["city"]),
        ("bins", KBinsDiscretizer(n_bins=4, encode="onehot-dense", strategy="quantile"), ["tenure"]),
    ]
    if mix:  # l1 over two columns: each output mixes both
        parts.append(("norm", Normalizer(norm="l1"), ["tenure", "score"]))
    else:
        parts.append(("score", "passthrough", ["score"]))
    return ColumnTransformer(parts, sparse_threshold=0)


def _group_map(pipe, names_in):
    """For each transformed feature: the index of the input column in its scikit-learn name,
    or None for a feature of several columns (the Normalizer's here)."""
    out = []
    for name in pipe[:-1].get_feature_names_out():
        step, _, rest = name.partition("__")
        if step == "norm":
            out.append(None)
            continue
        hits = [i for i, c in enumerate(names_in) if c in rest]
        if step in ("poly", "pca"):  # a term of one column is that column's; PCA mixes; the constant 1 is alone
            out.append(hits[0] if len(hits) == 1 and step == "poly" else None)
            continue
        assert len(hits) == 1, (name, hits)
        out.append(hits[0])
    return out


def _sum_by_column(ref, gmap, n_in):
    """ref: (n, F + 1, K) per transformed feature -> (n, n_in + n_mixed + 1, K)."""
    mixed = [f for f, g in enumerate(gmap) if g is None]
    out = np.zeros((ref.shape[0], n_in + len(mixed) + 1, ref.shape[2]))
    for f, g in enumerate(gmap):
        out[:, g if g is not None else n_in + mixed.index(f)] += ref[:, f]
    out[:, -1] = ref[:, -1]
    return out


def _as3(c):
    c = np.asarray(c, np.float64)
    return c[:, :, None] if c.ndim == 2 else c


def assert_close(ours, ref, what=""):
    ours, ref = _as3(ours), _as3(ref)
    assert ours.shape == ref.shape, (what, ours.shape, ref.shape)
    scale = np.abs(ref).sum(axis=1, keepdims=True)
    err = np.abs(ours - ref) / np.maximum(scale, 1e-300)
    worst = np.unravel_index(np.argmax(err), err.shape)
    assert err.max() <= TOL, f"{what}: relative error {err.max():.3g} at {worst}: {ours[worst]} vs {ref[worst]}"


def assert_sum_rule(model, X, c):
    c3 = _as3(c)
    raw = np.asarray(model.predict_raw(X), np.float64).reshape(len(c3), -1)
    err = np.abs(c3.sum(axis=1) - raw) / np.maximum(np.abs(c3).sum(axis=1), 1e-300)
    assert err.max() <= TOL, f"sum rule: relative error {err.max():.3g}"


def _shap_tree(est, T):
    ex = shap.TreeExplainer(est, feature_perturbation="tree_path_dependent")
    sv = ex.shap_values(T, check_additivity=False)
    sv = np.asarray(sv, np.float64)
    if isinstance(ex.shap_values(T[:1], check_additivity=False), list):
        sv = np.stack(ex.shap_values(T, check_additivity=False), axis=-1)
    if sv.ndim == 2:
        sv = sv[:, :, None]
    ev = np.atleast_1d(np.asarray(ex.expected_value, np.float64))
    return np.concatenate([sv, np.broadcast_to(ev, (len(T), sv.shape[2]))[:, None, :]], axis=1)


def _export(mlinfer, tmp_path, pipe, **kw):
    path = tmp_path / "m.mli"
    mlinfer.export(pipe, str(path), **kw)
    return mlinfer.load(str(path))


def _export_wrapper(mlinfer, tmp_path, pipe):
    """XGBoost / LightGBM scikit-learn wrappers after column preprocessing: exported once
    the exporter takes a prep stage before their trees (issue 17); skipped until then."""
    try:
        return _export(mlinfer, tmp_path, pipe)
    except mlinfer.UnsupportedModelError as e:
        if "before a tree model" in str(e):
            pytest.skip(f"this exporter cannot write {type(pipe[-1]).__name__} after a prep stage yet: {e}")
        raise


# ---- trees --------------------------------------------------------------------------------

@pytest.mark.parametrize("mix", [False, True])
def test_forest_per_column_against_shap(mlinfer, tmp_path, mix):
    df, y = _frame(600, 1)
    pipe = make_pipeline(_ct(mix), RandomForestRegressor(n_estimators=6, max_depth=7, random_state=0)).fit(df, y)
    m = _export(mlinfer, tmp_path, pipe)
    X = df.iloc[400:]
    c, names = _cls_last(m.predict_contrib(X, return_names=True))
    gmap = _group_map(pipe, COLS)
    # scikit-learn trees compare float32(x): shap gets the values the trees see
    T = pipe[:-1].transform(X).astype(np.float32).astype(np.float64)
    ref = _sum_by_column(_shap_tree(pipe[-1], T), gmap, len(COLS))
    assert_close(c, ref, "forest")
    assert_sum_rule(m, X, c)
    n_mixed = sum(g is None for g in gmap)
    assert n_mixed == (2 if mix else 0)
    assert names[:len(COLS)] == COLS and names[-1] == "bias" and len(names) == len(COLS) + n_mixed + 1
    assert names[len(COLS):-1] == [f"transformed:{n}" for n, g in zip(pipe[:-1].get_feature_names_out(), gmap)
                                   if g is None]
    assert m.contrib_columns == list(range(len(COLS))) + [-1] * n_mixed
    if not mix:
        assert c.shape == (len(X), len(COLS) + 1)  # the layout of a model without preprocessing
    # one row, as a dict of scalars and as a one-row frame, gives the bits of the batch
    row = {k: X.iloc[3][k] for k in COLS}
    np.testing.assert_array_equal(_cls_last(m.predict_contrib(row))[0], c[3])
    np.testing.assert_array_equal(_cls_last(m.predict_contrib(X.iloc[3:4]))[0], c[3])
    # a dict of columns
    np.testing.assert_array_equal(_cls_last(m.predict_contrib({k: X[k].to_numpy() for k in COLS})), c)


def test_gradient_boosting_binary(mlinfer, tmp_path):
    df, y = _frame(500, 2)
    pipe = make_pipeline(_ct(), GradientBoostingClassifier(n_estimators=8, max_depth=3, random_state=0))
    pipe.fit(df, y > np.median(y))
    m = _export(mlinfer, tmp_path, pipe)
    X = df.iloc[300:]
    c = _cls_last(m.predict_contrib(X))
    assert c.shape == (len(X), len(COLS) + 1)
    T = pipe[:-1].transform(X).astype(np.float32).astype(np.float64)
    ref = _sum_by_column(_shap_tree(pipe[-1], T), _group_map(pipe, COLS), len(COLS))
    assert_close(c, ref, "gb binary")
    assert_sum_rule(m, X, c)


def test_lightgbm_multiclass(mlinfer, tmp_path):
    """Multiclass: one set per class, the layout of the call without preprocessing
    (rows, columns + 1, classes); LightGBM's pred_contrib is class-major."""
    lgb = pytest.importorskip("lightgbm")
    df, y = _frame(600, 7)
    labels = np.digitize(y, np.quantile(y, [0.33, 0.66]))
    est = lgb.LGBMClassifier(n_estimators=8, num_leaves=8, min_child_samples=5, verbose=-1)
    pipe = make_pipeline(_ct(mix=True), est).fit(df, labels)
    m = _export_wrapper(mlinfer, tmp_path, pipe)
    X = df.iloc[400:]
    T = pipe[:-1].transform(X)
    per = est.booster_.predict(T, pred_contrib=True)
    per = per.reshape(len(X), 3, T.shape[1] + 1).transpose(0, 2, 1)
    ref = _sum_by_column(per, _group_map(pipe, COLS), len(COLS))
    c = _cls_last(m.predict_contrib(X))
    assert c.shape == (len(X), len(COLS) + 2 + 1, 3)
    assert_close(c, ref, "lightgbm multiclass")
    assert_sum_rule(m, X, c)


def test_hgb_string_categories_sum_rule(mlinfer, tmp_path):
    """Strings with NaN, None and categories never seen: every row obeys the sum rule; a
    category an ignore-encoder never saw gives its one-hot block all zeros, so the column's
    share is what the zeros contribute (equal to shap on the transformed row)."""
    df, y = _frame(800, 3)
    pipe = make_pipeline(_ct(), HistGradientBoostingRegressor(max_iter=15, max_leaf_nodes=8, random_state=0))
    pipe.fit(df, y)
    m = _export(mlinfer, tmp_path, pipe)
    X = df.iloc[:60].copy()
    X.loc[X.index[0], "city"] = "paris"  # unseen
    X.loc[X.index[1], "city"] = None
    X.loc[X.index[2], "city"] = np.nan
    X.loc[X.index[3], "age"] = np.nan
    c = _cls_last(m.predict_contrib(X))
    assert np.isfinite(c).all()
    assert_sum_rule(m, X, c)
    T = pipe[:-1].transform(X)  # HistGradientBoosting compares float64
    ref = _sum_by_column(_shap_tree(pipe[-1], T), _group_map(pipe, COLS), len(COLS))
    assert_close(c, ref, "hgb strings")
    # a column the encoder refuses (handle_unknown='error'): MLI_ERR_INPUT naming it
    strict = make_pipeline(ColumnTransformer([("plan", OneHotEncoder(), ["plan"]), ("n", "passthrough", ["score"])]),
                           HistGradientBoostingRegressor(max_iter=5)).fit(df, y)
    ms = _export(mlinfer, tmp_path, strict)
    bad = df.iloc[:3].copy()
    bad.loc[bad.index[1], "plan"] = "gold"
    with pytest.raises(ValueError, match="plan"):
        _cls_last(ms.predict_contrib(bad))


def test_xgboost_and_lightgbm_wrappers(mlinfer, tmp_path):
    xgb = pytest.importorskip("xgboost")
    lgb = pytest.importorskip("lightgbm")
    df, y = _frame(600, 4)
    gmap = None
    for est in (xgb.XGBRegressor(n_estimators=12, max_depth=4, random_state=0),
                lgb.LGBMRegressor(n_estimators=12, num_leaves=12, min_child_samples=5, verbose=-1)):
        pipe = make_pipeline(_ct(mix=True), est).fit(df, y)
        gmap = _group_map(pipe, COLS)
        m = _export_wrapper(mlinfer, tmp_path, pipe)
        X = df.iloc[400:]
        T = pipe[:-1].transform(X)
        if isinstance(est, xgb.XGBRegressor):
            per_feature = est.get_booster().predict(xgb.DMatrix(T), pred_contribs=True)
        else:
            per_feature = est.booster_.predict(T, pred_contrib=True)
        ref = _sum_by_column(_as3(per_feature), gmap, len(COLS))
        c = _cls_last(m.predict_contrib(X))
        assert_close(c, ref, type(est).__name__)
        assert_sum_rule(m, X, c)


# ---- linear heads -------------------------------------------------------------------------

def _shap_linear(est, T, bg):
    ex = shap.LinearExplainer(est, shap.maskers.Independent(bg, max_samples=len(bg)))
    sv = np.asarray(ex.shap_values(T), np.float64)
    ev = np.atleast_1d(np.asarray(ex.expected_value, np.float64))
    if sv.ndim == 2:
        sv = sv[:, :, None]
    return np.concatenate([sv, np.broadcast_to(ev, (len(T), sv.shape[2]))[:, None, :]], axis=1)


@pytest.mark.parametrize("kind", ["regression", "binary", "multiclass"])
def test_linear_head_background_frame(mlinfer, tmp_path, kind):
    """coef x (transformed value - mean of the transformed background), summed by column:
    the background DataFrame goes through the pipeline at export."""
    df, y = _frame(700, 5)
    city_imp = make_pipeline(SimpleImputer(strategy="constant", fill_value="none"), OneHotEncoder(
        handle_unknown="ignore"))
    ct = ColumnTransformer([
        ("num", make_pipeline(SimpleImputer(add_indicator=True), StandardScaler()), ["age", "spend"]),
        ("plan", OneHotEncoder(), ["plan"]),
        ("city", city_imp, ["city"]),
        ("rest", StandardScaler(), ["tenure", "score"]),
    ], sparse_threshold=0)
    if kind == "regression":
        est, target = LinearRegression(), y
    else:
        target = (y > np.median(y)).astype(int) if kind == "binary" else np.digitize(y, np.quantile(y, [0.3, 0.7]))
        est = LogisticRegression(max_iter=2000)
    pipe = make_pipeline(ct, est).fit(df, target)
    bg = df.iloc[:250]
    m = _export(mlinfer, tmp_path, pipe, background=bg)
    X = df.iloc[250:]
    c = _cls_last(m.predict_contrib(X))
    ref = _shap_linear(pipe[-1], pipe[:-1].transform(X), pipe[:-1].transform(bg))
    ref = _sum_by_column(ref, _group_map(pipe, COLS), len(COLS))
    if kind == "binary":  # shap's binary LogisticRegression: one set, the decision function's
        ref = ref[:, :, :1]
    assert_close(c, ref, f"linear {kind}")
    assert_sum_rule(m, X, c)
    # a missing value reaching the linear model is refused, as predict refuses it
    unimputed = make_pipeline(ColumnTransformer([("n", "passthrough", ["score", "age"]),
                                                 ("p", OneHotEncoder(), ["plan"])]), LinearRegression())
    ok = df.dropna(subset=["age"])
    ms = _export(mlinfer, tmp_path, unimputed.fit(ok, y[ok.index]), background=ok)
    with pytest.raises(ValueError, match="age"):
        _cls_last(ms.predict_contrib(df.iloc[:40]))
    # without background: refused, saying how to get them
    mn = _export(mlinfer, tmp_path, pipe)
    with pytest.raises(mlinfer.Error, match="background"):
        _cls_last(mn.predict_contrib(X))


def test_per_column_transformers_stay_with_their_column(mlinfer, tmp_path):
    """QuantileTransformer (uniform and normal) and SplineTransformer map one column to its
    own output(s): their contributions belong to that column (no mixed feature), and equal
    shap's LinearExplainer on the transformed matrix summed by column."""
    from sklearn.preprocessing import QuantileTransformer, SplineTransformer
    df, y = _frame(600, 11)
    ct = ColumnTransformer([
        ("q_age", make_pipeline(SimpleImputer(), QuantileTransformer(n_quantiles=50)), ["age"]),
        ("q_spend", make_pipeline(SimpleImputer(), QuantileTransformer(n_quantiles=40, output_distribution="normal")),
         ["spend"]),
        ("spline", SplineTransformer(n_knots=4), ["tenure"]),
        ("plan", OneHotEncoder(), ["plan"]),
        ("score", "passthrough", ["score"]),
    ], sparse_threshold=0)
    pipe = make_pipeline(ct, LinearRegression()).fit(df, y)
    bg = df.iloc[:200]
    m = _export(mlinfer, tmp_path, pipe, background=bg)
    X = df.iloc[200:]
    used = ["age", "spend", "tenure", "plan", "score"]
    assert m.contrib_columns == list(range(len(COLS))), m.contrib_columns  # no mixed feature
    names = _cls_last(m.predict_contrib(X.iloc[:1], return_names=True))[1]
    assert not any(str(n).startswith("transformed:") for n in names), names
    c = _as3(_cls_last(m.predict_contrib(X)))
    ref = _shap_linear(pipe[-1], pipe[:-1].transform(X), pipe[:-1].transform(bg))
    gmap = [COLS.index(next(u for u in used if u in name.partition("__")[2]))
            for name in pipe[:-1].get_feature_names_out()]
    ref = _sum_by_column(ref, gmap, len(COLS))
    assert_close(c, ref, "quantile / spline per column")
    assert_sum_rule(m, X, c)


def test_names_without_get_feature_names_out(mlinfer, tmp_path):
    """A FunctionTransformer without feature_names_out has no scikit-learn names: a mixed
    feature is then named by its index among the transformed features."""
    from sklearn.preprocessing import FunctionTransformer
    df, y = _frame(300, 6, missing=False)
    ct = ColumnTransformer([("f", FunctionTransformer(np.abs), ["score"]), ("norm", Normalizer("max"),
                                                                           ["tenure", "spend"])])
    pipe = make_pipeline(ct, RandomForestRegressor(n_estimators=3, max_depth=4, random_state=0)).fit(df, y)
    m = _export(mlinfer, tmp_path, pipe)
    c, names = _cls_last(m.predict_contrib(df.iloc[:20], return_names=True))
    assert names[len(COLS):] == ["transformed:1", "transformed:2", "bias"]
    assert c.shape == (20, len(COLS) + 3)
    assert (c[:, :5] == 0).all()  # age, plan, city unused; spend, tenure only through the norm
    assert_sum_rule(m, df.iloc[:20], c)


# ---- the command line ---------------------------------------------------------------------

def test_cli_contrib_prep(mlinfer, tmp_path):
    """mlinfer predict --contrib on a CSV with a header for a model with string columns: the
    header names each contribution column (transformed:NAME for a mixed feature), the values
    are Model.predict_contrib's bit for bit (%.17g round-trips); an empty field is missing."""
    import os
    import subprocess
    lib = os.environ.get("MLINFER_LIBRARY") or mlinfer._native.lib._name
    exe = os.path.join(os.path.dirname(os.path.abspath(lib)), "mlinfer")
    if not os.access(exe, os.X_OK):
        pytest.skip(f"no mlinfer executable next to {lib}")
    env = dict(os.environ, LD_LIBRARY_PATH=os.path.dirname(os.path.abspath(lib)))
    df, y = _frame(400, 8)
    df["city"] = df["city"].where(df["city"].notna(), np.nan)  # a CSV has no None: one missing value
    labels = np.digitize(y, np.quantile(y, [0.33, 0.66]))
    pipe = make_pipeline(_ct(mix=True), HistGradientBoostingClassifierSmall()).fit(df, labels)
    path = tmp_path / "m.mli"
    mlinfer.export(pipe, str(path))
    m = mlinfer.load(str(path))
    X = df.iloc[:40]
    csv = tmp_path / "x.csv"
    order = ["score", "city", "plan", "tenure", "spend", "age"]  # by name, in any order
    with open(csv, "w") as f:
        f.write(",".join(order) + "\n")
        for _, row in X[order].iterrows():
            f.write(",".join("" if (not isinstance(v, str) and np.isnan(v)) else (v if isinstance(v, str) else repr(
                float(v))) for v in row) + "\n")
    r = subprocess.run([exe, "predict", str(path), str(csv), "--contrib"], capture_output=True, text=True, env=env,
                       timeout=60)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.strip().split("\n")
    names = m.contrib_names
    assert lines[0].split(",") == [f"{n}:{k}" for n in names for k in range(3)]
    got = np.array([[float(v) for v in line.split(",")] for line in lines[1:]])
    np.testing.assert_array_equal(got, _cls_last(m.predict_contrib(X)).reshape(len(X), -1))
    # an unknown category the encoder refuses names the line and the column
    strict = make_pipeline(ColumnTransformer([("plan", OneHotEncoder(), ["plan"]), ("n", "passthrough", ["score"])]),
                           HistGradientBoostingClassifierSmall()).fit(df, labels)
    mlinfer.export(strict, str(path))
    with open(csv, "w") as f:
        f.write("plan,score\nbasic,1.0\ngold,2.0\n")
    r = subprocess.run([exe, "predict", str(path), str(csv), "--contrib"], capture_output=True, text=True, env=env,
                       timeout=60)
    assert r.returncode != 0 and "plan" in r.stderr and ":3:" in r.stderr, r.stderr


def HistGradientBoostingClassifierSmall():
    from sklearn.ensemble import HistGradientBoostingClassifier
    return HistGradientBoostingClassifier(max_iter=6, max_leaf_nodes=6, random_state=0)


# ---- the file: the optional sections a reader checks -------------------------------------

def test_corrupt_contrib_sections(mlinfer):
    """stage.0.out_names must hold one string per prep output, background_mean one finite
    value per transformed feature: anything else is MLI_ERR_CORRUPT naming the section; a
    file without out_names names its mixed features by index."""
    import os
    from mlinfer._format import build, parse
    here = os.path.join(os.path.dirname(__file__), "..", "data", "prep_contrib_linear.mli")
    with open(here, "rb") as f:
        meta, arrays = parse(f.read())
    out_names = list(arrays["stage.0.out_names"])
    assert len(out_names) == len(arrays["background_mean"]) == 11

    def load(**change):
        a = dict(arrays)
        for k, v in change.items():
            k = k.replace("__", ".")
            if v is None:
                a.pop(k)
            else:
                a[k] = v
        return mlinfer.load(build(meta, a))

    with pytest.raises(mlinfer.Error, match="out_names"):
        load(stage__0__out_names=arrays["stage.0.out_names"][:-1])
    with pytest.raises(mlinfer.Error, match="out_names"):
        load(stage__0__out_names=np.zeros(11))
    with pytest.raises(mlinfer.Error, match="background_mean"):
        load(background_mean=arrays["background_mean"][:-1])
    bad = np.array(arrays["background_mean"], dtype=np.float64)
    bad[3] = np.inf
    with pytest.raises(mlinfer.Error, match="background_mean"):
        load(background_mean=bad)
    m = load(stage__0__out_names=None)
    norm = [f"transformed:{out_names.index(n)}" for n in ("norm__a", "norm__b")]  # the Normalizer's outputs
    assert m.contrib_names[6:] == norm + ["bias"]
    m = load(background_mean=None)
    assert int(mlinfer._native.lib.mli_model_n_contrib(m._h)) == 0
    with pytest.raises(mlinfer.Error, match="background"):
        _cls_last(m.predict_contrib({"age": [1.0], "spend": [2.0], "plan": ["pro"], "city": ["oslo"], "a": [0.1], "b": [0.2]}))


def test_cli_info_contrib(mlinfer):
    """mlinfer info says how many contribution columns a model has and names the mixed ones."""
    import os
    import subprocess
    lib = os.environ.get("MLINFER_LIBRARY") or mlinfer._native.lib._name
    exe = os.path.join(os.path.dirname(os.path.abspath(lib)), "mlinfer")
    if not os.access(exe, os.X_OK):
        pytest.skip(f"no mlinfer executable next to {lib}")
    env = dict(os.environ, LD_LIBRARY_PATH=os.path.dirname(os.path.abspath(lib)))
    model = os.path.join(os.path.dirname(__file__), "..", "data", "prep_contrib.mli")
    r = subprocess.run([exe, "info", model], capture_output=True, text=True, env=env, timeout=60)
    assert r.returncode == 0, r.stderr
    assert ("contrib:    8 columns + bias; of several input columns: transformed:norm__a, transformed:norm__b"
            in r.stdout), r.stdout


def test_pca_and_polynomial_features(mlinfer, tmp_path):
    """PolynomialFeatures over two columns: the terms of one column (x, x^2) go to it, the
    cross term and the constant 1 are reported on their own; PCA over two columns mixes
    them: each component on its own, named as scikit-learn names it. Against shap on the
    transformed matrix summed by that map; the sum rule; the linear head too."""
    from sklearn.decomposition import PCA
    from sklearn.preprocessing import PolynomialFeatures
    df, y = _frame(500, 9)
    ct = ColumnTransformer([
        ("num", make_pipeline(SimpleImputer(), StandardScaler()), ["age", "spend"]),
        ("city", OneHotEncoder(handle_unknown="ignore"), ["city"]),
        ("poly", PolynomialFeatures(degree=2), ["tenure", "score"]),
        ("pca", PCA(n_components=2), ["spend", "tenure"]),
    ], sparse_threshold=0)
    for est in (RandomForestRegressor(n_estimators=5, max_depth=6, random_state=0), LinearRegression()):
        pipe = make_pipeline(ct, est).fit(df, y)
        try:
            m = _export(mlinfer, tmp_path, pipe, **({"background": df.iloc[:200]} if isinstance(
                est, LinearRegression) else {}))
        except mlinfer.UnsupportedModelError as e:  # an exporter without PCA / PolynomialFeatures
            pytest.skip(str(e))
        X = df.iloc[300:]
        c, names = _cls_last(m.predict_contrib(X, return_names=True))
        gmap = _group_map(pipe, COLS)
        out = pipe[:-1].get_feature_names_out()
        mixed = [f"transformed:{n}" for n, g in zip(out, gmap) if g is None]
        assert names == COLS + mixed + ["bias"]
        assert mixed == ["transformed:poly__1", "transformed:poly__tenure score", "transformed:pca__pca0",
                         "transformed:pca__pca1"]
        T = pipe[:-1].transform(X)
        if isinstance(est, LinearRegression):
            ref = _shap_linear(est, T, pipe[:-1].transform(df.iloc[:200]))
        else:
            ref = _shap_tree(est, T.astype(np.float32).astype(np.float64))
        ref = _sum_by_column(ref, gmap, len(COLS))
        assert_close(c, ref, type(est).__name__)
        assert_sum_rule(m, X, c)


# ---- string categories inside the tree model (importer-written prep stages) ----------------

def _cat_frame(n, seed):
    rng = np.random.default_rng(seed)
    colour = rng.choice(["red", "green", "blue", "white"], n).astype(object)
    colour[rng.random(n) < 0.08] = np.nan
    df = pd.DataFrame({"x": rng.normal(size=n), "colour": colour, "k": rng.integers(0, 4, n).astype(np.int64),
                       "shape": rng.choice(["sq", "tri", "circ"], n).astype(object)})
    df["colour"] = pd.Categorical(df["colour"], categories=["red", "green", "blue", "white"])
    df["shape"] = pd.Categorical(df["shape"], categories=["tri", "sq", "circ"])
    y = (df["colour"].astype(object) == "red") * 1.0 + df["x"] + (df["shape"].astype(object) == "sq") * 0.5
    return df, y.to_numpy() + rng.normal(0, 0.2, n)


@pytest.mark.parametrize("framework", ["lightgbm", "xgboost"])
def test_string_category_models_against_framework(mlinfer, tmp_path, framework):
    """LightGBM (pandas_categorical) and XGBoost (enable_categorical) models over string
    category columns load with a prep stage of string -> code lookups: their contributions
    are per input column already, equal to the framework's own pred_contrib(s) on the frame
    (the wrapper exported, and the framework's model file imported)."""
    df, y = _cat_frame(1500, 11)
    X = df.iloc[:300]
    if framework == "lightgbm":
        lgb = pytest.importorskip("lightgbm")
        est = lgb.LGBMRegressor(n_estimators=30, num_leaves=15, min_data_per_group=5, cat_smooth=1,
                                verbose=-1).fit(df, y)
        ref = est.booster_.predict(X, pred_contrib=True)
        text = est.booster_.model_to_string().encode()
    else:
        xgb = pytest.importorskip("xgboost")
        est = xgb.XGBRegressor(n_estimators=30, max_depth=4, enable_categorical=True, tree_method="hist").fit(df, y)
        ref = est.get_booster().predict(xgb.DMatrix(X, enable_categorical=True), pred_contribs=True)
        text = bytes(est.get_booster().save_raw("json"))
    try:
        mlinfer.export(est, tmp_path / "w.mli")
        models = [mlinfer.load(tmp_path / "w.mli"), mlinfer.load(text)]
    except mlinfer.UnsupportedModelError as e:
        pytest.skip(f"no string categories in this exporter/importer: {e}")
    obj = X.astype({"colour": object, "shape": object})
    for m in models:
        assert m.meta("stage.0.kind") == "prep"
        for frame in (X, obj):
            c, names = _cls_last(m.predict_contrib(frame, return_names=True))
            assert names == ["x", "colour", "k", "shape", "bias"]
            assert_close(c, ref, framework)
            assert_sum_rule(m, frame, c)
