"""Equivalence of libmlinfer with scikit-learn, estimator by estimator.

Every case fits a scikit-learn estimator (or a Pipeline of scalers in front of one),
exports it with `mlinfer.export`, loads the file with `mlinfer.load`, and compares
predict / predict_proba / decision_function on float32 and float64 input, on 1 row and on
10 000 rows (rows of the training data drawn with replacement plus 5% per-feature
Gaussian jitter, so rows are distinct and some fall outside the training range, which
exercises MinMaxScaler(clip=True)).

Tolerance (DESIGN.md, "Exactness contract": 1e-5 relative in float32 arithmetic)
---------------------------------------------------------------------------------
libmlinfer evaluates the linear and MLP stages in float32 (weights rounded to float32,
float32 accumulation); scikit-learn evaluates them in float64. So an output cannot be
compared relative to its own value -- a score that is small because large terms cancel
carries the rounding error of the large terms. The bounds are:

* linear models, per output value s (decision_function, regression predict):
      |ours - sklearn| <= 1e-5 * max(|sklearn|, scale) + 1e-6
  with scale = |intercept_k| + sum_j |coef_kj * z_j| the row's magnitude, z the input of
  the linear stage (after the pipeline's scalers). float32 rounding of coef, z and each
  partial sum gives |err| <~ (n_features + 2) * 2^-24 * scale, i.e. <= 1e-5 * scale up to
  ~160 features; the datasets here have at most 64.
* linear predict_proba: the score bound t (the largest over the row's scores) carried
  through the link function by its Lipschitz constant in the max norm: binary logistic
  0.25, binary modified Huber 0.5, softmax 0.5 (sum_j |dp_i/ds_j| = 2 p_i (1 - p_i)),
  one-vs-rest logistic 2 (sigma' <= sigma, so sum_j |dp_i/ds_j| <= 2 p_i), one-vs-rest
  modified Huber 0.5 * (1 + K) / S with S the row's unnormalised sum; plus 1e-12 for the
  float64 head arithmetic.
* MLP regressors, per output value y: the linear bound, with the scale carried through the
  layers (see _mlp_scale): M_l = |b_l| + |h_{l-1}| |W_l| + lip * M_{l-1} |W_l|, with h the
  float64 hidden activations and lip the activation's Lipschitz constant (1 for identity,
  relu, tanh; 1/4 for logistic):
      |ours - sklearn| <= 1e-5 * max(|sklearn|, M_L) + 1e-6
  A plain 1e-5 * max(1, |sklearn|) is NOT an honest bound for regressors: outputs that
  are small because large hidden contributions cancel (targets near 0 of a make_regression
  problem whose hidden units are in the hundreds) miss it by up to 3x although the error
  is only ~1 float32 ulp of M_L (measured: |err| <= 1.1 * 2^-24 * M_L).
* MLP classifiers (predict_proba), per probability p:
      |ours - sklearn| <= 1e-5 * max(1, |sklearn|) + 1e-6   (~1.1e-5 absolute)
  The softmax/logistic output squashes the scores, so the floor of 1 is enough here
  (measured worst: ~0.2 of this bound, on digits).

Labels must be identical. The only exemption is a row whose label scikit-learn itself
decides by less than the bound (|binary score| <= t, or top-two scores within 2 t;
for MLP classifiers top-two probabilities within 2 x the proba bound): float32 arithmetic
may legitimately flip such a row. Such rows are counted and must stay rare (they have
never occurred in practice -- the count is checked to be <= 0.1% of the rows).

The worst measured errors are printed at the end of the run (conftest.py).
"""
from __future__ import annotations

import functools
import warnings

import numpy as np
import pytest

pytest.importorskip("sklearn", reason="scikit-learn is needed for the mlinfer Python tests")

from sklearn import datasets, linear_model as lm, neural_network as nn
from sklearn.exceptions import ConvergenceWarning
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import MaxAbsScaler, MinMaxScaler, RobustScaler, StandardScaler
from sklearn.svm import LinearSVC, LinearSVR
from threadpoolctl import threadpool_limits

N_ROWS = 10_000
REL = 1e-5
ABS = 1e-6


# ---- datasets -----------------------------------------------------------------------------

def _relabel(y, labels):
    return np.asarray(labels)[y]


@functools.lru_cache(maxsize=None)
def dataset(name: str):
    """(X, y) for a dataset name; cached for the session."""
    if name == "clf50x2":
        return datasets.make_classification(600, 50, n_informative=20, random_state=0)
    if name == "clf5x3":
        return datasets.make_classification(400, 5, n_informative=3, n_redundant=1, n_classes=3,
                                            n_clusters_per_class=1, random_state=1)
    if name == "clf30x12":  # many classes
        return datasets.make_classification(1200, 30, n_informative=20, n_classes=12, n_clusters_per_class=1,
                                            random_state=2)
    if name == "labels_m1_7":  # non-contiguous integer labels
        X, y = datasets.make_classification(500, 10, n_informative=6, random_state=3)
        return X, _relabel(y, [-1, 7])
    if name == "labels_int_3":  # non-contiguous, unsorted in the data
        X, y = datasets.make_classification(500, 8, n_informative=5, n_classes=3, n_clusters_per_class=1,
                                            random_state=4)
        return X, _relabel(y, [42, -5, 1000])
    if name == "labels_float":
        X, y = datasets.make_classification(400, 6, n_informative=4, random_state=5)
        return X, _relabel(y, [-1.0, 3.0])  # float64 labels
    if name == "iris":
        return datasets.load_iris(return_X_y=True)
    if name == "iris_str":  # string labels, as iris' target names
        d = datasets.load_iris()
        return d.data, d.target_names[d.target]
    if name == "breast_cancer":
        return datasets.load_breast_cancer(return_X_y=True)
    if name == "breast_cancer_str":
        d = datasets.load_breast_cancer()
        return d.data, d.target_names[d.target]
    if name == "digits":
        return datasets.load_digits(return_X_y=True)
    if name == "reg50":
        return datasets.make_regression(500, 50, n_informative=30, noise=5.0, random_state=0)
    if name == "reg5":
        return datasets.make_regression(300, 5, noise=1.0, bias=12.5, random_state=1)
    if name == "reg_multi3":  # multi-target
        return datasets.make_regression(400, 12, n_informative=8, n_targets=3, noise=1.0, random_state=2)
    if name == "reg_col":  # single target given as an (n, 1) column: sklearn predicts (n, 1)
        X, y = datasets.make_regression(300, 8, noise=1.0, random_state=3)
        return X, y.reshape(-1, 1)
    if name == "diabetes":
        return datasets.load_diabetes(return_X_y=True)
    raise KeyError(name)


@functools.lru_cache(maxsize=None)
def eval_rows(name: str, n: int):
    """n evaluation rows for a dataset: drawn with replacement, with 5% per-feature jitter."""
    X, _ = dataset(name)
    rng = np.random.default_rng(1234 + n)
    idx = rng.integers(0, X.shape[0], n)
    std = X.std(axis=0)
    return X[idx] + 0.05 * std * rng.standard_normal((n, X.shape[1]))


# ---- cases --------------------------------------------------------------------------------

class Case:
    def __init__(self, cid: str, make, data: str):
        self.id, self.make, self.data = cid, make, data

    def __repr__(self):
        return self.id


CASES = []


def case(cid, make, data):
    CASES.append(Case(f"{cid}-{data}", make, data))


# linear regressors
for _name, _make in [("LinearRegression", lambda: lm.LinearRegression()),
                     ("Ridge", lambda: lm.Ridge(alpha=0.5)),
                     ("Lasso", lambda: lm.Lasso(alpha=0.1)),
                     ("ElasticNet", lambda: lm.ElasticNet(alpha=0.1, l1_ratio=0.3)),
                     ("SGDRegressor", lambda: lm.SGDRegressor(random_state=0)),
                     ("LinearSVR", lambda: LinearSVR(C=1.0, max_iter=2000, random_state=0)),
                     ("HuberRegressor", lambda: lm.HuberRegressor(max_iter=200))]:
    for _data in ("reg50", "diabetes"):
        case(_name, _make, _data)
case("LinearRegression", lambda: lm.LinearRegression(), "reg5")
case("SGDRegressor", lambda: lm.SGDRegressor(random_state=0), "reg5")
for _name, _make in [("LinearRegression", lambda: lm.LinearRegression()), ("Ridge", lambda: lm.Ridge()),
                     ("Lasso", lambda: lm.Lasso(alpha=0.1)), ("ElasticNet", lambda: lm.ElasticNet(alpha=0.1))]:
    case(_name, _make, "reg_multi3")
case("LinearRegression", lambda: lm.LinearRegression(), "reg_col")
case("Ridge", lambda: lm.Ridge(), "reg_col")

# logistic regression
for _data in ("clf50x2", "breast_cancer_str", "labels_m1_7", "labels_float"):
    case("LogisticRegression-binary", lambda: lm.LogisticRegression(max_iter=300), _data)
for _data in ("iris", "iris_str", "digits", "clf30x12", "labels_int_3"):
    case("LogisticRegression-multinomial", lambda: lm.LogisticRegression(max_iter=300), _data)
for _data in ("clf50x2", "labels_m1_7"):
    case("LogisticRegression-liblinear", lambda: lm.LogisticRegression(solver="liblinear"), _data)
# scikit-learn >= 1.8 has no multi_class='ovr' and refuses liblinear on > 2 classes; the
# one-vs-rest logistic head is covered by SGDClassifier(loss='log_loss') below.

# SGD classifiers: each loss, binary and multiclass
for _loss in ("hinge", "log_loss", "modified_huber"):
    for _data in ("clf50x2", "labels_m1_7", "clf5x3", "iris_str", "digits"):
        case(f"SGDClassifier-{_loss}", functools.partial(lm.SGDClassifier, loss=_loss, random_state=0), _data)

# sign / argmax classifiers
for _name, _make in [("LinearSVC", lambda: LinearSVC(max_iter=3000, random_state=0)),
                     ("RidgeClassifier", lambda: lm.RidgeClassifier()),
                     ("Perceptron", lambda: lm.Perceptron(random_state=0)),
                     ("PassiveAggressiveClassifier", lambda: lm.PassiveAggressiveClassifier(random_state=0))]:
    for _data in ("clf50x2", "labels_m1_7", "iris_str", "clf30x12"):
        case(_name, _make, _data)
case("LinearSVC", lambda: LinearSVC(max_iter=3000, random_state=0), "digits")
case("RidgeClassifier", lambda: lm.RidgeClassifier(), "breast_cancer")

# MLPs: every hidden activation, binary / multiclass / regression / multi-target
for _act in ("identity", "relu", "tanh", "logistic"):
    for _data in ("clf50x2", "labels_m1_7", "iris_str", "digits"):
        case(f"MLPClassifier-{_act}",
             functools.partial(nn.MLPClassifier, hidden_layer_sizes=(24, 12), activation=_act, max_iter=60,
                               random_state=0), _data)
    for _data in ("reg5", "diabetes", "reg_multi3"):
        case(f"MLPRegressor-{_act}",
             functools.partial(nn.MLPRegressor, hidden_layer_sizes=(24, 12), activation=_act, max_iter=60,
                               learning_rate_init=0.01, random_state=0), _data)
case("MLPClassifier-relu-1layer", lambda: nn.MLPClassifier((16,), max_iter=60, random_state=0), "clf30x12")
case("MLPRegressor-tanh-3layers",
     lambda: nn.MLPRegressor(hidden_layer_sizes=(20, 16, 8), activation="tanh", max_iter=60, random_state=0), "reg50")

# Pipelines of scalers in front of models
case("Pipeline-StandardScaler-LogisticRegression",
     lambda: make_pipeline(StandardScaler(), lm.LogisticRegression(max_iter=300)), "breast_cancer_str")
case("Pipeline-StandardScaler-LogisticRegression",
     lambda: make_pipeline(StandardScaler(), lm.LogisticRegression(max_iter=300)), "digits")
case("Pipeline-StandardScaler-Ridge", lambda: make_pipeline(StandardScaler(), lm.Ridge()), "reg_multi3")
case("Pipeline-StandardScalerNoMean-SGDRegressor",
     lambda: make_pipeline(StandardScaler(with_mean=False), lm.SGDRegressor(random_state=0)), "diabetes")
case("Pipeline-MinMaxScaler-LinearSVC",
     lambda: make_pipeline(MinMaxScaler(), LinearSVC(random_state=0)), "clf30x12")
case("Pipeline-MinMaxScalerClip-MLPClassifier",
     lambda: make_pipeline(MinMaxScaler(clip=True), nn.MLPClassifier((32,), max_iter=60, random_state=0)), "digits")
case("Pipeline-MinMaxScalerClipRange-LogisticRegression",
     lambda: make_pipeline(MinMaxScaler(feature_range=(-1, 2), clip=True), lm.LogisticRegression(max_iter=300)),
     "iris_str")
case("Pipeline-MaxAbsScaler-Ridge", lambda: make_pipeline(MaxAbsScaler(), lm.Ridge()), "diabetes")
case("Pipeline-MaxAbsScaler-Perceptron", lambda: make_pipeline(MaxAbsScaler(), lm.Perceptron(random_state=0)),
     "labels_m1_7")
case("Pipeline-RobustScaler-SGDClassifier-modified_huber",
     lambda: make_pipeline(RobustScaler(), lm.SGDClassifier(loss="modified_huber", random_state=0)), "clf5x3")
case("Pipeline-RobustScaler-HuberRegressor", lambda: make_pipeline(RobustScaler(), lm.HuberRegressor()), "reg5")
case("Pipeline-RobustScaler-MLPRegressor",
     lambda: make_pipeline(RobustScaler(), nn.MLPRegressor(hidden_layer_sizes=(16,), activation="tanh", max_iter=60, random_state=0)),
     "reg_multi3")
case("Pipeline-StandardScaler-MinMaxScalerClip-MLPClassifier",
     lambda: Pipeline([("std", StandardScaler()), ("mm", MinMaxScaler(clip=True)),
                       ("mlp", nn.MLPClassifier((16,), activation="logistic", max_iter=60, random_state=0))]),
     "breast_cancer")
case("Pipeline-StandardScaler-PassiveAggressiveClassifier",
     lambda: make_pipeline(StandardScaler(), lm.PassiveAggressiveClassifier(random_state=0)), "iris")
case("Pipeline-StandardScaler-RidgeClassifier",
     lambda: make_pipeline(StandardScaler(), lm.RidgeClassifier()), "labels_int_3")


# ---- fitting, exporting, loading (once per case) ------------------------------------------

_FITTED: dict = {}


@pytest.fixture(scope="module")
def prepared(mlinfer, model_dir):
    """case id -> (fitted sklearn estimator, loaded mlinfer.Model); built on first use."""

    def get(c: Case):
        if c.id not in _FITTED:
            X, y = dataset(c.data)
            # one BLAS thread: with more, OpenBLAS oversubscribes this small machine and
            # lbfgs on digits takes 100x longer
            with warnings.catch_warnings(), threadpool_limits(limits=1):
                warnings.simplefilter("ignore", ConvergenceWarning)
                warnings.simplefilter("ignore", FutureWarning)  # PassiveAggressiveClassifier deprecation
                est = c.make()
                est.fit(X, y)
            path = model_dir / f"{c.id}.mli"
            mlinfer.export(est, path)
            _FITTED[c.id] = (est, mlinfer.load(path))
        return _FITTED[c.id]

    return get


def _final(est):
    return est.steps[-1][1] if isinstance(est, Pipeline) else est


def _family(est) -> str:
    f = _final(est)
    if isinstance(f, (nn.MLPClassifier, nn.MLPRegressor)):
        return "mlp"
    return "linear"


def _linear_scale(est, X):
    """Row-wise magnitude |b_k| + sum_j |W_kj z_j| of each output of the linear stage."""
    f = _final(est)
    z = est[:-1].transform(X) if isinstance(est, Pipeline) else X
    z = np.asarray(z, dtype=np.float64)
    W = np.atleast_2d(np.asarray(f.coef_, dtype=np.float64))
    b = np.broadcast_to(np.asarray(getattr(f, "intercept_", 0.0), dtype=np.float64).reshape(-1), (W.shape[0],))
    return np.abs(z) @ np.abs(W).T + np.abs(b)


_ACT = {"identity": lambda z: z, "relu": lambda z: np.maximum(z, 0), "tanh": np.tanh,
        "logistic": lambda z: 1 / (1 + np.exp(-z))}
_ACT_LIP = {"identity": 1.0, "relu": 1.0, "tanh": 1.0, "logistic": 0.25}


def _mlp_scale(est, X):
    """Row-wise magnitude of each MLP output: M_0 = 0, and for layer l
    M_l = |b_l| + |h_{l-1}| |W_l| + lip * M_{l-1} |W_l|, h the float64 activations (h_0 = the
    input of the MLP) and lip the hidden activation's Lipschitz constant. The first two terms
    are what float32 rounding in layer l is relative to; the third carries the earlier
    layers' errors forward. For one layer this is exactly the linear models' scale."""
    f = _final(est)
    h = np.asarray(est[:-1].transform(X) if isinstance(est, Pipeline) else X, dtype=np.float64)
    M = np.zeros_like(h)
    lip = 1.0
    last = len(f.coefs_) - 1
    for l, (W, b) in enumerate(zip(f.coefs_, f.intercepts_)):
        aW = np.abs(W)
        M = np.abs(b) + np.abs(h) @ aW + lip * (M @ aW)
        h = h @ W + b
        if l < last:
            h, lip = _ACT[f.activation](h), _ACT_LIP[f.activation]
    return M


def _check_close(ours, ref, bound, what, family, cid, error_log):
    assert ours.shape == ref.shape, f"{what}: shape {ours.shape} != sklearn's {ref.shape}"
    assert ours.dtype == ref.dtype, f"{what}: dtype {ours.dtype} != sklearn's {ref.dtype}"
    err = np.abs(ours.astype(np.float64) - ref)
    bound = np.broadcast_to(bound, ref.shape)
    finite = np.isfinite(ref)
    assert np.array_equal(np.isfinite(ours), finite), f"{what}: non-finite values differ"
    err, bound, refv = err[finite], bound[finite], np.abs(ref[finite])
    if err.size:
        error_log.record(family, what, cid, err.max(), (err / np.maximum(1.0, refv)).max(), (err / bound).max())
    bad = err > bound
    if bad.any():
        i = int(np.argmax(err / bound))
        pytest.fail(f"{what}: {int(bad.sum())} of {err.size} values beyond the bound; worst |diff|={err[i]:.3g} "
                    f"(bound {bound[i]:.3g}, sklearn value {refv[i]:.6g})")


def _proba_lipschitz(f, proba_ref, scores_ref):
    """Per-row factor carrying a score error to the probabilities (module docstring)."""
    k = proba_ref.shape[1]
    if isinstance(f, nn.MLPClassifier):
        return None
    if isinstance(f, lm.LogisticRegression):
        return np.full(len(proba_ref), 0.25 if k == 2 else 0.5)
    loss = getattr(f, "loss", None)
    if loss == "log_loss":
        return np.full(len(proba_ref), 0.25 if k == 2 else 2.0)
    if loss == "modified_huber":
        if k == 2:
            return np.full(len(proba_ref), 0.5)
        s = ((np.clip(scores_ref, -1, 1) + 1) / 2).sum(axis=1)
        with np.errstate(divide="ignore"):
            return np.where(s > 0, 0.5 * (1 + k) / s, np.inf)
    raise AssertionError(f"no probability link known for {type(f).__name__}")


def _check_labels(ours, ref, margin_ok, what, cid, error_log):
    assert ours.dtype == ref.dtype, f"{what}: dtype {ours.dtype} != sklearn's {ref.dtype}"
    assert ours.shape == ref.shape
    differ = ours != ref
    unexplained = differ & ~margin_ok
    assert not unexplained.any(), (f"{what}: {int(unexplained.sum())} labels differ from sklearn's "
                                   f"(first at row {int(np.argmax(unexplained))})")
    assert differ.sum() <= max(1, len(ref) // 1000), f"{what}: {int(differ.sum())} labels near ties differ"
    error_log.record("labels", "flipped near ties", cid, differ.sum(), 0, 0)


@pytest.mark.parametrize("rows", [1, N_ROWS], ids=["1row", f"{N_ROWS}rows"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("c", CASES, ids=[c.id for c in CASES])
def test_equivalence(c, dtype, rows, prepared, error_log):
    est, model = prepared(c)
    X = eval_rows(c.data, rows).astype(dtype)
    f = _final(est)
    family = _family(est)
    is_clf = hasattr(f, "classes_")

    # metadata
    assert model.n_features_in_ == est.n_features_in_
    if is_clf:
        assert model.classes_.dtype == est.classes_.dtype
        np.testing.assert_array_equal(model.classes_, est.classes_)
        assert model.n_outputs_ == 1
    else:
        assert model.classes_ is None
        n_out = getattr(f, "n_outputs_", None) or (1 if np.ndim(f.coef_) == 1 else np.shape(f.coef_)[0])
        assert model.n_outputs_ == n_out

    fam = f"{family}-{'clf' if is_clf else 'reg'}"
    if family == "linear":
        scale = _linear_scale(est, X)

    if not is_clf:
        ref = est.predict(X)
        ours = model.predict(X)
        if family == "linear":
            bound = REL * np.maximum(np.abs(ref).reshape(scale.shape), scale).reshape(ref.shape) + ABS
        else:
            scale = _mlp_scale(est, X)
            bound = REL * np.maximum(np.abs(ref).reshape(scale.shape), scale).reshape(ref.shape) + ABS
        _check_close(ours, ref, bound, "predict", fam, c.id, error_log)
        return

    # classifiers: scores / probabilities first, then labels with their near-tie exemption
    ref_labels = est.predict(X)
    ours_labels = model.predict(X)
    has_dec = hasattr(est, "decision_function")
    has_proba = hasattr(est, "predict_proba")
    if has_dec:
        dref = est.decision_function(X)
        dours = model.decision_function(X)
        t = (REL * np.maximum(np.abs(dref).reshape(scale.shape), scale) + ABS).reshape(dref.shape)
        _check_close(dours, dref, t, "decision_function", fam, c.id, error_log)
        if dref.ndim == 1:
            near_tie = np.abs(dref) <= t
            t_row = t
        else:
            top2 = np.sort(dref, axis=1)[:, -2:]
            near_tie = top2[:, 1] - top2[:, 0] <= 2 * t.max(axis=1)
            t_row = t.max(axis=1)
    else:
        with pytest.raises(AttributeError):
            model.decision_function(X)
    if has_proba:
        pref = est.predict_proba(X)
        pours = model.predict_proba(X)
        lip = _proba_lipschitz(f, pref, dref.reshape(len(X), -1) if has_dec else None)
        if lip is None:  # MLP
            pb = REL * np.maximum(1.0, np.abs(pref)) + ABS
            if pref.shape[1] == 2:
                near_tie = np.abs(pref[:, 1] - 0.5) <= pb[:, 1]
            else:
                top2 = np.sort(pref, axis=1)[:, -2:]
                near_tie = top2[:, 1] - top2[:, 0] <= 2 * pb.max(axis=1)
        else:
            pb = (lip * t_row)[:, None] + 1e-12
        _check_close(pours, pref, pb, "predict_proba", fam, c.id, error_log)
    else:
        with pytest.raises(AttributeError):
            model.predict_proba(X)
    _check_labels(ours_labels, ref_labels, near_tie, "predict", c.id, error_log)
