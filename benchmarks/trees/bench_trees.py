#!/usr/bin/env python3
"""Models II benchmark: libmlinfer's tree engine against the peers, same model, same data,
same thread count, in one run.

Models (50 features, synthetic data from scikit-learn's make_classification /
make_regression with a fixed seed, float32-representable values):
  randomforest          scikit-learn RandomForest, 100 trees, max_depth 10
  xgboost               XGBoost gbtree, 500 trees, max_depth 8 (hist)
  lightgbm              LightGBM, 500 trees, 63 leaves
  histgradientboosting  scikit-learn HistGradientBoosting, 200 iterations

Contenders (each where it applies):
  mlinfer        libmlinfer through the Python bindings: the XGBoost JSON / LightGBM text
                 loaded directly, scikit-learn models through mlinfer.export -> .mli
                 (plus, from C, bench_model_c: batch 1 without the ctypes overhead)
  sklearn / xgboost / lightgbm   the framework's own predictor (predict_proba /
                 Booster.inplace_predict / Booster.predict)
  onnxruntime    the model converted by skl2onnx / onnxmltools, CPUExecutionProvider
  treelite_gtil  treelite.gtil.predict on the Treelite model
  tl2cgen        the Treelite model compiled by tl2cgen.export_lib (gcc -O3), cached

Measured per model and thread count (1 and 2, set identically for every contender):
throughput in rows/s at each batch size (median of interleaved repeats, warm-up first),
batch-1 latency in us per call (median over many calls), model load time in ms, and the
agreement of every contender with the framework on the whole batch (max abs/rel diff;
fails when |a - ref| > 1e-5 * max(1, |ref|)).

Usage (from the repository root, libmlinfer built in BUILD):
  MLINFER_LIBRARY=BUILD/libmlinfer.so python3 benchmarks/trees/bench_trees.py
      [--quick] [--threads 1,2] [--models xgboost,lightgbm,randomforest,histgradientboosting]
      [--out benchmarks/results] [--batches 1,100,100000] [--skip treelite_gtil,...]
      [--task classification|regression] [--from-json FILE]
Writes OUT/trees.json, OUT/trees.md and OUT/trees.png (OUT: benchmarks/results, or with
--quick a scratch directory under /tmp so a smoke run never overwrites the real results),
and caches trained models and TL2cgen libraries under OUT/.trees-cache/.
"""
from __future__ import annotations

import argparse
import contextlib
import datetime
import hashlib
import json
import math
import os
import pickle
import platform
import shutil
import subprocess
import sys
import tempfile
import time
import warnings

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
F = 50
TOL = 1e-5

MODELS = ("randomforest", "xgboost", "lightgbm", "histgradientboosting")
ALIASES = {"rf": "randomforest", "xgb": "xgboost", "lgb": "lightgbm", "lgbm": "lightgbm",
           "hgb": "histgradientboosting", "histgb": "histgradientboosting"}
CONTENDERS = ("mlinfer", "framework", "onnxruntime", "treelite_gtil", "tl2cgen")
FRAMEWORK = {"randomforest": "sklearn", "xgboost": "xgboost", "lightgbm": "lightgbm",
             "histgradientboosting": "sklearn"}
DISPLAY = {"mlinfer": "libmlinfer", "mlinfer_c": "libmlinfer (C API)", "sklearn": "scikit-learn",
           "xgboost": "XGBoost inplace_predict", "lightgbm": "LightGBM predict", "onnxruntime": "ONNX Runtime",
           "treelite_gtil": "Treelite GTIL", "tl2cgen": "TL2cgen (compiled)"}
COLORS = {"mlinfer": "#d62728", "sklearn": "#1f77b4", "xgboost": "#2ca02c", "lightgbm": "#9467bd",
          "onnxruntime": "#ff7f0e", "treelite_gtil": "#8c564b", "tl2cgen": "#7f7f7f"}


def model_params(name: str, quick: bool) -> dict:
    if name == "randomforest":
        return {"n_estimators": 10, "max_depth": 6} if quick else {"n_estimators": 100, "max_depth": 10}
    if name == "xgboost":
        return {"n_estimators": 20, "max_depth": 4} if quick else {"n_estimators": 500, "max_depth": 8}
    if name == "lightgbm":
        return {"n_estimators": 20, "num_leaves": 15} if quick else {"n_estimators": 500, "num_leaves": 63}
    return {"max_iter": 10} if quick else {"max_iter": 200}


def model_label(name: str, params: dict) -> str:
    if name == "randomforest":
        return f"RandomForest {params['n_estimators']} trees depth {params['max_depth']}"
    if name == "xgboost":
        return f"XGBoost {params['n_estimators']} trees depth {params['max_depth']}"
    if name == "lightgbm":
        return f"LightGBM {params['n_estimators']} trees {params['num_leaves']} leaves"
    return f"HistGradientBoosting {params['max_iter']} iterations"


# ----------------------------------------------------------------------------------------
# measurement helpers


def _timed(fn, arg, n: int) -> float:
    t0 = time.perf_counter()
    for _ in range(n):
        fn(arg)
    return time.perf_counter() - t0


def _quantiles_us(samples) -> dict:
    a = np.asarray(samples) * 1e6
    q = np.percentile(a, [1, 10, 25, 50, 75, 90, 99])
    return {"median": float(q[3]), "p1": float(q[0]), "p10": float(q[1]), "p25": float(q[2]), "p75": float(q[4]),
            "p90": float(q[5]), "p99": float(q[6]), "mean": float(a.mean()), "min": float(a.min()),
            "calls": int(a.size)}


def cpu_info() -> dict:
    info = {"model": platform.processor() or "unknown", "flags": []}
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    info["model"] = line.split(":", 1)[1].strip()
                elif line.startswith("flags"):
                    flags = line.split(":", 1)[1].split()
                    info["flags"] = sorted(fl for fl in flags if fl.startswith(("avx", "fma", "f16c", "amx", "bmi")))
                    break
    except OSError:
        pass
    return info


def machine_info() -> dict:
    info = {"cpu": cpu_info(), "cpu_count": os.cpu_count(), "platform": platform.platform(),
            "python": platform.python_version()}
    try:
        info["affinity_cpus"] = len(os.sched_getaffinity(0))
    except AttributeError:
        pass
    try:
        with open("/proc/meminfo") as f:
            info["mem_total"] = f.readline().split(":", 1)[1].strip()
    except OSError:
        pass
    try:
        info["gcc"] = subprocess.run(["gcc", "--version"], capture_output=True, text=True).stdout.splitlines()[0]
    except (OSError, IndexError):
        info["gcc"] = None
    info["env"] = {k: os.environ[k] for k in ("MLI_FORCE_ISA", "MLI_THREADS", "OMP_NUM_THREADS", "MLINFER_LIBRARY")
                   if k in os.environ}
    return info


def versions() -> dict:
    out = {}
    for mod in ("numpy", "scipy", "sklearn", "xgboost", "lightgbm", "onnxruntime", "onnx", "skl2onnx",
                "onnxmltools", "treelite", "tl2cgen", "matplotlib", "threadpoolctl"):
        try:
            m = __import__(mod)
            out[mod] = getattr(m, "__version__", "?")
        except Exception as exc:  # noqa: BLE001 -- a missing peer is reported, not fatal
            out[mod] = f"unavailable: {exc}"
    return out


def _err(exc: BaseException) -> str:
    msg = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {msg[0] if msg else ''}"[:300]


def _sha(*parts) -> str:
    h = hashlib.sha256()
    for p in parts:
        h.update(p if isinstance(p, bytes) else json.dumps(p, sort_keys=True, default=str).encode())
    return h.hexdigest()[:16]


# ----------------------------------------------------------------------------------------
# the per-model context: data, trained model, files


class ModelCtx:
    def __init__(self, name, task, params, X_train, y_train, cache, seed, log, train_jobs):
        self.name, self.task, self.params, self.cache, self.log = name, task, params, cache, log
        self.train_jobs = train_jobs
        self.classification = task == "classification"
        self.framework = FRAMEWORK[name]
        self.files = {}
        self.est = None  # scikit-learn estimator
        self.booster = None  # xgboost / lightgbm Booster
        self._treelite = None
        from threadpoolctl import threadpool_limits
        with threadpool_limits(limits=train_jobs):  # OpenMP in HistGradientBoosting's fit
            self._train(X_train, y_train, seed)

    def _train(self, X, y, seed):
        import sklearn
        fw_version = {"sklearn": sklearn.__version__}
        if self.name == "xgboost":
            import xgboost as xgb
            fw_version = {"xgboost": xgb.__version__}
        elif self.name == "lightgbm":
            import lightgbm as lgb
            fw_version = {"lightgbm": lgb.__version__}
        key = _sha(self.name, self.task, self.params, seed, X.shape, fw_version, X[:64].tobytes())
        base = os.path.join(self.cache, "models", f"{self.name}-{self.task}-{key}")
        os.makedirs(os.path.dirname(base), exist_ok=True)
        self.key = key
        t0 = time.perf_counter()
        if self.name == "xgboost":
            import xgboost as xgb
            path = base + ".json"
            if not os.path.exists(path):
                cls = xgb.XGBClassifier if self.classification else xgb.XGBRegressor
                est = cls(tree_method="hist", random_state=seed, n_jobs=self.train_jobs, **self.params)
                est.fit(X, y)
                est.get_booster().save_model(path + ".tmp.json")
                os.replace(path + ".tmp.json", path)
            self.files["xgboost_json"] = path
            self.booster = xgb.Booster(model_file=path)
        elif self.name == "lightgbm":
            import lightgbm as lgb
            path = base + ".txt"
            if not os.path.exists(path):
                cls = lgb.LGBMClassifier if self.classification else lgb.LGBMRegressor
                est = cls(random_state=seed, n_jobs=self.train_jobs, verbose=-1, **self.params)
                est.fit(X, y)
                est.booster_.save_model(path + ".tmp")
                os.replace(path + ".tmp", path)
            self.files["lightgbm_txt"] = path
            self.booster = lgb.Booster(model_file=path)
        else:
            from sklearn.ensemble import (HistGradientBoostingClassifier, HistGradientBoostingRegressor,
                                          RandomForestClassifier, RandomForestRegressor)
            path = base + ".pkl"
            if not os.path.exists(path):
                if self.name == "randomforest":
                    cls = RandomForestClassifier if self.classification else RandomForestRegressor
                    est = cls(random_state=seed, n_jobs=self.train_jobs, **self.params)
                else:
                    cls = HistGradientBoostingClassifier if self.classification else HistGradientBoostingRegressor
                    est = cls(random_state=seed, early_stopping=False, **self.params)
                est.fit(X, y)
                if hasattr(est, "n_jobs"):
                    est.n_jobs = 1
                with open(path + ".tmp", "wb") as f:
                    pickle.dump(est, f, protocol=pickle.HIGHEST_PROTOCOL)
                os.replace(path + ".tmp", path)
            self.files["sklearn_pickle"] = path
            with open(path, "rb") as f:
                self.est = pickle.load(f)
        self.train_or_load_s = time.perf_counter() - t0

    def describe(self) -> dict:
        d = {"params": self.params, "task": self.task, "framework": self.framework, "files": self.files,
             "train_or_cache_load_s": self.train_or_load_s}
        if self.name == "xgboost":
            d["n_trees"] = int(self.booster.num_boosted_rounds())
        elif self.name == "lightgbm":
            d["n_trees"] = int(self.booster.num_trees())
        elif self.name == "randomforest":
            d["n_trees"] = len(self.est.estimators_)
            d["n_nodes"] = int(sum(t.tree_.node_count for t in self.est.estimators_))
        else:
            d["n_iter"] = int(self.est.n_iter_)
        return d

    def treelite_model(self):
        if self._treelite is None:
            import treelite
            if self.name == "xgboost":
                self._treelite = treelite.frontend.load_xgboost_model(self.files["xgboost_json"])
            elif self.name == "lightgbm":
                self._treelite = treelite.frontend.load_lightgbm_model(self.files["lightgbm_txt"])
            else:
                self._treelite = treelite.sklearn.import_model(self.est)
        return self._treelite

    def normalize(self, out, n: int) -> np.ndarray:
        """Any contender's output -> one float64 value per row: the positive-class
        probability (binary classification) or the regression value."""
        a = np.asarray(out, dtype=np.float64).reshape(n, -1)
        if self.classification and a.shape[1] == 2:
            return a[:, 1]
        if a.shape[1] != 1:
            raise ValueError(f"unexpected output shape {np.shape(out)}")
        return a[:, 0]


# ----------------------------------------------------------------------------------------
# contenders: load() -> dict of load figures; set_threads(n); prepare(X) -> input; run(input)


class Contender:
    key = "?"
    dtype = np.float32

    def __init__(self, ctx: ModelCtx, opts):
        self.ctx, self.opts = ctx, opts
        self.threads = 1

    def load(self) -> dict:
        raise NotImplementedError

    def set_threads(self, n: int) -> None:
        self.threads = n

    def prepare(self, X):
        return X if X.dtype == self.dtype else X.astype(self.dtype)

    def run(self, inp):
        raise NotImplementedError

    def _median_ms(self, fn, reps=None):
        reps = reps or self.opts.load_reps
        ts = []
        obj = None
        for _ in range(reps):
            t0 = time.perf_counter()
            obj = fn()
            ts.append((time.perf_counter() - t0) * 1e3)
        return float(np.median(ts)), ts, obj


class SklearnC(Contender):
    key = "sklearn"

    def load(self):
        with open(self.ctx.files["sklearn_pickle"], "rb") as f:
            blob = f.read()
        med, ts, self.est = self._median_ms(lambda: pickle.loads(blob))
        # HistGradientBoosting works in float64 (it converts float32 input); forests in float32.
        self.dtype = np.float64 if self.ctx.name == "histgradientboosting" else np.float32
        self.fn = self.est.predict_proba if self.ctx.classification else self.est.predict
        return {"load_ms": med, "load_ms_samples": ts, "load_what": "pickle.loads of the fitted estimator",
                "input_dtype": np.dtype(self.dtype).name}

    def set_threads(self, n):
        self.threads = n
        if hasattr(self.est, "n_jobs"):
            self.est.n_jobs = n  # RandomForest: joblib threads; HGB: OpenMP, limited by threadpoolctl

    def run(self, inp):
        return self.fn(inp)


class XGBoostC(Contender):
    key = "xgboost"

    def load(self):
        import xgboost as xgb
        path = self.ctx.files["xgboost_json"]
        med, ts, self.booster = self._median_ms(lambda: xgb.Booster(model_file=path))
        return {"load_ms": med, "load_ms_samples": ts, "load_what": "xgboost.Booster(model_file=JSON)",
                "input_dtype": "float32"}

    def set_threads(self, n):
        self.threads = n
        self.booster.set_param({"nthread": n})

    def run(self, inp):
        return self.booster.inplace_predict(inp)


class LightGBMC(Contender):
    key = "lightgbm"

    def load(self):
        import lightgbm as lgb
        path = self.ctx.files["lightgbm_txt"]
        med, ts, self.booster = self._median_ms(lambda: lgb.Booster(model_file=path))
        return {"load_ms": med, "load_ms_samples": ts, "load_what": "lightgbm.Booster(model_file=TXT)",
                "input_dtype": "float32"}

    def run(self, inp):
        return self.booster.predict(inp, num_threads=self.threads)


def _mli_save(model, path):
    """Writes a loaded mlinfer model as .mli: Model.save when the bindings have it, else the
    C call mli_model_save directly."""
    if hasattr(model, "save"):
        model.save(path)
        return
    import ctypes

    from mlinfer import _native
    fn = _native.lib.mli_model_save
    fn.restype = ctypes.c_int
    fn.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
    _native.check(fn(model._h, os.fsencode(path)))


class MlinferC(Contender):
    key = "mlinfer"

    def load(self):
        import mlinfer
        self.mlinfer = mlinfer
        ctx = self.ctx
        d = {"input_dtype": "float32"}
        mli_path = os.path.join(self.opts.cache, "mli", f"{ctx.name}-{ctx.task}-{ctx.key}.mli")
        os.makedirs(os.path.dirname(mli_path), exist_ok=True)
        if ctx.name in ("xgboost", "lightgbm"):
            src = ctx.files["xgboost_json" if ctx.name == "xgboost" else "lightgbm_txt"]
            med, ts, self.model = self._median_ms(lambda: mlinfer.load(src))
            d.update(load_ms=med, load_ms_samples=ts, load_what=f"mlinfer.load({os.path.basename(src)}) directly")
            t0 = time.perf_counter()
            _mli_save(self.model, mli_path)
            d["convert_ms"] = (time.perf_counter() - t0) * 1e3
        else:
            t0 = time.perf_counter()
            mlinfer.export(ctx.est, mli_path)
            d["export_ms"] = (time.perf_counter() - t0) * 1e3
            self.model = None
        med, ts, mli_model = self._median_ms(lambda: mlinfer.load(mli_path))
        d.update(load_ms_mli=med, load_ms_mli_samples=ts, mli_path=mli_path, mli_bytes=os.path.getsize(mli_path))
        if self.model is None:
            self.model = mli_model
            d.update(load_ms=med, load_ms_samples=ts, load_what="mlinfer.load(.mli from mlinfer.export)")
        self.mli_model = mli_model  # the converted file, checked for agreement too
        self.model_path = ctx.files.get("xgboost_json") or ctx.files.get("lightgbm_txt") or mli_path
        self.fn = self._fn_for(self.model)
        self.mli_fn = self._fn_for(mli_model)
        try:
            d["n_trees"] = int(mlinfer._native.lib.mli_model_n_trees(self.model._h))
        except Exception:  # noqa: BLE001 -- informative only
            pass
        return d

    def _fn_for(self, model):
        if self.ctx.classification:
            if not model.is_classifier:
                # a probability model without labels (e.g. XGBoost binary:logistic as a regressor)
                return model.predict
            return model.predict_proba
        return model.predict

    def set_threads(self, n):
        self.threads = n
        self.mlinfer.set_num_threads(n)

    def run(self, inp):
        return self.fn(inp)


class OnnxRuntimeC(Contender):
    key = "onnxruntime"

    def _convert(self) -> bytes:
        ctx = self.ctx
        if ctx.name == "xgboost":
            import onnxmltools
            from onnxmltools.convert.common.data_types import FloatTensorType
            onx = onnxmltools.convert_xgboost(ctx.booster, initial_types=[("input", FloatTensorType([None, F]))])
        elif ctx.name == "lightgbm":
            import onnxmltools
            from onnxmltools.convert.common.data_types import FloatTensorType
            onx = onnxmltools.convert_lightgbm(ctx.booster, initial_types=[("input", FloatTensorType([None, F]))],
                                               zipmap=False)
        else:
            from skl2onnx import to_onnx
            options = {id(ctx.est): {"zipmap": False}} if ctx.classification else None
            with _skl2onnx_bool_workaround():
                onx = to_onnx(ctx.est, np.zeros((1, F), dtype=np.float32), options=options)
        return onx.SerializeToString()

    def load(self):
        t0 = time.perf_counter()
        self.blob = self._convert()
        convert_s = time.perf_counter() - t0
        med, ts, self.sess = self._median_ms(lambda: self._session(1))
        self.sessions = {1: self.sess}
        return {"load_ms": med, "load_ms_samples": ts, "load_what": "onnxruntime.InferenceSession(model bytes)",
                "convert_s": convert_s, "onnx_bytes": len(self.blob), "input_dtype": "float32",
                "opsets": self.opsets}

    def _session(self, n):
        import onnxruntime as ort
        so = ort.SessionOptions()
        so.intra_op_num_threads = n
        so.inter_op_num_threads = 1
        so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        so.log_severity_level = 3
        sess = ort.InferenceSession(self.blob, sess_options=so, providers=["CPUExecutionProvider"])
        self.in_name = sess.get_inputs()[0].name
        outs = [o.name for o in sess.get_outputs()]
        self.out_name = next((o for o in outs if "prob" in o.lower()), outs[-1]) if self.ctx.classification \
            else outs[0]
        import onnx
        m = onnx.load_from_string(self.blob)
        self.opsets = {o.domain or "ai.onnx": o.version for o in m.opset_import}
        return sess

    def set_threads(self, n):
        self.threads = n
        if n not in self.sessions:
            self.sessions[n] = self._session(n)
        self.sess = self.sessions[n]

    def run(self, inp):
        return self.sess.run([self.out_name], {self.in_name: inp})[0]


@contextlib.contextmanager
def _skl2onnx_bool_workaround():
    """skl2onnx 1.20 passes numpy/Python booleans in integer-list attributes of the tree
    ensemble nodes for HistGradientBoosting (nodes_missing_value_tracks_true), which onnx
    rejects with "Expected an int, got a boolean". Cast them to int while converting."""
    from skl2onnx.common import _container
    cls = _container.ModelComponentContainer
    orig = cls.add_node

    def add_node(self, op_type, inputs, outputs, op_domain="", op_version=None, name=None, **attrs):
        for k, v in list(attrs.items()):
            if isinstance(v, (list, tuple)) and any(isinstance(e, (bool, np.bool_)) for e in v):
                attrs[k] = [int(e) for e in v]
            elif isinstance(v, np.ndarray) and v.dtype == np.bool_:
                attrs[k] = v.astype(np.int64)
        return orig(self, op_type, inputs, outputs, op_domain=op_domain, op_version=op_version, name=name, **attrs)

    cls.add_node = add_node
    try:
        yield
    finally:
        cls.add_node = orig


class GtilC(Contender):
    key = "treelite_gtil"

    def load(self):
        import treelite
        ctx = self.ctx
        if ctx.name == "xgboost":
            fn, what = (lambda: treelite.frontend.load_xgboost_model(ctx.files["xgboost_json"])), \
                "treelite.frontend.load_xgboost_model(JSON)"
        elif ctx.name == "lightgbm":
            fn, what = (lambda: treelite.frontend.load_lightgbm_model(ctx.files["lightgbm_txt"])), \
                "treelite.frontend.load_lightgbm_model(TXT)"
        else:
            fn, what = (lambda: treelite.sklearn.import_model(ctx.est)), "treelite.sklearn.import_model(estimator)"
        med, ts, self.model = self._median_ms(fn)
        ctx._treelite = self.model
        blob = self.model.serialize_bytes()
        med2, ts2, _ = self._median_ms(lambda: treelite.Model.deserialize_bytes(blob))
        return {"load_ms": med, "load_ms_samples": ts, "load_what": what, "load_ms_checkpoint": med2,
                "load_ms_checkpoint_samples": ts2, "input_dtype": "float32"}

    def run(self, inp):
        import treelite
        return treelite.gtil.predict(self.model, inp, nthread=self.threads)


class Tl2cgenC(Contender):
    key = "tl2cgen"

    def load(self):
        import tl2cgen
        self.tl2cgen = tl2cgen
        tl_model = self.ctx.treelite_model()
        # Translation units compiled in parallel: at least one per CPU, and small units for big
        # models, as gcc -O3 slows down more than linearly with the size of a function (100
        # trees of depth 10 took 193 s in 3 units; 500 trees of depth 8 took 27 s in 15).
        ncpu = max(1, os.cpu_count() or 1)
        ncomp = max(ncpu, min(32, int(tl_model.num_tree) // 4))
        options = ["-O3"]
        key = _sha(tl_model.serialize_bytes(), tl2cgen.__version__, options, ncomp, platform.machine())
        libdir = os.path.join(self.opts.cache, "tl2cgen")
        os.makedirs(libdir, exist_ok=True)
        self.libpath = os.path.join(libdir, f"{self.ctx.name}-{self.ctx.task}-{key}.so")
        meta_path = self.libpath + ".json"
        d = {"input_dtype": "float32", "libpath": self.libpath}
        if os.path.exists(self.libpath) and os.path.exists(meta_path):
            with open(meta_path) as f:
                meta = json.load(f)
            d.update(compile_s=meta["compile_s"], compile_cached=True, compile_options=meta["options"],
                     parallel_comp=meta["parallel_comp"])
        else:
            tmp = self.libpath + f".tmp{os.getpid()}.so"
            t0 = time.perf_counter()
            logpath = self.libpath + ".log"
            try:
                with _quiet_fds(logpath):
                    tl2cgen.export_lib(tl_model, toolchain="gcc", libpath=tmp, params={"parallel_comp": ncomp},
                                       nthread=ncpu, options=options)
            except Exception as exc:
                with open(logpath, errors="replace") as f:
                    tail = f.read()[-500:]
                raise RuntimeError(f"tl2cgen.export_lib failed: {_err(exc)}; log {logpath}: {tail}") from exc
            compile_s = time.perf_counter() - t0
            os.replace(tmp, self.libpath)
            with open(meta_path, "w") as f:
                json.dump({"compile_s": compile_s, "options": options, "parallel_comp": ncomp,
                           "compiled_at": datetime.datetime.now().isoformat(timespec="seconds")}, f)
            d.update(compile_s=compile_s, compile_cached=False, compile_options=options, parallel_comp=ncomp)
        # dlopen of a path already loaded only bumps a reference count, so each timed load
        # opens its own copy of the library (the copy is not timed).
        copies = []
        with tempfile.TemporaryDirectory(prefix="mli-tl2cgen-") as tmpdir:
            for i in range(self.opts.load_reps):
                copies.append(os.path.join(tmpdir, f"lib{i}.so"))
                shutil.copyfile(self.libpath, copies[-1])
            it = iter(copies)
            med, ts, _ = self._median_ms(lambda: tl2cgen.Predictor(next(it), nthread=1))
        self.pred = tl2cgen.Predictor(self.libpath, nthread=1)
        self.preds = {1: self.pred}
        d.update(load_ms=med, load_ms_samples=ts, load_what="tl2cgen.Predictor(.so) (dlopen of a fresh copy)")
        return d

    def set_threads(self, n):
        self.threads = n
        if n not in self.preds:
            self.preds[n] = self.tl2cgen.Predictor(self.libpath, nthread=n)
        self.pred = self.preds[n]

    def prepare(self, X):
        # The DMatrix is built outside the timed calls: the peer at its best.
        return self.tl2cgen.DMatrix(np.ascontiguousarray(X, dtype=np.float32), dtype="float32")

    def run(self, inp):
        return self.pred.predict(inp)


@contextlib.contextmanager
def _quiet_fds(logpath):
    """Sends the C++ log lines of the compilers (written to fd 1/2 directly) to a file."""
    saved = [os.dup(1), os.dup(2)]
    try:
        with open(logpath, "w") as dn:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(dn.fileno(), 1)
            os.dup2(dn.fileno(), 2)
            yield
    finally:
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for fd in saved:
            os.close(fd)


def contender_classes(name: str):
    fw = {"sklearn": SklearnC, "xgboost": XGBoostC, "lightgbm": LightGBMC}[FRAMEWORK[name]]
    return {"mlinfer": MlinferC, "framework": fw, "onnxruntime": OnnxRuntimeC, "treelite_gtil": GtilC,
            "tl2cgen": Tl2cgenC}


# ----------------------------------------------------------------------------------------
# the run


class Bench:
    def __init__(self, opts, log):
        self.opts, self.log = opts, log

    def throughput(self, active, X, batch, th, res, ref, ctx):
        """Interleaved repeats of `inner` back-to-back calls on the same `batch` rows."""
        opts = self.opts
        n = batch
        Xb = X[:n]
        inputs, inner = {}, {}
        for c in list(active):
            try:
                inp = c.prepare(Xb)
                t0 = time.perf_counter()
                out = c.run(inp)  # warm-up (and the agreement check)
                t = time.perf_counter() - t0
                if t < opts.min_repeat_s:  # short calls: time one warm call to size the repeats
                    t = _timed(c.run, inp, 1)
                inputs[c.key], inner[c.key] = inp, max(1, min(100000, math.ceil(opts.min_repeat_s / max(t, 1e-7))))
                if ref is not None and batch == max(opts.batches):
                    self.check(c, ctx.normalize(out, n), ref[:n], res[c.key], th)
            except Exception as exc:  # noqa: BLE001 -- a failing contender is reported and dropped
                self.fail(c, active, res, f"batch {batch}, {th} thread(s): {_err(exc)}")
        samples = {c.key: [] for c in active}
        reps = opts.repeats_large if batch >= 10000 else opts.repeats_small
        for r in range(reps):
            order = active[r % len(active):] + active[:r % len(active)] if active else []
            for c in order:
                if c not in active:
                    continue
                try:
                    t = _timed(c.run, inputs[c.key], inner[c.key])
                except Exception as exc:  # noqa: BLE001
                    self.fail(c, active, res, f"batch {batch}, {th} thread(s): {_err(exc)}")
                    continue
                samples[c.key].append(n * inner[c.key] / t)
        for c in active:
            s = samples[c.key]
            res[c.key]["threads"][str(th)]["batch"][str(batch)] = {
                "rows_per_s": float(np.median(s)), "rows_per_s_samples": [float(v) for v in s],
                "inner_calls": inner[c.key], "repeats": reps}

    def latency(self, active, X, th, res):
        """Batch 1: each call timed alone, rows cycling through 256 distinct rows; contenders
        interleaved in rounds."""
        opts = self.opts
        rows = [np.ascontiguousarray(X[i:i + 1]) for i in range(min(256, len(X)))]
        inputs, calls = {}, {}
        for c in list(active):
            try:
                inp = [c.prepare(r) for r in rows]
                for i in range(3):
                    c.run(inp[i % len(inp)])
                t = math.inf
                for i in range(5):  # a rough per-call time, to size the warm-up and the sample
                    t0 = time.perf_counter()
                    c.run(inp[i % len(inp)])
                    t = min(t, time.perf_counter() - t0)
                t = max(t, 1e-7)
                for i in range(int(min(200, max(2, 0.05 * opts.latency_budget_s / t)))):
                    c.run(inp[i % len(inp)])
                inputs[c.key] = inp
                calls[c.key] = int(min(opts.latency_max_calls, max(opts.latency_min_calls,
                                                                    opts.latency_budget_s / t)))
            except Exception as exc:  # noqa: BLE001
                self.fail(c, active, res, f"batch 1, {th} thread(s): {_err(exc)}")
        samples = {c.key: [] for c in active}
        rounds = 5
        perf = time.perf_counter
        for r in range(rounds):
            order = active[r % len(active):] + active[:r % len(active)] if active else []
            for c in order:
                if c not in active:
                    continue
                inp, run, s = inputs[c.key], c.run, samples[c.key]
                m = len(inp)
                start = r * math.ceil(calls[c.key] / rounds)
                try:
                    for i in range(start, min(calls[c.key], start + math.ceil(calls[c.key] / rounds))):
                        x = inp[i % m]
                        t0 = perf()
                        run(x)
                        s.append(perf() - t0)
                except Exception as exc:  # noqa: BLE001
                    self.fail(c, active, res, f"batch 1, {th} thread(s): {_err(exc)}")
        for c in active:
            res[c.key]["threads"][str(th)]["batch1_us"] = _quantiles_us(samples[c.key])

    def check(self, c, got, ref, r, th):
        diff = np.abs(got - ref)
        rel = diff / np.maximum(np.abs(ref), 1e-12)
        ok = bool(np.all(diff <= TOL * np.maximum(1.0, np.abs(ref))) and np.all(np.isfinite(got)))
        prev = r.get("agreement")
        cur = {"max_abs": float(diff.max()), "max_rel": float(rel.max()),
               "max_scaled": float((diff / np.maximum(1.0, np.abs(ref))).max()), "rows": int(len(ref)), "ok": ok,
               "threads_checked": [th]}
        if prev:
            cur = {"max_abs": max(prev["max_abs"], cur["max_abs"]), "max_rel": max(prev["max_rel"], cur["max_rel"]),
                   "max_scaled": max(prev["max_scaled"], cur["max_scaled"]), "rows": cur["rows"],
                   "ok": prev["ok"] and ok, "threads_checked": prev["threads_checked"] + [th]}
        r["agreement"] = cur
        if not ok:
            self.log(f"    !! {c.key}: disagrees with the framework (max abs {cur['max_abs']:.3g}, "
                     f"max rel {cur['max_rel']:.3g})")

    def fail(self, c, active, res, msg):
        self.log(f"    {c.key}: {msg}")
        res[c.key]["status"] = "error: " + msg
        if c in active:
            active.remove(c)

    def run_c(self, ctx, mli, X, res):
        """libmlinfer from C (bench_model_c): batch 1 without ctypes, the batches, load."""
        opts = self.opts
        runner = opts.c_runner
        out = {}
        if not runner or not os.path.exists(runner):
            res["c"] = {"status": f"not run: bench_model_c not found at {runner}"}
            return
        xpath = os.path.join(opts.cache, f"x-{ctx.key}-{len(X)}.f32")
        np.ascontiguousarray(X, dtype=np.float32).tofile(xpath)
        output = "predict"
        if ctx.classification and mli.fn.__name__ == "predict_proba":
            output = "proba"
        small = [b for b in opts.batches if 1 < b < len(X)]
        for th in opts.threads:
            cmd = [runner, mli.model_path, xpath, str(F), str(th), "--output", output, "--single-reps",
                   str(opts.c_single_reps), "--batch-reps", str(opts.repeats_large), "--load-reps",
                   str(opts.load_reps)]
            if small:
                cmd += ["--small-batch", str(small[0])]
            try:
                p = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
                if p.returncode != 0:
                    out[str(th)] = {"status": f"error: rc={p.returncode}: {p.stderr.strip()[:300]}"}
                else:
                    out[str(th)] = json.loads(p.stdout)
            except (OSError, subprocess.TimeoutExpired, ValueError) as exc:
                out[str(th)] = {"status": f"error: {_err(exc)}"}
        os.unlink(xpath)
        bad = [f"{th} thread(s): {v['status']}" for th, v in out.items() if "status" in v]
        res["c"] = {"status": ("error: " + "; ".join(bad)) if bad else "ok", "runner": runner,
                    "model_path": mli.model_path, "output": output, "threads": out}

    def model(self, name) -> dict:
        opts, log = self.opts, self.log
        from threadpoolctl import threadpool_limits
        params = model_params(name, opts.quick)
        log(f"\n== {model_label(name, params)} ({opts.task})")
        t0 = time.perf_counter()
        # training threads: 1 for the smoke run (robust on a busy machine), all CPUs otherwise
        ctx = ModelCtx(name, opts.task, params, opts.X_train, opts.y_train, opts.cache, opts.seed, log,
                       1 if opts.quick else (os.cpu_count() or 1))
        result = {"label": model_label(name, params), **ctx.describe(), "contenders": {}}
        log(f"   model ready in {ctx.train_or_load_s:.1f} s ({ctx.files})")
        X = opts.X_pool
        nmax = max(opts.batches)
        # the reference: the framework's own output, 1 thread
        with threadpool_limits(limits=1):
            if name == "xgboost":
                ctx.booster.set_param({"nthread": 1})
                ref = ctx.normalize(ctx.booster.inplace_predict(X[:nmax]), nmax)
            elif name == "lightgbm":
                ref = ctx.normalize(ctx.booster.predict(X[:nmax], num_threads=1), nmax)
            else:
                fn = ctx.est.predict_proba if ctx.classification else ctx.est.predict
                Xin = X[:nmax].astype(np.float64) if name == "histgradientboosting" else X[:nmax]
                ref = ctx.normalize(fn(Xin), nmax)
        active = []
        res = result["contenders"]
        for role, cls in contender_classes(name).items():
            if role in opts.skip or cls.key in opts.skip:
                continue
            c = cls(ctx, opts)
            r = res[c.key] = {"display": DISPLAY[c.key], "role": "framework" if role == "framework" else "peer",
                              "status": "ok", "threads": {str(th): {"batch": {}} for th in opts.threads}}
            if c.key == "mlinfer":
                r["role"] = "mlinfer"
            try:
                r.update(c.load())
                active.append(c)
                log(f"   {c.key}: loaded in {r['load_ms']:.2f} ms"
                    + (f" (compile {r['compile_s']:.1f} s{', cached' if r.get('compile_cached') else ''})"
                       if "compile_s" in r else ""))
            except Exception as exc:  # noqa: BLE001 -- e.g. mlinfer without tree support yet
                r["status"] = ("unsupported: " if c.key == "mlinfer" else "error: ") + _err(exc)
                log(f"   {c.key}: {r['status']}")
        mli = next((c for c in active if c.key == "mlinfer"), None)
        if mli is not None:  # the converted .mli must agree too
            try:
                got = ctx.normalize(mli.mli_fn(X[:nmax]), nmax)
                tmp = {}
                self.check(mli, got, ref, tmp, 0)
                res["mlinfer"]["agreement_mli_file"] = tmp["agreement"]
            except Exception as exc:  # noqa: BLE001
                res["mlinfer"]["agreement_mli_file"] = {"ok": False, "error": _err(exc)}
        for th in opts.threads:
            with threadpool_limits(limits=th):
                for c in active:
                    c.set_threads(th)
                for batch in sorted(opts.batches, reverse=True):
                    if batch == 1:
                        self.latency(active, X, th, res)
                    else:
                        self.throughput(active, X, batch, th, res, ref, ctx)
                figs = []
                for c in active:
                    v = _get(res[c.key], "threads", str(th), "batch", str(nmax), "rows_per_s")
                    lat = _get(res[c.key], "threads", str(th), "batch1_us", "median")
                    figs.append(f"{c.key} {fmt_rate(v)}, {fmt_us(lat)}")
                log(f"   {th} thread(s), batch {nmax} / batch 1: " + "; ".join(figs))
        if mli is not None:
            mli.set_threads(1)
            self.run_c(ctx, mli, X[:nmax], res["mlinfer"])
        for c in active:  # agreement measured with every thread count
            if "agreement" not in res[c.key]:
                res[c.key]["agreement"] = {"ok": None, "note": "largest batch not measured"}
        result["elapsed_s"] = time.perf_counter() - t0
        return result


# ----------------------------------------------------------------------------------------
# reporting


def fmt_rate(v):
    if v is None:
        return "-"
    if v >= 1e6:
        return f"{v / 1e6:.2f} M/s"
    if v >= 1e3:
        return f"{v / 1e3:.1f} k/s"
    return f"{v:.0f} /s"


def fmt_us(v):
    if v is None:
        return "-"
    if v >= 1000:
        return f"{v / 1000:.2f} ms"
    return f"{v:.1f} us" if v >= 10 else f"{v:.2f} us"


def fmt_ms(v):
    return "-" if v is None else (f"{v:.1f}" if v >= 10 else f"{v:.2f}")


def _get(d, *path):
    for p in path:
        if not isinstance(d, dict) or p not in d:
            return None
        d = d[p]
    return d


def order_keys(contenders: dict):
    pref = ["mlinfer", "sklearn", "xgboost", "lightgbm", "onnxruntime", "treelite_gtil", "tl2cgen"]
    return [k for k in pref if k in contenders] + [k for k in contenders if k not in pref]


def markdown(results: dict) -> str:
    cfg = results["config"]
    threads = [str(t) for t in cfg["threads"]]
    batches = sorted(cfg["batches"], reverse=True)
    big = str(batches[0])
    small = [str(b) for b in batches[1:] if b > 1]
    m = results["machine"]
    v = results["versions"]
    lines = [f"# Tree benchmark{' (quick smoke run: tiny models, not a measurement)' if cfg['quick'] else ''}",
             "",
             f"Machine: {m['cpu']['model']}, {m.get('affinity_cpus', m['cpu_count'])} CPUs available, "
             f"{m['platform']}; libmlinfer {results.get('mlinfer', {}).get('version', '?')} "
             f"(kernels: {results.get('mlinfer', {}).get('isa', '?')}); "
             f"scikit-learn {v.get('sklearn')}, xgboost {v.get('xgboost')}, lightgbm {v.get('lightgbm')}, "
             f"onnxruntime {v.get('onnxruntime')}, skl2onnx {v.get('skl2onnx')}, onnxmltools {v.get('onnxmltools')}, "
             f"treelite {v.get('treelite')}, tl2cgen {v.get('tl2cgen')}; {m.get('gcc')}.",
             f"Task: {cfg['task']}, {cfg['n_features']} features, trained on {cfg['n_train']} rows, seed "
             f"{cfg['seed']}; load average {results.get('loadavg_start')} at start, "
             f"{results.get('loadavg_end')} at end.",
             "",
             *([f"**Warning: load average {results.get('loadavg_start')} at start on "
                f"{m.get('affinity_cpus', m['cpu_count'])} CPUs: the machine was not quiet; "
                "multi-thread figures in particular are unreliable.**", ""]
               if _busy(results) else []),
             "Throughput in rows/s (median of interleaved repeats); batch 1 in microseconds per call from Python "
             "(median), and for libmlinfer also from C; load in ms (median); agreement with the framework "
             "over the largest batch (max abs diff; OK when every |diff| <= 1e-5 * max(1, |ref|)).",
             ""]
    for name, r in results["models"].items():
        lines.append(f"## {r['label']}")
        lines.append("")
        if "error" in r:
            lines += [f"Not run: {r['error']}", ""]
            continue
        hdr = ["contender"] + [f"{big} rows, {t}T" for t in threads] + \
              [f"{s} rows, {t}T" for s in small for t in threads] + [f"batch 1, {t}T" for t in threads] + \
              ["load ms", "max abs diff", "agrees"]
        lines.append("| " + " | ".join(hdr) + " |")
        lines.append("|" + "---|" * len(hdr))
        cs = r["contenders"]
        for k in order_keys(cs):
            c = cs[k]
            name_cell = c["display"] + (" (framework)" if c.get("role") == "framework" else "")
            if c["status"] != "ok" and not _get(c, "threads", threads[0], "batch"):
                lines.append(f"| {name_cell} | " + " | ".join(["-"] * (len(hdr) - 2)) + f" | {c['status']} |")
                continue
            row = [name_cell]
            row += [fmt_rate(_get(c, "threads", t, "batch", big, "rows_per_s")) for t in threads]
            row += [fmt_rate(_get(c, "threads", t, "batch", s, "rows_per_s")) for s in small for t in threads]
            row += [fmt_us(_get(c, "threads", t, "batch1_us", "median")) for t in threads]
            row.append(fmt_ms(c.get("load_ms")))
            ag = c.get("agreement") or {}
            row.append("-" if ag.get("max_abs") is None else f"{ag['max_abs']:.2g}")
            row.append({True: "OK", False: "**NO**", None: "-"}[ag.get("ok")] +
                       ("" if c["status"] == "ok" else f" ({c['status']})"))
            lines.append("| " + " | ".join(row) + " |")
            if k == "mlinfer" and _get(c, "c", "threads"):
                ct = c["c"]["threads"]
                crow = [DISPLAY["mlinfer_c"]]
                crow += [fmt_rate(_get(ct, t, "batch_rows_per_s_median")) for t in threads]
                crow += [fmt_rate(_get(ct, t, "small_batch_rows_per_s")) if _get(ct, t, "small_batch") == int(s)
                         else "-" for s in small for t in threads]
                crow += [fmt_us(_get(ct, t, "single_row_us_p50")) for t in threads]
                crow += [fmt_ms(_get(ct, threads[0], "load_ms")), "(same engine)", ""]
                lines.append("| " + " | ".join(crow) + " |")
        # load details
        lines.append("")
        det = []
        mc = cs.get("mlinfer", {})
        if mc.get("status") == "ok":
            if "load_ms_mli" in mc and mc.get("load_what", "").startswith("mlinfer.load(") and "directly" in \
                    mc.get("load_what", ""):
                det.append(f"libmlinfer load: {fmt_ms(mc['load_ms'])} ms from the framework's file, "
                           f"{fmt_ms(mc['load_ms_mli'])} ms from the converted .mli ({mc.get('mli_bytes', 0)} bytes)")
            else:
                det.append(f"libmlinfer load: {fmt_ms(mc.get('load_ms_mli'))} ms (.mli, "
                           f"{mc.get('mli_bytes', 0)} bytes; export {fmt_ms(mc.get('export_ms'))} ms)")
            cl = _get(mc, "c", "threads", threads[0], "load_ms")
            if cl is not None:
                det.append(f"{fmt_ms(cl)} ms from C")
            ag = mc.get("agreement_mli_file") or {}
            if ag:
                det.append(f".mli file agrees: {'OK' if ag.get('ok') else 'NO'}"
                           + (f" (max abs {ag['max_abs']:.2g})" if "max_abs" in ag else ""))
        tl = cs.get("tl2cgen", {})
        if "compile_s" in tl:
            det.append(f"TL2cgen compile {tl['compile_s']:.1f} s (gcc {' '.join(tl.get('compile_options', []))}, "
                       f"{tl.get('parallel_comp')} units{', cached' if tl.get('compile_cached') else ''})")
        gt = cs.get("treelite_gtil", {})
        if "load_ms_checkpoint" in gt:
            det.append(f"Treelite checkpoint load {fmt_ms(gt['load_ms_checkpoint'])} ms")
        ox = cs.get("onnxruntime", {})
        if "convert_s" in ox:
            det.append(f"ONNX conversion {ox['convert_s'] * 1e3:.0f} ms")
        if det:
            lines += ["Load: " + "; ".join(det) + ".", ""]
    # targets from the issue
    lines += ["## Targets (issue 6)", "", "| target | threads | figure | met |", "|---|---|---|---|"]
    for t in targets(results):
        lines.append(f"| {t['target']} | {t['threads']} | {t['figure']} | {t['met']} |")
    lines.append("")
    return "\n".join(lines)


def _busy(results: dict) -> bool:
    try:
        load1 = max(float(results["loadavg_start"].split()[0]), float(results["loadavg_end"].split()[0]))
    except (KeyError, ValueError, IndexError, AttributeError):
        return False
    m = results["machine"]
    return load1 > 0.5 * (m.get("affinity_cpus") or m.get("cpu_count") or 1)


def targets(results: dict):
    out = []
    cfg = results["config"]
    big = str(max(cfg["batches"]))
    models = results["models"]

    def add(target, th, fig, met):
        out.append({"target": target, "threads": th,
                    "figure": fig, "met": "-" if met is None else ("yes" if met else "**no**")})

    for name, r in models.items():
        cs = r.get("contenders", {})
        mli = cs.get("mlinfer", {})
        for th in (str(t) for t in cfg["threads"]):
            mine = _get(mli, "threads", th, "batch", big, "rows_per_s")
            for peer, need in (("xgboost", 3.0), ("onnxruntime", 2.0), ("tl2cgen", 1.0)):
                if peer == "xgboost" and name != "xgboost":
                    continue
                theirs = _get(cs.get(peer, {}), "threads", th, "batch", big, "rows_per_s")
                if theirs is None:
                    continue
                ratio = None if mine is None else mine / theirs
                add(f"{r['label']}: batch {big} >= {need:g}x {DISPLAY[peer]}", th,
                    "mlinfer n/a" if ratio is None else f"{ratio:.2f}x ({fmt_rate(mine)} vs {fmt_rate(theirs)})",
                    None if ratio is None else ratio >= need)
        limit = {"xgboost": 15.0, "randomforest": 10.0}.get(name)
        if limit is not None:
            py = _get(mli, "threads", "1", "batch1_us", "median")
            c = _get(mli, "c", "threads", "1", "single_row_us_p50")
            add(f"{r['label']}: batch 1 < {limit:g} us (C API)", "1", fmt_us(c), None if c is None else c < limit)
            add(f"{r['label']}: batch 1 < {limit:g} us (from Python)", "1", fmt_us(py),
                None if py is None else py < limit)
        if name == "xgboost":
            for key, what in (("load_ms", "the XGBoost JSON"), ("load_ms_mli", "the converted .mli")):
                v = mli.get(key)
                add(f"{r['label']}: load {what} < 20 ms", "-", "n/a" if v is None else f"{fmt_ms(v)} ms",
                    None if v is None else v < 20)
    return out


def _short(v: float) -> str:
    return f"{v / 1e6:.3g}M" if v >= 1e6 else (f"{v / 1e3:.3g}k" if v >= 1e3 else f"{v:.3g}")


def plot(results: dict, path: str) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch
    cfg = results["config"]
    threads = [str(t) for t in cfg["threads"]]
    big = str(max(cfg["batches"]))
    models = [n for n, r in results["models"].items() if "contenders" in r]
    slots = ["mlinfer", "framework", "onnxruntime", "treelite_gtil", "tl2cgen"]
    fig, axes = plt.subplots(1, len(threads), figsize=(6.5 * len(threads), 5.6), sharey=True, squeeze=False)
    width = 0.8 / len(slots)
    used, vals = [], []
    for ax, th in zip(axes[0], threads):
        for i, n in enumerate(models):
            cs = results["models"][n]["contenders"]
            for j, slot in enumerate(slots):
                key = FRAMEWORK[n] if slot == "framework" else slot
                x = i + (j - (len(slots) - 1) / 2) * width
                v = _get(cs.get(key, {}), "threads", th, "batch", big, "rows_per_s")
                if not v:
                    if key in cs:
                        ax.text(x, 0.02, "n/a", transform=ax.get_xaxis_transform(), ha="center", fontsize=6,
                                rotation=90)
                    continue
                vals.append(v)
                ax.bar(x, v, width=width, color=COLORS.get(key), edgecolor="black", linewidth=0.4)
                ax.text(x, v * 1.08, _short(v), ha="center", va="bottom", fontsize=5.5, rotation=90)
                if key not in used:
                    used.append(key)
        ax.set_yscale("log")
        ax.set_xticks(range(len(models)))
        ax.set_xticklabels([results["models"][n]["label"].replace(" trees", "\ntrees").replace(" iter", "\niter")
                            for n in models], fontsize=8)
        ax.set_title(f"{th} thread{'s' if th != '1' else ''}, batch {int(big):,} rows", fontsize=10)
        ax.grid(axis="y", which="both", alpha=0.3)
    if vals:
        axes[0][0].set_ylim(min(vals) / 3, max(vals) * 6)  # shared; room for the labels
    axes[0][0].set_ylabel("rows per second (log scale, higher is better)")
    handles = [Patch(facecolor=COLORS.get(k), edgecolor="black", linewidth=0.4,
                     label=DISPLAY.get(k, k) + (" (framework's own)" if k in FRAMEWORK.values() else ""))
               for k in order_keys({k: None for k in used})]
    if handles:  # none when no batch of 100 000 rows was measured
        fig.legend(handles=handles, loc="lower center", ncol=min(4, len(handles)), fontsize=8, frameon=False)
    cpu = results["machine"]["cpu"]["model"]
    fig.suptitle(f"Tree ensembles, {cfg['n_features']} features, {cfg['task']}: libmlinfer vs peers ({cpu}"
                 f"{'; QUICK smoke run, tiny models' if cfg['quick'] else ''})", fontsize=10)
    fig.tight_layout(rect=(0, 0.08, 1, 1))
    fig.savefig(path, dpi=130)
    plt.close(fig)


def print_summary(results, md_path, json_path, png_path):
    print(markdown(results))
    print(f"wrote {json_path}\nwrote {md_path}\nwrote {png_path}")


# ----------------------------------------------------------------------------------------


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true",
                    help="smoke test: tiny models, batches 1/100/1000, few repeats (< 1 min); not a measurement")
    ap.add_argument("--threads", default="1,2", help="thread counts, comma-separated (default 1,2)")
    ap.add_argument("--models", default=",".join(MODELS), help="comma-separated subset of " + ", ".join(MODELS))
    ap.add_argument("--batches", default=None, help="batch sizes (default 1,100,100000; quick 1,100,1000)")
    ap.add_argument("--out", default=None, help="output directory (default benchmarks/results; with --quick "
                                                "a directory under the system temporary directory)")
    ap.add_argument("--name", default="trees", help="output file stem (default trees)")
    ap.add_argument("--cache", default=None, help="cache for trained models and TL2cgen libraries "
                                                  "(default OUT/.trees-cache)")
    ap.add_argument("--skip", default="", help="contenders to leave out: mlinfer, framework, onnxruntime, "
                                               "treelite_gtil, tl2cgen")
    ap.add_argument("--task", default="classification", choices=("classification", "regression"))
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--n-train", type=int, default=None, help="training rows (default 20000, quick 2000)")
    ap.add_argument("--repeats", type=int, default=None, help="repeats at the largest batch (default 5, quick 2)")
    ap.add_argument("--c-runner", default=None, help="bench_model_c (default: next to MLINFER_LIBRARY, "
                                                      "benchmarks/bench_model_c)")
    ap.add_argument("--from-json", default=None, help="only rewrite the .md and .png from this results JSON")
    a = ap.parse_args(argv)
    a.threads = [int(t) for t in a.threads.split(",") if t]
    models = []
    for m in a.models.split(","):
        m = ALIASES.get(m.strip().lower(), m.strip().lower())
        if m and m not in MODELS:
            ap.error(f"unknown model {m!r}; choose from {', '.join(MODELS)}")
        if m:
            models.append(m)
    a.models = models
    a.skip = {s.strip() for s in a.skip.split(",") if s.strip()}
    default_batches = "1,100,1000" if a.quick else "1,100,100000"
    a.batches = sorted({int(b) for b in (a.batches or default_batches).split(",") if b})
    if a.out is None:
        a.out = os.path.join(tempfile.gettempdir(), "mlinfer-bench-trees-quick") if a.quick else \
            os.path.join(ROOT, "benchmarks", "results")
    a.cache = a.cache or os.path.join(a.out, ".trees-cache")
    a.n_train = a.n_train or (2000 if a.quick else 20000)
    a.repeats_large = a.repeats or (2 if a.quick else 5)
    a.repeats_small = 3 if a.quick else 15
    a.min_repeat_s = 0.01 if a.quick else 0.1
    a.latency_budget_s = 0.05 if a.quick else 1.0
    a.latency_min_calls = 10 if a.quick else 30
    a.latency_max_calls = 300 if a.quick else 20000
    a.c_single_reps = 1000 if a.quick else 20000
    a.load_reps = 2 if a.quick else 5
    return a


def main(argv=None) -> int:
    opts = parse_args(argv)
    os.makedirs(opts.out, exist_ok=True)
    json_path = os.path.join(opts.out, opts.name + ".json")
    md_path = os.path.join(opts.out, opts.name + ".md")
    png_path = os.path.join(opts.out, opts.name + ".png")
    if opts.from_json:
        with open(opts.from_json) as f:
            results = json.load(f)
        with open(md_path, "w") as f:
            f.write(markdown(results))
        plot(results, png_path)
        print_summary(results, md_path, opts.from_json, png_path)
        return 0

    def log(msg):
        print(msg, file=sys.stderr, flush=True)

    warnings.filterwarnings("ignore")
    os.makedirs(opts.cache, exist_ok=True)
    if "MLINFER_LIBRARY" not in os.environ:
        for d in ("build", "build-bench"):
            cand = os.path.join(ROOT, d, "libmlinfer.so")
            if os.path.exists(cand):
                os.environ["MLINFER_LIBRARY"] = cand
                break
    if opts.c_runner is None and "MLINFER_LIBRARY" in os.environ:
        opts.c_runner = os.path.join(os.path.dirname(os.path.abspath(os.environ["MLINFER_LIBRARY"])), "benchmarks",
                                     "bench_model_c")
    try:
        import mlinfer  # noqa: F401
    except ImportError:
        sys.path.insert(0, os.path.join(ROOT, "bindings", "python"))
    mli_info = {}
    try:
        import mlinfer
        mli_info = {"version": mlinfer.library_version(), "isa": mlinfer.cpu_isa(),
                    "library": os.environ.get("MLINFER_LIBRARY"), "c_runner": opts.c_runner}
    except Exception as exc:  # noqa: BLE001 -- the peers still run
        mli_info = {"error": _err(exc)}
        opts.skip.add("mlinfer")
        log(f"mlinfer unavailable: {mli_info['error']}")

    from sklearn.datasets import make_classification, make_regression
    # One draw of n_train + 100 000 rows whatever the batches, so a model (and its cached
    # files) does not depend on --batches; the benchmark rows are the ones after training.
    n_pool = max(opts.batches)
    n = opts.n_train + max(n_pool, 100_000)
    if opts.task == "classification":
        X, y = make_classification(n, F, n_informative=20, n_redundant=10, random_state=opts.seed)
    else:
        X, y = make_regression(n, F, n_informative=20, noise=1.0, random_state=opts.seed)
    X = X.astype(np.float32)  # every contender sees the same values, float32 or float64
    opts.X_train, opts.y_train = X[:opts.n_train], y[:opts.n_train]
    opts.X_pool = np.ascontiguousarray(X[opts.n_train:opts.n_train + n_pool])

    results = {"schema": 1, "command": [sys.executable] + sys.argv, "quick": opts.quick,
               "started": datetime.datetime.now().isoformat(timespec="seconds"),
               "loadavg_start": " ".join(f"{v:.2f}" for v in os.getloadavg()),
               "machine": machine_info(), "versions": versions(), "mlinfer": mli_info,
               "config": {"threads": opts.threads, "batches": opts.batches, "task": opts.task, "n_features": F,
                          "n_train": opts.n_train, "seed": opts.seed, "tolerance": TOL, "quick": opts.quick,
                          "repeats_large": opts.repeats_large, "repeats_small": opts.repeats_small,
                          "latency_budget_s": opts.latency_budget_s, "skip": sorted(opts.skip)},
               "models": {}}
    log(f"machine: {results['machine']['cpu']['model']}, {os.cpu_count()} CPUs; mlinfer {mli_info}")
    bench = Bench(opts, log)
    t0 = time.perf_counter()
    for name in opts.models:
        try:
            results["models"][name] = bench.model(name)
        except Exception as exc:  # noqa: BLE001 -- one broken model must not lose the others
            import traceback
            traceback.print_exc()
            results["models"][name] = {"label": model_label(name, model_params(name, opts.quick)),
                                       "error": _err(exc)}
    results["elapsed_s"] = time.perf_counter() - t0
    results["loadavg_end"] = " ".join(f"{v:.2f}" for v in os.getloadavg())
    results["targets"] = targets(results)
    with open(json_path, "w") as f:
        json.dump(results, f, indent=1, default=float)
    with open(md_path, "w") as f:
        f.write(markdown(results))
    plot(results, png_path)
    print_summary(results, md_path, json_path, png_path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
