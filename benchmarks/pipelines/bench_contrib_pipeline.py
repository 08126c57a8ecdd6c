#!/usr/bin/env python3
"""Contributions per input column through a pipeline's preprocessing (issue 19): rows/s of
libmlinfer `Model.predict_contrib(DataFrame)` (prep stage + TreeSHAP + summing by column, one
C call) against what a user runs today -- scikit-learn's `pipeline[:-1].transform(df)`,
`shap.TreeExplainer(model).shap_values` on the transformed matrix, then summing the columns of
each input column -- and against libmlinfer's own TreeSHAP on the already transformed matrix
(the same trees exported alone), which isolates the cost of the prep stage and the grouping.

Model: a ColumnTransformer (imputer + indicator + scaler over 2 numeric columns, one-hot of 2
string columns with missing values, KBins one-hot of 1 column, 3 numbers passed through)
before a HistGradientBoostingRegressor (100 iterations, 31 leaves) trained on 20 000 rows.
Scored on --rows rows at 1 and 2 threads (shap's TreeSHAP is single-threaded: measured once).
The median of --repeats timed runs after a warm-up, contenders interleaved in each repeat; the
largest difference from shap (relative to each row's sum of |contributions|) is printed.

Usage (from the repository root):
  MLINFER_LIBRARY=build/libmlinfer.so /work/venv/bin/python benchmarks/pipelines/bench_contrib_pipeline.py \
      [--rows 5000] [--repeats 5] [--threads 1,2]
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
sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(HERE)), "bindings", "python"))


def data(n, seed):
    import pandas as pd
    rng = np.random.default_rng(seed)
    df = pd.DataFrame({"age": rng.normal(40, 12, n), "spend": rng.gamma(2, 30, n),
                       "plan": rng.choice(["basic", "plus", "pro", "max"], n).astype(object),
                       "city": rng.choice([f"c{i}" for i in range(12)], n).astype(object),
                       "tenure": rng.uniform(0, 10, n), "x1": rng.normal(size=n), "x2": rng.normal(size=n),
                       "x3": rng.normal(size=n)})
    df.loc[rng.random(n) < 0.1, "age"] = np.nan
    city = df["city"].to_numpy()
    city[rng.random(n) < 0.05] = np.nan
    df["city"] = city
    y = (0.03 * df["age"].fillna(40) + 0.01 * df["spend"] + (df["plan"] == "pro") + (df["city"] == "c3") +
         0.2 * df["tenure"] + df["x1"] * df["x2"] + rng.normal(0, 0.3, n))
    return df, y.to_numpy()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=5000)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--threads", default="1,2")
    a = ap.parse_args()
    import mlinfer
    import shap
    import sklearn
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import HistGradientBoostingRegressor
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import KBinsDiscretizer, OneHotEncoder, StandardScaler

    df, y = data(20000, 0)
    ct = ColumnTransformer([
        ("num", make_pipeline(SimpleImputer(add_indicator=True), StandardScaler()), ["age", "spend"]),
        ("cat", OneHotEncoder(handle_unknown="ignore"), ["plan", "city"]),
        ("bins", KBinsDiscretizer(n_bins=5, encode="onehot-dense", subsample=None), ["tenure"]),
        ("rest", "passthrough", ["x1", "x2", "x3"])], sparse_threshold=0)
    pipe = make_pipeline(ct, HistGradientBoostingRegressor(max_iter=100, max_leaf_nodes=31, random_state=0))
    pipe.fit(df, y)
    d = tempfile.mkdtemp()
    mlinfer.export(pipe, os.path.join(d, "pipe.mli"))
    mlinfer.export(pipe[-1], os.path.join(d, "trees.mli"))
    m = mlinfer.load(os.path.join(d, "pipe.mli"))
    mt = mlinfer.load(os.path.join(d, "trees.mli"))
    X, _ = data(a.rows, 1)
    cols = list(X.columns)
    names_out = pipe[:-1].get_feature_names_out()
    group = np.array([next(i for i, c in enumerate(cols) if c in n.partition("__")[2]) for n in names_out])
    onehot = np.zeros((len(names_out), len(cols)))
    onehot[np.arange(len(names_out)), group] = 1.0
    explainer = shap.TreeExplainer(pipe[-1], feature_perturbation="tree_path_dependent")

    def peer():
        T = pipe[:-1].transform(X)
        sv = explainer.shap_values(T, check_additivity=False)
        return np.concatenate([sv @ onehot, np.full((len(X), 1), float(np.ravel(explainer.expected_value)[0]))],
                              axis=1)

    T = pipe[:-1].transform(X)
    ref = peer()
    ours = m.predict_contrib(X)
    err = float(np.max(np.abs(ours - ref) / np.abs(ref).sum(axis=1, keepdims=True)))
    rows = []

    def timed(fn):
        t0 = time.perf_counter()
        fn()
        return time.perf_counter() - t0

    t_peer = []
    for th in [int(t) for t in a.threads.split(",")]:
        from mlinfer._native import lib
        lib.mli_set_num_threads(th)
        m.predict_contrib(X)
        mt.predict_contrib(T)
        t_ours, t_trees = [], []
        for _ in range(a.repeats):
            t_ours.append(timed(lambda: m.predict_contrib(X)))
            t_trees.append(timed(lambda: mt.predict_contrib(T)))
            if th == 1:
                t_peer.append(timed(peer))
        rows.append((th, a.rows / statistics.median(t_ours), a.rows / statistics.median(t_trees)))
    peer_rate = a.rows / statistics.median(t_peer)
    print(f"machine: {platform.node()} {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs; "
          f"scikit-learn {sklearn.__version__}, shap {shap.__version__}; {a.rows} rows, median of {a.repeats}")
    print(f"model: ColumnTransformer ({len(cols)} input columns -> {len(names_out)} features) + "
          f"HistGradientBoostingRegressor 100 x 31 leaves; max rel. diff vs shap summed by column: {err:.2g}")
    print("| threads | libmlinfer predict_contrib(DataFrame), per input column | rows/s | vs transform + shap + sum "
          "(1 thread) | libmlinfer TreeSHAP on the transformed matrix | prep + grouping cost |")
    print("|---|---|---|---|---|---|")
    for th, ours_rate, trees_rate in rows:
        print(f"| {th} | | {ours_rate:,.0f} | **{ours_rate / peer_rate:.1f}x** | {trees_rate:,.0f} | "
              f"{trees_rate / ours_rate - 1:+.1%} |")
    print(f"| 1 | scikit-learn transform + shap.TreeExplainer + sum by column | {peer_rate:,.0f} | 1.0x | | |")


if __name__ == "__main__":
    main()
