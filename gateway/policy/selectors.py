"""A small FHIRPath-style field selector, compiled once and evaluated on plain dicts.

Grammar (enough for field groups, deliberately no more):
    Type.step.step...        Type is a resource type, or `Resource` for any type
    step := name | extension('url') | modifierExtension('url') | where(path = 'value')
`where(...)` filters the elements selected by the step before it; `path` is dotted names.
Examples: ``Flag.extension('https://…/detail')``, ``Observation.note``,
``Observation.component.where(code.coding.code = 'MCADEC')``.
"""
from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from gateway.fhir_json import values_at
from gateway.policy.model import Stored

Filter = Callable[[Any], bool]
_TOKEN = re.compile(r"""\s*([A-Za-z_][A-Za-z0-9_]*)\s*(?:\((.*)\))?\s*$""", re.DOTALL)
_WHERE = re.compile(r"""^\s*([A-Za-z_][A-Za-z0-9_.]*)\s*=\s*'([^']*)'\s*$""")
_URL_ARG = re.compile(r"""^\s*'([^']*)'\s*$""")
ANY_TYPE = "Resource"


class SelectorError(ValueError):
    pass


@dataclass(frozen=True)
class Step:
    name: str
    filters: tuple[Filter, ...] = ()
    needle: str | None = None  # text the JSON must contain when this step selects anything

    def keep(self, element: Any) -> bool:
        return all(f(element) for f in self.filters)


@dataclass(frozen=True)
class Selector:
    text: str
    resource_type: str  # or ANY_TYPE
    steps: tuple[Step, ...]

    def applies_to(self, resource: dict[str, Any]) -> bool:
        return self.resource_type == ANY_TYPE or resource.get("resourceType") == self.resource_type

    @property
    def needles(self) -> tuple[str, ...]:
        """Substrings of the JSON text that every resource with the selection present contains.

        Each step is a key (``"note"``) and an extension step also a ``url`` value; the store's JSON
        is orjson's, which writes keys and such values verbatim. Only values orjson writes
        unescaped become needles (see :func:`_needle`), so a missing needle proves absence."""
        return tuple(n for step in self.steps for n in (f'"{step.name}"', step.needle) if n is not None)

    def present_in(self, stored: Stored) -> bool:
        """``present(stored.content)``, without parsing the JSON when its text rules the selection out."""
        if self.resource_type != ANY_TYPE and stored.resource_type != self.resource_type:
            return False
        raw = stored.raw
        if not all(n in raw for n in self.needles):
            return False
        return self.present(stored.content)

    def present(self, resource: dict[str, Any]) -> bool:
        if not self.applies_to(resource):
            return False
        parents = self._parents(resource)
        last = self.steps[-1]
        return any(_selected(p.get(last.name), last) for p in parents)

    def selected(self, resource: dict[str, Any]) -> list[Any]:
        """The selected elements themselves (e.g. to read the codes inside them)."""
        if not self.applies_to(resource):
            return []
        last, out = self.steps[-1], []
        for parent in self._parents(resource):
            value = parent.get(last.name)
            for v in value if isinstance(value, list) else ([value] if value is not None else []):
                if last.keep(v):
                    out.append(v)
        return out

    def remove(self, resource: dict[str, Any]) -> bool:
        """Remove the selected elements in place (call on a copy). True if anything went."""
        if not self.applies_to(resource):
            return False
        last, removed = self.steps[-1], False
        for parent in self._parents(resource):
            value = parent.get(last.name)
            if value is None:
                continue
            if isinstance(value, list):
                kept = [v for v in value if not last.keep(v)]
                if len(kept) != len(value):
                    removed = True
                    if kept:
                        parent[last.name] = kept
                    else:
                        del parent[last.name]
                        parent.pop("_" + last.name, None)
            elif last.keep(value):
                del parent[last.name]
                parent.pop("_" + last.name, None)
                removed = True
        return removed

    def _parents(self, resource: dict[str, Any]) -> list[dict[str, Any]]:
        nodes: list[Any] = [resource]
        for step in self.steps[:-1]:
            nxt: list[Any] = []
            for node in nodes:
                value = node.get(step.name) if isinstance(node, dict) else None
                for v in value if isinstance(value, list) else ([value] if value is not None else []):
                    if isinstance(v, dict) and step.keep(v):
                        nxt.append(v)
            nodes = nxt
        return [n for n in nodes if isinstance(n, dict)]


def _selected(value: Any, step: Step) -> bool:
    if value is None:
        return False
    if isinstance(value, list):
        return any(step.keep(v) for v in value)
    return step.keep(value)


def _needle(value: str) -> str | None:
    """The quoted JSON string ``value`` as orjson writes it, if it needs no escape (else no needle)."""
    if any(c in '"\\' or ord(c) < 0x20 for c in value):
        return None
    return f'"{value}"'


def _url_is(url: str) -> Filter:
    """extension('url'): keep the extensions with that url."""
    def keep(element: Any) -> bool:
        return isinstance(element, dict) and element.get("url") == url
    return keep


def _has_value(path: list[str], value: str) -> Filter:
    """where(path = 'value'): keep the elements with that value at path."""
    def keep(element: Any) -> bool:
        return value in [str(x) for x in values_at(element, path)]
    return keep


def _split(text: str) -> list[str]:
    parts, depth, quote, current = [], 0, False, ""
    for ch in text:
        if ch == "'":
            quote = not quote
        elif not quote and ch == "(":
            depth += 1
        elif not quote and ch == ")":
            depth -= 1
        if ch == "." and depth == 0 and not quote:
            parts.append(current)
            current = ""
        else:
            current += ch
    parts.append(current)
    return parts


def compile_selector(text: str) -> Selector:
    parts = _split(text.strip())
    if len(parts) < 2 or not re.fullmatch(r"[A-Z][A-Za-z]*", parts[0].strip()):
        raise SelectorError(f"selector {text!r} must start with a resource type followed by a path")
    steps: list[Step] = []
    for raw in parts[1:]:
        m = _TOKEN.match(raw)
        if not m:
            raise SelectorError(f"selector {text!r}: cannot read step {raw!r}")
        name, arg = m.group(1), m.group(2)
        if arg is None:
            steps.append(Step(name))
        elif name in ("extension", "modifierExtension"):
            url = _URL_ARG.match(arg)
            if not url:
                raise SelectorError(f"selector {text!r}: {name}() takes one quoted URL")
            u = url.group(1)
            steps.append(Step(name, (_url_is(u),), _needle(u)))
        elif name == "where":
            w = _WHERE.match(arg)
            if not w or not steps:
                raise SelectorError(f"selector {text!r}: where() takes path = 'value' after a step")
            path, value = w.group(1).split("."), w.group(2)
            prev = steps.pop()
            steps.append(Step(prev.name, prev.filters + (_has_value(path, value),), prev.needle))
        else:
            raise SelectorError(f"selector {text!r}: unknown function {name}()")
    return Selector(text, parts[0].strip(), tuple(steps))
