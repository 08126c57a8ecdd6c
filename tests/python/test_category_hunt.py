"""Categorical and DataFrame inputs of tree models, randomized over seeds: XGBoost
(enable_categorical; wrapper export, JSON and UBJ Booster files), LightGBM (pandas category
columns; wrapper export and text file; categorical_feature by name and by index) and
HistGradientBoosting (categorical_features from_dtype, names, mask, indices) against their
framework's own predictions on DataFrames that differ from the training one: categories
reordered, another category set, unseen values, NaN / None / pd.NA, object or string columns
for category ones, nullable Int64 / Float64 / boolean columns, float32, columns reordered,
extra columns, 1 and 10 000 rows. Where the framework raises, so must libmlinfer (a missing
column, XGBoost's unseen categories), naming the column.

Reference rules: LightGBM and XGBoost take category columns only and LightGBM pairs them by
position, so their reference is the frame put in training column order with category dtypes
(libmlinfer takes columns by name and strings as they are). Tolerances: labels identical,
probabilities and raw scores 1e-5 relative (XGBoost sums and outputs in float32: atol 1e-6;
the others 1e-7)."""
from __future__ import annotations

import os

import numpy as np
import pytest

pd = pytest.importorskip("pandas")
xgb = pytest.importorskip("xgboost")
lgb = pytest.importorskip("lightgbm")
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor  # noqa: E402

S = ["b", "a", "d", "c", "e"]  # not sorted: pandas codes differ from sorted order
IC = [0, 1, 2, 3, 4]  # integer categories that are their own codes
COLS = ["x", "s", "ic", "n", "b", "f"]
KINDS = ["binary", "multiclass", "regressor"]
# seeds 0..2 (each a kind of target); MLI_CAT_SEEDS=N runs N seeds from MLI_CAT_START (seed % 3 the kind)
_START = int(os.environ.get("MLI_CAT_START", "0"))
SEEDS = range(_START, _START + int(os.environ.get("MLI_CAT_SEEDS", "3")))


def _frame(n, seed):
    r = np.random.default_rng(seed)
    s = r.choice(S, n).astype(object)
    s[r.random(n) < 0.1] = np.nan
    return pd.DataFrame({"x": r.normal(size=n), "s": pd.Categorical(s, categories=S),
                         "ic": pd.Categorical(r.integers(0, 5, n), categories=IC),
                         "n": r.integers(0, 6, n).astype(np.int64), "b": r.random(n) < 0.5,
                         "f": r.normal(size=n).astype(np.float32)})


def _target(df, kind):
    s = df["s"].astype(object)
    v = (s.isin(["a", "c"]).astype(int) + (df["x"] > 0) + df["ic"].astype(float).fillna(0).astype(int) % 2
         + (df["n"] == 3) + df["b"] + (df["f"] > 0.5)).to_numpy()
    return v % 2 if kind == "binary" else v % 3 if kind == "multiclass" else v + df["x"].to_numpy()


def _variants(df, seed):
    """Frames the framework answers on (its reference: _reference)."""
    r = np.random.default_rng(seed)
    n = len(df)
    obj = df["s"].astype(object)
    mask = r.random(n) < 0.1
    none, pdna = obj.copy(), obj.copy()
    none[mask] = None
    pdna[mask] = pd.NA
    nn = df["n"].astype("Int64")
    nn[r.random(n) < 0.1] = pd.NA
    bb = df["b"].astype("boolean")
    bb[r.random(n) < 0.1] = pd.NA
    unseen = obj.copy()
    unseen[r.random(n) < 0.05] = "zz"
    sub = obj.where(obj.isin(["a", "c"]), np.nan)
    v = {"same": df,
         "reordered": df.assign(s=df["s"].cat.reorder_categories(S[::-1]),
                                ic=df["ic"].cat.reorder_categories(IC[::-1])),
         "subset": df.assign(s=pd.Categorical(sub, categories=["c", "a"])),
         "object": df.assign(s=obj), "object_none": df.assign(s=none), "string_na": df.assign(s=pdna.astype("string")),
         "category_na": df.assign(s=pd.Categorical(pdna, categories=S)),
         "ic_nan": df.assign(ic=pd.Categorical(df["ic"].astype(float).where(~mask), categories=IC)),
         "nullable": df.assign(n=nn, x=df["x"].astype("Float64"), b=bb),
         "float32": df.assign(x=df["x"].astype(np.float32), n=df["n"].astype(np.float32), f=df["f"].astype(np.float64)),
         "columns": df[COLS[::-1]].assign(extra=1.0)}
    pa = pytest.importorskip("pyarrow")
    v["arrow"] = pa.Table.from_pandas(v["reordered"], preserve_index=False)  # dictionary columns, int ones too
    v["dict_of_arrays"] = {c: v["reordered"][c].array for c in COLS}  # a Categorical, a NumpyExtensionArray, ...
    v["one_row"] = v["reordered"].iloc[[int(r.integers(n))]]
    v["one_row_object"] = v["object_none"].iloc[[int(r.integers(n))]]
    v["one_row_nullable"] = v["nullable"].iloc[[int(r.integers(n))]]
    return v, unseen


def _reference(X, cats):
    """X in training column order, string columns as the training category dtype when `cats`."""
    X = X.to_pandas() if hasattr(X, "to_pandas") else pd.DataFrame(X) if isinstance(X, dict) else X
    X = X[COLS]
    if cats:
        X = X.astype({"s": pd.CategoricalDtype(S)})
    return X


def _check(name, got, want, atol):
    got, want = np.asarray(got), np.asarray(want)
    if want.dtype.kind in "fc":
        np.testing.assert_allclose(got.reshape(want.shape), want, rtol=1e-5, atol=atol, err_msg=name)
    else:
        np.testing.assert_array_equal(got, want, err_msg=name)


def _compare(est, m, frames, cats, atol, raw):
    for name, X in frames.items():
        ref = _reference(X, cats)
        _check(name, m.predict(X), est.predict(ref), atol)
        if hasattr(est, "classes_"):
            _check(name, m.predict_proba(X), est.predict_proba(ref), atol)
        if raw is not None:
            _check(name, m.predict_raw(X), raw(ref), atol)


def _export(mlinfer, est, tmp_path):
    mlinfer.export(est, tmp_path / "m.mli")
    return mlinfer.load(tmp_path / "m.mli")


def _fitted(seed, test_seed, classifier, regressor, fit=None, **params):
    """(test frame, its variants, the column of unseen strings, the estimator fitted on the
    seed's kind of target: binary, multiclass or regression)."""
    kind = KINDS[seed % 3]
    train, test = _frame(1500, seed), _frame(10000, seed + test_seed)
    frames, unseen = _variants(test, seed)
    cls = regressor if kind == "regressor" else classifier
    est = cls(n_estimators=12, random_state=seed, max_cat_to_onehot=1 if seed % 2 else 8, **params)
    return test, frames, unseen, est.fit(train, _target(train, kind), **(fit or {}))


@pytest.mark.parametrize("seed", SEEDS)
def test_xgboost(mlinfer, tmp_path, seed):
    test, frames, unseen, est = _fitted(seed, 100, xgb.XGBClassifier, xgb.XGBRegressor, max_depth=4,
                                        enable_categorical=True, tree_method="hist")
    booster = est.get_booster()
    margin = lambda X: est.predict(X, output_margin=True)  # noqa: E731
    # pd.NA in a string column: XGBoost takes no string columns; libmlinfer reads pd.NA as
    # scikit-learn does, a value no category is, which XGBoost's re-coding refuses
    with pytest.raises(mlinfer.InputError, match="column 's', row [0-9]+: unknown category"):
        _export(mlinfer, est, tmp_path).predict(frames.pop("string_na"))
    _compare(est, _export(mlinfer, est, tmp_path), frames, True, 1e-6, margin)
    for fmt in ("json", "ubj"):
        m = mlinfer.load(bytes(booster.save_raw(fmt)))
        for name in ("same", "reordered", "object_none", "one_row"):
            _check(name, m.predict_raw(frames[name]), margin(_reference(frames[name], True)), 1e-6)
        # XGBoost refuses a category it was not trained on, string or number: so does libmlinfer
        X = test.assign(s=pd.Categorical(unseen, categories=S + ["zz"]))
        with pytest.raises(xgb.core.XGBoostError, match="not in the training set"):
            margin(X)
        row = int(np.flatnonzero(unseen == "zz")[0])
        with pytest.raises(mlinfer.InputError, match=f"column 's', row {row}: unknown category 'zz'"):
            m.predict_raw(X)
        ic = test["ic"].astype(int).to_numpy().copy()
        ic[7] = 7
        X = test.assign(ic=pd.Categorical(ic, categories=IC + [7]))
        with pytest.raises(xgb.core.XGBoostError, match="not in the training set"):
            margin(X)
        for bad in (X, X.iloc[[7]], X.astype({"ic": float})):
            with pytest.raises(mlinfer.InputError, match="column 'ic', row [07]: 7 is not one of the categories 0..4"):
                m.predict_raw(bad)
        with pytest.raises(ValueError, match="'s'"):
            m.predict(test.drop(columns=["s"]))


@pytest.mark.parametrize("seed", SEEDS)
def test_lightgbm(mlinfer, tmp_path, seed):
    by = [{}, {"categorical_feature": ["s", "ic"]}, {"categorical_feature": [1, 2]}][seed % 3]
    test, frames, unseen, est = _fitted(seed, 200, lgb.LGBMClassifier, lgb.LGBMRegressor, fit=by,
                                        min_data_per_group=5, cat_smooth=1, verbose=-1)
    # LightGBM maps an unseen category to NaN by pandas_categorical, as libmlinfer does
    frames["unseen"] = test.assign(s=pd.Categorical(unseen, categories=S + ["zz"]))
    frames["unseen_object"] = test.assign(s=unseen)
    raw = lambda X: est.predict(X, raw_score=True)  # noqa: E731
    _compare(est, _export(mlinfer, est, tmp_path), frames, True, 1e-7, raw)
    path = tmp_path / "m.txt"
    est.booster_.save_model(str(path))
    m = mlinfer.load(path)
    for name in ("same", "reordered", "unseen", "object_none", "one_row"):
        _check(name, m.predict_raw(frames[name]), raw(_reference(frames[name], True)), 1e-7)
    with pytest.raises(ValueError, match="'ic'"):
        m.predict(test.drop(columns=["ic"]))


HGB_CATS = ["from_dtype", ["s", "ic"], [False, True, True, False, False, False], [1, 2], ["s", "ic", "n"]]


@pytest.mark.parametrize("seed", SEEDS)
def test_histgradientboosting(mlinfer, tmp_path, seed):
    kind = ["binary", "regressor", "multiclass"][seed % 3]
    train, test = _frame(1500, seed), _frame(10000, seed + 300)
    frames, unseen = _variants(test, seed)
    frames["unseen"] = test.assign(s=unseen)  # unknown to the encoder: the missing value
    frames["ic_other_set"] = test.assign(ic=pd.Categorical(test["ic"].astype(int), categories=[4, 2, 0, 1, 3, 7]))
    for cats in (HGB_CATS[seed % 3], HGB_CATS[seed % 3 + 2]):
        cls = HistGradientBoostingRegressor if kind == "regressor" else HistGradientBoostingClassifier
        est = cls(categorical_features=cats, max_iter=12, random_state=seed).fit(train, _target(train, kind))
        m = _export(mlinfer, est, tmp_path)
        _compare(est, m, frames, False, 1e-7, None if kind == "regressor" else est.decision_function)
        with pytest.raises(ValueError, match="'s'"):
            m.predict(test.drop(columns=["s"]))


# ---- boosters trained on arrays: their framework reads a category column's codes -------------

def test_boosters_without_recorded_categories_refuse_category_columns_read_by_code(mlinfer):
    """An XGBoost or LightGBM booster trained on an array records no categories, so its
    framework feeds a DataFrame category column's codes to the trees. libmlinfer, which reads
    values, once silently disagreed on every row for categories that are not 0..k-1 in order;
    such a column is now an input error, and a category column whose codes are its values
    still scores as its framework."""
    r = np.random.default_rng(0)
    n = 2000
    X = np.column_stack([r.normal(size=n), r.choice([0, 3, 10, 17, 40], n)])
    y = ((X[:, 1] % 3 == 0) ^ (X[:, 0] > 0)).astype(int)
    xe = xgb.XGBClassifier(n_estimators=10, enable_categorical=True, tree_method="hist",
                           feature_types=["q", "c"]).fit(X, y)
    le = lgb.LGBMClassifier(n_estimators=10, verbose=-1, min_data_per_group=5).fit(X, y, categorical_feature=[1])
    for est, m, names, label in (
            (xe, mlinfer.load(bytes(xe.get_booster().save_raw("json"))), ["f0", "f1"], "#1"),  # no names: by position
            (le, mlinfer.load(le.booster_.model_to_string().encode()), ["Column_0", "Column_1"], "Column_1")):
        assert m.meta("category_input") == "codes"
        df = pd.DataFrame(X, columns=names)
        df[names[1]] = pd.Categorical(X[:, 1].astype(int), categories=[40, 17, 10, 3, 0])
        key = "output_margin" if est is xe else "raw_score"
        raw = lambda D: est.predict(D, **{key: True})  # noqa: E731
        assert not np.allclose(raw(df), raw(X))  # the framework reads the codes
        pa = pytest.importorskip("pyarrow")
        for bad in (df, df.iloc[[5]], pa.Table.from_pandas(df, preserve_index=False)):
            with pytest.raises(mlinfer.InputError, match=f"column '{label}' is a category column"):
                m.predict_raw(bad)
        ok = df.assign(**{names[1]: pd.Categorical(np.minimum(X[:, 1], 4).astype(int), categories=range(5))})
        np.testing.assert_allclose(m.predict_raw(ok).reshape(-1), raw(ok), rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(m.predict_raw(X).reshape(-1), raw(X), rtol=1e-5, atol=1e-6)


def test_booster_keys_dropped_behind_preprocessing(mlinfer, tmp_path):
    """The booster's input rules speak of its own columns: behind a scaler the pipeline's
    columns are read by value, as scikit-learn reads them."""
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    r = np.random.default_rng(1)
    X = pd.DataFrame({"a": r.normal(size=300), "c": pd.Categorical(r.choice([3, 10], 300))})
    y = (X["a"] > 0).astype(int)
    pipe = make_pipeline(StandardScaler(), xgb.XGBClassifier(n_estimators=3)).fit(X, y)
    mlinfer.export(pipe, tmp_path / "p.mli")
    m = mlinfer.load(tmp_path / "p.mli")
    assert m.meta("category_input") is None
    np.testing.assert_allclose(m.predict_proba(X), pipe.predict_proba(X), rtol=1e-5, atol=1e-6)


def test_a_column_given_twice_is_an_error(mlinfer, tmp_path):
    """A DataFrame (or Arrow table) with a column name twice: the frameworks refuse it. A
    one-row frame once went through a dict whose last duplicate silently won."""
    pa = pytest.importorskip("pyarrow")
    train, test = _frame(400, 0).drop(columns=["f"]), _frame(50, 1).drop(columns=["f"])
    est = HistGradientBoostingClassifier(categorical_features="from_dtype", max_iter=5).fit(
        train, _target(train.assign(f=0.0), "binary"))
    m = _export(mlinfer, est, tmp_path)
    dup = pd.concat([test, test[["s"]].iloc[::-1].reset_index(drop=True)], axis=1)
    with pytest.raises(Exception, match="unique column names"):
        est.predict(dup.iloc[[0]])
    for X in (dup, dup.iloc[[0]], pa.table([pa.array(test["x"]), pa.array(test["x"])], names=["x", "x"])):
        with pytest.raises(mlinfer.InputError, match="the input has the column '[sx]' twice"):
            m.predict(X)


def test_a_model_without_names_reads_a_table_by_position(mlinfer, tmp_path):
    """HistGradientBoosting fitted on a frame with integer labels records no names and
    scikit-learn reads any frame by position. libmlinfer once looked the columns up by label:
    labels in another order scored silently from the wrong columns (or failed on labels that
    are not 0..n-1); a table of another width is an error, as for an array."""
    pa = pytest.importorskip("pyarrow")
    train, test = _frame(1000, 0).astype({"s": object}), _frame(300, 1).astype({"s": object})
    y = _target(train, "binary")
    est = HistGradientBoostingClassifier(categorical_features=[1, 2], max_iter=10)
    est.fit(train.set_axis(range(6), axis=1), y)
    m = _export(mlinfer, est, tmp_path)
    assert m.feature_names_in_ is None
    b_and_f = test.assign(b=test["f"].astype(np.float64) > 0, f=test["b"].astype(np.float32))
    for X in (b_and_f.set_axis([0, 1, 2, 3, 5, 4], axis=1), test.set_axis([5, 4, 3, 2, 1, 0], axis=1),
              test.set_axis(range(10, 16), axis=1), pa.Table.from_pandas(test, preserve_index=False)):
        ref = est.predict_proba(X.to_pandas() if hasattr(X, "to_pandas") else X)
        np.testing.assert_allclose(m.predict_proba(X), ref, rtol=1e-5, atol=1e-7)
        np.testing.assert_allclose(m.predict_proba(X[:1] if hasattr(X, "to_pandas") else X.iloc[:1]), ref[:1],
                                   rtol=1e-5, atol=1e-7)
    with pytest.raises(mlinfer.ShapeError, match="X has 7 features, but the model expects 6"):
        m.predict(test.set_axis(range(6), axis=1).assign(extra=1.0))


def test_batch_scoring_checks_category_columns_too(mlinfer):
    """mlinfer.dask (and mlinfer.ray) build the feature matrix of a pandas partition themselves:
    a category column there once reached a booster trained on arrays by value, with no error."""
    dd = pytest.importorskip("dask.dataframe")
    import mlinfer.dask
    r = np.random.default_rng(2)
    X = np.column_stack([r.normal(size=400), r.choice([0, 3, 10], 400)])
    est = xgb.XGBClassifier(n_estimators=5, enable_categorical=True, feature_types=["q", "c"]).fit(X, X[:, 1] == 3)
    m = mlinfer.load(bytes(est.get_booster().save_raw("json")))
    df = pd.DataFrame({"a": X[:, 0], "b": pd.Categorical(X[:, 1].astype(int))})
    with pytest.raises(mlinfer.InputError, match="column '#1' is a category column"):
        mlinfer.dask.predict(dd.from_pandas(df, npartitions=2), m, output="margin").compute()
    ok = df.assign(b=pd.Categorical(np.minimum(X[:, 1], 2).astype(int), categories=[0, 1, 2]))
    got = mlinfer.dask.predict(dd.from_pandas(ok, npartitions=2), m, output="margin").compute()
    np.testing.assert_allclose(got.to_numpy(), est.predict(ok, output_margin=True), rtol=1e-5, atol=1e-6)
