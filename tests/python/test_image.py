"""JPEG input: decoding against Pillow, resize/normalisation against a NumPy reference
written here, the digits models' predictions from JPEG bytes against the same pixels
preprocessed in NumPy, the .mli image stage, and every kind of bad input.

Tolerances (and why):
- Decoding: |libmlinfer - Pillow| <= 1 level. Both decode with libjpeg-turbo's accurate
  integer IDCT (JDCT_ISLOW) and fancy (triangle) upsampling, so the pixels are normally
  identical (0 difference is what we measure); the bound allows for the different
  libjpeg-turbo versions (Debian's 2.1 against the 3.x bundled in Pillow's wheels) whose
  SIMD paths may round a chroma sample differently.
- Resize/normalisation against the float64 NumPy reference: 2e-6 of the value range
  (255 |scale / std| + |mean / std|): float32 weights and sums (the C unit test measures
  at most 3e-7 on every ISA).
- Against Pillow's own resize: <= 1 level; Pillow rounds to 8 bits after each of its two
  passes (and works in 22-bit fixed point), libmlinfer keeps float32 throughout.
"""
from __future__ import annotations

import io
import os
import re
import subprocess
from pathlib import Path

import numpy as np
import pytest

PIL = pytest.importorskip("PIL")
from PIL import Image, ImageOps  # noqa: E402

import mlinfer  # noqa: E402
from mlinfer import ImagePreprocess  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
SAMPLES = REPO / "examples" / "digits" / "samples"
DECODE_TOL = 1
REL_TOL = 2e-6

pytestmark = pytest.mark.skipif(not mlinfer._native.HAS_IMAGE, reason="libmlinfer built without image input")


# ---- helpers ------------------------------------------------------------------------------

def photo(w, h, seed=0, channels=3):
    """Smooth gradients plus noise: something like a photo, compressible but not trivial."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w] / max(w, h)
    base = [np.sin(7 * x + 3 * y), np.cos(5 * x - 6 * y), np.sin(11 * x * y + 1)]
    img = np.stack(base[:channels], -1) * 100 + 128 + rng.normal(0, 10, (h, w, channels))
    return np.clip(img, 0, 255).astype(np.uint8)


def to_jpeg(arr, mode=None, **kw):
    img = Image.fromarray(arr.squeeze() if arr.ndim == 3 and arr.shape[2] == 1 else arr, mode)
    buf = io.BytesIO()
    img.save(buf, "JPEG", **kw)
    return buf.getvalue()


def pillow_rgb(data):
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))


# ---- the NumPy reference -------------------------------------------------------------------

def ref_geometry(spec, sw, sh):
    W, H = spec.size
    x0, y0, x1, y1, vw, vh, ox, oy = 0.0, 0.0, float(sw), float(sh), W, H, 0, 0
    if spec.fit == "shorter":
        s = spec.shorter
        vw, vh = (s, s * sh // sw) if sw <= sh else (s * sw // sh, s)
        ox, oy = int(round((vw - W) / 2)), int(round((vh - H) / 2))  # Python rounds halves to even
    elif spec.fit == "crop":
        live, want = sw / sh, W / H
        cw, ch = float(sw), float(sh)
        if live > want:
            cw = want * sh
        elif live < want:
            ch = sw / want
        x0, y0 = (sw - cw) / 2, (sh - ch) / 2
        x1, y1 = x0 + cw, y0 + ch
    return x0, x1, y0, y1, vw, vh, ox, oy


def ref_weights(method, n_in, in0, in1, vsize, off, n_out):
    """(n_out, n_in) resampling matrix, float64."""
    scale = (in1 - in0) / vsize
    i = np.arange(n_in, dtype=np.float64)[None, :]
    v = (off + np.arange(n_out, dtype=np.float64))[:, None]
    if method == "area":
        a, b = in0 + v * scale, in0 + (v + 1) * scale
        w = np.clip(np.minimum(i + 1, b) - np.maximum(i, a), 0, None)
    else:
        fs = max(scale, 1.0)
        center = in0 + (v + 0.5) * scale
        lo, hi = np.trunc(center - fs + 0.5), np.trunc(center + fs + 0.5)
        d = np.abs((i - center + 0.5) / fs)
        w = np.where((i >= lo) & (i < hi) & (d < 1), 1 - d, 0.0)
    return w / w.sum(axis=1, keepdims=True)


def ref_color(px, mode):
    """uint8 (h, w, c) in RGB (c = 3) or gray (c = 1) to the spec's colour, as Pillow."""
    if mode == "gray":
        if px.shape[2] == 1:
            return px
        r, g, b = (px[..., k].astype(np.int64) for k in range(3))
        return ((r * 19595 + g * 38470 + b * 7471 + 0x8000) >> 16).astype(np.uint8)[..., None]
    rgb = np.repeat(px, 3, axis=2) if px.shape[2] == 1 else px
    return rgb[..., ::-1] if mode == "bgr" else rgb


def ref_preprocess(px, spec):
    """The tensor of spec.shape, float64, from already-decoded uint8 pixels."""
    px = ref_color(px, spec.mode).astype(np.float64)
    sh, sw = px.shape[:2]
    x0, x1, y0, y1, vw, vh, ox, oy = ref_geometry(spec, sw, sh)
    wx = ref_weights(spec.resize, sw, x0, x1, vw, ox, spec.size[0])
    wy = ref_weights(spec.resize, sh, y0, y1, vh, oy, spec.size[1])
    out = np.stack([wy @ px[..., c] @ wx.T for c in range(px.shape[2])], axis=-1)
    if spec.invert:
        out = 255 - out
    out = (out * spec.scale - np.array(spec.mean)) / np.array(spec.std)
    return out if spec.layout == "hwc" else out.transpose(2, 0, 1)


def value_range(spec):
    a = np.abs(spec.scale / np.array(spec.std))
    return float(np.max(255 * a + np.abs(np.array(spec.mean) / np.array(spec.std))))


def assert_close_to_ref(got, ref, spec, what=""):
    err = np.max(np.abs(got.astype(np.float64) - ref))
    bound = REL_TOL * value_range(spec)
    assert err <= bound, f"{what}: max error {err:.3g} > {bound:.3g} for {spec}"


# ---- decoding ------------------------------------------------------------------------------

@pytest.mark.parametrize("subsampling", [0, 1, 2])  # 4:4:4, 4:2:2, 4:2:0
@pytest.mark.parametrize("progressive", [False, True])
def test_decode_matches_pillow(subsampling, progressive):
    arr = photo(83, 61, seed=subsampling)
    data = to_jpeg(arr, quality=90, subsampling=subsampling, progressive=progressive)
    info = mlinfer.image.info(data)
    assert (info["width"], info["height"], info["colorspace"], info["progressive"]) == (83, 61, "ycbcr", progressive)
    got = mlinfer.image.decode(data)
    ref = pillow_rgb(data)
    assert got.shape == ref.shape
    assert np.max(np.abs(got.astype(int) - ref)) <= DECODE_TOL
    # greyscale output of a colour JPEG is its luma, as Pillow's draft("L") decodes it
    im = Image.open(io.BytesIO(data))
    im.draft("L", im.size)
    assert np.max(np.abs(mlinfer.image.decode(data, "gray")[..., 0].astype(int) - np.asarray(im))) <= DECODE_TOL
    bgr = mlinfer.image.decode(data, "bgr")
    assert np.array_equal(bgr, got[..., ::-1])


def test_decode_grayscale_jpeg():
    arr = photo(50, 40, channels=1)
    data = to_jpeg(arr, quality=85)
    assert mlinfer.image.info(data)["colorspace"] == "gray"
    gray = mlinfer.image.decode(data, "gray")
    ref = np.asarray(Image.open(io.BytesIO(data)))
    assert np.max(np.abs(gray[..., 0].astype(int) - ref)) <= DECODE_TOL
    assert np.array_equal(mlinfer.image.decode(data, "rgb"), np.repeat(gray, 3, axis=2))


@pytest.mark.parametrize("factor", [2, 4, 8])
def test_scaled_decode_matches_pillow_draft(factor):
    arr = photo(256, 192, seed=factor)
    data = to_jpeg(arr, quality=92)
    want = (256 // factor, 192 // factor)
    got = mlinfer.image.decode(data, min_size=want)
    im = Image.open(io.BytesIO(data))
    im.draft("RGB", want)
    ref = np.asarray(im.convert("RGB"))
    assert got.shape == ref.shape == (want[1], want[0], 3)
    assert np.max(np.abs(got.astype(int) - ref)) <= DECODE_TOL
    # the rule: the smallest M/8 whose size is at least the request
    assert mlinfer.image.decode(data, min_size=(want[0] + 1, 1)).shape[1] > want[0]


def test_cmyk_jpeg_matches_pillow():
    rng = np.random.default_rng(3)
    cmyk = np.clip(photo(48, 32, channels=3).astype(int)[..., [0, 1, 2, 0]] + rng.integers(-20, 20, (32, 48, 4)),
                   0, 255).astype(np.uint8)
    data = to_jpeg(cmyk, mode="CMYK", quality=95)  # Pillow writes Adobe-style (inverted) CMYK
    assert mlinfer.image.info(data)["colorspace"] in ("cmyk", "ycck")
    im = Image.open(io.BytesIO(data))
    assert im.mode == "CMYK"
    assert np.max(np.abs(mlinfer.image.decode(data, "rgb").astype(int) - np.asarray(im.convert("RGB")))) <= DECODE_TOL
    assert np.max(np.abs(mlinfer.image.decode(data, "gray")[..., 0].astype(int) - np.asarray(im.convert("L")))) \
        <= DECODE_TOL
    spec = ImagePreprocess(size=(16, 8), mode="rgb")
    assert mlinfer.image.preprocess(data, spec).shape == (8, 16, 3)


def test_gray_conversion_matches_pillow():
    arr = photo(37, 23, seed=5)
    spec = ImagePreprocess(size=(37, 23), mode="gray", scale=1.0)
    got = mlinfer.image.preprocess(arr, spec)[..., 0]
    assert np.array_equal(got, np.asarray(Image.fromarray(arr).convert("L")).astype(np.float32))


# ---- resize and normalisation --------------------------------------------------------------

_SPECS = [
    dict(size=(8, 8), mode="gray", resize="area", scale=16 / 255, invert=True),
    dict(size=(8, 8), mode="gray", resize="bilinear"),
    dict(size=(224, 224), mode="rgb", fit="shorter", shorter=256, mean=[0.485, 0.456, 0.406],
         std=[0.229, 0.224, 0.225], layout="chw"),
    dict(size=(32, 20), mode="bgr", fit="crop", resize="area", scale=1.0, mean=[104, 117, 123]),
    dict(size=(45, 45), mode="rgb", fit="crop", resize="bilinear", layout="chw"),
    dict(size=(50, 31), mode="gray", fit="shorter", shorter=51, resize="area"),
    dict(size=(120, 97), mode="rgb", resize="bilinear", scale=2 / 255, mean=1.0),  # upscaling
    dict(size=(3, 5), mode="rgb", resize="area", invert=True, layout="chw"),
]


@pytest.mark.parametrize("kw", _SPECS)
@pytest.mark.parametrize("src", [(64, 64), (101, 67), (33, 250), (7, 9)])
def test_resize_matches_numpy_reference(kw, src):
    spec = ImagePreprocess(**kw)
    for channels in (1, 3):
        px = photo(*src, seed=channels, channels=channels)
        got = mlinfer.image.preprocess(px, spec)
        assert got.shape == spec.shape and got.dtype == np.float32
        assert_close_to_ref(got, ref_preprocess(px, spec), spec, f"{src} x{channels}")


def test_resize_close_to_pillow():
    px = photo(173, 131, seed=9)
    img = Image.fromarray(px)
    for size in [(64, 48), (17, 90), (300, 200)]:
        got = mlinfer.image.preprocess(px, ImagePreprocess(size=size, scale=1.0))
        assert np.max(np.abs(got - np.asarray(img.resize(size, Image.BILINEAR)))) <= 1.0
        got = mlinfer.image.preprocess(px, ImagePreprocess(size=size, fit="crop", scale=1.0))
        assert np.max(np.abs(got - np.asarray(ImageOps.fit(img, size, Image.BILINEAR)))) <= 1.0
    sq = photo(96, 64, seed=4)  # area at an integer factor is the block mean: Pillow's reduce (rounded)
    got = mlinfer.image.preprocess(sq, ImagePreprocess(size=(12, 8), resize="area", scale=1.0))
    assert np.max(np.abs(got - np.asarray(Image.fromarray(sq).reduce(8)))) <= 0.5 + 1e-4


def test_shorter_side_is_torchvision_resize_then_center_crop():
    px = photo(301, 200, seed=2)
    spec = ImagePreprocess(size=(224, 224), fit="shorter", shorter=256, scale=1.0)
    got = mlinfer.image.preprocess(px, spec)
    # torchvision.transforms: Resize(256) -> (385, 256); CenterCrop(224): left round(80.5) = 80, top 16
    full = ref_preprocess(px, ImagePreprocess(size=(385, 256), scale=1.0))
    assert np.max(np.abs(got - full[16:240, 80:304])) <= REL_TOL * 255


def test_jpeg_pipeline_is_decode_then_reference():
    for (w, h) in [(224, 224), (640, 480), (97, 1000)]:
        data = to_jpeg(photo(w, h, seed=w), quality=90)
        for kw in _SPECS[:4]:
            for dct in (True, False):
                spec = ImagePreprocess(**kw).replace(dct_scaling=dct)
                need = (spec.shorter,) * 2 if spec.fit == "shorter" else spec.size
                px = mlinfer.image.decode(data, "rgb", min_size=need if dct and spec.fit != "crop" else None)
                if dct and spec.fit == "crop":
                    continue  # its scale depends on the crop box; covered by the comparison below
                got = mlinfer.image.preprocess(data, spec)
                assert_close_to_ref(got, ref_preprocess(px if spec.mode != "gray" else
                                                        mlinfer.image.decode(data, "gray", min_size=need if dct
                                                                             else None), spec), spec, f"{w}x{h}")
            # reduced-size decoding against a full decode: close, not equal
            fast = mlinfer.image.preprocess(data, ImagePreprocess(**kw))
            full = mlinfer.image.preprocess(data, ImagePreprocess(**kw, dct_scaling=False))
            assert np.mean(np.abs(fast - full)) <= 0.02 * value_range(ImagePreprocess(**kw))


# ---- the digits example --------------------------------------------------------------------

@pytest.fixture(scope="module")
def digits(tmp_path_factory):
    import importlib.util
    spec = importlib.util.spec_from_file_location("make_digits", REPO / "examples" / "digits" / "make_digits.py")
    md = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(md)
    (mlp, logreg), (X_te, y_te) = md.train()
    out = tmp_path_factory.mktemp("digits")
    models = {}
    for name, est in (("mlp", mlp), ("logreg", logreg)):
        path = out / f"{name}.mli"
        mlinfer.export(est, path, image=md.STAGE)
        models[name] = (est, mlinfer.load(path))
    rng = np.random.default_rng(11)
    jpegs = [p.read_bytes() for p in sorted(SAMPLES.glob("*.jpg"))]
    jpegs += [md.render(X_te[i].reshape(8, 8), int(rng.integers(16, 200)), rng, color=bool(i % 3 == 0),
                        progressive=bool(i % 4 == 0)) for i in range(60)]
    return md, models, jpegs


def numpy_digits_input(data):
    """The digits stage in NumPy: area resize to 8 x 8, invert, scale to 0..16, from the
    pixels libmlinfer decodes at its DCT scale (the smallest M/8 keeping at least 8 x 8).
    Where that scale is one Pillow's draft() also offers (1/1, 1/2, 1/4, 1/8), Pillow's
    pixels are checked to be the same."""
    px = mlinfer.image.decode(data, "gray", min_size=(8, 8))[..., 0]
    im = Image.open(io.BytesIO(data))
    im.draft("L", (8, 8))
    if im.size == (px.shape[1], px.shape[0]):
        assert np.max(np.abs(np.asarray(im.convert("L")).astype(int) - px)) <= DECODE_TOL
    h, w = px.shape
    wy = ref_weights("area", h, 0.0, float(h), 8, 0, 8)
    wx = ref_weights("area", w, 0.0, float(w), 8, 0, 8)
    return ((255 - wy @ px.astype(np.float64) @ wx.T) * (16 / 255)).reshape(1, 64)


def test_digits_predictions_from_jpeg_equal_numpy_pipeline(digits):
    md, models, jpegs = digits
    X = np.vstack([numpy_digits_input(d) for d in jpegs])
    for name, (est, model) in models.items():
        # the stage's tensor equals the NumPy preprocessing of the same decoded pixels
        assert np.max(np.abs(model.preprocess_image(jpegs) - X)) <= REL_TOL * 16 * 2
        pred = model.predict_image(jpegs)
        assert np.array_equal(pred, est.predict(X)), name
        assert np.array_equal(pred, model.predict(X.astype(np.float32))), name
        np.testing.assert_allclose(model.predict_proba_image(jpegs), est.predict_proba(X), rtol=1e-4, atol=1e-6)
        single = np.concatenate([model.predict_image(d) for d in jpegs[:8]])
        assert np.array_equal(single, pred[:8])


def test_digits_samples_are_read_right(digits):
    _, models, _ = digits
    paths = sorted(SAMPLES.glob("*.jpg"))
    assert len(paths) >= 10 and all(p.stat().st_size < 8192 for p in paths)
    for name, (_, model) in models.items():
        got = model.predict_image(paths)
        want = [int(re.search(r"\d", p.stem).group()) for p in paths]  # digit_3.jpg, photo_7_color.jpg
        assert list(got) == want, name


# ---- the .mli image stage ------------------------------------------------------------------

def _digits_model(tmp_path, est=None, image=None):
    from sklearn.datasets import load_digits
    from sklearn.linear_model import LogisticRegression
    X, y = load_digits(return_X_y=True)
    est = est or LogisticRegression(max_iter=500).fit(X[:400], y[:400])
    path = tmp_path / "m.mli"
    mlinfer.export(est, path, image=image or ImagePreprocess(size=8, mode="gray", resize="area", scale=16 / 255,
                                                              invert=True))
    return est, mlinfer.load(path)


def test_image_stage_round_trip_and_api(tmp_path):
    spec = ImagePreprocess(size=(4, 4), mode="bgr", fit="shorter", shorter=5, resize="bilinear", scale=0.5,
                           mean=[1, 2, 3], std=[2, 3, 4], layout="chw", dct_scaling=False, accept_warnings=True,
                           max_pixels=12345)
    from sklearn.linear_model import LogisticRegression
    rng = np.random.default_rng(0)
    X = rng.normal(size=(50, 48))
    est = LogisticRegression().fit(X, rng.integers(0, 3, 50))
    mlinfer.export(est, tmp_path / "rgb.mli", image=spec)
    m = mlinfer.load(tmp_path / "rgb.mli")
    assert m.image_spec == spec
    assert m.meta("stage.0.kind") == "image" and m.meta("stage.1.kind") == "linear"
    data = to_jpeg(photo(30, 20))
    x = mlinfer.image.preprocess(data, spec).reshape(1, -1)
    np.testing.assert_allclose(m.predict_proba_image(data), est.predict_proba(x), rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(m.decision_function_image(io.BytesIO(data)), est.decision_function(x), rtol=1e-5,
                               atol=1e-6)
    path = tmp_path / "a.jpg"
    path.write_bytes(data)
    assert m.predict_image(str(path)) == m.predict_image(path) == m.predict_image(bytearray(data))
    assert m.predict_image([]).shape == (0,)
    # a model's row API is unchanged: the tensor goes in as its features
    assert m.predict(x)[0] == m.predict_image(data)[0]
    with pytest.raises(mlinfer.UnsupportedModelError, match="48 features"):
        mlinfer.export(est, tmp_path / "bad.mli", image=ImagePreprocess(size=8, mode="gray"))


def test_trees_model_with_image_stage(tmp_path):
    from sklearn.datasets import load_digits
    from sklearn.tree import DecisionTreeClassifier
    X, y = load_digits(return_X_y=True)
    est = DecisionTreeClassifier(max_depth=8, random_state=0).fit(X, y)
    _, m = _digits_model(tmp_path, est=est)
    jpegs = [p.read_bytes() for p in sorted(SAMPLES.glob("*.jpg"))]
    X = np.vstack([numpy_digits_input(d) for d in jpegs])
    assert np.array_equal(m.predict_image(jpegs), est.predict(X.astype(np.float32)))


def test_model_without_image_stage(tmp_path):
    from sklearn.linear_model import LinearRegression
    est = LinearRegression().fit(np.eye(4), np.arange(4.0))
    mlinfer.export(est, tmp_path / "r.mli")
    m = mlinfer.load(tmp_path / "r.mli")
    assert m.image_spec is None
    with pytest.raises(mlinfer.UnsupportedError, match="no image stage"):
        m.predict_image(to_jpeg(photo(8, 8)))


def _stage_file(tmp_path, **override):
    """An .mli file of the digits logistic model whose image-stage metadata is overridden."""
    from mlinfer import _format
    from mlinfer.export import _model, _Writer
    from sklearn.datasets import load_digits
    from sklearn.linear_model import LogisticRegression
    X, y = load_digits(return_X_y=True)
    est = LogisticRegression(max_iter=200).fit(X[:200], y[:200])
    w = _Writer()
    w.meta.update(producer="test", source="test", n_features=64)
    meta, arrays = ImagePreprocess(size=8, mode="gray", resize="area").stage_meta()
    p = w.stage("image", **meta)
    for k, v in arrays.items():
        w.arrays[f"{p}.{k}"] = v
    _model(w, est, 64)
    w.meta["stages"] = w.n_stages
    for k, v in override.items():
        key = k.replace("__", ".")
        if v is None:
            w.meta.pop(key, None)
            w.arrays.pop(key, None)
        elif isinstance(v, np.ndarray):
            w.arrays[key] = v
        else:
            w.meta[key] = v
    path = tmp_path / "s.mli"
    path.write_bytes(_format.build(w.meta, w.arrays))
    return path


@pytest.mark.parametrize("override, error, words", [
    (dict(stage__0__color="cmyk"), mlinfer.UnsupportedError, "stage.0.color"),
    (dict(stage__0__width=None), mlinfer.CorruptModelError, "stage.0.width"),
    (dict(stage__0__width=9), mlinfer.CorruptModelError, "n_features"),
    (dict(stage__0__width=0), mlinfer.CorruptModelError, "stage.0.width"),
    (dict(stage__0__fit="shorter"), mlinfer.CorruptModelError, "stage.0.shorter"),
    (dict(stage__0__invert="yes"), mlinfer.CorruptModelError, "stage.0.invert"),
    (dict(stage__0__scale="nan"), mlinfer.CorruptModelError, "stage.0.scale"),
    (dict(stage__0__std=np.zeros(1)), mlinfer.CorruptModelError, "std"),
    (dict(stage__0__mean=np.zeros(3)), mlinfer.CorruptModelError, "stage.0.mean"),
    (dict(stage__1__kind="image"), mlinfer.CorruptModelError, "first stage"),
    (dict(stages=1), mlinfer.CorruptModelError, "followed by a model stage"),
])
def test_corrupt_image_stage(tmp_path, override, error, words):
    path = _stage_file(tmp_path, **override)
    with pytest.raises(error, match=words.replace(".", r"\.")):
        mlinfer.load(path)


def test_stage_file_is_format_1_1(tmp_path):
    data = _stage_file(tmp_path).read_bytes()
    assert data[8:12] == bytes([1, 0, 1, 0])
    assert mlinfer.load(data).image_spec == ImagePreprocess(size=8, mode="gray", resize="area")


# ---- bad input -----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def small_jpeg():
    return to_jpeg(photo(40, 24, seed=1), quality=80)


def _sof_offset(data):
    i = 2
    while True:
        marker, length = data[i + 1], int.from_bytes(data[i + 2:i + 4], "big")
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            return i
        i += 2 + length


def _patched(data, offset, new):
    return data[:offset] + bytes(new) + data[offset + len(new):]


def test_truncated_at_every_offset(small_jpeg, capfd):
    spec = ImagePreprocess(size=8, mode="gray")
    for cut in range(len(small_jpeg) - 1):  # the last byte is EOI's D9: see below
        with pytest.raises(mlinfer.ImageError):
            mlinfer.image.preprocess(small_jpeg[:cut], spec)
    # a truncated image is kept, grey-filled, only when warnings are accepted
    lenient = ImagePreprocess(size=8, mode="gray", accept_warnings=True)
    in_scan = (small_jpeg.index(b"\xff\xda") + len(small_jpeg)) // 2
    assert mlinfer.image.preprocess(small_jpeg[:in_scan], lenient).shape == (8, 8, 1)
    out, err = capfd.readouterr()
    assert out == "" and err == "", "libmlinfer must never print"


def test_bit_flips_never_crash(small_jpeg, capfd):
    rng = np.random.default_rng(0)
    spec = ImagePreprocess(size=16, mode="rgb")
    outcomes = set()
    for _ in range(600):
        d = bytearray(small_jpeg)
        for _ in range(int(rng.integers(1, 4))):
            d[int(rng.integers(len(d)))] ^= 1 << int(rng.integers(8))
        try:
            x = mlinfer.image.preprocess(bytes(d), spec)
            assert np.all(np.isfinite(x))
            outcomes.add("ok")
        except (mlinfer.ImageError, mlinfer.UnsupportedError) as e:
            assert str(e)
            outcomes.add(type(e).__name__)
    assert "ImageError" in outcomes
    assert capfd.readouterr() == ("", "")


def test_not_a_jpeg():
    spec = ImagePreprocess(size=8, mode="gray")
    png = io.BytesIO()
    Image.fromarray(photo(8, 8)).save(png, "PNG")
    for data in (png.getvalue(), b"", b"\xff\xd8", b"hello world", b"\xff\xd8\xff"):
        with pytest.raises(mlinfer.ImageError, match="JPEG"):
            mlinfer.image.preprocess(data, spec)


def test_zero_and_huge_dimensions(small_jpeg):
    spec = ImagePreprocess(size=8, mode="gray")
    sof = _sof_offset(small_jpeg)
    with pytest.raises(mlinfer.ImageError, match="zero width or height"):
        mlinfer.image.preprocess(_patched(small_jpeg, sof + 5, [0, 0, 0, 0]), spec)
    huge = _patched(small_jpeg, sof + 5, [0xEA, 0x60, 0xEA, 0x60])  # 60000 x 60000: a decompression bomb
    with pytest.raises(mlinfer.ImageError, match="max_pixels"):
        mlinfer.image.preprocess(huge, spec)
    assert mlinfer.image.info(huge)["width"] == 60000  # headers alone allocate nothing
    with pytest.raises(mlinfer.ImageError, match="65500"):  # libjpeg's own limit on a side
        mlinfer.image.preprocess(_patched(small_jpeg, sof + 5, [0xFF, 0xFF, 0, 8]), spec)
    with pytest.raises(mlinfer.ImageError, match="exceeds the limit of 100 pixels"):
        mlinfer.image.preprocess(small_jpeg, ImagePreprocess(size=8, mode="gray", max_pixels=100))
    with pytest.raises(mlinfer.ImageError, match="max_pixels"):
        mlinfer.image.decode(small_jpeg, max_pixels=959)
    assert mlinfer.image.decode(small_jpeg, max_pixels=960).shape == (24, 40, 3)


def test_unsupported_codings(small_jpeg):
    spec = ImagePreprocess(size=8, mode="gray")
    sof = _sof_offset(small_jpeg)
    with pytest.raises(mlinfer.UnsupportedError, match="12-bit"):
        mlinfer.image.preprocess(_patched(small_jpeg, sof + 4, [12]), spec)
    with pytest.raises(mlinfer.UnsupportedError, match="lossless"):
        mlinfer.image.preprocess(_patched(small_jpeg, sof + 1, [0xC3]), spec)
    with pytest.raises(mlinfer.UnsupportedError, match="hierarchical"):
        mlinfer.image.preprocess(_patched(small_jpeg, sof + 1, [0xC5]), spec)


def test_extraneous_bytes_are_an_error_unless_accepted(small_jpeg):
    sos = small_jpeg.index(b"\xff\xda")
    junk = small_jpeg[:sos] + b"\x12\x34" + small_jpeg[sos:]  # libjpeg warns and skips them
    with pytest.raises(mlinfer.ImageError, match="2 extraneous bytes"):
        mlinfer.image.preprocess(junk, ImagePreprocess(size=8))
    ok = mlinfer.image.preprocess(junk, ImagePreprocess(size=8, accept_warnings=True))
    assert np.array_equal(ok, mlinfer.image.preprocess(small_jpeg, ImagePreprocess(size=8)))
    sof = _sof_offset(small_jpeg)  # before the frame header our own header walk finds them
    junk = small_jpeg[:sof] + b"\x00\x01\x02" + small_jpeg[sof:]
    with pytest.raises(mlinfer.ImageError, match="3 extraneous bytes"):
        mlinfer.image.preprocess(junk, ImagePreprocess(size=8))
    ok = mlinfer.image.preprocess(junk, ImagePreprocess(size=8, accept_warnings=True))
    assert np.array_equal(ok, mlinfer.image.preprocess(small_jpeg, ImagePreprocess(size=8)))
    # a fatal error after a warning is still an error when warnings are accepted
    cut = small_jpeg[: small_jpeg.index(b"\xff\xc4") + 10]  # inside the first Huffman table
    with pytest.raises(mlinfer.ImageError):
        mlinfer.image.preprocess(cut, ImagePreprocess(size=8, accept_warnings=True))


def test_batch_error_names_the_image(tmp_path, small_jpeg):
    _, m = _digits_model(tmp_path)
    good = (SAMPLES / "digit_3.jpg").read_bytes()
    with pytest.raises(mlinfer.ImageError, match="image 2: .*not a JPEG"):
        m.predict_image([good, good, b"GIF89a...", good])
    big = [good] * 70 + [small_jpeg[:100]]  # more images than the pool's threads, the bad one last
    with pytest.raises(mlinfer.ImageError, match="image 70: truncated"):
        m.predict_image(big)
    assert np.array_equal(m.predict_image([good] * 70), np.repeat(m.predict_image(good), 70))


# ---- command line --------------------------------------------------------------------------

def test_cli_predicts_a_jpeg(tmp_path):
    lib = Path(os.environ.get("MLINFER_LIBRARY", ""))
    cli = lib.parent / "mlinfer"
    if not cli.is_file():
        pytest.skip(f"no mlinfer command next to {lib}")
    _, m = _digits_model(tmp_path)
    samples = [str(SAMPLES / f"digit_{d}.jpg") for d in (3, 7)]
    r = subprocess.run([str(cli), "predict", str(tmp_path / "m.mli"), *samples], capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == [str(v) for v in m.predict_image(samples)]
    r = subprocess.run([str(cli), "predict", str(tmp_path / "m.mli"), samples[0], "--proba"], capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 0 and r.stdout.startswith("proba_0,")
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"\xff\xd8\xff\xe0\x00\x10JFIF")
    r = subprocess.run([str(cli), "predict", str(tmp_path / "m.mli"), str(bad)], capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 1 and "truncated JPEG" in r.stderr
