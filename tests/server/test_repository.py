"""A model repository directory: <repo>/<name>/<version>/model.mli, several models and versions."""
from __future__ import annotations

import shutil
import subprocess

import numpy as np

from conftest import DEMO_MODEL
from test_server import IRIS_ROWS, export_int_label_model, mlinfer_model, wait_for

ROW = IRIS_ROWS[1]


def infer(srv, path, rows=IRIS_ROWS):
    req = {"inputs": [{"name": "input", "shape": [len(rows), 4], "datatype": "FP64", "data": rows}]}
    return srv.json("POST", path + "/infer", req)


def make_repo(root):
    """iris/1 = the demo model (string labels), iris/2 = integer labels, alpha/1 = integer labels."""
    for name, version in [("iris", 1), ("iris", 2), ("alpha", 1)]:
        (root / name / str(version)).mkdir(parents=True)
    shutil.copy(DEMO_MODEL, root / "iris" / "1" / "model.mli")
    est = export_int_label_model(root / "iris" / "2" / "model.mli")
    shutil.copy(root / "iris" / "2" / "model.mli", root / "alpha" / "1" / "model.mli")
    (root / "iris" / "notaversion").mkdir()
    (root / "iris" / "0").mkdir()
    return est


def test_repository_serves_models_and_versions(start_server, tmp_path):
    est = make_repo(tmp_path)
    srv = start_server(tmp_path)
    x = np.array(IRIS_ROWS)
    ints = [int(v) for v in est.predict(x)]
    labels = [str(v) for v in mlinfer_model(DEMO_MODEL).predict(x)]

    status, meta = srv.json("GET", "/v2/models/iris")
    assert status == 200 and meta["name"] == "iris" and meta["versions"] == ["1", "2"]
    assert srv.json("GET", "/v2/models/alpha")[1]["versions"] == ["1"]
    status, body = infer(srv, "/v2/models/iris")  # the latest version by default
    assert status == 200 and body["model_version"] == "2" and body["outputs"][0]["data"] == ints
    status, body = infer(srv, "/v2/models/iris/versions/1")
    assert status == 200 and body["model_version"] == "1" and body["outputs"][0]["data"] == labels
    assert srv.json("GET", "/v2/models/iris/versions/1/ready")[0] == 200
    for bad in ("3", "0", "x", "01x"):
        status, body = srv.json("GET", f"/v2/models/iris/versions/{bad}")
        assert status == 404 and f"unknown version '{bad}' of model 'iris'" in body["error"]
    status, body = srv.json("GET", "/v2/models/nosuch")
    assert status == 404 and "unknown model 'nosuch'" in body["error"]

    # /predict: the first model name in sorted order ("alpha"), or ?model=NAME
    assert srv.json("POST", "/predict", {"instances": IRIS_ROWS}) == (200, {"predictions": ints})
    assert srv.json("POST", "/predict?model=iris", {"instances": IRIS_ROWS}) == (200, {"predictions": ints})
    assert srv.json("POST", "/predict?model=nosuch", {"features": ROW})[0] == 404
    assert srv.json("POST", "/v1/models/iris:predict", {"instances": IRIS_ROWS}) == (200, {"predictions": ints})


def test_repository_poller(start_server, tmp_path):
    make_repo(tmp_path)
    srv = start_server(tmp_path)
    x = np.array(IRIS_ROWS)
    labels = [str(v) for v in mlinfer_model(DEMO_MODEL).predict(x)]

    # a new version appears and becomes the default
    (tmp_path / "iris" / "3").mkdir()
    shutil.copy(DEMO_MODEL, tmp_path / "iris" / "3" / "model.mli")
    assert wait_for(lambda: srv.json("GET", "/v2/models/iris")[1]["versions"] == ["1", "2", "3"])
    status, body = infer(srv, "/v2/models/iris")
    assert body["model_version"] == "3" and body["outputs"][0]["data"] == labels

    # a removed version goes away
    shutil.rmtree(tmp_path / "iris" / "3")
    assert wait_for(lambda: srv.json("GET", "/v2/models/iris")[1]["versions"] == ["1", "2"])
    assert srv.json("GET", "/v2/models/iris/versions/3")[0] == 404

    # a changed file reloads that version only
    loads = srv.metric("mlinfer_model_loads_total")
    tmp = tmp_path / "iris" / "1" / "model.tmp"
    shutil.copy(tmp_path / "iris" / "2" / "model.mli", tmp)
    tmp.replace(tmp_path / "iris" / "1" / "model.mli")
    assert wait_for(lambda: srv.metric("mlinfer_model_loads_total") == loads + 1)
    assert infer(srv, "/v2/models/iris/versions/1")[1]["outputs"][0]["datatype"] == "INT64"

    # a broken replacement is rejected, the old model keeps serving
    (tmp_path / "iris" / "1" / "model.mli").write_bytes(b"not a model")
    assert wait_for(lambda: srv.metric("mlinfer_model_load_failures_total") == 1)
    assert infer(srv, "/v2/models/iris/versions/1")[0] == 200

    # a broken new version is not served; the latest loaded one stays the default
    (tmp_path / "iris" / "9").mkdir()
    (tmp_path / "iris" / "9" / "model.mli").write_bytes(b"broken")
    assert wait_for(lambda: srv.metric("mlinfer_model_load_failures_total") == 2)
    assert infer(srv, "/v2/models/iris")[1]["model_version"] == "2"
    assert srv.json("GET", "/v2/models/iris/versions/9")[0] == 503
    assert srv.json("GET", "/v2/models/iris")[1]["versions"] == ["1", "2"]


def test_metrics_model_label_is_the_model_name(start_server, tmp_path):
    """The `model` label is the repository's model name (never the repository directory's), for
    every request that names an existing model; empty for the rest. Odd names are escaped."""
    root = tmp_path / "models"
    root.mkdir()
    make_repo(root)
    odd = 'odd"na\\me'
    (root / odd / "1").mkdir(parents=True)
    shutil.copy(DEMO_MODEL, root / odd / "1" / "model.mli")
    srv = start_server(root)
    assert infer(srv, "/v2/models/iris")[0] == 200
    assert infer(srv, "/v2/models/iris/versions/1")[0] == 200
    assert infer(srv, "/v2/models/odd%22na%5Cme")[0] == 200
    assert srv.json("POST", "/predict", {"instances": IRIS_ROWS})[0] == 200  # alpha: first in sorted order
    assert srv.json("POST", "/v1/models/alpha:predict", {"instances": IRIS_ROWS})[0] == 200
    assert srv.json("POST", "/predict?model=iris", {"features": [1, 2]})[0] == 400
    assert srv.json("GET", "/v2/models/iris/versions/7")[0] == 404  # a known model, an unknown version
    assert srv.json("GET", "/v2/models/nosuch")[0] == 404

    def count(**labels):
        return srv.metric("mlinfer_requests_total", **labels)

    assert count(endpoint="v2_infer", model="iris", code=200) == 2
    assert count(endpoint="predict", model="alpha", code=200) == 1
    assert count(endpoint="v1_predict", model="alpha", code=200) == 1
    assert count(endpoint="predict", model="iris", code=400) == 1
    assert count(endpoint="v2_model", model="iris", code=404) == 1
    assert count(endpoint="v2_model", model="", code=404) == 1
    _, _, text = srv.request("GET", "/metrics")
    lines = [ln for ln in text.decode().splitlines() if ln.startswith("mlinfer_requests_total{")]
    labels = {ln.split('model="')[1].split('",code=')[0] for ln in lines}
    assert labels == {"", "iris", "alpha", 'odd\\"na\\\\me'}, labels  # no "models"
    promtool = shutil.which("promtool")
    if promtool:
        res = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True)
        assert res.returncode == 0, res.stdout.decode() + res.stderr.decode()


def test_empty_repository_exits_1(tmp_path):
    from conftest import SERVER_BIN

    res = subprocess.run([SERVER_BIN, "--model", str(tmp_path), "--port", "0"], capture_output=True, timeout=10)
    assert res.returncode == 1 and b"could not be loaded" in res.stderr


def test_directory_with_one_model_file_serves_it(start_server, tmp_path):
    """KServe mounts a storageUri naming one .mli file as a directory holding just that file."""
    shutil.copy(DEMO_MODEL, tmp_path / "model.mli")
    srv = start_server(tmp_path)
    status, out = srv.json("POST", "/predict", {"features": ROW})
    assert status == 200, out
    assert out["prediction"] == str(mlinfer_model(DEMO_MODEL).predict(np.array([ROW]))[0])
    status, meta = srv.json("GET", "/v2/models/model")
    assert status == 200 and meta["name"] == "model", meta


def _startup_failure(model):
    from conftest import SERVER_BIN, free_port

    r = subprocess.run([SERVER_BIN, "--model", str(model), "--port", str(free_port())], capture_output=True,
                       text=True, timeout=30, env={"PATH": "/usr/bin:/bin"})
    assert r.returncode == 1, r
    (line,) = [ln for ln in r.stderr.splitlines() + r.stdout.splitlines() if '"event":"exit"' in ln.replace(" ", "")]
    return line


def test_every_startup_failure_names_the_path_and_the_reason(tmp_path):
    missing = tmp_path / "missing.mli"
    assert str(missing) in _startup_failure(missing) and "No such file" in _startup_failure(missing)

    empty = tmp_path / "empty"
    empty.mkdir()
    line = _startup_failure(empty)
    assert str(empty) in line and "no model in the directory" in line

    two = tmp_path / "two"
    two.mkdir()
    shutil.copy(DEMO_MODEL, two / "a.mli")
    shutil.copy(DEMO_MODEL, two / "b.mli")
    line = _startup_failure(two)
    assert str(two) in line and "2 .mli files" in line

    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "model.mli").write_bytes(b"not a model")
    line = _startup_failure(broken)
    assert str(broken / "model.mli") in line and "not an .mli model file" in line, line
