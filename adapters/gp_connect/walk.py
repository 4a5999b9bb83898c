"""The one FHIR-walking function of this adapter.

Every generic STU3 -> R4 rewrite (references, code-system URLs, extension URLs) is a visitor
that looks at one JSON object at a time; :func:`visit_objects` walks the tree once for all of
them. It is iterative, so a hostile or broken resource cannot exhaust the Python stack.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any

Visitor = Callable[[dict[str, Any]], None]


def iter_objects(node: Any) -> Iterator[dict[str, Any]]:
    """Every JSON object (dict) inside ``node``, parents before children."""
    stack: list[Any] = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            yield item
            stack.extend(reversed(list(item.values())))
        elif isinstance(item, list):
            stack.extend(reversed(item))


def visit_objects(node: Any, visitors: Iterable[Visitor]) -> None:
    """Apply each visitor to every JSON object in ``node`` (visitors may edit the object in place)."""
    steps = tuple(visitors)
    for obj in iter_objects(node):
        for visit in steps:
            visit(obj)


def depth(node: Any) -> int:
    """Nesting depth of a JSON value (a scalar is 0, ``{}`` / ``[]`` is 1)."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(node, 0)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict):
            stack.extend((child, level + 1) for child in item.values())
            deepest = max(deepest, level + 1)
        elif isinstance(item, list):
            stack.extend((child, level + 1) for child in item)
            deepest = max(deepest, level + 1)
    return deepest
