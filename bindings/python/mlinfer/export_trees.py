"""mlinfer.export for scikit-learn's tree models: single trees, forests, GradientBoosting,
HistGradientBoosting and IsolationForest, as one `trees` stage (docs/FORMAT.md).

Each family keeps its own arithmetic (DESIGN.md, exactness contract): the trees of
`sklearn.tree` compare float32(x) <= a float64 threshold (`le_f32`); HistGradientBoosting
compares float64 x <= threshold (`le_f64`) with its missing-value and categorical rules.
Leaf values are written as scikit-learn adds them (class fractions, learning-rate scaled
values, path lengths), so the runtime only sums (or averages) leaves and applies the head.
"""
from __future__ import annotations

from typing import Dict, List, Optional, Sequence

import numpy as np

from ._export_common import _fail, _labels

SINGLE_TREES = {"DecisionTreeClassifier", "DecisionTreeRegressor", "ExtraTreeClassifier", "ExtraTreeRegressor"}
FORESTS = {"RandomForestClassifier", "RandomForestRegressor", "ExtraTreesClassifier", "ExtraTreesRegressor"}
BOOSTED = {"GradientBoostingClassifier", "GradientBoostingRegressor"}
HIST = {"HistGradientBoostingClassifier", "HistGradientBoostingRegressor"}
ESTIMATORS = SINGLE_TREES | FORESTS | BOOSTED | HIST | {"IsolationForest"}


def input_check(est) -> Optional[str]:
    """How the model validates its input (check_array), for a prep stage before it to check:
    sklearn.tree's trees and forests convert it to float32 and refuse +-inf and values too large
    for float32 ("float32-allow-nan"), GradientBoosting refuses NaN too ("float32"); None for
    the others (HistGradientBoosting, IsolationForest, XGBoost and LightGBM take any float).
    A OneVsRestClassifier checks as its estimators do."""
    name = type(est).__name__
    if name == "OneVsRestClassifier":
        checks = {input_check(e) for e in getattr(est, "estimators_", [])}
        return "float32" if "float32" in checks else next(iter(checks - {None}), None)
    if name in BOOSTED:
        return "float32"
    if name in SINGLE_TREES | FORESTS:
        return "float32-allow-nan"
    return None

_FLAG_MISSING_LEFT, _FLAG_CATEGORICAL, _FLAG_UNKNOWN_MISSING, _FLAG_WHOLE_ONLY = 1, 8, 16, 32
_MAX_CATEGORY = 1 << 16  # largest raw category value + 1 a bitset may cover (8 KiB per bitset)


class _Stage:
    """Trees collected one by one, written as the node arrays of one `trees` stage."""

    def __init__(self, leaf_width: int):
        self.leaf_width = leaf_width
        self.trees: List[Dict[str, np.ndarray]] = []
        self.tree_out: List[int] = []
        self.cat_bits: List[np.ndarray] = []
        self._cat_index: Dict[bytes, int] = {}
        self._cat_words = 0

    def bitset(self, words: np.ndarray) -> int:
        """Offset of `words` (uint32) in cat_bits; identical bitsets are stored once."""
        key = words.tobytes()
        off = self._cat_index.get(key)
        if off is None:
            off = self._cat_index[key] = self._cat_words
            self.cat_bits.append(words)
            self._cat_words += len(words)
        return off

    def add(self, feature, left, right, threshold, flags, value, out: int = 0, cat_offset=None, cat_words=None,
            cover=None):
        n = len(feature)
        leaf = np.asarray(feature) < 0
        tree = {
            "feature": np.where(leaf, -1, feature).astype(np.int32),
            "left": np.where(leaf, -1, left).astype(np.int32),
            "right": np.where(leaf, -1, right).astype(np.int32),
            "threshold": np.where(leaf, 0.0, threshold).astype(np.float64),
            "flags": np.where(leaf, 0, flags).astype(np.uint8),
            "value": np.where(leaf[:, None], np.asarray(value, np.float64).reshape(n, self.leaf_width), 0.0),
            "cat_offset": np.zeros(n, np.int64) if cat_offset is None else np.asarray(cat_offset, np.int64),
            "cat_words": np.zeros(n, np.int32) if cat_words is None else np.asarray(cat_words, np.int32),
            # training weight reaching each node: what TreeSHAP weighs the children by
            "cover": None if cover is None else np.asarray(cover, np.float64).reshape(n),
        }
        self.trees.append(tree)
        self.tree_out.append(out)

    def write(self, w, est, n_out: int, compare: str, aggregate: str, base: Optional[np.ndarray] = None):
        # an image or a prep stage may lead, scalers (affine stages, format 1.3) may precede the trees
        if any(w.meta.get(f"stage.{i}.kind") not in ("image", "prep", "affine") for i in range(w.n_stages)):
            _fail(est, "a model stage before a tree model (only preprocessing may precede the trees)")
        if not self.trees:
            _fail(est, "it has no trees")
        sizes = [len(t["feature"]) for t in self.trees]
        start = np.zeros(len(sizes) + 1, np.int64)
        np.cumsum(sizes, out=start[1:])
        p = w.stage("trees", n_trees=len(self.trees), n_nodes=int(start[-1]), n_out=n_out,
                    leaf_width=self.leaf_width, compare=compare, aggregate=aggregate)
        w.arrays[f"{p}.tree_start"] = start
        if self.leaf_width == 1 and n_out > 1:
            w.arrays[f"{p}.tree_out"] = np.asarray(self.tree_out, np.int32)
        for name in ("feature", "left", "right", "threshold", "flags"):
            w.arrays[f"{p}.{name}"] = np.concatenate([t[name] for t in self.trees])
        w.arrays[f"{p}.value"] = np.concatenate([t["value"] for t in self.trees]).reshape(-1)
        if all(t["cover"] is not None for t in self.trees):
            cover = np.concatenate([t["cover"] for t in self.trees])
            if np.all(np.isfinite(cover)) and np.all(cover >= 0.0):  # else contributions are refused
                w.arrays[f"{p}.cover"] = cover
        if self.cat_bits:
            w.arrays[f"{p}.cat_offset"] = np.concatenate([t["cat_offset"] for t in self.trees])
            w.arrays[f"{p}.cat_words"] = np.concatenate([t["cat_words"] for t in self.trees])
            w.arrays[f"{p}.cat_bits"] = np.concatenate(self.cat_bits).astype(np.uint32).view(np.int32)
        if base is not None:
            base = np.asarray(base, np.float64).reshape(-1)
            if base.shape[0] != n_out:
                _fail(est, f"its prior has {base.shape[0]} values for {n_out} scores")
            if not np.all(np.isfinite(base)):
                _fail(est, "its prior (init_ / _baseline_prediction) is not finite")
            w.arrays[f"{p}.base"] = base


# ---- trees of sklearn.tree ---------------------------------------------------------------

def _add_sk_tree(stage: _Stage, tree, value, out: int = 0, columns: Optional[np.ndarray] = None):
    """One fitted sklearn.tree estimator; `value` holds its leaf outputs (n_nodes x
    leaf_width); `columns` maps the tree's feature indices to the input's columns."""
    t = tree.tree_
    left = np.asarray(t.children_left)
    leaf = left == -1  # _tree.TREE_LEAF
    feature = np.where(leaf, -1, t.feature).astype(np.int64)
    if columns is not None:
        feature[~leaf] = np.asarray(columns)[feature[~leaf]]
    missing_left = getattr(t, "missing_go_to_left", None)  # scikit-learn >= 1.3; before, NaN went right
    flags = np.zeros(len(left), np.uint8) if missing_left is None else (np.asarray(missing_left) != 0).astype(np.uint8)
    if np.any(np.isnan(np.asarray(t.threshold)[~leaf])):  # the reader refuses it as corrupt
        _fail(tree, "a NaN split threshold (a split drawn between infinite training values)")
    stage.add(feature, left, t.children_right, t.threshold, flags * _FLAG_MISSING_LEFT, value, out,
              cover=t.weighted_n_node_samples)


def _class_fractions(tree, n_classes: int) -> np.ndarray:
    """Leaf values as the tree's predict_proba returns them: scikit-learn >= 1.4 stores
    class fractions in tree_.value and returns them as they are; older versions stored
    (weighted) counts and divided each row by its sum (0 -> 1)."""
    v = np.asarray(tree.tree_.value, np.float64)[:, 0, :n_classes]
    total = v.sum(axis=1)
    counts = np.abs(total - 1.0) > 1e-9
    if np.any(counts):
        norm = np.where(total == 0.0, 1.0, total)
        v = np.where(counts[:, None], v / norm[:, None], v)
    return v


def _classifier_meta(w, est, classes):
    if getattr(est, "n_outputs_", 1) != 1 or np.asarray(classes).ndim != 1:
        _fail(est, f"multi-output classification (n_outputs_={getattr(est, 'n_outputs_', '?')})")
    w.meta["task"] = "classification"
    _labels(w, classes)


def _regressor_meta(w, n_outputs: int, head: str = "identity"):
    w.meta["task"] = "regression"
    w.meta["n_outputs"] = n_outputs
    w.meta["y_ndim"] = 2 if n_outputs > 1 else 1
    w.meta["head"] = head


def _write_sk_trees(w, est, trees: Sequence, aggregate: str):
    """A single tree (aggregate 'sum') or a forest ('mean', as forests divide the summed
    predictions by the number of trees)."""
    if hasattr(est, "classes_"):
        _classifier_meta(w, est, est.classes_)
        k = len(est.classes_)
        stage = _Stage(k)
        for tr in trees:
            _add_sk_tree(stage, tr, _class_fractions(tr, k))
        w.meta["head"] = "proba"
        stage.write(w, est, k, "le_f32", aggregate)
        return
    n_out = int(est.n_outputs_)
    stage = _Stage(n_out)
    for tr in trees:
        _add_sk_tree(stage, tr, np.asarray(tr.tree_.value, np.float64)[:, :, 0])
    _regressor_meta(w, n_out)
    stage.write(w, est, n_out, "le_f32", aggregate)


# ---- GradientBoosting ----------------------------------------------------------------------

def _gb_prior(est, n_in: int) -> np.ndarray:
    """The raw prediction of init_, computed by scikit-learn itself (_raw_predict_init) on
    probe rows; only constant priors (DummyClassifier/DummyRegressor, or 'zero') can be
    stored, so anything else is refused."""
    init = est.init_
    if isinstance(init, str):
        if init != "zero":
            _fail(est, f"init_={init!r}")
        return np.zeros(np.asarray(est.estimators_).shape[1])
    if type(init).__name__ not in ("DummyClassifier", "DummyRegressor"):
        _fail(est, f"a custom init estimator ({type(init).__module__}.{type(init).__name__}): its predictions "
              "depend on the row")
    if type(init).__name__ == "DummyClassifier" and getattr(init, "strategy", None) == "stratified":
        # predict_proba draws a one-hot row per sample, so the prior and decision_function
        # differ from row to row; with a fixed random_state the probe below can see the same
        # draw for every row and call it constant
        _fail(est, "init estimator DummyClassifier(strategy='stratified'): its predict_proba draws a random class "
              "per row, so the prior is not a constant")
    probe = np.zeros((3, n_in), np.float32)
    probe[1] = 1.0
    probe[2] = -1e3
    raw = np.asarray(est._raw_predict_init(probe), np.float64)
    again = np.asarray(est._raw_predict_init(probe), np.float64)
    if not (np.array_equal(raw, again) and np.all(raw == raw[0])):
        _fail(est, f"init estimator {type(init).__name__}(strategy={getattr(init, 'strategy', '?')!r}) is not constant")
    return raw[0]


def _write_gb(w, est, n_in: int):
    stages = np.asarray(est.estimators_)
    n_stages, k = stages.shape
    if hasattr(est, "classes_"):
        if est.loss != "log_loss":
            _fail(est, f"loss={est.loss!r} (its predict_proba is expit(2 * decision_function), which no head of "
                  "docs/FORMAT.md computes)")
        _classifier_meta(w, est, est.classes_)
        w.meta["head"] = "binary_logistic" if len(est.classes_) == 2 else "multinomial"
        if len(est.classes_) == 2:  # GradientBoostingClassifier.predict: class 1 where raw >= 0
            w.meta["binary_zero_positive"] = 1
    else:  # every GradientBoostingRegressor loss predicts the raw score
        _regressor_meta(w, 1)
    base = _gb_prior(est, n_in)
    lr = float(est.learning_rate)
    stage = _Stage(1)
    for i in range(n_stages):
        for j in range(k):
            tr = stages[i, j]
            # predict_stages adds scale * value in float64: the same product here
            _add_sk_tree(stage, tr, lr * np.asarray(tr.tree_.value, np.float64)[:, 0, 0], out=j)
    stage.write(w, est, k, "le_f32", "sum", base=base)


# ---- HistGradientBoosting ------------------------------------------------------------------

def hgb_encodes_strings(est) -> bool:
    """Whether a fitted HistGradientBoosting model has categories that are not numbers (strings,
    None): its own preprocessor (est._preprocessor, a ColumnTransformer with an OrdinalEncoder)
    is then exported as the prep stage, and the trees take its codes (_write_hgb, encoded)."""
    if type(est).__name__ not in HIST or getattr(est, "_preprocessor", None) is None:
        return False
    enc = est._preprocessor.named_transformers_.get("encoder")
    return enc is not None and any(np.asarray(c).dtype.kind not in "iuf" for c in getattr(enc, "categories_", []))


def _hgb_encoded_columns(est, n_in: int):
    """Columns and categories when est._preprocessor is the prep stage in front of the trees:
    the predictors' columns are its outputs, a categorical one holding the code 0..k-1 of a
    known category (NaN for a missing or unknown value, as OrdinalEncoder(unknown_value=nan,
    encoded_missing_value=nan) gives it). A trailing NaN category is the missing value, not a
    category; None is a category (scikit-learn's OrdinalEncoder keeps it as one)."""
    pre = est._preprocessor
    sl = pre.output_indices_["encoder"]
    if sl.stop > n_in:
        _fail(est, f"its preprocessor gives {sl.stop} categorical columns for {n_in} inputs")
    cats: List[Optional[np.ndarray]] = [None] * n_in
    for pos, c in enumerate(pre.named_transformers_["encoder"].categories_):
        k = len(c) - (1 if len(c) and isinstance(c[-1], float) and np.isnan(c[-1]) else 0)
        cats[sl.start + pos] = np.arange(k, dtype=np.float64)
    return np.arange(n_in), cats


def _hgb_columns(est, n_in: int):
    """For each column the predictors see: the input column it comes from, and for a
    categorical column the raw category values in encoded order (the OrdinalEncoder of
    est._preprocessor, which puts categorical columns first and maps unknown values to
    NaN)."""
    pre = getattr(est, "_preprocessor", None)
    if pre is None:
        is_cat = getattr(est, "is_categorical_", None)
        if is_cat is not None and np.any(is_cat):
            _fail(est, "categorical features without the OrdinalEncoder preprocessing of scikit-learn >= 1.4")
        return np.arange(n_in), [None] * n_in
    source = np.full(n_in, -1, np.int64)
    cats: List[Optional[np.ndarray]] = [None] * n_in
    for name, trans, cols in pre.transformers_:
        sl = pre.output_indices_[name]
        cols = np.asarray(cols)
        idx = np.flatnonzero(cols) if cols.dtype == bool else cols.astype(np.int64)
        if len(idx) != sl.stop - sl.start:
            _fail(est, f"preprocessor part {name!r} maps {len(idx)} columns to {sl.stop - sl.start}")
        if len(idx) == 0:
            continue
        if name == "encoder":
            for pos, (col, c) in enumerate(zip(idx, trans.categories_)):
                c = np.asarray(c)
                if c.dtype.kind not in "iuf":  # exported through hgb_encodes_strings instead
                    _fail(est, f"categorical feature {col} has non-numeric categories ({c.dtype})")
                c = c.astype(np.float64)
                if len(c) and np.isnan(c[-1]):
                    c = c[:-1]  # NaN is missing, not a category
                cats[sl.start + pos] = c
        elif name != "numerical":
            _fail(est, f"unknown preprocessor part {name!r}")
        source[sl.start:sl.stop] = idx
    if np.any(source < 0):
        _fail(est, "its preprocessor does not cover every column")
    return source, cats


def _raw_category_bitset(est, col: int, cats: np.ndarray, left_bits: np.ndarray, known_bits: np.ndarray,
                         missing_left: bool) -> np.ndarray:
    """The bitset over raw category values of one categorical node, folding in the rules
    of the predictor: an encoded category in the node's bitset goes left, another known one
    right, an unknown value (unknown to the encoder, or not in known_bits) the missing
    direction. Raw values outside the bitset or not whole numbers take the missing direction
    (flags bits 4 and 5)."""
    if len(cats) == 0:
        _fail(est, f"categorical feature {col} has no categories")
    if not (np.all(cats == np.floor(cats)) and cats.min() >= 0 and cats.max() < _MAX_CATEGORY):
        bad = cats[(cats != np.floor(cats)) | (cats < 0) | (cats >= _MAX_CATEGORY)][0]
        _fail(est, f"categorical feature {col} has the category {float(bad):g}; the trees format indexes categories by "
              f"integers 0..{_MAX_CATEGORY - 1}")
    n_bits = (int(cats.max()) // 32 + 1) * 32
    go_left = np.full(n_bits, bool(missing_left))  # values that are not categories: the missing direction
    for enc, raw in enumerate(cats.astype(np.int64)):
        if (left_bits[enc >> 5] >> np.uint32(enc & 31)) & 1:
            go_left[raw] = True
        elif (known_bits[enc >> 5] >> np.uint32(enc & 31)) & 1:
            go_left[raw] = False
    words = np.zeros(n_bits // 32, np.uint64)
    for b in np.flatnonzero(go_left):
        words[b >> 5] |= np.uint64(1) << np.uint64(b & 31)
    return words.astype(np.uint32)


def _hgb_head(est) -> str:
    loss = type(est._loss).__name__
    link = type(est._loss.link).__name__
    if hasattr(est, "classes_"):
        if loss == "HalfBinomialLoss":
            return "binary_logistic"
        if loss == "HalfMultinomialLoss":
            return "multinomial"
        _fail(est, f"loss {loss}")
    if link == "IdentityLink":
        return "identity"
    if link == "LogLink":
        return "exp"
    _fail(est, f"loss {loss} with link {link}")


def _write_hgb(w, est, n_in: int, encoded: bool = False):
    head = _hgb_head(est)
    if hasattr(est, "classes_"):
        _classifier_meta(w, est, est.classes_)
        w.meta["head"] = head
    else:
        _regressor_meta(w, 1, head)
    source, cats = _hgb_encoded_columns(est, n_in) if encoded else _hgb_columns(est, n_in)
    known_bits = f_idx_map = None
    if any(c is not None for c in cats):
        known_bits, f_idx_map = est._bin_mapper.make_known_categories_bitsets()
    k = int(est.n_trees_per_iteration_)
    stage = _Stage(1)
    for iteration in est._predictors:
        for j, pred in enumerate(iteration):
            nodes = pred.nodes
            n = len(nodes)
            leaf = nodes["is_leaf"].astype(bool)
            fidx = nodes["feature_idx"].astype(np.int64)
            if np.any((fidx[~leaf] < 0) | (fidx[~leaf] >= n_in)):
                _fail(est, "a split on a column outside the input")
            feature = np.where(leaf, -1, source[np.where(leaf, 0, fidx)])
            missing_left = nodes["missing_go_to_left"].astype(bool)
            flags = np.where(missing_left, _FLAG_MISSING_LEFT, 0).astype(np.uint8)
            threshold = nodes["num_threshold"].astype(np.float64).copy()
            cat_offset = np.zeros(n, np.int64)
            cat_words = np.zeros(n, np.int32)
            for i in np.flatnonzero(nodes["is_categorical"].astype(bool) & ~leaf):
                f = int(fidx[i])
                if cats[f] is None:
                    _fail(est, f"a categorical split on the numerical column {source[f]}")
                b = int(nodes["bitset_idx"][i])
                if b >= len(pred.raw_left_cat_bitsets):
                    _fail(est, f"categorical node {i} refers to bitset {b} of {len(pred.raw_left_cat_bitsets)}")
                bits = _raw_category_bitset(est, int(source[f]), cats[f], pred.raw_left_cat_bitsets[b],
                                            known_bits[f_idx_map[f]], bool(missing_left[i]))
                cat_offset[i] = stage.bitset(bits)
                cat_words[i] = len(bits)
                # a value that is no training category (negative, too large, or not a whole
                # number) is unknown to the encoder: the missing direction
                flags[i] |= _FLAG_CATEGORICAL | _FLAG_UNKNOWN_MISSING | _FLAG_WHOLE_ONLY
                threshold[i] = 0.0
            if np.any(np.isnan(threshold[~leaf])):
                _fail(est, "a NaN split threshold")
            stage.add(feature, nodes["left"], nodes["right"], threshold, flags, nodes["value"], out=j,
                      cat_offset=cat_offset, cat_words=cat_words, cover=nodes["count"])
    base = np.asarray(est._baseline_prediction, np.float64).reshape(-1)
    stage.write(w, est, k, "le_f64", "sum", base=base)


# ---- IsolationForest ------------------------------------------------------------------------

def _average_path_length(n: float) -> float:
    """c(n) of scikit-learn's _average_path_length, for one sample count."""
    n = np.float64(n)
    if n <= 1.0:
        return 0.0
    if n == 2.0:
        return 1.0
    return float(2.0 * (np.log(n - 1.0) + np.euler_gamma) - 2.0 * (n - 1.0) / n)


def _write_isolation(w, est, n_in: int):
    norm = _average_path_length(getattr(est, "_max_samples", est.max_samples_))
    if not norm > 0.0:
        _fail(est, f"max_samples_={est.max_samples_} (a forest of one-sample trees scores every row -1)")
    # as _compute_chunked_score_samples: trees see X[:, estimators_features_[i]] only when
    # the forest subsamples features
    subsample = getattr(est, "_max_features", n_in) != n_in
    depths = getattr(est, "_decision_path_lengths", None)
    averages = getattr(est, "_average_path_length_per_tree", None)
    stage = _Stage(1)
    for i, (tr, features) in enumerate(zip(est.estimators_, est.estimators_features_)):
        t = tr.tree_
        d = np.asarray(depths[i] if depths is not None else t.compute_node_depths(), np.float64)
        c = (np.asarray(averages[i], np.float64) if averages is not None else
             np.array([_average_path_length(s) for s in t.n_node_samples]))
        # as _parallel_compute_tree_depths: depth (root 1) + c(samples in the leaf) - 1
        _add_sk_tree(stage, tr, d + c - 1.0, columns=np.asarray(features) if subsample else None)
    w.meta["task"] = "classification"
    _labels(w, np.array([-1, 1]))
    w.meta["head"] = "isolation"
    w.meta["iso_norm"] = repr(norm)
    w.meta["iso_offset"] = repr(float(est.offset_))
    stage.write(w, est, 1, "le_f32", "mean")


def write(w, est, n_in: int, hgb_encoded: bool = False) -> None:
    """Writes a fitted tree model of scikit-learn as the `trees` stage of `w` (hgb_encoded: the
    HistGradientBoosting model's own preprocessor is already the prep stage of `w`)."""
    name = type(est).__name__
    if name in SINGLE_TREES:
        _write_sk_trees(w, est, [est], "sum")
    elif name in FORESTS:
        _write_sk_trees(w, est, est.estimators_, "mean")
    elif name in BOOSTED:
        _write_gb(w, est, n_in)
    elif name in HIST:
        _write_hgb(w, est, n_in, hgb_encoded)
    elif name == "IsolationForest":
        _write_isolation(w, est, n_in)
    else:
        _fail(est, "no exporter for this estimator")
