"""Elementwise transformers in the prep stage (docs/models/pipelines.md): Binarizer and
FunctionTransformer with a NumPy ufunc, exported with mlinfer.export and compared with
scikit-learn's predict on the same DataFrames, NaN included.

Tolerances: the transformers run in float64 like scikit-learn; tree models after them are
compared to 1e-12 (the same leaves, scores summed in float64); linear models run in float32,
so within 1e-5 relative / 1e-6 absolute (DESIGN.md's exactness contract). The values of the
ufuncs are probed through deep trees, whose float64 thresholds sit between the transformed
training values: a wrong function or argument moves rows to other leaves."""
from __future__ import annotations

import warnings

import numpy as np
import pytest

pd = pytest.importorskip("pandas")
from sklearn.compose import ColumnTransformer  # noqa: E402
from sklearn.ensemble import HistGradientBoostingRegressor  # noqa: E402
from sklearn.impute import SimpleImputer  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import Binarizer, FunctionTransformer, StandardScaler  # noqa: E402
from sklearn.tree import DecisionTreeRegressor  # noqa: E402

import mlinfer  # noqa: E402


def roundtrip(est, tmp_path):
    path = tmp_path / "model.mli"
    mlinfer.export(est, path)
    return mlinfer.load(path)


def table(n=2000, seed=0, nan=0.0):
    rng = np.random.default_rng(seed)
    df = pd.DataFrame({"a": rng.gamma(2.0, 3.0, n), "b": rng.normal(0, 2, n), "c": rng.uniform(0, 50, n)})
    df.loc[rng.random(n) < 0.1, "c"] = 0.0  # exact zeros: log gives -inf there (not used with log)
    if nan:
        for col in df:
            df.loc[rng.random(n) < nan, col] = np.nan
    y = np.sin(df["a"].fillna(1)) + 0.3 * df["b"].fillna(0) + rng.normal(0, 0.1, n)
    return df, y


def fit(est, X, y):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return est.fit(X, y)


def sk_predict(est, X):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # log of a negative number warns in NumPy
        return est.predict(X)


UFUNCS = [np.log1p, np.log, np.exp, np.sqrt, np.abs, np.expm1]


@pytest.mark.parametrize("fn", UFUNCS, ids=lambda f: f.__name__)
def test_ufunc_matches_sklearn_through_a_deep_tree(fn, tmp_path):
    df, y = table(nan=0.05)  # NaN goes through the ufunc; the tree takes it
    cols = ["a"] if fn is np.log else ["a", "b"]  # a > 0; b of both signs (log1p / sqrt: NaN below 0)
    if fn in (np.exp, np.expm1):
        cols = ["b", "c"]
    pre = ColumnTransformer([("f", FunctionTransformer(fn), cols)])
    est = fit(make_pipeline(pre, DecisionTreeRegressor(random_state=0)), df, y)
    m = roundtrip(est, tmp_path)
    test, _ = table(n=3000, seed=1, nan=0.05)
    np.testing.assert_allclose(m.predict(test), sk_predict(est, test), rtol=1e-12, atol=1e-12)
    # the training rows: every one of them has its own leaf
    np.testing.assert_array_equal(m.predict(df), sk_predict(est, df))
    est2 = fit(make_pipeline(pre, HistGradientBoostingRegressor(max_iter=30, random_state=0)), df, y)
    np.testing.assert_allclose(roundtrip(est2, tmp_path).predict(test), sk_predict(est2, test), rtol=1e-12,
                               atol=1e-12)


def test_ufunc_then_scaler_and_logistic_regression(tmp_path):
    df, y = table()
    pre = ColumnTransformer([("log", make_pipeline(FunctionTransformer(np.log1p), StandardScaler()), ["a", "c"]),
                             ("b", make_pipeline(FunctionTransformer(np.abs), FunctionTransformer(np.sqrt)), ["b"])])
    est = fit(make_pipeline(pre, LogisticRegression(max_iter=1000)), df, y > y.median())
    m = roundtrip(est, tmp_path)
    test, _ = table(n=1000, seed=3)
    np.testing.assert_allclose(m.predict_proba(test), est.predict_proba(test), rtol=1e-5, atol=1e-6)


def test_ufunc_infinite_result_refused(tmp_path):
    df, y = table()
    est = fit(make_pipeline(ColumnTransformer([("log", FunctionTransformer(np.log), ["c"])]),
                            DecisionTreeRegressor(max_depth=4)), df.assign(c=df["c"] + 1), y)
    m = roundtrip(est, tmp_path)
    bad = df.head(5).assign(c=[1.0, 2.0, 0.0, 3.0, 4.0])  # log(0) = -inf
    with pytest.raises(mlinfer.InputError, match=r"column 'c', row 2: numpy.log\(0\) is infinite"):
        m.predict(bad)


def test_ufunc_refusals():
    df, y = table()
    for ft, why in [(FunctionTransformer(lambda x: x + 1), "arbitrary Python"),
                    (FunctionTransformer(np.log1p, validate=True), "validate=True"),
                    (FunctionTransformer(np.round, kw_args={"decimals": 1}), "kw_args"),
                    (FunctionTransformer(np.tanh), "func='tanh'")]:
        est = fit(make_pipeline(ColumnTransformer([("f", ft, ["a"])]), DecisionTreeRegressor(max_depth=3)), df, y)
        with pytest.raises(mlinfer.UnsupportedModelError, match=f"FunctionTransformer.*{why}"):
            mlinfer.export(est, "/dev/null")


@pytest.mark.parametrize("threshold", [0.0, 1.5, -0.75])
def test_binarizer_matches_sklearn(threshold, tmp_path):
    df, y = table()
    pre = ColumnTransformer([("bin", Binarizer(threshold=threshold), ["b", "c"]), ("a", "passthrough", ["a"])])
    est = fit(make_pipeline(pre, DecisionTreeRegressor(random_state=0)), df, y)
    m = roundtrip(est, tmp_path)
    test, _ = table(n=3000, seed=2)
    # values exactly at the threshold and one ulp either side: scikit-learn's rule is x > threshold
    edge = np.array([threshold, np.nextafter(threshold, -np.inf), np.nextafter(threshold, np.inf)])
    test.loc[:2, "b"] = edge
    test.loc[3:5, "c"] = edge
    np.testing.assert_array_equal(m.predict(test), sk_predict(est, test))
    got = pre.transform(test)[:6, :2]
    assert got[0, 0] == 0 and got[1, 0] == 0 and got[2, 0] == 1  # the probe itself is sharp


def test_binarizer_nan_and_inf_refused_like_sklearn(tmp_path):
    df, y = table()
    pre = ColumnTransformer([("bin", Binarizer(threshold=1.0), ["b"]), ("a", "passthrough", ["a"])])
    est = fit(make_pipeline(pre, DecisionTreeRegressor(max_depth=4)), df, y)
    m = roundtrip(est, tmp_path)
    for v in (np.nan, np.inf):
        bad = df.head(4).copy()
        bad.loc[2, "b"] = v
        with pytest.raises(ValueError):
            est.predict(bad)  # scikit-learn refuses it
        with pytest.raises(mlinfer.InputError, match="column 'b', row 2"):
            m.predict(bad)
    # imputed first, NaN is fine in both
    est = fit(make_pipeline(ColumnTransformer([("bin", make_pipeline(SimpleImputer(), Binarizer()), ["b"])]),
                            DecisionTreeRegressor(max_depth=4)), df, y)
    test, _ = table(n=500, seed=4, nan=0.2)
    np.testing.assert_array_equal(roundtrip(est, tmp_path).predict(test), est.predict(test))


def test_binarizer_refuses_bad_threshold():
    df, y = table()
    est = fit(make_pipeline(ColumnTransformer([("bin", Binarizer(), ["b"])]), DecisionTreeRegressor(max_depth=2)),
              df, y)
    est[0].transformers_[0][1].threshold = np.nan
    with pytest.raises(mlinfer.UnsupportedModelError, match="Binarizer.*threshold=nan"):
        mlinfer.export(est, "/dev/null")


KBINS = [(enc, strat) for enc in ("ordinal", "onehot", "onehot-dense") for strat in ("uniform", "quantile", "kmeans")]


@pytest.mark.parametrize("encode,strategy", KBINS)
def test_kbins_matches_sklearn(encode, strategy, tmp_path):
    from sklearn.preprocessing import KBinsDiscretizer
    df, y = table()
    df["k"] = np.round(df["c"]).clip(0, 6)  # few values: quantile edges collapse, sklearn drops bins
    kb = KBinsDiscretizer(n_bins=[5, 7, 4, 6], encode=encode, strategy=strategy, subsample=None)
    pre = ColumnTransformer([("kb", kb, ["a", "b", "c", "k"])], sparse_threshold=0)
    est = fit(make_pipeline(pre, DecisionTreeRegressor(random_state=0)), df, y)
    m = roundtrip(est, tmp_path)
    test, _ = table(n=3000, seed=5)
    test["k"] = np.round(test["c"]).clip(0, 6)
    # every inner edge itself, one ulp either side, and values outside the fitted range
    for j, col in enumerate(["a", "b", "c", "k"]):
        e = est[0].transformers_[0][1].bin_edges_[j]
        probe = np.concatenate([e, np.nextafter(e, -np.inf), np.nextafter(e, np.inf), [e[0] - 100, e[-1] + 100]])
        test.loc[:len(probe) - 1, col] = probe
    want_t = est[0].transform(test)
    assert want_t.shape[1] == (4 if encode == "ordinal" else sum(est[0].transformers_[0][1].n_bins_))
    np.testing.assert_array_equal(m.predict(test), sk_predict(est, test))
    # a linear model sees every bin code / one-hot column (float32 model: 1e-5)
    est2 = fit(make_pipeline(pre, LogisticRegression(max_iter=2000)), df, y > y.median())
    np.testing.assert_allclose(roundtrip(est2, tmp_path).predict_proba(test), est2.predict_proba(test),
                               rtol=1e-5, atol=1e-6)


def test_kbins_nan_refused_like_sklearn_and_refusals(tmp_path):
    from sklearn.preprocessing import KBinsDiscretizer
    df, y = table()
    est = fit(make_pipeline(ColumnTransformer([("kb", KBinsDiscretizer(encode="onehot-dense", subsample=None),
                                                 ["b"])]), DecisionTreeRegressor(max_depth=4)), df, y)
    m = roundtrip(est, tmp_path)
    for v in (np.nan, -np.inf):
        bad = df.head(4).copy()
        bad.loc[1, "b"] = v
        with pytest.raises(ValueError):
            est.predict(bad)
        with pytest.raises(mlinfer.InputError, match="column 'b', row 1: .*(KBinsDiscretizer|not finite)"):
            m.predict(bad)
    est = fit(make_pipeline(ColumnTransformer([("kb", KBinsDiscretizer(dtype=np.float32, subsample=None), ["b"])],
                                              sparse_threshold=0), DecisionTreeRegressor(max_depth=2)), df, y)
    with pytest.raises(mlinfer.UnsupportedModelError, match="KBinsDiscretizer.*dtype"):
        mlinfer.export(est, "/dev/null")


def wide(n=2000, k=12, seed=0):
    rng = np.random.default_rng(seed)
    df = pd.DataFrame({f"x{j}": rng.normal(0, 1 + j, n) for j in range(k)})
    df.iloc[:5] = 0.0  # all-zero rows: norm 0 divides by 1
    return df, np.sin(df["x0"]) + 0.1 * df["x1"]


def normalizer_probe(norm, cols, imputed):
    from sklearn.preprocessing import Normalizer
    norm_step = make_pipeline(SimpleImputer(), Normalizer(norm=norm)) if imputed else Normalizer(norm=norm)
    return ColumnTransformer([("n", norm_step, cols), ("s", StandardScaler(), ["x0"])])


@pytest.mark.parametrize("norm", ["l1", "max"])
@pytest.mark.parametrize("k", [3, 7, 8, 12, 40, 150])  # NumPy sums below 8, by 8 lanes, and in halves above 128
def test_normalizer_matches_sklearn(norm, k, tmp_path):
    df, y = wide(k=k)
    cols = [f"x{j}" for j in range(k)][::-1]  # registers out of order: gathered first
    pre = normalizer_probe(norm, cols, imputed=False)
    est = fit(make_pipeline(pre, DecisionTreeRegressor(random_state=0)), df, y)
    m = roundtrip(est, tmp_path)
    test, _ = wide(n=3000, k=k, seed=1)
    np.testing.assert_array_equal(m.predict(df), sk_predict(est, df))  # each training row its own leaf
    np.testing.assert_array_equal(m.predict(test), sk_predict(est, test))
    est2 = fit(make_pipeline(pre, LogisticRegression(max_iter=2000)), df, y > 0)
    np.testing.assert_allclose(roundtrip(est2, tmp_path).predict_proba(test), est2.predict_proba(test),
                               rtol=1e-5, atol=1e-6)


def test_normalizer_nan_refused_like_sklearn(tmp_path):
    df, y = wide(k=4)
    cols = [f"x{j}" for j in range(4)]
    est = fit(make_pipeline(normalizer_probe("max", cols, imputed=False), DecisionTreeRegressor(max_depth=4)), df, y)
    m = roundtrip(est, tmp_path)
    bad = df.head(6).copy()
    bad.loc[3, "x2"] = np.nan
    with pytest.raises(ValueError):
        est.predict(bad)
    with pytest.raises(mlinfer.InputError, match="row 3: .*Normalizer"):
        m.predict(bad)
    est = fit(make_pipeline(normalizer_probe("l1", cols, imputed=True), DecisionTreeRegressor()), df, y)
    test, _ = wide(n=500, k=4, seed=2)
    test[test > 2] = np.nan
    np.testing.assert_array_equal(roundtrip(est, tmp_path).predict(test), est.predict(test))


def test_normalizer_l2_refused():
    df, y = wide(k=4)
    est = fit(make_pipeline(normalizer_probe("l2", ["x1", "x2"], imputed=False), DecisionTreeRegressor(max_depth=2)),
              df, y)
    with pytest.raises(mlinfer.UnsupportedModelError, match="Normalizer.*norm='l2'.*cannot precede a tree model"):
        mlinfer.export(est, "/dev/null")
