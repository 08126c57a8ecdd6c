"""`pip wheel ./bindings/python` (scikit-build-core driving the project's CMake) makes a platform
wheel that carries libmlinfer; installed in a fresh virtual environment it loads the bundled
library (no MLINFER_LIBRARY, no build tree on the path) and predicts what the build does.
Needs PyPI (scikit-build-core for the isolated build, numpy for the venv) or a pip cache."""
from __future__ import annotations

import os
import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[2]
DEMO = REPO / "programs" / "server" / "demo_model.mli"
ROWS = [[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3], [5.9, 3.0, 4.2, 1.5]]


def clean_env():
    return {k: v for k, v in os.environ.items() if k not in ("MLINFER_LIBRARY", "PYTHONPATH", "LD_LIBRARY_PATH")}


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    out = tmp_path_factory.mktemp("wheel")
    r = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--disable-pip-version-check", "-w",
                        str(out / "dist"), f"--config-settings=build-dir={out / 'build'}",
                        str(REPO / "bindings" / "python")], capture_output=True, text=True, timeout=1200)
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-4000:]
    (whl,) = (out / "dist").glob("mlinfer-*.whl")
    return whl


def test_wheel_is_a_platform_wheel_carrying_the_library(wheel):
    assert wheel.name.endswith("-py3-none-linux_x86_64.whl"), wheel.name
    names = zipfile.ZipFile(wheel).namelist()
    assert "mlinfer/libmlinfer.so.0" in names
    assert [n for n in names if ".so" in n] == ["mlinfer/libmlinfer.so.0"]


def test_auditwheel_show_names_the_system_libraries_it_links(wheel):
    pytest.importorskip("auditwheel", reason="pip install auditwheel")
    r = subprocess.run([sys.executable, "-m", "auditwheel", "show", str(wheel)], capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0, r.stderr
    out = " ".join(r.stdout.split())
    assert 'consistent with the following platform tag: "linux_x86_64"' in out, out
    assert "libturbojpeg.so.0" in out and "libc.so.6" in out, out


def test_wheel_installs_and_predicts_in_a_fresh_venv(wheel, mlinfer, tmp_path):
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    py = env_dir / "bin" / "python"
    r = subprocess.run([py, "-m", "pip", "install", "-q", "--disable-pip-version-check", str(wheel)],
                       capture_output=True, text=True, timeout=600, env=clean_env())
    assert r.returncode == 0, r.stdout + r.stderr
    code = ("import json, sys, mlinfer; m = mlinfer.load(sys.argv[1]); "
            "print(json.dumps([mlinfer._native.lib._name, [str(v) for v in m.predict(json.loads(sys.argv[2]))]]))")
    r = subprocess.run([py, "-c", code, str(DEMO), repr(ROWS)], capture_output=True, text=True, cwd=tmp_path,
                       env=clean_env(), timeout=120)
    assert r.returncode == 0, r.stderr
    import json
    loaded, got = json.loads(r.stdout)
    assert Path(loaded).is_relative_to(env_dir) and Path(loaded).name == "libmlinfer.so.0", loaded
    assert got == [str(v) for v in mlinfer.load(DEMO).predict(np.array(ROWS))]


def test_a_hand_copied_library_in_the_source_package_stops_the_build(tmp_path):
    """The old recipe copied a build's libmlinfer.so into bindings/python/mlinfer; such a copy
    would ride along in the wheel and shadow the library built for it."""
    import shutil

    tree = tmp_path / "src"
    for part in ("CMakeLists.txt", "cmake", "include", "src", "kernels", "bindings/python/mlinfer",
                 "bindings/python/pyproject.toml"):
        (tree / part).parent.mkdir(parents=True, exist_ok=True)
        (shutil.copy2 if (REPO / part).is_file() else shutil.copytree)(REPO / part, tree / part)
    (tree / "bindings/python/mlinfer/libmlinfer.so").write_bytes(b"stale")
    r = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--disable-pip-version-check", "-w",
                        str(tmp_path / "dist"), str(tree / "bindings" / "python")],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode != 0
    assert "remove the stale library copies" in r.stdout + r.stderr, r.stdout[-3000:]
    assert not list((tmp_path).glob("dist/*.whl"))
