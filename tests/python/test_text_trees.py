"""Text vectorizers before tree models (format 1.9): TfidfVectorizer / CountVectorizer /
HashingVectorizer + RandomForest, GradientBoosting, XGBoost, LightGBM, CatBoost, alone, in a
ColumnTransformer beside numeric and string columns, and in a FeatureUnion of analyzers.

A tree reads a few of the vocabulary's columns, by value. The exporter writes the trees once to
learn which (export._tree_features), and the prep stage's TEXT op gives exactly those columns'
values (flag `select`), the trees renumbered to read them; no other column is computed. The
values are what scikit-learn computes (counts, times idf, divided by the row's norm summed in
CSR order) bit for bit, so every row reaches the leaf it reaches in scikit-learn, XGBoost or
LightGBM: labels identical, probabilities within 1e-6 (XGBoost sums its leaves in float32).
XGBoost takes a term a document lacks as missing (its input is a sparse matrix): the op gives
NaN there (flag `absent NaN`). sublinear_tf (NumPy's log) and float32 weights are refused before
trees: not bit for bit.
"""
from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("sklearn")

from sklearn.compose import ColumnTransformer  # noqa: E402
from sklearn.ensemble import ExtraTreesRegressor, GradientBoostingClassifier, RandomForestClassifier  # noqa: E402
from sklearn.feature_extraction.text import (CountVectorizer, HashingVectorizer, TfidfTransformer,  # noqa: E402
                                             TfidfVectorizer)
from sklearn.multiclass import OneVsRestClassifier  # noqa: E402
from sklearn.pipeline import FeatureUnion, make_pipeline  # noqa: E402
from sklearn.preprocessing import OneHotEncoder  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore")

WORDS = [f"w{i}" for i in range(400)] + ["good", "bad", "great", "awful", "Über", "naïve"]


def corpus(n=1500, seed=0):
    rng = np.random.default_rng(seed)
    docs = [" ".join(rng.choice(WORDS, rng.integers(0, 30))) for _ in range(n)]
    docs[0] = ""  # no term at all: every column absent
    y = np.array([("good" in d or "great" in d) + ("bad" in d or "w7 " in d) for d in docs])
    return docs, y


def models():
    out = [("forest", RandomForestClassifier(n_estimators=25, max_depth=12, random_state=0)),
           ("gboost", GradientBoostingClassifier(n_estimators=15, max_depth=3, random_state=0))]
    try:
        import xgboost as xgb
        out.append(("xgboost", xgb.XGBClassifier(n_estimators=25, max_depth=5)))
    except ImportError:
        pass
    try:
        import lightgbm as lgb
        out.append(("lightgbm", lgb.LGBMClassifier(n_estimators=25, num_leaves=15, verbose=-1)))
    except ImportError:
        pass
    try:
        import catboost as cb
        out.append(("catboost", cb.CatBoostClassifier(iterations=25, depth=4, verbose=0, allow_writing_files=False,
                                                      thread_count=1)))
    except ImportError:
        pass
    return out


VECTORIZERS = [("tfidf", lambda: TfidfVectorizer()),
               ("tfidf-l1-bigrams", lambda: TfidfVectorizer(norm="l1", ngram_range=(1, 2), min_df=2)),
               ("counts", lambda: CountVectorizer(dtype=np.float64)),
               ("counts-int64", lambda: CountVectorizer()),  # the default dtype (LightGBM refuses it)
               ("binary", lambda: CountVectorizer(binary=True, dtype=np.float64)),
               ("hashing", lambda: HashingVectorizer(n_features=2 ** 12)),
               ("hashing-tfidf", lambda: make_pipeline(HashingVectorizer(n_features=2 ** 10, norm=None,
                                                                         alternate_sign=False), TfidfTransformer())),
               ("char_wb", lambda: TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 3)))]


def check(mli, pipe, X, tmp_path):
    path = tmp_path / "m.mli"
    mli.export(pipe, str(path))
    m = mli.load(str(path))
    np.testing.assert_allclose(m.predict_proba(X), pipe.predict_proba(X), rtol=1e-6, atol=1e-6)
    assert (np.ravel(m.predict(X)) == np.ravel(pipe.predict(X))).all()  # CatBoost's predict is (n, 1)
    return m


@pytest.mark.parametrize("vec", [v for v, _ in VECTORIZERS])
@pytest.mark.parametrize("model", [n for n, _ in models()])
def test_vectorizer_then_trees(mlinfer, tmp_path, vec, model):
    docs, y = corpus()
    if vec == "counts-int64" and model == "lightgbm":
        pytest.skip("LightGBM refuses an int64 sparse matrix at fit")
    est = dict(models())[model]
    pipe = make_pipeline(dict(VECTORIZERS)[vec](), est).fit(docs, y)
    m = check(mlinfer, pipe, docs, tmp_path)
    other, _ = corpus(300, seed=1)  # documents the training never saw
    other[1] = "unseen words only, zzz qqq"
    np.testing.assert_allclose(m.predict_proba(other), pipe.predict_proba(other), rtol=1e-6, atol=1e-6)
    # one document at a time takes the same path
    for d in other[:5]:
        np.testing.assert_allclose(m.predict_proba([d]), pipe.predict_proba([d]), rtol=1e-6, atol=1e-6)


def test_only_the_columns_the_trees_read_are_computed(mlinfer, tmp_path):
    docs, y = corpus()
    pipe = make_pipeline(TfidfVectorizer(), GradientBoostingClassifier(n_estimators=5, max_depth=2)).fit(docs, y)
    check(mlinfer, pipe, docs, tmp_path)
    from mlinfer._format import parse
    from mlinfer.export import to_bytes
    meta, arrays = parse(to_bytes(pipe))
    used = {int(f) for e in pipe[-1].estimators_.ravel() for f in e.tree_.feature if f >= 0}
    assert int(meta["stage.0.n_out"]) == len(used)  # the model's input: the used terms only


@pytest.mark.parametrize("sparse_threshold", [0.3, 0.0])
def test_text_beside_columns_in_a_column_transformer(mlinfer, tmp_path, sparse_threshold):
    """Sparse output (the default here): XGBoost's absent terms are NaN; dense (threshold 0): 0."""
    pd = pytest.importorskip("pandas")
    docs, y = corpus()
    rng = np.random.default_rng(3)
    df = pd.DataFrame({"text": docs, "city": rng.choice(["a", "b", "c"], len(docs)),
                       "n": rng.choice([0.0, 1.0, 2.5], len(docs))})
    y = y + (df.city == "a").to_numpy()
    ct = ColumnTransformer([("t", TfidfVectorizer(), "text"), ("c", OneHotEncoder(), ["city"]),
                            ("n", "passthrough", ["n"])], sparse_threshold=sparse_threshold)
    for _, est in models():
        pipe = make_pipeline(ct, est).fit(df, y)
        check(mlinfer, pipe, df, tmp_path)


def test_feature_union_of_analyzers_and_one_vs_rest(mlinfer, tmp_path):
    docs, y = corpus()
    union = FeatureUnion([("w", TfidfVectorizer()), ("c", TfidfVectorizer(analyzer="char", ngram_range=(1, 2)))])
    pipe = make_pipeline(union, OneVsRestClassifier(RandomForestClassifier(n_estimators=5, max_depth=8,
                                                                           random_state=0))).fit(docs, y)
    check(mlinfer, pipe, docs, tmp_path)


def test_regressor_and_contributions(mlinfer, tmp_path):
    docs, y = corpus()
    target = y + np.array([len(d) for d in docs]) / 100.0
    pipe = make_pipeline(TfidfVectorizer(), ExtraTreesRegressor(n_estimators=10, max_depth=8, random_state=0))
    pipe.fit(docs, target)
    path = tmp_path / "r.mli"
    mlinfer.export(pipe, str(path))
    m = mlinfer.load(str(path))
    np.testing.assert_allclose(m.predict(docs), pipe.predict(docs), rtol=1e-6, atol=1e-9)
    try:
        import xgboost as xgb
    except ImportError:
        return
    # contributions: the text column's is the sum over its terms'; with the bias, the margin
    xp = make_pipeline(TfidfVectorizer(), xgb.XGBRegressor(n_estimators=20, max_depth=4)).fit(docs, target)
    mlinfer.export(xp, str(path))
    m = mlinfer.load(str(path))
    got = np.asarray(m.predict_contrib(docs[:50]))
    want = xp[-1].get_booster().predict(xgb.DMatrix(xp[0].transform(docs[:50])), pred_contribs=True)
    np.testing.assert_allclose(got[:, 0], want[:, :-1].sum(axis=1), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(got[:, -1], want[:, -1], rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("vec, why", [
    (lambda: TfidfVectorizer(sublinear_tf=True), "sublinear_tf"),
    (lambda: TfidfVectorizer(dtype=np.float32), "float32"),
    (lambda: FeatureUnion([("a", TfidfVectorizer())], transformer_weights={"a": 2.0}), "weight"),
])
def test_refused_before_trees_with_the_reason(mlinfer, tmp_path, vec, why):
    docs, y = corpus(300)
    pipe = make_pipeline(vec(), RandomForestClassifier(n_estimators=3, random_state=0)).fit(docs, y)
    with pytest.raises(mlinfer.UnsupportedModelError, match=why):
        mlinfer.export(pipe, str(tmp_path / "x.mli"))


def test_the_file_says_format_1_9(mlinfer, tmp_path):
    """The select flag came with format 1.9: the header says so (a 1.8 reader then names the version)."""
    import struct
    docs, y = corpus(200)
    from mlinfer.export import to_bytes
    data = to_bytes(make_pipeline(CountVectorizer(dtype=np.float64),
                                  RandomForestClassifier(n_estimators=2, random_state=0)).fit(docs, y))
    assert struct.unpack_from("<HH", data, 8) == (1, 9)


@pytest.mark.parametrize("bad", [-2.0, 0.5, 1e9, float("nan")])
def test_a_corrupt_selection_is_refused_at_load(mlinfer, bad):
    """A column's output outside -1..count-1 (or not an integer) is a corrupt file, named."""
    from mlinfer._format import build, parse
    from mlinfer.export import to_bytes
    docs, y = corpus(200)
    meta, arrays = parse(to_bytes(make_pipeline(CountVectorizer(dtype=np.float64),
                                                RandomForestClassifier(n_estimators=2, random_state=0)).fit(docs, y)))
    ops = np.asarray(arrays["stage.0.ops"]).reshape(-1, 8)
    text = ops[ops[:, 0] == 14][0]
    params = np.array(arrays["stage.0.params"], dtype=np.float64)
    params[text[4] + 4 + 3] = bad  # the 4th column's output (the header is 4 params; no idf)
    arrays["stage.0.params"] = params
    with pytest.raises(mlinfer.CorruptModelError, match="selects output|finite"):
        mlinfer.load(build(meta, arrays))


def test_hashed_columns_summing_to_zero_are_entries_for_xgboost(mlinfer, tmp_path):
    """HashingVectorizer(alternate_sign=True) into few columns: terms of opposite signs cancel,
    and scipy keeps the 0 as an entry, which XGBoost reads as the value 0, not as missing."""
    xgb = pytest.importorskip("xgboost")
    rng = np.random.default_rng(0)
    words = [f"w{i}" for i in range(60)]
    docs = [" ".join(rng.choice(words, rng.integers(1, 12))) for _ in range(3000)]
    X = HashingVectorizer(n_features=8, norm=None).transform(docs)
    assert (X.data == 0).sum() > 100  # the case at hand
    y = (np.asarray(X[:, 3].todense()).ravel() == 0).astype(int) ^ (rng.random(len(docs)) < 0.1)
    pipe = make_pipeline(HashingVectorizer(n_features=8, norm=None), xgb.XGBClassifier(n_estimators=30, max_depth=4))
    check(mlinfer, pipe.fit(docs, y), docs, tmp_path)
