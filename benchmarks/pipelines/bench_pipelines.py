#!/usr/bin/env python3
"""bench_pipelines.py — scikit-learn pipelines over a DataFrame (issue 17): a churn-like table
(5 numeric columns with NaN, 5 string columns of 3-50 categories with NaN and None),
ColumnTransformer(imputer + scaler, imputer + one-hot) + LogisticRegression, and the same +
HistGradientBoosting (200 iterations). mlinfer (the exported .mli) against the fitted
scikit-learn pipeline, in the same run, on the same data:

  * batch: predict_proba on a 100 000-row DataFrame, at 1 and 2 threads (mlinfer:
    set_num_threads; scikit-learn: threadpoolctl limits its OpenMP / BLAS pools), and where
    mlinfer's time goes (DataFrame -> columns in Python, the C call);
  * one row: predict_proba on a one-row dict (mlinfer) and a one-row DataFrame (both), and
    through the C API (bench_columns_c, built with -DMLI_BUILD_BENCHMARKS=ON; found next to
    the library as build/benchmarks/bench_columns_c or through BENCH_COLUMNS_C).

Contenders alternate sample by sample; medians of the samples are reported (the minimum
too). Run on an otherwise idle machine:

    MLINFER_LIBRARY=build/libmlinfer.so PYTHONPATH=bindings/python \\
        python3 benchmarks/pipelines/bench_pipelines.py [--rows 100000] [--quick] [--json out.json]
"""
from __future__ import annotations

import argparse
import io
import json
import os
import platform
import statistics
import subprocess
import tempfile
import time
import warnings

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler
from threadpoolctl import threadpool_limits

import mlinfer
from mlinfer._columns import columns_for, one_row_columns

NUM = ["tenure", "charges", "age", "calls", "score"]
CATS = {"plan": 3, "region": 12, "device": 6, "pay": 20, "channel": 50}


def churn(n, seed):
    rng = np.random.default_rng(seed)
    df = pd.DataFrame({"tenure": rng.integers(0, 72, n).astype(float), "charges": rng.normal(70, 30, n),
                       "age": rng.normal(45, 15, n), "calls": rng.poisson(3, n).astype(float),
                       "score": rng.uniform(0, 1, n)})
    for c in NUM:
        df.loc[rng.random(n) < 0.05, c] = np.nan
    for c, k in CATS.items():
        col = rng.choice([f"{c}{i}" for i in range(k)], n).astype(object)
        col[rng.random(n) < 0.04] = np.nan
        col[rng.random(n) < 0.02] = None
        df[c] = col
    logit = 0.04 * df["tenure"].fillna(30) - 0.02 * df["charges"].fillna(70) + (df["plan"] == "plan2") * 1.5
    y = (logit + rng.normal(0, 1, n) > 0).astype(int)
    # through CSV, as a table is usually read: pandas' reader makes one object per distinct
    # string (so does pyarrow's to_pandas); missing strings become NaN
    return pd.read_csv(io.StringIO(df.to_csv(index=False))), y


def pipelines():
    def pre():
        return ColumnTransformer([
            ("num", make_pipeline(SimpleImputer(strategy="median"), StandardScaler()), NUM),
            ("cat", make_pipeline(SimpleImputer(strategy="constant", fill_value="missing"),
                                  OneHotEncoder(handle_unknown="ignore")), list(CATS)),
        ], sparse_threshold=0)
    return {"logreg": make_pipeline(pre(), LogisticRegression(max_iter=1000)),
            "hgb200": make_pipeline(pre(), HistGradientBoostingClassifier(max_iter=200, early_stopping=False,
                                                                          random_state=0))}


def interleave(fns, budget, min_samples=5, max_samples=201):
    """Runs each fn alternately until `budget` seconds are spent; per fn the sample times."""
    for f in fns.values():  # warm-up
        f()
    times = {k: [] for k in fns}
    t_end = time.perf_counter() + budget
    while True:
        for k, f in fns.items():
            t0 = time.perf_counter()
            f()
            times[k].append(time.perf_counter() - t0)
        n = len(next(iter(times.values())))
        if n >= max_samples or (n >= min_samples and time.perf_counter() > t_end):
            return times


def per_call(fn, inner):
    def run():
        for _ in range(inner):
            fn()
    return run


def summary(ts, scale=1.0):
    return {"median": statistics.median(ts) * scale, "min": min(ts) * scale, "samples": len(ts)}


def one_row_c(path, row, seconds):
    """bench_columns_c's figures for one row of `row` (its string values), or None."""
    exe = os.environ.get("BENCH_COLUMNS_C") or os.path.join(
        os.path.dirname(os.environ.get("MLINFER_LIBRARY", "build/libmlinfer.so")), "benchmarks", "bench_columns_c")
    if not os.path.exists(exe):
        print(f"({exe} not built: no C API figure)")
        return None
    args = [f"{k}={v}" for k, v in row.items() if isinstance(v, str)]
    out = subprocess.run([exe, path, str(seconds)] + args, check=True, capture_output=True, text=True).stdout
    return json.loads(out)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--json")
    args = ap.parse_args()
    budget = 2.0 if args.quick else 8.0
    warnings.filterwarnings("ignore")
    train, y = churn(20_000, 0)
    test, _ = churn(args.rows, 1)
    one_df = test.iloc[[7]]
    one_dict = {k: v for k, v in test.iloc[7].items()}
    results = {"machine": {"cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(),
                           "python": platform.python_version(), "mlinfer": mlinfer.library_version(),
                           "isa": mlinfer.cpu_isa(), "rows": args.rows}, "pipelines": {}}
    print(f"{args.rows} rows; cores {os.cpu_count()}; isa {mlinfer.cpu_isa()}")
    for name, est in pipelines().items():
        est.fit(train, y)
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "m.mli")
            mlinfer.export(est, path)
            m = mlinfer.load(path)
            c_one = one_row_c(path, one_dict, budget / 2)
        np.testing.assert_allclose(m.predict_proba(test[:2000]), est.predict_proba(test[:2000]), rtol=1e-5,
                                   atol=1e-6)
        res = {}
        for threads in (1, 2):
            mlinfer.set_num_threads(threads)
            with threadpool_limits(threads):
                t = interleave({"sklearn": lambda: est.predict_proba(test), "mlinfer": lambda: m.predict_proba(test),
                                "mlinfer_columns": lambda: columns_for(m, test)}, budget)
            r = {k: summary(v, 1e3) for k, v in t.items()}  # ms
            r["speedup"] = r["sklearn"]["median"] / r["mlinfer"]["median"]
            res[f"batch_threads{threads}_ms"] = r
            print(f"{name:7s} batch {args.rows} rows, {threads} thread(s): sklearn {r['sklearn']['median']:8.1f} ms"
                  f"  mlinfer {r['mlinfer']['median']:7.1f} ms (DataFrame->columns "
                  f"{r['mlinfer_columns']['median']:.1f} ms)  x{r['speedup']:.1f}")
        mlinfer.set_num_threads(1)
        with threadpool_limits(1):
            inner = 20
            t = interleave({"sklearn_df": per_call(lambda: est.predict_proba(one_df), 2),
                            "mlinfer_df": per_call(lambda: m.predict_proba(one_df), inner),
                            "mlinfer_dict": per_call(lambda: m.predict_proba(one_dict), inner),
                            "mlinfer_dict_columns": per_call(lambda: one_row_columns(m, one_dict), inner)}, budget / 2)
        one = {"sklearn_df": summary(t["sklearn_df"], 1e6 / 2)}
        for k in ("mlinfer_df", "mlinfer_dict", "mlinfer_dict_columns"):
            one[k] = summary(t[k], 1e6 / inner)
        if c_one:
            one["c_api"] = c_one
            print(f"{name:7s} one row through the C API (mli_model_predict_columns): {c_one['median_us']:.2f} us")
        res["one_row_us"] = one
        print(f"{name:7s} one row: sklearn (1-row DataFrame) {one['sklearn_df']['median']:.0f} us; mlinfer "
              f"1-row DataFrame {one['mlinfer_df']['median']:.1f} us, dict {one['mlinfer_dict']['median']:.1f} us "
              f"(dict->columns {one['mlinfer_dict_columns']['median']:.1f} us)")
        results["pipelines"][name] = res
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()
