"""Smoke test of the tree benchmark (benchmarks/trees/bench_trees.py).

The end-to-end run (`--quick`: tiny models, every peer, 1 and 2 threads, about a minute)
only runs with MLI_BENCH_SMOKE=1, so CI stays fast:

    MLI_BENCH_SMOKE=1 MLINFER_LIBRARY=build/libmlinfer.so python3 -m pytest -q tests/python/test_bench_trees_smoke.py

It checks that every contender ran, agreed with its framework, and produced every figure
(throughput per batch and thread count, batch-1 latency, load time), that libmlinfer's
C figures came back when bench_model_c is built, that a rerun reuses the TL2cgen library
instead of recompiling, and that the table and the plot are written. Set
MLI_BENCH_SMOKE_ALLOW_UNSUPPORTED=1 to accept libmlinfer reporting a model family as
unsupported (while a importer is still being written); the peers must pass regardless.

The agreement gate itself (a fast wrong answer must be caught) is checked without the
environment variable: it needs no peer and takes milliseconds.
"""
from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[2]
BENCH = REPO / "benchmarks" / "trees" / "bench_trees.py"
SMOKE = os.environ.get("MLI_BENCH_SMOKE") == "1"
ALLOW_UNSUPPORTED = os.environ.get("MLI_BENCH_SMOKE_ALLOW_UNSUPPORTED") == "1"
smoke = pytest.mark.skipif(not SMOKE, reason="set MLI_BENCH_SMOKE=1 to run the tree benchmark smoke test")


def _load_bench():
    spec = importlib.util.spec_from_file_location("bench_trees", BENCH)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_agreement_gate_catches_a_wrong_answer():
    bt = _load_bench()
    bench = bt.Bench(opts=None, log=lambda msg: None)

    class C:
        key = "x"

    ref = np.array([0.25, 0.5, 0.75, 300.0])
    r = {}
    bench.check(C(), ref + np.array([0, 9e-6, 0, 2e-3]), ref, r, 1)  # within 1e-5 * max(1, |ref|)
    assert r["agreement"]["ok"] is True
    bench.check(C(), ref + np.array([0, 0, 2e-5, 0]), ref, r, 2)  # one row off by 2e-5
    assert r["agreement"]["ok"] is False
    assert r["agreement"]["max_abs"] == pytest.approx(2e-3)
    assert r["agreement"]["threads_checked"] == [1, 2]
    r = {}
    bench.check(C(), np.array([0.25, np.nan, 0.75, 300.0]), ref, r, 1)  # NaN is never a match
    assert r["agreement"]["ok"] is False


def _run(args, tmp_path, timeout=240):
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO / "bindings" / "python"), env.get("PYTHONPATH")]))
    p = subprocess.run([sys.executable, str(BENCH), *args], env=env, capture_output=True, text=True,
                       timeout=timeout, cwd=str(tmp_path))
    assert p.returncode == 0, f"bench_trees.py failed ({p.returncode}):\n{p.stderr[-4000:]}"
    return p


@smoke
def test_quick_run(tmp_path):
    out = tmp_path / "out"
    p = _run(["--quick", "--threads", "1,2", "--out", str(out)], tmp_path)
    res = json.loads((out / "trees.json").read_text())
    bt = _load_bench()
    assert list(res["models"]) == list(bt.MODELS)
    assert res["machine"]["cpu"]["model"] and res["versions"]["xgboost"] and res["mlinfer"].get("isa")
    batches = [str(b) for b in res["config"]["batches"] if b > 1]
    problems = []
    for name, m in res["models"].items():
        assert "error" not in m, f"{name}: {m.get('error')}"
        cs = m["contenders"]
        want = [bt.FRAMEWORK[name], "onnxruntime", "treelite_gtil", "tl2cgen", "mlinfer"]
        assert sorted(cs) == sorted(want), f"{name}: contenders {sorted(cs)}"
        for key, c in cs.items():
            if key == "mlinfer" and ALLOW_UNSUPPORTED and c["status"].startswith("unsupported"):
                continue
            if c["status"] != "ok":
                problems.append(f"{name}/{key}: {c['status']}")
                continue
            if c["agreement"]["ok"] is not True:
                problems.append(f"{name}/{key}: disagrees with the framework: {c['agreement']}")
            assert c["load_ms"] > 0, (name, key)
            for th in ("1", "2"):
                t = c["threads"][th]
                for b in batches:
                    assert t["batch"][b]["rows_per_s"] > 0, (name, key, th, b)
                assert t["batch1_us"]["median"] > 0 and t["batch1_us"]["calls"] >= 10, (name, key, th)
            if key == "tl2cgen":
                assert c["compile_s"] > 0 and os.path.exists(c["libpath"])
            if key == "mlinfer":
                assert c["agreement_mli_file"]["ok"] is True, (name, c["agreement_mli_file"])
                cc = c["c"]
                if not cc["status"].startswith("not run"):  # bench_model_c is built next to the library
                    assert cc["status"] == "ok", (name, cc)
                    for th in ("1", "2"):
                        assert cc["threads"][th]["single_row_us_p50"] > 0, (name, cc["threads"][th])
                        assert cc["threads"][th]["batch_rows_per_s_median"] > 0
                        assert cc["threads"][th]["load_ms"] > 0
    assert not problems, "\n".join(problems)
    md = (out / "trees.md").read_text()
    assert "| contender |" in md and "## Targets" in md
    for m in res["models"].values():
        assert f"## {m['label']}" in md
    assert (out / "trees.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "wrote" in p.stdout

    # A rerun finds the compiled libraries (and the trained models) in the cache.
    out2 = tmp_path / "out2"
    _run(["--quick", "--threads", "1", "--models", "xgboost,lightgbm", "--skip", "onnxruntime,treelite_gtil",
          "--out", str(out2), "--cache", str(out / ".trees-cache")], tmp_path)
    res2 = json.loads((out2 / "trees.json").read_text())
    for name in ("xgboost", "lightgbm"):
        first, again = res["models"][name]["contenders"]["tl2cgen"], res2["models"][name]["contenders"]["tl2cgen"]
        assert again["compile_cached"] is True and again["compile_s"] == first["compile_s"]
        assert again["libpath"] == first["libpath"]
        assert set(res2["models"][name]["contenders"]) == {bt.FRAMEWORK[name], "tl2cgen", "mlinfer"}

    # The table and the plot can be rebuilt from the JSON alone.
    out3 = tmp_path / "out3"
    _run(["--from-json", str(out / "trees.json"), "--out", str(out3)], tmp_path, timeout=120)
    assert (out3 / "trees.md").read_text() == md
    assert (out3 / "trees.png").exists()


@smoke
def test_bench_f64_quick(tmp_path):
    """benchmarks/trees/bench_f64.py --quick: every model on float32 and float64 input,
    libmlinfer agreeing with the framework on each dtype, and the C API figures of both
    dtypes when bench_model_c is built."""
    env = dict(os.environ, PYTHONPATH=str(REPO / "bindings" / "python"))
    p = subprocess.run([sys.executable, str(REPO / "benchmarks" / "trees" / "bench_f64.py"), "--quick", "--threads",
                        "1", "--out", str(tmp_path)], capture_output=True, text=True, env=env, timeout=1200)
    assert p.returncode == 0, p.stderr[-3000:]
    res = json.loads((tmp_path / "trees_f64.json").read_text())
    assert set(res["models"]) == {"xgboost", "randomforest", "lightgbm", "histgradientboosting"}
    for name, m in res["models"].items():
        t = m["throughput"]["1"]
        for dt in ("f32", "f64"):
            assert t["mlinfer"][dt]["rows_per_s"] > 0 and t["framework"][dt]["rows_per_s"] > 0
            assert t["mlinfer"][dt]["agree"], (name, dt, t["mlinfer"][dt]["max_abs_diff"])
        if m["c_api"]:
            assert {"framework_file/f32", "framework_file/f64"} <= set(m["c_api"]["1"]), m["c_api"]
    assert "libmlinfer f64" in (tmp_path / "trees_f64.md").read_text()
