"""Broken LightGBM text models, made at test time from a valid one.

Each case is a function that takes the text of a valid model (any model from
`base_model()` works: 4 leaves per tree, a categorical split, several trees) and returns
the broken text, with the words the loader's message must contain. tests/python/
test_lightgbm.py loads every case and expects an mlinfer.Error naming the problem; run
this file to write the cases into a folder for other tools (fuzzers, the CLI):

    python3 make_lightgbm_corrupt.py OUT_DIR
"""
from __future__ import annotations

import re
import sys
from pathlib import Path


def base_model(n_trees: int = 3):
    """A small valid binary model with numerical and categorical splits, as text."""
    import lightgbm as lgb
    import numpy as np

    rng = np.random.default_rng(7)
    X = rng.normal(size=(400, 4))
    X[:, 3] = rng.integers(0, 12, size=400)
    y = ((X[:, 0] > 0) ^ np.isin(X[:, 3], [1, 4, 5, 9])).astype(int)
    booster = lgb.train({"objective": "binary", "num_leaves": 4, "min_data_in_leaf": 5, "verbose": -1,
                         "min_data_per_group": 5, "cat_smooth": 1, "max_cat_to_onehot": 1},
                        lgb.Dataset(X, y, categorical_feature=[3]), num_boost_round=n_trees)
    return booster.model_to_string()


# ---- helpers ---------------------------------------------------------------------------

def _tree_span(text: str, i: int):
    start = text.index(f"Tree={i}\n")
    nxt = text.find("\nTree=", start + 1)
    end = text.index("end of trees") if nxt < 0 else nxt + 1
    return start, end


def _edit_tree(text: str, i: int, key: str, fn) -> str:
    """Replaces the value of `key` in tree i by fn(old_value)."""
    start, end = _tree_span(text, i)
    block = text[start:end]
    m = re.search(rf"^{key}=(.*)$", block, flags=re.M)
    assert m, f"tree {i} has no {key}"
    block = block[:m.start(1)] + fn(m.group(1)) + block[m.end(1):]
    return text[:start] + block + text[end:]


def _set_tree(text: str, i: int, key: str, value: str) -> str:
    return _edit_tree(text, i, key, lambda _old: value)


def _edit_header(text: str, key: str, fn) -> str:
    head_end = text.index("Tree=0")
    head = text[:head_end]
    m = re.search(rf"^{key}=(.*)$", head, flags=re.M)
    assert m, f"header has no {key}"
    return text[:m.start(1)] + fn(m.group(1)) + text[m.end(1):]


def _drop_line(text: str, i: int, key: str) -> str:
    start, end = _tree_span(text, i)
    block = re.sub(rf"^{key}=.*\n", "", text[start:end], count=1, flags=re.M)
    return text[:start] + block + text[end:]


def _first_categorical_tree(text: str) -> int:
    i = 0
    while f"Tree={i}\n" in text:
        s, e = _tree_span(text, i)
        if re.search(r"^num_cat=[1-9]", text[s:e], flags=re.M):
            return i
        i += 1
    raise AssertionError("the base model has no categorical split")


def _replace_nth(values: str, n: int, new: str) -> str:
    parts = values.split(" ")
    parts[n] = new
    return " ".join(parts)


# ---- the cases: name -> (mutation, words the message must contain) ----------------------

def truncated_mid_tree(t):
    return t[:t.index("Tree=1") + 60], "truncated"


def no_end_of_trees(t):
    return t[:t.index("end of trees")], "truncated"


def no_trees_at_all(t):
    return t[:t.index("Tree=0")] + "end of trees\n", "no trees"


def header_only(t):
    return t[:t.index("Tree=0")], "no Tree= blocks"


def empty_after_magic(_t):
    return "tree\n", "no version line"


def leaf_value_short(t):
    return _edit_tree(t, 1, "leaf_value", lambda v: v.rsplit(" ", 1)[0]), "leaf_value has 3 values where 4"


def threshold_long(t):
    return _edit_tree(t, 0, "threshold", lambda v: v + " 0.5"), "threshold has 4 values where 3"


def left_child_out_of_range(t):
    return _edit_tree(t, 0, "left_child", lambda v: _replace_nth(v, 0, "99")), "left_child value 0 ('99')"


def right_child_below_leaves(t):
    return _edit_tree(t, 0, "right_child", lambda v: _replace_nth(v, 1, "-5")), "right_child value 1 ('-5')"


def child_cycle(t):
    # node 2 points back at node 1, which already has a parent
    return _edit_tree(t, 0, "left_child", lambda v: _replace_nth(v, 2, "1")), "child of two nodes"


def shared_leaf(t):
    return (_edit_tree(t, 0, "right_child", lambda v: _replace_nth(v, 0, _edit_first(t))),
            "child of two nodes")


def _edit_first(t):
    s, e = _tree_span(t, 0)
    left = re.search(r"^left_child=(.*)$", t[s:e], flags=re.M).group(1).split(" ")
    return left[0]  # the root's right child becomes its left child


def unreachable_cycle(t):
    # the root's children become two leaves; nodes 1 and 2 then only point at each other
    tree = ("Tree=0\nnum_leaves=4\nnum_cat=0\nsplit_feature=0 1 2\nthreshold=0 0 0\ndecision_type=2 2 2\n"
            "left_child=-1 2 1\nright_child=-2 -3 -4\nleaf_value=0.1 0.2 0.3 0.4\nis_linear=0\nshrinkage=1\n\n\n")
    s, e = _tree_span(t, 0)
    return t[:s] + tree + t[e:], "cannot be reached from the root"


def nan_threshold(t):
    return _edit_tree(t, 0, "threshold", lambda v: _replace_nth(v, 0, "nan")), "NaN threshold"


def garbage_threshold(t):
    return _edit_tree(t, 0, "threshold", lambda v: _replace_nth(v, 0, "0.5.1")), "threshold value 0 ('0.5.1')"


def garbage_leaf(t):
    return _edit_tree(t, 2, "leaf_value", lambda v: _replace_nth(v, 1, "abc")), "leaf_value value 1 ('abc')"


def infinite_leaf(t):
    return _edit_tree(t, 0, "leaf_value", lambda v: _replace_nth(v, 3, "inf")), "non-finite"


def huge_num_leaves(t):
    return _set_tree(t, 0, "num_leaves", "1000000000"), "leaf_value has 4 values where 1000000000"


def num_leaves_not_a_number(t):
    return _set_tree(t, 0, "num_leaves", "4x"), "num_leaves is '4x'"


def split_feature_out_of_range(t):
    return _edit_tree(t, 0, "split_feature", lambda v: _replace_nth(v, 0, "4")), "split_feature value 0 ('4')"


def decision_type_unknown_bits(t):
    return _edit_tree(t, 0, "decision_type", lambda v: _replace_nth(v, 0, "18")), "decision_type value 0 ('18')"


def decision_type_missing_type_3(t):
    return _edit_tree(t, 0, "decision_type", lambda v: _replace_nth(v, 0, "14")), "unknown missing type 3"


def categorical_index_out_of_range(t):
    i = _first_categorical_tree(t)
    s, e = _tree_span(t, i)
    dts = re.search(r"^decision_type=(.*)$", t[s:e], flags=re.M).group(1).split(" ")
    node = next(k for k, d in enumerate(dts) if int(d) & 1)
    return _edit_tree(t, i, "threshold", lambda v: _replace_nth(v, node, "7")), "not a bitset index"


def categorical_boundaries_wrong(t):
    i = _first_categorical_tree(t)
    return _edit_tree(t, i, "cat_boundaries", lambda v: _replace_nth(v, -1, "9")), "cat_boundaries"


def categorical_no_bitset(t):
    i = _first_categorical_tree(t)
    return _drop_line(t, i, "cat_threshold"), "no cat_threshold"


def missing_leaf_value(t):
    return _drop_line(t, 1, "leaf_value"), "tree 1 has no leaf_value"


def missing_left_child(t):
    return _drop_line(t, 2, "left_child"), "no left_child line"


def duplicate_key(t):
    s, e = _tree_span(t, 0)
    block = t[s:e].replace("shrinkage=", "num_leaves=4\nshrinkage=", 1)
    return t[:s] + block + t[e:], "num_leaves appears twice"


def make_linear(t: str, i: int = 1, const="0.25 -0.5 0.125 1", num_features="1 0 2 1",
                features="0  1 2  0  ", coeff="0.5  -0.25 0.125  2  ") -> str:
    """Turns tree i of a base model (4 leaves, 4 features) into a linear tree (linear_tree=true):
    the lines LightGBM writes after is_linear=1, each leaf's features and coefficients followed
    by two spaces, a leaf without any by one. A valid linear model with the defaults (the
    header's tree_sizes, now wrong, is dropped: LightGBM then finds the trees by their lines)."""
    t = re.sub(r"^tree_sizes=.*\n", "", t, count=1, flags=re.M)
    s, e = _tree_span(t, i)
    block = t[s:e].replace("is_linear=0\n", f"is_linear=1\nleaf_const={const}\nnum_features={num_features}\n"
                           f"leaf_features={features}\nleaf_coeff={coeff}\n", 1)
    return t[:s] + block + t[e:]


def linear_tree_without_leaf_const(t):
    return _set_tree(t, 1, "is_linear", "1"), "is_linear=1 but no leaf_const line"


def _linear_case(name: str, words: str, **lines):
    """A case: tree 1 made linear by make_linear with `lines` changed."""
    def case(t):
        return make_linear(t, **lines), words
    case.__name__ = name
    return case


LINEAR_CASES = [
    _linear_case("linear_leaf_coeff_truncated", "leaf_coeff has 3 values where 4 are expected",
                 coeff="0.5  -0.25 0.125  "),
    _linear_case("linear_feature_out_of_range", "leaf_features value 2 ('4') is not an integer in [0, 3]",
                 features="0  1 4  0  "),
    _linear_case("linear_nan_coeff", "term 1 has the non-finite leaf_coeff", coeff="0.5  nan 0.125  2  "),
    _linear_case("linear_infinite_const", "leaf 2 has the non-finite leaf_const", const="0.25 -0.5 inf 1"),
    _linear_case("linear_num_features_mismatch", "leaf_features has 4 values where 5 are expected",
                 num_features="1 0 2 2"),
    _linear_case("linear_num_features_too_large", "num_features value 2 ('5') is not an integer in [0, 4]",
                 num_features="1 0 5 1"),
]


def tree_out_of_order(t):
    return t.replace("Tree=1\n", "Tree=5\n", 1), "where Tree=1 is expected"


def missing_max_feature_idx(t):
    return re.sub(r"^max_feature_idx=.*\n", "", t, count=1, flags=re.M), "no max_feature_idx line"


def feature_names_short(t):
    return _edit_header(t, "feature_names", lambda v: v.rsplit(" ", 1)[0]), "3 feature_names"


def huge_num_class(t):
    t = _edit_header(t, "num_class", lambda _v: "16777216")
    return _edit_header(t, "num_tree_per_iteration", lambda _v: "16777216"), "objective 'binary' with num_class"


def num_class_overflow(t):
    return _edit_header(t, "num_class", lambda _v: "99999999999999999999999"), "num_class is"


def per_iteration_mismatch(t):
    return _edit_header(t, "num_tree_per_iteration", lambda _v: "2"), "num_tree_per_iteration=2"


def unknown_version(t):
    return _edit_header(t, "version", lambda _v: "v9"), "version 'v9'"


def unknown_objective(t):
    return _edit_header(t, "objective", lambda _v: "telepathy"), "objective 'telepathy'"


def bad_sigmoid(t):
    return _edit_header(t, "objective", lambda _v: "binary sigmoid:-1"), "sigmoid"


def tree_sizes_wrong(t):
    if "tree_sizes=" not in t:
        t = t.replace("\nTree=0", "tree_sizes=1 2\n\nTree=0", 1)
        return t, "tree_sizes"
    return _edit_header(t, "tree_sizes", lambda v: v.rsplit(" ", 1)[0]), "tree_sizes"


def nul_byte(t):
    return _edit_tree(t, 0, "leaf_value", lambda v: v[:3] + "\0" + v[3:]), "NUL byte"


def bare_line_in_tree(t):
    s, e = _tree_span(t, 1)
    block = t[s:e].replace("shrinkage=", "whatever\nshrinkage=", 1)
    return t[:s] + block + t[e:], "expected key=value"


CASES = [truncated_mid_tree, no_end_of_trees, no_trees_at_all, header_only, empty_after_magic,
         leaf_value_short, threshold_long, left_child_out_of_range, right_child_below_leaves, child_cycle,
         shared_leaf, unreachable_cycle, nan_threshold, garbage_threshold, garbage_leaf, infinite_leaf,
         huge_num_leaves, num_leaves_not_a_number, split_feature_out_of_range, decision_type_unknown_bits,
         decision_type_missing_type_3, categorical_index_out_of_range, categorical_boundaries_wrong,
         categorical_no_bitset, missing_leaf_value, missing_left_child, duplicate_key,
         linear_tree_without_leaf_const, *LINEAR_CASES,
         tree_out_of_order, missing_max_feature_idx, feature_names_short, huge_num_class, num_class_overflow,
         per_iteration_mismatch, unknown_version, unknown_objective, bad_sigmoid, tree_sizes_wrong, nul_byte,
         bare_line_in_tree]


def main(argv):
    if len(argv) != 2:
        print(__doc__)
        return 2
    out = Path(argv[1])
    out.mkdir(parents=True, exist_ok=True)
    text = base_model()
    (out / "lightgbm_valid.txt").write_text(text)
    for case in CASES:
        broken, words = case(text)
        (out / f"lightgbm_{case.__name__}.txt").write_bytes(broken.encode("utf-8", "surrogateescape"))
        print(f"lightgbm_{case.__name__}.txt: {words}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
