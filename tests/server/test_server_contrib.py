"""mlinfer-server: POST /predict with "explain": true returns SHAP contributions (issue 19),
equal to the library's mli_model_predict_contrib on the same rows, through the batcher;
a model that cannot be explained is a 400 naming why."""
from __future__ import annotations

import numpy as np

from test_server import IRIS_ROWS


def _names(n):
    return [f"f{i}" for i in range(n)] + ["bias"]


def test_explain_single_and_batch(start_server, tmp_path):
    import mlinfer
    from sklearn.datasets import load_iris
    from sklearn.ensemble import GradientBoostingClassifier, RandomForestRegressor

    X, y = load_iris(return_X_y=True)
    path = tmp_path / "gb.mli"
    mlinfer.export(GradientBoostingClassifier(n_estimators=10, max_depth=2).fit(X, y), str(path))
    want = mlinfer.load(str(path)).predict_contrib(np.array(IRIS_ROWS))  # (4, 5, 3)
    srv = start_server(path)
    status, body = srv.json("POST", "/predict", {"features": IRIS_ROWS[1], "explain": True})
    assert status == 200, body
    assert list(body["contributions"]) == _names(4)
    got = np.array([body["contributions"][k] for k in _names(4)])
    np.testing.assert_array_equal(got, want[1])
    status, body = srv.json("POST", "/predict", {"instances": IRIS_ROWS, "explain": True, "proba": True})
    assert status == 200 and len(body["contributions"]) == 4 and "probabilities" in body
    got = np.array([[row[k] for k in _names(4)] for row in body["contributions"]])
    np.testing.assert_array_equal(got, want)
    status, body = srv.json("POST", "/predict", {"instances": IRIS_ROWS})
    assert "contributions" not in body
    status, body = srv.json("POST", "/predict", {"instances": IRIS_ROWS, "explain": 1})
    assert status == 400 and "explain" in body["error"]

    reg = tmp_path / "rf.mli"
    mlinfer.export(RandomForestRegressor(n_estimators=5, max_depth=3).fit(X[:, :3], X[:, 3]), str(reg))
    want = mlinfer.load(str(reg)).predict_contrib(np.array(IRIS_ROWS)[:, :3])
    srv2 = start_server(reg)
    status, body = srv2.json("POST", "/predict", {"instances": [r[:3] for r in IRIS_ROWS], "explain": True})
    assert status == 200
    got = np.array([[row[k] for k in _names(3)] for row in body["contributions"]])
    np.testing.assert_array_equal(got, want)


def test_explain_refused(start_server, tmp_path):
    import mlinfer
    from sklearn.linear_model import LinearRegression

    X = np.array(IRIS_ROWS)
    path = tmp_path / "lin.mli"
    mlinfer.export(LinearRegression().fit(X[:, :3], X[:, 3]), str(path))
    srv = start_server(path)
    status, body = srv.json("POST", "/predict", {"features": IRIS_ROWS[0][:3], "explain": True})
    assert status == 400 and "background" in body["error"]


def test_v1_explain(start_server, tmp_path):
    """KServe V1 POST /v1/models/{m}:explain -> {"predictions": [...], "explanations": [...]}."""
    import mlinfer
    from sklearn.datasets import load_iris
    from sklearn.ensemble import RandomForestClassifier

    X, y = load_iris(return_X_y=True)
    path = tmp_path / "iris_rf.mli"
    est = RandomForestClassifier(n_estimators=5, max_depth=3, random_state=0).fit(X, y)
    mlinfer.export(est, str(path))
    want = mlinfer.load(str(path)).predict_contrib(np.array(IRIS_ROWS))
    srv = start_server(path)
    status, body = srv.json("POST", "/v1/models/iris_rf:explain", {"instances": IRIS_ROWS})
    assert status == 200, body
    assert body["predictions"] == [int(v) for v in est.predict(np.array(IRIS_ROWS))]
    got = np.array([[row[k] for k in _names(4)] for row in body["explanations"]])
    np.testing.assert_array_equal(got, want)
    status, body = srv.json("POST", "/v1/models/iris_rf:predict", {"instances": IRIS_ROWS})
    assert "explanations" not in body
    status, _ = srv.json("GET", "/v1/models/iris_rf:explain")
    assert status == 405


def test_v2_contributions_output(start_server, tmp_path):
    """Open Inference V2: an output named "contributions" (FP64, rows x (features + 1)
    [x scores]), listed in the model metadata when the model can be explained."""
    import mlinfer
    from sklearn.datasets import load_iris
    from sklearn.ensemble import GradientBoostingClassifier
    from sklearn.linear_model import LinearRegression

    X, y = load_iris(return_X_y=True)
    path = tmp_path / "gb3.mli"
    mlinfer.export(GradientBoostingClassifier(n_estimators=5, max_depth=2).fit(X, y), str(path))
    want = mlinfer.load(str(path)).predict_contrib(np.array(IRIS_ROWS))  # (4, 5, 3)
    srv = start_server(path)
    status, meta = srv.json("GET", "/v2/models/gb3")
    assert {"name": "contributions", "datatype": "FP64", "shape": [-1, 5, 3]} in meta["outputs"]
    req = {"inputs": [{"name": "x", "shape": [4, 4], "datatype": "FP64", "data": IRIS_ROWS}],
           "outputs": [{"name": "predict"}, {"name": "contributions"}]}
    status, body = srv.json("POST", "/v2/models/gb3/infer", req)
    assert status == 200, body
    t = body["outputs"][1]
    assert t["name"] == "contributions" and t["shape"] == [4, 5, 3]
    np.testing.assert_array_equal(np.array(t["data"]).reshape(4, 5, 3), want)

    lin = tmp_path / "lin.mli"
    mlinfer.export(LinearRegression().fit(X[:, :3], X[:, 3]), str(lin))
    srv2 = start_server(lin)
    status, meta = srv2.json("GET", "/v2/models/lin")
    assert all(o["name"] != "contributions" for o in meta["outputs"])
    req = {"inputs": [{"name": "x", "shape": [1, 3], "datatype": "FP64", "data": IRIS_ROWS[0][:3]}],
           "outputs": [{"name": "contributions"}]}
    status, body = srv2.json("POST", "/v2/models/lin/infer", req)
    assert status == 400 and "background" in body["error"]


# ---- named columns (a pipeline with a prep stage): contributions per input column ------------

def _named_model(tmp_path):
    """A ColumnTransformer (imputer + indicator + scaler, one-hot of strings with missing
    values, a Normalizer mixing two columns) before a gradient-boosted multiclass model."""
    import pandas as pd
    import mlinfer
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import Normalizer, OneHotEncoder, StandardScaler

    rng = np.random.default_rng(3)
    n = 300
    df = pd.DataFrame({"age": rng.normal(40, 10, n), "spend": rng.gamma(2, 30, n),
                       "plan": rng.choice(["basic", "plus", "pro"], n).astype(object),
                       "a": rng.uniform(0, 1, n), "b": rng.uniform(0, 1, n)})
    df.loc[rng.random(n) < 0.1, "age"] = np.nan
    plan = df["plan"].to_numpy()
    plan[rng.random(n) < 0.1] = None
    df["plan"] = plan
    y = np.digitize(0.05 * df["age"].fillna(40) + (df["plan"] == "pro") + df["a"], [2.3, 3.0])
    ct = ColumnTransformer([("num", make_pipeline(SimpleImputer(add_indicator=True), StandardScaler()), ["age", "spend"]),
                            ("plan", OneHotEncoder(handle_unknown="ignore"), ["plan"]),
                            ("norm", Normalizer(norm="l1"), ["a", "b"])], sparse_threshold=0)
    est = make_pipeline(ct, HistGradientBoostingClassifier(max_iter=8, max_leaf_nodes=6, random_state=0)).fit(df, y)
    path = tmp_path / "named.mli"
    mlinfer.export(est, str(path))
    return path, df, mlinfer.load(str(path))


def _rows_json(df):
    out = []
    for rec in df.to_dict("records"):
        out.append({k: (None if v is None or (isinstance(v, float) and np.isnan(v)) else v) for k, v in rec.items()})
    return out


def test_explain_named_features(start_server, tmp_path):
    """POST /predict with named values and "explain": true: contributions per input column
    by name, the mixed Normalizer outputs as transformed:<name>, the library's values bit
    for bit (null and an unseen category included); V1 :explain with named instances."""
    path, df, model = _named_model(tmp_path)
    names = model.contrib_names
    assert names == ["age", "spend", "plan", "a", "b", "transformed:norm__a", "transformed:norm__b", "bias"]
    rows = df.iloc[:6].copy()
    rows.loc[rows.index[0], "plan"] = "gold"  # unseen: ignored by the encoder
    rows.loc[rows.index[1], "plan"] = None
    rows.loc[rows.index[2], "age"] = np.nan
    rows["plan"] = rows["plan"].where(rows["plan"].notna(), np.nan)  # JSON null is a missing value (NaN), not None
    want = model.predict_contrib(rows)  # (6, 8, 3)
    srv = start_server(path)
    js = _rows_json(rows)
    status, body = srv.json("POST", "/predict", {"features": js[0], "explain": True})
    assert status == 200, body
    assert list(body["contributions"]) == names
    np.testing.assert_array_equal(np.array([body["contributions"][k] for k in names]), want[0])
    status, body = srv.json("POST", "/predict", {"instances": js, "explain": True, "proba": True})
    assert status == 200, body
    got = np.array([[row[k] for k in names] for row in body["contributions"]])
    np.testing.assert_array_equal(got, want)
    status, body = srv.json("POST", "/v1/models/named:explain", {"instances": js})
    assert status == 200, body
    got = np.array([[row[k] for k in names] for row in body["explanations"]])
    np.testing.assert_array_equal(got, want)
    # a value the model refuses: a 400 naming the column
    bad = dict(js[0], spend="lots")
    status, body = srv.json("POST", "/predict", {"features": bad, "explain": True})
    assert status == 400 and "spend" in body["error"], body


def test_v2_named_contributions(start_server, tmp_path):
    """V2 with one input per column and the output "contributions": rows x (columns + 1) x
    scores, columns counting the mixed transformed features (model metadata says the same)."""
    path, df, model = _named_model(tmp_path)
    rows = df.iloc[:5].copy()
    rows["plan"] = rows["plan"].where(rows["plan"].notna(), np.nan)  # JSON null is a missing value (NaN), not None
    want = model.predict_contrib(rows)
    srv = start_server(path)
    status, meta = srv.json("GET", "/v2/models/named")
    assert {"name": "contributions", "datatype": "FP64", "shape": [-1, 8, 3]} in meta["outputs"]
    js = _rows_json(rows)
    inputs = [{"name": c, "datatype": "BYTES" if c == "plan" else "FP64", "shape": [len(js)],
               "data": [r[c] for r in js]} for c in df.columns]
    status, body = srv.json("POST", "/v2/models/named/infer",
                            {"inputs": inputs, "outputs": [{"name": "predict"}, {"name": "contributions"}]})
    assert status == 200, body
    t = body["outputs"][1]
    assert t["name"] == "contributions" and t["shape"] == [5, 8, 3]
    np.testing.assert_array_equal(np.array(t["data"]).reshape(5, 8, 3), want)


def test_explain_named_batched(start_server, tmp_path):
    """With dynamic batching, concurrent named explain requests are stacked into one
    mli_model_predict_contrib_columns call; each client gets exactly its own rows' values
    (bit for bit the library's), and a bad row fails only its own request."""
    import concurrent.futures
    import json
    import urllib.request

    path, df, model = _named_model(tmp_path)
    rows = df.iloc[:48].copy()
    rows["plan"] = rows["plan"].where(rows["plan"].notna(), np.nan)
    want = model.predict_contrib(rows)
    names = model.contrib_names
    js = _rows_json(rows)
    srv = start_server(path, env={"MLI_MAX_BATCH": "16", "MLI_BATCH_DELAY_US": "5000", "MLI_THREADS": "2"})
    batches0 = srv.metric("mlinfer_batch_size_count")

    def one(i):
        body = {"features": js[i], "explain": True} if i != 7 else {"features": dict(js[i], plan=3), "explain": True}
        req = urllib.request.Request(f"http://127.0.0.1:{srv.port}/predict", data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                return i, r.status, json.loads(r.read())
        except urllib.error.HTTPError as e:
            return i, e.code, json.loads(e.read())

    with concurrent.futures.ThreadPoolExecutor(16) as ex:
        results = list(ex.map(one, range(len(js))))
    for i, status, body in results:
        if i == 7:
            assert status == 400 and "plan" in body["error"], body
            continue
        assert status == 200, body
        np.testing.assert_array_equal(np.array([body["contributions"][k] for k in names]), want[i])
    assert srv.metric("mlinfer_batch_size_count") - batches0 < 2 * len(js)  # some model calls were stacked
