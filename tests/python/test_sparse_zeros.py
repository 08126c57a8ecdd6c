"""Tree models behind steps whose output is a scipy.sparse matrix.

XGBoost takes the entries a sparse matrix leaves out as missing values, not as 0: an
XGBClassifier fitted behind a ColumnTransformer whose output is sparse (a OneHotEncoder with its
default sparse_output=True and a density under sparse_threshold) learns splits on "present or
missing", and a dense 0 goes wherever the split's threshold sends it -- often the other way
(every label of the model below flipped before the exporter knew). The exporter now asks the
steps whether they give the model a sparse matrix (export_pipeline.sparse_output) and, for an
XGBoost model, makes every 0 NaN. LightGBM and scikit-learn's trees take those zeros as 0 and
keep them.

Tolerance: probabilities within 1e-5 relative (float32 leaf sums), labels identical.
"""
from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("sklearn")
pd = pytest.importorskip("pandas")
xgb = pytest.importorskip("xgboost")

import scipy.sparse as sp  # noqa: E402
from sklearn.compose import ColumnTransformer  # noqa: E402
from sklearn.ensemble import RandomForestClassifier  # noqa: E402
from sklearn.multiclass import OneVsRestClassifier  # noqa: E402
from sklearn.pipeline import FeatureUnion, make_pipeline  # noqa: E402
from sklearn.preprocessing import KBinsDiscretizer, MaxAbsScaler, OneHotEncoder  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore")


def table(n=2000, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.choice([0.0, 1.0, 2.0, 3.0], n)
    x[rng.random(n) < 0.05] = np.nan
    df = pd.DataFrame({"c": rng.choice([f"k{i}" for i in range(30)], n),
                       "d": rng.choice([f"m{i}" for i in range(20)], n), "x": x,
                       "z": rng.normal(size=n).round(1)})  # rounded: some exact zeros
    y = (df.c.isin(["k1", "k2", "k3", "k4"]).to_numpy() ^ (np.nan_to_num(x, nan=1.0) == 0)).astype(int)
    return df, y


def check(mli, pipe, df, tmp_path):
    path = tmp_path / "m.mli"
    mli.export(pipe, str(path))
    m = mli.load(str(path))
    want = pipe.predict_proba(df)
    got = m.predict_proba(df)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    assert (m.predict(df) == pipe.predict(df)).all()
    return m


def sparse_ct(remainder="drop"):
    return ColumnTransformer([("oh", OneHotEncoder(handle_unknown="ignore"), ["c", "d"]),
                              ("num", "passthrough", ["x", "z"])], remainder=remainder)


def test_xgboost_behind_a_sparse_column_transformer(mlinfer, tmp_path):
    df, y = table()
    pipe = make_pipeline(sparse_ct(), xgb.XGBClassifier(n_estimators=30, max_depth=4)).fit(df, y)
    assert sp.issparse(pipe[0].transform(df))  # the case this file is about
    check(mlinfer, pipe, df, tmp_path)
    # rows the training never showed: unknown categories (all-zero one-hot), x exactly 0 and NaN
    other, _ = table(300, seed=1)
    other.loc[::7, "c"] = "never seen"
    check(mlinfer, pipe, other, tmp_path)


def test_xgboost_behind_a_dense_column_transformer_keeps_zeros(mlinfer, tmp_path):
    df, y = table()
    ct = sparse_ct()
    ct.set_params(sparse_threshold=0.0)  # dense: XGBoost sees the zeros as 0
    pipe = make_pipeline(ct, xgb.XGBClassifier(n_estimators=30, max_depth=4)).fit(df, y)
    assert not sp.issparse(pipe[0].transform(df))
    check(mlinfer, pipe, df, tmp_path)


def test_xgboost_behind_sparse_encoders_outside_a_column_transformer(mlinfer, tmp_path):
    df, y = table()
    num = df[["x", "z"]].fillna(0.5).to_numpy()
    # KBinsDiscretizer(encode="onehot") then a scaler that keeps it sparse
    pipe = make_pipeline(KBinsDiscretizer(n_bins=4, encode="onehot", quantile_method="averaged_inverted_cdf"),
                         MaxAbsScaler(), xgb.XGBClassifier(n_estimators=20, max_depth=3)).fit(num, y)
    assert sp.issparse(pipe[:-1].transform(num))
    check(mlinfer, pipe, num, tmp_path)
    # a FeatureUnion is sparse when one part is
    cats = df[["c", "d"]]
    union = FeatureUnion([("oh", OneHotEncoder()), ("oh2", OneHotEncoder(sparse_output=False))])
    pipe = make_pipeline(union, xgb.XGBClassifier(n_estimators=20, max_depth=3)).fit(cats, y)
    assert sp.issparse(pipe[0].transform(cats))
    check(mlinfer, pipe, cats, tmp_path)


def test_one_vs_rest_xgboost_behind_a_sparse_column_transformer(mlinfer, tmp_path):
    df, y = table()
    y3 = y + (df.d.isin(["m1", "m2"]).to_numpy()).astype(int)
    pipe = make_pipeline(sparse_ct(), OneVsRestClassifier(xgb.XGBClassifier(n_estimators=10, max_depth=3)))
    pipe.fit(df, y3)
    check(mlinfer, pipe, df, tmp_path)


@pytest.mark.parametrize("kind", ["lightgbm", "forest"])
def test_other_trees_take_sparse_zeros_as_zeros(mlinfer, tmp_path, kind):
    df, y = table()
    df = df.fillna({"x": 1.5})  # a forest on sparse input takes no NaN
    if kind == "lightgbm":
        lgb = pytest.importorskip("lightgbm")
        model = lgb.LGBMClassifier(n_estimators=20, num_leaves=8, verbose=-1)
    else:
        model = RandomForestClassifier(n_estimators=10, max_depth=6, random_state=0)
    pipe = make_pipeline(sparse_ct(), model).fit(df, y)
    assert sp.issparse(pipe[0].transform(df))
    check(mlinfer, pipe, df, tmp_path)


def test_a_sparse_matrix_given_to_predict_is_refused_by_name(mlinfer, tmp_path):
    X = sp.random(200, 6, density=0.3, format="csr", random_state=0)
    y = (X.sum(axis=1).A1 > 0.5).astype(int)
    pipe = xgb.XGBClassifier(n_estimators=3).fit(X, y)
    path = tmp_path / "m.mli"
    mlinfer.export(pipe, str(path))
    m = mlinfer.load(str(path))
    for fmt in ("csr", "csc", "coo"):
        with pytest.raises(TypeError, match="scipy.sparse.*missing"):
            m.predict_proba(X.asformat(fmt))
    np.testing.assert_allclose(m.predict_proba(X.toarray()), pipe.predict_proba(X.toarray()), rtol=1e-5, atol=1e-6)
