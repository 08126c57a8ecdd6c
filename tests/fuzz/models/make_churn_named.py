"""Writes churn_named.mli: fuzz_server_request's model with named columns (a prep stage):
two numeric columns with a median imputer, two string columns one-hot encoded with
handle_unknown="error", a LogisticRegression. Run: python make_churn_named.py"""
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder

import mlinfer

rng = np.random.default_rng(0)
n = 200
df = pd.DataFrame({"tenure": rng.integers(0, 72, n).astype(float), "charges": rng.normal(70, 30, n),
                   "plan": rng.choice(["basic", "plus", "pro"], n).astype(object),
                   "device": rng.choice(["ios", "android", "web"], n).astype(object)})
for c in df.columns:
    df.loc[rng.random(n) < 0.1, c] = np.nan
y = (df["tenure"] > 30).astype(int)
est = make_pipeline(ColumnTransformer([
    ("num", SimpleImputer(strategy="median"), ["tenure", "charges"]),
    ("cat", make_pipeline(SimpleImputer(strategy="constant", fill_value="missing"),
                          OneHotEncoder(handle_unknown="error")), ["plan", "device"]),
], sparse_threshold=0), LogisticRegression(max_iter=500)).fit(df, y)
mlinfer.export(est, Path(__file__).with_name("churn_named.mli"))
