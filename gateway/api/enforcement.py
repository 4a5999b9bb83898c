"""The policy enforcement point: stored items in, what the caller may see (and the audit items) out.

Routes never decide anything themselves: they fetch candidates and hand them here.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from gateway.policy import PatientContext, apply_redaction, patient_context
from gateway.policy.model import ItemDecision, Notice
from gateway.requester import Requester
from gateway.store import ResourceStore, StoredResource

CONTEXT_TYPES = ("Patient", "Consent", "CareTeam", "RelatedPerson")


@dataclass
class Released:
    stored: StoredResource
    decision: ItemDecision
    edited: dict[str, Any] | None = None  # a redacted (or _elements-subsetted) copy; None: as stored

    @property
    def resource(self) -> dict[str, Any]:
        return self.stored.content if self.edited is None else self.edited

    def body(self) -> dict[str, Any] | orjson.Fragment:
        """What goes into a response: an unedited resource is its stored JSON text, never re-serialised."""
        return orjson.Fragment(self.stored.raw) if self.edited is None else self.edited


@dataclass
class Filtered:
    released: list[Released] = field(default_factory=list)
    notices: list[Notice] = field(default_factory=list)
    audit_items: dict[str, list[dict[str, Any]]] = field(
        default_factory=lambda: {"released": [], "redacted": [], "noticed": [], "hidden": []})
    obligations: set[str] = field(default_factory=set)
    patient_ids: set[str] = field(default_factory=set)
    patient_nhs: dict[str, str | None] = field(default_factory=dict)
    relationship: dict[str, bool] = field(default_factory=dict)

    @property
    def categories(self) -> list[str]:
        seen: dict[str, None] = {}
        for bucket in self.audit_items.values():
            for item in bucket:
                for category in item.get("categories", ()):
                    seen[category] = None
        return list(seen)


class ContextCache:
    """Patient contexts for one request (consents, opt-out, care team), built once per patient."""

    def __init__(self, store: ResourceStore) -> None:
        self.store = store
        self._cache: dict[str, PatientContext] = {}

    def get(self, patient_id: str, compartment: Sequence[StoredResource] | None = None) -> PatientContext:
        if patient_id not in self._cache:
            items = compartment if compartment is not None else self.store.compartment(patient_id, types=CONTEXT_TYPES)
            patient = next((s.content for s in items if s.resource_type == "Patient" and s.id == patient_id),
                           {"resourceType": "Patient", "id": patient_id})
            others = [s.content for s in items if s.resource_type in CONTEXT_TYPES[1:]]
            self._cache[patient_id] = patient_context(patient, others)
        return self._cache[patient_id]


def _holders_in_team(context: PatientContext, requester: Requester) -> bool:
    return any(m.org == requester.org or (requester.team and m.team == requester.team) for m in context.care_team)


# The context of an item that is not about a person (an Organization, a Practitioner): one instance,
# so that such items share decisions within a request.
_NO_PATIENT = PatientContext(patient_id="")


def enforce(engine: Any, requester: Requester, contexts: ContextCache, candidates: Iterable[StoredResource],
            compartment: Sequence[StoredResource] | None = None) -> Filtered:
    out = Filtered()
    audit = out.audit_items
    released, redacted, noticed, hidden = audit["released"], audit["redacted"], audit["noticed"], audit["hidden"]
    # Per-request memo: with the requester fixed, a decision depends only on the patient context and
    # the item's decision key (PolicyEngine.decision_key), and a ≈200-item record has a few dozen
    # distinct keys. Engines without decision_key (e.g. the release-all baseline) decide every item.
    decision_key = getattr(engine, "decision_key", None)
    memo: dict[tuple[Any, ...], tuple[ItemDecision, list[str], dict[str, Any]]] = {}
    for stored in candidates:
        patient_id = stored.patient_id or (stored.id if stored.resource_type == "Patient" else None)
        if patient_id is None:
            # Not about a person: directory data, labelled like any other.
            context = _NO_PATIENT
        else:
            context = contexts.get(patient_id, compartment)
            if patient_id not in out.relationship:
                out.patient_ids.add(patient_id)
                out.patient_nhs[patient_id] = context.nhs_number
                out.relationship[patient_id] = _holders_in_team(context, requester)
        key = (id(context), decision_key(stored)) if decision_key is not None else None
        found = memo.get(key) if key is not None else None
        if found is None:
            decision = engine.decide(requester, context, stored)
            extra = ({"fields": list(decision.redact), "redacted_categories": list(decision.redacted_categories)}
                     if decision.effect == "redact" else {})
            found = (decision, list(decision.rule_ids), extra)
            if key is not None:
                memo[key] = found
        decision, rule_ids, extra = found
        out.obligations.update(decision.obligations)
        # The rule-id lists are shared between entries of one key: the audit log serialises them, nobody mutates.
        entry = {"ref": f"{stored.resource_type}/{stored.id}", "rule_ids": rule_ids,
                 "categories": list(stored.categories)}
        effect = decision.effect
        if effect == "release":
            out.released.append(Released(stored, decision))
            released.append(entry)
        elif effect == "redact":
            out.released.append(Released(stored, decision, apply_redaction(stored.content, decision)))
            redacted.append(entry | extra)
        elif effect == "notice":
            if decision.notice is not None:
                out.notices.append(decision.notice)
            noticed.append(entry)
        else:
            hidden.append(entry)
    return out
