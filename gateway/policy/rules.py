"""Compiled rules and the combining algorithm (Cedar-like: forbid beats permit).

Every matching rule votes with its effect; the most restrictive effect wins
(hide > notice > redact > release); no matching rule → the category's default. Obligations of
every matching rule are kept (auditing more is the safe side).
"""
from __future__ import annotations

from dataclasses import dataclass

from gateway.policy.conditions import Condition, Facts
from gateway.policy.model import RESTRICTIVENESS, Effect
from gateway.policy.selectors import Selector


@dataclass(frozen=True)
class Rule:
    id: str
    file: str
    index: int
    effect: Effect
    when: Condition
    unless: tuple[Condition, ...] = ()
    selectors: tuple[Selector, ...] = ()  # for effect == "redact"
    redacts: tuple[str, ...] = ()  # field-group names the selectors came from
    obligations: frozenset[str] = frozenset()
    message: str | None = None
    description: str = ""

    def applies(self, role: str, purpose: str, category: str, facts: Facts, resource_type: str) -> bool:
        return (self.when.facts_ok(facts, resource_type)
                and not any(u.holds(role, purpose, category, facts, resource_type) for u in self.unless))


@dataclass(frozen=True)
class Outcome:
    """The decision for one (role, purpose, category, facts, resource type)."""

    effect: Effect
    rule_ids: tuple[str, ...]  # the deciding rules (or "default:<category>")
    matched: tuple[str, ...]  # every matching rule, in file order
    obligations: frozenset[str]
    messages: tuple[str, ...] = ()
    selectors: tuple[Selector, ...] = ()
    redacts: tuple[str, ...] = ()


def combine(matched: list[Rule], default: Effect, category: str, extra_obligations: frozenset[str],
            extra_ids: tuple[str, ...]) -> Outcome:
    if not matched:
        return Outcome(default, (f"default:{category}",) + extra_ids, (), extra_obligations)
    effect = max((r.effect for r in matched), key=RESTRICTIVENESS.__getitem__)
    deciding = [r for r in matched if r.effect == effect]
    obligations = frozenset().union(*(r.obligations for r in matched)) | extra_obligations
    selectors: tuple[Selector, ...] = ()
    redacts: tuple[str, ...] = ()
    if effect == "redact":
        for r in deciding:
            selectors += tuple(s for s in r.selectors if s not in selectors)
            redacts += tuple(g for g in r.redacts if g not in redacts)
    return Outcome(effect, tuple(r.id for r in deciding) + extra_ids, tuple(r.id for r in matched),
                   obligations, tuple(r.message for r in deciding if r.message), selectors, redacts)
