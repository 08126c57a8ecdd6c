"""Discrete naive Bayes classifiers (MultinomialNB, ComplementNB, BernoulliNB) exported with
mlinfer.export and scored by libmlinfer, against scikit-learn on the same rows: alone on count
matrices, behind column preprocessing, and behind text vectorizers (the classic tf-idf + naive
Bayes text classifier).

Their joint log likelihoods are linear in the (binarized) input; the exporter turns them into a
float64 PROJECT op (or the TEXT op's weights) in the prep stage, one score per class less the
classes' mean (two classes: jll[1] - jll[0]), and the model stage applies softmax (or the
logistic link). Those sums are large (hundreds for long count rows) and cancel between classes,
which is why they must not run in the float32 linear stage: the tests use such rows.

Tolerances: predict_proba |got - sklearn| <= 1e-5 * |sklearn| + 1e-7 elementwise (the scores
reach the model stage as float32: a relative error of 6e-8 of a score of a few hundred);
labels identical except where scikit-learn's top two joint log likelihoods differ by less than
1e-4 but are not equal (at most 1 % of the rows: asserted); exact ties (a document of no
known term under ComplementNB) give the first class in both.
"""
from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("sklearn")

from sklearn.compose import ColumnTransformer  # noqa: E402
from sklearn.feature_extraction.text import CountVectorizer, TfidfTransformer, TfidfVectorizer  # noqa: E402
from sklearn.naive_bayes import BernoulliNB, ComplementNB, MultinomialNB  # noqa: E402
from sklearn.pipeline import FeatureUnion, Pipeline, make_pipeline  # noqa: E402
from sklearn.preprocessing import MinMaxScaler, OneHotEncoder  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore")

RTOL, ATOL = 1e-5, 1e-7


def roundtrip(mli, est, tmp_path, name="m.mli"):
    path = tmp_path / name
    mli.export(est, str(path))
    return mli.load(str(path))


def check(mli, est, tmp_path, X, what):
    m = roundtrip(mli, est, tmp_path)
    ref_p = est.predict_proba(X)
    got_p = np.asarray(m.predict_proba(X))
    assert got_p.shape == ref_p.shape, what
    err = np.abs(got_p - ref_p) - (RTOL * np.abs(ref_p) + ATOL)
    assert err.max() <= 0, f"{what}: predict_proba off by {np.abs(got_p - ref_p).max():.3g} at row {err.max(1).argmax()}"
    if isinstance(est, Pipeline):
        jll = est[-1].predict_joint_log_proba(est[:-1].transform(X))
    else:
        jll = est.predict_joint_log_proba(X)
    top2 = np.sort(jll, axis=1)[:, -2:]
    gap = top2[:, 1] - top2[:, 0]
    sure = (gap > 1e-4) | (gap == 0)  # exact ties (a document of no known term): the first class, both
    assert sure.mean() >= 0.99, f"{what}: {np.sum(~sure)} near ties in the data"
    assert (np.asarray(m.predict(X))[sure] == np.asarray(est.predict(X))[sure]).all(), what
    return m


def counts(seed, n=600, d=40, k=3, scale=30):
    """Count rows whose class shifts the term distribution; long rows (sums of a few hundred)."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, k, n)
    base = rng.dirichlet(np.ones(d), size=k)
    lengths = rng.integers(1, scale * d // 4, n)
    X = np.stack([rng.multinomial(L, base[c]) for L, c in zip(lengths, y)]).astype(np.float64)
    return X, y


MODELS = {
    "multinomial": lambda: MultinomialNB(),
    "multinomial_alpha": lambda: MultinomialNB(alpha=0.01, fit_prior=False),
    "multinomial_priors": lambda: MultinomialNB(class_prior=None, alpha=2.0),
    "complement": lambda: ComplementNB(),
    "complement_norm": lambda: ComplementNB(norm=True),
    "bernoulli": lambda: BernoulliNB(),
    "bernoulli_threshold": lambda: BernoulliNB(binarize=3.5),
}


@pytest.mark.parametrize("k", [2, 3, 5])
@pytest.mark.parametrize("name", sorted(MODELS))
def test_count_matrix(mlinfer, tmp_path, name, k):
    X, y = counts(k * 7 + len(name), k=k)
    est = MODELS[name]().fit(X[:400], y[:400])
    check(mlinfer, est, tmp_path, X[400:], f"{name} k={k}")
    m = roundtrip(mlinfer, est, tmp_path, "again.mli")
    one = X[400:401]
    np.testing.assert_allclose(m.predict_proba(one), est.predict_proba(one), rtol=RTOL, atol=ATOL)
    got32 = m.predict_proba(X[400:].astype(np.float32))  # counts are exact in float32
    np.testing.assert_allclose(got32, est.predict_proba(X[400:]), rtol=RTOL, atol=ATOL)


def test_string_labels_and_bernoulli_without_binarize(mlinfer, tmp_path):
    X, y = counts(11, k=3)
    labels = np.array(["ham", "spam", "eggs"])[y]
    est = BernoulliNB(binarize=None).fit((X[:400] > 2).astype(float), labels[:400])
    check(mlinfer, est, tmp_path, (X[400:] > 2).astype(float), "BernoulliNB(binarize=None)")
    est = MultinomialNB().fit(X[:400], labels[:400])
    m = check(mlinfer, est, tmp_path, X[400:], "MultinomialNB str labels")
    assert list(m.classes_) == list(est.classes_)


def refuses_like_sklearn(mli, est, tmp_path, X, row, col, value):
    """X with `value` at (row, col): scikit-learn raises ValueError, libmlinfer an InputError naming the row."""
    m = roundtrip(mli, est, tmp_path, "refuses.mli")
    bad = X[:row + 2].copy()
    bad[row, col] = value
    with pytest.raises(ValueError):
        est.predict(bad)
    with pytest.raises(mli.InputError, match=f"row {row}"):
        m.predict(bad)


def test_nan_is_an_input_error(mlinfer, tmp_path):
    X, y = counts(3)
    refuses_like_sklearn(mlinfer, MultinomialNB().fit(X, y), tmp_path, X, 3, 7, np.nan)


def test_not_finite_log_probability_refused(mlinfer, tmp_path):
    X, y = counts(4, k=2)
    X[:, 0] = 0
    est = MultinomialNB(alpha=0.0, force_alpha=True).fit(X, y)
    with pytest.raises(mlinfer.UnsupportedModelError, match="-inf"):
        mlinfer.export(est, str(tmp_path / "m.mli"))


def test_behind_column_transformer(mlinfer, tmp_path):
    pd = pytest.importorskip("pandas")
    X, y = counts(5, k=3, d=12)
    rng = np.random.default_rng(5)
    df = pd.DataFrame(X, columns=[f"c{i}" for i in range(X.shape[1])])
    df["city"] = rng.choice(["Oslo", "Lima", "Pune", "Kyiv"], len(df))
    y = np.where(df["city"] == "Lima", 2, y)  # the one-hot column matters
    pipe = Pipeline([("ct", ColumnTransformer([("oh", OneHotEncoder(handle_unknown="ignore"), ["city"]),
                                               ("mm", MinMaxScaler(), [f"c{i}" for i in range(6)])],
                                              remainder="passthrough")),
                     ("nb", MultinomialNB())]).fit(df[:400], y[:400])
    test = df[400:].copy()
    test.loc[test.index[:3], "city"] = "Rome"  # unseen: all zeros, as scikit-learn
    check(mlinfer, pipe, tmp_path, test, "ColumnTransformer + MultinomialNB")


DOCS_WORDS = ("alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu nu xi omicron pi rho sigma tau "
              "upsilon phi chi psi omega").split()


def documents(seed, n=500, k=3):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, k, n)
    favour = [DOCS_WORDS[c * 4:c * 4 + 4] for c in range(k)]
    docs = []
    for c in y:
        L = int(rng.integers(0, 120))
        words = [rng.choice(favour[c]) if rng.random() < 0.3 else rng.choice(DOCS_WORDS) for _ in range(L)]
        docs.append(" ".join(w.upper() if rng.random() < 0.1 else w for w in words) + ("" if L else "?"))
    return docs, y


TEXT = {
    "tfidf_multinomial": lambda: make_pipeline(TfidfVectorizer(), MultinomialNB()),
    "counts_multinomial_bigrams": lambda: make_pipeline(CountVectorizer(ngram_range=(1, 2)), MultinomialNB(alpha=0.1)),
    "counts_tfidf_complement": lambda: make_pipeline(CountVectorizer(), TfidfTransformer(sublinear_tf=True),
                                                     ComplementNB()),
    "counts_bernoulli": lambda: make_pipeline(CountVectorizer(), BernoulliNB()),
    "tfidf_bernoulli": lambda: make_pipeline(TfidfVectorizer(sublinear_tf=True), BernoulliNB()),
    "binary_counts_bernoulli_no_binarize": lambda: make_pipeline(CountVectorizer(binary=True), BernoulliNB(binarize=None)),
    "union_multinomial": lambda: make_pipeline(
        FeatureUnion([("w", TfidfVectorizer()), ("b", CountVectorizer(ngram_range=(2, 2)))],
                     transformer_weights={"w": 2.0, "b": 0.5}), MultinomialNB()),
}


@pytest.mark.parametrize("k", [2, 3])
@pytest.mark.parametrize("name", sorted(TEXT))
def test_text(mlinfer, tmp_path, name, k):
    docs, y = documents(k + len(name), k=k)
    pipe = TEXT[name]().fit(docs[:350], y[:350])
    m = check(mlinfer, pipe, tmp_path, docs[350:], f"{name} k={k}")
    np.testing.assert_allclose(m.predict_proba(docs[350:351]), pipe.predict_proba(docs[350:351]), rtol=RTOL,
                               atol=ATOL)


def test_text_and_numbers_in_column_transformer(mlinfer, tmp_path):
    pd = pytest.importorskip("pandas")
    docs, y = documents(8)
    rng = np.random.default_rng(8)
    df = pd.DataFrame({"text": docs, "n1": rng.integers(0, 20, len(docs)), "n2": rng.integers(0, 5, len(docs))})
    y = np.where(df["n1"] > 17, 1, y)
    pipe = Pipeline([("ct", ColumnTransformer([("t", TfidfVectorizer(), "text"), ("n", "passthrough", ["n1", "n2"])])),
                     ("nb", MultinomialNB())]).fit(df[:350], y[:350])
    check(mlinfer, pipe, tmp_path, df[350:], "ColumnTransformer(text, numbers) + MultinomialNB")


def test_binarize_threshold_on_text_refused(mlinfer, tmp_path):
    docs, y = documents(9)
    pipe = make_pipeline(TfidfVectorizer(), BernoulliNB(binarize=0.1)).fit(docs, y)
    with pytest.raises(mlinfer.UnsupportedModelError, match=r"BernoulliNB is not supported: binarize=0.1"):
        mlinfer.export(pipe, str(tmp_path / "m.mli"))


def test_no_decision_function(mlinfer, tmp_path):
    X, y = counts(12)
    m = roundtrip(mlinfer, MultinomialNB().fit(X, y), tmp_path)
    with pytest.raises(Exception):
        m.decision_function(X[:2])


# -- GaussianNB: quadratic in each feature; the prep stage makes the k x n squares
#    ((x - theta) / sigma)**2 and sums them (float64), the model stage applies softmax

def gaussian_data(seed, n=600, d=6, k=3):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, k, n)
    centres = rng.normal(scale=3.0, size=(k, d))
    scales = rng.uniform(0.3, 4.0, size=(k, d))
    X = centres[y] + rng.normal(size=(n, d)) * scales[y] + 50.0  # offset: the squares cancel less kindly
    return X, y


@pytest.mark.parametrize("k", [2, 3, 5])
@pytest.mark.parametrize("opts", [{}, {"var_smoothing": 1e-3}, {"priors": "given"}], ids=["default", "smoothing",
                                                                                          "priors"])
def test_gaussian(mlinfer, tmp_path, k, opts):
    from sklearn.naive_bayes import GaussianNB
    X, y = gaussian_data(k * 3 + len(opts), k=k)
    if opts.get("priors") == "given":
        opts = {"priors": np.arange(1, k + 1) / (k * (k + 1) / 2)}
    est = GaussianNB(**opts).fit(X[:400], y[:400])
    check(mlinfer, est, tmp_path, X[400:], f"GaussianNB k={k} {opts}")
    m = roundtrip(mlinfer, est, tmp_path, "again.mli")
    np.testing.assert_allclose(m.predict_proba(X[400:401]), est.predict_proba(X[400:401]), rtol=RTOL, atol=ATOL)


def test_gaussian_behind_column_transformer_and_errors(mlinfer, tmp_path):
    pd = pytest.importorskip("pandas")
    from sklearn.impute import SimpleImputer
    from sklearn.naive_bayes import GaussianNB
    from sklearn.preprocessing import StandardScaler
    X, y = gaussian_data(21, d=4)
    rng = np.random.default_rng(21)
    df = pd.DataFrame(X.copy(), columns=list("abcd"))
    df["plan"] = rng.choice(["basic", "pro", "team"], len(df))
    df.loc[rng.random(len(df)) < 0.05, "a"] = np.nan
    pipe = Pipeline([("ct", ColumnTransformer([("num", make_pipeline(SimpleImputer(), StandardScaler()), list("abcd")),
                                               ("oh", OneHotEncoder(sparse_output=False), ["plan"])])),
                     ("nb", GaussianNB())]).fit(df[:400], y[:400])
    check(mlinfer, pipe, tmp_path, df[400:], "ColumnTransformer + GaussianNB")
    est = GaussianNB().fit(X, y)
    refuses_like_sklearn(mlinfer, est, tmp_path, X, 2, 1, np.inf)
    with pytest.raises(mlinfer.UnsupportedModelError, match="GaussianNB"):
        mlinfer.export(est, str(tmp_path / "bg.mli"), background=X[:20])


# ---- CategoricalNB ----------------------------------------------------------------------

def categories(seed, n=800, d=5, k=3):
    """Category indexes 0..c_j - 1 per column (c_j from 2 to 9), classes tied to a few of them."""
    rng = np.random.default_rng(seed)
    sizes = rng.integers(2, 10, d)
    X = np.column_stack([rng.integers(0, c, n) for c in sizes]).astype(np.float64)
    y = ((X[:, 0] + 2 * X[:, 1] + rng.integers(0, 3, n)) % k).astype(int)
    return X, y


@pytest.mark.parametrize("k", [2, 4])
@pytest.mark.parametrize("opts", [{}, {"alpha": 0.1, "fit_prior": False}, {"min_categories": 12}])
def test_categorical(mlinfer, tmp_path, k, opts):
    from sklearn.naive_bayes import CategoricalNB
    X, y = categories(31 + k, k=k)
    est = CategoricalNB(**opts).fit(X[:600], y[:600])
    if "min_categories" in opts:  # indexes past what training saw, below min_categories: known
        X[600:650, 0] = 11
    check(mlinfer, est, tmp_path, X[600:], f"CategoricalNB {opts}")


def test_categorical_behind_an_ordinal_encoder_of_strings(mlinfer, tmp_path):
    """The usual way in: OrdinalEncoder (strings -> indexes), CategoricalNB; unknown strings mapped
    to the encoder's unknown_value are then an unknown index, refused by both."""
    pd = pytest.importorskip("pandas")
    from sklearn.naive_bayes import CategoricalNB
    from sklearn.preprocessing import OrdinalEncoder
    rng = np.random.default_rng(5)
    df = pd.DataFrame({"plan": rng.choice(["basic", "pro", "team"], 700),
                       "city": rng.choice(["Oslo", "Lyon", "Köln", "Porto"], 700),
                       "tier": rng.choice([1, 2, 3], 700)})
    y = ((df.plan == "pro").to_numpy() ^ (df.city == "Lyon").to_numpy()).astype(int)
    pipe = make_pipeline(ColumnTransformer([("o", OrdinalEncoder(), ["plan", "city", "tier"])]),
                         CategoricalNB()).fit(df[:500], y[:500])
    m = check(mlinfer, pipe, tmp_path, df[500:], "OrdinalEncoder + CategoricalNB")
    bad = df[500:510].copy()
    bad.loc[bad.index[4], "city"] = "Paris"
    with pytest.raises(ValueError):
        pipe.predict(bad)
    with pytest.raises(mlinfer.InputError, match="column 'city', row 4: unknown category 'Paris'"):
        m.predict(bad)


@pytest.mark.parametrize("value", [5.0, 1e10, -1.0, np.nan, np.inf])
def test_categorical_refuses_what_scikit_learn_refuses(mlinfer, tmp_path, value):
    """An index past the categories (IndexError in scikit-learn), a negative value, NaN and
    infinity: an input error naming the row and the value."""
    from sklearn.naive_bayes import CategoricalNB
    X = np.array([[0, 1], [1, 2], [2, 0], [1, 1], [0, 0]], dtype=np.float64)
    est = CategoricalNB().fit(X, [0, 1, 1, 0, 1])
    m = roundtrip(mlinfer, est, tmp_path)
    bad = X.copy()
    bad[3, 0] = value
    with pytest.raises((ValueError, IndexError)):
        est.predict(bad)
    with pytest.raises(mlinfer.InputError, match="column '#0', row 3: (unknown category|a missing value)"):
        m.predict(bad)


def test_categorical_fractional_index_refused(mlinfer, tmp_path):
    """scikit-learn truncates 1.7 to category 1 (validate_data(dtype=int)); libmlinfer refuses
    it as an unknown category rather than guess: the one difference, documented."""
    from sklearn.naive_bayes import CategoricalNB
    X = np.array([[0, 1], [1, 2], [2, 0], [1, 1], [0, 0]], dtype=np.float64)
    est = CategoricalNB().fit(X, [0, 1, 1, 0, 1])
    m = roundtrip(mlinfer, est, tmp_path)
    with pytest.raises(mlinfer.InputError, match="row 0: unknown category 1.7"):
        m.predict(np.array([[1.7, 1.0]]))
    with pytest.raises(mlinfer.UnsupportedModelError, match="CategoricalNB"):
        mlinfer.export(est, str(tmp_path / "bg.mli"), background=X)
