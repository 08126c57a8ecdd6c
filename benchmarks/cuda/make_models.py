#!/usr/bin/env python3
"""The Models II benchmark models for bench_cuda (README.md beside this): the same
configurations and data as benchmarks/trees/bench_trees.py (50 features,
make_classification with n_informative=20, n_redundant=10, seed 0):

  rf_100x10.mli      scikit-learn RandomForestClassifier, 100 trees, max_depth 10
  xgb_500x8.ubj      XGBoost gbtree, 500 trees, max_depth 8 (hist)
  lgb_500x63.txt     LightGBM, 500 trees, 63 leaves
  hgb_200.mli        scikit-learn HistGradientBoostingClassifier, 200 iterations

Usage: MLINFER_LIBRARY=build-cuda/libmlinfer.so python3 benchmarks/cuda/make_models.py [OUTDIR]
(default OUTDIR: build-cuda/bench-models, an ignored folder that the device tool can carry).
Trains for about a minute on 2 cores; skips models that are already there."""
from __future__ import annotations

import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "bindings", "python"))


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "build-cuda", "bench-models")
    os.makedirs(out, exist_ok=True)
    from sklearn.datasets import make_classification

    X, y = make_classification(20000, 50, n_informative=20, n_redundant=10, random_state=0)
    X = X.astype(np.float32)

    def want(name):
        path = os.path.join(out, name)
        if os.path.exists(path):
            print("exists:", path)
            return None
        print("training:", path, flush=True)
        return path

    import mlinfer
    if path := want("rf_100x10.mli"):
        from sklearn.ensemble import RandomForestClassifier
        mlinfer.export(RandomForestClassifier(n_estimators=100, max_depth=10, n_jobs=2, random_state=0).fit(X, y), path)
    if path := want("hgb_200.mli"):
        from sklearn.ensemble import HistGradientBoostingClassifier
        mlinfer.export(HistGradientBoostingClassifier(max_iter=200, early_stopping=False, random_state=0).fit(X, y),
                       path)
    if path := want("xgb_500x8.ubj"):
        import xgboost as xgb
        xgb.XGBClassifier(n_estimators=500, max_depth=8, tree_method="hist", n_jobs=2, random_state=0).fit(
            X, y).get_booster().save_model(path)
    if path := want("lgb_500x63.txt"):
        import lightgbm as lgb
        lgb.LGBMClassifier(n_estimators=500, num_leaves=63, n_jobs=2, verbose=-1, random_state=0).fit(
            X, y).booster_.save_model(path)
    for name in sorted(os.listdir(out)):
        print(f"{os.path.getsize(os.path.join(out, name)) / 1e6:8.1f} MB  {name}")


if __name__ == "__main__":
    main()
