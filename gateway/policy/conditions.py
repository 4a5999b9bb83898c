"""Rule conditions (`when` / `unless`) and the facts they are evaluated against.

A decision for one item category depends on a handful of booleans (:class:`Facts`) besides
role, purpose, category and resource type. That space is finite, which is what lets the engine
compile decisions into a table and check invariants exhaustively.
"""
from __future__ import annotations

from dataclasses import dataclass, fields
from itertools import product
from typing import Any, NamedTuple


class Facts(NamedTuple):
    relationship: bool = False
    objection: bool = False
    consent_permits: bool = False
    opt_out: bool = False
    justification: bool = False
    recorded_by_requester: bool = False
    own_record: bool = False


FACT_NAMES: tuple[str, ...] = Facts._fields


def all_facts(relevant: frozenset[str] | None = None) -> list[Facts]:
    """Every combination of the ``relevant`` facts (all if None); the others stay False, which is
    exact when nothing that decides looks at them."""
    names = [n for n in FACT_NAMES if relevant is None or n in relevant]
    return [Facts(**dict(zip(names, values))) for values in product((False, True), repeat=len(names))]


@dataclass(frozen=True)
class Condition:
    roles: frozenset[str] | None = None
    purposes: frozenset[str] | None = None
    categories: frozenset[str] | None = None
    resource_types: frozenset[str] | None = None
    relationship: bool | None = None
    objection: bool | None = None
    consent_permits: bool | None = None
    opt_out: bool | None = None
    justification: bool | None = None
    recorded_by_requester: bool | None = None
    own_record: bool | None = None

    @classmethod
    def from_data(cls, data: dict[str, Any] | None) -> Condition:
        data = data or {}
        kw: dict[str, Any] = {}
        for f in fields(cls):
            if f.name in data:
                v = data[f.name]
                kw[f.name] = frozenset(v) if isinstance(v, list) else v
        return cls(**kw)

    def scope_ok(self, role: str, purpose: str, category: str) -> bool:
        """The part that does not depend on facts: used to pre-index rules."""
        return ((self.roles is None or role in self.roles)
                and (self.purposes is None or purpose in self.purposes)
                and (self.categories is None or category in self.categories))

    def holds(self, role: str, purpose: str, category: str, facts: Facts, resource_type: str) -> bool:
        return self.scope_ok(role, purpose, category) and self.facts_ok(facts, resource_type)

    def facts_ok(self, facts: Facts, resource_type: str) -> bool:
        if self.resource_types is not None and resource_type not in self.resource_types:
            return False
        for name, have in zip(FACT_NAMES, facts):
            want = getattr(self, name)
            if want is not None and want != have:
                return False
        return True

    def failed(self, role: str, purpose: str, category: str, facts: Facts, resource_type: str) -> list[str]:
        """Which conditions do not hold (for `explain`)."""
        out = []
        for name, have in (("roles", role), ("purposes", purpose), ("categories", category),
                           ("resource_types", resource_type)):
            want = getattr(self, name)
            if want is not None and have not in want:
                out.append(f"{name}: {have!r} not in {sorted(want)}")
        for name, fact in zip(FACT_NAMES, facts):
            want = getattr(self, name)
            if want is not None and want != fact:
                out.append(f"{name}: is {fact}, needs {want}")
        return out

    def referenced_facts(self) -> frozenset[str]:
        return frozenset(n for n in FACT_NAMES if getattr(self, n) is not None)

    def describe(self) -> str:
        parts = []
        for f in fields(self):
            v = getattr(self, f.name)
            if v is not None:
                parts.append(f"{f.name}={sorted(v) if isinstance(v, frozenset) else v}")
        return ", ".join(parts) or "always"
