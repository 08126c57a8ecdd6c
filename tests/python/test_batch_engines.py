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


# -- models with named string columns (issue 18): pipelines over a DataFrame ---------------
# A ColumnTransformer pipeline with string columns, exported by mlinfer.export, takes its
# columns by name from Spark (an Arrow UDF), Ray (pyarrow / pandas / numpy batches) and Dask.
# Nulls (SQL null, None, NaN, pd.NA) in a string column are one missing value -- NaN in
# scikit-learn's terms -- so the reference is scikit-learn's predict on the frame with NaN.
# Tolerances: the LogisticRegression pipeline within 1e-5 relative (float32 linear arithmetic,
# the design contract); the forest pipeline's probabilities within 1e-12 (same leaves, float64
# averaging in another order) and its labels equal.
P_ROWS = 1200
P_NUM = ["age", "charges", "calls"]
P_STR = {"plan": ["basic", "pro", "max"], "region": [f"r{i}" for i in range(8)]}


def _prep_frames(n, seed):
    """(frame with NaN for every missing value, the same with None for half the missing strings,
    labels). The numeric columns have NaN; the string columns NaN and None."""
    rng = np.random.default_rng(seed)
    df = pd.DataFrame({"age": rng.normal(45, 12, n), "charges": rng.normal(70, 25, n),
                       "calls": rng.poisson(3, n).astype(float)})
    df.loc[rng.random(n) < 0.08, "age"] = np.nan
    df.loc[rng.random(n) < 0.05, "calls"] = np.nan
    for c, cats in P_STR.items():
        col = rng.choice(cats, n).astype(object)
        col[rng.random(n) < 0.07] = np.nan
        df[c] = col
    mixed = df.copy()
    for c in P_STR:
        na = np.flatnonzero(df[c].isna().to_numpy())
        mixed.loc[mixed.index[na[::2]], c] = None
        mixed[c] = mixed[c].astype(object)
    y = np.where((df["charges"].fillna(70) > 75) ^ (df["plan"] == "pro") | (df["region"] == "r3"), "churn", "stay")
    return df, mixed, y


@pytest.fixture(scope="module")
def prep(tmp_path_factory):
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler
    train, _, y = _prep_frames(3000, 1)
    d = tmp_path_factory.mktemp("prep")
    linear = make_pipeline(ColumnTransformer([
        ("num", make_pipeline(SimpleImputer(strategy="median"), StandardScaler()), P_NUM),
        ("cat", make_pipeline(SimpleImputer(strategy="constant", fill_value="missing"),
                              OneHotEncoder(handle_unknown="ignore")), list(P_STR))]),
        LogisticRegression(max_iter=500)).fit(train, y)
    strict = make_pipeline(ColumnTransformer([
        ("num", SimpleImputer(strategy="mean"), P_NUM),
        ("cat", make_pipeline(SimpleImputer(strategy="most_frequent"),
                              OneHotEncoder(handle_unknown="error")), list(P_STR))]),
        RandomForestClassifier(n_estimators=15, max_depth=6, random_state=0)).fit(train, y)
    mlinfer.export(linear, d / "linear.mli")
    mlinfer.export(strict, d / "strict.mli")
    ref, mixed, _ = _prep_frames(P_ROWS, 2)
    return {"linear": (str(d / "linear.mli"), linear), "strict": (str(d / "strict.mli"), strict),
            "ref": ref, "mixed": mixed}


def _check_linear(P, labels, est, ref):
    np.testing.assert_allclose(P, est.predict_proba(ref), rtol=1e-5, atol=1e-7)
    assert (np.asarray(labels) == est.predict(ref)).mean() > 0.999  # labels: p = 0.5 ties aside


def _check_strict(P, labels, est, ref):
    np.testing.assert_allclose(P, est.predict_proba(ref), rtol=0, atol=1e-12)
    np.testing.assert_array_equal(np.asarray(labels), est.predict(ref))


def _spark_rows(frame):
    """Rows with None for every missing value (SQL nulls), an id and an extra column."""
    rows = []
    for i, r in enumerate(frame.itertuples(index=False)):
        vals = [None if (v is None or (isinstance(v, float) and np.isnan(v))) else v for v in r]
        rows.append(tuple([i] + vals + [f"note{i % 5}"]))
    schema = "id long, " + ", ".join(f"{c} double" for c in P_NUM) + ", " + ", ".join(
        f"{c} string" for c in P_STR) + ", note string"
    return rows, schema


@pytest.fixture(scope="module")
def prep_sdf(spark, prep):
    rows, schema = _spark_rows(prep["ref"])
    return spark.createDataFrame(rows, schema).repartition(2)


def test_spark_string_columns_by_name(prep_sdf, prep):
    """Strings with nulls, numbers with nulls, columns in another order and an extra column:
    equal to scikit-learn's pipeline; udf(*df.columns), names in any order, a struct column."""
    import mlinfer.spark
    from pyspark.sql import functions as F
    path, est = prep["linear"]
    ref = prep["ref"]
    proba = mlinfer.spark.predict_udf(path, output="proba", batch_size=250)
    label = mlinfer.spark.predict_udf(path)
    assert label.returnType.typeName() == "string"
    cols = prep_sdf.columns
    out = prep_sdf.select("id", proba(*cols).alias("p"), label("region", "calls", "plan", "charges", "age")
                          .alias("y"), proba(F.struct(*reversed(cols))).alias("q")).toPandas().sort_values("id")
    assert (out["id"].to_numpy() == np.arange(P_ROWS)).all()
    P = np.stack(out["p"].to_numpy())
    _check_linear(P, out["y"].to_numpy(), est, ref)
    np.testing.assert_array_equal(np.stack(out["q"].to_numpy()), P)
    # the same numbers as mlinfer.load(path) on the rows with NaN for every missing value (the
    # engines' rule; Model.predict itself reads an Arrow string column's null as None)
    np.testing.assert_array_equal(P, mlinfer.load(path).predict_proba(ref))


def test_spark_string_columns_forest_and_pandas_fallback(prep_sdf, prep):
    """A forest behind a OneHotEncoder; and the pandas UDF used where Spark has no Arrow UDFs
    (before 4.1), forced here, gives the same answers."""
    import mlinfer.spark
    path, est = prep["strict"]
    cols = prep_sdf.columns
    for arrow in (True, False):
        proba = mlinfer.spark.predict_udf(path, output="proba", _arrow=arrow)
        label = mlinfer.spark.predict_udf(path, _arrow=arrow)
        out = prep_sdf.select("id", proba(*cols).alias("p"), label(*cols).alias("y")).toPandas().sort_values("id")
        _check_strict(np.stack(out["p"].to_numpy()), out["y"].to_numpy(), est, prep["ref"])


def test_spark_string_column_errors(spark, prep_sdf, prep):
    import mlinfer.spark
    from pyspark.sql import functions as F
    path = prep["strict"][0]
    udf = mlinfer.spark.predict_udf(path)
    with pytest.raises(ValueError, match=r"lacks column\(s\) \['region'\]"):  # on the driver
        udf("age", "charges", "calls", "plan")
    with pytest.raises(Exception, match=r"lacks column\(s\) \['region'\]"):  # Column objects: in the task
        prep_sdf.select(udf(F.col("age"), F.col("charges"), F.col("calls"), F.col("plan"))).collect()
    # an unseen category under handle_unknown="error": the column, the value and the row
    rows, schema = _spark_rows(prep["ref"].iloc[:40])
    r = list(rows[17])
    r[1 + len(P_NUM)] = "gold"
    rows[17] = tuple(r)
    bad = spark.createDataFrame(rows, schema).coalesce(1)
    with pytest.raises(Exception, match=r"column 'plan', row 17: unknown category 'gold'.*Spark partition 0"):
        bad.select(udf(*bad.columns)).collect()
    # a number where the model takes strings
    with pytest.raises(Exception, match="column 'plan' holds strings in this model"):
        bad.select(udf("age", "charges", "calls", F.col("age").alias("plan"), "region")).collect()


def test_spark_numeric_model_by_feature_name(sdf, data, named):
    """A numeric model that records its feature names takes columns named as a list of names in
    any order, with others; names it does not know are an error, as Model.predict."""
    import mlinfer.spark
    X = data[0]
    path, est = named
    udf = mlinfer.spark.predict_udf(path, output="proba")
    cols = ["id"] + [f"f{i}" for i in reversed(range(N_FEAT))]
    ids, P = _spark_scores(sdf.select("id", udf(*cols).alias("p")), "p")
    np.testing.assert_allclose(np.stack(P), est.predict_proba(_features(X)), rtol=1e-5, atol=1e-7)
    with pytest.raises(ValueError, match=r"missing: \['f5'\]"):
        udf(*[f"f{i}" for i in range(5)], "id")


def _prep_ray_frame(prep, frame):
    f = frame.copy()
    f.insert(2, "id", np.arange(len(f)))
    f["note"] = "x"
    return f


@pytest.mark.parametrize("fmt", ["pyarrow", "pandas", "numpy"])
def test_ray_string_columns_by_name(ray_rt, prep, fmt):
    """Every batch format, strings with None and NaN: equal to scikit-learn on the rows with NaN."""
    import mlinfer.ray
    path, est = prep["linear"]
    frame = _prep_ray_frame(prep, prep["mixed"])
    ds = ray_rt.data.from_pandas([frame.iloc[i::3] for i in range(3)])
    out = _ray_map(ray_rt, ds, mlinfer.ray.predictor_kwargs(path, output="proba", keep_columns=["id"]), fmt)
    out = out.sort_values("id")
    assert list(out.columns) == ["id", "proba"]
    P = np.stack(out["proba"].to_numpy())
    labels = _ray_map(ray_rt, ds, mlinfer.ray.predictor_kwargs(path), fmt).sort_values("id")["prediction"]
    _check_linear(P, labels.to_numpy(), est, prep["ref"])


def test_ray_string_columns_in_process(prep):
    """The Predictor on each batch format in this process: the forest pipeline, errors naming
    the column (and the row)."""
    import pyarrow as pa
    import mlinfer.ray
    path, est = prep["strict"]
    frame = _prep_ray_frame(prep, prep["mixed"])
    pred = mlinfer.ray.Predictor(path, output="proba")
    batches = {"pandas": frame, "pyarrow": pa.Table.from_pandas(frame, preserve_index=False),
               "numpy": {c: frame[c].to_numpy() for c in frame.columns}}
    for fmt, batch in batches.items():
        P = pred(batch)["proba"]
        P = np.stack(P.to_numpy(zero_copy_only=False) if fmt == "pyarrow" else P)
        _check_strict(P, est.predict(prep["ref"]), est, prep["ref"])
    bad = frame.iloc[:30].copy()
    bad.loc[bad.index[11], "region"] = "r99"
    with pytest.raises(ValueError, match=r"column 'region', row 11: unknown category 'r99'.*Ray batch"):
        pred(bad)
    with pytest.raises(ValueError, match=r"lacks column\(s\) \['plan'\]"):
        pred(frame.drop(columns=["plan"]))
    with pytest.raises(ValueError, match=r"lacks column\(s\) \['calls'\]"):
        mlinfer.ray.predictor_kwargs(path, feature_columns=["age", "charges", "plan", "region"])
    bad = frame.iloc[:30].copy()
    bad["age"] = bad["age"].astype(object)
    bad.loc[bad.index[4], "age"] = "old"
    with pytest.raises(ValueError, match=r"column 'age', row 4: 'old' is not a number"):
        pred(bad)
    bad = frame.iloc[:30].copy()
    bad.loc[bad.index[6], "plan"] = 5
    with pytest.raises(ValueError, match=r"column 'plan', row 6: 5 is not a string"):
        pred(bad)


def test_dask_string_columns_by_name(dd, prep):
    """Object columns with None and NaN, and the same as pandas' string dtype: equal to
    scikit-learn; an unseen category names the column, the row and its index label."""
    import dask
    import mlinfer.dask
    path, est = prep["linear"]
    frame = _prep_ray_frame(prep, prep["mixed"])
    frame = frame[frame.columns[::-1]]  # another order, with extra columns
    for convert in (False, True):
        with dask.config.set({"dataframe.convert-string": convert}):
            ddf = dd.from_pandas(frame, npartitions=3)
            P = mlinfer.dask.predict(ddf, path, output="proba").compute()
            y = mlinfer.dask.predict(ddf, path).compute()
        assert list(P.columns) == ["proba_churn", "proba_stay"]
        _check_linear(P.to_numpy(), y.to_numpy(), est, prep["ref"])
    spath, strict = prep["strict"]
    P = mlinfer.dask.predict(dd.from_pandas(frame, npartitions=2), spath, output="proba").compute()
    _check_strict(P.to_numpy(), strict.predict(prep["ref"]), strict, prep["ref"])
    bad = frame.set_index("id")
    bad.loc[700, "plan"] = "gold"  # partition 1 of 2 starts at 600 (index labels 0..1199)
    with pytest.raises(ValueError, match=r"column 'plan', row 100: unknown category 'gold'.*Dask partition "
                                         r"\(1\); index label 700"):
        mlinfer.dask.predict(dd.from_pandas(bad, npartitions=2), spath).compute()
    with pytest.raises(ValueError, match=r"lacks column\(s\) \['region'\]"):  # on the client
        mlinfer.dask.predict(dd.from_pandas(frame.drop(columns=["region"]), npartitions=2), spath)


def test_unnamed_string_model_takes_columns_in_order(prep, tmp_path):
    """A pipeline fitted on a NumPy object array records no names: Ray and Dask hand it the
    feature columns by position (Arrow nulls and None as NaN), in-process here."""
    import pyarrow as pa
    import mlinfer.ray
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder
    train, _, y = _prep_frames(2000, 3)
    cols = P_NUM + list(P_STR)
    est = make_pipeline(ColumnTransformer([
        ("num", SimpleImputer(strategy="median"), [0, 1, 2]),
        ("cat", make_pipeline(SimpleImputer(strategy="constant", fill_value="missing"),
                              OneHotEncoder(handle_unknown="ignore")), [3, 4])]),
        LogisticRegression(max_iter=500)).fit(train[cols].to_numpy(object), y)
    path = tmp_path / "unnamed.mli"
    mlinfer.export(est, path)
    assert mlinfer.load(path).feature_names_in_ is None
    ref = prep["ref"][cols].to_numpy(object)
    want = est.predict_proba(ref)
    mixed = prep["mixed"][cols].rename(columns=lambda c: "x_" + c)  # names that mean nothing to the model
    pred = mlinfer.ray.Predictor(str(path), output="proba", feature_columns=list(mixed.columns))
    for batch in (mixed.assign(id=1), pa.Table.from_pandas(mixed.assign(id=1), preserve_index=False)):
        P = pred(batch)["proba"]
        P = np.stack(P.to_numpy(zero_copy_only=False) if isinstance(P, pa.ChunkedArray) else P)
        np.testing.assert_allclose(P, want, rtol=1e-5, atol=1e-7)
    with pytest.raises(ValueError, match="4 feature columns given, but the model expects 5"):
        mlinfer.ray.Predictor(str(path), feature_columns=list(mixed.columns)[:4])(mixed)
