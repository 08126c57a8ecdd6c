#!/usr/bin/env python3
"""bench_text.py -- text models (format 1.7; 1.8: character analyzers): scikit-learn's
vectorizers before a linear model or naive Bayes, on a deterministic synthetic corpus (no network). mlinfer (the exported .mli)
against the fitted scikit-learn pipeline and ONNX Runtime on skl2onnx's conversion, in the same
run, on the same documents:

  * corpus: a Zipfian vocabulary of ~30 000 word types (mostly ASCII lowercase words, some
    capitalised, some accented Latin, a few Greek / Cyrillic / CJK tokens, numbers, English stop
    words among the most frequent), punctuation; documents of 30-400 words; 4 classes, each
    boosting its own 5 % of the vocabulary; 20 000 documents to fit, another 10 000 to score;
  * pipelines: (a) TfidfVectorizer() + LogisticRegression; (b) TfidfVectorizer(ngram_range=(1, 2),
    sublinear_tf=True, min_df=2) + LinearSVC (decision_function); (c) CountVectorizer(
    stop_words="english") + TfidfTransformer() + SGDClassifier(loss="log_loss"); (d) TfidfVectorizer()
    + MultinomialNB; (e) TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 4), min_df=2) +
    LogisticRegression; (f) HashingVectorizer(n_features=2**20, norm=None) + TfidfTransformer() +
    SGDClassifier(loss="log_loss"); (g) TfidfVectorizer(min_df=2) + RandomForestClassifier(100
    trees, depth 30); (h) TfidfVectorizer(min_df=2) + XGBClassifier(100 rounds x 4 classes, depth 6)
    (format 1.9: trees after the vectorizer; not in the default --pipelines);
  * correctness before timing: mlinfer against scikit-learn on all scored documents (max |diff|,
    labels equal); ONNX Runtime against scikit-learn likewise where skl2onnx converts;
  * batch: predict_proba (decision_function for (b)) on the 10 000 documents as a list of str,
    at 1 and 2 threads (mlinfer set_num_threads; scikit-learn threadpoolctl; ONNX Runtime
    intra_op_num_threads), and where mlinfer's time goes (list -> columns in Python: mlinfer's
    columns_for, timed alone; the rest is the C call);
  * ONNX Runtime: converted with locale C.UTF-8 (the default en_US.UTF-8 is often not installed:
    no session) and a Unicode token expression (skl2onnx's default '[a-zA-Z0-9_]+' splits
    non-ASCII words; its agreement is reported, on 2 000 documents, not timed); fed in chunks,
    its TfIdfVectorizer's output being dense (ort_chunk). skl2onnx 1.20 computes sublinear_tf
    as log(tf + 1) (scikit-learn: 1 + log(tf)), so pipeline (b) is not exact under ORT;
  * one document: a one-element list, per-call p50 (and p90) over --one-calls calls, mlinfer and
    scikit-learn alternating call by call, 1 thread.

Contenders alternate sample by sample (house style of benchmarks/pipelines/bench_pipelines.py);
medians reported, minimum too; ratios are from the same run. Run on an otherwise idle machine:

    MLINFER_LIBRARY=build/libmlinfer.so PYTHONPATH=bindings/python \\
        python3 benchmarks/text/bench_text.py [--quick] [--json out.json] [--no-ort]
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
import warnings

import numpy as np
from sklearn.feature_extraction.text import (ENGLISH_STOP_WORDS, CountVectorizer, HashingVectorizer, TfidfTransformer,
                                             TfidfVectorizer)
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression, SGDClassifier
from sklearn.naive_bayes import MultinomialNB
from sklearn.pipeline import make_pipeline
from sklearn.svm import LinearSVC
from threadpoolctl import threadpool_limits

import mlinfer
from mlinfer._columns import columns_for

# the timing helpers and ONNX Runtime's session options of the pipelines benchmark (same house style)
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "pipelines"))
from bench_pipelines import interleave, ort_session, summary  # noqa: E402

# -- the corpus ----------------------------------------------------------------------------------
_CONS = list("bcdfghjklmnprstvwz") + ["ch", "sh", "th", "st", "tr", "br", "pl", "gr"]
_VOW = list("aeiou") + ["ai", "ou", "ea", "io"]
_ACCENTED = list("éèêëàâäçñöüïîóúåøß")
_GREEK = "αβγδεζηθικλμνξοπρστυφχψω"
_CYRILLIC = "абвгдежзийклмнопрстуфхцчшщыэюя"
_CJK = [chr(c) for c in range(0x4E00, 0x4E00 + 2000)]
_PUNCT = [",", ",", ".", ".", ".", "!", "?", ";", ":", " -", "'s", ")"]


def vocabulary(n_types, rng):
    """n_types distinct word types, most frequent first (English stop words among the top ranks)."""
    words, seen = [], set()

    def add(w):
        if w not in seen:
            seen.add(w)
            words.append(w)

    stop = sorted(ENGLISH_STOP_WORDS)
    rng.shuffle(stop)
    while len(words) < n_types:
        r = rng.random()
        if r < 0.90:  # ASCII syllable words
            w = "".join(rng.choice(_CONS) + rng.choice(_VOW) for _ in range(rng.integers(1, 5)))
            if rng.random() < 0.3:
                w += rng.choice(_CONS)
        elif r < 0.955:  # accented Latin
            w = "".join(rng.choice(_CONS) + rng.choice(_VOW) for _ in range(rng.integers(1, 4)))
            k = rng.integers(0, len(w))
            w = w[:k] + rng.choice(_ACCENTED) + w[k + 1:]
        elif r < 0.965:
            w = "".join(rng.choice(list(_GREEK), rng.integers(3, 9)))
        elif r < 0.975:
            w = "".join(rng.choice(list(_CYRILLIC), rng.integers(3, 10)))
        elif r < 0.985:
            w = "".join(rng.choice(_CJK, rng.integers(1, 4)))
        else:  # numbers, alphanumerics
            w = str(rng.integers(0, 3000)) if rng.random() < 0.6 else rng.choice(_CONS) + str(rng.integers(0, 99))
        add(w)
    # stop words take ranks 0..~2*len(stop) (every other slot), as in English text
    for i, s in enumerate(stop):
        if s not in seen:
            words.insert(2 * i, s)
            seen.add(s)
    return words[:n_types]


def corpus(n_docs, seed, words, class_p):
    """(documents, labels): doc lengths uniform in 30..400 words; class-dependent word draws;
    some words capitalised (sentence starts, names, a few all-caps), punctuation after words."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, len(class_p), n_docs)
    lens = rng.integers(30, 401, n_docs)
    warr = np.array(words, dtype=object)
    cap = np.array([w[:1].upper() + w[1:] for w in words], dtype=object)
    upper = np.array([w.upper() for w in words], dtype=object)
    docs = []
    for i in range(n_docs):
        n = lens[i]
        idx = rng.choice(len(words), n, p=class_p[y[i]])
        toks = warr[idx].copy()
        u = rng.random(n)
        toks[u < 0.08] = cap[idx[u < 0.08]]
        toks[u > 0.997] = upper[idx[u > 0.997]]
        p = rng.random(n)
        punct = rng.choice(_PUNCT, n)
        out = []
        start = True
        for t, pp, pu in zip(toks, p, punct):
            if start:
                t = t[:1].upper() + t[1:]
                start = False
            if pp < 0.09:
                t += pu
                start = pu in (".", "!", "?")
            out.append(t)
        docs.append(" ".join(out))
    return docs, y


def make_corpus(n_types=30_000, n_fit=20_000, n_score=10_000, seed=0):
    rng = np.random.default_rng(seed)
    words = vocabulary(n_types, rng)
    base = 1.0 / np.arange(1, n_types + 1) ** 1.07  # Zipf
    class_p = []
    for c in range(4):
        w = base.copy()
        boost = rng.choice(np.arange(400, n_types), n_types // 20, replace=False)  # not the stop words
        w[boost] *= 4.0
        class_p.append(w / w.sum())
    fit_docs, fit_y = corpus(n_fit, seed + 1, words, class_p)
    score_docs, score_y = corpus(n_score, seed + 2, words, class_p)
    return fit_docs, fit_y, score_docs, score_y


def pipelines():
    return {
        "a_tfidf_logreg": (make_pipeline(TfidfVectorizer(), LogisticRegression(max_iter=1000)), "predict_proba"),
        "b_tfidf12_linsvc": (make_pipeline(TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, min_df=2),
                                           LinearSVC()), "decision_function"),
        "c_count_tfidf_sgd": (make_pipeline(CountVectorizer(stop_words="english"), TfidfTransformer(),
                                            SGDClassifier(loss="log_loss", random_state=0)), "predict_proba"),
        "d_tfidf_multinb": (make_pipeline(TfidfVectorizer(), MultinomialNB()), "predict_proba"),
        "e_charwb_tfidf_logreg": (make_pipeline(TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 4), min_df=2),
                                                LogisticRegression(max_iter=1000)), "predict_proba"),
        "f_hashing_tfidf_sgd": (make_pipeline(HashingVectorizer(n_features=2 ** 20, norm=None), TfidfTransformer(),
                                              SGDClassifier(loss="log_loss", random_state=0)), "predict_proba"),
        # tree models after the vectorizer (format 1.9): only the columns the trees read are computed
        "g_tfidf_forest": (make_pipeline(TfidfVectorizer(min_df=2), RandomForestClassifier(
            n_estimators=100, max_depth=30, n_jobs=2, random_state=0)), "predict_proba"),
        "h_tfidf_xgboost": (make_pipeline(TfidfVectorizer(min_df=2), _xgb()), "predict_proba"),
    }


def jobs(est, threads):
    """The model's own thread count (a forest's joblib workers, XGBoost's), which threadpoolctl
    does not set."""
    last = est.steps[-1][1]
    if "n_jobs" in last.get_params():
        last.set_params(n_jobs=threads)


def _xgb():
    import xgboost as xgb
    return xgb.XGBClassifier(n_estimators=100, max_depth=6, n_jobs=2)


# -- ONNX Runtime on skl2onnx's conversion -------------------------------------------------------
ORT_TOKENEXP = r"[\p{L}\p{N}_]{2,}"  # RE2: runs of 2+ letters / digits / '_': Python's \w\w+, nearly
ORT_LOCALE = "C.UTF-8"  # StringNormalizer's default en_US.UTF-8 is often not installed (ORT refuses to start)


def ort_model(est, faithful=True):
    """(ONNX bytes, None) or (None, why not). faithful: the vectorizer's tokenizer given a
    Unicode token expression (ORT_TOKENEXP) instead of skl2onnx's default '[a-zA-Z0-9_]+' (what
    it substitutes for scikit-learn's default '(?u)\\b\\w\\w+\\b'); both with ORT_LOCALE."""
    try:
        from skl2onnx import to_onnx
        from skl2onnx.common.data_types import StringTensorType
    except ImportError as exc:
        return None, f"skl2onnx is not installed ({exc})"
    vec, last = est.steps[0][1], est.steps[-1][1]
    opts = {id(vec): {"locale": ORT_LOCALE, **({"tokenexp": ORT_TOKENEXP} if faithful else {})}}
    # LinearSVC has no zipmap option, but skl2onnx's Pipeline parser gives a classifier step without
    # options one (NameError); raw_scores: its 'probabilities' output is the decision function
    opts[id(last)] = {"raw_scores": True} if type(last).__name__ == "LinearSVC" else {"zipmap": False}
    try:
        onx = to_onnx(est, initial_types=[("input", StringTensorType([None, 1]))], options=opts,
                      target_opset={"": 17, "ai.onnx.ml": 3})
    except Exception as exc:  # noqa: BLE001 - reported, not hidden
        return None, f"skl2onnx: {type(exc).__name__}: {str(exc)[:300]}"
    return onx.SerializeToString(), None


ORT_DENSE_BYTES = 1e9  # per chunk of documents: ONNX Runtime's TfIdfVectorizer output is dense


def ort_chunk(terms):
    """Documents per ONNX Runtime call: its TfIdfVectorizer writes a dense float32 (docs, terms)
    matrix (10 000 docs x 347 000 bigram terms = 14 GB: the whole batch at once was OOM-killed
    on a 23 GB machine), so the batch goes in chunks of at most ORT_DENSE_BYTES of it."""
    return max(1, int(ORT_DENSE_BYTES // (4 * terms)))


def ort_scores(sess, docs, chunk):
    """The second output (probabilities, or LinearSVC's scores), the input built inside the call."""
    name = sess.get_outputs()[1].name
    out = []
    for i in range(0, len(docs), chunk):
        x = np.array(docs[i:i + chunk], dtype=object).reshape(-1, 1)
        out.append(sess.run([name], {"input": x})[0])
    return np.concatenate(out)


# -- timing --------------------------------------------------------------------------------------
def compare(got, ref):
    got, ref = np.asarray(got, dtype=np.float64), np.asarray(ref, dtype=np.float64)
    d = np.abs(got - ref)
    rel = d / np.maximum(np.abs(ref), 1e-12)
    return {"max_abs_diff": float(d.max()), "max_rel_diff_where_abs_over_1e-3": float(rel[np.abs(ref) > 1e-3].max()),
            "rows_over_1e-5": float((d.max(axis=1) > 1e-5).mean()),
            "labels_equal": float((got.argmax(1) == ref.argmax(1)).mean()), "rows_checked": int(len(ref))}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="smoke run: 4 000 / 1 000 documents, short budgets")
    ap.add_argument("--json")
    ap.add_argument("--no-ort", action="store_true", help="leave ONNX Runtime out")
    ap.add_argument("--pipelines", default="a_tfidf_logreg,b_tfidf12_linsvc,c_count_tfidf_sgd,d_tfidf_multinb,"
                                           "e_charwb_tfidf_logreg,f_hashing_tfidf_sgd")
    ap.add_argument("--one-calls", type=int, default=2000, help="one-document calls per contender")
    ap.add_argument("--budget", type=float, help="seconds per batch comparison (default 20, --quick 2)")
    args = ap.parse_args()
    budget = args.budget if args.budget is not None else (2.0 if args.quick else 20.0)
    n_fit, n_score = (4_000, 1_000) if args.quick else (20_000, 10_000)
    one_calls = 200 if args.quick else args.one_calls
    warnings.filterwarnings("ignore")
    t0 = time.perf_counter()
    fit_docs, fit_y, docs, score_y = make_corpus(n_fit=n_fit, n_score=n_score)
    n_words = sum(d.count(" ") + 1 for d in docs)
    print(f"corpus: {n_fit} documents to fit, {n_score} to score ({n_words} words, "
          f"{sum(len(d.encode()) for d in docs) / 1e6:.1f} MB UTF-8) in {time.perf_counter() - t0:.1f} s; "
          f"cores {os.cpu_count()}; isa {mlinfer.cpu_isa()}")
    one = [docs[7]]
    results = {"machine": {"cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(),
                           "python": platform.python_version(), "mlinfer": mlinfer.library_version(),
                           "isa": mlinfer.cpu_isa()},
               "corpus": {"fit_docs": n_fit, "score_docs": n_score, "score_words": n_words,
                          "score_bytes": sum(len(d.encode()) for d in docs)}, "pipelines": {}}
    import sklearn
    results["machine"]["sklearn"] = sklearn.__version__
    if not args.no_ort:
        try:
            import onnxruntime
            import skl2onnx
            results["machine"].update(onnxruntime=onnxruntime.__version__, skl2onnx=skl2onnx.__version__)
        except ImportError as exc:
            print(f"(no ONNX Runtime figures: {exc})")
            args.no_ort = True
    for name, (est, method) in pipelines().items():
        if name not in args.pipelines.split(","):
            continue
        t0 = time.perf_counter()
        est.fit(fit_docs, fit_y)
        vec = est.steps[0][1]
        n_feat = len(vec.vocabulary_) if hasattr(vec, "vocabulary_") else vec.n_features
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "m.mli")
            mlinfer.export(est, path)
            size = os.path.getsize(path)
            m = mlinfer.load(path)
        print(f"{name}: fitted in {time.perf_counter() - t0:.1f} s, {n_feat} terms, .mli {size / 1e6:.1f} MB, "
              f"accuracy {np.mean(est.predict(docs) == score_y):.3f}")
        sk_fn = getattr(est, method)
        ml_fn = getattr(m, method)
        res = {"method": method, "terms": n_feat, "mli_bytes": size}
        # correctness, before any timing
        jobs(est, 1)
        with threadpool_limits(1):
            ref = sk_fn(docs)
        mlinfer.set_num_threads(1)
        got = ml_fn(docs)
        if ref.ndim == 1:
            ref, got = ref[:, None], got[:, None]
        res["mlinfer_vs_sklearn"] = c = compare(got, ref)
        print(f"  mlinfer vs scikit-learn on {len(docs)} docs: max |diff| {c['max_abs_diff']:.2e} (max rel "
              f"{c['max_rel_diff_where_abs_over_1e-3']:.1e}), labels equal {100 * c['labels_equal']:.2f} %")
        onx = None
        if not args.no_ort:
            onx, why = ort_model(est)
            if onx is None:
                res["onnxruntime"] = {"converted": False, "why": why}
                print(f"  ONNX Runtime: not converted: {why}")
            else:
                chunk = ort_chunk(n_feat)
                try:
                    t1 = time.perf_counter()
                    g = ort_scores(ort_session(onx, 1), docs, chunk)
                    ort_once = time.perf_counter() - t1
                except Exception as exc:  # noqa: BLE001
                    res["onnxruntime"] = {"converted": True, "runs": False, "why": f"{type(exc).__name__}: "
                                                                                   f"{str(exc)[:300]}"}
                    print(f"  ONNX Runtime: converted but does not run: {res['onnxruntime']['why']}")
                    onx = None
                else:
                    if g.ndim == 1:
                        g = g[:, None]
                    res["onnxruntime"] = c = {"converted": True, "runs": True, "tokenexp": ORT_TOKENEXP, "chunk": chunk,
                                              **compare(g, ref)}
                    print(f"  ONNX Runtime (tokenexp {ORT_TOKENEXP}) vs scikit-learn on {len(docs)} docs: max |diff| "
                          f"{c['max_abs_diff']:.2e}, rows over 1e-5 {100 * c['rows_over_1e-5']:.2f} %, labels equal "
                          f"{100 * c['labels_equal']:.2f} %; {chunk} docs per ORT call")
                    onx_d, why_d = ort_model(est, faithful=False)  # agreement only: skl2onnx's default tokenizer
                    if onx_d is not None:
                        nd = min(len(docs), 2000)
                        g = ort_scores(ort_session(onx_d, 1), docs[:nd], chunk)
                        g = g[:, None] if g.ndim == 1 else g
                        res["onnxruntime_default_tokenizer"] = c = compare(g, ref[:nd])
                        print(f"  (skl2onnx's default tokenizer '[a-zA-Z0-9_]+', {nd} docs: max |diff| "
                              f"{c['max_abs_diff']:.2e}, labels equal {100 * c['labels_equal']:.2f} %; not timed)")
        for threads in (1, 2):
            mlinfer.set_num_threads(threads)
            jobs(est, threads)
            fns = {"sklearn": lambda: sk_fn(docs), "mlinfer": lambda: ml_fn(docs),
                   "mlinfer_columns": lambda: columns_for(m, {"text": docs})}
            if onx is not None:
                sess = ort_session(onx, threads)
                fns["onnxruntime"] = lambda sess=sess: ort_scores(sess, docs, chunk)
            with threadpool_limits(threads):  # 3 samples where one ORT call alone is over 10 s
                t = interleave(fns, budget, min_samples=3 if onx is not None and ort_once > 10 else 5)
            r = {k: summary(v, 1e3) for k, v in t.items()}  # ms
            r["docs_per_s"] = {k: len(docs) / (r[k]["median"] / 1e3) for k in ("sklearn", "mlinfer", "onnxruntime")
                               if k in r}
            r["speedup_vs_sklearn"] = r["sklearn"]["median"] / r["mlinfer"]["median"]
            line = (f"  batch {len(docs)} docs, {threads} thread(s): sklearn {r['sklearn']['median']:7.1f} ms  "
                    f"mlinfer {r['mlinfer']['median']:6.1f} ms (list->columns {r['mlinfer_columns']['median']:.1f} "
                    f"ms)  x{r['speedup_vs_sklearn']:.1f}")
            if onx is not None:
                r["speedup_vs_ort"] = r["onnxruntime"]["median"] / r["mlinfer"]["median"]
                line += f"; ONNX Runtime {r['onnxruntime']['median']:7.1f} ms  mlinfer x{r['speedup_vs_ort']:.2f} of it"
            res[f"batch_threads{threads}_ms"] = r
            print(line + f"  [{r['mlinfer']['samples']} samples]")
        # one document, 1 thread, call by call alternating
        mlinfer.set_num_threads(1)
        jobs(est, 1)
        with threadpool_limits(1):
            ts = {"sklearn": [], "mlinfer": []}
            fns1 = {"sklearn": lambda: sk_fn(one), "mlinfer": lambda: ml_fn(one)}
            for f in fns1.values():
                for _ in range(20):
                    f()
            for _ in range(one_calls):
                for k, f in fns1.items():
                    t1 = time.perf_counter()
                    f()
                    ts[k].append(time.perf_counter() - t1)
        o = {k: {"p50": float(np.percentile(v, 50) * 1e6), "p90": float(np.percentile(v, 90) * 1e6),
                 "calls": len(v)} for k, v in ts.items()}
        o["speedup_p50"] = o["sklearn"]["p50"] / o["mlinfer"]["p50"]
        o["doc_words"] = one[0].count(" ") + 1
        res["one_doc_us"] = o
        print(f"  one document ({o['doc_words']} words), 1 thread: sklearn p50 {o['sklearn']['p50']:.0f} us, "
              f"mlinfer p50 {o['mlinfer']['p50']:.1f} us (p90 {o['mlinfer']['p90']:.1f})  x{o['speedup_p50']:.0f}")
        results["pipelines"][name] = res
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()
