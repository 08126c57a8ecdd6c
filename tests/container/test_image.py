"""examples/deploy/Dockerfile built with podman and run as a container, the way a cluster runs it:
host network, non-root, read-only root with a tmpfs /tmp, all capabilities dropped. Checks /ready,
/predict and the V2 protocol on the bundled demo model and on a tree model mounted read-only at
/models (the KServe layout: a directory holding one .mli file), hot reload inside the container
(a replaced file, and SIGHUP), SIGTERM to PID 1 (readiness 503, still serving, exit 0), and a
rolling update behind HAProxy from the image to a second tag of it under load (tests/drills).

The image is $MLI_IMAGE when set, else it is built here as localhost/mlinfer-server:test; the
build time and the image's size go to $MLI_CONTAINER_REPORT (JSON) when set, for run_all.sh's
summary. Needs root and podman set up by tests/container/setup_podman.sh; without them the tests skip,
except under CI=true, where they fail: CI must build and run the image.
"""
from __future__ import annotations

import http.client
import json
import os
import shutil
import socket
import subprocess
import time
import uuid
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DATA = REPO / "tests" / "data"
UID = 10001


def _unavailable() -> str | None:
    if os.geteuid() != 0:
        return "needs root (rootful podman)"
    if not shutil.which("podman"):
        return "podman is not installed (bash tests/container/setup_podman.sh)"
    r = subprocess.run(["podman", "image", "exists", "debian:12"], capture_output=True)
    if r.returncode != 0:
        return "no debian:12 base image (bash tests/container/setup_podman.sh)"
    return None


def _require_podman():
    why = _unavailable()
    if why and os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"CI must build and run the image, but: {why}")
    if why:
        pytest.skip(why)


def podman(*args, check=True, timeout=120) -> subprocess.CompletedProcess:
    r = subprocess.run(["podman", *args], capture_output=True, text=True, timeout=timeout)
    if check and r.returncode != 0:
        raise AssertionError(f"podman {' '.join(args)} exited {r.returncode}: {r.stderr.strip()[-2000:]}")
    return r


def build_image(tag: str, *extra: str) -> float:
    """Builds examples/deploy/Dockerfile as `tag`; returns the seconds it took."""
    t0 = time.monotonic()
    podman("build", "--runtime", "runc", "--network", "host", "-f", "examples/deploy/Dockerfile",
           "--ignorefile", "examples/deploy/Dockerfile.dockerignore", "-t", tag, *extra, str(REPO), timeout=1800)
    return time.monotonic() - t0


@pytest.fixture(scope="session")
def image():
    _require_podman()
    tag = os.environ.get("MLI_IMAGE")
    seconds = None
    if tag:
        podman("image", "exists", tag)
    else:
        tag = "localhost/mlinfer-server:test"
        seconds = build_image(tag)
    size = int(podman("image", "inspect", "--format", "{{.Size}}", tag).stdout.strip())
    print(f"\nimage {tag}: {size / 1e6:.1f} MB" + (f", built in {seconds:.0f} s" if seconds else ""))
    report = os.environ.get("MLI_CONTAINER_REPORT")
    if report:
        Path(report).write_text(json.dumps({"image": tag, "size_bytes": size, "build_seconds": seconds}))
    return tag


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def parse_expected(path: Path):
    """(input rows, predicted values) from a tests/data *.expected.txt file."""
    lines = path.read_text().splitlines()
    out = {}
    for i, line in enumerate(lines):
        word, *rest = line.split()
        if word in ("input", "predict") and word not in out:
            rows = int(rest[0])
            out[word] = [[float(v) for v in lines[i + 1 + r].split()] for r in range(rows)]
    return out["input"], [row[0] for row in out["predict"]]


class Container:
    """A detached container of `image` on the host network, started and checked like a pod."""

    def __init__(self, image: str, env: dict | None = None, volume: Path | None = None, args=()):
        self.port = free_port()
        self.name = f"mli-test-{uuid.uuid4().hex[:10]}"
        cmd = ["run", "-d", "--name", self.name, "--runtime", "runc", "--network", "host",
               "--read-only", "--read-only-tmpfs=false", "--tmpfs", "/tmp:rw,size=16m,mode=1777",
               "--cap-drop", "ALL", "--security-opt", "no-new-privileges",
               "-e", f"PORT={self.port}", "-e", "MLI_DRAIN_SECONDS=2", "-e", "LOG_LEVEL=debug"]
        for k, v in (env or {}).items():
            cmd += ["-e", f"{k}={v}"]
        if volume:
            cmd += ["-v", f"{volume}:/models:ro"]
        podman(*cmd, image, *args)
        self.wait_ready()

    def request(self, method, path, body=None, timeout=10):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            conn.request(method, path, body=json.dumps(body).encode() if body is not None else None,
                         headers={"Content-Type": "application/json"} if body is not None else {})
            resp = conn.getresponse()
            data = resp.read()
            return resp.status, json.loads(data) if data.startswith((b"{", b"[")) else data
        finally:
            conn.close()

    def logs(self) -> str:
        r = podman("logs", self.name, check=False)
        return r.stdout + r.stderr

    def running(self) -> bool:
        r = podman("inspect", "--format", "{{.State.Running}}", self.name, check=False)
        return r.stdout.strip() == "true"

    def wait_ready(self, timeout=30):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            try:
                if self.request("GET", "/ready", timeout=2)[0] == 200:
                    return
            except OSError:
                pass
            if not self.running():
                raise AssertionError(f"container exited before it was ready:\n{self.logs()}")
            time.sleep(0.2)
        raise AssertionError(f"container not ready after {timeout} s:\n{self.logs()}")

    def wait_exit(self, timeout=30) -> int:
        r = podman("wait", self.name, timeout=timeout)
        return int(r.stdout.strip().splitlines()[-1])

    def remove(self):
        podman("rm", "-f", "-t", "0", self.name, check=False)


@pytest.fixture
def run(image):
    started = []

    def start(**kw):
        c = Container(image, **kw)
        started.append(c)
        return c

    yield start
    for c in started:
        c.remove()


@pytest.fixture
def models_dir(tmp_path):
    """A directory the container's UID can read (pytest's tmp_path is 0700), holding model.mli."""
    d = tmp_path / "models"
    d.mkdir()
    d.chmod(0o755)
    shutil.copyfile(DATA / "forest_multi.mli", d / "model.mli")
    (d / "model.mli").chmod(0o644)
    return d


def v2_infer(c, model, rows):
    body = {"inputs": [{"name": "input-0", "shape": [len(rows), len(rows[0])], "datatype": "FP64",
                        "data": [v for r in rows for v in r]}]}
    status, out = c.request("POST", f"/v2/models/{model}/infer", body)
    assert status == 200, out
    return out["outputs"][0]["data"]


def test_demo_model_serves_as_a_non_root_pid_1_on_a_read_only_root(run):
    c = run()
    assert c.request("GET", "/health")[0] == 200
    status, out = c.request("POST", "/predict", {"features": [5.1, 3.5, 1.4, 0.2]})
    assert status == 200 and "prediction" in out, out
    status, meta = c.request("GET", "/v2/models/demo_model")
    assert status == 200 and meta["name"] == "demo_model", meta
    assert len(v2_infer(c, "demo_model", [[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]])) == 2
    assert c.request("GET", "/v2/health/ready")[0] == 200

    pid = int(podman("inspect", "--format", "{{.State.Pid}}", c.name).stdout)
    status = Path(f"/proc/{pid}/status").read_text()
    uids = next(line for line in status.splitlines() if line.startswith("Uid:")).split()[1:]
    assert uids == [str(UID)] * 4, status  # real, effective, saved, filesystem
    assert podman("exec", c.name, "cat", "/proc/1/comm").stdout.strip() == "mlinfer-server"

    r = podman("exec", "--user", "0", c.name, "touch", "/usr/local/probe", check=False)
    assert r.returncode != 0 and "Read-only file system" in r.stderr, r
    assert podman("exec", c.name, "touch", "/tmp/probe").returncode == 0  # the tmpfs is writable


def test_runtime_image_resolves_every_library_and_has_no_build_tools(image):
    for exe in ("/usr/local/bin/mlinfer-server", "/usr/local/bin/mlinfer"):
        r = podman("run", "--rm", "--runtime", "runc", "--network", "none", "--entrypoint", "ldd", image, exe)
        assert "not found" not in r.stdout, r.stdout
        assert "libmlinfer.so" in r.stdout, r.stdout
    r = podman("run", "--rm", "--runtime", "runc", "--network", "none", "--user", "0", "--entrypoint", "dpkg-query",
               image, "-W", "-f", "${Package}\\n")
    installed = set(r.stdout.split())
    assert {"libturbojpeg0", "libisal2", "libicu72", "libmicrohttpd12", "libcjson1", "libopenblas0-pthread"} <= installed
    assert not {p for p in installed if p.endswith("-dev") or p in ("gcc", "cmake", "make")}, installed
    r = podman("run", "--rm", "--runtime", "runc", "--network", "none", "--entrypoint", "/usr/local/bin/mlinfer",
               image, "info", "/usr/local/share/mlinfer/demo_model.mli")
    assert "classification" in r.stdout + r.stderr


def test_tree_model_mounted_read_only_as_a_kserve_directory(run, models_dir):
    rows, expected = parse_expected(DATA / "forest_multi.expected.txt")
    c = run(volume=models_dir, args=["--model", "/models"])
    got = [c.request("POST", "/predict", {"features": r})[1]["prediction"] for r in rows]
    assert got == expected
    status, out = c.request("POST", "/predict", {"instances": rows})
    assert status == 200 and out["predictions"] == expected
    assert v2_infer(c, "model", rows) == expected


def _wait_for(pred, timeout=15, what=""):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def test_hot_reload_of_a_replaced_file_and_on_sighup(run, models_dir):
    c = run(volume=models_dir, args=["--model", "/models"])
    assert c.request("GET", "/v2/models/model")[1]["inputs"][0]["shape"][-1] == 6

    # An atomic replace in the mounted directory, seen through the read-only bind mount.
    rows, expected = parse_expected(DATA / "hgb_nan.expected.txt")
    tmp = models_dir / ".model.mli.tmp"
    shutil.copyfile(DATA / "hgb_nan.mli", tmp)
    tmp.chmod(0o644)
    os.replace(tmp, models_dir / "model.mli")
    _wait_for(lambda: c.request("GET", "/v2/models/model")[1]["inputs"][0]["shape"][-1] == 5, what="reload")
    got = v2_infer(c, "model", rows[:3])
    assert got == pytest.approx(expected[:3], rel=1e-5)

    # SIGHUP reloads now, whatever the file poll saw.
    loads = c.logs().count('"model_loaded"')
    podman("kill", "--signal", "HUP", c.name)
    _wait_for(lambda: c.logs().count('"model_loaded"') > loads, what="SIGHUP reload")
    assert "SIGHUP" in c.logs().split('"model_loaded"')[-1]
    assert c.request("GET", "/ready")[0] == 200


def test_sigterm_drains_then_exits_0(run):
    c = run()
    podman("kill", "--signal", "TERM", c.name)
    _wait_for(lambda: c.request("GET", "/ready")[0] == 503, timeout=2, what="readiness to turn 503")
    status, out = c.request("POST", "/predict", {"features": [5.1, 3.5, 1.4, 0.2]})
    assert status == 200, out  # still serving while it drains
    assert c.wait_exit() == 0, c.logs()


def test_rolling_update_from_one_image_tag_to_another_behind_haproxy(image, tmp_path):
    """tests/drills/drill.py --images: three containers of the image behind HAProxy under wrk load,
    replaced one at a time (readiness-gated) by containers of a second tag: 0 failed requests."""
    missing = [t for t in ("haproxy", "wrk") if not shutil.which(t)]
    if missing and os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{missing} not installed (tests/install_deps.sh installs them)")
    if missing:
        pytest.skip(f"{missing} not installed")
    new = image + "-new"
    build_image(new, "--label", "org.opencontainers.image.revision=next")  # cached layers, a new image
    assert podman("image", "inspect", "--format", "{{.Id}}", new).stdout != \
        podman("image", "inspect", "--format", "{{.Id}}", image).stdout
    import sys
    sys.path.insert(0, str(REPO / "tests" / "drills"))
    from test_drills_short import port_block

    base = port_block(9)
    out = tmp_path / "drill.json"
    r = subprocess.run([sys.executable, str(REPO / "tests" / "drills" / "drill.py"), "--images", image, new,
                        "--base-port", str(base), "--fe-port", str(base + 8), "--drain", "1", "--json", str(out)],
                       capture_output=True, text=True, timeout=600)
    print(r.stdout[-3000:])
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-2000:]
    (res,) = json.loads(out.read_text())
    assert res["failed"] == 0 and res["requests"] > 1000, res
    assert {img.split("/")[-1] for img in res["images_after"]} == {new.split("/")[-1]}, res
    podman("rmi", new, check=False)
