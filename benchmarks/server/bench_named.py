#!/usr/bin/env python3
"""Named-JSON serving benchmark (issue 18): the churn-like ColumnTransformer + LogisticRegression
pipeline of benchmarks/pipelines (5 numeric columns, 5 string columns of 3-50 categories, missing
values in both), served

  * by mlinfer-server from the exported .mli: POST /predict {"features": {name: value, ...}}
    (null a missing value), MLI_THREADS=1 and 2, and 2 with dynamic batching (MLI_MAX_BATCH=16,
    MLI_BATCH_DELAY_US=0);
  * by pandas_app.py: FastAPI + pydantic + joblib.load of the fitted Pipeline, a one-row pandas
    DataFrame per request, model.predict; uvicorn with 1 and 2 workers.

The same request bodies for all: 64 rows of the test table (about a tenth of them with a null),
cycled by wrk (`-t2 -c16` then `-c64`, --latency, after a warm-up). Before loading, each server's
answers for those 64 rows are compared with scikit-learn's. Servers take turns, one at a time,
`--repeats` rounds; the tables report the median of the rounds (each round's figures in the JSON).

  MLINFER_LIBRARY=build/libmlinfer.so PYTHONPATH=bindings/python \\
      python3 benchmarks/server/bench_named.py --server build/programs/server/mlinfer-server \\
      [--duration 8] [--repeats 3] [--out benchmarks/server/results-named.json]

Needs wrk, and uvicorn + fastapi + joblib + pandas + scikit-learn. wrk runs on the same machine
as the servers and shares its cores with them.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(REPO / "benchmarks" / "pipelines"))

from bench import run_wrk, stop_server, wait_up  # noqa: E402

N_BODIES = 64

LUA = r"""
local bodies = {%(bodies)s}
local reqs = {}
local i = 0
function init(args)
  for k, b in ipairs(bodies) do
    reqs[k] = wrk.format("POST", "/predict", {["Content-Type"] = "application/json"}, b)
  end
  i = math.random(#reqs) - 1
end
function request()
  i = i %% #reqs + 1
  return reqs[i]
end
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRKJSON {"requests": %%d, "duration_us": %%d, "connect": %%d, "read": %%d, "write": %%d, ' ..
    '"status": %%d, "timeout": %%d, "p50_us": %%d, "p99_us": %%d}\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(99)))
end
"""


def make_model(d: Path) -> dict:
    import joblib
    import warnings

    import mlinfer
    from bench_pipelines import churn, pipelines

    warnings.filterwarnings("ignore")
    train, y = churn(20_000, 0)
    test, _ = churn(N_BODIES, 1)
    est = pipelines()["logreg"].fit(train, y)
    joblib.dump(est, d / "churn.joblib")
    mlinfer.export(est, str(d / "churn.mli"))
    rows = []
    for rec in test.to_dict("records"):
        rows.append({k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in rec.items()})
    return {"mli": str(d / "churn.mli"), "joblib": str(d / "churn.joblib"), "rows": rows,
            "expected": [v.item() for v in est.predict(test)],
            "rows_with_null": sum(any(v is None for v in r.values()) for r in rows)}


def check_answers(port: int, rows: list, expected: list) -> int:
    """How many of the rows the server answers unlike scikit-learn (an error counts)."""
    wrong = 0
    for row, want in zip(rows, expected):
        req = urllib.request.Request(f"http://127.0.0.1:{port}/predict", data=json.dumps({"features": row}).encode(),
                                     headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                wrong += json.loads(r.read())["prediction"] != want
        except OSError:
            wrong += 1
    return wrong


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--duration", type=int, default=8)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--port", type=int, default=18300)
    ap.add_argument("--server", default=str(REPO / "build" / "programs" / "server" / "mlinfer-server"))
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    pypath = str(REPO / "bindings" / "python")
    sys.path.insert(0, pypath)
    env_py = dict(os.environ, PYTHONPATH=pypath + os.pathsep + os.environ.get("PYTHONPATH", ""))

    d = Path(tempfile.mkdtemp(prefix="mli-namedbench-"))
    model = make_model(d)
    lua = d / "named.lua"
    lua.write_text(LUA % {"bodies": ",\n".join("[==[" + json.dumps({"features": r}) + "]==]" for r in model["rows"])})
    uvicorn = [sys.executable, "-m", "uvicorn", "--host", "127.0.0.1", "--port", str(args.port), "--log-level",
               "warning", "--no-access-log", "--app-dir", str(HERE), "pandas_app:app"]
    mli_env = {k: v for k, v in os.environ.items() if not k.startswith("MLI_")}
    cases = [
        ("mlinfer-server MLI_THREADS=1", [args.server, "--model", model["mli"], "--port", str(args.port)],
         dict(mli_env, MLI_THREADS="1", LOG_LEVEL="warn"), "/ready"),
        ("mlinfer-server MLI_THREADS=2", [args.server, "--model", model["mli"], "--port", str(args.port)],
         dict(mli_env, MLI_THREADS="2", LOG_LEVEL="warn"), "/ready"),
        ("mlinfer-server MLI_THREADS=2, batching", [args.server, "--model", model["mli"], "--port", str(args.port)],
         dict(mli_env, MLI_THREADS="2", MLI_MAX_BATCH="16", MLI_BATCH_DELAY_US="0", LOG_LEVEL="warn"), "/ready"),
        ("FastAPI + joblib + pandas, 1 worker", uvicorn + ["--workers", "1"],
         dict(env_py, MODEL_PATH=model["joblib"]), "/health"),
        ("FastAPI + joblib + pandas, 2 workers", uvicorn + ["--workers", "2"],
         dict(env_py, MODEL_PATH=model["joblib"]), "/health"),
    ]
    print(f"{platform.platform()}; {os.cpu_count()} cpus; {model['rows_with_null']} of {N_BODIES} rows with a null",
          flush=True)
    runs = []
    for rnd in range(args.repeats):
        for label, argv, env, ready in cases:
            log = open(d / f"{re.sub(r'[^a-z0-9]+', '_', label.lower())}.log", "w")
            load = os.getloadavg()[0]
            proc = subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT)
            try:
                wait_up(args.port, ready, proc, timeout=60)
                wrong = check_answers(args.port, model["rows"], model["expected"])
                run_wrk(args.port, lua, 16, args.warmup)
                for conns in (16, 64):
                    r = run_wrk(args.port, lua, conns, args.duration)
                    r.update(server=label, connections=conns, round=rnd, wrong_answers=wrong, loadavg_before=load)
                    runs.append(r)
                    print(f"round {rnd} {label:38} c{conns:<3} {r['req_per_s']:9.0f} req/s  p50 "
                          f"{r['p50_us'] / 1e3:7.2f} ms  p99 {r['p99_us'] / 1e3:7.2f} ms  non2xx {r['non2xx']}  "
                          f"sockerr {r['socket_errors']}  wrong {wrong}  load {load:.1f}", flush=True)
            finally:
                stop_server(proc)

    summary = []
    for label, *_ in cases:
        for conns in (16, 64):
            rs = [r for r in runs if r["server"] == label and r["connections"] == conns]
            summary.append({"server": label, "connections": conns,
                            "req_per_s": statistics.median(r["req_per_s"] for r in rs),
                            "p50_us": statistics.median(r["p50_us"] for r in rs),
                            "p99_us": statistics.median(r["p99_us"] for r in rs),
                            "non2xx": sum(r["non2xx"] for r in rs), "socket_errors": sum(r["socket_errors"] for r in rs),
                            "wrong_answers": max(r["wrong_answers"] for r in rs), "rounds": len(rs)})
    print(f"\nmedians of {args.repeats} rounds, {args.duration} s each\n")
    print("| server | conns | req/s | p50 | p99 | non-2xx | socket errors | wrong answers (of 64) |")
    print("|---|---|---|---|---|---|---|---|")
    for s in summary:
        print(f"| {s['server']} | {s['connections']} | {s['req_per_s']:,.0f} | {s['p50_us'] / 1e3:.2f} ms | "
              f"{s['p99_us'] / 1e3:.2f} ms | {s['non2xx']} | {s['socket_errors']} | {s['wrong_answers']} |")
    print()

    def med(label, conns):
        return next(s for s in summary if s["server"] == label and s["connections"] == conns)

    ratios = {}
    for conns in (16, 64):
        for mli, peer in (("mlinfer-server MLI_THREADS=1", "FastAPI + joblib + pandas, 1 worker"),
                          ("mlinfer-server MLI_THREADS=2", "FastAPI + joblib + pandas, 2 workers"),
                          ("mlinfer-server MLI_THREADS=2, batching", "FastAPI + joblib + pandas, 2 workers")):
            x = med(mli, conns)["req_per_s"] / med(peer, conns)["req_per_s"]
            ratios[f"{mli} / {peer}, c{conns}"] = x
            print(f"c{conns}: {mli} / {peer} = {x:.1f}x")
    if args.out:
        Path(args.out).write_text(json.dumps({
            "machine": {"platform": platform.platform(), "cpus": os.cpu_count(), "python": platform.python_version()},
            "command": " ".join(sys.argv), "duration_s": args.duration, "repeats": args.repeats,
            "summary": summary, "ratios": ratios, "runs": runs}, indent=1))
    shutil.rmtree(d, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
