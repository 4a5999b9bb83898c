"""Warnings for IG editors: rules that can never match, and rules that match but never decide.

Neither stops a version going live (the policy is still well defined), but both usually mean a
typo or a rule made redundant by a stronger one.
"""
from __future__ import annotations

from gateway.policy.engine import PolicyEngine
from gateway.policy.errors import PolicyProblem
from gateway.policy.invariants import space


def lint(engine: PolicyEngine) -> list[PolicyProblem]:
    matched: set[str] = set()
    deciding: set[str] = set()
    for role, purpose, cat, facts, rt in space(engine):
        if not engine._check_request(role, purpose, facts.justification, True).allowed:
            continue
        o = engine.outcome(role, purpose, cat, facts, rt)
        matched.update(o.matched)
        deciding.update(o.rule_ids)
    out = []
    for r in engine.rules:
        where = f"rules[{r.index}]"
        if r.id not in matched:
            out.append(PolicyProblem(r.file, where, f"rule {r.id!r} never matches a request stage 1 allows"))
        elif r.id not in deciding:
            out.append(PolicyProblem(r.file, where, f"rule {r.id!r} matches but never decides "
                                                    "(a more restrictive rule always wins)"))
    return out


def expansion_warnings(engine: PolicyEngine) -> list[PolicyProblem]:
    """Cached SNOMED CT expansions no matcher uses, and those not made by a terminology server."""
    out = []
    in_use = engine.vocabulary.ecl_in_use
    for key, e in sorted(engine.vocabulary.expansions.items()):
        if key not in in_use:
            out.append(PolicyProblem(e.file, "expansion", f"the expansion of {e.ecl!r} is used by no matcher"))
        elif not e.server:
            out.append(PolicyProblem(e.file, "expansion", f"the expansion of {e.ecl!r} is hand-curated ({len(e.codes)} "
                                                 "concepts), not made by a terminology server: run "
                                                 "`gateway policy expand`"))
    return out
