"""The house as the architecture guide draws it: no package cycle, and no import that runs up
the layers. Packages are `domain`, `runtime`, `config`, `exchange` and each `actors.<subsystem>`
(`actors.wire`, `actors.app`, ...); every import counts, at module level or inside a function."""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
OURS = ("actors", "config", "domain", "exchange", "runtime")


def _package(module: str) -> str:
    parts = module.split(".")
    if parts[0] == "actors" and len(parts) > 1:
        return ".".join(parts[:2]) if (ROOT / "actors" / parts[1]).is_dir() else "actors"
    return parts[0]


def _graph() -> dict[str, dict[str, list[str]]]:
    """package -> imported package -> the modules that import it."""
    graph: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    for top in OURS:
        for path in sorted((ROOT / top).rglob("*.py")):
            module = ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
            source = _package(module)
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                if isinstance(node, ast.Import):
                    names = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    names = [node.module]
                else:
                    continue
                for name in names:
                    target = _package(name)
                    if name.split(".")[0] in OURS and target != source:
                        graph[source][target].append(module)
    return graph


def _cycles(graph: dict[str, dict[str, list[str]]]) -> list[list[str]]:
    """The strongly connected groups of more than one package (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in graph.get(node, {}):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for node in list(graph):
        if node not in index:
            visit(node)
    return found


def test_no_package_cycle():
    graph = _graph()
    cycles = _cycles(graph)
    detail = {" <-> ".join(c): {f"{a} -> {b}": graph[a][b][:2] for a in c for b in c if b in graph[a]}
              for c in cycles}
    assert cycles == [], detail


# What each layer may import of ours; the subsystems under actors/ may import each other (without a
# cycle) but never the composition root.
ALLOWED = {
    "runtime": set(),
    "domain": set(),
    "config": {"domain"},
    "exchange": {"domain"},
    "actors.wire": {"domain"},
}


def test_no_import_runs_up_the_layers():
    graph = _graph()
    upward = {source: sorted(set(targets) - ALLOWED[source]) for source, targets in graph.items()
              if source in ALLOWED and set(targets) - ALLOWED[source]}
    assert upward == {}
    into_app = {source: graph[source]["actors.app"][:2] for source in graph
                if source != "actors.app" and "actors.app" in graph[source]}
    assert into_app == {}


# Subsystems import `domain`, `actors.wire`, `runtime` and `config`, never each other, but for these
# (each a library use, not a reach into another actor's state): recovery restores the journal file
# with the backup package's catalog, manifests and snapshot restore; execution runs risk's pre-trade
# gate in its own thread (risk owns the rules, no extra hop per order).
SUBSYSTEM_EDGES = {("actors.recovery", "actors.backup"), ("actors.execution", "actors.risk")}
SHARED = {"actors.wire", "actors.app"}


def test_subsystems_never_import_each_other_but_for_the_declared_edges():
    graph = _graph()
    edges = {(source, target) for source, targets in graph.items() for target in targets
             if source.startswith("actors.") and target.startswith("actors.")
             and source not in SHARED and target not in SHARED}
    assert edges - SUBSYSTEM_EDGES == set(), {e: graph[e[0]][e[1]][:2] for e in edges - SUBSYSTEM_EDGES}
