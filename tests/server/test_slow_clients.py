"""Slow clients cannot hold the server (MLI_CONNECTION_TIMEOUT_S): a connection that sends nothing,
one that sends its headers a byte at a time, and one that sends its body slower than the timeout
allows are each closed once the timeout has passed since they opened, and other requests are
served at full speed meanwhile, by a single HTTP thread."""
from __future__ import annotations

import json
import select
import socket
import threading
import time

from test_server import IRIS_ROWS

TIMEOUT_S = 2
BODY = json.dumps({"features": IRIS_ROWS[0]}).encode()
HEADERS = (b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
           b"Content-Length: %d\r\n\r\n" % len(BODY))


class SlowClient(threading.Thread):
    """Connects, sends `first` at once, then `trickle` one byte every `every` seconds; records when
    the server closed the connection (end of stream or reset)."""

    def __init__(self, port, first=b"", trickle=b"", every=0.2):
        super().__init__(daemon=True)
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.opened = time.monotonic()
        self.first, self.trickle, self.every = first, trickle, every
        self.closed_after = None
        self.received = b""
        self.start()

    def run(self):
        try:
            if self.first:
                self.sock.sendall(self.first)
            pos = 0
            while time.monotonic() - self.opened < 15:
                if pos < len(self.trickle):
                    self.sock.sendall(self.trickle[pos:pos + 1])
                    pos += 1
                readable, _, _ = select.select([self.sock], [], [], self.every)
                if readable:
                    chunk = self.sock.recv(65536)
                    if not chunk:
                        break
                    self.received += chunk
        except OSError:  # reset, or a write to a connection the server has closed
            pass
        self.closed_after = time.monotonic() - self.opened
        self.sock.close()


def test_slow_clients_are_closed_and_do_not_block_others(start_server, model_dir):
    srv = start_server(model_dir / "demo_model.mli",
                       env={"MLI_CONNECTION_TIMEOUT_S": str(TIMEOUT_S), "MLI_THREADS": "1"})
    startup = [e for e in srv.logs() if e.get("event") == "startup"][0]
    assert startup["connection_timeout_s"] == TIMEOUT_S
    silent = SlowClient(srv.port)
    headers = SlowClient(srv.port, trickle=HEADERS)  # 90 bytes at 5 bytes/s: never complete in time
    body = SlowClient(srv.port, first=HEADERS, trickle=BODY)  # the body at 5 bytes/s
    slow = [silent, headers, body]

    # the only HTTP thread keeps serving everybody else
    latencies = []
    while any(c.closed_after is None for c in slow) and time.monotonic() - silent.opened < TIMEOUT_S + 5:
        t0 = time.monotonic()
        assert srv.json("POST", "/predict", {"features": IRIS_ROWS[0]}) == (200, {"prediction": "setosa"})
        latencies.append(time.monotonic() - t0)
        time.sleep(0.02)
    for c in slow:
        c.join(timeout=5)
    assert len(latencies) > 20 and max(latencies) < 0.5, (len(latencies), max(latencies))

    # each was closed by the server after the timeout, not before, and got no response
    for name, c in zip(("silent", "headers byte by byte", "slow body"), slow):
        assert c.closed_after is not None, name
        assert TIMEOUT_S - 0.2 <= c.closed_after <= TIMEOUT_S + 1.5, (name, c.closed_after)
        assert c.received == b"", (name, c.received)
    # the trickling two are closed by the reaper (their bytes keep an idle timer alive); the silent
    # one by it or by libmicrohttpd's idle timeout, whichever comes first
    assert srv.metric("mlinfer_connection_timeouts_total") >= 2
    assert any(e["event"] == "connection_timeout" for e in srv.logs())
    assert srv.json("GET", "/ready")[0] == 200


def test_keepalive_connection_idle_past_timeout_is_closed(start_server, model_dir):
    """A kept-alive connection that goes quiet after a response is closed after the timeout too."""
    srv = start_server(model_dir / "demo_model.mli", env={"MLI_CONNECTION_TIMEOUT_S": "1"})
    c = SlowClient(srv.port, first=HEADERS + BODY)
    c.join(timeout=10)
    assert c.received.startswith(b"HTTP/1.1 200") and b"setosa" in c.received
    assert 1 - 0.2 <= c.closed_after <= 1 + 1.5, c.closed_after


def test_connection_timeout_validation():
    import os
    import subprocess

    from conftest import SERVER_BIN

    for value in ("0", "-1", "abc", "3601"):
        env = {**os.environ, "MLI_CONNECTION_TIMEOUT_S": value}
        res = subprocess.run([SERVER_BIN, "--port", "0"], capture_output=True, timeout=10, env=env)
        assert res.returncode == 2 and b"MLI_CONNECTION_TIMEOUT_S" in res.stderr, value
