#!/usr/bin/env python3
"""make_xgboost_corrupt.py — broken XGBoost model files, each with one defect, for the
XGBoost importer (src/import/xgboost.c). Every file must fail to load with the stated
status and a message containing the stated text; none may crash or hang the loader.

    python3 tests/data/corrupt_trees/make_xgboost_corrupt.py OUT_DIR   # writes the files + EXPECTED
    from make_xgboost_corrupt import cases, base_model, to_ubjson        # tests/python/test_xgboost.py

The files are generated at test time (nothing binary is committed). They derive from a
small hand-written model in XGBoost 3.2's JSON schema (`base_model()`: binary:logistic, three
trees, one of them with a categorical split), which XGBoost itself loads; `to_ubjson` writes
the same document the way XGBoost's UBJSON writer does (big-endian, typed arrays).
Needs only the Python standard library; deterministic.
"""
from __future__ import annotations

import json
import math
import os
import struct
import sys

CORRUPT, UNSUPPORTED = "MLI_ERR_CORRUPT", "MLI_ERR_UNSUPPORTED"


def _tree(tid, left, right, feat, cond, dflt, stype=None, cats=None):
    n = len(left)
    parents = [2147483647] + [0] * (n - 1)
    for i, (lc, rc) in enumerate(zip(left, right)):
        for c in (lc, rc):
            if c >= 0:
                parents[c] = i
    cats = cats or {}
    nodes = sorted(cats)
    segs, sizes, flat = [], [], []
    for nd in nodes:
        segs.append(len(flat))
        sizes.append(len(cats[nd]))
        flat.extend(cats[nd])
    return {
        "base_weights": [0.0] * n, "categories": flat, "categories_nodes": nodes,
        "categories_segments": segs, "categories_sizes": sizes, "default_left": dflt, "id": tid,
        "left_children": left, "loss_changes": [0.0] * n, "parents": parents, "right_children": right,
        "split_conditions": cond, "split_indices": feat, "split_type": stype or [0] * n,
        "sum_hessian": [1.0] * n,
        "tree_param": {"num_deleted": "0", "num_feature": "3", "num_nodes": str(n), "size_leaf_vector": "1"},
    }


def base_model() -> dict:
    """A valid binary:logistic model on 3 features (feature 2 categorical)."""
    t0 = _tree(0, [1, 3, -1, -1, -1], [2, 4, -1, -1, -1], [0, 1, 0, 0, 0],
               [0.5, -0.25, 0.375, -0.5, 0.125], [1, 0, 0, 0, 0])
    t1 = _tree(1, [1, -1, 3, -1, -1], [2, -1, 4, -1, -1], [1, 0, 0, 0, 0],
               [1.5, 0.25, -0.75, 0.0625, -0.125], [0, 0, 1, 0, 0])
    t2 = _tree(2, [1, -1, -1], [2, -1, -1], [2, 0, 0], [0.0, -0.3, 0.2], [1, 0, 0],
               stype=[1, 0, 0], cats={0: [1, 3, 40]})
    return {
        "learner": {
            "attributes": {}, "feature_names": [], "feature_types": ["float", "float", "c"],
            "gradient_booster": {
                "model": {
                    "cats": {"enc": [], "feature_segments": [], "sorted_idx": []},
                    "gbtree_model_param": {"num_parallel_tree": "1", "num_trees": "3"},
                    "iteration_indptr": [0, 1, 2, 3], "tree_info": [0, 0, 0], "trees": [t0, t1, t2],
                },
                "name": "gbtree",
            },
            "learner_model_param": {"base_score": "[4E-1]", "boost_from_average": "1", "num_class": "0",
                                    "num_feature": "3", "num_target": "1"},
            "objective": {"name": "binary:logistic", "reg_loss_param": {"scale_pos_weight": "1"}},
        },
        "version": [3, 2, 0],
    }


# ---- UBJSON in XGBoost's style -------------------------------------------------------------

def _ub_len(n: int) -> bytes:
    return b"L" + struct.pack(">q", n)


_TYPED = {  # XGBoost's typed node arrays: key -> (marker, struct format)
    **dict.fromkeys(["left_children", "right_children", "parents", "split_indices", "categories_nodes",
                     "categories"], ("l", ">i")),
    **dict.fromkeys(["split_type", "default_left"], ("U", ">B")),
    **dict.fromkeys(["categories_segments", "categories_sizes"], ("L", ">q")),
}


def _ub_int(v: int) -> bytes:
    for marker, fmt, lo, hi in (("i", ">b", -128, 127), ("U", ">B", 0, 255), ("I", ">h", -2**15, 2**15 - 1),
                                ("l", ">i", -2**31, 2**31 - 1)):
        if lo <= v <= hi:
            return marker.encode() + struct.pack(fmt, v)
    return b"L" + struct.pack(">q", v)


def _ub(v, key=None) -> bytes:
    if isinstance(v, bool):
        return b"T" if v else b"F"
    if isinstance(v, int):
        return _ub_int(v)
    if isinstance(v, float):
        return b"d" + struct.pack(">f", v)
    if isinstance(v, str):
        b = v.encode()
        return b"S" + _ub_len(len(b)) + b
    if isinstance(v, dict):
        out = [b"{"]
        for k, x in v.items():
            kb = k.encode()
            out += [_ub_len(len(kb)), kb, _ub(x, k)]
        return b"".join(out + [b"}"])
    if isinstance(v, list):
        typed = _TYPED.get(key)
        try:
            if typed and all(type(x) is int for x in v):
                return (b"[$" + typed[0].encode() + b"#" + _ub_len(len(v)) +
                        struct.pack(">%d%s" % (len(v), typed[1][1]), *v))
        except struct.error:  # a value the typed array cannot hold: fall back to a generic array
            pass
        if v and all(type(x) is float for x in v):
            return b"[$d#" + _ub_len(len(v)) + struct.pack(">%df" % len(v), *v)
        return b"[#" + _ub_len(len(v)) + b"".join(_ub(x) for x in v)
    if v is None:
        return b"Z"
    raise TypeError(type(v))


def to_ubjson(doc: dict) -> bytes:
    return _ub(doc)


def to_json(doc: dict) -> bytes:
    return json.dumps(doc, separators=(",", ":"), allow_nan=True).encode()


# ---- the cases -------------------------------------------------------------------------------

def _edit(fn):
    doc = base_model()
    fn(doc)
    return doc


def _gb(doc):
    return doc["learner"]["gradient_booster"]["model"]


def _t(doc, i=0):
    return _gb(doc)["trees"][i]


def _set(path_fn, key, value):
    def fn(doc):
        path_fn(doc)[key] = value
    return fn


def _vector(doc, trees=(0, 1, 2)):
    """The model as a regressor of 2 targets whose trees (those listed) have vector leaves, as
    multi_strategy="multi_output_tree" writes them: a leaf's right child is its row of
    leaf_weights (2 values each)."""
    lp = doc["learner"]["learner_model_param"]
    lp.update(num_target="2", base_score="[4E-1,1E-1]")
    doc["learner"]["objective"] = {"name": "reg:squarederror", "reg_loss_param": {"scale_pos_weight": "1"}}
    for i in trees:
        t = _t(doc, i)
        t["tree_param"]["size_leaf_vector"] = "2"
        leaves = [k for k, c in enumerate(t["left_children"]) if c == -1]
        t["leaf_weights"] = []
        for row, k in enumerate(leaves):
            t["right_children"][k] = row
            t["leaf_weights"] += [t["split_conditions"][k], -t["split_conditions"][k]]
        t["split_type"] = [0] * len(t["left_children"])  # (tree 2's categorical split: a number here)
    return doc


def _chain_tree(depth: int) -> dict:
    """A chain `depth` levels deep: internal node 2i has the leaf 2i+1 on its right and node
    2i+2 (the next internal node, or the last leaf) on its left."""
    n = 2 * depth + 1
    left = [i + 2 if i % 2 == 0 and i < n - 1 else -1 for i in range(n)]
    right = [i + 1 if i % 2 == 0 and i < n - 1 else -1 for i in range(n)]
    return _tree(0, left, right, [0] * n, [0.5] * n, [0] * n)


def _doc_cases():
    """(name, edited document, status, expected text) — written as JSON and as UBJSON."""
    D = []

    def add(name, fn, status, text):
        D.append((name, _edit(fn), status, text))

    lm = lambda d: d["learner"]["learner_model_param"]  # noqa: E731
    add("no_learner", lambda d: d.pop("learner"), CORRUPT, "has no 'learner'")
    add("learner_string", lambda d: d.__setitem__("learner", "x"), CORRUPT, "learner is a string, expected an object")
    add("objective_unknown", lambda d: d["learner"]["objective"].__setitem__("name", "reg:foo"), UNSUPPORTED,
        "objective 'reg:foo' is not supported")
    add("booster_gblinear", lambda d: d["learner"]["gradient_booster"].__setitem__("name", "gblinear"), UNSUPPORTED,
        "gblinear")
    add("booster_unknown", lambda d: d["learner"]["gradient_booster"].__setitem__("name", "gbforest"), UNSUPPORTED,
        "unknown booster 'gbforest'")
    add("dart_without_weights", lambda d: d["learner"].__setitem__(
        "gradient_booster", {"name": "dart", "gbtree": d["learner"]["gradient_booster"]}), CORRUPT,
        "has no 'weight_drop'")
    add("dart_weight_nan", lambda d: d["learner"].__setitem__(
        "gradient_booster", {"name": "dart", "gbtree": d["learner"]["gradient_booster"],
                             "weight_drop": [1.0, math.nan, 1.0]}), CORRUPT, "weight_drop[1] is not finite")
    add("num_feature_text", _set(lm, "num_feature", "abc"), CORRUPT, "num_feature is not an integer")
    add("num_feature_zero", _set(lm, "num_feature", "0"), CORRUPT, "num_feature = 0 is outside")
    add("num_feature_missing", lambda d: lm(d).pop("num_feature"), CORRUPT, "has no 'num_feature'")
    add("num_class_binary", _set(lm, "num_class", "3"), CORRUPT, "is not multiclass")
    add("softprob_one_class", lambda d: (d["learner"]["objective"].__setitem__("name", "multi:softprob"),
                                         lm(d).__setitem__("num_class", "1")), CORRUPT, "num_class >= 2")
    add("num_class_huge", lambda d: (d["learner"]["objective"].__setitem__("name", "multi:softprob"),
                                     lm(d).__setitem__("num_class", "1000000000")), CORRUPT,
        "outputs but only 3 trees")
    add("multilabel", _set(lm, "num_target", "2"), UNSUPPORTED, "multi-label")
    add("base_score_text", _set(lm, "base_score", "abc"), CORRUPT, "base_score 'abc' is not a number")
    add("base_score_count", _set(lm, "base_score", "[5E-1,5E-1]"), CORRUPT, "has 2 values for 1 outputs")
    add("base_score_open", _set(lm, "base_score", "[5E-1"), CORRUPT, "lacks its closing")
    add("base_score_not_prob", _set(lm, "base_score", "[1.5E0]"), CORRUPT, "is not a probability")
    add("base_score_poisson_zero", lambda d: (d["learner"]["objective"].__setitem__("name", "count:poisson"),
                                              lm(d).__setitem__("base_score", "0")), CORRUPT, "must be positive")
    add("base_score_missing", lambda d: lm(d).pop("base_score"), CORRUPT, "no 'base_score'")
    add("no_trees", lambda d: (_gb(d).__setitem__("trees", []), _gb(d).__setitem__("tree_info", []),
                               _gb(d)["gbtree_model_param"].__setitem__("num_trees", "0")), UNSUPPORTED,
        "has no trees")
    add("num_trees_mismatch", lambda d: _gb(d)["gbtree_model_param"].__setitem__("num_trees", "4"), CORRUPT,
        "num_trees is 4 but 'trees' holds 3")
    add("tree_info_short", lambda d: _gb(d).__setitem__("tree_info", [0, 0]), CORRUPT,
        "tree_info has 2 entries, expected 3")
    add("tree_info_range", lambda d: _gb(d).__setitem__("tree_info", [0, 5, 0]), CORRUPT,
        "tree_info[1] = 5 is not an output group")
    add("tree_not_object", lambda d: _gb(d)["trees"].__setitem__(1, [1, 2]), CORRUPT, "tree 1 is not an object")
    add("tree_param_missing", lambda d: _t(d, 1).pop("tree_param"), CORRUPT, "tree 1 has no 'tree_param'")
    add("num_nodes_huge", lambda d: _t(d)["tree_param"].__setitem__("num_nodes", "2000000000"), CORRUPT,
        "left_children is missing or does not have num_nodes")
    add("left_children_missing", lambda d: _t(d).pop("left_children"), CORRUPT, "left_children is missing")
    add("right_children_short", lambda d: _t(d).__setitem__("right_children", [2, 4, -1, -1]), CORRUPT,
        "tree 0.right_children has 4 entries, expected 5")
    add("split_conditions_string", lambda d: _t(d)["split_conditions"].__setitem__(2, "x"), CORRUPT,
        "split_conditions holds values that are not numbers")
    add("child_out_of_range", lambda d: _t(d)["right_children"].__setitem__(1, 99), CORRUPT,
        "tree 0 node 1: right child 99 is not a node of the tree")
    add("child_negative", lambda d: _t(d)["right_children"].__setitem__(1, -7), CORRUPT,
        "tree 0 node 1: right child -7 is not a node")
    add("child_fraction", lambda d: _t(d)["left_children"].__setitem__(0, 1.5), CORRUPT,
        "left child 1.5 is not a node")
    add("leaf_with_right_child", lambda d: _t(d)["right_children"].__setitem__(3, 2), CORRUPT,
        "tree 0 node 3 has no left child but right child 2")
    add("cycle_to_root", lambda d: _t(d)["left_children"].__setitem__(1, 0), CORRUPT,
        "tree 0 node 1: child 0 is reached a second time")
    add("self_loop", lambda d: _t(d)["left_children"].__setitem__(0, 0), CORRUPT, "child 0 is reached a second time")
    add("shared_child", lambda d: _t(d)["right_children"].__setitem__(0, 1), CORRUPT,
        "child 1 is reached a second time")
    add("cross_link", lambda d: _t(d)["right_children"].__setitem__(1, 2), CORRUPT,
        "child 2 is reached a second time")
    add("threshold_nan", lambda d: _t(d)["split_conditions"].__setitem__(1, math.nan), CORRUPT,
        "tree 0 node 1 has a NaN split condition")
    add("leaf_infinite", lambda d: _t(d)["split_conditions"].__setitem__(3, math.inf), CORRUPT,
        "tree 0 leaf 3 has the non-finite value")
    add("feature_out_of_range", lambda d: _t(d, 1)["split_indices"].__setitem__(0, 7), CORRUPT,
        "tree 1 node 0 splits on feature 7, but the model has 3 features")
    add("feature_negative", lambda d: _t(d, 1)["split_indices"].__setitem__(0, -1), CORRUPT,
        "tree 1 node 0 splits on feature -1")
    add("default_left_2", lambda d: _t(d)["default_left"].__setitem__(0, 2), CORRUPT, "default_left is 2")
    add("split_type_2", lambda d: _t(d)["split_type"].__setitem__(0, 2), CORRUPT, "split_type 2 is neither")
    add("categorical_unlisted", lambda d: _t(d)["split_type"].__setitem__(1, 1), CORRUPT,
        "tree 0 has categorical splits but no 'categories_nodes'|tree 0 node 1 is categorical but not in")
    add("categorical_no_entry", lambda d: _t(d, 2)["split_type"].__setitem__(0, 1) or
        _t(d, 2).update(categories_nodes=[], categories_segments=[], categories_sizes=[], categories=[]), CORRUPT,
        "tree 2 node 0 is categorical but not in categories_nodes")
    add("categories_missing", lambda d: _t(d, 2).pop("categories"), CORRUPT, "tree 2 has no 'categories'")
    add("category_negative", lambda d: _t(d, 2)["categories"].__setitem__(0, -1), CORRUPT,
        "tree 2 node 0: category -1 is not an integer")
    add("category_2_24", lambda d: _t(d, 2)["categories"].__setitem__(2, 16777216), CORRUPT,
        "category 16777216 is not an integer in [0, 2^24)")
    add("category_segment", lambda d: _t(d, 2).__setitem__("categories_segments", [2]), CORRUPT,
        "lie outside the 3 entries")
    add("category_node_twice", lambda d: _t(d, 2).update(categories_nodes=[0, 0], categories_segments=[0, 0],
                                                          categories_sizes=[1, 1]), CORRUPT, "listed twice")
    add("category_node_range", lambda d: _t(d, 2).__setitem__("categories_nodes", [9]), CORRUPT,
        "categories_nodes[0] = 9 is not a node")
    add("leaf_vector_size", lambda d: _t(d)["tree_param"].__setitem__("size_leaf_vector", "2"), CORRUPT,
        "has leaves of 2 values but the model has 1 outputs")
    add("leaf_vector_mix", lambda d: _vector(d, trees=(0,)), UNSUPPORTED, "a mix of vector and scalar trees")
    add("leaf_weights_short", lambda d: (_vector(d), _t(d)["leaf_weights"].pop()), CORRUPT, "leaf_weights")
    add("leaf_weights_row", lambda d: (_vector(d), _t(d)["right_children"].__setitem__(2, 7)), CORRUPT,
        "leaf_weights row 7 is not one of the tree's 3 leaves")
    add("leaf_weights_nan", lambda d: (_vector(d), _t(d)["leaf_weights"].__setitem__(1, float("nan"))), CORRUPT,
        "non-finite value")
    add("leaf_vector_tree_info", lambda d: (_vector(d), _gb(d).__setitem__("tree_info", [0, 1, 0])), CORRUPT,
        "tree_info[1] = 1 for a tree of vector leaves")
    add("feature_names_count", lambda d: d["learner"].__setitem__("feature_names", ["a", "b"]), CORRUPT,
        "feature_names has 2 entries for 3 features|feature_names must be 3 strings")
    add("feature_names_numbers", lambda d: d["learner"].__setitem__("feature_names", [1, 2, 3]), CORRUPT,
        "feature_names must be 3 strings")

    def depth_bomb(d):
        _gb(d)["trees"][0] = _chain_tree(1100)
    add("depth_bomb", depth_bomb, CORRUPT, "deeper than 1024 levels")

    def nesting(d):
        v = 1
        for _ in range(300):
            v = [v]
        d["learner"]["attributes"] = {"deep": v}
    add("nesting_bomb", nesting, CORRUPT, "nesting deeper than 128 levels")
    return D


def cases():
    """[(file name, bytes, status name, expected text ('|' separates alternatives))]"""
    out = []
    for name, doc, status, text in _doc_cases():
        out.append((name + ".json", to_json(doc), status, text))
        out.append((name + ".ubj", to_ubjson(doc), status, text))
    good_json, good_ubj = to_json(base_model()), to_ubjson(base_model())
    raw = [
        ("empty.json", b"", CORRUPT, "empty|shorter than"),
        ("not_json.json", b"{\"learner\": tru}", CORRUPT, "unknown literal at byte 12"),
        ("truncated_half.json", good_json[: len(good_json) // 2], CORRUPT,
         "unexpected end of input|unterminated|expected a value|expected ','"),
        ("truncated_1.json", good_json[:-1], CORRUPT, "expected ',' or '}'|unexpected end of input"),
        ("trailing_text.json", good_json + b" x", CORRUPT, "unexpected text after the end"),
        ("bad_escape.json", b'{"learner\\q": 1}', CORRUPT, "bad escape"),
        ("lone_surrogate.json", b'{"\\ud800": 1}', CORRUPT, "unpaired surrogate"),
        ("control_char.json", b'{"a\x01": 1}', CORRUPT, "control character"),
        ("trailing_comma.json", b'{"a": [1, 2,]}', CORRUPT, "expected a value"),
        ("number_no_digits.json", b'{"a": -}', CORRUPT, "expected a value"),
        ("truncated_half.ubj", good_ubj[: len(good_ubj) // 2], CORRUPT, "unexpected end of input|runs past|count"),
        ("truncated_1.ubj", good_ubj[:-1], CORRUPT, "unterminated container"),
        ("trailing.ubj", good_ubj + b"Z", CORRUPT, "unexpected bytes after the end"),
        ("bad_marker.ubj", b"{" + _ub_len(1) + b"aQ}", CORRUPT, "unknown UBJSON type marker"),
        ("huge_count.ubj", b"{" + _ub_len(1) + b"a[$d#" + _ub_len(1 << 40) + b"}", CORRUPT,
         "container count larger than the rest"),
        ("huge_typed_count.ubj", b"{" + _ub_len(1) + b"a[$D#" + _ub_len(100) + b"\0" * 120 + b"}", CORRUPT,
         "typed array runs past the end"),
        ("negative_length.ubj", b"{" + _ub_len(-5) + b"a}", CORRUPT, "negative length"),
        ("huge_string.ubj", b"{" + _ub_len(1) + b"aS" + _ub_len(1 << 50) + b"xx}", CORRUPT,
         "string runs past the end"),
        ("typed_null_array.ubj", b"{" + _ub_len(1) + b"a[$Z#" + _ub_len(1 << 40) + b"}", CORRUPT,
         "unsupported element type"),
        ("typed_without_count.ubj", b"{" + _ub_len(1) + b"a[$d}", CORRUPT, "typed container without a count"),
        ("length_not_int.ubj", b"{#d\0\0\0\0}", CORRUPT, "expected an integer length"),
    ]
    return out + raw


def main(argv):
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import corrupt_corpus
    out_dir = argv[1] if len(argv) > 1 else os.path.join(os.getcwd(), "xgboost_corrupt")
    corrupt_corpus.write(out_dir, cases(), (("good.json", to_json(base_model())), ("good.ubj", to_ubjson(base_model()))))


if __name__ == "__main__":
    main(sys.argv)
