"""The import graph, computed from the code's own `import` statements (ast), obeys the layers.

Rules: no import cycles between modules; `agents` imports nothing from `sim`; `sim` imports
nothing from `analysis` or `cli`; `analysis` imports from `sim` only the file contract
(`sim.engine.records`) and from `agents` only the error module; `cli` is the only package that
imports both `sim` and `analysis`.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("agents", "sim", "analysis", "cli")
FILE_CONTRACT = "sim.engine.records"


def module_name(path: Path) -> str:
    """`sim/engine/model.py` -> `sim.engine.model`; `cli/__init__.py` -> `cli`."""
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def modules() -> dict[str, Path]:
    """Every first-party module of the shipped packages."""
    found: dict[str, Path] = {}
    for package in PACKAGES:
        for path in sorted((REPO / package).rglob("*.py")):
            found[module_name(path)] = path
    return found


def imported(path: Path, name: str, known: set[str]) -> Iterator[tuple[str, bool]]:
    """(first-party module imported, whether at module level) for each import in a file."""
    tree = ast.parse(path.read_text(), filename=str(path))
    top = {id(node) for node in tree.body}
    is_package = path.name == "__init__.py"
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split(".")
                base = base[: len(base) - node.level + (1 if is_package else 0)]
                stem = ".".join(base + ([node.module] if node.module else []))
            else:
                stem = node.module or ""
            # `from pkg import mod` imports the module pkg.mod when there is one.
            targets = [f"{stem}.{a.name}" if f"{stem}.{a.name}" in known else stem
                       for a in node.names]
        else:
            continue
        for target in targets:
            while target and target not in known:
                target = target.rpartition(".")[0]
            if target:
                yield target, id(node) in top


def graph() -> dict[str, set[str]]:
    """Module -> the first-party modules it imports (anywhere in the file)."""
    found = modules()
    known = set(found)
    return {name: {t for t, _ in imported(path, name, known) if t != name}
            for name, path in found.items()}


def package(module: str) -> str:
    """The top-level package a module belongs to."""
    return module.split(".")[0]


def test_the_graph_is_read_from_the_code():
    edges = graph()
    assert "sim.engine.records" in edges["analysis.load"]
    assert "sim.scenario.schema" in edges["sim.world.population"]
    assert "agents.errors" in edges["agents.backends.base"]


def test_no_import_cycles():
    edges = graph()
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(edges[node]):
            if state.get(nxt) == 1:
                cycle = stack[stack.index(nxt):] + [nxt]
                pytest.fail("import cycle: " + " -> ".join(cycle))
            if nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = 2

    for node in sorted(edges):
        if node not in state:
            visit(node)


def test_no_cycles_between_the_sim_layers():
    layers = ("sim.scenario", "sim.world", "sim.engine", "sim.sweep")
    order = {layer: i for i, layer in enumerate(layers)}

    def layer(module: str) -> str | None:
        return next((x for x in layers if module == x or module.startswith(x + ".")), None)

    for source, targets in graph().items():
        for target in targets:
            a, b = layer(source), layer(target)
            if a and b and a != b:
                # scenario and world may both be used by the engine, but never point up.
                assert order[b] < order[a], f"{source} imports {target} (a higher layer)"


def test_agents_import_nothing_from_sim_analysis_or_cli():
    for source, targets in graph().items():
        if package(source) == "agents":
            bad = sorted(t for t in targets if package(t) != "agents")
            assert not bad, f"{source} imports {bad}"


def test_sim_imports_nothing_from_analysis_or_cli():
    for source, targets in graph().items():
        if package(source) == "sim":
            bad = sorted(t for t in targets if package(t) in ("analysis", "cli"))
            assert not bad, f"{source} imports {bad}"


def test_analysis_imports_only_the_file_contract_and_the_errors():
    for source, targets in graph().items():
        if package(source) == "analysis":
            bad = sorted(t for t in targets if package(t) in ("sim", "cli", "agents")
                         and t not in (FILE_CONTRACT, "sim", "sim.engine", "agents",
                                       "agents.errors"))
            assert not bad, f"{source} imports {bad}"


def test_only_cli_imports_both_sim_and_analysis():
    users: dict[str, set[str]] = {}
    for source, targets in graph().items():
        for target in targets:
            users.setdefault(package(source), set()).add(package(target))
    both = sorted(p for p, used in users.items() if {"sim", "analysis"} <= used - {p})
    assert both == ["cli"]
