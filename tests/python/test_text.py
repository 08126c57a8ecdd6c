"""Differential tests for text models: scikit-learn CountVectorizer / TfidfVectorizer (optionally
CountVectorizer + TfidfTransformer) followed by a linear model, exported with mlinfer.export and
scored by libmlinfer, checked against scikit-learn on the same documents.

The point of the suite is that libmlinfer's tokenisation equals scikit-learn's exactly, i.e.
Python's `str.lower()` (full case mapping, final-sigma rule, "İ" -> "i" + U+0307),
`unicodedata.normalize("NFKD")` (+ dropping canonical-combining-class != 0 marks for
strip_accents="unicode", dropping every non-ASCII code point for "ascii"), then `re.findall` of the
token pattern, where Python's `\\w` is exactly `c.isalnum() or c == "_"` -- NOT ICU's `\\w` (which
also takes Mn/Mc/Me marks, all of Pc, ZWJ/ZWNJ, and leaves out No such as "½").

The corpus (deterministic, seeded numpy RNG) mixes ASCII words with punctuation, digits,
underscores, apostrophes and hyphens; accented Latin in precomposed and decomposed form; German
ß/ẞ; Turkish İ ı; Greek capital sigma in final / non-final / case-ignorable contexts; Cyrillic,
Arabic (harakat, tatweel), Hebrew (niqqud), CJK (incl. plane 2), kana (incl. half-width and
combining voiced marks), Hangul (syllables and jamo), Devanagari, Thai, Cherokee, Deseret, Adlam;
emoji (ZWJ sequences, skin tones, keycaps); superscripts, fractions, circled digits, Roman
numerals; ligatures; full-width Latin; Unicode spaces; ZWJ/ZWNJ/soft hyphen/BOM; combining marks
after digits; empty and punctuation-only documents; a 10 000-word document; and words made of
random code points drawn from ALL assigned (Python unicodedata %s) code points of categories
L*, N*, Mn, Mc, Pc, separated by random code points of the other categories. Beyond the random
corpus, every code point Python assigns (private use and plain Lo letters thinned) and every one
it leaves unassigned in planes 0-3 and 14 (some of which ICU's newer Unicode assigns) is scored
as a word and as the left / right context of a capital sigma.

Also covered: TfidfTransformer after CountVectorizer; LogisticRegression (binary with string
labels, 3 classes), SGDClassifier (log_loss, hinge), LinearSVC, RidgeClassifier, Ridge and
LinearRegression; TruncatedSVD between vectorizer and model; a ColumnTransformer with a text and
numeric columns on a DataFrame, and with two text columns; documents as list, numpy object and
str arrays, pandas Series (object and "string" dtype, shuffled index); one document at a time
vs batches, several library threads and several Python threads; embedded NUL; documents whose
lower case / NFKD outgrows them; missing documents (None, NaN, pd.NA) -> mlinfer.InputError
naming the row; the refusals at export (mlinfer.UnsupportedModelError naming the option).

Tolerances (the linear stage computes in float32 with float32 weights):
  * decision_function, predict_proba: |got - sklearn| <= 1e-5 * |sklearn| + 1e-6, elementwise;
  * predict (labels): identical, except rows whose top-two decision margin in scikit-learn is
    below 1e-4 (|d| for a binary model); at most 1 %% of the rows may be excluded, and the count
    is printed at the end of the module ("near-tie rows excluded");
  * regression predict: |got - sklearn| <= 1e-5 * |sklearn| + 1e-6 * max|y_train|;
  * token-count isolation tests (CountVectorizer + LinearRegression whose coef_ is overwritten
    with distinct weights +-k/64, intercept 0 -- k in 1..512, not distinct, in the exhaustive
    code-point tests, to keep the sums small): |got - sklearn| <= 1e-6 * sum_j |w_j| x_j + 1e-9,
    which for ordinary documents is far below the smallest weight, so any token counted once too
    often or too rarely fails. On failure the message gives the offending documents, a minimal
    reproducing document (delta-debugged), scikit-learn's tokens for it, and which vocabulary
    entry was miscounted.

Pure-Python self-checks (no libmlinfer needed) verify the reference model of tokenisation stated
above against scikit-learn's own analyzer, and that the corpus really contains every trap.
"""
from __future__ import annotations

import io
import re
import sys
import time
import unicodedata

import numpy as np
import pytest

pytest.importorskip("sklearn")
pd = pytest.importorskip("pandas")

from sklearn.compose import ColumnTransformer  # noqa: E402
from sklearn.feature_extraction.text import CountVectorizer, TfidfTransformer, TfidfVectorizer  # noqa: E402
from sklearn.linear_model import (LinearRegression, LogisticRegression, Ridge, RidgeClassifier,  # noqa: E402
                                  SGDClassifier)
from sklearn.neural_network import MLPClassifier  # noqa: E402
from sklearn.pipeline import Pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402
from sklearn.svm import LinearSVC  # noqa: E402

__doc__ = __doc__ % unicodedata.unidata_version

pytestmark = pytest.mark.filterwarnings("ignore")

SEED = 20261207
DEFAULT_PATTERN = r"(?u)\b\w\w+\b"
SINGLE_PATTERN = r"(?u)\b\w+\b"
RTOL, ATOL = 1e-5, 1e-6
TIE = 1e-4

# --------------------------------------------------------------------------------------------
# corpus
# --------------------------------------------------------------------------------------------

CURATED = {
    "ascii": ["the", "quick", "brown", "fox", "jumps", "over", "lazy", "dog", "model", "data", "text",
              "token", "vector", "linear", "score", "class", "label", "alpha", "beta", "gamma", "delta",
              "and", "is", "of", "to", "in", "foo_bar", "x1", "_", "__init__", "snake_case_name", "_x",
              "don't", "it's", "o'clock", "rock'n'roll", "e-mail", "state-of-the-art", "well-known",
              "42", "3.14", "2026", "007", "x", "I", "a", "y2k", "C3PO", "HTTP", "iPhone", "McDonald's",
              "ABC", "Foo", "BAR", "a.b.c", "user@example.com", "http://x.org/a_b?c=1", "#tag",
              "$100", "50%", "C++", "tab\there", "new\nline", "cr\r\nlf"],
    "latin": ["café", "cafe\u0301", "naïve", "nai\u0308ve", "Ångström", "A\u030angstro\u0308m",
              "résumé", "RÉSUMÉ", "re\u0301sume\u0301", "Zoë", "façade", "Çağrı", "Øre", "Łódź", "œuvre",
              "Æsir", "ǅemal", "ǄEMAL", "Ǉubljana", "ĳssel", "Ĳssel", "ŉ", "Ⱥb", "Ᵽa", "ȿx", "ɐɑ",
              "\u212b", "\u2126hm", "\u212aelvin", "ǰx", "ﬀ", "ﬁnance", "ﬂow", "ﬆop", "Ã̈x", "o\u0328\u0301"],
    "german": ["Straße", "STRASSE", "ß", "Fußball", "GROẞ", "groß", "Maß", "ẞx"],
    "turkish": ["İstanbul", "ISTANBUL", "istanbul", "ılık", "IŞIK", "İi", "DİYARBAKIR", "kırmızı",
                "İ", "Iı", "xİx", "İİ"],
    "greek": ["ΟΔΟΣ", "ΣΑΣ Σ", "Σ", "ΑΣ.", "ΣΟΦΟΣ", "ΌΣΟΣ", "λόγος", "ΣΊΣΥΦΟΣ", "ΑΣ'Σ", "ΑΣ'ΒΑ",
              "Σ_Σ", "ΑΣ_Β", "ΑΣ1", "1Σ", "ΑΣ\u0301", "Α\u0301Σ", "ΑΣ\u00adΒ", "ΑΣ.Β", "ΑΣ:Β", "ΑΣ-Β",
              "aΣ", "ΑΣΣ", "ΑΣ\u200dΒ", "ΆΣΣΟΣ", "ἈΣ", "ΑΣ·Β", "ΑΣ\u0345", "ΐ", "ᾼ", "ϴ", "ϐ",
              "ΟΔΟΣ.", "ΑΣ\u2019Β", "ΑΣ\u0300Β", "ΑΣ\u02b9Β", "καὶ", "ΚΑΙ"],
    "cyrillic": ["Москва", "ПРИВЕТ", "ёлка", "Ёж", "україна", "Ґанок", "и\u0306од", "ЙОД", "Ѐ", "ѝ"],
    "arabic": ["العربية", "مرحبا", "مَرْحَبًا", "٣٤٥", "كتـــاب", "لا", "ﻻ", "۱۲۳", "ﷺ"],
    "hebrew": ["שלום", "עִבְרִית", "ישראל", "ﬠ", "װ", "שָׁלוֹם"],
    "cjk": ["中文", "東京都", "漢字", "𠀀𠀁", "〇", "五十", "㐀", "々", "〆", "ㄅㄆ", "中文abc", "丽"],
    "japanese": ["ひらがな", "カタカナ", "ｶﾀｶﾅ", "ラーメン", "か\u3099", "が", "ｶﾞ", "ゝ", "㍿", "㌀"],
    "korean": ["한국어", "안녕하세요", "\u1112\u1161\u11ab", "ㄱㄴ", "ᄀᄀ", "한\u302e"],
    "indic": ["हिन्दी", "नमस्ते", "संस्कृत", "१२३", "क़", "ॐ", "ভাষা", "தமிழ்", "௰"],
    "other": ["ภาษาไทย", "สวัสดี", "๑๒", "ພາສາລາວ", "ཀ྄ཁ", "ᏣᎳᎩ", "ꮳꮃꭹ", "ᲐᲑ", "ქართული",
              "Հայերեն", "և", "𐐀𐐁", "𐐨𐐩", "𝐀𝐁𝐂", "𝟘𝟙", "𞤀𞤁", "ꓐꓑ", "ᚠᚢ", "ꙮ"],
    "emoji": ["😀", "👍🏽", "👨\u200d👩\u200d👧\u200d👦", "🏳️\u200d🌈", "❤️", "🇫🇷", "3\ufe0f\u20e3",
              "a\u20dd", "🙂x", "x🙂y", "ok👍🏽ok", "a\U0001f3fbb"],
    "numbers": ["²", "x²", "½", "1½", "①②", "Ⅻ", "ⅻ", "Ⅻa", "1\u0301", "2\u0308x", "⅓cup", "⁴²",
                "₂", "H₂O", "🄁", "⑴", "㉑", "፩", "𒐀", "1\u20e3", "10\u0665"],
    "fullwidth": ["ＡＢＣ", "ｆｏｏ", "１２３", "Ｆｏｏ＿ｂａｒ", "ＡＢＣ１２３", "ｘｙ"],
    "joiners": ["a‿b", "x⁀y", "foo︳bar", "a＿b", "a\u200db", "a\u200cb", "ab\u200d", "\u200dab",
                "a\u2060b", "a\u00adb", "co\u00adop", "a\ufeffb", "a\u200bb", "ab\u180ecd", "xy\u034fz"],
    "punct": ["!!!", "...", "?!", "—", "«»", "“”", "()", "-", "'", "''", "…", "•", "§", "¿¡", "~"],
}
CURATED_WORDS = [w for ws in CURATED.values() for w in ws]

SEPARATORS = [(" ", 120), ("  ", 6), ("\t", 4), ("\n", 4), ("\r\n", 2), ("\u00a0", 3), ("\u2003", 3),
              ("\u3000", 3), ("\u2028", 1), ("\u0085", 1), (", ", 8), (". ", 8), ("; ", 2), (" - ", 2),
              ("-", 2), ("/", 2), ("'", 2), ("—", 2), (" (", 2), (") ", 2), ("\u200b", 1),
              ("\u200d", 1), ("\u200c", 1), ("", 2), ("_", 1), ("\x00RANDOM", 6)]

WORD_CATS = ("Lu", "Ll", "Lt", "Lm", "Lo", "Nd", "Nl", "No", "Mn", "Mc", "Pc")
SEP_CATS = ("Me", "Cf", "Pd", "Ps", "Pe", "Pi", "Pf", "Po", "Sm", "Sc", "Sk", "So", "Zs", "Zl", "Zp", "Cc")

_BY_CAT = None


def code_points_by_category():
    """{category: int array} over all code points Python's unicodedata knows (Cn, Cs, Co left out)."""
    global _BY_CAT
    if _BY_CAT is None:
        cat = unicodedata.category
        d: dict = {}
        for cp in range(0x110000):
            c = cat(chr(cp))
            if c in ("Cn", "Cs", "Co"):
                continue
            d.setdefault(c, []).append(cp)
        d["Cc"] = [cp for cp in d["Cc"] if cp != 0]  # NUL has its own test (test_embedded_nul)
        _BY_CAT = {k: np.array(v, dtype=np.int64) for k, v in d.items()}
    return _BY_CAT


def _random_char(rng, cats):
    by = code_points_by_category()
    c = cats[rng.integers(len(cats))]
    arr = by[c]
    return chr(int(arr[rng.integers(len(arr))]))


def random_word(rng, lo=1, hi=6):
    return "".join(_random_char(rng, WORD_CATS) for _ in range(int(rng.integers(lo, hi + 1))))


def random_separator(rng):
    return _random_char(rng, SEP_CATS)


def _pick_sep(rng):
    seps, w = zip(*SEPARATORS)
    p = np.array(w, float) / sum(w)
    s = seps[rng.choice(len(seps), p=p)]
    return random_separator(rng) if s == "\x00RANDOM" else s


def _vary_case(rng, w):
    r = rng.random()
    if r < 0.08:
        return w.upper()
    if r < 0.12:
        return w.title()
    if r < 0.14:
        return w.swapcase()
    return w


class Corpus:
    """Deterministic train / test documents with targets."""

    def __init__(self, seed=SEED, n_train=600, n_test=500, words_per_doc=12, unseen_rate=0.1):
        rng = np.random.default_rng(seed)
        mixed = []
        for w in rng.choice(CURATED_WORDS, 100):
            k = rng.integers(4)
            if k == 0:
                mixed.append(w + _random_char(rng, ("Mn", "Mc")))
            elif k == 1:
                mixed.append(_random_char(rng, ("Nd", "No", "Nl")) + _random_char(rng, ("Mn", "Me")) + w)
            elif k == 2:
                mixed.append(w + _random_char(rng, ("Pc",)) + random_word(rng, 1, 3))
            else:
                mixed.append(random_word(rng, 1, 2) + w)
        self.bank = list(dict.fromkeys(CURATED_WORDS + [random_word(rng) for _ in range(400)] + mixed))
        order = rng.permutation(len(self.bank))
        zipf = 1.0 / (1.0 + np.argsort(order)) ** 0.6
        self._p = zipf / zipf.sum()
        self.affinity = {w: rng.normal(size=3) for w in self.bank}
        self.value = {w: rng.normal() for w in self.bank}
        self._rng = rng

        def doc(n_words, unseen):
            words, parts = [], []
            for _ in range(n_words):
                if unseen and rng.random() < unseen_rate:
                    w = random_word(rng) if rng.random() < 0.7 else f"unseen{int(rng.integers(10**6))}"
                else:
                    w = self.bank[rng.choice(len(self.bank), p=self._p)]
                words.append(w)
                parts.append(_vary_case(rng, w))
                parts.append(_pick_sep(rng))
            return "".join(parts[:-1]) if parts else "", words

        specials = ["", " ", "\t\n", "!!!", "...?!", "—", "🙂", "a b c", "\u200d", "x", "_", "__",
                    "\u00a0\u3000\u2003", "ΣΑΣ Σ ΑΣ. ΟΔΟΣ ΣΟΦΟΣ ΑΣ.Β ΑΣ'ΒΑ Σ_Σ ΑΣ-Β",
                    "İstanbul DİYARBAKIR İi", "Straße STRASSE GROẞ", " ".join(CURATED_WORDS)]
        def docs(n, unseen):
            """n random documents, one of 10 000 words, then the specials; with their words."""
            out = [doc(int(rng.integers(0, 2 * words_per_doc)), unseen) for _ in range(n)]
            out.append(doc(10000, unseen))
            out += [(sp, sp.split()) for sp in specials]
            return [d for d, _ in out], [w for _, w in out]

        train, tw = docs(n_train, False)
        test, sw = docs(n_test, True)
        self.train, self.test = train, test
        self.train_words, self.test_words = tw, sw
        noise = np.random.default_rng(seed + 1)
        self.y3_train = self._y3(tw, noise)
        self.y_reg_train = np.array([sum(self.value.get(w, 0.0) for w in ws) / np.sqrt(1 + len(ws))
                                     for ws in tw]) + 0.1 * noise.normal(size=len(tw))

    def _y3(self, words, noise):
        s = np.array([np.sum([self.affinity.get(w, np.zeros(3)) for w in ws] or [np.zeros(3)], axis=0)
                      for ws in words])
        s = s + 0.5 * noise.normal(size=s.shape)
        return s.argmax(1)


class StressCorpus:
    """Documents made only of random code points: words from L*, N*, Mn, Mc, Pc, separated by
    random code points of the other assigned categories (and spaces)."""

    def __init__(self, seed=SEED + 7, n_train=1000, n_test=500):
        rng = np.random.default_rng(seed)
        bank = [random_word(rng, 1, 4) for _ in range(3000)]

        def doc(unseen):
            parts = []
            for _ in range(int(rng.integers(1, 10))):
                w = random_word(rng, 1, 4) if unseen and rng.random() < 0.15 else bank[rng.integers(len(bank))]
                if rng.random() < 0.1:
                    w = w.upper()
                parts.append(w)
                r = rng.random()
                parts.append(" " if r < 0.4 else random_separator(rng) if r < 0.95 else "")
            return "".join(parts[:-1])

        self.train = [doc(False) for _ in range(n_train)]
        self.test = [doc(True) for _ in range(n_test)]


_CORPUS = None
_STRESS = None


def corpus() -> Corpus:
    global _CORPUS
    if _CORPUS is None:
        _CORPUS = Corpus()
    return _CORPUS


def stress() -> StressCorpus:
    global _STRESS
    if _STRESS is None:
        _STRESS = StressCorpus()
    return _STRESS


# --------------------------------------------------------------------------------------------
# reference model of scikit-learn's analyzer (checked against sklearn in the self-checks)
# --------------------------------------------------------------------------------------------

def is_word_char(c: str) -> bool:
    """Python's `\\w` for str patterns."""
    return c.isalnum() or c == "_"


def ref_preprocess(doc, lowercase=True, strip_accents=None):
    if lowercase:
        doc = doc.lower()  # whole document: the final-sigma context crosses token boundaries
    if strip_accents == "ascii":
        doc = unicodedata.normalize("NFKD", doc).encode("ascii", "ignore").decode("ascii")
    elif strip_accents == "unicode":
        doc = "".join(c for c in unicodedata.normalize("NFKD", doc) if not unicodedata.combining(c))
    return doc


def ref_tokens(doc, min_len=2):
    """Maximal runs of word characters of length >= min_len (== re.findall of \\b\\w\\w+\\b for
    min_len 2, \\b\\w+\\b for 1), written without `re`."""
    out, run = [], []
    for c in doc + " ":
        if is_word_char(c):
            run.append(c)
        else:
            if len(run) >= min_len:
                out.append("".join(run))
            run = []
    return out


def ref_analyze(doc, lowercase=True, strip_accents=None, token_pattern=DEFAULT_PATTERN, ngram_range=(1, 1),
                stop_words=None):
    toks = ref_tokens(ref_preprocess(doc, lowercase, strip_accents), 2 if token_pattern == DEFAULT_PATTERN else 1)
    if stop_words is not None:
        toks = [t for t in toks if t not in stop_words]
    lo, hi = ngram_range
    out = []
    for n in range(lo, hi + 1):
        out.extend(" ".join(toks[i:i + n]) for i in range(len(toks) - n + 1))
    return out


# --------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------

_TIES = {"excluded": 0, "rows": 0}


@pytest.fixture(scope="module", autouse=True)
def _summary(request):
    t0 = time.perf_counter()
    yield
    msg = (f"[test_text] near-tie rows excluded from label comparison: {_TIES['excluded']} of {_TIES['rows']}; "
           f"module time {time.perf_counter() - t0:.1f}s")
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    if capture is not None:
        with capture.global_and_fixture_disabled():  # past pytest's output capture
            sys.stderr.write("\n" + msg + "\n")
    else:
        sys.stderr.write(msg + "\n")


@pytest.fixture(scope="module")
def mli(mlinfer):
    return mlinfer


def roundtrip(mli, est, tmp_path, name="m.mli"):
    path = tmp_path / name
    mli.export(est, str(path))
    return mli.load(str(path))


def _short(doc, n=160):
    r = repr(doc)
    return r if len(r) <= n else r[:n] + f"...' ({len(doc)} chars)"


def shrink(doc, fails, budget=3000):
    """A small document on which fails(doc) still holds: first a single whitespace-separated piece
    (or two or three neighbours), then greedy deletion of chunks of characters (ddmin)."""
    calls = [0]

    def f(d):
        calls[0] += 1
        try:
            return fails(d)
        except Exception:  # noqa: BLE001 - a crash on the candidate counts as a failure too
            return True

    pieces = re.split(r"(\s+)", doc)
    words = [p for p in pieces if p and not p.isspace()]
    for k in (1, 2, 3):
        hit = next((" ".join(words[i:i + k]) for i in range(len(words) - k + 1)
                    if calls[0] < budget and f(" ".join(words[i:i + k]))), None)
        if hit is not None:
            doc = hit
            break
    n = 2
    while len(doc) >= 2 and calls[0] < budget:
        size = max(1, len(doc) // n)
        for i in range(0, len(doc), size):
            cand = doc[:i] + doc[i + size:]
            if cand != doc and f(cand):
                doc = cand
                n = max(n - 1, 2)
                break
        else:
            if size == 1:
                break
            n = min(len(doc), n * 2)
    return doc


def _tol(ref, rtol, atol):
    return rtol * np.abs(ref) + atol


def compare(what, ref, got, docs, rtol=RTOL, atol=ATOL, ref_fn=None, got_fn=None, analyzer=None, extra=None,
            scale=None):
    """Elementwise |got - ref| <= rtol*|ref| + atol (or <= rtol*scale + atol when a per-row scale is
    given); on failure, a message with the offending rows and a shrunk reproducer."""
    __tracebackhide__ = True
    ref = np.asarray(ref, dtype=np.float64)
    got = np.asarray(got, dtype=np.float64)
    assert got.shape == ref.shape, f"{what}: shape {got.shape}, scikit-learn {ref.shape}"
    if scale is None:
        tol = _tol(ref, rtol, atol)
    else:
        tol = rtol * np.asarray(scale, np.float64).reshape(-1, *([1] * (ref.ndim - 1))) + atol
    ok = np.abs(got - ref) <= tol
    bad_rows = np.flatnonzero(~(ok.reshape(len(ok), -1).all(1)))
    if not bad_rows.size:
        return
    lines = [f"{what}: {bad_rows.size} of {len(ref)} rows outside tolerance (rtol {rtol}, atol {atol})"]
    for i in bad_rows[:5]:
        lines.append(f"  row {i}: doc={_short(docs[i])}\n    expected={ref[i]!r}\n    got     ={got[i]!r}")
    if ref_fn is not None and got_fn is not None:
        def fails(d):
            r = np.asarray(ref_fn([d]), np.float64)
            g = np.asarray(got_fn([d]), np.float64)
            t = (rtol * np.abs(r) if scale is None else rtol * np.asarray(extra["scale_fn"]([d]))) + atol
            return not np.all(np.abs(g - r) <= t)

        for i in bad_rows[:3]:
            m = shrink(docs[i], fails)
            r, g = np.asarray(ref_fn([m])), np.asarray(got_fn([m]))
            lines.append(f"  minimal reproducer (from row {i}): {m!r}\n    code points: "
                         + " ".join(f"U+{ord(c):04X}({unicodedata.category(c)})" for c in m[:40]))
            if analyzer is not None:
                lines.append(f"    scikit-learn tokens: {analyzer(m)!r}")
            lines.append(f"    expected={r!r} got={g!r}")
            if extra and "explain" in extra:
                lines.append("    " + extra["explain"](m, r, g))
    pytest.fail("\n".join(lines))


def check_labels(what, dec_ref, lab_ref, lab_got, docs):
    __tracebackhide__ = True
    dec_ref = np.asarray(dec_ref, np.float64)
    if dec_ref.ndim == 1:
        margin = np.abs(dec_ref)
    else:
        s = np.sort(dec_ref, axis=1)
        margin = s[:, -1] - s[:, -2]
    near = margin < TIE
    lab_ref, lab_got = np.asarray(lab_ref), np.asarray(lab_got)
    assert lab_got.shape == lab_ref.shape
    bad = np.flatnonzero((lab_ref != lab_got) & ~near)
    _TIES["excluded"] += int(near.sum())
    _TIES["rows"] += len(near)
    assert near.sum() <= max(1, 0.01 * len(near)), f"{what}: {near.sum()} near-tie rows of {len(near)}"
    if bad.size:
        pytest.fail(f"{what}: {bad.size} labels differ, e.g. " + "; ".join(
            f"row {i} {_short(docs[i], 80)} expected {lab_ref[i]!r} got {lab_got[i]!r}" for i in bad[:5]))


def check_classifier(mli, pipe, tmp_path, docs, what):
    __tracebackhide__ = True
    m = roundtrip(mli, pipe, tmp_path)
    analyzer = pipe.steps[0][1].build_analyzer() if hasattr(pipe.steps[0][1], "build_analyzer") else None
    has_dec = hasattr(pipe, "decision_function")
    if has_dec:
        dec = pipe.decision_function(docs)
        compare(f"{what} decision_function", dec, m.decision_function(docs), docs,
                ref_fn=pipe.decision_function, got_fn=m.decision_function, analyzer=analyzer)
    if hasattr(pipe[-1], "predict_proba") and (not isinstance(pipe[-1], SGDClassifier) or pipe[-1].loss == "log_loss"):
        compare(f"{what} predict_proba", pipe.predict_proba(docs), m.predict_proba(docs), docs,
                ref_fn=pipe.predict_proba, got_fn=m.predict_proba, analyzer=analyzer)
    if has_dec:
        check_labels(f"{what} predict", dec, pipe.predict(docs), m.predict(docs), docs)
    return m


def _str_labels(y):
    return np.array(["neg", "pos", "neutral"], dtype=object)[y]


# --------------------------------------------------------------------------------------------
# option sets
# --------------------------------------------------------------------------------------------

CUSTOM_STOP = ["the", "café", "straße", "σας", "ας", "και", "中文", "stanbul", "Foo", "x1", "ς", "of", "ｆｏｏ", "foo"]

TFIDF_OPTIONS = {
    "default": {},
    "no_lower": dict(lowercase=False),
    "ascii": dict(strip_accents="ascii"),
    "unicode": dict(strip_accents="unicode"),
    "unicode_no_lower": dict(strip_accents="unicode", lowercase=False),
    "ascii_no_lower": dict(strip_accents="ascii", lowercase=False),
    "ngram12": dict(ngram_range=(1, 2)),
    "ngram23": dict(ngram_range=(2, 3)),
    "ngram13_stop_en": dict(ngram_range=(1, 3), stop_words="english"),
    "stop_en": dict(stop_words="english"),
    "stop_custom": dict(stop_words=CUSTOM_STOP),
    "stop_custom_ngram12_no_lower": dict(stop_words=CUSTOM_STOP, ngram_range=(1, 2), lowercase=False),
    "single_char": dict(token_pattern=SINGLE_PATTERN),
    "single_char_ngram12_unicode": dict(token_pattern=SINGLE_PATTERN, ngram_range=(1, 2), strip_accents="unicode"),
    "single_char_ngram13_ascii_no_lower": dict(token_pattern=SINGLE_PATTERN, ngram_range=(1, 3),
                                               strip_accents="ascii", lowercase=False),
    "binary": dict(binary=True),
    "sublinear": dict(sublinear_tf=True),
    "norm_l1": dict(norm="l1"),
    "norm_none": dict(norm=None),
    "no_idf": dict(use_idf=False),
    "no_smooth": dict(smooth_idf=False),
    "no_idf_norm_none_binary": dict(use_idf=False, norm=None, binary=True),
    "min_max_df": dict(min_df=2, max_df=0.5),
    "max_features": dict(max_features=300, ngram_range=(1, 2)),
    "min_df3_sublinear_l1_ngram12": dict(min_df=3, sublinear_tf=True, norm="l1", ngram_range=(1, 2)),
    "float32": dict(dtype=np.float32),
    "float32_ngram13_sublinear": dict(dtype=np.float32, ngram_range=(1, 3), sublinear_tf=True),
    "vocabulary": "VOCAB",
    "vocabulary_ngram12": "VOCAB12",
}

COUNT_OPTIONS = {
    "default": {},
    "binary": dict(binary=True),
    "ngram12_stop_en": dict(ngram_range=(1, 2), stop_words="english"),
    "unicode_no_lower": dict(strip_accents="unicode", lowercase=False),
    "max_features": dict(max_features=200),
    "single_char_ascii": dict(token_pattern=SINGLE_PATTERN, strip_accents="ascii"),
    "vocabulary": "VOCAB",
}

TRANSFORMER_OPTIONS = {
    "default": ({}, {}),
    "binary_no_idf": (dict(binary=True), dict(use_idf=False)),
    "sublinear_l1": ({}, dict(sublinear_tf=True, norm="l1")),
    "no_smooth_none": (dict(ngram_range=(1, 2)), dict(smooth_idf=False, norm=None)),
}


def _vocabulary(ngram=False):
    """A user vocabulary (dict, shuffled indices): frequent training tokens, n-grams, entries that
    can never match (upper case under lowercase=True, words absent from the corpus)."""
    c = corpus()
    an = CountVectorizer(ngram_range=(1, 2) if ngram else (1, 1)).fit(c.train[:200])
    toks = list(an.vocabulary_)
    rng = np.random.default_rng(SEED + 3)
    pick = [toks[i] for i in rng.choice(len(toks), min(400, len(toks)), replace=False)]
    pick += ["ABC", "Café", "neverseenword", "σας σ" if ngram else "ς", "i̇stanbul", "stanbul", "ﬁnance", "finance"]
    pick = list(dict.fromkeys(pick))
    idx = rng.permutation(len(pick))
    return {t: int(i) for t, i in zip(pick, idx)}


def _opts(o):
    if o == "VOCAB":
        return dict(vocabulary=_vocabulary())
    if o == "VOCAB12":
        return dict(vocabulary=_vocabulary(True), ngram_range=(1, 2))
    return dict(o)


# --------------------------------------------------------------------------------------------
# pure-Python self-checks (no libmlinfer needed)
# --------------------------------------------------------------------------------------------

def test_selfcheck_python_word_char_is_isalnum_or_underscore():
    by = code_points_by_category()
    w = re.compile(r"\w")
    for cps in by.values():
        for cp in cps[::7]:
            c = chr(int(cp))
            assert bool(w.match(c)) == is_word_char(c), hex(cp)
    for c in "\u0301\u093f\u0941\u20dd\u200d\u200c\u203f\uff3f\u00ad":  # ICU \w has these, Python not
        assert not is_word_char(c)
    for c in "½①²Ⅻ_\u30fc\uff9e":  # Python \w has these
        assert is_word_char(c)


@pytest.mark.parametrize("name", ["default", "no_lower", "ascii", "unicode", "unicode_no_lower", "ngram13_stop_en",
                                  "stop_custom_ngram12_no_lower", "single_char_ngram12_unicode",
                                  "single_char_ngram13_ascii_no_lower"])
def test_selfcheck_reference_analyzer_equals_sklearn(name):
    o = TFIDF_OPTIONS[name]
    sk = TfidfVectorizer(**o).build_analyzer()
    stop = None
    if o.get("stop_words") == "english":
        from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS
        stop = ENGLISH_STOP_WORDS
    elif o.get("stop_words") is not None:
        stop = set(o["stop_words"])
    kw = dict(lowercase=o.get("lowercase", True), strip_accents=o.get("strip_accents"),
              token_pattern=o.get("token_pattern", DEFAULT_PATTERN), ngram_range=o.get("ngram_range", (1, 1)),
              stop_words=stop)
    c, s = corpus(), stress()
    for d in c.train[:300] + c.test[:300] + s.test[:300] + CURATED_WORDS:
        assert ref_analyze(d, **kw) == sk(d), repr(d)


def test_selfcheck_corpus_has_the_traps():
    c = corpus()
    text = "".join(c.train) + "".join(c.test)
    for needle in ["İ", "ı", "ß", "ẞ", "Σ", "e\u0301", "\u200d", "\u200c", "\u00a0", "\u2003", "\u3000", "\t", "\n",
                   "ﬁ", "ＡＢＣ", "Ⅻ", "½", "②", "²", "👍🏽", "\u0308", "𠀀", "ｶﾞ", "\u1112\u1161\u11ab", "foo_bar", "x1",
                   "don't", "e-mail", "\u00ad", "\ufeff", "1\u0301"]:
        assert needle in text, needle
    assert "" in c.train and "" in c.test and "!!!" in c.test
    assert max(len(w) for w in c.test_words) >= 10000 and max(len(d) for d in c.test) > 50000
    used = {unicodedata.category(ch) for ch in text} | {unicodedata.category(ch) for ch in "".join(stress().test)}
    for cat in WORD_CATS + SEP_CATS:
        assert cat in used, cat
    assert any(ord(ch) > 0xFFFF for ch in text)
    # Python's lower(): the final-sigma rule over the whole document, İ -> i + U+0307
    toks = set(TfidfVectorizer().fit(c.train).vocabulary_)
    assert {"ας", "ασ", "σας", "οδος", "stanbul", "straße", "strasse"} <= toks, sorted(
        t for t in toks if "σ" in t or "ς" in t)[:20]
    assert "ας_β" in toks and "ιστανβουλ" not in toks
    # a decomposed accent splits a Python token: "cafe\u0301" -> "cafe"; precomposed "café" stays
    assert "cafe" in toks and "café" in toks
    # ascii folding drops non-ASCII without a break: "ǅemal" -> "dzemal", "中文abc" -> "abc"
    av = set(TfidfVectorizer(strip_accents="ascii").fit(c.train).vocabulary_)
    assert {"dzemal", "abc", "cafe", "resume", "finance"} <= av


def test_selfcheck_vocabulary_hits():
    c = corpus()
    for name in ("default", "single_char_ngram12_unicode"):
        vec = TfidfVectorizer(**TFIDF_OPTIONS[name]).fit(c.train)
        an = vec.build_analyzer()
        toks = [t for d in c.test[:-18] for t in an(d)]  # without the long document and the specials
        hit = np.mean([t in vec.vocabulary_ for t in toks])
        assert 0.6 < hit < 0.995, (name, hit)


def test_selfcheck_shrink():
    d = "alpha beta ΑΣ.Β gamma café delta"
    assert shrink(d, lambda s: "Σ." in s) == "Σ."
    assert shrink(d, lambda s: "ΑΣ" in s and "ca" in s) == "ΑΣca"


# --------------------------------------------------------------------------------------------
# tokenisation isolated: CountVectorizer + LinearRegression with distinct weights, intercept 0
# --------------------------------------------------------------------------------------------

def _weighted_counter(vec, docs, distinct=True):
    vec.fit(docs)
    V = len(vec.vocabulary_)
    rng = np.random.default_rng(SEED + V)
    k = rng.permutation(np.arange(1, max(2 * V, 8192) + 1))[:V] if distinct else rng.integers(1, 513, V)
    w = k / 64.0 * rng.choice([-1.0, 1.0], V)
    X = vec.transform(docs[:5])
    reg = LinearRegression().fit(X, np.arange(X.shape[0], dtype=float))
    reg.coef_ = w
    reg.intercept_ = 0.0
    pipe = Pipeline([("vec", vec), ("reg", reg)])
    return pipe, w


def _explain(vec, w):
    """Decode a score difference on a small document into vocabulary entries counted too often or
    too rarely (the weights k/64 have distinct magnitudes)."""
    inv = {i: t for t, i in vec.vocabulary_.items()}
    absw = np.abs(w)
    an = vec.build_analyzer()

    def single(diff):
        j = np.flatnonzero(np.abs(absw - abs(diff)) < 2e-3)
        for times in (1, 2, 3):
            j = np.flatnonzero(np.abs(absw * times - abs(diff)) < 2e-3)
            if j.size == 1:
                return j[0], round(diff / w[j[0]])
        return None

    def explain(doc, r, g):
        diff = float(np.asarray(g).ravel()[0] - np.asarray(r).ravel()[0])
        if not np.isfinite(diff):
            return f"libmlinfer returned {float(np.asarray(g).ravel()[0])}"
        toks = an(doc)
        why = []
        for t in dict.fromkeys(toks):  # one of scikit-learn's tokens missed, perhaps another entry instead
            if t in vec.vocabulary_:
                rest = diff + w[vec.vocabulary_[t]] * toks.count(t)
                if abs(rest) < 1e-3:
                    why.append(f"libmlinfer misses every {t!r} (and what it finds instead is not in the vocabulary)")
                    continue
                hit = single(rest)
                if hit:
                    why.append(f"libmlinfer misses every {t!r} and counts {inv[hit[0]]!r} {hit[1]:+d} time(s) "
                               "(tokenises it that way instead?)")
        hit = single(diff)
        if hit:
            why.append(f"libmlinfer counts {inv[hit[0]]!r} {hit[1]:+d} time(s) vs scikit-learn")
        if why:
            return "\n      or ".join(why[:3])
        return f"difference {diff:+.6f}: no one- or two-entry explanation (tokens outside the vocabulary?)"
    return explain


def _check_counts(mli, vec, train, test, tmp_path, what, distinct=True):
    __tracebackhide__ = True
    pipe, w = _weighted_counter(vec, train, distinct)
    m = roundtrip(mli, pipe, tmp_path)
    docs = list(train) + list(test)
    absw = np.abs(w)

    def scale(ds):
        return np.asarray(abs(vec.transform(ds)) @ absw).ravel()

    compare(f"{what} token counts", pipe.predict(docs), m.predict(docs), docs, rtol=1e-6, atol=1e-9,
            scale=scale(docs), ref_fn=pipe.predict, got_fn=m.predict, analyzer=vec.build_analyzer(),
            extra={"scale_fn": scale, "explain": _explain(vec, w)})


COUNT_ISOLATION = {
    "default": {},
    "no_lower": dict(lowercase=False),
    "ascii": dict(strip_accents="ascii"),
    "unicode": dict(strip_accents="unicode"),
    "unicode_no_lower": dict(strip_accents="unicode", lowercase=False),
    "ascii_no_lower": dict(strip_accents="ascii", lowercase=False),
    "single_char": dict(token_pattern=SINGLE_PATTERN),
    "single_char_unicode": dict(token_pattern=SINGLE_PATTERN, strip_accents="unicode"),
    "ngram13": dict(ngram_range=(1, 3)),
    "ngram12_stop_en": dict(ngram_range=(1, 2), stop_words="english"),
    "stop_custom_no_lower": dict(stop_words=CUSTOM_STOP, lowercase=False),
    "binary_ngram23": dict(binary=True, ngram_range=(2, 3)),
    "ngram15_single_char": dict(ngram_range=(1, 5), token_pattern=SINGLE_PATTERN),
    "ngram46": dict(ngram_range=(4, 6)),
    "stop_custom_unicode": dict(stop_words=CUSTOM_STOP, strip_accents="unicode"),
    "vocabulary": "VOCAB",
}


@pytest.mark.parametrize("name", list(COUNT_ISOLATION))
def test_token_counts_corpus(mli, tmp_path, name):
    c = corpus()
    _check_counts(mli, CountVectorizer(**_opts(COUNT_ISOLATION[name])), c.train, c.test, tmp_path, name)


@pytest.mark.parametrize("name", ["default", "no_lower", "single_char", "single_char_unicode", "ascii",
                                  "single_char_ngram12"])
def test_token_counts_random_code_points(mli, tmp_path, name):
    o = dict(COUNT_ISOLATION.get(name, {}))
    if name == "single_char_ngram12":
        o = dict(token_pattern=SINGLE_PATTERN, ngram_range=(1, 2))
    s = stress()
    _check_counts(mli, CountVectorizer(**o), s.train, s.test, tmp_path, f"random code points {name}")


def test_token_counts_curated_words_one_by_one(mli, tmp_path):
    """Every curated fragment alone, upper-cased, title-cased, and between two words."""
    docs = []
    for w in CURATED_WORDS:
        docs += [w, w.upper(), w.title(), f"ab {w} cd", f"ab{w}cd", f"ΑΒ{w}", f"{w}Σ", f"Σ{w}"]
    for o in ({}, dict(token_pattern=SINGLE_PATTERN, strip_accents="unicode"), dict(strip_accents="ascii"),
              dict(lowercase=False, token_pattern=SINGLE_PATTERN)):
        _check_counts(mli, CountVectorizer(**o), docs, [], tmp_path, f"curated {o}")


def _code_points(assigned):
    """assigned: every code point Python's unicodedata assigns (private use and the Lo letters
    without a decomposition -- which all behave alike -- thinned); else every code point it leaves
    unassigned (Cn) in planes 0-3 and 14, where newer Unicode versions assign, and a sample of
    the others."""
    out = []
    for cp in range(0x110000):
        c = chr(cp)
        cat = unicodedata.category(c)
        if cat == "Cs" or (cat == "Cn") == assigned:
            continue
        if assigned:
            if cat == "Co" and cp % 97:
                continue
            if cat == "Lo" and not unicodedata.decomposition(c) and cp % 23:
                continue
        elif (cp >> 16) not in (0, 1, 2, 3, 14) and cp % 257:
            continue
        out.append(c)
    return out


CONTEXTS = ("q{c}z", "ΑΣ{c}Β", "Α{c}Σ", "ΑΣ{c}", "{c}{c}")  # as a word; final-sigma context after / before


def _code_point_docs(assigned, per_doc=25):
    cps = _code_points(assigned)
    return [" ".join(ctx.format(c=c) for c in cps[i:i + per_doc] for ctx in CONTEXTS)
            for i in range(0, len(cps), per_doc)]


# --------------------------------------------------------------------------------------------
# character analyzers: analyzer="char" (n-grams of the whole text) and "char_wb" (within words,
# padded with a space), after re.sub(r"\s\s+", " ", text) -- Python's white space
# --------------------------------------------------------------------------------------------

CHAR_ISOLATION = {
    "char_1_1": dict(analyzer="char"),
    "char_1_3": dict(analyzer="char", ngram_range=(1, 3)),
    "char_2_5_no_lower": dict(analyzer="char", ngram_range=(2, 5), lowercase=False),
    "char_1_2_unicode": dict(analyzer="char", ngram_range=(1, 2), strip_accents="unicode"),
    "char_1_2_ascii_no_lower": dict(analyzer="char", ngram_range=(1, 2), strip_accents="ascii", lowercase=False),
    "char_wb_1_3": dict(analyzer="char_wb", ngram_range=(1, 3)),
    "char_wb_2_5": dict(analyzer="char_wb", ngram_range=(2, 5)),
    "char_wb_3_5_unicode": dict(analyzer="char_wb", ngram_range=(3, 5), strip_accents="unicode"),
    "char_wb_4_6_ascii_no_lower": dict(analyzer="char_wb", ngram_range=(4, 6), strip_accents="ascii", lowercase=False),
    "char_wb_6_9": dict(analyzer="char_wb", ngram_range=(6, 9)),  # short words: counted once, whole
    # stop words and token patterns mean nothing to the character analyzers (scikit-learn ignores them)
    "char_wb_binary_stop_pattern": dict(analyzer="char_wb", ngram_range=(2, 3), binary=True, stop_words="english",
                                        token_pattern=r"\S+"),
}


def test_selfcheck_python_white_space_is_what_the_c_analyzer_knows():
    from mlinfer.export_pipeline import PY_SPACES
    assert {c for c in range(sys.maxunicode + 1) if chr(c).isspace()} == set(PY_SPACES)
    assert {c for c in range(sys.maxunicode + 1) if re.match(r"\s", chr(c))} == set(PY_SPACES)


@pytest.mark.parametrize("name", list(CHAR_ISOLATION))
def test_char_counts_corpus(mli, tmp_path, name):
    c = corpus()
    _check_counts(mli, CountVectorizer(**CHAR_ISOLATION[name]), c.train[:300], c.test, tmp_path, name)


@pytest.mark.parametrize("name", ["char_1_3", "char_wb_2_5", "char_1_2_unicode", "char_wb_3_5_unicode"])
def test_char_counts_random_code_points(mli, tmp_path, name):
    s = stress()
    _check_counts(mli, CountVectorizer(**CHAR_ISOLATION[name]), s.train, s.test, tmp_path, f"random code points {name}")


def _space_docs():
    """Every white-space character of Python alone, doubled, in mixed runs of 2 and 3, leading
    and trailing, between words and next to one-letter words (char_wb pads those)."""
    from mlinfer.export_pipeline import PY_SPACES
    sp = [chr(c) for c in sorted(PY_SPACES)] + ["\u180e", "\u200b", "\ufeff"]  # the last three are not spaces
    rng = np.random.default_rng(SEED + 11)
    docs = []
    for a in sp:
        b = sp[int(rng.integers(len(sp)))]
        c = sp[int(rng.integers(len(sp)))]
        docs += [f"ab{a}cd", f"ab{a}{a}cd", f"{a}x{b}y{c}", f"{a}{b}Ab{b}{c}{a}cD{a}", f"q{a}{b}{c}r", f"{a}", f"{a}{b}",
                 f"é{a}É{b}{b}ﬁ{c}"]
    return docs


@pytest.mark.parametrize("o", [dict(analyzer="char", ngram_range=(1, 3)),
                               dict(analyzer="char", ngram_range=(1, 2), strip_accents="unicode"),
                               dict(analyzer="char_wb", ngram_range=(1, 4), lowercase=False),
                               dict(analyzer="char_wb", ngram_range=(2, 3), strip_accents="unicode")],
                         ids=["char", "char_unicode", "char_wb_no_lower", "char_wb_unicode"])
def test_char_counts_white_space(mli, tmp_path, o):
    """NFKD makes spaces of some (U+00A0, U+2000..U+200A): the collapse sees them after it."""
    _check_counts(mli, CountVectorizer(**o), _space_docs(), [], tmp_path, f"white space {o}")


@pytest.mark.parametrize("o", [dict(analyzer="char", ngram_range=(1, 2)),
                               dict(analyzer="char", strip_accents="unicode"),
                               dict(analyzer="char", strip_accents="ascii", lowercase=False),
                               dict(analyzer="char_wb", ngram_range=(1, 3))],
                         ids=["char_12", "char_unicode", "char_ascii_no_lower", "char_wb_13"])
def test_char_counts_every_assigned_code_point(mli, tmp_path, o):
    """Each code point Python assigns, in the contexts of the word tests (lower case, NFKD of
    every character, the final sigma next to each)."""
    docs = [d.replace("\0", "") for d in _code_point_docs(True)]  # test_char_nul_in_vocabulary_refused
    _check_counts(mli, CountVectorizer(**o), docs, [], tmp_path, f"every assigned code point {o}", distinct=False)


def test_char_nul_in_vocabulary_refused(mli, tmp_path):
    """A NUL in a training document makes a character n-gram the format's strings cannot hold:
    refused at export, naming the term; NUL in documents at prediction is a character as any."""
    pipe = Pipeline([("vec", CountVectorizer(analyzer="char")), ("reg", Ridge())]).fit(["ab\0c", "abc"], [0.0, 1.0])
    with pytest.raises(mli.UnsupportedModelError, match=r"'\\x00' contains NUL"):
        mli.export(pipe, str(tmp_path / "m.mli"))
    pipe = Pipeline([("vec", CountVectorizer(analyzer="char_wb", ngram_range=(1, 3))), ("reg", Ridge())]).fit(
        ["abc", "bcd x"], [0.0, 1.0])
    m = roundtrip(mli, pipe, tmp_path)
    docs = ["a\0bc", "\0", "x\0 bcd"]
    np.testing.assert_allclose(m.predict(docs), pipe.predict(docs), rtol=1e-6)


def test_char_counts_code_points_unassigned_in_python(mli, tmp_path):
    _check_counts(mli, CountVectorizer(analyzer="char", strip_accents="unicode"), _code_point_docs(False, 50), [],
                  tmp_path, "code points unassigned in Python, char", distinct=False)


@pytest.mark.parametrize("vec", ["char_wb", "char", "union"])
def test_char_tfidf_logistic(mli, tmp_path, vec):
    from sklearn.pipeline import FeatureUnion
    c = corpus()
    if vec == "union":
        v = FeatureUnion([("w", TfidfVectorizer()), ("c", TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 4),
                                                                          sublinear_tf=True))])
    else:
        v = TfidfVectorizer(analyzer=vec, ngram_range=(1, 4) if vec == "char" else (3, 5))
    pipe = Pipeline([("vec", v), ("clf", LogisticRegression(max_iter=300))]).fit(c.train, c.y3_train)
    check_classifier(mli, pipe, tmp_path, c.test, f"{vec} tf-idf LogisticRegression")


# --------------------------------------------------------------------------------------------
# HashingVectorizer: a term's column is |murmurhash3_32(UTF-8, seed 0)| mod n_features, its
# sign the hash's with alternate_sign; collisions summed (to 0 too: still an entry, which
# binary=True makes 1)
# --------------------------------------------------------------------------------------------

HASHING = {
    "default": {},
    "no_alt_no_norm": dict(alternate_sign=False, norm=None),
    "alt_no_norm_small": dict(n_features=2 ** 4, norm=None),  # collisions, sums of 0
    "binary_alt_small_l1": dict(n_features=2 ** 3, binary=True, norm="l1"),  # 0 sums become 1
    "ngram12_stop_unicode": dict(ngram_range=(1, 2), stop_words="english", strip_accents="unicode", n_features=2 ** 12),
    "char_wb_24": dict(analyzer="char_wb", ngram_range=(2, 4), n_features=2 ** 16, norm=None),
    "char_13_ascii_no_lower": dict(analyzer="char", ngram_range=(1, 3), strip_accents="ascii", lowercase=False),
    "single_char_2e21": dict(token_pattern=SINGLE_PATTERN, n_features=2 ** 21, norm=None),
}


def _hashed(vec, docs, k=None):
    """vec + LinearRegression with weights +-j/64 (j distinct in 1..2n) on its n columns, or a
    k-column target (LinearRegression with 2-D coef_)."""
    from sklearn.feature_extraction.text import HashingVectorizer  # noqa: F401 -- vec is one
    n = vec.n_features
    rng = np.random.default_rng(SEED + n)
    w = rng.permutation(np.arange(1, 2 * n + 1))[:n] / 64.0 * rng.choice([-1.0, 1.0], n)
    reg = LinearRegression().fit(vec.transform(docs[:5]), np.arange(5.0))
    reg.coef_, reg.intercept_ = w, 0.0
    return Pipeline([("vec", vec), ("reg", reg)]), w


@pytest.mark.parametrize("name", list(HASHING))
def test_hashing_counts(mli, tmp_path, name):
    from sklearn.feature_extraction.text import HashingVectorizer
    c, st = corpus(), stress()
    docs = list(c.train[:300]) + list(c.test[:200]) + list(st.test[:100])
    vec = HashingVectorizer(**HASHING[name])
    pipe, w = _hashed(vec, docs)
    m = roundtrip(mli, pipe, tmp_path)
    scale = np.asarray(abs(vec.transform(docs)) @ np.abs(w)).ravel()
    compare(f"hashing {name}", pipe.predict(docs), m.predict(docs), docs, rtol=1e-6, atol=1e-9, scale=scale,
            ref_fn=pipe.predict, got_fn=m.predict, analyzer=vec.build_analyzer())


def test_hashing_every_assigned_code_point(mli, tmp_path):
    """Each code point alone (its UTF-8 hashed: one to four bytes, murmur3's tails), and in the
    word contexts."""
    from sklearn.feature_extraction.text import HashingVectorizer
    docs = [d.replace("\0", "") for d in _code_point_docs(True)]
    vec = HashingVectorizer(analyzer="char", ngram_range=(1, 2), n_features=2 ** 20, norm=None)
    pipe, w = _hashed(vec, docs)
    m = roundtrip(mli, pipe, tmp_path)
    scale = np.asarray(abs(vec.transform(docs)) @ np.abs(w)).ravel()
    compare("hashing every code point", pipe.predict(docs), m.predict(docs), docs, rtol=1e-6, atol=1e-9, scale=scale)


@pytest.mark.parametrize("case", ["tfidf_logistic", "l2_hash_tfidf_l2_sgd", "multinomialnb", "svd",
                                  "binarized_hash_sublinear_tfidf"])
def test_hashing_pipelines(mli, tmp_path, case):
    from sklearn.decomposition import TruncatedSVD
    from sklearn.feature_extraction.text import HashingVectorizer
    from sklearn.naive_bayes import MultinomialNB
    c = corpus()
    if case == "tfidf_logistic":
        steps = [HashingVectorizer(n_features=2 ** 18, norm=None), TfidfTransformer(sublinear_tf=False),
                 LogisticRegression(max_iter=300)]
    elif case == "l2_hash_tfidf_l2_sgd":  # the hasher's l2 norm then idf and l2: the first norm drops out
        steps = [HashingVectorizer(n_features=2 ** 16), TfidfTransformer(), SGDClassifier(loss="log_loss", random_state=0)]
    elif case == "multinomialnb":
        steps = [HashingVectorizer(alternate_sign=False, n_features=2 ** 15), MultinomialNB(alpha=0.1)]
    elif case == "binarized_hash_sublinear_tfidf":  # Binarizer drops the hasher's norm: a sublinear tf-idf may follow
        from sklearn.preprocessing import Binarizer
        steps = [HashingVectorizer(alternate_sign=False, n_features=2 ** 14), Binarizer(),
                 TfidfTransformer(sublinear_tf=True, norm=None), LogisticRegression(max_iter=300)]
    else:
        steps = [HashingVectorizer(n_features=2 ** 12), TruncatedSVD(20, random_state=0), LogisticRegression(max_iter=300)]
    pipe = Pipeline([(f"s{i}", s) for i, s in enumerate(steps)]).fit(c.train, c.y3_train)
    check_classifier(mli, pipe, tmp_path, c.test, f"hashing {case}")


@pytest.mark.parametrize("case", ["sublinear_alt", "l2_then_no_norm", "l2_then_sublinear", "bernoulli_alt",
                                  "too_many_columns"])
def test_hashing_refusals(mli, tmp_path, case):
    from sklearn.feature_extraction.text import HashingVectorizer
    from sklearn.naive_bayes import BernoulliNB
    c = corpus()
    steps, what = {
        "sublinear_alt": ([HashingVectorizer(norm=None), TfidfTransformer(sublinear_tf=True)], "sublinear_tf after"),
        "l2_then_no_norm": ([HashingVectorizer(), TfidfTransformer(norm=None)], "norm=None after a HashingVectorizer"),
        "l2_then_sublinear": ([HashingVectorizer(alternate_sign=False), TfidfTransformer(sublinear_tf=True)],
                              "sublinear_tf after a HashingVectorizer with norm='l2'"),
        "bernoulli_alt": ([HashingVectorizer()], "BernoulliNB is not supported: binarize after a HashingVectorizer"),
        "too_many_columns": ([HashingVectorizer(n_features=2 ** 24 + 1)], "n_features=16777217"),
    }[case]
    # fitted step by step (the hashed sums' log is NaN where scikit-learn's own fit would fail); the
    # refusal comes before the model is read: a Ridge of one column stands in
    fitted, X = [], list(c.train[:200])
    for i, st in enumerate(steps):
        fitted.append(st.fit(X) if not isinstance(st, HashingVectorizer) else st)
        if not (case == "sublinear_alt" and i == len(steps) - 1):
            X = fitted[-1].transform(X)
    if case == "bernoulli_alt":
        model = BernoulliNB().fit(X, c.y3_train[:200])
    else:
        model = Ridge().fit(np.eye(2)[:, :1], [0.0, 1.0])
    pipe = Pipeline([(f"s{i}", st) for i, st in enumerate(fitted)] + [("m", model)])
    with pytest.raises(mli.UnsupportedModelError, match=re.escape(what)):
        mli.export(pipe, str(tmp_path / "m.mli"))


def test_char_model_needs_format_1_8(mli, tmp_path):
    """A file with a character analyzer says format 1.8 (an older reader names the version it
    needs rather than misreading the op); a word analyzer's stays 1.7."""
    import struct
    c = corpus()
    for analyzer, minor in (("word", 7), ("char_wb", 8)):
        pipe = Pipeline([("vec", CountVectorizer(analyzer=analyzer)), ("reg", Ridge())]).fit(c.train[:50],
                                                                                           np.arange(50.0))
        path = tmp_path / f"{analyzer}.mli"
        mli.export(pipe, str(path))
        head = path.read_bytes()[:12]
        assert struct.unpack("<H", head[10:12])[0] == minor, analyzer


@pytest.mark.parametrize("o", [dict(token_pattern=SINGLE_PATTERN), dict(token_pattern=SINGLE_PATTERN, lowercase=False),
                               dict(token_pattern=SINGLE_PATTERN, strip_accents="unicode"),
                               dict(token_pattern=SINGLE_PATTERN, strip_accents="ascii"),
                               dict(strip_accents="unicode", lowercase=False)],
                         ids=["lower", "no_lower", "lower_unicode", "lower_ascii", "unicode_no_lower_default_pattern"])
def test_token_counts_every_assigned_code_point(mli, tmp_path, o):
    """Each code point Python assigns, as a word and as the context of a capital sigma."""
    _check_counts(mli, CountVectorizer(**o), _code_point_docs(True), [], tmp_path, f"every assigned code point {o}",
                  distinct=False)


@pytest.mark.parametrize("o", [dict(token_pattern=SINGLE_PATTERN),
                               dict(token_pattern=SINGLE_PATTERN, strip_accents="unicode"),
                               dict(lowercase=False, strip_accents="ascii")],
                         ids=["lower", "lower_unicode", "no_lower_ascii"])
def test_token_counts_code_points_unassigned_in_python(mli, tmp_path, o):
    """Code points Python's unicodedata (the exporter's) does not assign -- some of which ICU's
    newer Unicode does: Python treats them as unassigned (not \\w, not cased, not case-ignorable,
    no case mapping, no decomposition), so must libmlinfer."""
    _check_counts(mli, CountVectorizer(**o), _code_point_docs(False, 50), [], tmp_path,
                  f"code points unassigned in Python {o}", distinct=False)


def test_final_sigma_next_to_characters_newer_than_python(mli, tmp_path):
    """Regression examples: characters of Unicode 15.0 (ICU 72) that Python 3.11's unicodedata 14.0
    does not know; Python's lower() sees them as neither cased nor case-ignorable."""
    docs = ["ΑΣ\U00011F00Β", "A\U0001E030Σ", "ΑΣ\U0001E08FΒ", "Α\U0001E030Σ", "ΑΣ\U0001E030Β", "q\U00011F00q",
            "ΑΣ\U0001E030", "ΟΔΟΣ\U0001E08F.Α", "λΣ\U00011F00", "İ\U0001E030Σ"]
    base = ["ας ασ α σ ς β q a b ab i"]
    _check_counts(mli, CountVectorizer(token_pattern=SINGLE_PATTERN), base + docs, [], tmp_path,
                  "final sigma next to newer characters")


SIGMA_POOL = {
    "sigma": ["Σ"] * 6 + ["σ", "ς"],
    "cased": list("AΑaβǅİªⓐⒶᵃ") + ["\u0345", "\u02b0"],  # ª ⓐ Ⓐ ᵃ ʰ: cased without being Lu/Ll/Lt; ʰ ͅ also ignorable
    "ignorable": list("'.:·’\u00ad\u0301\u20dd\u200dˆ^`¨ーـ︓：׳‧\u0387﹒．＇‘\u2024\u00b8\u034f\ufe0f"),
    "other": list("1 -_中,;!٣") + ["\U0001E030", "\U00011F00", "\u0378", "\U000E0001"],  # 2 newer than Python, 2 Cn/Cf
}


@pytest.mark.parametrize("o", [dict(token_pattern=SINGLE_PATTERN), {}, dict(token_pattern=SINGLE_PATTERN,
                                                                            strip_accents="unicode")],
                         ids=["single_char", "default", "single_char_unicode"])
def test_token_counts_final_sigma_fuzz(mli, tmp_path, o):
    """Random strings of capital sigma, cased letters (some cased but not Lu/Ll/Lt, some cased and
    case-ignorable at once), case-ignorable characters and others: Python's Final_Sigma context
    over runs of several case-ignorables, in both directions."""
    rng = np.random.default_rng(SEED + 11)
    groups = list(SIGMA_POOL)
    by = code_points_by_category()
    docs = []
    for _ in range(3000):
        parts = []
        for _ in range(int(rng.integers(1, 5))):
            w = []
            for _ in range(int(rng.integers(2, 9))):
                if rng.random() < 0.05:
                    cat = rng.choice(sorted(by))
                    w.append(chr(int(by[cat][rng.integers(len(by[cat]))])))
                else:
                    g = SIGMA_POOL[groups[rng.choice(len(groups), p=[0.35, 0.25, 0.3, 0.1])]]
                    w.append(g[rng.integers(len(g))])
            parts.append("".join(w))
        docs.append(" ".join(parts))
    _check_counts(mli, CountVectorizer(**o), docs, [], tmp_path, f"final sigma fuzz {o}")


@pytest.mark.parametrize("o", [{}, dict(strip_accents="unicode"), dict(strip_accents="ascii", ngram_range=(1, 2))],
                         ids=["lower", "lower_unicode", "lower_ascii_ngram12"])
def test_token_counts_growing_buffers(mli, tmp_path, o):
    """Short documents, then long ones whose lower case (İ -> i + U+0307) or NFKD (ﷺ -> 18 code
    points, ㍿ -> 4) is longer than the document, then short ones again."""
    docs = ["x", "ab", "İ" * 20000 + " ΑΣ café", "ab İstanbul", "ﷺ" * 3000 + " naïve", "㍿" * 3000 + " ΑΣ",
            "ǅ" * 5000 + "Σ", "ΐ" * 4000, "ab ǅemal", " ".join(["İİ ﷺ ǅ ΑΣ.Β"] * 3000), "ab", ""]
    _check_counts(mli, CountVectorizer(**o), docs, [], tmp_path, f"growing buffers {o}")


# --------------------------------------------------------------------------------------------
# TfidfVectorizer / CountVectorizer / TfidfTransformer + linear models
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", list(TFIDF_OPTIONS))
def test_tfidf_logistic_3class(mli, tmp_path, name):
    c = corpus()
    pipe = Pipeline([("vec", TfidfVectorizer(**_opts(TFIDF_OPTIONS[name]))),
                     ("clf", LogisticRegression(max_iter=300))]).fit(c.train, c.y3_train)
    check_classifier(mli, pipe, tmp_path, c.test, f"tfidf[{name}] + LogisticRegression(3)")


@pytest.mark.parametrize("name", ["default", "no_lower", "unicode", "ngram13_stop_en", "single_char", "norm_none",
                                  "float32", "vocabulary"])
def test_tfidf_logistic_binary_string_labels(mli, tmp_path, name):
    c = corpus()
    y = _str_labels((c.y3_train == 0).astype(int))
    pipe = Pipeline([("vec", TfidfVectorizer(**_opts(TFIDF_OPTIONS[name]))),
                     ("clf", LogisticRegression(max_iter=300))]).fit(c.train, y)
    check_classifier(mli, pipe, tmp_path, c.test, f"tfidf[{name}] + LogisticRegression(binary)")


@pytest.mark.parametrize("name", list(COUNT_OPTIONS))
def test_count_logistic(mli, tmp_path, name):
    c = corpus()
    pipe = Pipeline([("vec", CountVectorizer(**_opts(COUNT_OPTIONS[name]))),
                     ("clf", LogisticRegression(max_iter=500))]).fit(c.train, c.y3_train)
    check_classifier(mli, pipe, tmp_path, c.test, f"count[{name}] + LogisticRegression(3)")


@pytest.mark.parametrize("name", list(TRANSFORMER_OPTIONS))
def test_count_tfidftransformer_logistic(mli, tmp_path, name):
    c = corpus()
    vo, to = TRANSFORMER_OPTIONS[name]
    pipe = Pipeline([("vec", CountVectorizer(**vo)), ("tfidf", TfidfTransformer(**to)),
                     ("clf", LogisticRegression(max_iter=300))]).fit(c.train, c.y3_train)
    check_classifier(mli, pipe, tmp_path, c.test, f"count+TfidfTransformer[{name}] + LogisticRegression(3)")


CLASSIFIERS = {
    "sgd_log_binary": (lambda: SGDClassifier(loss="log_loss", random_state=0), 2),
    "sgd_log_3": (lambda: SGDClassifier(loss="log_loss", random_state=0), 3),
    "sgd_hinge_3": (lambda: SGDClassifier(loss="hinge", random_state=0), 3),
    "sgd_hinge_binary": (lambda: SGDClassifier(loss="hinge", random_state=0), 2),
    "linearsvc_3": (lambda: LinearSVC(), 3),
    "linearsvc_binary": (lambda: LinearSVC(), 2),
    "ridgeclassifier_3": (lambda: RidgeClassifier(), 3),
    "ridgeclassifier_binary": (lambda: RidgeClassifier(), 2),
}


@pytest.mark.parametrize("vec_name", ["default", "ngram12"])
@pytest.mark.parametrize("clf_name", list(CLASSIFIERS))
def test_tfidf_other_classifiers(mli, tmp_path, clf_name, vec_name):
    c = corpus()
    make, k = CLASSIFIERS[clf_name]
    y = c.y3_train if k == 3 else (c.y3_train == 1).astype(int)
    pipe = Pipeline([("vec", TfidfVectorizer(**TFIDF_OPTIONS[vec_name])), ("clf", make())]).fit(c.train, y)
    check_classifier(mli, pipe, tmp_path, c.test, f"tfidf[{vec_name}] + {clf_name}")


@pytest.mark.parametrize("reg_name", ["ridge", "linear"])
@pytest.mark.parametrize("vec", ["tfidf", "count_ngram12", "count_tfidftransformer"])
def test_regression(mli, tmp_path, reg_name, vec):
    c = corpus()
    steps = {"tfidf": [("vec", TfidfVectorizer(sublinear_tf=True))],
             "count_ngram12": [("vec", CountVectorizer(ngram_range=(1, 2), min_df=2))],
             "count_tfidftransformer": [("vec", CountVectorizer()), ("tfidf", TfidfTransformer())]}[vec]
    reg = Ridge(alpha=1.0) if reg_name == "ridge" else LinearRegression()
    y = c.y_reg_train
    pipe = Pipeline(steps + [("reg", reg)]).fit(c.train, y)
    m = roundtrip(mli, pipe, tmp_path)
    compare(f"{vec} + {reg_name} predict", pipe.predict(c.test), m.predict(c.test), c.test, rtol=RTOL,
            atol=1e-6 * np.abs(y).max(), ref_fn=pipe.predict, got_fn=m.predict,
            analyzer=pipe.steps[0][1].build_analyzer())


# --------------------------------------------------------------------------------------------
# input forms, ColumnTransformer, input errors
# --------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def fitted_default():
    c = corpus()
    return Pipeline([("vec", TfidfVectorizer(ngram_range=(1, 2))),
                     ("clf", LogisticRegression(max_iter=300))]).fit(c.train, c.y3_train)


@pytest.mark.parametrize("form", ["list", "object_array", "series", "series_shuffled_index", "single_doc",
                                  "unicode_array", "series_string_dtype"])
def test_input_forms(mli, tmp_path, fitted_default, form):
    c = corpus()
    docs = c.test[:200] + c.test[-18:]
    m = roundtrip(mli, fitted_default, tmp_path)
    if form == "list":
        X = list(docs)
    elif form == "object_array":
        X = np.array(docs, dtype=object)
    elif form == "series":
        X = pd.Series(docs)
    elif form == "series_shuffled_index":
        X = pd.Series(docs, index=np.random.default_rng(0).permutation(len(docs)) * 3 + 7)
    elif form == "unicode_array":
        X = np.array(docs)
    elif form == "series_string_dtype":
        X = pd.Series(docs, dtype="string")
    else:
        docs = [docs[13]]
        X = docs
    ref = fitted_default.decision_function(docs)
    got = m.decision_function(X)
    compare(f"input {form} decision_function", ref, got, docs)
    compare(f"input {form} predict_proba", fitted_default.predict_proba(docs), m.predict_proba(X), docs)
    assert list(m.predict(X)) == list(fitted_default.predict(docs))
    if form not in ("list", "single_doc"):
        np.testing.assert_array_equal(got, m.decision_function(list(docs)))


def test_concurrent_python_threads(mli, tmp_path, fitted_default):
    """One Model shared by Python threads scoring different documents at once."""
    from concurrent.futures import ThreadPoolExecutor
    c = corpus()
    m = roundtrip(mli, fitted_default, tmp_path)
    sets = [c.test[i::6] for i in range(6)]
    refs = [m.decision_function(s) for s in sets]

    def job(i):
        return all(np.array_equal(m.decision_function(sets[i]), refs[i]) for _ in range(5))

    with ThreadPoolExecutor(6) as ex:
        assert all(ex.map(job, range(6)))
    for s_, r in zip(sets, refs):
        compare("threads", fitted_default.decision_function(s_), r, s_)


def _frame(docs, seed):
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"text": list(docs), "a": rng.normal(size=len(docs)), "b": rng.normal(size=len(docs)) * 10})


@pytest.mark.parametrize("k", [2, 3])
def test_column_transformer_dataframe(mli, tmp_path, k):
    c = corpus()
    tr, te = _frame(c.train, 1), _frame(c.test, 2)
    y = c.y3_train if k == 3 else (c.y3_train == 2).astype(int)
    y = np.where(tr["a"].to_numpy() > 1.0, 0, y)  # the numeric columns matter
    pipe = Pipeline([("ct", ColumnTransformer([("txt", TfidfVectorizer(), "text"),
                                               ("num", StandardScaler(), ["a", "b"])])),
                     ("clf", LogisticRegression(max_iter=300))]).fit(tr, y)
    m = roundtrip(mli, pipe, tmp_path)
    docs = list(te["text"])
    dec = pipe.decision_function(te)
    compare(f"ColumnTransformer({k}) decision_function", dec, m.decision_function(te), docs)
    compare(f"ColumnTransformer({k}) predict_proba", pipe.predict_proba(te), m.predict_proba(te), docs)
    check_labels(f"ColumnTransformer({k}) predict", dec, pipe.predict(te), m.predict(te), docs)


@pytest.mark.parametrize("bad", [None, float("nan"), np.nan, pd.NA], ids=["None", "float_nan", "np_nan", "pd_NA"])
@pytest.mark.parametrize("form", ["list", "object_array", "series", "series_string_dtype"])
def test_input_error_names_row(mli, tmp_path, fitted_default, bad, form):
    """A missing document (scikit-learn raises on each of these: None/NaN/pd.NA have no .lower())."""
    c = corpus()
    m = roundtrip(mli, fitted_default, tmp_path)
    docs = list(c.test[:10])
    docs[3] = bad
    with pytest.raises(Exception):
        fitted_default.predict(docs)
    X = (docs if form == "list" else np.array(docs, dtype=object) if form == "object_array"
         else pd.Series(docs) if form == "series" else pd.Series(docs, dtype="string"))
    for fn in (m.predict, m.decision_function, m.predict_proba):
        with pytest.raises(mli.InputError, match=r"\brow 3\b") as e:
            fn(X)
        assert isinstance(e.value, ValueError)


def test_column_transformer_two_text_columns(mli, tmp_path):
    """Two documents per row: TfidfVectorizer on one column, CountVectorizer(1, 2) on another."""
    c = corpus()
    tr = pd.DataFrame({"text": c.train, "title": c.train[::-1]})
    te = pd.DataFrame({"text": c.test, "title": c.test[::-1]})
    pipe = Pipeline([("ct", ColumnTransformer([("t1", TfidfVectorizer(), "text"),
                                               ("t2", TfidfVectorizer(ngram_range=(1, 2), strip_accents="unicode"),
                                                "title")])),
                     ("clf", LogisticRegression(max_iter=300))]).fit(tr, c.y3_train)
    m = roundtrip(mli, pipe, tmp_path)
    docs = [f"text={a!r} title={b!r}" for a, b in zip(te["text"], te["title"])]
    dec = pipe.decision_function(te)
    compare("two text columns decision_function", dec, m.decision_function(te), docs)
    check_labels("two text columns predict", dec, pipe.predict(te), m.predict(te), docs)


def test_input_error_dataframe_names_row(mli, tmp_path):
    c = corpus()
    tr = _frame(c.train, 1)
    pipe = Pipeline([("ct", ColumnTransformer([("txt", TfidfVectorizer(), "text"),
                                               ("num", StandardScaler(), ["a", "b"])])),
                     ("clf", LogisticRegression(max_iter=300))]).fit(tr, c.y3_train)
    m = roundtrip(mli, pipe, tmp_path)
    te = _frame(c.test[:8], 2)
    te["text"] = te["text"].astype(object)
    te.loc[5, "text"] = None
    with pytest.raises(mli.InputError, match=r"\brow 5\b"):
        m.predict(te)


def test_lone_surrogate_is_input_error_naming_row(mli, tmp_path, fitted_default):
    """A Python str may hold a lone surrogate (no UTF-8 for it); scikit-learn scores it (a non-word
    character). libmlinfer may refuse it, as an InputError that names the row."""
    m = roundtrip(mli, fitted_default, tmp_path)
    docs = ["café", "ok", "x", "a\ud800b quick", "fox"]
    with pytest.raises(mli.InputError, match=r"\brow 3\b"):
        m.predict(docs)


@pytest.mark.parametrize("n", [30000, 65537])
def test_very_long_tokens(mli, tmp_path, n):
    """Tokens of tens of thousands of bytes in the vocabulary (one document with a long run of word
    characters is enough under min_df=1). Export either refuses them (UnsupportedModelError) or
    writes a file that loads and scores as scikit-learn does -- never a file load rejects."""
    big = "é" * n  # 2 bytes each in UTF-8
    train = ["a b " + big, "yy zz", "zz yy", "foo bar", "ΑΣ" * (n // 2), "x" * n + " yy"]
    pipe = Pipeline([("v", TfidfVectorizer(ngram_range=(1, 2))), ("c", LogisticRegression())]).fit(
        train, [0, 1, 0, 1, 0, 1])
    path = str(tmp_path / "long.mli")
    try:
        mli.export(pipe, path)
    except mli.UnsupportedModelError:
        return
    m = mli.load(path)
    test = train + [big.upper(), "yy " * 300000, "ΑΣ" * (n // 2) + ".", "", "x" * (n - 1), "x" * (n + 1)]
    compare("very long tokens decision_function", pipe.decision_function(test), m.decision_function(test), test)


def test_embedded_nul(mli, tmp_path, fitted_default):
    """A str may contain U+0000; scikit-learn treats it as a non-word character. The C side must
    not stop at it (length-delimited UTF-8, not strlen)."""
    m = roundtrip(mli, fitted_default, tmp_path)
    docs = ["café\x00naïve the quick brown fox", "\x00", "a\x00b ΟΔΟΣ\x00Σ", "quick\x00"]
    compare("embedded NUL decision_function", fitted_default.decision_function(docs), m.decision_function(docs), docs)


def test_truncated_svd(mli, tmp_path):
    """TfidfVectorizer + TruncatedSVD + LogisticRegression (the branch folds the SVD into the op)."""
    from sklearn.decomposition import TruncatedSVD
    c = corpus()
    pipe = Pipeline([("vec", TfidfVectorizer(ngram_range=(1, 2))), ("svd", TruncatedSVD(20, random_state=0)),
                     ("clf", LogisticRegression(max_iter=300))]).fit(c.train, c.y3_train)
    check_classifier(mli, pipe, tmp_path, c.test, "tfidf + TruncatedSVD + LogisticRegression(3)")


def test_feature_union_of_vectorizers(mli, tmp_path):
    """FeatureUnion of a word TfidfVectorizer and a CountVectorizer of bigrams (transformer weights)."""
    from sklearn.pipeline import FeatureUnion
    c = corpus()
    fu = FeatureUnion([("a", TfidfVectorizer()), ("b", CountVectorizer(ngram_range=(2, 2), strip_accents="ascii"))],
                      transformer_weights={"a": 1.0, "b": 0.25})
    pipe = Pipeline([("fu", fu), ("clf", LogisticRegression(max_iter=300))]).fit(c.train, c.y3_train)
    check_classifier(mli, pipe, tmp_path, c.test, "FeatureUnion(tfidf, count bigrams) + LogisticRegression(3)")


def test_one_document_at_a_time_and_threads(mli, tmp_path, fitted_default):
    c = corpus()
    docs = c.test[:150] + c.test[-18:]
    m = roundtrip(mli, fitted_default, tmp_path)
    batch = m.decision_function(docs)
    one = np.vstack([m.decision_function([d]) for d in docs])
    np.testing.assert_array_equal(one, batch)
    n = mli.get_num_threads()
    try:
        mli.set_num_threads(4)
        np.testing.assert_array_equal(m.decision_function(docs * 20), np.vstack([batch] * 20))
    finally:
        mli.set_num_threads(n)


# --------------------------------------------------------------------------------------------
# refusals at export
# --------------------------------------------------------------------------------------------

def _refusal_cases(tmp_path):
    c = corpus()
    files = []
    for i, d in enumerate(c.train[:30]):
        p = tmp_path / f"doc{i}.txt"
        p.write_text(d or "empty", encoding="utf-8")
        files.append(str(p))
    y = c.y3_train[:30]
    texts = c.train[:30]
    return {
        "analyzer_callable": (TfidfVectorizer(analyzer=str.split), texts, "analyzer"),
        "tokenizer_callable": (TfidfVectorizer(tokenizer=str.split, token_pattern=None), texts, "tokenizer"),
        "preprocessor_callable": (CountVectorizer(preprocessor=str.upper), texts, "preprocessor"),
        "token_pattern_az": (TfidfVectorizer(token_pattern=r"[a-z]+"), texts, "token_pattern"),
        "token_pattern_nonspace": (CountVectorizer(token_pattern=r"\S+"), texts, "token_pattern"),
        "token_pattern_3chars": (TfidfVectorizer(token_pattern=r"(?u)\b\w\w\w+\b"), texts, "token_pattern"),
        "input_filename": (TfidfVectorizer(input="filename"), files, "input"),
        "input_file": (CountVectorizer(input="file"), [io.StringIO(t) for t in texts], "input"),
        "strip_accents_callable": (TfidfVectorizer(strip_accents=str.lower), texts, "strip_accents"),
    }, y


REFUSALS = ["analyzer_callable", "tokenizer_callable", "preprocessor_callable",
            "token_pattern_az", "token_pattern_nonspace", "token_pattern_3chars", "input_filename", "input_file",
            "strip_accents_callable"]


@pytest.mark.parametrize("case", REFUSALS)
def test_refused_vectorizer_option(mli, tmp_path, case):
    cases, y = _refusal_cases(tmp_path)
    vec, X, option = cases[case]
    pipe = Pipeline([("vec", vec), ("clf", LogisticRegression(max_iter=100))]).fit(X, y)
    with pytest.raises(mli.UnsupportedModelError, match=re.escape(option)):
        mli.export(pipe, str(tmp_path / "r.mli"))


def test_refused_mlp(mli, tmp_path):
    """An MLP would need every column of the vocabulary (tree models take the ones they split
    on: tests/python/test_text_trees.py)."""
    c = corpus()
    clf = MLPClassifier(hidden_layer_sizes=(3,), max_iter=5, random_state=0)
    pipe = Pipeline([("vec", TfidfVectorizer()), ("clf", clf)]).fit(c.train[:100], c.y3_train[:100])
    with pytest.raises(mli.UnsupportedModelError, match="MLPClassifier"):
        mli.export(pipe, str(tmp_path / "r.mli"))
