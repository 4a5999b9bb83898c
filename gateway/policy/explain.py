"""Why a decision came out as it did: every candidate rule, whether it matched, and why not."""
from __future__ import annotations

from dataclasses import dataclass, field

from gateway.policy.conditions import FACT_NAMES, Facts
from gateway.policy.engine import PolicyEngine
from gateway.policy.model import Item, PatientContext, RequestDecision
from gateway.policy.rules import Outcome
from gateway.requester import Requester


@dataclass(frozen=True)
class RuleStep:
    rule_id: str
    file: str
    effect: str
    matched: bool
    reasons: tuple[str, ...]  # why it did not match (empty when it matched)
    deciding: bool = False


@dataclass(frozen=True)
class Explanation:
    role: str
    purpose: str
    category: str
    facts: Facts
    resource_type: str
    request: RequestDecision
    steps: tuple[RuleStep, ...]
    outcome: Outcome
    groups: tuple[Explanation, ...] = field(default=())  # the category's field groups

    def lines(self) -> list[str]:
        flags = ", ".join(f"{n}={'yes' if v else 'no'}" for n, v in zip(FACT_NAMES, self.facts))
        out = [f"{self.role} / {self.purpose} / {self.category} ({flags}; resource type {self.resource_type or 'any'})"]
        if not self.request.allowed:
            return out + [f"  request refused ({self.request.status}): {self.request.reason}"]
        for i, s in enumerate(self.steps, 1):
            mark = "deciding" if s.deciding else ("matched" if s.matched else "no match")
            why = "" if s.matched else " - " + "; ".join(s.reasons)
            out.append(f"  {i}. {s.rule_id} [{s.effect}] {mark}{why}  ({s.file})")
        o = self.outcome
        out.append(f"  => {o.effect} by {', '.join(o.rule_ids)}"
                   + (f"; obligations {sorted(o.obligations)}" if o.obligations else ""))
        for g in self.groups:
            out += ["  " + line for line in g.lines()]
        return out


def explain(engine: PolicyEngine, role: str, purpose: str, category: str, facts: Facts,
            resource_type: str = "", *, with_groups: bool = True) -> Explanation:
    """Every rule that mentions this role, purpose and category (in file order), matched or not."""
    request = engine._check_request(role, purpose, facts.justification, True)
    p = engine.vocabulary.purposes.get(purpose)
    if p is not None and p.grants_relationship:
        facts = facts._replace(relationship=True)
    outcome = engine.outcome(role, purpose, category, facts, resource_type)
    steps = []
    for rule in engine.rules:
        if not rule.when.scope_ok(role, purpose, category):
            continue
        reasons = rule.when.failed(role, purpose, category, facts, resource_type)
        blocked = [u.describe() for u in rule.unless if u.holds(role, purpose, category, facts, resource_type)]
        reasons += [f"unless {b}" for b in blocked]
        matched = not reasons
        steps.append(RuleStep(rule.id, rule.file, rule.effect, matched, tuple(reasons),
                              matched and rule.id in outcome.rule_ids))
    groups = tuple(explain(engine, role, purpose, g.name, facts, resource_type, with_groups=False)
                   for g in engine.vocabulary.field_groups.get(category, ())) if with_groups else ()
    return Explanation(role, purpose, category, facts, resource_type, request, tuple(steps), outcome, groups)


def explain_item(engine: PolicyEngine, requester: Requester, patient: PatientContext, item: Item) -> list[Explanation]:
    """The explanation of a real decision: one per category of the item, with the actual facts."""
    rtype = str(item.resource.get("resourceType", ""))
    out = []
    fallback = engine.vocabulary.fallback_category
    for cat in item.categories or ((fallback,) if fallback else ()):
        facts = engine.facts_for(requester, patient, item, cat)
        out.append(explain(engine, requester.role, requester.purpose, cat, facts, rtype))
    return out
