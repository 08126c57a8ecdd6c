"""Named rows on the real server under dynamic batching, hot reload and the model repository
(issue 18): a ColumnTransformer pipeline over numeric and string columns with missing values.

- Batching: named requests of every form (/predict features and instances, V1, V2 JSON and V2
  binary) from concurrent clients are stacked column by column into shared
  mli_model_predict_columns calls; each client checks that it got exactly its own rows' answers.
  A request the model refuses (an unknown category) in a batch fails alone, with its own row
  named, while the others in the batch get their predictions.
- Hot reload to a version with other columns: a request queued on the old model finishes on
  it; later ones see the new schema (GET /v2/models/{m} lists the new inputs, rows of the old
  schema get a 400 naming the missing column).
- A repository whose versions have different schemas.

Expected values: the library through the Python bindings (the server must answer exactly what
the library answers for the same rows, since a batched call answers each row as a call of its
own would: test_library_rows_are_independent), and scikit-learn: labels equal, probabilities
within 1e-5 relative / 1e-6 absolute (LogisticRegression runs in float32 in the library).
"""
from __future__ import annotations

import http.client
import json
import math
import os
import random
import shutil
import signal
import struct
import threading
import time

import numpy as np
import pytest

pd = pytest.importorskip("pandas")
from sklearn.compose import ColumnTransformer  # noqa: E402
from sklearn.impute import SimpleImputer  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import OneHotEncoder, StandardScaler  # noqa: E402

from conftest import SKIP_REASON  # noqa: E402
from test_batching import SlowUpload, batch_buckets  # noqa: E402
from test_binary import HDR  # noqa: E402
from test_server import wait_for  # noqa: E402

# schema A (version 1) and schema B (version 2): B drops "charges" and "device", adds "age" and "region"
SCHEMAS = {"A": (["tenure", "charges"], ["plan", "device"]), "B": (["tenure", "age"], ["plan", "region"])}
LEVELS = {"plan": ["basic", "plus", "pro"], "device": ["ios", "android", "web"],
          "region": ["north", "south", "east", "west"]}
POOL = 20000


def table(schema, n, seed):
    num, cat = SCHEMAS[schema]
    rng = np.random.default_rng(seed)
    df = pd.DataFrame({c: np.round(rng.normal(40, 20, n), 3) for c in num})
    for c in cat:
        df[c] = rng.choice(LEVELS[c], n).astype(object)
    for c in num + cat:
        df.loc[rng.random(n) < 0.08, c] = np.nan
    y = ((0.04 * df["tenure"].fillna(30) + (df["plan"] == "pro") * 1.5 + rng.normal(0, 1, n)) > 1.5).astype(int)
    return df, y


def fit(schema, seed):
    num, cat = SCHEMAS[schema]
    df, y = table(schema, 600, seed)
    est = make_pipeline(ColumnTransformer([
        ("num", make_pipeline(SimpleImputer(strategy="median"), StandardScaler()), num),
        ("cat", make_pipeline(SimpleImputer(strategy="constant", fill_value="missing"),
                              OneHotEncoder(handle_unknown="error")), cat),
    ], sparse_threshold=0), LogisticRegression(max_iter=500))
    return est.fit(df, y)


def export(est, path):
    import mlinfer

    tmp = str(path) + ".tmp"
    mlinfer.export(est, tmp)
    os.replace(tmp, path)


def rows_json(df):
    """DataFrame rows as JSON objects, NaN as null."""
    return [{k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in rec.items()}
            for rec in df.to_dict("records")]


class Model:
    """One exported schema: the fitted pipeline, the loaded .mli, and a pool of rows."""

    def __init__(self, schema, seed, path):
        import mlinfer

        self.schema = schema
        self.est = fit(schema, seed)
        export(self.est, path)
        self.path = path
        self.mli = mlinfer.load(str(path))
        self.pool, _ = table(schema, POOL, seed + 100)
        self.classes = [str(c) for c in self.est.classes_]
        self.lock = threading.Lock()
        self.next = 0

    def take(self, n):
        """Rows no other request has had (until the pool wraps)."""
        with self.lock:
            i = self.next if self.next + n <= POOL else 0
            self.next = i + n
        return self.pool.iloc[i:i + n]

    def expect(self, df):
        """(labels, probabilities) from the library, checked against scikit-learn."""
        proba = self.mli.predict_proba(df)
        labels = self.mli.predict(df)
        sk = self.est.predict_proba(df)
        np.testing.assert_allclose(proba, sk, rtol=1e-5, atol=1e-6)
        close = np.abs(sk[:, 1] - 0.5) < 1e-5  # float32 vs float64 may pick either class there
        assert np.array_equal(np.asarray(labels)[~close], self.est.predict(df)[~close])
        return [int(v) for v in labels], proba


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    if SKIP_REASON:
        pytest.skip(SKIP_REASON)
    d = tmp_path_factory.mktemp("named_serving")
    return {"A": Model("A", 0, d / "A.mli"), "B": Model("B", 1, d / "B.mli")}


def test_library_rows_are_independent(models):
    """What lets a batch answer exactly: each row's answer does not depend on the others in the call."""
    for m in models.values():
        df = m.pool.iloc[:300]
        whole = m.mli.predict_proba(df)
        one_by_one = np.concatenate([m.mli.predict_proba(df.iloc[i:i + 1]) for i in range(len(df))])
        assert np.array_equal(whole, one_by_one), m.schema


# ---- a client ---------------------------------------------------------------------------------------
class Client:
    def __init__(self, port):
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)

    def request(self, method, path, body=None, headers=None):
        self.conn.request(method, path, body=body, headers=headers or {})
        resp = self.conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()

    def json(self, path, obj):
        status, _, data = self.request("POST", path, json.dumps(obj).encode(), {"Content-Type": "application/json"})
        return status, json.loads(data)


def v2_json_inputs(df):
    return [{"name": c, "datatype": "BYTES" if df[c].dtype == object else "FP64", "shape": [len(df)],
             "data": [r[c] for r in rows_json(df)]} for c in df.columns]


def v2_binary(df):
    """The tritonclient binary form: FP64 (NaN a missing value) and BYTES (4-byte length + bytes;
    no null in this form, so a missing string is sent as "" — an unknown category would be refused,
    so the caller fills missing strings first)."""
    inputs, payload = [], b""
    for c in df.columns:
        if df[c].dtype == object:
            part = b"".join(struct.pack("<I", len(s.encode())) + s.encode() for s in df[c])
            dt = "BYTES"
        else:
            part = df[c].to_numpy(dtype="<f8").tobytes()
            dt = "FP64"
        inputs.append({"name": c, "datatype": dt, "shape": [len(df)], "parameters": {"binary_data_size": len(part)}})
        payload += part
    head = json.dumps({"inputs": inputs, "outputs": [{"name": "predict_proba", "parameters": {"binary_data": True}},
                                                     {"name": "predict"}]}).encode()
    return head + payload, {HDR: str(len(head)), "Content-Type": "application/octet-stream"}


def with_unknown(df, at):
    bad = df.copy()
    bad.iloc[at, bad.columns.get_loc("plan")] = "platinum"
    return bad


def one_request(cl, m, kind, rng, bad_ratio=0.0, model_path="churn"):
    """Sends one named request of `kind` with fresh rows (a bad one with probability bad_ratio);
    returns (ok, what, model calls, rows per call)."""
    n = rng.choice([1, 1, 1, 2, 3, 12])  # mostly single rows, sometimes more than MLI_MAX_BATCH
    if kind == "features":
        n = 1
    df = m.take(n)
    bad = None
    if rng.random() < bad_ratio:
        bad = rng.choice(["unknown_category", "missing_column"])
        at = rng.randrange(n)
        if bad == "unknown_category":
            df = with_unknown(df, at)
        else:
            df = df.drop(columns=["tenure"])
    if kind == "v2_binary":
        df = df.copy()
        for c in df.columns:
            if df[c].dtype == object:
                df[c] = df[c].fillna(LEVELS[c][0])
    labels, proba = m.expect(df) if not bad else (None, None)
    calls = 2 if kind in ("instances_proba", "features", "v2_binary") else 1

    if kind == "v2_binary":
        body, hdrs = v2_binary(df)
        status, rh, data = cl.request("POST", f"/v2/models/{model_path}/infer", body, hdrs)
        if status != 200:
            return bad is not None and status == 400, (kind, bad, status, data), 0, 0
        hlen = int(rh[HDR.lower()])
        meta = json.loads(data[:hlen])
        got = np.frombuffer(data[hlen:], dtype="<f8").reshape(n, -1)
        pred = [o for o in meta["outputs"] if o["name"] == "predict"][0]["data"]
        return (not bad and np.array_equal(got, proba) and pred == labels), (kind, status, meta), calls, n
    if kind == "features":
        status, body = cl.json(f"/predict?model={model_path}", {"features": rows_json(df)[0], "proba": True})
        want = None if bad else {"prediction": labels[0],
                                 "probabilities": dict(zip(m.classes, proba[0].tolist()))}
    elif kind == "instances_proba":
        status, body = cl.json(f"/predict?model={model_path}", {"instances": rows_json(df), "proba": True})
        want = None if bad else {"predictions": labels,
                                 "probabilities": [dict(zip(m.classes, p)) for p in proba.tolist()]}
    elif kind == "v1":
        status, body = cl.json(f"/v1/models/{model_path}:predict", {"instances": rows_json(df)})
        want = None if bad else {"predictions": labels}
    elif kind == "v2_json":
        status, body = cl.json(f"/v2/models/{model_path}/infer", {"inputs": v2_json_inputs(df)})
        want = None if bad else labels
        if status == 200:
            body = body["outputs"][0]["data"]
    else:
        raise AssertionError(kind)
    if bad:
        where = "features" if kind == "features" else "instances" if kind != "v2_json" else "inputs"
        if bad == "missing_column":
            ok = status == 400 and body["reason"] == "missing_column" and "'tenure'" in body["error"] and (
                kind in ("features", "v2_json") or f"{where}[0]" in body["error"])
        else:  # refused by the model: its own row, not the batch's
            ok = (status == 400 and body["reason"] == "unknown_category" and f"row {at}" in body["error"]
                  and "platinum" in body["error"])
        return ok, (kind, bad, status, body), 0, 0
    return status == 200 and body == want, (kind, status, body, want), calls, n


KINDS = ["features", "instances_proba", "v1", "v2_json", "v2_binary"]


def hammer(port, m, clients, per_client, bad_ratio=0.0, model_path="churn", kinds=KINDS):
    failures, counts, lock = [], [0, 0], threading.Lock()
    start = threading.Barrier(clients)

    def worker(seed):
        rng = random.Random(seed)
        cl = Client(port)
        start.wait()
        for _ in range(per_client):
            kind = rng.choice(kinds)
            try:
                ok, what, calls, n = one_request(cl, m, kind, rng, bad_ratio, model_path)
            except Exception as e:  # noqa: BLE001
                ok, what, calls, n = False, (kind, repr(e)), 0, 0
            with lock:
                if not ok:
                    failures.append(what)
                counts[0] += calls
                counts[1] += n * calls
        cl.conn.close()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return failures, counts[0], counts[1]


BATCHING = {"MLI_MAX_BATCH": "8", "MLI_BATCH_DELAY_US": "2000", "MLI_THREADS": "2"}


def serve_one(start_server, m, tmp_path, env):
    path = tmp_path / "churn.mli"
    shutil.copy(m.path, path)
    return start_server(path, env=env)


# ---- batching ---------------------------------------------------------------------------------------
def test_named_requests_are_batched(start_server, models, tmp_path):
    """Concurrent named requests are coalesced (fewer library calls than model calls asked for,
    batches of more than one row) and each client gets exactly its own rows' answers."""
    m = models["A"]
    srv = serve_one(start_server, m, tmp_path, BATCHING)
    calls0 = srv.metric("mlinfer_batch_queue_seconds_count")
    rows0 = srv.metric("mlinfer_batch_size_sum")
    batches0 = srv.metric("mlinfer_batch_size_count")
    failures, calls, n_rows = hammer(srv.port, m, clients=16, per_client=20)
    assert not failures, f"{len(failures)} wrong answers, first: {failures[:3]}"
    assert srv.metric("mlinfer_batch_queue_seconds_count") - calls0 == calls  # every model call queued
    assert srv.metric("mlinfer_batch_size_sum") - rows0 == n_rows  # and run exactly once
    batches = srv.metric("mlinfer_batch_size_count") - batches0
    assert batches < calls, (batches, calls)
    b = batch_buckets(srv)
    assert b["+Inf"] - b["1"] > 0  # some batches of more than one row
    assert b["8"] < b["+Inf"]  # requests of more than MLI_MAX_BATCH rows ran alone


def test_named_bad_request_in_a_batch_fails_alone(start_server, models, tmp_path):
    """Three requests fill one batch of MLI_MAX_BATCH=4 rows (a slow upload in flight keeps it
    from closing early; the delay is long): two good single rows, then two rows whose row 1
    has an unknown category (row 3 of the batch). The stacked call fails and every request
    reruns alone: the bad one gets a 400 naming its own row 1, the others their exact
    predictions, as soon as the batch is full (not after the delay). A request the parser
    refuses never reaches a batch."""
    m = models["A"]
    delay = 3.0
    srv = serve_one(start_server, m, tmp_path, {"MLI_MAX_BATCH": "4", "MLI_BATCH_DELAY_US": str(int(delay * 1e6)),
                                                "MLI_THREADS": "2"})
    slow_row = m.take(1)
    slow = SlowUpload(srv, rows_json(slow_row)[0])
    good = [m.take(1) for _ in range(2)]
    bad = with_unknown(m.take(2), 1)
    missing = m.take(1).drop(columns=["plan"])
    before = batch_buckets(srv)
    results = {}

    def send(key, body):
        t0 = time.monotonic()
        results[key] = Client(srv.port).json("/predict", body), time.monotonic() - t0

    goods = [threading.Thread(target=send, args=("good0", {"instances": rows_json(good[0])})),
             threading.Thread(target=send, args=("good1", {"features": rows_json(good[1])[0]}))]
    for t in goods:
        t.start()
    assert wait_for(lambda: srv.metric("mlinfer_predict_inflight_requests") == 3)
    time.sleep(0.3)  # both queued in the open batch
    assert not results
    send("missing", {"instances": rows_json(missing)})
    st, body = results["missing"][0]
    assert (st, body["error"], body["reason"]) == (400, "instances[0]: missing column 'plan'", "missing_column")
    assert not [k for k in results if k.startswith("good")]  # the batch still waits
    send("bad", {"instances": rows_json(bad)})
    for t in goods:
        t.join()
    for key in ("good0", "good1", "bad"):
        assert results[key][1] < delay * 0.75, (key, results[key])
    assert results["good0"][0] == (200, {"predictions": m.expect(good[0])[0]})
    assert results["good1"][0] == (200, {"prediction": m.expect(good[1])[0][0]})
    st, body = results["bad"][0]
    assert st == 400 and body["reason"] == "unknown_category", body
    assert "'plan'" in body["error"] and "row 1" in body["error"] and "platinum" in body["error"], body
    after = batch_buckets(srv)
    assert after["4"] - after["2"] - (before["4"] - before["2"]) == 1  # the stacked call of 4 rows
    assert after["1"] - before["1"] == 2 and after["2"] - after["1"] - (before["2"] - before["1"]) == 1  # reruns
    assert slow.finish() == {"prediction": m.expect(slow_row)[0][0]}
    assert srv.metric("mlinfer_input_errors_total", reason="unknown_category") == 1


def test_named_batching_mixed_good_and_bad(start_server, models, tmp_path):
    """Concurrent clients, a fifth of the requests bad (an unknown category, found by the model
    inside a batch, or a missing column, found by the parser): every good request gets its
    exact answer, every bad one its own 400."""
    m = models["A"]
    srv = serve_one(start_server, m, tmp_path, BATCHING)
    failures, calls, _ = hammer(srv.port, m, clients=16, per_client=20, bad_ratio=0.2)
    assert not failures, f"{len(failures)} wrong answers, first: {failures[:3]}"
    assert calls > 0
    assert srv.metric("mlinfer_input_errors_total", reason="unknown_category") > 0
    assert srv.json("GET", "/health")[0] == 200


# ---- hot reload that changes the schema -------------------------------------------------------------
def swap(path, src):
    tmp = str(path) + ".swap"
    shutil.copy(src, tmp)
    os.replace(tmp, path)


def input_names(srv, path="/v2/models/churn"):
    st, body = srv.json("GET", path)
    assert st == 200, body
    return [(i["name"], i["datatype"]) for i in body["inputs"]]


def test_reload_to_new_schema_in_flight_finishes_on_old(start_server, models, tmp_path):
    """A request queued on schema A (held in an open batch by a long delay and a slow upload)
    when the file is replaced by schema B: it is answered by A. After the reload the metadata
    lists B's inputs, B's rows are answered by B, and A's rows get a 400 naming B's column."""
    a, b = models["A"], models["B"]
    delay = 5.0  # long enough for the reload to happen while the request waits
    srv = serve_one(start_server, a, tmp_path, {"MLI_MAX_BATCH": "64", "MLI_BATCH_DELAY_US": str(int(delay * 1e6)),
                                                "MLI_THREADS": "2"})
    path = tmp_path / "churn.mli"
    assert input_names(srv) == [("tenure", "FP64"), ("charges", "FP64"), ("plan", "BYTES"), ("device", "BYTES")]
    slow_row = b.take(1)
    slow = SlowUpload(srv, rows_json(slow_row)[0])  # completes after the reload: parsed on B
    old_rows = a.take(3)
    result = {}

    def send_old():
        # one model call: a request with two counts twice against the requests in flight
        result["old"] = Client(srv.port).json("/predict", {"instances": rows_json(old_rows)})

    t = threading.Thread(target=send_old)
    t.start()
    assert wait_for(lambda: srv.metric("mlinfer_predict_inflight_requests") == 2)
    time.sleep(0.2)  # parsed and queued (the batch waits for the slow upload, up to the delay)
    assert "old" not in result
    loads = srv.metric("mlinfer_model_loads_total")
    swap(path, b.path)
    srv.signal(signal.SIGHUP)
    assert wait_for(lambda: srv.metric("mlinfer_model_loads_total") > loads, timeout=10)
    assert "old" not in result  # still queued on A
    assert input_names(srv) == [("tenure", "FP64"), ("age", "FP64"), ("plan", "BYTES"), ("region", "BYTES")]
    # rows of the old schema are refused by the new one, naming the column
    st, body = Client(srv.port).json("/predict", {"features": rows_json(a.take(1))[0]})
    assert st == 400 and body["reason"] in ("missing_column", "unknown_column"), body
    assert "'age'" in body["error"] or "'charges'" in body["error"], body
    t.join()
    assert result["old"] == (200, {"predictions": a.expect(old_rows)[0]})
    assert slow.finish() == {"prediction": b.expect(slow_row)[0][0]}
    new_rows = b.take(4)
    st, body = srv.json("POST", "/v2/models/churn/infer", {"inputs": v2_json_inputs(new_rows)})
    assert st == 200 and body["outputs"][0]["data"] == b.expect(new_rows)[0], body


@pytest.mark.parametrize("batching", [False, True])
def test_reload_schema_under_load(start_server, models, tmp_path, batching):
    """Clients send rows of both schemas while the file flips between A and B: every answer is
    exactly the model of its schema's (200) or a 400 naming a column of the other schema —
    never a 500, never a mix."""
    a, b = models["A"], models["B"]
    env = dict(BATCHING) if batching else {"MLI_THREADS": "2"}
    srv = serve_one(start_server, a, tmp_path, env)
    path = tmp_path / "churn.mli"
    stop = threading.Event()
    seen, failures, lock = {"A": 0, "B": 0, "refused": 0}, [], threading.Lock()

    def worker(seed):
        rng = random.Random(seed)
        cl = Client(srv.port)
        while not stop.is_set():
            m = a if rng.random() < 0.5 else b
            df = m.take(rng.choice([1, 2, 3]))
            try:
                status, body = cl.json("/predict", {"instances": rows_json(df)})
            except Exception as e:  # noqa: BLE001
                status, body = 0, {"exception": repr(e)}
            with lock:
                if status == 200 and body == {"predictions": m.expect(df)[0]}:
                    seen[m.schema] += 1
                elif status == 400 and body.get("reason") in ("missing_column", "unknown_column"):
                    seen["refused"] += 1
                else:
                    failures.append((m.schema, status, body))

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    try:
        for i in range(4):
            loads = srv.metric("mlinfer_model_loads_total")
            swap(path, (b if i % 2 == 0 else a).path)
            srv.signal(signal.SIGHUP)
            assert wait_for(lambda: srv.metric("mlinfer_model_loads_total") > loads, timeout=10)
            time.sleep(0.4)
    finally:
        stop.set()
        for t in threads:
            t.join()
    assert not failures, failures[:3]
    assert seen["A"] > 0 and seen["B"] > 0 and seen["refused"] > 0, seen
    assert srv.metric("mlinfer_model_load_failures_total") == 0


# ---- a repository of named models ------------------------------------------------------------------
def test_repository_versions_with_different_schemas(start_server, models, tmp_path):
    """churn/1 is schema A, churn/2 schema B: each version takes its own columns (batched
    concurrently, never mixed), the metadata of each lists its inputs, the latest is the
    default; a new version 3 (schema A) dropped into the directory becomes the default."""
    a, b = models["A"], models["B"]
    for v, m in ((1, a), (2, b)):
        (tmp_path / "churn" / str(v)).mkdir(parents=True)
        shutil.copy(m.path, tmp_path / "churn" / str(v) / "model.mli")
    srv = start_server(tmp_path, env=BATCHING)
    a_inputs = [("tenure", "FP64"), ("charges", "FP64"), ("plan", "BYTES"), ("device", "BYTES")]
    b_inputs = [("tenure", "FP64"), ("age", "FP64"), ("plan", "BYTES"), ("region", "BYTES")]
    assert input_names(srv, "/v2/models/churn/versions/1") == a_inputs
    assert input_names(srv, "/v2/models/churn/versions/2") == b_inputs
    assert input_names(srv) == b_inputs

    # both versions at once, from concurrent clients
    out = {}

    def run(key, m, path):  # /predict and V1 name no version: both versions through V2
        out[key] = hammer(srv.port, m, clients=6, per_client=12, bad_ratio=0.1, model_path=path,
                          kinds=["v2_json", "v2_binary"])

    threads = [threading.Thread(target=run, args=("1", a, "churn/versions/1")),
               threading.Thread(target=run, args=("2", b, "churn"))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for key in ("1", "2"):
        assert not out[key][0], (key, out[key][0][:3])
    df = b.take(2)
    assert srv.json("POST", "/predict?model=churn", {"instances": rows_json(df)}) == \
        (200, {"predictions": b.expect(df)[0]})
    st, body = srv.json("POST", "/predict?model=churn", {"instances": rows_json(a.take(1))})
    assert st == 400 and body["reason"] in ("missing_column", "unknown_column"), body

    (tmp_path / "churn" / "3").mkdir()
    shutil.copy(a.path, tmp_path / "churn" / "3" / "model.tmp")
    os.replace(tmp_path / "churn" / "3" / "model.tmp", tmp_path / "churn" / "3" / "model.mli")
    assert wait_for(lambda: srv.json("GET", "/v2/models/churn")[1]["versions"] == ["1", "2", "3"])
    assert input_names(srv) == a_inputs
    df = a.take(3)
    assert srv.json("POST", "/v1/models/churn:predict", {"instances": rows_json(df)}) == \
        (200, {"predictions": a.expect(df)[0]})
