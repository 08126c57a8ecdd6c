#!/usr/bin/env python3
"""HTTP serving benchmark: mlinfer-server vs the joblib FastAPI app (joblib_app.py) vs
examples/fastapi/app.py (FastAPI on the libmlinfer bindings), one server at a time on loopback,
the same model and the same wrk load: POST /predict with one 50-feature JSON row per request,
`wrk -t2 -c16 -d10s --latency` and `-c64`.

Models: LogisticRegression (50 features, make_classification, seed 0) exported to .mli for the
mlinfer servers and joblib-dumped for the joblib app; RandomForest(100 trees, max_depth 10) on the
same data (the joblib app only, unless mlinfer.export accepts it).

  MLINFER_LIBRARY=build-drill/libmlinfer.so PYTHONPATH=bindings/python \
      python3 benchmarks/server/bench.py [--duration 10] [--out results.json]

Needs wrk, and uvicorn + fastapi + joblib + scikit-learn for the Python servers.
wrk runs on the same machine as the server: on a 2-core machine they share the cores.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
N_FEATURES = 50

LUA = r"""
wrk.method = "POST"
wrk.body = '%(body)s'
wrk.headers["Content-Type"] = "application/json"
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRKJSON {"requests": %%d, "duration_us": %%d, "connect": %%d, "read": %%d, "write": %%d, ' ..
    '"status": %%d, "timeout": %%d, "p50_us": %%d, "p99_us": %%d}\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(99)))
end
"""


def make_models(d: Path) -> dict:
    import joblib
    import numpy as np
    from sklearn.datasets import make_classification
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LogisticRegression

    import mlinfer

    X, y = make_classification(n_samples=5000, n_features=N_FEATURES, n_informative=20, random_state=0)
    out = {"row": [round(float(v), 4) for v in X[0]]}
    lr = LogisticRegression(max_iter=2000).fit(X, y)
    rf = RandomForestClassifier(n_estimators=100, max_depth=10, random_state=0, n_jobs=1).fit(X, y)
    for name, m in (("lr", lr), ("rf", rf)):
        joblib.dump(m, d / f"{name}.joblib")
        try:
            mlinfer.export(m, str(d / f"{name}.mli"))
            out[f"{name}_mli"] = str(d / f"{name}.mli")
        except Exception as e:  # noqa: BLE001  (tree ensembles: issue 6)
            out[f"{name}_mli_error"] = f"{type(e).__name__}: {e}"
        out[f"{name}_joblib"] = str(d / f"{name}.joblib")
    # the two servers must agree with scikit-learn on the row we send
    out["expected"] = {"lr": int(lr.predict(X[:1])[0]), "rf": int(rf.predict(X[:1])[0])}
    return out


def wait_up(port: int, path: str, proc: subprocess.Popen, timeout: float = 30) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=1) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"server on :{port} not up after {timeout} s")


def stop_server(proc: subprocess.Popen, settle: float = 0.5) -> None:
    """Stops the server (SIGTERM, SIGKILL after 15 s) and lets its port settle."""
    proc.terminate()
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    time.sleep(settle)


def predict_once(port: int, row: list) -> object:
    req = urllib.request.Request(f"http://127.0.0.1:{port}/predict", data=json.dumps({"features": row}).encode(),
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.loads(r.read())["prediction"]


def run_wrk(port: int, lua: Path, conns: int, seconds: int) -> dict:
    # wrk needs at least one connection per thread
    out = subprocess.run(["wrk", f"-t{min(2, conns)}", f"-c{conns}", f"-d{seconds}s", "--latency", "--timeout", "10s",
                          "-s", str(lua), f"http://127.0.0.1:{port}/predict"],
                         capture_output=True, text=True, timeout=seconds + 60).stdout
    m = re.search(r"^WRKJSON (.*)$", out, re.M)
    if not m:
        raise RuntimeError("no wrk summary:\n" + out)
    r = json.loads(m.group(1))
    r["req_per_s"] = r["requests"] / (r["duration_us"] / 1e6)
    r["socket_errors"] = r["connect"] + r["read"] + r["write"] + r["timeout"]
    r["non2xx"] = r["status"]  # wrk counts statuses >= 400 here
    return r


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--duration", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--port", type=int, default=18200)
    ap.add_argument("--server", default=str(REPO / "build-drill" / "programs" / "server" / "mlinfer-server"))
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    lib = os.environ.get("MLINFER_LIBRARY") or str(REPO / "build-drill" / "libmlinfer.so")
    os.environ["MLINFER_LIBRARY"] = lib
    pypath = str(REPO / "bindings" / "python")
    sys.path.insert(0, pypath)
    env_py = dict(os.environ, PYTHONPATH=pypath + os.pathsep + os.environ.get("PYTHONPATH", ""))

    d = Path(tempfile.mkdtemp(prefix="mli-srvbench-"))
    models = make_models(d)
    lua = d / "predict.lua"
    lua.write_text(LUA % {"body": json.dumps({"features": models["row"]})})
    uvicorn = [sys.executable, "-m", "uvicorn", "--host", "127.0.0.1", "--port", str(args.port),
               "--workers", "1", "--log-level", "warning", "--no-access-log"]

    cases = []  # (model, server label, argv, env, ready path)
    for mdl in ("lr", "rf"):
        mli = models.get(f"{mdl}_mli")
        for th in (1, 2):
            cases.append((mdl, f"mlinfer-server MLI_THREADS={th}",
                          [args.server, "--model", mli or "", "--port", str(args.port)] if mli else None,
                          dict(os.environ, MLI_THREADS=str(th), LOG_LEVEL="warn"), "/ready"))
        cases.append((mdl, "joblib FastAPI app (joblib_app.py)",
                      uvicorn + ["--app-dir", str(HERE), "joblib_app:app"],
                      dict(env_py, MODEL_PATH=models[f"{mdl}_joblib"]), "/health"))
        cases.append((mdl, "examples/fastapi (bindings)",
                      uvicorn + ["--app-dir", str(REPO / "examples" / "fastapi"), "app:app"] if mli else None,
                      dict(env_py, MODEL_PATH=mli or "", MLI_RELOAD_POLL_SECONDS="0"), "/ready"))

    results = []
    for mdl, label, argv, env, ready in cases:
        if argv is None:
            results.append({"model": mdl, "server": label, "skipped": models.get(f"{mdl}_mli_error", "no .mli")})
            print(f"{mdl:3} {label}: skipped ({results[-1]['skipped'][:80]})", flush=True)
            continue
        log = open(d / f"{mdl}-{re.sub(r'[^a-z0-9]+', '_', label.lower())}.log", "w")
        proc = subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            wait_up(args.port, ready, proc)
            got = predict_once(args.port, models["row"])
            if str(got) != str(models["expected"][mdl]):
                print(f"warning: {label} predicted {got!r}, scikit-learn {models['expected'][mdl]!r}", flush=True)
            run_wrk(args.port, lua, 16, args.warmup)
            for conns in (16, 64):
                r = run_wrk(args.port, lua, conns, args.duration)
                r.update(model=mdl, server=label, connections=conns)
                results.append(r)
                print(f"{mdl:3} {label:40} c{conns:<3} {r['req_per_s']:9.0f} req/s  p50 {r['p50_us'] / 1e3:8.2f} ms  "
                      f"p99 {r['p99_us'] / 1e3:8.2f} ms  non2xx {r['non2xx']}  sockerr {r['socket_errors']}",
                      flush=True)
        finally:
            stop_server(proc)

    # markdown table and ratios
    def find(mdl, prefix, conns):
        for r in results:
            if r.get("model") == mdl and r["server"].startswith(prefix) and r.get("connections") == conns:
                return r
        return None

    print("\n| model | server | conns | req/s | p50 | p99 | non-2xx | socket errors |")
    print("|---|---|---|---|---|---|---|---|")
    for r in results:
        name = {"lr": "LogisticRegression", "rf": "RandomForest(100, depth 10)"}[r["model"]]
        if "skipped" in r:
            print(f"| {name} | {r['server']} | 16, 64 | needs issue 6 | | | | |")
            continue
        print(f"| {name} | {r['server']} | {r['connections']} | {r['req_per_s']:,.0f} | "
              f"{r['p50_us'] / 1e3:.2f} ms | {r['p99_us'] / 1e3:.2f} ms | {r['non2xx']} | {r['socket_errors']} |")
    print()
    for mdl in ("lr", "rf"):
        for conns in (16, 64):
            base = find(mdl, "joblib", conns)
            for th in (1, 2):
                m = find(mdl, f"mlinfer-server MLI_THREADS={th}", conns)
                if base and m:
                    print(f"{mdl} c{conns}: mlinfer-server (MLI_THREADS={th}) / joblib app = "
                          f"{m['req_per_s'] / base['req_per_s']:.1f}x")
    if args.out:
        Path(args.out).write_text(json.dumps({"machine": platform.platform(), "cpus": os.cpu_count(),
                                              "results": results, "models": {k: v for k, v in models.items()
                                                                             if k != "row"}}, indent=2))
    shutil.rmtree(d, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
