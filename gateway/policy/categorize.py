"""Data categories of a stored resource, from the matchers of ``categories.yaml``.

Compiled once per policy version into per-resource-type lists, so that labelling a resource is a
few set intersections over tokens read from it once ("system|code" strings).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Tokens:
    """What matchers look at, read from a resource once."""

    resource_type: str
    codes: frozenset[str]
    categories: frozenset[str]
    security: frozenset[str]
    sections: frozenset[str]
    extensions: frozenset[str]


def _codings(value: Any) -> list[str]:
    out: list[str] = []
    for cc in value if isinstance(value, list) else [value]:
        if isinstance(cc, dict):
            for coding in cc.get("coding") or []:
                if isinstance(coding, dict) and coding.get("code") is not None:
                    out.append(f"{coding.get('system', '')}|{coding['code']}")
    return out


def read_tokens(resource: dict[str, Any], hints: dict[str, Any] | None, section_extension: str | None) -> Tokens:
    extensions = [e for e in resource.get("extension") or [] if isinstance(e, dict)]
    sections = {str(e.get("valueString")) for e in extensions if e.get("url") == section_extension}
    if hints and hints.get("section"):
        sections.add(str(hints["section"]))
    meta = resource.get("meta") or {}
    return Tokens(
        resource_type=str(resource.get("resourceType", "")),
        codes=frozenset(_codings(resource.get("code")) + _codings(resource.get("type"))),
        categories=frozenset(_codings(resource.get("category"))),
        security=frozenset(f"{c.get('system', '')}|{c.get('code')}" for c in meta.get("security") or []
                           if isinstance(c, dict)),
        sections=frozenset(sections),
        extensions=frozenset(str(e.get("url")) for e in extensions),
    )


@dataclass(frozen=True)
class Matcher:
    resource_types: frozenset[str] | None = None
    codes: frozenset[str] | None = None
    categories: frozenset[str] | None = None
    security_labels: frozenset[str] | None = None
    sections: frozenset[str] | None = None
    extensions: frozenset[str] | None = None
    unless: tuple[Matcher, ...] = ()

    @classmethod
    def from_data(cls, data: dict[str, Any]) -> Matcher:
        sets = {k: frozenset(map(str, v)) for k, v in data.items() if k != "unless"}
        return cls(**sets, unless=tuple(cls.from_data(u) for u in data.get("unless") or []))

    def matches(self, t: Tokens) -> bool:
        if self.resource_types is not None and t.resource_type not in self.resource_types:
            return False
        for wanted, have in ((self.codes, t.codes), (self.categories, t.categories),
                             (self.security_labels, t.security), (self.sections, t.sections),
                             (self.extensions, t.extensions)):
            if wanted is not None and not (wanted & have):
                return False
        return not any(u.matches(t) for u in self.unless)


class Categorizer:
    def __init__(self, matchers: list[tuple[str, Matcher]], section_extension: str | None,
                 fallback: str | None) -> None:
        self._section_extension = section_extension
        self._fallback = fallback
        self._any = [(c, m) for c, m in matchers if m.resource_types is None]
        self._by_type: dict[str, list[tuple[str, Matcher]]] = {}
        for cat, m in matchers:
            for rt in m.resource_types or ():
                self._by_type.setdefault(rt, []).append((cat, m))
        self._order = {c: i for i, (c, _) in enumerate(matchers)}

    def categorize(self, resource: dict[str, Any], hints: dict[str, Any] | None = None) -> tuple[str, ...]:
        t = read_tokens(resource, hints, self._section_extension)
        found: set[str] = set()
        for cat, m in self._by_type.get(t.resource_type, []) + self._any:
            if cat not in found and m.matches(t):
                found.add(cat)
        if not found and self._fallback:
            return (self._fallback,)
        return tuple(sorted(found, key=lambda c: self._order.get(c, 0)))
