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
