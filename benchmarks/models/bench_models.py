"""Models I benchmark: libmlinfer against scikit-learn, same models, same data, same thread
count, one run. 50 features; LogisticRegression, Ridge and MLPClassifier(128, 64).

Measures, per model:
  - single-row latency (median over many calls): scikit-learn `predict`, mlinfer through
    Python, and mlinfer through the C API (bench_model_c, 1 thread);
  - batch throughput at 100 000 rows, 1 and 2 threads: scikit-learn (BLAS threads limited
    with threadpoolctl), mlinfer through Python (float32 and float64 input) and C.

Usage (from the repository root, after building with benchmarks on):
  python3 benchmarks/models/bench_models.py --build build [--json benchmarks/results/models.json]
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
import warnings

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))


def median_call_us(fn, calls: int) -> float:
    for _ in range(min(200, calls)):
        fn()
    ts = np.empty(calls)
    for i in range(calls):
        t0 = time.perf_counter()
        fn()
        ts[i] = time.perf_counter() - t0
    return float(np.median(ts) * 1e6)


def best_rows_per_s(fn, rows: int, reps: int = 5) -> float:
    fn()
    best = min(_timed(fn) for _ in range(reps))
    return rows / best


def _timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--json", default=None)
    args = ap.parse_args()

    lib = os.path.join(args.build, "libmlinfer.so")
    os.environ.setdefault("MLINFER_LIBRARY", lib)
    sys.path.insert(0, os.path.join(ROOT, "bindings", "python"))
    import mlinfer
    import sklearn
    from sklearn.datasets import make_classification, make_regression
    from sklearn.linear_model import LogisticRegression, Ridge
    from sklearn.neural_network import MLPClassifier
    from threadpoolctl import threadpool_limits

    warnings.filterwarnings("ignore")
    runner = os.path.join(args.build, "benchmarks", "bench_model_c")
    F = 50
    Xc, yc = make_classification(20_000, F, n_informative=20, random_state=0)
    Xr, yr = make_regression(20_000, F, random_state=0)
    models = {
        "LogisticRegression": (LogisticRegression(max_iter=1000).fit(Xc, yc), Xc),
        "Ridge": (Ridge().fit(Xr, yr), Xr),
        "MLPClassifier(128,64)": (MLPClassifier((128, 64), max_iter=30, random_state=0).fit(Xc, yc), Xc),
    }
    rng = np.random.default_rng(1)
    results = {"machine": cpu_name(), "cores": os.cpu_count(), "sklearn": sklearn.__version__,
               "numpy": np.__version__, "mlinfer_isa": mlinfer.cpu_isa(), "rows": args.rows, "models": {}}
    tmp = tempfile.mkdtemp(prefix="mli-bench-")
    for name, (est, X) in models.items():
        Xb64 = X[rng.integers(0, len(X), args.rows)]
        Xb32 = Xb64.astype(np.float32)
        path = os.path.join(tmp, "m.mli")
        mlinfer.export(est, path)
        m = mlinfer.load(path)
        Xb32.tofile(os.path.join(tmp, "x.f32"))
        r = {}
        row64, row32 = Xb64[:1], Xb32[:1]
        with threadpool_limits(limits=1):
            r["sklearn_single_row_us"] = median_call_us(lambda: est.predict(row64), 3000)
        mlinfer.set_num_threads(1)
        r["mlinfer_python_single_row_us"] = median_call_us(lambda: m.predict(row32), 20000)
        for th in (1, 2):
            with threadpool_limits(limits=th):
                r[f"sklearn_batch_rows_per_s_t{th}"] = best_rows_per_s(lambda: est.predict(Xb64), args.rows)
            mlinfer.set_num_threads(th)
            r[f"mlinfer_python_f32_batch_rows_per_s_t{th}"] = best_rows_per_s(lambda: m.predict(Xb32), args.rows)
            r[f"mlinfer_python_f64_batch_rows_per_s_t{th}"] = best_rows_per_s(lambda: m.predict(Xb64), args.rows)
            if os.path.exists(runner):
                out = subprocess.run([runner, path, os.path.join(tmp, "x.f32"), str(F), str(th)], check=True,
                                     capture_output=True, text=True).stdout
                c = json.loads(out)
                if th == 1:
                    r["mlinfer_c_single_row_us"] = c["single_row_us_p50"]
                    r["mlinfer_c_single_row_us_p99"] = c["single_row_us_p99"]
                r[f"mlinfer_c_batch_rows_per_s_t{th}"] = c["batch_rows_per_s"]
        agree = np.array_equal(m.predict(Xb64), est.predict(Xb64)) if hasattr(est, "classes_") else \
            float(np.max(np.abs(m.predict(Xb64) - est.predict(Xb64)) / (1 + np.abs(est.predict(Xb64)))))
        r["agreement"] = agree if isinstance(agree, float) else bool(agree)
        results["models"][name] = r
        m.close()

    print(f"\nmachine: {results['machine']} ({results['cores']} cores), scikit-learn {results['sklearn']}, "
          f"mlinfer kernels {results['mlinfer_isa']}, batch {args.rows} rows, 50 features\n")
    hdr = ("| model | single row: sklearn | mlinfer Python | mlinfer C | batch t1: sklearn | mlinfer (f32) | ratio "
           "| batch t2: sklearn | mlinfer (f32) | ratio |")
    print(hdr)
    print("|" + "---|" * 10)
    for name, r in results["models"].items():
        def rps(v):
            return f"{v / 1e6:.2f} M/s"
        t1 = r["mlinfer_python_f32_batch_rows_per_s_t1"] / r["sklearn_batch_rows_per_s_t1"]
        t2 = r["mlinfer_python_f32_batch_rows_per_s_t2"] / r["sklearn_batch_rows_per_s_t2"]
        print(f"| {name} | {r['sklearn_single_row_us']:.1f} us | {r['mlinfer_python_single_row_us']:.2f} us | "
              f"{r.get('mlinfer_c_single_row_us', float('nan')):.3f} us | {rps(r['sklearn_batch_rows_per_s_t1'])} | "
              f"{rps(r['mlinfer_python_f32_batch_rows_per_s_t1'])} | {t1:.1f}x | "
              f"{rps(r['sklearn_batch_rows_per_s_t2'])} | {rps(r['mlinfer_python_f32_batch_rows_per_s_t2'])} | "
              f"{t2:.1f}x |")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)
        print(f"\nwrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
