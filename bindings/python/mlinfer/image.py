"""JPEG input: decode and preprocess images with libmlinfer (libjpeg-turbo underneath).

    spec = mlinfer.ImagePreprocess(size=(8, 8), mode="gray", resize="area", scale=16 / 255, invert=True)
    x = mlinfer.image.preprocess("digit.jpg", spec)        # float32 array, spec.shape
    mlinfer.export(clf, "digits.mli", image=spec)           # the model then takes JPEG bytes
    mlinfer.load("digits.mli").predict_image("digit.jpg")

See docs/IMAGE.md for the exact arithmetic of every step."""
from __future__ import annotations

import ctypes
import os
from typing import Dict, Optional, Sequence, Tuple, Union

import numpy as np

from . import _native
from ._native import address, check, lib
from .errors import UnsupportedError

_COLORS = ("gray", "rgb", "bgr")
_FITS = ("stretch", "shorter", "crop")
_RESIZES = ("bilinear", "area")
_LAYOUTS = ("hwc", "chw")
_JPEG_SPACES = ("gray", "ycbcr", "rgb", "cmyk", "ycck")
_INVERT, _NO_DCT, _ACCEPT_WARNINGS = 1, 2, 4
DEFAULT_MAX_PIXELS = 1 << 26

ImageInput = Union[bytes, bytearray, memoryview, str, os.PathLike]


def _require():
    if not _native.HAS_IMAGE:
        raise UnsupportedError("this libmlinfer was built without image input (mli_image_* is missing)")


def read_bytes(image) -> bytes:
    """The bytes of an image given as bytes-like, a path, or a binary file object."""
    if isinstance(image, bytes):
        return image
    if isinstance(image, (bytearray, memoryview)):
        return bytes(image)
    if isinstance(image, (str, os.PathLike)):
        with open(image, "rb") as f:
            return f.read()
    if hasattr(image, "read"):
        return image.read()
    raise TypeError(f"expected JPEG bytes, a path or a binary file, got {type(image).__name__}")


def _choice(name: str, value: str, options: Sequence[str]) -> int:
    if value not in options:
        raise ValueError(f"{name}={value!r}: expected one of {', '.join(options)}")
    return options.index(value)


def _per_channel(name: str, value, channels: int) -> Tuple[float, ...]:
    arr = np.broadcast_to(np.asarray(value, dtype=np.float64).reshape(-1), (channels,)) \
        if np.ndim(value) == 0 or np.size(value) == 1 else np.asarray(value, dtype=np.float64).reshape(-1)
    if arr.shape[0] != channels:
        raise ValueError(f"{name} has {arr.shape[0]} values for {channels} channel(s)")
    return tuple(float(v) for v in arr)


class ImagePreprocess:
    """How an image becomes a model input tensor (the .mli `image` stage).

    size        (width, height) of the output, or one int for a square.
    mode        "gray" (1 channel), "rgb" or "bgr" (3 channels, in that order).
    fit         "stretch": the whole image resized to size (aspect ratio not kept);
                "shorter": resized so its shorter side is `shorter` px, then the centre
                size cut out (torchvision Resize(shorter) + CenterCrop);
                "crop": the largest centred region with the aspect ratio of size, resized
                (Pillow's ImageOps.fit).
    resize      "bilinear" (antialiased triangle filter, as Pillow's BILINEAR) or "area"
                (mean of the covered source area, as OpenCV's INTER_AREA).
    scale, mean, std
                out = (v * scale - mean[c]) / std[c] for each 8-bit sample v; mean and std
                a number or one value per channel.
    invert      use 255 - v (dark ink on white paper -> high values).
    layout      "hwc" or "chw".
    dct_scaling let libjpeg-turbo decode large JPEGs at a reduced size (M/8) when the
                result is still at least the resize target: much faster for photos,
                values within a few levels of a full decode.
    accept_warnings
                keep images libjpeg-turbo decodes with a warning (truncated data is
                filled with grey); by default such images fail with ImageError.
    max_pixels  limit on width x height of the source JPEG (default 2**26).
    """

    def __init__(self, size=(224, 224), mode: str = "rgb", fit: str = "stretch", shorter: Optional[int] = None,
                 resize: str = "bilinear", scale: float = 1.0 / 255.0, mean=0.0, std=1.0, invert: bool = False,
                 layout: str = "hwc", dct_scaling: bool = True, accept_warnings: bool = False,
                 max_pixels: Optional[int] = None):
        if isinstance(size, (int, np.integer)):
            size = (int(size), int(size))
        self.size = (int(size[0]), int(size[1]))
        _choice("mode", mode, _COLORS)
        _choice("fit", fit, _FITS)
        _choice("resize", resize, _RESIZES)
        _choice("layout", layout, _LAYOUTS)
        self.mode, self.fit, self.resize, self.layout = mode, fit, resize, layout
        if fit == "shorter" and shorter is None:
            raise ValueError("fit='shorter' needs shorter=<pixels of the shorter side after resizing>")
        self.shorter = int(shorter) if shorter is not None else None
        self.scale = float(scale)
        self.mean = _per_channel("mean", mean, self.channels)
        self.std = _per_channel("std", std, self.channels)
        self.invert = bool(invert)
        self.dct_scaling = bool(dct_scaling)
        self.accept_warnings = bool(accept_warnings)
        self.max_pixels = int(max_pixels) if max_pixels is not None else None
        if _native.HAS_IMAGE:
            n = ctypes.c_int64()
            check(lib.mli_image_spec_tensor_len(ctypes.byref(self._c()), ctypes.byref(n)))

    def replace(self, **changes) -> "ImagePreprocess":
        """A copy with some arguments changed: spec.replace(dct_scaling=False)."""
        kw = dict(size=self.size, mode=self.mode, fit=self.fit, shorter=self.shorter, resize=self.resize,
                  scale=self.scale, mean=self.mean, std=self.std, invert=self.invert, layout=self.layout,
                  dct_scaling=self.dct_scaling, accept_warnings=self.accept_warnings, max_pixels=self.max_pixels)
        kw.update(changes)
        return ImagePreprocess(**kw)

    # -- shape --------------------------------------------------------------------------
    @property
    def channels(self) -> int:
        return 1 if self.mode == "gray" else 3

    @property
    def shape(self) -> Tuple[int, int, int]:
        w, h = self.size
        return (h, w, self.channels) if self.layout == "hwc" else (self.channels, h, w)

    @property
    def tensor_len(self) -> int:
        return self.size[0] * self.size[1] * self.channels

    # -- conversions ----------------------------------------------------------------------
    def _c(self) -> _native.ImageSpec:
        s = _native.ImageSpec()
        s.width, s.height = self.size
        s.color = _COLORS.index(self.mode)
        s.fit = _FITS.index(self.fit)
        s.shorter = self.shorter or 0
        s.resize = _RESIZES.index(self.resize)
        s.layout = _LAYOUTS.index(self.layout)
        s.flags = (_INVERT if self.invert else 0) | (0 if self.dct_scaling else _NO_DCT) | \
            (_ACCEPT_WARNINGS if self.accept_warnings else 0)
        s.scale = self.scale
        for c in range(3):
            s.mean[c] = self.mean[c] if c < self.channels else 0.0
            s.std[c] = self.std[c] if c < self.channels else 1.0
        s.max_pixels = self.max_pixels or 0
        return s

    @classmethod
    def _from_c(cls, s: _native.ImageSpec) -> "ImagePreprocess":
        ch = 1 if s.color == 0 else 3
        return cls(size=(s.width, s.height), mode=_COLORS[s.color], fit=_FITS[s.fit],
                   shorter=s.shorter if s.fit == 1 else None, resize=_RESIZES[s.resize], scale=s.scale,
                   mean=list(s.mean)[:ch], std=list(s.std)[:ch], invert=bool(s.flags & _INVERT),
                   layout=_LAYOUTS[s.layout], dct_scaling=not s.flags & _NO_DCT,
                   accept_warnings=bool(s.flags & _ACCEPT_WARNINGS), max_pixels=s.max_pixels or None)

    def stage_meta(self) -> Tuple[Dict[str, object], Dict[str, np.ndarray]]:
        """The metadata keys and array sections of the .mli `image` stage (docs/FORMAT.md)."""
        meta: Dict[str, object] = {"width": self.size[0], "height": self.size[1], "color": self.mode, "fit": self.fit,
                                   "resize": self.resize, "layout": self.layout, "scale": repr(self.scale),
                                   "invert": int(self.invert), "dct_scaling": int(self.dct_scaling),
                                   "accept_warnings": int(self.accept_warnings)}
        if self.fit == "shorter":
            meta["shorter"] = self.shorter
        if self.max_pixels:
            meta["max_pixels"] = self.max_pixels
        arrays = {"mean": np.array(self.mean, dtype=np.float64), "std": np.array(self.std, dtype=np.float64)}
        return meta, arrays

    def _key(self):
        return (self.size, self.mode, self.fit, self.shorter, self.resize, self.scale, self.mean, self.std,
                self.invert, self.layout, self.dct_scaling, self.accept_warnings, self.max_pixels)

    def __eq__(self, other) -> bool:
        return isinstance(other, ImagePreprocess) and self._key() == other._key()

    def __repr__(self) -> str:
        extra = f", shorter={self.shorter}" if self.fit == "shorter" else ""
        return (f"ImagePreprocess(size={self.size}, mode={self.mode!r}, fit={self.fit!r}{extra}, "
                f"resize={self.resize!r}, scale={self.scale!r}, mean={self.mean}, std={self.std}, "
                f"invert={self.invert}, layout={self.layout!r}, dct_scaling={self.dct_scaling})")


def info(image) -> dict:
    """The JPEG's header: width, height, components, colorspace, progressive."""
    _require()
    data = read_bytes(image)
    out = _native.ImageInfo()
    check(lib.mli_image_jpeg_info(data, len(data), ctypes.byref(out)))
    return {"width": out.width, "height": out.height, "components": out.components,
            "colorspace": _JPEG_SPACES[out.colorspace], "progressive": bool(out.progressive)}


def decode(image, mode: str = "rgb", min_size: Optional[Tuple[int, int]] = None, max_pixels: Optional[int] = None,
           accept_warnings: bool = False) -> np.ndarray:
    """Decodes a JPEG to uint8 pixels, shape (height, width, channels). With min_size=(w, h)
    the image is decoded at the smallest libjpeg-turbo scale M/8 that keeps it at least
    that large (the rule ImagePreprocess's DCT scaling follows)."""
    _require()
    data = read_bytes(image)
    color = _choice("mode", mode, _COLORS)
    mw, mh = min_size if min_size is not None else (0, 0)
    w, h = ctypes.c_int32(), ctypes.c_int32()
    flags = _ACCEPT_WARNINGS if accept_warnings else 0
    limit = max_pixels or 0
    check(lib.mli_image_decode_jpeg(data, len(data), color, mw, mh, limit, flags, None, 0, ctypes.byref(w),
                                    ctypes.byref(h)))
    ch = 1 if color == 0 else 3
    out = np.empty((h.value, w.value, ch), dtype=np.uint8)
    check(lib.mli_image_decode_jpeg(data, len(data), color, mw, mh, limit, flags, address(out), out.size,
                                    ctypes.byref(w), ctypes.byref(h)))
    return out


def preprocess(image, spec: ImagePreprocess) -> np.ndarray:
    """The float32 tensor (spec.shape) a model with this image stage sees. `image` is JPEG
    bytes, a path, a binary file, or already decoded uint8 pixels: (h, w) gray, (h, w, 3)
    RGB or (h, w, 4) CMYK as stored in an Adobe JPEG (inverted)."""
    _require()
    out = np.empty(spec.shape, dtype=np.float32)
    cspec = spec._c()
    if isinstance(image, np.ndarray):
        px = image if image.ndim == 3 else image[:, :, None]
        if px.ndim != 3 or px.dtype != np.uint8:
            raise ValueError(f"pixels must be uint8 of shape (h, w) or (h, w, channels), got {image.dtype} "
                             f"{image.shape}")
        px = np.ascontiguousarray(px)
        check(lib.mli_image_preprocess_pixels(address(px), px.shape[1], px.shape[0], px.shape[2],
                                              px.shape[1] * px.shape[2], ctypes.byref(cspec), address(out), out.size))
        return out
    data = read_bytes(image)
    check(lib.mli_image_preprocess_jpeg(data, len(data), ctypes.byref(cspec), address(out), out.size))
    return out
