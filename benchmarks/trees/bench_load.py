#!/usr/bin/env python3
"""Load time of model files through the C API: bench_model_c --load-reps (median of N
loads of one file in one process, the file in the page cache), for one or more builds of
libmlinfer taking turns round by round (old and new alike see the machine's state), so that
their ratio means something on a noisy machine.

    python3 benchmarks/trees/bench_load.py --bench build/benchmarks/bench_model_c \\
        --lib new=build --lib old=/tmp/libold --rounds 5 --reps 1000 --out load.json \\
        MODEL.mli [MODEL.json ...]

Each --lib NAME=DIR runs bench_model_c with LD_LIBRARY_PATH=DIR (a directory holding
libmlinfer.so.0). The rows file bench_model_c needs is a few float32 rows of the model's
width, written here.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile


def rows_file():
    """4096 float32 zeros: the one row bench_model_c predicts after the loads, for any
    model up to 4096 features wide (its N_FEATURES argument is the row stride)."""
    with tempfile.NamedTemporaryFile(suffix=".f32", delete=False) as f:
        f.write(b"\0" * 4 * 4096)
    return f.name


def run_bench(bench, lib_dir, what, args):
    """bench_model_c's JSON line for `args`, run against the libmlinfer.so.0 in lib_dir;
    exits naming `what` if it fails."""
    p = subprocess.run([bench] + args, capture_output=True, text=True,
                       env=dict(os.environ, LD_LIBRARY_PATH=lib_dir))
    if p.returncode != 0:
        sys.exit(f"{what}: {p.stderr.strip()[:300]}")
    return json.loads(p.stdout.strip().splitlines()[-1])


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bench", required=True, help="bench_model_c")
    ap.add_argument("--lib", action="append", required=True, help="NAME=DIR with libmlinfer.so.0")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--reps", type=int, default=1000)
    ap.add_argument("--out", help="JSON results")
    ap.add_argument("models", nargs="+")
    a = ap.parse_args()
    libs = [tuple(x.split("=", 1)) for x in a.lib]
    rows = rows_file()
    res = {m: {name: [] for name, _ in libs} for m in a.models}
    for r in range(a.rounds):
        for m in a.models:
            for name, d in libs:
                ms = run_bench(a.bench, d, f"{name} {m}", [m, rows, "4096", "1", "--output", "raw", "--batch-reps",
                                                           "1", "--single-reps", "1", "--load-reps", str(a.reps)])["load_ms"]
                res[m][name].append(ms)
                print(f"round {r + 1} {os.path.basename(m)} {name}: {ms:.3f} ms", flush=True)
    os.unlink(rows)
    summary = {m: {name: {"median_ms": statistics.median(v), "min_ms": min(v), "max_ms": max(v), "rounds_ms": v}
                   for name, v in byl.items()} for m, byl in res.items()}
    for m, byl in summary.items():
        print(os.path.basename(m), " ".join(f"{n}: {s['median_ms']:.3f} ms ({s['min_ms']:.3f}-{s['max_ms']:.3f})"
                                            for n, s in byl.items()))
    if a.out:
        with open(a.out, "w") as f:
            json.dump({"reps_per_round": a.reps, "rounds": a.rounds, "libs": dict(libs), "results": summary}, f,
                      indent=1)


if __name__ == "__main__":
    main()
