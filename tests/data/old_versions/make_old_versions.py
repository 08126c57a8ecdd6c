"""Writes model files as older framework releases save them, with those releases' own outputs,
for tests/python/test_old_versions.py: users bring files saved years ago, and the importers
must read them as the release that wrote them predicts.

Run it in a separate virtual environment holding the old releases (Python 3.11):

    python3 -m venv /tmp/venv-old
    /tmp/venv-old/bin/pip install "numpy<2" "scipy<1.12" xgboost==1.7.6 lightgbm==3.3.5 pandas==1.5.3
    /tmp/venv-old/bin/python tests/data/old_versions/make_old_versions.py tests/data/old_versions

It writes the models and expected.npz: the rows (X, with NaN; Xcat, the same rows with a
category column given as its codes) and each model's raw margin and prediction."""
import os
import sys

import lightgbm as lgb
import numpy as np
import pandas as pd
import xgboost as xgb

out = sys.argv[1]
rng = np.random.RandomState(0)
X = rng.randn(1500, 5)
X[rng.rand(*X.shape) < 0.1] = np.nan
sig = np.nan_to_num(X[:, 0]) + 0.5 * np.nan_to_num(X[:, 1]) ** 2
yb = (sig + 0.3 * rng.randn(len(X)) > 0.5).astype(int)
ym = np.digitize(sig, [0, 1])
yr = sig + 0.1 * rng.randn(len(X))
yc = rng.poisson(np.exp(np.clip(sig, -2, 2)))
df = pd.DataFrame(X, columns=[f"f{i}" for i in range(5)])
df["c"] = pd.Categorical(rng.choice(["a", "b", "c", "d"], len(X)))
ycat = (sig + (df["c"] == "b") * 1.5 > 0.5).astype(int)
Xcat = df.assign(c=df["c"].cat.codes.astype(float)).to_numpy()
res = {"X": X[:300], "Xcat": Xcat[:300]}
p = dict(max_depth=3, eta=0.3, nthread=1)


def xgb_model(name, params, y, rounds=10, exts=("json",)):
    b = xgb.train({**p, **params}, xgb.DMatrix(X, y), rounds)
    for ext in exts:
        b.save_model(os.path.join(out, f"{name}.{ext}"))
    d = xgb.DMatrix(X[:300], missing=np.nan)
    res[name + "_margin"] = b.predict(d, output_margin=True)
    res[name + "_pred"] = b.predict(d)


xgb_model("xgb176_binary_bs", {"objective": "binary:logistic", "base_score": 0.3}, yb, exts=("json", "ubj"))
xgb_model("xgb176_multi", {"objective": "multi:softprob", "num_class": 3}, ym)
xgb_model("xgb176_poisson", {"objective": "count:poisson"}, yc, exts=("ubj",))
xgb_model("xgb176_dart", {"objective": "binary:logistic", "booster": "dart", "rate_drop": 0.2}, yb)
clf = xgb.XGBClassifier(n_estimators=10, max_depth=3, tree_method="hist", enable_categorical=True, n_jobs=1)
clf.fit(df, ycat)
clf.get_booster().save_model(os.path.join(out, "xgb176_categorical.json"))
dc = xgb.DMatrix(df.iloc[:300], enable_categorical=True)
res["xgb176_categorical_margin"] = clf.get_booster().predict(dc, output_margin=True)
res["xgb176_categorical_pred"] = clf.get_booster().predict(dc)


def lgb_model(name, params, y, data, rounds=10):
    b = lgb.train({**params, "verbose": -1, "num_threads": 1, "num_leaves": 8}, lgb.Dataset(data, y), rounds)
    b.save_model(os.path.join(out, f"{name}.txt"))
    rows = data.iloc[:300] if hasattr(data, "iloc") else data[:300]
    res[name + "_margin"] = b.predict(rows, raw_score=True)
    res[name + "_pred"] = b.predict(rows)


lgb_model("lgb335_categorical", {"objective": "binary"}, ycat, df)
lgb_model("lgb335_multi", {"objective": "multiclass", "num_class": 3}, ym, X)
lgb_model("lgb335_linear", {"objective": "regression", "linear_tree": True}, yr, X)
np.savez_compressed(os.path.join(out, "expected.npz"), **res)
print("xgboost", xgb.__version__, "lightgbm", lgb.__version__)
