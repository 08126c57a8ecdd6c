#!/usr/bin/env python3
"""bench_pipelines.py — scikit-learn pipelines over a DataFrame (issue 17): a churn-like table
(5 numeric columns with NaN, 5 string columns of 3-50 categories with NaN and None),
ColumnTransformer(imputer + scaler, imputer + one-hot) + LogisticRegression, and the same +
HistGradientBoosting (200 iterations). mlinfer (the exported .mli) against the fitted
scikit-learn pipeline, in the same run, on the same data:

  * batch: predict_proba on a 100 000-row DataFrame, at 1 and 2 threads (mlinfer:
    set_num_threads; scikit-learn: threadpoolctl limits its OpenMP / BLAS pools), and where
    mlinfer's time goes (DataFrame -> columns in Python, the C call);
  * ONNX Runtime on the skl2onnx conversion of the same fitted pipelines, in the same
    interleaved samples, at 1 and 2 threads (intra_op_num_threads), its input built from the
    same DataFrame inside its timed call (one array per column, as its graph takes them); its
    probabilities are compared with scikit-learn's before timing (--no-ort leaves it out);
  * one row: predict_proba on a one-row dict (mlinfer) and a one-row DataFrame (both), and
    through the C API (bench_columns_c, built with -DMLI_BUILD_BENCHMARKS=ON; found next to
    the library as build/benchmarks/bench_columns_c or through BENCH_COLUMNS_C).

Contenders alternate sample by sample; medians of the samples are reported (the minimum
too). Run on an otherwise idle machine:

    MLINFER_LIBRARY=build/libmlinfer.so PYTHONPATH=bindings/python \\
        python3 benchmarks/pipelines/bench_pipelines.py [--rows 100000] [--quick] [--json out.json]
"""
from __future__ import annotations

import argparse
import io
import json
import os
import platform
import statistics
import subprocess
import tempfile
import time
import warnings

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler
from threadpoolctl import threadpool_limits

import mlinfer
from mlinfer._columns import columns_for, one_row_columns

NUM = ["tenure", "charges", "age", "calls", "score"]
CATS = {"plan": 3, "region": 12, "device": 6, "pay": 20, "channel": 50}


def churn(n, seed):
    rng = np.random.default_rng(seed)
    df = pd.DataFrame({"tenure": rng.integers(0, 72, n).astype(float), "charges": rng.normal(70, 30, n),
                       "age": rng.normal(45, 15, n), "calls": rng.poisson(3, n).astype(float),
                       "score": rng.uniform(0, 1, n)})
    for c in NUM:
        df.loc[rng.random(n) < 0.05, c] = np.nan
    for c, k in CATS.items():
        col = rng.choice([f"{c}{i}" for i in range(k)], n).astype(object)
        col[rng.random(n) < 0.04] = np.nan
        col[rng.random(n) < 0.02] = None
        df[c] = col
    logit = 0.04 * df["tenure"].fillna(30) - 0.02 * df["charges"].fillna(70) + (df["plan"] == "plan2") * 1.5
    y = (logit + rng.normal(0, 1, n) > 0).astype(int)
    # through CSV, as a table is usually read: pandas' reader makes one object per distinct
    # string (so does pyarrow's to_pandas); missing strings become NaN
    return pd.read_csv(io.StringIO(df.to_csv(index=False))), y


def pipelines():
    def pre():
        return ColumnTransformer([
            ("num", make_pipeline(SimpleImputer(strategy="median"), StandardScaler()), NUM),
            ("cat", make_pipeline(SimpleImputer(strategy="constant", fill_value="missing"),
                                  OneHotEncoder(handle_unknown="ignore")), list(CATS)),
        ], sparse_threshold=0)
    return {"logreg": make_pipeline(pre(), LogisticRegression(max_iter=1000)),
            "hgb200": make_pipeline(pre(), HistGradientBoostingClassifier(max_iter=200, early_stopping=False,
                                                                          random_state=0)),
            "xgb500": make_pipeline(pre(), _xgb_classifier())}


def _xgb_classifier():
    """XGBClassifier, 500 trees of depth 8 (the issue's third pipeline), or None without xgboost."""
    try:
        import xgboost
    except ImportError:
        return None
    return xgboost.XGBClassifier(n_estimators=500, max_depth=8, learning_rate=0.05, tree_method="hist",
                                 n_jobs=os.cpu_count())


# -- ONNX Runtime on skl2onnx's conversion -----------------------------------------------------
ORT_NAN = "__nan__"  # the string the converted graph's string imputers take as missing


def _skl2onnx_bool_attrs():
    """skl2onnx 1.20 passes NumPy booleans in an integer attribute of TreeEnsemble nodes for
    scikit-learn 1.9's HistGradientBoosting (onnx.helper refuses them: "Expected an int, got a
    boolean"); hand them over as ints, the values ONNX means."""
    from skl2onnx.common import _container
    orig = _container.ModelComponentContainer.add_node
    if getattr(orig, "_mlinfer_bench", False):
        return

    def add_node(self, op_type, inputs, outputs, op_domain="", op_version=None, name=None, **attrs):
        for k, v in list(attrs.items()):
            if isinstance(v, (list, tuple)) and v and any(isinstance(x, (bool, np.bool_)) for x in v):
                attrs[k] = [int(x) for x in v]
        return orig(self, op_type, inputs, outputs, op_domain=op_domain, op_version=op_version, name=name, **attrs)
    add_node._mlinfer_bench = True
    _container.ModelComponentContainer.add_node = add_node


def ort_model(est):
    """(ONNX bytes, None) for the fitted pipeline, or (None, why not).

    skl2onnx converts a string SimpleImputer only when its missing value is a string (NaN ->
    NotImplementedError), so a copy of the pipeline whose string imputers take ORT_NAN is
    converted -- with strategy 'constant' the fitted imputer does not depend on it -- and
    ort_feed writes ORT_NAN for a missing string. ONNX Runtime's Imputer has no float64
    kernel, so the numeric inputs are float32 (skl2onnx's usual choice)."""
    import copy
    try:
        from skl2onnx import convert_sklearn
        from skl2onnx.common.data_types import FloatTensorType, StringTensorType
    except ImportError as exc:
        return None, f"skl2onnx is not installed ({exc})"
    _skl2onnx_bool_attrs()
    twin = copy.deepcopy(est)
    for name, tr, cols in twin.steps[0][1].transformers_:
        if name == "cat":
            for step in tr.steps:
                if isinstance(step[1], SimpleImputer):
                    if step[1].strategy != "constant":
                        return None, "a string imputer other than strategy='constant'"
                    step[1].missing_values = ORT_NAN
    inputs = [(c, FloatTensorType([None, 1])) for c in NUM] + [(c, StringTensorType([None, 1])) for c in CATS]
    try:
        onx = convert_sklearn(twin, initial_types=inputs, options={id(twin.steps[-1][1]): {"zipmap": False}},
                              target_opset={"": 17, "ai.onnx.ml": 3})
    except Exception as exc:  # noqa: BLE001 - reported, not hidden
        return None, f"skl2onnx: {type(exc).__name__}: {str(exc)[:200]}"
    return onx.SerializeToString(), None


def ort_session(onx: bytes, threads: int):
    import onnxruntime as ort
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    return ort.InferenceSession(onx, so, providers=["CPUExecutionProvider"])


def ort_feed(df):
    """ONNX Runtime's inputs from the DataFrame: one (n, 1) array per column."""
    feed = {c: df[c].to_numpy(np.float32).reshape(-1, 1) for c in NUM}
    for c in CATS:
        feed[c] = df[c].fillna(ORT_NAN).to_numpy(object).reshape(-1, 1)
    return feed


def ort_proba(sess, df):
    return sess.run(["probabilities"], ort_feed(df))[0]


def interleave(fns, budget, min_samples=5, max_samples=201):
    """Runs each fn alternately until `budget` seconds are spent; per fn the sample times."""
    for f in fns.values():  # warm-up
        f()
    times = {k: [] for k in fns}
    t_end = time.perf_counter() + budget
    while True:
        for k, f in fns.items():
            t0 = time.perf_counter()
            f()
            times[k].append(time.perf_counter() - t0)
        n = len(next(iter(times.values())))
        if n >= max_samples or (n >= min_samples and time.perf_counter() > t_end):
            return times


def per_call(fn, inner):
    def run():
        for _ in range(inner):
            fn()
    return run


def summary(ts, scale=1.0):
    return {"median": statistics.median(ts) * scale, "min": min(ts) * scale, "samples": len(ts)}


def one_row_c(path, row, seconds):
    """bench_columns_c's figures for one row of `row` (its string values), or None."""
    exe = os.environ.get("BENCH_COLUMNS_C") or os.path.join(
        os.path.dirname(os.environ.get("MLINFER_LIBRARY", "build/libmlinfer.so")), "benchmarks", "bench_columns_c")
    if not os.path.exists(exe):
        print(f"({exe} not built: no C API figure)")
        return None
    args = [f"{k}={v}" for k, v in row.items() if isinstance(v, str)]
    out = subprocess.run([exe, path, str(seconds)] + args, check=True, capture_output=True, text=True).stdout
    return json.loads(out)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--json")
    ap.add_argument("--no-ort", action="store_true", help="leave ONNX Runtime out")
    ap.add_argument("--pipelines", default="logreg,hgb200,xgb500", help="which pipelines, comma-separated")
    args = ap.parse_args()
    budget = 2.0 if args.quick else 8.0
    warnings.filterwarnings("ignore")
    train, y = churn(20_000, 0)
    test, _ = churn(args.rows, 1)
    one_df = test.iloc[[7]]
    one_dict = {k: v for k, v in test.iloc[7].items()}
    results = {"machine": {"cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(),
                           "python": platform.python_version(), "mlinfer": mlinfer.library_version(),
                           "isa": mlinfer.cpu_isa(), "rows": args.rows}, "pipelines": {}}
    if not args.no_ort:
        try:
            import onnxruntime
            import skl2onnx
            results["machine"].update(onnxruntime=onnxruntime.__version__, skl2onnx=skl2onnx.__version__)
        except ImportError as exc:
            print(f"(no ONNX Runtime figures: {exc})")
            args.no_ort = True
    print(f"{args.rows} rows; cores {os.cpu_count()}; isa {mlinfer.cpu_isa()}")
    for name, est in pipelines().items():
        if name not in args.pipelines.split(","):
            continue
        if est.steps[-1][1] is None:
            print(f"{name:7s} skipped: xgboost is not installed")
            continue
        est.fit(train, y)
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "m.mli")
            mlinfer.export(est, path)
            m = mlinfer.load(path)
            c_one = one_row_c(path, one_dict, budget / 2)
        np.testing.assert_allclose(m.predict_proba(test[:2000]), est.predict_proba(test[:2000]), rtol=1e-5,
                                   atol=1e-6)
        res = {}
        onx = None
        if not args.no_ort:
            onx, why = ort_model(est)
            if onx is None:
                res["onnxruntime"] = {"converted": False, "why": why}
                print(f"{name:7s} ONNX Runtime: not converted: {why}")
            else:  # agreement with scikit-learn, before any timing
                ref = est.predict_proba(test[:20000])
                got = ort_proba(ort_session(onx, 1), test[:20000])
                diff = np.abs(got - ref).max(axis=1)
                agree = {"converted": True, "max_abs_diff": float(diff.max()),
                         "rows_over_1e-5": float((diff > 1e-5).mean()),
                         "labels_equal": float((got.argmax(1) == ref.argmax(1)).mean()), "rows_checked": len(ref)}
                res["onnxruntime"] = agree
                print(f"{name:7s} ONNX Runtime vs scikit-learn on {len(ref)} rows: max |diff| "
                      f"{agree['max_abs_diff']:.2e}, rows over 1e-5 {100 * agree['rows_over_1e-5']:.2f} %, "
                      f"labels equal {100 * agree['labels_equal']:.2f} %")
        for threads in (1, 2):
            mlinfer.set_num_threads(threads)
            fns = {"sklearn": lambda: est.predict_proba(test), "mlinfer": lambda: m.predict_proba(test),
                   "mlinfer_columns": lambda: columns_for(m, test)}
            if onx is not None:
                sess = ort_session(onx, threads)
                fns["onnxruntime"] = lambda sess=sess: ort_proba(sess, test)
                fns["onnxruntime_feed"] = lambda: ort_feed(test)
            with threadpool_limits(threads):
                t = interleave(fns, budget)
            r = {k: summary(v, 1e3) for k, v in t.items()}  # ms
            r["speedup"] = r["sklearn"]["median"] / r["mlinfer"]["median"]
            line = (f"{name:7s} batch {args.rows} rows, {threads} thread(s): sklearn {r['sklearn']['median']:8.1f} ms"
                    f"  mlinfer {r['mlinfer']['median']:7.1f} ms (DataFrame->columns "
                    f"{r['mlinfer_columns']['median']:.1f} ms)  x{r['speedup']:.1f}")
            if onx is not None:
                r["speedup_vs_ort"] = r["onnxruntime"]["median"] / r["mlinfer"]["median"]
                line += (f"; ONNX Runtime {r['onnxruntime']['median']:7.1f} ms (DataFrame->inputs "
                         f"{r['onnxruntime_feed']['median']:.1f} ms)  mlinfer x{r['speedup_vs_ort']:.2f} of it")
            res[f"batch_threads{threads}_ms"] = r
            print(line)
        mlinfer.set_num_threads(1)
        with threadpool_limits(1):
            inner = 20
            t = interleave({"sklearn_df": per_call(lambda: est.predict_proba(one_df), 2),
                            "mlinfer_df": per_call(lambda: m.predict_proba(one_df), inner),
                            "mlinfer_dict": per_call(lambda: m.predict_proba(one_dict), inner),
                            "mlinfer_dict_columns": per_call(lambda: one_row_columns(m, one_dict), inner)}, budget / 2)
        one = {"sklearn_df": summary(t["sklearn_df"], 1e6 / 2)}
        for k in ("mlinfer_df", "mlinfer_dict", "mlinfer_dict_columns"):
            one[k] = summary(t[k], 1e6 / inner)
        if c_one:
            one["c_api"] = c_one
            print(f"{name:7s} one row through the C API (mli_model_predict_columns): {c_one['median_us']:.2f} us")
        res["one_row_us"] = one
        print(f"{name:7s} one row: sklearn (1-row DataFrame) {one['sklearn_df']['median']:.0f} us; mlinfer "
              f"1-row DataFrame {one['mlinfer_df']['median']:.1f} us, dict {one['mlinfer_dict']['median']:.1f} us "
              f"(dict->columns {one['mlinfer_dict_columns']['median']:.1f} us)")
        results["pipelines"][name] = res
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()
