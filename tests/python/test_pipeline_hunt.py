"""A randomized differential test of pipelines over named columns (docs/models/pipelines.md):
random scikit-learn pipelines (ColumnTransformer / FeatureUnion / nested Pipelines over imputers,
encoders, scalers, binning, quantile / power / spline maps, polynomial features, PCA, selectors;
sparse encoder and ColumnTransformer outputs and the steps after them) before random models
(scikit-learn's linear models, naive Bayes, MLPs, trees, forests and boosting; XGBoost, LightGBM,
CatBoost), fitted on random DataFrames (NaN, None, "nan", "", unicode, +-inf, huge and
tiny numbers, category / nullable / float32 dtypes), exported and predicted by mlinfer, compared
with scikit-learn's predict / predict_proba / decision_function on new rows (unseen categories,
other column order, an extra column, dicts of columns, one-row dicts).

Where scikit-learn answers, mlinfer must give the same answer or raise (an error is allowed:
a refusal is no silent wrong answer; `errors` in run_seed lists them); where scikit-learn raises,
mlinfer must raise too. The test runs a fixed set of seeds; MLI_HUNT_SEEDS=N runs N seeds
(MLI_HUNT_START=K starts at K): `python tests/python/test_pipeline_hunt.py 500` prints each
mismatch with the pipeline that made it."""
from __future__ import annotations

import os
import sys
import tempfile
import traceback
import warnings

import numpy as np
import pytest

pd = pytest.importorskip("pandas")
from sklearn.compose import ColumnTransformer, make_column_selector  # noqa: E402
from sklearn.decomposition import PCA, IncrementalPCA, TruncatedSVD  # noqa: E402
from sklearn.ensemble import (ExtraTreesClassifier, ExtraTreesRegressor, GradientBoostingClassifier,  # noqa: E402
                              GradientBoostingRegressor, HistGradientBoostingClassifier,
                              HistGradientBoostingRegressor, IsolationForest, RandomForestClassifier,
                              RandomForestRegressor)
from sklearn.feature_selection import (RFE, SelectFromModel, SelectKBest, SelectPercentile,  # noqa: E402
                                       VarianceThreshold, f_classif, f_regression)
from sklearn.impute import MissingIndicator, SimpleImputer  # noqa: E402
from sklearn.linear_model import (ElasticNet, Lasso, LinearRegression, LogisticRegression, Perceptron,  # noqa: E402
                                  Ridge, RidgeClassifier, SGDClassifier)
from sklearn.naive_bayes import BernoulliNB, GaussianNB, MultinomialNB  # noqa: E402
from sklearn.multiclass import OneVsRestClassifier  # noqa: E402
from sklearn.neural_network import MLPClassifier, MLPRegressor  # noqa: E402
from sklearn.pipeline import FeatureUnion, Pipeline  # noqa: E402
from sklearn.preprocessing import (Binarizer, FunctionTransformer, KBinsDiscretizer, MaxAbsScaler,  # noqa: E402
                                   MinMaxScaler, Normalizer, OneHotEncoder, OrdinalEncoder, PolynomialFeatures,
                                   PowerTransformer, QuantileTransformer, RobustScaler, SplineTransformer,
                                   StandardScaler, TargetEncoder)
from sklearn.svm import LinearSVC  # noqa: E402
from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor  # noqa: E402

import mlinfer  # noqa: E402

VOCAB = ["a", "b", "c", "nan", "", "é", "日本", "None", " a", "NaN"]


class Gen:
    """Random choices, recorded for the report."""

    def __init__(self, seed):
        self.r = np.random.default_rng(seed)
        self.numpy = False  # fitted on a NumPy array: columns by position
        # the draws of the components and options added later (x_pick, x_p) come from a stream
        # of their own: a seed whose draws of g.r chose none of them builds what it always built
        self.x = np.random.default_rng([seed, 1])

    def x_pick(self, xs):
        return xs[int(self.x.integers(len(xs)))]

    def x_p(self, q):
        return bool(self.x.random() < q)

    def pick(self, xs):
        return xs[int(self.r.integers(len(xs)))]

    def p(self, q):
        return bool(self.r.random() < q)


# ---- data --------------------------------------------------------------------------------

def make_columns(g: Gen):
    """Column specs: (name, kind, dtype variant)."""
    cols = []
    for i in range(int(g.r.integers(1, 4))):
        cols.append((f"n{i}", "num", g.pick(["f64", "f64", "f64", "f32", "Float64", "Int64", "int"])))
    if g.p(0.5):
        cols.append(("k0", "intcat", g.pick(["f64", "Int64", "int"])))
    for i in range(int(g.r.integers(0, 3))):
        cols.append((f"s{i}", "str", g.pick(["object", "object", "object", "category", "string"])))
    return cols


def make_frame(g: Gen, cols, n, train, vocab):
    data = {}
    for name, kind, dt in cols:
        if kind == "num":
            scale = g.pick([1.0, 1.0, 100.0, 1e-3, 1e6])
            v = g.r.normal(0, scale, n)
            if g.p(0.3):
                v = np.round(v)
            if dt in ("int", "Int64"):
                v = np.round(v * 3)
            na = g.p(0.6) if dt != "int" else False
            if na:
                v[g.r.random(n) < 0.1] = np.nan
            if not train and dt not in ("int", "Int64"):
                k = g.r.random(n)
                v[k < 0.03] = np.inf
                v[(k >= 0.03) & (k < 0.06)] = -np.inf
                v[(k >= 0.06) & (k < 0.08)] = 1e300
                v[(k >= 0.08) & (k < 0.1)] = -5e-310
                v[(k >= 0.1) & (k < 0.12)] = -0.0
                if not na:  # inf into a column that never had NaN
                    v[(k >= 0.12) & (k < 0.13)] = np.nan
            data[name] = to_dtype(v, dt)
        elif kind == "intcat":
            v = g.r.integers(0, 5 if train else 7, n).astype(float)
            if g.p(0.5) or not train:
                v[g.r.random(n) < 0.08] = np.nan
            data[name] = to_dtype(v, dt if dt != "int" or not np.isnan(v).any() else "f64")
        else:
            voc = vocab[name]
            pool = voc + (["zz", "unseen", "A"] if not train else [])
            probs = np.array([1.0 / (j + 1) for j in range(len(pool))])
            v = np.array([pool[j] for j in g.r.choice(len(pool), n, p=probs / probs.sum())], dtype=object)
            r = g.r.random(n)
            if g.p(0.6) or not train:
                v[r < 0.06] = None
            if g.p(0.6) or not train:
                v[(r >= 0.06) & (r < 0.12)] = np.nan
            if dt == "category":
                data[name] = pd.Series(v, dtype="category")
            elif dt == "string" and not train:  # pandas' string dtype (None and NaN become pd.NA)
                data[name] = pd.Series(v, dtype="string")
            else:
                data[name] = pd.Series(v, dtype=object)
    return pd.DataFrame(data)


def to_dtype(v, dt):
    if dt == "f32":
        return pd.Series(v.astype(np.float32))
    if dt == "Float64":
        return pd.Series(v, dtype="Float64")
    if dt == "Int64":
        s = pd.Series(np.where(np.isfinite(v), v, 0), dtype="float64").astype("Int64")
        s[np.isnan(v)] = pd.NA
        return s
    if dt == "int":
        return pd.Series(np.where(np.isfinite(v), v, 0).astype(np.int64))
    return pd.Series(v)


# ---- pipelines ---------------------------------------------------------------------------

def num_imputer(g: Gen):
    s = g.pick(["mean", "median", "most_frequent", "constant"])
    kw = dict(strategy=s)
    if s == "constant":
        kw["fill_value"] = g.pick([0.0, -1.0, 7.5])
    if g.p(0.1):
        kw["missing_values"] = -1.0
        kw["strategy"] = g.pick(["mean", "constant"])
    if g.p(0.25):
        kw["add_indicator"] = True
    if g.p(0.2):
        kw["keep_empty_features"] = True
    return SimpleImputer(**kw)


def num_step(g: Gen, model_kind):
    step = num_step_base(g, model_kind)
    if g.x_p(0.3):
        return num_step_more(g)
    return step


def num_step_more(g: Gen):
    """Components and options of docs/models/pipelines.md that num_step_base never draws."""
    c = g.x_pick(["func", "func", "boxcox", "spline", "poly", "robust", "minmax", "kbins", "pca", "ipca", "std32"])
    if c == "func":
        return FunctionTransformer(g.x_pick([None, np.sqrt, np.log, np.exp, np.expm1, np.log1p]))
    if c == "boxcox":
        return chain(FunctionTransformer(np.abs), PowerTransformer(method="box-cox", standardize=g.x_p(0.5)))
    if c == "spline":
        return SplineTransformer(n_knots=int(g.x.integers(2, 6)), degree=int(g.x.integers(0, 4)),
                                 knots=g.x_pick(["uniform", "quantile"]),
                                 extrapolation=g.x_pick(["constant", "linear", "continue", "periodic", "error"]),
                                 handle_missing=g.x_pick(["error", "zeros"]), include_bias=g.x_p(0.5))
    if c == "poly":
        lo = int(g.x.integers(0, 3))
        return PolynomialFeatures(degree=(lo, lo + int(g.x.integers(0, 2))), interaction_only=g.x_p(0.3),
                                  include_bias=g.x_p(0.5))
    if c == "robust":
        return RobustScaler(with_centering=g.x_p(0.5), with_scaling=g.x_p(0.5),
                            quantile_range=g.x_pick([(25.0, 75.0), (10.0, 90.0), (1.0, 99.0)]),
                            unit_variance=g.x_p(0.5))
    if c == "minmax":
        return MinMaxScaler(feature_range=g.x_pick([(-1.0, 2.0), (0.0, 10.0)]), clip=g.x_p(0.5))
    if c == "kbins":
        return KBinsDiscretizer(n_bins=int(g.x.integers(2, 6)), encode=g.x_pick(["onehot", "ordinal"]),
                                strategy=g.x_pick(["uniform", "quantile", "kmeans"]),
                                quantile_method=g.x_pick(["averaged_inverted_cdf", "linear"]))
    if c == "pca":
        return PCA(n_components=g.x_pick([0.5, 0.9, 0.99]), whiten=g.x_p(0.5))
    if c == "ipca":
        return IncrementalPCA(n_components=1, whiten=g.x_p(0.5))
    return StandardScaler()


def num_step_base(g: Gen, model_kind):
    c = g.pick(["std", "minmax", "maxabs", "robust", "kbins", "binarize", "quantile", "power", "poly", "spline",
                "log1p", "abs", "norm", "none", "none"])
    if c == "norm":
        return Normalizer(norm=g.pick(["l1", "max", "l2"]))
    if c == "std":
        return StandardScaler(with_mean=g.p(0.8), with_std=g.p(0.8))
    if c == "minmax":
        return MinMaxScaler(clip=g.p(0.5))
    if c == "maxabs":
        return MaxAbsScaler()
    if c == "robust":
        return RobustScaler(with_centering=g.p(0.7))
    if c == "kbins":
        return KBinsDiscretizer(n_bins=int(g.r.integers(2, 6)), encode=g.pick(["ordinal", "onehot-dense"]),
                                strategy=g.pick(["uniform", "quantile", "kmeans"]),
                                quantile_method="averaged_inverted_cdf")
    if c == "binarize":
        return Binarizer(threshold=g.pick([0.0, 0.5, -1.0]))
    if c == "quantile":
        return QuantileTransformer(n_quantiles=int(g.r.integers(5, 50)),
                                   output_distribution=g.pick(["uniform", "normal"]))
    if c == "power":
        return PowerTransformer(method="yeo-johnson", standardize=g.p(0.5))
    if c == "poly":
        return PolynomialFeatures(degree=int(g.r.integers(1, 4)), interaction_only=g.p(0.3), include_bias=g.p(0.5))
    if c == "spline":
        return SplineTransformer(n_knots=int(g.r.integers(2, 6)), degree=int(g.r.integers(1, 4)),
                                 extrapolation=g.pick(["constant", "linear", "continue", "periodic"]),
                                 include_bias=g.p(0.5))
    if c == "log1p":
        return FunctionTransformer(np.log1p)
    if c == "abs":
        return FunctionTransformer(np.abs)
    return None


def str_imputer(g: Gen):
    kw = {}
    if g.p(0.12):  # NaN in the column then raises in scikit-learn
        kw["missing_values"] = g.pick([None, "nan", ""])
    if g.p(0.2):
        kw["add_indicator"] = True
    if g.p(0.5):
        return SimpleImputer(strategy="constant", fill_value=g.pick(["missing", "a", "nan", ""]), **kw)
    return SimpleImputer(strategy="most_frequent", **kw)


def str_encoder(g: Gen, model_kind):
    c = g.pick(["ohe", "ohe", "ord", "target"])
    if c == "ohe":
        kw = dict(handle_unknown=g.pick(["ignore", "infrequent_if_exist", "error"]), sparse_output=False)
        if g.p(0.4):
            kw["min_frequency"] = g.pick([2, 5, 0.1])
        if g.p(0.3):
            kw["max_categories"] = int(g.r.integers(2, 5))
        if g.p(0.3):
            kw["drop"] = g.pick(["first", "if_binary"])
        if g.x_p(0.3):  # sparse output: the ColumnTransformer's sparse_threshold decides
            kw["sparse_output"] = True
        return OneHotEncoder(**kw)
    if c == "ord":
        kw = {}
        if g.p(0.7):
            kw = dict(handle_unknown="use_encoded_value", unknown_value=g.pick([-1, np.nan, 99]))
        if g.p(0.3):
            kw["encoded_missing_value"] = g.pick([-2, np.nan])
        if g.p(0.3):
            kw["min_frequency"] = g.pick([2, 5])
        if g.p(0.2):
            kw["max_categories"] = int(g.r.integers(2, 5))
        return OrdinalEncoder(**kw)
    return TargetEncoder(smooth=g.pick(["auto", 1.0, 10.0]), random_state=0)


def after_encoder(g: Gen):
    """A step after an encoder or a ColumnTransformer (their output may be sparse), or None."""
    if not g.x_p(0.15):
        return None
    c = g.x_pick(["quantile", "maxabs", "std", "norm", "binarize", "impute", "log1p"])
    if c == "quantile":
        return QuantileTransformer(n_quantiles=int(g.x.integers(5, 30)),
                                   output_distribution=g.x_pick(["uniform", "normal"]))
    if c == "maxabs":
        return MaxAbsScaler()
    if c == "std":
        return StandardScaler(with_mean=False)
    if c == "norm":
        return Normalizer(norm=g.x_pick(["l1", "max", "l2"]))
    if c == "binarize":
        return Binarizer(threshold=0.5)
    if c == "impute":
        return SimpleImputer(strategy=g.x_pick(["mean", "median", "constant"]), fill_value=0.0)
    return FunctionTransformer(np.log1p)


def select(g: Gen, names, all_cols):
    """A ColumnTransformer column selection for `names` (a non-empty list)."""
    how = "index" if g.numpy else g.pick(["name", "name", "index", "mask", "selector"])
    if how == "name" and g.x_p(0.15):
        return lambda X, names=tuple(names): list(names)
    if how == "index":
        return [all_cols.index(n) for n in names]
    if how == "mask":
        return np.array([c in names for c in all_cols])
    if how == "selector":
        return make_column_selector(pattern="^(" + "|".join(names) + ")$")
    return list(names)


def chain(*steps):
    steps = [s for s in steps if s is not None]
    if not steps:
        return "passthrough"
    if len(steps) == 1:
        return steps[0]
    return Pipeline([(f"s{i}", s) for i, s in enumerate(steps)])


def make_pipeline_for(g: Gen, cols, model_kind, vocab):
    names = [c[0] for c in cols]
    nums = [c[0] for c in cols if c[1] == "num"]
    ints = [c[0] for c in cols if c[1] == "intcat"]
    strs = [c[0] for c in cols if c[1] == "str"]
    parts = []
    used = set()
    if nums:
        sub = [n for n in nums if g.p(0.8)] or nums[:1]
        imp = num_imputer(g) if g.p(0.9) else None
        step = num_step(g, model_kind)
        if g.p(0.2):
            step = FeatureUnion([("a", chain(step)), ("b", chain(num_step(g, model_kind)))],
                                transformer_weights={"a": 1.0, "b": g.pick([1.0, 2.0, 0.5])} if g.p(0.3) else None)
        tail = g.pick([None, None, None, PCA(n_components=1, whiten=g.p(0.5)), TruncatedSVD(n_components=1),
                       VarianceThreshold()])
        parts.append(("num", chain(imp, step, tail), select(g, sub, names)))
        used |= set(sub)
    for k in ints:
        if g.p(0.7):
            enc = g.pick([OneHotEncoder(handle_unknown=g.pick(["ignore", "infrequent_if_exist"]), sparse_output=False,
                                        min_frequency=g.pick([None, 3])),
                          OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1),
                          TargetEncoder(random_state=0)])
            parts.append((f"int_{k}", chain(SimpleImputer(strategy="most_frequent") if g.p(0.4) else None, enc),
                          select(g, [k], names)))
            used.add(k)
    if strs:
        if g.p(0.5):  # one branch for all string columns
            sub = [s for s in strs if g.p(0.8)] or strs[:1]
            parts.append(("str", chain(str_imputer(g) if g.p(0.6) else None, str_encoder(g, model_kind)),
                          select(g, sub, names)))
            used |= set(sub)
        else:
            for s in strs:
                if g.p(0.8):
                    imp = str_imputer(g) if g.p(0.5) else None
                    enc = str_encoder(g, model_kind)
                    if g.p(0.2) and imp is not None and type(enc).__name__ in ("OneHotEncoder", "OrdinalEncoder"):
                        fill = getattr(imp, "fill_value", None)
                        cats = sorted(set(vocab[s]) | {"extra"} | ({fill} if isinstance(fill, str) else set()))
                        enc.set_params(categories=[cats])
                    parts.append((f"str_{s}", chain(imp, enc, after_encoder(g)), select(g, [s], names)))
                    used.add(s)
    if g.p(0.15) and nums:
        parts.append(("ind", MissingIndicator(features=g.pick(["missing-only", "all"]), error_on_new=g.p(0.3),
                                              missing_values=g.pick([np.nan, np.nan, -1.0])),
                      select(g, nums, names)))
    if g.p(0.1) and strs:
        parts.append(("sind", MissingIndicator(features=g.pick(["missing-only", "all"]), error_on_new=g.p(0.3),
                                               missing_values=g.pick([np.nan, None, "nan"])),
                      select(g, strs, names)))
    rest_numeric = all(c[1] != "str" for c in cols if c[0] not in used)
    remainder = "passthrough" if (rest_numeric and g.p(0.4)) else "drop"
    if rest_numeric and g.p(0.15):  # a transformer for the rest
        remainder = chain(SimpleImputer(strategy="median", keep_empty_features=True), num_step(g, model_kind))
    if not parts:
        parts.append(("num", "passthrough", [names[0]]))
    ct = ColumnTransformer(parts, remainder=remainder, sparse_threshold=g.x_pick([0, 0, 0.3, 1.0]))
    if g.p(0.15):  # pandas output between the steps (names, not positions, flow on)
        try:
            ct.set_output(transform="pandas")
        except Exception:  # noqa: BLE001 -- a transformer without it
            pass
    if g.p(0.1):  # a FeatureUnion of the ColumnTransformer and another over the number columns
        other = ColumnTransformer([("m", chain(SimpleImputer(strategy="median", add_indicator=g.p(0.5)),
                                               num_step(g, model_kind)), select(g, nums or names[:1], names))],
                                  sparse_threshold=0)
        ct = FeatureUnion([("ct", ct), ("other", other)])
    pre = [ct]
    post = after_encoder(g)
    if post is not None:
        pre.append(post)
    if g.p(0.1):
        pre.append(SelectKBest(f_classif, k=1) if model_kind == "clf" else VarianceThreshold())
    elif g.x_p(0.1):
        score = f_classif if model_kind == "clf" else f_regression
        tree = DecisionTreeClassifier if model_kind == "clf" else DecisionTreeRegressor
        pre.append(g.x_pick([SelectPercentile(score, percentile=50), SelectFromModel(tree(max_depth=3, random_state=0)),
                             RFE(tree(max_depth=3, random_state=0), n_features_to_select=2)])
                   if model_kind in ("clf", "reg") else VarianceThreshold())
    if g.p(0.1):
        pre = [Pipeline([("inner", ct)])] + pre[1:]
    return pre


MODELS = {
    "logreg": ("clf", lambda g: LogisticRegression(max_iter=500, C=g.pick([0.1, 1.0, 10.0]))),
    "ridge": ("reg", lambda g: Ridge(alpha=g.pick([0.1, 1.0]))),
    "linsvc": ("clf", lambda g: LinearSVC(max_iter=2000)),
    "tree": ("clf", lambda g: DecisionTreeClassifier(max_depth=int(g.r.integers(2, 12)), random_state=0)),
    "forest": ("clf", lambda g: RandomForestClassifier(n_estimators=5, max_depth=6, random_state=0)),
    "forest_reg": ("reg", lambda g: RandomForestRegressor(n_estimators=5, max_depth=6, random_state=0)),
    "gb": ("clf", lambda g: GradientBoostingClassifier(n_estimators=5, max_depth=3, random_state=0)),
    "hgb": ("clf", lambda g: HistGradientBoostingClassifier(max_iter=10, random_state=0)),
    "hgb_reg": ("reg", lambda g: HistGradientBoostingRegressor(max_iter=10, random_state=0)),
    "mlp": ("clf", lambda g: MLPClassifier(hidden_layer_sizes=(5,), max_iter=50, random_state=0)),
    "ovr": ("clf", lambda g: OneVsRestClassifier(LogisticRegression(max_iter=300))),
    "ovr_tree": ("clf", lambda g: OneVsRestClassifier(DecisionTreeClassifier(max_depth=4, random_state=0))),
    "extra": ("clf", lambda g: ExtraTreesClassifier(n_estimators=4, max_depth=6, random_state=0)),
    "tree_reg": ("reg", lambda g: DecisionTreeRegressor(max_depth=int(g.r.integers(2, 10)), random_state=0)),
    "iso": ("iso", lambda g: IsolationForest(n_estimators=5, random_state=0)),
    "sgd": ("clf", lambda g: SGDClassifier(loss=g.pick(["log_loss", "hinge", "modified_huber"]), random_state=0)),
    "mlp_reg": ("reg", lambda g: MLPRegressor(hidden_layer_sizes=(4,), max_iter=50, random_state=0)),
}


# models run_seed draws from g.x (MODELS' draws, from g.r, stay as they were)
MORE_MODELS = {
    "gnb": ("clf", lambda g: GaussianNB()),
    "bnb": ("clf", lambda g: BernoulliNB(binarize=g.x_pick([0.0, 0.5]))),
    "mnb": ("clf", lambda g: MultinomialNB()),
    "ridgeclf": ("clf", lambda g: RidgeClassifier(alpha=g.x_pick([0.1, 1.0]))),
    "perceptron": ("clf", lambda g: Perceptron(random_state=0)),
    "linreg": ("reg", lambda g: LinearRegression()),
    "lasso": ("reg", lambda g: Lasso(alpha=g.x_pick([0.01, 0.1]))),
    "enet": ("reg", lambda g: ElasticNet(alpha=0.05)),
    "gb_reg": ("reg", lambda g: GradientBoostingRegressor(n_estimators=5, max_depth=3, random_state=0)),
    "extra_reg": ("reg", lambda g: ExtraTreesRegressor(n_estimators=4, max_depth=6, random_state=0)),
    "ovr_hgb": ("clf", lambda g: OneVsRestClassifier(HistGradientBoostingClassifier(max_iter=5))),
}


def extra_models():
    try:
        import xgboost
        MODELS.setdefault("xgb", ("clf", lambda g: xgboost.XGBClassifier(n_estimators=5, max_depth=3)))
        MORE_MODELS.setdefault("xgb_reg", ("reg", lambda g: xgboost.XGBRegressor(n_estimators=5, max_depth=3)))
    except ImportError:
        pass
    try:
        import catboost
        MORE_MODELS.setdefault("catboost", ("clf", lambda g: catboost.CatBoostClassifier(
            iterations=5, depth=3, verbose=0, allow_writing_files=False, random_seed=0, thread_count=1)))
        MORE_MODELS.setdefault("catboost_reg", ("reg", lambda g: catboost.CatBoostRegressor(
            iterations=5, depth=3, verbose=0, allow_writing_files=False, random_seed=0, thread_count=1)))
    except ImportError:
        pass
    try:
        import lightgbm
        MODELS.setdefault("lgbm", ("clf", lambda g: lightgbm.LGBMClassifier(n_estimators=5, num_leaves=7,
                                                                            min_child_samples=3, verbose=-1)))
        MORE_MODELS.setdefault("lgbm_reg", ("reg", lambda g: lightgbm.LGBMRegressor(
            n_estimators=5, num_leaves=7, min_child_samples=3, verbose=-1)))
    except ImportError:
        pass


# ---- comparison --------------------------------------------------------------------------

def sk_call(fn, X):
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return np.asarray(fn(X)), None
    except Exception as e:  # noqa: BLE001 -- any scikit-learn failure is an expected error
        return None, f"{type(e).__name__}: {e}"


NA_ERRORS = ("pandas.NA", "boolean value of NA is ambiguous", "['NAType'")


def denull(X):
    """X with pandas' NA as NaN: nullable number columns as float64, string columns as object
    with NaN, as mlinfer reads them (docs/models/pipelines.md: a pandas NA is a missing value).
    scikit-learn refuses pd.NA in a passthrough column and fails on it in a string column."""
    X = X.copy()
    for c in X.columns:
        dt = X[c].dtype
        if isinstance(dt, pd.StringDtype) or dt == object:
            X[c] = X[c].astype(object).map(lambda v: np.nan if type(v).__name__ == "NAType" else v)
        elif pd.api.types.is_extension_array_dtype(dt) and dt.kind in "iufb":
            X[c] = X[c].to_numpy(dtype=np.float64, na_value=np.nan)
    return X


def has_na(X) -> bool:
    """Whether a frame holds pandas' NA (nullable columns, or pd.NA in an object column)."""
    return any(X[c].isna().any() if pd.api.types.is_extension_array_dtype(X[c].dtype) and
               not isinstance(X[c].dtype, pd.CategoricalDtype) else
               X[c].dtype == object and any(type(v).__name__ == "NAType" for v in X[c]) for c in X.columns)


def sk_answer(est, what, X):
    """scikit-learn's answer (or its error). Where it fails on pandas' NA (a TypeError in its
    imputers and MissingIndicator, its refusal of NA in a passthrough column), there is no
    reference: ("SKIP ...") -- the regression tests above pin what mlinfer does there."""
    want, err = sk_call(getattr(est, what), X)
    if want is None and (any(e in err for e in NA_ERRORS) or err.startswith("TypeError")) and has_na(X):
        return None, "SKIP " + err
    if want is None and "Category index from DataFrame has floating point dtype" in err:
        return None, "SKIP " + err  # XGBoost refuses a float-typed category index (the dtype, not the values)
    if want is None and "Found a category not in the training set" in err:
        # XGBoost re-codes a pandas category column by its dtype's categories: one unseen in
        # training raises even where no row holds it; mlinfer reads the values (and raises on one)
        cat = err.split("column: `", 1)[-1].split("`", 1)[0]
        if not any((X[c].astype(object) == cat).any() for c in X.columns):
            return None, "SKIP " + err
    return want, err


def ml_call(fn, X):
    try:
        return np.asarray(fn(X)), None
    except Exception as e:  # noqa: BLE001
        return None, f"{type(e).__name__}: {e}"


def compare(what, want, got, rtol, atol, scale=None):
    """A mismatch message or None. scale (per row): the float32 models' atol grows with the row's
    largest transformed feature -- float32 sums of large terms that cancel lose that much."""
    if what == "predict" and want.ndim == 2 and want.shape[1] == 1:
        want = want.ravel()  # CatBoost's multiclass predict: a column of labels (mlinfer: scikit-learn's 1-D)
    if what == "predict" and want.dtype.kind in "OUSb":
        bad = [i for i in range(len(want)) if str(want[i]) != str(got[i])]
        return f"labels differ at rows {bad[:5]}: want {[want[i] for i in bad[:3]]} got " \
               f"{[got[i] for i in bad[:3]]}" if bad else None
    if len(want) == 0 and len(got) == 0:
        return None
    want = np.asarray(want, dtype=np.float64).reshape(len(want), -1)
    got = np.asarray(got, dtype=np.float64).reshape(len(got), -1)
    if want.shape != got.shape:
        return f"shape {got.shape} != {want.shape}"
    if scale is not None:
        atol = atol * np.asarray(scale, dtype=np.float64).reshape(-1, 1)
    ok = np.isclose(got, want, rtol=rtol, atol=atol) | (np.isnan(got) & np.isnan(want))
    if ok.all():
        return None
    r = np.flatnonzero(~ok.all(axis=1))
    return f"{what} differs at {len(r)} rows, first {r[:5]}: want {want[r[0]]} got {got[r[0]]}"


def judge(est, what, rows, want, werr, got, gerr, label, tol, scale, mism, errs):
    """Files mlinfer's answer (got, or its error gerr) against scikit-learn's (want, or werr) on
    `rows`: a mismatch or an answer where scikit-learn raised into mism (bugs), a refusal where
    scikit-learn answered into errs. Labels may differ only where scikit-learn's top two
    probabilities tie (within 1e-5)."""
    if werr and werr.startswith("SKIP"):
        return
    if want is None and got is not None:
        mism.append(f"{what}/{label}: scikit-learn raised ({werr[:200]}) but mlinfer answered")
    elif want is not None and got is None:
        errs.append(f"{what}/{label}: {gerr[:300]}")
    elif want is not None:
        keep = np.ones(len(want), dtype=bool)
        if what == "predict" and hasattr(est, "predict_proba"):
            pw, _ = sk_call(est.predict_proba, rows)
            if pw is not None:
                top = np.sort(pw, axis=1)
                keep = top[:, -1] - top[:, -2] >= 1e-5
        msg = compare(what, want[keep], got[keep], scale=None if scale is None else scale[keep], **tol)
        if msg:
            mism.append(f"{what}/{label}: {msg}")


FLOAT32_MODELS = ("logreg", "ridge", "linsvc", "mlp", "mlp_reg", "ovr", "sgd", "ridgeclf", "perceptron", "linreg",
                  "lasso", "enet", "gnb", "bnb", "mnb")


def compare_numpy(est, m, X, model_name, desc, state):
    """run_seed's comparison for a pipeline fitted on a NumPy array (rows as an array, and one row)."""
    if state is not None:
        state.update(est=est, m=m, test=X)
    tol = dict(rtol=1e-4, atol=1e-5) if model_name.startswith("mlp") else dict(rtol=1e-5, atol=1e-6)
    mism, errs = [], []
    for what in ["predict"] + [w for w in ("predict_proba", "decision_function") if hasattr(est, w)]:
        if what == "decision_function" and m.is_classifier and m._n_decision == 0:
            continue
        for label, rows in (("array", X), ("row 0", X[:1]), ("row 1", X[1:2])):
            want, werr = sk_call(getattr(est, what), rows)
            got, gerr = ml_call(getattr(m, what), rows)
            judge(est, what, rows, want, werr, got, gerr, label, tol, None, mism, errs)
    return mism, errs, desc


def run_seed(seed, state=None):
    """(mismatches, errors, description): mismatches are bugs; errors are mlinfer refusals where
    scikit-learn answered (allowed, reported). `state`, a dict, gets the pipeline, the model and
    the rows (to minimize a finding)."""
    g = Gen(seed)
    extra_models()
    cols = make_columns(g)
    vocab = {c[0]: list(g.r.choice(VOCAB, int(g.r.integers(2, 7)), replace=False)) for c in cols if c[1] == "str"}
    n = int(g.r.integers(40, 200))
    df = make_frame(g, cols, n, True, vocab)
    g.numpy = g.p(0.12) and all(c[2] in ("f64", "f32", "int", "object") for c in cols)
    model_name = g.pick(sorted(MODELS))
    kind, make = MODELS[model_name]
    if g.x_p(0.3):
        model_name = g.x_pick(sorted(MORE_MODELS))
        kind, make = MORE_MODELS[model_name]
    pre = make_pipeline_for(g, cols, kind, vocab)
    model = make(g)
    if g.p(0.4) and model_name.startswith("hgb"):  # HistGradientBoosting on raw string columns
        pre = []
        cats = [i if g.numpy else c[0] for i, c in enumerate(cols) if c[1] == "str" or (c[1] == "intcat" and g.p(0.5))]
        model.set_params(categorical_features=cats or "from_dtype")
    native = False
    if g.p(0.4) and model_name.split("_")[0] in ("xgb", "lgbm") and not g.numpy:  # pandas categories into the booster
        native, pre = True, []
        for c in cols:
            if c[1] == "str" or (c[1] == "intcat" and g.p(0.3)):
                df[c[0]] = df[c[0]].astype(object).astype("category")
        if model_name.startswith("xgb"):
            model.set_params(enable_categorical=True, tree_method="hist")
    est = Pipeline([(f"p{i}", p) for i, p in enumerate(pre)] + [("model", model)])
    if kind == "clf":
        k = int(g.pick([2, 2, 3]))
        y = g.r.integers(0, k, n)
        if g.p(0.3) and model_name != "xgb":
            y = np.array(["no", "yes", "maybe"])[y]
    else:
        y = g.r.normal(0, 1, n) if kind == "reg" else None
    if g.numpy:  # an object array where there are strings, else float64
        df = df.to_numpy(dtype=object if any(c[1] == "str" for c in cols) else np.float64)
    desc = f"seed {seed}: {model_name} cols={cols}{' (numpy)' if g.numpy else ''}\n{est}"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            est.fit(df, y)
        except Exception as e:  # noqa: BLE001 -- an invalid random combination
            return [], [], desc + f"\n(fit failed) {type(e).__name__}: {str(e)[:200]}"
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "m.mli")
        try:
            mlinfer.export(est, path)
        except mlinfer.UnsupportedModelError as e:
            return [], [], desc + f"\n(refused: {e})"
        if state is not None:
            state.update(est=est, train=df, y=y)
        m = mlinfer.load(path)
    test = make_frame(g, cols, int(g.r.integers(20, 80)), False, vocab)
    if g.numpy:
        return compare_numpy(est, m, test.to_numpy(dtype=df.dtype), model_name, desc, state)
    if hasattr(df, "columns"):
        for c in df.columns:  # pandas category columns: the categories of the test rows' own
            if isinstance(df[c].dtype, pd.CategoricalDtype):
                how = g.pick(["train", "own", "reversed"]) if native else g.pick(["train", "own"])
                if how == "train":
                    test[c] = test[c].astype(object).astype(pd.CategoricalDtype(df[c].cat.categories))
                elif how == "reversed":
                    cats = list(df[c].cat.categories)[::-1] + [v for v in test[c].dropna().unique()
                                                               if v not in set(df[c].cat.categories)]
                    test[c] = test[c].astype(object).astype(pd.CategoricalDtype(cats))
                else:
                    test[c] = test[c].astype(object).astype("category")
    if state is not None:
        state.update(est=est, m=m, train=df, y=y, test=test)
    tol = dict(rtol=1e-5, atol=1e-6)
    if model_name in ("mlp", "mlp_reg"):
        tol = dict(rtol=1e-4, atol=1e-5)
    scale = np.ones(len(test))
    if model_name in FLOAT32_MODELS and len(est.steps) > 1:
        Z, _ = sk_answer(est[:-1], "transform", test)
        rows = [Z] if Z is not None else [sk_answer(est[:-1], "transform", test.iloc[[i]])[0] for i in range(len(test))]
        for i, z in enumerate(rows):  # all at once, or row by row where some row raises
            if z is not None and np.asarray(z).dtype.kind == "f":
                zmax = np.nanmax(np.abs(np.asarray(z, dtype=np.float64)), axis=1, initial=0.0)
                scale[slice(None) if Z is not None else slice(i, i + 1)] = np.maximum(1.0, zmax)
    mism, errs = [], []
    whats = ["predict"] + [w for w in ("predict_proba", "decision_function") if hasattr(est, w) and hasattr(m, w)]
    shuffled = test[list(g.r.permutation(test.columns))].assign(zextra=1.0)
    inputs = [("frame", test, test), ("shuffled", shuffled, test)]
    if g.p(0.3):
        inputs.append(("dict", {c: test[c].tolist() for c in test.columns}, test))
    big = int(g.r.integers(20, 60)) if g.p(0.1) else 0
    for what in whats:
        if what == "decision_function" and m.is_classifier and m._n_decision == 0:
            continue
        want, werr = sk_answer(est, what, test)
        for label, X, _ in inputs:
            got, gerr = ml_call(getattr(m, what), X)
            judge(est, what, test, want, werr, got, gerr, label, tol, scale, mism, errs)
        if big:  # many rows: blocks, threads (the same rows again: scikit-learn's answers again)
            X = pd.concat([test] * big, ignore_index=True)
            got, gerr = ml_call(getattr(m, what), X)
            judge(est, what, X, None if want is None else np.concatenate([want] * big), werr, got, gerr, "big",
                  tol, np.tile(scale, big), mism, errs)
        for i in g.r.choice(len(test), min(3, len(test)), replace=False):  # one-row dicts
            row = test.iloc[[i]]
            w1, e1 = sk_answer(est, what, row)
            g1, e2 = ml_call(getattr(m, what), {c: row[c].iloc[0] for c in row.columns})
            judge(est, what, row, w1, e1, g1, e2, f"row {i}", tol, scale[i:i + 1], mism, errs)
    return mism, errs, desc


# ---- regressions found by the randomized test (minimal, deterministic) -----------------------

def _roundtrip(est, tmp_path):
    path = tmp_path / "m.mli"
    mlinfer.export(est, path)
    return mlinfer.load(path)


def _same_or_both_raise(est, m, X, what="predict_proba", one_row=False):
    """scikit-learn's and mlinfer's answers agree, or both raise (mlinfer's message returned);
    one_row: mlinfer gets the one row of X as a dict of scalars."""
    want, werr = sk_call(getattr(est, what), X)
    got, gerr = ml_call(getattr(m, what), {c: X[c].iloc[0] for c in X.columns} if one_row else X)
    assert (want is None) == (got is None), f"scikit-learn: {werr}; mlinfer: {gerr}"
    if want is not None:
        np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-12)
    return gerr


FLT_EDGE = float.fromhex("0x1.ffffffp+127")  # the smallest double float32 rounds to inf


@pytest.mark.parametrize("model", ["tree", "forest", "gb", "hgb", "ovr_forest"])
@pytest.mark.parametrize("scale", [False, True])
def test_trees_refuse_inf_and_float32_overflow_as_sklearn(model, scale, tmp_path):
    """sklearn.tree's trees and forests check their input as float32 (allow-nan), GradientBoosting
    refuses NaN too; a passthrough (or scaled) column used to carry inf / 1e300 into them."""
    rng = np.random.default_rng(0)
    df = pd.DataFrame({"x": rng.normal(size=80), "s": rng.choice(["a", "b"], 80)})
    y = (df.x > 0).astype(int)
    make = {"tree": lambda: DecisionTreeClassifier(random_state=0),
            "forest": lambda: RandomForestClassifier(n_estimators=3, random_state=0),
            "gb": lambda: GradientBoostingClassifier(n_estimators=3, random_state=0),
            "hgb": lambda: HistGradientBoostingClassifier(max_iter=3),
            "ovr_forest": lambda: OneVsRestClassifier(RandomForestClassifier(n_estimators=3, random_state=0))}
    pre = ColumnTransformer([("n", StandardScaler() if scale else "passthrough", ["x"]),
                             ("c", OneHotEncoder(), ["s"])])
    est = Pipeline([("pre", pre), ("m", make[model]())]).fit(df, y)
    m = _roundtrip(est, tmp_path)
    for v in (np.nan, np.inf, -np.inf, 1e300, FLT_EDGE, np.nextafter(FLT_EDGE, 0), -FLT_EDGE, 0.5):
        X = pd.DataFrame({"x": [0.1, v], "s": ["a", "b"]})
        err = _same_or_both_raise(est, m, X)
        if err:
            assert "row 1" in err and ("float32" in err or scale), err
        _same_or_both_raise(est, m, X.iloc[1:], "predict", one_row=True)


@pytest.mark.parametrize("model", ["logreg", "ridge", "mlp"])
@pytest.mark.parametrize("prep", [False, True])
def test_values_beyond_float32_refused_by_float32_models(model, prep, tmp_path):
    """Linear models and MLPs compute in float32: 1e300 became inf there and the answer NaN
    (scikit-learn, in float64, answers); such a value is now an input error."""
    rng = np.random.default_rng(1)
    X = rng.normal(size=(90, 2))
    y = rng.integers(0, 3, 90) if model != "ridge" else X[:, 0]
    make = {"logreg": lambda: LogisticRegression(), "ridge": lambda: Ridge(),
            "mlp": lambda: MLPClassifier(hidden_layer_sizes=(3,), max_iter=30, random_state=0)}
    df = pd.DataFrame(X, columns=["a", "b"]).assign(s=rng.choice(["u", "v"], 90))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if prep:
            est = Pipeline([("pre", ColumnTransformer([("n", StandardScaler(), ["a", "b"]), ("c", OneHotEncoder(), ["s"])])),
                            ("m", make[model]())]).fit(df, y)
        else:
            est = make[model]().fit(X, y)
    m = _roundtrip(est, tmp_path)
    what = "predict" if model == "ridge" else "predict_proba"
    for v in (FLT_EDGE, -1e300, np.nextafter(FLT_EDGE, 0) / 1e3):
        T = np.array([[0.1, 0.2], [v, 0.5]])
        Xin = pd.DataFrame(T, columns=["a", "b"]).assign(s=["u", "v"]) if prep else T
        got, err = ml_call(getattr(m, what), Xin)
        if abs(v) >= FLT_EDGE:
            assert got is None and "row 1" in err and "float32's range" in err, err
        else:  # in range: answered, finite (the last bit of float32 aside, as scikit-learn)
            assert got is not None and np.isfinite(got).all(), err


@pytest.mark.parametrize("dtype", ["object", "string"])
def test_pandas_na_in_a_string_column_is_an_unknown_category(dtype, tmp_path):
    """scikit-learn's encoders take pd.NA for a category never seen (not NaN): OneHotEncoder
    (ignore) gave the NaN category's weight in mlinfer, zeros in scikit-learn. After an imputer
    (which raises on pd.NA in scikit-learn) it stays the missing value."""
    s = np.array(["a", "b", "c", np.nan, None] * 20, dtype=object)
    df = pd.DataFrame({"s": s, "t": s})
    y = np.arange(100) % 5 * 1.0
    enc = ColumnTransformer([("o", OneHotEncoder(handle_unknown="ignore"), ["s"]),
                             ("i", Pipeline([("imp", SimpleImputer(strategy="constant", fill_value="c")),
                                             ("o", OneHotEncoder(handle_unknown="ignore"))]), ["t"])])
    est = Pipeline([("pre", enc), ("m", Ridge(alpha=1e-6))]).fit(df, y)
    m = _roundtrip(est, tmp_path)
    rows = pd.DataFrame({"s": pd.array(["a", pd.NA, "b", pd.NA], dtype=dtype),
                         "t": pd.array(["a", "b", "a", "b"], dtype=dtype)})
    np.testing.assert_allclose(m.predict(rows), est.predict(rows), rtol=1e-5, atol=1e-5)
    for i in range(len(rows)):  # one row, as a dict of scalars
        np.testing.assert_allclose(m.predict({c: rows[c].iloc[i] for c in rows}), est.predict(rows.iloc[[i]]),
                                   rtol=1e-5, atol=1e-5)
    big = pd.concat([rows] * 40, ignore_index=True)  # > 64 rows: the factorizing paths
    np.testing.assert_allclose(m.predict(big), est.predict(big), rtol=1e-5, atol=1e-5)
    # after the imputer: scikit-learn raises (TypeError); mlinfer imputes it as the NaN it stands for
    imputed = rows.assign(t=pd.array(["a", pd.NA, "b", pd.NA], dtype=dtype))
    with pytest.raises(TypeError):
        est.predict(imputed)
    np.testing.assert_allclose(m.predict(imputed), est.predict(denull(imputed).assign(s=rows["s"])),
                               rtol=1e-5, atol=1e-5)
    strict = Pipeline([("pre", ColumnTransformer([("o", OneHotEncoder(), ["s"])])), ("m", Ridge())]).fit(df, y)
    with pytest.raises(mlinfer.InputError, match="row 1: unknown category"):
        _roundtrip(strict, tmp_path).predict(rows)


def test_unseen_imputer_fill_before_a_strict_encoder_is_exported(tmp_path):
    """SimpleImputer(fill_value='nan') before OneHotEncoder(handle_unknown='error') that never saw
    the fill value (no NaN in training) was refused at export ("a known category that raises");
    the fill value raises as any unknown string does."""
    df = pd.DataFrame({"s": ["a", "b", "c", "a"] * 10})
    y = np.arange(40) % 2
    est = Pipeline([("pre", ColumnTransformer([("s", Pipeline([
        ("imp", SimpleImputer(strategy="constant", fill_value="nan")),
        ("ohe", OneHotEncoder())]), ["s"])])), ("m", LogisticRegression())]).fit(df, y)
    m = _roundtrip(est, tmp_path)
    rows = pd.DataFrame({"s": ["c", "b"]})
    np.testing.assert_allclose(m.predict_proba(rows), est.predict_proba(rows), rtol=1e-5, atol=1e-6)
    for bad in (np.nan, "nan", "zz"):
        with pytest.raises(ValueError):
            est.predict(pd.DataFrame({"s": ["a", bad]}))
        with pytest.raises(mlinfer.InputError, match="row 1"):
            m.predict(pd.DataFrame({"s": ["a", bad]}))


def test_pandas_na_in_number_columns_of_frames_and_lists(tmp_path):
    """A nullable (Float64) column with pd.NA: scikit-learn reads NA as NaN; mlinfer raised a
    TypeError on the frame (model without a prep stage) and an InputError on a list of the
    column's values (dict of columns)."""
    rng = np.random.default_rng(0)
    df = pd.DataFrame({"a": pd.array(rng.normal(size=60), dtype="Float64"), "b": rng.normal(size=60),
                       "s": rng.choice(["x", "y"], 60)})
    df.loc[3, "a"] = pd.NA
    y = rng.normal(size=60)
    plain = HistGradientBoostingRegressor(max_iter=3).fit(df[["a", "b"]], y)
    np.testing.assert_allclose(_roundtrip(plain, tmp_path).predict(df[["a", "b"]]), plain.predict(df[["a", "b"]]))
    est = Pipeline([("pre", ColumnTransformer([("i", SimpleImputer(), ["a"]), ("o", OneHotEncoder(), ["s"])])),
                    ("m", HistGradientBoostingRegressor(max_iter=3))]).fit(df, y)
    m = _roundtrip(est, tmp_path)
    np.testing.assert_allclose(m.predict({c: df[c].tolist() for c in df}), est.predict(df))
    np.testing.assert_allclose(m.predict({c: df[c].iloc[3] for c in df}), est.predict(df.iloc[[3]]))


@pytest.mark.parametrize("step", ["indicator", "imputer_empty", "indicator_num", "imputer_num"])
def test_steps_validate_every_input_column(step, tmp_path):
    """scikit-learn validates every input of a step, the ones it then ignores too: +-inf in a
    MissingIndicator column without missing values in training (not in features_), in an
    imputer's all-missing column (dropped), raises; with a number as missing_values, NaN raises
    too. mlinfer read none of those columns and answered."""
    rng = np.random.default_rng(2)
    df = pd.DataFrame({"a": rng.normal(size=60), "b": rng.normal(size=60), "c": np.full(60, np.nan)})
    df.loc[::7, "a"] = np.nan
    y = rng.integers(0, 2, 60)
    steps = {"indicator": MissingIndicator(), "imputer_empty": SimpleImputer(),
             "indicator_num": MissingIndicator(missing_values=-1.0, features="all"),
             "imputer_num": SimpleImputer(missing_values=-1.0, strategy="constant", fill_value=0.0)}
    cols = ["a", "b", "c"] if step in ("indicator", "imputer_empty") else ["b"]
    est = Pipeline([("pre", ColumnTransformer([("s", steps[step], cols), ("p", "passthrough", ["b"])])),
                    ("m", HistGradientBoostingClassifier(max_iter=3))]).fit(df, y)
    m = _roundtrip(est, tmp_path)
    ok = pd.DataFrame({"a": [0.5, np.nan], "b": [0.1, 0.2], "c": [np.nan, np.nan]})
    np.testing.assert_allclose(m.predict_proba(ok), est.predict_proba(ok))
    bads = [("b", np.inf), ("b", -np.inf)] + [("c", np.inf)] * ("c" in cols)
    bads += [("b", np.nan)] if step.endswith("_num") else []
    for col, v in bads:
        bad = ok.copy()
        bad.loc[1, col] = v
        with pytest.raises(ValueError):
            est.predict_proba(bad)
        with pytest.raises(mlinfer.InputError, match=f"column '{col}', row 1"):
            m.predict_proba(bad)


@pytest.mark.parametrize("step", ["indicator", "imputer"])
@pytest.mark.parametrize("missing", [None, "nan"])
def test_nan_in_a_string_column_raises_when_missing_values_is_not_nan(step, missing, tmp_path):
    """A MissingIndicator / SimpleImputer with missing_values None or a string validates its input
    with ensure_all_finite=True: NaN in an object column raises in scikit-learn; mlinfer answered."""
    df = pd.DataFrame({"s": np.array(["a", "b", None, "nan"] * 10, dtype=object), "x": np.arange(40.0)})
    y = np.arange(40) % 2
    make = {"indicator": lambda: MissingIndicator(missing_values=missing, features="all"),
            "imputer": lambda: Pipeline([("i", SimpleImputer(missing_values=missing, strategy="constant",
                                                             fill_value="z")),
                                         ("o", OneHotEncoder(handle_unknown="ignore"))])}
    est = Pipeline([("pre", ColumnTransformer([("s", make[step](), ["s"]), ("x", "passthrough", ["x"])])),
                    ("m", DecisionTreeClassifier(random_state=0))]).fit(df, y)
    m = _roundtrip(est, tmp_path)
    ok = pd.DataFrame({"s": np.array(["a", None, "nan", "q"], dtype=object), "x": [1.0, 2.0, 3.0, 4.0]})
    np.testing.assert_allclose(m.predict_proba(ok), est.predict_proba(ok))
    bad = ok.assign(s=np.array(["a", np.nan, "b", "b"], dtype=object))
    with pytest.raises(ValueError):
        est.predict(bad)
    with pytest.raises(mlinfer.InputError, match="column 's', row 1"):
        m.predict(bad)


def test_pandas_na_through_missing_indicator_and_strict_imputer(tmp_path):
    """pd.NA in a string column: a MissingIndicator (scikit-learn: TypeError) marks it missing, as
    an imputer fills it (was: an unknown string, not missing); an imputer whose missing_values is a
    string refuses it, as scikit-learn refuses NaN there (mlinfer answered)."""
    df = pd.DataFrame({"s": np.array(["a", "b", np.nan, "nan"] * 10, dtype=object)})
    y = np.arange(40) % 2
    ind = Pipeline([("pre", ColumnTransformer([("m", MissingIndicator(features="all"), ["s"]),
                                               ("o", OneHotEncoder(handle_unknown="ignore"), ["s"])])),
                    ("m", DecisionTreeClassifier(random_state=0))]).fit(df, y)
    rows = pd.DataFrame({"s": pd.array(["a", pd.NA, "b"], dtype="string")})
    with pytest.raises(TypeError):
        ind.predict_proba(rows)
    got = _roundtrip(ind, tmp_path).predict_proba(rows)
    Z = ind[0].transform(denull(rows))
    Z[1, 1:] = 0  # the encoder: unknown (zeros), as scikit-learn's OneHotEncoder takes pd.NA
    np.testing.assert_allclose(got, ind[-1].predict_proba(Z))
    strict = Pipeline([("pre", ColumnTransformer([("s", Pipeline([
        ("i", SimpleImputer(missing_values="nan", strategy="constant", fill_value="a")),
        ("o", OneHotEncoder(handle_unknown="ignore"))]), ["s"])])),
        ("m", DecisionTreeClassifier(random_state=0))]).fit(df.fillna("b"), y)
    with pytest.raises((TypeError, ValueError)):
        strict.predict(rows)
    with pytest.raises(mlinfer.InputError, match="column 's', row 1"):
        _roundtrip(strict, tmp_path).predict(rows)


def test_xgboost_one_byte_prefix_of_a_non_ascii_category_is_refused_clearly():
    """XGBoost keeps a prefix of a non-ASCII category's bytes; for 'é' that is one byte, not UTF-8:
    the export crashed with a UnicodeDecodeError instead of refusing the model."""
    xgb = pytest.importorskip("xgboost")
    df = pd.DataFrame({"s": pd.Series(["é", "a", "b", "é"] * 10, dtype="category"), "x": np.arange(40.0)})
    est = xgb.XGBClassifier(n_estimators=2, enable_categorical=True, tree_method="hist").fit(df, np.arange(40) % 2)
    with pytest.raises(mlinfer.UnsupportedModelError, match="non-ASCII"):
        mlinfer.export(est, "/nonexistent/never-written.mli")


def test_ovr_logistic_all_zero_probabilities_are_uniform(tmp_path):
    """SGDClassifier(loss='log_loss') over 3 classes: where every class's sigmoid is 0 scikit-learn
    gives 1/3 each; mlinfer gave NaN (0 / 0)."""
    rng = np.random.default_rng(3)
    X = rng.normal(size=(90, 2))
    est = SGDClassifier(loss="log_loss", random_state=0).fit(X, rng.integers(0, 3, 90))
    est.coef_ = np.abs(est.coef_) + 1.0  # every score very negative for large negative rows
    m = _roundtrip(est, tmp_path)
    rows = np.array([[-1e5, -1e5], [0.1, 0.2]])
    np.testing.assert_allclose(m.predict_proba(rows), est.predict_proba(rows), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(m.predict_proba(rows)[0], [1 / 3] * 3)


@pytest.mark.parametrize("prep", [False, True])
def test_float32_overflow_inside_a_linear_model_is_an_input_error(prep, tmp_path):
    """Inputs and weights within float32 whose products are not: the float32 score was -inf
    (decision_function) where scikit-learn's float64 gives -3e39; now an input error."""
    rng = np.random.default_rng(4)
    X = rng.normal(size=(60, 2))
    y = rng.integers(0, 2, 60)
    df = pd.DataFrame(X, columns=["a", "b"]).assign(s=rng.choice(["u", "v"], 60))
    if prep:
        est = Pipeline([("pre", ColumnTransformer([("n", "passthrough", ["a", "b"]),
                                                   ("c", OneHotEncoder(), ["s"])])),
                        ("m", LinearSVC())]).fit(df, y)
        est[-1].coef_ = est[-1].coef_ * 1e21
    else:
        est = LinearSVC().fit(X, y)
        est.coef_ = est.coef_ * 1e21
    m = _roundtrip(est, tmp_path)
    T = np.array([[0.5, 0.1], [-1e19, 3e18]])
    Xin = pd.DataFrame(T, columns=["a", "b"]).assign(s=["u", "v"]) if prep else T
    assert np.isfinite(est.decision_function(Xin)).all()
    with pytest.raises(mlinfer.InputError, match="row 1: the scores .* overflow float32"):
        m.decision_function(Xin)
    np.testing.assert_allclose(m.decision_function(Xin[:1]), est.decision_function(Xin[:1]), rtol=1e-5)


def test_isolation_forest_with_a_nan_threshold_is_refused_at_export(tmp_path):
    """IsolationForest trained on -inf and NaN draws NaN thresholds: the export wrote them and
    mlinfer.load refused the file as corrupt; now the export refuses the model, naming why."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 1))
    k = rng.random(60)
    X[k < 0.2, 0] = -np.inf
    X[(k >= 0.2) & (k < 0.5), 0] = np.nan
    est = IsolationForest(n_estimators=3, random_state=0).fit(X)
    assert any(np.isnan(t.tree_.threshold[t.tree_.children_left >= 0]).any() for t in est.estimators_)
    with pytest.raises(mlinfer.UnsupportedModelError, match="NaN split threshold"):
        mlinfer.export(est, tmp_path / "m.mli")


def test_the_string_nan_in_a_number_column_is_not_a_missing_value(tmp_path):
    """A column only a MissingIndicator reads is a number column in the model (the fitted steps do
    not record that it held strings); NumPy and pandas parsed the string "nan" given there as NaN,
    a missing value, where scikit-learn keeps it apart. Strings in number columns are refused."""
    df = pd.DataFrame({"s": np.array(["a", np.nan, "nan", "b"] * 10, dtype=object), "x": np.arange(40.0)})
    y = df["s"].isna().astype(int).to_numpy() + (np.arange(40) % 3 == 0)
    est = Pipeline([("pre", ColumnTransformer([("m", MissingIndicator(features="all"), ["s"]),
                                               ("x", "passthrough", ["x"])])), ("m", LogisticRegression())]).fit(df, y)
    m = _roundtrip(est, tmp_path)
    rows = pd.DataFrame({"s": np.array(["nan", np.nan], dtype=object), "x": [1.0, 2.0]})
    for X in (rows, {c: rows[c].tolist() for c in rows}, rows.assign(x=rows["x"].astype(np.float32)),
              {"s": "nan", "x": 1.0}, {"s": ["1.5"], "x": [1.0]}):
        with pytest.raises(mlinfer.InputError, match="is not a number"):
            m.predict_proba(X)
    ok = rows.iloc[[1]]
    np.testing.assert_allclose(m.predict_proba(ok), est.predict_proba(ok), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("where", ["after_ct", "in_branch", "dense", "uniform"])
def test_normal_quantiles_of_a_sparse_matrix_are_refused(where, tmp_path):
    """QuantileTransformer(output_distribution='normal') given a scipy.sparse matrix (a sparse
    ColumnTransformer output, or a sparse OneHotEncoder before it in a branch) transforms only the
    stored entries: its other zeros stay 0. mlinfer computed the dense transform, norm.ppf of the
    zeros' quantile (about -5.2): every row with a zero scored otherwise. Now refused at export;
    dense input, and the uniform output (0 either way), are exported and match."""
    rng = np.random.default_rng(0)
    df = pd.DataFrame({"x": np.abs(rng.normal(size=200)), "s": rng.choice(["a", "b", "c"], 200)})
    df.loc[::5, "x"] = 0.0
    y = rng.normal(size=200)
    normal = dict(n_quantiles=20, output_distribution="uniform" if where == "uniform" else "normal")
    if where == "in_branch":
        ct = ColumnTransformer([("n", "passthrough", ["x"]),
                                ("o", Pipeline([("e", OneHotEncoder(sparse_output=True)),
                                                ("q", QuantileTransformer(**normal))]), ["s"])], sparse_threshold=0)
        est = Pipeline([("ct", ct), ("m", Ridge())]).fit(df, y)
    else:
        ct = ColumnTransformer([("n", "passthrough", ["x"]), ("o", OneHotEncoder(), ["s"])],
                               sparse_threshold=0 if where == "dense" else 1.0)
        est = Pipeline([("ct", ct), ("q", QuantileTransformer(**normal)), ("m", Ridge())]).fit(df, y)
    if where in ("after_ct", "in_branch"):
        # scikit-learn's answer is not its dense transform's (what mlinfer computed)
        dense = Pipeline([("ct", ColumnTransformer([("n", "passthrough", ["x"]), ("o", OneHotEncoder(sparse_output=False),
                                                                                   ["s"])], sparse_threshold=0)),
                          ("q", QuantileTransformer(**normal))]).fit(df)
        Z = dense.transform(df)
        Zs = est[:-1].transform(df)
        assert not np.allclose(Z, Zs.toarray() if hasattr(Zs, "toarray") else Zs)
        with pytest.raises(mlinfer.UnsupportedModelError, match="QuantileTransformer.*sparse"):
            mlinfer.export(est, tmp_path / "m.mli")
    else:
        m = _roundtrip(est, tmp_path)
        np.testing.assert_allclose(m.predict(df), est.predict(df), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("fill", ["zero", "median", "nonzero", "dense"])
def test_xgboost_after_zeros_stored_in_a_sparse_matrix(fill, tmp_path):
    """XGBoost takes the zeros a scipy.sparse input leaves out as missing, the zeros it stores as
    0; mlinfer makes every 0 before it NaN. A SimpleImputer on the sparse output of a
    ColumnTransformer writes its fill value over the stored NaN: a fill of 0 (a constant, or the
    median of a mostly-zero column) is a stored 0, and mlinfer gave those rows the missing
    value's branch (probabilities off by 0.78). Now refused; another fill value, and a dense
    ColumnTransformer, are exported and match."""
    xgboost = pytest.importorskip("xgboost")
    rng = np.random.default_rng(0)
    n = 400
    x = rng.normal(size=n)
    x[rng.random(n) < 0.6] = 0.0
    x[rng.random(n) < 0.3] = np.nan
    df = pd.DataFrame({"x": x, "s": rng.choice(["a", "b", "c"], n)})
    y = (np.isnan(x) ^ (df.s == "a")).astype(int)
    imp = {"zero": SimpleImputer(strategy="constant", fill_value=0.0), "median": SimpleImputer(strategy="median"),
           "nonzero": SimpleImputer(strategy="constant", fill_value=1.5),
           "dense": SimpleImputer(strategy="constant", fill_value=0.0)}[fill]
    ct = ColumnTransformer([("n", "passthrough", ["x"]), ("o", OneHotEncoder(), ["s"])],
                           sparse_threshold=0 if fill == "dense" else 1.0)
    est = Pipeline([("ct", ct), ("i", imp), ("m", xgboost.XGBClassifier(n_estimators=5, max_depth=3))]).fit(df, y)
    if fill in ("zero", "median"):
        Z = est[:-1].transform(df)
        assert (Z.data == 0).any()  # stored zeros: XGBoost reads them as 0
        dense = Z.toarray()
        dense[dense == 0] = np.nan  # every zero missing: what mlinfer computed
        assert not np.allclose(est[-1].predict_proba(dense), est.predict_proba(df), atol=1e-3)
        with pytest.raises(mlinfer.UnsupportedModelError, match="SimpleImputer.*store zeros"):
            mlinfer.export(est, tmp_path / "m.mli")
    else:
        m = _roundtrip(est, tmp_path)
        np.testing.assert_allclose(m.predict_proba(df), est.predict_proba(df), rtol=1e-5, atol=1e-6)


def test_polynomial_features_without_terms(tmp_path):
    """PolynomialFeatures(degree=(2, 2), interaction_only=True) over one column has no term: its
    output is empty, and its powers_ raises a ValueError, which the export let through (a crash,
    not a refusal). Now no features, the input still checked for NaN / +-inf as scikit-learn's
    transform checks it (hunt seed 6810)."""
    rng = np.random.default_rng(0)
    df = pd.DataFrame({"a": rng.normal(size=60), "s": rng.choice(["x", "y"], 60)})
    est = Pipeline([("c", ColumnTransformer([
        ("p", PolynomialFeatures(degree=(2, 2), interaction_only=True, include_bias=False), ["a"]),
        ("o", OneHotEncoder(), ["s"])])), ("m", Ridge())]).fit(df, rng.normal(size=60))
    m = _roundtrip(est, tmp_path)
    np.testing.assert_allclose(m.predict(df), est.predict(df), rtol=1e-5, atol=1e-6)
    for v in (np.nan, np.inf):
        bad = df.iloc[:2].assign(a=[0.5, v])
        with pytest.raises(ValueError):
            est.predict(bad)
        with pytest.raises(mlinfer.InputError, match="column 'a', row 1"):
            m.predict(bad)


@pytest.mark.parametrize("model", ["tree", "forest"])
@pytest.mark.parametrize("sparse", [True, False])
def test_trees_refuse_nan_in_a_sparse_input(model, sparse, tmp_path):
    """sklearn.tree's trees and forests take NaN in a dense input only: given a scipy.sparse
    matrix (a ColumnTransformer with sparse_threshold=1) holding NaN they raise; mlinfer let the
    NaN through as a dense input's (hunt seed 11081). Dense: NaN is taken, as scikit-learn."""
    rng = np.random.default_rng(0)
    df = pd.DataFrame({"x": rng.normal(size=80), "s": rng.choice(["a", "b"], 80)})
    df.loc[::9, "x"] = np.nan
    y = rng.integers(0, 2, 80)
    make = {"tree": lambda: DecisionTreeClassifier(random_state=0),
            "forest": lambda: RandomForestClassifier(n_estimators=3, random_state=0)}
    pre = ColumnTransformer([("n", "passthrough", ["x"]), ("c", OneHotEncoder(), ["s"])],
                            sparse_threshold=1.0 if sparse else 0)
    est = Pipeline([("pre", pre), ("m", make[model]())]).fit(df.fillna(0.5) if sparse else df, y)
    m = _roundtrip(est, tmp_path)
    X = pd.DataFrame({"x": [0.1, np.nan], "s": ["a", "b"]})
    if sparse:
        with pytest.raises(ValueError, match="NaN"):
            est.predict_proba(X)
        with pytest.raises(mlinfer.InputError, match="row 1"):
            m.predict_proba(X)
    else:
        np.testing.assert_allclose(m.predict_proba(X), est.predict_proba(X))
    np.testing.assert_allclose(m.predict_proba(X[:1]), est.predict_proba(X[:1]))


def test_log1p_before_a_quantile_table_or_bin_edges_is_refused(tmp_path):
    """A count column through log1p, then QuantileTransformer or KBinsDiscretizer(quantile): their
    tables hold NumPy's log1p of the counts themselves, and a test value equal to one sits on a
    jump. NumPy's SIMD log1p (AVX-512 CPUs) and the C library's differ by 1 ulp for a few % of
    values (here log1p(2): ...098 against ...096), which moved a probability by 3.6e-4 through a
    QuantileTransformer and an MLP (hunt seed 12772). Refused, naming the column; sqrt, which both
    round correctly, is taken."""
    from sklearn.linear_model import LogisticRegression as LR
    rng = np.random.default_rng(1)
    X = rng.poisson(3.0, size=(400, 2)).astype(float)
    y = (X[:, 0] + rng.normal(size=400) > 3).astype(int)
    for step in (QuantileTransformer(n_quantiles=30), KBinsDiscretizer(n_bins=4, encode="ordinal", strategy="quantile")):
        est = Pipeline([("f", FunctionTransformer(np.log1p)), ("q", step), ("m", LR())]).fit(X, y)
        with pytest.raises(mlinfer.UnsupportedModelError, match="through log1p"):
            _roundtrip(est, tmp_path)
    ok = Pipeline([("f", FunctionTransformer(np.sqrt)), ("q", QuantileTransformer(n_quantiles=30)),
                   ("m", LR())]).fit(X, y)
    np.testing.assert_allclose(_roundtrip(ok, tmp_path).predict_proba(X), ok.predict_proba(X), rtol=1e-5, atol=1e-6)


def test_gaussian_nb_with_a_constant_feature_in_one_class(tmp_path):
    """Three classes, a feature constant within class 2 (var_ at var_smoothing's floor): that
    class's joint log likelihood is about -1e9 where the others' are about -5. Centred on the
    classes' mean (about -3e8) and read as float32 by the model stage, the scores lost the
    difference between classes 0 and 1 (0.5 / 0.5 where scikit-learn gives 0.49 / 0.51; hunt
    seed 10744): the export refuses such a model, naming the feature and the class. A feature
    constant in every class at one value cancels exactly and is taken."""
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 300)
    X = (rng.random((300, 2)) < 0.5).astype(float)
    X[y == 2, 0] = 0.0
    est = Pipeline([("b", Binarizer(threshold=0.5)), ("m", GaussianNB())]).fit(X, y)
    with pytest.raises(mlinfer.UnsupportedModelError, match="feature 0 is constant within class 2"):
        _roundtrip(est, tmp_path)
    X3 = np.column_stack([rng.normal(size=300) + y, np.full(300, 4.0)])
    ok = GaussianNB().fit(X3, y)
    T = np.column_stack([rng.normal(size=20), np.full(20, 4.0)])
    T[:3, 1] = 5.0  # off the constant: every class's term is the same -1e9, which centring removes
    np.testing.assert_allclose(_roundtrip(ok, tmp_path).predict_proba(T), ok.predict_proba(T), rtol=1e-5, atol=1e-6)


SEEDS = int(os.environ.get("MLI_HUNT_SEEDS", "200"))
START = int(os.environ.get("MLI_HUNT_START", "0"))


def test_random_pipelines_match_sklearn():
    bad = []
    for seed in range(START, START + SEEDS):
        mism, _errs, desc = run_seed(seed)
        if mism:
            bad.append(desc + "\n  " + "\n  ".join(mism[:4]))
    assert not bad, "\n\n".join(bad[:5])


if __name__ == "__main__":
    args = [a for a in sys.argv[1:] if a != "-v"]
    count = int(args[0]) if args else 200
    start = int(args[1]) if len(args) > 1 else 0
    n_bug = n_err = n_ok = n_skip = 0
    for seed in range(start, start + count):
        try:
            mism, errs, desc = run_seed(seed)
        except Exception:  # noqa: BLE001 -- a crash of the tester itself is a finding too
            print(f"=== seed {seed}: TESTER CRASH\n{traceback.format_exc()}")
            continue
        if mism:
            n_bug += 1
            print(f"=== MISMATCH {desc}\n  " + "\n  ".join(mism[:6]), flush=True)
        elif "\n(refused" in desc or "\n(fit failed" in desc:
            n_skip += 1
            if "-v" in sys.argv:
                print(f"--- skipped {desc.splitlines()[0]}: {desc.splitlines()[-1][:300]}", flush=True)
        elif errs:
            n_err += 1
            print(f"--- error seed {seed}: {errs[0]}", flush=True)
        else:
            n_ok += 1
    print(f"done: {count} seeds, {n_bug} mismatching, {n_err} with mlinfer errors only, {n_skip} not fitted or "
          f"refused by the exporter, {n_ok} clean")
