"""Decide each candidate under one policy: what the caller may see of it, and what the audit says.

:func:`enforce` is the item and field stage of the disclosure service (gateway/disclosure/service.py);
it is not called by routes. Candidates arrive already labelled under the pinned policy
(gateway/disclosure/labels.py).
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import orjson

from gateway.policy import PatientContext, apply_redaction, patient_context
from gateway.policy.engine import PolicyEngine
from gateway.policy.facts import has_relationship
from gateway.policy.model import ItemDecision, Notice
from gateway.requester import Requester
from gateway.store import ResourceStore, StoredResource

CONTEXT_TYPES = ("Patient", "Consent", "CareTeam", "RelatedPerson")
Entry = dict[str, Any]


@dataclass
class Released:
    stored: StoredResource
    decision: ItemDecision
    edited: dict[str, Any] | None = None  # a redacted (or _elements-subsetted) copy; None: as stored

    @property
    def resource(self) -> dict[str, Any]:
        return self.stored.content if self.edited is None else self.edited

    @property
    def ref(self) -> str:
        return self.stored.ref

    def body(self) -> dict[str, Any] | orjson.Fragment:
        """What goes into a response: an unedited resource is its stored JSON text, never re-serialised."""
        return orjson.Fragment(self.stored.raw) if self.edited is None else self.edited


@dataclass
class Decisions:
    """Everything decided for one request so far: released items, notices, and the audit entries."""

    released: list[Released] = field(default_factory=list)
    notices: list[Notice] = field(default_factory=list)
    entries: dict[tuple[str, int], Entry] = field(default_factory=dict)  # ("Type/id", version) -> audit entry
    obligations: set[str] = field(default_factory=set)
    patient_nhs: dict[str, str | None] = field(default_factory=dict)
    relationship: dict[str, bool] = field(default_factory=dict)

    def withheld(self) -> dict[str, str]:
        """"Type/id" -> effect of every item decided `notice` or `hide`."""
        return {ref: e["effect"] for (ref, _), e in self.entries.items() if e["effect"] in ("notice", "hide")}


class ContextCache:
    """Patient contexts for one request (consents, opt-out, care team), built once per patient."""

    def __init__(self, store: ResourceStore, today: date | None = None) -> None:
        self.store = store
        self.today = today  # one request, one "today" (a care-team end date is judged once)
        self._cache: dict[str, PatientContext] = {}

    def get(self, patient_id: str, compartment: Sequence[StoredResource] | None = None) -> PatientContext:
        if patient_id not in self._cache:
            items = compartment if compartment is not None else self.store.compartment(patient_id, types=CONTEXT_TYPES)
            patient = next((s.content for s in items if s.resource_type == "Patient" and s.id == patient_id),
                           {"resourceType": "Patient", "id": patient_id})
            others = [s.content for s in items if s.resource_type in CONTEXT_TYPES[1:]]
            self._cache[patient_id] = patient_context(patient, others, today=self.today)
        return self._cache[patient_id]


# A Provenance exists because of its targets: it is not decided as an item of its own but follows
# them (gateway/disclosure/derived.py cuts it loose from, or drops it with, withheld targets).
FOLLOWS_TARGETS = frozenset({"Provenance"})
_FOLLOW = ItemDecision("release", ("derived:follows-targets",))

# The context of an item that is not about a person (an Organization, a Practitioner): one instance,
# so that such items share decisions within a request.
_NO_PATIENT = PatientContext(patient_id="")


def enforce(engine: PolicyEngine, requester: Requester, contexts: ContextCache, candidates: Iterable[StoredResource],
            into: Decisions, compartment: Sequence[StoredResource] | None = None) -> list[Released]:
    """Decide ``candidates`` (adding their entries and notices to ``into``); returns the released ones."""
    out: list[Released] = []
    # Per-request memo: with the requester fixed, a decision depends only on the patient context and
    # the item's decision key (PolicyEngine.decision_key), and a ≈200-item record has a few dozen
    # distinct keys. Engines without decision_key (e.g. the release-all baseline) decide every item.
    decision_key = getattr(engine, "decision_key", None)
    memo: dict[tuple[Any, ...], ItemDecision] = {}
    for stored in candidates:
        patient_id = stored.patient_id or (stored.id if stored.resource_type == "Patient" else None)
        if patient_id is None:
            context = _NO_PATIENT  # directory data, labelled like any other
        else:
            context = contexts.get(patient_id, compartment)
            if patient_id not in into.relationship:
                into.patient_nhs[patient_id] = context.nhs_number
                into.relationship[patient_id] = has_relationship(requester, context)
        decision: ItemDecision | None
        if stored.resource_type in FOLLOWS_TARGETS:
            key, decision = None, _FOLLOW
        else:
            key = (id(context), decision_key(stored)) if decision_key is not None else None
            decision = memo.get(key) if key is not None else None
        if decision is None:
            decision = engine.decide(requester, context, stored)
            if key is not None:
                memo[key] = decision
        into.obligations.update(decision.obligations)
        if decision.effect in ("release", "redact"):
            edited = apply_redaction(stored.content, decision) if decision.redact or decision.removed else None
            out.append(Released(stored, decision, edited))
            into.notices.extend(decision.redactions)
        elif decision.effect == "notice" and decision.notice is not None:
            into.notices.append(decision.notice)
        into.entries[(stored.ref, stored.version_id)] = _entry(stored, decision)
    return out


def _entry(stored: StoredResource, decision: ItemDecision) -> Entry:
    """The audit entry of one decided item (the rule-id tuples are shared between items: read-only)."""
    entry: Entry = {"ref": stored.ref, "version": stored.version_id, "effect": decision.effect,
                    "rule_ids": decision.rule_ids, "categories": stored.categories}
    if decision.redact:
        entry["fields"] = decision.redact
        entry["redacted_categories"] = decision.redacted_categories
    if decision.removed:
        entry["removed"] = decision.removed
    return entry
