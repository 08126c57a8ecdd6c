"""Score a Parquet table with an exported XGBoost model on Spark and on Ray, and write the
scores back to Parquet (docs/BATCH.md).

    python examples/batch/score_parquet.py                       # 10 million rows x 50 features
    python examples/batch/score_parquet.py --rows 200000 --engine ray

Steps (each skipped when its output already exists under --work):
  1. data/      a Parquet dataset, `--rows` rows of an int64 "id" and 50 float32 features,
                in files of 500 000 rows;
  2. model.json an XGBoost regressor (500 trees, depth 8) trained on the first 200 000 rows
                and saved in XGBoost's own JSON format -- the file mlinfer reads, no pickle;
  3. scores-spark/, scores-ray/: "id" and "score" per row, from Spark local[2] with
                mlinfer.spark.predict_udf and from a local Ray with mlinfer.ray.Predictor.
Then a sample of the written scores is checked against mlinfer.load(model).predict on the
same rows (they must be equal) and against XGBoost's own predictor (within 1e-5).

Needs: pip install mlinfer[spark,ray] xgboost (or this repository's bindings on PYTHONPATH
and MLINFER_LIBRARY pointing at libmlinfer.so), and a Java 17+ runtime for Spark.
"""
from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

N_FEATURES = 50
FILE_ROWS = 500_000
TRAIN_ROWS = 200_000
FEATURES = [f"f{i}" for i in range(N_FEATURES)]


def feature_block(rng, rows: int) -> np.ndarray:
    """rows x 50 float32 features: correlated Gaussians, a few heavy-tailed columns and
    about 1% missing values (NaN), like a real scoring table."""
    base = rng.standard_normal((rows, N_FEATURES), dtype=np.float32)
    base[:, 10:20] += 0.6 * base[:, :10]
    base[:, 40:] = np.exp(base[:, 40:])
    base[rng.random((rows, N_FEATURES)) < 0.01] = np.nan
    return base


def target(X: np.ndarray) -> np.ndarray:
    x = np.nan_to_num(X.astype(np.float64))
    return (2 * x[:, 0] + np.sin(3 * x[:, 1]) + x[:, 2] * x[:, 3] + np.log1p(x[:, 45]) +
            (x[:, 10] > 0.5) * x[:, 11] + 0.1 * x[:, 20:30].sum(axis=1))


def make_dataset(path: str, rows: int, seed: int = 2024) -> None:
    """`rows` rows in files of FILE_ROWS rows: id (int64) and f0..f49 (float32)."""
    import pyarrow as pa
    import pyarrow.parquet as pq
    if os.path.isdir(path) and os.listdir(path):
        return
    os.makedirs(path, exist_ok=True)
    rng = np.random.default_rng(seed)
    for k, start in enumerate(range(0, rows, FILE_ROWS)):
        n = min(FILE_ROWS, rows - start)
        X = feature_block(rng, n)
        cols = [pa.array(np.arange(start, start + n, dtype=np.int64))] + [pa.array(X[:, j]) for j in
                                                                           range(N_FEATURES)]
        pq.write_table(pa.table(cols, names=["id"] + FEATURES), os.path.join(path, f"part-{k:05d}.parquet"))


def read_rows(path: str, rows: int) -> tuple[np.ndarray, np.ndarray]:
    """The first `rows` rows of the dataset (ids, float32 features)."""
    import pyarrow.dataset as ds
    table = ds.dataset(path, format="parquet").head(rows, columns=["id"] + FEATURES)
    X = np.column_stack([table.column(c).to_numpy() for c in FEATURES]).astype(np.float32)
    return table.column("id").to_numpy(), X


def train_xgboost(data: str, out: str, n_estimators: int = 500, max_depth: int = 8) -> None:
    """An XGBoost regressor on the first TRAIN_ROWS rows, saved as XGBoost JSON."""
    if os.path.exists(out):
        return
    import xgboost as xgb
    _, X = read_rows(data, TRAIN_ROWS)
    model = xgb.XGBRegressor(n_estimators=n_estimators, max_depth=max_depth, learning_rate=0.1,
                             tree_method="hist", random_state=0)
    model.fit(X, target(X))
    model.save_model(out)


def worker_env() -> None:
    """Local Spark / Ray workers are new Python processes: let them import this mlinfer and
    find its libmlinfer (on a cluster, ship them as docs/BATCH.md shows)."""
    import mlinfer
    pkg_root = os.path.dirname(os.path.dirname(os.path.abspath(mlinfer.__file__)))
    path = os.environ.get("PYTHONPATH", "")
    os.environ["PYTHONPATH"] = pkg_root + (os.pathsep + path if path else "")
    os.environ.setdefault("MLINFER_LIBRARY", os.path.abspath(mlinfer._native.lib._name))
    os.environ["PYSPARK_PYTHON"] = sys.executable
    os.environ["PYSPARK_DRIVER_PYTHON"] = sys.executable


def spark_session(progress: bool = True):
    from pyspark.sql import SparkSession
    worker_env()
    spark = (SparkSession.builder.master("local[2]").appName("mlinfer-batch")
             .config("spark.driver.memory", "6g")
             .config("spark.ui.showConsoleProgress", "true" if progress else "false")
             .config("spark.sql.execution.arrow.pyspark.enabled", "true")
             .getOrCreate())
    spark.sparkContext.setLogLevel("ERROR")
    return spark


def score_spark(spark, data: str, out: str, model: str) -> int:
    """Parquet -> mlinfer.spark.predict_udf -> Parquet; returns the rows written."""
    import mlinfer.spark
    udf = mlinfer.spark.predict_udf(model)  # loads and checks the model here, on the driver
    df = spark.read.parquet(data)
    df.select("id", udf(*FEATURES).alias("score")).write.mode("overwrite").parquet(out)
    return spark.read.parquet(out).count()


def ray_init(progress: bool = True):
    import ray
    worker_env()
    if not ray.is_initialized():
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    ray.data.DataContext.get_current().enable_progress_bars = progress
    return ray


def ray_actor_args(ray, concurrency: int) -> dict:
    """`concurrency` scoring actors of half a CPU each: on this 2-CPU local Ray, actors of a
    whole CPU would hold every CPU and the Parquet read and write tasks could never be
    scheduled (the job hangs). On a cluster, give each actor the CPUs its library threads
    use (docs/BATCH.md)."""
    return {"compute": ray.data.ActorPoolStrategy(size=concurrency), "num_cpus": 0.5}


def score_ray(ray, data: str, out: str, model: str, concurrency: int = 2) -> int:
    """Parquet -> Dataset.map_batches(mlinfer.ray.Predictor) -> Parquet; returns the rows written."""
    import shutil

    import mlinfer.ray
    kwargs = mlinfer.ray.predictor_kwargs(model, feature_columns=FEATURES, keep_columns=["id"])
    shutil.rmtree(out, ignore_errors=True)
    ds = ray.data.read_parquet(data)
    ds = ds.map_batches(mlinfer.ray.Predictor, fn_constructor_kwargs=kwargs, batch_size=50_000,
                        batch_format="numpy", **ray_actor_args(ray, concurrency))
    ds.rename_columns({"prediction": "score"}).write_parquet(out)
    return ray.data.read_parquet(out).count()


def check_scores(out: str, data: str, model: str, sample: int = 20_000) -> str:
    """The written scores of the first `sample` ids against mlinfer and XGBoost on the same rows."""
    import pyarrow.compute as pc
    import pyarrow.dataset as ds

    import mlinfer
    ids, X = read_rows(data, sample)
    table = ds.dataset(out, format="parquet").to_table(filter=pc.field("id") < int(ids.max()) + 1)
    got = dict(zip(table.column("id").to_numpy().tolist(), table.column("score").to_numpy().tolist()))
    scores = np.array([got[i] for i in ids.tolist()])
    mine = mlinfer.load(model).predict(X)
    if not np.array_equal(scores, mine):
        raise SystemExit(f"{out}: scores differ from mlinfer.load(model).predict on the same rows")
    msg = f"{len(ids)} scores equal mlinfer.load().predict"
    try:
        import xgboost as xgb
        booster = xgb.Booster(model_file=model)
        diff = np.max(np.abs(scores - booster.inplace_predict(X)))
        if diff > 1e-5 * max(1.0, np.max(np.abs(scores))):
            raise SystemExit(f"{out}: scores differ from XGBoost's by {diff:.3g}")
        msg += f"; XGBoost's within {diff:.2g}"
    except ImportError:
        pass
    return msg


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=10_000_000)
    ap.add_argument("--engine", default="spark,ray", help="spark, ray or both (comma-separated)")
    ap.add_argument("--work", default="/tmp/mlinfer-batch", help="folder for the data, model and scores")
    ap.add_argument("--no-progress", action="store_true")
    args = ap.parse_args()
    data = os.path.join(args.work, f"data-{args.rows}")
    model = os.path.join(args.work, "model.json")
    t = time.perf_counter()
    make_dataset(data, args.rows)
    train_xgboost(data, model)
    print(f"data {data} and model {model} ready in {time.perf_counter() - t:.1f} s")
    for engine in args.engine.split(","):
        out = os.path.join(args.work, f"scores-{engine}")
        t = time.perf_counter()
        if engine == "spark":
            spark = spark_session(not args.no_progress)
            n = score_spark(spark, data, out, model)
            spark.stop()
        elif engine == "ray":
            n = score_ray(ray_init(not args.no_progress), data, out, model)
        else:
            raise SystemExit(f"unknown engine {engine!r}: spark or ray")
        dt = time.perf_counter() - t
        print(f"{engine}: {n} rows scored Parquet -> Parquet in {dt:.1f} s ({n / dt / 1e3:.0f} k rows/s) -> {out}")
        print(f"{engine}: {check_scores(out, data, model)}")


if __name__ == "__main__":
    main()
