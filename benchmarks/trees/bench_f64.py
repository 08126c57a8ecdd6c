"""float32 against float64 input on the tree benchmark models (issue 22).

Measures rows/s of libmlinfer, each framework's own predictor and Intel oneDAL
(scikit-learn-intelex's `daal4py.mb.convert_model`, XGBoost and LightGBM boosters) on
float32 and float64 input, batch 100 000, 1 and 2 threads; and, through the C API
(benchmarks/models/bench_model_c), one-row latency and load time (framework file and .mli)
for both dtypes. Every contender is run on both dtypes; the one it prefers is marked.

Data: `make_classification(n_features=50, n_informative=20, n_redundant=10)` with a fixed
seed, in float64 as drawn (NOT rounded to float32, unlike bench_trees.py: real float64
columns rarely hold float32 values, and a float64 `<=` model (LightGBM, HistGradientBoosting)
given values that are float32 numbers would never leave its float32 fast path). The
float32 rows are those values rounded to float32. 20 000 rows train the models; the next
`--batch` rows are timed.

Agreement: each contender's output on each dtype is checked against the framework's own
output on the same dtype (max absolute difference of the positive-class probability,
reported; above 1e-5 it is marked MISMATCH).

Timing: every (contender, dtype) runs once (warm-up and agreement), then `--repeats`
interleaved rounds, round r starting at a different contender; rows/s is the median.
The whole run sits inside threadpool_limits(threads).

    python benchmarks/trees/bench_f64.py [--models xgboost,randomforest,lightgbm,histgradientboosting]
        [--threads 1,2] [--batch 100000] [--repeats 5] [--out benchmarks/results] [--quick]
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import subprocess
import sys
import tempfile
import time
import warnings

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
import bench_trees as bt  # noqa: E402  (model training, caching and machine info)

F = 50
TOL = 1e-5
MODELS = ("xgboost", "randomforest", "lightgbm", "histgradientboosting")
PREFERRED = {  # each peer's own working dtype
    ("mlinfer", "xgboost"): "f32", ("mlinfer", "randomforest"): "f32", ("mlinfer", "lightgbm"): "f64",
    ("mlinfer", "histgradientboosting"): "f64",
    ("framework", "xgboost"): "f32", ("framework", "randomforest"): "f32", ("framework", "lightgbm"): "f64",
    ("framework", "histgradientboosting"): "f64", ("onedal", "xgboost"): "f32", ("onedal", "lightgbm"): "f64",
}


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def positive(out, n):
    a = np.asarray(out, dtype=np.float64).reshape(n, -1)
    return a[:, 1] if a.shape[1] == 2 else a[:, 0]


class Runner:
    """fn(X) -> positive-class probability; threads(n) sets its thread count."""

    def __init__(self, key, fn, threads):
        self.key, self.fn, self.threads = key, fn, threads


def contenders(name, ctx, tmp):
    import mlinfer
    out = []
    if name == "xgboost":
        path = ctx.files["xgboost_json"]
    elif name == "lightgbm":
        path = ctx.files["lightgbm_txt"]
    else:
        path = os.path.join(tmp, f"{name}.mli")
        mlinfer.export(ctx.est, path)
    m = mlinfer.load(path)
    mli_path = os.path.join(tmp, f"{name}.converted.mli")
    bt._mli_save(m, mli_path)
    out.append(Runner("mlinfer", lambda X: m.predict_proba(X)[:, 1], mlinfer.set_num_threads))
    if name == "xgboost":
        b = ctx.booster
        out.append(Runner("framework", lambda X: b.inplace_predict(X), lambda n: b.set_param({"nthread": n})))
    elif name == "lightgbm":
        b = ctx.booster
        state = {"n": 1}
        out.append(Runner("framework", lambda X: b.predict(X, num_threads=state["n"]),
                          lambda n: state.update(n=n)))
    else:
        est = ctx.est

        def skl_threads(n):
            if hasattr(est, "n_jobs"):
                est.n_jobs = n
        out.append(Runner("framework", lambda X: est.predict_proba(X)[:, 1], skl_threads))
    if name in ("xgboost", "lightgbm"):
        try:
            import daal4py
            from daal4py import mb
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                d = mb.convert_model(ctx.booster)
            out.append(Runner("onedal", lambda X: d.predict_proba(X)[:, 1], daal4py.daalinit))
        except Exception as exc:  # noqa: BLE001 -- a missing peer is reported, not fatal
            log(f"oneDAL unavailable: {bt._err(exc)}")
    return out, path, mli_path


def throughput(runners, X, th, repeats):
    from threadpoolctl import threadpool_limits
    res = {}
    with threadpool_limits(th):
        for r in runners:
            r.threads(th)
        refs = {}
        for dt, A in X.items():
            for r in runners:
                got = np.asarray(r.fn(A), dtype=np.float64)
                if r.key == "framework":
                    refs[dt] = got
                res[(r.key, dt)] = {"got": got, "samples": []}
        for (key, dt), v in res.items():
            v["max_abs_diff"] = float(np.max(np.abs(v.pop("got") - refs[dt])))
        order = [(r, dt) for r in runners for dt in X]
        for rep in range(repeats):
            k = rep % len(order)
            for r, dt in order[k:] + order[:k]:
                t0 = time.perf_counter()
                r.fn(X[dt])
                res[(r.key, dt)]["samples"].append(len(X[dt]) / (time.perf_counter() - t0))
    out = {}
    for (key, dt), v in res.items():
        v["rows_per_s"] = float(np.median(v["samples"]))
        v["agree"] = v["max_abs_diff"] <= TOL
        out.setdefault(key, {})[dt] = v
    return out


def c_api(runner, paths, X, th, opts):
    """bench_model_c on both dtypes and both files: single-row p50, batch, load."""
    out = {}
    for dt, A in X.items():
        xpath = os.path.join(opts.tmp, f"x.{dt}")
        np.ascontiguousarray(A).tofile(xpath)
        for label, p in paths.items():
            if label != "framework_file" and dt == "f32":  # the .mli: load time and f64 latency are enough
                continue
            cmd = [runner, p, xpath, str(F), str(th), "--output", "proba", "--dtype", dt, "--single-reps",
                   str(opts.single_reps), "--batch-reps", str(opts.repeats), "--load-reps", "9"]
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
            key = f"{label}/{dt}"
            out[key] = json.loads(proc.stdout) if proc.returncode == 0 else {"status": proc.stderr.strip()[:300]}
    return out


def fmt(v):
    return f"{v / 1e3:,.0f}k" if v >= 1e3 else f"{v:.0f}"


def markdown(results):
    lines = [f"Machine: {results['machine']['cpu']['model']}, {results['machine']['cpu_count']} CPUs; "
             f"{results['date']}; batch {results['batch']}, median of {results['repeats']} interleaved repeats. "
             f"Command: `{results['command']}`", ""]
    for th in results["threads"]:
        lines += [f"### {th} thread{'s' if th > 1 else ''}", "",
                  "| model | libmlinfer f32 | libmlinfer f64 | f64 / f32 | framework f32 | framework f64 "
                  "| oneDAL f32 | oneDAL f64 | libmlinfer / oneDAL (best dtype each) | agree |",
                  "|---|---|---|---|---|---|---|---|---|---|"]
        for name, mres in results["models"].items():
            t = mres["throughput"][str(th)]

            def cell(k, dt):
                v = t.get(k, {}).get(dt)
                if not v:
                    return "-"
                star = "*" if PREFERRED.get((k, name)) == dt else ""
                return fmt(v["rows_per_s"]) + star
            mli = t["mlinfer"]
            slow = mli["f32"]["rows_per_s"] / mli["f64"]["rows_per_s"]
            vs = "-"
            if "onedal" in t:
                best_d = max(v["rows_per_s"] for v in t["onedal"].values())
                vs = f"{max(v['rows_per_s'] for v in mli.values()) / best_d:.2f}x " \
                     f"(f32 {mli['f32']['rows_per_s'] / best_d:.2f}x, f64 {mli['f64']['rows_per_s'] / best_d:.2f}x)"
            agree = all(v["agree"] for c in t.values() for v in c.values())
            worst = max(v["max_abs_diff"] for c in t.values() for v in c.values())
            lines.append(f"| {mres['label']} | {cell('mlinfer', 'f32')} | {cell('mlinfer', 'f64')} | {slow:.2f}x | "
                         f"{cell('framework', 'f32')} | {cell('framework', 'f64')} | {cell('onedal', 'f32')} | "
                         f"{cell('onedal', 'f64')} | {vs} | {'yes' if agree else 'NO'} ({worst:.1e}) |")
        lines.append("")
    lines += ["`*` the contender's preferred dtype. f64 / f32: libmlinfer's float32 rows/s over its float64 "
              "rows/s (1.00x = no cost). agree: every output within 1e-5 of the framework's on the same dtype "
              "(worst absolute difference).", "", "### C API (bench_model_c)", "",
              "| model | threads | input | one row p50 (us) | batch rows/s (median) | load ms |", "|---|---|---|---|---|---|"]
    for name, mres in results["models"].items():
        for th, cres in mres.get("c_api", {}).items():
            for key, v in cres.items():
                if "status" in v:
                    lines.append(f"| {mres['label']} | {th} | {key} | error: {v['status']} | | |")
                    continue
                lines.append(f"| {mres['label']} | {th} | {key} | {v['single_row_us_p50']:.2f} | "
                             f"{fmt(v['batch_rows_per_s_median'])} | {v['load_ms']:.2f} |")
    return "\n".join(lines) + "\n"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--models", default=",".join(MODELS))
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--batch", type=int, default=100_000)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--single-reps", type=int, default=20_000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=os.path.join(ROOT, "benchmarks", "results"))
    ap.add_argument("--name", default="trees_f64")
    ap.add_argument("--cache", default=None, help="trained-model cache (default OUT/.trees-cache)")
    ap.add_argument("--c-runner", default=None, help="bench_model_c (default: next to MLINFER_LIBRARY)")
    ap.add_argument("--quick", action="store_true", help="small models and batches (a smoke run)")
    opts = ap.parse_args(argv)
    opts.threads = [int(t) for t in opts.threads.split(",")]
    models = [bt.ALIASES.get(m, m) for m in opts.models.split(",")]
    if opts.quick:
        opts.batch, opts.repeats, opts.single_reps = min(opts.batch, 2000), min(opts.repeats, 3), 500
    opts.cache = opts.cache or os.path.join(opts.out, ".trees-cache")
    if opts.c_runner is None and os.environ.get("MLINFER_LIBRARY"):
        opts.c_runner = os.path.join(os.path.dirname(os.path.abspath(os.environ["MLINFER_LIBRARY"])), "benchmarks",
                                     "bench_model_c")
    os.makedirs(opts.out, exist_ok=True)
    from sklearn.datasets import make_classification
    n_train = 20_000
    X, y = make_classification(n_samples=n_train + opts.batch, n_features=F, n_informative=20, n_redundant=10,
                               random_state=opts.seed)
    X64 = np.ascontiguousarray(X[n_train:])
    data = {"f32": X64.astype(np.float32), "f64": X64}
    results = {"date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
               "command": "python benchmarks/trees/bench_f64.py " + " ".join(argv if argv is not None else sys.argv[1:]),
               "machine": bt.machine_info(), "versions": bt.versions(), "batch": opts.batch,
               "repeats": opts.repeats, "threads": opts.threads, "models": {}}
    try:
        import daal4py
        results["versions"]["daal4py"] = getattr(daal4py, "__version__", "?")
    except ImportError as exc:
        results["versions"]["daal4py"] = f"unavailable: {exc}"
    with tempfile.TemporaryDirectory() as tmp:
        opts.tmp = tmp
        for name in models:
            params = bt.model_params(name, opts.quick)
            label = bt.model_label(name, params)
            log(f"== {label}")
            ctx = bt.ModelCtx(name, "classification", params, X[:n_train], y[:n_train], opts.cache, opts.seed, log,
                              train_jobs=min(2, os.cpu_count() or 1))
            runners, path, mli_path = contenders(name, ctx, tmp)
            mres = {"label": label, "throughput": {}, "c_api": {}}
            for th in opts.threads:
                mres["throughput"][str(th)] = throughput(runners, data, th, opts.repeats)
                t = mres["throughput"][str(th)]
                log(f"  {th} thr: " + ", ".join(f"{k}/{dt} {fmt(v['rows_per_s'])}" for k, c in t.items()
                                             for dt, v in c.items()))
                if opts.c_runner and os.path.exists(opts.c_runner):
                    paths = {"framework_file": path}
                    if path != mli_path:
                        paths["mli"] = mli_path
                    mres["c_api"][str(th)] = c_api(opts.c_runner, paths, data, th, opts)
            results["models"][name] = mres
    md = markdown(results)
    stem = os.path.join(opts.out, opts.name)
    with open(stem + ".json", "w") as f:
        json.dump(results, f, indent=1)
    with open(stem + ".md", "w") as f:
        f.write(md)
    print(md)
    log(f"wrote {stem}.json and {stem}.md")


if __name__ == "__main__":
    main()
