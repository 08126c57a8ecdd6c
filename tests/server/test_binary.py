"""The binary tensor extension of the Open Inference Protocol, raw and through tritonclient[http]."""
from __future__ import annotations

import json
import struct

import numpy as np
import pytest

from conftest import DEMO_MODEL
from test_server import IRIS_ROWS, export_int_label_model, mlinfer_model

HDR = "Inference-Header-Content-Length"
INFER = "/v2/models/demo_model/infer"


def binary_request(header: dict, payload: bytes, header_len=None):
    """(body, headers) of a binary request; header_len overrides the header's value."""
    js = json.dumps(header).encode()
    return js + payload, {HDR: str(len(js) if header_len is None else header_len),
                          "Content-Type": "application/octet-stream"}


def split_response(hdrs, data):
    n = int(hdrs[HDR.lower()])
    return json.loads(data[:n]), data[n:]


def test_extension_advertised(demo):
    assert "binary_tensor_data" in demo.json("GET", "/v2")[1]["extensions"]


def test_raw_binary_roundtrip(demo):
    x = np.array(IRIS_ROWS, dtype="<f4")
    ref = mlinfer_model(DEMO_MODEL)
    req = {"id": "b1", "inputs": [{"name": "input", "shape": [4, 4], "datatype": "FP32",
                                   "parameters": {"binary_data_size": x.nbytes}}],
           "outputs": [{"name": "predict", "parameters": {"binary_data": True}},
                       {"name": "predict_proba", "parameters": {"binary_data": True}}]}
    status, hdrs, data = demo.request("POST", INFER, *binary_request(req, x.tobytes()))
    assert status == 200, data
    head, rest = split_response(hdrs, data)
    assert head["id"] == "b1"
    pred, proba = head["outputs"]
    assert "data" not in pred and "data" not in proba
    labels = [str(v) for v in ref.predict(x)]
    want = b"".join(struct.pack("<I", len(s)) + s.encode() for s in labels)
    assert pred["parameters"]["binary_data_size"] == len(want) and rest[:len(want)] == want
    p = np.frombuffer(rest[len(want):], dtype="<f8")
    assert proba["parameters"]["binary_data_size"] == p.nbytes == len(rest) - len(want)
    np.testing.assert_array_equal(p.reshape(4, 3), ref.predict_proba(x))


def test_json_output_for_binary_input(demo):
    x = np.array(IRIS_ROWS[:2], dtype="<i8")
    req = {"inputs": [{"name": "input", "shape": [2, 4], "datatype": "INT64",
                       "parameters": {"binary_data_size": x.nbytes}}]}
    status, hdrs, data = demo.request("POST", INFER, *binary_request(req, x.tobytes()))
    assert status == 200 and HDR.lower() not in hdrs
    assert json.loads(data)["outputs"][0]["data"] == [str(v) for v in mlinfer_model(DEMO_MODEL).predict(x)]


def _input(size, shape=(1, 4), datatype="FP32", **extra):
    return {"inputs": [{"name": "input", "shape": list(shape), "datatype": datatype,
                        "parameters": {"binary_data_size": size}, **extra}]}


@pytest.mark.parametrize("req, payload, header_len, fragment", [
    (_input(12), b"\0" * 12, None, "binary_data_size 12 does not match its shape and datatype (4 x FP32 = 16 bytes)"),
    (_input(32, datatype="INT64"), b"\0" * 16, None,
     "16 bytes of binary data after the JSON header, its inputs declare 32"),
    (_input(16), b"\0" * 20, None, "20 bytes of binary data after the JSON header, its inputs declare 16"),
    (_input(16), b"\0" * 16, 10**6, "Inference-Header-Content-Length: expected an integer in [0, "),
    (_input(16), b"\0" * 16, "12x", "Inference-Header-Content-Length: expected an integer"),
    (_input(-1), b"", None, "binary_data_size: expected a non-negative integer"),
    (_input(16, data=[1, 2, 3, 4]), b"\0" * 16, None, "either \"data\" as a JSON array or parameters.binary_data_size"),
    ({"inputs": [{"name": "input", "shape": [1, 4], "datatype": "FP32", "data": [1, 2, 3, 4]}]}, b"\0" * 4, None,
     "no input declares parameters.binary_data_size"),
    (_input(16), struct.pack("<4f", 1, 2, float("nan"), 4), None, "binary value [2] is not finite"),
    (_input(8, datatype="BOOL"), b"\0" * 8, None, "unsupported datatype 'BOOL'"),
    ({**_input(16), "outputs": [{"name": "predict", "parameters": {"binary_data": 1}}]}, b"\0" * 16, None,
     "predict parameters.binary_data: expected true or false"),
])
def test_binary_errors(demo, req, payload, header_len, fragment):
    status, _, data = demo.request("POST", INFER, *binary_request(req, payload, header_len))
    assert status == 400 and fragment in json.loads(data)["error"], data


def test_binary_without_header(demo):
    status, _, data = demo.request("POST", INFER, json.dumps(_input(16)).encode())
    assert status == 400 and "needs the Inference-Header-Content-Length header" in json.loads(data)["error"]


# ---- tritonclient[http] ---------------------------------------------------------------------
def _triton():
    return pytest.importorskip("tritonclient.http", reason="tritonclient[http] is not installed")


@pytest.mark.parametrize("datatype, binary", [("FP32", True), ("FP64", True), ("INT32", True), ("INT64", True),
                                              ("FP32", False), ("INT64", False)])
def test_tritonclient_infer(demo, datatype, binary):
    httpclient = _triton()
    rows = IRIS_ROWS if datatype.startswith("FP") else [[5, 3, 1, 0], [7, 3, 5, 2], [6, 3, 4, 1]]
    x = np.array(rows, dtype={"FP32": np.float32, "FP64": np.float64, "INT32": np.int32, "INT64": np.int64}[datatype])
    ref = mlinfer_model(DEMO_MODEL)
    client = httpclient.InferenceServerClient(f"127.0.0.1:{demo.port}")
    try:
        assert client.is_server_live() and client.is_model_ready("demo_model")
        inp = httpclient.InferInput("input", list(x.shape), datatype)
        inp.set_data_from_numpy(x, binary_data=binary)
        outs = [httpclient.InferRequestedOutput("predict", binary_data=binary),
                httpclient.InferRequestedOutput("predict_proba", binary_data=binary)]
        res = client.infer("demo_model", [inp], outputs=outs, request_id="t1")
        assert res.get_response()["id"] == "t1"
        labels = [v.decode() if isinstance(v, bytes) else v for v in res.as_numpy("predict").tolist()]
        assert labels == [str(v) for v in ref.predict(x)]
        np.testing.assert_allclose(res.as_numpy("predict_proba"), ref.predict_proba(x), rtol=1e-12)
        # no outputs named: tritonclient asks for every output in binary (binary_data_output)
        res = client.infer("demo_model", [inp], model_version="1")
        assert [o["name"] for o in res.get_response()["outputs"]] == ["predict"]
        assert res.as_numpy("predict").tolist() == [str(v).encode() for v in ref.predict(x)]
    finally:
        client.close()


def test_tritonclient_int_labels(start_server, tmp_path):
    httpclient = _triton()
    path = tmp_path / "iris_int.mli"
    est = export_int_label_model(path)
    srv = start_server(path)
    x = np.array(IRIS_ROWS, dtype=np.float64)
    client = httpclient.InferenceServerClient(f"127.0.0.1:{srv.port}")
    try:
        inp = httpclient.InferInput("input", list(x.shape), "FP64")
        inp.set_data_from_numpy(x)
        res = client.infer("iris_int", [inp])
        out = res.as_numpy("predict")
        assert out.dtype == np.int64 and out.tolist() == est.predict(x).tolist()
    finally:
        client.close()
