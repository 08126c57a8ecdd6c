"""corrupt_corpus.py — what the make_*_corrupt.py generators share: writing the generated
files with their EXPECTED table, and the check that a file fails as expected.
Needs only the Python standard library."""
from __future__ import annotations

import os

STATUS_CODES = {"MLI_ERR_CORRUPT": 5, "MLI_ERR_UNSUPPORTED": 3}


def write(out_dir, cases, good):
    """Writes each (name, bytes, status, text) of `cases` and each (name, bytes) of `good`
    into out_dir, with EXPECTED: one line per file, tab-separated (file, status, text)."""
    os.makedirs(out_dir, exist_ok=True)
    lines = ["# file\tstatus\tmessage must contain ('|': alternatives)"]
    for name, data, status, text in cases:
        with open(os.path.join(out_dir, name), "wb") as f:
            f.write(data)
        lines.append(f"{name}\t{status}\t{text}")
    for name, data in good:
        with open(os.path.join(out_dir, name), "wb") as f:
            f.write(data)
        lines.append(f"{name}\tMLI_OK\t-")
    with open(os.path.join(out_dir, "EXPECTED"), "w") as f:
        f.write("\n".join(lines) + "\n")
    print(f"wrote {len(lines) - 1} files to {out_dir}")


def check_fails(mlinfer, tmp_path, case, names_file=True):
    """Loads case (name, bytes, status, text) from a file under tmp_path: it must raise
    mlinfer.Error with that status and a message holding one of text's '|' alternatives and,
    when names_file, the file's path."""
    name, data, status, text = case
    path = tmp_path / name
    path.write_bytes(data)
    try:
        mlinfer.load(path)
    except mlinfer.Error as e:
        msg = str(e)
        assert any(t in msg for t in text.split("|")), f"{name}: message {msg!r} lacks {text!r}"
        assert e.status == STATUS_CODES[status], f"{name}: status {e.status}, message {msg!r}"
        if names_file:
            assert str(path) in msg, "the message names the file"
        return
    raise AssertionError(f"{name}: loaded, expected {status}")
