"""A linear model right after the prep stage (src/prep/linear.c): its scores are summed from
the prep stage's registers column by column, a one-hot encoder that nothing else reads adding
the weight of its one category. Compared with scikit-learn on rows with NaN, None, unknown
categories, in float64 and float32, for 1 row, 10 000 rows (a partial last block) and 2 threads.

Tolerances: float32 arithmetic, so 1e-5 relative / 1e-6 absolute on probabilities (DESIGN.md),
and decision values within 1e-5 of scikit-learn's float64 ones relative to their scale."""
from __future__ import annotations

import warnings

import numpy as np
import pytest

pd = pytest.importorskip("pandas")
from sklearn.compose import ColumnTransformer  # noqa: E402
from sklearn.impute import SimpleImputer  # noqa: E402
from sklearn.linear_model import LogisticRegression, Ridge  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import MaxAbsScaler, OneHotEncoder, StandardScaler  # noqa: E402

import mlinfer  # noqa: E402
from test_pipelines import CAT, NUM, churn, roundtrip  # noqa: E402  (the churn table)


def features(encoder=None, after_onehot=None, impute_num=True):
    num = [SimpleImputer(strategy="median")] if impute_num else []
    cat = [SimpleImputer(strategy="constant", fill_value="missing"),
           encoder or OneHotEncoder(handle_unknown="ignore", sparse_output=False)]
    return ColumnTransformer([("num", make_pipeline(*num, StandardScaler()), NUM),
                              ("cat", make_pipeline(*cat, *([after_onehot] if after_onehot else [])), CAT)],
                             sparse_threshold=0)


def fit(y_classes=2, **kw):
    df, y = churn(n=3000)
    if y_classes == 3:
        y = (y + (df["plan"] == "basic").to_numpy()).clip(0, 2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return make_pipeline(features(**kw), LogisticRegression(max_iter=3000)).fit(df, y)


def check(m, est, X):
    pw, pg = est.predict_proba(X), m.predict_proba(X)
    np.testing.assert_allclose(pg, pw, rtol=1e-5, atol=1e-6)
    top = np.sort(pw, axis=1)
    sure = top[:, -1] - top[:, -2] > 1e-6  # labels may differ only on scikit-learn's own ties
    np.testing.assert_array_equal(m.predict(X)[sure], est.predict(X)[sure])
    dw, dg = est.decision_function(X), m.decision_function(X)
    np.testing.assert_allclose(dg, dw, rtol=0, atol=1e-5 * max(1.0, np.abs(dw).max()))


ENCODERS = {
    "ignore": lambda: OneHotEncoder(handle_unknown="ignore", sparse_output=False),
    "drop_first": lambda: OneHotEncoder(handle_unknown="ignore", drop="first", sparse_output=False),
    "infrequent": lambda: OneHotEncoder(handle_unknown="infrequent_if_exist", min_frequency=70,
                                        sparse_output=False),
}


@pytest.mark.parametrize("classes", [2, 3])
@pytest.mark.parametrize("enc", sorted(ENCODERS))
def test_linear_from_registers_matches_sklearn(classes, enc, tmp_path):
    est = fit(classes, encoder=ENCODERS[enc]())
    m = roundtrip(est, tmp_path)
    test, _ = churn(n=10_000, seed=1, unseen=True)  # NaN, None and categories never seen in training
    check(m, est, test)
    for i in (0, 63, 64, 9_999):  # one row, at block edges
        check(m, est, test.iloc[[i]])
    f32 = test.astype({c: np.float32 for c in NUM})  # scikit-learn imputes and scales them in float32
    check(m, est, f32)
    check(m, est, f32.iloc[[3]])


def test_two_threads_give_the_same_bits(tmp_path):
    est = fit(3)
    m = roundtrip(est, tmp_path)
    test, _ = churn(n=10_000, seed=2, unseen=True)
    try:
        mlinfer.set_num_threads(1)
        one = m.predict_proba(test)
        mlinfer.set_num_threads(2)
        np.testing.assert_array_equal(m.predict_proba(test), one)
        for i in (0, 100, 9_999):  # a row alone gets the bits it gets in a block
            np.testing.assert_array_equal(m.predict_proba(test.iloc[[i]]), one[[i]])
            np.testing.assert_array_equal(m.predict_proba(test.iloc[i].to_dict()), one[[i]])
    finally:
        mlinfer.set_num_threads(0)


def test_one_hot_read_by_a_scaler_and_a_regressor(tmp_path):
    # the one-hot registers feed a scaler: they are summed as values, not by code
    est = fit(2, after_onehot=MaxAbsScaler())
    m = roundtrip(est, tmp_path)
    test, _ = churn(n=1_000, seed=4, unseen=True)
    check(m, est, test)
    df, y = churn(n=2000)
    reg = make_pipeline(features(), Ridge()).fit(df, df["charges"].fillna(0) + 3 * y)
    mr = roundtrip(reg, tmp_path)
    want = reg.predict(test)
    np.testing.assert_allclose(mr.predict(test), want, rtol=0, atol=1e-5 * np.abs(want).max())


def test_first_bad_row_is_named(tmp_path):
    est = fit(2)
    m = roundtrip(est, tmp_path)
    test, _ = churn(n=10_000, seed=5)
    bad = test.copy()
    bad.loc[7_777, "age"] = np.inf
    bad.loc[9_000, "calls"] = -np.inf
    with pytest.raises(mlinfer.InputError, match=r"column 'age', row 7777: inf is not finite"):
        m.predict_proba(bad)
    bad = test.copy()  # a cell that is not a string, in the columns factorized by object identity
    bad.loc[4_321, "pay"] = 5
    bad.loc[8_000, "pay"] = 6
    with pytest.raises(mlinfer.InputError, match=r"column 'pay', row 4321: 5 is not a string"):
        m.predict_proba(bad)
    # without a numeric imputer, NaN reaches the linear model: scikit-learn refuses it
    df, y = churn(n=3000)
    df[NUM] = df[NUM].fillna(1.0)
    est2 = make_pipeline(features(impute_num=False), LogisticRegression(max_iter=3000)).fit(df, y)
    m2 = roundtrip(est2, tmp_path)
    clean = test.copy()
    clean[NUM] = clean[NUM].fillna(1.0)
    check(m2, est2, clean)
    clean.loc[5_000, "score"] = np.nan
    clean.loc[6_000, "tenure"] = np.nan
    with pytest.raises(mlinfer.InputError, match=r"column 'score', row 5000: a missing value \(NaN\) reaches the model"):
        m2.predict_proba(clean)
    with pytest.raises(ValueError):
        est2.predict_proba(clean)


def test_many_scores_over_many_values_keep_the_row_form(tmp_path):
    # 60 scaled columns, 12 classes: summing value by value would be slower, so linear.c leaves
    # this model to the transposed rows and the GEMM; both must agree with scikit-learn
    rng = np.random.default_rng(0)
    cols = [f"f{i}" for i in range(60)]
    X = pd.DataFrame(rng.normal(size=(3000, 60)), columns=cols)
    X.iloc[rng.random(3000) < 0.1, 3] = np.nan
    y = (X["f0"].fillna(0) * 3 + rng.normal(size=3000)).round().clip(-6, 5).astype(int)
    assert len(set(y)) == 12
    pre = ColumnTransformer([("n", make_pipeline(SimpleImputer(), StandardScaler()), cols)])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est = make_pipeline(pre, LogisticRegression(max_iter=300)).fit(X, y)
    m = roundtrip(est, tmp_path)
    check(m, est, X)
    check(m, est, X.iloc[[7]])
