"""Named, mixed-type rows on the real server (issue 18): a ColumnTransformer pipeline over
numeric and string columns with missing values, exported with mlinfer.export, served, and
its answers compared with scikit-learn's predict / predict_proba on the same rows.

Tolerance: LogisticRegression runs in float32 in the library, so probabilities agree within
1e-5 relative / 1e-6 absolute (DESIGN.md's exactness contract); labels are exact."""
from __future__ import annotations

import math

import numpy as np
import pytest

pd = pytest.importorskip("pandas")
from sklearn.compose import ColumnTransformer  # noqa: E402
from sklearn.impute import SimpleImputer  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import OneHotEncoder, StandardScaler  # noqa: E402

from conftest import SKIP_REASON, Server  # noqa: E402

NUM = ["tenure", "charges"]
CAT = ["plan", "device"]


def table(n, seed):
    rng = np.random.default_rng(seed)
    df = pd.DataFrame({"tenure": rng.integers(0, 72, n).astype(float), "charges": rng.normal(70, 30, n)})
    df["plan"] = rng.choice(["basic", "plus", "pro"], n).astype(object)
    df["device"] = rng.choice(["ios", "android", "web"], n).astype(object)
    for c in NUM + CAT:
        df.loc[rng.random(n) < 0.1, c] = np.nan
    y = ((0.04 * df["tenure"].fillna(30) + (df["plan"] == "pro") * 1.5 + rng.normal(0, 1, n)) > 1.5).astype(int)
    return df, y


def pipeline(impute_numbers=True):
    num = make_pipeline(SimpleImputer(strategy="median"), StandardScaler()) if impute_numbers else StandardScaler()
    return make_pipeline(ColumnTransformer([
        ("num", num, NUM),
        ("cat", make_pipeline(SimpleImputer(strategy="constant", fill_value="missing"),
                              OneHotEncoder(handle_unknown="error")), CAT),
    ], sparse_threshold=0), LogisticRegression(max_iter=500))


def rows_json(df):
    """DataFrame rows as JSON objects, NaN as null."""
    out = []
    for rec in df.to_dict("records"):
        out.append({k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in rec.items()})
    return out


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    if SKIP_REASON:
        pytest.skip(SKIP_REASON)
    import mlinfer
    d = tmp_path_factory.mktemp("named")
    df, y = table(400, 0)
    est = pipeline().fit(df, y)
    mlinfer.export(est, d / "churn.mli")
    srv = Server(d / "churn.mli")
    yield srv, est
    srv.stop()


@pytest.fixture(scope="module")
def no_impute(tmp_path_factory):
    if SKIP_REASON:
        pytest.skip(SKIP_REASON)
    import mlinfer
    d = tmp_path_factory.mktemp("noimpute")
    df, y = table(400, 1)
    df[NUM] = df[NUM].fillna(0.0)
    est = pipeline(impute_numbers=False).fit(df, y)
    mlinfer.export(est, d / "strict.mli")
    srv = Server(d / "strict.mli")
    yield srv
    srv.stop()


def test_instances_equal_sklearn(served):
    srv, est = served
    df, _ = table(50, 7)
    assert df.isna().any().all()  # every column has a missing value somewhere
    st, body = srv.json("POST", "/predict", {"instances": rows_json(df), "proba": True})
    assert st == 200, body
    assert body["predictions"] == est.predict(df).tolist()
    got = np.array([[p[str(c)] for c in est.classes_] for p in body["probabilities"]])
    np.testing.assert_allclose(got, est.predict_proba(df), rtol=1e-5, atol=1e-6)


def test_features_object_and_column_order(served):
    srv, est = served
    df, _ = table(5, 3)
    for i, row in enumerate(rows_json(df)):
        shuffled = dict(reversed(list(row.items())))  # any key order
        st, body = srv.json("POST", "/predict", {"features": shuffled, "proba": True})
        assert st == 200, body
        assert body["prediction"] == est.predict(df.iloc[[i]])[0]
        want = est.predict_proba(df.iloc[[i]])[0]
        np.testing.assert_allclose([body["probabilities"][str(c)] for c in est.classes_], want, rtol=1e-5, atol=1e-6)


def test_v1_named_instances(served):
    srv, est = served
    df, _ = table(20, 11)
    st, body = srv.json("POST", "/v1/models/churn:predict", {"instances": rows_json(df)})
    assert st == 200, body
    assert body["predictions"] == est.predict(df).tolist()


def row0():
    return {"tenure": 3.0, "charges": 50.0, "plan": "pro", "device": "ios"}


@pytest.mark.parametrize("change, where, reason, text", [
    (lambda r: r.pop("charges"), "features", "missing_column", "features: missing column 'charges'"),
    (lambda r: r.update(tenure="three"), "features", "wrong_type",
     "features.tenure: expected a number (or null), got a string"),
    (lambda r: r.update(plan=5), "features", "wrong_type", "features.plan: expected a string (or null), got a number"),
    (lambda r: r.update(colour="red"), "features", "unknown_column", "features: unknown column 'colour'"),
])
def test_errors_single(served, change, where, reason, text):
    srv, _ = served
    r = row0()
    change(r)
    st, body = srv.json("POST", "/predict", {where: r})
    assert st == 400
    assert body["error"] == text
    assert body["reason"] == reason


def test_errors_batch_name_row(served):
    srv, _ = served
    rows = [row0(), row0(), row0()]
    rows[2]["device"] = True
    st, body = srv.json("POST", "/predict", {"instances": rows})
    assert (st, body["error"]) == (400, "instances[2].device: expected a string (or null), got a boolean")
    rows[2] = row0()
    del rows[1]["plan"]
    st, body = srv.json("POST", "/v1/models/churn:predict", {"instances": rows})
    assert (st, body["error"]) == (400, "instances[1]: missing column 'plan'")


def test_unknown_category_names_column_and_row(served):
    srv, _ = served
    rows = [row0(), row0()]
    rows[1]["plan"] = "platinum"
    st, body = srv.json("POST", "/predict", {"instances": rows})
    assert st == 400, body
    assert "'plan'" in body["error"] and "row 1" in body["error"] and "platinum" in body["error"], body
    assert body["reason"] == "unknown_category"
    # still serving, and the errors are counted by reason
    st, body = srv.json("POST", "/predict", {"features": row0()})
    assert st == 200
    assert srv.metric("mlinfer_input_errors_total", reason="unknown_category") >= 1


def test_missing_value_refused_names_column(no_impute):
    r = row0()
    r["charges"] = None
    st, body = no_impute.json("POST", "/predict", {"features": r})
    assert st == 400, body
    assert "'charges'" in body["error"] and "missing" in body["error"], body
    assert body["reason"] == "missing_value"
    r["charges"] = 1.0
    st, body = no_impute.json("POST", "/predict", {"features": r})
    assert st == 200, body


def test_positional_still_refused_clearly_for_named(served):
    srv, _ = served
    st, body = srv.json("POST", "/predict", {"features": [1, 2, 3, 4]})
    assert st == 400


def test_unnamed_model_named_request(demo):
    st, body = demo.json("POST", "/predict", {"features": {"a": 1}})
    assert st == 400
    assert "records no column names" in body["error"] or "unknown column" in body["error"], body


def v2_inputs(df, num_type="FP64", shape1=False):
    rows = rows_json(df)
    out = []
    for c in NUM + CAT:
        vals = [r[c] for r in rows]
        out.append({"name": c, "datatype": "BYTES" if c in CAT else num_type,
                    "shape": [len(rows), 1] if shape1 else [len(rows)],
                    "data": [[v] for v in vals] if shape1 else vals})
    return out


@pytest.mark.parametrize("num_type, shape1", [("FP64", False), ("FP64", True), ("FP32", False)])
def test_v2_named_inputs_equal_sklearn(served, num_type, shape1):
    srv, est = served
    df, _ = table(30, 5)
    if num_type == "FP32":
        df[NUM] = df[NUM].astype(np.float32).astype(float)  # the values an FP32 client holds
    st, body = srv.json("POST", "/v2/models/churn/infer", {"inputs": v2_inputs(df, num_type, shape1),
                                                         "outputs": [{"name": "predict"}, {"name": "predict_proba"}]})
    assert st == 200, body
    out = {o["name"]: o for o in body["outputs"]}
    assert out["predict"]["data"] == est.predict(df).tolist()
    got = np.array(out["predict_proba"]["data"]).reshape(len(df), -1)
    np.testing.assert_allclose(got, est.predict_proba(df), rtol=1e-5, atol=1e-6)


def test_v2_int64_and_bool_numbers(served):
    srv, est = served
    df = pd.DataFrame({"tenure": [3.0, 40.0], "charges": [1.0, 0.0], "plan": ["pro", "basic"], "device": ["ios", "web"]})
    inputs = v2_inputs(df)
    inputs[0] = {"name": "tenure", "datatype": "INT64", "shape": [2], "data": [3, 40]}
    inputs[1] = {"name": "charges", "datatype": "BOOL", "shape": [2], "data": [True, False]}
    st, body = srv.json("POST", "/v2/models/churn/infer", {"inputs": inputs})
    assert st == 200, body
    assert body["outputs"][0]["data"] == est.predict(df).tolist()


@pytest.mark.parametrize("edit, reason, text", [
    (lambda ins: ins.pop(1), "missing_column", "inputs: missing column 'charges'"),
    (lambda ins: ins[2].update(datatype="FP64"), "wrong_type",
     "input 'plan': column of strings: expected datatype BYTES, got 'FP64'"),
    (lambda ins: ins[0].update(data=[1, "x"]), "wrong_type", "input 'tenure' [1]: expected a number (or null), got a string"),
    (lambda ins: ins[3].update(data=["ios", 4]), "wrong_type", "input 'device' [1]: expected a string (or null), got a number"),
    (lambda ins: ins.append({"name": "colour", "datatype": "BYTES", "shape": [2], "data": ["a", "b"]}),
     "unknown_column", "input 'colour': the model has no column of that name"),
    # a declared size is checked against the values present before anything is allocated
    (lambda ins: ins[0].update(shape=[1000000000]), "wrong_type",
     "input 'tenure': data holds 2 values, shape needs 1000000000"),
    (lambda ins: ins[0].update(shape=[2, 3]), "wrong_type", "input 'tenure': expected shape [n] or [n, 1], one value per row"),
    # whole numbers outside the declared integer type (the fuzzer's 1.4e25 as INT64 was a cast
    # out of range, undefined behaviour) and fractions are refused, naming the type
    (lambda ins: ins[0].update(datatype="INT64", data=[3, 1.4444e25]), "wrong_type",
     "input 'tenure' [1]: 1.4444e+25 is not an INT64 value"),
    (lambda ins: ins[0].update(datatype="INT64", data=[-9223372036854775808, 2.5]), "wrong_type",
     "input 'tenure' [1]: 2.5 is not an INT64 value"),
    (lambda ins: ins[0].update(datatype="INT32", data=[2147483648, 1]), "wrong_type",
     "input 'tenure' [0]: 2.14748e+09 is not an INT32 value"),
])
def test_v2_named_errors(served, edit, reason, text):
    srv, _ = served
    df = pd.DataFrame({"tenure": [3.0, 4.0], "charges": [1.0, 2.0], "plan": ["pro", "basic"], "device": ["ios", "web"]})
    inputs = v2_inputs(df)
    edit(inputs)
    st, body = srv.json("POST", "/v2/models/churn/infer", {"inputs": inputs})
    assert st == 400, body
    assert body["error"] == text
    assert body["reason"] == reason


def test_v2_unknown_category(served):
    srv, _ = served
    df = pd.DataFrame({"tenure": [3.0, 4.0], "charges": [1.0, 2.0], "plan": ["pro", "gold"], "device": ["ios", "web"]})
    st, body = srv.json("POST", "/v2/models/churn/infer", {"inputs": v2_inputs(df)})
    assert st == 400, body
    assert "'plan'" in body["error"] and "row 1" in body["error"] and "gold" in body["error"]


def test_v2_metadata_lists_named_inputs(served):
    srv, _ = served
    st, body = srv.json("GET", "/v2/models/churn")
    assert st == 200
    assert [(i["name"], i["datatype"], i["shape"]) for i in body["inputs"]] == \
        [("tenure", "FP64", [-1]), ("charges", "FP64", [-1]), ("plan", "BYTES", [-1]), ("device", "BYTES", [-1])]


def test_numeric_named_model_nulls_and_arrays(start_server, tmp_path):
    """A model over named numeric columns without a prep stage (HistGradientBoosting: takes
    NaN): named rows with null score as scikit-learn scores NaN, and arrays keep working."""
    import mlinfer
    from sklearn.ensemble import HistGradientBoostingClassifier
    df, y = table(400, 2)
    X = df[NUM]
    est = HistGradientBoostingClassifier(max_iter=20).fit(X, y)
    mlinfer.export(est, tmp_path / "hgb.mli")
    srv = start_server(tmp_path / "hgb.mli")
    test, _ = table(40, 9)
    test = test[NUM]
    st, body = srv.json("POST", "/predict", {"instances": rows_json(test), "proba": True})
    assert st == 200, body
    assert body["predictions"] == est.predict(test).tolist()
    got = np.array([[p[str(c)] for c in est.classes_] for p in body["probabilities"]])
    np.testing.assert_allclose(got, est.predict_proba(test), rtol=1e-12, atol=1e-12)  # trees: float64 sums
    finite = test.dropna()
    st, body = srv.json("POST", "/predict", {"instances": finite.values.tolist()})
    assert st == 200, body
    assert body["predictions"] == est.predict(finite).tolist()


def test_v2_binary_tritonclient(served):
    """tritonclient.http with binary FP64 (NaN: a missing value) and BYTES inputs."""
    httpclient = pytest.importorskip("tritonclient.http")
    srv, est = served
    df, _ = table(25, 13)
    for c in CAT:  # the binary BYTES form has no null: strings only
        df[c] = df[c].fillna("pro" if c == "plan" else "web")
    client = httpclient.InferenceServerClient(f"127.0.0.1:{srv.port}")
    inputs = []
    for c in NUM + CAT:
        arr = df[c].to_numpy(dtype=np.float64) if c in NUM else np.array([s.encode() for s in df[c]], dtype=np.object_)
        inp = httpclient.InferInput(c, [len(df)], "FP64" if c in NUM else "BYTES")
        inp.set_data_from_numpy(arr, binary_data=True)
        inputs.append(inp)
    outputs = [httpclient.InferRequestedOutput("predict_proba", binary_data=True)]
    res = client.infer("churn", inputs, outputs=outputs)
    got = res.as_numpy("predict_proba").reshape(len(df), -1)
    np.testing.assert_allclose(got, est.predict_proba(df), rtol=1e-5, atol=1e-6)
    assert np.isnan(df[NUM].to_numpy()).any()


def test_v2_binary_size_mismatch(served):
    srv, _ = served
    import json as _json
    head = {"inputs": [{"name": c, "datatype": "FP64", "shape": [2], "parameters": {"binary_data_size": 16}}
                       for c in NUM] +
                      [{"name": c, "datatype": "BYTES", "shape": [2], "data": ["pro", "ios"]} for c in CAT]}
    js = _json.dumps(head).encode()
    body = js + b"\0" * 24  # 8 bytes short
    st, _, raw = srv.request("POST", "/v2/models/churn/infer", body=body,
                             headers={"Inference-Header-Content-Length": str(len(js))})
    assert st == 400
    assert _json.loads(raw)["error"] == ("input 'charges': binary_data_size must be a whole number of bytes within the "
                                         "8 bytes of binary data left after the JSON header "
                                         "(Inference-Header-Content-Length)")


def test_v2_mlserver_pandas_content_type(served):
    """MLServer's clients send parameters.content_type "pd" on the request and "str" on string inputs."""
    srv, est = served
    df, _ = table(10, 21)
    inputs = v2_inputs(df)
    for i in inputs:
        if i["datatype"] == "BYTES":
            i["parameters"] = {"content_type": "str"}
    st, body = srv.json("POST", "/v2/models/churn/infer", {"parameters": {"content_type": "pd"}, "inputs": inputs})
    assert st == 200, body
    assert body["outputs"][0]["data"] == est.predict(df).tolist()


def test_lightgbm_string_categories_served(tmp_path):
    """A LightGBM model trained on pandas category columns of strings (its pandas_categorical
    becomes a lookup stage): JSON rows with strings, nulls and an unseen string are scored as
    LightGBM scores the same rows re-typed to its training categories."""
    lgb = pytest.importorskip("lightgbm")
    import mlinfer
    df, y = table(600, 4)
    cats = {c: pd.CategoricalDtype(sorted(df[c].dropna().unique())) for c in CAT}
    est = lgb.LGBMClassifier(n_estimators=20, min_data_per_group=5, cat_smooth=1, verbose=-1)
    est.fit(df.astype(cats), y)
    mlinfer.export(est, tmp_path / "lgb.mli")
    test, _ = table(40, 9)
    test.loc[3, "plan"] = "enterprise"  # unseen: missing for LightGBM (set_categories)
    srv = Server(tmp_path / "lgb.mli")
    try:
        st, body = srv.json("POST", "/predict", {"instances": rows_json(test), "proba": True})
    finally:
        srv.stop()
    assert st == 200, body
    assert body["predictions"] == est.predict(test.astype(cats)).tolist()
    got = np.array([[p[str(c)] for c in est.classes_] for p in body["probabilities"]])
    np.testing.assert_allclose(got, est.predict_proba(test.astype(cats)), rtol=1e-6, atol=1e-9)


TEXT_WORDS = ["printer", "toner", "VPN", "drops", "hourly", "ΟΔΟΣ", "café", "cafe\u0301", "naïve", "İstanbul",
              "日本語", "😀", "foo_bar", "the", "a", "x1"]


@pytest.fixture(scope="module")
def text_served(tmp_path_factory):
    """A text classifier (TfidfVectorizer with bigrams + LogisticRegression over 3 classes)."""
    if SKIP_REASON:
        pytest.skip(SKIP_REASON)
    import mlinfer
    from sklearn.feature_extraction.text import TfidfVectorizer
    rng = np.random.default_rng(4)
    docs = [" ".join(rng.choice(TEXT_WORDS, size=rng.integers(0, 12))) for _ in range(300)]
    y = rng.integers(0, 3, 300)
    est = make_pipeline(TfidfVectorizer(ngram_range=(1, 2), strip_accents="unicode"),
                        LogisticRegression(max_iter=500)).fit(docs, y)
    d = tmp_path_factory.mktemp("text")
    mlinfer.export(est, d / "tickets.mli")
    srv = Server(d / "tickets.mli")
    yield srv, est, docs
    srv.stop()


def test_text_model_served_by_every_route(text_served):
    """Documents through /predict (a `text` field per instance), V2 (a BYTES input named
    `text`) and V1, equal to scikit-learn's; a null document is a 400 naming the row."""
    srv, est, docs = text_served
    docs = docs[:40] + ["", "unseen words only", "ΣΑΣ ΟΔΟΣ café"]
    want, proba = est.predict(docs).tolist(), est.predict_proba(docs)
    st, body = srv.json("POST", "/predict", {"instances": [{"text": d} for d in docs], "proba": True})
    assert st == 200, body
    assert body["predictions"] == want
    got = np.array([[p[str(c)] for c in est.classes_] for p in body["probabilities"]])
    np.testing.assert_allclose(got, proba, rtol=1e-5, atol=1e-6)
    st, body = srv.json("POST", "/v2/models/tickets/infer", {
        "inputs": [{"name": "text", "datatype": "BYTES", "shape": [len(docs)], "data": docs}],
        "outputs": [{"name": "predict_proba"}]})
    assert st == 200, body
    np.testing.assert_allclose(np.array(body["outputs"][0]["data"]).reshape(len(docs), -1), proba, rtol=1e-5,
                               atol=1e-6)
    st, body = srv.json("POST", "/v1/models/tickets:predict", {"instances": [{"text": d} for d in docs]})
    assert st == 200, body
    assert body["predictions"] == want
    st, body = srv.json("POST", "/v2/models/tickets/infer", {
        "inputs": [{"name": "text", "datatype": "BYTES", "shape": [2], "data": ["ok", None]}]})
    assert st == 400, body
    assert "column 'text', row 1: a missing document" in body["error"], body


@pytest.mark.parametrize("raw, text", [
    # was a silent wrong answer: cJSON took the first value, Python's json (the DataFrame a
    # client builds from the same body) the last
    ('{"features": {"tenure": 3, "charges": 50, "plan": "pro", "device": "ios", "plan": "basic"}, "proba": true}',
     "the JSON object 'features' has the key 'plan' twice: send each key once"),
    ('{"features": {"tenure": 3, "charges": 50, "plan": "pro", "device": "ios", "tenure": 60}}',
     "the JSON object 'features' has the key 'tenure' twice: send each key once"),
    ('{"instances": [{"tenure": 3, "charges": 50, "plan": "pro", "device": "ios"},'
     ' {"tenure": 3, "charges": 50, "plan": "pro", "device": "ios", "device": "web"}]}',
     "the JSON object 'instances[1]' has the key 'device' twice: send each key once"),
    ('{"features": {"tenure": 3, "charges": 50, "plan": "pro", "device": "ios"}, "proba": false, "proba": true}',
     "the request has the key 'proba' twice: send each key once"),
    # was a silent wrong answer: "pro\u0000x" read as the category "pro" (cJSON's strings end at a NUL)
    ('{"features": {"tenure": 3, "charges": 50, "plan": "pro\\u0000x", "device": "ios"}}',
     "a JSON string holds \\u0000 (a NUL character), which the server cannot take"),
])
def test_duplicate_keys_and_nul_characters_are_refused(served, raw, text):
    srv, est = served
    import json as _json
    for path in ("/predict", "/v1/models/churn:predict"):
        body = raw if path == "/predict" or "instances" in raw else None
        if body is None:
            continue
        st, _, out = srv.request("POST", path, body.encode())
        assert st == 400, out
        assert _json.loads(out)["error"] == text
    # an escaped backslash before u0000 is text, not a NUL: the row is scored (an unknown category here)
    st, _, out = srv.request("POST", "/predict", b'{"features": {"tenure": 3, "charges": 50, "plan": "pro\\\\u0000",'
                                                 b' "device": "ios"}}')
    assert st == 400 and b"unknown category" in out and b"u0000" in out, out


def test_v2_duplicate_keys_refused(served):
    srv, _ = served
    body = ('{"inputs": [{"name": "tenure", "datatype": "FP64", "shape": [1], "data": [3]},'
            ' {"name": "charges", "datatype": "FP64", "shape": [1], "data": [50]},'
            ' {"name": "plan", "datatype": "BYTES", "shape": [1], "data": ["pro"], "data": ["basic"]},'
            ' {"name": "device", "datatype": "BYTES", "shape": [1], "data": ["ios"]}]}')
    st, _, out = srv.request("POST", "/v2/models/churn/infer", body.encode())
    assert st == 400 and b"the JSON object 'inputs[2]' has the key 'data' twice" in out, out


def test_duplicate_key_found_in_a_large_object(served):
    srv, _ = served
    keys = ", ".join(f'"k{i}": {i}' for i in range(60))
    st, _, out = srv.request("POST", "/predict", f'{{"features": {{{keys}, "k17": 1}}}}'.encode())
    assert st == 400 and b"the JSON object 'features' has the key 'k17' twice" in out, out


def test_v2_fp32_inputs_are_float32_columns(tmp_path):
    """Was a silent wrong answer: an FP32 input was widened to float64 before the library saw it,
    so a float32 column through an imputer before trees was scored as scikit-learn scores a
    float64 frame (236 of these 10 000 rows differ from scikit-learn on the float32 frame the
    client holds). FP32 inputs now reach the library as float32 columns: refused there, as
    mlinfer.Model.predict refuses the float32 frame; exact where float32 is exact (no imputer)."""
    if SKIP_REASON:
        pytest.skip(SKIP_REASON)
    import mlinfer
    from sklearn.ensemble import HistGradientBoostingClassifier
    rng = np.random.default_rng(0)
    n = 10000
    a = rng.normal(size=n)
    a[rng.random(n) < 0.05] = np.nan
    df = pd.DataFrame({"a": a, "plan": rng.choice(["x", "y"], n).astype(object)})
    y = ((np.nan_to_num(a, nan=0.01) > 0.0) ^ (df["plan"] == "x")).astype(int)
    d32 = df.astype({"a": np.float32})

    def inputs(frame):
        return [{"name": "a", "datatype": "FP32", "shape": [n],
                 "data": [None if math.isnan(v) else float(v) for v in frame["a"]]},
                {"name": "plan", "datatype": "BYTES", "shape": [n], "data": frame["plan"].tolist()}]

    for impute in (True, False):
        num = SimpleImputer() if impute else "passthrough"
        est = make_pipeline(ColumnTransformer([("num", num, ["a"]), ("cat", OneHotEncoder(), ["plan"])]),
                            HistGradientBoostingClassifier(max_iter=50, random_state=0)).fit(df, y)
        path = tmp_path / f"f32_{int(impute)}.mli"
        mlinfer.export(est, path)
        srv = Server(path)
        try:
            st, body = srv.json("POST", f"/v2/models/{path.stem}/infer",
                                {"inputs": inputs(d32), "outputs": [{"name": "predict_proba"}]})
        finally:
            srv.stop()
        if impute:
            assert (np.abs(est.predict_proba(d32) - est.predict_proba(df.astype({"a": np.float64}).assign(
                a=d32["a"].astype(np.float64)))) > 1e-9).any()  # the difference is real
            assert st == 400 and "column 'a' is float32 and goes through an imputer before the trees" in body["error"]
        else:
            assert st == 200, body
            got = np.array(body["outputs"][0]["data"]).reshape(n, 2)
            np.testing.assert_allclose(got, est.predict_proba(d32), rtol=1e-9, atol=1e-12)


def test_positional_float32_refusal_is_a_400(tmp_path):
    """The library's refusal of a value (MLI_ERR_INPUT: here float32 rows through an imputer
    before trees) is the client's error on array rows too: a 400 with its message, not a 500."""
    if SKIP_REASON:
        pytest.skip(SKIP_REASON)
    import mlinfer
    from sklearn.ensemble import HistGradientBoostingClassifier
    rng = np.random.default_rng(0)
    X = rng.normal(size=(500, 2))
    X[rng.random(X.shape) < 0.05] = np.nan
    est = make_pipeline(SimpleImputer(), HistGradientBoostingClassifier(max_iter=10)).fit(
        X, (np.nan_to_num(X[:, 0]) > 0).astype(int))
    mlinfer.export(est, tmp_path / "numf32.mli")
    srv = Server(tmp_path / "numf32.mli")
    try:
        st, body = srv.json("POST", "/v2/models/numf32/infer",
                            {"inputs": [{"name": "input", "datatype": "FP32", "shape": [1, 2], "data": [0.5, 0.25]}]})
        assert st == 400 and "is float32 and goes through an imputer before the trees" in body["error"], body
        st, body = srv.json("POST", "/v2/models/numf32/infer",
                            {"inputs": [{"name": "input", "datatype": "FP64", "shape": [1, 2], "data": [0.5, 0.25]}]})
        assert st == 200, body
        assert body["outputs"][0]["data"] == est.predict(np.array([[0.5, 0.25]])).tolist()
    finally:
        srv.stop()


def test_v2_string_content_types_other_than_str_refused(served):
    """MLServer's content_type "base64" sends each string base64-encoded; taken as they are they
    would be categories never seen in training (zeros under handle_unknown="ignore"): refused."""
    import base64
    srv, est = served
    df, _ = table(3, 5)
    df = df.fillna({"plan": "pro", "device": "ios"})
    inputs = v2_inputs(df)
    for i in inputs:
        if i["name"] == "plan":
            i["parameters"] = {"content_type": "base64"}
            i["data"] = [base64.b64encode(v.encode()).decode() for v in i["data"]]
    st, body = srv.json("POST", "/v2/models/churn/infer", {"inputs": inputs})
    assert st == 400 and "input 'plan': parameters.content_type 'base64' is not taken" in body["error"], body


def test_json_that_is_not_utf8_is_refused(served):
    """Was a silent wrong answer: a Latin-1 body's "Zürich" (cJSON passes any bytes through)
    reached the encoder as bytes no category has; JSON must be UTF-8 (Python's json refuses it)."""
    srv, est = served
    body = '{"features": {"tenure": 3, "charges": 50, "plan": "pro", "device": "iös"}}'
    st, _, out = srv.request("POST", "/predict", body.encode("latin-1"))
    assert st == 400 and b"the JSON text is not UTF-8 (byte 0xF6 at offset" in out, out
    st, _, out = srv.request("POST", "/predict", body.encode("utf-8"))  # valid: an unknown category, named
    assert st == 400 and b"unknown category" in out and "iös".encode() in out, out
