"""The IG report of unclassified codes: which codes of the stored records no code matcher knows.

An item is *unclassified* when its categories rest on its resource type alone (or the fallback) —
no ``codes`` / ``ecl`` matcher selected it and no more specific key chose its kind. Its codes are the
ones IG staff have not classified; those whose display text holds a sensitive term get an overlay
from the safety net meanwhile (categories.yaml ``sensitive_terms``). The report counts them, the
safety net's first, so that IG staff can classify them (name them in a category's ``codes`` or widen
an ``ecl``). This module reads items handed to it; gateway/corpus_commands.py reads them from the store.
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from gateway.policy.engine import PolicyEngine


@dataclass
class UnclassifiedCode:
    code: str | None  # "system|code"; None for a concept with a text and no coding
    display: str
    items: int = 0
    resource_types: Counter[str] = field(default_factory=Counter)
    suggested: tuple[str, ...] = ()  # overlays the safety net gives it until it is classified
    terms: tuple[str, ...] = ()  # the sensitive terms that suggested them


@dataclass
class UnclassifiedReport:
    policy_version: str
    items_checked: int = 0
    items_unclassified: int = 0
    items_by_safety_net: int = 0
    codes: list[UnclassifiedCode] = field(default_factory=list)


def unclassified_codes(engine: PolicyEngine, items: Iterable[tuple[dict[str, Any], dict[str, Any] | None]]
                       ) -> UnclassifiedReport:
    """``items``: (stored resource, its labelling hints). Codes matched by the safety net first, then
    by how many items carry them."""
    report = UnclassifiedReport(engine.version)
    found: dict[str | None, UnclassifiedCode] = {}
    for resource, hints in items:
        report.items_checked += 1
        c = engine.classify(resource, hints)
        if not c.unclassified:
            continue
        displays: dict[str | None, str] = {}
        for code, text in c.displays:
            displays.setdefault(code, text)
        keys = list(dict.fromkeys([*sorted(c.codes), *(k for k in displays if k is None)]))
        if not keys:
            continue
        report.items_unclassified += 1
        report.items_by_safety_net += bool(c.suggested)
        rtype = str(resource.get("resourceType", ""))
        for key in keys:
            entry = found.get(key)
            if entry is None:
                entry = found[key] = UnclassifiedCode(key, displays.get(key, ""))
            entry.items += 1
            entry.resource_types[rtype] += 1
            hits = [s for s in c.suggested if s.code == key]
            entry.suggested = tuple(dict.fromkeys((*entry.suggested, *(s.overlay for s in hits))))
            entry.terms = tuple(dict.fromkeys((*entry.terms, *(s.term for s in hits))))
    report.codes = sorted(found.values(), key=lambda e: (not e.suggested, -e.items, e.code or "", e.display))
    return report
