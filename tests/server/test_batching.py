"""Dynamic batching (MLI_MAX_BATCH, MLI_BATCH_DELAY_US): many concurrent clients, each sending rows
no other request sends and checking the exact predictions for them, across every predicting
endpoint, two versions of one model and a second model; coalescing, the delay, a request larger
than the batch, hot reload and the SIGTERM drain while batches are queued.

The expected values come from the library through the Python bindings, row by row. That the
library's results do not depend on which other rows share a call is checked first
(test_library_rows_are_independent): it is what lets a coalesced batch answer exactly.
"""
from __future__ import annotations

import http.client
import json
import os
import random
import shutil
import signal
import socket
import threading
import time

import numpy as np
import pytest

from test_binary import HDR
from test_server import wait_for

N_FEATURES = 6
MAX_BATCH = 8


def export(est, path):
    import mlinfer

    tmp = str(path) + ".tmp"
    mlinfer.export(est, tmp)
    os.replace(tmp, path)


def fit_models():
    """Two ridge regressions (distinct coefficients: every row gets a distinct value) and an
    iris-like classifier with probabilities."""
    from sklearn.datasets import make_classification
    from sklearn.linear_model import LogisticRegression, Ridge

    rng = np.random.default_rng(7)
    X = rng.normal(size=(200, N_FEATURES))
    ridge_a = Ridge(alpha=1.0).fit(X, X @ rng.normal(size=N_FEATURES) + rng.normal(size=200))
    ridge_b = Ridge(alpha=3.0).fit(X, X @ rng.normal(size=N_FEATURES) + 5.0)
    Xc, yc = make_classification(n_samples=300, n_features=4, n_informative=3, n_redundant=0, n_classes=3,
                                 random_state=0)
    clf = LogisticRegression(max_iter=1000).fit(Xc, yc)
    return ridge_a, ridge_b, clf


@pytest.fixture(scope="module")
def repo(tmp_path_factory):
    """ridge/1, ridge/2 (different models) and clf/1; rows nobody else uses for each request."""
    import mlinfer

    root = tmp_path_factory.mktemp("batchrepo")
    ridge_a, ridge_b, clf = fit_models()
    for name, version, est in [("ridge", 1, ridge_a), ("ridge", 2, ridge_b), ("clf", 1, clf)]:
        (root / name / str(version)).mkdir(parents=True)
        export(est, root / name / str(version) / "model.mli")
    models = {key: mlinfer.load(str(root / key / "model.mli")) for key in ("ridge/1", "ridge/2", "clf/1")}
    rng = np.random.default_rng(1)
    rows = {"ridge": np.round(rng.normal(size=(20000, N_FEATURES)), 6),
            "clf": np.round(rng.normal(size=(20000, 4)), 6)}
    return root, models, rows


def test_library_rows_are_independent(repo):
    _, models, rows = repo
    for key, x in [("ridge/1", rows["ridge"][:300]), ("clf/1", rows["clf"][:300])]:
        m = models[key]
        fns = [m.predict] + ([m.predict_proba] if key.startswith("clf") else [])
        for fn in fns:
            for dtype in (np.float64, np.float32):
                xx = x.astype(dtype)
                whole = fn(xx)
                one_by_one = np.concatenate([fn(xx[i:i + 1]) for i in range(len(xx))])
                assert np.array_equal(whole, one_by_one), (key, fn.__name__, dtype)


# ---- a client ---------------------------------------------------------------------------------------
class Client:
    """One keep-alive connection; request() -> (status, headers, body)."""

    def __init__(self, port):
        self.port = port
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)

    def request(self, method, path, body=None, headers=None):
        self.conn.request(method, path, body=body, headers=headers or {})
        resp = self.conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()

    def json(self, path, obj):
        status, hdrs, data = self.request("POST", path, json.dumps(obj).encode(),
                                          {"Content-Type": "application/json"})
        return status, json.loads(data)


class RowSource:
    """Hands out row indices no other request has had (until the pool of 20 000 wraps)."""

    def __init__(self):
        self.lock = threading.Lock()
        self.next = {"ridge": 0, "clf": 0}

    def take(self, which, n):
        with self.lock:
            i = self.next[which]
            if i + n > 20000:
                i = 0
            self.next[which] = i + n
        return list(range(i, i + n))


def one_request(cl, kind, src, rows, models, rng):
    """Sends one request of `kind` with fresh rows; returns (ok, what, model calls, rows per call)."""
    n = rng.choice([1, 1, 1, 2, 3, MAX_BATCH + 4])  # mostly single rows; sometimes larger than a batch
    if kind == "bad_features":
        status, body = cl.json("/predict?model=ridge", {"features": [1.0] * (N_FEATURES - 1)})
        return status == 400 and "expected 6 features, got 5" in body["error"], (kind, status, body), 0, 0
    if kind == "bad_json":
        status, _, data = cl.request("POST", "/v1/models/clf:predict", b'{"instances": [[1, 2, 3, 4]',
                                     {"Content-Type": "application/json"})
        return status == 400 and b"malformed JSON" in data, (kind, status, data), 0, 0
    which = "clf" if kind.startswith("clf") else "ridge"
    idx = src.take(which, n)
    x = rows[which][idx]
    if kind == "predict_features":
        idx = idx[:1]
        x = x[:1]
        n = 1
        status, body = cl.json("/predict?model=ridge", {"features": x[0].tolist()})
        want = {"prediction": float(models["ridge/2"].predict(x)[0])}
        return status == 200 and body == want, (kind, idx, status, body, want), 1, n
    if kind == "predict_instances":
        status, body = cl.json("/predict?model=ridge", {"instances": x.tolist()})
        want = {"predictions": [float(v) for v in models["ridge/2"].predict(x)]}
        return status == 200 and body == want, (kind, idx, status, body, want), 1, n
    if kind == "v1":
        status, body = cl.json("/v1/models/ridge:predict", {"instances": x.tolist()})
        want = {"predictions": [float(v) for v in models["ridge/2"].predict(x)]}
        return status == 200 and body == want, (kind, idx, status, body, want), 1, n
    if kind in ("v2_v1_fp64", "v2_v2_fp32"):
        version, dt = ("1", "FP64") if kind == "v2_v1_fp64" else ("2", "FP32")
        xx = x.astype(np.float32) if dt == "FP32" else x
        req = {"id": f"r{idx[0]}", "inputs": [{"name": "input", "shape": [n, N_FEATURES], "datatype": dt,
                                               "data": xx.ravel().tolist()}]}
        status, body = cl.json(f"/v2/models/ridge/versions/{version}/infer", req)
        want = [float(v) for v in models[f"ridge/{version}"].predict(xx)]
        ok = (status == 200 and body["id"] == f"r{idx[0]}" and body["model_version"] == version
              and body["outputs"][0]["data"] == want)
        return ok, (kind, idx, status, body, want), 1, n
    if kind == "clf_proba":
        status, body = cl.json("/predict?model=clf", {"instances": x.tolist(), "proba": True})
        m = models["clf/1"]
        classes = [str(c) for c in m.classes_]
        want_p = m.predict_proba(x)
        ok = (status == 200 and body["predictions"] == [int(v) for v in m.predict(x)]
              and [[p[c] for c in classes] for p in body["probabilities"]] == want_p.tolist())
        return ok, (kind, idx, status, body), 2, n
    if kind == "clf_binary":
        xx = x.astype(np.float32)
        header = {"inputs": [{"name": "input", "shape": [n, 4], "datatype": "FP32",
                              "parameters": {"binary_data_size": xx.nbytes}}],
                  "outputs": [{"name": "predict_proba", "parameters": {"binary_data": True}},
                              {"name": "predict", "parameters": {"binary_data": True}}]}
        js = json.dumps(header).encode()
        status, hdrs, data = cl.request("POST", "/v2/models/clf/infer", js + xx.tobytes(),
                                        {HDR: str(len(js)), "Content-Type": "application/octet-stream"})
        if status != 200:
            return False, (kind, idx, status, data), 2, n
        hlen = int(hdrs[HDR.lower()])
        meta, raw = json.loads(data[:hlen]), data[hlen:]
        sizes = [o["parameters"]["binary_data_size"] for o in meta["outputs"]]
        proba = np.frombuffer(raw[:sizes[0]], dtype="<f8").reshape(n, -1)
        pred = np.frombuffer(raw[sizes[0]:sizes[0] + sizes[1]], dtype="<i8")
        m = models["clf/1"]
        ok = np.array_equal(proba, m.predict_proba(xx)) and pred.tolist() == [int(v) for v in m.predict(xx)]
        return ok, (kind, idx, proba, pred), 2, n
    raise AssertionError(kind)


KINDS = ["predict_features", "predict_instances", "v1", "v2_v1_fp64", "v2_v2_fp32", "clf_proba", "clf_binary",
         "bad_features", "bad_json"]


def hammer(port, models, rows, clients, per_client, kinds=KINDS):
    """`clients` threads, each with its own connection; returns (failures, model calls, rows)."""
    src = RowSource()
    failures, counts, lock = [], [0, 0], threading.Lock()
    start = threading.Barrier(clients)

    def worker(seed):
        rng = random.Random(seed)
        cl = Client(port)
        start.wait()
        for _ in range(per_client):
            kind = rng.choice(kinds)
            try:
                ok, what, calls, n = one_request(cl, kind, src, rows, models, rng)
            except Exception as e:  # noqa: BLE001
                ok, what, calls, n = False, (kind, repr(e)), 0, 0
            with lock:
                if not ok:
                    failures.append(what)
                counts[0] += calls
                counts[1] += calls and n * calls
        cl.conn.close()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return failures, counts[0], counts[1]


def batch_buckets(srv):
    """{le: cumulative count} of mlinfer_batch_size."""
    _, _, text = srv.request("GET", "/metrics")
    out = {}
    for line in text.decode().splitlines():
        if line.startswith("mlinfer_batch_size_bucket{"):
            le = line.split('le="')[1].split('"')[0]
            out[le] = float(line.rsplit(" ", 1)[1])
    return out


def test_concurrent_clients_get_their_own_rows(start_server, repo):
    root, models, rows = repo
    srv = start_server(root, env={"MLI_MAX_BATCH": str(MAX_BATCH), "MLI_BATCH_DELAY_US": "2000",
                                  "MLI_THREADS": "2"})
    startup = [e for e in srv.logs() if e.get("event") == "startup"][0]
    assert startup["dynamic_batching"] is True and startup["max_batch"] == MAX_BATCH
    calls0 = srv.metric("mlinfer_batch_queue_seconds_count")
    rows0 = srv.metric("mlinfer_batch_size_sum")
    batches0 = srv.metric("mlinfer_batch_size_count")

    failures, calls, n_rows = hammer(srv.port, models, rows, clients=24, per_client=25)
    assert not failures, f"{len(failures)} wrong answers, first: {failures[:3]}"

    # every model call of every request went through the queue, and the executed batches
    # hold exactly the rows asked for; fewer batches than calls: requests were coalesced
    assert srv.metric("mlinfer_batch_queue_seconds_count") - calls0 == calls
    assert srv.metric("mlinfer_batch_size_sum") - rows0 == n_rows
    batches = srv.metric("mlinfer_batch_size_count") - batches0
    assert batches < calls, (batches, calls)
    b = batch_buckets(srv)
    assert b["+Inf"] - b["1"] > 0  # some batches of more than one row
    assert b["8"] < b["+Inf"]  # the requests larger than MLI_MAX_BATCH ran alone, unsplit
    assert srv.json("GET", "/health")[0] == 200


class SlowUpload:
    """A /predict request whose body stops half way: a prediction request in flight that has not
    reached the batcher, so open batches wait for it (up to MLI_BATCH_DELAY_US)."""

    def __init__(self, srv, row):
        self.body = json.dumps({"features": row}).encode()
        self.sock = socket.create_connection(("127.0.0.1", srv.port), timeout=30)
        self.sock.sendall(b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                          b"Content-Length: %d\r\n\r\n" % len(self.body) + self.body[:5])
        assert wait_for(lambda: srv.metric("mlinfer_predict_inflight_requests") >= 1)

    def finish(self):
        """Sends the rest; returns the response's JSON body."""
        self.sock.sendall(self.body[5:])
        resp = b""
        while b"\r\n\r\n" not in resp or not resp.rstrip().endswith(b"}"):
            chunk = self.sock.recv(65536)
            assert chunk, resp
            resp += chunk
        self.sock.close()
        head, _, body = resp.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200"), resp
        return json.loads(body)


def test_batching_waits_at_most_the_delay_and_large_requests_go_alone(start_server, repo):
    root, models, rows = repo
    delay = 0.4
    srv = start_server(root / "ridge" / "2" / "model.mli",
                       env={"MLI_MAX_BATCH": "4", "MLI_BATCH_DELAY_US": str(int(delay * 1e6))})
    path = "/predict"
    m = models["ridge/2"]

    def expect(i):
        return {"prediction": float(m.predict(rows["ridge"][i:i + 1])[0])}

    # alone in the server: no other request could join, so it does not wait
    t0 = time.monotonic()
    assert Client(srv.port).json(path, {"features": rows["ridge"][0].tolist()}) == (200, expect(0))
    assert time.monotonic() - t0 < delay * 0.75

    # with another prediction request in flight (its body still arriving), it waits for company,
    # but no longer than the delay
    slow = SlowUpload(srv, rows["ridge"][1].tolist())
    t0 = time.monotonic()
    assert Client(srv.port).json(path, {"features": rows["ridge"][2].tolist()}) == (200, expect(2))
    assert delay * 0.95 <= time.monotonic() - t0 < delay + 2

    # four at once fill a batch of MLI_MAX_BATCH=4 rows: it runs without waiting for the deadline
    before = batch_buckets(srv)
    results = [None] * 4
    clients = [Client(srv.port) for _ in range(4)]
    go = threading.Barrier(4)

    def send(i):
        go.wait()
        t = time.monotonic()
        results[i] = (clients[i].json(path, {"features": rows["ridge"][10 + i].tolist()}), time.monotonic() - t)

    threads = [threading.Thread(target=send, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for i, (answer, secs) in enumerate(results):
        assert answer == (200, expect(10 + i))
        assert secs < delay * 0.75, secs
    after = batch_buckets(srv)
    assert after["4"] - after["2"] - (before["4"] - before["2"]) == 1  # one batch of 3-4 rows
    assert after["+Inf"] - before["+Inf"] == 1

    # a request of more rows than MLI_MAX_BATCH goes alone, at once, in one piece
    x = rows["ridge"][20:30]
    t0 = time.monotonic()
    status, body = Client(srv.port).json(path, {"instances": x.tolist()})
    assert time.monotonic() - t0 < delay * 0.75
    assert status == 200 and body["predictions"] == [float(v) for v in m.predict(x)]
    final = batch_buckets(srv)
    assert final["16"] - final["8"] - (after["16"] - after["8"]) == 1

    assert slow.finish() == expect(1)  # alone again: answered at once
    assert srv.metric("mlinfer_batch_queue_seconds_bucket", le="+Inf") == 8


def test_hot_reload_under_batched_load(start_server, repo, tmp_path):
    """Each response is entirely the old model's or entirely the new one's: a batch holds the model
    it runs on, and requests for different model instances are never coalesced."""
    root, models, rows = repo
    path = tmp_path / "ridge.mli"
    shutil.copy(root / "ridge" / "1" / "model.mli", path)
    srv = start_server(path, env={"MLI_MAX_BATCH": "16", "MLI_BATCH_DELAY_US": "1000", "MLI_THREADS": "2"})
    a, b = models["ridge/1"], models["ridge/2"]
    stop = threading.Event()
    seen, failures, lock = {"a": 0, "b": 0}, [], threading.Lock()
    src = RowSource()

    def worker():
        cl = Client(srv.port)
        while not stop.is_set():
            idx = src.take("ridge", 3)
            x = rows["ridge"][idx]
            try:
                status, body = cl.json("/predict", {"instances": x.tolist()})
            except Exception as e:  # noqa: BLE001
                status, body = 0, {"exception": repr(e)}
            got = body.get("predictions")
            with lock:
                if status == 200 and got == [float(v) for v in a.predict(x)]:
                    seen["a"] += 1
                elif status == 200 and got == [float(v) for v in b.predict(x)]:
                    seen["b"] += 1
                else:
                    failures.append((idx, status, body))

    threads = [threading.Thread(target=worker) for _ in range(12)]
    for t in threads:
        t.start()
    try:
        for i in range(4):
            loads = srv.metric("mlinfer_model_loads_total")
            src_file = root / "ridge" / ("2" if i % 2 == 0 else "1") / "model.mli"
            tmp = tmp_path / "swap.tmp"
            shutil.copy(src_file, tmp)
            os.replace(tmp, path)
            srv.signal(signal.SIGHUP)
            assert wait_for(lambda: srv.metric("mlinfer_model_loads_total") > loads, timeout=10)
            time.sleep(0.3)
    finally:
        stop.set()
        for t in threads:
            t.join()
    assert not failures, failures[:3]
    assert seen["a"] > 0 and seen["b"] > 0, seen


def test_sigterm_finishes_queued_batches(start_server, repo):
    """SIGTERM with predictions waiting in an open batch (held open by a request whose body is
    still arriving): they run and are answered, so is the late one, and the process exits 0."""
    root, models, rows = repo
    srv = start_server(root / "ridge" / "2" / "model.mli",
                       env={"MLI_MAX_BATCH": "64", "MLI_BATCH_DELAY_US": "1500000", "MLI_DRAIN_SECONDS": "0"})
    m = models["ridge/2"]
    slow = SlowUpload(srv, rows["ridge"][6].tolist())
    results = {}

    def send(i):
        results[i] = Client(srv.port).json("/predict", {"features": rows["ridge"][i].tolist()})

    threads = [threading.Thread(target=send, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    assert wait_for(lambda: srv.metric("mlinfer_batch_queue_seconds_count") == 0 and
                    srv.metric("mlinfer_predict_inflight_requests") == 7)
    t0 = time.monotonic()
    srv.signal(signal.SIGTERM)
    time.sleep(0.2)
    assert slow.finish() == {"prediction": float(m.predict(rows["ridge"][6:7])[0])}
    for t in threads:
        t.join()
    assert srv.proc.wait(timeout=15) == 0
    assert time.monotonic() - t0 < 10
    for i in range(6):
        assert results[i] == (200, {"prediction": float(m.predict(rows["ridge"][i:i + 1])[0])})
    stopped = [e for e in srv.logs() if e["event"] == "stopped"]
    assert stopped and stopped[0]["unfinished_requests"] == 0


@pytest.mark.parametrize("value, on", [(None, False), ("0", False), ("1", False), ("2", True)])
def test_batching_switch(start_server, repo, value, on):
    from conftest import EXTRA_ENV

    if value is None and "MLI_MAX_BATCH" in EXTRA_ENV:
        pytest.skip("MLINFER_SERVER_TEST_ENV sets MLI_MAX_BATCH")
    root, _, _ = repo
    srv = start_server(root / "ridge" / "1" / "model.mli", env={"MLI_MAX_BATCH": value} if value else {})
    startup = [e for e in srv.logs() if e.get("event") == "startup"][0]
    assert startup["dynamic_batching"] is on


def test_batching_config_errors():
    import subprocess

    from conftest import SERVER_BIN

    for var, value in [("MLI_MAX_BATCH", "-1"), ("MLI_MAX_BATCH", "x"), ("MLI_BATCH_DELAY_US", "-5")]:
        res = subprocess.run([SERVER_BIN, "--port", "0"], capture_output=True, timeout=10,
                             env={**os.environ, var: value})
        assert res.returncode == 2 and var.encode() in res.stderr
