"""mlinfer-server thread settings: HTTP threads and library threads are named apart
(MLI_HTTP_THREADS, MLI_PREDICT_THREADS), and the old MLI_THREADS stays an alias of the first."""
from __future__ import annotations

import json
import subprocess

import pytest

from conftest import DEMO_MODEL, SERVER_BIN

ROWS = [[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]]


def startup(srv):
    srv.wait_ready()
    return next(e for e in srv.logs() if e.get("event") == "startup")


@pytest.mark.parametrize("env, http, predict", [
    ({}, None, 1),
    ({"MLI_THREADS": "3"}, 3, 1),
    ({"MLI_HTTP_THREADS": "2"}, 2, 1),
    ({"MLI_THREADS": "5", "MLI_HTTP_THREADS": "2"}, 2, 1),   # the unambiguous name wins
    ({"MLI_HTTP_THREADS": "2", "MLI_PREDICT_THREADS": "2"}, 2, 2),
])
def test_thread_settings(start_server, model_dir, env, http, predict):
    srv = start_server(model_dir / "demo_model.mli", env=env)
    ev = startup(srv)
    if http is not None:
        assert ev["threads"] == http
    assert ev["predict_threads"] == predict
    status, body = srv.json("POST", "/predict", {"instances": ROWS})
    assert status == 200 and body["predictions"] == ["setosa", "virginica"]


@pytest.mark.parametrize("name", ["MLI_HTTP_THREADS", "MLI_PREDICT_THREADS", "MLI_THREADS"])
def test_bad_thread_setting_is_named(name):
    proc = subprocess.run([SERVER_BIN, "--model", str(DEMO_MODEL), "--port", "1"], env={name: "0"},
                          capture_output=True, text=True, timeout=20)
    assert proc.returncode != 0
    assert name in proc.stderr and "'0'" in proc.stderr
