#!/usr/bin/env python3
"""What dynamic batching gives mlinfer-server: batching off (MLI_MAX_BATCH=1) against on
(MLI_MAX_BATCH=64) with several MLI_BATCH_DELAY_US values, under the same wrk load as bench.py
(POST /predict, one 50-feature JSON row per request, wrk -t2, 16 and 64 connections).

Models: bench.py's LogisticRegression (lr) and RandomForest(100, depth 10) (rf), and, to show
where batching pays, an MLPClassifier with two hidden layers of 1024 (mlp) on the same data: a
model whose single-row call costs several times its per-row cost in a batch.

Every variant runs once per round, the order rotating from round to round, and the figures
reported are the medians over the rounds: on a small shared machine a single run says little.
For each run the mean executed batch size comes from the server's own mlinfer_batch_size.

  MLINFER_LIBRARY=build-srv/libmlinfer.so PYTHONPATH=bindings/python \\
      python3 benchmarks/server/bench_batching.py --server build-srv/programs/server/mlinfer-server \\
      [--models lr,rf] [--threads 1,2] [--delays 0,50,200,1000] [--rounds 3] [--duration 5] [--out FILE]
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import bench  # noqa: E402  (make_models, run_wrk, wait_up, LUA: the same model and load as the main benchmark)

REPO = HERE.parents[1]
MAX_BATCH = 64


def make_mlp(d: Path, models: dict) -> None:
    """mlp: MLPClassifier((1024, 1024)) on bench.py's data (3 epochs: the weights' values do not
    matter here, their count does)."""
    import warnings

    import mlinfer
    from sklearn.datasets import make_classification
    from sklearn.neural_network import MLPClassifier

    X, y = make_classification(n_samples=5000, n_features=bench.N_FEATURES, n_informative=20, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # not converged after 3 epochs: intended
        mlp = MLPClassifier(hidden_layer_sizes=(1024, 1024), max_iter=3, random_state=0).fit(X, y)
    mlinfer.export(mlp, str(d / "mlp.mli"))
    models["mlp_mli"] = str(d / "mlp.mli")
    models["expected"]["mlp"] = int(mlp.predict([models["row"]])[0])  # the row as sent


def batch_stats(port: int) -> tuple[float, float]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
        text = r.read().decode()
    get = lambda name: float(re.search(rf"^{name} (\S+)$", text, re.M).group(1))  # noqa: E731
    return get("mlinfer_batch_size_sum"), get("mlinfer_batch_size_count")


def run_variant(args, model_path: str, threads: int, delay, lua: Path, row, expected) -> list[dict]:
    env = dict(os.environ, MLI_THREADS=str(threads), LOG_LEVEL="error")
    env["MLI_MAX_BATCH"] = "1" if delay is None else str(MAX_BATCH)
    if delay is not None:
        env["MLI_BATCH_DELAY_US"] = str(delay)
    proc = subprocess.Popen([args.server, "--model", model_path, "--port", str(args.port)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    out = []
    try:
        bench.wait_up(args.port, "/ready", proc)
        got = bench.predict_once(args.port, row)
        if str(got) != str(expected):
            raise RuntimeError(f"server predicted {got!r}, scikit-learn {expected!r}")
        bench.run_wrk(args.port, lua, 16, 1)  # warm-up
        for conns in (16, 64):
            s0, c0 = batch_stats(args.port)
            r = bench.run_wrk(args.port, lua, conns, args.duration)
            s1, c1 = batch_stats(args.port)
            r.update(connections=conns, mean_batch=(s1 - s0) / max(c1 - c0, 1))
            out.append(r)
    finally:
        bench.stop_server(proc, settle=0.3)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--server", default=str(REPO / "build-srv" / "programs" / "server" / "mlinfer-server"))
    ap.add_argument("--models", default="lr")
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--delays", default="0,50,200,1000")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--duration", type=int, default=5)
    ap.add_argument("--port", type=int, default=18230)
    ap.add_argument("--out")
    args = ap.parse_args()
    os.environ.setdefault("MLINFER_LIBRARY", str(REPO / "build-srv" / "libmlinfer.so"))
    sys.path.insert(0, str(REPO / "bindings" / "python"))

    d = Path(tempfile.mkdtemp(prefix="mli-batchbench-"))
    models = bench.make_models(d)
    if "mlp" in args.models.split(","):
        make_mlp(d, models)
    lua = d / "predict.lua"
    lua.write_text(bench.LUA % {"body": json.dumps({"features": models["row"]})})
    variants = [(m, t, dl) for m in args.models.split(",") for t in map(int, args.threads.split(","))
                for dl in [None] + [int(v) for v in args.delays.split(",")]]
    runs: dict[tuple, list[dict]] = {}
    for rnd in range(args.rounds):
        k = rnd % len(variants)
        for mdl, th, dl in variants[k:] + variants[:k]:  # interleaved, the order rotating per round
            for r in run_variant(args, models[f"{mdl}_mli"], th, dl, lua, models["row"], models["expected"][mdl]):
                r["round"] = rnd
                runs.setdefault((mdl, th, dl, r["connections"]), []).append(r)
                print(f"round {rnd + 1} {mdl} MLI_THREADS={th} {'off' if dl is None else f'delay {dl} us':12} "
                      f"c{r['connections']:<3} {r['req_per_s']:9.0f} req/s  p50 {r['p50_us'] / 1e3:6.2f} ms  "
                      f"p99 {r['p99_us'] / 1e3:6.2f} ms  batch {r['mean_batch']:5.1f}  "
                      f"errors {r['non2xx'] + r['socket_errors']}", flush=True)

    names = {"lr": "LogisticRegression", "rf": "RandomForest(100, depth 10)", "mlp": "MLP(1024, 1024)"}
    # "vs off": the median over rounds of this variant's figure over batching-off's in the same
    # round (runs close in time share the machine's load, which swings a lot on a shared box)
    print(f"\nmedians of {args.rounds} rounds, {args.duration} s each; MLI_MAX_BATCH={MAX_BATCH} when on\n")
    print("| model | MLI_THREADS | batching | conns | req/s | req/s vs off | p50 | p99 | p99 vs off | mean batch "
          "| errors |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    summary = []
    for (mdl, th, dl, conns), rs in sorted(runs.items(), key=lambda kv: (kv[0][0], kv[0][1], kv[0][3],
                                                                           -1 if kv[0][2] is None else kv[0][2])):
        med = {k: statistics.median(r[k] for r in rs) for k in ("req_per_s", "p50_us", "p99_us", "mean_batch")}
        errors = sum(r["non2xx"] + r["socket_errors"] for r in rs)
        off = {r["round"]: r for r in runs[(mdl, th, None, conns)]}
        vs = {k: statistics.median(r[k] / off[r["round"]][k] for r in rs) for k in ("req_per_s", "p99_us")}
        summary.append(dict(model=mdl, threads=th, delay_us=dl, connections=conns, errors=errors,
                            req_per_s_vs_off=vs["req_per_s"], p99_vs_off=vs["p99_us"], **med))
        label = "off" if dl is None else f"on, {dl} us"
        print(f"| {names[mdl]} | {th} | {label} | {conns} | {med['req_per_s']:,.0f} | {vs['req_per_s']:.2f}x | "
              f"{med['p50_us'] / 1e3:.2f} ms | {med['p99_us'] / 1e3:.2f} ms | {vs['p99_us']:.2f}x | "
              f"{med['mean_batch']:.1f} | {errors} |")
    if args.out:
        Path(args.out).write_text(json.dumps({
            "machine": platform.platform(), "cpus": os.cpu_count(), "max_batch": MAX_BATCH,
            "rounds": args.rounds, "duration_s": args.duration, "summary": summary,
            "runs": [{**r, "model": k[0], "threads": k[1], "delay_us": k[2]}
                     for k, rs in runs.items() for r in rs]}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
