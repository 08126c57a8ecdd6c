#!/usr/bin/env python3
"""SHAP contributions benchmark (issue 19): rows/s of exact path-dependent TreeSHAP
contributions, libmlinfer (Model.predict_contrib) against XGBoost `pred_contribs=True`,
LightGBM `pred_contrib=True` and `shap.TreeExplainer(...).shap_values` on the same model,
data and thread count, in one run.

Models (50 features, scikit-learn make_regression, fixed seed, 10 000 training rows):
  xgboost    XGBoost gbtree, 500 trees, max_depth 8 (hist)
  lightgbm   LightGBM, 500 trees, 63 leaves
Scored on --rows rows (default 10 000) at 1 and 2 threads (each contender set to the same
count; shap's C++ TreeSHAP is single-threaded and is measured once, on --shap-rows rows as
it is the slowest by far). Reported: the median of --repeats timed runs after a warm-up,
the contenders interleaved within each repeat (the same load for each),
and the largest difference from the framework's own contributions relative to the row's
sum of |contributions| (must stay below 1e-5).

Usage (from the repository root, libmlinfer built in BUILD):
  MLINFER_LIBRARY=BUILD/libmlinfer.so python3 benchmarks/trees/bench_contrib.py
      [--rows 10000] [--shap-rows 500] [--repeats 3] [--threads 1,2] [--models xgboost,lightgbm]
      [--quick]
Prints a Markdown table; trained models are cached under /tmp/mlinfer-bench-contrib.
"""
from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "bindings", "python"))
F = 50
CACHE = os.path.join(tempfile.gettempdir(), "mlinfer-bench-contrib")


def train(name, quick):
    from sklearn.datasets import make_regression
    X, y = make_regression(10000, F, n_informative=20, noise=1.0, random_state=0)
    X = X.astype(np.float32).astype(np.float64)
    os.makedirs(CACHE, exist_ok=True)
    trees = 20 if quick else 500
    if name == "xgboost":
        import xgboost as xgb
        path = os.path.join(CACHE, f"xgb_{trees}x8.json")
        if not os.path.exists(path):
            b = xgb.train({"max_depth": 8, "tree_method": "hist", "eta": 0.1, "nthread": 2},
                          xgb.DMatrix(X, y), trees)
            b.save_model(path)
        return path, xgb.Booster(model_file=path), X
    import lightgbm as lgb
    path = os.path.join(CACHE, f"lgb_{trees}x63.txt")
    if not os.path.exists(path):
        b = lgb.train({"num_leaves": 63, "verbose": -1, "num_threads": 2, "learning_rate": 0.1},
                      lgb.Dataset(X, y), trees)
        b.save_model(path)
    return path, lgb.Booster(model_file=path), X


def timed(fns, repeats, warms=None):
    """Median seconds of each function in `fns`, the functions interleaved in every repeat
    (so a change in the machine's load hits all of them alike), after a warm-up."""
    for f in (warms or fns):
        f()
    ts = [[] for _ in fns]
    for _ in range(repeats):
        for i, f in enumerate(fns):
            t0 = time.perf_counter()
            f()
            ts[i].append(time.perf_counter() - t0)
    return [statistics.median(t) for t in ts]


def framework_contrib(name, booster, X, threads):
    if name == "xgboost":
        import xgboost as xgb
        booster.set_param({"nthread": threads})
        d = xgb.DMatrix(X, nthread=threads)
        return lambda: booster.predict(d, pred_contribs=True)
    return lambda: booster.predict(X, pred_contrib=True, num_threads=threads)


def rel_err(ours, ref):
    scale = np.abs(ref).sum(axis=1, keepdims=True)
    return float((np.abs(ours - ref) / np.maximum(scale, 1e-300)).max())


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rows", type=int, default=10000)
    ap.add_argument("--shap-rows", type=int, default=500)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--models", default="xgboost,lightgbm")
    ap.add_argument("--quick", action="store_true", help="20-tree models, 500 rows, 1 repeat (a smoke run)")
    opts = ap.parse_args()
    if opts.quick:
        opts.rows, opts.shap_rows, opts.repeats = 500, 100, 1
    import mlinfer
    threads = [int(t) for t in opts.threads.split(",")]
    print(f"machine: {platform.machine()} {platform.processor() or ''} {os.cpu_count()} CPUs; "
          f"libmlinfer {mlinfer.library_version()} ({mlinfer.cpu_isa()}); rows {opts.rows}, "
          f"shap rows {opts.shap_rows}, median of {opts.repeats}")
    print()
    print("| model | threads | contender | rows/s | libmlinfer speed-up | max rel. diff |")
    print("|---|---|---|---|---|---|")
    for name in opts.models.split(","):
        path, booster, Xtrain = train(name, opts.quick)
        rng = np.random.default_rng(1)
        X = Xtrain[rng.choice(len(Xtrain), opts.rows, replace=False)]
        model = mlinfer.load(path)
        F1 = F + 1
        for n in threads:
            mlinfer.set_num_threads(n)
            ours_fn = lambda: model.predict_contrib(X)  # noqa: E731
            fw_fn = framework_contrib(name, booster, X, n)
            t_ours, t_fw = timed([ours_fn, fw_fn], opts.repeats,
                                 [lambda: model.predict_contrib(X[:64]), framework_contrib(name, booster, X[:64], n)])
            ref = np.asarray(fw_fn()).reshape(len(X), F1)
            err = rel_err(np.asarray(ours_fn()), ref)
            fw = "XGBoost pred_contribs" if name == "xgboost" else "LightGBM pred_contrib"
            r_ours, r_fw = opts.rows / t_ours, opts.rows / t_fw
            print(f"| {name} | {n} | libmlinfer predict_contrib | {r_ours:,.0f} | | {err:.1e} |")
            print(f"| {name} | {n} | {fw} | {r_fw:,.0f} | {r_ours / r_fw:.2f}x | |")
            sys.stdout.flush()
        try:
            import shap
        except ImportError:
            print(f"| {name} | 1 | shap.TreeExplainer | (shap not installed) | | |")
            continue
        Xs = X[:opts.shap_rows]
        ex = shap.TreeExplainer(booster if name == "xgboost" else booster, feature_perturbation="tree_path_dependent")
        mlinfer.set_num_threads(1)
        t_shap, t_ours1 = timed([lambda: ex.shap_values(Xs, check_additivity=False), lambda: model.predict_contrib(Xs)],
                                opts.repeats, [lambda: ex.shap_values(Xs[:8], check_additivity=False),
                                               lambda: model.predict_contrib(Xs[:8])])
        sv = np.asarray(ex.shap_values(Xs, check_additivity=False))
        ref = np.c_[sv, np.full(len(Xs), float(np.ravel(ex.expected_value)[0]))]
        err = rel_err(np.asarray(model.predict_contrib(Xs)), ref)
        r_shap, r_ours = len(Xs) / t_shap, len(Xs) / t_ours1
        print(f"| {name} | 1 | shap.TreeExplainer ({len(Xs)} rows) | {r_shap:,.0f} | {r_ours / r_shap:.2f}x "
              f"(libmlinfer {r_ours:,.0f} on the same rows) | {err:.1e} |")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
