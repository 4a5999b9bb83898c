"""Walking stored FHIR JSON (plain dicts): the one helper the store's index and the policy's selectors share."""
from __future__ import annotations

from collections.abc import Iterable
from typing import Any


def values_at(element: Any, path: Iterable[str]) -> list[Any]:
    """Every value at an element path, descending through repeating elements (lists) transparently."""
    items = [element]
    for name in path:
        nxt: list[Any] = []
        for item in items:
            if isinstance(item, dict) and name in item:
                v = item[name]
                nxt.extend(v if isinstance(v, list) else [v])
        items = nxt
    return items
