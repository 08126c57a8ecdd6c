"""Feature selectors, PCA / IncrementalPCA / TruncatedSVD and PolynomialFeatures in the prep stage
(docs/models/pipelines.md), exported with mlinfer.export and compared with scikit-learn on the same
rows: float64 and float32 input, 1 and 10 000 rows, NaN where the step takes it, followed by a
LogisticRegression, a tree model and HistGradientBoosting.

Tolerances:
- selectors copy values: everything after them is as exact as without them (trees: 1e-12,
  the same leaves; linear models: float32 stage, 1e-5 relative / 1e-6 absolute);
- PolynomialFeatures multiplies in scikit-learn's order, in float64: exact for float64 input,
  so trees after it are compared to 1e-12 on 10 000 rows;
- PCA / TruncatedSVD: the dot products are summed in order j = 0, 1, ..., scikit-learn's BLAS
  sums in its own blocked order, so a projection may differ by a few ulp (relative to the sum
  of |x_j w_kj|); the linear model after it runs in float32 anyway (1e-5 relative), and trees
  must give identical predictions (a value within a few ulp of a split threshold would be
  needed to move a row).
- float32 input: PCA's components are float64 (fitted on float64), so NumPy computes X @ C.T in
  float64 as mlinfer does; PolynomialFeatures computes in float32 when its input is float32,
  mlinfer in float64 (then rounded to float32 for a linear stage): degree 2 products of float32
  values are exact in float64, so identical; degree 3 may differ in the last float32 bit."""
from __future__ import annotations

import warnings

import numpy as np
import pytest

pd = pytest.importorskip("pandas")
from sklearn.compose import ColumnTransformer  # noqa: E402
from sklearn.decomposition import PCA, IncrementalPCA, KernelPCA, TruncatedSVD  # noqa: E402
from sklearn.ensemble import (HistGradientBoostingClassifier, HistGradientBoostingRegressor,  # noqa: E402
                              RandomForestClassifier)
from sklearn.feature_selection import (RFE, RFECV, GenericUnivariateSelect, SelectFpr,  # noqa: E402
                                       SelectFromModel, SelectKBest, SelectPercentile, SequentialFeatureSelector,
                                       VarianceThreshold, f_classif)
from sklearn.impute import SimpleImputer  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import (OneHotEncoder, PolynomialFeatures, PowerTransformer,  # noqa: E402
                                   QuantileTransformer, StandardScaler)
from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor  # noqa: E402

import mlinfer  # noqa: E402


def roundtrip(est, tmp_path):
    path = tmp_path / "model.mli"
    mlinfer.export(est, path)
    return mlinfer.load(path)


def data(n, seed=0, nan=0.0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 6)) * [1, 2, 0.5, 3, 1, 0.01] + [0, 1, -2, 5, 0, 0]
    X[:, 4] = rng.integers(0, 3, n)  # a low-variance integer column
    if nan:
        X[rng.random((n, 6)) < nan] = np.nan
    Z = np.nan_to_num(X)
    y = (Z[:, 0] + 0.5 * Z[:, 1] * Z[:, 2] - 0.3 * Z[:, 3] + rng.normal(0, 0.5, n) > -1.0).astype(int)
    return X, y


def quiet(fn, *a):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn(*a)


def check_linear(m, est, X):
    got, want = m.decision_function(X), est.decision_function(X)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    clear = np.abs(want) > 1e-4  # the float32 linear stage may flip a row closer than that to the boundary
    np.testing.assert_array_equal(m.predict(X)[clear], est.predict(X)[clear])
    np.testing.assert_allclose(m.predict_proba(X), est.predict_proba(X), rtol=1e-5, atol=1e-5)


def check_tree(m, est, X):
    np.testing.assert_array_equal(m.predict(X), est.predict(X))
    np.testing.assert_allclose(m.predict_proba(X), est.predict_proba(X), rtol=1e-12, atol=1e-12)


MODELS = {
    "logreg": (lambda: LogisticRegression(max_iter=3000), check_linear),
    "forest": (lambda: RandomForestClassifier(n_estimators=15, random_state=0), check_tree),
    "hgb": (lambda: HistGradientBoostingClassifier(max_iter=20, random_state=0), check_tree),
}

SELECTORS = {
    "kbest": lambda: SelectKBest(f_classif, k=3),
    "percentile": lambda: SelectPercentile(percentile=50),
    "generic": lambda: GenericUnivariateSelect(mode="k_best", param=2),
    "variance": lambda: VarianceThreshold(0.5),
    "from_model": lambda: SelectFromModel(LogisticRegression(max_iter=1000)),
    "from_forest": lambda: SelectFromModel(RandomForestClassifier(n_estimators=5, random_state=0),
                                           max_features=3, threshold=-np.inf),
    "rfe": lambda: RFE(LogisticRegression(max_iter=1000), n_features_to_select=3),
    "rfecv": lambda: RFECV(LogisticRegression(max_iter=1000), cv=2, min_features_to_select=2),
    "fpr": lambda: SelectFpr(alpha=1e-3),
    "sequential": lambda: SequentialFeatureSelector(DecisionTreeClassifier(max_depth=3, random_state=0),
                                                    n_features_to_select=2, cv=2),
}

PROJECTIONS = {
    "pca3": lambda: PCA(3),
    "pca_whiten": lambda: PCA(4, whiten=True),
    "pca_var": lambda: PCA(0.9, svd_solver="full"),
    "pca_random": lambda: PCA(2, svd_solver="randomized", random_state=0),
    "ipca": lambda: IncrementalPCA(3, batch_size=500),
    "ipca_whiten": lambda: IncrementalPCA(3, whiten=True),
    "tsvd": lambda: TruncatedSVD(3, random_state=0),
}

POLYS = {
    "deg2": lambda: PolynomialFeatures(2),
    "deg3_interaction": lambda: PolynomialFeatures(3, interaction_only=True),
    "deg2_nobias": lambda: PolynomialFeatures(2, include_bias=False),
    "deg2to3": lambda: PolynomialFeatures((2, 3)),
    "deg2to3_nobias": lambda: PolynomialFeatures((2, 3), include_bias=False, interaction_only=True),
    "deg0": lambda: PolynomialFeatures(0),
}


def run(pre, model, tmp_path, dtypes=(np.float64, np.float32), nan=0.0):
    X, y = data(3000, nan=nan)
    make, check = MODELS[model]
    est = quiet(make_pipeline(*pre, make()).fit, X, y)
    m = roundtrip(est, tmp_path)
    # float32 input through a step scikit-learn computes in float32 (an imputer, a scaler,
    # PolynomialFeatures) is refused before trees: the prep stage computes in float64, and a
    # last-bit difference can move a row across a split (docs/models/pipelines.md)
    f32_refused = check is check_tree and any(
        isinstance(s, (SimpleImputer, StandardScaler, PolynomialFeatures)) for s in pre)
    for dt in dtypes:
        Td = data(10000, seed=1, nan=nan)[0].astype(dt)
        if dt == np.float32 and f32_refused:
            with pytest.raises(mlinfer.InputError, match="is float32 and goes through"):
                m.predict(Td)
            continue
        quiet(check, m, est, Td)
        quiet(check, m, est, Td[:1])
    return est, m


@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("sel", SELECTORS)
def test_selector(sel, model, tmp_path):
    est, _ = run([SimpleImputer(), SELECTORS[sel]()], model, tmp_path, nan=0.05)
    assert 0 < est[-2].get_support().sum() < 6


@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("proj", PROJECTIONS)
def test_projection(proj, model, tmp_path):
    run([StandardScaler(), PROJECTIONS[proj]()], model, tmp_path)


@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("proj", ["pca3", "pca_whiten", "tsvd"])
def test_projection_of_raw_input(proj, model, tmp_path):
    """No scaler before: the float32 input reaches the projection as float32, as in scikit-learn."""
    run([PROJECTIONS[proj]()], model, tmp_path)


@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("poly", POLYS)
def test_polynomial(poly, model, tmp_path):
    # float32 input: degree 3 products may differ from scikit-learn's float32 ones in the last bit
    cube = POLYS[poly]().fit(np.zeros((1, 2)))._max_degree >= 3
    run([POLYS[poly]()], model, tmp_path, dtypes=(np.float64,) if cube else (np.float64, np.float32))


def test_polynomial_float32_degree3_within_float32_rounding(tmp_path):
    X, y = data(3000)
    est = quiet(make_pipeline(PolynomialFeatures(3), LogisticRegression(max_iter=3000)).fit, X, y)
    m = roundtrip(est, tmp_path)
    T = data(10000, seed=1)[0].astype(np.float32)
    np.testing.assert_allclose(m.decision_function(T), quiet(est.decision_function, T), rtol=1e-5, atol=1e-5)


def test_polynomial_products_exact_through_a_deep_tree(tmp_path):
    """Each output of PolynomialFeatures probed by a deep regression tree fitted on it: a product in
    another order or a wrong term moves rows to other leaves."""
    X, _ = data(3000)
    poly = PolynomialFeatures(3).fit(X)
    P = poly.transform(X)
    for k in range(1, P.shape[1], 7):
        est = make_pipeline(PolynomialFeatures(3), ColumnTransformer([("k", "passthrough", [k])]),
                            DecisionTreeRegressor(random_state=0)).fit(X, P[:, k])
        m = roundtrip(est, tmp_path)
        np.testing.assert_array_equal(m.predict(X), est.predict(X))


def test_pipeline_of_poly_pca_and_selector_over_columns(tmp_path):
    """A ColumnTransformer with NaN and a string column: imputed, scaled, expanded, projected and
    selected, then each model."""
    rng = np.random.default_rng(3)
    n = 4000
    df = pd.DataFrame({"a": rng.normal(size=n), "b": rng.gamma(2, 2, n), "c": rng.normal(3, 1, n),
                       "s": rng.choice(["x", "y", "z"], n).astype(object)})
    df.loc[rng.random(n) < 0.1, "a"] = np.nan
    df.loc[rng.random(n) < 0.05, "s"] = None
    y = ((df["a"].fillna(0) * df["b"] > 0.5) ^ (df["s"] == "y")).astype(int)
    ct = ColumnTransformer([
        ("num", make_pipeline(SimpleImputer(), StandardScaler(), PolynomialFeatures(2, include_bias=False),
                              PCA(5, whiten=True)), ["a", "b", "c"]),
        ("s", make_pipeline(SimpleImputer(strategy="most_frequent"), OneHotEncoder()), ["s"]),
    ])
    # new rows: a tree (HistGradientBoosting: a threshold can be a training value itself) may
    # move a training row whose projection differs by an ulp -- as scikit-learn itself does
    # between a 1-row and a many-row call (docs/models/pipelines.md)
    new = df.sample(frac=1.0, random_state=1).reset_index(drop=True)
    new["a"] = new["a"] + rng.normal(0, 0.01, n)
    new["c"] = rng.normal(3, 1, n)
    for model in MODELS.values():
        est = quiet(make_pipeline(ct, SelectKBest(k=6), model[0]()).fit, df, y)
        m = roundtrip(est, tmp_path)
        quiet(model[1], m, est, new)
        quiet(model[1], m, est, new.iloc[[7]])


@pytest.mark.parametrize("sel", [lambda: VarianceThreshold(0.5),
                                 lambda: SelectFromModel(RandomForestClassifier(n_estimators=5, random_state=0))],
                         ids=["variance", "from_forest"])
def test_selectors_that_allow_nan_pass_it_to_a_model_that_takes_it(sel, tmp_path):
    """Their allow_nan tag is true (a forest takes NaN): scikit-learn does not check the input."""
    est, m = run([sel()], "hgb", tmp_path, nan=0.1)
    T, _ = data(100, seed=2, nan=0.3)
    T[0, :] = np.inf  # not checked either (ensure_all_finite=False); HistGradientBoosting takes it
    assert np.isnan(T[:, est[0].get_support()]).any()
    np.testing.assert_array_equal(m.predict(T), est.predict(T))
    np.testing.assert_allclose(m.predict_proba(T), est.predict_proba(T), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("step", [lambda: SelectKBest(k=2), lambda: PCA(2), lambda: TruncatedSVD(2),
                                  lambda: PolynomialFeatures(2)], ids=["kbest", "pca", "tsvd", "poly"])
@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_nan_and_inf_are_refused_as_scikit_learn_refuses_them(step, bad, tmp_path):
    X, y = data(500)
    est = make_pipeline(step(), HistGradientBoostingClassifier(max_iter=5)).fit(X, y)
    m = roundtrip(est, tmp_path)
    T = X[:5].copy()
    dropped = 5 if isinstance(est[0], SelectKBest) and not est[0].get_support()[5] else 1
    T[3, dropped] = bad  # for the selector: a column it drops, which scikit-learn checks all the same
    with pytest.raises(ValueError):
        est.predict(T)
    with pytest.raises(mlinfer.InputError, match="row 3"):
        m.predict(T)
    np.testing.assert_array_equal(m.predict(T[:3]), est.predict(T[:3]))


def test_error_messages_name_the_step_and_column(tmp_path):
    X, y = data(500)
    df = pd.DataFrame(X, columns=list("abcdef"))
    for step, what in [(SelectKBest(k=2), "feature selector"), (PCA(2), "PCA"),
                       (PolynomialFeatures(2), "PolynomialFeatures")]:
        est = make_pipeline(step, DecisionTreeClassifier(max_depth=3)).fit(df, y)
        m = roundtrip(est, tmp_path)
        T = df.iloc[:5].copy()
        T.iloc[2, 3] = np.nan
        with pytest.raises(mlinfer.InputError, match=f"column 'd', row 2: nan reaches a {what}"):
            m.predict(T)


def test_unsupported_options_are_refused_by_name(tmp_path):
    X, y = data(300)
    with pytest.raises(mlinfer.UnsupportedModelError, match="KernelPCA"):
        mlinfer.export(make_pipeline(KernelPCA(2), LogisticRegression()).fit(X, y), tmp_path / "k.mli")

    class MySelector(SelectKBest):
        def transform(self, X):
            return super().transform(X) * 2

    with pytest.raises(mlinfer.UnsupportedModelError, match="MySelector.*SelectorMixin.transform"):
        mlinfer.export(make_pipeline(MySelector(k=2), LogisticRegression()).fit(X, y), tmp_path / "s.mli")

    class MyPCA(PCA):
        def _transform(self, X, xp, x_is_centered=False):
            return super()._transform(X, xp, x_is_centered) + 1

    with pytest.raises(mlinfer.UnsupportedModelError, match="MyPCA.*not a transformer mlinfer can export"):
        mlinfer.export(make_pipeline(MyPCA(2), LogisticRegression()).fit(X, y), tmp_path / "p.mli")


def test_mixing_ops_are_marked_in_the_file(tmp_path):
    """Contributions cannot be mapped back through ops that mix columns: the op kinds say which."""
    from mlinfer import export_pipeline as ep
    from mlinfer._format import parse
    from mlinfer.export import to_bytes
    X, y = data(300)
    for step, kind in [(PCA(2), ep.OP_PROJECT), (TruncatedSVD(2), ep.OP_PROJECT), (PolynomialFeatures(2), ep.OP_POLY),
                       (SelectKBest(k=2), None)]:
        _, arrays = parse(to_bytes(make_pipeline(step, LogisticRegression()).fit(X, y)))
        kinds = set(np.asarray(arrays["stage.0.ops"]).reshape(-1, 8)[:, 0])
        assert kinds & set(ep.MIXING_OPS) == ({kind} if kind is not None else set())


# ---- PowerTransformer ------------------------------------------------------------------
# Box-Cox is scipy.special.boxcox, C code over the C library's log / expm1 / exp: bit for bit.
# Yeo-Johnson is scipy's NumPy expression over np.log1p / np.expm1, which NumPy computes with its
# own SIMD code on CPUs that have it (measured: 6.8% of np.log1p values 1 ulp from the C library's,
# Yeo-Johnson outputs within 4e-15 relative): scores within 1e-5 relative, trees identical on new rows.

def power_data(n, seed, nan=0.0, positive=False):
    X, y = data(n, seed=seed, nan=nan)
    X = X.copy()
    X[:, 1] = np.exp(X[:, 1])  # skewed
    if positive:
        X = np.abs(X) + 0.01
    return X, y


@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("method", ["yeo-johnson", "box-cox"])
@pytest.mark.parametrize("standardize", [True, False])
def test_power_transformer(method, standardize, model, tmp_path):
    pos = method == "box-cox"
    X, y = power_data(3000, 0, nan=0.05, positive=pos)
    make, check = MODELS[model]
    pre = [SimpleImputer()] if model == "logreg" else []  # NaN passes the transform; trees take it
    est = quiet(make_pipeline(*pre, PowerTransformer(method=method, standardize=standardize), make()).fit, X, y)
    m = roundtrip(est, tmp_path)
    T = power_data(10000, 1, nan=0.05, positive=pos)[0]
    quiet(check, m, est, T)
    quiet(check, m, est, T[:1])
    T32 = power_data(10000, 1, positive=pos)[0].astype(np.float32)
    if model == "logreg":  # float32 input: scikit-learn stores the transform in float32 and scales in float32
        quiet(check, m, est, T32)


def test_box_cox_refuses_non_positive_values_as_scikit_learn(tmp_path):
    X, y = power_data(500, 0, positive=True)
    est = make_pipeline(PowerTransformer(method="box-cox"), HistGradientBoostingClassifier(max_iter=5)).fit(X, y)
    m = roundtrip(est, tmp_path)
    for bad in (0.0, -1.0, np.inf):
        T = X[:5].copy()
        T[2, 3] = bad
        with pytest.raises(ValueError):
            est.predict(T)
        with pytest.raises(mlinfer.InputError, match="row 2"):
            m.predict(T)
    T = X[:5].copy()
    T[2, 3] = np.nan  # NaN passes, as in scikit-learn
    np.testing.assert_array_equal(m.predict(T), est.predict(T))


def test_power_transformer_infinite_result_is_an_input_error(tmp_path):
    X, y = power_data(500, 0)
    est = make_pipeline(PowerTransformer(standardize=False), LogisticRegression()).fit(X, y)
    m = roundtrip(est, tmp_path)
    lam = est[0].lambdas_
    j = int(np.argmax(lam)) if lam.max() > 0 else None
    if j is None:
        pytest.skip("no positive lambda")
    T = X[:3].copy()
    T[1, j] = 1e308  # (x + 1) ** lambda overflows for lambda > 1; log-like below: then finite
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            want = est.decision_function(T)
        except ValueError:
            want = None
    if want is None:
        with pytest.raises(mlinfer.InputError, match="row 1.*is infinite"):
            m.decision_function(T)
    else:
        np.testing.assert_allclose(m.decision_function(T), want, rtol=1e-5, atol=1e-5)


# ---- QuantileTransformer (uniform output) -------------------------------------------------
# np.interp in both directions, NumPy's arithmetic and branches in float64: exact for float64
# input; probed through HistGradientBoosting (float64 thresholds between the training outputs)
# on rows with repeated values, values at the quantiles and outside them.

def quantile_rows(n, seed, nan=0.0):
    rng = np.random.default_rng(seed)
    X = np.column_stack([rng.normal(size=n) * (1.5 if seed else 1), rng.integers(-1 if seed else 0, 6, n).astype(float),
                         rng.exponential(size=n), np.round(rng.normal(size=n), 1)])
    if nan:
        X[rng.random(X.shape) < nan] = np.nan
    return X


@pytest.mark.parametrize("n_quantiles", [1, 7, 1000])
@pytest.mark.parametrize("model", MODELS)
def test_quantile_transformer_uniform(n_quantiles, model, tmp_path):
    X = quantile_rows(3000, 0, nan=0.05)
    y = (np.nan_to_num(X[:, 0]) + np.nan_to_num(X[:, 1]) * 0.3 > 0.5).astype(int)
    make, check = MODELS[model]
    pre = [SimpleImputer()] if model == "logreg" else []
    est = quiet(make_pipeline(*pre, QuantileTransformer(n_quantiles=n_quantiles), make()).fit, X, y)
    m = roundtrip(est, tmp_path)
    T = quantile_rows(10000, 1, nan=0.05)
    T[:300] = X[:300]  # values at the training quantiles
    T[300:310] = est[-2].quantiles_[0]  # the end quantiles exactly: 0 and 1
    T[310:320] = est[-2].quantiles_[-1]
    quiet(check, m, est, T)
    quiet(check, m, est, T[:1])
    if model == "logreg":
        quiet(check, m, est, quantile_rows(1000, 1).astype(np.float32))


def test_quantile_transformer_values_exact_through_hgb_regression(tmp_path):
    X = quantile_rows(3000, 0)
    T = quantile_rows(3000, 1, nan=0.02)
    T[:300] = X[:300]
    qt = QuantileTransformer(n_quantiles=50).fit(X)
    for k in range(4):
        target = qt.transform(T)[:, k]
        ok = ~np.isnan(target)
        est = make_pipeline(QuantileTransformer(n_quantiles=50), ColumnTransformer([("k", "passthrough", [k])]),
                            HistGradientBoostingRegressor(max_iter=10, max_leaf_nodes=None, min_samples_leaf=1,
                                                          learning_rate=1.0)).fit(T[ok], target[ok])
        m = roundtrip(est, tmp_path)  # the same leaves; the trees' values summed in another order
        np.testing.assert_allclose(m.predict(T), est.predict(T), rtol=1e-12, atol=1e-12)


def test_quantile_transformer_refusals(tmp_path):
    X = quantile_rows(500, 0)
    y = (X[:, 0] > 0).astype(int)
    with pytest.raises(mlinfer.UnsupportedModelError, match="output_distribution='normal'.*cannot precede a tree"):
        mlinfer.export(make_pipeline(QuantileTransformer(n_quantiles=50, output_distribution="normal"),
                                     HistGradientBoostingClassifier(max_iter=5)).fit(X, y), tmp_path / "q.mli")
    est = make_pipeline(QuantileTransformer(n_quantiles=50), HistGradientBoostingClassifier(max_iter=5)).fit(X, y)
    m = roundtrip(est, tmp_path)
    T = X[:4].copy()
    T[2, 1] = -np.inf
    with pytest.raises(ValueError):
        est.predict(T)
    with pytest.raises(mlinfer.InputError, match="row 2"):
        m.predict(T)
