#!/usr/bin/env python3
"""LightGBM linear trees (linear_tree=true): libmlinfer's predict against LightGBM's own on the
same rows and thread count, the two alternating, medians. A regression of 100 trees of 31
leaves on 8 features with 5 % NaN, fitted on 10,000 rows; 100,000 float64 rows scored. The
outputs are checked equal (relative 1e-12) before timing.

  MLINFER_LIBRARY=build/libmlinfer.so PYTHONPATH=bindings/python \\
      python3 benchmarks/trees/bench_linear_tree.py [--rows N] [--repeats R]
"""
from __future__ import annotations

import argparse
import time

import lightgbm as lgb
import numpy as np

import mlinfer


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    rng = np.random.default_rng(5)
    X = rng.normal(size=(10_000, 8))
    y = X @ rng.normal(size=8) + np.sin(X[:, 0]) * 2
    X[rng.random(X.shape) < 0.05] = np.nan
    booster = lgb.train({"objective": "regression", "linear_tree": True, "verbose": -1, "num_leaves": 31},
                        lgb.Dataset(X, y), 100)
    m = mlinfer.load(booster.model_to_string().encode())
    Xt = rng.normal(size=(args.rows, 8))
    Xt[rng.random(Xt.shape) < 0.05] = np.nan
    ref = booster.predict(Xt)
    got = m.predict(Xt)
    assert np.max(np.abs(got - ref) / np.maximum(np.abs(ref), 1e-12)) <= 1e-12
    print(f"{args.rows} rows, {args.repeats} repeats, medians")
    for nt in (1, 2):
        mlinfer.set_num_threads(nt)
        ours, theirs = [], []
        for _ in range(args.repeats):
            t = time.perf_counter()
            m.predict(Xt)
            ours.append(time.perf_counter() - t)
            t = time.perf_counter()
            booster.predict(Xt, num_threads=nt)
            theirs.append(time.perf_counter() - t)
        a, b = np.median(ours), np.median(theirs)
        print(f"{nt} thread(s): libmlinfer {a * 1e3:.0f} ms, LightGBM {b * 1e3:.0f} ms, ratio {b / a:.2f}x")


if __name__ == "__main__":
    main()
