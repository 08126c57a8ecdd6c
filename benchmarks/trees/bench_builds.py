#!/usr/bin/env python3
"""Batch rows/s of tree models through the C API (bench_model_c, float32 rows, predict_proba)
for one or more builds of libmlinfer taking turns round by round, and oneDAL (daal4py) on
the XGBoost models in the same rounds, so that their ratios mean something on a noisy
machine (run it pinned to one CPU: `taskset -c 1`).

    python3 benchmarks/trees/bench_builds.py --bench build/benchmarks/bench_model_c \\
        --lib new=build --lib old=/tmp/libold --rounds 3 --out builds.json \\
        --churn-xgb /tmp/churn \\
        --model NAME=MODEL.mli,ROWS.f32,N_FEATURES[,XGBOOST.json] ...

Each --lib NAME=DIR runs bench_model_c with LD_LIBRARY_PATH=DIR (a directory holding
libmlinfer.so.0). --churn-xgb DIR fits the XGBoost model of the pipelines benchmark
(benchmarks/pipelines/bench_pipelines.py: 500 trees of depth 8 on the churn table's
ColumnTransformer output, 101 columns, 20 000 training rows) and adds it as model
"churn-xgb500" with 100 000 transformed rows.
"""
import argparse
import json
import os
import statistics
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_load import run_bench  # noqa: E402


def churn_xgb(d):
    """The pipelines benchmark's XGBoost model and rows, written to directory d."""
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "pipelines"))
    import bench_pipelines as bp
    import mlinfer

    os.makedirs(d, exist_ok=True)
    df, y = bp.churn(120_000, 0)
    p = bp.pipelines()["xgb500"]
    p.fit(df.iloc[:20_000], y[:20_000])
    X = np.ascontiguousarray(p[:-1].transform(df.iloc[20_000:]), dtype=np.float32)
    X.tofile(os.path.join(d, "churn_x.f32"))
    p[-1].get_booster().save_model(os.path.join(d, "churn_xgb.json"))
    mlinfer.export(p[-1], os.path.join(d, "churn_xgb.mli"))
    leaves = p[-1].get_booster().trees_to_dataframe().query("Feature == 'Leaf'").groupby("Tree").size()
    print(f"churn-xgb500: {X.shape[1]} columns; leaves per tree median {leaves.median():.0f}, "
          f"{(leaves > 64).sum()} trees over 64, max {leaves.max()}", flush=True)
    return (f"{d}/churn_xgb.mli", f"{d}/churn_x.f32", X.shape[1], f"{d}/churn_xgb.json")


def onedal_rate(xgb_json, rows, nfeat, reps):
    """oneDAL's predict_proba rows/s (median of reps) on the XGBoost model, one thread."""
    import daal4py as d4p
    import xgboost as xgb

    b = xgb.Booster()
    b.load_model(xgb_json)
    m = d4p.mb.convert_model(b)
    d4p.daalinit(1)
    X = np.fromfile(rows, dtype=np.float32).reshape(-1, nfeat)
    m.predict_proba(X[:1000])
    ts = []
    for _ in range(reps):
        t0 = time.perf_counter()
        m.predict_proba(X)
        ts.append(time.perf_counter() - t0)
    return len(X) / statistics.median(ts)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bench", required=True, help="bench_model_c")
    ap.add_argument("--lib", action="append", required=True, help="NAME=DIR with libmlinfer.so.0")
    ap.add_argument("--model", action="append", default=[], help="NAME=MODEL.mli,ROWS.f32,N_FEATURES[,XGB.json]")
    ap.add_argument("--churn-xgb", help="directory for the pipelines benchmark's XGBoost model")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--reps", type=int, default=3, help="batch repeats per run (bench_model_c's median)")
    ap.add_argument("--out", help="JSON results")
    a = ap.parse_args()
    libs = [tuple(x.split("=", 1)) for x in a.lib]
    models = {}
    for spec in a.model:
        name, rest = spec.split("=", 1)
        parts = rest.split(",")
        models[name] = (parts[0], parts[1], int(parts[2]), parts[3] if len(parts) > 3 else None)
    if a.churn_xgb:
        models["churn-xgb500"] = churn_xgb(a.churn_xgb)
    res = {m: {n: [] for n in [name for name, _ in libs] + (["onedal"] if models[m][3] else [])} for m in models}
    for r in range(a.rounds):
        for m, (mli, rows, nfeat, xj) in models.items():
            for name, d in libs:
                rate = run_bench(a.bench, d, f"{name} {m}", [mli, rows, str(nfeat), "1", "--output", "proba",
                                                             "--batch-reps", str(a.reps), "--dtype", "f32",
                                                             "--single-reps", "10"])["batch_rows_per_s_median"]
                res[m][name].append(rate)
                print(f"round {r + 1} {m} {name}: {rate / 1e3:.0f}k rows/s", flush=True)
            if xj:
                rate = onedal_rate(xj, rows, nfeat, a.reps)
                res[m]["onedal"].append(rate)
                print(f"round {r + 1} {m} onedal: {rate / 1e3:.0f}k rows/s", flush=True)
    summary = {m: {n: {"median_rows_per_s": statistics.median(v), "min": min(v), "max": max(v), "rounds": v}
                   for n, v in byn.items()} for m, byn in res.items()}
    for m, byn in summary.items():
        print(m, " ".join(f"{n}: {s['median_rows_per_s'] / 1e3:.0f}k" for n, s in byn.items()))
    if a.out:
        with open(a.out, "w") as f:
            json.dump({"command": " ".join(sys.argv), "machine": os.uname().nodename, "results": summary}, f,
                      indent=1)


if __name__ == "__main__":
    main()
