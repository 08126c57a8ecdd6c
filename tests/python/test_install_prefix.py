"""`cmake --install` of the build that made $MLINFER_LIBRARY into a temporary prefix, then the
installed mlinfer-server, mlinfer and Python package run from there with no LD_LIBRARY_PATH,
MLINFER_LIBRARY or ldconfig: each must find <prefix>/lib/libmlinfer.so by itself (RPATH
$ORIGIN/../lib; the package through its symlink "next to itself")."""
from __future__ import annotations

import http.client
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def prefix(tmp_path_factory):
    lib = os.environ.get("MLINFER_LIBRARY")
    build = Path(lib).resolve().parent if lib else None
    if not build or not (build / "CMakeCache.txt").exists() or not shutil.which("cmake"):
        pytest.skip("needs MLINFER_LIBRARY in a CMake build tree, and cmake")
    cache = (build / "CMakeCache.txt").read_text()
    if "MLI_SANITIZE:STRING=\n" not in cache:
        pytest.skip("a sanitized build's binaries need the sanitizer runtime first")
    pfx = tmp_path_factory.mktemp("prefix") / "usr"
    r = subprocess.run(["cmake", "--install", str(build), "--prefix", str(pfx)], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    return pfx


def clean_env(**extra):
    env = {k: v for k, v in os.environ.items()
           if k not in ("LD_LIBRARY_PATH", "MLINFER_LIBRARY", "PYTHONPATH", "MLI_SERVER_BIN")}
    env.update(extra)
    return env


def test_installed_cli_and_server_find_the_library(prefix, tmp_path):
    demo = REPO / "programs" / "server" / "demo_model.mli"
    r = subprocess.run([prefix / "bin" / "mlinfer", "info", demo], capture_output=True, text=True, env=clean_env())
    assert r.returncode == 0, r.stderr

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    # No --model: the demo model installed under <prefix>/share/mlinfer, found beside the binary
    # even where the prefix has been moved after the install.
    server = tmp_path / "relocated"
    shutil.copytree(prefix, server, symlinks=True)
    proc = subprocess.Popen([server / "bin" / "mlinfer-server"], env=clean_env(PORT=str(port), MLI_DRAIN_SECONDS="0"),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        body = None
        for _ in range(100):
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
                conn.request("POST", "/predict", body=json.dumps({"features": [5.1, 3.5, 1.4, 0.2]}))
                resp = conn.getresponse()
                body = (resp.status, json.loads(resp.read()))
                break
            except OSError:
                assert proc.poll() is None, proc.stdout.read()
                time.sleep(0.1)
        assert body and body[0] == 200 and "prediction" in body[1], body
    finally:
        proc.terminate()
        out = proc.communicate(timeout=30)[0]
    assert proc.returncode == 0, out
    startup = next(json.loads(line) for line in out.splitlines() if '"startup"' in line)
    assert startup["model_path"].startswith(str(server)), startup


def test_installed_python_package_finds_the_library(prefix, tmp_path):
    site = next(prefix.glob("lib*/python*/site-packages"))
    code = ("import mlinfer, numpy as np; m = mlinfer.load(%r); print(mlinfer._native.lib._name); "
            "print(m.predict(np.array([[5.1, 3.5, 1.4, 0.2]])))" % str(REPO / "programs/server/demo_model.mli"))
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path,
                       env=clean_env(PYTHONPATH=str(site)))
    assert r.returncode == 0, r.stderr
    loaded, prediction = r.stdout.splitlines()
    assert Path(loaded).resolve() == (prefix / "lib" / "libmlinfer.so.0").resolve(), loaded
    assert prediction.startswith("["), prediction
