"""scikit-learn's tree models refuse what scikit-learn refuses: an infinity or a number float32
rounds to one (check_array to float32), and NaN for GradientBoosting; HistGradientBoosting and
IsolationForest take everything, as scikit-learn does.

Before the `input_check` key of the trees stage (docs/FORMAT.md), an exported RandomForest
answered a row holding +inf, and a GradientBoosting model a row holding NaN (scikit-learn
raises: "Input X contains NaN. GradientBoostingClassifier does not accept missing values")
with a silent number. The reference here is scikit-learn itself: for every model, value,
dtype and batch size, either both answer (the same labels and values, 1e-9) or both refuse, and
the error names the row and the column that scikit-learn's check would fail on.
"""
from __future__ import annotations

import warnings

import numpy as np
import pytest

pytest.importorskip("sklearn", reason="scikit-learn is needed for the mlinfer Python tests")

import mlinfer
from mlinfer import _format
from sklearn.ensemble import (ExtraTreesRegressor, GradientBoostingClassifier, GradientBoostingRegressor,
                              HistGradientBoostingClassifier, IsolationForest, RandomForestClassifier)
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.tree import DecisionTreeClassifier

VALUES = [np.inf, -np.inf, 1e300, 3.4e38, 3.4028235e38, 3.40282357e38, -3.5e38, 3e37, np.nan]

MODELS = {
    "tree": lambda: DecisionTreeClassifier(random_state=0),
    "forest": lambda: RandomForestClassifier(n_estimators=8, random_state=0),
    "extra-trees-reg": lambda: ExtraTreesRegressor(n_estimators=5, random_state=0),
    "gb-clf": lambda: GradientBoostingClassifier(n_estimators=10, random_state=0),
    "gb-reg": lambda: GradientBoostingRegressor(n_estimators=10, random_state=0),
    "hgb": lambda: HistGradientBoostingClassifier(max_iter=10),
    "isolation-forest": lambda: IsolationForest(n_estimators=10, random_state=0),
    # the check is on what reaches the trees: the scaled values (3.4e38 / a std of ~0.3 overflows)
    "scaler+gb": lambda: make_pipeline(StandardScaler(), GradientBoostingRegressor(n_estimators=10, random_state=0)),
    "scaler+forest": lambda: make_pipeline(StandardScaler(), RandomForestClassifier(n_estimators=5, random_state=0)),
}


@pytest.fixture(scope="module")
def data():
    rng = np.random.RandomState(0)
    X = rng.rand(300, 4)
    return X, (X[:, 0] > 0.5).astype(int)


def _fitted(name, X, y, tmp_path):
    est = MODELS[name]()
    est.fit(X) if name == "isolation-forest" else est.fit(X, y)
    path = tmp_path / f"{name}.mli"
    mlinfer.export(est, path)
    return est, mlinfer.load(path)


def _outcome(fn, Z):
    try:
        return "answer", np.asarray(fn(Z))
    except (ValueError, mlinfer.InputError) as e:
        return "refused", str(e)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_refuses_as_scikit_learn(name, data, tmp_path):
    X, y = data
    est, m = _fitted(name, X, y, tmp_path)
    for v in VALUES:
        for dt in (np.float64, np.float32):
            for rows in (1, 7, 300):  # the one-row path, one block, several blocks
                Z = X[:rows].astype(dt)
                bad = rows // 2
                with np.errstate(over="ignore"):  # 1e300 as float32: +inf, as scikit-learn's cast makes it
                    Z[bad, 2] = v
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    want = _outcome(est.predict, Z)
                got = _outcome(m.predict, Z)
                what = f"{name}, {v!r} as {dt.__name__}, {rows} rows"
                assert got[0] == want[0], f"{what}: scikit-learn {want[0]}, mlinfer {got[0]} {got[1]}"
                if got[0] == "answer":
                    np.testing.assert_allclose(got[1], want[1], rtol=1e-9, atol=1e-12, err_msg=what)
                else:
                    assert isinstance(got[1], str) and f"row {bad}, column 2" in got[1], (what, got[1])
                    # every path to the trees checks alike: leaves, contributions
                    assert _outcome(m.apply, Z)[0] == "refused", what
                    assert _outcome(m.predict_contrib, Z)[0] == "refused", what


def test_messages(data, tmp_path):
    X, y = data
    _, forest = _fitted("forest", X, y, tmp_path)
    _, gb = _fitted("gb-clf", X, y, tmp_path)
    Z = X[:5].copy()
    Z[3, 1] = np.inf
    with pytest.raises(mlinfer.InputError, match=r"row 3, column 1 holds an infinite value.*float32"):
        forest.predict(Z)
    Z[3, 1] = 1e300
    with pytest.raises(mlinfer.InputError, match=r"row 3, column 1 holds a number beyond float32's range"):
        forest.predict_proba(Z)
    Z[3, 1] = np.nan
    assert forest.predict(Z).shape == (5,)  # NaN: routed, as scikit-learn routes it
    with pytest.raises(mlinfer.InputError, match=r"row 3, column 1 holds a missing value \(NaN\).*HistGradientBoosting"):
        gb.predict(Z)


def test_first_bad_row_with_threads(data, tmp_path):
    """Rows spread over the pool's parts: the error names the first bad row, every time."""
    X, y = data
    _, forest = _fitted("forest", X, y, tmp_path)
    Z = np.tile(X, (40, 1))  # 12 000 rows
    Z[9_000, 0] = np.inf
    Z[2_500, 3] = -np.inf
    Z[11_999, 1] = np.inf
    before = mlinfer.get_num_threads()
    try:
        for threads in (1, 2, 4):
            mlinfer.set_num_threads(threads)
            for _ in range(5):
                with pytest.raises(mlinfer.InputError, match=r"row 2500, column 3"):
                    forest.predict(Z.astype(np.float32))
    finally:
        mlinfer.set_num_threads(before)


def test_files_without_the_key_answer_as_before(data, tmp_path):
    """A file written before the key (or by another writer) has no check: the rows are walked,
    +inf going right, as those files always did; an unknown check is refused at load."""
    X, y = data
    _, forest = _fitted("forest", X, y, tmp_path)
    raw = (tmp_path / "forest.mli").read_bytes()
    meta, arrays = _format.parse(raw)
    keys = [k for k in meta if k.endswith(".input_check")]
    assert keys and meta[keys[0]] == "finite32_nan"
    old = {k: v for k, v in meta.items() if k not in keys}
    p = tmp_path / "old.mli"
    p.write_bytes(_format.build(old, arrays))
    m_old = mlinfer.load(p)
    Z = X[:3].copy()
    Z[1, 0] = np.inf
    assert m_old.predict(Z).shape == (3,)
    newer = dict(meta)
    newer[keys[0]] = "finite64"
    p = tmp_path / "newer.mli"
    p.write_bytes(_format.build(newer, arrays))
    with pytest.raises(mlinfer.UnsupportedError, match=r"input_check.*'finite64' is not one of none, finite32, finite32_nan"):
        mlinfer.load(p)
