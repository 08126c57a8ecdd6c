"""mlinfer.export: fitted scikit-learn estimators (and Pipelines of scalers + one of them)
to the .mli format (docs/FORMAT.md). The file holds arrays and key=value metadata only.
Tree models are written by export_trees.py."""
from __future__ import annotations

import os
from typing import List, Tuple

import numpy as np

from . import export_ovr, export_pipeline, export_trees, export_wrappers
from ._format import build
from ._export_common import _check_fitted, _cls, _fail, _labels, _Writer
from .errors import UnsupportedModelError

_PRODUCER = "mlinfer-python 0.1.0"

_LINEAR_REGRESSORS = {"LinearRegression", "Ridge", "RidgeCV", "Lasso", "LassoCV", "ElasticNet", "ElasticNetCV",
                      "SGDRegressor", "LinearSVR", "HuberRegressor", "Lars", "LassoLars", "BayesianRidge", "ARDRegression"}
_SIGN_CLASSIFIERS = {"LinearSVC", "RidgeClassifier", "RidgeClassifierCV", "Perceptron", "PassiveAggressiveClassifier"}


# ---- preprocessing ---------------------------------------------------------------------

def _affine(w: _Writer, est, n: int):
    name = _cls(est)
    arrays = {}
    if name == "StandardScaler":
        if est.with_mean and est.mean_ is not None:
            arrays["sub"] = est.mean_
        if est.with_std and est.scale_ is not None:
            arrays["div"] = est.scale_
        extra = {}
    elif name == "MinMaxScaler":
        arrays["mul"], arrays["add"] = est.scale_, est.min_
        extra = {}
        if getattr(est, "clip", False):
            lo, hi = est.feature_range
            extra = {"clip": 1, "clip_lo": repr(float(lo)), "clip_hi": repr(float(hi))}
    elif name == "MaxAbsScaler":
        arrays["div"] = est.scale_
        extra = {}
    elif name == "RobustScaler":
        if est.center_ is not None:
            arrays["sub"] = est.center_
        if est.scale_ is not None:
            arrays["div"] = est.scale_
        extra = {}
    else:
        _fail(est, "only StandardScaler, MinMaxScaler, MaxAbsScaler and RobustScaler can precede the model")
    for k, v in list(arrays.items()):
        v = np.asarray(v, dtype=np.float64).reshape(-1)
        if v.shape[0] != n:
            _fail(est, f"{k} has {v.shape[0]} entries for {n} features")
        arrays[k] = v
    if _casts_params(est, arrays, n):
        extra["f32_params"] = 1
    prefix = w.stage("affine", **extra)
    for k, v in arrays.items():
        w.arrays[f"{prefix}.{k}"] = v


def _affine_f32(X, arrays, f32_params: bool):
    """The affine stage on float32 rows as the C runtime computes it (kernels/affine_rules.h):
    float64 arithmetic rounded to float32 after each operation."""
    v = X.astype(np.float64)
    for k, op in (("sub", np.subtract), ("div", np.divide), ("mul", np.multiply), ("add", np.add)):
        if k in arrays:
            p = arrays[k].astype(np.float32).astype(np.float64) if f32_params else arrays[k]
            v = op(v, p).astype(np.float32).astype(np.float64)
    return v


def _casts_params(est, arrays, n: int) -> bool:
    """Whether the scaler's transform casts its parameters to float32 for float32 input
    (scikit-learn's StandardScaler does since 1.x: X -= mean_.astype(X.dtype)), asked of the
    scaler itself on probe rows rather than assumed from its version."""
    if not arrays:
        return False
    import warnings
    rng = np.random.default_rng(12345)
    centre = arrays.get("sub", np.zeros(n))
    spread = arrays.get("div", np.ones(n))
    X = (centre + spread * rng.normal(size=(64, n)) * 3.0).astype(np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a scaler fitted on a DataFrame warns about unnamed columns
        got = np.asarray(est.transform(X))
    if got.dtype != np.float32 or getattr(est, "clip", False):
        return False
    plain, cast = _affine_f32(X, arrays, False), _affine_f32(X, arrays, True)
    return bool(np.array_equal(cast, got, equal_nan=True) and not np.array_equal(plain, got, equal_nan=True))


# ---- models ----------------------------------------------------------------------------

def _linear_stage(w: _Writer, coef, intercept, n_in: int):
    coef = np.atleast_2d(np.asarray(coef, dtype=np.float64))
    n_out = coef.shape[0]
    if coef.shape[1] != n_in:
        raise UnsupportedModelError(f"mlinfer.export: coef_ has {coef.shape[1]} columns for {n_in} features")
    intercept = np.broadcast_to(np.asarray(intercept, dtype=np.float64).reshape(-1), (n_out,))
    p = w.stage("linear", n_in=n_in, n_out=n_out)
    w.arrays[f"{p}.coef"] = coef.astype(np.float32)
    w.arrays[f"{p}.intercept"] = intercept.astype(np.float32)
    return n_out


def _logistic_head(est, n_classes: int) -> str:
    """Binary: the logistic link. Multiclass: multinomial (softmax) or one-vs-rest — asked
    of the estimator itself on two probe rows rather than guessed from its version."""
    if n_classes == 2:
        return "binary_logistic"
    multi = getattr(est, "multi_class", "auto")
    if multi == "ovr" or getattr(est, "solver", None) == "liblinear":
        return "ovr_logistic"
    if multi == "multinomial":
        return "multinomial"
    rng = np.random.default_rng(0)
    X = rng.normal(size=(4, est.coef_.shape[1]))
    d = est.decision_function(X)
    p = est.predict_proba(X)
    e = np.exp(d - d.max(axis=1, keepdims=True))
    soft = e / e.sum(axis=1, keepdims=True)
    return "multinomial" if np.allclose(soft, p, rtol=1e-6, atol=1e-9) else "ovr_logistic"


def _ovr(w: _Writer, est, n_in: int):
    """OneVsRestClassifier. Over binary tree classifiers: export_ovr.py. Over binary linear
    classifiers: their K rows stacked into one linear stage. scikit-learn's OvR predicts the first class of largest decision_function (as argmax
    here), and its predict_proba divides each binary estimator's probability of its class by
    the row sum, which for logistic estimators is the `ovr_logistic` head exactly; with two
    classes there is one estimator, whose binary head is kept."""
    lb = getattr(est, "label_binarizer_", None)
    if lb is None or getattr(est, "multilabel_", False) or lb.y_type_ not in ("binary", "multiclass"):
        _fail(est, f"multi-label one-vs-rest (y_type_={getattr(lb, 'y_type_', '?')!r})")
    classes = est.classes_
    k = len(classes)
    ests = list(est.estimators_)
    if len(ests) != (1 if k == 2 else k):
        _fail(est, f"{len(ests)} binary estimators for {k} classes")
    if export_ovr.over_trees(est):
        export_ovr.write(w, est, ests, classes, n_in)
        return
    kinds = set()
    for e in ests:
        en = _cls(e)
        if en in ("LogisticRegression", "LogisticRegressionCV") or (en == "SGDClassifier" and e.loss in ("log_loss", "log")):
            kinds.add("logistic")
        elif en in _SIGN_CLASSIFIERS or (en == "SGDClassifier" and e.loss != "modified_huber"):
            kinds.add("sign")
        else:
            _fail(est, f"its binary estimator {type(e).__module__}.{en}"
                  + (f"(loss={e.loss!r})" if en == "SGDClassifier" else "")
                  + " (one-vs-rest is exported over logistic and linear sign classifiers and over "
                  + ", ".join(sorted(export_ovr.ESTIMATORS)) + ")")
        coef = np.atleast_2d(np.asarray(e.coef_))
        if coef.shape != (1, n_in) or list(np.asarray(e.classes_)) != [0, 1]:
            _fail(est, f"a binary estimator with coef_ of shape {coef.shape} and classes {list(e.classes_)}")
    if len(kinds) != 1:
        _fail(est, "binary estimators of different kinds")
    kind = kinds.pop()
    coef = np.vstack([np.atleast_2d(np.asarray(e.coef_, np.float64)) for e in ests])
    intercept = np.array([float(np.ravel(e.intercept_)[0]) if np.ndim(e.intercept_) else float(e.intercept_)
                          for e in ests])
    w.meta["task"] = "classification"
    _labels(w, classes)
    _linear_stage(w, coef, intercept, n_in)
    if k == 2:
        w.meta["head"] = "binary_logistic" if kind == "logistic" else "binary_sign"
    else:
        w.meta["head"] = "ovr_logistic" if kind == "logistic" else "argmax"


# ---- naive Bayes ------------------------------------------------------------------------

NAIVE_BAYES = {"MultinomialNB", "ComplementNB", "BernoulliNB", "GaussianNB", "CategoricalNB"}


def _centred(coef, intercept):
    """Two classes: one output, class 1 less class 0 (the logistic head's sigmoid of it is their
    softmax); more: each class less the classes' mean, which softmax does not see."""
    if coef.shape[0] == 2:
        return (coef[1] - coef[0]).reshape(1, -1), np.array([intercept[1] - intercept[0]])
    return coef - coef.mean(axis=0), intercept - intercept.mean()


def naive_bayes_linear(est):
    """(coef, intercept) of a discrete naive Bayes classifier: its joint log likelihoods
    (scikit-learn's _joint_log_likelihood) as a linear function of its input, less a per-row
    constant, which predict (argmax) and predict_proba (exp(jll - logsumexp(jll))) do not see.
    MultinomialNB: X @ feature_log_prob_.T + class_log_prior_; ComplementNB: X @
    feature_log_prob_.T; BernoulliNB (on its binarized X): X @ (flp - neg).T + class_log_prior_ +
    neg.sum(1), neg = log(1 - exp(flp)). Two classes: one output, jll[1] - jll[0] (the logistic
    head gives sigmoid of it, which is that softmax); more: each class less the classes' mean,
    so that the scores the float32 model stage receives stay small (the sums themselves run
    in float64: the prep stage's project and text ops). CategoricalNB: the one-hot columns of
    its input's categories (export_pipeline._categorical) @ its feature_log_prob_ side by side
    + class_log_prior_."""
    name = _cls(est)
    if name == "GaussianNB":
        return _gaussian_linear(est)
    if name == "CategoricalNB":
        k = len(est.classes_)
        flp = np.hstack([np.asarray(a, dtype=np.float64).reshape(k, -1) for a in est.feature_log_prob_])
    else:
        flp = np.asarray(est.feature_log_prob_, dtype=np.float64)
    prior = np.asarray(est.class_log_prior_, dtype=np.float64).reshape(-1)
    k = len(est.classes_)
    if k < 2 or flp.ndim != 2 or flp.shape[0] != k or prior.shape[0] != k:
        _fail(est, f"{k} class(es) with feature_log_prob_ of shape {flp.shape}")
    if name == "BernoulliNB":
        with np.errstate(divide="ignore"):
            neg = np.log(1 - np.exp(flp))
        coef, intercept = flp - neg, prior + neg.sum(axis=1)
    elif name == "ComplementNB":
        coef, intercept = flp, np.zeros(k)  # its class_log_prior_ counts for one class only
    else:
        coef, intercept = flp, prior
    if not (np.isfinite(coef).all() and np.isfinite(intercept).all()):
        _fail(est, "a log probability of -inf (a class never seen, a feature of probability 0 or 1 with alpha=0): "
                   "its scores are not finite")
    return _centred(coef, intercept)


def _gaussian_linear(est):
    """GaussianNB: jll[c] = log(class_prior_[c]) - 0.5 * sum_j log(2 pi var_[c, j]) - 0.5 * sum_j
    ((x_j - theta_[c, j]) / sqrt(var_[c, j]))**2 -- linear in the k x n squares the prep stage
    makes (export_pipeline._gaussian: class c's block of n, in feature order): (coef, intercept)
    over them, centred as the discrete models' (scikit-learn divides (x - theta)**2 by var: the
    same to within a few ulps)."""
    theta = np.asarray(est.theta_, dtype=np.float64)
    var = np.asarray(est.var_, dtype=np.float64)
    k, n = theta.shape
    with np.errstate(divide="ignore"):
        prior = np.log(np.asarray(est.class_prior_, dtype=np.float64))
    if k < 2 or var.shape != (k, n) or not (var > 0).all():
        _fail(est, f"{k} class(es) with var_ of shape {var.shape} (positive variances needed)")
    intercept = prior - 0.5 * np.sum(np.log(2.0 * np.pi * var), axis=1)
    if not (np.isfinite(theta).all() and np.isfinite(intercept).all()):
        _fail(est, "a class of prior 0 or a mean or variance that is not finite")
    # A feature constant within a class (var_ at var_smoothing's floor) gives that class a log
    # likelihood near -(x - theta)^2 / (2 var_), about -1e9, on other values. Where such a class
    # falls while two others stay close, the scores, centred on the classes' mean (about -3e8),
    # reach the float32 model stage at a magnitude whose spacing erases those two classes'
    # difference (0.5 / 0.5 where scikit-learn gives 0.49 / 0.51). Refused where some row can
    # do that; a class set that a one-hot block splits (each class fixed on its own columns)
    # cannot, nor a feature constant at one value in every class.
    _gaussian_floor_check(est, theta, var)
    coef = np.kron(np.eye(k), np.full((1, n), -0.5))  # class c reads its own block of squares
    return _centred(coef, intercept)


def _gaussian_floor_check(est, theta, var) -> None:
    """Refuses a GaussianNB where some row leaves two classes a and b unpenalized by their
    floor-variance features (x_j = theta_aj on a's, theta_bj on b's: possible unless they share
    one at different means) while a third class c is penalized (a floor feature of c left free,
    or fixed to another value than theta_cj)."""
    eps = float(getattr(est, "epsilon_", 0.0) or 0.0)
    floor = var <= eps * (1.0 + 1e-6)
    k = floor.shape[0]
    if k < 3 or not floor.any():
        return
    for a in range(k):
        for b in range(a + 1, k):
            both = floor[a] & floor[b]
            if np.any(theta[a, both] != theta[b, both]):
                continue  # no row leaves both unpenalized
            fixed = floor[a] | floor[b]
            at = np.where(floor[a], theta[a], theta[b])
            for c in range(k):
                if c in (a, b):
                    continue
                free = floor[c] & ~fixed
                off = floor[c] & fixed & (theta[c] != at)
                if free.any() or off.any():
                    j = int(np.flatnonzero(free | off)[0])
                    cls = est.classes_[c]
                    cls = cls.item() if hasattr(cls, "item") else cls
                    _fail(est, f"feature {j} is constant within class {cls!r} (its var_ is var_smoothing's floor, "
                               f"{eps:.3g}): that class's log likelihood falls to about -1e9 on other values while "
                               "two other classes stay close, beyond what the float32 model stage keeps of their "
                               "difference; raise var_smoothing or drop the feature")


def _naive_bayes_binarizer(est):
    """BernoulliNB's own binarization of its input (binarize=t: x > t), as a fitted Binarizer
    step before it; None when binarize is None."""
    if _cls(est) != "BernoulliNB" or est.binarize is None:
        return None
    from sklearn.preprocessing import Binarizer
    b = Binarizer(threshold=float(est.binarize)).fit(np.zeros((1, _n_features(est))))
    b.mli_for = est  # errors name the BernoulliNB
    return b


def _linear_coef(est):
    """The coefficients of a linear model (what text columns are folded into), else None."""
    name = _cls(est)
    if name in NAIVE_BAYES:
        return naive_bayes_linear(est)[0]
    if name in _LINEAR_REGRESSORS or name in _SIGN_CLASSIFIERS or name in (
            "LogisticRegression", "LogisticRegressionCV", "SGDClassifier"):
        coef = getattr(est, "coef_", None)
        return None if coef is None else np.asarray(coef)
    return None


def _model(w: _Writer, est, n_in: int, hgb_encoded: bool = False):
    name = _cls(est)
    coef_override = getattr(w, "coef_override", None)  # text columns folded (export_pipeline._fold)
    if name == "OneVsRestClassifier":
        _check_fitted(est)
        _ovr(w, est, n_in)
        return
    if name in export_wrappers.ESTIMATORS:  # fitted or not, the wrapper says
        export_wrappers.write(w, est, n_in)
        return
    _check_fitted(est)
    if name in export_trees.ESTIMATORS:
        export_trees.write(w, est, n_in, hgb_encoded)
        return
    if name in _LINEAR_REGRESSORS:
        coef = np.asarray(est.coef_)
        w.meta["task"] = "regression"
        w.meta["y_ndim"] = 2 if coef.ndim == 2 else 1
        n_out = _linear_stage(w, coef if coef_override is None else coef_override, getattr(est, "intercept_", 0.0),
                              n_in)
        w.meta["n_outputs"] = n_out
        w.meta["head"] = "identity"
        return
    if name in ("LogisticRegression", "LogisticRegressionCV", "SGDClassifier") or name in _SIGN_CLASSIFIERS:
        classes = est.classes_
        if np.asarray(classes).ndim != 1:
            _fail(est, "multi-label or multi-output classification")
        w.meta["task"] = "classification"
        _labels(w, classes)
        k = len(classes)
        rows = np.atleast_2d(np.asarray(est.coef_)).shape[0]
        if rows != (1 if k == 2 else k):  # e.g. RidgeClassifier fitted on a multilabel indicator matrix
            _fail(est, f"multi-label or multi-output classification (coef_ has {rows} rows for {k} classes)")
        _linear_stage(w, est.coef_ if coef_override is None else coef_override, est.intercept_, n_in)
        if name.startswith("LogisticRegression"):
            head = _logistic_head(est, k)
        elif name == "SGDClassifier" and est.loss in ("log_loss", "log"):
            head = "binary_logistic" if k == 2 else "ovr_logistic"
        elif name == "SGDClassifier" and est.loss == "modified_huber":
            head = "binary_modified_huber" if k == 2 else "ovr_modified_huber"
        else:
            head = "binary_sign" if k == 2 else "argmax"
        w.meta["head"] = head
        return
    if name in NAIVE_BAYES:  # the prep stage computed its scores (export_pipeline.fold): identity here
        _, intercept = naive_bayes_linear(est)
        w.meta["task"] = "classification"
        _labels(w, est.classes_)
        _linear_stage(w, coef_override, intercept, n_in)
        w.meta["head"] = "binary_logistic" if len(est.classes_) == 2 else "multinomial"
        w.meta["has_decision"] = 0
        return
    if name in ("MLPClassifier", "MLPRegressor"):
        acts = {"identity", "relu", "tanh", "logistic"}
        if est.activation not in acts:
            _fail(est, f"hidden activation {est.activation!r}")
        out_act = est.out_activation_
        L = len(est.coefs_)
        p = w.stage("mlp", n_layers=L, activation=est.activation, out_activation=out_act)
        for l, (W, b) in enumerate(zip(est.coefs_, est.intercepts_)):
            w.meta[f"{p}.in.{l}"], w.meta[f"{p}.out.{l}"] = W.shape
            w.arrays[f"{p}.W.{l}"] = np.asarray(W, dtype=np.float32)
            w.arrays[f"{p}.b.{l}"] = np.asarray(b, dtype=np.float32)
        if est.coefs_[0].shape[0] != n_in:
            _fail(est, f"first layer takes {est.coefs_[0].shape[0]} inputs for {n_in} features")
        if name == "MLPRegressor":
            if out_act != "identity":
                _fail(est, f"output activation {out_act!r} (loss={getattr(est, 'loss', '?')!r})")
            w.meta["task"] = "regression"
            w.meta["n_outputs"] = est.n_outputs_
            w.meta["y_ndim"] = 2 if est.n_outputs_ > 1 else 1
            w.meta["head"] = "identity"
            return
        classes = est.classes_
        if out_act == "logistic" and len(classes) == 2 and est.coefs_[-1].shape[1] == 1:
            head = "binary_logistic"
        elif out_act == "softmax":
            head = "multinomial"
        else:
            _fail(est, f"multi-label output ({out_act!r} with {est.coefs_[-1].shape[1]} outputs)")
        w.meta["task"] = "classification"
        _labels(w, classes)
        w.meta["head"] = head
        w.meta["has_decision"] = 0
        return
    _fail(est, "no exporter for this estimator")


def _n_features(est) -> int:
    n = getattr(est, "n_features_in_", None)
    if n is None:
        raise UnsupportedModelError(f"mlinfer.export: {_cls(est)} is not fitted (no n_features_in_)")
    return int(n)


def _image_stage(w: _Writer, image, n: int):
    """Stage 0: an mlinfer.ImagePreprocess whose tensor is the model's input row."""
    from .image import ImagePreprocess
    if not isinstance(image, ImagePreprocess):
        raise TypeError(f"mlinfer.export: image= takes an mlinfer.ImagePreprocess, not {type(image).__name__}")
    if image.tensor_len != n:
        raise UnsupportedModelError(f"mlinfer.export: the image stage makes {image.tensor_len} values "
                                    f"({' x '.join(map(str, image.shape))}) but the model takes {n} features")
    meta, arrays = image.stage_meta()
    prefix = w.stage("image", **meta)
    for k, v in arrays.items():
        w.arrays[f"{prefix}.{k}"] = v


def _background(w: _Writer, background, n: int):
    """The column means of `background` (rows x n features), stored for linear
    contributions (Model.predict_contrib: coef x (value - mean), as shap.LinearExplainer
    with an independent masker over the same data)."""
    b = np.asarray(background, dtype=np.float64)
    if b.ndim != 2 or b.shape[1] != n or b.shape[0] < 1:
        raise ValueError(f"mlinfer.export: background must be a non-empty rows x {n} array, not shape {b.shape}")
    if not np.all(np.isfinite(b)):
        raise ValueError("mlinfer.export: background holds NaN or infinite values; their mean is not defined")
    w.arrays["background_mean"] = b.mean(axis=0)


def _transformed(w: _Writer, transformers, background):
    """The background data (as the pipeline takes it: a DataFrame, an array) through the
    pipeline's transformers: the features the model stages see."""
    X = background
    for t in transformers:
        X = t.transform(X)
    fold = getattr(w, "fold", None)
    if fold is not None:  # text columns: the partial scores the model reads instead (export_pipeline._fold)
        X = fold(X)
    if hasattr(X, "toarray"):  # a sparse one-hot output
        X = X.toarray()
    return np.asarray(X, dtype=np.float64)


def _names_out(transformers, names, n: int):
    """The names scikit-learn gives the transformed features (get_feature_names_out through
    the steps), or None when a step cannot name them or they are not n names."""
    try:
        cur = None if names is None else np.asarray(names, dtype=object)
        for t in transformers:
            cur = t.get_feature_names_out(cur)
        out = [str(c) for c in cur]
    except Exception:  # a step without get_feature_names_out (FunctionTransformer, ...)
        return None
    return out if len(out) == n else None


def _flatten(est) -> List[Tuple[str, object]]:
    """A Pipeline's steps, nested Pipelines inlined, 'passthrough' and None left out."""
    if _cls(est) != "Pipeline":
        return [("model", est)]
    out: List[Tuple[str, object]] = []
    for name, s in est.steps:
        if s is None or (isinstance(s, str) and s == "passthrough"):
            continue
        out += _flatten(s) if _cls(s) == "Pipeline" else [(name, s)]
    return out


def _tree_features(est, n_in: int, hgb_encoded: bool) -> set:
    """The features a tree model of n_in inputs splits on (written once to a scratch writer)."""
    tmp = _Writer()
    _model(tmp, est, n_in, hgb_encoded)
    used: set = set()
    for k, v in tmp.arrays.items():
        if k.startswith("stage.") and k.rsplit(".", 1)[-1] in ("feature", "lin_feature"):
            a = np.asarray(v)
            used.update(int(x) for x in np.unique(a[a >= 0]))
    return used


def _renumber_features(w: _Writer, first: int, keep) -> None:
    """The tree stages from `first` on read feature keep[j] as j (the prep stage computes only those)."""
    new = np.full(int(w.fold_total), -1, np.int64)
    new[np.asarray(keep, dtype=np.int64)] = np.arange(len(keep))
    for i in range(first, w.n_stages):
        for name in ("feature", "lin_feature"):
            key = f"stage.{i}.{name}"
            if key in w.arrays:
                a = np.asarray(w.arrays[key])
                b = np.where(a >= 0, new[np.maximum(a, 0)], a)
                if np.any((a >= 0) & (b < 0)):  # not reached: keep holds every feature the trees read
                    raise UnsupportedModelError("mlinfer.export: a tree reads a text column the prep stage drops")
                w.arrays[key] = b.astype(a.dtype)


def _xgboost_reads(est) -> bool:
    """Whether XGBoost's predictor reads the model's input (an XGBoost wrapper, alone or in a
    OneVsRestClassifier): it takes the zeros a scipy.sparse input leaves out as missing."""
    if _cls(est) == "OneVsRestClassifier":
        return any(_cls(e) in export_wrappers.XGB for e in getattr(est, "estimators_", []))
    return _cls(est) in export_wrappers.XGB


def to_bytes(estimator, compress: bool = False, image=None, background=None) -> bytes:
    """The .mli bytes for a fitted estimator or Pipeline (with `image`, an
    mlinfer.ImagePreprocess, as stage 0: the model then takes JPEG bytes)."""
    steps: List[Tuple[str, object]] = _flatten(estimator)
    if not steps:
        raise UnsupportedModelError("mlinfer.export: empty Pipeline")
    w = _Writer()
    first = steps[0][1]
    text_input = export_pipeline.takes_documents(first)
    n = 1 if text_input else _n_features(first)  # a vectorizer first: the model takes documents
    import sklearn

    w.meta["producer"] = _PRODUCER
    import sys
    package = sys.modules.get(type(estimator).__module__.split(".")[0])  # xgboost, lightgbm: their own version
    version = getattr(package, "__version__", None) or sklearn.__version__
    w.meta["source"] = f"{type(estimator).__module__}.{_cls(estimator)} {version}"
    w.meta["n_features"] = n
    names = ["text"] if text_input else getattr(first, "feature_names_in_", None)
    if text_input:
        w.meta["text_input"] = 1  # predict takes a list of documents (the column 'text')
    if names is not None:
        # the `feature_names` section holds any number of names of any length; the metadata
        # key (all that earlier mlinfer bindings read) only when short: one metadata string is
        # limited to 64 KiB
        names = [str(s) for s in names]
        w.arrays["feature_names"] = names
        joined = "\x1f".join(names)
        if len(joined) < 3000 and not any("\x1f" in s for s in names):
            w.meta["feature_names"] = joined
    transformers = [s for _, s in steps[:-1]]
    model_est = steps[-1][1]
    naive_bayes = _cls(model_est) in NAIVE_BAYES
    if naive_bayes:
        _check_fitted(model_est)
        binarizer = _naive_bayes_binarizer(model_est)
        if binarizer is not None:
            transformers.append(binarizer)
    # HistGradientBoosting with string categories: its own preprocessor (OrdinalEncoder +
    # pass-through) becomes part of the prep stage, and its trees take the codes
    hgb_encoded = export_trees.hgb_encodes_strings(steps[-1][1])
    if hgb_encoded:
        transformers.append(steps[-1][1]._preprocessor)
    if image is not None:
        _image_stage(w, image, n)
    if export_pipeline.needs_prep(transformers) or naive_bayes:
        if image is not None:
            raise UnsupportedModelError("mlinfer.export: an image stage cannot be followed by column preprocessing")
        model = _cls(steps[-1][1])
        takes_nan = (model in export_trees.ESTIMATORS or model in export_wrappers.ESTIMATORS
                     or export_ovr.over_trees(steps[-1][1]))
        sparse = False
        for t in transformers:
            # refuses what differs on sparse input
            sparse = export_pipeline.sparse_output(t, sparse, check=True, absent_nan=_xgboost_reads(model_est))
        check = export_trees.input_check(steps[-1][1])
        if sparse and check == "float32-allow-nan":  # sklearn.tree takes NaN in dense input only: a sparse one raises
            check = "float32"
        n = export_pipeline.write(w, transformers, n, names, takes_nan, model_is_trees=takes_nan,
                                  model_check=check,
                                  model_coef=_linear_coef(model_est), model_folds=naive_bayes, model_step=model_est,
                                  zeros_missing=sparse and _xgboost_reads(model_est),
                                  model_features=lambda total: _tree_features(model_est, total, hgb_encoded))
        if getattr(w, "fold_names", None) is None:
            out_names = _names_out(transformers, names, n)
        else:  # text columns folded into partial scores: the other features keep their names
            base = _names_out(transformers, names, w.fold_total)
            out_names = [nm if isinstance(nm, str) else (base[nm] if base is not None else f"x{nm}")
                         for nm in w.fold_names]
        if out_names is not None:  # contributions name the transformed features they report on their own
            w.arrays["stage.0.out_names"] = out_names
        if background is not None:  # the model stages' input: the background through the preprocessing
            if _cls(model_est) in ("GaussianNB", "CategoricalNB"):
                raise UnsupportedModelError(f"mlinfer.export: background (contributions) for {_cls(model_est)}: its "
                                            "log likelihood is not a linear function of its input")
            _background(w, _transformed(w, transformers, background), n)
    else:
        if background is not None:
            _background(w, background, n)
        for s in transformers:
            _check_fitted(s)
            _affine(w, s, n)
    first_model = w.n_stages
    keep = getattr(w, "tree_keep", None)  # text columns before trees: the ones they read
    _model(w, steps[-1][1], n if keep is None else w.fold_total, hgb_encoded)
    if keep is not None:
        _renumber_features(w, first_model, keep)
    check = export_trees.input_check(steps[-1][1])
    if check is not None and not export_pipeline.needs_prep(transformers):
        # no prep stage to check the model's input (its finite32 ops): the trees stage does
        for i in range(first_model, w.n_stages):
            if w.meta[f"stage.{i}.kind"] == "trees":
                w.meta[f"stage.{i}.input_check"] = "finite32_nan" if check == "float32-allow-nan" else "finite32"
    w.meta["stages"] = w.n_stages
    # the keys the reader needs first, then stage keys, in a stable order
    return build(w.meta, w.arrays, compress=compress)


def export(estimator, path, compress: bool = False, image=None, background=None) -> None:
    """Writes a fitted scikit-learn estimator (or Pipeline of scalers + estimator) to `path`.
    With image=mlinfer.ImagePreprocess(...), the file starts with an image stage whose tensor
    (width x height x channels values) is the estimator's input: the model then predicts
    from JPEG bytes (Model.predict_image, mli_model_predict_jpeg).

    With background=X (rows x features, or for a pipeline with column preprocessing what the
    pipeline takes: a DataFrame), the means of X as the model stage sees it (for such a
    pipeline: after its transformers) are stored for the contributions of linear models
    (Model.predict_contrib).

    Raises mlinfer.UnsupportedModelError naming the class (and option) it cannot represent."""
    data = to_bytes(estimator, compress=compress, image=image, background=background)
    if os.path.exists(path) and not os.path.isfile(path):  # /dev/null, a FIFO: written, never replaced
        with open(path, "wb") as f:
            f.write(data)
        return
    tmp = f"{os.fspath(path)}.tmp{os.getpid()}"
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, path)  # readers never see a half-written model
