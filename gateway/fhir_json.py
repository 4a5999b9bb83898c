"""Walking stored FHIR JSON (plain dicts): the helpers the store's index, the policy's selectors and
the responses share."""
from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import orjson


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


def materialised(value: Any) -> Any:
    """``value`` with every ``orjson.Fragment`` (a resource released as its stored JSON text) parsed,
    for the consumers that need dicts: the XML writer, an indented print."""
    return orjson.loads(orjson.dumps(value))
