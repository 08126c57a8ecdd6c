"""Dependencies point one way (STYLE.md): no include circle between the parts of src/ (a
top-level file, or a folder such as trees/ or image/, is one part), and no import circle
between the modules of the Python package. A builder that called back into the dispatcher
(model.c) or two exporters importing each other fail here."""
from __future__ import annotations

import ast
import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SRC = REPO / "src"
PKG = REPO / "bindings" / "python" / "mlinfer"


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(n):
        state[n] = 1
        stack.append(n)
        for m in sorted(graph.get(n, ())):
            if state.get(m) == 1:
                return stack[stack.index(m):] + [m]
            if m not in state and (c := visit(m)):
                return c
        stack.pop()
        state[n] = 2
        return None

    for n in sorted(graph):
        if n not in state and (c := visit(n)):
            return c
    return None


def c_part(path: Path) -> str:
    rel = path.relative_to(SRC)
    return rel.parts[0] if len(rel.parts) > 1 else rel.stem


def c_graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for f in SRC.rglob("*.[ch]"):
        for inc in re.findall(r'^\s*#\s*include\s+"([^"]+)"', f.read_text(), re.M):
            for base in (f.parent, SRC):
                target = (base / inc).resolve()
                if target.exists():
                    if SRC in target.parents and c_part(target) != c_part(f):
                        graph.setdefault(c_part(f), set()).add(c_part(target))
                    break
    return graph


def py_graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    mods = {p.stem for p in PKG.glob("*.py")}
    for f in PKG.glob("*.py"):
        for node in ast.walk(ast.parse(f.read_text())):
            if isinstance(node, ast.ImportFrom) and node.level == 1:
                names = [node.module] if node.module else [a.name for a in node.names]
                for n in names:
                    n = n.split(".")[0]
                    if n in mods and n != f.stem and n != "__init__":
                        graph.setdefault(f.stem, set()).add(n)
    return graph


def test_find_cycle_finds_one():
    assert find_cycle({"model": {"trees"}, "trees": {"model"}}) == ["model", "trees", "model"]
    assert find_cycle({"model": {"trees", "stage_reader"}, "trees": {"stage_reader"}}) is None


def test_no_include_circle_in_src():
    graph = c_graph()
    assert "trees" in graph.get("model", set())  # the walk sees real edges
    cycle = find_cycle(graph)
    assert cycle is None, "include circle between parts of src/: " + " -> ".join(cycle)


def test_builders_do_not_include_the_model():
    graph = c_graph()
    for builder in ("trees", "image", "stage_reader"):
        assert "model" not in graph.get(builder, set()), f"src/{builder} includes model.h"


def test_no_import_circle_in_the_python_package():
    graph = py_graph()
    assert "export_trees" in graph.get("export", set())
    cycle = find_cycle(graph)
    assert cycle is None, "import circle in bindings/python/mlinfer: " + " -> ".join(cycle)
