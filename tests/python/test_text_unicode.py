"""Text models, every code point: the C analysis (src/prep/text.c: ICU's lower case and NFKD,
Python's \\w by general category and Unicode age) against scikit-learn's on one document per
code point, "x<c>y <c>", for every code point Python's unicodedata knows (all but private use and
surrogates) and every one it does not know in planes 0-3 (among them the characters Unicode
15.0 added, which ICU 72 knows and Python 3.11 does not), with lower case on and off and both
accent strippings, one-character tokens. Each term of the fitted vocabulary has its own random
weight (a LinearRegression over the counts), so a term missed, split differently or mapped to
another term changes the score by about one weight (N(0, 1)): the scores are compared within
1e-4 (the linear stage is float32; a term's weight is rarely below that)."""
from __future__ import annotations

import sys
import unicodedata

import numpy as np
import pytest

pytest.importorskip("sklearn")
from sklearn.feature_extraction.text import CountVectorizer  # noqa: E402
from sklearn.linear_model import LinearRegression  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402


def _code_points():
    out = []
    for c in range(0x110000):
        if 0xD800 <= c <= 0xDFFF:
            continue
        cat = unicodedata.category(chr(c))
        if cat == "Co" or (cat == "Cn" and c >= 0x40000):
            continue
        out.append(c)
    return out


@pytest.mark.parametrize("options", [dict(lowercase=False), dict(lowercase=True), dict(strip_accents="unicode"),
                                     dict(strip_accents="ascii", lowercase=False)],
                         ids=["as-is", "lower", "strip-unicode", "strip-ascii"])
def test_every_code_point_is_analysed_as_python_does(mlinfer, tmp_path, options):
    cps = _code_points()
    docs = ["x" + chr(c) + "y " + chr(c) for c in cps]
    vec = CountVectorizer(token_pattern=r"(?u)\b\w+\b", **options)
    X = vec.fit_transform(docs)  # its transform: the same analysis (checked on a few documents below)
    assert (vec.transform(docs[:2000]) != X[:2000]).nnz == 0
    rng = np.random.default_rng(0)
    reg = LinearRegression().fit(X[:50], rng.normal(size=50))
    reg.coef_, reg.intercept_ = rng.normal(size=X.shape[1]), 0.0
    est = make_pipeline(vec, reg)
    want = reg.predict(X)
    mlinfer.export(est, tmp_path / "m.mli")
    got = mlinfer.load(tmp_path / "m.mli").predict(docs)
    bad = np.nonzero(np.abs(got - want) > 1e-4 * (1 + np.abs(want)))[0]
    assert len(bad) == 0, [(hex(cps[i]), unicodedata.name(chr(cps[i]), "?"), want[i], got[i]) for i in bad[:10]]
    assert len(cps) > 250_000 and sys.maxunicode == 0x10FFFF
