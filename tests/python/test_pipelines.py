"""Pipelines over named numeric and string columns (docs/models/pipelines.md): exported with
mlinfer.export and predicted from DataFrames, pyarrow Tables and dicts, compared with
scikit-learn's own predict / predict_proba on the same data.

Tolerances: trees and encoders are exact (the same leaf for every row, so tree scores agree
to float64 rounding of their sums); linear models and MLPs run in float32, so their
probabilities agree within 1e-5 relative / 1e-6 absolute (DESIGN.md's exactness contract)."""
from __future__ import annotations

import warnings

import numpy as np
import pytest

pd = pytest.importorskip("pandas")
from sklearn.base import clone  # noqa: E402
from sklearn.compose import ColumnTransformer, make_column_selector  # noqa: E402
from sklearn.ensemble import (GradientBoostingClassifier, HistGradientBoostingClassifier,  # noqa: E402
                              HistGradientBoostingRegressor, RandomForestClassifier)
from sklearn.impute import MissingIndicator, SimpleImputer  # noqa: E402
from sklearn.linear_model import LogisticRegression, Ridge  # noqa: E402
from sklearn.neural_network import MLPClassifier  # noqa: E402
from sklearn.pipeline import FeatureUnion, Pipeline, make_pipeline  # noqa: E402
from sklearn.preprocessing import (FunctionTransformer, MaxAbsScaler, MinMaxScaler, OneHotEncoder,  # noqa: E402
                                   OrdinalEncoder, RobustScaler, StandardScaler)

import mlinfer  # noqa: E402

NUM = ["tenure", "charges", "age", "calls", "score"]
CAT = ["plan", "region", "device", "pay", "channel"]


def churn(n=3000, seed=0, unseen=False):
    """A churn-like table: 5 numeric columns with NaN, 5 string columns with NaN and None."""
    rng = np.random.default_rng(seed)
    df = pd.DataFrame({
        "tenure": rng.integers(0, 72, n).astype(float),
        "charges": rng.normal(70, 30, n),
        "age": rng.normal(45, 15, n),
        "calls": rng.poisson(3, n).astype(float),
        "score": rng.uniform(0, 1, n),
    })
    cats = {"plan": ["basic", "plus", "pro"], "region": [f"r{i}" for i in range(12)],
            "device": ["ios", "android", "web", "tv"], "pay": ["card", "bank", "cash", "voucher", "crypto"],
            "channel": [f"c{i:02d}" for i in range(50)]}
    for c, values in cats.items():
        col = rng.choice(values + (["NEW"] if unseen else []), n).astype(object)
        col[rng.random(n) < 0.05] = np.nan
        col[rng.random(n) < 0.03] = None
        df[c] = col
    for c in NUM:
        df.loc[rng.random(n) < 0.07, c] = np.nan
    logit = 0.04 * df["tenure"].fillna(30) - 0.02 * df["charges"].fillna(70) + (df["plan"] == "pro") * 1.5
    y = (logit + rng.normal(0, 1, n) > 0).astype(int)
    return df, y


def features(handle_unknown="ignore", scaler=None):
    return ColumnTransformer([
        ("num", make_pipeline(SimpleImputer(strategy="median"), scaler or StandardScaler()), NUM),
        ("cat", make_pipeline(SimpleImputer(strategy="constant", fill_value="missing"),
                              OneHotEncoder(handle_unknown=handle_unknown)), CAT),
    ], sparse_threshold=0)  # HistGradientBoosting takes dense input only


def roundtrip(est, tmp_path):
    path = tmp_path / "model.mli"
    mlinfer.export(est, path)
    return mlinfer.load(path)


def check_same(model, est, X, proba=True, rtol=1e-5, atol=1e-6):
    want = est.predict(X)
    got = model.predict(X)
    if proba:
        pw, pg = est.predict_proba(X), model.predict_proba(X)
        np.testing.assert_allclose(pg, pw, rtol=rtol, atol=atol)
        # labels may differ only where scikit-learn's own top two probabilities tie to 1e-6
        top = np.sort(pw, axis=1)
        close = top[:, -1] - top[:, -2] < 1e-6
        assert np.array_equal(got[~close], want[~close])
    else:
        np.testing.assert_allclose(got, want, rtol=rtol, atol=atol)


MODELS = {
    "logreg": lambda: LogisticRegression(max_iter=2000),
    "hgb": lambda: HistGradientBoostingClassifier(max_iter=30, random_state=0),
    "forest": lambda: RandomForestClassifier(n_estimators=20, max_depth=8, random_state=0),
    "gb": lambda: GradientBoostingClassifier(n_estimators=20, random_state=0),
    "mlp": lambda: MLPClassifier(hidden_layer_sizes=(16,), max_iter=300, random_state=0),
}


@pytest.mark.parametrize("name", sorted(MODELS))
def test_churn_pipeline_matches_sklearn(name, tmp_path):
    df, y = churn()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est = make_pipeline(features(), MODELS[name]()).fit(df, y)
    m = roundtrip(est, tmp_path)
    assert m.schema == [(c, "number") for c in NUM] + [(c, "string") for c in CAT]
    test, _ = churn(n=2000, seed=1, unseen=True)  # "NEW" categories never seen in training
    tol = dict(rtol=1e-5, atol=1e-6) if name in ("logreg", "mlp") else dict(rtol=1e-9, atol=1e-12)
    check_same(m, est, test, **tol)
    # columns taken by name: shuffled order and an extra column change nothing
    shuffled = test[list(reversed(test.columns))].assign(extra="x")
    np.testing.assert_array_equal(m.predict_proba(shuffled), m.predict_proba(test))
    # one row, as a dict of scalars and as a one-row DataFrame
    for i in (0, 5, 17):
        row = test.iloc[i].to_dict()
        np.testing.assert_allclose(m.predict_proba(row), est.predict_proba(test.iloc[[i]]), **tol)
        assert m.predict(row)[0] == est.predict(test.iloc[[i]])[0]


def test_pyarrow_table_and_dict_of_columns(tmp_path):
    pa = pytest.importorskip("pyarrow")
    df, y = churn(n=1500)
    est = make_pipeline(features(), LogisticRegression(max_iter=2000)).fit(df, y)
    m = roundtrip(est, tmp_path)
    test, _ = churn(n=500, seed=3, unseen=True)
    want = m.predict_proba(test)
    cols = {c: test[c].tolist() for c in test.columns}
    np.testing.assert_allclose(m.predict_proba(cols), want, rtol=1e-12)
    # An Arrow table is read as its to_pandas() reads: pyarrow made nulls of both None and NaN,
    # and a string column's nulls come back as None, a dictionary column's as NaN
    table = pa.Table.from_pandas(test)
    back = table.to_pandas()
    assert back[CAT].apply(lambda c: c.map(lambda v: v is None)).to_numpy().sum() > 20
    np.testing.assert_allclose(m.predict_proba(table), est.predict_proba(back), rtol=1e-5, atol=1e-6)
    dict_table = pa.table({c: (pa.array(test[c], from_pandas=True).dictionary_encode() if c in CAT
                            else pa.array(test[c]))
                           for c in test.columns})
    back = dict_table.to_pandas()
    assert back[CAT].isna().to_numpy().sum() > 20
    np.testing.assert_allclose(m.predict_proba(dict_table), est.predict_proba(back), rtol=1e-5, atol=1e-6)


def test_arrow_and_polars_nulls_are_read_as_scikit_learn_reads_them(tmp_path):
    """A pipeline whose answer differs between None and NaN in a string column (an imputer for
    NaN, then a one-hot encoder that saw None in fit): an Arrow string column's null is None (as
    to_pandas() gives it), a dictionary column's NaN; a polars frame's nulls, in String and
    Categorical columns, are None, as scikit-learn reads that frame itself. The opposite reading
    moved probabilities by up to 0.3, with no error."""
    pa = pytest.importorskip("pyarrow")
    rng = np.random.default_rng(5)
    s = rng.choice(["x", "y", "z", "n"], 600).astype(object)
    df = pd.DataFrame({"a": rng.normal(size=600), "s": np.where(s == "n", None, s)})
    y = (df["a"] + (df["s"] == "x") > 0).astype(int)
    est = make_pipeline(ColumnTransformer([("n", "passthrough", ["a"]),
                                           ("c", make_pipeline(SimpleImputer(strategy="constant", fill_value="m"),
                                                               OneHotEncoder(handle_unknown="ignore")), ["s"])]),
                        LogisticRegression()).fit(df, y)
    m = roundtrip(est, tmp_path)
    as_none, as_nan = est.predict_proba(df), est.predict_proba(df.assign(s=df["s"].where(df["s"].notna(), np.nan)))
    assert np.abs(as_none - as_nan).max() > 0.1  # the two readings differ
    tol = dict(rtol=1e-5, atol=1e-6)
    for t in (pa.Table.from_pandas(df), pa.Table.from_pandas(df).cast(pa.schema([("a", pa.float64()),
                                                                                ("s", pa.large_string())]))):
        np.testing.assert_allclose(m.predict_proba(t), as_none, **tol)
    np.testing.assert_allclose(m.predict_proba(pa.Table.from_pandas(df.assign(s=df["s"].astype("category")))),
                               as_nan, **tol)
    if hasattr(pa, "string_view"):
        t = pa.Table.from_pandas(df).cast(pa.schema([("a", pa.float64()), ("s", pa.string_view())]))
        np.testing.assert_allclose(m.predict_proba(t), as_none, **tol)
    pl = pytest.importorskip("polars")
    for frame in (pl.from_pandas(df), pl.from_pandas(df).with_columns(pl.col("s").cast(pl.Categorical)),
                  pl.from_pandas(df).select(["s", "a"]).with_columns(extra=pl.lit(1.0))):
        np.testing.assert_allclose(m.predict_proba(frame), est.predict_proba(frame), **tol)
        np.testing.assert_allclose(m.predict_proba(frame), as_none, **tol)


def test_none_nan_and_the_string_nan_are_kept_apart(tmp_path):
    df = pd.DataFrame({"s": np.array(["a", "b", None, np.nan, "nan", "a", "b", None] * 20, dtype=object),
                       "x": np.arange(160, dtype=float)})
    y = np.arange(160) % 3
    est = make_pipeline(ColumnTransformer([("o", OneHotEncoder(), ["s"]), ("p", "passthrough", ["x"])]),
                        HistGradientBoostingClassifier(max_iter=10)).fit(df, y)
    enc = est[0].named_transformers_["o"]
    assert len(enc.categories_[0]) == 5  # a, b, nan (the string), None, NaN
    m = roundtrip(est, tmp_path)
    check_same(m, est, df, rtol=1e-9, atol=1e-12)
    probe = pd.DataFrame({"s": np.array(["a", None, np.nan, "nan"], dtype=object), "x": [1.0, 2, 3, 4]})
    np.testing.assert_allclose(m.predict_proba(probe), est.predict_proba(probe), rtol=1e-9)
    # the rows that differ only in None / NaN / "nan" really get different encodings
    t = est[0].transform(probe)
    assert len({tuple(r) for r in np.asarray(t)[1:, :5]}) == 3


@pytest.mark.parametrize("encoder", [
    OneHotEncoder(drop="first"),
    OneHotEncoder(drop="if_binary", handle_unknown="ignore"),
    OneHotEncoder(handle_unknown="infrequent_if_exist", min_frequency=0.05),
    OneHotEncoder(handle_unknown="infrequent_if_exist", max_categories=4),
    OneHotEncoder(handle_unknown="ignore", min_frequency=30, drop="first"),
    OrdinalEncoder(),
    OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1, encoded_missing_value=-2),
    OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=np.nan),
    OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=99, min_frequency=40),
], ids=lambda e: repr(e).replace(" ", ""))
def test_encoders(encoder, tmp_path):
    df, y = churn(n=2000)
    ct = ColumnTransformer([("cat", encoder, CAT), ("num", "passthrough", NUM)], sparse_threshold=0)
    est = make_pipeline(ct, HistGradientBoostingClassifier(max_iter=20, random_state=0)).fit(df, y)
    m = roundtrip(est, tmp_path)
    unseen = encoder.handle_unknown != "error"
    test, _ = churn(n=1000, seed=2, unseen=unseen)
    check_same(m, est, test, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("imputer", [
    SimpleImputer(strategy="mean"), SimpleImputer(strategy="median"), SimpleImputer(strategy="most_frequent"),
    SimpleImputer(strategy="constant", fill_value=-7.5), SimpleImputer(strategy="mean", add_indicator=True),
], ids=lambda e: repr(e).replace(" ", ""))
@pytest.mark.parametrize("scaler", [StandardScaler(), MinMaxScaler(clip=True), MaxAbsScaler(), RobustScaler(),
                                    StandardScaler(with_mean=False)], ids=lambda e: repr(e).replace(" ", ""))
def test_numeric_imputers_and_scalers(imputer, scaler, tmp_path):
    df, y = churn(n=1500)
    ct = ColumnTransformer([("num", make_pipeline(imputer, scaler), NUM),
                            ("cat", make_pipeline(SimpleImputer(strategy="most_frequent"),
                                                  OneHotEncoder(handle_unknown="ignore")), CAT)])
    est = make_pipeline(ct, LogisticRegression(max_iter=3000)).fit(df, y)
    m = roundtrip(est, tmp_path)
    test, _ = churn(n=800, seed=4, unseen=True)
    test.loc[3, "charges"] = 1e4  # outside MinMaxScaler's range: clipped
    check_same(m, est, test)


def test_string_imputers_indicators_and_union(tmp_path):
    df, y = churn(n=1500)
    union = FeatureUnion([("ind", MissingIndicator(features="all")),
                          ("imp", make_pipeline(SimpleImputer(strategy="median"), RobustScaler()))],
                         transformer_weights={"imp": 0.5})
    ct = ColumnTransformer([
        ("num", union, NUM),
        ("cat", make_pipeline(SimpleImputer(strategy="most_frequent", add_indicator=True),
                              OneHotEncoder(handle_unknown="ignore")), ["plan", "region"]),
        ("cat2", make_pipeline(SimpleImputer(strategy="constant", fill_value="NAN"),
                               SimpleImputer(missing_values=None, strategy="constant", fill_value="NONE"),
                               OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1)),
         ["device", "pay"]),
    ], remainder="drop")
    est = make_pipeline(ct, RandomForestClassifier(n_estimators=10, random_state=0)).fit(df, y)
    m = roundtrip(est, tmp_path)
    assert dict(m.schema)["channel"] == "unused"  # dropped by the ColumnTransformer
    test, _ = churn(n=800, seed=5, unseen=True)
    check_same(m, est, test, rtol=1e-9, atol=1e-12)
    check_same(m, est, test.drop(columns=["channel"]), rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("select", ["names", "index", "mask", "selector", "callable"])
def test_column_selection_and_remainder(select, tmp_path):
    df, y = churn(n=1500)
    df = df.fillna({c: 0.0 for c in NUM})
    cols = list(df.columns)
    pick = {"names": CAT[:3], "index": [cols.index(c) for c in CAT[:3]],
            "mask": [c in CAT[:3] for c in cols], "selector": make_column_selector(pattern="^(plan|region|device)$"),
            "callable": lambda X: CAT[:3]}[select]
    ct = ColumnTransformer([("cat", OneHotEncoder(handle_unknown="ignore"), pick),
                            ("drop", "drop", ["pay", "channel"])], remainder=StandardScaler())
    est = make_pipeline(ct, LogisticRegression(max_iter=2000)).fit(df, y)
    m = roundtrip(est, tmp_path)
    test, _ = churn(n=500, seed=6, unseen=True)
    test = test.fillna({c: 0.0 for c in NUM})
    check_same(m, est, test)


def test_regressor_and_numeric_matrix_input(tmp_path):
    rng = np.random.default_rng(7)
    X = rng.normal(size=(400, 4))
    X[rng.random(X.shape) < 0.1] = np.nan
    y = np.nan_to_num(X).sum(axis=1)
    est = make_pipeline(SimpleImputer(add_indicator=True), StandardScaler(), Ridge()).fit(X, y)
    m = roundtrip(est, tmp_path)
    np.testing.assert_allclose(m.predict(X), est.predict(X), rtol=1e-5, atol=1e-5)
    est = make_pipeline(SimpleImputer(), HistGradientBoostingRegressor(max_iter=20)).fit(X, y)
    m = roundtrip(est, tmp_path)
    np.testing.assert_allclose(m.predict(X), est.predict(X), rtol=1e-9)


# ---- errors ------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def strict(tmp_path_factory):
    df, y = churn(n=1500)
    est = make_pipeline(ColumnTransformer([("num", "passthrough", ["tenure", "charges"]),
                                           ("cat", OneHotEncoder(handle_unknown="error"), ["plan"])]),
                        LogisticRegression(max_iter=2000)).fit(df.fillna({"tenure": 0, "charges": 0}).dropna(
                            subset=["plan"]), y[df["plan"].notna().to_numpy()])
    path = tmp_path_factory.mktemp("strict") / "m.mli"
    mlinfer.export(est, path)
    return mlinfer.load(path), est


def test_unknown_category_is_an_error_naming_column_value_and_row(strict):
    m, est = strict
    X = pd.DataFrame({"tenure": [1.0, 2, 3], "charges": [1.0, 2, 3], "plan": ["basic", "pro", "gold"]})
    with pytest.raises(ValueError):
        est.predict(X)
    with pytest.raises(mlinfer.InputError, match=r"column 'plan', row 2: unknown category 'gold'"):
        m.predict(X)


def test_string_in_numeric_column_names_column_and_row(strict):
    m, _ = strict
    X = pd.DataFrame({"tenure": np.array([1.0, "abc", 3], dtype=object), "charges": [1.0, 2, 3],
                      "plan": ["basic", "pro", "plus"]})
    with pytest.raises(mlinfer.InputError, match=r"column 'tenure', row 1: 'abc' is not a number"):
        m.predict(X)


def test_missing_column_and_numbers_for_strings(strict):
    m, _ = strict
    with pytest.raises(mlinfer.InputError, match="charges"):
        m.predict(pd.DataFrame({"tenure": [1.0], "plan": ["pro"]}))
    with pytest.raises(ValueError, match="plan"):
        m.predict(pd.DataFrame({"tenure": [1.0], "charges": [2.0], "plan": [3]}))


def test_complex_numbers_are_refused_naming_the_column(strict):
    """NumPy's cast to float64 drops an imaginary part with only a warning: scikit-learn refuses
    complex data, and so must every way in (a DataFrame column, a dict of arrays, a list of
    Python complex numbers), naming the column."""
    m, est = strict
    z = np.array([1.0 + 2j, 2.0, 3.0])
    X = pd.DataFrame({"tenure": z, "charges": [1.0, 2, 3], "plan": ["basic", "pro", "plus"]})
    with pytest.raises(ValueError):
        est.predict(X)
    for given in (X, {"tenure": z, "charges": np.ones(3), "plan": np.array(["basic", "pro", "plus"], dtype=object)},
                  {"tenure": list(z), "charges": [1.0, 2, 3], "plan": ["basic", "pro", "plus"]}):
        with pytest.raises(mlinfer.InputError, match="'tenure'"):
            m.predict(given)


def test_dates_in_a_number_column_are_refused_naming_it(strict):
    """pandas casts datetime64 and timedelta64 to float64 as nanoseconds: scikit-learn refuses them."""
    m, est = strict
    X = pd.DataFrame({"tenure": [1.0, 2, 3], "charges": [1.0, 2, 3], "plan": ["basic", "pro", "plus"]})
    for bad in (X.assign(charges=pd.Timestamp("2021-05-01")), X.assign(tenure=pd.to_timedelta([1, 2, 3], unit="D"))):
        with pytest.raises((TypeError, ValueError)):
            est.predict(bad)
        with pytest.raises(mlinfer.InputError, match="'charges'|'tenure'"):
            m.predict(bad)


def test_nan_reaching_a_linear_model_raises_as_sklearn(strict):
    m, est = strict
    X = pd.DataFrame({"tenure": [1.0, 2, np.nan], "charges": [1.0, 2, 3], "plan": ["basic", "pro", "plus"]})
    with pytest.raises(ValueError):
        est.predict(X)
    with pytest.raises(mlinfer.InputError, match=r"column 'tenure', row 2: a missing value"):
        m.predict(X)
    with pytest.raises(mlinfer.InputError, match="row 0"):
        m.predict(pd.DataFrame({"tenure": [np.nan], "charges": [1.0], "plan": [None]}))


def test_unsupported_steps_are_refused_by_name():
    from sklearn.decomposition import KernelPCA
    df, y = churn(n=300)
    X = df[NUM].fillna(0)
    with pytest.raises(mlinfer.UnsupportedModelError, match="KernelPCA"):
        mlinfer.export(make_pipeline(SimpleImputer(), KernelPCA(2), LogisticRegression()).fit(X, y), "/dev/null")
    with pytest.raises(mlinfer.UnsupportedModelError, match="FunctionTransformer.*arbitrary Python"):
        mlinfer.export(make_pipeline(SimpleImputer(), FunctionTransformer(lambda v: v + 1), LogisticRegression()).fit(X.abs(), y),
                       "/dev/null")


def test_other_missing_markers_explicit_drop_and_error_on_new(tmp_path):
    rng = np.random.default_rng(9)
    n = 600
    df = pd.DataFrame({"a": rng.integers(-1, 5, n).astype(float), "b": rng.normal(size=n),
                       "s": rng.choice(["x", "y", "?", ""], n).astype(object), "t": rng.choice(["p", "q", "r"], n)})
    y = (df["b"] > 0).astype(int)
    ct = ColumnTransformer([
        ("a", SimpleImputer(missing_values=-1.0, strategy="mean"), ["a"]),
        ("s", make_pipeline(SimpleImputer(missing_values="?", strategy="constant", fill_value="x"),
                            SimpleImputer(missing_values="", strategy="most_frequent"),
                            OneHotEncoder(handle_unknown="ignore")), ["s"]),
        ("t", OneHotEncoder(drop=["q"]), ["t"]),
        ("ind", MissingIndicator(missing_values=-1.0), ["a", "b"]),  # error_on_new: b never missing
        ("b", "passthrough", ["b"]),
    ])
    est = make_pipeline(ct, LogisticRegression()).fit(df, y)
    m = roundtrip(est, tmp_path)
    check_same(m, est, df)
    bad = df.iloc[:3].copy()
    bad.loc[bad.index[1], "b"] = -1.0
    with pytest.raises(ValueError):
        est.predict(bad)
    with pytest.raises(mlinfer.InputError, match="column 'b', row 1"):
        m.predict(bad)


def test_numeric_column_given_as_strings_and_nullable_dtypes(tmp_path):
    df, y = churn(n=800)
    est = make_pipeline(features(), LogisticRegression(max_iter=2000)).fit(df, y)
    m = roundtrip(est, tmp_path)
    test, _ = churn(n=300, seed=8)
    nullable = test.astype({"tenure": "Float64", "calls": "Float64"}).astype({c: "string" for c in CAT[:2]})
    want = est.predict_proba(test)
    # the "string" dtype turns None into pd.NA, a null: compare the rows that had no None there
    no_none = ~test[CAT[:2]].apply(lambda c: c.map(lambda v: v is None)).any(axis=1).to_numpy()
    assert no_none.sum() > 250
    np.testing.assert_allclose(m.predict_proba(nullable[test.columns])[no_none], want[no_none], rtol=1e-5, atol=1e-6)
    cat = test.astype({c: "category" for c in CAT})
    np.testing.assert_allclose(m.predict_proba(cat), est.predict_proba(cat), rtol=1e-5, atol=1e-6)


def test_apply_decision_and_raw_through_the_prep_stage(tmp_path):
    from sklearn.ensemble import RandomForestRegressor
    rng = np.random.default_rng(10)
    X = rng.normal(size=(300, 3))
    X[rng.random(X.shape) < 0.1] = np.nan
    y = np.nan_to_num(X).sum(axis=1)
    est = make_pipeline(SimpleImputer(add_indicator=True), RandomForestRegressor(n_estimators=5, max_depth=4,
                                                                                 random_state=0)).fit(X, y)
    m = roundtrip(est, tmp_path)
    np.testing.assert_array_equal(m.apply(X), est[-1].apply(est[:-1].transform(X)))
    df, yc = churn(n=1000)
    clf = make_pipeline(features(), LogisticRegression(max_iter=2000)).fit(df, yc)
    m = roundtrip(clf, tmp_path)
    np.testing.assert_allclose(m.decision_function(df), clf.decision_function(df), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(m.predict_raw(df), clf.decision_function(df), rtol=1e-5, atol=1e-5)


def test_apply_from_a_dataframe_with_string_columns(tmp_path):
    """apply (mli_model_apply_columns) takes what predict takes: a DataFrame with string
    columns, NaN and None, unseen categories, a pyarrow Table, a dict, one row; the leaves are
    scikit-learn's apply on the pipeline's transformed rows (a forest and a single tree)."""
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.tree import DecisionTreeClassifier
    df, y = churn(n=1200)
    test, _ = churn(n=400, seed=4, unseen=True)
    for last in (RandomForestClassifier(n_estimators=7, max_depth=6, random_state=0),
                 DecisionTreeClassifier(max_depth=8, random_state=0)):
        est = make_pipeline(features(), last).fit(df, y)
        m = roundtrip(est, tmp_path)
        want = est[-1].apply(est[:-1].transform(test)).reshape(len(test), -1)
        got = m.apply(test)
        assert got.dtype == np.int64 and got.shape == (len(test), m.n_trees_)
        np.testing.assert_array_equal(got, want)
        np.testing.assert_array_equal(m.apply(test.iloc[[5]]), want[5:6])
        np.testing.assert_array_equal(m.apply({c: test[c].to_numpy() for c in test.columns}), want)
        pa = pytest.importorskip("pyarrow")
        table = pa.Table.from_pandas(test)  # read as its to_pandas() gives it back (nulls are None)
        back = est[-1].apply(est[:-1].transform(table.to_pandas())).reshape(len(test), -1)
        np.testing.assert_array_equal(m.apply(table), back)
    with pytest.raises(mlinfer.InputError, match="tenure"):
        m.apply(test.assign(tenure="many"))
    lr = roundtrip(make_pipeline(features(), LogisticRegression(max_iter=2000)).fit(df, y), tmp_path)
    with pytest.raises(mlinfer.UnsupportedError, match="no trees"):
        lr.apply(test)


def test_object_array_with_a_dropped_string_column(tmp_path):
    """A NumPy object array whose string column the ColumnTransformer drops (every column the
    model reads holds numbers): scikit-learn answers, and so does mlinfer (the array went to a
    float64 cast, which raised on the strings)."""
    df, y = churn(n=600)
    X = df[NUM[:2] + CAT[:1]].fillna({NUM[0]: 0.0, NUM[1]: 0.0}).to_numpy(dtype=object)
    est = make_pipeline(ColumnTransformer([("num", StandardScaler(), [0, 1])], remainder="drop"),
                        LogisticRegression(max_iter=2000)).fit(X, y)
    m = roundtrip(est, tmp_path)
    assert [k for _, k in m.schema] == ["number", "number", "unused"]
    np.testing.assert_allclose(m.predict_proba(X), est.predict_proba(X), rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(m.predict(X[:1]), est.predict(X[:1]))


def test_model_without_column_names_takes_columns_by_position(tmp_path):
    df, y = churn(n=800)
    X = df[NUM[:2] + CAT[:2]].to_numpy(dtype=object)  # no names: columns by position
    ct = ColumnTransformer([("num", SimpleImputer(), [0, 1]),
                            ("cat", OneHotEncoder(handle_unknown="ignore"), [2, 3])])
    est = make_pipeline(ct, LogisticRegression(max_iter=2000)).fit(X, y)
    m = roundtrip(est, tmp_path)
    assert m.schema == [(None, "number"), (None, "number"), (None, "string"), (None, "string")]
    test = X[:200]
    np.testing.assert_allclose(m.predict_proba(test), est.predict_proba(test), rtol=1e-5, atol=1e-6)
    row = dict(enumerate(test[3]))
    np.testing.assert_allclose(m.predict_proba(row), est.predict_proba(test[3:4]), rtol=1e-5, atol=1e-6)


def test_numpy_string_scalars_are_strings(tmp_path):
    df, y = churn(n=600)
    est = make_pipeline(features(), LogisticRegression(max_iter=2000)).fit(df, y)
    m = roundtrip(est, tmp_path)
    test = df.copy()
    for c in CAT:  # np.str_ cells (as np.array(..., dtype=object) of a str array gives), 1 object per row
        test[c] = np.array([np.str_(v) if isinstance(v, str) else v for v in test[c]], dtype=object)
    np.testing.assert_allclose(m.predict_proba(test), est.predict_proba(test), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("step", ["imputer", "scaler", "log1p"])
def test_float32_through_float32_steps_before_trees_is_refused(step, tmp_path):
    """scikit-learn imputes, scales and applies ufuncs to a float32 column in float32; the
    prep stage computes in float64, within the last float32 digit, which moves rows across a
    tree's splits (an imputer before HistGradientBoosting: hundreds of 10 000 rows get another
    label from scikit-learn on float32 than on float64 input). Before trees such float32 input
    is refused naming the column; float64 input, float32 straight into the trees, and float32
    before a linear model (scores within 1e-5) are taken."""
    rng = np.random.default_rng(3)
    n = 10_000
    X = rng.normal(size=(n, 3)).astype(np.float32)
    X[rng.random((n, 3)) < 0.05] = np.nan
    y = (np.nan_to_num(X[:, 0]) + np.nan_to_num(X[:, 1]) > 0).astype(int)
    df64 = pd.DataFrame(X.astype(np.float64), columns=["a", "b", "c"])
    first = {"imputer": SimpleImputer(), "scaler": make_pipeline(SimpleImputer(), StandardScaler()),
             "log1p": make_pipeline(SimpleImputer(), FunctionTransformer(np.abs), FunctionTransformer(np.log1p))}[step]
    pre = ColumnTransformer([("f", first, ["a", "b"]), ("p", "passthrough", ["c"])])
    trees = make_pipeline(pre, HistGradientBoostingClassifier(max_iter=30, random_state=0)).fit(df64, y)
    mlinfer.export(trees, tmp_path / "t.mli")
    m = mlinfer.load(tmp_path / "t.mli")
    df32 = df64.astype(np.float32)
    row32 = {k: df32[k].iloc[0] for k in df32}  # NumPy float32 scalars: pandas keeps them float32
    assert type(row32["a"]) is np.float32
    for given in (df32, df32.iloc[:1], {k: df32[k].to_numpy() for k in df32}, X, row32,
                  {k: [np.float32(v) for v in df32[k].iloc[:3]] for k in df32}):
        with pytest.raises(mlinfer.InputError, match="column 'a' is float32 and goes through"):
            m.predict(given)
    # the same values as Python floats (float64) are taken, as scikit-learn takes them
    row64 = {k: float(v) for k, v in row32.items()}
    np.testing.assert_array_equal(m.predict(row64), trees.predict(pd.DataFrame([row64])))
    np.testing.assert_array_equal(m.predict(df64), trees.predict(df64))
    mixed = df64.assign(c=df32["c"])  # float32 straight into the trees: exact
    np.testing.assert_array_equal(m.predict(mixed), trees.predict(mixed))
    linear = make_pipeline(ColumnTransformer([("f", clone(first), ["a", "b"]), ("p", SimpleImputer(), ["c"])]),
                           LogisticRegression()).fit(df64, y)
    mlinfer.export(linear, tmp_path / "l.mli")
    ml = mlinfer.load(tmp_path / "l.mli")
    np.testing.assert_allclose(ml.predict_proba(df32), linear.predict_proba(df32), rtol=1e-5, atol=1e-6)
