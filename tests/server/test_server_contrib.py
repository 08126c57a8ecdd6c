"""mlinfer-server: POST /predict with "explain": true returns SHAP contributions (issue 19),
equal to the library's mli_model_predict_contrib on the same rows, through the batcher;
a model that cannot be explained is a 400 naming why. "interactions": true and the V2
output "interactions": mli_model_predict_interactions, bit for bit, the V2 tensors naming
their columns (parameters.columns); tritonclient[http] as a real client."""
from __future__ import annotations

import json

import numpy as np
import pytest

from test_server import IRIS_ROWS


def _cls_last(c, ndim=3):
    """Model.predict_contrib's class-second layout as the server's tensors have it, class last."""
    c = np.asarray(c)
    return np.moveaxis(c, 1, -1) if c.ndim == ndim else c


def _names(n):
    return [f"f{i}" for i in range(n)] + ["bias"]


def test_explain_single_and_batch(start_server, tmp_path):
    import mlinfer
    from sklearn.datasets import load_iris
    from sklearn.ensemble import GradientBoostingClassifier, RandomForestRegressor

    X, y = load_iris(return_X_y=True)
    path = tmp_path / "gb.mli"
    mlinfer.export(GradientBoostingClassifier(n_estimators=10, max_depth=2).fit(X, y), str(path))
    want = _cls_last(mlinfer.load(str(path)).predict_contrib(np.array(IRIS_ROWS)))  # (4, 5, 3)
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
    want = _cls_last(mlinfer.load(str(reg)).predict_contrib(np.array(IRIS_ROWS)[:, :3]))
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
    want = _cls_last(mlinfer.load(str(path)).predict_contrib(np.array(IRIS_ROWS)))
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
    want = _cls_last(mlinfer.load(str(path)).predict_contrib(np.array(IRIS_ROWS)))  # (4, 5, 3)
    srv = start_server(path)
    status, meta = srv.json("GET", "/v2/models/gb3")
    assert {"name": "contributions", "datatype": "FP64", "shape": [-1, 5, 3],
            "parameters": {"columns": json.dumps(_names(4), separators=(",", ":"))}} in meta["outputs"]
    req = {"inputs": [{"name": "x", "shape": [4, 4], "datatype": "FP64", "data": IRIS_ROWS}],
           "outputs": [{"name": "predict"}, {"name": "contributions"}]}
    status, body = srv.json("POST", "/v2/models/gb3/infer", req)
    assert status == 200, body
    t = body["outputs"][1]
    assert t["name"] == "contributions" and t["shape"] == [4, 5, 3]
    assert json.loads(t["parameters"]["columns"]) == _names(4)
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
    want = _cls_last(model.predict_contrib(rows))  # (6, 8, 3)
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
    want = _cls_last(model.predict_contrib(rows))
    srv = start_server(path)
    status, meta = srv.json("GET", "/v2/models/named")
    contrib = next(o for o in meta["outputs"] if o["name"] == "contributions")
    assert contrib["datatype"] == "FP64" and contrib["shape"] == [-1, 8, 3]
    assert json.loads(contrib["parameters"]["columns"]) == model.contrib_names
    js = _rows_json(rows)
    inputs = [{"name": c, "datatype": "BYTES" if c == "plan" else "FP64", "shape": [len(js)],
               "data": [r[c] for r in js]} for c in df.columns]
    status, body = srv.json("POST", "/v2/models/named/infer",
                            {"inputs": inputs, "outputs": [{"name": "predict"}, {"name": "contributions"}]})
    assert status == 200, body
    t = body["outputs"][1]
    assert t["name"] == "contributions" and t["shape"] == [5, 8, 3]
    assert json.loads(t["parameters"]["columns"]) == model.contrib_names
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
    want = _cls_last(model.predict_contrib(rows))
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


# ---- interactions (mli_model_predict_interactions) -------------------------------------------

def _inter_matrix(obj, names):
    """One row's {"<column>": {"<column>": value or [per score]}} as an array in `names` order."""
    assert list(obj) == names and all(list(obj[k]) == names for k in names)
    return np.array([[obj[i][j] for j in names] for i in names])


def test_predict_interactions(start_server, tmp_path):
    """POST /predict with "interactions": true: per row {"<column i>": {"<column j>": ...}}
    (a list per raw score for a multiclass model), the library's values bit for bit, single
    and several rows, with "explain" and "proba" besides; through the batcher."""
    import mlinfer
    from sklearn.datasets import load_iris
    from sklearn.ensemble import GradientBoostingClassifier, RandomForestRegressor

    X, y = load_iris(return_X_y=True)
    path = tmp_path / "gbi.mli"
    mlinfer.export(GradientBoostingClassifier(n_estimators=10, max_depth=3).fit(X, y), str(path))
    model = mlinfer.load(str(path))
    want = _cls_last(model.predict_interactions(np.array(IRIS_ROWS)), 4)  # (4, 5, 5, 3)
    assert want.shape == (4, 5, 5, 3)
    srv = start_server(path, env={"MLI_MAX_BATCH": "8", "MLI_BATCH_DELAY_US": "1000"})
    status, body = srv.json("POST", "/predict", {"features": IRIS_ROWS[2], "interactions": True})
    assert status == 200, body
    assert "contributions" not in body
    np.testing.assert_array_equal(_inter_matrix(body["interactions"], _names(4)), want[2])
    status, body = srv.json("POST", "/predict",
                            {"instances": IRIS_ROWS, "interactions": True, "explain": True, "proba": True})
    assert status == 200, body
    got = np.array([_inter_matrix(r, _names(4)) for r in body["interactions"]])
    np.testing.assert_array_equal(got, want)
    # the rows of each matrix sum to the contributions the same response gives
    contrib = np.array([[r[k] for k in _names(4)] for r in body["contributions"]])
    np.testing.assert_allclose(got.sum(axis=2), contrib, rtol=1e-9, atol=1e-12)
    status, body = srv.json("POST", "/predict", {"instances": IRIS_ROWS, "interactions": "yes"})
    assert status == 400 and "interactions" in body["error"]
    status, body = srv.json("POST", "/predict", {"instances": IRIS_ROWS, "interactions": False})
    assert status == 200 and "interactions" not in body

    reg = tmp_path / "rfi.mli"
    mlinfer.export(RandomForestRegressor(n_estimators=5, max_depth=4, random_state=0).fit(X[:, :3], X[:, 3]),
                   str(reg))
    want = _cls_last(mlinfer.load(str(reg)).predict_interactions(np.array(IRIS_ROWS)[:, :3]), 4)  # (4, 4, 4)
    srv2 = start_server(reg)
    status, body = srv2.json("POST", "/predict", {"instances": [r[:3] for r in IRIS_ROWS], "interactions": True})
    assert status == 200, body
    got = np.array([_inter_matrix(r, _names(3)) for r in body["interactions"]])
    np.testing.assert_array_equal(got, want)


def test_interactions_refused(start_server, tmp_path):
    """A model without interactions (linear) is a 400 naming why, on /predict and V2; a
    request whose interactions would be over the per-request bound (1048576 values) is a
    400 naming the limit and the most rows, before anything is allocated."""
    import mlinfer
    from sklearn.linear_model import LinearRegression
    from sklearn.tree import DecisionTreeRegressor

    X = np.array(IRIS_ROWS)
    lin = tmp_path / "lin.mli"
    mlinfer.export(LinearRegression().fit(X[:, :3], X[:, 3]), str(lin), background=X[:, :3])
    srv = start_server(lin)
    status, body = srv.json("POST", "/predict", {"features": IRIS_ROWS[0][:3], "interactions": True})
    assert status == 400 and body["error"].startswith("interactions: ") and "tree" in body["error"], body
    status, meta = srv.json("GET", "/v2/models/lin")
    names = [o["name"] for o in meta["outputs"]]
    assert "contributions" in names and "interactions" not in names  # explained, but no interactions
    req = {"inputs": [{"name": "x", "shape": [1, 3], "datatype": "FP64", "data": IRIS_ROWS[0][:3]}],
           "outputs": [{"name": "interactions"}]}
    status, body = srv.json("POST", "/v2/models/lin/infer", req)
    assert status == 400 and "output 'interactions'" in body["error"] and "tree" in body["error"], body

    # 200 features: 201 x 201 = 40401 values a row, at most 25 rows a request
    rng = np.random.default_rng(0)
    Xw = rng.standard_normal((300, 200))
    wide = tmp_path / "wide.mli"
    mlinfer.export(DecisionTreeRegressor(max_depth=4, random_state=0).fit(Xw, Xw[:, 0] + Xw[:, 1]), str(wide))
    want = _cls_last(mlinfer.load(str(wide)).predict_interactions(Xw[:25]), 4)
    srv2 = start_server(wide)
    status, body = srv2.json("POST", "/predict", {"instances": Xw[:26].tolist(), "interactions": True})
    assert status == 400 and "1048576" in body["error"] and "at most 25 rows" in body["error"], body
    req = {"inputs": [{"name": "x", "shape": [26, 200], "datatype": "FP64", "data": Xw[:26].ravel().tolist()}],
           "outputs": [{"name": "interactions", "parameters": {"binary_data": True}}]}
    status, body = srv2.json("POST", "/v2/models/wide/infer", req)
    assert status == 400 and "at most 25 rows" in body["error"], body
    req["inputs"][0].update(shape=[25, 200], data=Xw[:25].ravel().tolist())
    req["outputs"] = [{"name": "interactions"}]
    status, body = srv2.json("POST", "/v2/models/wide/infer", req)
    assert status == 200, body
    np.testing.assert_array_equal(np.array(body["outputs"][0]["data"]).reshape(25, 201, 201), want)


def test_v2_interactions_output(start_server, tmp_path):
    """V2 output "interactions": FP64 rows x (columns + 1) x (columns + 1) [x scores], in the
    model metadata with its column names; JSON and binary data."""
    import mlinfer
    from sklearn.datasets import load_iris
    from sklearn.ensemble import GradientBoostingClassifier

    X, y = load_iris(return_X_y=True)
    path = tmp_path / "gb4.mli"
    mlinfer.export(GradientBoostingClassifier(n_estimators=5, max_depth=3).fit(X, y), str(path))
    model = mlinfer.load(str(path))
    want = _cls_last(model.predict_interactions(np.array(IRIS_ROWS)), 4)
    srv = start_server(path)
    status, meta = srv.json("GET", "/v2/models/gb4")
    cols = json.dumps(_names(4), separators=(",", ":"))
    assert {"name": "interactions", "datatype": "FP64", "shape": [-1, 5, 5, 3],
            "parameters": {"columns": cols}} in meta["outputs"]
    req = {"inputs": [{"name": "x", "shape": [4, 4], "datatype": "FP64", "data": IRIS_ROWS}],
           "outputs": [{"name": "interactions"}, {"name": "predict"}, {"name": "contributions"}]}
    status, body = srv.json("POST", "/v2/models/gb4/infer", req)
    assert status == 200, body
    t = body["outputs"][0]
    assert t["name"] == "interactions" and t["shape"] == [4, 5, 5, 3] and t["datatype"] == "FP64"
    assert json.loads(t["parameters"]["columns"]) == _names(4)
    np.testing.assert_array_equal(np.array(t["data"]).reshape(4, 5, 5, 3), want)
    np.testing.assert_array_equal(np.array(body["outputs"][2]["data"]).reshape(4, 5, 3),
                                  _cls_last(model.predict_contrib(np.array(IRIS_ROWS))))
    # binary: the parameters hold binary_data_size and the columns
    req["outputs"] = [{"name": "interactions", "parameters": {"binary_data": True}}]
    status, hdrs, data = srv.request("POST", "/v2/models/gb4/infer", req)
    assert status == 200
    n = int(hdrs["inference-header-content-length"])
    head = json.loads(data[:n])
    params = head["outputs"][0]["parameters"]
    assert params["binary_data_size"] == 4 * 75 * 8 and json.loads(params["columns"]) == _names(4)
    np.testing.assert_array_equal(np.frombuffer(data[n:], "<f8").reshape(4, 5, 5, 3), want)


def test_interactions_named(start_server, tmp_path):
    """A pipeline with a prep stage: interactions per input column by name, the mixed
    Normalizer features as transformed:<name>, on /predict and V2 (per-column inputs);
    concurrent requests through the batcher each get their own rows."""
    import concurrent.futures

    path, df, model = _named_model(tmp_path)
    names = model.contrib_names
    rows = df.iloc[:6].copy()
    rows["plan"] = rows["plan"].where(rows["plan"].notna(), np.nan)
    want = _cls_last(model.predict_interactions(rows), 4)  # (6, 8, 8, 3)
    srv = start_server(path, env={"MLI_MAX_BATCH": "16", "MLI_BATCH_DELAY_US": "5000", "MLI_THREADS": "2"})
    js = _rows_json(rows)
    status, body = srv.json("POST", "/predict", {"instances": js, "interactions": True})
    assert status == 200, body
    np.testing.assert_array_equal(np.array([_inter_matrix(r, names) for r in body["interactions"]]), want)
    inputs = [{"name": c, "datatype": "BYTES" if c == "plan" else "FP64", "shape": [len(js)],
               "data": [r[c] for r in js]} for c in df.columns]
    status, body = srv.json("POST", "/v2/models/named/infer", {"inputs": inputs, "outputs": [{"name": "interactions"}]})
    assert status == 200, body
    t = body["outputs"][0]
    assert t["shape"] == [6, 8, 8, 3] and json.loads(t["parameters"]["columns"]) == names
    np.testing.assert_array_equal(np.array(t["data"]).reshape(6, 8, 8, 3), want)

    def one(i):
        return srv.json("POST", "/predict", {"features": js[i], "interactions": True})

    with concurrent.futures.ThreadPoolExecutor(6) as ex:
        results = list(ex.map(one, range(len(js))))
    for i, (status, body) in enumerate(results):
        assert status == 200, body
        np.testing.assert_array_equal(_inter_matrix(body["interactions"], names), want[i])


def test_tritonclient_contributions_interactions(start_server, tmp_path):
    """tritonclient[http] reads the metadata (with the outputs' parameters) and asks for the
    contributions and interactions outputs, binary and JSON; the column names are in each
    output's parameters."""
    httpclient = pytest.importorskip("tritonclient.http", reason="tritonclient[http] is not installed")
    import mlinfer
    from sklearn.datasets import load_iris
    from sklearn.ensemble import GradientBoostingClassifier

    X, y = load_iris(return_X_y=True)
    path = tmp_path / "gbt.mli"
    mlinfer.export(GradientBoostingClassifier(n_estimators=5, max_depth=2).fit(X, y), str(path))
    model = mlinfer.load(str(path))
    x = np.array(IRIS_ROWS, np.float64)
    srv = start_server(path)
    client = httpclient.InferenceServerClient(f"127.0.0.1:{srv.port}")
    try:
        meta = client.get_model_metadata("gbt")
        by_name = {o["name"]: o for o in meta["outputs"]}
        assert json.loads(by_name["interactions"]["parameters"]["columns"]) == _names(4)
        for binary in (True, False):
            inp = httpclient.InferInput("input", list(x.shape), "FP64")
            inp.set_data_from_numpy(x, binary_data=binary)
            outs = [httpclient.InferRequestedOutput("contributions", binary_data=binary),
                    httpclient.InferRequestedOutput("interactions", binary_data=binary)]
            res = client.infer("gbt", [inp], outputs=outs)
            np.testing.assert_array_equal(res.as_numpy("contributions"), _cls_last(model.predict_contrib(x)))
            np.testing.assert_array_equal(res.as_numpy("interactions"), _cls_last(model.predict_interactions(x), 4))
            for name in ("contributions", "interactions"):
                assert json.loads(res.get_output(name)["parameters"]["columns"]) == _names(4)
    finally:
        client.close()


def test_interactions_batches_bounded(start_server, tmp_path):
    """Dynamic batching coalesces interactions requests only up to 1048576 values a call (25
    rows of a 200-column model), however large MLI_MAX_BATCH: concurrent 8-row V2 requests
    (the output interactions alone) are stacked (fewer calls than requests) but never beyond
    24 rows; each gets its own rows."""
    import concurrent.futures

    import mlinfer
    from sklearn.tree import DecisionTreeRegressor

    rng = np.random.default_rng(1)
    Xw = rng.standard_normal((300, 200))
    wide = tmp_path / "wide.mli"
    mlinfer.export(DecisionTreeRegressor(max_depth=4, random_state=0).fit(Xw, Xw[:, 0] - Xw[:, 2]), str(wide))
    want = _cls_last(mlinfer.load(str(wide)).predict_interactions(Xw[:48]), 4)
    srv = start_server(wide, env={"MLI_MAX_BATCH": "256", "MLI_BATCH_DELAY_US": "300000", "MLI_THREADS": "8"})
    count0 = srv.metric("mlinfer_batch_size_count")
    small0 = srv.metric("mlinfer_batch_size_bucket", le="32")

    def one(i):
        x = Xw[8 * i:8 * i + 8]
        return srv.json("POST", "/v2/models/wide/infer",
                        {"inputs": [{"name": "x", "shape": [8, 200], "datatype": "FP64", "data": x.ravel().tolist()}],
                         "outputs": [{"name": "interactions"}]})

    with concurrent.futures.ThreadPoolExecutor(6) as ex:
        results = list(ex.map(one, range(6)))
    for i, (status, body) in enumerate(results):
        assert status == 200, body
        np.testing.assert_array_equal(np.array(body["outputs"][0]["data"]).reshape(8, 201, 201),
                                      want[8 * i:8 * i + 8])
    calls = srv.metric("mlinfer_batch_size_count") - count0
    assert 2 <= calls < 6  # some stacked
    assert srv.metric("mlinfer_batch_size_bucket", le="32") - small0 == calls  # none over 32 rows
