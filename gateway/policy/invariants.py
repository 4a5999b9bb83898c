"""Exhaustive invariant checking over role × purpose × category × facts × resource type.

The space is finite (a few hundred thousand cells at most), so every declared invariant is
proved, not sampled, before a version goes live. Item-level expectations are checked on the
combinations stage 1 lets through (a refused request receives nothing); `request: refused`
expectations are checked on stage 1 itself.
"""
from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from gateway.policy.compile import Invariant
from gateway.policy.conditions import FACT_NAMES, Facts, all_facts
from gateway.policy.errors import PolicyProblem
from gateway.policy.rules import Outcome

if TYPE_CHECKING:
    from gateway.policy.engine import PolicyEngine


def describe_combo(role: str, purpose: str, category: str, facts: Facts, resource_type: str) -> str:
    flags = " ".join(f"{n}={'yes' if v else 'no'}" for n, v in zip(FACT_NAMES, facts))
    return (f"role={role} purpose={purpose} category={category} {flags}"
            f" resource_type={resource_type or 'any'}")


def space(engine: PolicyEngine, inv: Invariant | None = None, *,
          exhaustive: bool = False) -> Iterator[tuple[str, str, str, Facts, str]]:
    """Every combination that can decide differently. For one (role, purpose, category) only the
    facts and resource types that its candidate rules (or the invariant) look at can change the
    outcome, so the others are held at False / "any" — still a proof, at a fraction of the cost.
    ``exhaustive`` enumerates every fact anyway (for diffs between two engines)."""
    v = engine.vocabulary
    extra = (inv.when, *inv.unless) if inv is not None else ()
    for role in v.roles:
        for purpose in v.purposes:
            for cat in v.categories:
                if inv is not None and not inv.when.scope_ok(role, purpose, cat):
                    continue
                conds = [c for r in engine._index.get((role, purpose, cat), ()) for c in (r.when, *r.unless)]
                conds += extra
                relevant = None if exhaustive else frozenset({"justification"}).union(
                    *(c.referenced_facts() for c in conds))
                rtypes = ("",) + tuple(sorted({t for c in conds for t in c.resource_types or ()}))
                for f in all_facts(relevant):
                    for rt in rtypes:
                        yield role, purpose, cat, f, rt


def _violation(engine: PolicyEngine, inv: Invariant, combo: tuple[str, str, str, Facts, str]) -> str | None:
    role, purpose, cat, f, rt = combo
    if not inv.when.facts_ok(f, rt) or any(u.holds(*combo) for u in inv.unless):
        return None
    expect = inv.expect
    if "request" in expect:
        for scoped in (False, True):
            allowed = engine._check_request(role, purpose, f.justification, scoped).allowed
            if allowed != (expect["request"] == "allowed"):
                return f"request is {'allowed' if allowed else 'refused'}, expected {expect['request']}"
    if not engine._check_request(role, purpose, f.justification, True).allowed:
        return None
    o: Outcome = engine.outcome(role, purpose, cat, f, rt)
    if "effect_in" in expect and o.effect not in expect["effect_in"]:
        return f"effect {o.effect} (rules: {', '.join(o.rule_ids)}), expected one of {expect['effect_in']}"
    missing = set(expect.get("obligations_include", ())) - o.obligations
    if missing:
        return f"obligations {sorted(o.obligations)} lack {sorted(missing)} (rules: {', '.join(o.rule_ids)})"
    return None


def check_invariants(engine: PolicyEngine, limit_per_invariant: int = 1) -> list[PolicyProblem]:
    problems: list[PolicyProblem] = []
    for inv in engine.invariants:
        found = 0
        for combo in space(engine, inv):
            why = _violation(engine, inv, combo)
            if why is None:
                continue
            found += 1
            role, purpose, cat, f, rt = combo
            if purpose in engine._grants_relationship:  # show the facts the decision actually used
                combo = (role, purpose, cat, f._replace(relationship=True), rt)
            if found <= limit_per_invariant:
                problems.append(PolicyProblem(
                    inv.file, f"invariants[{inv.index}]",
                    f"invariant {inv.id!r} is broken by {describe_combo(*combo)}: {why}"))
        if found > limit_per_invariant:
            problems.append(PolicyProblem(inv.file, f"invariants[{inv.index}]",
                                          f"invariant {inv.id!r}: {found - limit_per_invariant} more "
                                          "combinations break it"))
    return problems
