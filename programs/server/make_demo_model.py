"""Regenerates demo_model.mli, the model mlinfer-server serves when given none: scikit-learn's
iris data, StandardScaler + LogisticRegression, string labels. Deterministic.
    MLINFER_LIBRARY=build/libmlinfer.so PYTHONPATH=bindings/python python3 programs/server/make_demo_model.py
"""
import os

from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import mlinfer

iris = load_iris()
X, y = iris.data, iris.target_names[iris.target]
model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)).fit(X, y)
out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "demo_model.mli")
mlinfer.export(model, out)
print(f"wrote {out}: {model.predict([[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]])}")
