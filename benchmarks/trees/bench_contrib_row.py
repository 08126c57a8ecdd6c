#!/usr/bin/env python3
"""One-row SHAP contributions: Model.predict_contrib on a single row (the server's case:
one row per request) and on a batch, for two builds of libmlinfer in alternation, on the
models of bench_contrib.py (XGBoost 500 trees depth 8, LightGBM 500 trees 63 leaves, 50
features), one thread.

Each library runs in its own worker process (a process loads one libmlinfer); the parent
asks them in turn, round after round, so a change in the machine's load hits both alike.
Per round and worker: the median of --calls one-row calls (a different row each call,
the same rows for both) and the median of --batch-calls calls on --batch rows. Reported:
the median over the rounds, the per-round spread (min-max) and the ratio B / A per round.

Usage (from the repository root; pin it, e.g. taskset -c 1):
  python3 benchmarks/trees/bench_contrib_row.py A/libmlinfer.so B/libmlinfer.so
      [--rounds 5] [--calls 60] [--batch 300] [--batch-calls 5] [--models xgboost,lightgbm]
      [--cpu-time]
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from bench_contrib import ROOT, train  # noqa: E402  (the same models, cached alike)


def worker(names, clock):
    """Serves the parent: each input line "model calls batch batch_calls" -> one line of two
    medians (s)."""
    import mlinfer
    mlinfer.set_num_threads(1)
    loaded = {}
    for name in names:
        path, _, X = train(name, False)
        rows = X[np.random.default_rng(1).choice(len(X), 1000, replace=False)]
        model = mlinfer.load(path)
        model.predict_contrib(rows[:64])  # the lazily built SHAP state, outside the timings
        loaded[name] = model, rows
    print("ready", flush=True)
    for line in sys.stdin:
        name, calls, batch, batch_calls = line.split()
        model, rows = loaded[name]
        calls, batch, batch_calls = int(calls), int(batch), int(batch_calls)
        one = []
        for i in range(calls):
            x = rows[i % len(rows):i % len(rows) + 1]
            t0 = clock()
            model.predict_contrib(x)
            one.append(clock() - t0)
        many = []
        for _ in range(batch_calls):
            t0 = clock()
            model.predict_contrib(rows[:batch])
            many.append(clock() - t0)
        print(statistics.median(one), statistics.median(many), flush=True)


def start(lib, names, cpu):
    env = dict(os.environ, MLINFER_LIBRARY=os.path.abspath(lib), MLI_THREADS="1",
               PYTHONPATH=os.path.join(ROOT, "bindings", "python"))
    p = subprocess.Popen([sys.executable, os.path.abspath(__file__), "--worker", ",".join(names)] + (["--cpu-time"] if cpu else []), env=env,
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    if p.stdout.readline().strip() != "ready":
        sys.exit(f"worker for {lib} failed")
    return p


def ask(p, name, opts):
    p.stdin.write(f"{name} {opts.calls} {opts.batch} {opts.batch_calls}\n")
    p.stdin.flush()
    return [float(v) for v in p.stdout.readline().split()]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("libs", nargs="*", help="A/libmlinfer.so B/libmlinfer.so")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--calls", type=int, default=60)
    ap.add_argument("--batch", type=int, default=300)
    ap.add_argument("--batch-calls", type=int, default=5)
    ap.add_argument("--models", default="xgboost,lightgbm")
    ap.add_argument("--cpu-time", action="store_true",
                    help="the workers' CPU time (time.thread_time) instead of wall time: not counting the time "
                         "slices other processes take on the same CPU")
    ap.add_argument("--worker")
    opts = ap.parse_args()
    if opts.worker:
        return worker(opts.worker.split(","), time.thread_time if opts.cpu_time else time.perf_counter)
    if len(opts.libs) != 2:
        ap.error("two libraries: A (the reference) and B")
    names = opts.models.split(",")
    procs = [start(lib, names, opts.cpu_time) for lib in opts.libs]
    print(f"A = {opts.libs[0]}\nB = {opts.libs[1]}\naffinity {sorted(os.sched_getaffinity(0))}; {opts.rounds} rounds "
          f"alternating A, B (B, A every other round); per round the median of {opts.calls} one-row calls and "
          f"of {opts.batch_calls} calls on {opts.batch} rows; {'CPU' if opts.cpu_time else 'wall'} times in ms "
          f"(per row for the batch)\n")
    print("| model | case | A median | A spread | B median | B spread | B / A median | B / A spread |")
    print("|---|---|---|---|---|---|---|---|")
    for name in names:
        res = [[], []]  # per library: per round (one row, batch per row)
        for r in range(opts.rounds):
            for i in ((0, 1) if r % 2 == 0 else (1, 0)):
                one, many = ask(procs[i], name, opts)
                res[i].append((one * 1e3, many * 1e3 / opts.batch))
        for c, case in enumerate(("1 row", f"{opts.batch} rows")):
            a = [x[c] for x in res[0]]
            b = [x[c] for x in res[1]]
            ratio = [y / x for x, y in zip(a, b)]
            print(f"| {name} | {case} | {statistics.median(a):.3f} | {min(a):.3f}-{max(a):.3f} | "
                  f"{statistics.median(b):.3f} | {min(b):.3f}-{max(b):.3f} | {statistics.median(ratio):.3f} | "
                  f"{min(ratio):.3f}-{max(ratio):.3f} |", flush=True)
    for p in procs:
        p.stdin.close()
        p.wait()


if __name__ == "__main__":
    main()
