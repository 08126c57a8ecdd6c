"""TargetEncoder in the prep stage (docs/models/pipelines.md), exported with mlinfer.export and
compared with scikit-learn on DataFrames with NaN, None and unseen categories, 1 and 3000 rows,
inside a ColumnTransformer before a LogisticRegression / Ridge and HistGradientBoosting.

Tolerances: TargetEncoder.transform is a lookup of fitted float64 values (encodings_, target_mean_
for unseen categories), which the prep stage copies bit for bit: trees after it are compared to
1e-12 (the same leaves, scores summed in float64); linear models run in float32, so within 1e-5
relative / 1e-6 absolute (DESIGN.md's exactness contract)."""
from __future__ import annotations

import warnings

import numpy as np
import pytest

pd = pytest.importorskip("pandas")
from sklearn.compose import ColumnTransformer  # noqa: E402
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor  # noqa: E402
from sklearn.impute import SimpleImputer  # noqa: E402
from sklearn.linear_model import LogisticRegression, Ridge  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler, TargetEncoder  # noqa: E402
from sklearn.tree import DecisionTreeRegressor  # noqa: E402

import mlinfer  # noqa: E402


def roundtrip(est, tmp_path):
    path = tmp_path / "model.mli"
    mlinfer.export(est, path)
    return mlinfer.load(path)


def rows(n, seed, unseen=False):
    """String categories with None and NaN (in training: None only in `city`, NaN only in `plan`),
    numeric categories with NaN; with unseen, new strings, NaN in `city`, None in `plan` and
    new numbers -- all unseen in fit, so target_mean_ in scikit-learn."""
    rng = np.random.default_rng(seed)
    city = rng.choice(["paris", "lyon", "nice", "lille", None], n).astype(object)
    plan = rng.choice(["basic", "pro", "max", np.nan], n).astype(object)
    level = rng.choice([1.0, 2.0, 3.0, 10.0, np.nan], n)
    if unseen:
        city[rng.random(n) < 0.1] = "oslo"
        city[rng.random(n) < 0.05] = np.nan
        plan[rng.random(n) < 0.05] = None
        plan[rng.random(n) < 0.05] = "gold"
        level[rng.random(n) < 0.1] = 4.0
    return pd.DataFrame({"city": city, "plan": plan, "level": level, "x": rng.normal(0, 1, n)})


def target(df, kind, seed=0):
    rng = np.random.default_rng(seed)
    score = (df["city"].astype(str).str.len() + df["plan"].astype(str).str.len() % 3 + df["level"].fillna(5)
             + df["x"] + rng.normal(0, 1, len(df)))
    if kind == "continuous":
        return score.to_numpy()
    if kind == "binary":
        return np.where(score > score.median(), "yes", "no")
    return np.digitize(score, np.quantile(score, [0.33, 0.66]))  # three classes


def pipeline(model, **kw):
    pre = ColumnTransformer([("te", TargetEncoder(**kw), ["city", "plan", "level"])],
                            remainder=StandardScaler())
    return make_pipeline(pre, model)


def check(m, est, X, tree):
    rtol, atol = (1e-12, 1e-12) if tree else (1e-5, 1e-6)
    if hasattr(est, "predict_proba"):
        np.testing.assert_allclose(m.predict_proba(X), est.predict_proba(X), rtol=rtol, atol=atol)
    else:
        np.testing.assert_allclose(m.predict(X), est.predict(X), rtol=rtol, atol=atol)
    if tree and hasattr(est, "predict_proba"):  # the labels (regression: scores summed in another order)
        np.testing.assert_array_equal(m.predict(X), est.predict(X))


@pytest.mark.parametrize("kind", ["binary", "multiclass", "continuous"])
@pytest.mark.parametrize("head", ["linear", "hgb"])
def test_target_encoder_matches_sklearn(kind, head, tmp_path):
    X = rows(3000, 0)
    if kind == "continuous":
        model = Ridge() if head == "linear" else HistGradientBoostingRegressor(max_iter=30, random_state=0)
    else:
        model = LogisticRegression(max_iter=1000) if head == "linear" else HistGradientBoostingClassifier(
            max_iter=30, random_state=0)
    est = pipeline(model).fit(X, target(X, kind))
    assert est[0].named_transformers_["te"].target_type_ == kind
    m = roundtrip(est, tmp_path)
    T = rows(3000, 1, unseen=True)
    check(m, est, T, head == "hgb")
    check(m, est, T.iloc[:1], head == "hgb")  # one row
    for i in range(0, 40, 7):  # one-row dicts: None, NaN and unseen values among them
        row = {k: T[k].iloc[i] for k in T}
        if kind == "continuous":
            want = est.predict(T.iloc[i:i + 1])
            np.testing.assert_allclose(m.predict(row), want, rtol=1e-12 if head == "hgb" else 1e-5)
        else:
            want = est.predict_proba(T.iloc[i:i + 1])
            np.testing.assert_allclose(m.predict_proba(row), want, rtol=1e-12 if head == "hgb" else 1e-5, atol=1e-6)


def test_target_encoder_values_exact_through_a_deep_tree(tmp_path):
    """Each encoded value is probed by trees fitted on the encoded values: a value one ulp
    off moves rows across thresholds placed between the encodings."""
    X = rows(3000, 2)
    y = target(X, "multiclass")
    pre = ColumnTransformer([("te", TargetEncoder(), ["city", "plan", "level"])])
    enc = pre.fit(X, y)
    Z = enc.transform(X)
    for j in range(Z.shape[1]):  # a tree per output column whose target is that column itself
        est = make_pipeline(enc, DecisionTreeRegressor(random_state=0).fit(Z, Z[:, j]))
        m = roundtrip(est, tmp_path)
        T = rows(2000, 3, unseen=True)
        np.testing.assert_array_equal(m.predict(T), est.predict(T))


def test_target_encoder_after_imputers_and_with_explicit_categories(tmp_path):
    X = rows(2000, 4)
    y = target(X, "binary")
    pre = ColumnTransformer([
        ("s", make_pipeline(SimpleImputer(strategy="constant", fill_value="missing"),
                            TargetEncoder(smooth=3.0)), ["city", "plan"]),
        ("n", make_pipeline(SimpleImputer(strategy="median"), TargetEncoder(target_type="binary")),
         ["level"]),
        ("c", TargetEncoder(categories=[["paris", "nice", "lyon", "lille", None]]), ["city"]),
    ])
    for model in (LogisticRegression(max_iter=1000), HistGradientBoostingClassifier(max_iter=20, random_state=0)):
        est = make_pipeline(pre, model).fit(X, y)
        m = roundtrip(est, tmp_path)
        T = rows(2000, 5, unseen=True)
        check(m, est, T, model.__class__.__name__.startswith("Hist"))


def test_target_encoder_numeric_column_float32_and_int64(tmp_path):
    """Numbers as categories: float32 and int64 columns compare exactly with the fitted categories
    (a lookup, no arithmetic), so they are taken before trees too."""
    rng = np.random.default_rng(6)
    X = pd.DataFrame({"a": rng.integers(0, 6, 2000), "b": rng.choice([0.1, 0.25, 1.5], 2000).astype(np.float32)})
    y = (X["a"] % 2 + (X["b"] > 0.2) + rng.normal(0, 0.5, 2000) > 1).astype(int)
    est = make_pipeline(TargetEncoder(), HistGradientBoostingClassifier(max_iter=20, random_state=0))
    est.fit(X, y)
    m = roundtrip(est, tmp_path)
    T = pd.DataFrame({"a": rng.integers(-1, 8, 3000), "b": rng.choice([0.1, 0.25, 1.5, 2.0], 3000).astype(np.float32)})
    check(m, est, T, True)


def test_target_encoder_infinity_and_unseen_none_as_sklearn(tmp_path):
    X = rows(1000, 7)
    est = pipeline(LogisticRegression(max_iter=1000)).fit(X, target(X, "binary"))
    m = roundtrip(est, tmp_path)
    T = rows(4, 8)
    T["level"] = [1.0, np.inf, 2.0, 3.0]
    with pytest.raises(ValueError):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            est.predict(T)
    with pytest.raises(mlinfer.InputError, match=r"column 'level', row 1: inf is not finite"):
        m.predict(T)
    # None in `plan` was not seen in fit (NaN was): the target mean, as scikit-learn
    T = rows(50, 9)
    T["plan"] = None
    check(m, est, T, False)


def test_target_encoder_string_classes_feature_names(tmp_path):
    X = rows(1500, 10)
    y = np.array(["lo", "mid", "hi"])[target(X, "multiclass")]
    est = pipeline(HistGradientBoostingClassifier(max_iter=15, random_state=0)).fit(X, y)
    m = roundtrip(est, tmp_path)
    T = rows(1500, 11, unseen=True)
    np.testing.assert_array_equal(m.predict(T), est.predict(T))
    np.testing.assert_allclose(m.predict_proba(T), est.predict_proba(T), rtol=1e-12, atol=1e-12)


# ---- SplineTransformer ------------------------------------------------------------------
# Its basis is evaluated in C with the Cox-de Boor recurrence in scipy's order of operations, so
# the values are compared with SplineTransformer.transform directly (tests/model/prep_values,
# the prep stage's float64 outputs): within 1e-12 relative (1e-15 absolute), the tolerance the
# docs state -- measured bit for bit on this machine, but scipy's compiled evaluation could be
# contracted to FMA on another build, hence the refusal before tree models.

SPLINE_TOL = dict(rtol=1e-12, atol=1e-15)


def prep_values(m_path, X):
    """The prep stage's outputs for rows X (float64) through tests/model/prep_values; rows with an
    input error all NaN. The tool also checks that the block and row forms agree bit for bit."""
    import os
    import subprocess
    from pathlib import Path
    lib = os.environ.get("MLINFER_LIBRARY")
    tool = Path(lib).parent / "tests" / "model" / "prep_values" if lib else None
    if tool is None or not tool.exists():
        pytest.skip("tests/model/prep_values is not built (MLI_BUILD_TESTS)")
    X = np.ascontiguousarray(X, dtype=np.float64)
    src, dst = Path(m_path).with_suffix(".in"), Path(m_path).with_suffix(".out")
    X.tofile(src)
    r = subprocess.run([str(tool), str(m_path), str(src), str(dst)], capture_output=True, text=True)
    assert r.returncode == 0, f"prep_values: status {r.returncode} (3: block and row forms differ) {r.stderr}"
    return np.fromfile(dst).reshape(len(X), -1)


def spline_probe(knots_t, n=3000, seed=0):
    """Values over and beyond the knots, each knot exactly and one ulp either side."""
    rng = np.random.default_rng(seed)
    lo, hi = knots_t.min(), knots_t.max()
    span = hi - lo
    return np.r_[rng.uniform(lo - span, hi + span, n), knots_t, np.nextafter(knots_t, -np.inf),
                 np.nextafter(knots_t, np.inf), lo - 1e6 * span, hi + 1e6 * span]


def spline_data(n=600, seed=0):
    rng = np.random.default_rng(seed)
    X = pd.DataFrame({"a": rng.normal(0, 3, n), "b": rng.gamma(2, 2, n), "c": rng.uniform(-1, 1, n)})
    y = np.sin(X["a"]) + np.log1p(X["b"]) + X["c"] ** 2 + rng.normal(0, 0.1, n)
    return X, y


def sk_transform_rows(tr, X):
    """tr.transform row by row, NaN rows where it raises (extrapolation='error')."""
    try:
        return tr.transform(X)
    except ValueError:
        out = None
        rows = []
        for i in range(len(X)):
            try:
                rows.append(tr.transform(X.iloc[i:i + 1])[0])
            except ValueError:
                rows.append(None)
        width = len(next(r for r in rows if r is not None))
        out = np.array([np.full(width, np.nan) if r is None else r for r in rows])
        return out


@pytest.mark.parametrize("extrapolation", ["error", "constant", "linear", "continue", "periodic"])
@pytest.mark.parametrize("degree", [0, 1, 2, 3, 5])
@pytest.mark.parametrize("knots", ["uniform", "quantile", "array"])
def test_spline_values_match_sklearn(extrapolation, degree, knots, tmp_path):
    if extrapolation == "constant" and degree == 0:
        pytest.skip("refused: scikit-learn's transform fails beyond the knots (test_spline_refusals)")
    if extrapolation == "periodic" and knots == "array" and degree >= 5:
        pytest.skip("scikit-learn refuses periodic splines with degree >= n_knots (5 here)")
    from sklearn.preprocessing import SplineTransformer
    X, y = spline_data()
    kn = np.array([[-15.0, 0.0, -1.0], [-1.0, 1.0, -0.2], [0.0, 2.5, 0.1], [2.0, 4.0, 0.3], [15.0, 40.0, 1.0]]) \
        if knots == "array" else knots
    tr = SplineTransformer(n_knots=6, degree=degree, knots=kn, extrapolation=extrapolation,
                           include_bias=degree != 2)
    est = make_pipeline(tr, Ridge()).fit(X, y)
    path = tmp_path / "m.mli"
    mlinfer.export(est, path)
    probes = [spline_probe(s.t, seed=j) for j, s in enumerate(tr.bsplines_)]
    n = min(len(p) for p in probes)
    T = pd.DataFrame({c: p[:n] for c, p in zip(X.columns, probes)})
    got = prep_values(path, T.to_numpy())
    want = sk_transform_rows(tr, T)
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    np.testing.assert_allclose(got, want, **SPLINE_TOL)
    # through the model (a float32 linear stage, so rows inside the knots: far beyond them the features
    # reach 1e21 and cancel in float32), 1 row and all of them
    inside = np.all([(T[c] >= s.t[degree]) & (T[c] <= s.t[-degree - 1]) for c, s in zip(T, tr.bsplines_)], axis=0)
    m = mlinfer.load(path)
    np.testing.assert_allclose(m.predict(T[inside]), est.predict(T[inside]), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(m.predict(T[inside].iloc[:1]), est.predict(T[inside].iloc[:1]), rtol=1e-5, atol=1e-5)


def test_spline_missing_values_inside_a_column_transformer(tmp_path):
    """handle_missing='zeros' (NaN: all zeros) next to the default 'error' (NaN: an input error naming
    the column and the row, as scikit-learn raises), then LogisticRegression; 1 and 3000 rows and a
    one-row dict."""
    from sklearn.preprocessing import SplineTransformer
    X, y = spline_data(2000, 1)
    X.loc[X.index[::17], "b"] = np.nan
    labels = (y > np.median(y)).astype(int)
    ct = ColumnTransformer([
        ("a", SplineTransformer(n_knots=5, extrapolation="linear"), ["a"]),
        ("b", SplineTransformer(n_knots=4, degree=2, handle_missing="zeros", extrapolation="periodic"), ["b"]),
        ("c", SplineTransformer(n_knots=7, degree=1, knots="quantile", extrapolation="constant"), ["c"]),
    ])
    est = make_pipeline(ct, LogisticRegression(max_iter=2000)).fit(X, labels)
    path = tmp_path / "m.mli"
    mlinfer.export(est, path)
    m = mlinfer.load(path)
    T, _ = spline_data(3000, 2)
    T["a"] *= 2.0  # beyond the knots
    T.loc[T.index[::5], "b"] = np.nan
    np.testing.assert_allclose(m.predict_proba(T), est.predict_proba(T), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(m.predict_proba(T.iloc[:1]), est.predict_proba(T.iloc[:1]), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(m.predict_proba({"a": 1.5, "b": None, "c": 0.2}),
                               est.predict_proba(pd.DataFrame({"a": [1.5], "b": [np.nan], "c": [0.2]})),
                               rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(prep_values(path, T[["a", "b", "c"]].to_numpy()), ct.transform(T), **SPLINE_TOL)
    T.loc[T.index[3], "a"] = np.nan
    with pytest.raises(ValueError):
        est.predict(T)
    with pytest.raises(mlinfer.InputError, match=r"column 'a', row 3: nan reaches a SplineTransformer, which "
                                                 r"refuses missing values with handle_missing='error'"):
        m.predict(T)
    T.loc[T.index[3], "a"] = np.inf
    with pytest.raises(mlinfer.InputError, match=r"column 'a', row 3: inf"):
        m.predict(T)


def test_spline_error_extrapolation_names_column_and_row(tmp_path):
    from sklearn.preprocessing import SplineTransformer
    X, y = spline_data()
    ct = ColumnTransformer([("s", SplineTransformer(extrapolation="error"), ["a", "c"])])
    est = make_pipeline(ct, Ridge()).fit(X, y)
    m = roundtrip(est, tmp_path)
    T = X.iloc[:5].copy()
    T.loc[T.index[2], "c"] = 7.0
    with pytest.raises(ValueError, match="beyond the limits of the knots"):
        est.predict(T)
    with pytest.raises(mlinfer.InputError, match=r"column 'c', row 2: 7 reaches a SplineTransformer, which refuses "
                                                 r"values beyond its knots with extrapolation='error'"):
        m.predict(T)


def test_spline_before_trees_is_refused(tmp_path, monkeypatch):
    """At export, naming the step; and a file that has one anyway is refused at load."""
    from sklearn.preprocessing import SplineTransformer
    from mlinfer import export_pipeline
    X, y = spline_data()
    est = make_pipeline(SplineTransformer(), HistGradientBoostingRegressor(max_iter=5)).fit(X, y)
    with pytest.raises(mlinfer.UnsupportedModelError, match=r"SplineTransformer \(scipy's B-spline evaluation\) "
                                                             r"cannot precede a tree model"):
        mlinfer.export(est, tmp_path / "m.mli")
    monkeypatch.setattr(export_pipeline.Prep, "inexact", property(lambda self: [], lambda self, v: None),
                        raising=False)
    mlinfer.export(est, tmp_path / "m.mli")
    with pytest.raises(mlinfer.UnsupportedError, match=r"prep op \d+ computes values that may differ from "
                                                   r"scikit-learn's in the last bit"):
        mlinfer.load(tmp_path / "m.mli")


def test_spline_refusals(tmp_path):
    from sklearn.preprocessing import SplineTransformer
    X, y = spline_data()
    for tr, msg in [(SplineTransformer(sparse_output=True), "sparse_output=True"),
                    (SplineTransformer(degree=0, extrapolation="constant"), "extrapolation='constant' with degree=0"),
                    (SplineTransformer(degree=32), "degree=32")]:
        est = make_pipeline(tr, Ridge()).fit(X, y)
        with pytest.raises(mlinfer.UnsupportedModelError, match=msg):
            mlinfer.export(est, tmp_path / "m.mli")


def test_spline_linear_degree_carries_to_the_next_feature_as_in_sklearn(tmp_path):
    """scikit-learn's linear extrapolation raises its `degree` variable for degree 0 and 1 and keeps
    it for the next features: their spline range narrows (t[1], t[2], ...) and more functions are
    extrapolated. Reproduced: ten features of degree 0."""
    from sklearn.preprocessing import SplineTransformer
    rng = np.random.default_rng(3)
    X = pd.DataFrame(rng.normal(0, 1, (500, 4)), columns=list("pqrs"))
    tr = SplineTransformer(n_knots=8, degree=0, extrapolation="linear").fit(X)
    est = make_pipeline(tr, Ridge()).fit(X, rng.normal(size=500))
    path = tmp_path / "m.mli"
    mlinfer.export(est, path)
    T = pd.DataFrame(np.column_stack([spline_probe(s.t, 2000, j)[:2000] for j, s in enumerate(tr.bsplines_)]),
                     columns=list("pqrs"))
    np.testing.assert_allclose(prep_values(path, T.to_numpy()), tr.transform(T), **SPLINE_TOL)


# ---- QuantileTransformer(output_distribution="normal") ------------------------------------
# norm.ppf is computed in C by Wichura's AS 241, scipy by Cephes' ndtri: both about 1e-16 relative,
# so the values agree within a few ulp, not bit for bit (about a third are identical): compared
# within 1e-14 relative (1e-15 absolute, for values near 0), and refused before trees.

QT_TOL = dict(rtol=1e-14, atol=1e-15)


def qt_rows(n, seed):
    rng = np.random.default_rng(seed)
    X = pd.DataFrame({"a": rng.normal(0, 2, n), "b": rng.exponential(3, n), "c": np.round(rng.normal(0, 1, n), 1)})
    return X


@pytest.mark.parametrize("n_quantiles", [5, 100, 1000])
def test_quantile_normal_values_match_sklearn(n_quantiles, tmp_path):
    from sklearn.preprocessing import QuantileTransformer
    X = qt_rows(2000, 0)
    tr = QuantileTransformer(n_quantiles=n_quantiles, output_distribution="normal")
    est = make_pipeline(tr, Ridge()).fit(X, X["a"] + X["b"])
    path = tmp_path / "m.mli"
    mlinfer.export(est, path)
    T = qt_rows(3000, 1)
    q = tr.quantiles_  # every quantile exactly, one ulp and 1e-7 either side, far outside, NaN
    edges = np.concatenate([q, np.nextafter(q, -np.inf), np.nextafter(q, np.inf), q - 1e-7, q + 1e-7,
                            q - 2e-7, q + 2e-7, q - 1e6, q + 1e6])
    T = pd.concat([T, pd.DataFrame(edges, columns=list("abc"))], ignore_index=True)
    T.loc[T.index[::11], "b"] = np.nan
    got = prep_values(path, T.to_numpy())
    want = tr.transform(T)
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    np.testing.assert_allclose(got, want, **QT_TOL)
    # the clipped ends are scikit-learn's bounds exactly
    lo, hi = np.nanmin(want), np.nanmax(want)
    assert np.array_equal(got == lo, want == lo) and np.array_equal(got == hi, want == hi)
    m = mlinfer.load(path)
    F = T.dropna()
    np.testing.assert_allclose(m.predict(F), est.predict(F), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(m.predict(F.iloc[:1]), est.predict(F.iloc[:1]), rtol=1e-5, atol=1e-5)


def test_quantile_normal_in_a_column_transformer_with_logistic_regression(tmp_path):
    from sklearn.preprocessing import QuantileTransformer
    X = qt_rows(3000, 2)
    X["s"] = np.random.default_rng(2).choice(["x", "y", None], 3000).astype(object)
    y = (X["a"] + np.log1p(X["b"]) > 1).astype(int)
    ct = ColumnTransformer([("q", QuantileTransformer(n_quantiles=200, output_distribution="normal"), ["a", "b"]),
                            ("t", TargetEncoder(), ["s"])], remainder="drop")
    est = make_pipeline(ct, LogisticRegression(max_iter=1000)).fit(X, y)
    m = roundtrip(est, tmp_path)
    T = qt_rows(3000, 3)
    T["s"] = np.random.default_rng(3).choice(["x", "y", "z", None], 3000).astype(object)
    check(m, est, T, False)
    check(m, est, T.iloc[:1], False)
    T.loc[T.index[7], "a"] = -np.inf
    with pytest.raises(mlinfer.InputError, match=r"column 'a', row 7: -inf is not finite"):
        m.predict(T)


# ---- Normalizer ----------------------------------------------------------------------------
# l2: scikit-learn's row_norms is np.einsum('ij,ij->i'), whose SIMD summation order and FMA use
# depend on NumPy's build and CPU dispatch: no fixed order gives its bits (measured 17-77% of rows
# identical for 3..150 features, whatever the order). The sum of squares in any order is within
# (k - 1) eps relative, the square root halves that: compared within (k + 2) eps relative, and
# refused before trees. l1 and max are exact. A norm below 10 eps divides by 1
# (_handle_zeros_in_scale), for every norm.

@pytest.mark.parametrize("norm", ["l1", "l2", "max"])
@pytest.mark.parametrize("k", [1, 3, 8, 17, 150])
def test_normalizer_values_match_sklearn(norm, k, tmp_path):
    from sklearn.preprocessing import Normalizer
    rng = np.random.default_rng(k)
    X = pd.DataFrame(rng.normal(0, 1, (3000, k)) * rng.uniform(0.01, 100, k), columns=[f"x{j}" for j in range(k)])
    X.iloc[0] = 0.0
    X.iloc[1] = 1e-17  # norms below 10 eps: divided by 1
    X.iloc[2] = 3e-15 / k  # just above 10 eps for l1
    tr = Normalizer(norm=norm)
    est = make_pipeline(tr, Ridge()).fit(X, rng.normal(size=3000))
    path = tmp_path / "m.mli"
    mlinfer.export(est, path)
    got, want = prep_values(path, X.to_numpy()), tr.transform(X)
    if norm == "l2":
        np.testing.assert_allclose(got, want, rtol=(k + 2) * np.finfo(float).eps, atol=0)
    else:
        np.testing.assert_array_equal(got, want)
    m = mlinfer.load(path)
    np.testing.assert_allclose(m.predict(X), est.predict(X), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(m.predict(X.iloc[5:6]), est.predict(X.iloc[5:6]), rtol=1e-5, atol=1e-5)


def test_normalizer_l2_in_a_column_transformer_with_logistic_regression(tmp_path):
    from sklearn.preprocessing import Normalizer
    X = qt_rows(3000, 4)
    X.loc[X.index[::9], "c"] = np.nan
    y = (X["a"] > 0).astype(int)
    ct = ColumnTransformer([("n", make_pipeline(SimpleImputer(), Normalizer()), ["a", "b", "c"])])
    est = make_pipeline(ct, LogisticRegression()).fit(X, y)
    m = roundtrip(est, tmp_path)
    T = qt_rows(3000, 5)
    T.loc[T.index[::7], "b"] = np.nan
    check(m, est, T, False)
    check(m, est, T.iloc[:1], False)
