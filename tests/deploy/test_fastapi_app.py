"""examples/fastapi/app.py through FastAPI's TestClient: predictions equal
mlinfer.load(model).predict / predict_proba, the error contract ({"error": ...} with
400/401/404/405/413/503), readiness, Prometheus metrics and hot reload.

Skipped when fastapi or httpx is not installed, or when libmlinfer is not found
(MLINFER_LIBRARY, else build-py/ or build/ next to the repository).
"""
from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

pytest.importorskip("fastapi", reason="pip install fastapi httpx")
pytest.importorskip("httpx", reason="pip install httpx")
np = pytest.importorskip("numpy")

REPO = Path(__file__).resolve().parents[2]
APP = REPO / "examples" / "fastapi" / "app.py"
DEMO = REPO / "programs" / "server" / "demo_model.mli"
DATA = REPO / "tests" / "data"


def _library() -> str | None:
    env = os.environ.get("MLINFER_LIBRARY")
    if env:
        return env if os.path.exists(env) else None
    for d in ("build-py", "build", "build-ci/release"):
        cand = REPO / d / "libmlinfer.so"
        if cand.exists():
            return str(cand)
    return None


LIB = _library()
if LIB is None:
    pytest.skip("libmlinfer not found: set MLINFER_LIBRARY", allow_module_level=True)
os.environ["MLINFER_LIBRARY"] = LIB
if importlib.util.find_spec("mlinfer") is None:
    sys.path.insert(0, str(REPO / "bindings" / "python"))
import mlinfer  # noqa: E402
from fastapi.testclient import TestClient  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

SETTINGS = ("MODEL_PATH", "MLI_MAX_BODY_BYTES", "MLI_API_KEY", "MLI_API_KEY_FILE", "MLI_RELOAD_POLL_SECONDS",
            "MLI_THREADS")


def make_app(monkeypatch, **env):
    """A fresh import of app.py (it reads its settings at import), with `env` set."""
    for k in SETTINGS:
        monkeypatch.delenv(k, raising=False)
    env.setdefault("MLI_RELOAD_POLL_SECONDS", "0")
    for k, v in env.items():
        monkeypatch.setenv(k, str(v))
    name = f"mlinfer_fastapi_app_{uuid.uuid4().hex}"
    spec = importlib.util.spec_from_file_location(name, APP)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod  # dataclasses look their module up there
    monkeypatch.setitem(sys.modules, name, mod)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture
def demo(monkeypatch):
    mod = make_app(monkeypatch)
    with TestClient(mod.app) as client:
        yield client


def _rows(n_features: int, n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.normal(0, 2, size=(n, n_features)).round(4) + 3.0


def _same(got, want):
    want = np.asarray(want)
    if want.dtype.kind in "fc":
        np.testing.assert_allclose(np.asarray(got, dtype=np.float64), want, rtol=1e-12, atol=0)
    else:
        assert list(np.asarray(got).ravel()) == [w.item() if hasattr(w, "item") else w for w in want.ravel()]


# ---- predictions ---------------------------------------------------------------------

def test_demo_model_is_the_default(demo):
    r = demo.get("/ready")
    assert r.status_code == 200 and r.json()["model"] == "demo_model"


def test_single_and_batch_predictions_equal_the_bindings(demo):
    m = mlinfer.load(DEMO)
    X = _rows(m.n_features_in_, 50)
    want = m.predict(X)
    for i in (0, 7, 49):
        r = demo.post("/predict", json={"features": X[i].tolist()})
        assert r.status_code == 200, r.text
        assert r.json() == {"prediction": want[i].item()}
    r = demo.post("/predict", json={"instances": X.tolist()})
    assert r.status_code == 200
    _same(r.json()["predictions"], want)


def test_probabilities_equal_predict_proba(demo):
    m = mlinfer.load(DEMO)
    X = _rows(m.n_features_in_, 20, seed=1)
    r = demo.post("/predict", json={"instances": X.tolist(), "proba": True})
    assert r.status_code == 200
    probs = r.json()["probabilities"]
    labels = [str(c) for c in m.classes_]
    got = np.array([[row[c] for c in labels] for row in probs])
    np.testing.assert_allclose(got, m.predict_proba(X), rtol=1e-12, atol=0)
    r = demo.post("/predict", json={"features": X[0].tolist(), "proba": True})
    assert set(r.json()["probabilities"]) == set(labels)


def test_large_batch_runs_off_the_event_loop(demo):
    m = mlinfer.load(DEMO)
    X = _rows(m.n_features_in_, 2000, seed=2)
    r = demo.post("/predict", json={"instances": X.tolist()})
    _same(r.json()["predictions"], m.predict(X))


@pytest.mark.parametrize("model", sorted(p.name for p in DATA.glob("*.mli")) if DATA.exists() else [])
def test_other_models_equal_the_bindings(monkeypatch, model):
    path = DATA / model
    m = mlinfer.load(path)
    if any(kind == "string" for _, kind in m.schema):
        pytest.skip("string columns: test_named_rows_equal_sklearn")
    X = _rows(m.n_features_in_, 16, seed=3)
    mod = make_app(monkeypatch, MODEL_PATH=path)
    with TestClient(mod.app) as c:
        r = c.post("/predict", json={"instances": X.tolist()})
        assert r.status_code == 200, r.text
        got, want = r.json()["predictions"], m.predict(X)
        _same(got, want)
        r = c.post("/predict", json={"features": X[3].tolist()})
        _same([r.json()["prediction"]], want[3:4])


def _golden_columns(name):
    """tests/data/NAME.columns.txt (tests/data/make_models.py): the column names and kinds,
    rows of values ("null": NaN, "none": None, "s:" a string) and scikit-learn's predictions."""
    lines = (DATA / f"{name}.columns.txt").read_text().split("\n")
    n = int(lines[0].split()[1])
    cols = [ln.split() for ln in lines[1:1 + n]]
    n_rows = int(lines[1 + n].split()[1])
    rows = [ln.split() for ln in lines[2 + n:2 + n + n_rows]]
    pred = lines[2 + n + n_rows:]
    k = int(pred[0].split()[2])
    want = [float(v) for ln in pred[1:1 + n_rows * k] for v in ln.split()]
    return cols, rows, want


def test_named_rows_equal_sklearn(monkeypatch):
    """A ColumnTransformer pipeline with string columns and missing values: {"features":
    {name: value}} and {"instances": [{...}]} answer scikit-learn's predictions (recorded when
    the model was made); keys in any order; errors name the column."""
    cols, rows, want = _golden_columns("prep_strings")
    m = mlinfer.load(DATA / "prep_strings.mli")

    def value(v, kind):
        if v in ("null", "none"):
            return None
        return v[2:] if kind == "string" else float(v)

    keep = [i for i, r in enumerate(rows)  # JSON has one null: leave out NaN in string columns
            if not any(v == "null" and kind == "string" for v, (_, kind) in zip(r, cols))]
    assert len(keep) >= 8
    objs = [{name: value(v, kind) for v, (name, kind) in reversed(list(zip(rows[i], cols)))} for i in keep]
    labels = [m.classes_[int(want[i])] for i in keep]
    mod = make_app(monkeypatch, MODEL_PATH=DATA / "prep_strings.mli")
    with TestClient(mod.app) as c:
        r = c.post("/predict", json={"instances": objs})
        assert r.status_code == 200, r.text
        assert r.json()["predictions"] == [_jsonable_label(v) for v in labels]
        for o, lab in zip(objs[:3], labels[:3]):
            r = c.post("/predict", json={"features": o, "proba": True})
            assert r.status_code == 200, r.text
            assert r.json()["prediction"] == _jsonable_label(lab)
            assert abs(sum(r.json()["probabilities"].values()) - 1) < 1e-9
        bad = dict(objs[0])
        del bad["plan"]
        r = c.post("/predict", json={"instances": [objs[1], bad]})
        assert r.status_code == 400 and "instances[1]: missing column 'plan'" in r.text
        r = c.post("/predict", json={"features": {**objs[0], "age": "old"}})
        assert r.status_code == 400 and "features.age: expected a number" in r.text
        r = c.post("/predict", json={"features": {**objs[0], "plan": 3}})
        assert r.status_code == 400 and "features.plan: expected a string" in r.text
        r = c.post("/predict", json={"features": [1.0] * m.n_features_in_})
        assert r.status_code == 400 and "named values" in r.text


def _jsonable_label(v):
    return v.item() if isinstance(v, np.generic) else v


# ---- errors --------------------------------------------------------------------------

@pytest.mark.parametrize("body, needle", [
    (b"{not json", "malformed JSON"),
    (b"[1, 2]", "JSON object"),
    (b'{"features": [1, 2, NaN, 4]}', "malformed JSON"),
    (b'{"features": [1, 2]}', "expected 4 features, got 2"),
    (b'{"features": [1, 2, "x", 4]}', "features[2]"),
    (b'{"features": [1, 2, true, 4]}', "features[2]"),
    (b'{"features": [1, 2, null, 4]}', "features[2]"),
    (b'{"features": 3}', "features"),
    (b'{"instances": []}', "empty"),
    (b'{"instances": [[1, 2, 3, 4], [1, 2]]}', "instances[1]"),
    (b'{"instances": {"a": 1}}', "instances"),
    (b'{"rows": [[1, 2, 3, 4]]}', "features"),
    (b'{"features": [1, 2, 3, 4], "instances": [[1, 2, 3, 4]]}', "not both"),
    (b'{"features": [1, 2, 3, 4], "proba": "yes"}', "proba"),
    (b'{"features": [1e999, 2, 3, 4]}', "features[0]"),
])
def test_bad_input_is_400_with_a_message(demo, body, needle):
    r = demo.post("/predict", content=body, headers={"Content-Type": "application/json"})
    assert r.status_code == 400, r.text
    assert needle in r.json()["error"]
    assert demo.post("/predict", json={"features": [1, 2, 3, 4]}).status_code == 200, "keeps serving"


def test_body_limit_is_413(monkeypatch):
    mod = make_app(monkeypatch, MLI_MAX_BODY_BYTES=200)
    with TestClient(mod.app) as c:
        big = {"instances": [[1.0, 2.0, 3.0, 4.0]] * 50}
        r = c.post("/predict", json=big)
        assert r.status_code == 413 and "limit" in r.json()["error"]

        def chunks():  # no Content-Length: the cap must hold while streaming
            yield b'{"instances": ['
            for _ in range(50):
                yield b"[1, 2, 3, 4],"
            yield b"[1, 2, 3, 4]]}"
        r = c.post("/predict", content=chunks())
        assert r.status_code == 413
        assert c.post("/predict", json={"features": [1, 2, 3, 4]}).status_code == 200


def test_bearer_token(monkeypatch, tmp_path):
    key = tmp_path / "key"
    key.write_text("s3cret\n")
    mod = make_app(monkeypatch, MLI_API_KEY_FILE=key)
    with TestClient(mod.app) as c:
        body = {"features": [1, 2, 3, 4]}
        assert c.post("/predict", json=body).status_code == 401
        r = c.post("/predict", json=body, headers={"Authorization": "Bearer wrong"})
        assert r.status_code == 401 and "bearer" in r.json()["error"]
        assert c.post("/predict", json=body, headers={"Authorization": "Bearer s3cret"}).status_code == 200
        for path in ("/health", "/ready", "/metrics"):  # probes and scrapes stay open
            assert c.get(path).status_code == 200


def test_unknown_path_and_method_are_json(demo):
    r = demo.get("/nope")
    assert r.status_code == 404 and "error" in r.json()
    r = demo.get("/predict")
    assert r.status_code == 405 and "error" in r.json()


def test_no_model_means_not_ready_but_alive(monkeypatch, tmp_path):
    mod = make_app(monkeypatch, MODEL_PATH=tmp_path / "missing.mli")
    with TestClient(mod.app) as c:
        assert c.get("/health").status_code == 200
        r = c.get("/ready")
        assert r.status_code == 503 and "error" in r.json()
        r = c.post("/predict", json={"features": [1, 2, 3, 4]})
        assert r.status_code == 503 and r.headers.get("retry-after")
        assert re.search(r"^mlinfer_model_load_failures_total 1$", c.get("/metrics").text, re.M)


# ---- metrics -------------------------------------------------------------------------

def _check_exposition(text: str):
    assert text.endswith("\n")
    seen, current = set(), None
    samples: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith("# HELP "):
            name = line.split()[2]
            assert name not in seen, f"{name} declared twice"
            seen.add(name)
            current = name
            continue
        if line.startswith("# TYPE "):
            assert line.split()[2] == current
            continue
        name = re.match(r"[a-zA-Z_:][a-zA-Z0-9_:]*", line).group(0)
        assert current and name.startswith(current), f"{name} outside its block"
        samples[line.rsplit(" ", 1)[0]] = float(line.rsplit(" ", 1)[1])
    return samples


def test_metrics_format_and_counts(demo):
    for _ in range(3):
        demo.post("/predict", json={"features": [1, 2, 3, 4]})
    demo.post("/predict", json={"features": [1]})
    r = demo.get("/metrics")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain; version=0.0.4")
    s = _check_exposition(r.text)
    assert s['mlinfer_requests_total{endpoint="predict",model="demo_model",code="200"}'] == 3
    assert s['mlinfer_requests_total{endpoint="predict",model="demo_model",code="400"}'] == 1
    inf = s['mlinfer_request_duration_seconds_bucket{endpoint="predict",le="+Inf"}']
    assert inf == s['mlinfer_request_duration_seconds_count{endpoint="predict"}'] == 4
    assert 'mlinfer_request_duration_seconds_bucket{endpoint="predict",le="5e-05"}' in s
    assert s["mlinfer_model_loads_total"] == 1
    promtool = shutil.which("promtool")
    if promtool:
        p = subprocess.run([promtool, "check", "metrics"], input=r.text, capture_output=True, text=True)
        assert p.returncode == 0, p.stdout + p.stderr


# ---- hot reload ----------------------------------------------------------------------

def test_hot_reload_swaps_and_keeps_the_old_model_on_failure(monkeypatch, tmp_path):
    other = DATA / "logreg_binary.mli"
    if not other.exists():
        pytest.skip("tests/data/logreg_binary.mli missing")
    live = tmp_path / "model.mli"
    shutil.copy(DEMO, live)
    mod = make_app(monkeypatch, MODEL_PATH=live, MLI_RELOAD_POLL_SECONDS="0.05")
    m_other = mlinfer.load(other)

    def wait_for(cond, what):
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if cond():
                return
            time.sleep(0.05)
        pytest.fail(f"timed out waiting for {what}")

    with TestClient(mod.app) as c:
        assert c.post("/predict", json={"features": [1, 2, 3, 4]}).status_code == 200
        tmp = tmp_path / ".new"
        shutil.copy(other, tmp)
        os.replace(tmp, live)  # atomic, like a ConfigMap symlink swap
        X = _rows(m_other.n_features_in_, 5)
        wait_for(lambda: c.post("/predict", json={"instances": X.tolist()}).status_code == 200, "reload")
        _same(c.post("/predict", json={"instances": X.tolist()}).json()["predictions"], m_other.predict(X))

        tmp.write_bytes(b"not a model")
        os.replace(tmp, live)
        wait_for(lambda: "mlinfer_model_load_failures_total 1\n" in c.get("/metrics").text, "failed reload")
        r = c.post("/predict", json={"instances": X.tolist()})
        assert r.status_code == 200, "the old model keeps serving"
        assert c.get("/ready").status_code == 200
