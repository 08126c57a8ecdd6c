"""JPEG input end to end: POST /predict with a JPEG body, V1 instances of {"b64": ...} and
V2 BYTES inputs (binary and base64 JSON) on the digits models of examples/digits, against the Python binding's
Model.predict_image on the same bytes and scikit-learn on the same preprocessed rows; bad
images answered 400 with the library's message while the server keeps serving."""
from __future__ import annotations

import base64
import importlib.util
import json
import re
import shutil
import struct

import numpy as np
import pytest

from conftest import DEMO_MODEL, REPO, SKIP_REASON, Server

SAMPLES = sorted((REPO / "examples" / "digits" / "samples").glob("*.jpg"))
HDR = "Inference-Header-Content-Length"
NAMES = ("digits_mlp", "digits_logreg")
JPEG = {"Content-Type": "image/jpeg"}
# The server computes exactly what the binding does on the same machine (the same float32
# rows, the same kernels; JSON numbers round-trip), but a server run under valgrind or built
# with sanitizers may pick another ISA's kernels: float32 arithmetic, 1e-5 relative
# (DESIGN.md's bound for MLPs and linear models). Labels must be equal.
PROBA_RTOL = 1e-5


@pytest.fixture(scope="module")
def digits(tmp_path_factory):
    """A model repository with the digits MLP and LogisticRegression (image stage, as
    examples/digits/make_digits.py exports them) and the demo model (no image stage)."""
    if SKIP_REASON:
        pytest.skip(SKIP_REASON)
    import mlinfer

    spec = importlib.util.spec_from_file_location("make_digits", REPO / "examples" / "digits" / "make_digits.py")
    md = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(md)
    (mlp, logreg), _ = md.train()
    root = tmp_path_factory.mktemp("digits_repo")
    refs = {}
    for name, est in zip(NAMES, (mlp, logreg)):
        (root / name / "1").mkdir(parents=True)
        path = root / name / "1" / "model.mli"
        mlinfer.export(est, str(path), image=md.STAGE)
        refs[name] = (est, mlinfer.load(str(path)))
    (root / "demo_model" / "1").mkdir(parents=True)
    shutil.copy(DEMO_MODEL, root / "demo_model" / "1" / "model.mli")
    srv = Server(root)
    yield srv, refs, root
    srv.stop()


def jpegs():
    return [p.read_bytes() for p in SAMPLES]


def digit_of(path):
    return int(re.search(r"\d", path.stem).group())  # digit_3.jpg, photo_7_color.jpg


def sklearn_predict(est, model, data):
    """scikit-learn's prediction on the rows the library's image stage makes of `data`."""
    return est.predict(model.preprocess_image(data).astype(np.float64))


def still_serving(srv, name="digits_mlp"):
    status, body = srv.json("POST", f"/predict?model={name}", SAMPLES[3].read_bytes(), JPEG)
    assert status == 200 and body == {"prediction": digit_of(SAMPLES[3])}, body


# ---- POST /predict ---------------------------------------------------------------------------
@pytest.mark.parametrize("name", NAMES)
def test_predict_samples(digits, name):
    srv, refs, _ = digits
    est, model = refs[name]
    want = model.predict_image(jpegs())
    assert list(want) == [digit_of(p) for p in SAMPLES]  # the samples are read right
    assert np.array_equal(want, sklearn_predict(est, model, jpegs()))
    for path, label in zip(SAMPLES, want):
        status, body = srv.json("POST", f"/predict?model={name}", path.read_bytes(), JPEG)
        assert status == 200 and body == {"prediction": int(label)}, (path.name, body)


@pytest.mark.parametrize("name", NAMES)
def test_predict_proba(digits, name):
    srv, refs, _ = digits
    _, model = refs[name]
    for query in ("proba=true", "proba=1", "proba"):
        data = SAMPLES[7].read_bytes()
        status, body = srv.json("POST", f"/predict?model={name}&{query}", data, JPEG)
        assert status == 200, body
        p = model.predict_proba_image(data)[0]
        assert body["prediction"] == int(model.predict_image(data)[0])
        assert list(body["probabilities"]) == [str(k) for k in range(10)]
        np.testing.assert_allclose(list(body["probabilities"].values()), p, rtol=PROBA_RTOL, atol=1e-12)
    status, body = srv.json("POST", f"/predict?model={name}&proba=false", data, JPEG)
    assert status == 200 and body == {"prediction": digit_of(SAMPLES[7])}


@pytest.mark.parametrize("headers", [{"Content-Type": "application/octet-stream"},
                                     {"Content-Type": "application/x-www-form-urlencoded"},  # curl --data-binary
                                     {"Content-Type": "IMAGE/JPEG; charset=binary"}, {}])
def test_jpeg_recognised(digits, headers):
    srv, _, _ = digits
    path = SAMPLES[5]
    status, body = srv.json("POST", "/predict?model=digits_logreg", path.read_bytes(), headers)
    assert status == 200 and body == {"prediction": digit_of(path)}, body


def test_json_still_works_on_image_models(digits):
    """The image model's own rows as JSON features, and ?proba on the JSON path."""
    srv, refs, _ = digits
    _, model = refs["digits_mlp"]
    x = model.preprocess_image(SAMPLES[2].read_bytes())[0]
    status, body = srv.json("POST", "/predict?model=digits_mlp&proba=true", {"features": x.tolist()})
    assert status == 200 and body["prediction"] == digit_of(SAMPLES[2]) and len(body["probabilities"]) == 10
    status, body = srv.json("POST", "/predict?model=digits_mlp&proba=true", {"features": x.tolist(), "proba": False})
    assert status == 200 and "probabilities" not in body


def _patch_size(data: bytes, width: int, height: int) -> bytes:
    """The JPEG with its frame header declaring width x height."""
    at = min(i for i in (data.find(b"\xff\xc0"), data.find(b"\xff\xc2")) if i >= 0)
    return data[:at + 5] + struct.pack(">HH", height, width) + data[at + 9:]


BAD_BODIES = [
    ("truncated header", lambda d: d[:30], "digits_mlp", "truncated JPEG: segment FF DB at byte 20"),
    ("truncated data", lambda d: d[:len(d) // 2], "digits_mlp", "corrupt or truncated JPEG data: Premature end"),
    ("text", lambda d: b"hello, not a JPEG", "digits_mlp", "not a JPEG: starts with 68 65 6C"),
    ("empty", lambda d: b"", "digits_logreg", "not a JPEG: 0 bytes"),
    ("pixel limit", lambda d: _patch_size(d, 60000, 60000), "digits_mlp",
     "JPEG of 60000 x 60000 = 3600000000 pixels exceeds the limit of 67108864 pixels"),
    ("no image stage", lambda d: d, "demo_model", "model 'demo_model' has no image stage: it takes 4 numeric features"),
]


@pytest.mark.parametrize("case, make, name, fragment", BAD_BODIES, ids=[b[0] for b in BAD_BODIES])
def test_bad_jpeg_body(digits, case, make, name, fragment):
    srv, _, _ = digits
    status, body = srv.json("POST", f"/predict?model={name}", make(SAMPLES[1].read_bytes()), JPEG)
    assert status == 400 and body["error"].startswith("JPEG body: ") and fragment in body["error"], body
    still_serving(srv)


def test_bad_proba_query(digits):
    srv, _, _ = digits
    status, body = srv.json("POST", "/predict?model=digits_mlp&proba=yes", SAMPLES[1].read_bytes(), JPEG)
    assert status == 400 and "query parameter proba: expected true, false, 1 or 0, got 'yes'" in body["error"]


def test_body_limit(digits):
    _, _, root = digits
    srv = Server(root, env={"MLI_MAX_BODY_BYTES": "2000"})
    try:
        big = SAMPLES[-1].read_bytes()  # photo_7_color.jpg, about 5 KB
        assert len(big) > 2000
        status, body = srv.json("POST", "/predict?model=digits_mlp", big, JPEG)
        assert status == 413 and "exceeds the limit of 2000 bytes" in body["error"]
        still_serving(srv)
    finally:
        srv.stop()


def test_metrics(digits):
    srv, _, _ = digits
    ok = srv.metric("mlinfer_requests_total", endpoint="predict", model="digits_logreg", code="200")
    bad = srv.metric("mlinfer_requests_total", endpoint="predict", model="digits_logreg", code="400")
    v2 = srv.metric("mlinfer_requests_total", endpoint="v2_infer", model="digits_logreg", code="200")
    srv.request("POST", "/predict?model=digits_logreg", SAMPLES[0].read_bytes(), JPEG)
    srv.request("POST", "/predict?model=digits_logreg", b"\xff\xd8\xff garbage", JPEG)
    srv.request("POST", "/v2/models/digits_logreg/infer", *binary_request(SAMPLES[:2]))
    assert srv.metric("mlinfer_requests_total", endpoint="predict", model="digits_logreg", code="200") == ok + 1
    assert srv.metric("mlinfer_requests_total", endpoint="predict", model="digits_logreg", code="400") == bad + 1
    assert srv.metric("mlinfer_requests_total", endpoint="v2_infer", model="digits_logreg", code="200") == v2 + 1


# ---- Open Inference Protocol V2 ----------------------------------------------------------------
def test_metadata(digits):
    srv, _, _ = digits
    status, meta = srv.json("GET", "/v2/models/digits_mlp")
    assert status == 200 and meta["inputs"] == [{"name": "input", "datatype": "BYTES", "shape": [-1]}]
    assert [o["name"] for o in meta["outputs"]] == ["predict", "predict_proba"]
    status, meta = srv.json("GET", "/v2/models/demo_model")
    assert meta["inputs"] == [{"name": "input", "datatype": "FP32", "shape": [-1, 4]}]


def binary_request(paths, shape=None, outputs=None, name="input"):
    payload = b"".join(struct.pack("<I", len(d)) + d for d in (p.read_bytes() for p in paths))
    req = {"inputs": [{"name": name, "shape": shape or [len(paths)], "datatype": "BYTES",
                       "parameters": {"binary_data_size": len(payload)}}]}
    if outputs:
        req["outputs"] = outputs
    js = json.dumps(req).encode()
    return js + payload, {HDR: str(len(js)), "Content-Type": "application/octet-stream"}


@pytest.mark.parametrize("shape", ["n", "n1"])
def test_v2_binary_raw(digits, shape):
    srv, refs, _ = digits
    _, model = refs["digits_mlp"]
    n = len(SAMPLES)
    outs = [{"name": "predict"}, {"name": "predict_proba", "parameters": {"binary_data": True}}]
    status, hdrs, data = srv.request("POST", "/v2/models/digits_mlp/infer",
                                     *binary_request(SAMPLES, [n] if shape == "n" else [n, 1], outs))
    assert status == 200, data
    hlen = int(hdrs[HDR.lower()])
    head, rest = json.loads(data[:hlen]), data[hlen:]
    pred, proba = head["outputs"]
    assert pred["shape"] == [n] and pred["data"] == model.predict_image(jpegs()).tolist()
    assert proba["shape"] == [n, 10] and proba["parameters"]["binary_data_size"] == len(rest) == n * 80
    np.testing.assert_allclose(np.frombuffer(rest, "<f8").reshape(n, 10), model.predict_proba_image(jpegs()),
                               rtol=PROBA_RTOL, atol=1e-12)


@pytest.mark.parametrize("nested", [False, True])
def test_v2_json_base64(digits, nested):
    srv, refs, _ = digits
    est, model = refs["digits_logreg"]
    b64 = [base64.b64encode(d).decode() for d in jpegs()]
    b64[1] = b64[1].rstrip("=")                                    # padding is optional
    b64[2] = base64.urlsafe_b64encode(SAMPLES[2].read_bytes()).decode()  # so is the URL-safe alphabet
    n = len(b64)
    req = {"id": "img", "inputs": [{"name": "image", "datatype": "BYTES", "shape": [n, 1] if nested else [n],
                                    "data": [[s] for s in b64] if nested else b64}]}
    status, body = srv.json("POST", "/v2/models/digits_logreg/infer", req)
    assert status == 200, body
    assert body["id"] == "img" and body["outputs"][0]["data"] == model.predict_image(jpegs()).tolist()
    assert body["outputs"][0]["data"] == sklearn_predict(est, model, jpegs()).tolist()


def _triton():
    return pytest.importorskip("tritonclient.http", reason="tritonclient[http] is not installed")


@pytest.mark.parametrize("binary", [True, False])
def test_tritonclient(digits, binary):
    httpclient = _triton()
    srv, refs, _ = digits
    _, model = refs["digits_mlp"]
    data = jpegs()
    # binary: raw bytes, each element a 4-byte length and the JPEG; JSON: base64 strings
    x = np.array(data if binary else [base64.b64encode(d) for d in data], dtype=np.object_).reshape(-1, 1)
    client = httpclient.InferenceServerClient(f"127.0.0.1:{srv.port}")
    try:
        meta = client.get_model_metadata("digits_mlp")
        assert meta["inputs"][0]["datatype"] == "BYTES"
        inp = httpclient.InferInput("input", list(x.shape), "BYTES")
        inp.set_data_from_numpy(x, binary_data=binary)
        outs = [httpclient.InferRequestedOutput("predict", binary_data=binary),
                httpclient.InferRequestedOutput("predict_proba", binary_data=binary)]
        res = client.infer("digits_mlp", [inp], outputs=outs)
        assert res.as_numpy("predict").tolist() == model.predict_image(data).tolist()
        np.testing.assert_allclose(res.as_numpy("predict_proba"), model.predict_proba_image(data),
                                   rtol=PROBA_RTOL, atol=1e-12)
    finally:
        client.close()


def _v2_json(n, data, datatype="BYTES"):
    return {"inputs": [{"name": "image", "datatype": datatype, "shape": [n], "data": data}]}


def _b64(d):
    return base64.b64encode(d).decode()


V2_ERRORS = [
    ("no image stage", "demo_model", _v2_json(1, [_b64(b"\xff\xd8\xff")]),
     "input 'image': datatype BYTES takes JPEG images, but model 'demo_model' has no image stage"),
    ("bad base64", "digits_mlp", _v2_json(2, [_b64(b"x"), "abc*def"]),
     "input 'image' data[1]: not base64: '*' at offset 3"),
    ("not a string", "digits_mlp", _v2_json(1, [3]), "input 'image' data[0]: expected a base64 string"),
    ("count", "digits_mlp", _v2_json(3, ["AAAA"]), "input 'image': data holds 1 strings, shape needs 3"),
    ("shape", "digits_mlp", {"inputs": [{"name": "image", "datatype": "BYTES", "shape": [2, 2], "data": ["", ""]}]},
     "input 'image': BYTES (JPEG images) expected shape [n] or [n, 1]"),
    ("truncated element", "digits_mlp",
     _v2_json(2, [_b64(SAMPLES[0].read_bytes()), _b64(SAMPLES[1].read_bytes()[:40])]),
     "input 'image' element 1: truncated JPEG"),
    ("text element", "digits_mlp", _v2_json(1, [_b64(b"hello")]), "input 'image': not a JPEG: starts with 68 65 6C"),
    ("numeric shape", "digits_mlp", _v2_json(1, [0.0] * 3, "FP32"),
     "expected shape [-1, 64] (64 features), or datatype BYTES with shape [n] for n JPEG images"),
]


# ---- V1: {"instances": [{"b64": ...}]} -------------------------------------------------------
@pytest.mark.parametrize("path", ["/v1/models/{}:predict", "/predict?model={}"])
def test_v1_b64_instances(digits, path):
    """TensorFlow Serving's and KServe V1's form of binary values, one image per instance."""
    srv, refs, _ = digits
    est, model = refs["digits_mlp"]
    b64 = [_b64(d) for d in jpegs()]
    b64[1] = b64[1].rstrip("=")  # padding is optional
    status, body = srv.json("POST", path.format("digits_mlp"), {"instances": [{"b64": s} for s in b64]})
    assert status == 200, body
    want = model.predict_image(jpegs()).tolist()
    assert want == sklearn_predict(est, model, jpegs()).tolist()
    assert body["predictions"] == want


V1_ERRORS = [
    ("no image stage", "demo_model", [{"b64": _b64(SAMPLES[0].read_bytes())}],
     "model 'demo_model' has no image stage"),
    ("bad base64", "digits_mlp", [{"b64": _b64(SAMPLES[0].read_bytes())}, {"b64": "abc*def"}],
     "instances[1].b64: not base64: '*' at offset 3"),
    ("mixed", "digits_mlp", [{"b64": _b64(SAMPLES[0].read_bytes())}, [0.0] * 64],
     'instances[1]: expected {"b64": "<base64 JPEG>"}'),
    ("other key", "digits_mlp", [{"image": _b64(SAMPLES[0].read_bytes())}], 'instances[0]: expected {"b64"'),
    ("truncated", "digits_mlp", [{"b64": _b64(SAMPLES[0].read_bytes())}, {"b64": _b64(SAMPLES[1].read_bytes()[:40])}],
     "instances element 1: truncated JPEG"),
]


@pytest.mark.parametrize("case, name, instances, fragment", V1_ERRORS, ids=[e[0] for e in V1_ERRORS])
def test_v1_b64_errors(digits, case, name, instances, fragment):
    srv, _, _ = digits
    status, body = srv.json("POST", f"/v1/models/{name}:predict", {"instances": instances})
    assert status == 400 and fragment in body["error"], body
    still_serving(srv)


@pytest.mark.parametrize("case, name, req, fragment", V2_ERRORS, ids=[e[0] for e in V2_ERRORS])
def test_v2_errors(digits, case, name, req, fragment):
    srv, _, _ = digits
    status, body = srv.json("POST", f"/v2/models/{name}/infer", req)
    assert status == 400 and fragment in body["error"], body
    still_serving(srv)


def _raw(payload, size=None, n=1):
    js = json.dumps({"inputs": [{"name": "input", "shape": [n], "datatype": "BYTES",
                                 "parameters": {"binary_data_size": len(payload) if size is None else size}}]})
    return js.encode() + payload, {HDR: str(len(js))}


V2_BINARY_ERRORS = [
    ("length overflows", _raw(struct.pack("<I", 1000) + b"\xff\xd8\xff"),
     "binary BYTES element 0 declares 1000 bytes, 3 left"),
    ("ends before length", _raw(struct.pack("<I", 2) + b"ab" + b"\0\0\0\0", n=3),
     "shape [3] needs at least 12 bytes of binary data"),
    ("ends inside length", _raw(struct.pack("<I", 2) + b"ab" + b"\0\0", n=2),
     "binary BYTES element 1: the data ends at byte 6, before its 4-byte length"),
    ("trailing bytes", _raw(struct.pack("<I", 2) + b"abcd"), "2 bytes of binary data follow its 1 BYTES elements"),
    ("size mismatch", _raw(struct.pack("<I", 0), size=8),
     "4 bytes of binary data after the JSON header, its inputs declare 8"),
    ("corrupt image", _raw(struct.pack("<I", 20) + SAMPLES[4].read_bytes()[:20]), "input 'input': truncated JPEG"),
]


@pytest.mark.parametrize("case, req, fragment", V2_BINARY_ERRORS, ids=[e[0] for e in V2_BINARY_ERRORS])
def test_v2_binary_errors(digits, case, req, fragment):
    srv, _, _ = digits
    status, _, data = srv.request("POST", "/v2/models/digits_mlp/infer", *req)
    assert status == 400 and fragment in json.loads(data)["error"], data
    still_serving(srv)


def test_v2_tensor_limit(digits):
    """Tiny elements cannot expand into an unbounded tensor: 256 MiB of rows per request."""
    srv, _, _ = digits
    n = (256 << 20) // (64 * 4) + 1
    status, _, data = srv.request("POST", "/v2/models/digits_mlp/infer", *_raw(b"\0" * (4 * n), n=n))
    assert status == 413, data
    assert f"{n} images of 64 floats each exceed the limit of 256 MiB of input tensors" in json.loads(data)["error"]
    still_serving(srv)
