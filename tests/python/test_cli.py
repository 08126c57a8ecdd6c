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


def test_lightgbm_default_names_header_optional(cli, tmp_path):
    """LightGBM records Column_0, Column_1, ... for a matrix without names: a headerless
    CSV is read by position, and a header of those names maps by name in any order (a
    shuffled header read by position would be a silent wrong answer)."""
    lgb = pytest.importorskip("lightgbm")
    rng = np.random.default_rng(5)
    X = rng.normal(size=(300, 4))
    y = X[:, 0] + 2 * X[:, 2] - X[:, 3]
    booster = lgb.train({"objective": "regression", "verbose": -1, "num_leaves": 7}, lgb.Dataset(X, y), 10)
    assert booster.feature_name() == ["Column_0", "Column_1", "Column_2", "Column_3"]
    path = tmp_path / "lgb.txt"
    booster.save_model(str(path))
    want = booster.predict(X[:50])
    csv = tmp_path / "plain.csv"
    write_csv(csv, X[:50], header=False)
    r = cli("predict", path, csv)
    assert r.returncode == 0, r.stderr
    np.testing.assert_allclose(np.array(r.stdout.split(), dtype=np.float64), want, rtol=1e-8, atol=1e-12)
    order = [2, 0, 3, 1]
    csv = tmp_path / "shuffled.csv"
    write_csv(csv, X[:50, order], header=[f"Column_{j}" for j in order])
    r = cli("predict", path, csv)
    assert r.returncode == 0, r.stderr
    np.testing.assert_allclose(np.array(r.stdout.split(), dtype=np.float64), want, rtol=1e-8, atol=1e-12)


# ---- named columns, RFC 4180 quoting, missing values (issue 18) -------------------------

import csv as _csv  # noqa: E402

import pandas as pd  # noqa: E402
from sklearn.compose import ColumnTransformer  # noqa: E402
from sklearn.ensemble import HistGradientBoostingClassifier  # noqa: E402
from sklearn.impute import SimpleImputer  # noqa: E402
from sklearn.preprocessing import OneHotEncoder  # noqa: E402


def write_frame(path, df, quoting=_csv.QUOTE_MINIMAL):
    """Writes df with Python's csv module (RFC 4180 quoting); NaN and None as empty fields."""
    with open(path, "w", newline="") as f:
        w = _csv.writer(f, quoting=quoting, lineterminator="\r\n")
        w.writerow(df.columns)
        for row in df.itertuples(index=False):
            w.writerow(["" if v is None or (isinstance(v, float) and np.isnan(v)) else
                        (repr(float(v)) if isinstance(v, (float, np.floating)) else v) for v in row])


def read_proba(text):
    lines = text.strip().split("\n")
    return np.array([[float(v) for v in ln.split(",")] for ln in lines[1:]])


@pytest.fixture(scope="module")
def iris_named(mlinfer, tmp_path_factory):
    data = load_iris(as_frame=True)
    X, y = data.data, data.target_names[data.target]
    est = make_pipeline(StandardScaler(), LogisticRegression(max_iter=500)).fit(X, y)
    path = tmp_path_factory.mktemp("cli_named") / "iris_named.mli"
    mlinfer.export(est, path)
    return est, path, X


def test_header_maps_shuffled_and_extra_columns(cli, iris_named, tmp_path):
    est, path, X = iris_named
    df = X[list(reversed(X.columns))].copy()
    df.insert(1, "comment", ["a, b"] * len(df))  # an extra column, quoted, ignored
    df["id"] = np.arange(len(df))
    csv = tmp_path / "x.csv"
    write_frame(csv, df)
    r = cli("predict", path, csv, "--proba")
    assert r.returncode == 0, r.stderr
    np.testing.assert_allclose(read_proba(r.stdout), est.predict_proba(X), rtol=1e-5, atol=1e-6)
    r = cli("predict", path, csv)
    assert r.returncode == 0 and r.stdout.split() == list(est.predict(X)), r.stderr


def test_named_model_needs_a_header_or_no_header(cli, iris_named, tmp_path):
    est, path, X = iris_named
    csv = tmp_path / "x.csv"
    write_csv(csv, X.to_numpy()[:10], header=False)
    r = cli("predict", path, csv)
    assert r.returncode == 1 and "names none of the model's columns" in r.stderr and "--no-header" in r.stderr
    r = cli("predict", path, csv, "--no-header")
    assert r.returncode == 0 and r.stdout.split() == list(est.predict(X[:10])), r.stderr
    df = X[:10].drop(columns=["petal width (cm)"])
    write_frame(csv, df)
    r = cli("predict", path, csv)
    assert r.returncode == 1 and ":1: the header lacks column 'petal width (cm)'" in r.stderr, r.stderr


def test_missing_cells_on_a_linear_model_are_refused(cli, iris_named, tmp_path):
    """Today's silent wrong answer: an empty cell gave `setosa` with nan probabilities, exit 0."""
    _, path, X = iris_named
    df = X[:6].copy()
    df.iloc[4, 2] = np.nan
    csv = tmp_path / "x.csv"
    write_frame(csv, df)
    for extra in ((), ("--proba",)):
        r = cli("predict", path, csv, *extra)
        assert r.returncode == 1, r.stdout
        assert ":6: column 'petal length (cm)': a missing value" in r.stderr, r.stderr
        assert "cannot take missing values" in r.stderr and "nan" not in r.stdout.lower()


def test_missing_cells_on_a_tree_model_route_like_sklearn(cli, mlinfer, tmp_path):
    X, y = load_iris(return_X_y=True, as_frame=True)
    rng = np.random.default_rng(0)
    X = X.mask(rng.random(X.shape) < 0.2)  # NaN in training: HGB learns where missing goes
    est = HistGradientBoostingClassifier(max_iter=20, random_state=0).fit(X, y)
    path = tmp_path / "hgb.mli"
    mlinfer.export(est, path)
    csv = tmp_path / "x.csv"
    write_frame(csv, X[list(reversed(X.columns))])
    assert ",," in csv.read_text() or ",\r\n" in csv.read_text()
    r = cli("predict", path, csv, "--proba")
    assert r.returncode == 0, r.stderr
    # float64 thresholds against float64 CSV numbers; tolerance for the sums of 20 trees x 3 classes
    np.testing.assert_allclose(read_proba(r.stdout), est.predict_proba(X), rtol=1e-6, atol=1e-9)


@pytest.fixture(scope="module")
def churn(mlinfer, tmp_path_factory):
    rng = np.random.default_rng(1)
    n = 300
    plans = np.array(['basic', 'pre"mium', "family, plus", "multi\nline"], dtype=object)
    df = pd.DataFrame({"tenure": rng.uniform(0, 60, n), "charges": rng.normal(70, 20, n),
                       "plan": plans[rng.integers(0, 4, n)], "city": rng.choice(["paris", "rome", "oslo"], n)})
    df.loc[rng.random(n) < 0.1, "city"] = np.nan
    df.loc[rng.random(n) < 0.1, "tenure"] = np.nan
    y = (df["charges"] + 10 * (df["plan"] == "basic") + rng.normal(0, 5, n) > 75).astype(int)
    pre = ColumnTransformer([
        ("num", make_pipeline(SimpleImputer(), StandardScaler()), ["tenure", "charges"]),
        ("plan", OneHotEncoder(handle_unknown="error"), ["plan"]),
        ("city", make_pipeline(SimpleImputer(strategy="constant", fill_value="none"),
                               OneHotEncoder(handle_unknown="ignore")), ["city"]),
    ])
    est = make_pipeline(pre, LogisticRegression(max_iter=1000)).fit(df, y)
    path = tmp_path_factory.mktemp("cli_churn") / "churn.mli"
    mlinfer.export(est, path)
    return est, path, df


@pytest.mark.parametrize("quoting", [_csv.QUOTE_MINIMAL, _csv.QUOTE_ALL])
def test_string_columns_and_quoting_match_sklearn(cli, churn, tmp_path, quoting):
    est, path, df = churn
    csv = tmp_path / "x.csv"
    out = df[["city", "plan", "charges", "tenure"]].copy()
    out["note"] = 'say "hi", then\nleave'
    write_frame(csv, out, quoting)
    r = cli("predict", path, csv, "--proba")
    assert r.returncode == 0, r.stderr
    np.testing.assert_allclose(read_proba(r.stdout), est.predict_proba(df), rtol=1e-6, atol=1e-9)
    r = cli("predict", path, csv)
    assert r.returncode == 0 and [int(v) for v in r.stdout.split()] == list(est.predict(df)), r.stderr


def test_bad_rows_name_line_and_column(cli, churn, tmp_path):
    _, path, df = churn
    csv = tmp_path / "x.csv"
    bad = df.iloc[:8].copy()
    bad.iloc[5, bad.columns.get_loc("plan")] = "gold"
    write_frame(csv, bad)
    line = 1 + 1 + 5 + sum(str(v).count("\n") for v in bad["plan"].iloc[:5])  # header, rows, quoted newlines
    r = cli("predict", path, csv)
    assert r.returncode == 1, r.stdout
    assert f":{line}: " in r.stderr and "column 'plan'" in r.stderr and "'gold'" in r.stderr, r.stderr
    bad = df.iloc[:3].copy().astype({"charges": object})
    bad.iloc[2, bad.columns.get_loc("charges")] = "cheap"
    write_frame(csv, bad)
    line = 4 + sum(str(v).count("\n") for v in bad["plan"].iloc[:2])
    r = cli("predict", path, csv)
    assert r.returncode == 1 and f":{line}: column 'charges': 'cheap' is not a number" in r.stderr, r.stderr
    csv.write_text('tenure,charges,plan,city\n1,2,"basic\n')
    r = cli("predict", path, csv)
    assert r.returncode == 1 and "the quoted field opened on line 2 is not closed" in r.stderr, r.stderr
    csv.write_text('tenure,charges,plan,city\n1,2,ba"sic,rome\n')
    r = cli("predict", path, csv)
    assert r.returncode == 1 and ":2: field 3: a quote inside an unquoted field" in r.stderr, r.stderr
    csv.write_text('tenure,charges,plan,city\n1,2,basic\n')
    r = cli("predict", path, csv)
    assert r.returncode == 1 and ":2: 3 fields, but the header has 4" in r.stderr, r.stderr


def test_columns_the_pipeline_drops_are_not_read(cli, mlinfer, tmp_path):
    rng = np.random.default_rng(2)
    n = 100
    df = pd.DataFrame({"a": rng.normal(size=n), "notes": rng.choice(["x, y", "z"], n), "b": rng.normal(size=n)})
    y = (df["a"] + df["b"] > 0).astype(int)
    est = make_pipeline(ColumnTransformer([("num", StandardScaler(), ["a", "b"])]),  # remainder: drop
                        LogisticRegression()).fit(df, y)
    path = tmp_path / "drop.mli"
    mlinfer.export(est, path)
    csv = tmp_path / "x.csv"
    write_frame(csv, df)
    for args in ((), ("--no-header",)):
        text = csv.read_text().split("\n", 1)[1] if args else None
        if text is not None:
            (tmp_path / "nohdr.csv").write_text(text)
        r = cli("predict", path, tmp_path / "nohdr.csv" if args else csv, "--proba", *args)
        assert r.returncode == 0, r.stderr
        np.testing.assert_allclose(read_proba(r.stdout), est.predict_proba(df), rtol=1e-6, atol=1e-9)
    write_frame(csv, df[["b", "a"]])  # the dropped column may be left out
    r = cli("predict", path, csv)
    assert r.returncode == 0 and [int(v) for v in r.stdout.split()] == list(est.predict(df)), r.stderr


def test_lightgbm_text_file_with_pandas_categories(cli, tmp_path):
    """A LightGBM text file trained on pandas category columns of strings, scored from a CSV with
    a header: strings map to LightGBM's codes, empty fields and unseen strings are missing (as
    LightGBM's set_categories makes them), checked against LightGBM on the same rows (the
    category "nan" is pandas' missing text: missing by default, the category with --keep-na-text)."""
    lgb = pytest.importorskip("lightgbm")
    rng = np.random.default_rng(5)
    cities = ["paris", "rome", "oslo, no", 'say "hi"', "nan"]

    def frame(n, unseen):
        city = rng.choice(cities + (["lima"] if unseen else []), n).astype(object)
        city[rng.random(n) < 0.1] = None
        return pd.DataFrame({"tenure": rng.uniform(0, 60, n), "city": pd.Categorical(city, categories=cities),
                             "plan": pd.Categorical(rng.choice(["b", "a", "c"], n), categories=["b", "a", "c"])}), city

    train, _ = frame(2000, False)
    y = ((train["tenure"] > 30) ^ train["city"].isin(["rome", "nan"]) ^ (train["plan"] == "a")).astype(int)
    est = lgb.LGBMClassifier(n_estimators=30, min_data_per_group=5, cat_smooth=1, verbose=-1).fit(train, y)
    path = tmp_path / "lgb.txt"
    est.booster_.save_model(str(path))
    test, city = frame(500, True)
    csv = tmp_path / "x.csv"
    out = test[["plan", "tenure"]].astype({"plan": object})
    out.insert(0, "city", city)  # the raw strings, "lima" (unseen) included; None: an empty field
    write_frame(csv, out)
    # the category "nan" is a text pandas.read_csv reads as missing: by default it is missing, as
    # LightGBM scores the frame read_csv gives; --keep-na-text takes it as the category
    as_read = test.copy()
    as_read["city"] = as_read["city"].mask(as_read["city"] == "nan")
    assert (test["city"] == "nan").any()
    r = cli("predict", path, csv, "--proba")
    assert r.returncode == 0, r.stderr
    np.testing.assert_allclose(read_proba(r.stdout), est.predict_proba(as_read), rtol=1e-6, atol=1e-9)
    r = cli("predict", path, csv, "--proba", "--keep-na-text")
    assert r.returncode == 0, r.stderr
    np.testing.assert_allclose(read_proba(r.stdout), est.predict_proba(test), rtol=1e-6, atol=1e-9)
    r = cli("predict", path, csv, "--keep-na-text")
    assert r.returncode == 0 and [int(v) for v in r.stdout.split()] == list(est.predict(test)), r.stderr
    r = cli("info", path)
    assert r.returncode == 0 and "prep" in r.stdout, r.stdout


# pandas.read_csv's default missing-value texts (pandas._libs.parsers.STR_NA_VALUES, the empty one aside)
PANDAS_NA_TEXTS = ["#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND", "1.#QNAN",
                   "<NA>", "N/A", "NA", "NULL", "NaN", "None", "n/a", "nan", "null"]


def _read_like_pandas(csv, est):
    """The DataFrame a user gets from the CSV: pandas.read_csv with the string columns as str."""
    return pd.read_csv(csv, dtype={"plan": str, "city": str})


def test_pandas_missing_texts_are_missing_values(cli, churn, tmp_path):
    """Was a silent wrong answer: NA, null, None, ... in a string column were taken as the
    category "NA" (unknown: zeros), where pandas.read_csv reads a missing value that the
    pipeline's imputer fills; in a number column they were refused."""
    est, path, df = churn
    csv = tmp_path / "x.csv"
    base = df.iloc[:len(PANDAS_NA_TEXTS)].reset_index(drop=True)
    lines = ["tenure,charges,plan,city"]
    for i, tok in enumerate(PANDAS_NA_TEXTS):
        row = base.iloc[i]
        plan = '"' + row["plan"].replace('"', '""') + '"'
        tenure = tok if i % 2 else repr(float(row["tenure"])) if row["tenure"] == row["tenure"] else ""
        lines.append(f"{tenure},{float(row['charges'])!r},{plan},{tok}")
    csv.write_text("\n".join(lines) + "\n")
    want = _read_like_pandas(csv, est)
    assert want["city"].isna().all() and want["tenure"].iloc[1::2].isna().all()
    r = cli("predict", path, csv, "--proba")
    assert r.returncode == 0, r.stderr
    np.testing.assert_allclose(read_proba(r.stdout), est.predict_proba(want), rtol=1e-6, atol=1e-9)
    # the plan encoder (handle_unknown="error") never saw a missing value: refused, as scikit-learn raises
    csv.write_text("tenure,charges,plan,city\n1,70,basic,rome\n1,70,NA,rome\n")
    r = cli("predict", path, csv)
    assert r.returncode == 1 and ":3: " in r.stderr and "column 'plan'" in r.stderr and "missing value" in r.stderr, r.stderr
    assert "--keep-na-text takes it as text" in r.stderr, r.stderr  # the hint, for a model fitted on such texts
    with pytest.raises(ValueError):
        est.predict(_read_like_pandas(csv, est))
    # --keep-na-text (pandas' keep_default_na=False): the text is the category; an empty field stays missing
    csv.write_text("tenure,charges,plan,city\n1,70,basic,NA\n1,70,basic,\n")
    r = cli("predict", path, csv, "--proba", "--keep-na-text")
    assert r.returncode == 0, r.stderr
    want = pd.DataFrame({"tenure": [1.0, 1.0], "charges": [70.0, 70.0], "plan": ["basic", "basic"],
                         "city": ["NA", np.nan]})
    np.testing.assert_allclose(read_proba(r.stdout), est.predict_proba(want), rtol=1e-6, atol=1e-9)
    # only the whole field, as written: " NA" is a category (unknown here), as pandas keeps it
    csv.write_text("tenure,charges,plan,city\n1,70,basic, NA\n")
    r = cli("predict", path, csv, "--proba")
    assert r.returncode == 0, r.stderr
    np.testing.assert_allclose(read_proba(r.stdout), est.predict_proba(_read_like_pandas(csv, est)),
                               rtol=1e-6, atol=1e-9)


def test_numbers_pandas_and_scikit_learn_refuse_are_refused(cli, churn, tmp_path):
    """Were answers where scikit-learn raises: pandas leaves "0x1A", "nan(1)" and a field of blanks
    as text, which scikit-learn cannot convert (Python's float() refuses them); strtod took them."""
    est, path, _ = churn
    csv = tmp_path / "x.csv"
    for text, shown in (("0x1A", "'0x1A'"), ("-0X2", "'-0X2'"), ("nan(1)", "'nan(1)'"), ("  ", "'  '")):
        csv.write_text(f"tenure,charges,plan,city\n1,70,basic,rome\n{text},70,basic,rome\n")
        with pytest.raises(ValueError):
            est.predict(_read_like_pandas(csv, est))
        r = cli("predict", path, csv)
        assert r.returncode == 1 and f":3: column 'tenure': {shown} is not a number" in r.stderr, (text, r.stderr)
    # what pandas and float() take is taken: blanks around a number, exponents, inf spelled out, NAN
    csv.write_text("tenure,charges,plan,city\n 1 ,7e1,basic,rome\n+.5,\"70\",basic,rome\nNAN,70,basic,rome\n")
    r = cli("predict", path, csv, "--proba")
    assert r.returncode == 0, r.stderr
    np.testing.assert_allclose(read_proba(r.stdout), est.predict_proba(_read_like_pandas(csv, est)),
                               rtol=1e-6, atol=1e-9)


def test_a_byte_order_mark_is_skipped(cli, churn, iris_model, tmp_path):
    """Was a refusal (named models: the first column's name began with the BOM) or, for a model
    without names and a CSV without a header, a first row silently skipped as a header."""
    est, path, df = churn
    csv = tmp_path / "x.csv"
    write_frame(csv, df.iloc[:5])
    csv.write_bytes(b"\xef\xbb\xbf" + csv.read_bytes())
    r = cli("predict", path, csv, "--proba")
    assert r.returncode == 0, r.stderr
    np.testing.assert_allclose(read_proba(r.stdout), est.predict_proba(df.iloc[:5]), rtol=1e-6, atol=1e-9)
    est, path, X = iris_model
    write_csv(csv, X[:4], header=False)
    csv.write_bytes(b"\xef\xbb\xbf" + csv.read_bytes())
    r = cli("predict", path, csv)
    assert r.returncode == 0 and r.stdout.split() == list(est.predict(X[:4])), r.stderr
    for data in (b"\xef\xbb", b"\xef", b"\xef\xbb\xbf"):  # a truncated or lone mark: no rows, or a clear error
        csv.write_bytes(data)
        r = cli("predict", path, csv)
        assert r.returncode in (0, 1) and r.stdout == "", (data, r.stdout, r.stderr)


def test_text_column_documents_like_pandas(cli, mlinfer, tmp_path):
    """A document "NA" is missing as pandas.read_csv reads it (scikit-learn raises on it: so
    does the CLI, with the hint); --keep-na-text scores it as the text it is."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    docs = ["printer out of toner", "vpn drops", "printer jam", "vpn slow", "none of these", "NA region down"] * 5
    est = make_pipeline(TfidfVectorizer(), LogisticRegression()).fit(docs, [0, 1, 0, 1, 0, 1] * 5)
    path = tmp_path / "txt.mli"
    mlinfer.export(est, path)
    csv = tmp_path / "t.csv"
    csv.write_text("text\nprinter jam\nNA\nNone of these\n")
    with pytest.raises(ValueError):
        est.predict(pd.read_csv(csv)["text"])
    r = cli("predict", path, csv)
    assert r.returncode == 1 and ":3: " in r.stderr and "missing document" in r.stderr, r.stderr
    assert "--keep-na-text" in r.stderr, r.stderr
    r = cli("predict", path, csv, "--keep-na-text")
    assert r.returncode == 0 and [int(v) for v in r.stdout.split()] == list(
        est.predict(pd.read_csv(csv, keep_default_na=False)["text"])), r.stderr


def test_string_fields_must_be_utf8(cli, churn, tmp_path):
    """Was a silent wrong answer: a cp1252 / Latin-1 CSV's "Zürich" reached the encoder as bytes
    that are no category (zeros under handle_unknown="ignore"), where pandas.read_csv raises."""
    est, path, df = churn
    csv = tmp_path / "x.csv"
    csv.write_bytes("tenure,charges,plan,city\n1,70,basic,rome\n1,70,basic,Zürich\n".encode("cp1252"))
    with pytest.raises(UnicodeDecodeError):
        pd.read_csv(csv)
    r = cli("predict", path, csv)
    assert r.returncode == 1 and ":3: column 'city': the field is not UTF-8 (byte 0xFC at offset 1)" in r.stderr, r.stderr
    for bad in (b"\xc0\xaf", b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"ab\xe2\x82"):  # overlong, surrogate, > U+10FFFF, cut
        csv.write_bytes(b"tenure,charges,plan,city\n1,70,basic," + bad + b"\n")
        r = cli("predict", path, csv)
        assert r.returncode == 1 and "is not UTF-8" in r.stderr, (bad, r.stderr)
    csv.write_text("tenure,charges,plan,city\n1,70,basic,Zürich €😀\n", encoding="utf-8")
    r = cli("predict", path, csv, "--proba")
    assert r.returncode == 0, r.stderr
    np.testing.assert_allclose(read_proba(r.stdout), est.predict_proba(_read_like_pandas(csv, est)), rtol=1e-6,
                               atol=1e-9)


def test_first_row_with_a_missing_text_is_not_a_header(cli, iris_model, tmp_path):
    """A model without names skips a first line that is not numeric as a header: a first row
    holding NA (a missing value for pandas) was skipped that way, silently one answer short;
    it is now a row (here refused: the linear model takes no missing values)."""
    est, path, X = iris_model
    csv = tmp_path / "x.csv"
    csv.write_text("NA,3.5,1.4,0.2\n" + "\n".join(",".join(repr(float(v)) for v in row) for row in X[:3]) + "\n")
    r = cli("predict", path, csv)
    assert r.returncode == 1 and ":1: column 1: a missing value ('NA')" in r.stderr, r.stderr
    csv.write_text("f0,f1,f2,f3\n" + "\n".join(",".join(repr(float(v)) for v in row) for row in X[:3]) + "\n")
    r = cli("predict", path, csv)  # a real header is still skipped
    assert r.returncode == 0 and r.stdout.split() == list(est.predict(X[:3])), r.stderr


def test_to_csv_header_of_unnamed_columns(cli, iris_model, tmp_path):
    """pd.DataFrame(X).to_csv(index=False) writes the header 0,1,2,3, which is numeric: it was
    scored as a row (an extra first answer, every answer after it one line off, exit 0). Now it
    asks for --header (skip it) or --no-header (score it)."""
    est, path, X = iris_model
    csv = tmp_path / "x.csv"
    pd.DataFrame(X[:5]).to_csv(csv, index=False)
    assert csv.read_text().startswith("0,1,2,3\n")
    r = cli("predict", path, csv)
    assert r.returncode == 1 and r.stdout == "" and ":1: the first line is 0,1,...,3" in r.stderr, r.stderr
    assert "--header" in r.stderr and "--no-header" in r.stderr
    r = cli("predict", path, csv, "--header")
    assert r.returncode == 0 and r.stdout.split() == list(est.predict(pd.read_csv(csv).to_numpy())), r.stderr
    r = cli("predict", path, csv, "--no-header")
    assert r.returncode == 0 and r.stdout.split() == list(est.predict(pd.read_csv(csv, header=None).to_numpy())), r.stderr
    r = cli("predict", path, csv, "--header", "--no-header")
    assert r.returncode == 2
    write_csv(csv, X[:3], header=("a", "b", "c", "d"))  # any header line with --header
    r = cli("predict", path, csv, "--header")
    assert r.returncode == 0 and r.stdout.split() == list(est.predict(X[:3])), r.stderr
