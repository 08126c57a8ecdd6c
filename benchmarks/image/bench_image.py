#!/usr/bin/env python3
"""JPEG decode + preprocess throughput (images/s, one thread): libmlinfer against Pillow +
NumPy doing the same work, in one run.

Sources: a real photograph (scikit-learn's bundled china.jpg) resized to 224 x 224 and
1024 x 768 and saved as JPEG (quality 90, 4:2:0, Pillow's defaults otherwise).
Targets:
  imagenet  Resize(256) + CenterCrop(224) + ToTensor + Normalize (ImageNet mean/std), CHW
            float32 -- torchvision's standard evaluation transform;
  digits    the 8 x 8 input of scikit-learn's digits: greyscale, area (box) resize,
            inverted, scaled to 0..16.
Contenders, each returning the same float32 tensor:
  mlinfer        mlinfer.image.preprocess (libjpeg-turbo DCT scaling + SIMD resize/normalise)
  mlinfer-full   the same with dct_scaling=False: a full-size decode, as plain Pillow does
  pillow         Image.open -> convert -> resize -> crop -> numpy arithmetic
  pillow+draft   the same with Image.draft(), Pillow's own reduced-size JPEG decoding
                 (powers of two only), which an expert Pillow user would add

The machine is shared: contenders are interleaved round by round (each round measures
every contender for ~0.25 s) and the median over rounds is reported.

    MLINFER_LIBRARY=build/libmlinfer.so python3 benchmarks/image/bench_image.py [--rounds 7] [--json out.json]
"""
from __future__ import annotations

import argparse
import io
import json
import os
import platform
import statistics
import sys
import time

import numpy as np
from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "bindings", "python"))
import mlinfer  # noqa: E402

MEAN = np.array([0.485, 0.456, 0.406], np.float32)
STD = np.array([0.229, 0.224, 0.225], np.float32)
SPEC_IMAGENET = mlinfer.ImagePreprocess(size=224, mode="rgb", fit="shorter", shorter=256, resize="bilinear",
                                        mean=MEAN.tolist(), std=STD.tolist(), layout="chw")
SPEC_DIGITS = mlinfer.ImagePreprocess(size=8, mode="gray", resize="area", scale=16 / 255, invert=True)


def source_jpegs():
    from sklearn.datasets import load_sample_image
    photo = Image.fromarray(load_sample_image("china.jpg"))
    out = {}
    for w, h in ((224, 224), (1024, 768)):
        buf = io.BytesIO()
        ImageOps_fit(photo, (w, h)).save(buf, "JPEG", quality=90)
        out[f"{w}x{h}"] = buf.getvalue()
    return out


def ImageOps_fit(img, size):
    from PIL import ImageOps
    return ImageOps.fit(img, size, Image.LANCZOS)


def _resize_shorter(w, h, s):
    return (s, int(s * h / w)) if w <= h else (int(s * w / h), s)


def pillow_imagenet(data, draft=False):
    im = Image.open(io.BytesIO(data))
    if draft:
        w, h = im.size
        im.draft("RGB", _resize_shorter(w, h, 256))
    im = im.convert("RGB")
    nw, nh = _resize_shorter(*im.size, 256)
    im = im.resize((nw, nh), Image.BILINEAR)
    left, top = int(round((nw - 224) / 2.0)), int(round((nh - 224) / 2.0))
    im = im.crop((left, top, left + 224, top + 224))
    a = np.asarray(im, dtype=np.float32) / 255.0
    return np.ascontiguousarray(((a - MEAN) / STD).transpose(2, 0, 1))


def pillow_digits(data, draft=False):
    im = Image.open(io.BytesIO(data))
    if draft:
        im.draft("L", (8, 8))
    im = im.convert("L").resize((8, 8), Image.BOX)
    return (255.0 - np.asarray(im, dtype=np.float32)) * np.float32(16 / 255)


def rate(fn, seconds):
    fn()
    n, t0 = 0, time.perf_counter()
    while True:
        fn()
        n += 1
        t = time.perf_counter() - t0
        if t >= seconds:
            return n / t


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--seconds", type=float, default=0.25, help="per contender per round")
    ap.add_argument("--json", help="write the results here")
    args = ap.parse_args(argv)
    mlinfer.set_num_threads(1)
    jpegs = source_jpegs()
    cases = []
    for src, data in jpegs.items():
        for target, spec, pil in (("imagenet", SPEC_IMAGENET, pillow_imagenet), ("digits", SPEC_DIGITS, pillow_digits)):
            full = spec.replace(dct_scaling=False)
            contenders = {
                "mlinfer": lambda d=data, s=spec: mlinfer.image.preprocess(d, s),
                "mlinfer-full": lambda d=data, s=full: mlinfer.image.preprocess(d, s),
                "pillow": lambda d=data, f=pil: f(d),
                "pillow+draft": lambda d=data, f=pil: f(d, draft=True),
            }
            ref = contenders["pillow"]()
            # differences from plain Pillow in 8-bit levels (ImageNet: per channel, undo 1/(255 std))
            per_level = 1 / (255 * STD[:, None, None]) if target == "imagenet" else np.float32(16 / 255)
            diffs = {k: np.abs(contenders[k]().reshape(ref.shape) - ref) / per_level for k in ("mlinfer", "mlinfer-full")}
            cases.append(dict(source=src, bytes=len(data), target=target, contenders=contenders,
                              rates={k: [] for k in contenders},
                              diff={k: (float(v.mean()), float(v.max())) for k, v in diffs.items()}))
    for r in range(args.rounds):
        for case in cases:
            for name, fn in case["contenders"].items():
                case["rates"][name].append(rate(fn, args.seconds))
        print(f"round {r + 1}/{args.rounds} done", file=sys.stderr)

    print(f"\nmachine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs visible; "
          f"libmlinfer {mlinfer.library_version()} ({mlinfer.cpu_isa()} kernels), Pillow {Image.__version__} "
          f"(libjpeg-turbo {__import__('PIL.features').features.version('libjpeg_turbo')}), numpy {np.__version__}")
    print(f"median of {args.rounds} interleaved rounds, images/s, 1 thread\n")
    print("| source | JPEG bytes | target | mlinfer | mlinfer, full decode | Pillow + NumPy | Pillow + draft + NumPy "
          "| x Pillow | x Pillow + draft | levels from Pillow: mean / max (full decode) |")
    print("|---|---:|---|---:|---:|---:|---:|---:|---:|---|")
    out = []
    for c in cases:
        med = {k: statistics.median(v) for k, v in c["rates"].items()}
        d, f = c["diff"]["mlinfer"], c["diff"]["mlinfer-full"]
        print(f"| {c['source']} | {c['bytes']} | {c['target']} | {med['mlinfer']:.0f} | {med['mlinfer-full']:.0f} | "
              f"{med['pillow']:.0f} | {med['pillow+draft']:.0f} | {med['mlinfer'] / med['pillow']:.2f} | "
              f"{med['mlinfer'] / med['pillow+draft']:.2f} | {d[0]:.2f} / {d[1]:.1f} ({f[0]:.2f} / {f[1]:.1f}) |")
        out.append(dict(source=c["source"], jpeg_bytes=c["bytes"], target=c["target"], median_images_per_s=med,
                        all_rounds=c["rates"], levels_from_pillow=c["diff"]))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(dict(rounds=args.rounds, results=out), f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
