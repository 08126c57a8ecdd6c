"""Every .md file the documentation and the deployment manifests name exists (relative to the
naming file or to the repository root): a reader sent to a page must find it."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SOURCES = sorted([REPO / "README.md", *REPO.glob("docs/**/*.md"), *REPO.glob("examples/**/*.md"),
                  *REPO.glob("programs/**/*.md"),
                  *REPO.glob("examples/deploy/**/*.yaml")])
MD_NAME = re.compile(r"(?<![\w/.-])((?:\.\./|\./)?[\w.-]+(?:/[\w.-]+)*\.md)\b")


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: str(p.relative_to(REPO)))
def test_named_markdown_files_exist(source):
    missing = []
    for name in set(MD_NAME.findall(source.read_text())):
        bases = [source.parent, *[p for p in source.parents if REPO in (p, *p.parents)], REPO / "docs"]
        if not any((base / name).exists() for base in bases):
            missing.append(name)
    assert not missing, f"{source.relative_to(REPO)} names {sorted(missing)}, which the repository does not have"
