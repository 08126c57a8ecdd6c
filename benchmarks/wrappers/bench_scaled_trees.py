#!/usr/bin/env python3
"""Scalers before tree models (format 1.3): what the float64 scaling costs in libmlinfer, and
how the pipeline compares with scikit-learn + the framework running it (same rows, same run).

    MLINFER_LIBRARY=build/libmlinfer.so PYTHONPATH=bindings/python \\
        python3 benchmarks/wrappers/bench_scaled_trees.py [--rows 100000] [--repeats 5]

Per model: the Pipeline(StandardScaler, model) in scikit-learn, the exported pipeline in
libmlinfer, and the bare model in libmlinfer (no affine stage), predict_proba on float64
rows, 1 thread each (libmlinfer: mlinfer.set_num_threads(1); XGBoost nthread=1, LightGBM
num_threads=1). Medians of --repeats runs; ratios against the peer of the same run.
"""
from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time

import numpy as np


def median_time(fn, repeats):
    fn()  # warm
    ts = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t)
    return statistics.median(ts)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--repeats", type=int, default=5)
    a = ap.parse_args()
    import lightgbm as lgb
    import mlinfer
    import xgboost as xgb
    from sklearn.base import clone
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    mlinfer.set_num_threads(1)
    rng = np.random.default_rng(0)
    X = rng.normal(size=(20_000, 20)) * 5 + 3
    y = (X[:, 0] + X[:, 1] * X[:, 2] > 3).astype(int)
    Xt = rng.normal(size=(a.rows, 20)) * 5 + 3
    models = {"XGBClassifier 200x depth 6": xgb.XGBClassifier(n_estimators=200, max_depth=6, nthread=1),
              "LGBMClassifier 200x 31 leaves": lgb.LGBMClassifier(n_estimators=200, num_leaves=31, num_threads=1,
                                                                  verbose=-1)}
    print(f"rows={a.rows} features=20 repeats={a.repeats} (median seconds, predict_proba, 1 thread)")
    print(f"{'model':32s} {'sklearn pipe':>12s} {'mli pipe':>9s} {'mli bare':>9s} {'pipe/bare':>9s} {'speedup':>8s}")
    with tempfile.TemporaryDirectory() as d:
        for name, est in models.items():
            pipe = make_pipeline(StandardScaler(), clone(est)).fit(X, y)
            bare = clone(est).fit(StandardScaler().fit_transform(X), y)
            mlinfer.export(pipe, os.path.join(d, "p.mli"))
            mlinfer.export(bare, os.path.join(d, "b.mli"))
            mp, mb = mlinfer.load(os.path.join(d, "p.mli")), mlinfer.load(os.path.join(d, "b.mli"))
            np.testing.assert_allclose(mp.predict_proba(Xt[:1000]), pipe.predict_proba(Xt[:1000]), rtol=1e-5, atol=1e-6)
            t_sk = median_time(lambda: pipe.predict_proba(Xt), a.repeats)
            t_p = median_time(lambda: mp.predict_proba(Xt), a.repeats)
            t_b = median_time(lambda: mb.predict_proba(Xt), a.repeats)
            print(f"{name:32s} {t_sk:12.4f} {t_p:9.4f} {t_b:9.4f} {t_p / t_b:9.2f} {t_sk / t_p:8.1f}x")


if __name__ == "__main__":
    main()
