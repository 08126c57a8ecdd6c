"""FastAPI inference server on libmlinfer: the drop-in replacement for the usual
`joblib.load("model.pkl")` + FastAPI app, for teams that stay in Python.

The routes below answer as mlinfer-server's do (programs/server), so /predict clients,
probes, dashboards and the HPA rule (examples/deploy) work unchanged with either. The Open
Inference Protocol V2 and V1 routes are mlinfer-server's only (not served here):

  POST /predict   {"features": [...]}          -> {"prediction": ...}
                  {"instances": [[...], ...]}  -> {"predictions": [...]}
                  {"features": {name: value}} / {"instances": [{name: value}, ...]} for
                  models with named columns (pipelines over DataFrames; null = missing)
                  add "proba": true            -> also "probabilities" ({label: p} per row)
  GET  /health    liveness: the process answers (independent of the model)
  GET  /ready     readiness: a model is loaded
  GET  /metrics   Prometheus text format 0.0.4, the same metric names as mlinfer-server
  errors          {"error": "..."} with 400 / 401 / 404 / 405 / 413 / 503

Settings (environment, the names mlinfer-server uses):
  MODEL_PATH          the .mli file (default: programs/server/demo_model.mli in the repository)
  MLI_MAX_BODY_BYTES  request body cap, default 64 MiB
  MLI_API_KEY / MLI_API_KEY_FILE  bearer token for /predict; no auth when unset
  MLI_THREADS         libmlinfer's thread count (default: the library's)
  MLI_RELOAD_POLL_SECONDS  how often the model file is checked for changes (default 2; 0: never)
  MLINFER_LIBRARY     the libmlinfer shared library, when not installed next to the bindings

Run:  uvicorn app:app --host 0.0.0.0 --port 8000   (one worker per pod; see README.md)
"""
from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

import mlinfer

HERE = Path(__file__).resolve().parent
DEFAULT_MODEL = HERE.parent.parent / "programs" / "server" / "demo_model.mli"
MODEL_PATH = os.environ.get("MODEL_PATH") or str(DEFAULT_MODEL)
MAX_BODY_BYTES = int(os.environ.get("MLI_MAX_BODY_BYTES") or 64 << 20)
RELOAD_POLL_SECONDS = float(os.environ.get("MLI_RELOAD_POLL_SECONDS") or 2.0)
# Batches bigger than this run on a worker thread so the event loop keeps answering
# probes; smaller ones are cheaper to run inline than to hand over.
INLINE_MAX_ROWS = 256


def _api_key() -> str | None:
    key = os.environ.get("MLI_API_KEY")
    if key:
        return key
    path = os.environ.get("MLI_API_KEY_FILE")
    if path:
        with open(path) as f:
            return f.read().strip() or None
    return None


API_KEY = _api_key()
OPEN_PATHS = {"/health", "/ready", "/metrics"}


class ApiError(Exception):
    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None):
        self.status, self.message, self.headers = status, message, headers


# ---- model state --------------------------------------------------------------------

@dataclass
class Served:
    model: Any
    name: str
    n_features: int
    columns: list  # [(name, kind)] of the columns the model reads (kind "number" or "string")
    numeric_only: bool  # positional arrays of numbers are accepted
    is_classifier: bool
    classes: list
    has_proba: bool


@dataclass
class State:
    served: Served | None = None
    file_id: tuple | None = None
    draining: bool = False


STATE = State()


def _file_id(path: str) -> tuple | None:
    try:
        st = os.stat(path)  # stat, not lstat: a ConfigMap "..data" symlink swap changes the target
    except OSError:
        return None
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)


def _open_model(path: str) -> Served:
    m = mlinfer.load(path)
    n = int(m.n_features_in_)
    schema = list(m.schema)
    columns = [(name, kind) for name, kind in schema if kind != "unused" and name is not None]
    numeric_only = all(kind != "string" for _, kind in schema)
    # Check the new model before it serves: one row of zeros must predict (a model with
    # string columns has no neutral row: an unknown category may rightly be refused).
    if numeric_only:
        m.predict(np.zeros((1, n)))
    is_classifier = bool(m.is_classifier)
    classes = [_jsonable(c) for c in m.classes_] if is_classifier else []
    has_proba = bool(getattr(m, "_has_proba", is_classifier))
    return Served(m, Path(path).stem, n, columns, numeric_only, is_classifier, classes, has_proba)


def load_model(reason: str) -> bool:
    """Loads MODEL_PATH and swaps it in; on failure the previous model keeps serving."""
    fid = _file_id(MODEL_PATH)
    try:
        served = _open_model(MODEL_PATH)
    except Exception as e:  # noqa: BLE001 - any failure keeps the old model
        METRICS.load_failures += 1
        _log("error", "model_load_failed", path=MODEL_PATH, reason=reason, error=str(e),
             kept_previous=STATE.served is not None)
        STATE.file_id = fid  # do not retry the same broken file on every poll
        return False
    STATE.served, STATE.file_id = served, fid  # one assignment: requests see old or new, never half
    METRICS.loads += 1
    METRICS.last_load_success = time.time()
    METRICS.model = served.name
    _log("info", "model_loaded", path=MODEL_PATH, reason=reason, n_features=served.n_features)
    return True


async def _watch_model_file():
    while True:
        await asyncio.sleep(RELOAD_POLL_SECONDS)
        fid = _file_id(MODEL_PATH)
        if fid is not None and fid != STATE.file_id:
            await run_in_threadpool(load_model, "file changed")


def _log(level: str, event: str, **fields):
    levels = ["debug", "info", "warn", "error"]
    want = os.environ.get("LOG_LEVEL", "info").lower().replace("warning", "warn")
    if want in levels and levels.index(level) < levels.index(want):
        return
    print(json.dumps({"ts": round(time.time(), 3), "level": level, "event": event, **fields}), flush=True)


# ---- metrics (Prometheus text 0.0.4, hand-written: no extra dependency) ----------------

DURATION_BUCKETS = (5e-05, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
                    2.5, 5.0, 10.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096, 16384, 65536)
ENDPOINTS = {"/predict": "predict", "/health": "health", "/ready": "ready", "/metrics": "metrics"}


@dataclass
class Histogram:
    bounds: tuple
    counts: list = field(default_factory=list)
    total: float = 0.0
    n: int = 0

    def __post_init__(self):
        self.counts = [0] * len(self.bounds)

    def observe(self, v: float):
        for i, b in enumerate(self.bounds):
            if v <= b:
                self.counts[i] += 1
                break
        self.total += v
        self.n += 1

    def render(self, name: str, labels: str) -> list[str]:
        sep = "," if labels else ""
        out, cum = [], 0
        for b, c in zip(self.bounds, self.counts):
            cum += c
            out.append(f'{name}_bucket{{{labels}{sep}le="{b:g}"}} {cum}')
        out.append(f'{name}_bucket{{{labels}{sep}le="+Inf"}} {self.n}')
        lb = f"{{{labels}}}" if labels else ""
        out.append(f"{name}_sum{lb} {self.total!r}")
        out.append(f"{name}_count{lb} {self.n}")
        return out


@dataclass
class Metrics:
    requests: dict = field(default_factory=dict)   # (endpoint, model, code) -> count
    duration: dict = field(default_factory=dict)   # endpoint -> Histogram
    batch: Histogram = field(default_factory=lambda: Histogram(BATCH_BUCKETS))
    inflight: int = 0
    loads: int = 0
    load_failures: int = 0
    last_load_success: float = 0.0
    model: str = ""

    def record(self, endpoint: str, code: int, seconds: float):
        model = self.model if endpoint == "predict" else ""
        key = (endpoint, model, code)
        self.requests[key] = self.requests.get(key, 0) + 1
        h = self.duration.get(endpoint)
        if h is None:
            h = self.duration[endpoint] = Histogram(DURATION_BUCKETS)
        h.observe(seconds)

    def render(self) -> str:
        lines: list[str] = []

        def head(name, kind, text):
            lines.append(f"# HELP {name} {text}")
            lines.append(f"# TYPE {name} {kind}")

        head("mlinfer_requests_total", "counter", "HTTP requests by endpoint, model and status code.")
        for (ep, model, code), v in sorted(self.requests.items()):
            lines.append(f'mlinfer_requests_total{{endpoint="{ep}",model="{model}",code="{code}"}} {v}')
        head("mlinfer_request_duration_seconds", "histogram", "Time from request arrival to response, by endpoint.")
        for ep, h in sorted(self.duration.items()):
            lines += h.render("mlinfer_request_duration_seconds", f'endpoint="{ep}"')
        head("mlinfer_batch_size", "histogram", "Rows per model predict call.")
        lines += self.batch.render("mlinfer_batch_size", "")
        head("mlinfer_inflight_requests", "gauge", "Requests being processed.")
        lines.append(f"mlinfer_inflight_requests {self.inflight}")
        head("mlinfer_model_loads_total", "counter", "Successful model loads (startup and reloads).")
        lines.append(f"mlinfer_model_loads_total {self.loads}")
        head("mlinfer_model_load_failures_total", "counter", "Failed model loads; the old model kept serving.")
        lines.append(f"mlinfer_model_load_failures_total {self.load_failures}")
        head("mlinfer_model_last_load_success_timestamp_seconds", "gauge",
             "Unix time of the last successful model load.")
        lines.append(f"mlinfer_model_last_load_success_timestamp_seconds {self.last_load_success:.3f}")
        head("mlinfer_build_info", "gauge", "Build information; the value is always 1.")
        lines.append(f'mlinfer_build_info{{version="{mlinfer.library_version()}",server="fastapi"}} 1')
        return "\n".join(lines) + "\n"


METRICS = Metrics()


class MetricsMiddleware:
    """Pure ASGI middleware (cheaper than BaseHTTPMiddleware): counts every response."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        start = time.perf_counter()
        status = {"code": 500}

        async def send_wrapper(message):
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        METRICS.inflight += 1
        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            METRICS.inflight -= 1
            METRICS.record(ENDPOINTS.get(scope["path"], "other"), status["code"], time.perf_counter() - start)


# ---- request parsing ----------------------------------------------------------------------

def _reject_constant(name: str):
    raise ValueError(f"{name} is not valid JSON")


def _parse_json(body: bytes) -> dict:
    try:
        doc = json.loads(body, parse_constant=_reject_constant)
    except (ValueError, UnicodeDecodeError) as e:
        raise ApiError(400, f"malformed JSON: {e}") from None
    if not isinstance(doc, dict):
        raise ApiError(400, "expected a JSON object")
    return doc


def _row(values, n_features: int, where: str) -> list[float]:
    if not isinstance(values, list):
        raise ApiError(400, f"{where}: expected an array of {n_features} numbers")
    if len(values) != n_features:
        raise ApiError(400, f"{where}: expected {n_features} features, got {len(values)}")
    for i, v in enumerate(values):
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise ApiError(400, f"{where}[{i}]: expected a number, got {json.dumps(v)[:40]}")
        if not math.isfinite(v):
            raise ApiError(400, f"{where}[{i}]: number out of range")
    return values


def _named_rows(rows: list, served: Served, where) -> dict:
    """Rows of {name: value} as a dict of columns for Model.predict: each column the model
    reads must be present (null is a missing value); numbers in number columns, strings in
    string columns; names the model does not read are ignored, as in a DataFrame."""
    if not served.columns:
        raise ApiError(400, f"{where(0)}: this model records no column names: send an array of "
                            f"{served.n_features} numbers")
    cols = {name: [] for name, _ in served.columns}
    for i, row in enumerate(rows):
        if not isinstance(row, dict):
            raise ApiError(400, f"{where(i)}: expected an object of named values like the other rows")
        for name, kind in served.columns:
            if name not in row:
                raise ApiError(400, f"{where(i)}: missing column '{name}'")
            v = row[name]
            if v is not None:
                if kind == "string" and not isinstance(v, str):
                    raise ApiError(400, f"{where(i)}.{name}: expected a string (or null), got {json.dumps(v)[:40]}")
                if kind == "number" and (isinstance(v, bool) or not isinstance(v, (int, float))):
                    raise ApiError(400, f"{where(i)}.{name}: expected a number (or null), got {json.dumps(v)[:40]}")
            cols[name].append(v)
    return cols


def _jsonable(v):
    if isinstance(v, np.ndarray):
        return [_jsonable(x) for x in v]
    if isinstance(v, np.generic):
        return v.item()
    return v


def _predict(served: Served, X, proba: bool):
    METRICS.batch.observe(X.shape[0] if isinstance(X, np.ndarray) else len(next(iter(X.values()))))
    y = served.model.predict(X)
    p = served.model.predict_proba(X) if proba else None
    return y, p


# ---- the app ----------------------------------------------------------------------------------

@contextlib.asynccontextmanager
async def lifespan(app: FastAPI):
    threads = os.environ.get("MLI_THREADS")
    if threads:
        mlinfer.set_num_threads(int(threads))
    load_model("startup")  # once, before the first request; /ready is 503 until it succeeds
    watcher = asyncio.create_task(_watch_model_file()) if RELOAD_POLL_SECONDS > 0 else None
    try:
        yield
    finally:
        STATE.draining = True
        if watcher:
            watcher.cancel()


app = FastAPI(title="mlinfer (FastAPI)", lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None)
app.add_middleware(MetricsMiddleware)


@app.exception_handler(ApiError)
async def _api_error(request: Request, exc: ApiError):
    return JSONResponse({"error": exc.message}, status_code=exc.status, headers=exc.headers)


@app.exception_handler(StarletteHTTPException)
async def _http_error(request: Request, exc: StarletteHTTPException):
    msg = {404: f"no such endpoint: {request.url.path}",
           405: f"method {request.method} not allowed on {request.url.path}"}.get(exc.status_code, str(exc.detail))
    return JSONResponse({"error": msg}, status_code=exc.status_code, headers=getattr(exc, "headers", None))


def _check_auth(request: Request):
    if API_KEY is None or request.url.path in OPEN_PATHS:
        return
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    # compare_digest: the time taken does not depend on where the token differs.
    if scheme.lower() != "bearer" or not hmac.compare_digest(token.strip().encode(), API_KEY.encode()):
        raise ApiError(401, "missing or wrong bearer token (Authorization: Bearer <key>)",
                       {"WWW-Authenticate": "Bearer"})


async def _read_body(request: Request) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None:
        try:
            if int(declared) > MAX_BODY_BYTES:
                raise ApiError(413, f"request body of {declared} bytes exceeds the limit of {MAX_BODY_BYTES}")
        except ValueError:
            raise ApiError(400, "invalid Content-Length") from None
    chunks, size = [], 0
    async for chunk in request.stream():  # chunked bodies have no Content-Length: count as they come
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise ApiError(413, f"request body exceeds the limit of {MAX_BODY_BYTES} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


@app.post("/predict")
async def predict(request: Request):
    _check_auth(request)
    served = STATE.served
    if served is None:
        raise ApiError(503, "no model loaded", {"Retry-After": "1"})
    doc = _parse_json(await _read_body(request))

    proba = doc.get("proba", False)
    if not isinstance(proba, bool):
        raise ApiError(400, "proba: expected true or false")
    if proba and not served.has_proba:
        raise ApiError(400, "proba: this model has no predict_proba")
    has_f, has_i = "features" in doc, "instances" in doc
    if has_f == has_i:
        raise ApiError(400, 'give either "features": [...] or "instances": [[...], ...]'
                       if not has_f else 'give either "features" or "instances", not both')
    inst = [doc["features"]] if has_f else doc["instances"]
    where = (lambda i: "features") if has_f else (lambda i: f"instances[{i}]")
    if not has_f and not isinstance(inst, list):
        raise ApiError(400, "instances: expected an array of rows")
    if not inst:
        raise ApiError(400, "instances: empty, expected at least one row")
    if isinstance(inst[0], dict):
        X = _named_rows(inst, served, where)
    elif not served.numeric_only:
        raise ApiError(400, f"{where(0)}: this model takes named values (string columns): send "
                            '{"name": value, ...}')
    else:
        rows = [_row(r, served.n_features, where(i)) for i, r in enumerate(inst)]
        X = np.asarray(rows, dtype=np.float64)

    try:
        if len(inst) <= INLINE_MAX_ROWS:
            y, p = _predict(served, X, proba)
        else:
            y, p = await run_in_threadpool(_predict, served, X, proba)
    except mlinfer.Error as e:
        raise ApiError(400, f"prediction failed: {e}") from None

    preds = _jsonable(y)
    probs = None
    if p is not None:
        probs = [{str(c): float(v) for c, v in zip(served.classes, row)} for row in np.asarray(p)]
    if has_f:
        out = {"prediction": preds[0]}
        if probs is not None:
            out["probabilities"] = probs[0]
    else:
        out = {"predictions": preds}
        if probs is not None:
            out["probabilities"] = probs
    return JSONResponse(out)


@app.get("/health")
async def health():
    return {"status": "ok"}


@app.get("/ready")
async def ready():
    if STATE.served is None or STATE.draining:
        reason = "draining" if STATE.draining else "no model loaded"
        return JSONResponse({"error": f"not ready: {reason}"}, status_code=503, headers={"Retry-After": "1"})
    return {"status": "ready", "model": STATE.served.name}


@app.get("/metrics")
async def metrics():
    return Response(METRICS.render(), media_type="text/plain; version=0.0.4; charset=utf-8")
