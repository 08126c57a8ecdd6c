#!/usr/bin/env python3
"""Writes prep_more.mli, the fuzz seed (target model_load) for TargetEncoder: multiclass over a string
column with None and NaN (a table of category indexes, then a numeric table per class) and a binary target
over a numeric column (one lookup table), then a small tree.
    MLINFER_LIBRARY=build/libmlinfer.so PYTHONPATH=bindings/python \\
        /work/venv/bin/python tests/fuzz/models/make_prep_more.py"""
import os

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import TargetEncoder
from sklearn.tree import DecisionTreeClassifier

import mlinfer

rng = np.random.RandomState(7)
df = pd.DataFrame({"s": rng.choice(["a", "b", "c", None, np.nan], 64).astype(object),
                   "n": rng.choice([1.0, 2.0, 5.0, np.nan], 64), "x": rng.normal(0, 1, 64)})
y = rng.randint(0, 3, 64)
parts = [("te3", TargetEncoder(), ["s"]),
         ("te2", TargetEncoder(target_type="continuous"), ["n"])]
est = make_pipeline(ColumnTransformer(parts, remainder="passthrough"),
                    DecisionTreeClassifier(max_depth=3, random_state=0)).fit(df, y)
mlinfer.export(est, os.path.join(os.path.dirname(os.path.abspath(__file__)), "prep_more.mli"))
