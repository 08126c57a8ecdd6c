#!/usr/bin/env python3
"""Writes prep_mixing.mli, the fuzz seed (target model_load) for the prep stage's ops over a group of
registers and the selectors' checks: feature selectors with and without the finite check (SelectKBest,
VarianceThreshold), PolynomialFeatures (degree 2, interaction-only degree (2, 3)), PCA with and without
whiten and TruncatedSVD, PowerTransformer (Yeo-Johnson standardized, Box-Cox), QuantileTransformer (10 and 1
quantiles) over four numeric columns, then a small tree.
    MLINFER_LIBRARY=build/libmlinfer.so PYTHONPATH=bindings/python \\
        /work/venv/bin/python tests/fuzz/models/make_prep_mixing.py"""
import os

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.decomposition import PCA, TruncatedSVD
from sklearn.feature_selection import SelectKBest, VarianceThreshold, f_regression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import PolynomialFeatures, PowerTransformer, QuantileTransformer
from sklearn.tree import DecisionTreeRegressor

import mlinfer

rng = np.random.RandomState(6)
df = pd.DataFrame({"a": rng.gamma(2, 2, 64), "b": rng.normal(0, 1, 64), "c": rng.uniform(1, 3, 64),
                   "d": rng.normal(5, 2, 64)})
y = df["a"] * df["b"] + df["c"]
parts = [("kbest", SelectKBest(f_regression, k=2), ["a", "b", "c"]),
         ("var", VarianceThreshold(0.5), ["a", "b", "c", "d"]),
         ("poly2", PolynomialFeatures(2), ["a", "b"]),
         ("poly23", PolynomialFeatures((2, 3), interaction_only=True, include_bias=False), ["a", "b", "c"]),
         ("pca", PCA(2), ["a", "b", "c", "d"]),
         ("pcaw", make_pipeline(PolynomialFeatures(2, include_bias=False), PCA(3, whiten=True)), ["b", "d"]),
         ("svd", TruncatedSVD(2, random_state=0), ["a", "c", "d"]),
         ("yj", PowerTransformer(), ["b", "d"]),
         ("bc", PowerTransformer(method="box-cox", standardize=False), ["a", "c"]),
         ("qt", QuantileTransformer(n_quantiles=10), ["a", "b"]),
         ("qt1", QuantileTransformer(n_quantiles=1), ["d"])]
est = make_pipeline(ColumnTransformer(parts), DecisionTreeRegressor(max_depth=3, random_state=0)).fit(df, y)
mlinfer.export(est, os.path.join(os.path.dirname(os.path.abspath(__file__)), "prep_mixing.mli"))
