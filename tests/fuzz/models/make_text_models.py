#!/usr/bin/env python3
"""Writes the text-model fuzz seeds: text_tfidf.mli (a FeatureUnion of three analyzers of the
one text column -- a word TfidfVectorizer with accents stripped, stop words and bigrams,
sublinear tf; a char_wb TfidfVectorizer of 2- to 4-grams; a case-sensitive char
CountVectorizer of 1- to 3-grams with ASCII accent stripping; a HashingVectorizer of 1024
columns, binary, with alternating signs, of words and bigrams -- then a 3-class
LogisticRegression; the model of the `text` fuzz target and of tests/model's thread test) and text_columns.mli (a ColumnTransformer with two text columns --
CountVectorizer case-sensitive with one-character tokens, ASCII accent stripping and binary
counts, and TfidfVectorizer with l1 norm and no idf -- and a scaled numeric column, then a
LogisticRegression; a seed of the `model_load` target), and text_trees.mli (format 1.9: a
ColumnTransformer of a word TfidfVectorizer with bigrams, a HashingVectorizer of 256 columns and
a one-hot city, sparse, then an XGBClassifier: text ops that select the columns the trees read,
absent terms NaN; a seed of the `model_load` target), and text_trees_doc.mli (format 1.9: a
FeatureUnion of a word TfidfVectorizer with bigrams, a char_wb one and a HashingVectorizer of
256 columns of the one text column, then a 3-class XGBClassifier; the second model of
tests/model's thread test).
    MLINFER_LIBRARY=build/libmlinfer.so PYTHONPATH=bindings/python \\
        /work/venv/bin/python tests/fuzz/models/make_text_models.py"""
import os

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.feature_extraction.text import CountVectorizer, HashingVectorizer, TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import FeatureUnion, Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

import mlinfer

HERE = os.path.dirname(os.path.abspath(__file__))
WORDS = ["the", "a", "Fox", "fox", "café", "cafe\u0301", "naïve", "İstanbul", "ΟΔΟΣ", "ΣΑΣ", "straße", "ﬁne",
         "ＡＢＣ", "½", "x²", "日本語", "한국어", "😀", "foo_bar", "I", "Ⅻ", "don't", "e-mail", "42", "x1"]
rng = np.random.RandomState(7)
docs = [" ".join(rng.choice(WORDS, size=rng.randint(0, 9))) for _ in range(120)]
y = rng.randint(0, 3, size=120)
union = FeatureUnion([("word", TfidfVectorizer(strip_accents="unicode", stop_words=["the", "a"], ngram_range=(1, 2),
                                               sublinear_tf=True)),
                      ("wb", TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 4))),
                      ("char", CountVectorizer(analyzer="char", ngram_range=(1, 3), lowercase=False,
                                               strip_accents="ascii")),
                      ("hash", HashingVectorizer(n_features=2 ** 10, ngram_range=(1, 2), binary=True))])
est = Pipeline([("union", union), ("clf", LogisticRegression(max_iter=1000))]).fit(docs, y)
mlinfer.export(est, os.path.join(HERE, "text_tfidf.mli"))
df = pd.DataFrame({"title": docs, "body": docs[::-1], "x": rng.normal(size=120)})
ct = ColumnTransformer([("t", CountVectorizer(lowercase=False, token_pattern=r"(?u)\b\w+\b", strip_accents="ascii",
                                              binary=True), "title"),
                        ("b", TfidfVectorizer(norm="l1", use_idf=False, ngram_range=(2, 3)), "body"),
                        ("n", StandardScaler(), ["x"])])
est = Pipeline([("ct", ct), ("clf", LogisticRegression(max_iter=1000))]).fit(df, y)
mlinfer.export(est, os.path.join(HERE, "text_columns.mli"))
import xgboost as xgb  # noqa: E402

df["city"] = rng.choice(["Oslo", "Lyon", "Köln"], size=120)
ct = ColumnTransformer([("t", TfidfVectorizer(ngram_range=(1, 2)), "title"),
                        ("h", HashingVectorizer(n_features=256), "body"), ("c", OneHotEncoder(), ["city"])])
est = Pipeline([("ct", ct), ("clf", xgb.XGBClassifier(n_estimators=8, max_depth=4))]).fit(df, y)
mlinfer.export(est, os.path.join(HERE, "text_trees.mli"))
union = FeatureUnion([("word", TfidfVectorizer(strip_accents="unicode", ngram_range=(1, 2))),
                      ("wb", TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 3))),
                      ("hash", HashingVectorizer(n_features=256))])
est = Pipeline([("union", union), ("clf", xgb.XGBClassifier(n_estimators=10, max_depth=4))]).fit(docs, y)
mlinfer.export(est, os.path.join(HERE, "text_trees_doc.mli"))
