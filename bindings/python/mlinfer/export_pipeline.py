"""Exports the preprocessing of a scikit-learn pipeline -- ColumnTransformer, FeatureUnion,
SimpleImputer, MissingIndicator, OneHotEncoder, OrdinalEncoder, TargetEncoder, the four scalers, Binarizer,
KBinsDiscretizer, Normalizer,
FunctionTransformers (identity or a NumPy ufunc), feature selectors, PCA / IncrementalPCA / TruncatedSVD,
PolynomialFeatures -- as one `prep` stage (docs/FORMAT.md): a table of small column ops
with the fitted values, run by src/prep/. Anything else is refused, naming the step.

How it works: each intermediate feature of the pipeline is kept symbolically, either as a
register of the op table (a float64 value; NaN is missing) or, for a column not yet turned
into a number, as the raw input column plus the replacements the imputers before have made
(string columns stay symbolic until an encoder maps them, so every string-to-number mapping
of the chain is folded into one table lookup, evaluated here with scikit-learn's rules)."""
from __future__ import annotations

import functools
import math
import sys
from typing import Callable, Dict, List, Optional, Tuple

import numpy as np

from ._export_common import _check_fitted, _cls, _fail
from .errors import UnsupportedModelError

# op kinds and flags: src/prep/prep.h
(OP_NUM, OP_FILL, OP_AFFINE, OP_INDICATOR, OP_STRCAT, OP_NUMCAT, OP_ONEHOT, OP_FUNC, OP_BIN, OP_NORM, OP_PROJECT,
 OP_POLY, OP_QUANTILE, OP_SPLINE, OP_TEXT) = range(15)
# TEXT flags (src/prep/prep.h MLI__OPF_TEXT_*)
(T_LOWER, T_ASCII, T_UNICODE, T_SHORT, T_BINARY, T_SUBLINEAR, T_IDF, T_L1, T_L2, T_CHAR, T_CHAR_WB, T_HASH,
 T_ALT_SIGN, T_SELECT, T_ABSENT_NAN) = (1 << i for i in range(15))
# Python's str.isspace() (re's \s), which the character analyzers collapse and split on: the
# set src/prep/text.c implements (py_space)
PY_SPACES = frozenset([*range(0x09, 0x0e), *range(0x1c, 0x21), 0x85, 0xa0, 0x1680, *range(0x2000, 0x200b), 0x2028,
                       0x2029, 0x202f, 0x205f, 0x3000])
TEXT_MAX_NGRAM = 64
# the token patterns the C analyzer implements: two or more word characters, or one or more
TOKEN_PATTERNS = {r"(?u)\b\w\w+\b": 0, r"\b\w\w+\b": 0, r"(?u)\b\w+\b": T_SHORT, r"\b\w+\b": T_SHORT}
VECTORIZERS = ("CountVectorizer", "TfidfVectorizer", "HashingVectorizer")
TEXT_MAX_HASH = 1 << 24  # src/prep/prep.h MLI__TEXT_MAX_VOCAB: a hashed text op's columns
MAX_STRING_BYTES, MAX_STRINGS = 64 << 10, 16 << 20  # src/format.h MLI__MAX_STRING_BYTES, MLI__MAX_STRINGS
SPLINE_MODES = {"error": 0, "constant": 1, "linear": 2, "continue": 3, "periodic": 4}
SPLINE_MAX_DEGREE = 31  # src/prep/prep.h MLI__SPLINE_MAX_DEGREE
F_NAN_ZEROS = 8
F_NORMAL = 1  # QUANTILE: the normal output
# the ops whose outputs each depend on several input columns (src/prep/prep.h mli__prep_op_mixes)
MIXING_OPS = (OP_NORM, OP_PROJECT, OP_POLY)
NORMS = {"l1": 0, "l2": 1, "max": 2}  # l2: not bit for bit, see _normalizer
FN_BINARIZE = 0
FN_FINITE = 7  # identity; NaN or +-inf is an input error (a feature selector validating its input)
POWER = {"yeo-johnson": 8, "box-cox": 9}  # PowerTransformer's methods, by their FUNC code
FN_FINITE32 = 10  # identity; +-inf or a value float32 rounds to +-inf is an input error (NaN too with param 1)
# FunctionTransformer's NumPy ufuncs, by their FUNC code (src/prep/prep.h MLI__FN_*)
UFUNCS = {"log1p": 1, "log": 2, "exp": 3, "sqrt": 4, "abs": 5, "absolute": 5, "expm1": 6}
# the FUNC codes whose results NumPy may round otherwise than the C library (not sqrt, abs: exact)
ULP_FNS = {1, 2, 3, 6, 8, 9}
F_CLIP = 1
F_ERR_NAN, F_ERR_NONE, F_ERR_UNKNOWN = 1, 2, 4
F_FINITE = 1
F_FINITE_OUT = 1
COL_NUMBER, COL_STRING, COL_UNUSED = 0, 1, 2


class _Special:
    def __init__(self, name):
        self.name = name

    def __repr__(self):
        return self.name


NAN = _Special("NaN")  # a missing value: NaN in an object column, a null
NONE = _Special("None")  # Python's None in an object column
UNKNOWN = _Special("unknown")  # any string the tables do not name
ERROR = _Special("error")  # the transformer raises on this value

SCALERS = ("StandardScaler", "MinMaxScaler", "MaxAbsScaler", "RobustScaler")


def _is_nan(v) -> bool:
    return isinstance(v, float) and math.isnan(v)


def _cell(v):
    """A category or fill value as a cell: a str, NAN or NONE (numbers stay numbers)."""
    if v is None:
        return NONE
    if _is_nan(v) or (isinstance(v, np.floating) and np.isnan(v)):
        return NAN
    if isinstance(v, np.str_):
        return str(v)
    return v


class Num:
    """A feature held in a register; `ulp`: its value may differ from scikit-learn's in the last
    bit (NumPy's log1p, log, exp and expm1 use their own SIMD code on AVX-512 CPUs, 1 ulp from the C
    library's for a few % of values), which a step that compares it for equality with values
    NumPy made (a quantile table, bin edges) would turn into a different output."""

    def __init__(self, reg: int, col: int, ulp: bool = False):
        self.reg, self.col, self.ulp = reg, col, ulp


# pandas' NA in a string column, as the bindings pass it (_columns._PandasNA): scikit-learn's
# encoders take it for an unknown category (it is no category: no table names it); its imputers
# and MissingIndicator raise on it, so there it is taken as the missing value (NaN) it stands for
PANDAS_NA = "\uffff<NA>"


class Raw:
    """Input column `col`, not yet a number; `repl` maps a cell to the cell the imputers
    before made of it, `keys` the strings repl treats specially; `imputed`: an imputer made it."""

    def __init__(self, col: int, repl: Callable = lambda v: v, keys: Tuple[str, ...] = (), imputed: bool = False):
        self.col, self.repl, self.keys, self.imputed = col, repl, keys, imputed


class TextBlock:
    """A text vectorizer's output: one column per vocabulary term of input column `col`, never
    materialized; at the end it becomes one TEXT op with the weights of what reads it (a
    TruncatedSVD, or the linear model: its coefficients of those columns)."""

    def __init__(self, col: int, step, terms: List[str], stop: List[str], ngram: Tuple[int, int], flags: int):
        self.col, self.step, self.terms, self.stop, self.ngram, self.flags = col, step, terms, stop, ngram, flags
        self.idf: Optional[np.ndarray] = None
        self.weighted = False  # a TfidfTransformer (or the TfidfVectorizer's own) has been applied
        self.scale = 1.0  # a FeatureUnion's transformer weight: folded into the weights
        self.n = len(terms)  # its columns (a HashingVectorizer: n_features)
        self.hash_norm: Optional[str] = None  # a HashingVectorizer's own norm, which a TfidfTransformer may replace
        self.dtype32 = False  # the vectorizer computes in float32 (dtype=np.float32): not bit for bit here


class Prep:
    """The op table under construction."""

    def __init__(self, n_cols: int, names, hint=None):
        self.n_cols, self.names = n_cols, names
        self.hint = hint  # None: the first pass, which only learns which columns are strings
        self.kind: List[Optional[int]] = [None] * n_cols
        self.ops: List[List[int]] = []
        self.params: List[float] = []
        self.strings: List[str] = []
        self.n_regs = 0
        self._num: Dict[Tuple[int, bool], int] = {}
        self.inexact: List[str] = []  # steps whose values may differ from scikit-learn's in the last bit

    def colname(self, col: int) -> str:
        if col < 0:
            return "(several columns)"
        return str(self.names[col]) if self.names is not None else f"#{col}"

    def set_kind(self, col: int, kind: int, step):
        if self.hint is None:  # first pass: a column any step takes as strings is a string column
            self.kind[col] = COL_STRING if COL_STRING in (kind, self.kind[col]) else kind
            return
        if self.kind[col] is not None and self.kind[col] != kind:
            _fail(step, f"column {self.colname(col)!r} is used both as numbers and as strings")
        self.kind[col] = kind

    def _op(self, kind, src, count=0, params=(), strings=(), flags=0, width=1, n_in=0) -> int:
        dst = self.n_regs
        self.n_regs += width
        poff = len(self.params) if len(params) else 0
        soff = len(self.strings) if strings else 0
        self.params.extend(float(p) for p in params)
        self.strings.extend(strings)
        self.ops.append([kind, src, dst, count, poff, soff, flags, n_in])
        return dst

    # -- features -> registers
    def num(self, f, step, finite=True) -> Num:
        if isinstance(f, Num):
            return f
        if isinstance(f, TextBlock):
            _fail(step, "it reads the output of a text vectorizer as numbers: only a TfidfTransformer, a "
                        "TruncatedSVD or the linear model may follow one (its sparse columns are never materialized)")
        if f.keys or f.repl(NAN) is not NAN:
            _fail(step, f"column {self.colname(f.col)!r} was imputed with strings but is used as numbers")
        self.set_kind(f.col, COL_NUMBER, step)
        key = (f.col, finite)
        if key not in self._num:
            self._num[key] = self._op(OP_NUM, f.col, flags=F_FINITE if finite else 0)
        return Num(self._num[key], f.col)

    def fill(self, f: Num, missing: float, value: float) -> Num:
        return Num(self._op(OP_FILL, f.reg, params=(missing, value)), f.col, f.ulp)

    def affine(self, f: Num, sub=0.0, div=1.0, mul=1.0, add=0.0, clip=None) -> Num:
        lo, hi = clip if clip is not None else (0.0, 0.0)
        return Num(self._op(OP_AFFINE, f.reg, params=(sub, div, mul, add, lo, hi), flags=F_CLIP if clip else 0), f.col,
                   f.ulp)

    def indicator(self, f: Num, missing: float) -> Num:
        return Num(self._op(OP_INDICATOR, f.reg, params=(missing,)), f.col)

    def lookup(self, f, g: Callable, keys, step, na_missing: bool = False) -> Num:
        """A register holding g(cell) for each cell of feature f (ERROR: an input error);
        `keys` the category values g names (strings or numbers). pandas' NA is the missing value
        (NaN) after an imputer or with na_missing (a MissingIndicator), else an unknown string."""
        if isinstance(f, Raw):
            self.set_kind(f.col, COL_STRING, step)
            table = []
            seen = set()
            for k in list(keys) + list(f.keys):
                if isinstance(k, str) and k not in seen:
                    seen.add(k)
                    table.append(k)
            if (f.imputed or na_missing) and PANDAS_NA not in seen and g(f.repl(NAN)) is not ERROR:
                table.append(PANDAS_NA)  # else it stays unknown, an error too (the encoder raises on new values)
            vals = [g(f.repl(NAN if k == PANDAS_NA else k)) for k in table]
            specials = [g(f.repl(NAN)), g(f.repl(NONE)), g(f.repl(UNKNOWN))]
            flags = 0
            for bit, v in zip((F_ERR_NAN, F_ERR_NONE, F_ERR_UNKNOWN), specials):
                flags |= bit if v is ERROR else 0
            # a string that raises (an imputer's fill value the encoder never saw, under
            # handle_unknown='error') raises as any unknown string does: left to the unknown path
            keep = [(k, v) for k, v in zip(table, vals) if not (v is ERROR and specials[2] is ERROR)]
            params = [0.0 if v is ERROR else v for _, v in keep] + [0.0 if v is ERROR else v for v in specials]
            if any(v is ERROR for _, v in keep):
                _fail(step, "a known category that raises")  # not produced by the encoders handled here
            return Num(self._op(OP_STRCAT, f.col, count=len(keep), params=params, strings=[k for k, _ in keep],
                                flags=flags), f.col)
        nums = sorted({float(k) for k in keys if not isinstance(k, (str, _Special))})
        vals = [g(k) for k in nums]
        v_nan, v_unk = g(NAN), g(UNKNOWN)
        flags = (F_ERR_NAN if v_nan is ERROR else 0) | (F_ERR_UNKNOWN if v_unk is ERROR else 0)
        if any(v is ERROR for v in vals):
            _fail(step, "a known category that raises")
        params = nums + vals + [0.0 if v_nan is ERROR else v_nan, 0.0 if v_unk is ERROR else v_unk]
        return Num(self._op(OP_NUMCAT, f.reg, count=len(nums), params=params, flags=flags), f.col)

    def func(self, f: Num, fn: int, threshold: float = 0.0, finite_out: bool = True) -> Num:
        params = (threshold,) if fn == FN_BINARIZE or fn in POWER.values() else ()
        flags = F_FINITE_OUT if finite_out and fn != FN_BINARIZE else 0
        return Num(self._op(OP_FUNC, f.reg, count=fn, params=params, flags=flags), f.col, f.ulp or fn in ULP_FNS)

    def bins(self, f: Num, inner_edges) -> Num:
        edges = [float(e) for e in inner_edges]
        return Num(self._op(OP_BIN, f.reg, count=len(edges), params=edges), f.col)

    def group(self, feats: List[Num]) -> List[Num]:
        """The features in adjacent registers, as the ops over several registers read them."""
        regs = [f.reg for f in feats]
        if regs != list(range(regs[0], regs[0] + len(regs))):  # gather: exact copies (x - 0) / 1 * 1 + 0
            feats = [self.affine(f) for f in feats]
        return feats

    def norm(self, feats: List[Num], norm: int) -> List[Num]:
        feats = self.group(feats)
        dst = self._op(OP_NORM, feats[0].reg, count=len(feats), params=(norm,), width=len(feats))
        return [Num(dst + i, f.col) for i, f in enumerate(feats)]

    def project(self, feats: List[Num], w, b, s) -> List[Num]:
        """(x @ w.T - b) / s: w (m x n), b and s m values; each output mixes the n inputs."""
        feats = self.group(feats)
        m = len(b)
        params = np.concatenate([np.asarray(w, dtype=np.float64).reshape(-1), np.asarray(b, dtype=np.float64),
                                 np.asarray(s, dtype=np.float64)])
        dst = self._op(OP_PROJECT, feats[0].reg, count=m, params=params, width=m, n_in=len(feats))
        return [Num(dst + k, -1) for k in range(m)]

    def poly(self, feats: List[Num], terms) -> List[Num]:
        """Products: term k = (input f, or 1 for -1) * (term p < k, or 1 for -1), for (f, p) in terms."""
        feats = self.group(feats)
        params = [v for t in terms for v in t]
        dst = self._op(OP_POLY, feats[0].reg, count=len(terms), params=params, width=len(terms), n_in=len(feats))
        cols = []
        for f, p in terms:  # a term of one column's values stays that column's (messages)
            a = None if f < 0 else feats[f].col
            c = None if p < 0 else cols[p]
            cols.append(-1 if a is None and c is None else (c if a is None else (a if c is None or a == c else -1)))
        return [Num(dst + k, c) for k, c in enumerate(cols)]

    def quantile(self, f: Num, quantiles, references, clip=None) -> Num:
        """QuantileTransformer's output; with clip (normal output), norm.ppf of it clipped to clip."""
        params = [float(v) for v in quantiles] + [float(v) for v in references] + [float(v) for v in clip or ()]
        return Num(self._op(OP_QUANTILE, f.reg, count=len(quantiles), params=params,
                            flags=F_NORMAL if clip else 0), f.col)

    def spline(self, f: Num, degree: int, mode: int, nan_zeros: bool, knots, ends) -> List[Num]:
        """The B-spline basis of f: (len(ends) - 3) // 4 outputs (knots: scipy's t; ends: the range
        evaluated as a spline, the number of functions extrapolated at each end, then the values and
        slopes of the basis at both ends of that range, 4 x outputs)."""
        n = (len(ends) - 3) // 4
        params = [float(v) for v in knots] + [float(v) for v in ends]
        flags = mode | (F_NAN_ZEROS if nan_zeros else 0)
        dst = self._op(OP_SPLINE, f.reg, count=n, params=params, flags=flags, width=n, n_in=degree)
        return [Num(dst + j, f.col) for j in range(n)]

    def finite32(self, f: Num, nan_ok: bool) -> Num:
        """The value; an input error where float32 makes it infinite (+-inf, |x| too large), and where
        it is NaN unless nan_ok: the input check of sklearn.tree's models (check_array to float32)."""
        return Num(self._op(OP_FUNC, f.reg, count=FN_FINITE32, params=(0.0 if nan_ok else 1.0,)), f.col)

    def finite(self, f: Num) -> Num:
        """The value, an input error where it is NaN or infinite."""
        return Num(self._op(OP_FUNC, f.reg, count=FN_FINITE), f.col)

    @staticmethod
    def _text_head(block: TextBlock):
        """A TEXT op's params up to its weights (stop words, n-grams, Unicode version; idf) and flags."""
        import unicodedata
        major, minor = (int(x) for x in unicodedata.unidata_version.split(".")[:2])
        lo, hi = block.ngram
        params = [float(len(block.stop)), float(lo), float(hi), float(major * 100 + minor)]
        flags = block.flags
        if block.idf is not None:
            flags |= T_IDF
            params += [float(v) for v in block.idf]
        return params, flags

    def text(self, block: TextBlock, W) -> List[Num]:
        """The TEXT op: block's terms weighted by W (terms x k) into k registers."""
        W = np.asarray(W, dtype=np.float64) * block.scale
        if W.ndim != 2 or W.shape[0] != block.n or W.shape[1] < 1 or not np.isfinite(W).all():
            _fail(block.step, f"weights of shape {W.shape} (not finite, or not one row per vocabulary term)")
        params, flags = self._text_head(block)
        params += W.reshape(-1).tolist()
        k = W.shape[1]
        self.set_kind(block.col, COL_STRING, block.step)
        dst = self._op(OP_TEXT, block.col, count=k, params=params, strings=list(block.terms) + list(block.stop),
                       flags=flags, width=k, n_in=block.n)
        return [Num(dst + j, block.col) for j in range(k)]

    def text_select(self, block: TextBlock, cols: List[int], absent_nan: bool) -> List[Num]:
        """The TEXT op giving the values of block's columns `cols` themselves (what a tree model
        reads of them), one register each; a document without the term gets 0, or NaN with
        absent_nan (XGBoost: a sparse matrix's left-out entries are missing)."""
        if block.scale != 1.0:
            _fail(block.step, f"a FeatureUnion weight of {block.scale!r} on a text vectorizer before a tree model")
        params, flags = self._text_head(block)
        flags |= T_SELECT | (T_ABSENT_NAN if absent_nan else 0)
        sel = np.full(block.n, -1.0)
        sel[np.asarray(cols, dtype=np.int64)] = np.arange(len(cols), dtype=np.float64)
        params += sel.tolist()
        k = max(1, len(cols))  # no column read: one register, which no output uses (the op still checks the documents)
        self.set_kind(block.col, COL_STRING, block.step)
        dst = self._op(OP_TEXT, block.col, count=k, params=params, strings=list(block.terms) + list(block.stop),
                       flags=flags, width=k, n_in=block.n)
        return [Num(dst + j, block.col) for j in range(len(cols))]

    def onehot(self, code: Num, width: int) -> List[Num]:
        dst = self._op(OP_ONEHOT, code.reg, count=width, width=width)
        return [Num(dst + i, code.col) for i in range(width)]


# ---- transformers ----------------------------------------------------------------------

def _feature_is_string(prep: Prep, f, cats) -> bool:
    """Whether a feature an encoder/imputer sees is a string column: its fitted values say."""
    if isinstance(f, Num):
        return False
    if f.keys or f.repl(NAN) is not NAN:
        return True
    if prep.hint is not None and prep.hint[f.col] == COL_STRING:
        return True
    vals = [c for c in (_cell(v) for v in cats) if not isinstance(c, _Special)]
    return any(isinstance(v, str) for v in vals)


def _check_cats(step, prep: Prep, f, cats, string: bool):
    for c in (_cell(v) for v in cats):
        if isinstance(c, _Special):
            continue
        if string and not isinstance(c, str):
            _fail(step, f"column {prep.colname(f.col)!r} mixes strings and {type(c).__name__} categories")
        if not string and (isinstance(c, str) or not isinstance(c, (int, float, np.integer, np.floating, bool))):
            _fail(step, f"column {prep.colname(f.col)!r}: category {c!r} of type {type(c).__name__}")


def _check_allow_nan(prep: Prep, est, feats, nan_ok: bool = True):
    """validate_data(ensure_all_finite="allow-nan") of a step over all its inputs, those it then
    ignores too (a MissingIndicator's features without missing values, an imputer's all-missing
    features, a selector's dropped ones): +-inf in a number column is an input error (the `num`
    op's check; a register already computed holds no infinity: the ufuncs refuse it). Without
    nan_ok (ensure_all_finite=True: an imputer or indicator whose missing_values is not NaN),
    NaN is an input error too, in a string column as well (None is not NaN there)."""
    for f in feats:  # registers no output uses: only their errors matter
        if isinstance(f, Raw) and _feature_is_string(prep, f, []):
            if not nan_ok:  # NaN (pandas' NA too, which scikit-learn reads as NaN there) -> NaN -> refused
                prep.finite(prep.lookup(f, lambda c: math.nan if c is NAN else 0.0, [], est, na_missing=True))
            continue
        n = prep.num(f, est) if isinstance(f, Raw) else f
        if not nan_ok:
            prep.finite(n)


def _imputer(prep: Prep, est, feats):
    if est.missing_values is not None and not _is_nan(est.missing_values) and not isinstance(
            est.missing_values, (str, int, float)):
        _fail(est, f"missing_values={est.missing_values!r}")
    miss = _cell(est.missing_values)
    if miss is not NAN:  # validate_data(ensure_all_finite=True): NaN raises in scikit-learn
        _check_allow_nan(prep, est, feats, nan_ok=False)
    stats = list(est.statistics_)
    if len(stats) != len(feats):
        _fail(est, f"{len(stats)} statistics for {len(feats)} features")
    out = []
    keep_all = est.strategy == "constant" or getattr(est, "keep_empty_features", False)
    for f, s in zip(feats, stats):
        s = _cell(s)
        if s is NAN and not keep_all:
            _check_allow_nan(prep, est, [f])  # still validated
            continue  # scikit-learn drops a feature that was all missing in training
        if isinstance(s, str) or s is NONE or (isinstance(f, Raw) and _feature_is_string(prep, f, [])):
            if not isinstance(f, Raw):
                _fail(est, f"a string fill value {s!r} for a numeric feature")
            if not isinstance(s, str) and s is not NONE:
                _fail(est, f"a numeric fill value {s!r} for a string column")
            prev = f.repl
            if isinstance(miss, str):
                repl = (lambda p, m, v: lambda c: v if p(c) == m else p(c))(prev, miss, s)
                keys = f.keys + (miss,) + ((s,) if isinstance(s, str) else ())
            else:
                repl = (lambda p, m, v: lambda c: v if p(c) is m else p(c))(prev, miss, s)
                keys = f.keys + ((s,) if isinstance(s, str) else ())
            out.append(Raw(f.col, repl, keys, imputed=True))
            continue
        if miss is NONE or isinstance(miss, str):
            _fail(est, f"missing_values={est.missing_values!r} on numeric column {prep.colname(f.col)!r}")
        n = prep.num(f, est)
        out.append(prep.fill(n, math.nan if miss is NAN else float(miss), float(s)))
    if getattr(est, "add_indicator", False) and getattr(est, "indicator_", None) is not None:
        out += _indicator(prep, est.indicator_, feats, error_on_new=False)
    return out


def _indicator(prep: Prep, est, feats, error_on_new=None):
    miss = _cell(est.missing_values)
    cols = list(est.features_)
    if error_on_new is None:
        error_on_new = est.error_on_new and est.features == "missing-only"
    out = []

    def ind(f, err):
        if isinstance(f, Raw) and (_feature_is_string(prep, f, []) or miss is NONE or isinstance(miss, str)):
            def g(c):
                hit = (c == miss) if isinstance(miss, str) else (c is miss)
                return (ERROR if err else 1.0) if hit else 0.0
            return prep.lookup(f, g, [miss] if isinstance(miss, str) else [], est, na_missing=True)
        if miss is NONE or isinstance(miss, str):
            _fail(est, f"missing_values={est.missing_values!r} on a numeric feature")
        n = prep.num(f, est)
        if err and miss is NAN:
            return prep.lookup(n, lambda c: ERROR if c is NAN else 0.0, [], est)
        hit = prep.indicator(n, math.nan if miss is NAN else float(miss))
        if err:  # 1 (the marker seen) is outside the table {0}: an input error
            return prep.lookup(hit, lambda c: 0.0 if c == 0.0 else ERROR, [0.0], est)
        return hit

    _check_allow_nan(prep, est, feats, nan_ok=miss is NAN)  # its validate_data reads every input
    for j in cols:
        out.append(ind(feats[j], False))
    if error_on_new:
        for j in range(len(feats)):
            if j not in cols:
                ind(feats[j], True)  # a register no output uses: only its error matters
    return out


def _scaler(prep: Prep, est, feats):
    name = _cls(est)
    n = len(feats)

    def arr(a, default):
        return np.full(n, default) if a is None else np.asarray(a, dtype=np.float64).reshape(-1)

    if name == "StandardScaler":
        sub = arr(est.mean_ if est.with_mean else None, 0.0)
        div = arr(est.scale_ if est.with_std else None, 1.0)
        mul, add, clip = np.ones(n), np.zeros(n), None
    elif name == "MinMaxScaler":
        sub, div, mul, add = np.zeros(n), np.ones(n), arr(est.scale_, 1.0), arr(est.min_, 0.0)
        clip = tuple(float(v) for v in est.feature_range) if getattr(est, "clip", False) else None
    elif name == "MaxAbsScaler":
        sub, div, mul, add, clip = np.zeros(n), arr(est.scale_, 1.0), np.ones(n), np.zeros(n), None
    else:  # RobustScaler
        sub, div = arr(est.center_ if est.with_centering else None, 0.0), arr(
            est.scale_ if est.with_scaling else None, 1.0)
        mul, add, clip = np.ones(n), np.zeros(n), None
    if len(sub) != n or len(div) != n or len(mul) != n or len(add) != n:
        _fail(est, f"fitted on another number of features than the {n} it receives")
    return [prep.affine(prep.num(f, est), sub[i], div[i], mul[i], add[i], clip) for i, f in enumerate(feats)]


def _encoder_slots(est, j: int, k: int):
    """OneHotEncoder: the output slot of each of the k categories of feature j (-1: none),
    the width of its block, and the slot of the infrequent group (None without one)."""
    mapping = None
    if getattr(est, "_infrequent_enabled", False):
        maps = getattr(est, "_default_to_infrequent_mappings", None)
        if maps is None:
            _fail(est, "infrequent categories (no _default_to_infrequent_mappings in this scikit-learn)")
        mapping = maps[j]
    enc = np.arange(k) if mapping is None else np.asarray(mapping)
    n_enc = int(enc.max()) + 1 if k else 0
    infreq = n_enc - 1 if mapping is not None else None
    drops = getattr(est, "_drop_idx_after_grouping", None)
    if drops is None and est.drop_idx_ is not None and mapping is None:
        drops = est.drop_idx_
    d = None if drops is None or drops[j] is None else int(drops[j])

    def after_drop(s):
        if d is None:
            return s
        return -1 if s == d else (s - 1 if s > d else s)

    width = n_enc - (0 if d is None else 1)
    outs = getattr(est, "_n_features_outs", None)
    if outs is not None and outs[j] != width:
        _fail(est, f"feature {j}: computed {width} outputs, scikit-learn says {outs[j]}")
    return [after_drop(int(s)) for s in enc], width, (None if infreq is None else after_drop(infreq))


def _categories(prep: Prep, est, f, cats):
    """An encoder's fitted categories of feature f: their cells, the index of each (a number by its
    float value; the first of equal ones), and whether f is a string column."""
    cells = [_cell(c) for c in cats]
    string = _feature_is_string(prep, f, cats)
    _check_cats(est, prep, f, cats, string)
    if not string and any(c is NONE for c in cells):
        _fail(est, "None as a category of a numeric feature")
    index = {}
    for i, c in enumerate(cells):
        index.setdefault(c if isinstance(c, (str, _Special)) else float(c), i)
    return cells, index, string


def _encoder(prep: Prep, est, feats):
    name = _cls(est)
    cats_all = est.categories_
    if len(cats_all) != len(feats):
        _fail(est, f"{len(cats_all)} fitted features for {len(feats)} inputs")
    out = []
    for j, (f, cats) in enumerate(zip(feats, cats_all)):
        cells, index, string = _categories(prep, est, f, cats)
        if name == "OneHotEncoder":
            slots, width, infreq = _encoder_slots(est, j, len(cells))
            hu = est.handle_unknown
            if hu == "error":
                unknown = ERROR
            elif hu == "infrequent_if_exist" and infreq is not None:
                unknown = float(infreq)
            else:  # ignore, or infrequent_if_exist without infrequent categories
                unknown = -1.0

            def g(c, index=index, slots=slots, unknown=unknown):
                key = c if isinstance(c, (str, _Special)) else float(c)
                i = index.get(key)
                return unknown if i is None else float(slots[i])
        else:  # OrdinalEncoder
            mapping = None
            if getattr(est, "_infrequent_enabled", False):
                mapping = est._default_to_infrequent_mappings[j]
            codes = np.arange(len(cells)) if mapping is None else np.asarray(mapping)
            missing_idx = getattr(est, "_missing_indices", {}).get(j)
            if est.handle_unknown == "error":
                unknown = ERROR
            else:
                unknown = float(est.unknown_value)
            miss_val = float(est.encoded_missing_value)

            def g(c, index=index, codes=codes, unknown=unknown, missing_idx=missing_idx, miss_val=miss_val):
                key = c if isinstance(c, (str, _Special)) else float(c)
                i = index.get(key)
                if i is None:
                    return unknown
                return miss_val if i == missing_idx else float(codes[i])
            width = 0
        keys = [c for c in cells if not isinstance(c, _Special)]
        if string:
            code = prep.lookup(f, g, keys, est)
        else:
            code = prep.lookup(prep.num(f, est), g, keys, est)
        if name == "OneHotEncoder":
            if width > 0:
                out += prep.onehot(code, width)
        else:
            out.append(code)
    return out


def _target_encoder(prep: Prep, est, feats):
    """TargetEncoder.transform (not fit_transform, whose cross-fitting only concerns the training
    rows): each category of feature j gets its fitted encodings_ value, one per feature (binary
    and continuous targets) or n_classes of them in scikit-learn's order (multiclass:
    encodings_[j * n_classes + c]); a category not seen in fit -- NaN / None too when fit saw
    none -- gets target_mean_ (its entry c for multiclass), as its transform's
    handle_unknown="ignore" path does. A lookup table per feature (multiclass: a table giving the
    category's index, then a numeric table per class over that index). +-inf in a numeric
    column is an input error (scikit-learn's allow-nan validation)."""
    cats_all = est.categories_
    if len(cats_all) != len(feats):
        _fail(est, f"{len(cats_all)} fitted features for {len(feats)} inputs")
    kind = est.target_type_
    if kind not in ("binary", "multiclass", "continuous"):
        _fail(est, f"target_type_={kind!r}")
    n_cls = len(est.classes_) if kind == "multiclass" else 1
    means = np.asarray(est.target_mean_, dtype=np.float64).reshape(-1)
    encs = [np.asarray(e, dtype=np.float64).reshape(-1) for e in est.encodings_]
    if len(means) != n_cls or len(encs) != n_cls * len(feats) or any(
            len(encs[j * n_cls + c]) != len(cats) for j, cats in enumerate(cats_all) for c in range(n_cls)):
        _fail(est, "its encodings_ / target_mean_ do not match its categories_ and classes_")
    if not (np.isfinite(means).all() and all(np.isfinite(e).all() for e in encs)):
        _fail(est, "its encodings_ or target_mean_ are not finite")
    out = []
    for j, (f, cats) in enumerate(zip(feats, cats_all)):
        cells, index, string = _categories(prep, est, f, cats)
        keys = [c for c in cells if not isinstance(c, _Special)]
        src = f if string else prep.num(f, est)

        def g(c, index=index, table=None, default=None):
            i = index.get(c if isinstance(c, (str, _Special)) else float(c))
            return default if i is None else float(table[i])

        if n_cls == 1:
            out.append(prep.lookup(src, lambda c, g=g, e=encs[j]: g(c, table=e, default=float(means[0])), keys, est))
            continue
        # the category's index (len(cats): unseen), then one numeric table per class over it
        code = prep.lookup(src, lambda c, g=g: g(c, table=np.arange(len(cats)), default=float(len(cats))), keys, est)
        for c in range(n_cls):
            table = list(encs[j * n_cls + c]) + [float(means[c])]
            out.append(prep.lookup(code, lambda v, t=table: ERROR if isinstance(v, _Special) else t[int(v)],
                                   [float(i) for i in range(len(table))], est))
    return out


def _is_hgb_check_array(fn) -> bool:
    """The numerical part of HistGradientBoosting's own preprocessor: FunctionTransformer(
    partial(check_array, dtype=[float64], ensure_all_finite=False))."""
    import functools
    if not isinstance(fn, functools.partial) or fn.args:
        return False
    f = fn.func
    return (getattr(f, "__name__", None) == "check_array" and getattr(f, "__module__", "").startswith("sklearn.")
            and fn.keywords.get("ensure_all_finite", fn.keywords.get("force_all_finite")) is False
            and list(np.atleast_1d(fn.keywords.get("dtype"))) == [np.float64]
            and set(fn.keywords) <= {"dtype", "ensure_all_finite", "force_all_finite"})


def _function(prep: Prep, est, feats):
    if getattr(est, "validate", False):
        _fail(est, "validate=True is not supported (export the FunctionTransformer with validate=False)")
    if est.kw_args:
        _fail(est, f"kw_args={est.kw_args!r} is not supported")
    if est.func is None:
        return list(feats)
    fn = est.func
    if _is_hgb_check_array(fn):  # HistGradientBoosting's preprocessor: numbers to float64, NaN and inf kept
        return [prep.num(f, est, finite=False) for f in feats]
    code = UFUNCS.get(getattr(fn, "__name__", None)) if isinstance(fn, np.ufunc) else None
    if code is None or getattr(np, fn.__name__, None) is not fn:
        _fail(est, f"func={getattr(fn, '__name__', fn)!r}: only the identity or one of the NumPy ufuncs "
                   "np.log1p, np.log, np.exp, np.sqrt, np.abs, np.expm1 can be exported: arbitrary Python cannot "
                   "be stored safely in a model file")
    # NumPy passes infinity through (validate=False): the input is not checked, an infinite
    # result is refused (the steps after it would refuse it; see docs/models/pipelines.md)
    return [prep.func(prep.num(f, est, finite=False), code) for f in feats]


def _kbins(prep: Prep, est, feats):
    if est.encode not in ("ordinal", "onehot", "onehot-dense"):
        _fail(est, f"encode={est.encode!r}")
    if est.dtype not in (None, np.float64):
        _fail(est, f"dtype={est.dtype!r} (only None or np.float64: the engine bins in float64)")
    edges_all, n_bins = est.bin_edges_, np.asarray(est.n_bins_)
    if len(edges_all) != len(feats) or len(n_bins) != len(feats):
        _fail(est, f"{len(edges_all)} fitted features for {len(feats)} inputs")
    if est.encode != "ordinal":
        enc = est._encoder
        if enc.drop is not None or len(enc.categories_) != len(feats) or any(
                not np.array_equal(np.asarray(c, dtype=np.float64), np.arange(k)) for c, k in
                zip(enc.categories_, n_bins)):
            _fail(est, "its one-hot encoder is not the plain one over the bins")
    out = []
    for f, edges, k in zip(feats, edges_all, n_bins):
        edges = np.asarray(edges, dtype=np.float64)
        inner = edges[1:-1]
        if len(edges) != int(k) + 1 or np.isnan(inner).any() or (np.diff(inner) < 0).any():
            _fail(est, f"bin edges of column {prep.colname(f.col)!r} are not {int(k) + 1} sorted numbers")
        code = prep.bins(_exact_input(prep, prep.num(f, est), est), inner)  # np.searchsorted(edges[1:-1], x, side='right')
        out += [code] if est.encode == "ordinal" else prep.onehot(code, int(k))
    return out


def _exact_input(prep: Prep, f: Num, est) -> Num:
    """f, refused when its value may be 1 ulp off scikit-learn's (Num.ulp) for a step that maps
    values equal to its table's (fitted on NumPy's values: a discrete column's quantiles and bin
    edges are its values) to a jump: QuantileTransformer moved by 0.14 there, KBinsDiscretizer
    to the next bin."""
    if f.ulp:
        _fail(est, f"column {prep.colname(f.col)!r} reaches it through log1p, log, exp, expm1 or a power transform, "
                   "whose results NumPy (SIMD code on AVX-512 CPUs) and the C library round 1 ulp apart for a few % "
                   "of values; this step jumps at values equal to its fitted table, so its output could differ")
    return f


def _normalizer(prep: Prep, est, feats):
    if est.norm == "l2":  # scikit-learn's row_norms is np.einsum, whose SIMD summation order and FMA use
        # depend on NumPy's build and CPU (no fixed order reproduces it, measured): within n x eps, not exact
        prep.inexact.append("Normalizer(norm='l2') (np.einsum's summation order)")
    if est.norm not in NORMS:
        _fail(est, f"norm={est.norm!r}")
    if not feats:
        return []
    return prep.norm([prep.num(f, est) for f in feats], NORMS[est.norm])


def _binarizer(prep: Prep, est, feats):
    t = est.threshold
    owner = getattr(est, "mli_for", est)  # a BernoulliNB's binarize: errors name it
    what = "binarize" if owner is not est else "threshold"
    if not isinstance(t, (int, float, np.integer, np.floating)) or isinstance(t, bool) or not math.isfinite(t):
        _fail(owner, f"{what}={t!r} (a finite number is supported)")
    blocks = [f for f in feats if isinstance(f, TextBlock)]
    if blocks:
        # a vectorizer's columns: x > 0 is "the term occurs" (counts, tf-idf weights: 1 + log(tf),
        # idf >= 1 and the norms keep them positive), the binary flag, the weighting dropped
        if float(t) != 0.0:
            _fail(owner, f"{what}={t!r} on a text vectorizer's columns: only 0 (whether the term occurs); another "
                         "threshold depends on the weights of terms")
        for b in blocks:
            if b.flags & T_ALT_SIGN:
                _fail(owner, f"{what} after a HashingVectorizer with alternate_sign=True (a column's sum of +-1 can be "
                             "0 or negative where its terms occur)")
            if b.scale <= 0:
                _fail(owner, f"{what} after a FeatureUnion weight of {b.scale!r} (only positive weights keep term "
                             "weights positive)")
            b.flags = (b.flags | T_BINARY) & ~(T_SUBLINEAR | T_L1 | T_L2)
            b.idf, b.weighted, b.scale, b.hash_norm = None, False, 1.0, None
    return [f if isinstance(f, TextBlock) else prep.func(prep.num(f, owner), FN_BINARIZE, float(t)) for f in feats]


def _selector(prep: Prep, est, feats):
    """A fitted feature selector (scikit-learn's SelectorMixin: VarianceThreshold, SelectKBest,
    SelectPercentile, SelectFromModel, RFE, ...): the features get_support() keeps. Its transform
    validates the input as its `allow_nan` tag says: without it, NaN or +-inf in any input
    column -- a dropped one too -- raises, so each input is checked (a `finite` op)."""
    from sklearn.feature_selection import SelectorMixin
    from sklearn.utils import get_tags
    if type(est).transform is not SelectorMixin.transform or type(est)._transform is not SelectorMixin._transform:
        _fail(est, "its transform is not scikit-learn's SelectorMixin.transform (a column subset)")
    try:
        mask = np.asarray(est.get_support())
    except Exception as e:  # noqa: BLE001 -- any failure of a fitted selector: refused, with its reason
        _fail(est, f"get_support() failed: {e}")
    if mask.dtype != bool or mask.shape != (len(feats),):
        _fail(est, f"get_support() gave {mask.dtype} of shape {mask.shape} for {len(feats)} features")
    if not get_tags(est).input_tags.allow_nan:  # validate_data(ensure_all_finite=True)
        feats = [prep.num(f, est) for f in feats]
        for f in feats:
            prep.finite(f)  # a register no output uses: only its error matters
    return [f for f, keep in zip(feats, mask) if keep]  # allow_nan: ensure_all_finite=False, inf passes


PCAS = ("PCA", "IncrementalPCA", "TruncatedSVD")


def _pca(prep: Prep, est, feats):
    """PCA / IncrementalPCA (_BasePCA.transform): (X @ components_.T - mean_ @ components_.T) / scale,
    scale = sqrt(explained_variance_) clipped below at its dtype's eps when whiten; TruncatedSVD:
    X @ components_.T. mean_ @ components_.T and the scale are computed here with NumPy exactly as
    scikit-learn computes them on every call; the dot products run in float64 in order (BLAS
    sums in its own order: docs/models/pipelines.md states the tolerance)."""
    name = _cls(est)
    comp = np.asarray(est.components_)
    if comp.ndim != 2 or comp.shape[1] != len(feats) or comp.shape[0] < 1:
        _fail(est, f"components_ of shape {comp.shape} for {len(feats)} features")
    if name == "TruncatedSVD":
        bias = np.zeros(comp.shape[0])
        scale = np.ones(comp.shape[0])
    else:
        from sklearn.decomposition._base import _BasePCA
        from sklearn.decomposition import IncrementalPCA
        if type(est)._transform is not _BasePCA._transform or type(est).transform not in (
                _BasePCA.transform, IncrementalPCA.transform):
            _fail(est, "its transform is not scikit-learn's _BasePCA.transform")
        bias = (np.reshape(est.mean_, (1, -1)) @ comp.T).reshape(-1)
        if est.whiten:
            scale = np.sqrt(est.explained_variance_)
            scale[scale < np.finfo(scale.dtype).eps] = np.finfo(scale.dtype).eps
        else:
            scale = np.ones(comp.shape[0])
    if not (np.isfinite(comp).all() and np.isfinite(bias).all() and np.isfinite(scale).all()):
        _fail(est, "its fitted components, mean or variances are not finite")
    # PCA, TruncatedSVD: validate_data(ensure_all_finite=True): NaN or +-inf is an input error (the op checks)
    return prep.project([prep.num(f, est) for f in feats], comp, bias, scale)


def _poly_terms(n: int, max_degree: int, interaction_only: bool, include_bias: bool):
    """scikit-learn's dense PolynomialFeatures.transform, run on symbols: the columns of its full
    XP (min_degree 0) as (factor, parent) pairs -- XP[:, col] = XP[:, parent] * X[:, factor],
    -1 standing for 1 -- and the powers of each."""
    terms, powers = [], []
    if include_bias:
        terms.append((-1, -1))
        powers.append([0] * n)
    if max_degree == 0:
        return terms, powers
    index = []
    for i in range(n):
        index.append(len(terms))
        terms.append((i, -1))
        powers.append([int(j == i) for j in range(n)])
    index.append(len(terms))
    for _ in range(2, max_degree + 1):
        new_index, end = [], index[-1]
        for i in range(n):
            start = index[i]
            new_index.append(len(terms))
            if interaction_only:
                start += index[i + 1] - index[i]
            if end - start <= 0:
                break
            for par in range(start, end):  # XP[:, start:end] * X[:, i]
                terms.append((i, par))
                powers.append([pw + (j == i) for j, pw in enumerate(powers[par])])
        new_index.append(len(terms))
        index = new_index
    return terms, powers


def _polynomial(prep: Prep, est, feats):
    n = len(feats)
    lo, hi = getattr(est, "_min_degree", None), getattr(est, "_max_degree", None)
    if lo is None or hi is None:
        _fail(est, "this scikit-learn's PolynomialFeatures has no _min_degree / _max_degree")
    terms, powers = _poly_terms(n, hi, bool(est.interaction_only), bool(est.include_bias))
    full = len(terms)
    n_out = int(est.n_output_features_)
    if n_out == 0:  # interaction_only over fewer inputs than min_degree: no term (powers_ itself raises)
        feats = [prep.num(f, est) for f in feats]
        for f in feats:  # validate_data(ensure_all_finite=True) still raises on NaN or +-inf
            prep.finite(f)  # a register no output uses: only its error matters
        return []
    keep = list(range(full))
    if lo > 1:  # scikit-learn computes every term, then keeps the bias and the last n_out (- 1)
        keep = ([0] + list(range(full - n_out + 1, full))) if est.include_bias else list(range(full - n_out, full))
    if len(keep) != n_out or not np.array_equal(np.asarray([powers[k] for k in keep]).reshape(n_out, n),
                                                np.asarray(est.powers_).reshape(n_out, n)):
        _fail(est, "the terms computed here are not scikit-learn's powers_ (another scikit-learn version?)")
    if not feats:
        _fail(est, "no input features")
    # validate_data(ensure_all_finite=True): NaN or +-inf is an input error (the op checks)
    out = prep.poly([prep.num(f, est) for f in feats], terms)
    return [out[k] for k in keep]


def _power(prep: Prep, est, feats):
    """PowerTransformer: scipy's yeojohnson / boxcox per column with the fitted lambdas_ (a `func`
    op, float64, scipy's formulas and branches), then, with standardize, its fitted StandardScaler.
    NaN passes (scikit-learn's allow-nan); +-inf is an input error; Box-Cox of a value <= 0 is an
    input error (scikit-learn raises); an infinite result is an input error, as for the ufuncs."""
    if est.method not in POWER:
        _fail(est, f"method={est.method!r}")
    lambdas = np.asarray(est.lambdas_, dtype=np.float64).reshape(-1)
    if len(lambdas) != len(feats) or not np.isfinite(lambdas).all():
        _fail(est, f"lambdas_ {lambdas!r} for {len(feats)} features")
    out = [prep.func(prep.num(f, est), POWER[est.method], float(lm)) for f, lm in zip(feats, lambdas)]
    if est.standardize:
        sc = est._scaler
        if _cls(sc) != "StandardScaler":
            _fail(est, f"its scaler is a {_cls(sc)}")
        out = _scaler(prep, sc, out)
    return out


def _quantile(prep: Prep, est, feats):
    """QuantileTransformer: a `quantile` op per column (np.interp both ways and their mean, 0 and 1 at
    the end quantiles, NaN passes, +-inf an input error). The normal output takes the end quantiles
    within BOUNDS_THRESHOLD, then scipy.stats.norm.ppf, clipped to scikit-learn's bounds (computed
    here by scipy); norm.ppf is computed in C by another algorithm (AS 241) than scipy's, within a
    few ulp: refused before a tree model (write())."""
    if est.output_distribution not in ("uniform", "normal"):
        _fail(est, f"output_distribution={est.output_distribution!r}")
    clip = None
    if est.output_distribution == "normal":
        from scipy import stats
        from sklearn.preprocessing._data import BOUNDS_THRESHOLD
        if BOUNDS_THRESHOLD != 1e-7:
            _fail(est, f"this scikit-learn's BOUNDS_THRESHOLD is {BOUNDS_THRESHOLD}, not the 1e-7 mlinfer uses")
        clip = (float(stats.norm.ppf(BOUNDS_THRESHOLD - np.spacing(1))),
                float(stats.norm.ppf(1 - (BOUNDS_THRESHOLD - np.spacing(1)))))
        prep.inexact.append("QuantileTransformer(output_distribution='normal') (scipy's norm.ppf)")
    q = np.asarray(est.quantiles_, dtype=np.float64)
    ref = np.asarray(est.references_, dtype=np.float64).reshape(-1)
    if q.ndim != 2 or q.shape[1] != len(feats) or q.shape[0] != len(ref) or q.shape[0] < 1:
        _fail(est, f"quantiles_ of shape {q.shape} for {len(feats)} features and {len(ref)} references")
    if not (np.isfinite(q).all() and np.isfinite(ref).all() and (np.diff(q, axis=0) >= 0).all()):
        _fail(est, "its quantiles are not non-decreasing finite numbers")
    return [prep.quantile(_exact_input(prep, prep.num(f, est), est), q[:, j], ref, clip) for j, f in enumerate(feats)]


def _spline(prep: Prep, est, feats):
    """SplineTransformer (dense output): a `spline` op per column with scipy's knots (bsplines_[j].t),
    evaluated in C with the Cox-de Boor recurrence in scipy's order of operations; the end values and
    slopes of the basis (the constant and linear extrapolations) computed here by scipy as scikit-learn
    computes them on every call. include_bias=False drops the last basis function of each column. Not
    guaranteed bit for bit (scipy's compiled evaluation could contract to FMA on some builds): refused
    before a tree model (write())."""
    if est.sparse_output:
        _fail(est, "sparse_output=True (the engine is dense; export with sparse_output=False)")
    mode = SPLINE_MODES.get(est.extrapolation)
    if mode is None:
        _fail(est, f"extrapolation={est.extrapolation!r}")
    handle = getattr(est, "handle_missing", "error")
    if handle not in ("error", "zeros"):
        _fail(est, f"handle_missing={handle!r}")
    k = int(est.degree)
    if not 0 <= k <= SPLINE_MAX_DEGREE:
        _fail(est, f"degree={k} (0..{SPLINE_MAX_DEGREE} are supported)")
    if len(est.bsplines_) != len(feats):
        _fail(est, f"{len(est.bsplines_)} fitted features for {len(feats)} inputs")
    out = []
    d = k  # scikit-learn's `degree` variable in transform, which its linear branch raises below 2
    for f, spl in zip(feats, est.bsplines_):
        t = np.asarray(spl.t, dtype=np.float64)
        c = np.asarray(spl.c)
        n = c.shape[1]
        eye = np.eye(n)
        want = np.concatenate([eye, eye[:k]]) if mode == SPLINE_MODES["periodic"] else eye
        if spl.k != k or c.shape != want.shape or not np.array_equal(c, want) or len(t) != c.shape[0] + k + 1:
            _fail(est, "its fitted B-splines are not scikit-learn's identity-coefficient basis (another version?)")
        if bool(spl.extrapolate) != (mode in (SPLINE_MODES["periodic"], SPLINE_MODES["continue"])):
            _fail(est, f"its B-splines' extrapolate={spl.extrapolate!r} does not match "
                       f"extrapolation={est.extrapolation!r}")
        if not np.isfinite(t).all() or (np.diff(t) < 0).any():
            _fail(est, "its knots are not non-decreasing finite numbers")
        if mode == SPLINE_MODES["constant"] and k == 0:
            _fail(est, "extrapolation='constant' with degree=0 (scikit-learn's transform fails beyond the knots)")
        ends = np.zeros((4, n))
        lo, hi, n_ext = t[k], t[len(t) - k - 1], 0
        if mode in (SPLINE_MODES["constant"], SPLINE_MODES["linear"]):
            # as scikit-learn's transform: the range [t[d], t[-d - 1]] is evaluated as a spline, beyond it
            # the first / last d functions are extrapolated; its linear branch then raises d by one when
            # d <= 1 -- for this feature's extrapolation and for the next features' d (reproduced here)
            lo, hi = spl.t[d], spl.t[-d - 1]
            ends = np.stack([spl(lo), spl(hi), spl(lo, nu=1), spl(hi, nu=1)]).astype(np.float64)
            if mode == SPLINE_MODES["linear"] and d <= 1:
                d += 1
            n_ext = d
            if not (lo <= hi and n_ext <= n) or not np.isfinite(ends).all():
                _fail(est, f"column {prep.colname(f.col)!r}: its extrapolation range [{lo}, {hi}] over {n_ext} of "
                           f"{n} functions, or the basis values there, are not what mlinfer reproduces")
        ends = np.concatenate([[lo, hi, n_ext], ends.reshape(-1)])
        # validate_data(ensure_all_finite=handle_missing != 'zeros'): with 'error', NaN and +-inf raise;
        # with 'zeros', NaN gives zeros and +-inf non-finite features (refused by the model after it)
        basis = prep.spline(prep.num(f, est, finite=False), k, mode, handle == "zeros", t, ends)
        out += basis if est.include_bias else basis[:-1]
    prep.inexact.append(f"{_cls(est)} (scipy's B-spline evaluation)")
    return out


def _vectorizer(prep: Prep, est, feats):
    """CountVectorizer / TfidfVectorizer with the word analyzer: the settings the C analyzer
    implements (src/prep/text.c), the vocabulary, stop words and idf; anything else refused."""
    name = _cls(est)
    if len(feats) != 1 or not isinstance(feats[0], Raw) or feats[0].keys or feats[0].repl(NAN) is not NAN:
        _fail(est, "a text vectorizer reads one text column as it comes in (in a ColumnTransformer, name it by a "
                   "string such as 'text', not a list)")
    if getattr(est, "input", "content") != "content":
        _fail(est, f"input={est.input!r} (documents are read from files): only input='content'")
    analyzer = est.analyzer
    if analyzer not in ("word", "char", "char_wb"):
        _fail(est, f"analyzer={analyzer!r}: only 'word', 'char' and 'char_wb' are supported"
              + ("" if isinstance(analyzer, str) else " (a callable is arbitrary Python, which a model file "
                                                      "cannot hold safely)"))
    if est.preprocessor is not None or (est.tokenizer is not None and analyzer == "word"):
        _fail(est, "a custom preprocessor or tokenizer (arbitrary Python, which a model file cannot hold safely)")
    flags = 0
    if analyzer != "word":
        _check_py_spaces(est)
        flags |= T_CHAR if analyzer == "char" else T_CHAR_WB
    sa = est.strip_accents
    if sa in ("ascii", "unicode"):
        flags |= T_ASCII if sa == "ascii" else T_UNICODE
    elif sa:
        _fail(est, f"strip_accents={sa!r}: only None, 'ascii' and 'unicode'")
    pattern = est.token_pattern
    if analyzer == "word":  # the character analyzers read no token pattern, stop words or tokenizer
        if pattern not in TOKEN_PATTERNS:
            _fail(est, f"token_pattern={pattern!r}: only r\"(?u)\\b\\w\\w+\\b\" (the default) and r\"(?u)\\b\\w+\\b\"")
        flags |= TOKEN_PATTERNS[pattern]
    if est.lowercase:
        flags |= T_LOWER
    if est.binary:
        flags |= T_BINARY
    lo, hi = (int(x) for x in est.ngram_range)
    if not 1 <= lo <= hi <= TEXT_MAX_NGRAM:
        _fail(est, f"ngram_range={est.ngram_range!r} (1 <= min <= max <= {TEXT_MAX_NGRAM})")
    if name == "HashingVectorizer":  # no vocabulary: a term's column is its hash's
        terms = []
        n_hash = est.n_features
        if not isinstance(n_hash, (int, np.integer)) or not 1 <= n_hash <= TEXT_MAX_HASH:
            _fail(est, f"n_features={n_hash!r} (1 to 2**24 columns)")
        flags |= T_HASH | (T_ALT_SIGN if est.alternate_sign else 0)
    else:
        vocab = getattr(est, "vocabulary_", None)
        if not vocab:
            _fail(est, "no fitted vocabulary_")
        terms = [None] * len(vocab)
        for t, j in vocab.items():
            if not isinstance(t, str) or not 0 <= int(j) < len(terms) or terms[int(j)] is not None:
                _fail(est, "its vocabulary_ is not a map of strings onto 0..n-1")
            terms[int(j)] = t
    stop = est.get_stop_words() if analyzer == "word" else None
    stop = sorted({str(w) for w in stop}) if stop else []
    for t in terms + stop:  # the format's limits (src/format.h): a longer string makes a file no reader takes
        if "\0" in t:  # a character n-gram of a document that had one: the format's strings hold no NUL
            _fail(est, f"the vocabulary term {t!r} contains NUL (U+0000), which the format's strings cannot hold")
        if len(t.encode("utf-8", "surrogatepass")) > MAX_STRING_BYTES:
            _fail(est, f"a vocabulary term or stop word of {len(t.encode('utf-8', 'surrogatepass'))} bytes (the "
                       f"format holds strings of up to {MAX_STRING_BYTES} bytes)")
    if len(terms) + len(stop) > MAX_STRINGS:
        _fail(est, f"{len(terms)} terms and {len(stop)} stop words (the format holds up to {MAX_STRINGS} strings)")
    block = TextBlock(feats[0].col, est, terms, stop, (lo, hi), flags)
    prep.set_kind(block.col, COL_STRING, est)
    if name == "TfidfVectorizer":
        _tfidf(block, est._tfidf if hasattr(est, "_tfidf") else est, est)
    if name == "HashingVectorizer":
        block.n = int(n_hash)
        if est.norm in ("l1", "l2"):  # after binary, as its transform does
            block.flags |= T_L1 if est.norm == "l1" else T_L2
            block.hash_norm = est.norm
        elif est.norm is not None:
            _fail(est, f"norm={est.norm!r}")
    # counts are integers whatever the dtype; weights and norms in float32 are not computed so here
    block.dtype32 = np.dtype(getattr(est, "dtype", np.float64)) == np.float32
    return [block]


@functools.lru_cache(maxsize=None)
def _python_spaces_known() -> bool:
    """Whether this Python's str.isspace() is the set the C analyzer has (a Unicode version could change it)."""
    return frozenset(c for c in range(sys.maxunicode + 1) if chr(c).isspace()) == PY_SPACES


def _check_py_spaces(est):
    """The character analyzers collapse and split on Python's white space: refused where it is not the C side's."""
    if not _python_spaces_known():
        _fail(est, f"analyzer={est.analyzer!r} under this Python, whose str.isspace() differs from the white space "
                   "libmlinfer's character analyzers know")


def takes_documents(est) -> bool:
    """Whether a pipeline's first step takes documents (a list of str): a vectorizer, or a
    Pipeline or FeatureUnion of steps that do."""
    name = _cls(est)
    if name in VECTORIZERS:
        return True
    if name == "Pipeline":
        return takes_documents(est.steps[0][1])
    if name == "FeatureUnion":
        parts = [t for _, t in est.transformer_list if t not in ("drop", None)]
        return bool(parts) and all(takes_documents(t) for t in parts)
    return False


def _tfidf(block: TextBlock, t, step):
    """A TfidfTransformer's weighting (or a TfidfVectorizer's own) on block."""
    if block.weighted:
        _fail(step, "a second tf-idf weighting of the same counts")
    block.weighted = True
    if t.sublinear_tf and block.flags & T_ALT_SIGN:
        _fail(step, "sublinear_tf after a HashingVectorizer with alternate_sign=True (the log of a column's sum of "
                    "+-1, which can be 0 or negative)")
    if block.hash_norm is not None:
        # the hasher's norm, then idf, then this one: the first is a positive factor of the row,
        # which a second norm takes out again -- unless sublinear_tf's log comes between, or no
        # second norm follows
        if t.sublinear_tf or t.norm is None:
            _fail(step, f"a TfidfTransformer with {'sublinear_tf' if t.sublinear_tf else 'norm=None'} after a "
                        f"HashingVectorizer with norm={block.hash_norm!r} (give the HashingVectorizer norm=None)")
        block.flags &= ~(T_L1 | T_L2)
        block.hash_norm = None
    if t.sublinear_tf:
        block.flags |= T_SUBLINEAR
    norm = t.norm
    if norm in ("l1", "l2"):
        block.flags |= T_L1 if norm == "l1" else T_L2
    elif norm is not None:
        _fail(step, f"norm={norm!r}")
    if t.use_idf:
        idf = np.asarray(t.idf_, dtype=np.float64).reshape(-1)
        if idf.shape[0] != block.n or not np.isfinite(idf).all():
            _fail(step, f"idf_ of {idf.shape[0]} values for a vocabulary of {block.n}")
        block.idf = idf


def _column_transformer(prep: Prep, est, feats):
    idx = getattr(est, "_transformer_to_input_indices", None)
    if idx is None:
        _fail(est, "this scikit-learn's ColumnTransformer has no _transformer_to_input_indices")
    out = []
    for name, trans, _cols in est.transformers_:
        if trans == "drop":
            continue
        cols = list(idx.get(name, []))
        if not cols:
            continue
        sub = [feats[c] for c in cols]
        out += sub if trans == "passthrough" else transform(prep, trans, sub)
    return out


def _feature_union(prep: Prep, est, feats):
    out = []
    weights = est.transformer_weights or {}
    for name, trans in est.transformer_list:
        if trans == "drop" or trans is None:
            continue
        part = list(feats) if trans == "passthrough" else transform(prep, trans, feats)
        w = weights.get(name)
        if w is not None and w != 1:
            for f in part:
                if isinstance(f, TextBlock):
                    f.scale *= float(w)
            part = [f if isinstance(f, TextBlock) else prep.affine(prep.num(f, est), mul=float(w)) for f in part]
        out += part
    return out


def transform(prep: Prep, est, feats):
    """The features `est` makes of `feats`."""
    if est is None or est == "passthrough":
        return list(feats)
    name = _cls(est)
    if name == "Pipeline":
        for _, step in est.steps:
            feats = transform(prep, step, feats)
        return feats
    if name not in ("FeatureUnion", "HashingVectorizer"):  # its transformers' fitted state; stateless
        _check_fitted(est)
    if name in VECTORIZERS:
        return _vectorizer(prep, est, feats)
    blocks = [f for f in feats if isinstance(f, TextBlock)]
    if blocks:  # a vectorizer's columns: only these steps read them without materializing them
        if name == "TfidfTransformer" and len(feats) == 1:
            _tfidf(blocks[0], est, est)
            return feats
        if name == "Binarizer":
            return _binarizer(prep, est, feats)
        if name == "TruncatedSVD" and len(feats) == 1 and np.shape(est.components_) == (len(est.components_),
                                                                                         blocks[0].n):
            prep.inexact.append("TruncatedSVD after a text vectorizer (its sums)")
            return prep.text(blocks[0], np.asarray(est.components_, dtype=np.float64).T)
        _fail(est, "it reads the output of a text vectorizer: only a TfidfTransformer, a TruncatedSVD or the "
                   "linear model may follow one (its sparse columns, one per term, are never materialized)")
    n_in = getattr(est, "n_features_in_", None)
    if n_in is not None and n_in != len(feats):
        _fail(est, f"fitted on {n_in} features but receives {len(feats)} here")
    if name == "ColumnTransformer":
        return _column_transformer(prep, est, feats)
    if name == "FeatureUnion":
        return _feature_union(prep, est, feats)
    if name == "SimpleImputer":
        return _imputer(prep, est, feats)
    if name == "MissingIndicator":
        return _indicator(prep, est, feats)
    if name in SCALERS:
        return _scaler(prep, est, feats)
    if name in ("OneHotEncoder", "OrdinalEncoder"):
        return _encoder(prep, est, feats)
    if name == "TargetEncoder":
        return _target_encoder(prep, est, feats)
    if name == "FunctionTransformer":
        return _function(prep, est, feats)
    if name == "Binarizer":
        return _binarizer(prep, est, feats)
    if name == "Normalizer":
        return _normalizer(prep, est, feats)
    if name == "KBinsDiscretizer":
        return _kbins(prep, est, feats)
    if name in PCAS:
        return _pca(prep, est, feats)
    if name == "PolynomialFeatures":
        return _polynomial(prep, est, feats)
    if name == "PowerTransformer":
        return _power(prep, est, feats)
    if name == "QuantileTransformer":
        return _quantile(prep, est, feats)
    if name == "SplineTransformer":
        return _spline(prep, est, feats)
    if _is_selector(est):
        return _selector(prep, est, feats)
    _fail(est, "not a transformer mlinfer can export (supported: ColumnTransformer, FeatureUnion, Pipeline, "
               "SimpleImputer, MissingIndicator, OneHotEncoder, OrdinalEncoder, TargetEncoder, StandardScaler, "
               "MinMaxScaler, MaxAbsScaler, RobustScaler, Binarizer, KBinsDiscretizer, Normalizer, FunctionTransformer "
               "with a NumPy ufunc, PCA, IncrementalPCA, TruncatedSVD, PolynomialFeatures, SplineTransformer, "
               "PowerTransformer, QuantileTransformer, feature selectors (VarianceThreshold, SelectKBest, SelectPercentile, "
               "SelectFromModel, RFE, ...))")


# steps whose output is dense whatever their input (the others keep a sparse input sparse)
_DENSE_OUT = PCAS + ("OrdinalEncoder", "TargetEncoder")


def sparse_output(est, sparse_in: bool = False, check: bool = False, absent_nan: bool = False) -> bool:
    """Whether scikit-learn's transform of `est` gives a scipy.sparse matrix (from a dense
    input, or a sparse one with sparse_in): XGBoost takes the zeros such a matrix leaves out as
    missing values, not as 0. Vectorizers and TfidfTransformer are sparse; a ColumnTransformer
    decided at fit (sparse_output_); a FeatureUnion is when any part is; OneHotEncoder,
    KBinsDiscretizer(encode='onehot'), SplineTransformer and MissingIndicator by their
    settings; PCA, TruncatedSVD and the ordinal and target encoders are dense; every other step
    supported keeps its input's kind (scikit-learn's scalers, imputers and selectors do).

    With check, every step (nested ones too) is also refused where its transform of a sparse
    matrix is not its transform of the same values dense: QuantileTransformer(output_distribution=
    'normal') maps only a sparse matrix's stored entries, so the zeros it leaves out stay 0 where
    the dense transform (mlinfer's) gives norm.ppf of their quantile (about -5.2). Which zeros are
    left out and which are stored (an imputer's fill value 0, say) is not known at prediction: so
    with absent_nan (XGBoost after the steps: the zeros left out are missing values, which the
    export makes every 0) a step that may store a 0 in a sparse matrix is refused too."""
    if est is None or (isinstance(est, str) and est == "passthrough"):
        return sparse_in
    name = _cls(est)
    if name == "Pipeline":
        for _, step in est.steps:
            sparse_in = sparse_output(step, sparse_in, check, absent_nan)
        return sparse_in
    if check:
        _check_sparse_step(est, name, sparse_in, absent_nan)
    if name in VECTORIZERS or name == "TfidfTransformer":
        return True
    if name == "ColumnTransformer":
        for _, trans, _ in getattr(est, "transformers_", ()) if check else ():
            sparse_output(trans, sparse_in, check, absent_nan)  # each part sees the transformer's input
        return bool(getattr(est, "sparse_output_", False))
    if name == "FeatureUnion":
        parts = [sparse_output(t, sparse_in, check, absent_nan) for _, t in est.transformer_list
                 if not (isinstance(t, str) and t == "drop")]  # every part checked: no short cut
        return any(parts)
    if name in ("OneHotEncoder", "SplineTransformer"):
        return bool(getattr(est, "sparse_output", False))
    if name == "KBinsDiscretizer":
        return est.encode == "onehot"
    if name == "MissingIndicator":
        return sparse_in if est.sparse == "auto" else bool(est.sparse)
    if name in _DENSE_OUT:
        return False
    return sparse_in


def _stores_zeros(est) -> bool:
    """Whether est, given a scipy.sparse matrix, may store a 0 in it (an entry, not left out):
    a SimpleImputer whose fill value (a statistic) is 0 writes it over a stored NaN; a
    QuantileTransformer maps a stored value at its lowest quantile to 0."""
    name = _cls(est)
    if name == "SimpleImputer":
        try:
            return bool(np.any(np.asarray(est.statistics_, dtype=np.float64) == 0))
        except (TypeError, ValueError):
            return False
    return name == "QuantileTransformer"


def _check_sparse_step(est, name: str, sparse_in: bool, absent_nan: bool) -> None:
    """The refusals of sparse_output(check=True) for one step given sparse_in."""
    if not sparse_in:
        return
    if absent_nan and _stores_zeros(est):
        _fail(est, "it receives a scipy.sparse matrix (the output of a sparse OneHotEncoder, KBinsDiscretizer("
                   "encode='onehot') or ColumnTransformer before it) and may store zeros in it (a fill value or "
                   "statistic of 0, a value at the lowest quantile), which XGBoost reads as 0 while the zeros the "
                   "matrix leaves out are its missing values: mlinfer cannot tell them apart; make the steps before "
                   "it dense (sparse_output=False, sparse_threshold=0)")
    if name == "QuantileTransformer" and est.output_distribution == "normal":
        _fail(est, "output_distribution='normal' on a scipy.sparse matrix (the output of a sparse OneHotEncoder, "
                   "KBinsDiscretizer(encode='onehot') or ColumnTransformer before it): scikit-learn transforms only "
                   "the entries the matrix stores and leaves its other zeros at 0, which a dense transform maps "
                   "to about -5.2; make the steps before it dense (sparse_output=False, sparse_threshold=0)")


def _is_selector(est) -> bool:
    try:
        from sklearn.feature_selection import SelectorMixin
    except ImportError:  # pragma: no cover -- scikit-learn is there when its estimators are
        return False
    return isinstance(est, SelectorMixin)


def needs_prep(transformers) -> bool:
    """Whether the steps before the model need a prep stage (anything but the scalers)."""
    return any(_cls(t) not in SCALERS for t in transformers)


def _fold(w, prep: Prep, feats, model_coef, model_step, project_rest: bool = False):
    """The text blocks among the model's features become TEXT ops weighted by the linear model's
    coefficients of their columns: the model then reads one partial score per output from each,
    with weight 1. With project_rest (a naive Bayes model: its log likelihoods are large sums
    that must not run in the float32 model stage), the other features too: one PROJECT op, in
    float64. Sets w.coef_override (the model's new coefficients), w.fold (the same map for
    transformed data: the background), w.fold_names (a name per feature after the fold, or its
    place before) and w.fold_total (the features before)."""
    step = next((f.step for f in feats if isinstance(f, TextBlock)), model_step)
    if model_coef is None:
        _fail(step, f"a text vectorizer before a {_cls(model_step)}: it can precede a linear model (LogisticRegression, SGDClassifier, LinearSVC, "
                    "Ridge, ...), or a TruncatedSVD, only: its sparse columns are summed against the model's "
                    "weights, never materialized")
    coef = np.asarray(model_coef, dtype=np.float64)
    c2 = np.atleast_2d(coef)
    total = sum(f.n if isinstance(f, TextBlock) else 1 for f in feats)
    if c2.shape[1] != total:
        _fail(step, f"the model has {c2.shape[1]} coefficients per output for {total} features")
    k = c2.shape[0]
    out, cols, parts, names, pos, rest = [], [], [], [], 0, []
    for f in feats:
        if isinstance(f, TextBlock):
            W = c2[:, pos:pos + f.n].T
            out += prep.text(f, W)
            cols += [np.eye(k)[:, j] for j in range(k)]
            parts.append((np.arange(pos, pos + f.n), W))
            names += [f"{prep.colname(f.col)} (text, score {j})" for j in range(k)]
            pos += f.n
        elif project_rest:
            rest.append((pos, f))
            pos += 1
        else:
            out.append(f)
            cols.append(c2[:, pos])
            parts.append((np.array([pos]), None))
            names.append(pos)  # the feature's place before the fold: its name from get_feature_names_out
            pos += 1
    if rest:
        idx = np.array([a for a, _ in rest])
        W = c2[:, idx]
        out += prep.project([_model_num(prep, f, model_step, True) for _, f in rest], W, np.zeros(k), np.ones(k))
        cols += [np.eye(k)[:, j] for j in range(k)]
        parts.append((idx, W.T))
        names += [f"{'the features' if len(rest) > 1 else 'the feature'} other than text (score {j})" for j in range(k)]
    new = np.stack(cols, axis=1)
    w.coef_override = new if coef.ndim == 2 else new.reshape(-1)

    def fold(X):
        got = []
        for idx, W in parts:
            v = X[:, idx] @ W if W is not None else X[:, idx]
            got.append(v.toarray() if hasattr(v, "toarray") else np.asarray(v))
        return np.hstack(got)

    w.fold = fold
    w.fold_names, w.fold_total = names, total
    return out


def _select(w, prep: Prep, feats, model_features: Callable[[int], set], absent_nan: bool):
    """Text blocks before a tree model: of each, the columns the trees split on, by their values
    (a TEXT op that selects them); the other columns of the block are never computed. Sets
    w.tree_keep (the model's features kept, in their new order: the trees stage's features are
    renumbered), w.fold and w.fold_names / w.fold_total as _fold does, and w.text_regs."""
    total = sum(f.n if isinstance(f, TextBlock) else 1 for f in feats)
    used = model_features(total)
    out, keep, pos = [], [], 0
    w.text_regs = set()
    for f in feats:
        if isinstance(f, TextBlock):
            if f.flags & T_SUBLINEAR:
                prep.inexact.append(f"{_cls(f.step)} with sublinear_tf (NumPy's log)")
            if f.dtype32 and (f.idf is not None or f.flags & (T_L1 | T_L2)):
                prep.inexact.append(f"{_cls(f.step)} with dtype=float32 (weights and norms computed in float32)")
            cols = [c for c in range(f.n) if pos + c in used]
            regs = prep.text_select(f, cols, absent_nan)
            w.text_regs.update(r.reg for r in regs)
            out += regs
            keep += [pos + c for c in cols]
            pos += f.n
        else:
            out.append(f)
            keep.append(pos)
            pos += 1
    w.tree_keep = keep
    w.fold = lambda X: X[:, keep]
    w.fold_names, w.fold_total = list(keep), total
    return out


def _gaussian(prep: Prep, est, feats) -> List[Num]:
    """GaussianNB's k x n squares ((x_j - theta_[c, j]) / sqrt(var_[c, j]))**2, class by class,
    which export.naive_bayes_linear's coefficients weigh. Its predict validates its input
    (NaN or +-inf raise): the PROJECT op that sums them checks."""
    theta = np.asarray(est.theta_, dtype=np.float64)
    if theta.ndim != 2 or theta.shape[1] != len(feats):
        _fail(est, f"theta_ of shape {theta.shape} for {len(feats)} features")
    sd = np.sqrt(np.asarray(est.var_, dtype=np.float64))
    xs = [_model_num(prep, f, est, True) for f in feats]
    z = [prep.affine(x, sub=theta[c, j], div=sd[c, j]) for c in range(theta.shape[0]) for j, x in enumerate(xs)]
    squares = prep.poly(z, [(j, -1) for j in range(len(z))] + [(j, j) for j in range(len(z))])[len(z):]
    prep.inexact.append("GaussianNB (its squares divided by the variance)")
    return squares


def _categorical(prep: Prep, est, feats) -> List[Num]:
    """CategoricalNB's input as one-hot columns of its categories (0 .. n_categories_[j] - 1),
    which export.naive_bayes_linear's coefficients weigh. Any other value is an input error
    naming it, NaN too (scikit-learn raises on NaN, +-inf, negative values and indexes past the
    categories); one difference: scikit-learn truncates a fractional value (validate_data with
    dtype=int: 1.7 is category 1), which is refused here as a category it does not know."""
    n_cats = [np.asarray(a).shape[-1] for a in est.feature_log_prob_]
    if len(n_cats) != len(feats):
        _fail(est, f"{len(n_cats)} features in feature_log_prob_ for {len(feats)} input features")
    out: List[Num] = []
    for f, n in zip(feats, n_cats):
        x = _model_num(prep, f, est, False)
        code = prep.lookup(x, lambda c: ERROR if isinstance(c, _Special) else float(c), range(n), est)
        out += prep.onehot(code, n)
    return out


def _model_num(prep: Prep, f, step, finite: bool) -> Num:
    """A feature the model reads, as a register (a string column not encoded is an error)."""
    if isinstance(f, Raw) and _feature_is_string(prep, f, []):
        raise UnsupportedModelError(f"mlinfer.export: string column {prep.colname(f.col)!r} reaches the model "
                                    "unencoded; encode it (OneHotEncoder, OrdinalEncoder)")
    return prep.num(f, step, finite=finite)


def write(w, transformers, n_cols: int, names, model_takes_nan: bool, model_is_trees: bool = False,
          model_check: Optional[str] = None, model_coef=None, model_folds: bool = False, model_step=None,
          zeros_missing: bool = False, model_features: Optional[Callable[[int], set]] = None) -> int:
    """Writes the prep stage for `transformers` (applied in order) over n_cols input columns;
    returns the width it gives the model. A step whose values may differ from scikit-learn's in
    the last bit is refused before a tree model (model_is_trees), where a row on a split would
    reach another leaf. model_check: how the model validates its input -- "float32-allow-nan"
    (sklearn.tree's trees and forests: +-inf and values too large for float32 raise) or
    "float32" (GradientBoosting: NaN raises too) -- checked on each of its inputs. zeros_missing:
    the model takes a value of 0 as missing (XGBoost given the sparse matrix the steps make).
    model_features(n): the features a tree model of n inputs reads (text columns before one)."""
    first = Prep(n_cols, names)
    feats = [Raw(c) for c in range(n_cols)]
    for t in transformers:
        feats = transform(first, t, feats)
    prep = Prep(n_cols, names, hint=first.kind)
    feats = [Raw(c) for c in range(n_cols)]
    for t in transformers:
        feats = transform(prep, t, feats)
    if not feats:
        raise UnsupportedModelError("mlinfer.export: the preprocessing gives the model no features")
    if _cls(model_step) == "GaussianNB":
        feats = _gaussian(prep, model_step, feats)
    elif _cls(model_step) == "CategoricalNB":
        feats = _categorical(prep, model_step, feats)
    present: set = set()  # registers of text columns, whose zeros are entries (not left out)
    if model_is_trees and model_features is not None and any(isinstance(f, TextBlock) for f in feats):
        feats = _select(w, prep, feats, model_features, zeros_missing)
        present = w.text_regs
    elif model_folds or any(isinstance(f, TextBlock) for f in feats):
        feats = _fold(w, prep, feats, model_coef, model_step, project_rest=model_folds)
    if model_is_trees and prep.inexact:
        raise UnsupportedModelError(
            f"mlinfer.export: {prep.inexact[0]} cannot precede a tree model: its values are computed to within "
            "1e-12 relative of scikit-learn's, not guaranteed bit for bit, and a row on a split threshold could "
            "reach another leaf; it is supported before linear models and MLPs")
    out = [_model_num(prep, f, transformers[-1] if transformers else model_step, not model_takes_nan) for f in feats]
    if zeros_missing:  # the zeros a scipy.sparse matrix leaves out: NaN (XGBoost's missing value)
        missing: Dict[int, Num] = {}
        for f in out:
            if f.reg not in present and f.reg not in missing:
                missing[f.reg] = prep.fill(f, 0.0, float("nan"))
        out = [missing.get(f.reg, f) for f in out]
    if model_check is not None:
        # registers no output uses: only their errors matter; not of the text columns (counts and
        # tf-idf weights, finite by construction: thousands of them before a forest)
        for f in {f.reg: f for f in out if f.reg not in present}.values():
            prep.finite32(f, nan_ok=model_check == "float32-allow-nan")
    out = [f.reg for f in out]
    kinds = [COL_UNUSED if k is None else k for k in prep.kind]
    p = w.stage("prep", n_ops=len(prep.ops), n_regs=prep.n_regs, n_out=len(out), n_params=len(prep.params))
    w.arrays[f"{p}.col_kind"] = np.asarray(kinds, dtype=np.uint8)
    w.arrays[f"{p}.ops"] = np.asarray(prep.ops, dtype=np.int64).reshape(-1)
    if prep.params:
        w.arrays[f"{p}.params"] = np.asarray(prep.params, dtype=np.float64)
    if prep.strings:
        w.arrays[f"{p}.strings"] = list(prep.strings)
    w.arrays[f"{p}.out"] = np.asarray(out, dtype=np.int64)
    return len(out)
