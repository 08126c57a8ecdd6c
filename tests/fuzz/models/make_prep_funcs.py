#!/usr/bin/env python3
"""Writes prep_funcs.mli, the fuzz seed (target model_load) for the prep stage's `func`, `bin` and `norm`
ops: a Binarizer, every FunctionTransformer ufunc, KBinsDiscretizers and Normalizers over three numeric columns, then a small tree.
    MLINFER_LIBRARY=build/libmlinfer.so PYTHONPATH=bindings/python \\
        /work/venv/bin/python tests/fuzz/models/make_prep_funcs.py"""
import os

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import Binarizer, FunctionTransformer, KBinsDiscretizer, Normalizer
from sklearn.tree import DecisionTreeRegressor

import mlinfer

rng = np.random.RandomState(5)
df = pd.DataFrame({"a": rng.gamma(2, 2, 64), "b": rng.normal(0, 1, 64), "c": rng.uniform(1, 3, 64)})
y = df["a"] + df["b"]
parts = [("bin", Binarizer(threshold=0.5), ["b"])]
parts += [(f.__name__, FunctionTransformer(f), ["c"]) for f in (np.log1p, np.log, np.exp, np.sqrt, np.abs, np.expm1)]
parts += [("kb" + e, KBinsDiscretizer(n_bins=3, encode=e, subsample=None), ["a"]) for e in ("ordinal", "onehot-dense")]
parts += [("n" + k, Normalizer(norm=k), ["a", "b", "c"]) for k in ("l1", "max")]
est = make_pipeline(ColumnTransformer(parts), DecisionTreeRegressor(max_depth=3, random_state=0)).fit(df, y)
mlinfer.export(est, os.path.join(os.path.dirname(os.path.abspath(__file__)), "prep_funcs.mli"))
