"""The FastAPI app teams write for a tabular scikit-learn pipeline (the pattern of the tutorials in
/work/shared/seeds): joblib.load the fitted Pipeline at start-up, a pydantic model of the named
columns (null allowed: a missing value), a one-row pandas DataFrame per request, model.predict.
The peer of mlinfer-server in bench_named.py; kept plain on purpose.

  MODEL_PATH=churn.joblib uvicorn pandas_app:app --host 127.0.0.1 --port 8000 --workers 1

The columns are benchmarks/pipelines' churn-like table: 5 numbers, 5 strings.
"""
import os

import joblib
import numpy as np
import pandas as pd
from fastapi import FastAPI
from pydantic import BaseModel

NUM = ["tenure", "charges", "age", "calls", "score"]
CATS = ["plan", "region", "device", "pay", "channel"]
# as the training table was read (pandas.read_csv): numbers float64, strings object, a missing
# value NaN in both (None in an object column is another category to scikit-learn's imputer)
DTYPES = {**{c: "float64" for c in NUM}, **{c: object for c in CATS}}

model = joblib.load(os.environ.get("MODEL_PATH", "churn.joblib"))
app = FastAPI()


class Customer(BaseModel):
    tenure: float | None
    charges: float | None
    age: float | None
    calls: float | None
    score: float | None
    plan: str | None
    region: str | None
    device: str | None
    pay: str | None
    channel: str | None


class PredictRequest(BaseModel):
    features: Customer


@app.get("/health")
def health():
    return {"status": "ok"}


@app.post("/predict")
def predict(req: PredictRequest):
    row = req.features.model_dump()
    df = pd.DataFrame({k: [np.nan if v is None else v] for k, v in row.items()}).astype(DTYPES)
    y = model.predict(df)[0]
    return {"prediction": y.item() if hasattr(y, "item") else y}
