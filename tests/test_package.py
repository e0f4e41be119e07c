"""The package's shape: no import cycle, stages import only from stages before them, short modules.

Imports are read with ast from every module, function-level imports included (a cycle hidden in a
function still ties the modules together).
"""
from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "foldlite"
MAX_LINES = 400
# Stage folders in dependency order: each may import from the top-level modules (constants,
# tokenizer, structure, config, version) and from stages before it, never from one after it.
STAGES = ["geometry", "io", "data", "templates", "model", "relax", "api", "evaluation", "training", "cli"]


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(p): p for p in PACKAGE.rglob("*.py")}


def _imports(name: str, path: Path) -> set[str]:
    """Package modules imported anywhere in the module `name`."""
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if alias.name in MODULES}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[:len(package.split(".")) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            if not module.startswith("foldlite"):
                continue
            for alias in node.names:  # `from pkg import submodule` imports the submodule
                found.add(f"{module}.{alias.name}" if f"{module}.{alias.name}" in MODULES else module)
    return found - {name}


GRAPH = {name: _imports(name, path) for name, path in MODULES.items()}


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle of the graph as a list of modules, or None (depth-first search)."""
    state, stack = {}, []

    def visit(node):
        state[node] = "open"
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == "open":
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        state[node] = "done"
        stack.pop()
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_the_import_graph_was_read():
    assert len(MODULES) > 30
    assert "foldlite.geometry.vectors" in GRAPH["foldlite.geometry.reconstruct"] or \
        "foldlite.geometry.vectors" in GRAPH["foldlite.geometry.backbone"]
    assert "foldlite.templates.prepare" in GRAPH["foldlite.api"]


def test_no_import_cycle():
    assert _cycle(GRAPH) is None, " -> ".join(_cycle(GRAPH))


def test_cycle_finder_finds_a_planted_cycle():
    planted = {k: set(v) for k, v in GRAPH.items()}
    planted["foldlite.geometry.vectors"].add("foldlite.api")
    assert _cycle(planted) is not None


def _stage(name: str) -> str | None:
    parts = name.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in STAGES else None


@pytest.mark.parametrize("name", sorted(n for n in MODULES if _stage(n)))
def test_stages_import_only_earlier_stages(name):
    rank = STAGES.index(_stage(name))
    later = [m for m in GRAPH[name] if _stage(m) and STAGES.index(_stage(m)) > rank]
    assert not later, f"{name} imports later stages: {later}"


@pytest.mark.parametrize("name", sorted(MODULES))
def test_module_is_short(name):
    lines = len(MODULES[name].read_text().splitlines())
    assert lines <= MAX_LINES, f"{name}: {lines} lines"


@pytest.mark.parametrize("name", sorted(n for n in MODULES if n != "foldlite.__main__"))
def test_module_imports(name):
    """Every module imports on its own (a relative import one level off fails here, not in a user's hands)."""
    importlib.import_module(name)
