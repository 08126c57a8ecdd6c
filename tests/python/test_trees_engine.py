"""The tree engine against an independent reference: a plain Python walk of the `trees`
stage as docs/FORMAT.md specifies it, in float64 with explicit float32 casts.

Random ensembles exercise every rule the format has -- the three comparisons, the three
missing modes, default directions, categorical bitsets with and without "out of range
takes the missing direction" -- on rows built to sit exactly on thresholds, one float
step either side, NaN, signed zeros, tiny values and category edge cases. Every walk the
library has (generic, portable lock-step, the SIMD walks of each ISA) must reach the same
leaf as the reference for every row, and the summed scores must agree to 1e-12 relative
(both sum the same float64 leaves in the same order).

Also here: the reader's checks on hostile tree stages (each must fail with a message
naming the problem), and 16 threads predicting on one tree model.
"""
from __future__ import annotations

import ctypes
import json
import math
import os
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

import mlinfer
from mlinfer import _format

pytestmark = pytest.mark.filterwarnings("ignore:overflow encountered in cast:RuntimeWarning")
from mlinfer._native import address, lib

F32 = np.float32


# ---- building random tree stages ------------------------------------------------------

def random_tree(rng, n_features, depth, cat_words, leaf_width, thresholds):
    """Nodes of one tree as dicts, root first, children after parents (random order)."""
    nodes = [None]
    frontier = [(0, 0)]
    order_counter = 1
    while frontier:
        i = frontier.pop(rng.integers(len(frontier)))  # random order: not only pre-order
        idx, d = i
        if d >= depth or (d > 1 and rng.random() < 0.25):
            nodes[idx] = {"leaf": True, "value": rng.normal(size=leaf_width).round(3) * 10, "id": int(rng.integers(1000))}
            continue
        cat = cat_words > 0 and rng.random() < 0.3
        mode = int(rng.integers(3))
        flags = int(rng.integers(2)) | (mode << 1)
        node = {"leaf": False, "feature": int(rng.integers(n_features)), "mode": mode}
        if cat:
            words = int(rng.integers(0, cat_words + 1))
            node["bits"] = [int(v) for v in rng.integers(0, 2**32, size=words, dtype=np.uint64)]
            flags |= 8 | (16 if rng.random() < 0.5 else 0) | (32 if rng.random() < 0.5 else 0) | \
                (64 if rng.random() < 0.5 else 0)
            node["threshold"] = 0.0
        else:
            node["threshold"] = float(thresholds[rng.integers(len(thresholds))])
        node["flags"] = flags
        left, right = len(nodes), len(nodes) + 1
        nodes.extend([None, None])
        node["left"], node["right"] = left, right
        nodes[idx] = node
        frontier.extend([(left, d + 1), (right, d + 1)])
    # Renumber in a random topological order (parents before children).
    order, seen, queue = [], set(), [0]
    while queue:
        j = queue.pop(rng.integers(len(queue)))
        order.append(j)
        if not nodes[j]["leaf"]:
            queue.extend([nodes[j]["left"], nodes[j]["right"]])
    pos = {old: new for new, old in enumerate(order)}
    out = []
    for old in order:
        n = dict(nodes[old])
        if not n["leaf"]:
            n["left"], n["right"] = pos[n["left"]], pos[n["right"]]
        out.append(n)
    return out


def build_stage(trees, n_features, n_out, leaf_width, compare, aggregate, base, tree_out):
    starts = [0]
    feat, left, right, thr, flags, value, leaf_id, cat_off, cat_words, cat_bits = ([] for _ in range(10))
    for t in trees:
        for n in t:
            if n["leaf"]:
                feat.append(-1); left.append(-1); right.append(-1); thr.append(0.0); flags.append(0)
                value.extend(n["value"]); leaf_id.append(n["id"]); cat_off.append(0); cat_words.append(0)
            else:
                feat.append(n["feature"]); left.append(n["left"]); right.append(n["right"])
                thr.append(n["threshold"]); flags.append(n["flags"]); value.extend([0.0] * leaf_width)
                leaf_id.append(-5)
                bits = n.get("bits", [])
                cat_off.append(len(cat_bits)); cat_words.append(len(bits)); cat_bits.extend(bits)
        starts.append(starts[-1] + len(t))
    meta = {"producer": "test", "source": "random trees", "task": "regression", "n_features": n_features,
            "n_outputs": n_out, "stages": 1, "stage.0.kind": "trees", "stage.0.n_trees": len(trees),
            "stage.0.n_nodes": starts[-1], "stage.0.n_out": n_out, "stage.0.leaf_width": leaf_width,
            "stage.0.compare": compare, "stage.0.aggregate": aggregate, "head": "identity"}
    arrays = {
        "stage.0.tree_start": np.array(starts, np.int64), "stage.0.feature": np.array(feat, np.int32),
        "stage.0.left": np.array(left, np.int32), "stage.0.right": np.array(right, np.int32),
        "stage.0.threshold": np.array(thr, np.float64), "stage.0.flags": np.array(flags, np.uint8),
        "stage.0.value": np.array(value, np.float64), "stage.0.leaf_id": np.array(leaf_id, np.int32),
    }
    if cat_bits:
        arrays["stage.0.cat_offset"] = np.array(cat_off, np.int64)
        arrays["stage.0.cat_words"] = np.array(cat_words, np.int32)
        arrays["stage.0.cat_bits"] = np.array(np.array(cat_bits, np.uint64).astype(np.uint32).view(np.int32))
    if base is not None:
        arrays["stage.0.base"] = np.array(base, np.float64)
    if tree_out is not None:
        arrays["stage.0.tree_out"] = np.array(tree_out, np.int32)
    return meta, arrays


# ---- the reference walk ---------------------------------------------------------------

def f32(v: float) -> float:
    with np.errstate(over="ignore"):
        return float(np.float32(v))


def ref_leaf(tree, compare, row):
    i = 0
    while True:
        n = tree[i]
        if n["leaf"]:
            return i
        v = float(row[n["feature"]])
        if compare != "le_f64":
            v = f32(v)
        mode, fl = n["mode"], n["flags"]
        missing = False
        if math.isnan(v):
            if mode == 0:
                missing = True
            else:
                v = 0.0
        if not missing and mode == 2 and -float(F32(1e-35)) <= v <= float(F32(1e-35)):
            missing = True
        if missing:
            go_left = bool(fl & 1)
        elif fl & 8:
            c = math.trunc(v) if math.isfinite(v) else None
            nbits = 32 * len(n["bits"])
            if c is None or c < 0 or c >= nbits or (fl & 32 and c != v) or (fl & 64 and v < 0):
                go_left = bool(fl & 1) if fl & 16 else False
            else:
                go_left = bool((n["bits"][c // 32] >> (c % 32)) & 1)
        elif compare == "lt_f32":
            go_left = f32(v) < f32(n["threshold"])
        else:
            go_left = v <= n["threshold"]
        i = n["left"] if go_left else n["right"]


def ref_predict(trees, compare, aggregate, base, tree_out, n_out, leaf_width, X):
    raw = np.zeros((len(X), n_out))
    leaves = np.zeros((len(X), len(trees)), np.int64)
    for r, row in enumerate(X):
        for t, tree in enumerate(trees):
            li = ref_leaf(tree, compare, row)
            leaves[r, t] = tree[li]["id"]
            val = tree[li]["value"]
            if leaf_width == 1:
                raw[r, tree_out[t] if tree_out is not None else 0] += val[0]
            else:
                raw[r] += val
    if aggregate == "mean":
        raw /= len(trees)
    if base is not None:
        raw += base
    return raw, leaves


# ---- calling the library --------------------------------------------------------------

def _fn(name, *argtypes):
    f = getattr(lib, name)
    f.restype = ctypes.c_int
    f.argtypes = list(argtypes)
    return f


_raw = _fn("mli_model_predict_raw", ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int, ctypes.c_int64, ctypes.c_int64,
           ctypes.c_void_p, ctypes.c_int64)
_apply = _fn("mli_model_apply", ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int, ctypes.c_int64, ctypes.c_int64,
             ctypes.c_void_p, ctypes.c_int64)


def lib_raw_apply(model, X):
    X = np.ascontiguousarray(X)
    dt = 0 if X.dtype == np.float32 else 1
    n_raw = int(lib.mli_model_n_raw(model._h))
    n_trees = int(lib.mli_model_n_trees(model._h))
    raw = np.empty((len(X), n_raw))
    leaves = np.empty((len(X), n_trees), np.int64)
    for fn, out in ((_raw, raw), (_apply, leaves)):
        st = fn(model._h, address(X), dt, len(X), X.shape[1], address(out), out.size)
        if st != 0:
            raise mlinfer.Error(lib.mli_last_error().decode())
    return raw, leaves


lib.mli_model_n_raw.restype = ctypes.c_int64
lib.mli_model_n_raw.argtypes = [ctypes.c_void_p]
lib.mli_model_n_trees.restype = ctypes.c_int64
lib.mli_model_n_trees.argtypes = [ctypes.c_void_p]

WORKER = r"""
import sys, warnings, numpy as np
warnings.simplefilter("ignore")
sys.path.insert(0, sys.argv[1])
import test_trees_engine as T, mlinfer
data = np.load(sys.argv[2])
m = mlinfer.load(sys.argv[3])
out = {}
for k in data.files:
    raw, leaves = T.lib_raw_apply(m, data[k])
    out[k + "_raw"] = raw
    out[k + "_leaves"] = leaves
    # one row at a time: the few-rows walks (trees in lock-step), NaN rows included
    out[k + "_raw1"] = np.concatenate([T.lib_raw_apply(m, data[k][i:i + 1])[0] for i in range(len(data[k]))])
    # blocks of 1 to 7 rows (the few-rows walk of each ISA), to compare bit for bit with the batch
    sizes = np.resize(np.arange(1, 8), len(data[k]))
    cuts = np.cumsum(sizes)[np.cumsum(sizes) < len(data[k])]
    out[k + "_few"] = np.concatenate([T.lib_raw_apply(m, b)[0] for b in np.split(data[k], cuts)])
np.savez(sys.argv[4], **out)
"""


def rows_for(rng, trees, n_features, n_rows, compare):
    """Rows whose values sit on and around the thresholds and categories in the trees."""
    thr = [n["threshold"] for t in trees for n in t if not n["leaf"] and not n["flags"] & 8]
    specials = [np.nan, 0.0, -0.0, 1e-36, -1e-36, 1e-30, np.inf, -np.inf, -0.5, -1.0, 0.5, 1.0, 31.0, 32.0, 33.7,
                63.0, 64.0, 95.0, 1e10, -3.0]
    cands = list(specials)
    for v in thr:
        cands += [v]
        for w in (v, float(F32(v))):
            cands += [float(np.nextafter(F32(w), F32(np.inf))), float(np.nextafter(F32(w), F32(-np.inf))),
                      float(np.nextafter(w, np.inf)), float(np.nextafter(w, -np.inf))]
    cands = np.array(cands, np.float64)
    X = cands[rng.integers(len(cands), size=(n_rows, n_features))]
    # the specials (NaN above all) as often as one value in six, however many thresholds
    # the trees have: big ensembles would otherwise almost never draw them
    pick = rng.random(X.shape) < 1 / 6
    X[pick] = np.array(specials)[rng.integers(len(specials), size=int(pick.sum()))]
    X[rng.random(X.shape) < 0.08] = np.nan  # about 4 rows in 10 hold a NaN
    X[: n_rows // 4] = rng.normal(size=(n_rows // 4, n_features)) * 3  # plain data, no NaN: the fast walks
    X[n_rows // 4: n_rows // 2] = X[: n_rows // 4].astype(np.float32)
    return X


CASES = [
    # name, compare, aggregate, n_out, leaf_width, cat_words, depth, n_trees, with_base
    ("lt_f32_sum", "lt_f32", "sum", 1, 1, 0, 6, 40, True),
    ("le_f32_mean_vector", "le_f32", "mean", 3, 3, 0, 7, 30, False),
    ("le_f64_multiclass", "le_f64", "sum", 3, 1, 0, 6, 36, True),
    ("le_f64_categorical", "le_f64", "sum", 1, 1, 3, 5, 70, False),
    ("lt_f32_deep", "lt_f32", "sum", 1, 1, 0, 12, 20, False),
    # 64 trees and more: the 64-trees-per-row vector walk for small batches
    ("lt_f32_forest130", "lt_f32", "sum", 1, 1, 0, 6, 130, True),
    ("le_f32_forest70", "le_f32", "mean", 1, 1, 0, 8, 70, False),
    # float64 rows on float64 `<=` splits: the float32 walk with its exact fix-up of rows
    # in a float32 cell around a threshold, also in the 64-trees-per-row walk
    ("le_f64_forest90", "le_f64", "sum", 1, 1, 0, 7, 90, True),
    # single leaves and stumps: trees shallower than any top-level table
    ("lt_f32_leaves", "lt_f32", "sum", 1, 1, 0, 0, 9, True),
    ("le_f64_stumps", "le_f64", "sum", 2, 1, 0, 1, 21, False),
]


def make_case(rng, name, compare, aggregate, n_out, leaf_width, cat_words, depth, n_trees, with_base):
    n_features = 7
    thresholds = np.concatenate([rng.normal(size=20) * 2, [0.0, 1.5, -2.25, 1e-36, 0.1, 1 / 3, 3.4e38, -1e39, 1e300, np.inf]])
    if compare == "lt_f32":
        thresholds = thresholds.astype(np.float32).astype(np.float64)
    trees = [random_tree(rng, n_features, depth, cat_words, leaf_width, thresholds) for _ in range(n_trees)]
    if cat_words == 0:  # these models must be able to take the compact walks for NaN-free rows
        for t in trees:
            for n in t:
                if not n["leaf"] and n["mode"] == 2:
                    n["mode"], n["flags"] = 0, n["flags"] & 1
    tree_out = [t % n_out for t in range(n_trees)] if leaf_width == 1 and n_out > 1 else None
    base = rng.normal(size=n_out) if with_base else None
    meta, arrays = build_stage(trees, n_features, n_out, leaf_width, compare, aggregate, base, tree_out)
    return trees, tree_out, base, _format.build(meta, arrays)


@pytest.fixture(scope="module")
def cases(tmp_path_factory):
    d = tmp_path_factory.mktemp("trees")
    rng = np.random.default_rng(7)
    out = []
    for case in CASES:
        trees, tree_out, base, blob = make_case(rng, *case)
        path = d / f"{case[0]}.mli"
        path.write_bytes(blob)
        X = rows_for(rng, trees, 7, 400, case[1])
        ref = ref_predict(trees, case[1], case[2], base, tree_out, case[3], case[4], X)
        ref32 = ref_predict(trees, case[1], case[2], base, tree_out, case[3], case[4], X.astype(np.float32))
        np.savez(d / f"{case[0]}.npz", f64=X, f32=X.astype(np.float32))
        out.append((case[0], path, d / f"{case[0]}.npz", {"f64": ref, "f32": ref32}))
    return out


# "walk": the SIMD walks without the leaf masks of the trees of at most 64 leaves (which
# "simd" and "auto" take on AVX-512 for blocks of 16 rows or more)
WALKS = [("generic", None), ("scalar", None), ("simd", None), ("walk", None), ("simd", "avx2"), ("simd", "scalar"),
         ("auto", None)]


@pytest.mark.parametrize("strategy,isa", WALKS, ids=[f"{s}-{i or 'native'}" for s, i in WALKS])
def test_every_walk_reaches_the_reference_leaf(cases, strategy, isa, tmp_path):
    pkg = str(Path(mlinfer.__file__).resolve().parents[1])
    env = dict(os.environ, MLI_TREE_STRATEGY=strategy,
               PYTHONPATH=os.pathsep.join([pkg] + [p for p in [os.environ.get("PYTHONPATH")] if p]))
    if isa:
        env["MLI_FORCE_ISA"] = isa
    if isa and isa not in ("scalar",) and isa not in _available_isas():
        pytest.skip(f"this CPU has no {isa}")
    for name, model, data, refs in cases:
        res = tmp_path / f"{name}.npz"
        subprocess.run([sys.executable, "-c", WORKER, str(Path(__file__).parent), str(data), str(model), str(res)],
                       env=env, check=True)
        got = np.load(res)
        for kind in ("f64", "f32"):
            ref_raw, ref_leaves = refs[kind]
            leaves = got[f"{kind}_leaves"]
            bad = np.argwhere(leaves != ref_leaves)
            assert bad.size == 0, f"{name}/{kind}: {len(bad)} leaves differ, first at row, tree {bad[0]}"
            np.testing.assert_allclose(got[f"{kind}_raw"], ref_raw, rtol=1e-12, atol=1e-12,
                                       err_msg=f"{name}/{kind} ({strategy}, {isa})")
            np.testing.assert_allclose(got[f"{kind}_raw1"], ref_raw, rtol=1e-12, atol=1e-12,
                                       err_msg=f"{name}/{kind} row by row ({strategy}, {isa})")
            # the sums add the leaves in tree order whichever walk ran: bit for bit
            np.testing.assert_array_equal(got[f"{kind}_few"], got[f"{kind}_raw"],
                                          err_msg=f"{name}/{kind} blocks of 1-7 rows ({strategy}, {isa})")


def _available_isas():
    order = ["scalar", "avx2", "avx512"]
    best = mlinfer.ops.cpu_isa() if hasattr(mlinfer.ops, "cpu_isa") else lib.mli_cpu_isa().decode()
    return order[: order.index(best) + 1] if best in order else ["scalar"]


def test_batch_sizes_and_leading_dimension(cases):
    """Every batch size from 1 to 70 (vector tails) and a strided input give the same scores."""
    name, path, data, refs = cases[0]
    m = mlinfer.load(path)
    X = np.load(data)["f32"]
    full, _ = lib_raw_apply(m, X)
    for n in list(range(1, 70)) + [128, 129, 200]:
        part, _ = lib_raw_apply(m, X[:n])
        np.testing.assert_array_equal(part, full[:n])
    wide = np.zeros((len(X), 11), np.float32)
    wide[:, :7] = X
    strided = np.lib.stride_tricks.as_strided(wide, shape=X.shape, strides=wide.strides)
    raw = np.empty((len(X), 1))
    st = _raw(m._h, address(wide), 0, len(X), 11, address(raw), raw.size)
    assert st == 0
    np.testing.assert_array_equal(raw, full)
    del strided


@pytest.mark.parametrize("n_features", [7, 40, 100, 200])
@pytest.mark.parametrize("compare", ["lt_f32", "le_f64"])
def test_few_rows_equal_the_batch_bit_for_bit(n_features, compare, tmp_path):
    """Blocks of 1 to 15 rows take the trees-per-vector walks (for up to 128 features the
    row in registers, the top levels from the per-16-trees tables; above, gathers); their
    scores must equal the batch walk's exactly: float32 and float64 rows on and one step
    around the thresholds, NaN, trees shallower than the tables and a last partial vector
    of trees (139 trees: 64 + 64 + 11; the one-row walk adds each 64 trees' leaves while it
    walks the next 64, so the middle 64 are all within the tables' four levels: their walk
    has no level to add the first 64 in), multi-output (tree_out) and single-output models."""
    rng = np.random.default_rng(n_features + (1 if compare == "le_f64" else 0))
    thresholds = np.concatenate([rng.normal(size=30) * 2, [0.0, 1 / 3, 1e-36, -1e39, np.inf]])
    if compare == "lt_f32":
        thresholds = thresholds.astype(np.float32).astype(np.float64)
    for n_out, depths in ((1, [2, 3, 5, 9]), (3, [4, 6])):
        trees = [random_tree(rng, n_features, [2, 3, 4][i % 3] if 64 <= i < 128 else depths[i % len(depths)], 0, 1,
                             thresholds) for i in range(139)]
        for t in trees:  # no zero-missing nodes: the compact walks must take these models
            for n in t:
                if not n["leaf"] and n["mode"] == 2:
                    n["mode"], n["flags"] = 0, n["flags"] & 1
        tree_out = [t % n_out for t in range(len(trees))] if n_out > 1 else None
        meta, arrays = build_stage(trees, n_features, n_out, 1, compare, "sum", None, tree_out)
        path = tmp_path / f"m{n_out}.mli"
        path.write_bytes(_format.build(meta, arrays))
        m = mlinfer.load(path)
        X = rows_for(rng, trees, n_features, 240, compare)
        ref, _ = ref_predict(trees, compare, "sum", None, tree_out, n_out, 1, X)
        for A in (X, X.astype(np.float32)):
            full, _ = lib_raw_apply(m, A)
            if A.dtype == np.float64:
                np.testing.assert_allclose(full, ref, rtol=1e-12, atol=1e-12)
            r = 0
            for n in [1] * 40 + list(range(2, 16)) * 3:
                if r + n > len(A):
                    break
                part, _ = lib_raw_apply(m, A[r:r + n])
                np.testing.assert_array_equal(part, full[r:r + n], err_msg=f"rows {r}..{r + n - 1} ({A.dtype})")
                r += n


def test_many_threads_share_one_tree_model(cases):
    name, path, data, refs = cases[2]
    m = mlinfer.load(path)
    X = np.load(data)["f64"]
    want, _ = lib_raw_apply(m, X)
    errors = []

    def work(seed):
        rng = np.random.default_rng(seed)
        for _ in range(20):
            lo = int(rng.integers(0, len(X) - 1))
            hi = int(rng.integers(lo + 1, len(X) + 1))
            got, _ = lib_raw_apply(m, X[lo:hi])
            if not np.array_equal(got, want[lo:hi]):
                errors.append((seed, lo, hi))

    threads = [threading.Thread(target=work, args=(s,)) for s in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors


# ---- hostile tree stages --------------------------------------------------------------

def _good():
    rng = np.random.default_rng(3)
    thresholds = rng.normal(size=10)
    trees = [random_tree(rng, 4, 4, 1, 1, thresholds) for _ in range(3)]
    return build_stage(trees, 4, 1, 1, "le_f64", "sum", None, None)


def _mut(fn):
    meta, arrays = _good()
    meta = dict(meta)
    arrays = {k: v.copy() for k, v in arrays.items()}
    fn(meta, arrays)
    return _format.build(meta, arrays)


def _first_internal(arrays):
    return int(np.flatnonzero(arrays["stage.0.feature"] >= 0)[0])


def _set(name, idx, value):
    def f(meta, arrays):
        i = _first_internal(arrays) if idx == "internal" else idx
        arrays[f"stage.0.{name}"][i] = value
    return f


HOSTILE = {
    "child out of range": (_set("left", "internal", 999), "is not a later node"),
    "child points back (cycle)": (_set("right", "internal", 0), "is not a later node"),
    "shared child": (lambda m, a: a["stage.0.right"].__setitem__(0, a["stage.0.left"][0]), "parent"),
    "feature out of range": (_set("feature", "internal", 4), "splits on feature 4 of 4"),
    "negative feature": (_set("feature", "internal", -7), "splits on feature -7"),
    "NaN threshold": (_set("threshold", "internal", np.nan), "NaN threshold"),
    "flag bit 7": (_set("flags", "internal", 0x80), "unknown flags"),
    "missing mode 3": (_set("flags", "internal", 6), "unknown flags"),
    "leaf with children": (lambda m, a: a["stage.0.left"].__setitem__(int(np.flatnonzero(a["stage.0.feature"] < 0)[0]), 3),
                           "has children"),
    "infinite leaf": (lambda m, a: a["stage.0.value"].__setitem__(int(np.flatnonzero(a["stage.0.feature"] < 0)[0]), np.inf),
                      "non-finite value"),
    "tree_start not increasing": (lambda m, a: a["stage.0.tree_start"].__setitem__(1, a["stage.0.tree_start"][2]),
                                  "tree_start"),
    "tree_start past the end": (lambda m, a: a["stage.0.tree_start"].__setitem__(3, 10**12), "tree_start"),
    "n_nodes disagrees": (lambda m, a: m.__setitem__("stage.0.n_nodes", int(m["stage.0.n_nodes"]) + 1), "holds"),
    "huge n_trees": (lambda m, a: m.__setitem__("stage.0.n_trees", 2**40), "n_trees"),
    "huge n_nodes": (lambda m, a: m.__setitem__("stage.0.n_nodes", 2**62), "n_nodes"),
    "bitset outside cat_bits": (lambda m, a: (a.__setitem__("stage.0.cat_offset", np.zeros_like(a["stage.0.feature"], np.int64)),
                                              a.__setitem__("stage.0.cat_words", np.full_like(a["stage.0.feature"], 5)),
                                              a.__setitem__("stage.0.cat_bits", np.zeros(4, np.int32)),
                                              a["stage.0.flags"].__setitem__(_first_internal(a), 8)),
                                "outside cat_bits"),
    "categorical without bitsets": (lambda m, a: ([a.pop(k, None) for k in ("stage.0.cat_offset", "stage.0.cat_words",
                                                                              "stage.0.cat_bits")],
                                                  a["stage.0.flags"].__setitem__(_first_internal(a), 8)),
                                    "no cat_offset"),
    "unknown compare": (lambda m, a: m.__setitem__("stage.0.compare", "lt_f16"), "compare 'lt_f16'"),
    "leaf_width not 1 or n_out": (lambda m, a: m.__setitem__("stage.0.leaf_width", 2), "leaf_width"),
    "tree_out out of range": (lambda m, a: (m.__setitem__("stage.0.n_out", 2), m.__setitem__("n_outputs", 2),
                                            a.__setitem__("stage.0.tree_out", np.array([0, 1, 2], np.int32))),
                              "score column 2"),
    "trees before another stage": (lambda m, a: (m.__setitem__("stages", 2), m.__setitem__("stage.1.kind", "trees")),
                                   "must be the model's last stage"),
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_tree_stage_is_rejected(case, tmp_path):
    fn, needle = HOSTILE[case]
    path = tmp_path / "bad.mli"
    path.write_bytes(_mut(fn))
    with pytest.raises(mlinfer.Error) as exc:
        mlinfer.load(path)
    assert needle in str(exc.value), str(exc.value)


def test_depth_bomb_is_rejected(tmp_path):
    """A 2000-level chain: rejected by the depth limit, without recursion."""
    trees = []
    chain = []
    for d in range(2000):
        chain.append({"leaf": False, "feature": 0, "threshold": float(d), "flags": 0, "mode": 0,
                      "left": 2 * d + 1, "right": 2 * d + 2})
        chain.append({"leaf": True, "value": [1.0], "id": d})
    chain.append({"leaf": True, "value": [2.0], "id": 9999})
    # re-index: node 2d is the split, 2d+1 its leaf, 2d+2 the next split
    for d in range(2000):
        chain[2 * d]["left"], chain[2 * d]["right"] = 2 * d + 1, 2 * d + 2
    trees.append(chain)
    meta, arrays = build_stage(trees, 1, 1, 1, "le_f64", "sum", None, None)
    path = tmp_path / "deep.mli"
    path.write_bytes(_format.build(meta, arrays))
    with pytest.raises(mlinfer.Error, match="deeper than 1024"):
        mlinfer.load(path)


def test_good_stage_loads_and_matches_reference(tmp_path):
    meta, arrays = _good()
    path = tmp_path / "good.mli"
    path.write_bytes(_format.build(meta, arrays))
    m = mlinfer.load(path)
    assert int(lib.mli_model_n_trees(m._h)) == 3


@pytest.mark.parametrize("zero_positive", [False, True])
def test_binary_head_at_a_score_of_exactly_zero(tmp_path, zero_positive):
    """scikit-learn's GradientBoostingClassifier predicts class 1 at raw == 0 (binary_zero_positive=1);
    LogisticRegression-style heads predict class 0 there."""
    tree = [{"leaf": False, "feature": 0, "threshold": 0.5, "flags": 0, "mode": 0, "left": 1, "right": 2},
            {"leaf": True, "value": [0.0], "id": 1}, {"leaf": True, "value": [2.0], "id": 2}]
    meta, arrays = build_stage([tree], 1, 1, 1, "le_f64", "sum", None, None)
    meta.update({"task": "classification", "n_classes": 2, "class_labels": "int", "head": "binary_logistic"})
    meta.pop("n_outputs")
    if zero_positive:
        meta["binary_zero_positive"] = 1
    arrays["classes"] = np.array([0, 1], np.int64)
    path = tmp_path / "m.mli"
    path.write_bytes(_format.build(meta, arrays))
    m = mlinfer.load(path)
    X = np.array([[0.0], [1.0]])
    assert list(m.predict(X)) == [1 if zero_positive else 0, 1]
    np.testing.assert_allclose(m.predict_proba(X)[0], [0.5, 0.5])
