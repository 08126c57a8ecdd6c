"""String categories into tree models (issue 17): HistGradientBoosting with categorical_features
over string columns, LightGBM trained on pandas category columns (`pandas_categorical`, from the
scikit-learn wrapper and from the text file itself) and XGBoost enable_categorical models (the
categories XGBoost >= 3.1 records). Each is checked against the framework's own predictions on
DataFrames with NaN, None, the string "nan" and unseen categories, 1 and 10 000 rows: labels
identical, scores to 1e-5 relative (the trees are the same; what differs is only the order in
which the leaf values are summed, and XGBoost's float32 output)."""
from __future__ import annotations

import json

import numpy as np
import pytest

pd = pytest.importorskip("pandas")
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor  # noqa: E402

COLOURS = ["red", "green", "blue", "nan", "grün"]  # the string "nan" is a category, NaN is missing
SHAPES = ["tri", "sq", "circ"]


def _frame(n, seed, unseen=False, category=True):
    """Columns x (float), colour (strings with NaN and None), k (small ints), shape (strings in a
    non-alphabetical category order). With `unseen`, values no training row had."""
    rng = np.random.default_rng(seed)
    colour = rng.choice(COLOURS, n).astype(object)
    shape = rng.choice(SHAPES, n).astype(object)
    colour[rng.random(n) < 0.08] = None
    colour[rng.random(n) < 0.08] = np.nan
    if unseen:
        colour[rng.random(n) < 0.05] = "purple"
        shape[rng.random(n) < 0.05] = "hex"
    df = pd.DataFrame({"x": rng.normal(size=n), "colour": colour, "k": rng.integers(0, 4, n).astype(np.int64),
                       "shape": shape})
    if category:
        df["colour"] = pd.Categorical(df["colour"], categories=COLOURS + (["purple"] if unseen else []))
        df["shape"] = pd.Categorical(df["shape"], categories=SHAPES + (["hex"] if unseen else []))
    return df


def _target(df, classes=2):
    c = df["colour"].astype(object)
    s = ((c == "red") | (c == "nan")).astype(int) + (df["x"] > 0) + (df["shape"].astype(object) == "sq")
    return (s % classes).to_numpy()


TRAIN = _frame(2000, 0)
TEST = _frame(10000, 1, unseen=True)
TRAIN_OBJ = _frame(2000, 0, category=False)  # object columns: None stays None (pandas makes it NaN)
TEST_OBJ = _frame(10000, 1, unseen=True, category=False)


def _check(est, m, X, raw=None, got_raw=None):
    """Labels identical, probabilities (or predictions) and raw scores to 1e-5 relative."""
    if hasattr(est, "classes_"):
        np.testing.assert_array_equal(m.predict(X), est.predict(X))
        np.testing.assert_allclose(m.predict_proba(X), est.predict_proba(X), rtol=1e-5, atol=1e-7)
    else:
        np.testing.assert_allclose(m.predict(X), est.predict(X), rtol=1e-5, atol=1e-9)
    if raw is not None:
        np.testing.assert_allclose(got_raw, raw, rtol=1e-5, atol=1e-7)


def _rows(X):
    """The 10 000 rows and one row, each as the frame and with object (not category) columns."""
    obj = X.astype({"colour": object, "shape": object})
    return [X, X.iloc[[7]], obj, obj.iloc[[3]]]


# ---- HistGradientBoosting ------------------------------------------------------------------

HGB_CATS = {"from_dtype": "from_dtype", "names": ["colour", "shape"], "mask": [False, True, False, True],
            "indices": [1, 3], "with_numbers": ["colour", "shape", "k"]}


@pytest.mark.parametrize("cats, kind", [(c, "binary") for c in HGB_CATS] + [
    ("from_dtype", "multiclass"), ("names", "multiclass"), ("from_dtype", "regressor"), ("with_numbers", "regressor")])
def test_hgb_string_categories(mlinfer, tmp_path, cats, kind):
    train = TRAIN if cats == "from_dtype" else TRAIN_OBJ
    if kind == "regressor":
        est = HistGradientBoostingRegressor(categorical_features=HGB_CATS[cats], max_iter=25, random_state=0)
        est.fit(train, _target(train, 5) + train["x"].to_numpy())
    else:
        est = HistGradientBoostingClassifier(categorical_features=HGB_CATS[cats], max_iter=25, random_state=0)
        est.fit(train, _target(train, 2 if kind == "binary" else 3))
    mlinfer.export(est, tmp_path / "hgb.mli")
    m = mlinfer.load(tmp_path / "hgb.mli")
    assert dict(m.schema) == {"x": "number", "colour": "string", "k": "number", "shape": "string"}
    for X in _rows(TEST if cats == "from_dtype" else TEST_OBJ):
        if kind == "regressor":
            _check(est, m, X)
        else:
            _check(est, m, X, est.decision_function(X), m.decision_function(X))


def test_hgb_none_is_a_category_nan_is_missing(mlinfer, tmp_path):
    """scikit-learn's OrdinalEncoder keeps None as a category of an object column (NaN is the
    missing value): a row with None and a row with NaN may go different ways."""
    train = TRAIN_OBJ
    y = (train["colour"].map(lambda v: v is None) ^ (train["x"] > 0.5)).astype(int)
    est = HistGradientBoostingClassifier(categorical_features=["colour", "shape"], max_iter=20).fit(train, y)
    mlinfer.export(est, tmp_path / "hgb.mli")
    m = mlinfer.load(tmp_path / "hgb.mli")
    X = pd.DataFrame({"x": [0.0, 0.0, 0.0, 1.0], "colour": [None, np.nan, "nan", None], "k": [0, 0, 0, 0],
                      "shape": ["sq", "sq", "sq", "tri"]})
    assert est.predict_proba(X)[0, 1] != est.predict_proba(X)[1, 1]  # the case is real
    _check(est, m, X, est.decision_function(X), m.decision_function(X))


def test_hgb_numpy_object_array(mlinfer, tmp_path):
    """Fitted on a NumPy object array (no column names): columns by position, strings and numbers."""
    X = TRAIN_OBJ.to_numpy(dtype=object)
    est = HistGradientBoostingClassifier(categorical_features=[1, 3], max_iter=15).fit(X, _target(TRAIN_OBJ))
    mlinfer.export(est, tmp_path / "np.mli")
    m = mlinfer.load(tmp_path / "np.mli")
    assert [kind for _, kind in m.schema] == ["number", "string", "number", "string"]
    Xt = TEST_OBJ.to_numpy(dtype=object)
    _check(est, m, Xt, est.decision_function(Xt), m.decision_function(Xt))
    _check(est, m, Xt[:1], est.decision_function(Xt[:1]), m.decision_function(Xt[:1]))


def test_hgb_in_a_pipeline_after_an_imputer(mlinfer, tmp_path):
    """String columns imputed by a step before the model (pandas output) still reach its encoder
    as strings: the imputer's replacement is folded into the same lookup."""
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import make_pipeline
    train = TRAIN_OBJ
    pre = ColumnTransformer([("imp", SimpleImputer(strategy="constant", fill_value="missing"), ["colour"])],
                            remainder="passthrough", verbose_feature_names_out=False).set_output(transform="pandas")
    est = make_pipeline(pre, HistGradientBoostingClassifier(categorical_features=["colour", "shape"], max_iter=20))
    est.fit(train, _target(train))
    mlinfer.export(est, tmp_path / "p.mli")
    m = mlinfer.load(tmp_path / "p.mli")
    _check(est, m, TEST_OBJ)


# ---- LightGBM --------------------------------------------------------------------------------

lgb = pytest.importorskip("lightgbm")


def _lgb(kind, **kw):
    params = dict(n_estimators=40, min_data_per_group=5, cat_smooth=1, verbose=-1, **kw)
    if kind == "regressor":
        return lgb.LGBMRegressor(**params).fit(TRAIN, _target(TRAIN, 5) + TRAIN["x"].to_numpy())
    labels = np.array(["no", "yes", "maybe"])
    return lgb.LGBMClassifier(**params).fit(TRAIN, labels[_target(TRAIN, 2 if kind == "binary" else 3)])


def _lgb_rows(X):
    """LightGBM takes category columns only (it refuses object columns): the frame re-typed to
    the training categories gives its reference, unseen strings NaN as LightGBM's
    set_categories makes them."""
    return X.astype({"colour": pd.CategoricalDtype(COLOURS), "shape": pd.CategoricalDtype(SHAPES)})


@pytest.mark.parametrize("kind", ["binary", "multiclass", "regressor"])
def test_lightgbm_wrapper_and_text_file(mlinfer, tmp_path, kind):
    est = _lgb(kind)
    assert est.booster_.pandas_categorical == [COLOURS, SHAPES]
    mlinfer.export(est, tmp_path / "w.mli")
    path = tmp_path / "m.txt"
    est.booster_.save_model(str(path))
    assert "pandas_categorical:" in path.read_text()
    for m in (mlinfer.load(tmp_path / "w.mli"), mlinfer.load(path)):
        assert dict(m.schema) == {"x": "number", "colour": "string", "k": "number", "shape": "string"}
        for X in _rows(TEST):
            ref = _lgb_rows(X)
            raw = est.predict(ref, raw_score=True)
            if kind != "regressor" and m.classes_.dtype.kind != "U":  # the text file's classes are 0..k-1
                np.testing.assert_array_equal(est.classes_[m.predict(X)], est.predict(ref))
                np.testing.assert_allclose(m.predict_proba(X), est.predict_proba(ref), rtol=1e-5, atol=1e-7)
            else:
                ref_pred = est.predict(ref)
                if kind == "regressor":
                    np.testing.assert_allclose(m.predict(X), ref_pred, rtol=1e-5, atol=1e-9)
                else:
                    np.testing.assert_array_equal(m.predict(X), ref_pred)
                    np.testing.assert_allclose(m.predict_proba(X), est.predict_proba(ref), rtol=1e-5, atol=1e-7)
            np.testing.assert_allclose(m.predict_raw(X).reshape(raw.shape), raw, rtol=1e-5, atol=1e-7)


def test_lightgbm_unseen_and_missing_go_where_lightgbm_sends_them(mlinfer):
    """An unseen string, NaN and None all become LightGBM's code -1 -> NaN: checked against
    LightGBM's own predict on each, and against the known category the trees treat alike."""
    est = _lgb("binary")
    m = mlinfer.load(est.booster_.model_to_string().encode())
    X = pd.DataFrame({"x": [0.3] * 4, "colour": ["purple", None, np.nan, "red"], "k": [1] * 4,
                      "shape": ["sq", "hex", "sq", None]})
    ref = est.predict(_lgb_rows(X), raw_score=True)
    np.testing.assert_allclose(m.predict_raw(X).reshape(-1), ref, rtol=1e-5, atol=1e-9)
    np.testing.assert_allclose(m.predict_raw(X.astype({"colour": "category", "shape": "category"})).reshape(-1),
                               ref, rtol=1e-5, atol=1e-9)


def test_lightgbm_numbers_and_strings_mixed(mlinfer, tmp_path):
    """A category column of identity codes (0..n-1) next to string ones: the numbers pass as they are."""
    train = TRAIN.assign(k=pd.Categorical(TRAIN["k"], categories=[0, 1, 2, 3]))
    est = lgb.LGBMClassifier(n_estimators=20, min_data_per_group=5, verbose=-1).fit(train, _target(train))
    m = mlinfer.load(est.booster_.model_to_string().encode())
    assert dict(m.schema)["k"] == "number" and dict(m.schema)["colour"] == "string"
    X = TEST.assign(k=pd.Categorical(TEST["k"], categories=[0, 1, 2, 3]))
    np.testing.assert_allclose(m.predict_raw(TEST).reshape(-1), est.predict(_lgb_rows(X), raw_score=True),
                               rtol=1e-5, atol=1e-9)


def test_lightgbm_unrecorded_column_mapping_is_refused(mlinfer):
    """pandas_categorical does not name its columns: when the categorical features are not
    exactly the unordered category columns (an ordered one, or categorical_feature by hand),
    which list belongs to which column is unknown, so the file is refused, not guessed."""
    train = TRAIN.assign(shape=TRAIN["shape"].cat.as_ordered())
    est = lgb.LGBMClassifier(n_estimators=5, verbose=-1).fit(train, _target(train))
    with pytest.raises(mlinfer.UnsupportedError, match="lists 2 category columns but the model has 1 categorical"):
        mlinfer.load(est.booster_.model_to_string().encode())
    with pytest.raises(mlinfer.UnsupportedModelError, match="lists 2 category columns"):
        mlinfer.export(est, "/nonexistent/never-written.mli")
    est = lgb.LGBMClassifier(n_estimators=5, verbose=-1).fit(TRAIN, _target(TRAIN),
                                                             categorical_feature=["colour", "k", "shape"])
    with pytest.raises(mlinfer.UnsupportedError, match="lists 2 category columns but the model has 3 categorical"):
        mlinfer.load(est.booster_.model_to_string().encode())


def test_lightgbm_pandas_categorical_text_edits(mlinfer):
    """The importer reads the trailer strictly: a list that no longer fits its feature, strings
    mixed with numbers, a NUL inside a string."""
    text = _lgb("binary").booster_.model_to_string()
    line = "pandas_categorical:" + json.dumps([COLOURS, SHAPES])
    assert line in text
    short = text.replace(line, "pandas_categorical:" + json.dumps([COLOURS[:2], SHAPES]))
    with pytest.raises(mlinfer.UnsupportedError, match="the 2 categories of category column 0 do not fit feature 1"):
        mlinfer.load(short.encode())
    for bad in ([COLOURS, ["tri", 1, "circ"]], [COLOURS, ["t\u0000ri", "sq", "circ"]]):
        with pytest.raises(mlinfer.UnsupportedError, match="category column 1|column 1: category"):
            mlinfer.load(text.replace(line, "pandas_categorical:" + json.dumps(bad)).encode())
    dup = text.replace(line, "pandas_categorical:" + json.dumps([COLOURS, ["tri", "sq", "tri"]]))
    with pytest.raises(mlinfer.CorruptModelError, match="column 3 lists the category .tri. twice"):
        mlinfer.load(dup.encode())


# ---- XGBoost ---------------------------------------------------------------------------------

xgb = pytest.importorskip("xgboost")


def _ascii(df):
    """XGBoost records non-ASCII categories truncated (test_xgboost_non_ascii_is_refused)."""
    out = df.copy()
    for c in ("colour",):
        col = out[c].astype(object).replace("grün", "gruen")
        out[c] = pd.Categorical(col, categories=[v.replace("grün", "gruen") for v in df[c].cat.categories]) \
            if isinstance(df[c].dtype, pd.CategoricalDtype) else col
    return out


XTRAIN, XTEST = _ascii(TRAIN), _ascii(TEST)


@pytest.mark.parametrize("kind", ["binary", "multiclass", "regressor"])
def test_xgboost_recorded_string_categories(mlinfer, tmp_path, kind):
    TRAIN, TEST = XTRAIN, XTEST  # noqa: N806
    params = dict(n_estimators=30, max_depth=4, enable_categorical=True, tree_method="hist")
    if kind == "regressor":
        est = xgb.XGBRegressor(**params).fit(TRAIN, _target(TRAIN, 5) + TRAIN["x"].to_numpy())
    else:
        est = xgb.XGBClassifier(**params).fit(TRAIN, _target(TRAIN, 2 if kind == "binary" else 3))
    booster = est.get_booster()
    mlinfer.export(est, tmp_path / "w.mli")
    models = [mlinfer.load(tmp_path / "w.mli")] + [mlinfer.load(bytes(booster.save_raw(f))) for f in ("json", "ubj")]
    known = TEST.copy()  # XGBoost raises on an unseen category: the reference rows have none
    known["colour"] = pd.Categorical(known["colour"].astype(object).replace("purple", "red"),
                                     categories=list(XTRAIN["colour"].cat.categories))
    known["shape"] = pd.Categorical(known["shape"].astype(object).replace("hex", "sq"), categories=SHAPES[::-1])
    for m in models:
        assert dict(m.schema) == {"x": "number", "colour": "string", "k": "number", "shape": "string"}
        for X in _rows(known):
            ref = X.astype({"colour": "category", "shape": "category"})  # XGBoost takes category columns only
            margin = est.predict(ref, output_margin=True)
            if kind == "regressor":
                np.testing.assert_allclose(m.predict(X), est.predict(ref), rtol=1e-5, atol=1e-6)
            else:
                np.testing.assert_array_equal(m.predict(X), est.predict(ref))
                np.testing.assert_allclose(m.predict_proba(X), est.predict_proba(ref), rtol=1e-5, atol=1e-6)
            np.testing.assert_allclose(m.predict_raw(X).reshape(margin.shape), margin, rtol=1e-5, atol=1e-6)


def test_xgboost_non_ascii_is_refused(mlinfer):
    """XGBoost 3.x stores 'grün' as its first 4 bytes ('grü') and matches inputs by such prefixes:
    not reproducible as a string lookup, so refused (by the wrapper's export too)."""
    est = xgb.XGBClassifier(n_estimators=3, enable_categorical=True, tree_method="hist").fit(TRAIN, _target(TRAIN))
    enc = json.loads(est.get_booster().save_raw("json"))["learner"]["gradient_booster"]["model"]["cats"]["enc"]
    assert len(bytes(b & 0xFF for b in enc[1]["values"])) < len("".join(COLOURS).encode())  # the truncation
    with pytest.raises(mlinfer.UnsupportedError, match=r"feature 1 \('colour'\): category 4 holds non-ASCII"):
        mlinfer.load(bytes(est.get_booster().save_raw("json")))
    with pytest.raises(mlinfer.UnsupportedModelError, match="non-ASCII"):
        mlinfer.export(est, "/nonexistent/never-written.mli")


def test_xgboost_unseen_category_is_an_error_naming_it(mlinfer):
    """An unseen string is an input error naming the column, the row and the value. XGBoost 3.2
    raises for one that sorts after every training category; one that sorts among them it maps
    to the next training category (a binary search without an equality test) -- a silent
    mis-mapping that the model does not copy: it refuses every unseen string."""
    TRAIN, TEST = XTRAIN, XTEST  # noqa: N806
    est = xgb.XGBClassifier(n_estimators=20, max_depth=3, enable_categorical=True,
                            tree_method="hist").fit(TRAIN, _target(TRAIN))
    m = mlinfer.load(bytes(est.get_booster().save_raw("json")))
    X = TEST.iloc[:4].astype({"colour": object, "shape": object})
    X.iloc[2, 1] = "red"
    for value in ("zzz", "apple"):
        X.iloc[2, 3] = value
        with pytest.raises(mlinfer.InputError, match=f"column 'shape', row 2: unknown category '{value}'"):
            m.predict(X)
    X.iloc[2, 3] = "zzz"
    with pytest.raises(xgb.core.XGBoostError, match="not in the training set"):
        est.predict(X.astype({"colour": "category", "shape": "category"}))
    X.iloc[2, 3] = "apple"  # XGBoost: as if it were "circ", the first training category after it
    quirk = est.predict(X.astype({"colour": "category", "shape": "category"}), output_margin=True)
    X.iloc[2, 3] = "circ"
    assert quirk[2] == est.predict(X.astype({"colour": "category", "shape": "category"}), output_margin=True)[2]
    with pytest.raises(ValueError, match="colour"):
        m.predict(X.drop(columns=["colour"]))


def test_xgboost_malformed_string_categories_are_corrupt(mlinfer):
    TRAIN = XTRAIN  # noqa: N806
    est = xgb.XGBClassifier(n_estimators=2, enable_categorical=True, tree_method="hist").fit(TRAIN, _target(TRAIN))
    doc = json.loads(est.get_booster().save_raw("json"))
    enc = doc["learner"]["gradient_booster"]["model"]["cats"]["enc"]
    assert len(enc[1]["offsets"]) == len(COLOURS) + 1
    for mutate in (lambda e: e[1].__setitem__("offsets", e[1]["offsets"][:-1] + [999]),
                   lambda e: e[1]["values"].__setitem__(0, 0), lambda e: e[1]["values"].__setitem__(0, 300),
                   lambda e: e[1]["values"].__setitem__(0, -129),
                   lambda e: e[1].__setitem__("offsets", [0, 5, 3] + e[1]["offsets"][3:])):
        bad = json.loads(json.dumps(doc))
        mutate(bad["learner"]["gradient_booster"]["model"]["cats"]["enc"])
        with pytest.raises(mlinfer.CorruptModelError, match=r"cats.enc\[1\]"):
            mlinfer.load(json.dumps(bad).encode())


def test_numbers_on_thresholds_pass_the_lookup_stage_exactly(mlinfer, tmp_path):
    """The lookup stage hands number columns to the float64 trees unchanged: rows sitting exactly
    on each split threshold of x (and one float64 step either side) score as in LightGBM and
    HistGradientBoosting to 1e-12 (a row sent to another leaf would differ by a leaf value)."""
    est = _lgb("binary")
    m = mlinfer.load(est.booster_.model_to_string().encode())
    dump = est.booster_.dump_model()["tree_info"]
    thr = []

    def walk(node):
        if "split_feature" in node:
            if node["split_feature"] == 0:
                thr.append(float(node["threshold"]))
            walk(node["left_child"])
            walk(node["right_child"])
    for t in dump:
        walk(t["tree_structure"])
    assert len(thr) > 5
    xs = np.unique(np.concatenate([thr, np.nextafter(thr, -np.inf), np.nextafter(thr, np.inf)]))
    X = TEST.iloc[: len(xs)].copy()
    X["x"] = xs
    np.testing.assert_allclose(m.predict_raw(X).reshape(-1), est.predict(_lgb_rows(X), raw_score=True),
                               rtol=1e-12, atol=1e-12)
    hgb = HistGradientBoostingClassifier(categorical_features="from_dtype", max_iter=20).fit(TRAIN, _target(TRAIN))
    mlinfer.export(hgb, tmp_path / "h.mli")
    mh = mlinfer.load(tmp_path / "h.mli")
    thr = np.concatenate([p.nodes["num_threshold"][(p.nodes["feature_idx"] == 2) & (p.nodes["is_leaf"] == 0)]
                          for it in hgb._predictors for p in it])  # x is column 2 after the encoder's two
    assert len(thr) > 5
    xs = np.unique(np.concatenate([thr, np.nextafter(thr, -np.inf), np.nextafter(thr, np.inf)]))
    X = TEST.iloc[: len(xs)].copy()
    X["x"] = xs
    np.testing.assert_allclose(mh.decision_function(X), hgb.decision_function(X), rtol=1e-12, atol=1e-12)
