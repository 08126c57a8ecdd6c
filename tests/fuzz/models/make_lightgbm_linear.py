#!/usr/bin/env python3
"""Writes the fuzz seeds of LightGBM linear trees (linear_tree=true): corpus/lightgbm/linear_tree.txt
(target lightgbm: a small binary model whose leaves read 1-2 features, NaN seen in training) and
models/lightgbm_linear.mli (target model_load: its conversion, format 1.6 with the required lin_*
sections of the trees stage).
    MLINFER_LIBRARY=build/libmlinfer.so PYTHONPATH=bindings/python \\
        /work/venv/bin/python tests/fuzz/models/make_lightgbm_linear.py"""
import os

import lightgbm as lgb
import numpy as np

import mlinfer

here = os.path.dirname(os.path.abspath(__file__))
rng = np.random.default_rng(11)
X = rng.normal(size=(300, 3))
y = (X[:, 0] + 0.5 * X[:, 1] > 0).astype(int)
X[rng.random(X.shape) < 0.1] = np.nan
booster = lgb.train({"objective": "binary", "linear_tree": True, "num_leaves": 4, "min_data_in_leaf": 20,
                     "verbose": -1, "num_threads": 1, "seed": 0, "deterministic": True},
                    lgb.Dataset(X, y), num_boost_round=3)
text = booster.model_to_string()
text = text[:text.index("end of trees")] + "end of trees\n"  # the importer ignores the rest
with open(os.path.join(here, "..", "corpus", "lightgbm", "linear_tree.txt"), "w") as f:
    f.write(text)
mlinfer.load(text.encode()).save(os.path.join(here, "lightgbm_linear.mli"))
