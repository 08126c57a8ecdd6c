"""Writer for the .mli container (docs/FORMAT.md). Pure Python + numpy + zlib."""
from __future__ import annotations

import struct
import zlib
from typing import Dict, List, Mapping, Sequence, Union

import numpy as np

MAGIC = b"MLINFER\0"
MAJOR, MINOR = 1, 0
MINOR_TREES = 1  # the `trees` and `image` stage kinds came with format 1.1
MINOR_OVR_SIGMOID = 2  # the `ovr_sigmoid` head came with format 1.2
MINOR_SCALED_TREES = 3  # affine stages before a `trees` stage came with format 1.3
MINOR_PREP = 4  # the `prep` stage kind came with format 1.4
MINOR_OVR_PROBA = 5  # the `ovr_proba` head came with format 1.5
MINOR_LGB = 6  # the `softplus` and `signed_square` heads and linear leaves (lin_* sections) came with 1.6
MINOR_TEXT = 7  # the prep stage's `text` op (kind 14: text vectorizers) came with 1.7
MINOR_TEXT_CHAR = 8  # its character analyzers (flags 512 `char`, 1024 `char_wb`) and hashing (2048, 4096) came with 1.8
TEXT_CHAR_FLAGS = 512 | 1024 | 2048 | 4096
MINOR_TEXT_SELECT = 9  # its selection of columns by value (flags 8192 `select`, 16384 `absent NaN`) came with 1.9
TEXT_SELECT_FLAGS = 8192 | 16384
OP_TEXT = 14
# A trees stage's linear-leaf sections: always flagged required, so that a reader that does not
# know them refuses the file instead of predicting the plain leaf values
LINEAR_LEAF_SECTIONS = ("lin_start", "lin_const", "lin_feature", "lin_coeff")
_DTYPES = {np.dtype(np.uint8): 0, np.dtype(np.float32): 1, np.dtype(np.float64): 2,
           np.dtype(np.int32): 3, np.dtype(np.int64): 4}
DT_STRINGS = 5
FLAG_COMPRESSED, FLAG_REQUIRED = 1, 2

Payload = Union[np.ndarray, Sequence[str]]


def _align(n: int, a: int = 64) -> int:
    return (n + a - 1) // a * a


def encode_strings(items: Sequence[str]) -> bytes:
    parts = [struct.pack("<I", len(items))]
    for s in items:
        b = s.encode("utf-8")
        parts.append(struct.pack("<I", len(b)))
        parts.append(b)
    return b"".join(parts)


def build(meta: Mapping[str, object], arrays: Mapping[str, Payload], compress: bool = False,
          required: Sequence[str] = ("meta",)) -> bytes:
    """Returns the bytes of an .mli file holding `meta` (key -> value) and `arrays`. The
    header names the oldest format minor that has every stage kind used."""
    minor = MINOR_TREES if any(k.endswith(".kind") and v in ("trees", "image") for k, v in meta.items()) else MINOR
    if meta.get("head") == "ovr_sigmoid":
        minor = MINOR_OVR_SIGMOID
    kinds = {v for k, v in meta.items() if k.startswith("stage.") and k.endswith(".kind")}
    if "trees" in kinds and "affine" in kinds:
        minor = MINOR_SCALED_TREES
    if any(k.endswith(".kind") and v == "prep" for k, v in meta.items()):
        minor = MINOR_PREP
    if meta.get("head") == "ovr_proba":
        minor = MINOR_OVR_PROBA
    if meta.get("head") in ("softplus", "signed_square"):
        minor = MINOR_LGB

    def linear_leaves(name):
        return name.startswith("stage.") and name.rsplit(".", 1)[-1] in LINEAR_LEAF_SECTIONS

    if any(linear_leaves(name) for name in arrays):
        minor = max(minor, MINOR_LGB)

    def text_ops(name):
        """The flags of the text ops in section `name` (none: not a prep stage's ops)."""
        if not (name.startswith("stage.") and name.endswith(".ops")) or not isinstance(arrays[name], np.ndarray):
            return []
        ops = np.asarray(arrays[name]).reshape(-1, 8)
        return [int(f) for f in ops[ops[:, 0] == OP_TEXT, 6]]

    for name in arrays:
        for flags in text_ops(name):
            minor = max(minor, MINOR_TEXT_SELECT if flags & TEXT_SELECT_FLAGS else
                        MINOR_TEXT_CHAR if flags & TEXT_CHAR_FLAGS else MINOR_TEXT)
    sections: List[tuple] = [("meta", DT_STRINGS, encode_strings([f"{k}={v}" for k, v in meta.items()]))]
    for name, value in arrays.items():
        if isinstance(value, np.ndarray):
            arr = np.ascontiguousarray(value)
            if arr.dtype not in _DTYPES:
                raise TypeError(f"section {name!r}: unsupported dtype {arr.dtype}")
            sections.append((name, _DTYPES[arr.dtype], arr.astype(arr.dtype.newbyteorder("<"), copy=False).tobytes()))
        else:
            sections.append((name, DT_STRINGS, encode_strings(list(value))))
    table_off = 64
    offset = _align(table_off + 64 * len(sections))
    table, blobs = [], []
    for name, dt, raw in sections:
        if len(name.encode()) > 31:
            raise ValueError(f"section name {name!r} is longer than 31 bytes")
        flags = FLAG_REQUIRED if name in required or linear_leaves(name) else 0
        stored = raw
        if compress and len(raw) > 256:
            stored = zlib.compress(raw, 6)
            flags |= FLAG_COMPRESSED
        table.append(struct.pack("<32sBBHIQQQ", name.encode(), dt, flags, 0, zlib.crc32(stored) & 0xFFFFFFFF,
                                 offset, len(stored), len(raw)))
        blobs.append((offset, stored))
        offset = _align(offset + len(stored))
    file_size = offset
    out = bytearray(file_size)
    table_bytes = b"".join(table)
    head = struct.pack("<8sHHIIIQQI16s", MAGIC, MAJOR, minor, 0, len(sections), 0, table_off, file_size,
                       zlib.crc32(table_bytes) & 0xFFFFFFFF, b"\0" * 16)
    out[0:60] = head
    out[60:64] = struct.pack("<I", zlib.crc32(head) & 0xFFFFFFFF)
    out[table_off:table_off + 64 * len(table)] = table_bytes
    for off, blob in blobs:
        out[off:off + len(blob)] = blob
    return bytes(out)


_NUMPY_OF = {v: k for k, v in _DTYPES.items()}


def _decode_strings(raw: bytes) -> List[str]:
    (count,) = struct.unpack_from("<I", raw, 0)
    out, at = [], 4
    for _ in range(count):
        (n,) = struct.unpack_from("<I", raw, at)
        out.append(raw[at + 4:at + 4 + n].decode("utf-8"))
        at += 4 + n
    return out


def parse(data: bytes):
    """The metadata (key -> value strings, in file order) and the arrays of an .mli file that
    libmlinfer wrote or accepted (so its checks have been made; only the layout is read here).
    The inverse of build(), for exporters that start from a converted model."""
    magic, major, _minor, _flags, count, _r, table_off, _size, _tcrc, _res = struct.unpack_from("<8sHHIIIQQI16s", data, 0)
    if magic != MAGIC or major != MAJOR:
        raise ValueError("not an .mli file of format 1")
    meta: Dict[str, str] = {}
    arrays: Dict[str, Payload] = {}
    for i in range(count):
        name, dt, flags, _r2, _crc, off, stored, size = struct.unpack_from("<32sBBHIQQQ", data, table_off + 64 * i)
        raw = bytes(data[off:off + stored])
        if flags & FLAG_COMPRESSED:
            raw = zlib.decompress(raw)
        name = name.rstrip(b"\0").decode()
        if dt == DT_STRINGS:
            items = _decode_strings(raw)
            if name == "meta":
                for kv in items:
                    k, _, v = kv.partition("=")
                    meta[k] = v
            else:
                arrays[name] = items
        else:
            arrays[name] = np.frombuffer(raw, dtype=_NUMPY_OF[dt].newbyteorder("<")).astype(_NUMPY_OF[dt])
    return meta, arrays
