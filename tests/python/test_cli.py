"""The `mlinfer` command: `info` and `predict` on exported models, checked against
scikit-learn and mlinfer.load on the same rows; malformed input names its line."""
from __future__ import annotations

import os
import subprocess

import numpy as np
import pytest
from sklearn.datasets import load_iris, make_regression
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler


@pytest.fixture(scope="module")
def cli(mlinfer):
    lib = os.environ.get("MLINFER_LIBRARY") or mlinfer._native.lib._name
    exe = os.path.join(os.path.dirname(os.path.abspath(lib)), "mlinfer")
    if not os.access(exe, os.X_OK):
        pytest.skip(f"no mlinfer executable next to {lib}")
    env = dict(os.environ, LD_LIBRARY_PATH=os.path.dirname(os.path.abspath(lib)))

    def run(*args, input=None):
        return subprocess.run([exe, *map(str, args)], capture_output=True, text=True, env=env, input=input,
                              timeout=60)
    return run


@pytest.fixture(scope="module")
def iris_model(mlinfer, tmp_path_factory):
    X, y = load_iris(return_X_y=True)
    names = load_iris().target_names[y]
    est = make_pipeline(StandardScaler(), LogisticRegression(max_iter=500)).fit(X, names)
    path = tmp_path_factory.mktemp("cli") / "iris.mli"
    mlinfer.export(est, path)
    return est, path, X


def write_csv(path, X, header=True):
    with open(path, "w") as f:
        if header:
            names = header if isinstance(header, (list, tuple)) else [f"f{i}" for i in range(X.shape[1])]
            f.write(",".join(names) + "\n")
        for row in X:
            f.write(",".join(repr(float(v)) for v in row) + "\n")


def test_info(cli, iris_model):
    _, path, _ = iris_model
    r = cli("info", path)
    assert r.returncode == 0, r.stderr
    for text in ("classification", "features:   4", "setosa", "affine -> linear -> multinomial", "load time"):
        assert text in r.stdout, r.stdout


def test_predict_labels_and_proba(cli, iris_model, tmp_path):
    est, path, X = iris_model
    csv = tmp_path / "x.csv"
    write_csv(csv, X)
    out = tmp_path / "y.csv"
    r = cli("predict", path, csv, "-o", out)
    assert r.returncode == 0, r.stderr
    assert out.read_text().split() == list(est.predict(X))
    r = cli("predict", path, csv, "--proba")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.strip().split("\n")
    assert lines[0] == "proba_setosa,proba_versicolor,proba_virginica"
    got = np.array([[float(v) for v in line.split(",")] for line in lines[1:]])
    np.testing.assert_allclose(got, est.predict_proba(X), rtol=1e-5, atol=1e-6)


def test_predict_regression_streams_many_rows(cli, mlinfer, tmp_path):
    X, y = make_regression(10_000, 7, random_state=0)  # more than one 4096-row batch
    est = Ridge().fit(X, y)
    path = tmp_path / "r.mli"
    mlinfer.export(est, path)
    csv = tmp_path / "x.csv"
    write_csv(csv, X, header=False)
    r = cli("predict", path, csv)
    assert r.returncode == 0, r.stderr
    got = np.array(r.stdout.split(), dtype=np.float64)
    np.testing.assert_array_equal(got.astype(np.float32), mlinfer.load(path).predict(X).astype(np.float32))


def test_bad_rows_name_their_line(cli, iris_model, tmp_path):
    _, path, X = iris_model
    csv = tmp_path / "bad.csv"
    write_csv(csv, X[:5])
    lines = csv.read_text().split("\n")
    lines[3] = "1.0,2.0,abc,4.0"
    csv.write_text("\n".join(lines))
    r = cli("predict", path, csv)
    assert r.returncode == 1 and ":4: column 3: 'abc' is not a number" in r.stderr, r.stderr
    lines[3] = "1.0,2.0"
    csv.write_text("\n".join(lines))
    r = cli("predict", path, csv)
    assert r.returncode == 1 and ":4: 2 columns, but the model takes 4 features" in r.stderr, r.stderr


def test_errors(cli, iris_model, tmp_path):
    _, path, _ = iris_model
    r = cli("info", tmp_path / "missing.mli")
    assert r.returncode == 1 and "cannot open" in r.stderr
    junk = tmp_path / "junk.mli"
    junk.write_bytes(b"\x80\x04\x95 a pickle, not a model" * 4)
    r = cli("info", junk)
    assert r.returncode == 1 and "not an .mli model file" in r.stderr
    assert cli("frobnicate").returncode == 2
    r = cli("predict", path, "-", input="5.1,3.5,1.4,0.2\n")
    assert r.returncode == 0 and r.stdout.strip() == "setosa", r.stderr


@pytest.mark.parametrize("mask, mode", [(0o022, 0o644), (0o077, 0o600)])
def test_written_models_are_readable_as_the_umask_allows(cli, mlinfer, tmp_path, mask, mode):
    """A bind-mounted model must be readable by a server under another UID: `mlinfer convert`,
    Model.save and mlinfer.export create files 0666 & ~umask (mkstemp's 0600 made them private)."""
    REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    xgb_json = os.path.join(REPO, "tests", "data", "xgb_binary.json")
    X, y = make_regression(n_samples=50, n_features=3, random_state=0)
    old = os.umask(mask)
    try:
        r = cli("convert", xgb_json, tmp_path / "converted.mli")
        assert r.returncode == 0, r.stderr
        mlinfer.load(xgb_json).save(tmp_path / "saved.mli")
        mlinfer.export(Ridge().fit(X, y), tmp_path / "exported.mli")
    finally:
        os.umask(old)
    for name in ("converted.mli", "saved.mli", "exported.mli"):
        assert (tmp_path / name).stat().st_mode & 0o777 == mode, name
    assert sorted(p.name for p in tmp_path.iterdir()) == ["converted.mli", "exported.mli", "saved.mli"]


def _lightgbm_cell_rows(lgb, n=1500, seed=0):
    """A LightGBM regression model (float64 `x <= t` splits) and float64 rows with values
    strictly between the two float32 numbers around its thresholds, mixed with plain rows."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 5))
    y = X[:, 0] + np.sin(3 * X[:, 1]) + 0.5 * X[:, 2] * X[:, 3]
    booster = lgb.train({"objective": "regression", "num_leaves": 15, "verbose": -1, "num_threads": 1,
                         "deterministic": True, "seed": 0}, lgb.Dataset(X, y), num_boost_round=20)
    rows = []
    for block in booster.model_to_string().split("Tree=")[1:]:
        feats = [ln for ln in block.splitlines() if ln.startswith("split_feature=")]
        if not feats:
            continue
        thr = [ln for ln in block.splitlines() if ln.startswith("threshold=")][0].split("=")[1].split()
        for f, t in zip(feats[0].split("=")[1].split(), thr):
            t = float(t)
            lo = np.float32(t)
            lo = np.nextafter(lo, np.float32(-np.inf)) if float(lo) > t else lo
            hi = float(np.nextafter(lo, np.float32(np.inf)))
            for v in (float(lo) + (t - float(lo)) / 2, t + (hi - t) / 2, t, np.nextafter(t, -np.inf)):
                r = X[rng.integers(n)].copy()
                r[int(f)] = v
                rows.append(r)
    Xq = np.concatenate([np.array(rows), X[: len(rows)]])
    return booster, Xq[rng.permutation(len(Xq))]


def test_predict_float64_rows_in_float32_cells(cli, mlinfer, tmp_path):
    """CSV numbers parse to float64: rows a float32 shortcut would misroute on a LightGBM
    model get LightGBM's answers through the CLI (printed with 9 digits)."""
    lgb = pytest.importorskip("lightgbm")
    booster, X = _lightgbm_cell_rows(lgb)
    path = tmp_path / "lgb.txt"
    booster.save_model(str(path))
    want = booster.predict(X)
    short = booster.predict(X.astype(np.float32).astype(np.float64))
    assert (np.abs(short - want) > 1e-6 * np.abs(want)).sum() > 10  # the rows matter
    csv = tmp_path / "x.csv"
    write_csv(csv, X, header=booster.feature_name())  # LightGBM's Column_0, ...: a header maps them
    r = cli("predict", path, csv)
    assert r.returncode == 0, r.stderr
    got = np.array(r.stdout.split(), dtype=np.float64)
    np.testing.assert_allclose(got, want, rtol=1e-8, atol=1e-12)  # %.9g: 9 significant digits
