"""mlinfer.spark.predict_udf and mlinfer.ray.Predictor on a local Spark (local[2]) and a
local Ray (issue 9). Scores must equal mlinfer.load(path) on the same rows exactly and
XGBoost's / scikit-learn's within 1e-5 (the design contract's tree tolerance). Skipped with
a message when pyspark + Java or ray is missing. One Spark session and one Ray runtime
per module; a few thousand rows, so scoring takes seconds."""
from __future__ import annotations

import importlib.util
import os
import shutil
import sys

import numpy as np
import pytest

mlinfer = pytest.importorskip("mlinfer")
xgb = pytest.importorskip("xgboost")
pd = pytest.importorskip("pandas")

N_ROWS, N_FEAT = 3000, 6
TOL = 1e-5


def _worker_env():
    """Spark / Ray worker processes must find the same mlinfer package and libmlinfer."""
    pkg_root = os.path.dirname(os.path.dirname(os.path.abspath(mlinfer.__file__)))
    path = os.environ.get("PYTHONPATH", "")
    env = {"PYTHONPATH": pkg_root + (os.pathsep + path if path else ""),
           "MLINFER_LIBRARY": os.path.abspath(mlinfer._native.lib._name)}
    os.environ.update(env)
    return env


# -- data and models ---------------------------------------------------------------------
@pytest.fixture(autouse=True)
def _library_threads():
    """An in-process Predictor sets the library's thread count; later tests get it back."""
    before = mlinfer.get_num_threads()
    yield
    if mlinfer.get_num_threads() != before:
        mlinfer.set_num_threads(0)


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(9)
    X = rng.normal(size=(N_ROWS, N_FEAT))
    y_bin = (X[:, 0] + 0.5 * X[:, 1] * X[:, 2] > 0).astype(np.int64)
    y_multi = np.digitize(X[:, 0] + X[:, 3], [-0.7, 0.7])  # 3 classes
    y_reg = X[:, 0] * 2 + np.sin(X[:, 1]) + 0.1 * rng.normal(size=N_ROWS)
    return X, y_bin, y_multi, y_reg


@pytest.fixture(scope="module")
def models(data, tmp_path_factory):
    X, y_bin, y_multi, y_reg = data
    d = tmp_path_factory.mktemp("batch_models")
    binary = xgb.XGBClassifier(n_estimators=30, max_depth=4, learning_rate=0.3).fit(X, y_bin)
    multi = xgb.XGBClassifier(n_estimators=20, max_depth=3).fit(X, y_multi)
    binary.save_model(d / "binary.json")
    multi.save_model(d / "multi.json")
    from sklearn.ensemble import RandomForestRegressor
    forest = RandomForestRegressor(n_estimators=15, max_depth=6, random_state=0).fit(X, y_reg)
    mlinfer.export(forest, d / "forest.mli")
    (d / "corrupt.mli").write_bytes(b"MLINFER\x00" + b"\x07" * 40)
    return {"binary": (str(d / "binary.json"), binary), "multi": (str(d / "multi.json"), multi),
            "forest": (str(d / "forest.mli"), forest), "corrupt": str(d / "corrupt.mli"),
            "missing": str(d / "no-such-model.mli")}


def _features(X):
    return pd.DataFrame(X, columns=[f"f{i}" for i in range(X.shape[1])])


# -- Spark ---------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def spark():
    if importlib.util.find_spec("pyspark") is None:
        pytest.skip("pyspark is not installed (pip install pyspark)")
    if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
        pytest.skip("no Java runtime for Spark (apt-get install default-jre-headless)")
    _worker_env()
    os.environ["PYSPARK_PYTHON"] = sys.executable
    os.environ["PYSPARK_DRIVER_PYTHON"] = sys.executable
    from pyspark.sql import SparkSession
    try:
        session = (SparkSession.builder.master("local[2]").appName("mlinfer-tests")
                   .config("spark.ui.enabled", "false").config("spark.sql.shuffle.partitions", "2")
                   .config("spark.sql.execution.arrow.maxRecordsPerBatch", "1000").getOrCreate())
    except Exception as exc:  # a broken JVM: skip, saying why
        pytest.skip(f"cannot start a local Spark session: {exc}")
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


@pytest.fixture(scope="module")
def sdf(spark, data):
    X = data[0]
    pdf = _features(X)
    pdf.insert(0, "id", np.arange(len(X)))
    return spark.createDataFrame(pdf).repartition(2)


def _spark_scores(df, column):
    pdf = df.toPandas().sort_values("id")
    return pdf["id"].to_numpy(), pdf[column].to_numpy()


def test_spark_columns_binary(sdf, data, models):
    import mlinfer.spark
    X = data[0]
    path, ref = models["binary"]
    cols = [f"f{i}" for i in range(N_FEAT)]
    proba_udf = mlinfer.spark.predict_udf(path, output="proba", batch_size=700)
    label_udf = mlinfer.spark.predict_udf(path)
    margin_udf = mlinfer.spark.predict_udf(path, output="margin")
    out = sdf.select("id", proba_udf(*cols).alias("p"), label_udf(*cols).alias("y"), margin_udf(*cols).alias("m"))
    pdf = out.toPandas().sort_values("id")
    assert (pdf["id"].to_numpy() == np.arange(N_ROWS)).all()
    P = np.stack(pdf["p"].to_numpy())
    model = mlinfer.load(path)
    np.testing.assert_array_equal(P, model.predict_proba(X))
    np.testing.assert_array_equal(pdf["y"].to_numpy(), model.predict(X))
    np.testing.assert_array_equal(pdf["m"].to_numpy(), model.predict_raw(X))
    np.testing.assert_allclose(P, ref.predict_proba(X), rtol=0, atol=TOL)
    assert (pdf["y"].to_numpy() == ref.predict(X)).mean() > 0.999  # labels: ties at p = 0.5 aside
    np.testing.assert_allclose(pdf["m"].to_numpy(), ref.predict(X, output_margin=True), rtol=0, atol=TOL)


def test_spark_threads_follow_task_cpus(sdf, models):
    """Each Python worker that scored sets the library to spark.task.cpus threads (1 here),
    never the machine's core count."""
    import mlinfer.spark
    udf = mlinfer.spark.predict_udf(models["binary"][0])
    sdf.select(udf(*[f"f{i}" for i in range(N_FEAT)])).collect()

    from typing import Iterator
    from pyspark.sql.functions import pandas_udf

    # a probe of the same kind (an Arrow iterator UDF), so it runs in the same reused workers
    def probe(batches):
        import mlinfer
        import mlinfer._batch
        for b in batches:
            yield pd.Series([len(mlinfer._batch._cache) * 1000 + mlinfer.get_num_threads()] * len(b))
    # real types, not the strings `from __future__ import annotations` would make
    probe.__annotations__ = {"batches": Iterator[pd.Series], "return": Iterator[pd.Series]}
    probe = pandas_udf(probe, "long")
    seen = [(v // 1000, v % 1000) for v in set(r[0] for r in sdf.select(probe("f0")).collect())]
    scored = [threads for cached, threads in seen if cached]
    assert scored, f"no worker kept its model between tasks: {seen}"
    assert all(t == 1 for t in scored), seen


def test_spark_array_column_multiclass(sdf, data, models):
    import mlinfer.spark
    from pyspark.sql.functions import array
    X = data[0]
    path, ref = models["multi"]
    udf = mlinfer.spark.predict_udf(mlinfer.load(path), output="proba")  # an already loaded model
    assert udf.n_features == N_FEAT
    ids, P = _spark_scores(sdf.withColumn("p", udf(array(*[f"f{i}" for i in range(N_FEAT)]))), "p")
    P = np.stack(P)
    assert P.shape == (N_ROWS, 3)
    np.testing.assert_array_equal(P, mlinfer.load(path).predict_proba(X))
    np.testing.assert_allclose(P, ref.predict_proba(X), rtol=0, atol=TOL)


def test_spark_sklearn_forest(sdf, data, models):
    import mlinfer.spark
    X = data[0]
    path, ref = models["forest"]
    udf = mlinfer.spark.predict_udf(path)
    ids, y = _spark_scores(sdf.withColumn("s", udf([f"f{i}" for i in range(N_FEAT)])), "s")
    np.testing.assert_array_equal(y.astype(np.float64), mlinfer.load(path).predict(X))
    np.testing.assert_allclose(y.astype(np.float64), ref.predict(X), rtol=1e-7, atol=TOL)


def test_spark_nulls_are_missing_values(spark, data, models):
    """A SQL null feature is scored as NaN, XGBoost's missing value."""
    import mlinfer.spark
    X = data[0][:200].copy()
    X[::7, 1] = np.nan
    X[::11, 4] = np.nan
    path, ref = models["binary"]
    rows = [tuple(None if np.isnan(v) else float(v) for v in r) for r in X]
    df = spark.createDataFrame(rows, [f"f{i}" for i in range(N_FEAT)]).coalesce(1)
    P = np.stack(df.select(mlinfer.spark.predict_udf(path, output="proba")(*df.columns).alias("p"))
                 .toPandas()["p"].to_numpy())
    np.testing.assert_array_equal(P, mlinfer.load(path).predict_proba(X))
    np.testing.assert_allclose(P, ref.predict_proba(X), rtol=0, atol=TOL)


def test_spark_bad_model_fails_on_driver(spark, models):
    import mlinfer.spark
    with pytest.raises(FileNotFoundError, match="no-such-model"):
        mlinfer.spark.predict_udf(models["missing"])
    with pytest.raises(mlinfer.Error):
        mlinfer.spark.predict_udf(models["corrupt"])
    with pytest.raises(ValueError, match="predict_proba"):
        mlinfer.spark.predict_udf(models["forest"][0], output="proba")
    with pytest.raises(ValueError, match="output must be"):
        mlinfer.spark.predict_udf(models["binary"][0], output="labels")


def test_spark_bad_columns(spark, sdf, models):
    import mlinfer.spark
    from pyspark.sql.functions import array, lit
    udf = mlinfer.spark.predict_udf(models["binary"][0])
    with pytest.raises(ValueError, match="5 feature columns given, but the model expects 6"):
        udf(*[f"f{i}" for i in range(5)])  # caught on the driver, before any job
    with pytest.raises(Exception, match="expects 6"):  # an array of the wrong length
        sdf.select(udf(array(*[f"f{i}" for i in range(5)]))).collect()
    with pytest.raises(Exception, match="not numeric"):
        sdf.select(udf("f0", "f1", "f2", "f3", "f4", lit("x"))).collect()
    with pytest.raises(Exception, match="one scalar feature column"):
        sdf.select(udf("f0")).collect()


# -- Ray -----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def ray_rt():
    if importlib.util.find_spec("ray") is None:
        pytest.skip("ray is not installed (pip install 'ray[data]')")
    import ray
    _worker_env()  # local workers inherit this environment
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    ctx = ray.data.DataContext.get_current()
    ctx.enable_progress_bars = False
    yield ray
    ray.shutdown()


def _ray_map(ray, ds, kwargs, fmt):
    import mlinfer.ray
    return ds.map_batches(mlinfer.ray.Predictor, fn_constructor_kwargs=kwargs, batch_format=fmt, batch_size=1000,
                          compute=ray.data.ActorPoolStrategy(size=2)).to_pandas()


@pytest.mark.parametrize("fmt", ["numpy", "pandas"])
def test_ray_columns_binary(ray_rt, data, models, fmt):
    import mlinfer.ray
    X = data[0]
    path, ref = models["binary"]
    pdf = _features(X)
    pdf["id"] = np.arange(N_ROWS)
    # four blocks, no upstream tasks (two actors hold both CPUs: a repartition could not run)
    ds = ray_rt.data.from_pandas([pdf.iloc[i::4] for i in range(4)])
    cols = [f"f{i}" for i in range(N_FEAT)]
    out = _ray_map(ray_rt, ds, mlinfer.ray.predictor_kwargs(path, output="proba", feature_columns=cols), fmt)
    out = out.sort_values("id")
    P = np.stack(out["proba"].to_numpy())
    np.testing.assert_array_equal(P, mlinfer.load(path).predict_proba(X))
    np.testing.assert_allclose(P, ref.predict_proba(X), rtol=0, atol=TOL)
    out = _ray_map(ray_rt, ds, mlinfer.ray.predictor_kwargs(path, feature_columns=cols), fmt).sort_values("id")
    np.testing.assert_array_equal(out["prediction"].to_numpy(), mlinfer.load(path).predict(X))


def test_ray_tensor_column_multiclass_and_forest(ray_rt, data, models):
    import mlinfer.ray
    X = data[0]
    path, ref = models["multi"]
    ds = ray_rt.data.from_numpy(X)  # one 2-D column, "data"; order kept by to_pandas on one block
    out = _ray_map(ray_rt, ds, mlinfer.ray.predictor_kwargs(path, output="proba"), "numpy")
    Xo = np.stack(out["data"].to_numpy())
    P = np.stack(out["proba"].to_numpy())
    assert P.shape == (N_ROWS, 3)
    np.testing.assert_array_equal(P, mlinfer.load(path).predict_proba(Xo))
    np.testing.assert_allclose(P, ref.predict_proba(Xo), rtol=0, atol=TOL)
    fpath, forest = models["forest"]
    # plain constructor kwargs (a path; each actor reads it) and keep_columns
    out = _ray_map(ray_rt, ds, {"model": fpath, "keep_columns": []}, "numpy")
    assert list(out.columns) == ["prediction"] and len(out) == N_ROWS
    out = _ray_map(ray_rt, ds, mlinfer.ray.predictor_kwargs(fpath), "numpy")
    Xo = np.stack(out["data"].to_numpy())
    np.testing.assert_array_equal(out["prediction"].to_numpy(), mlinfer.load(fpath).predict(Xo))
    np.testing.assert_allclose(out["prediction"].to_numpy(), forest.predict(Xo), rtol=1e-7, atol=TOL)


def test_ray_bad_input(ray_rt, data, models):
    import mlinfer.ray
    with pytest.raises(FileNotFoundError, match="no-such-model"):
        mlinfer.ray.predictor_kwargs(models["missing"])
    with pytest.raises(mlinfer.Error):
        mlinfer.ray.predictor_kwargs(models["corrupt"])
    with pytest.raises(ValueError, match="2 feature columns given, but the model expects 6"):
        mlinfer.ray.predictor_kwargs(models["binary"][0], feature_columns=["f0", "f1"])
    # in-process: the Predictor itself, on pandas and numpy batches
    X = data[0][:50].copy()
    X[::5, 2] = np.nan
    pred = mlinfer.ray.Predictor(models["binary"][0], output="proba")
    pdf = _features(X)
    np.testing.assert_array_equal(np.stack(pred(pdf)["proba"].to_numpy()),
                                  mlinfer.load(models["binary"][0]).predict_proba(X))  # NaN = missing
    pdf["f5"] = pdf["f5"].astype(str)
    with pytest.raises(ValueError, match="not numeric"):
        pred(pdf)
    with pytest.raises(ValueError, match="not in the batch"):
        mlinfer.ray.Predictor(models["binary"][0], feature_columns=[f"g{i}" for i in range(N_FEAT)])(
            {f"f{i}": X[:, i] for i in range(N_FEAT)})
    bad = ray_rt.data.from_pandas(pdf)
    with pytest.raises(Exception, match="not numeric"):
        _ray_map(ray_rt, bad, mlinfer.ray.predictor_kwargs(models["binary"][0]), "pandas")


@pytest.fixture(scope="module")
def named(data, tmp_path_factory):
    """A scikit-learn model fitted on a DataFrame: it records its feature names."""
    from sklearn.linear_model import LogisticRegression
    X, y_bin = data[0], data[1]
    est = LogisticRegression().fit(_features(X), y_bin)
    path = tmp_path_factory.mktemp("named") / "named.mli"
    mlinfer.export(est, path)
    return str(path), est


def test_ray_picks_columns_by_feature_name(ray_rt, data, named):
    import mlinfer.ray
    X = data[0][:200]
    path, est = named
    frame = _features(X)
    shuffled = frame[frame.columns[::-1]].assign(id=np.arange(len(X)))  # reordered, and an extra column
    pred = mlinfer.ray.Predictor(path, output="proba")
    np.testing.assert_allclose(np.stack(pred(shuffled)["proba"].to_numpy()), est.predict_proba(frame),
                               rtol=1e-5, atol=1e-6)
    out = pred({c: shuffled[c].to_numpy() for c in shuffled.columns})  # a numpy batch
    np.testing.assert_array_equal(out["proba"], np.stack(pred(shuffled)["proba"].to_numpy()))
    with pytest.raises(ValueError, match=r"not seen in training: \['mass'\]; missing: \['f2'\]"):
        pred(frame.rename(columns={"f2": "mass"}))


def test_import_needs_no_engine():
    """`import mlinfer` must not import pyspark, ray or dask."""
    import subprocess
    code = "import sys, mlinfer; print(*(m in sys.modules for m in ('pyspark', 'ray', 'dask')))"
    env = dict(os.environ, **_worker_env())
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60)
    assert res.stdout.split() == ["False", "False", "False"], res.stderr


# -- Dask ----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def dd():
    if importlib.util.find_spec("dask") is None or importlib.util.find_spec("dask.dataframe") is None:
        pytest.skip("dask is not installed (pip install 'dask[dataframe]')")
    import dask
    import dask.dataframe
    with dask.config.set(scheduler="threads", num_workers=2):
        yield dask.dataframe


def test_dask_proba_label_margin(dd, data, models):
    import mlinfer.dask
    X = data[0]
    path, ref = models["binary"]
    ddf = dd.from_pandas(_features(X), npartitions=3)
    model = mlinfer.load(path)
    P = mlinfer.dask.predict(ddf, path, output="proba").compute()
    assert list(P.columns) == ["proba_0", "proba_1"]
    np.testing.assert_array_equal(P.to_numpy(), model.predict_proba(X))
    np.testing.assert_allclose(P.to_numpy(), ref.predict_proba(X), rtol=0, atol=TOL)
    y = ddf.assign(prediction=mlinfer.dask.predict(ddf, path))["prediction"].compute()
    np.testing.assert_array_equal(y.to_numpy(), model.predict(X))
    m = mlinfer.dask.predict(ddf, path, output="margin", threads=1).compute()
    np.testing.assert_array_equal(m.to_numpy(), model.predict_raw(X))


def test_dask_picks_columns_by_feature_name(dd, data, named):
    import mlinfer.dask
    X = data[0]
    path, est = named
    frame = _features(X)
    shuffled = frame[frame.columns[::-1]]
    shuffled.insert(2, "id", np.arange(len(X)))
    P = mlinfer.dask.predict(dd.from_pandas(shuffled, npartitions=3), path, output="proba").compute()
    np.testing.assert_allclose(P.to_numpy(), est.predict_proba(frame), rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="missing"):
        mlinfer.dask.predict(dd.from_pandas(frame.rename(columns={"f0": "age"}), npartitions=2), path)


def test_dask_multiclass_forest_and_bad_input(dd, data, models):
    import mlinfer.dask
    X = data[0]
    frame = _features(X)
    frame.insert(0, "id", np.arange(len(X)))
    ddf = dd.from_pandas(frame, npartitions=4)
    cols = [f"f{i}" for i in range(N_FEAT)]
    path, ref = models["multi"]
    P = mlinfer.dask.predict(ddf, path, output="proba", feature_columns=cols).compute()
    assert P.shape == (N_ROWS, 3)
    np.testing.assert_allclose(P.to_numpy(), ref.predict_proba(X), rtol=0, atol=TOL)
    fpath, forest = models["forest"]
    y = mlinfer.dask.predict(ddf, mlinfer.load(fpath), feature_columns=cols).compute()
    np.testing.assert_array_equal(y.to_numpy(), mlinfer.load(fpath).predict(X))
    np.testing.assert_allclose(y.to_numpy(), forest.predict(X), rtol=1e-7, atol=TOL)
    with pytest.raises(ValueError, match="7 feature columns given, but the model expects 6"):
        mlinfer.dask.predict(ddf, fpath)  # "id" too
    with pytest.raises(ValueError, match="not in the DataFrame"):
        mlinfer.dask.predict(ddf, fpath, feature_columns=[f"g{i}" for i in range(N_FEAT)])
    with pytest.raises(FileNotFoundError, match="no-such-model"):
        mlinfer.dask.predict(ddf, models["missing"], feature_columns=cols)
    with pytest.raises(mlinfer.Error):
        mlinfer.dask.predict(ddf, models["corrupt"], feature_columns=cols)
    bad = frame.copy()
    bad["f3"] = bad["f3"].astype(str)
    with pytest.raises(ValueError, match="feature column f3 is not numeric"):
        mlinfer.dask.predict(dd.from_pandas(bad, npartitions=2), fpath, feature_columns=cols).compute()
