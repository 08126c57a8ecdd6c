"""pytest configuration for the Python bindings of libmlinfer.

Finds the shared library -- $MLINFER_LIBRARY when set, else <repo>/build/libmlinfer.so,
else <repo>/build-py/libmlinfer.so (the repository root is found from this file's
location) -- and makes `mlinfer` importable from <repo>/bindings/python when it is not
installed. Without a library every test is skipped with a message saying how to get one.

At the end of a run the worst measured errors per model family are printed (see
test_equivalence.py), so the tolerance of the exactness contract can be checked against
what the library really achieves.
"""
from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
_NAMES = ("libmlinfer.so", "libmlinfer.dylib")


def _find_library():
    env = os.environ.get("MLINFER_LIBRARY")
    if env:
        if os.path.exists(env):
            return env, None
        return None, f"MLINFER_LIBRARY={env!r} does not exist"
    tried = []
    for build_dir in ("build", "build-py"):
        for name in _NAMES:
            cand = REPO / build_dir / name
            tried.append(str(cand))
            if cand.exists():
                return str(cand), None
    return None, ("libmlinfer not found (tried " + ", ".join(tried) + "); build it with "
                  "`cmake -S . -B build && cmake --build build` or set MLINFER_LIBRARY to libmlinfer.so")


LIBRARY, SKIP_REASON = _find_library()
if LIBRARY:
    os.environ["MLINFER_LIBRARY"] = LIBRARY  # read by mlinfer._native at import
if importlib.util.find_spec("mlinfer") is None:
    sys.path.insert(0, str(REPO / "bindings" / "python"))


def pytest_report_header(config):
    return f"libmlinfer: {LIBRARY or 'NOT FOUND - ' + SKIP_REASON}"


def pytest_collection_modifyitems(config, items):
    if SKIP_REASON is None:
        return
    here = Path(__file__).resolve().parent
    marker = pytest.mark.skip(reason=SKIP_REASON)
    for item in items:
        if here in Path(str(item.path)).resolve().parents:
            item.add_marker(marker)


@pytest.fixture(scope="session")
def mlinfer():
    """The mlinfer package (imported lazily, so collection works without the library)."""
    if SKIP_REASON is not None:
        pytest.skip(SKIP_REASON)
    import mlinfer as mod

    return mod


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory):
    """A session-wide directory for exported .mli files."""
    return tmp_path_factory.mktemp("mli_models")


# ---- measured errors, reported at the end of the run --------------------------------------

_WORST: dict = {}


class ErrorLog:
    """Keeps, per (family, quantity), the worst |ours - sklearn| seen: its absolute value,
    its value relative to max(1, |sklearn|), and its ratio to the tolerance bound."""

    def record(self, family: str, quantity: str, case: str, abs_err, rel_err, ratio) -> None:
        key = (family, quantity)
        cur = _WORST.setdefault(key, {"abs": (0.0, ""), "rel": (0.0, ""), "ratio": (0.0, "")})
        for name, val in (("abs", abs_err), ("rel", rel_err), ("ratio", ratio)):
            val = float(val)
            if val > cur[name][0]:
                cur[name] = (val, case)


@pytest.fixture(scope="session")
def error_log():
    return ErrorLog()


def pytest_terminal_summary(terminalreporter):
    if not _WORST:
        return
    tr = terminalreporter
    tr.section("mlinfer vs scikit-learn: worst measured errors")
    tr.write_line(f"{'family':<12} {'quantity':<18} {'max abs':>10} {'max rel*':>10} {'max err/bound':>14}")
    for (family, quantity), w in sorted(_WORST.items()):
        tr.write_line(f"{family:<12} {quantity:<18} {w['abs'][0]:>10.3g} {w['rel'][0]:>10.3g} {w['ratio'][0]:>14.3g}")
        for name in ("abs", "rel", "ratio"):
            if w[name][1]:
                tr.write_line(f"{'':<12}   worst {name:<5}: {w[name][1]}")
    tr.write_line("* rel = |ours - sklearn| / max(1, |sklearn|); bound as documented in test_equivalence.py")
