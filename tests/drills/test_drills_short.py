"""The availability drills in CI: `drill.py --short` (three mlinfer-server replicas behind HAProxy
under wrk load; a rolling update, a hot reload on every replica, a SIGKILL), about 20 s.

Needs haproxy and wrk on PATH (apt-get install haproxy wrk), and the server binary: $MLI_SERVER_BIN,
else programs/server/mlinfer-server next to $MLINFER_LIBRARY, else build-drill/. Skipped, saying
which is missing, without them. Targets: no failed request in the rolling update and the reload;
in the SIGKILL drill no failures but requests the killed replica held and never answered
(HAProxy's count of them for that server).
"""
from __future__ import annotations

import json
import os
import random
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]


def find_server() -> Path | None:
    if os.environ.get("MLI_SERVER_BIN"):
        return Path(os.environ["MLI_SERVER_BIN"])
    cands = []
    if os.environ.get("MLINFER_LIBRARY"):
        cands.append(Path(os.environ["MLINFER_LIBRARY"]).resolve().parent / "programs" / "server" / "mlinfer-server")
    cands.append(REPO / "build-drill" / "programs" / "server" / "mlinfer-server")
    return next((c for c in cands if os.access(c, os.X_OK)), None)


def port_block(n: int) -> int:
    """A base port with base .. base + n - 1 all free on 127.0.0.1."""
    rng = random.Random()
    for _ in range(200):
        base = rng.randrange(20000, 60000 - n)
        socks = []
        try:
            for p in range(base, base + n):
                s = socket.socket()
                s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                socks.append(s)
                s.bind(("127.0.0.1", p))
            return base
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
    raise RuntimeError(f"no block of {n} free ports")


@pytest.fixture(scope="module")
def drills(tmp_path_factory):
    missing = [tool for tool in ("haproxy", "wrk") if not shutil.which(tool)]
    if missing:
        pytest.skip(f"{' and '.join(missing)} not on PATH: apt-get install -y haproxy wrk")
    server = find_server()
    if not server:
        pytest.skip("no mlinfer-server: set MLI_SERVER_BIN, or MLINFER_LIBRARY to a build directory's libmlinfer.so")
    out = tmp_path_factory.mktemp("drills") / "drills.json"
    base = port_block(9)  # 8 replica slots, then HAProxy's frontend
    cmd = [sys.executable, str(HERE / "drill.py"), "--short", "--server", str(server),
           "--base-port", str(base), "--fe-port", str(base + 8), "--json", str(out)]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    print(res.stdout, res.stderr)
    assert res.returncode in (0, 1) and out.exists(), f"drill set-up failed (exit {res.returncode}):\n" \
                                                      f"{res.stdout}\n{res.stderr}"
    return {r["drill"]: r for r in json.loads(out.read_text())}


def check_load(r):
    assert r["requests"] > 1000, r  # the load really ran


def test_rolling_update_fails_no_request(drills):
    r = drills["rolling update"]
    check_load(r)
    assert r["failed"] == 0, r


def test_hot_reload_fails_no_request(drills):
    r = drills["hot reload"]
    check_load(r)
    assert r["reloads"] == 3
    assert r["failed"] == 0, r


def test_sigkill_fails_only_the_requests_the_killed_replica_held(drills):
    """Every request the client saw fail is one the killed replica held and never answered, as
    HAProxy counts them for that server (`srv_abrt` for those it answered by closing the client
    connection, `eresp` for those and its 502s); it failed none before the kill and the other
    replicas none at all. Not a session count (`smax`) or wrk's connection count: requests
    also go to the replica while it dies (its listener still accepts while the kernel tears it
    down; idle keep-alive connections to it until HAProxy reads their close), so a wrk
    connection can fail there twice (see drill_kill: 12 failures with smax 11 in CI, 16-21 with
    16 wrk connections here). A request lost anywhere else (a survivor, HAProxy, a slow response counted by
    wrk) is not in that count and fails this test."""
    r = drills["SIGKILL"]
    check_load(r)
    # the breakdown first: pytest cuts a long dict short
    why = {k: r.get(k) for k in ("failed", "non2xx", "connect", "read", "write", "timeout", "killed_unanswered",
                                 "killed_aborted", "killed_failed_before_kill", "survivors_failed", "smax",
                                 "wrk_connections", "scur_samples_before_kill")}
    assert 0 < r["killed_unanswered"], why  # the kill really hit requests
    assert r["killed_failed_before_kill"] == 0, why
    assert r["survivors_failed"] == 0, why
    # Two estimates of the requests the killed replica held, each short by one now and then
    # (CI: 6 read errors against srv_abrt 5 on a quiet machine; 12 failures against smax 11
    # under load): HAProxy's per-server counts of the requests it never answered, and the
    # most sessions it had open at once (bounded by wrk's connections). A loss needs both
    # exceeded to fail here; a loss on a survivor or before the kill fails above.
    by_counts = r["socket_errors"] <= r["killed_aborted"] and r["failed"] <= r["killed_unanswered"]
    by_sessions = r["failed"] <= min(r["smax"], r["wrk_connections"])
    assert by_counts or by_sessions, why
