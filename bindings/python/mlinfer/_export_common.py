"""Helpers shared by the exporters (export.py, export_trees.py): the .mli writer state,
class labels and the error raised for what cannot be exported. Below both, so neither
imports the other's internals."""
from __future__ import annotations

from typing import Dict

import numpy as np

from .errors import UnsupportedModelError


def _cls(est) -> str:
    return type(est).__name__


def _fail(est, why: str):
    raise UnsupportedModelError(f"mlinfer.export: {type(est).__module__}.{_cls(est)} is not supported: {why}")


def _check_fitted(est):
    if not any(k.endswith("_") and not k.startswith("__") for k in vars(est)):
        raise UnsupportedModelError(f"mlinfer.export: {_cls(est)} is not fitted")


class _Writer:
    def __init__(self):
        self.meta: Dict[str, object] = {}
        self.arrays: Dict[str, object] = {}
        self.n_stages = 0

    def stage(self, kind: str, **meta) -> str:
        prefix = f"stage.{self.n_stages}"
        self.meta[f"{prefix}.kind"] = kind
        for k, v in meta.items():
            self.meta[f"{prefix}.{k}"] = v
        self.n_stages += 1
        return prefix


def _labels(w: _Writer, classes):
    classes = np.asarray(classes)
    w.meta["n_classes"] = len(classes)
    w.meta["classes_dtype"] = classes.dtype.str if classes.dtype.kind != "O" else "object"
    if classes.dtype.kind in "iu" and np.all(np.abs(classes.astype(np.float64)) < 2**63):
        w.meta["class_labels"] = "int"
        w.arrays["classes"] = classes.astype(np.int64)
    else:
        if classes.dtype.kind == "O" and not all(isinstance(c, str) for c in classes):
            raise UnsupportedModelError("mlinfer.export: class labels must be integers, floats, booleans or strings")
        w.meta["class_labels"] = "str"
        w.arrays["classes"] = [repr(float(c)) if classes.dtype.kind == "f" else str(c) for c in classes]
