#!/usr/bin/env python3
"""Digits from JPEG photos, end to end.

Trains an MLPClassifier and a LogisticRegression on scikit-learn's 8x8 digits (grey levels
0..16, 16 = ink) and exports both with an image stage that turns a photo-like JPEG of a
digit -- dark ink on light paper, any size -- into exactly that input: greyscale, area
resize to 8 x 8, inverted and scaled to 0..16. The models then take JPEG bytes:

    python3 examples/digits/make_digits.py --out /tmp/digits        # models (+ samples with --samples)
    mlinfer predict /tmp/digits/digits_mlp.mli examples/digits/samples/digit_3.jpg
    python3 -c "import mlinfer; print(mlinfer.load('/tmp/digits/digits_mlp.mli').predict_image('examples/digits/samples/digit_3.jpg'))"

The photo-like JPEGs are renderings of held-out digits: the 8x8 sample enlarged with a
smooth (bicubic) filter, drawn as dark ink on slightly uneven paper with a little noise,
saved as JPEG. `render` is what writes them; the committed samples in samples/ came from
it with --samples (a few KB in all)."""
from __future__ import annotations

import argparse
import io
import os
import sys

import numpy as np
from PIL import Image
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "bindings", "python"))
import mlinfer  # noqa: E402

# The image stage: 8 x 8 grey levels, ink = 16, as the digits dataset.
STAGE = mlinfer.ImagePreprocess(size=(8, 8), mode="gray", fit="stretch", resize="area", scale=16 / 255,
                                invert=True)


def render(digit8: np.ndarray, size: int = 64, rng=None, color: bool = False, quality: int = 85,
           progressive: bool = False) -> bytes:
    """A photo-like JPEG of an 8x8 digit (values 0..16): enlarged smoothly to size x size,
    dark ink on light, slightly uneven paper with mild noise."""
    rng = rng or np.random.default_rng(0)
    ink = Image.fromarray((np.asarray(digit8, np.float64) * (255 / 16)).astype(np.uint8), "L")
    ink = np.asarray(ink.resize((size, size), Image.BICUBIC), np.float64) / 255.0
    yy, xx = np.mgrid[0:size, 0:size] / size
    paper = 252 - 4 * xx + 3 * yy                       # uneven lighting
    gray = paper - ink * (paper - 8) + rng.normal(0, 1.5, (size, size))
    if color:                                           # warm paper, blue-black ink
        rgb = np.stack([gray + 4, gray, gray - 10 + 30 * ink], axis=-1)
        img = Image.fromarray(np.clip(rgb, 0, 255).astype(np.uint8), "RGB")
    else:
        img = Image.fromarray(np.clip(gray, 0, 255).astype(np.uint8), "L")
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=quality, progressive=progressive)
    return buf.getvalue()


def write_samples(out_dir: str, models, X_te, y_te) -> None:
    """For each class, the first held-out digit whose rendering every model reads right (a
    demonstration of the pipeline, not of the classifiers: see --check for their accuracy
    on renderings), as a 64 x 64 greyscale JPEG; plus a 240 x 240 colour photo (decoded at
    1/8 scale by libjpeg-turbo) and a progressive JPEG."""
    os.makedirs(out_dir, exist_ok=True)
    rng = np.random.default_rng(1)
    jobs = [(f"digit_{d}.jpg", d, 64, {}) for d in range(10)]
    jobs += [("photo_7_color.jpg", 7, 240, {"color": True, "quality": 80}),
             ("digit_2_progressive.jpg", 2, 96, {"progressive": True})]
    for name, d, size, kw in jobs:
        for i in np.flatnonzero(y_te == d):
            data = render(X_te[i].reshape(8, 8), size, rng, **kw)
            if all(int(m.predict_image(data)[0]) == d for m in models):
                break
        with open(os.path.join(out_dir, name), "wb") as f:
            f.write(data)
    print(f"wrote {len(jobs)} samples to {out_dir}")


def train(seed: int = 0):
    X, y = load_digits(return_X_y=True)
    X_tr, X_te, y_tr, y_te = train_test_split(X, y, test_size=0.25, random_state=seed, stratify=y)
    mlp = MLPClassifier(hidden_layer_sizes=(64,), max_iter=600, random_state=seed).fit(X_tr, y_tr)
    logreg = LogisticRegression(max_iter=3000).fit(X_tr, y_tr)
    return (mlp, logreg), (X_te, y_te)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=HERE, help="where the .mli models go (default: next to this script)")
    ap.add_argument("--samples", action="store_true", help="also (re)write the sample JPEGs in samples/")
    ap.add_argument("--check", type=int, default=200, help="held-out digits rendered as JPEGs to score")
    args = ap.parse_args(argv)
    (mlp, logreg), (X_te, y_te) = train()
    os.makedirs(args.out, exist_ok=True)
    paths = {}
    for name, est in (("mlp", mlp), ("logreg", logreg)):
        paths[name] = os.path.join(args.out, f"digits_{name}.mli")
        mlinfer.export(est, paths[name], image=STAGE)
        print(f"wrote {paths[name]} ({type(est).__name__}, test accuracy on pixels {est.score(X_te, y_te):.3f})")

    if args.samples:
        write_samples(os.path.join(HERE, "samples"), [mlinfer.load(p) for p in paths.values()], X_te, y_te)

    # Score the exported models on held-out digits seen only as JPEG photos.
    rng = np.random.default_rng(2)
    n = min(args.check, len(y_te))
    jpegs = [render(X_te[i].reshape(8, 8), 8 * int(rng.integers(4, 17)), rng) for i in range(n)]
    for (name, path), est in zip(paths.items(), (mlp, logreg)):
        pred = mlinfer.load(path).predict_image(jpegs)
        print(f"{name}: on {n} held-out digits as JPEG renderings: accuracy {np.mean(pred == y_te[:n]):.3f}, "
              f"same class as from the original pixels {np.mean(pred == est.predict(X_te[:n])):.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
