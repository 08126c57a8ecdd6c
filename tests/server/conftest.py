"""pytest fixtures for mlinfer-server.

The binary is $MLI_SERVER_BIN, else programs/server/mlinfer-server in the build directory
that holds $MLINFER_LIBRARY; without one every test is skipped with a message. Each
server runs on a free loopback port with its model copied into a temporary directory.

$MLINFER_SERVER_TEST_ENV ("MLI_MAX_BATCH=16 MLI_BATCH_DELAY_US=200") is added to every
server's environment (a test's own settings win): the whole suite can run with dynamic
batching on.
"""
from __future__ import annotations

import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DEMO_MODEL = REPO / "programs" / "server" / "demo_model.mli"
sys.path.insert(0, str(REPO / "bindings" / "python"))


def _find_server():
    env = os.environ.get("MLI_SERVER_BIN")
    if env:
        return (env, None) if os.access(env, os.X_OK) else (None, f"MLI_SERVER_BIN={env!r} is not executable")
    lib = os.environ.get("MLINFER_LIBRARY")
    if lib:
        cand = Path(lib).resolve().parent / "programs" / "server" / "mlinfer-server"
        if os.access(cand, os.X_OK):
            return str(cand), None
        return None, f"no mlinfer-server next to MLINFER_LIBRARY ({cand}); build with -DMLI_BUILD_SERVER=ON"
    return None, "set MLI_SERVER_BIN or MLINFER_LIBRARY (the build directory's libmlinfer.so) to test mlinfer-server"


SERVER_BIN, SKIP_REASON = _find_server()
EXTRA_ENV = dict(kv.split("=", 1) for kv in os.environ.get("MLINFER_SERVER_TEST_ENV", "").replace(",", " ").split()
                 if "=" in kv)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """A running mlinfer-server; request() returns (status, headers, body bytes)."""

    def __init__(self, model: Path | None, env: dict | None = None, args: list | None = None):
        self.port = free_port()
        full_env = {k: v for k, v in os.environ.items() if not k.startswith("MLI_") and k not in ("MODEL_PATH", "PORT")}
        full_env.update({"PORT": str(self.port), "LOG_LEVEL": "debug", "MLI_DRAIN_SECONDS": "1"})
        full_env.update(EXTRA_ENV)
        full_env.update(env or {})
        cmd = [SERVER_BIN] + (["--model", str(model)] if model else []) + (args or [])
        self.log = tempfile.TemporaryFile()  # a file, not a pipe: debug logs must never block the server
        self.proc = subprocess.Popen(cmd, env=full_env, stdout=subprocess.DEVNULL, stderr=self.log)
        self.wait_ready()

    def request(self, method, path, body=None, headers=None, timeout=10):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            if isinstance(body, (dict, list)):
                body = json.dumps(body).encode()
            conn.request(method, path, body=body, headers=headers or {})
            resp = conn.getresponse()
            return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
        finally:
            conn.close()

    def json(self, method, path, body=None, headers=None):
        status, hdrs, data = self.request(method, path, body, headers)
        return status, json.loads(data) if data else None

    def wait_ready(self, timeout=10.0):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.proc.poll() is not None:
                raise RuntimeError(f"mlinfer-server exited with {self.proc.returncode}: {self.logs()!r}")
            try:
                if self.request("GET", "/ready", timeout=1)[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.05)
        raise RuntimeError("mlinfer-server did not become ready")

    def metric(self, name, **labels):
        """Sum of the samples of `name` whose labels include `labels`."""
        _, _, text = self.request("GET", "/metrics")
        total = 0.0
        for line in text.decode().splitlines():
            if line.startswith("#") or not line:
                continue
            sample, value = line.rsplit(" ", 1)
            metric, _, lbl = sample.partition("{")
            if metric != name:
                continue
            pairs = dict(p.split("=", 1) for p in lbl.rstrip("}").split(",") if p) if lbl else {}
            pairs = {k: v.strip('"') for k, v in pairs.items()}
            if all(pairs.get(k) == str(v) for k, v in labels.items()):
                total += float(value)
        return total

    def logs(self):
        self.log.seek(0)
        return [json.loads(line) for line in self.log.read().decode().splitlines() if line.startswith("{")]

    def signal(self, sig):
        self.proc.send_signal(sig)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()
        self.log.seek(0)
        text = self.log.read().decode(errors="replace")
        self.log.close()
        # a sanitizer build (-DMLI_SANITIZE=thread / address,undefined) reports on stderr
        for marker in ("WARNING: ThreadSanitizer", "ERROR: AddressSanitizer", "runtime error:"):
            if marker in text:
                at = text.index(marker)
                raise AssertionError(f"mlinfer-server sanitizer report:\n{text[max(0, at - 200):at + 4000]}")


@pytest.fixture(autouse=True)
def _need_server():
    if SKIP_REASON:
        pytest.skip(SKIP_REASON)


@pytest.fixture
def model_dir(tmp_path):
    shutil.copy(DEMO_MODEL, tmp_path / "demo_model.mli")
    return tmp_path


@pytest.fixture
def start_server():
    servers = []

    def start(model=None, **kw):
        srv = Server(model, **kw)
        servers.append(srv)
        return srv

    yield start
    for srv in servers:
        srv.stop()


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    if SKIP_REASON:
        pytest.skip(SKIP_REASON)
    d = tmp_path_factory.mktemp("demo")
    shutil.copy(DEMO_MODEL, d / "demo_model.mli")
    srv = Server(d / "demo_model.mli")
    yield srv
    srv.stop()
