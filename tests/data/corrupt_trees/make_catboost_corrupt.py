#!/usr/bin/env python3
"""make_catboost_corrupt.py — broken CatBoost JSON model files, each with one defect, for the
CatBoost importer (src/import/catboost.c). Every file must fail to load with the stated
status and a message containing the stated text; none may crash or hang the loader.

    python3 tests/data/corrupt_trees/make_catboost_corrupt.py OUT_DIR   # writes the files + EXPECTED
    from make_catboost_corrupt import cases, base_model, to_json         # tests/python/test_catboost.py

The files are generated at test time (nothing binary is committed). They derive from a small
hand-written model in CatBoost 1.2's JSON schema (`base_model()`: Logloss, three oblivious
trees of depth 2, 1 and 0 on 3 float features), which CatBoost itself loads.
Needs only the Python standard library; deterministic.
"""
from __future__ import annotations

import copy
import json
import os
import sys

CORRUPT, UNSUPPORTED = "MLI_ERR_CORRUPT", "MLI_ERR_UNSUPPORTED"


def _feature(i, borders, nan="AsIs"):
    return {"borders": borders, "feature_id": "", "feature_index": i, "flat_feature_index": i, "has_nans": True,
            "nan_value_treatment": nan}


def _split(f, border, index):
    return {"border": border, "float_feature_index": f, "split_index": index, "split_type": "FloatFeature"}


def base_model() -> dict:
    """A valid Logloss model on 3 float features."""
    return {
        "features_info": {"float_features": [_feature(0, [-0.5, 0.5]), _feature(1, [0.25], "AsFalse"),
                                             _feature(2, [1.5], "AsTrue")]},
        "model_info": {"class_params": {"class_label_type": "Integer", "class_names": [0, 1],
                                        "class_to_label": [0, 1], "classes_count": 0},
                       "params": {"loss_function": {"params": {}, "type": "Logloss"}}},
        "oblivious_trees": [
            {"leaf_values": [-0.5, 0.25, 0.125, 0.75], "leaf_weights": [10, 5, 7, 3],
             "splits": [_split(0, 0.5, 1), _split(1, 0.25, 2)]},
            {"leaf_values": [0.1, -0.2], "leaf_weights": [12, 13], "splits": [_split(2, 1.5, 3)]},
            {"leaf_values": [0.05], "leaf_weights": [25], "splits": []},
        ],
        "scale_and_bias": [1, [0.125]],
    }


def to_json(doc) -> bytes:
    # CatBoost writes its keys sorted, which the importer's sniffer relies on
    return json.dumps(doc, sort_keys=True, allow_nan=True).encode()


def _edit(fn):
    doc = copy.deepcopy(base_model())
    fn(doc)
    return doc


def _ff(d, i=0):
    return d["features_info"]["float_features"][i]


def _tree(d, i=0):
    return d["oblivious_trees"][i]


def _doc_cases():
    """(name, edited document, status, expected text)."""
    D = []

    def add(name, fn, status, text):
        D.append((name, _edit(fn), status, text))

    add("no_trees_key", lambda d: d.pop("oblivious_trees"), CORRUPT, "has no 'oblivious_trees'")
    add("trees_empty", lambda d: d.__setitem__("oblivious_trees", []), UNSUPPORTED, "no trees")
    add("trees_numbers", lambda d: d.__setitem__("oblivious_trees", [1, 2]), UNSUPPORTED, "no trees")
    add("tree_not_object", lambda d: d["oblivious_trees"].__setitem__(1, "x"), CORRUPT, "is not an object")
    add("leaf_values_short", lambda d: _tree(d)["leaf_values"].pop(), CORRUPT, "leaf_values")
    add("leaf_values_long", lambda d: _tree(d, 1)["leaf_values"].append(0.5), CORRUPT, "leaf_values has 3 entries")
    add("leaf_value_string", lambda d: _tree(d)["leaf_values"].__setitem__(1, "a"), CORRUPT, "not numbers")
    add("leaf_weights_short", lambda d: _tree(d)["leaf_weights"].pop(), CORRUPT, "leaf_weights has 3 entries")
    add("leaf_weight_negative", lambda d: _tree(d)["leaf_weights"].__setitem__(0, -1), CORRUPT, "leaf_weights[0]")
    add("leaf_value_nan", lambda d: _tree(d)["leaf_values"].__setitem__(2, float("nan")), CORRUPT, "not finite")
    add("split_feature_out_of_range", lambda d: _tree(d)["splits"][0].__setitem__("float_feature_index", 3),
        CORRUPT, "float_feature_index = 3")
    add("split_feature_negative", lambda d: _tree(d)["splits"][1].__setitem__("float_feature_index", -1),
        CORRUPT, "float_feature_index = -1")
    add("split_feature_fraction", lambda d: _tree(d)["splits"][1].__setitem__("float_feature_index", 0.5),
        CORRUPT, "float_feature_index = 0.5")
    add("border_nan", lambda d: _tree(d)["splits"][0].__setitem__("border", float("nan")), CORRUPT,
        "border = nan")
    add("border_inf", lambda d: _tree(d)["splits"][0].__setitem__("border", float("inf")), CORRUPT,
        "not a finite float32")
    add("border_beyond_float", lambda d: _tree(d)["splits"][0].__setitem__("border", 1e39), CORRUPT,
        "not a finite float32")
    add("border_missing", lambda d: _tree(d)["splits"][0].pop("border"), CORRUPT, "has no 'border'")
    add("split_ctr", lambda d: _tree(d)["splits"][0].__setitem__("split_type", "OnlineCtr"), UNSUPPORTED,
        "'OnlineCtr' split")
    add("too_deep", lambda d: _tree(d).__setitem__("splits", [_split(0, 0.5, 1)] * 17), UNSUPPORTED,
        "17 levels")
    add("flat_index_twice", lambda d: _ff(d, 1).__setitem__("flat_feature_index", 0), CORRUPT, "given twice")
    add("flat_index_out_of_range", lambda d: _ff(d, 2).__setitem__("flat_feature_index", 7), CORRUPT,
        "flat_feature_index = 7")
    add("has_nans_string", lambda d: _ff(d).__setitem__("has_nans", "yes"), CORRUPT,
        "has_nans is a string, expected a boolean")
    add("nan_treatment_unknown", lambda d: _ff(d).__setitem__("nan_value_treatment", "Sometimes"), CORRUPT,
        "nan_value_treatment")
    add("no_float_features", lambda d: d["features_info"].__setitem__("float_features", []), CORRUPT,
        "lists no feature")
    add("categorical_feature", lambda d: d["features_info"].__setitem__(
        "categorical_features", [{"feature_id": "color", "flat_feature_index": 3}]), UNSUPPORTED,
        "categorical feature 'color'")
    add("text_feature", lambda d: d["features_info"].__setitem__(
        "text_features", [{"feature_id": "review", "flat_feature_index": 3}]), UNSUPPORTED, "text feature 'review'")
    add("loss_unknown", lambda d: d["model_info"]["params"]["loss_function"].__setitem__("type", "YetiRank"),
        UNSUPPORTED, "loss_function 'YetiRank' is not supported")
    add("no_loss", lambda d: d["model_info"]["params"].pop("loss_function"), CORRUPT, "has no 'loss_function'")
    add("bias_count", lambda d: d.__setitem__("scale_and_bias", [1, [0.1, 0.2]]), CORRUPT, "2 biases for 1")
    add("scale_nan", lambda d: d.__setitem__("scale_and_bias", [float("nan"), [0.1]]), CORRUPT,
        "scale is not finite")
    add("scale_and_bias_shape", lambda d: d.__setitem__("scale_and_bias", [1]), CORRUPT,
        "scale_and_bias is not")
    add("class_names_count", lambda d: d["model_info"]["class_params"].__setitem__("class_names", [0, 1, 2]),
        CORRUPT, "class_names has 3 entries for 2 classes")
    add("logloss_two_values_per_leaf", lambda d: [_tree(d, i).__setitem__("leaf_values", _tree(d, i)["leaf_values"] * 2)
                                                  for i in range(3)], CORRUPT, "2 values per leaf")
    return D


def cases():
    """(file name, bytes, status, expected text)."""
    good = to_json(base_model())
    out = [(f"{name}.json", to_json(doc), status, text) for name, doc, status, text in _doc_cases()]
    out += [
        ("truncated.json", good[: len(good) // 2], CORRUPT, "truncated.json"),
        ("truncated_in_number.json", good[: good.index(b"0.125") + 3], CORRUPT, "truncated_in_number.json"),
        ("not_an_object.json", b'{"features_info": 5, "model_info": {}}', CORRUPT,
         "features_info is a number, expected an object"),
    ]
    return out


def main(argv):
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import corrupt_corpus
    out_dir = argv[1] if len(argv) > 1 else os.path.join(os.getcwd(), "catboost_corrupt")
    corrupt_corpus.write(out_dir, cases(), (("good.json", to_json(base_model())),))


if __name__ == "__main__":
    main(sys.argv)
