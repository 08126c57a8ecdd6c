#!/usr/bin/env python3
"""make_corrupt.py — regenerates the corpus of broken .mli files in this folder and its
EXPECTED list, in the manner of zstd's tests/golden-decompression-errors: each file is a
golden model from tests/data/ with one defect, and must fail to load with the stated
status and a message containing the stated text (tests/model/test_model_corrupt.c).

    python3 tests/data/corrupt/make_corrupt.py       # needs only numpy-free Python 3

Each case either patches bytes of a valid file in place (fixing the header CRC when the
defect is meant for a later check), or re-encodes a valid file's sections with one of them
changed (a metadata entry, a payload), recomputing every CRC so that only the intended
check can fire. Deterministic: no randomness, no timestamps.

EXPECTED is tab-separated: file, status name, text the message must contain ('|' separates
alternatives; '-' means none, for files that must load). Lines starting with '#' are
comments; '#bug' lines are defects the loader does not catch yet (see the note above them).
"""
from __future__ import annotations

import os
import struct
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.dirname(HERE)

ENTRY = struct.Struct("<32sBBHIQQQ")  # name dtype flags reserved crc offset stored_size size
HEADER_FIELDS = {  # name: (offset, struct format)
    "magic": (0, "8s"), "major": (8, "<H"), "minor": (10, "<H"), "flags": (12, "<I"),
    "section_count": (16, "<I"), "reserved0": (20, "<I"), "table_offset": (24, "<Q"),
    "file_size": (32, "<Q"), "header_crc": (60, "<I"),
}
ENTRY_FIELDS = {"dtype": (32, "<B"), "flags": (33, "<B"), "reserved": (34, "<H"), "crc": (36, "<I"),
                "offset": (40, "<Q"), "stored_size": (48, "<Q"), "size": (56, "<Q")}
DT_STRINGS, F_COMPRESSED, F_REQUIRED = 5, 1, 2


def crc(b: bytes) -> int:
    return zlib.crc32(b) & 0xFFFFFFFF


def align(n: int) -> int:
    return (n + 63) // 64 * 64


def golden(name: str) -> bytes:
    with open(os.path.join(DATA, name + ".mli"), "rb") as f:
        return f.read()


# ---- byte patches --------------------------------------------------------------------

def fix_header_crc(b: bytearray) -> bytearray:
    struct.pack_into("<I", b, 60, crc(bytes(b[:60])))
    return b


def seal(data: bytes) -> bytes:
    """Recomputes the section-table CRC (header offset 40) after a table patch, so the
    defect reaches the check it targets; the header CRC is refreshed only if it was valid
    before (cases that break it on purpose stay broken)."""
    if len(data) < 64:
        return data
    b = bytearray(data)
    header_ok = struct.unpack_from("<I", b, 60)[0] == crc(bytes(b[:60]))
    count, table = struct.unpack_from("<I", b, 16)[0], struct.unpack_from("<Q", b, 24)[0]
    if count == 0 or table < 64 or table + 64 * count > len(b):
        return data
    struct.pack_into("<I", b, 40, crc(bytes(b[table:table + 64 * count])))
    return bytes(fix_header_crc(b) if header_ok else b)


def set_header(data: bytes, field: str, value, fix_crc: bool = True) -> bytes:
    b = bytearray(data)
    off, fmt = HEADER_FIELDS[field]
    struct.pack_into(fmt, b, off, value)
    return bytes(fix_header_crc(b) if fix_crc else b)


def entry_offset(data: bytes, i: int) -> int:
    return struct.unpack_from("<Q", data, 24)[0] + 64 * i


def entry_index(data: bytes, name: str) -> int:
    for i in range(struct.unpack_from("<I", data, 16)[0]):
        if ENTRY.unpack_from(data, entry_offset(data, i))[0].rstrip(b"\0") == name.encode():
            return i
    raise KeyError(name)


def set_entry(data: bytes, name: str, field: str, value) -> bytes:
    b = bytearray(data)
    off, fmt = ENTRY_FIELDS[field]
    struct.pack_into(fmt, b, entry_offset(data, entry_index(data, name)) + off, value)
    return bytes(b)


def get_entry(data: bytes, name: str, field: str):
    off, fmt = ENTRY_FIELDS[field]
    return struct.unpack_from(fmt, data, entry_offset(data, entry_index(data, name)) + off)[0]


def set_name(data: bytes, name: str, raw: bytes) -> bytes:
    b = bytearray(data)
    at = entry_offset(data, entry_index(data, name))
    b[at:at + 32] = raw.ljust(32, b"\0")[:32]
    return bytes(b)


def patch_payload(data: bytes, name: str, rel: int, new: bytes, fix_crc: bool = True) -> bytes:
    """Overwrites stored payload bytes of section `name` at `rel`, refreshing its CRC."""
    b = bytearray(data)
    off, stored = get_entry(data, name, "offset"), get_entry(data, name, "stored_size")
    b[off + rel:off + rel + len(new)] = new
    if fix_crc:
        b = bytearray(set_entry(bytes(b), name, "crc", crc(bytes(b[off:off + stored]))))
    return bytes(b)


# ---- structural re-encoding ----------------------------------------------------------

def sections_of(data: bytes):
    """[name, dtype, flags, decoded payload] for each section of a valid file."""
    out = []
    for i in range(struct.unpack_from("<I", data, 16)[0]):
        name, dt, flags, _, _, off, stored, _ = ENTRY.unpack_from(data, entry_offset(data, i))
        raw = data[off:off + stored]
        if flags & F_COMPRESSED:
            raw = zlib.decompress(raw)
        out.append([name.rstrip(b"\0").decode(), dt, flags, raw])
    return out


def encode(sections) -> bytes:
    """A well-formed container (CRCs right) holding `sections` as given."""
    table_end = 64 + 64 * len(sections)
    offset = align(table_end)
    entries, blobs = [], []
    for name, dt, flags, raw in sections:
        stored = zlib.compress(raw, 6) if flags & F_COMPRESSED else raw
        entries.append(ENTRY.pack(name.encode() if isinstance(name, str) else name, dt, flags, 0, crc(stored),
                                  offset, len(stored), len(raw)))
        blobs.append((offset, stored))
        offset = align(offset + len(stored))
    b = bytearray(offset)
    struct.pack_into("<8sHHIIIQQ", b, 0, b"MLINFER\0", 1, 0, 0, len(sections), 0, 64, offset)
    fix_header_crc(b)
    b[64:table_end] = b"".join(entries)
    for off, blob in blobs:
        b[off:off + len(blob)] = blob
    return bytes(b)


def strings_decode(raw: bytes):
    n = struct.unpack_from("<I", raw, 0)[0]
    items, p = [], 4
    for _ in range(n):
        ln = struct.unpack_from("<I", raw, p)[0]
        items.append(raw[p + 4:p + 4 + ln].decode())
        p += 4 + ln
    return items


def strings_encode(items) -> bytes:
    parts = [struct.pack("<I", len(items))]
    for s in items:
        b = s.encode() if isinstance(s, str) else s
        parts += [struct.pack("<I", len(b)), b]
    return b"".join(parts)


def with_meta(data: bytes, edit) -> bytes:
    """Re-encodes `data` with its meta list replaced by edit(list of 'k=v')."""
    secs = sections_of(data)
    for s in secs:
        if s[0] == "meta":
            s[3] = strings_encode(edit(strings_decode(s[3])))
    return encode(secs)


def set_meta(key: str, value):
    def edit(items):
        out = [s for s in items if not s.startswith(key + "=")]
        if value is not None:
            out.append(f"{key}={value}")
        return out
    return edit


def with_section(data: bytes, name: str, edit) -> bytes:
    """Re-encodes `data` with section `name` replaced by edit([name, dtype, flags, raw])
    (which may return None to drop it); the sections keep their order."""
    out = []
    for s in sections_of(data):
        if s[0] == name:
            s = edit(s)
        if s is not None:
            out.append(s)
    return encode(out)


# ---- the corpus ----------------------------------------------------------------------

def cases():
    lb = golden("logreg_binary")          # meta, classes, stage.0.coef (8 f32), stage.0.intercept
    ls = golden("logreg_multi_strlabels")  # string labels
    mp = golden("mlp_pipeline")            # StandardScaler + MLP (16, 8), 3 classes
    mz = golden("mlp_regressor_z")         # compressed: meta and stage.1.W.0 are zlib streams
    size = len(lb)
    c = []

    def add(name, data, status, text):
        c.append((name, data, status, text))

    # -- file and header
    add("empty.mli", b"", "MLI_ERR_CORRUPT", "empty|shorter than the 64-byte")
    add("short_header.mli", lb[:40], "MLI_ERR_CORRUPT", "40 bytes is shorter than the 64-byte")
    add("header_only.mli", set_header(lb[:64], "file_size", 64), "MLI_ERR_CORRUPT", "section table at offset 64")
    add("bad_magic.mli", b"MLINFEX\0" + lb[8:], "MLI_ERR_CORRUPT", "bad magic")
    add("pickle.mli", b"\x80\x04\x95" + lb[3:], "MLI_ERR_CORRUPT", "not an .mli model file")
    add("header_crc.mli", set_header(lb, "reserved0", 1, fix_crc=False), "MLI_ERR_CORRUPT",
        "header: crc32 mismatch at offset 60")
    add("header_crc_field.mli", set_header(lb, "header_crc", struct.unpack_from("<I", lb, 60)[0] ^ 1, False),
        "MLI_ERR_CORRUPT", "crc32 mismatch")
    add("version_major2.mli", set_header(lb, "major", 2), "MLI_ERR_VERSION",
        "format version 2.0 is newer than this library reads (1.")
    add("version_major65535.mli", set_header(set_header(lb, "major", 65535), "minor", 7), "MLI_ERR_VERSION",
        "65535.7")
    add("version_major0.mli", set_header(lb, "major", 0), "MLI_ERR_CORRUPT", "major version 0")
    add("header_reserved_20.mli", set_header(lb, "reserved0", 0x100), "MLI_ERR_CORRUPT",
        "header: reserved byte at offset 21 is not zero")
    add("header_reserved_59.mli", fix_header_crc(bytearray(lb[:59] + b"\x01" + lb[60:])), "MLI_ERR_CORRUPT",
        "header: reserved byte at offset 59 is not zero")
    add("header_flags.mli", set_header(lb, "flags", 1), "MLI_ERR_UNSUPPORTED", "unknown flags 0x00000001")
    add("header_flags_high.mli", set_header(lb, "flags", 0x80000000), "MLI_ERR_UNSUPPORTED", "unknown flags 0x80000000")
    add("truncated.mli", lb[:-64], "MLI_ERR_CORRUPT", f"header says the file is {size} bytes but it is {size - 64}")
    add("truncated_1.mli", lb[:-1], "MLI_ERR_CORRUPT", "truncated or padded")
    add("padded.mli", lb + b"\0" * 64, "MLI_ERR_CORRUPT", f"header says the file is {size} bytes but it is {size + 64}")
    add("file_size_huge.mli", set_header(lb, "file_size", 2**64 - 1), "MLI_ERR_CORRUPT", "18446744073709551615")
    add("section_count_0.mli", set_header(lb, "section_count", 0), "MLI_ERR_CORRUPT", "section_count 0 is outside 1..4096")
    add("section_count_huge.mli", set_header(lb, "section_count", 0xFFFFFFFF), "MLI_ERR_CORRUPT",
        "section_count 4294967295 is outside")
    add("section_count_4096.mli", set_header(lb, "section_count", 4096), "MLI_ERR_CORRUPT",
        "with 4096 entries does not fit")
    add("table_past_eof.mli", set_header(lb, "table_offset", size), "MLI_ERR_CORRUPT",
        f"section table at offset {size} with 4 entries does not fit")
    add("table_offset_huge.mli", set_header(lb, "table_offset", 2**63), "MLI_ERR_CORRUPT", "does not fit in the file")
    add("table_in_header.mli", set_header(lb, "table_offset", 0), "MLI_ERR_CORRUPT", "section table at offset 0")

    # -- section table entries
    add("section_offset_unaligned.mli", set_entry(lb, "classes", "offset", 640 + 8), "MLI_ERR_CORRUPT",
        "section 'classes': offset 648 is not a multiple of 64")
    add("section_offset_in_table.mli", set_entry(lb, "classes", "offset", 64), "MLI_ERR_CORRUPT",
        "offset 64 is not a multiple of 64 past the section table")
    add("section_offset_zero.mli", set_entry(lb, "meta", "offset", 0), "MLI_ERR_CORRUPT", "section 'meta': offset 0")
    add("section_past_eof.mli", set_entry(lb, "stage.0.intercept", "offset", size), "MLI_ERR_CORRUPT",
        f"section 'stage.0.intercept': 4 bytes at offset {size} run past the end of the {size}-byte file")
    add("section_offset_wraps.mli", set_entry(lb, "classes", "offset", 2**64 - 64), "MLI_ERR_CORRUPT",
        "run past the end")
    huge = set_entry(set_entry(lb, "classes", "stored_size", 2**64 - 16), "classes", "size", 2**64 - 16)
    add("section_stored_huge.mli", huge, "MLI_ERR_CORRUPT", "section 'classes': 18446744073709551600 bytes")
    add("section_overlap.mli", set_entry(lb, "stage.0.intercept", "offset", get_entry(lb, "stage.0.coef", "offset")),
        "MLI_ERR_CORRUPT", "sections 'stage.0.coef' and 'stage.0.intercept' overlap|sections 'stage.0.intercept' "
        "and 'stage.0.coef' overlap")
    grown = set_entry(set_entry(lb, "classes", "stored_size", 104), "classes", "size", 104)
    add("section_overlap_partial.mli", grown, "MLI_ERR_CORRUPT", "sections 'classes' and 'stage.0.coef' overlap")
    add("stored_ne_size.mli", set_entry(lb, "classes", "size", 24), "MLI_ERR_CORRUPT",
        "uncompressed but stored size 16 differs from size 24")
    odd = set_entry(set_entry(lb, "stage.0.coef", "stored_size", 30), "stage.0.coef", "size", 30)
    add("size_not_dtype_multiple.mli", odd, "MLI_ERR_CORRUPT", "size 30 is not a multiple of its element size 4")
    odd8 = set_entry(set_entry(lb, "classes", "stored_size", 12), "classes", "size", 12)
    add("size_not_i64_multiple.mli", odd8, "MLI_ERR_CORRUPT", "size 12 is not a multiple of its element size 8")
    add("bad_dtype.mli", set_entry(lb, "classes", "dtype", 9), "MLI_ERR_CORRUPT", "section 'classes': unknown dtype 9")
    add("bad_dtype_255.mli", set_entry(lb, "meta", "dtype", 255), "MLI_ERR_CORRUPT", "unknown dtype 255")
    add("section_flags_unknown.mli", set_entry(lb, "classes", "flags", 4), "MLI_ERR_UNSUPPORTED",
        "section 'classes': unknown flags 0x04")
    add("section_flags_high.mli", set_entry(lb, "meta", "flags", 0x82), "MLI_ERR_UNSUPPORTED", "unknown flags 0x82")
    add("section_reserved.mli", set_entry(lb, "classes", "reserved", 1), "MLI_ERR_CORRUPT", "reserved field is not zero")
    add("duplicate_name.mli", set_name(lb, "stage.0.intercept", b"stage.0.coef"), "MLI_ERR_CORRUPT",
        "section 'stage.0.coef' appears twice")
    add("name_not_terminated.mli", set_name(lb, "classes", b"c" * 32), "MLI_ERR_CORRUPT",
        "section table entry 1 at offset 128: name is not NUL-")
    add("name_padding_garbage.mli", set_name(lb, "classes", b"classes\0junk"), "MLI_ERR_CORRUPT",
        "entry 1 at offset 128: name is not NUL-padded")
    add("name_empty.mli", set_name(lb, "classes", b""), "MLI_ERR_CORRUPT", "entry 1 at offset 128: name")
    add("name_bad_char.mli", set_name(lb, "classes", b"clas/es"), "MLI_ERR_CORRUPT", "[A-Za-z0-9_.]")
    add("name_utf8.mli", set_name(lb, "classes", "cl\u00e4sses".encode()), "MLI_ERR_CORRUPT", "entry 1")

    # -- padding between the table and payloads, between payloads, and at the end
    meta_end = get_entry(lb, "meta", "offset") + get_entry(lb, "meta", "stored_size")
    add("padding_between_payloads.mli", lb[:meta_end] + b"\x80" + lb[meta_end + 1:], "MLI_ERR_CORRUPT",
        f"padding byte at offset {meta_end} is not zero")
    add("padding_at_end.mli", lb[:-1] + b"\x01", "MLI_ERR_CORRUPT", f"padding byte at offset {size - 1} is not zero")

    # -- payload integrity
    coef_off = get_entry(lb, "stage.0.coef", "offset")
    flipped = bytearray(lb)
    flipped[coef_off + 5] ^= 0x10
    add("section_crc.mli", bytes(flipped), "MLI_ERR_CORRUPT",
        f"section 'stage.0.coef': crc32 mismatch at offset {coef_off}")
    add("section_crc_field.mli", set_entry(lb, "meta", "crc", get_entry(lb, "meta", "crc") ^ 0x80000000),
        "MLI_ERR_CORRUPT", "section 'meta': crc32 mismatch at offset 320")

    # -- zlib (mlp_regressor_z: stage.1.W.0 stores 1100 bytes inflating to 1152)
    w0 = "stage.1.W.0"
    w0_off, w0_stored, w0_size = (get_entry(mz, w0, f) for f in ("offset", "stored_size", "size"))
    add("zlib_bad_header.mli", patch_payload(mz, w0, 1, b"\x00"), "MLI_ERR_CORRUPT",
        f"section '{w0}': corrupt zlib stream at offset")
    add("zlib_bad_block.mli", patch_payload(mz, w0, 2, b"\xff"), "MLI_ERR_CORRUPT", "corrupt zlib stream")
    adler = bytearray(mz[w0_off:w0_off + w0_stored])
    adler[-1] ^= 1
    add("zlib_bad_checksum.mli", patch_payload(mz, w0, 0, bytes(adler)), "MLI_ERR_CORRUPT",
        "incorrect data check")
    add("zlib_short_output.mli", set_entry(mz, w0, "size", w0_size + 64), "MLI_ERR_CORRUPT",
        f"section '{w0}': zlib stream does not inflate to the declared {w0_size + 64} bytes (got {w0_size})")
    add("zlib_long_output.mli", set_entry(mz, w0, "size", w0_size - 64), "MLI_ERR_CORRUPT",
        f"does not inflate to the declared {w0_size - 64} bytes (got at least {w0_size - 64})")
    add("zlib_size_zero.mli", set_entry(mz, w0, "size", 0), "MLI_ERR_CORRUPT", "does not inflate to the declared 0 bytes")
    cut = set_entry(patch_payload(mz, w0, w0_stored - 10, bytes(10), fix_crc=False), w0, "stored_size",
                    w0_stored - 10)  # the cut-off bytes become padding, which must be 0
    add("zlib_truncated_stream.mli", set_entry(cut, w0, "crc", crc(mz[w0_off:w0_off + w0_stored - 10])),
        "MLI_ERR_CORRUPT", f"does not inflate to the declared {w0_size} bytes (got at least")
    trail = set_entry(patch_payload(mz, w0, w0_stored, b"\x01\x02\x03", fix_crc=False), w0, "stored_size",
                      w0_stored + 3)
    add("zlib_trailing_bytes.mli", set_entry(trail, w0, "crc", crc(trail[w0_off:w0_off + w0_stored + 3])),
        "MLI_ERR_CORRUPT", "3 bytes after the end of the zlib stream")
    plain = set_entry(set_entry(lb, "stage.0.coef", "flags", F_COMPRESSED), "stage.0.coef", "size", 32)
    add("zlib_flag_on_raw.mli", plain, "MLI_ERR_CORRUPT", "section 'stage.0.coef': corrupt zlib stream")
    add("bomb_1gib.mli", set_entry(mz, w0, "size", 1 << 30), "MLI_ERR_CORRUPT", "decompression bomb")
    add("bomb_over_section_limit.mli", set_entry(mz, w0, "size", (4 << 30) + 4), "MLI_ERR_CORRUPT",
        "decoded size 4294967300 exceeds the limit")
    # just over 1024 x the file size for all compressed sections together (meta is one too)
    over = (len(mz) + 1) * 1024 - get_entry(mz, "meta", "size")
    add("bomb_just_over_ratio.mli", set_entry(mz, w0, "size", (over + 3) // 4 * 4), "MLI_ERR_CORRUPT",
        "decompression bomb")

    # -- strings payloads (meta of logreg_binary, uncompressed)
    meta_off, meta_n = get_entry(lb, "meta", "offset"), get_entry(lb, "meta", "stored_size")
    meta_raw = lb[meta_off:meta_off + meta_n]
    n_items = struct.unpack_from("<I", meta_raw, 0)[0]
    add("strings_count_high.mli", patch_payload(lb, "meta", 0, struct.pack("<I", n_items + 1)), "MLI_ERR_CORRUPT",
        f"section 'meta': string {n_items} of {n_items + 1} runs past the section end")
    add("strings_count_huge.mli", patch_payload(lb, "meta", 0, struct.pack("<I", 0xFFFFFFFF)), "MLI_ERR_CORRUPT",
        "4294967295 strings exceed the limit")
    add("strings_count_low.mli", patch_payload(lb, "meta", 0, struct.pack("<I", n_items - 1)), "MLI_ERR_CORRUPT",
        "stray bytes after the last string")
    add("strings_len_past_end.mli", patch_payload(lb, "meta", 4, struct.pack("<I", meta_n)), "MLI_ERR_CORRUPT",
        f"section 'meta': string 0 has length {meta_n}, past the section end")
    add("strings_len_huge.mli", patch_payload(lb, "meta", 4, struct.pack("<I", 0xFFFFFFF0)), "MLI_ERR_CORRUPT",
        "string 0 has length 4294967280")
    add("strings_nul_inside.mli", patch_payload(lb, "meta", 9, b"\0"), "MLI_ERR_CORRUPT",
        "section 'meta': string 0 contains a NUL byte")
    add("strings_no_count.mli", with_section(lb, "meta", lambda s: [s[0], s[1], s[2], b"\1\0"]), "MLI_ERR_CORRUPT",
        "strings payload of 2 bytes has no count")
    add("strings_empty_section.mli", with_section(lb, "meta", lambda s: [s[0], s[1], s[2], b""]), "MLI_ERR_CORRUPT",
        "strings payload of 0 bytes has no count")
    big = "x" * (64 * 1024 + 1)
    zipped_meta = with_section(lb, "meta", lambda s: [s[0], s[1], s[2] | F_COMPRESSED, s[3]])
    add("strings_over_64k.mli", with_meta(zipped_meta, lambda m: m + ["big=" + big]), "MLI_ERR_CORRUPT",
        "over the limit of 65536 bytes")

    # -- metadata
    add("meta_missing.mli", set_name(lb, "meta", b"mexa"), "MLI_ERR_CORRUPT", "required section 'meta' is missing")
    add("meta_wrong_dtype.mli", with_section(lb, "meta", lambda s: [s[0], 0, s[2], s[3]]), "MLI_ERR_CORRUPT",
        "section 'meta' has dtype 0, expected strings")
    add("meta_no_equals.mli", with_meta(lb, lambda m: m[:2] + ["task classification"] + m[2:]), "MLI_ERR_CORRUPT",
        "section 'meta': entry 2 is not key=value")
    add("meta_empty_key.mli", with_meta(lb, lambda m: ["=x"] + m), "MLI_ERR_CORRUPT", "entry 0 is not key=value")
    add("meta_empty.mli", with_meta(lb, lambda m: []), "MLI_ERR_CORRUPT", "metadata key 'task' is missing")
    add("task_missing.mli", with_meta(lb, set_meta("task", None)), "MLI_ERR_CORRUPT", "metadata key 'task' is missing")
    add("task_unknown.mli", with_meta(lb, set_meta("task", "clustering")), "MLI_ERR_UNSUPPORTED",
        "task 'clustering' is not regression or classification")
    add("n_features_text.mli", with_meta(lb, set_meta("n_features", "eight")), "MLI_ERR_CORRUPT",
        "metadata key 'n_features': 'eight' is not an integer")
    add("n_features_trailing.mli", with_meta(lb, set_meta("n_features", "8x")), "MLI_ERR_CORRUPT", "'8x'")
    add("n_features_zero.mli", with_meta(lb, set_meta("n_features", "0")), "MLI_ERR_CORRUPT",
        "metadata key 'n_features': '0' is not an integer in [1,")
    add("n_features_negative.mli", with_meta(lb, set_meta("n_features", "-8")), "MLI_ERR_CORRUPT", "'-8'")
    add("n_features_huge.mli", with_meta(lb, set_meta("n_features", "99999999999999999999999")), "MLI_ERR_CORRUPT",
        "metadata key 'n_features'")
    add("n_features_mismatch.mli", with_meta(lb, set_meta("n_features", "7")), "MLI_ERR_CORRUPT",
        "stage 0 (linear) takes 8 inputs but receives 7")
    add("n_features_missing.mli", with_meta(lb, set_meta("n_features", None)), "MLI_ERR_CORRUPT",
        "metadata key 'n_features' is missing")
    add("n_outputs_zero.mli", with_meta(golden("ridge_multi"), set_meta("n_outputs", "0")), "MLI_ERR_CORRUPT",
        "metadata key 'n_outputs'")
    add("n_outputs_mismatch.mli", with_meta(golden("ridge_multi"), set_meta("n_outputs", "2")), "MLI_ERR_CORRUPT",
        "head 'identity' needs a regressor whose last stage gives n_outputs (2) values, not 3")
    add("stages_zero.mli", with_meta(lb, set_meta("stages", "0")), "MLI_ERR_CORRUPT", "metadata key 'stages'")
    add("stages_too_many.mli", with_meta(lb, set_meta("stages", "17")), "MLI_ERR_CORRUPT", "metadata key 'stages'")
    add("stages_two_missing.mli", with_meta(lb, set_meta("stages", "2")), "MLI_ERR_CORRUPT",
        "metadata key 'stage.1.kind' is missing")
    add("stage_kind_unknown.mli", with_meta(lb, set_meta("stage.0.kind", "knn")), "MLI_ERR_UNSUPPORTED",
        "stage 0 has kind 'knn'")
    add("stage_kind_missing.mli", with_meta(lb, set_meta("stage.0.kind", None)), "MLI_ERR_CORRUPT",
        "metadata key 'stage.0.kind' is missing")
    add("last_stage_affine.mli", with_meta(mp, set_meta("stages", "1")), "MLI_ERR_CORRUPT",
        "the last stage is preprocessing")
    add("coef_count_mismatch.mli",
        with_section(lb, "stage.0.coef", lambda s: [s[0], s[1], s[2], s[3][:-4]]), "MLI_ERR_CORRUPT",
        "section 'stage.0.coef' holds 7 elements, expected 8")
    add("intercept_count_mismatch.mli",
        with_section(lb, "stage.0.intercept", lambda s: [s[0], s[1], s[2], s[3] * 2]), "MLI_ERR_CORRUPT",
        "section 'stage.0.intercept' holds 2 elements, expected 1")
    add("coef_wrong_dtype.mli", with_section(lb, "stage.0.coef", lambda s: [s[0], 2, s[2], s[3] * 2]),
        "MLI_ERR_CORRUPT", "section 'stage.0.coef' has dtype f64, expected f32")
    add("coef_missing.mli", with_section(lb, "stage.0.coef", lambda s: None), "MLI_ERR_CORRUPT",
        "section 'stage.0.coef' is missing")
    add("n_in_mismatch.mli", with_meta(lb, set_meta("stage.0.n_in", "9")), "MLI_ERR_CORRUPT",
        "stage 0 (linear) takes 9 inputs but receives 8")
    add("n_out_huge.mli", with_meta(lb, set_meta("stage.0.n_out", str(1 << 24))), "MLI_ERR_CORRUPT",
        "section 'stage.0.coef' holds 8 elements, expected 134217728")
    add("affine_wrong_length.mli", with_section(mp, "stage.0.sub", lambda s: [s[0], s[1], s[2], s[3][:-8]]),
        "MLI_ERR_CORRUPT", "section 'stage.0.sub' holds 9 elements, expected 10")
    add("clip_lo_missing.mli", with_meta(mz, set_meta("stage.0.clip_lo", None)), "MLI_ERR_CORRUPT",
        "metadata key 'stage.0.clip_lo' is missing")
    add("clip_hi_text.mli", with_meta(mz, set_meta("stage.0.clip_hi", "high")), "MLI_ERR_CORRUPT",
        "metadata key 'stage.0.clip_hi': 'high' is not a number")
    add("mlp_width_chain.mli", with_meta(mp, set_meta("stage.1.in.1", "15")), "MLI_ERR_CORRUPT",
        "stage 1 layer 1 takes 15 inputs but receives 16")
    add("mlp_first_width.mli", with_meta(mp, set_meta("stage.1.in.0", "11")), "MLI_ERR_CORRUPT",
        "stage 1 layer 0 takes 11 inputs but receives 10")
    add("mlp_weight_count.mli", with_meta(mp, set_meta("stage.1.out.2", "4")), "MLI_ERR_CORRUPT",
        "section 'stage.1.W.2' holds 24 elements, expected 32")
    add("mlp_layers_zero.mli", with_meta(mp, set_meta("stage.1.n_layers", "0")), "MLI_ERR_CORRUPT",
        "metadata key 'stage.1.n_layers'")
    add("mlp_layers_too_many.mli", with_meta(mp, set_meta("stage.1.n_layers", "65")), "MLI_ERR_CORRUPT",
        "metadata key 'stage.1.n_layers'")
    add("mlp_layer_missing.mli", with_meta(mp, set_meta("stage.1.n_layers", "4")), "MLI_ERR_CORRUPT",
        "metadata key 'stage.1.in.3' is missing")
    add("mlp_activation_unknown.mli", with_meta(mp, set_meta("stage.1.activation", "swish")), "MLI_ERR_UNSUPPORTED",
        "stage 1: unknown hidden activation 'swish'")
    add("mlp_bias_missing.mli", with_section(mp, "stage.1.b.1", lambda s: None), "MLI_ERR_CORRUPT",
        "section 'stage.1.b.1' is missing")
    add("head_unknown.mli", with_meta(lb, set_meta("head", "calibrated")), "MLI_ERR_UNSUPPORTED",
        "head 'calibrated' is not known")
    add("head_missing.mli", with_meta(lb, set_meta("head", None)), "MLI_ERR_CORRUPT", "metadata key 'head' is missing")
    add("head_classes_mismatch.mli", with_meta(lb, set_meta("head", "multinomial")), "MLI_ERR_CORRUPT",
        "head 'multinomial' with 2 classes cannot take 1 scores")
    add("head_binary_on_multi.mli", with_meta(mp, set_meta("head", "binary_logistic")), "MLI_ERR_CORRUPT",
        "head 'binary_logistic' with 3 classes cannot take 3 scores")
    add("head_identity_on_classifier.mli", with_meta(lb, set_meta("head", "identity")), "MLI_ERR_CORRUPT",
        "head 'identity' needs a regressor")
    add("head_classifier_on_regressor.mli", with_meta(golden("ridge_multi"), set_meta("head", "argmax")),
        "MLI_ERR_CORRUPT", "head 'argmax' needs task=classification")
    add("required_unknown_section.mli",
        encode(sections_of(lb) + [["device.cuda", 0, F_REQUIRED, b"\1\2\3\4"]]), "MLI_ERR_UNSUPPORTED",
        "section 'device.cuda' is marked required but this libmlinfer does not know it")
    add("classes_count_mismatch.mli", with_meta(lb, set_meta("n_classes", "3")), "MLI_ERR_CORRUPT",
        "section 'classes' holds 2 elements, expected 3")
    add("classes_str_count_mismatch.mli", with_meta(ls, set_meta("n_classes", "4")), "MLI_ERR_CORRUPT",
        "section 'classes' holds 3 labels for 4 classes")
    add("classes_missing.mli", with_section(lb, "classes", lambda s: None), "MLI_ERR_CORRUPT",
        "section 'classes' is missing")
    add("classes_str_missing.mli", with_section(ls, "classes", lambda s: None), "MLI_ERR_CORRUPT",
        "string class labels need a 'classes' section")
    add("classes_wrong_kind.mli", with_meta(ls, set_meta("class_labels", "int")), "MLI_ERR_CORRUPT",
        "section 'classes' has dtype strings, expected i64")
    add("class_labels_unknown.mli", with_meta(lb, set_meta("class_labels", "float")), "MLI_ERR_CORRUPT",
        "class_labels is 'float', not int or str")
    add("n_classes_one.mli", with_meta(lb, set_meta("n_classes", "1")), "MLI_ERR_CORRUPT",
        "metadata key 'n_classes': '1' is not an integer in [2,")

    # -- the prep stage (docs/FORMAT.md, `prep`): each check behind the CRCs
    ps = golden("prep_strings")  # one-hot (strcat + onehot), ordinal, passthrough numbers, then trees
    pn = golden("prep_numeric")  # num, fill, indicator, affine, numcat + onehot

    def ops_edit(fn):  # fn(list of 8-int op rows) edits them in place
        def edit(sec):
            raw = sec[3]
            ops = [list(struct.unpack_from("<8q", raw, 64 * i)) for i in range(len(raw) // 64)]
            fn(ops)
            return [sec[0], sec[1], sec[2], b"".join(struct.pack("<8q", *o) for o in ops)]
        return edit

    def first_op(ops, kind):
        return next(o for o in ops if o[0] == kind)

    add("prep_op_unknown_kind.mli", with_section(ps, "stage.0.ops", ops_edit(lambda ops: ops[0].__setitem__(0, 99))),
        "MLI_ERR_UNSUPPORTED", "op 0 has kind 99, which this libmlinfer does not know")
    add("prep_op_reserved.mli", with_section(ps, "stage.0.ops", ops_edit(lambda ops: ops[1].__setitem__(7, 1))),
        "MLI_ERR_CORRUPT", "unknown flags or reserved field set")
    add("prep_reads_unwritten.mli", with_section(pn, "stage.0.ops", ops_edit(
        lambda ops: first_op(ops, 2).__setitem__(1, 10 ** 6))), "MLI_ERR_CORRUPT", "not written before it")
    add("prep_column_out_of_range.mli", with_section(ps, "stage.0.ops", ops_edit(
        lambda ops: first_op(ops, 4).__setitem__(1, 5))), "MLI_ERR_CORRUPT", "reads column 5 of 5")
    add("prep_column_kind.mli", with_section(ps, "stage.0.col_kind", lambda sec: sec[:3] + [b"\0\0\0\1\1"]),
        "MLI_ERR_CORRUPT", "which is not a string column")
    def func_unknown(ops):  # a fill op made a func op with function 99
        op = first_op(ops, 1)
        op[0], op[3] = 7, 99
    add("prep_func_unknown.mli", with_section(pn, "stage.0.ops", ops_edit(func_unknown)),
        "MLI_ERR_CORRUPT", "(func): count 99 is out of range")
    def fill_to_norm(ops):  # a fill op made a norm op of 1 register: its param (NaN) is no norm
        op = first_op(ops, 1)
        op[0], op[3] = 9, 1
    add("prep_norm_kind.mli", with_section(pn, "stage.0.ops", ops_edit(fill_to_norm)), "MLI_ERR_CORRUPT",
        "(norm): norm nan is not 0 (l1), 1 (l2) or 2 (max)")
    add("prep_params_outside.mli", with_section(ps, "stage.0.ops", ops_edit(
        lambda ops: first_op(ops, 4).__setitem__(4, 10 ** 9))), "MLI_ERR_CORRUPT", "outside the")
    add("prep_strings_outside.mli", with_section(ps, "stage.0.ops", ops_edit(
        lambda ops: first_op(ops, 4).__setitem__(5, 10 ** 6))), "MLI_ERR_CORRUPT", "strings")
    add("prep_onehot_detached.mli", with_section(pn, "stage.0.ops", ops_edit(
        lambda ops: first_op(ops, 6).__setitem__(1, 0))), "MLI_ERR_CORRUPT",
        "must follow the lookup whose code it reads")
    add("prep_n_regs.mli", with_meta(pn, lambda m: m + ["stage.0.n_regs=1000000"]), "MLI_ERR_CORRUPT",
        "n_regs says 1000000")
    add("prep_n_regs_huge.mli", with_meta(pn, lambda m: m + ["stage.0.n_regs=99999999999"]), "MLI_ERR_CORRUPT",
        "'stage.0.n_regs'")
    add("prep_out_register.mli", with_section(pn, "stage.0.out", lambda sec: sec[:3] + [
        struct.pack("<q", 10 ** 6) + sec[3][8:]]), "MLI_ERR_CORRUPT", "which no op writes")
    add("prep_first_only.mli", with_meta(ps, lambda m: m + ["stages=1"]), "MLI_ERR_CORRUPT",
        "must be followed by a model stage")

    def dup_string(sec):
        items = strings_decode(sec[3])
        items[1] = items[0]
        return sec[:3] + [strings_encode(items)]
    add("prep_duplicate_string.mli", with_section(ps, "stage.0.strings", dup_string), "MLI_ERR_CORRUPT",
        "appears twice in its table")

    pn_raw = dict((x[0], x[3]) for x in sections_of(pn))["stage.0.ops"]
    pn_ops = [struct.unpack_from("<8q", pn_raw, 64 * i) for i in range(len(pn_raw) // 64)]
    numcat = next(o for o in pn_ops if o[0] == 5)

    def swap_numcat_keys(sec):
        raw = bytearray(sec[3])
        at = 8 * numcat[4]
        raw[at:at + 16] = raw[at + 8:at + 16] + raw[at:at + 8]
        return sec[:3] + [bytes(raw)]
    add("prep_numcat_unsorted.mli", with_section(pn, "stage.0.params", swap_numcat_keys), "MLI_ERR_CORRUPT",
        "keys are not strictly increasing")

    def numcat_to_bin(ops):  # the numcat op made a bin op over its (swapped) keys
        first_op(ops, 5)[0] = 8
    add("prep_bin_unsorted.mli", with_section(with_section(pn, "stage.0.params", swap_numcat_keys), "stage.0.ops",
                                              ops_edit(numcat_to_bin)), "MLI_ERR_CORRUPT",
        "(bin): edges are not non-decreasing")

    # -- the ops over a group of registers (prep_linalg: selector checks, poly, project)
    pl = golden("prep_linalg")
    pl_raw = dict((x[0], x[3]) for x in sections_of(pl))["stage.0.ops"]
    pl_ops = [struct.unpack_from("<8q", pl_raw, 64 * i) for i in range(len(pl_raw) // 64)]
    proj = next(o for o in pl_ops if o[0] == 10)
    poly = next(o for o in pl_ops if o[0] == 11)

    def set_param(index, value):
        def edit(sec):
            raw = bytearray(sec[3])
            raw[8 * index:8 * index + 8] = struct.pack("<d", value)
            return sec[:3] + [bytes(raw)]
        return edit
    add("prep_project_n_in.mli", with_section(pl, "stage.0.ops", ops_edit(
        lambda ops: first_op(ops, 10).__setitem__(7, 10 ** 6))), "MLI_ERR_CORRUPT", "not written before it")
    add("prep_project_n_in_zero.mli", with_section(pl, "stage.0.ops", ops_edit(
        lambda ops: first_op(ops, 10).__setitem__(7, 0))), "MLI_ERR_CORRUPT", "(project): n_in 0 is out of range")
    add("prep_project_params_outside.mli", with_section(pl, "stage.0.ops", ops_edit(
        lambda ops: first_op(ops, 10).__setitem__(4, 10 ** 6))), "MLI_ERR_CORRUPT", "(project): params")
    # the last param of the project op: its last scale
    add("prep_project_scale_zero.mli", with_section(pl, "stage.0.params", set_param(
        proj[4] + proj[3] * proj[7] + 2 * proj[3] - 1, 0.0)), "MLI_ERR_CORRUPT", "scales finite and non-zero")
    add("prep_project_weight_nan.mli", with_section(pl, "stage.0.params", set_param(proj[4], float("nan"))),
        "MLI_ERR_CORRUPT", "(project): param 0 is nan")
    add("prep_poly_parent.mli", with_section(pl, "stage.0.params", set_param(poly[4] + 1, 0.0)),
        "MLI_ERR_CORRUPT", "(poly): term 0 has factor 0 and parent 0")
    add("prep_poly_factor.mli", with_section(pl, "stage.0.params", set_param(poly[4], float(poly[7]))),
        "MLI_ERR_CORRUPT", "(poly): term 0 has factor %d" % poly[7])
    add("prep_poly_fraction.mli", with_section(pl, "stage.0.params", set_param(poly[4], 0.5)),
        "MLI_ERR_CORRUPT", "(poly): term 0 has factor 0.5")
    add("prep_func_param_nan.mli", with_section(pn, "stage.0.ops", ops_edit(  # a fill op made Box-Cox: lambda NaN
        lambda ops: first_op(ops, 1).__setitem__(0, 7) or first_op(ops, 7).__setitem__(3, 9))), "MLI_ERR_CORRUPT",
        "(func): parameter nan is not finite")
    def bin_to_quantile(ops):  # the numcat op made a quantile op over its swapped keys: decreasing quantiles
        op = first_op(ops, 5)
        op[0], op[3] = 12, 2
    add("prep_quantile_unsorted.mli", with_section(with_section(pn, "stage.0.params", swap_numcat_keys),
                                                   "stage.0.ops", ops_edit(bin_to_quantile)), "MLI_ERR_CORRUPT",
        "(quantile): quantiles are not non-decreasing")
    add("prep_n_in_on_func.mli", with_section(pl, "stage.0.ops", ops_edit(
        lambda ops: first_op(ops, 7).__setitem__(7, 1))), "MLI_ERR_CORRUPT", "(func): unknown flags or reserved field")

    # -- SplineTransformer's `spline` ops (prep_spline: linear, periodic, constant, continue, error + zeros)
    sp = golden("prep_spline")
    sp_raw = dict((x[0], x[3]) for x in sections_of(sp))["stage.0.ops"]
    sp_ops = [struct.unpack_from("<8q", sp_raw, 64 * i) for i in range(len(sp_raw) // 64)]
    spl = [o for o in sp_ops if o[0] == 13]
    lin, per, con = spl[0], next(o for o in spl if o[6] & 7 == 4), next(o for o in spl if o[6] & 7 == 1)

    def spline_op(mode):  # the first spline op with that extrapolation mode
        return lambda ops: next(o for o in ops if o[0] == 13 and o[6] & 7 == mode)

    def knots(o):  # the number of knots of spline op o
        return o[3] + (o[7] if o[6] & 7 == 4 else 0) + o[7] + 1
    add("prep_spline_degree.mli", with_section(sp, "stage.0.ops", ops_edit(
        lambda ops: first_op(ops, 13).__setitem__(7, 32))), "MLI_ERR_CORRUPT",
        "(spline): degree 32 (0..31) or extrapolation mode 2")
    add("prep_spline_degree_negative.mli", with_section(sp, "stage.0.ops", ops_edit(
        lambda ops: first_op(ops, 13).__setitem__(7, -1))), "MLI_ERR_CORRUPT", "(spline): degree -1")
    add("prep_spline_mode.mli", with_section(sp, "stage.0.ops", ops_edit(
        lambda ops: first_op(ops, 13).__setitem__(6, 5))), "MLI_ERR_CORRUPT", "extrapolation mode 5 (0..4)")
    add("prep_spline_flags.mli", with_section(sp, "stage.0.ops", ops_edit(
        lambda ops: first_op(ops, 13).__setitem__(6, 16 | 2))), "MLI_ERR_CORRUPT", "(spline): unknown flags")
    add("prep_spline_count_zero.mli", with_section(sp, "stage.0.ops", ops_edit(
        lambda ops: first_op(ops, 13).__setitem__(3, 0))), "MLI_ERR_CORRUPT", "(spline): count 0 is out of range")
    add("prep_spline_params_outside.mli", with_section(sp, "stage.0.ops", ops_edit(
        lambda ops: first_op(ops, 13).__setitem__(4, 10 ** 6))), "MLI_ERR_CORRUPT", "(spline): params")
    add("prep_spline_knots_unsorted.mli", with_section(sp, "stage.0.params", set_param(lin[4] + 1, -1e300)),
        "MLI_ERR_CORRUPT", "(spline): 4 basis functions of degree 1: knots not non-decreasing")
    add("prep_spline_knot_nan.mli", with_section(sp, "stage.0.params", set_param(per[4] + 2, float("nan"))),
        "MLI_ERR_CORRUPT", "(spline): 4 basis functions of degree 3: knots not")
    add("prep_spline_end_value_inf.mli", with_section(sp, "stage.0.params", set_param(
        con[4] + knots(con) + 3, float("inf"))), "MLI_ERR_CORRUPT", "(spline): 4 basis functions of degree 2")
    add("prep_spline_range_reversed.mli", with_section(sp, "stage.0.params", set_param(
        con[4] + knots(con) + 1, -1e300)), "MLI_ERR_CORRUPT", "(spline): 4 basis functions of degree 2")
    add("prep_spline_extrapolated_count.mli", with_section(sp, "stage.0.params", set_param(
        con[4] + knots(con) + 2, 5.0)), "MLI_ERR_CORRUPT", "(spline): 4 basis functions of degree 2")
    add("prep_spline_extrapolated_fraction.mli", with_section(sp, "stage.0.params", set_param(
        con[4] + knots(con) + 2, 1.5)), "MLI_ERR_CORRUPT", "(spline): 4 basis functions of degree 2")

    def periodic_few(ops):  # periodic with fewer basis functions than its degree: folded twice
        op = spline_op(4)(ops)
        op[3], op[7] = 2, 3
    qn = next(o for o in sp_ops if o[0] == 12 and o[6] == 1)  # a normal QuantileTransformer's quantile op
    add("prep_quantile_clip_nan.mli", with_section(sp, "stage.0.params", set_param(qn[4] + 2 * qn[3], float("nan"))),
        "MLI_ERR_CORRUPT", "(quantile): clip bounds nan")
    add("prep_quantile_clip_reversed.mli", with_section(sp, "stage.0.params", set_param(qn[4] + 2 * qn[3], 9.0)),
        "MLI_ERR_CORRUPT", "are not finite and ordered")
    add("prep_quantile_flags.mli", with_section(sp, "stage.0.ops", ops_edit(
        lambda ops: first_op(ops, 12).__setitem__(6, 2))), "MLI_ERR_CORRUPT", "(quantile): unknown flags")
    add("prep_spline_periodic_few.mli", with_section(sp, "stage.0.ops", ops_edit(periodic_few)), "MLI_ERR_CORRUPT",
        "(spline)")

    # -- files that must load: the compatibility rules of docs/FORMAT.md
    add("ok_unknown_optional_section.mli", encode(sections_of(lb) + [["device.hint", 0, 0, b"gpu0"]]), "MLI_OK", "-")
    add("ok_unknown_meta_key.mli", with_meta(lb, lambda m: m + ["future.key=1", "device.placement=cuda:0"]),
        "MLI_OK", "-")
    add("ok_newer_minor.mli", set_header(lb, "minor", 9), "MLI_OK", "-")
    add("ok_empty_optional_section.mli", encode(sections_of(lb) + [["zero", 0, 0, b""]]), "MLI_OK", "-")
    return c


# Defects an earlier loader accepted (docs/FORMAT.md forbids them); kept as regressions.
def known_bugs():
    lb = golden("logreg_binary")
    # 'blob' (256 bytes) is stretched to 320 so it overlaps 'classes'; an empty section
    # sits inside it. The overlap check compares only neighbours in offset order and skips
    # a pair whose later member is empty, so blob/zero and zero/classes both pass.
    secs = sections_of(lb)
    b = encode(secs[:1] + [["blob", 0, 0, bytes(range(256))]] + secs[1:] + [["zero", 0, 0, b""]])
    blob = get_entry(b, "blob", "offset")
    b = set_entry(set_entry(b, "blob", "stored_size", 320), "blob", "size", 320)
    b = set_entry(b, "blob", "crc", crc(b[blob:blob + 320]))
    b = set_entry(b, "zero", "offset", blob + 64)
    bugs = [("bug_overlap_behind_empty.mli", b, "MLI_ERR_CORRUPT", "overlap",
             "payloads 'blob' and 'classes' overlap, hidden by an empty section between their starts "
             "(found when format.c compared only neighbours in offset order)", True)]
    # One flipped bit in the section table (no CRC covers it) renames 'stage.0.sub' to
    # 'stage.0.suc': the StandardScaler's mean is dropped as an unknown optional section and
    # the model predicts differently, with no error.
    mp = golden("mlp_pipeline")
    bugs.append(("bug_table_bitflip_renames.mli", set_name(mp, "stage.0.sub", b"stage.0.suc"), "MLI_ERR_CORRUPT",
                 "section table: crc32", "a bit flip in the section table renames an optional section: the "
                 "table CRC (added for this) catches it", False))
    return bugs


def main():
    for f in os.listdir(HERE):
        if f.endswith(".mli"):
            os.remove(os.path.join(HERE, f))
    lines = ["# file\tstatus\tmessage must contain ('|': alternatives, '-': nothing to check)"]
    names = set()
    for name, data, status, text in cases():
        assert name not in names, name
        names.add(name)
        with open(os.path.join(HERE, name), "wb") as f:
            f.write(seal(data))
        lines.append(f"{name}\t{status}\t{text}")
    for name, data, status, text, why, sealed in known_bugs():
        with open(os.path.join(HERE, name), "wb") as f:
            f.write(seal(data) if sealed else data)
        lines.append(f"# {why}")
        lines.append(f"{name}\t{status}\t{text}")
    with open(os.path.join(HERE, "EXPECTED"), "w") as f:
        f.write("\n".join(lines) + "\n")
    total = sum(os.path.getsize(os.path.join(HERE, n)) for n in os.listdir(HERE) if n.endswith(".mli"))
    print(f"{len(names)} corpus files, {total} bytes")


if __name__ == "__main__":
    main()
