"""What a policy change would release differently: over the combination space, and over real items."""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from gateway.policy.conditions import Facts, all_facts
from gateway.policy.engine import PolicyEngine
from gateway.policy.model import Item, ItemDecision, PatientContext
from gateway.requester import Requester


@dataclass(frozen=True)
class ComboChange:
    role: str
    purpose: str
    category: str
    facts: Facts
    resource_type: str
    old_effect: str
    new_effect: str
    old_rules: tuple[str, ...]
    new_rules: tuple[str, ...]
    old_obligations: frozenset[str] = frozenset()
    new_obligations: frozenset[str] = frozenset()


@dataclass(frozen=True)
class RequestChange:
    role: str
    purpose: str
    justification: bool
    old_allowed: bool
    new_allowed: bool
    new_reason: str


@dataclass(frozen=True)
class ItemChange:
    requester: Requester
    patient_id: str
    resource: str  # "Type/id"
    old: ItemDecision
    new: ItemDecision


def _effective(engine: PolicyEngine, role: str, purpose: str, justified: bool) -> bool:
    return engine._check_request(role, purpose, justified, True).allowed


def diff_requests(old: PolicyEngine, new: PolicyEngine) -> list[RequestChange]:
    out = []
    roles = sorted(set(old.vocabulary.roles) | set(new.vocabulary.roles))
    purposes = sorted(set(old.vocabulary.purposes) | set(new.vocabulary.purposes))
    for role in roles:
        for purpose in purposes:
            for just in (False, True):
                a, b = _effective(old, role, purpose, just), new._check_request(role, purpose, just, True)
                if a != b.allowed:
                    out.append(RequestChange(role, purpose, just, a, b.allowed, b.reason))
    return out


def _picked(names: Iterable[str], wanted: set[str] | None) -> list[str]:
    return sorted(n for n in names if wanted is None or n in wanted)


def diff_policies(old: PolicyEngine, new: PolicyEngine, *, roles: Iterable[str] | None = None,
                  purposes: Iterable[str] | None = None, categories: Iterable[str] | None = None,
                  obligations: bool = True) -> list[ComboChange]:
    """Every (role, purpose, category, facts, resource type) whose decision differs. Only combinations
    both stage-1 checks allow are compared (diff_requests covers the rest). A category only one of
    the versions knows decides as unknown (hide) in the other."""
    wanted_roles = set(roles) if roles is not None else None
    wanted_purposes = set(purposes) if purposes is not None else None
    wanted_cats = set(categories) if categories is not None else None
    changes: list[ComboChange] = []
    for role in _picked(set(old.vocabulary.roles) | set(new.vocabulary.roles), wanted_roles):
        for purpose in _picked(set(old.vocabulary.purposes) | set(new.vocabulary.purposes), wanted_purposes):
            for cat in _picked(set(old.vocabulary.categories) | set(new.vocabulary.categories), wanted_cats):
                conds = [c for e in (old, new) for r in e._index.get((role, purpose, cat), ())
                         for c in (r.when, *r.unless)]
                relevant = frozenset({"justification"}).union(*(c.referenced_facts() for c in conds))
                rtypes = ("",) + tuple(sorted({t for c in conds for t in c.resource_types or ()}))
                for f in all_facts(relevant):
                    if not (_effective(old, role, purpose, f.justification)
                            and _effective(new, role, purpose, f.justification)):
                        continue
                    for rt in rtypes:
                        a = old.outcome(role, purpose, cat, _with_purpose(old, purpose, f), rt)
                        b = new.outcome(role, purpose, cat, _with_purpose(new, purpose, f), rt)
                        if a.effect != b.effect or (obligations and a.obligations != b.obligations):
                            changes.append(ComboChange(role, purpose, cat, f, rt, a.effect, b.effect, a.rule_ids,
                                                       b.rule_ids, a.obligations, b.obligations))
    return changes


def _with_purpose(engine: PolicyEngine, purpose: str, f: Facts) -> Facts:
    p = engine.vocabulary.purposes.get(purpose)
    return f._replace(relationship=True) if p is not None and p.grants_relationship else f


def diff_items(old: PolicyEngine, new: PolicyEngine, requesters: Iterable[Requester],
               items: Iterable[tuple[PatientContext, Item]]) -> list[ItemChange]:
    """Store-backed diff: decide every item for every requester under both versions; report the
    ones whose effect, redacted fields or notice differ."""
    items = list(items)
    changes = []
    for requester in requesters:
        for patient, item in items:
            a, b = old.decide(requester, patient, item), new.decide(requester, patient, item)
            if (a.effect, a.redact, a.notice) != (b.effect, b.redact, b.notice):
                ref = f"{item.resource.get('resourceType', '?')}/{item.resource.get('id', '?')}"
                changes.append(ItemChange(requester, patient.patient_id, ref, a, b))
    return changes
