"""No new import cycles in gateway/ and adapters/ (docs/architecture.md, "Layers").

The import graph is read from the source with :mod:`ast`, not by importing anything, so an import
hidden inside a function or under ``if TYPE_CHECKING:`` counts like one at the top of the file: both
still tie the two modules together. Two graphs are checked:

* modules (``gateway.store.bulk`` → ``gateway.store.resources``), and
* packages — the first level under ``gateway`` and ``adapters`` (``gateway.api``, ``gateway.ig``,
  ``adapters.gp_connect`` …) — where a cycle means two layers reach around each other.

Today's cycles are listed below. The lists may only shrink: a cycle that is not listed fails, and
so does a listed one that no longer exists (delete its entry when you remove it).
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("gateway", "adapters")

# Module cycles that existed when this test was written. Each entry is one strongly connected
# component of the module graph. Remove an entry when its cycle is gone; never add one.
ALLOWED_MODULE_CYCLES: frozenset[frozenset[str]] = frozenset(
    {
        # engine.py imports check_invariants inside a method; invariants.py imports PolicyEngine for types.
        frozenset({"gateway.policy.engine", "gateway.policy.invariants"}),
        # bulk.py uses resources.py's helpers (utc, index_tokens); ResourceStore.upsert imports BulkWriter
        # inside a method.
        frozenset({"gateway.store.bulk", "gateway.store.resources"}),
    }
)

# Package cycles (first level under gateway/ and adapters/) that existed when this test was written.
ALLOWED_PACKAGE_CYCLES: frozenset[frozenset[str]] = frozenset(
    {
        # store/all_tables.py imports gateway.ingest.tables so that Alembic sees every table.
        frozenset({"gateway.ingest", "gateway.store"}),
    }
)


def _modules() -> dict[str, tuple[Path, bool]]:
    """Dotted module name -> (source file, is a package ``__init__``)."""
    found: dict[str, tuple[Path, bool]] = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            is_package = parts[-1] == "__init__"
            if is_package:
                parts.pop()
            found[".".join(parts)] = (path, is_package)
    return found


def _known(name: str, modules: dict[str, tuple[Path, bool]]) -> str | None:
    """The longest prefix of ``name`` that is one of our modules (None for third-party imports)."""
    while name and name not in modules:
        name = name.rpartition(".")[0]
    return name or None


def _imports(name: str, path: Path, is_package: bool, modules: dict[str, tuple[Path, bool]]) -> Iterator[str]:
    package = name if is_package else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if (target := _known(alias.name, modules)) is not None:
                    yield target
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - (node.level - 1)] + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            for alias in node.names:
                submodule = f"{base}.{alias.name}"
                target = submodule if submodule in modules else _known(base, modules)
                if target is not None:
                    yield target


def module_graph() -> dict[str, set[str]]:
    modules = _modules()
    return {
        name: set(_imports(name, path, is_package, modules)) - {name}
        for name, (path, is_package) in modules.items()
    }


def package_of(module: str) -> str:
    return ".".join(module.split(".")[:2])


def package_graph(modules: dict[str, set[str]]) -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for module, targets in modules.items():
        source = package_of(module)
        graph.setdefault(source, set()).update(package_of(t) for t in targets if package_of(t) != source)
    return graph


def cycles(graph: dict[str, set[str]]) -> set[frozenset[str]]:
    """Strongly connected components with more than one node (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: set[frozenset[str]] = set()

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for succ in sorted(graph.get(node, ())):
            if succ not in index:
                visit(succ)
                low[node] = min(low[node], low[succ])
            elif succ in stack:
                low[node] = min(low[node], index[succ])
        if low[node] == index[node]:
            component = stack[stack.index(node):]
            del stack[stack.index(node):]
            if len(component) > 1:
                found.add(frozenset(component))

    for start in sorted(graph):
        if start not in index:
            visit(start)
    return found


def _describe(components: Iterable[frozenset[str]], graph: dict[str, set[str]]) -> str:
    lines = []
    for component in sorted(components, key=sorted):
        lines.append(" <-> ".join(sorted(component)))
        for member in sorted(component):
            lines.append(f"    {member} imports {', '.join(sorted(graph[member] & component))}")
    return "\n".join(lines)


def _check(found: set[frozenset[str]], allowed: frozenset[frozenset[str]], graph: dict[str, set[str]]) -> None:
    new = {c for c in found if c not in allowed}
    assert not new, (
        "new import cycle(s); move the shared piece one layer lower instead of importing around it:\n"
        + _describe(new, graph)
    )
    gone = allowed - found
    assert not gone, "these allowed cycles no longer exist; delete them from the allow-list:\n" + "\n".join(
        " <-> ".join(sorted(c)) for c in sorted(gone, key=sorted)
    )


def test_no_new_module_cycles() -> None:
    graph = module_graph()
    _check(cycles(graph), ALLOWED_MODULE_CYCLES, graph)


def test_no_new_package_cycles() -> None:
    graph = package_graph(module_graph())
    _check(cycles(graph), ALLOWED_PACKAGE_CYCLES, graph)


@pytest.mark.parametrize(
    ("graph", "expected"),
    [
        ({"a": {"b"}, "b": {"a"}, "c": {"a"}}, {frozenset({"a", "b"})}),
        ({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}, {frozenset({"a", "b", "c"})}),
        ({"a": {"b"}, "b": set()}, set()),
    ],
)
def test_cycle_finder(graph: dict[str, set[str]], expected: set[frozenset[str]]) -> None:
    assert cycles(graph) == expected


def test_graph_sees_imports_inside_functions_and_type_checking() -> None:
    graph = module_graph()
    assert "gateway.policy.invariants" in graph["gateway.policy.engine"]  # inside a method
    assert "gateway.policy.engine" in graph["gateway.policy.invariants"]  # under TYPE_CHECKING


def test_a_new_cycle_fails_and_so_does_a_stale_allowance() -> None:
    graph = {"a": {"b"}, "b": {"a"}, "c": set()}
    found = cycles(graph)
    with pytest.raises(AssertionError, match="new import cycle"):
        _check(found, frozenset(), graph)
    with pytest.raises(AssertionError, match="no longer exist"):
        _check(found, frozenset({frozenset({"a", "b"}), frozenset({"b", "c"})}), graph)
    _check(found, frozenset({frozenset({"a", "b"})}), graph)  # exactly the allowed ones: passes


def test_the_graph_covers_both_packages() -> None:
    graph = module_graph()
    assert "gateway.audit.continuity" in graph and "adapters.gp_connect.decode" in graph
    assert "gateway.audit.verify" in graph["gateway.audit.continuity"]
