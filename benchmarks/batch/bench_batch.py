"""Batch scoring benchmark: Parquet -> scores -> Parquet on Spark local[2] and a local Ray,
mlinfer against the common pattern, in one run on the same data (benchmarks/batch/README.md).

    python benchmarks/batch/bench_batch.py                    # 10 million rows x 50 features
    python benchmarks/batch/bench_batch.py --rows 1000000 --reps 3 --json out.json

Models (regressors on the examples/batch data, trained on its first rows):
  xgboost       XGBoost 500 trees depth 8 (hist), saved as XGBoost JSON
  randomforest  scikit-learn RandomForestRegressor 100 trees max_depth 10, joblib and .mli

Contenders (every one writes "id" and "score" to Parquet, and is checked):
  spark/mlinfer   mlinfer.spark.predict_udf(model)(*features)
  spark/common    an iterator pandas UDF that builds an xgboost.Booster / joblib.loads the
                  forest once per Python worker and calls inplace_predict / predict on
                  each Arrow batch (nthread 1 = spark.task.cpus; the forest's n_jobs 1)
  ray/mlinfer     map_batches(mlinfer.ray.Predictor, 2 actors of half a CPU, batch_format="numpy")
  ray/common      map_batches(a class calling Booster.inplace_predict / forest.predict, ...)
  local/mlinfer   one process: pyarrow reads each file, Model.predict (2 threads), pyarrow
                  writes -- the same work with no engine: the overhead reference
  local/common    the same loop with the framework's predictor (2 threads)
  spark|ray/floor the engine alone: the same job with a UDF / actor that returns zeros
  memory/*        predict alone on 500 000 rows already in memory (2 threads)

rows/s = rows / wall time of the whole job (read, score, write), session start excluded,
median over --reps runs, contenders interleaved run by run.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(REPO, "examples", "batch"))
import score_parquet as ex  # noqa: E402  (the example's data, model and session helpers)

RF_TRAIN_ROWS = 100_000


def train_forest(data: str, cache: str):
    import joblib
    path = os.path.join(cache, "forest.joblib")
    if not os.path.exists(path):
        from sklearn.ensemble import RandomForestRegressor
        _, X = ex.read_rows(data, RF_TRAIN_ROWS)
        X = np.nan_to_num(X)  # trained without NaN; at predict, NaN rows go where scikit-learn sends them
        rf = RandomForestRegressor(n_estimators=100, max_depth=10, random_state=0, n_jobs=-1)
        rf.fit(X, ex.target(X))
        joblib.dump(rf, path)
    mli = os.path.join(cache, "forest.mli")
    if not os.path.exists(mli):
        import mlinfer
        mlinfer.export(joblib.load(path), mli)
    return path, mli


# -- the common patterns -------------------------------------------------------------------
def _peer_predict(kind: str, blob: bytes, threads: int):
    """A predict(X) for the framework model in `blob` (XGBoost JSON bytes / joblib bytes)."""
    if kind == "xgboost":
        import xgboost as xgb
        booster = xgb.Booster(params={"nthread": threads})
        booster.load_model(bytearray(blob))
        return booster.inplace_predict
    import io

    import joblib
    rf = joblib.load(io.BytesIO(blob))
    rf.n_jobs = threads
    return rf.predict


def spark_common_udf(spark, kind: str, path: str):
    """What users write today: an Arrow iterator pandas UDF, the model built once per worker."""
    from typing import Iterator, Tuple

    import pandas as pd
    from pyspark.sql.functions import pandas_udf
    with open(path, "rb") as fh:
        blob = spark.sparkContext.broadcast(fh.read())
    cache = {}

    def score(batches: Iterator[Tuple[pd.Series, ...]]) -> Iterator[pd.Series]:
        import pyspark
        models = pyspark.__dict__.setdefault("_bench_models", cache)  # survives between tasks
        predict = models.get(kind)
        if predict is None:
            predict = models[kind] = _peer_predict(kind, blob.value, 1)
        for cols in batches:
            X = pd.concat(cols, axis=1).to_numpy(dtype=np.float32)
            yield pd.Series(predict(X).astype(np.float64))
    score.__annotations__ = {"batches": Iterator[Tuple[(pd.Series,) * len(ex.FEATURES)]],
                             "return": Iterator[pd.Series]}
    return pandas_udf(score, "double")


def spark_floor_udf():
    """The engine's floor: an iterator pandas UDF over the same columns that returns zeros."""
    from typing import Iterator, Tuple

    import pandas as pd
    from pyspark.sql.functions import pandas_udf

    def zeros(batches: Iterator[Tuple[pd.Series, ...]]) -> Iterator[pd.Series]:
        for cols in batches:
            yield pd.Series(np.zeros(len(cols[0])))
    zeros.__annotations__ = {"batches": Iterator[Tuple[(pd.Series,) * len(ex.FEATURES)]],
                             "return": Iterator[pd.Series]}
    return pandas_udf(zeros, "double")


class RayFloor:
    """The engine's floor for Ray: the same batches in, zeros out."""

    def __init__(self, features):
        self.features = features

    def __call__(self, batch):
        X = np.column_stack([batch[c] for c in self.features])
        return {"id": batch["id"], "score": np.zeros(len(X))}


class RayCommon:
    """What users write today for Ray Data: a callable class holding the framework model."""

    def __init__(self, kind: str, blob, features):
        import ray
        self.predict = _peer_predict(kind, ray.get(blob) if isinstance(blob, ray.ObjectRef) else blob, 1)
        self.features = features

    def __call__(self, batch):
        X = np.column_stack([batch[c] for c in self.features]).astype(np.float32, copy=False)
        return {"id": batch["id"], "score": self.predict(X).astype(np.float64)}


# -- runs ----------------------------------------------------------------------------------
def run_spark(spark, kind, mli, peer, data, out, mode):
    if mode == "mlinfer":
        import mlinfer.spark
        udf = mlinfer.spark.predict_udf(mli)
    elif mode == "floor":
        udf = spark_floor_udf()
    else:
        udf = spark_common_udf(spark, kind, peer)
    t = time.perf_counter()
    spark.read.parquet(data).select("id", udf(*ex.FEATURES).alias("score")).write.mode("overwrite").parquet(out)
    return time.perf_counter() - t


def run_ray(ray, kind, mli, peer, data, out, mode):
    shutil.rmtree(out, ignore_errors=True)
    if mode == "mlinfer":
        import mlinfer.ray
        fn = mlinfer.ray.Predictor
        kwargs = mlinfer.ray.predictor_kwargs(mli, feature_columns=ex.FEATURES, keep_columns=["id"])
    elif mode == "floor":
        fn, kwargs = RayFloor, {"features": ex.FEATURES}
    else:
        with open(peer, "rb") as fh:
            fn, kwargs = RayCommon, {"kind": kind, "blob": ray.put(fh.read()), "features": ex.FEATURES}
    t = time.perf_counter()
    ds = ray.data.read_parquet(data).map_batches(fn, fn_constructor_kwargs=kwargs, batch_size=50_000,
                                                 batch_format="numpy", **ex.ray_actor_args(ray, 2))
    if mode == "mlinfer":
        ds = ds.rename_columns({"prediction": "score"})
    ds.write_parquet(out)
    return time.perf_counter() - t


def _predictor(kind, mli, peer, mode, threads):
    """predict(X) of mlinfer (the .mli) or of the framework (its own file), on `threads`."""
    if mode == "mlinfer":
        import mlinfer
        mlinfer.set_num_threads(threads)
        return mlinfer.load(mli).predict
    with open(peer, "rb") as fh:
        return _peer_predict(kind, fh.read(), threads)


def run_local(kind, mli, peer, data, out, mode, threads=2):
    import pyarrow as pa
    import pyarrow.dataset as pds
    import pyarrow.parquet as pq
    shutil.rmtree(out, ignore_errors=True)
    os.makedirs(out)
    predict = _predictor(kind, mli, peer, mode, threads)
    t = time.perf_counter()
    for k, frag in enumerate(pds.dataset(data, format="parquet").get_fragments()):
        table = frag.to_table(columns=["id"] + ex.FEATURES)
        X = np.column_stack([table.column(c).to_numpy() for c in ex.FEATURES])
        scores = np.asarray(predict(X), dtype=np.float64)
        pq.write_table(pa.table([table.column("id"), pa.array(scores)], names=["id", "score"]),
                       os.path.join(out, f"part-{k:05d}.parquet"))
    return time.perf_counter() - t


def run_memory(kind, mli, peer, X, mode, threads=2):
    predict = _predictor(kind, mli, peer, mode, threads)
    predict(X[:1000])
    times = []
    for _ in range(3):
        t = time.perf_counter()
        predict(X)
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def check(out, data, kind, mli, peer, sample=20_000) -> dict:
    """Scores of the first `sample` ids: equal to mlinfer's (mlinfer contenders) / within
    1e-5 of the framework's (all)."""
    import pyarrow.compute as pc
    import pyarrow.dataset as pds

    import mlinfer
    ids, X = ex.read_rows(data, sample)
    table = pds.dataset(out, format="parquet").to_table(filter=pc.field("id") <= int(ids.max()))
    got = dict(zip(table.column("id").to_numpy().tolist(), table.column("score").to_numpy().tolist()))
    scores = np.array([got[i] for i in ids.tolist()])
    with open(peer, "rb") as fh:
        ref = np.asarray(_peer_predict(kind, fh.read(), 2)(X), dtype=np.float64)
    mine = mlinfer.load(mli).predict(X)
    return {"equal_mlinfer": bool(np.array_equal(scores, mine)),
            "max_abs_diff_framework": float(np.max(np.abs(scores - ref)))}


def machine() -> dict:
    info = {"python": platform.python_version(), "cpus": os.cpu_count()}
    try:
        with open("/proc/cpuinfo") as fh:
            info["cpu"] = next(ln.split(":", 1)[1].strip() for ln in fh if ln.startswith("model name"))
    except (OSError, StopIteration):
        pass
    import importlib
    for mod in ("mlinfer", "pyspark", "ray", "xgboost", "sklearn", "pyarrow"):
        try:
            info[mod] = importlib.import_module(mod).__version__
        except Exception:
            pass
    return info


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=10_000_000)
    ap.add_argument("--reps", type=int, default=1)
    ap.add_argument("--work", default="/tmp/mlinfer-batch")
    ap.add_argument("--engines", default="local,spark,ray")
    ap.add_argument("--models", default="xgboost,randomforest")
    ap.add_argument("--json", default=os.path.join(REPO, "benchmarks", "results", "batch.json"))
    ap.add_argument("--report", action="store_true", help="only rewrite the .md from the --json results")
    args = ap.parse_args()
    if args.report:
        with open(args.json) as fh:
            text = report(json.load(fh))
        with open(args.json[:-5] + ".md", "w") as fh:
            fh.write(text)
        print(text)
        return
    ex.worker_env()
    data = os.path.join(args.work, f"data-{args.rows}")
    ex.make_dataset(data, args.rows)
    xgb_json = os.path.join(args.work, "model.json")
    ex.train_xgboost(data, xgb_json)
    rf_joblib, rf_mli = train_forest(data, args.work)
    models = {"xgboost": (xgb_json, xgb_json), "randomforest": (rf_mli, rf_joblib)}
    if args.rows < 10_000_000:
        print(f"note: {args.rows} rows; the issue's figures are at 10 000 000", file=sys.stderr)
    results = {"machine": machine(), "rows": args.rows, "features": ex.N_FEATURES, "reps": args.reps,
               "command": " ".join([os.path.basename(sys.executable)] + sys.argv), "models": {}}
    engines = args.engines.split(",")
    spark = ex.spark_session(progress=False) if "spark" in engines else None
    ray = ex.ray_init(progress=False) if "ray" in engines else None
    if spark is not None:  # JVM and Python-worker warm-up: one pass with a UDF over the data
        spark.read.parquet(data).select(spark_floor_udf()(*ex.FEATURES).alias("z")).selectExpr("sum(z)").collect()
    _, Xmem = ex.read_rows(data, 500_000)
    kinds = args.models.split(",")
    for kind in kinds:
        mli, peer = models[kind]
        rows = {}
        for mode in ("mlinfer", "common"):
            t = run_memory(kind, mli, peer, Xmem, mode)
            rows[f"memory/{mode}"] = {"seconds": [t], "rows": len(Xmem)}
        for rep in range(args.reps):
            for engine in engines:
                modes = ("mlinfer", "common") if rep % 2 == 0 else ("common", "mlinfer")
                if engine != "local" and kind == kinds[0]:
                    modes += ("floor",)  # the engine alone, once per rep
                for mode in modes:
                    out = os.path.join(args.work, f"out-{engine}-{mode}")
                    if engine == "spark":
                        t = run_spark(spark, kind, mli, peer, data, out, mode)
                    elif engine == "ray":
                        t = run_ray(ray, kind, mli, peer, data, out, mode)
                    else:
                        t = run_local(kind, mli, peer, data, out, mode)
                    r = rows.setdefault(f"{engine}/{mode}", {"seconds": [], "rows": args.rows})
                    r["seconds"].append(t)
                    print(f"{kind:12s} {engine}/{mode:8s} rep {rep}: {t:7.2f} s  {args.rows / t / 1e3:8.0f} k rows/s",
                          flush=True)
                    if rep == 0 and mode != "floor":
                        r["check"] = check(out, data, kind, mli, peer)
        for r in rows.values():
            r["median_s"] = statistics.median(r["seconds"])
            r["rows_per_s"] = r["rows"] / r["median_s"]
        results["models"][kind] = rows
    if spark is not None:
        spark.stop()
    os.makedirs(os.path.dirname(args.json), exist_ok=True)
    with open(args.json, "w") as fh:
        json.dump(results, fh, indent=1)
    md = args.json[:-5] + ".md" if args.json.endswith(".json") else args.json + ".md"
    with open(md, "w") as fh:
        fh.write(report(results))
    print(report(results))


def report(res: dict) -> str:
    lines = [f"# Batch scoring, {res['rows']:,} rows x {res['features']} features, Parquet -> Parquet", "",
             f"Machine: {res['machine'].get('cpu', '?')}, {res['machine'].get('cpus')} CPUs; "
             f"median of {res['reps']} run(s). Command: `{res['command']}`", "",
             "| model | engine | mlinfer rows/s | common pattern rows/s | ratio | mlinfer / local mlinfer | "
             "mlinfer / in-memory predict |", "|---|---|---|---|---|---|---|"]
    floors, checks = [], []
    for kind, rows in res["models"].items():
        local = rows.get("local/mlinfer", {}).get("rows_per_s")
        mem = rows.get("memory/mlinfer", {}).get("rows_per_s")
        for engine in ("spark", "ray", "local", "memory"):
            a, b = rows.get(f"{engine}/mlinfer"), rows.get(f"{engine}/common")
            if not a or not b:
                continue
            ra, rb = a["rows_per_s"], b["rows_per_s"]
            lines.append(f"| {kind} | {engine} | {ra / 1e3:,.0f} k | {rb / 1e3:,.0f} k | {ra / rb:.2f}x | "
                         f"{ra / local:.2f} | {ra / mem:.2f} |" if local and mem else
                         f"| {kind} | {engine} | {ra / 1e3:,.0f} k | {rb / 1e3:,.0f} k | {ra / rb:.2f}x | | |")
        for engine in ("spark", "ray"):
            f = rows.get(f"{engine}/floor")
            if f:
                floors.append(f"- {engine} alone (a UDF / actor returning zeros on the same columns): "
                              f"{f['rows_per_s'] / 1e3:,.0f} k rows/s")
        for name, r in rows.items():
            if "check" in r:
                c = r["check"]
                checks.append(f"- {kind} {name}: {'equal to' if c['equal_mlinfer'] else 'not bit-equal to'} "
                              f"mlinfer.load().predict; max |diff| to the framework's predictor "
                              f"{c['max_abs_diff_framework']:.3g}")
    if floors:
        lines += ["", "The engines' own floor, Parquet to Parquet with no model:"] + floors
    if checks:
        lines += ["", "Checks on the first 20 000 written scores:"] + checks
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
