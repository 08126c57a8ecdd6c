"""The FastAPI app most teams run today (the pattern of the tutorials in /work/shared/seeds):
joblib.load a scikit-learn model at start-up, one pydantic-validated JSON row per request,
model.predict on it. Kept deliberately plain: it is the baseline mlinfer-server is measured against.

  MODEL_PATH=model.joblib uvicorn joblib_app:app --host 127.0.0.1 --port 8000 --workers 1
"""
import os

import joblib
import numpy as np
from fastapi import FastAPI
from pydantic import BaseModel

model = joblib.load(os.environ.get("MODEL_PATH", "model.joblib"))
app = FastAPI()


class Features(BaseModel):
    features: list[float]


@app.get("/health")
def health():
    return {"status": "ok"}


@app.post("/predict")
def predict(req: Features):
    x = np.asarray(req.features, dtype=np.float64).reshape(1, -1)
    y = model.predict(x)[0]
    return {"prediction": y.item() if hasattr(y, "item") else y}
