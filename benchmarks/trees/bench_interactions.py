#!/usr/bin/env python3
"""SHAP interaction values benchmark (issue 19): rows/s of libmlinfer
Model.predict_interactions against XGBoost `pred_interactions=True` (on an XGBoost model)
and `shap.TreeExplainer(...).shap_interaction_values` (shap's own C++ code, on a LightGBM
model: LightGBM has no interaction values, and shap hands XGBoost models to XGBoost), and
against libmlinfer's own predict_contrib on the same rows (the cost factor of interactions).

Models: make_regression (--features features, 20 informative, seed 0, 10 000 training
rows); XGBoost --trees trees of max_depth --depth (hist), LightGBM --trees trees of
--leaves leaves. The peers condition on every feature in turn (2 (F + 1) contribution passes
over all trees), so they are slow: keep --rows small. Median of --repeats, the contenders
interleaved in each repeat, after a warm-up; "max rel. diff" against the peer's values,
relative to each row's sum of |values| (XGBoost computes in float32).

Usage (from the repository root, libmlinfer built in BUILD):
  MLINFER_LIBRARY=BUILD/libmlinfer.so python3 benchmarks/trees/bench_interactions.py
      [--rows 100] [--repeats 5] [--threads 1] [--trees 100] [--depth 6] [--leaves 63] [--features 50]
Prints a Markdown table; models are cached under /tmp/mlinfer-bench-interactions.
"""
from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(HERE)), "bindings", "python"))
sys.path.insert(0, HERE)
from bench_contrib import timed  # noqa: E402

CACHE = os.path.join(tempfile.gettempdir(), "mlinfer-bench-interactions")


def train(name, o):
    from sklearn.datasets import make_regression
    X, y = make_regression(10000, o.features, n_informative=20, noise=1.0, random_state=0)
    X = X.astype(np.float32).astype(np.float64)
    os.makedirs(CACHE, exist_ok=True)
    if name == "xgboost":
        import xgboost as xgb
        path = os.path.join(CACHE, f"xgb_{o.features}f_{o.trees}x{o.depth}.json")
        if not os.path.exists(path):
            xgb.train({"max_depth": o.depth, "tree_method": "hist", "eta": 0.1, "nthread": 2}, xgb.DMatrix(X, y),
                      o.trees).save_model(path)
        return path, xgb.Booster(model_file=path), X
    import lightgbm as lgb
    path = os.path.join(CACHE, f"lgb_{o.features}f_{o.trees}x{o.leaves}.txt")
    if not os.path.exists(path):
        lgb.train({"num_leaves": o.leaves, "verbose": -1, "num_threads": 2, "learning_rate": 0.1},
                  lgb.Dataset(X, y), o.trees).save_model(path)
    return path, lgb.Booster(model_file=path), X


def rel_err(ours, ref):
    ours, ref = ours.reshape(len(ours), -1), ref.reshape(len(ref), -1)
    return float((np.abs(ours - ref).max(axis=1) / np.abs(ref).sum(axis=1)).max())


def peer(name, booster, X, threads):
    """The peer's call and its values as (n, F + 1, F + 1) with the bias at [F][F]."""
    if name == "xgboost":
        import xgboost as xgb
        booster.set_param({"nthread": threads})
        d = xgb.DMatrix(X, nthread=threads)
        return "XGBoost pred_interactions", lambda: booster.predict(d, pred_interactions=True)
    import shap
    ex = shap.TreeExplainer(booster, feature_perturbation="tree_path_dependent")

    def run():
        sv = np.asarray(ex.shap_interaction_values(X))
        out = np.zeros((len(X), sv.shape[1] + 1, sv.shape[1] + 1))
        out[:, :-1, :-1] = sv
        out[:, -1, -1] = float(np.ravel(ex.expected_value)[0])
        return out
    return "shap.TreeExplainer shap_interaction_values", run


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rows", type=int, default=100)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--threads", default="1")
    ap.add_argument("--models", default="xgboost,lightgbm")
    ap.add_argument("--features", type=int, default=50)
    ap.add_argument("--trees", type=int, default=100)
    ap.add_argument("--depth", type=int, default=6)
    ap.add_argument("--leaves", type=int, default=63)
    o = ap.parse_args()
    import mlinfer
    print(f"machine: {platform.machine()} {os.cpu_count()} CPUs; libmlinfer {mlinfer.library_version()} "
          f"({mlinfer.cpu_isa()}); rows {o.rows}, median of {o.repeats}; load {os.getloadavg()[0]:.1f}")
    print()
    print("| model | threads | contender | rows/s | libmlinfer speed-up | max rel. diff |")
    print("|---|---|---|---|---|---|")
    for name in o.models.split(","):
        path, booster, Xtrain = train(name, o)
        X = Xtrain[np.random.default_rng(1).choice(len(Xtrain), o.rows, replace=False)]
        model = mlinfer.load(path)
        desc = (f"XGBoost {o.trees}x{o.depth}" if name == "xgboost" else f"LightGBM {o.trees}x{o.leaves}") + \
            f", {o.features} features"
        for n in [int(t) for t in o.threads.split(",")]:
            mlinfer.set_num_threads(n)
            label, peer_fn = peer(name, booster, X, n)
            ours_fn = lambda: model.predict_interactions(X)  # noqa: E731
            contrib_fn = lambda: model.predict_contrib(X)  # noqa: E731
            _, warm = peer(name, booster, X[:4], n)
            t_ours, t_peer, t_contrib = timed([ours_fn, peer_fn, contrib_fn], o.repeats,
                                              [lambda: model.predict_interactions(X[:4]), warm, contrib_fn])
            err = rel_err(np.asarray(ours_fn()), np.asarray(peer_fn()))
            r = o.rows
            print(f"| {desc} | {n} | libmlinfer predict_interactions | {r / t_ours:,.1f} | | {err:.1e} |")
            print(f"| {desc} | {n} | {label} | {r / t_peer:,.1f} | **{t_peer / t_ours:.1f}x** | |")
            print(f"| {desc} | {n} | libmlinfer predict_contrib | {r / t_contrib:,.0f} | "
                  f"(interactions cost {t_ours / t_contrib:.1f}x contributions) | |")
            sys.stdout.flush()


if __name__ == "__main__":
    main()
