#!/usr/bin/env python3
"""Writes the tree models of tests/cuda/data/ that the golden set of tests/data lacks:
categorical splits and every missing-value mode, the rules the GPU tree kernel must keep
exactly as the CPU does (tests/cuda/test_cuda_models.c). Small, seeded, reproducible:

  lgb_cat_zero.txt   LightGBM binary, categorical features 0 and 1 (bitsets), zero_as_missing
                     (missing type Zero), NaN in the training data
  lgb_none.txt       LightGBM regression with use_missing=False (missing type None: NaN -> 0)
  xgb_cat.json       XGBoost gbtree with partition-based categorical splits (features 0, 1)
  hgb_cat.mli        scikit-learn HistGradientBoostingClassifier, 3 classes, categorical
                     features 0 and 1, NaN in training (exported by mlinfer.export)

Usage: python3 tests/cuda/make_models.py   (needs lightgbm, xgboost, scikit-learn, and the
mlinfer bindings with a built library for the last one)."""
from __future__ import annotations

import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "data")


def data(n=3000, f=8, classes=2, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, f))
    X[:, 0] = rng.integers(0, 40, n)          # categorical, 40 levels
    X[:, 1] = rng.integers(0, 6, n)           # categorical, 6 levels
    X[:, 2] = np.where(rng.random(n) < 0.3, 0.0, X[:, 2])  # many exact zeros
    X[rng.random((n, f)) < 0.05] = np.nan     # missing everywhere, categories too
    X[:, 0] = np.where(np.isnan(X[:, 0]), np.nan, X[:, 0])
    score = np.nan_to_num(np.sin(X[:, 0]) + (X[:, 1] % 3) + X[:, 3] - 0.5 * X[:, 2])
    if classes == 2:
        y = (score > np.median(score)).astype(int)
    elif classes > 2:
        y = np.digitize(score, np.quantile(score, np.linspace(0, 1, classes + 1)[1:-1]))
    else:
        y = score
    return X.astype(np.float32).astype(np.float64), y


def main():
    os.makedirs(OUT, exist_ok=True)
    import lightgbm as lgb

    X, y = data(classes=2, seed=1)
    m = lgb.LGBMClassifier(n_estimators=30, num_leaves=15, zero_as_missing=True, min_child_samples=5,
                           max_cat_to_onehot=4, verbose=-1)
    m.fit(X, y, categorical_feature=[0, 1])
    m.booster_.save_model(os.path.join(OUT, "lgb_cat_zero.txt"))

    X, y = data(classes=0, seed=2)
    m = lgb.LGBMRegressor(n_estimators=25, num_leaves=15, use_missing=False, verbose=-1)
    m.fit(X, y)
    m.booster_.save_model(os.path.join(OUT, "lgb_none.txt"))

    import xgboost as xgb

    X, y = data(classes=2, seed=3)
    dm = xgb.DMatrix(X, label=y, feature_types=["c", "c"] + ["q"] * (X.shape[1] - 2), enable_categorical=True)
    bst = xgb.train({"tree_method": "hist", "max_depth": 5, "max_cat_to_onehot": 1, "objective": "binary:logistic",
                     "seed": 0}, dm, num_boost_round=20)
    bst.save_model(os.path.join(OUT, "xgb_cat.json"))

    from sklearn.ensemble import HistGradientBoostingClassifier

    X, y = data(classes=3, seed=4)
    X[:, 0] = np.where(X[:, 0] > 30, np.nan, X[:, 0])
    hgb = HistGradientBoostingClassifier(max_iter=15, categorical_features=[0, 1], random_state=0).fit(X, y)
    sys.path.insert(0, os.path.join(HERE, "..", "..", "bindings", "python"))
    import mlinfer
    mlinfer.export(hgb, os.path.join(OUT, "hgb_cat.mli"))
    print("wrote", sorted(os.listdir(OUT)))


if __name__ == "__main__":
    main()
