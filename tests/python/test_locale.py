"""Model files read the same whatever LC_NUMERIC the host program has set.

A host that calls setlocale(LC_ALL, "") under de_DE makes the C library's strtod expect a
comma; model files (and their metadata) always write a point. Each test here loads a model
under a comma-decimal locale and checks it predicts exactly what the same file predicts
under "C", and what the framework that made it predicts. Skipped when no such locale is
installed (tests/install_deps.sh generates de_DE.UTF-8 where it can).
"""
from __future__ import annotations

import locale
import re

import numpy as np
import pytest

COMMA_LOCALES = ("de_DE.UTF-8", "de_DE.utf8", "fr_FR.UTF-8", "fr_FR.utf8")


@pytest.fixture(scope="module")
def comma_locale():
    """The name of an installed locale whose decimal point is ','."""
    old = locale.setlocale(locale.LC_ALL)
    try:
        for name in COMMA_LOCALES:
            try:
                locale.setlocale(locale.LC_ALL, name)
            except locale.Error:
                continue
            if locale.localeconv()["decimal_point"] == ",":
                return name
    finally:
        locale.setlocale(locale.LC_ALL, old)
    pytest.skip("no locale with a comma decimal point is installed (locale -a); "
                "tests/install_deps.sh generates de_DE.UTF-8")


def _load_both(mlinfer, source, name):
    """The model loaded under the comma locale `name` and under "C"."""
    old = locale.setlocale(locale.LC_ALL)
    try:
        locale.setlocale(locale.LC_ALL, name)
        under_comma = mlinfer.load(source)
    finally:
        locale.setlocale(locale.LC_ALL, old)
    locale.setlocale(locale.LC_ALL, "C")
    try:
        under_c = mlinfer.load(source)
    finally:
        locale.setlocale(locale.LC_ALL, old)
    return under_comma, under_c


def test_isolation_forest_metadata(mlinfer, tmp_path, comma_locale):
    """iso_norm and iso_offset are decimal metadata values."""
    from sklearn.ensemble import IsolationForest
    X = np.random.default_rng(0).normal(size=(300, 4))
    est = IsolationForest(n_estimators=20, random_state=0).fit(X)
    path = tmp_path / "iso.mli"
    mlinfer.export(est, path)
    m, ref = _load_both(mlinfer, str(path), comma_locale)
    np.testing.assert_array_equal(m.decision_function(X), ref.decision_function(X))
    np.testing.assert_allclose(m.decision_function(X), est.decision_function(X), rtol=1e-6, atol=1e-6)
    np.testing.assert_array_equal(m.predict(X), est.predict(X))


def test_image_stage_metadata(mlinfer, tmp_path, comma_locale):
    """scale, mean and std of an image stage are decimal metadata values."""
    from sklearn.linear_model import LogisticRegression
    from mlinfer import ImagePreprocess
    rng = np.random.default_rng(1)
    est = LogisticRegression().fit(rng.normal(size=(60, 48)), rng.integers(0, 3, 60))
    spec = ImagePreprocess(size=(4, 4), mode="rgb", scale=0.5, mean=[1.25, 2.5, 3.75], std=[2.5, 3.5, 4.5])
    path = tmp_path / "img.mli"
    mlinfer.export(est, path, image=spec)
    m, ref = _load_both(mlinfer, str(path), comma_locale)
    assert m.image_spec == spec == ref.image_spec


def test_xgboost_long_decimals(mlinfer, tmp_path, comma_locale):
    """Decimals with more than 19 significant digits take the JSON reader's slow path."""
    xgb = pytest.importorskip("xgboost")
    rng = np.random.default_rng(2)
    X = rng.normal(size=(400, 5))
    booster = xgb.train({"objective": "binary:logistic", "max_depth": 3, "nthread": 1},
                        xgb.DMatrix(X, X[:, 0] + X[:, 1] > 0), 4)
    text = bytes(booster.save_raw("json")).decode()
    # 1.8263559E-3 -> 1.82635590000000000000000001E-3: the same float, 27 significant digits
    longer, n = re.subn(r'(?<="split_conditions":\[)[^\]]*',
                        lambda g: re.sub(r"(\d\.\d+)E", r"\g<1>00000000000000000001E", g.group()), text)
    assert n == 4 and "00000000000000000001E" in longer
    path = tmp_path / "long.json"
    path.write_text(longer)
    m, ref = _load_both(mlinfer, str(path), comma_locale)
    np.testing.assert_array_equal(m.predict_proba(X), ref.predict_proba(X))
    np.testing.assert_allclose(m.predict_proba(X)[:, 1], booster.predict(xgb.DMatrix(X)), rtol=1e-6, atol=1e-7)

# LightGBM model text: test_lightgbm.py::test_comma_decimal_locale
