"""The Python surface of mlinfer (DESIGN.md, "Python surface (pinned)"): loading, metadata,
input conversion, errors carrying the C library's message, NaN semantics, mlinfer.ops
against numpy, and one Model shared by many threads.

NaN semantics (include/mlinfer.h, mli_model_predict): NaN in the input propagates through
the arithmetic as it would in scikit-learn's own arithmetic. A regression output whose
row holds a NaN is NaN; a classifier's decision_function and predict_proba are NaN, and
its predict picks what scikit-learn's code does with NaN scores: binary `score > 0` is
False, so classes_[0]; multiclass numpy argmax returns the first NaN, i.e. classes_[0]
when all scores are NaN. scikit-learn itself refuses NaN input, so the comparison runs
scikit-learn with `assume_finite=True` (its arithmetic without the input check).
"""
from __future__ import annotations

import concurrent.futures
import struct
import warnings
import zlib

import numpy as np
import pytest

pytest.importorskip("sklearn", reason="scikit-learn is needed for the mlinfer Python tests")

import sklearn
from sklearn import datasets, linear_model as lm, neural_network as nn
from sklearn.exceptions import ConvergenceWarning
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import MinMaxScaler, StandardScaler
from threadpoolctl import threadpool_limits


def _fit(est, X, y):
    with warnings.catch_warnings(), threadpool_limits(limits=1):
        warnings.simplefilter("ignore", ConvergenceWarning)
        return est.fit(X, y)


@pytest.fixture(scope="module")
def iris():
    d = datasets.load_iris()
    return d.data, d.target_names[d.target]


@pytest.fixture(scope="module")
def models(mlinfer, model_dir, iris):
    """A few fitted estimators with their exported files (name -> (est, path, X))."""
    X, ys = iris
    Xr, yr = datasets.make_regression(200, 6, n_targets=2, noise=1.0, random_state=0)
    Xb, yb = datasets.make_classification(300, 7, random_state=0)
    yb = np.array([-1, 7])[yb]
    out = {}
    specs = {
        "logreg_iris": (lm.LogisticRegression(max_iter=300), X, ys),
        "ridge_multi": (lm.Ridge(), Xr, yr),
        "ridge_single": (lm.Ridge(), Xr, yr[:, 0]),
        "sgd_binary": (lm.SGDClassifier(random_state=0), Xb, yb),
        "mlp_iris": (nn.MLPClassifier((16, 8), max_iter=100, random_state=0), X, ys),
        "mlp_reg": (nn.MLPRegressor(hidden_layer_sizes=(16,), max_iter=100, random_state=0), Xr, yr),
        "pipe_clip": (make_pipeline(MinMaxScaler(clip=True), lm.Ridge()), Xr, yr[:, 1]),
    }
    for name, (est, Xf, yf) in specs.items():
        _fit(est, Xf, yf)
        path = model_dir / f"api_{name}.mli"
        mlinfer.export(est, path)
        out[name] = (est, path, Xf)
    return out


def _methods(est):
    return [m for m in ("predict", "predict_proba", "decision_function") if hasattr(est, m)]


# ---- round trip and loading -----------------------------------------------------------------

@pytest.mark.parametrize("name", ["logreg_iris", "ridge_multi", "ridge_single", "sgd_binary", "mlp_iris", "mlp_reg",
                                  "pipe_clip"])
def test_round_trip_metadata(mlinfer, models, name):
    est, path, X = models[name]
    m = mlinfer.load(path)
    assert m.n_features_in_ == est.n_features_in_
    if hasattr(est, "classes_"):
        assert m.is_classifier
        assert m.classes_.dtype == est.classes_.dtype
        np.testing.assert_array_equal(m.classes_, est.classes_)
        assert m.n_outputs_ == 1
    else:
        assert not m.is_classifier and m.classes_ is None
        assert m.n_outputs_ == (1 if np.ndim(est.predict(X[:2])) == 1 else est.predict(X[:2]).shape[1])
    assert m.meta("producer").startswith("mlinfer-python")
    assert m.meta("source").split()[1] == sklearn.__version__
    assert type(est).__name__ in m.meta("source")
    assert type(est).__name__ in repr(m)
    assert m.meta("no.such.key") is None


def test_feature_names_round_trip(mlinfer, tmp_path):
    X, y = datasets.make_regression(50, 3, random_state=0)
    est = lm.LinearRegression().fit(X, y)
    # what fitting on a pandas DataFrame sets (pandas is not a test dependency)
    est.feature_names_in_ = np.array(["a", "b", "c\u00e9"], dtype=object)
    mlinfer.export(est, tmp_path / "named.mli")
    m = mlinfer.load(tmp_path / "named.mli")
    np.testing.assert_array_equal(m.feature_names_in_, est.feature_names_in_)
    plain = lm.LinearRegression().fit(X, y)
    mlinfer.export(plain, tmp_path / "plain.mli")
    assert mlinfer.load(tmp_path / "plain.mli").feature_names_in_ is None


def test_many_long_feature_names(mlinfer, tmp_path):
    """6000 names of 19 bytes: more than one 64 KiB metadata string can hold, so they go
    in the feature_names section (this model failed to load when they were metadata)."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 6000))
    est = lm.Ridge().fit(X, rng.normal(size=40))
    est.feature_names_in_ = np.array([f"column_number_{i:05d}" for i in range(6000)], dtype=object)
    mlinfer.export(est, tmp_path / "wide.mli")
    m = mlinfer.load(tmp_path / "wide.mli")
    np.testing.assert_array_equal(m.feature_names_in_, est.feature_names_in_)
    assert m.meta("feature_names") is None  # too long for the metadata key
    np.testing.assert_allclose(m.predict(X), X @ est.coef_ + est.intercept_, rtol=1e-5, atol=1e-5)


def test_feature_name_with_unit_separator(mlinfer, tmp_path):
    X, y = datasets.make_regression(30, 2, random_state=1)
    est = lm.LinearRegression().fit(X, y)
    est.feature_names_in_ = np.array(["a\x1fb", "c"], dtype=object)
    mlinfer.export(est, tmp_path / "sep.mli")
    assert list(mlinfer.load(tmp_path / "sep.mli").feature_names_in_) == ["a\x1fb", "c"]


def _named_model(meta_names=None, section_names=None):
    from mlinfer import _format
    meta = {"producer": "test", "task": "regression", "n_features": 2, "n_outputs": 1, "stages": 1,
            "stage.0.kind": "linear", "stage.0.n_in": 2, "stage.0.n_out": 1, "head": "identity"}
    if meta_names is not None:
        meta["feature_names"] = meta_names
    arrays = {"stage.0.coef": np.ones((1, 2), np.float32), "stage.0.intercept": np.zeros(1, np.float32)}
    if section_names is not None:
        arrays["feature_names"] = section_names
    return _format.build(meta, arrays)


def test_feature_names_must_name_every_feature(mlinfer):
    assert list(mlinfer.load(_named_model(meta_names="x\x1fy")).feature_names_in_) == ["x", "y"]
    assert list(mlinfer.load(_named_model("x\x1fy", ["p", "q"])).feature_names_in_) == ["p", "q"]  # section first
    with pytest.raises(mlinfer.Error, match="metadata key 'feature_names' holds 3 names for 2 features"):
        mlinfer.load(_named_model(meta_names="x\x1fy\x1fz"))
    with pytest.raises(mlinfer.Error, match="section 'feature_names' holds 1 names for 2 features"):
        mlinfer.load(_named_model(section_names=["p"]))
    with pytest.raises(mlinfer.Error, match="string 1 contains a NUL byte"):
        mlinfer.load(_named_model(section_names=["p", "q\0r"]))


def test_table_columns_are_checked_against_feature_names(mlinfer, tmp_path):
    """As scikit-learn: a DataFrame must carry the trained names in the trained order."""
    pd = pytest.importorskip("pandas")
    rng = np.random.default_rng(2)
    df = pd.DataFrame(rng.normal(size=(60, 3)), columns=["age", "height", "weight"])
    est = lm.LogisticRegression().fit(df, (df["age"] + df["weight"] > 0).astype(int))
    mlinfer.export(est, tmp_path / "named.mli")
    m = mlinfer.load(tmp_path / "named.mli")
    np.testing.assert_allclose(m.predict_proba(df), est.predict_proba(df), rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(m.predict(df.to_numpy()), est.predict(df))  # arrays carry no names
    np.testing.assert_array_equal(m.predict(df.set_axis([0, 1, 2], axis=1)), est.predict(df))  # nor numbers
    with pytest.raises(ValueError, match="another order"):
        m.predict(df[["weight", "age", "height"]])
    with pytest.raises(ValueError, match=r"not seen in training: \['mass'\]; missing: \['weight'\]"):
        m.predict_proba(df.rename(columns={"weight": "mass"}))
    with pytest.raises(ValueError, match="missing"):
        m.decision_function(df[["age", "height"]])
    m.predict(df[list(m.feature_names_in_)])


def test_arrow_and_polars_tables_are_checked_against_feature_names(mlinfer, tmp_path):
    """A numeric model fitted on named columns, given an Arrow table or a polars frame: the same
    names in the same order score; another order or other names raise, as scikit-learn raises
    on a DataFrame (an Arrow table's .columns are arrays, not names: it was scored by position)."""
    pa = pytest.importorskip("pyarrow")
    pd = pytest.importorskip("pandas")
    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.normal(size=(60, 3)), columns=["a", "b", "c"])
    est = lm.LogisticRegression().fit(X, X["a"] > 0)
    mlinfer.export(est, tmp_path / "m.mli")
    m = mlinfer.load(tmp_path / "m.mli")
    tables = [pa.Table.from_pandas(X, preserve_index=False)]
    pl = None
    try:
        import polars as pl
        tables.append(pl.from_pandas(X))
    except ImportError:
        pass
    for t in tables:
        np.testing.assert_allclose(m.predict_proba(t), est.predict_proba(X), rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="another order"):
        m.predict(pa.Table.from_pandas(X[["b", "a", "c"]], preserve_index=False))
    with pytest.raises(ValueError, match="not seen in training"):
        m.predict(pa.table({"x": X["a"], "y": X["b"], "z": X["c"]}))
    if pl is not None:
        with pytest.raises(ValueError, match="another order"):
            m.predict(pl.from_pandas(X[["c", "b", "a"]]))


def test_lightgbm_feature_names_are_not_checked(mlinfer):
    """LightGBM names unnamed columns Column_0, ... and does not check names itself."""
    pd = pytest.importorskip("pandas")
    lgb = pytest.importorskip("lightgbm")
    rng = np.random.default_rng(3)
    X = rng.normal(size=(200, 3))
    booster = lgb.train({"objective": "regression", "verbose": -1, "num_threads": 1}, lgb.Dataset(X, X[:, 0]), 3)
    m = mlinfer.load(booster.model_to_string().encode())
    assert list(m.feature_names_in_) == ["Column_0", "Column_1", "Column_2"]
    df = pd.DataFrame(X, columns=["a", "b", "c"])
    np.testing.assert_allclose(m.predict(df), booster.predict(X), rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("kind", ["bytes", "bytearray", "memoryview", "compressed", "str_path"])
def test_load_from_memory_and_paths(mlinfer, models, kind):
    from mlinfer.export import to_bytes

    est, path, X = models["mlp_iris"]
    ref = mlinfer.load(path)
    data = path.read_bytes()
    if kind == "bytes":
        m = mlinfer.load(data)
    elif kind == "bytearray":
        m = mlinfer.load(bytearray(data))
    elif kind == "memoryview":
        m = mlinfer.load(memoryview(data))
    elif kind == "compressed":
        cdata = to_bytes(est, compress=True)
        assert len(cdata) < len(data)
        m = mlinfer.load(cdata)
    else:
        m = mlinfer.load(str(path))
    np.testing.assert_array_equal(m.classes_, ref.classes_)
    np.testing.assert_array_equal(m.predict_proba(X), ref.predict_proba(X))
    np.testing.assert_array_equal(m.predict(X), ref.predict(X))


def test_export_writes_atomically(mlinfer, models, tmp_path):
    est = models["ridge_single"][0]
    target = tmp_path / "m.mli"
    target.write_bytes(b"old")
    mlinfer.export(est, target)
    assert [p.name for p in tmp_path.iterdir()] == ["m.mli"]  # no temporary file left behind
    mlinfer.load(target)


def test_close_and_context_manager(mlinfer, models):
    est, path, X = models["ridge_single"]
    with mlinfer.load(path) as m:
        m.predict(X[:3])
    with pytest.raises(mlinfer.Error, match="NULL"):
        m.predict(X[:3])
    m.close()  # idempotent


# ---- export errors ----------------------------------------------------------------------

def _unsupported_cases():
    from sklearn.preprocessing import SplineTransformer
    from sklearn.tree import DecisionTreeClassifier
    from sklearn.multiclass import OneVsRestClassifier
    from sklearn.neighbors import KNeighborsClassifier

    X, y = datasets.make_classification(120, 5, n_informative=3, n_classes=3, n_clusters_per_class=1, random_state=0)
    Y = np.stack([y == 0, y == 1], axis=1).astype(int)  # multilabel indicator
    Xr, yr = datasets.make_regression(120, 5, random_state=0)
    return [
        ("KNeighborsClassifier", lambda: _fit(KNeighborsClassifier(), X, y), ["KNeighborsClassifier"]),
        ("OneVsRestClassifier-multilabel", lambda: _fit(OneVsRestClassifier(lm.LogisticRegression()), X, Y),
         ["OneVsRestClassifier", "multi-label"]),
        ("MLPClassifier-multilabel", lambda: _fit(nn.MLPClassifier((4,), max_iter=20, random_state=0), X, Y),
         ["MLPClassifier", "multi-label"]),
        ("MLPRegressor-poisson", lambda: _fit(nn.MLPRegressor(hidden_layer_sizes=(4,), loss="poisson", max_iter=20,
                                                              random_state=0), Xr, np.abs(yr)),
         ["MLPRegressor", "exp", "poisson"]),
        ("RidgeClassifier-multilabel", lambda: _fit(lm.RidgeClassifier(), X, Y), ["RidgeClassifier", "multi-label"]),
        ("Pipeline-SplineTransformer-trees", lambda: _fit(make_pipeline(SplineTransformer(),
                                                                        DecisionTreeClassifier()), X, y),
         ["SplineTransformer", "cannot precede a tree model"]),
    ]


@pytest.mark.parametrize("name,make,words", _unsupported_cases(), ids=[c[0] for c in _unsupported_cases()])
def test_export_unsupported(mlinfer, tmp_path, name, make, words):
    est = make()
    with pytest.raises(mlinfer.UnsupportedModelError) as exc:
        mlinfer.export(est, tmp_path / "x.mli")
    assert isinstance(exc.value, mlinfer.Error) and isinstance(exc.value, TypeError)
    for w in words:
        assert w in str(exc.value), f"{w!r} not in {exc.value}"
    assert not (tmp_path / "x.mli").exists()


@pytest.mark.parametrize("est", [lm.LogisticRegression(), nn.MLPRegressor(), lm.Ridge(),
                                 make_pipeline(StandardScaler(), lm.Ridge())],
                         ids=["LogisticRegression", "MLPRegressor", "Ridge", "Pipeline"])
def test_export_unfitted(mlinfer, tmp_path, est):
    with pytest.raises(mlinfer.UnsupportedModelError, match="not fitted"):
        mlinfer.export(est, tmp_path / "x.mli")


# ---- input validation and conversion ----------------------------------------------------

def test_wrong_feature_count(mlinfer, models):
    est, path, X = models["logreg_iris"]
    m = mlinfer.load(path)
    for meth in ("predict", "predict_proba", "decision_function"):
        with pytest.raises(ValueError) as exc:
            getattr(m, meth)(np.ones((3, 5)))
        assert "5" in str(exc.value) and "4" in str(exc.value)


def test_wrong_feature_count_c_api(mlinfer, models):
    """The C checks behind the Python ones: ldx too small, output too small, NULL input."""
    from mlinfer._native import lib

    m = mlinfer.load(models["logreg_iris"][1])
    x = np.ones((4, 4))
    out = np.empty(4)
    h = m._h
    st = lib.mli_model_predict(h, x.ctypes.data, 1, 4, 3, out.ctypes.data, 4)
    assert st == mlinfer.ShapeError.status
    msg = lib.mli_last_error().decode()
    assert "ldx (3)" in msg and "4 features" in msg
    st = lib.mli_model_predict(h, x.ctypes.data, 1, 4, 4, out.ctypes.data, 3)
    assert st == mlinfer.ShapeError.status and "out holds 3" in lib.mli_last_error().decode()
    st = lib.mli_model_predict(h, None, 1, 4, 4, out.ctypes.data, 4)
    assert st == mlinfer.InvalidArgumentError.status and "x is NULL" in lib.mli_last_error().decode()
    st = lib.mli_model_predict(None, x.ctypes.data, 1, 4, 4, out.ctypes.data, 4)
    assert st == mlinfer.InvalidArgumentError.status
    st = lib.mli_model_predict(h, x.ctypes.data, 7, 4, 4, out.ctypes.data, 4)
    assert st == mlinfer.InvalidArgumentError.status and "dtype" in lib.mli_last_error().decode()
    # a leading dimension larger than the row (a column slice) is served in place
    wide = np.arange(4 * 6, dtype=np.float64).reshape(4, 6) / 10
    assert lib.mli_model_predict(h, wide.ctypes.data, 1, 4, 6, out.ctypes.data, 4) == 0
    np.testing.assert_array_equal(m.classes_[out.astype(int)], m.predict(wide[:, :4]))


@pytest.mark.parametrize("shape", [(4,), (), (2, 2, 4)], ids=["1-D", "0-D", "3-D"])
def test_not_2d_input(mlinfer, models, shape):
    m = mlinfer.load(models["logreg_iris"][1])
    with pytest.raises(ValueError, match="2-D"):
        m.predict(np.ones(shape))


@pytest.mark.parametrize("layout", ["C_f64", "C_f32", "F_f64", "F_f32", "col_slice", "row_slice", "prefix_cols", "int64", "int32",
                                    "bool", "big_endian", "list", "tuple_rows", "readonly", "float16"])
def test_layouts_converted(mlinfer, models, layout):
    est, path, X = models["mlp_iris"]
    m = mlinfer.load(path)
    base = np.round(X[:57] * 2) / 2  # exactly representable in every float type below
    wide = np.zeros((base.shape[0], base.shape[1] * 3))
    wide[:, ::3] = base
    tall = np.zeros((base.shape[0] * 2, base.shape[1]))
    tall[::2] = base
    padded = np.zeros((base.shape[0], base.shape[1] + 2))
    padded[:, :4] = base
    arr = {
        "C_f64": base, "C_f32": base.astype(np.float32), "F_f64": np.asfortranarray(base),
        "F_f32": np.asfortranarray(base, dtype=np.float32), "col_slice": wide[:, ::3], "row_slice": tall[::2], "prefix_cols": padded[:, :4],
        "int64": base.astype(np.int64), "int32": base.astype(np.int32), "bool": base > 3,
        "big_endian": base.astype(">f8"), "list": base.tolist(), "tuple_rows": tuple(map(tuple, base)),
        "readonly": base.copy(), "float16": base.astype(np.float16),
    }[layout]
    if layout == "readonly":
        arr.setflags(write=False)
    expect = np.asarray(arr, dtype=np.float64)
    np.testing.assert_array_equal(m.predict_proba(arr), m.predict_proba(np.ascontiguousarray(expect)))
    np.testing.assert_array_equal(m.predict(arr), m.predict(np.ascontiguousarray(expect)))
    # and scikit-learn agrees on the labels
    np.testing.assert_array_equal(m.predict(arr), est.predict(expect))


def test_zero_copy_for_c_contiguous(mlinfer, models):
    from mlinfer.model import _as_rows

    X = models["mlp_iris"][2]
    for dt in (np.float32, np.float64):
        a = np.ascontiguousarray(X, dtype=dt)
        assert _as_rows(a, 4) is a
    f = np.asfortranarray(X)
    assert _as_rows(f, 4).flags.c_contiguous


@pytest.mark.parametrize("name", ["logreg_iris", "ridge_multi", "ridge_single", "sgd_binary", "mlp_iris", "mlp_reg"])
def test_zero_rows(mlinfer, models, name):
    est, path, X = models[name]
    m = mlinfer.load(path)
    for dt in (np.float32, np.float64):
        empty = np.empty((0, X.shape[1]), dtype=dt)
        one = X[:1].astype(dt)
        for meth in _methods(est):
            got = getattr(m, meth)(empty)
            shape1 = getattr(est, meth)(one).shape
            assert got.shape == (0,) + shape1[1:], (meth, got.shape)
            assert got.dtype == getattr(m, meth)(one).dtype


# ---- NaN ------------------------------------------------------------------------------

def _nan_rows(X, dtype):
    Xn = np.array(X[:6], dtype=dtype)
    Xn[1, 0] = np.nan
    Xn[3, :] = np.nan
    Xn[5, -1] = np.nan
    return Xn


@pytest.mark.parametrize("name", ["logreg_iris", "ridge_multi", "ridge_single", "sgd_binary", "mlp_iris", "mlp_reg",
                                  "pipe_clip"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
def test_nan_input_is_refused_like_sklearn(mlinfer, models, name, dtype):
    """A linear model or MLP cannot take a missing value: scikit-learn raises, and its
    arithmetic (assume_finite) would give such a row class 0 -- a silent wrong answer. Ours
    raises InputError naming the first bad row and its column, for every method."""
    est, path, X = models[name]
    m = mlinfer.load(path)
    Xn = _nan_rows(X, dtype)
    with pytest.raises(ValueError):
        est.predict(Xn)  # scikit-learn refuses NaN input
    ok = ~np.isnan(Xn).any(axis=1)
    for meth in _methods(est):
        with pytest.raises(mlinfer.InputError, match=r"row 1, column 0\b.*missing value \(NaN\)"):
            getattr(m, meth)(Xn)
        # the rows without NaN still predict like scikit-learn
        ref = getattr(est, meth)(Xn[ok])
        ours = getattr(m, meth)(Xn[ok])
        if meth == "predict" and hasattr(est, "classes_"):
            np.testing.assert_array_equal(ours, ref)
        else:
            np.testing.assert_allclose(ours, ref, rtol=1e-4, atol=1e-5)
    # one row alone, and NaN deep in a big batch (the threaded path): the first bad row is named
    with pytest.raises(mlinfer.InputError, match=r"row 0, column 0\b"):
        m.predict(Xn[1:2])
    big = np.repeat(np.asarray(X[:1], dtype=dtype), 5000, axis=0)
    big[3777, -1] = np.nan
    big[4999, 0] = np.nan
    with pytest.raises(mlinfer.InputError, match=rf"row 3777, column {big.shape[1] - 1}\b"):
        m.predict(big)


def test_inf_input_is_refused_like_sklearn(mlinfer, models):
    est, path, X = models["ridge_single"]
    m = mlinfer.load(path)
    Xi = np.array(X[:3])
    Xi[2, 1] = -np.inf
    with pytest.raises(ValueError):
        est.predict(Xi)
    with pytest.raises(mlinfer.InputError, match=r"row 2, column 1\b.*infinite value"):
        m.predict(Xi)


def test_complex_input_is_refused_like_sklearn(mlinfer, models):
    """NumPy's cast drops an imaginary part with only a ComplexWarning: a silent wrong score."""
    est, path, X = models["ridge_single"]
    m = mlinfer.load(path)
    Xc = X[:3].astype(np.complex128) + 1j
    with pytest.raises(ValueError, match="[Cc]omplex"):
        est.predict(Xc)
    with pytest.raises(ValueError, match="complex"):
        m.predict(Xc)


def test_dates_and_durations_are_refused_like_sklearn(mlinfer, models):
    """A datetime64 / timedelta64 array or DataFrame column cast to float64 gives nanoseconds,
    silently: scikit-learn refuses them, and so does mlinfer, naming the column."""
    pd = pytest.importorskip("pandas")
    est, path, X = models["ridge_single"]
    m = mlinfer.load(path)
    frame = pd.DataFrame(X[:4], columns=[f"x{i}" for i in range(X.shape[1])])
    for bad, where in ((frame.assign(x2=pd.Timestamp("2020-01-01")), "x2"),
                       (frame.assign(x5=pd.Timedelta(3, "D")), "x5"),
                       (np.full((2, X.shape[1]), np.datetime64("2020-01-01", "D")), "datetime64")):
        with pytest.raises((TypeError, ValueError)):
            est.predict(bad)
        with pytest.raises(ValueError, match=where):
            m.predict(bad)


# ---- errors carry the C message ---------------------------------------------------------

def test_missing_file(mlinfer, tmp_path):
    p = tmp_path / "does_not_exist.mli"
    with pytest.raises(mlinfer.IOError) as exc:
        mlinfer.load(p)
    assert isinstance(exc.value, OSError) and isinstance(exc.value, mlinfer.Error)
    assert exc.value.status == 4
    assert "does_not_exist.mli" in str(exc.value)


def test_directory_is_not_a_model(mlinfer, tmp_path):
    with pytest.raises(mlinfer.IOError, match="directory"):
        mlinfer.load(tmp_path)


def test_not_a_model_file(mlinfer, tmp_path):
    p = tmp_path / "text.mli"
    p.write_text("hello, this is not a model\n" * 10)
    with pytest.raises(mlinfer.CorruptModelError) as exc:
        mlinfer.load(p)
    assert "magic" in str(exc.value).lower()
    with pytest.raises(mlinfer.CorruptModelError):
        mlinfer.load(b"")


def test_corrupt_payload(mlinfer, models, tmp_path):
    data = bytearray(models["logreg_iris"][1].read_bytes())
    table = data[64:64 + 64 * struct.unpack_from("<I", data, 16)[0]]
    name, _, _, _, _, off, stored, _ = struct.unpack_from("<32sBBHIQQQ", table, 64)  # the second section
    data[off + stored // 2] ^= 0x10
    p = tmp_path / "flipped.mli"
    p.write_bytes(bytes(data))
    with pytest.raises(mlinfer.CorruptModelError) as exc:
        mlinfer.load(p)
    msg = str(exc.value)
    assert exc.value.status == 5
    assert name.rstrip(b"\0").decode() in msg and "crc" in msg.lower(), msg


def test_corrupt_header(mlinfer, models):
    data = bytearray(models["logreg_iris"][1].read_bytes())
    data[20] ^= 1  # a reserved header byte: caught by the header CRC
    with pytest.raises(mlinfer.CorruptModelError, match="(?i)crc|header"):
        mlinfer.load(bytes(data))


def test_truncated_file(mlinfer, models, tmp_path):
    data = models["logreg_iris"][1].read_bytes()
    p = tmp_path / "truncated.mli"
    p.write_bytes(data[: len(data) - 10])
    with pytest.raises(mlinfer.CorruptModelError) as exc:
        mlinfer.load(p)
    assert str(len(data)) in str(exc.value) or "size" in str(exc.value).lower(), str(exc.value)


def test_every_truncation_and_byte_flip(mlinfer, models):
    """Every prefix and every single-byte flip is refused with a message: payloads are
    CRC-checked, and the reader also requires the NUL padding of section names, the
    reserved header fields and the padding between payloads to be zero."""
    est, path, X = models["sgd_binary"]
    data = path.read_bytes()
    for n in range(len(data)):
        with pytest.raises(mlinfer.Error):
            mlinfer.load(data[:n])
    for i in range(len(data)):
        bad = bytearray(data)
        bad[i] ^= 0xA5
        with pytest.raises(mlinfer.Error) as exc:
            mlinfer.load(bytes(bad))
        assert str(exc.value), f"flip at {i}: empty message"


def test_newer_major_version(mlinfer, models):
    data = bytearray(models["logreg_iris"][1].read_bytes())
    struct.pack_into("<H", data, 8, 2)
    struct.pack_into("<I", data, 60, zlib.crc32(bytes(data[:60])) & 0xFFFFFFFF)
    with pytest.raises(mlinfer.VersionError) as exc:
        mlinfer.load(bytes(data))
    assert "2" in str(exc.value) and "1" in str(exc.value)


def test_no_proba_no_decision(mlinfer, models):
    m = mlinfer.load(models["sgd_binary"][1])  # hinge loss: no predict_proba, as in scikit-learn
    with pytest.raises(AttributeError):
        m.predict_proba(np.ones((1, 7)))
    m = mlinfer.load(models["mlp_iris"][1])
    with pytest.raises(AttributeError):
        m.decision_function(np.ones((1, 4)))
    m = mlinfer.load(models["ridge_single"][1])
    with pytest.raises(AttributeError):
        m.predict_proba(np.ones((1, 6)))


# ---- mlinfer.ops against numpy -----------------------------------------------------------

@pytest.mark.parametrize("m,n,k,alpha", [(1, 1, 1, 1.0), (3, 5, 7, 1.0), (17, 33, 65, 2.5), (64, 64, 64, -1.0),
                                         (129, 257, 300, 0.5), (1, 200, 513, 1.0), (0, 4, 3, 1.0), (4, 0, 3, 1.0),
                                         (4, 3, 0, 1.0)],
                         ids=lambda v: str(v))
def test_ops_sgemm(mlinfer, m, n, k, alpha):
    rng = np.random.default_rng(m * 1000 + n * 10 + k)
    a = rng.standard_normal((m, k)).astype(np.float32)
    b = rng.standard_normal((k, n)).astype(np.float32)
    c = mlinfer.ops.sgemm(a, b, alpha=alpha)
    assert c.shape == (m, n) and c.dtype == np.float32
    ref = alpha * (a.astype(np.float64) @ b.astype(np.float64))
    # header: |C - C_exact| <= 1e-5 * |alpha| * sum_p |A_ip| |B_pj|
    bound = 1e-5 * abs(alpha) * (np.abs(a).astype(np.float64) @ np.abs(b).astype(np.float64)) + 1e-30
    assert (np.abs(c - ref) <= bound).all(), np.max(np.abs(c - ref) / bound)


def test_ops_sgemm_shape_mismatch(mlinfer):
    with pytest.raises(ValueError, match="align"):
        mlinfer.ops.sgemm(np.ones((2, 3)), np.ones((4, 2)))


def _act_ref(name, x):
    from math import erf

    x = x.astype(np.float64)
    if name == "identity":
        return x
    if name == "relu":
        return np.maximum(x, 0)
    if name in ("sigmoid", "logistic"):
        with np.errstate(over="ignore"):
            return 1 / (1 + np.exp(-x))
    if name == "tanh":
        return np.tanh(x)
    if name == "gelu":
        return 0.5 * x * (1 + np.vectorize(erf)(x / np.sqrt(2)))
    if name == "gelu_tanh":
        return 0.5 * x * (1 + np.tanh(np.sqrt(2 / np.pi) * (x + 0.044715 * x ** 3)))
    raise KeyError(name)


@pytest.mark.parametrize("act", ["identity", "relu", "sigmoid", "logistic", "tanh", "gelu", "gelu_tanh"])
def test_ops_activate(mlinfer, act):
    rng = np.random.default_rng(7)
    x = np.concatenate([rng.standard_normal(3001) * 4, np.linspace(-30, 30, 1001), [0.0, -0.0, 1e-30, -1e-30, 88.0,
                                                                                  -88.0, 1e30, -1e30]]).astype(np.float32)
    y = mlinfer.ops.activate(x, act)
    assert y.shape == x.shape and y.dtype == np.float32
    with np.errstate(over="ignore", invalid="ignore"):
        ref = _act_ref(act, x)
    err = np.abs(y - ref)
    if act in ("identity", "relu"):
        np.testing.assert_array_equal(y, ref.astype(np.float32))
    elif act in ("sigmoid", "logistic", "tanh"):
        assert err.max() <= 1e-6, err.max()
    else:
        finite = np.abs(x) < 1e6  # x^3 overflows float64-free reference only far out
        assert (err[finite] <= 2e-6 * np.maximum(1, np.abs(ref[finite]))).all(), err[finite].max()
    # special values (header): NaN -> NaN, +-Inf -> the limits
    sp = mlinfer.ops.activate(np.array([np.nan, np.inf, -np.inf], dtype=np.float32), act)
    assert np.isnan(sp[0])
    expect = {"identity": (np.inf, -np.inf), "relu": (np.inf, 0.0), "sigmoid": (1.0, 0.0), "logistic": (1.0, 0.0),
              "tanh": (1.0, -1.0), "gelu": (np.inf, 0.0), "gelu_tanh": (np.inf, 0.0)}[act]
    np.testing.assert_array_equal(sp[1:], np.array(expect, dtype=np.float32))
    # 2-D input keeps its shape
    x2 = x[:3000].reshape(30, 100)
    np.testing.assert_array_equal(mlinfer.ops.activate(x2, act), y[:3000].reshape(30, 100))


def test_ops_activate_unknown(mlinfer):
    with pytest.raises(ValueError, match="unknown activation"):
        mlinfer.ops.activate(np.ones(3), "swish")


@pytest.mark.parametrize("shape", [(1, 1), (1, 7), (13, 10), (100, 1000), (7,), (2, 3, 5), (5, 0), (0, 5)],
                         ids=lambda s: "x".join(map(str, s)))
def test_ops_softmax(mlinfer, shape):
    rng = np.random.default_rng(11)
    x = (rng.standard_normal(shape) * 10).astype(np.float32)
    y = mlinfer.ops.softmax(x)
    assert y.shape == x.shape and y.dtype == np.float32
    if x.size == 0:
        return
    x64 = x.astype(np.float64)
    e = np.exp(x64 - x64.max(axis=-1, keepdims=True))
    ref = e / e.sum(axis=-1, keepdims=True)
    assert (np.abs(y - ref) <= 1e-6 + 1e-5 * ref).all(), np.abs(y - ref).max()


def test_ops_softmax_special_rows(mlinfer):
    x = np.array([[1, np.nan, 2], [1, np.inf, 2], [-np.inf, -np.inf, -np.inf], [-np.inf, 0, 1], [1e30, 1e30, -1e30],
                  [-1e30, -1e30, -1e30]], dtype=np.float32)
    y = mlinfer.ops.softmax(x)
    assert np.isnan(y[:3]).all()
    np.testing.assert_allclose(y[3], [0, 1 / (1 + np.e), np.e / (1 + np.e)], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(y[4], [0.5, 0.5, 0], atol=1e-6)
    np.testing.assert_allclose(y[5], [1 / 3] * 3, rtol=1e-5)


# ---- threads --------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["mlp_iris", "logreg_iris", "pipe_clip"])
def test_one_model_many_threads(mlinfer, models, name):
    est, path, X = models[name]
    m = mlinfer.load(path)
    rng = np.random.default_rng(3)
    big = X[rng.integers(0, len(X), 5000)] + rng.standard_normal((5000, X.shape[1])) * 0.1
    jobs = []
    for i in range(64):  # a mix of single rows, small and large batches, both dtypes
        rows = [1, 7, 300, 5000][i % 4]
        start = (i * 37) % (len(big) - rows + 1)
        jobs.append(big[start:start + rows].astype(np.float32 if i % 3 == 0 else np.float64))
    methods = _methods(est)

    def work(xb):
        return [getattr(m, meth)(xb) for meth in methods]

    sequential = [work(xb) for xb in jobs]
    with concurrent.futures.ThreadPoolExecutor(max_workers=16) as pool:
        for _ in range(2):
            concurrent_results = list(pool.map(work, jobs))
            for seq, conc in zip(sequential, concurrent_results):
                for a, b in zip(seq, conc):
                    np.testing.assert_array_equal(a, b)


def test_wide_model_and_thread_count(mlinfer):
    """A model wider than the stack scratch (heap path for a block of rows), single rows
    and a batch with a partial last block, and the same results with 1 thread or many."""
    X, y = datasets.make_classification(200, 1200, n_informative=40, n_classes=3, n_clusters_per_class=1,
                                        random_state=0)
    est = _fit(nn.MLPClassifier((300,), max_iter=3, random_state=0), X, y)
    m = mlinfer.load(_to_bytes(est))
    for n in (1, 2, 64, 1000 + 37):
        Xe = X[np.arange(n) % len(X)]
        np.testing.assert_allclose(m.predict_proba(Xe), est.predict_proba(Xe), rtol=0, atol=1.1e-5)
        np.testing.assert_array_equal(m.predict(Xe), est.predict(Xe))
    Xe = np.random.default_rng(0).standard_normal((3001, 1200))
    before = mlinfer.get_num_threads()
    try:
        mlinfer.set_num_threads(1)
        one = m.predict_proba(Xe)
        mlinfer.set_num_threads(4)
        assert mlinfer.get_num_threads() == 4
        np.testing.assert_array_equal(m.predict_proba(Xe), one)
    finally:
        mlinfer.set_num_threads(0)
    assert mlinfer.get_num_threads() == before


def _to_bytes(est):
    from mlinfer.export import to_bytes

    return to_bytes(est)


def test_newer_minor_version_named_in_load_errors(mlinfer):
    """A file whose header says a newer minor version and that this library cannot build (here:
    a head it does not know) fails with its own error plus the versions: the reader to upgrade."""
    import struct
    import zlib

    from sklearn.linear_model import LogisticRegression

    from mlinfer._format import build, parse
    from mlinfer.export import to_bytes

    X = np.random.default_rng(5).normal(size=(40, 3))
    meta, arrays = parse(to_bytes(LogisticRegression().fit(X, X[:, 0] > 0)))
    bad = bytearray(build({**meta, "head": "future_head"}, arrays))
    with pytest.raises(mlinfer.Error, match="future_head") as plain:
        mlinfer.load(bytes(bad))
    assert "newer than" not in str(plain.value)
    bad[10:12] = struct.pack("<H", 99)  # minor 99, and the header's CRC over its first 60 bytes again
    bad[60:64] = struct.pack("<I", zlib.crc32(bytes(bad[:60])))
    with pytest.raises(mlinfer.Error, match=r"future_head.*\(the file is format 1\.99, newer than the 1\.\d+ this "
                                            r"libmlinfer reads: upgrade it\)"):
        mlinfer.load(bytes(bad))
