"""Data categories of a stored resource, from the matchers of ``categories.yaml``.

Compiled once per policy version into per-resource-type lists, so that labelling a resource is a
few set intersections over tokens read from it once ("system|code" strings).

Kinds and overlays (docs/policy.md): an item has one *kind* — what it is — chosen by the most
specific matcher that selects it (a code beats a security label or an extension, which beat a
resource category, then a source section, then a bare resource type; kinds tied at the top are all
kept, and decided most-restrictively). *Overlays* (mental health, restricted, safeguarding ...) mark
sensitivity on top of the kind and are always kept. An item no matcher selects gets the fallback.
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


# How specific each matcher key is: the most specific key a matcher names is its rank.
SPECIFICITY: dict[str, int] = {"codes": 5, "security_labels": 4, "extensions": 4, "categories": 3, "sections": 2,
                               "resource_types": 1}


def codings_in(value: Any) -> frozenset[str]:
    """Every "system|code" of every Coding anywhere inside ``value`` (an element of a resource)."""
    out: set[str] = set()
    stack = [value]
    while stack:
        node = stack.pop()
        if isinstance(node, list):
            stack.extend(node)
        elif isinstance(node, dict):
            if "code" in node and ("system" in node or "display" in node) and not isinstance(node["code"], dict | list):
                out.add(f"{node.get('system', '')}|{node['code']}")
            stack.extend(v for v in node.values() if isinstance(v, dict | list))
    return frozenset(out)


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

    @property
    def rank(self) -> int:
        return max((r for key, r in SPECIFICITY.items() if getattr(self, key) is not None), default=0)

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
                 fallback: str | None, overlays: frozenset[str] = frozenset()) -> None:
        self._section_extension = section_extension
        self._fallback = fallback
        self.overlays = overlays
        self._any = [(c, m) for c, m in matchers if m.resource_types is None]
        self._by_type: dict[str, list[tuple[str, Matcher]]] = {}
        for cat, m in matchers:
            for rt in m.resource_types or ():
                self._by_type.setdefault(rt, []).append((cat, m))
        self._order = {c: i for i, (c, _) in enumerate(matchers)}
        # Overlays an element's own codes bring (element categories: docs/policy.md).
        self._code_overlays = [(c, m) for c, m in matchers if c in overlays and m.codes is not None]

    def categorize(self, resource: dict[str, Any], hints: dict[str, Any] | None = None) -> tuple[str, ...]:
        t = read_tokens(resource, hints, self._section_extension)
        kinds: dict[str, int] = {}
        overlays: set[str] = set()
        for cat, m in self._by_type.get(t.resource_type, []) + self._any:
            if m.matches(t):
                if cat in self.overlays:
                    overlays.add(cat)
                else:
                    kinds[cat] = max(kinds.get(cat, 0), m.rank)
        if not kinds and not overlays:
            return (self._fallback,) if self._fallback else ()
        top = max(kinds.values(), default=0)
        found = {c for c, r in kinds.items() if r == top} | overlays
        return tuple(sorted(found, key=lambda c: self._order.get(c, 0)))

    def element_overlays(self, resource_type: str, codes: frozenset[str]) -> tuple[str, ...]:
        """The overlays the codes inside one element select (e.g. an encounter reason coded as HIV)."""
        if not codes:
            return ()
        t = Tokens(resource_type, codes, frozenset(), frozenset(), frozenset(), frozenset())
        return tuple(sorted({c for c, m in self._code_overlays if m.matches(t)}, key=lambda c: self._order.get(c, 0)))
