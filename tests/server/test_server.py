"""mlinfer-server end to end: every endpoint, the error cases, metrics, reload and drain."""
from __future__ import annotations

import http.client
import json
import math
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest

from conftest import DEMO_MODEL

IRIS_ROWS = [[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3], [5.9, 3.0, 4.2, 1.5], [6.3, 2.5, 5.0, 1.9]]
AUTH = {"Authorization": "Bearer s3cret-token"}


def mlinfer_model(path):
    import mlinfer

    return mlinfer.load(str(path))


def export_int_label_model(path):
    """LogisticRegression on iris with integer labels: predictions differ from the demo's."""
    import mlinfer
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression

    X, y = load_iris(return_X_y=True)
    est = LogisticRegression(max_iter=1000).fit(X, y)
    tmp = str(path) + ".tmp"
    mlinfer.export(est, tmp)
    os.replace(tmp, path)  # atomic, as a deployment would
    return est


def wait_for(cond, timeout=5.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return True
        time.sleep(0.05)
    return False


# ---- seed endpoints -------------------------------------------------------------------------
def test_health_and_ready(demo):
    assert demo.json("GET", "/health") == (200, {"status": "ok"})
    status, body = demo.json("GET", "/ready")
    assert status == 200 and body["status"] == "ready"


def test_predict_single_and_batch_match_library(demo):
    ref = mlinfer_model(DEMO_MODEL)
    expected = [str(v) for v in ref.predict(np.array(IRIS_ROWS))]
    status, body = demo.json("POST", "/predict", {"features": IRIS_ROWS[0]})
    assert status == 200 and body == {"prediction": expected[0]}
    status, body = demo.json("POST", "/predict", {"instances": IRIS_ROWS})
    assert status == 200 and body == {"predictions": expected}


def test_predict_probabilities(demo):
    ref = mlinfer_model(DEMO_MODEL)
    proba = ref.predict_proba(np.array(IRIS_ROWS))
    status, body = demo.json("POST", "/predict", {"features": IRIS_ROWS[1], "proba": True})
    assert status == 200
    assert body["prediction"] == "virginica"
    assert list(body["probabilities"]) == list(ref.classes_)
    assert [body["probabilities"][c] for c in ref.classes_] == list(proba[1])
    status, body = demo.json("POST", "/predict", {"instances": IRIS_ROWS, "proba": True})
    assert status == 200 and len(body["probabilities"]) == len(IRIS_ROWS)
    assert [body["probabilities"][3][c] for c in ref.classes_] == list(proba[3])


def test_v1_predict(demo):
    ref = mlinfer_model(DEMO_MODEL)
    status, body = demo.json("POST", "/v1/models/demo_model:predict", {"instances": IRIS_ROWS})
    assert status == 200 and body == {"predictions": [str(v) for v in ref.predict(np.array(IRIS_ROWS))]}
    assert demo.json("GET", "/v1/models/demo_model") == (200, {"name": "demo_model", "ready": True})
    status, body = demo.json("POST", "/v1/models/nope:predict", {"instances": IRIS_ROWS})
    assert status == 404 and body == {"error": "unknown model 'nope'"}


# ---- Open Inference Protocol V2 ----------------------------------------------------------------
def test_v2_server_and_health(demo):
    status, body = demo.json("GET", "/v2")
    assert status == 200 and body["name"] == "mlinfer-server" and isinstance(body["extensions"], list)
    assert demo.json("GET", "/v2/health/live") == (200, {"live": True})
    assert demo.json("GET", "/v2/health/ready") == (200, {"ready": True})


def test_v2_model_metadata_and_ready(demo):
    for path in ("/v2/models/demo_model", "/v2/models/demo_model/versions/1"):
        status, body = demo.json("GET", path)
        assert status == 200
        assert body["name"] == "demo_model" and body["versions"] == ["1"] and body["platform"] == "mlinfer"
        assert body["inputs"] == [{"name": "input", "datatype": "FP32", "shape": [-1, 4]}]
        assert {"name": "predict", "datatype": "BYTES", "shape": [-1]} in body["outputs"]
    assert demo.json("GET", "/v2/models/demo_model/ready") == (200, {"name": "demo_model", "ready": True})
    assert demo.json("GET", "/v2/models/demo_model/versions/1/ready")[0] == 200
    assert demo.json("GET", "/v2/models/other")[0] == 404
    status, body = demo.json("GET", "/v2/models/demo_model/versions/7")
    assert status == 404 and "unknown version '7'" in body["error"]


@pytest.mark.parametrize("datatype", ["FP32", "FP64", "INT32", "INT64"])
def test_v2_infer(demo, datatype):
    ref = mlinfer_model(DEMO_MODEL)
    rows = IRIS_ROWS if datatype.startswith("FP") else [[5, 3, 1, 0], [7, 3, 5, 2]]
    x = np.array(rows, dtype=np.float32 if datatype == "FP32" else np.float64)
    req = {"id": "req-42", "inputs": [{"name": "input", "shape": [len(rows), 4], "datatype": datatype,
                                       "data": [v for r in rows for v in r]}],
           "outputs": [{"name": "predict"}, {"name": "predict_proba"}]}
    status, body = demo.json("POST", "/v2/models/demo_model/versions/1/infer", req)
    assert status == 200, body
    assert body["model_name"] == "demo_model" and body["model_version"] == "1" and body["id"] == "req-42"
    pred, proba = body["outputs"]
    assert pred == {"name": "predict", "datatype": "BYTES", "shape": [len(rows)],
                    "data": [str(v) for v in ref.predict(x)]}
    assert proba["name"] == "predict_proba" and proba["datatype"] == "FP64" and proba["shape"] == [len(rows), 3]
    assert proba["data"] == list(ref.predict_proba(x).ravel())


def test_v2_infer_nested_data_and_default_output(demo):
    req = {"inputs": [{"name": "x", "shape": [2, 4], "datatype": "FP64", "data": IRIS_ROWS[:2]}]}
    status, body = demo.json("POST", "/v2/models/demo_model/infer", req)
    assert status == 200 and "id" not in body
    assert [o["name"] for o in body["outputs"]] == ["predict"]
    assert body["outputs"][0]["data"] == ["setosa", "virginica"]


@pytest.mark.parametrize("req, fragment", [
    ({"inputs": []}, "exactly 1 tensor"),
    ({"inputs": [{"name": "x", "shape": [1, 3], "datatype": "FP32", "data": [1, 2, 3]}]}, "expected shape [-1, 4]"),
    ({"inputs": [{"name": "x", "shape": [2, 4], "datatype": "FP32", "data": [1, 2, 3, 4]}]}, "shape needs 8"),
    ({"inputs": [{"name": "x", "shape": [1, 4], "datatype": "BOOL", "data": [1, 2, 3, 4]}]}, "unsupported datatype"),
    ({"inputs": [{"name": "x", "shape": [1, 4], "datatype": "INT64", "data": [1, 2, 3.5, 4]}]}, "3.5 is not an INT64 value"),
    ({"inputs": [{"name": "x", "shape": [1, 4], "datatype": "INT64", "data": [1, 2, 1e19, 4]}]}, "1e+19 is not an INT64 value"),
    ({"inputs": [{"name": "x", "shape": [1, 4], "datatype": "INT32", "data": [1, -2147483649, 3, 4]}]},
     "-2.14748e+09 is not an INT32 value"),
    ({"inputs": [{"name": "x", "shape": [1, 4], "datatype": "FP64", "data": [1, "a", 3, 4]}]}, "expected a number"),
    ({"inputs": [{"name": "x", "shape": [1, 4], "datatype": "FP32", "data": [1, 2, 3, 1e300]}]}, "FP32 range"),
    ({"inputs": [{"name": "x", "shape": [1, 4], "datatype": "FP32", "data": [1, 2, 3, 4]}],
      "outputs": [{"name": "scores"}]}, "unknown output 'scores'"),
])
def test_v2_infer_errors(demo, req, fragment):
    status, body = demo.json("POST", "/v2/models/demo_model/infer", req)
    assert status == 400 and fragment in body["error"]


def test_integer_labels_and_sklearn_equality(start_server, tmp_path):
    path = tmp_path / "iris_int.mli"
    est = export_int_label_model(path)
    srv = start_server(path)
    status, body = srv.json("POST", "/predict", {"instances": IRIS_ROWS})
    assert status == 200 and body["predictions"] == [int(v) for v in est.predict(np.array(IRIS_ROWS))]
    req = {"inputs": [{"name": "x", "shape": [4, 4], "datatype": "FP64", "data": IRIS_ROWS}]}
    status, body = srv.json("POST", "/v2/models/iris_int/infer", req)
    assert body["outputs"][0]["datatype"] == "INT64"
    assert body["outputs"][0]["data"] == [int(v) for v in est.predict(np.array(IRIS_ROWS))]
    np.testing.assert_allclose(
        srv.json("POST", "/predict", {"features": IRIS_ROWS[2], "proba": True})[1]["probabilities"]["1"],
        est.predict_proba(np.array(IRIS_ROWS[2:3]))[0, 1], rtol=1e-6)


def test_regression_model(start_server, tmp_path):
    import mlinfer
    from sklearn.linear_model import Ridge

    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(50, 3)), rng.normal(size=50)
    est = Ridge().fit(X, y)
    mlinfer.export(est, str(tmp_path / "ridge.mli"))
    srv = start_server(tmp_path / "ridge.mli")
    status, body = srv.json("POST", "/predict", {"instances": X[:5].tolist()})
    assert status == 200
    assert body["predictions"] == list(mlinfer_model(tmp_path / "ridge.mli").predict(X[:5]))
    np.testing.assert_allclose(body["predictions"], est.predict(X[:5]), rtol=1e-6, atol=1e-9)
    status, body = srv.json("POST", "/predict", {"features": X[0].tolist(), "proba": True})
    assert status == 400 and "predict_proba" in body["error"]
    status, body = srv.json("POST", "/v2/models/ridge/infer",
                            {"inputs": [{"name": "x", "shape": [1, 3], "datatype": "FP64", "data": X[0].tolist()}]})
    assert body["outputs"][0]["datatype"] == "FP64" and body["outputs"][0]["shape"] == [1]


def test_float64_json_rows_in_float32_cells(start_server, tmp_path):
    """JSON numbers are float64: rows with values strictly between the two float32 numbers
    around a LightGBM threshold (which compares float64 `x <= t`) get LightGBM's answers
    through /predict and a V2 FP64 tensor, the same as the library's on the same rows."""
    lgb = pytest.importorskip("lightgbm")
    import mlinfer

    rng = np.random.default_rng(3)
    X = rng.normal(size=(1000, 4))
    y = X[:, 0] + np.sin(3 * X[:, 1]) + X[:, 2] * X[:, 3]
    booster = lgb.train({"objective": "regression", "num_leaves": 15, "verbose": -1, "num_threads": 1,
                         "deterministic": True, "seed": 0}, lgb.Dataset(X, y), num_boost_round=15)
    rows = []
    for tree in booster.dump_model()["tree_info"]:
        stack = [tree["tree_structure"]]
        while stack:
            nd = stack.pop()
            if "split_feature" not in nd:
                continue
            stack += [nd["left_child"], nd["right_child"]]
            t = float(nd["threshold"])
            lo = np.float32(t)
            lo = float(np.nextafter(lo, np.float32(-np.inf)) if float(lo) > t else lo)
            hi = float(np.nextafter(np.float32(lo), np.float32(np.inf)))
            for v in (lo + (t - lo) / 2, t + (hi - t) / 2, t):
                r = X[rng.integers(len(X))].copy()
                r[nd["split_feature"]] = v
                rows.append(r)
    Xq = np.array(rows[:400])
    want = booster.predict(Xq)
    short = booster.predict(Xq.astype(np.float32).astype(np.float64))
    assert (short != want).sum() > 5  # a float32 shortcut misroutes some of these rows
    path = tmp_path / "lgb.mli"
    mlinfer.load(str(_save_text(booster, tmp_path))).save(str(path))
    lib_pred = mlinfer.load(str(path)).predict(Xq)
    np.testing.assert_allclose(lib_pred, want, rtol=1e-12, atol=1e-12)
    srv = start_server(path)
    status, body = srv.json("POST", "/predict", {"instances": Xq.tolist()})
    assert status == 200, body
    assert body["predictions"] == list(lib_pred)
    req = {"inputs": [{"name": "x", "shape": list(Xq.shape), "datatype": "FP64", "data": Xq.ravel().tolist()}]}
    status, body = srv.json("POST", "/v2/models/lgb/infer", req)
    assert status == 200, body
    assert body["outputs"][0]["data"] == list(lib_pred)


def _save_text(booster, tmp_path):
    p = tmp_path / "lgb.txt"
    booster.save_model(str(p))
    return p


# ---- errors -------------------------------------------------------------------------------------
@pytest.mark.parametrize("body, fragment", [
    (b"{", "malformed JSON"),
    (b"", "empty request body"),
    (b"[1, 2]", "must be a JSON object"),
    (b'{"features": [5.1, 3.5, 1.4]}', "expected 4 features, got 3"),
    (b'{"features": [5.1, 3.5, 1.4, "x"]}', "expected a number"),
    (b'{"features": [5.1, 3.5, 1.4, NaN]}', "malformed JSON"),
    (b'{"features": [5.1, 3.5, 1.4, 1e999]}', "not finite"),
    (b'{"features": "abc"}', "expected an array"),
    (b'{"instances": []}', "empty"),
    (b'{"instances": [[1, 2, 3, 4], [1, 2]]}', "instances[1]: expected 4 features, got 2"),
    (b'{"rows": []}', 'expected "features"'),
    (b'{"features": [1, 2, 3, 4], "proba": "yes"}', "proba"),
])
def test_bad_input_is_400(demo, body, fragment):
    status, hdrs, data = demo.request("POST", "/predict", body, {"Content-Type": "application/json"})
    assert status == 400 and hdrs["content-type"] == "application/json"
    assert fragment in json.loads(data)["error"]
    assert demo.json("GET", "/health")[0] == 200  # still serving


def test_unknown_path_and_method(demo):
    status, body = demo.json("GET", "/nope")
    assert status == 404 and "unknown path" in body["error"]
    status, hdrs, data = demo.request("GET", "/predict")
    assert status == 405 and "POST" in hdrs["allow"] and "error" in json.loads(data)
    assert demo.request("POST", "/health", b"{}")[0] == 405
    assert demo.request("GET", "/v2/models/demo_model/infer")[0] == 405
    assert demo.request("DELETE", "/metrics")[0] == 405


def test_body_limit_413(start_server, model_dir):
    srv = start_server(model_dir / "demo_model.mli", env={"MLI_MAX_BODY_BYTES": "1000"})
    big = json.dumps({"instances": [IRIS_ROWS[0]] * 100}).encode()
    status, _, data = srv.request("POST", "/predict", big)
    assert status == 413 and "exceeds the limit of 1000 bytes" in json.loads(data)["error"]
    # chunked upload: no Content-Length, so the cap applies while the body arrives
    conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=10)
    conn.request("POST", "/predict", body=iter([big[:600], big[600:]]), encode_chunked=True,
                 headers={"Transfer-Encoding": "chunked"})
    resp = conn.getresponse()
    assert resp.status == 413 and "error" in json.loads(resp.read())
    conn.close()
    assert srv.json("POST", "/predict", {"features": IRIS_ROWS[0]})[0] == 200


def test_api_key(start_server, model_dir, tmp_path):
    key_file = tmp_path / "key"
    key_file.write_text("s3cret-token\n")
    srv = start_server(model_dir / "demo_model.mli", env={"MLI_API_KEY_FILE": str(key_file)})
    req = {"features": IRIS_ROWS[0]}
    status, body = srv.json("POST", "/predict", req)
    assert status == 401 and "bearer token" in body["error"]
    assert srv.json("POST", "/predict", req, {"Authorization": "Bearer wrong-token!"})[0] == 401
    assert srv.json("POST", "/predict", req, {"Authorization": "Bearer s3cret-toke"})[0] == 401
    assert srv.json("POST", "/predict", req, {"Authorization": "Basic s3cret-token"})[0] == 401
    assert srv.json("POST", "/predict", req, AUTH) == (200, {"prediction": "setosa"})
    assert srv.json("GET", "/v2/models/demo_model")[0] == 401
    for open_path in ("/health", "/ready", "/metrics"):
        assert srv.request("GET", open_path)[0] == 200
    assert srv.metric("mlinfer_requests_total", endpoint="predict", code=401) == 4


# ---- metrics ----------------------------------------------------------------------------------------
def test_metrics_format_and_counts(demo):
    before = demo.metric("mlinfer_requests_total", endpoint="predict", model="demo_model", code=200)
    rows_before = demo.metric("mlinfer_batch_size_sum")
    for _ in range(3):
        demo.json("POST", "/predict", {"instances": IRIS_ROWS})
    status, hdrs, data = demo.request("GET", "/metrics")
    assert status == 200 and hdrs["content-type"].startswith("text/plain; version=0.0.4")
    text = data.decode()
    assert text.endswith("\n")
    for family, kind in [("mlinfer_requests_total", "counter"), ("mlinfer_request_duration_seconds", "histogram"),
                         ("mlinfer_batch_size", "histogram"), ("mlinfer_inflight_requests", "gauge"),
                         ("mlinfer_model_loads_total", "counter"), ("mlinfer_model_load_failures_total", "counter"),
                         ("mlinfer_model_last_load_success_timestamp_seconds", "gauge"),
                         ("mlinfer_build_info", "gauge")]:
        assert text.count(f"# TYPE {family} {kind}\n") == 1, family
        assert text.count(f"# HELP {family} ") == 1, family
    assert demo.metric("mlinfer_requests_total", endpoint="predict", model="demo_model", code=200) == before + 3
    assert demo.metric("mlinfer_batch_size_sum") == rows_before + 3 * len(IRIS_ROWS)
    assert demo.metric("mlinfer_model_loads_total") >= 1
    assert demo.metric("mlinfer_model_last_load_success_timestamp_seconds") > 1e9
    assert demo.metric("mlinfer_build_info") == 1
    assert demo.metric("mlinfer_inflight_requests") >= 1  # the scrape itself
    # histograms: cumulative buckets, +Inf == _count, sub-millisecond first bucket
    buckets = [(line.split('le="')[1].split('"')[0], float(line.rsplit(" ", 1)[1]))
               for line in text.splitlines() if line.startswith('mlinfer_request_duration_seconds_bucket{endpoint="predict"')]
    assert buckets[0][0] == "5e-05" and buckets[-1][0] == "+Inf"
    values = [v for _, v in buckets]
    assert values == sorted(values)
    assert values[-1] == demo.metric("mlinfer_request_duration_seconds_count", endpoint="predict")


def test_promtool_check_metrics(demo):
    promtool = shutil.which("promtool")
    if not promtool:
        pytest.skip("promtool not installed (apt-get install prometheus)")
    demo.json("POST", "/predict", {"features": IRIS_ROWS[0]})
    _, _, data = demo.request("GET", "/metrics")
    res = subprocess.run([promtool, "check", "metrics"], input=data, capture_output=True)
    assert res.returncode == 0, res.stdout.decode() + res.stderr.decode()


def test_structured_logs(demo):
    logs = demo.logs()
    events = {e["event"] for e in logs}
    assert {"startup", "listening", "model_loaded", "request"} <= events
    assert all({"ts", "level", "event"} <= set(e) for e in logs)


# ---- hot reload --------------------------------------------------------------------------------------
def test_sighup_reload_and_broken_replacement(start_server, model_dir):
    path = model_dir / "demo_model.mli"
    srv = start_server(path)
    assert srv.json("POST", "/predict", {"features": IRIS_ROWS[0]})[1] == {"prediction": "setosa"}
    loads = srv.metric("mlinfer_model_loads_total")

    srv.signal(signal.SIGHUP)  # same file: a reload all the same
    assert wait_for(lambda: srv.metric("mlinfer_model_loads_total") == loads + 1)

    export_int_label_model(path)
    srv.signal(signal.SIGHUP)
    assert wait_for(lambda: srv.json("POST", "/predict", {"features": IRIS_ROWS[0]})[1] == {"prediction": 0})

    tmp = model_dir / "broken.tmp"
    tmp.write_bytes(b"this is not a model" * 10)
    os.replace(tmp, path)
    srv.signal(signal.SIGHUP)
    assert wait_for(lambda: srv.metric("mlinfer_model_load_failures_total") >= 1)
    assert srv.json("POST", "/predict", {"features": IRIS_ROWS[0]}) == (200, {"prediction": 0})
    assert srv.json("GET", "/ready")[0] == 200
    assert any(e["event"] == "model_load_failed" and e["kept_previous"] for e in srv.logs())


def test_file_change_and_symlink_swap_reload(start_server, tmp_path):
    # the ConfigMap layout: model.mli -> ..data/model.mli, ..data -> ..v1 (swapped atomically)
    mount = tmp_path / "mount"
    (mount / "..v1").mkdir(parents=True)
    (mount / "..v2").mkdir()
    shutil.copy(DEMO_MODEL, mount / "..v1" / "model.mli")
    export_int_label_model(mount / "..v2" / "model.mli")
    os.symlink("..v1", mount / "..data")
    os.symlink("..data/model.mli", mount / "model.mli")
    srv = start_server(mount / "model.mli")
    assert srv.json("POST", "/predict", {"features": IRIS_ROWS[0]})[1] == {"prediction": "setosa"}
    os.symlink("..v2", mount / "..data_tmp")
    os.replace(mount / "..data_tmp", mount / "..data")
    assert wait_for(lambda: srv.json("POST", "/predict", {"features": IRIS_ROWS[0]})[1] == {"prediction": 0})
    status, body = srv.json("POST", "/v1/models/model:predict", {"instances": IRIS_ROWS[:1]})
    assert status == 200 and body == {"predictions": [0]}


# ---- shutdown ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_graceful_shutdown(start_server, model_dir, sig):
    srv = start_server(model_dir / "demo_model.mli", env={"MLI_DRAIN_SECONDS": "1.5"})
    t0 = time.monotonic()
    srv.signal(sig)
    assert wait_for(lambda: srv.request("GET", "/ready")[0] == 503, timeout=0.5)
    status, hdrs, data = srv.request("GET", "/ready")
    assert status == 503 and "retry-after" in hdrs and "draining" in json.loads(data)["error"]
    assert srv.json("GET", "/v2/health/ready")[0] == 503
    assert srv.json("GET", "/health")[0] == 200  # liveness does not depend on the drain
    assert srv.json("POST", "/predict", {"features": IRIS_ROWS[0]}) == (200, {"prediction": "setosa"})
    assert srv.proc.wait(timeout=10) == 0
    assert time.monotonic() - t0 >= 1.4
    assert any(e["event"] == "stopped" for e in srv.logs())


def test_demo_model_default(start_server):
    srv = start_server(None)
    status, body = srv.json("GET", "/v2/models/demo_model")
    assert status == 200 and body["inputs"][0]["shape"] == [-1, 4]


def test_bad_config_exits_2():
    from conftest import SERVER_BIN

    res = subprocess.run([SERVER_BIN, "--port", "99999"], capture_output=True, timeout=10)
    assert res.returncode == 2 and b"--port" in res.stderr
    res = subprocess.run([SERVER_BIN, "--model", "/nonexistent/x.mli", "--port", "0"], capture_output=True, timeout=10)
    assert res.returncode == 1 and b"model_load_failed" in res.stderr


# ---- overload -------------------------------------------------------------------------------
def test_overload_503(start_server, model_dir):
    """MLI_MAX_INFLIGHT=1: a request whose body is still arriving holds the only slot."""
    import socket

    srv = start_server(model_dir / "demo_model.mli", env={"MLI_MAX_INFLIGHT": "1"})
    body = json.dumps({"features": IRIS_ROWS[0]}).encode()
    slow = socket.create_connection(("127.0.0.1", srv.port), timeout=10)
    try:
        slow.sendall(b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     b"Content-Length: %d\r\n\r\n" % len(body) + body[:5])
        assert wait_for(lambda: srv.metric("mlinfer_predict_inflight_requests") == 1)
        for path, req in [("/predict", {"features": IRIS_ROWS[0]}),
                          ("/v1/models/demo_model:predict", {"instances": IRIS_ROWS}),
                          ("/v2/models/demo_model/infer",
                           {"inputs": [{"name": "input", "shape": [4], "datatype": "FP64", "data": IRIS_ROWS[0]}]})]:
            status, hdrs, data = srv.request("POST", path, req)
            assert status == 503, (path, data)
            assert hdrs.get("retry-after") == "1"
            assert json.loads(data) == {"error": "server overloaded: 1 requests in flight"}
        assert srv.json("GET", "/health")[0] == 200
        assert srv.json("GET", "/ready")[0] == 200
        assert srv.json("GET", "/v2/models/demo_model")[0] == 200
        assert srv.metric("mlinfer_overload_rejections_total") == 3
        assert srv.metric("mlinfer_requests_total", endpoint="predict", code="503") == 1
        slow.sendall(body[5:])
        resp = b""
        while b"setosa" not in resp:
            chunk = slow.recv(65536)
            assert chunk, resp
            resp += chunk
        assert resp.startswith(b"HTTP/1.1 200"), resp
    finally:
        slow.close()
    assert wait_for(lambda: srv.metric("mlinfer_predict_inflight_requests") == 0)
    assert srv.json("POST", "/predict", {"features": IRIS_ROWS[0]}) == (200, {"prediction": "setosa"})


def test_max_inflight_default_and_validation(start_server, model_dir):
    srv = start_server(model_dir / "demo_model.mli", env={"MLI_THREADS": "3"})
    startup = [e for e in srv.logs() if e.get("event") == "startup"][0]
    assert startup["max_inflight"] == 192
    from conftest import SERVER_BIN

    env = {**os.environ, "MLI_MAX_INFLIGHT": "0"}
    res = subprocess.run([SERVER_BIN, "--port", "0"], capture_output=True, timeout=10, env=env)
    assert res.returncode == 2 and b"MLI_MAX_INFLIGHT" in res.stderr


def _thread_wakeups(pid):
    """{thread id: voluntary context switches} of the server's libmicrohttpd threads."""
    out = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            if not (task / "comm").read_text().startswith("MHD"):
                continue
            status = (task / "status").read_text()
        except OSError:  # the thread ended
            continue
        out[task.name] = int(status.split("voluntary_ctxt_switches:")[1].split()[0])
    return out


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="needs Linux /proc")
def test_http_threads_share_a_burst_of_connections(start_server, model_dir):
    """16 keep-alive connections opened at once (a client's or a proxy's pool) are spread over
    the MLI_HTTP_THREADS threads: each thread has its own listening socket (SO_REUSEPORT), where
    one shared socket let the first thread awake accept them all and the other sit idle for
    their lifetime (2 runs in 3 measured). Each thread's wakeups (voluntary context switches,
    one or more per request it serves) must show it served requests; 16 connections all hashed
    to one socket has probability 2**-15."""
    import threading

    srv = start_server(model_dir / "demo_model.mli", env={"MLI_HTTP_THREADS": "2"})
    before = _thread_wakeups(srv.proc.pid)
    assert len(before) == 2, before
    conns = [http.client.HTTPConnection("127.0.0.1", srv.port, timeout=10) for _ in range(16)]
    for c in conns:
        c.connect()
    body = json.dumps({"features": IRIS_ROWS[0]}).encode()
    failures = []

    def client(c):
        for _ in range(40):
            c.request("POST", "/predict", body=body, headers={"Content-Type": "application/json"})
            r = c.getresponse()
            if r.status != 200 or json.loads(r.read()) != {"prediction": "setosa"}:
                failures.append(r.status)

    threads = [threading.Thread(target=client, args=(c,)) for c in conns]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for c in conns:
        c.close()
    assert not failures
    after = _thread_wakeups(srv.proc.pid)
    served = {tid: after[tid] - before[tid] for tid in before}
    assert min(served.values()) >= 40, served  # at least one connection's 40 requests each


def test_busy_port_is_refused_with_several_http_threads(start_server, model_dir):
    """Each HTTP thread's socket takes SO_REUSEPORT, which would let a second server of the same
    user share the port silently (half the requests answered by the other's model): a port
    another socket listens on is refused, as a single socket's bind refuses it."""
    from conftest import SERVER_BIN

    srv = start_server(model_dir / "demo_model.mli", env={"MLI_HTTP_THREADS": "2"})
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLI_")}
    env.update({"MLI_HTTP_THREADS": "2", "PORT": str(srv.port)})
    res = subprocess.run([SERVER_BIN, "--model", str(model_dir / "demo_model.mli")], capture_output=True,
                         timeout=10, env=env)
    assert res.returncode == 1
    assert b"another socket listens on the port" in res.stderr
    assert srv.json("POST", "/predict", {"features": IRIS_ROWS[0]}) == (200, {"prediction": "setosa"})
