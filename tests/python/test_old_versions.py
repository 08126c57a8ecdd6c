"""Model files saved by older framework releases (XGBoost 1.7.6 JSON and UBJ, LightGBM 3.3.5
text; written by tests/data/old_versions/make_old_versions.py, which records those releases'
own outputs): users bring files saved years ago, and the importers must read each one as the
release that wrote it predicts. Tolerances: XGBoost sums its trees in float32, so margins
within 2e-6 absolute (1e-5 relative) and probabilities 1e-6; LightGBM sums in float64 as we
do, so 1e-12 relative."""
from __future__ import annotations

import pathlib

import numpy as np
import pytest

DATA = pathlib.Path(__file__).resolve().parents[1] / "data" / "old_versions"


@pytest.fixture(scope="module")
def expected():
    with np.load(DATA / "expected.npz") as f:
        return {k: f[k] for k in f.files}


def _rows(name, expected):
    if name == "lgb335_categorical":  # the pandas category column, by its values
        pd = pytest.importorskip("pandas")
        Xc = expected["Xcat"]
        df = pd.DataFrame(Xc[:, :5], columns=[f"f{i}" for i in range(5)])
        df["c"] = pd.Categorical.from_codes(Xc[:, 5].astype(int), ["a", "b", "c", "d"])
        return df
    if name == "xgb176_categorical":  # XGBoost 1.7 records no categories: the codes, as numbers
        return expected["Xcat"]
    return expected["X"]


@pytest.mark.parametrize("file", ["xgb176_binary_bs.json", "xgb176_binary_bs.ubj", "xgb176_multi.json",
                                  "xgb176_poisson.ubj", "xgb176_dart.json", "xgb176_categorical.json",
                                  "lgb335_categorical.txt", "lgb335_multi.txt", "lgb335_linear.txt"])
def test_old_release_files_predict_as_that_release(mlinfer, expected, file):
    name = file.split(".")[0]
    m = mlinfer.load(str(DATA / file))
    X = _rows(name, expected)
    margin, pred = expected[name + "_margin"], expected[name + "_pred"]
    got = np.asarray(m.predict_raw(X)).reshape(margin.shape[0], -1)
    if name.startswith("xgb"):
        np.testing.assert_allclose(got, margin.reshape(len(got), -1), rtol=1e-5, atol=2e-6)
    else:
        np.testing.assert_allclose(got, margin.reshape(len(got), -1), rtol=1e-12, atol=1e-12)
    tol = dict(rtol=1e-5, atol=1e-6) if name.startswith("xgb") else dict(rtol=1e-12, atol=1e-15)
    if m.is_classifier:
        proba = m.predict_proba(X)
        np.testing.assert_allclose(proba[:, 1] if pred.ndim == 1 else proba, pred, **tol)
        labels = (pred > 0.5).astype(int) if pred.ndim == 1 else pred.argmax(axis=1)
        np.testing.assert_array_equal(m.predict(X), labels)
    else:
        np.testing.assert_allclose(m.predict(X), pred, **tol)
