"""Data categories of a stored resource, from the matchers of ``categories.yaml``.

Compiled once per policy version into per-resource-type lists, so that labelling a resource is a
few set intersections over tokens read from it once ("system|code" strings).

Kinds and overlays (docs/policy.md): an item has one *kind* — what it is — chosen by the most
specific matcher that selects it (a code beats a security label or an extension, which beat a
resource category, then a source section, then a bare resource type; kinds tied at the top are all
kept, and decided most-restrictively). *Overlays* (mental health, restricted, safeguarding ...) mark
sensitivity on top of the kind and are always kept. An item no matcher selects gets the fallback.

Matchers may name SNOMED CT hierarchies (``ecl:``): the compiler resolves each expression to the
expansion cached in the pack (gateway/policy/terminology.py) and the matcher then holds those codes
beside its listed ones, ranked like ``codes``. The *safety net* (``sensitive_terms:``): an item whose
codes no code matcher knows, and whose kind comes from its resource type alone (or the fallback),
gets the overlay a sensitive term in its codes' display text suggests, until IG staff classify the
code (name it in any category's ``codes`` or ``ecl``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from gateway.policy.terminology import normalise_ecl


@dataclass(frozen=True)
class Tokens:
    """What matchers look at, read from a resource once."""

    resource_type: str
    codes: frozenset[str]
    categories: frozenset[str]
    security: frozenset[str]
    sections: frozenset[str]
    extensions: frozenset[str]
    # (code token or None for an uncoded text, display text) of the codings in code / type
    displays: tuple[tuple[str | None, str], ...] = ()


def _displays(value: Any) -> list[tuple[str | None, str]]:
    out: list[tuple[str | None, str]] = []
    for cc in value if isinstance(value, list) else [value]:
        if not isinstance(cc, dict):
            continue
        codings = [c for c in cc.get("coding") or [] if isinstance(c, dict) and c.get("code") is not None]
        text = cc.get("text") if isinstance(cc.get("text"), str) else None
        for coding in codings:
            token = f"{coding.get('system', '')}|{coding['code']}"
            for words in (coding.get("display"), text):
                if isinstance(words, str) and words:
                    out.append((token, words))
        if not codings and text:
            out.append((None, text))
    return out


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
        displays=tuple(_displays(resource.get("code")) + _displays(resource.get("type"))),
    )


# How specific each matcher key is: the most specific key a matcher names is its rank.
SPECIFICITY: dict[str, int] = {"codes": 5, "ecl": 5, "security_labels": 4, "extensions": 4, "categories": 3,
                               "sections": 2, "resource_types": 1}


def codings_in(value: Any) -> frozenset[str]:
    """Every "system|code" of every Coding anywhere inside ``value`` (an element of a resource)."""
    return codes_and_displays_in(value)[0]


def codes_and_displays_in(value: Any) -> tuple[frozenset[str], tuple[tuple[str | None, str], ...]]:
    """Every "system|code" of every Coding inside ``value``, and the display texts of the
    CodeableConcepts there (each coding's display and the concept's text, with that coding's code;
    a concept with a text and no coding gives (None, text))."""
    out: set[str] = set()
    displays: dict[tuple[str | None, str], None] = {}
    stack = [value]
    while stack:
        node = stack.pop()
        if isinstance(node, list):
            stack.extend(node)
        elif isinstance(node, dict):
            if "code" in node and ("system" in node or "display" in node) and not isinstance(node["code"], dict | list):
                out.add(f"{node.get('system', '')}|{node['code']}")
            if isinstance(node.get("coding"), list) or (isinstance(node.get("text"), str) and len(node) == 1):
                displays.update(dict.fromkeys(_displays(node)))
            stack.extend(v for v in node.values() if isinstance(v, dict | list))
    return frozenset(out), tuple(displays)


CODE_RANK = SPECIFICITY["codes"]


@dataclass(frozen=True)
class Matcher:
    resource_types: frozenset[str] | None = None
    codes: frozenset[str] | None = None  # the listed codes and the cached expansions of ``ecl``
    categories: frozenset[str] | None = None
    security_labels: frozenset[str] | None = None
    sections: frozenset[str] | None = None
    extensions: frozenset[str] | None = None
    ecl: tuple[str, ...] | None = None  # the expressions as written (their expansions are in ``codes``)
    unless: tuple[Matcher, ...] = ()

    @classmethod
    def from_data(cls, data: dict[str, Any], expansions: Mapping[str, frozenset[str]] | None = None) -> Matcher:
        """``expansions``: normalised ECL -> its cached codes ("system|code"); an expression with no
        expansion selects nothing (the compiler reports it, so such a policy never goes live)."""
        sets = {k: frozenset(map(str, v)) for k, v in data.items() if k not in ("unless", "ecl")}
        ecl = tuple(map(str, data["ecl"])) if data.get("ecl") else None
        if ecl is not None:
            found = expansions or {}
            sets["codes"] = sets.get("codes", frozenset()).union(
                *(found.get(normalise_ecl(e), frozenset()) for e in ecl))
        return cls(**sets, ecl=ecl, unless=tuple(cls.from_data(u, expansions) for u in data.get("unless") or []))

    @property
    def rank(self) -> int:
        return max((r for key, r in SPECIFICITY.items() if getattr(self, key) is not None), default=0)

    def all_codes(self) -> frozenset[str]:
        """Every code this matcher or its exceptions name: codes IG staff have classified."""
        return (self.codes or frozenset()).union(*(u.all_codes() for u in self.unless))

    def matches(self, t: Tokens) -> bool:
        if self.resource_types is not None and t.resource_type not in self.resource_types:
            return False
        for wanted, have in ((self.codes, t.codes), (self.categories, t.categories),
                             (self.security_labels, t.security), (self.sections, t.sections),
                             (self.extensions, t.extensions)):
            if wanted is not None and not (wanted & have):
                return False
        return not any(u.matches(t) for u in self.unless)


@dataclass(frozen=True)
class Suggestion:
    """The safety net at work: an unclassified code's display text holds a sensitive term."""

    overlay: str
    code: str | None  # "system|code", or None for a concept with a text and no coding
    display: str
    term: str


@dataclass(frozen=True)
class Classification:
    categories: tuple[str, ...]
    # True when no code matcher selected the item and its kind came from its resource type alone
    # (or the fallback): its codes are ones IG staff have not classified.
    unclassified: bool
    suggested: tuple[Suggestion, ...] = ()
    codes: frozenset[str] = frozenset()
    displays: tuple[tuple[str | None, str], ...] = ()


def term_pattern(terms: tuple[str, ...]) -> re.Pattern[str]:
    """A sensitive term matches at the start of a word, in any case ("depress" in "Postnatal
    depression"); an abbreviation written in capitals ("HIV") matches only that whole word in capitals
    (not "Hives")."""
    stems = [re.escape(t) for t in terms if not t.isupper()]
    abbreviations = [re.escape(t) for t in terms if t.isupper()]
    parts = ([f"(?i:{'|'.join(stems)})"] if stems else []) + (
        [f"(?:{'|'.join(abbreviations)})(?![0-9A-Za-z])"] if abbreviations else [])
    return re.compile(r"(?<![0-9A-Za-z])(" + "|".join(parts) + ")")


class Categorizer:
    def __init__(self, matchers: list[tuple[str, Matcher]], section_extension: str | None,
                 fallback: str | None, overlays: frozenset[str] = frozenset(),
                 sensitive_terms: Mapping[str, tuple[str, ...]] | None = None) -> None:
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
        # The safety net: codes named anywhere are classified; the others' display texts are read.
        self.classified_codes: frozenset[str] = frozenset().union(*(m.all_codes() for _, m in matchers))
        self._terms = [(overlay, term_pattern(terms)) for overlay, terms in (sensitive_terms or {}).items() if terms]
        self._seen: dict[tuple[str | None, str], tuple[Suggestion, ...]] = {}

    def categorize(self, resource: dict[str, Any], hints: dict[str, Any] | None = None) -> tuple[str, ...]:
        return self.classify(resource, hints).categories

    def classify(self, resource: dict[str, Any], hints: dict[str, Any] | None = None) -> Classification:
        """The categories, and whether they rest on the item's codes or only on its resource type."""
        t = read_tokens(resource, hints, self._section_extension)
        kinds: dict[str, int] = {}
        overlays: set[str] = set()
        coded = False
        for cat, m in self._by_type.get(t.resource_type, []) + self._any:
            if m.matches(t):
                if cat in self.overlays:
                    overlays.add(cat)
                    coded = coded or m.rank == CODE_RANK
                else:
                    kinds[cat] = max(kinds.get(cat, 0), m.rank)
        top = max(kinds.values(), default=0)
        if not kinds and not overlays:
            found = {self._fallback} if self._fallback else set()
        else:
            found = {c for c, r in kinds.items() if r == top} | overlays
        unclassified = not coded and top <= SPECIFICITY["resource_types"]
        suggested: tuple[Suggestion, ...] = ()
        if unclassified:
            suggested = self.suggest(t.displays)
            found |= {s.overlay for s in suggested}
        categories = tuple(sorted(found, key=lambda c: self._order.get(c, 0)))
        if not unclassified:
            return Classification(categories, False)
        return Classification(categories, True, suggested, t.codes, t.displays)

    def suggest(self, displays: tuple[tuple[str | None, str], ...]) -> tuple[Suggestion, ...]:
        """The overlays sensitive terms suggest for the display texts of unclassified codes."""
        if not self._terms or not displays:
            return ()
        out: dict[tuple[str, str | None], Suggestion] = {}
        for code, text in displays:
            if code is not None and code in self.classified_codes:
                continue
            for s in self._suggest_one(code, text):
                out.setdefault((s.overlay, code), s)
        return tuple(out.values())

    def _suggest_one(self, code: str | None, text: str) -> tuple[Suggestion, ...]:
        # The same few thousand (code, display) pairs recur across a corpus: read each text once.
        found = self._seen.get((code, text))
        if found is None:
            found = tuple(Suggestion(overlay, code, text, hit.group(1))
                          for overlay, pattern in self._terms if (hit := pattern.search(text)))
            if len(self._seen) >= 100_000:
                self._seen.clear()
            self._seen[(code, text)] = found
        return found

    def element_overlays(self, resource_type: str, codes: frozenset[str],
                         displays: tuple[tuple[str | None, str], ...] = ()) -> tuple[str, ...]:
        """The overlays the codes inside one element select (e.g. an encounter reason coded as HIV),
        and those the safety net suggests for its unclassified codes."""
        if not codes and not displays:
            return ()
        t = Tokens(resource_type, codes, frozenset(), frozenset(), frozenset(), frozenset())
        found = {c for c, m in self._code_overlays if m.matches(t)} if codes else set()
        found |= {s.overlay for s in self.suggest(displays)}
        return tuple(sorted(found, key=lambda c: self._order.get(c, 0)))
