"""The CUDA backend from Python (mlinfer.cuda, docs/CUDA.md).

Everywhere: mlinfer.cuda_available() answers, device strings parse, device="auto" falls
back to the CPU, and without a usable GPU device="cuda:0" raises mlinfer.DeviceError
(mlinfer.UnsupportedError for a library built without CUDA) with the C library's reason.

With a GPU: scikit-learn, XGBoost and LightGBM models loaded with device="cuda:0" and
every batch sent to the GPU (min_rows = 0) predict as the framework does (1e-5 relative,
as on the CPU) and as the CPU path does (tree ensembles bit for bit: the same leaves and
float64 sums; linear and MLP models within 1e-5, the float32 GEMMs round differently).
Without a GPU those tests skip with "no CUDA device".
"""
from __future__ import annotations

import numpy as np
import pytest

RTOL = 1e-5


@pytest.fixture(scope="module")
def cuda(mlinfer):
    import mlinfer.cuda as mod

    return mod


@pytest.fixture(scope="module")
def gpu(mlinfer, cuda):
    if not cuda.available():
        reason = "library built without CUDA" if not cuda.built() else "no CUDA device"
        pytest.skip(f"{reason}: the GPU checks need one (run tests/cuda/run_on_device.sh on a GPU machine)")
    return cuda


def data(n=3000, f=12, seed=0, nan=True, cats=False):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, f))
    if cats:
        X[:, 0] = rng.integers(0, 20, n)
        X[:, 1] = rng.integers(0, 5, n)
    if nan:
        X[rng.random((n, f)) < 0.05] = np.nan
    y = (np.nan_to_num(X[:, 2]) + 0.5 * np.nan_to_num(X[:, 3]) + (np.nan_to_num(X[:, 0]) % 3 if cats else 0)) > 0.2
    return X.astype(np.float32), y.astype(int)


def close(a, b, rtol=RTOL):
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    assert a.shape == b.shape
    err = np.abs(a - b)
    bound = rtol * np.maximum(1.0, np.abs(b))
    assert np.all(err <= bound), f"max error {err.max():.3g} (at {np.unravel_index(err.argmax(), err.shape)})"


# ---- everywhere -------------------------------------------------------------------------

def test_cuda_available_answers(mlinfer, cuda):
    avail = mlinfer.cuda_available()
    assert isinstance(avail, bool)
    assert avail == (cuda.device_count() > 0)
    assert len(cuda.devices()) == cuda.device_count()
    if not cuda.built():
        assert not avail


@pytest.mark.parametrize("device, want", [(None, None), ("cpu", None), ("CPU", None), ("cuda", 0), ("cuda:3", 3),
                                          (2, 2)])
def test_parse_device(cuda, device, want):
    assert cuda.parse_device(device) == want


@pytest.mark.parametrize("device", ["tpu", "cuda:x", "cuda:-1", -1])
def test_parse_device_rejects(cuda, device):
    with pytest.raises(ValueError):
        cuda.parse_device(device)


def test_auto_falls_back_to_cpu(mlinfer, cuda, model_dir):
    from sklearn.linear_model import LogisticRegression

    X, y = data(nan=False)
    path = model_dir / "cuda_auto_logreg.mli"
    mlinfer.export(LogisticRegression(max_iter=500).fit(X, y), path)
    m = mlinfer.load(path, device="auto")
    assert m.device == ("cuda:0" if cuda.available() else "cpu")
    cpu = mlinfer.load(path)
    assert cpu.device == "cpu" and cpu.cuda is None
    close(m.predict_proba(X), cpu.predict_proba(X))
    m.close()
    m.close()  # twice is harmless


def test_cuda_without_gpu_raises(mlinfer, cuda, model_dir):
    if cuda.available():
        pytest.skip("a CUDA device is present: the no-device error cannot be reached")
    from sklearn.tree import DecisionTreeClassifier

    X, y = data(nan=False)
    path = model_dir / "cuda_nodev_tree.mli"
    mlinfer.export(DecisionTreeClassifier(max_depth=4).fit(X, y), path)
    want = mlinfer.DeviceError if cuda.built() else mlinfer.UnsupportedError
    with pytest.raises(want) as err:
        mlinfer.load(path, device="cuda:0")
    assert "CUDA" in str(err.value)
    assert mlinfer.load(path).predict(X[:5]).shape == (5,)  # the CPU path is unaffected


# ---- on a GPU -----------------------------------------------------------------------------

def on_gpu(mlinfer, path):
    m = mlinfer.load(path, device="cuda:0")
    assert m.device == "cuda:0"
    m.cuda.min_rows = 0  # every batch on the GPU
    assert m.cuda.min_rows == 0
    return m, mlinfer.load(path)


def check_trees(gm, cm, X, exact_methods=("predict_raw", "predict", "predict_proba", "decision_function")):
    for method in exact_methods:
        if not hasattr(cm, method):
            continue
        try:
            want = getattr(cm, method)(X)
        except AttributeError:
            continue
        got = getattr(gm, method)(X)
        assert np.array_equal(got, want, equal_nan=True) if got.dtype.kind == "f" else np.array_equal(got, want), \
            f"{method}: the GPU differs from the CPU"
        got64 = getattr(gm, method)(X.astype(np.float64))
        want64 = getattr(cm, method)(X.astype(np.float64))
        assert np.array_equal(got64, want64, equal_nan=True) if got64.dtype.kind == "f" else \
            np.array_equal(got64, want64)


def test_sklearn_forest_and_boosting(mlinfer, gpu, model_dir):
    from sklearn.ensemble import GradientBoostingClassifier, HistGradientBoostingClassifier, RandomForestClassifier

    X, y = data(cats=True)
    Xc = np.nan_to_num(X)
    cases = [("rf", RandomForestClassifier(n_estimators=30, max_depth=8, random_state=0).fit(X, y), X),
             ("gb", GradientBoostingClassifier(n_estimators=40, max_depth=3, random_state=0).fit(Xc, y), Xc),
             ("hgb", HistGradientBoostingClassifier(max_iter=40, categorical_features=[0, 1],
                                                    random_state=0).fit(X, y), X)]
    for name, est, Xt in cases:
        path = model_dir / f"cuda_{name}.mli"
        mlinfer.export(est, path)
        gm, cm = on_gpu(mlinfer, path)
        close(gm.predict_proba(Xt), est.predict_proba(Xt))
        check_trees(gm, cm, Xt)


def test_xgboost(mlinfer, gpu, tmp_path):
    xgb = pytest.importorskip("xgboost")
    X, y = data(cats=True)
    dm = xgb.DMatrix(X, label=y, feature_types=["c", "c"] + ["q"] * (X.shape[1] - 2), enable_categorical=True)
    bst = xgb.train({"tree_method": "hist", "max_depth": 6, "max_cat_to_onehot": 1, "objective": "binary:logistic"},
                    dm, num_boost_round=60)
    path = tmp_path / "xgb.json"
    bst.save_model(path)
    gm, cm = on_gpu(mlinfer, path)
    close(gm.predict_raw(X), bst.predict(dm, output_margin=True))
    check_trees(gm, cm, X)


def test_lightgbm(mlinfer, gpu, tmp_path):
    lgb = pytest.importorskip("lightgbm")
    X, y = data(cats=True)
    for params in ({"zero_as_missing": True}, {"use_missing": False}, {}):
        est = lgb.LGBMClassifier(n_estimators=40, num_leaves=31, verbose=-1, **params)
        est.fit(X, y, categorical_feature=[0, 1])
        path = tmp_path / "lgb.txt"
        est.booster_.save_model(path)
        gm, cm = on_gpu(mlinfer, path)
        close(gm.predict_raw(X), est.booster_.predict(X, raw_score=True))
        check_trees(gm, cm, X)


def test_scalers_before_trees(mlinfer, gpu, tmp_path):
    """Format 1.3: scalers before a tree stage. The input kernel scales as the CPU does
    (kernels/affine_rules.h, float32 input rounded per operation, f32_params) into float64
    rows for the tree kernel: the GPU gives the CPU's leaves and sums bit for bit."""
    lgb = pytest.importorskip("lightgbm")
    from sklearn.ensemble import RandomForestRegressor
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import MinMaxScaler, StandardScaler

    X, y = data()
    X = X * 1e3 + 12345.678  # StandardScaler's float32 parameters then differ from its float64 ones
    cases = [make_pipeline(StandardScaler(), lgb.LGBMClassifier(n_estimators=40, num_leaves=31, verbose=-1)),
             make_pipeline(MinMaxScaler(clip=True), StandardScaler(), RandomForestRegressor(n_estimators=10,
                                                                                          random_state=0))]
    for i, est in enumerate(cases):
        est.fit(X, y)
        path = tmp_path / f"scaled_{i}.mli"
        mlinfer.export(est, path)
        gm, cm = on_gpu(mlinfer, path)
        check_trees(gm, cm, X.astype(np.float32))
        check_trees(gm, cm, X)
        np.testing.assert_array_equal(gm.apply(X.astype(np.float32)), cm.apply(X.astype(np.float32)))


def test_linear_and_mlp(mlinfer, gpu, model_dir):
    from sklearn.linear_model import LogisticRegression, Ridge
    from sklearn.neural_network import MLPClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X, y = data(nan=False)
    cases = [("logreg", make_pipeline(StandardScaler(), LogisticRegression(max_iter=500)).fit(X, y)),
             ("mlp", make_pipeline(StandardScaler(), MLPClassifier((64, 32), max_iter=300, random_state=0)).fit(X, y)),
             ("ridge", Ridge().fit(X, X[:, :3] @ np.array([1.0, -2.0, 0.5])))]
    for name, est in cases:
        path = model_dir / f"cuda_{name}.mli"
        mlinfer.export(est, path)
        gm, cm = on_gpu(mlinfer, path)
        if hasattr(est, "predict_proba"):
            close(gm.predict_proba(X), est.predict_proba(X))
            close(gm.predict_proba(X), cm.predict_proba(X))
            agree = np.mean(gm.predict(X) == est.predict(X))
            assert agree > 0.999, f"{name}: {agree:.4f} of the classes agree"
        else:
            close(gm.predict(X), est.predict(X))
            close(gm.predict(X), cm.predict(X))


def test_small_batches_stay_on_the_cpu(mlinfer, gpu, model_dir):
    from sklearn.neural_network import MLPRegressor

    X, _ = data(nan=False)
    path = model_dir / "cuda_small_mlp.mli"
    mlinfer.export(MLPRegressor((16,), max_iter=50, random_state=0).fit(X, X[:, 0]), path)
    m = mlinfer.load(path, device="cuda:0")
    assert m.cuda.min_rows == 4096 or m.cuda.min_rows >= 0  # default or $MLI_CUDA_MIN_ROWS
    m.cuda.min_rows = 100
    cpu = mlinfer.load(path)
    assert np.array_equal(m.predict(X[:99]), cpu.predict(X[:99]))  # the CPU path itself
    with pytest.raises(mlinfer.InvalidArgumentError):
        m.cuda.min_rows = -1
