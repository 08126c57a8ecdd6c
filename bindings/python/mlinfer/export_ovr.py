"""mlinfer.export for scikit-learn's OneVsRestClassifier over binary tree classifiers
(docs/models/wrappers.md, "OneVsRestClassifier").

Each binary estimator is exported on its own, by the exporter of its kind (export_trees,
export_wrappers), and the K single-score tree stages become one `trees` stage whose trees
write the score column of their estimator (`tree_out`, `base` per column). The head is the
one that computes what OneVsRestClassifier computes from those scores:

- HistGradientBoosting, GradientBoosting, LightGBM >= 4 (decision_function = the margin):
  `ovr_logistic` (binary: `binary_logistic`, class 1 where the margin is > 0, as OvR thresholds it);
- XGBoost, and LightGBM without decision_function (predict_proba only): `ovr_proba` with
  `ovr_link` `sigmoid_f32` (XGBoost's probabilities are float32) or `sigmoid`;
- forests and single trees (predict_proba only): `ovr_proba` with `ovr_link=proba`, the trees
  summing their class-1 leaf fractions and the head dividing by each forest's tree count.
"""
from __future__ import annotations

import numpy as np

from . import export_trees, export_wrappers
from ._export_common import _cls, _fail, _labels, _Writer

MARGIN = {"HistGradientBoostingClassifier", "GradientBoostingClassifier"}
SIGMOID = {"XGBClassifier": "sigmoid_f32", "LGBMClassifier": "sigmoid"}
FORESTS = {"RandomForestClassifier", "ExtraTreesClassifier", "DecisionTreeClassifier", "ExtraTreeClassifier"}
ESTIMATORS = MARGIN | set(SIGMOID) | FORESTS

# the sections of a trees stage that are per node (concatenated as they are)
_NODE_ARRAYS = ("feature", "left", "right", "threshold", "flags")
_STAGE_KEYS = {"kind", "n_trees", "n_nodes", "n_out", "leaf_width", "compare", "aggregate"}
_STAGE_ARRAYS = set(_NODE_ARRAYS) | {"tree_start", "value", "leaf_id", "cover", "cat_offset", "cat_words", "cat_bits",
                                     "base"}


def over_trees(est) -> bool:
    """Whether `est` is a OneVsRestClassifier whose binary estimators are tree classifiers."""
    ests = getattr(est, "estimators_", None)
    return _cls(est) == "OneVsRestClassifier" and bool(ests) and any(_cls(e) in ESTIMATORS for e in ests)


def _lgb_sigmoid(e) -> float:
    """The `sigmoid:` parameter of a LightGBM binary objective (1 when not given)."""
    for line in e.booster_.model_to_string(num_iteration=1).splitlines():
        if line.startswith("objective="):
            for tok in line.split()[1:]:
                if tok.startswith("sigmoid:"):
                    return float(tok[len("sigmoid:"):])
            break
    return 1.0


def _one(ovr, e, n_in: int):
    """One binary estimator alone, as its exporter writes it: (meta, arrays) of its stage 0."""
    name = _cls(e)
    if name == "HistGradientBoostingClassifier" and export_trees.hgb_encodes_strings(e):
        _fail(ovr, "a HistGradientBoostingClassifier with string categories (each binary estimator would bring its "
              "own category encoder)")
    sub = _Writer()
    if name in export_wrappers.ESTIMATORS:
        export_wrappers.write(sub, e, n_in)
    else:
        export_trees.write(sub, e, n_in)
    if sub.n_stages != 1 or sub.meta.get("stage.0.kind") != "trees":
        kinds = [sub.meta.get(f"stage.{i}.kind") for i in range(sub.n_stages)]
        _fail(ovr, f"its binary {name} exports as the stages {kinds}, not one trees stage (string categories "
              "are not supported under one-vs-rest)")
    if list(np.asarray(e.classes_)) != [0, 1]:
        _fail(ovr, f"a binary estimator with classes {list(e.classes_)}")
    want = "proba" if name in FORESTS else "binary_logistic"
    if sub.meta.get("head") != want:
        _fail(ovr, f"its binary {name} has the head {sub.meta.get('head')!r}, not {want!r} (one-vs-rest needs each "
              "estimator's probability of its class: objective binary:logistic / binary)")
    meta = {k[len("stage.0."):]: v for k, v in sub.meta.items() if k.startswith("stage.0.")}
    arrays = {k[len("stage.0."):]: v for k, v in sub.arrays.items() if k.startswith("stage.0.")}
    unknown = (set(meta) - _STAGE_KEYS) | (set(arrays) - _STAGE_ARRAYS)
    if unknown:
        _fail(ovr, f"its binary {name}'s trees stage has {sorted(unknown)}, which one-vs-rest cannot merge")
    return meta, arrays


def write(w, ovr, ests, classes, n_in: int) -> None:
    """Writes OneVsRestClassifier `ovr` (binary estimators `ests` of one tree kind, `classes`) as
    one trees stage and its head."""
    names = {_cls(e) for e in ests}
    if len(names) != 1:
        _fail(ovr, f"binary estimators of different kinds ({', '.join(sorted(names))})")
    name = names.pop()
    if name not in ESTIMATORS:
        _fail(ovr, f"its binary estimator {name} (one-vs-rest is exported over logistic and linear sign classifiers "
              f"and over {', '.join(sorted(ESTIMATORS))})")
    for i in range(w.n_stages):
        if w.meta.get(f"stage.{i}.kind") not in ("image", "prep", "affine"):
            _fail(ovr, "a model stage before a tree model (only preprocessing may precede the trees)")
    parts = [_one(ovr, e, n_in) for e in ests]
    compares = {m["compare"] for m, _ in parts}
    if len(compares) != 1:
        _fail(ovr, f"binary estimators that compare differently ({sorted(compares)})")
    forest = name in FORESTS
    # what OvR's predict compares: decision_function where the estimator has one (LightGBM >= 4
    # has: its raw score), else predict_proba[:, 1]
    margin = name in MARGIN or (name in SIGMOID and hasattr(ests[0], "decision_function"))
    if margin and name == "LGBMClassifier":
        sig = _lgb_sigmoid(ests[0])
        if sig != 1.0:
            _fail(ovr, f"LightGBM's sigmoid={sig!r}: its decision_function is the raw score, its probability "
                  "sigmoid(sigmoid * raw), which no one-vs-rest head computes from one score")
    if not forest and any(m["aggregate"] != "sum" for m, _ in parts):
        _fail(ovr, f"its binary {name} averages its trees (random-forest boosting), which one-vs-rest cannot merge")
    per_tree = {int(m["n_trees"]) for m, _ in parts}
    if forest and len(per_tree) != 1:  # the head divides every column by one tree count
        _fail(ovr, f"forests of different sizes ({sorted(per_tree)} trees)")
    k = len(ests)
    arrays = {n: [] for n in _STAGE_ARRAYS if n != "base"}
    tree_out, base = [], np.zeros(k)
    cats = any("cat_bits" in a for _, a in parts)
    has = {n: all(n in a for _, a in parts) for n in ("leaf_id", "cover")}
    n_nodes = n_words = 0
    starts = [np.zeros(1, np.int64)]
    for j, (m, a) in enumerate(parts):
        n = int(m["n_nodes"])
        starts.append(np.asarray(a["tree_start"], np.int64)[1:] + n_nodes)
        tree_out += [j] * int(m["n_trees"])
        for s in _NODE_ARRAYS:
            arrays[s].append(np.asarray(a[s]))
        value = np.asarray(a["value"], np.float64).reshape(n, int(m["leaf_width"]))
        # a forest's leaves: the fractions of classes 0 and 1; its estimator's probability is class 1's
        arrays["value"].append(value[:, 1] if forest else value[:, 0])
        for s in ("leaf_id", "cover"):
            if has[s]:
                arrays[s].append(np.asarray(a[s]))
        if cats:
            off = np.asarray(a.get("cat_offset", np.zeros(n, np.int64)), np.int64)
            words = np.asarray(a.get("cat_words", np.zeros(n, np.int32)), np.int32)
            arrays["cat_offset"].append(np.where(words > 0, off + n_words, 0))
            arrays["cat_words"].append(words)
            bits = np.asarray(a.get("cat_bits", np.zeros(0, np.int32)), np.int32)
            arrays["cat_bits"].append(bits)
            n_words += len(bits)
        if "base" in a:
            base[j] = float(np.asarray(a["base"], np.float64).reshape(-1)[0])
        n_nodes += n
    p = w.stage("trees", n_trees=len(tree_out), n_nodes=n_nodes, n_out=k, leaf_width=1, compare=compares.pop(),
                aggregate="sum")
    w.arrays[f"{p}.tree_start"] = np.concatenate(starts)
    if k > 1:
        w.arrays[f"{p}.tree_out"] = np.asarray(tree_out, np.int32)
    for s, v in arrays.items():
        if v and s != "tree_start":
            w.arrays[f"{p}.{s}"] = np.concatenate(v)
    if np.any(base != 0.0):
        w.arrays[f"{p}.base"] = base
    w.meta["task"] = "classification"
    _labels(w, classes)
    if margin:
        w.meta["head"] = "binary_logistic" if k == 1 else "ovr_logistic"
    else:
        w.meta["head"] = "ovr_proba"
        w.meta["ovr_link"] = "proba" if forest else SIGMOID[name]
        if forest:
            w.meta["ovr_trees"] = per_tree.pop()
