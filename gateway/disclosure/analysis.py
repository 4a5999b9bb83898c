"""The IG analysis API over the stored corpus, through the disclosure service itself.

``simulate_everything``: the `$everything` Bundle a requester would get of a real record under a
policy (the live one or a candidate) — exactly what would be served, since it is the same service.
``corpus_diff``: what a candidate policy would release differently across the stored records,
labels included (a category edit shows here before it goes live), described in words.
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from adapters.base import NHS_NUMBER_SYSTEM
from gateway.disclosure.bundle import searchset
from gateway.disclosure.enforce import ContextCache, Entry
from gateway.disclosure.service import Disclosure, DisclosureService, Refused
from gateway.fhir_json import materialised
from gateway.policy.engine import PolicyEngine
from gateway.policy.model import PatientContext
from gateway.requester import Requester
from gateway.store import StoredResource


class UnknownPatient(LookupError):
    pass


def _patient(service: DisclosureService, nhs_number: str) -> StoredResource:
    found = service.store.find_by_identifier("Patient", NHS_NUMBER_SYSTEM, nhs_number)
    if len(found) != 1:
        raise UnknownPatient(f"{len(found)} patients carry NHS number {nhs_number}")
    return found[0]


def simulate_everything(service: DisclosureService, requester: Requester, nhs_number: str, *,
                        engine: PolicyEngine | None = None,
                        base_url: str = "simulation") -> tuple[dict[str, Any], Disclosure]:
    """The `$everything` Bundle ``requester`` would get for this patient (not served); the Disclosure
    holds the decisions, for the audit record of whoever looks at the simulation."""
    patient = _patient(service, nhs_number)
    try:
        d = service.open(requester, patient_id=patient.id, engine=engine)
    except Refused as refused:
        outcome = {"resourceType": "OperationOutcome",
                   "issue": [{"severity": "error", "code": "forbidden",
                              "diagnostics": refused.disclosure.request.reason}]}
        return outcome, refused.disclosure
    compartment = service.store.compartment(patient.id)
    released = d.decide(compartment, compartment)
    bundle, _ = searchset(base_url, f"Patient/{patient.id}/$everything", [], released, offset=0, count=None,
                          outcome=d.notice_outcome())
    return materialised(bundle), d


@dataclass
class CorpusDiff:
    old_version: str
    new_version: str
    items_checked: int = 0
    decisions_compared: int = 0
    # (role, purpose, in the care team, old treatment, new treatment) -> items
    counts: Counter[tuple[str, str, bool, str, str]] = field(default_factory=Counter)
    examples: list[dict[str, Any]] = field(default_factory=list)


def requesters_for(engine: PolicyEngine, context: PatientContext) -> Iterator[tuple[Requester, bool]]:
    """Every role × purpose it may state, from inside the care team and from outside it."""
    inside = next((m.org for m in context.care_team if m.org), None)
    for purpose_name, purpose in engine.vocabulary.purposes.items():
        for role in sorted(purpose.roles):
            for related, org in ((True, inside), (False, "ZZ999")):
                if org is None:
                    continue
                yield Requester(user=f"diff-{role}", name=f"diff {role}", role=role, org=org, purpose=purpose_name,
                                justification="policy diff" if purpose.justification_required else None,
                                patient=context.nhs_number), related


def _treatment(entry: Entry | None) -> str:
    """An item's effect, with the element groups removed from it (a redaction is not a release)."""
    if entry is None:
        return "hide"
    parts = [str(entry["effect"])]
    removed = [*entry.get("redacted_categories", ()), *(["(hidden elements)"] if entry.get("removed") else [])]
    if removed:
        parts.append("without " + ", ".join(removed))
    return " ".join(parts)


def _describe(stored: StoredResource) -> str:
    """"Flag “Key safe code”": the item's type and the first words that name it."""
    content = stored.content
    for key in ("code", "type"):
        value = content.get(key)
        for concept in value if isinstance(value, list) else [value]:
            if not isinstance(concept, dict):
                continue
            label = concept.get("text") or next((c.get("display") for c in concept.get("coding") or []
                                                 if isinstance(c, dict) and c.get("display")), None)
            if label:
                return f"{stored.resource_type} “{label}”"
    return stored.ref


def _decide(service: DisclosureService, engine: PolicyEngine, requester: Requester, patient_id: str,
            compartment: list[StoredResource]) -> dict[str, Entry] | None:
    try:
        d = service.open(requester, patient_id=patient_id, engine=engine)
    except Refused:
        return None
    d.decide(compartment, compartment)
    return {ref: entry for (ref, _), entry in d.decisions.entries.items()}


def corpus_diff(service: DisclosureService, old: PolicyEngine, new: PolicyEngine, *, max_patients: int | None = None,
                max_examples: int = 200) -> CorpusDiff:
    result = CorpusDiff(old.version, new.version)
    store = service.store
    for patient in store.search("Patient")[: max_patients or None]:
        compartment = store.compartment(patient.id)
        result.items_checked += len(compartment)
        team = ContextCache(store).get(patient.id, compartment)  # who is "inside" the care team
        for requester, related in requesters_for(old, team):
            before = _decide(service, old, requester, patient.id, compartment)
            after = _decide(service, new, requester, patient.id, compartment)
            result.decisions_compared += len(compartment)
            for stored in compartment:
                was = _treatment(before.get(stored.ref)) if before is not None else "refused"
                now = _treatment(after.get(stored.ref)) if after is not None else "refused"
                if was == now:
                    continue
                result.counts[(requester.role, requester.purpose, related, was, now)] += 1
                if len(result.examples) < max_examples:
                    entry = (after or {}).get(stored.ref) or (before or {}).get(stored.ref) or {}
                    result.examples.append({
                        "role": requester.role, "purpose": requester.purpose, "relationship": related,
                        "patient": patient.id, "item": stored.ref, "old": was, "new": now,
                        "new_rules": list(entry.get("rule_ids", ())),
                        "words": f"{requester.role.replace('_', ' ')} ({requester.purpose.replace('_', ' ')}, "
                                 f"{'in' if related else 'outside'} the care team) · "
                                 f"{'/'.join(entry.get('categories', ())) or 'uncategorised'} on {_describe(stored)} · "
                                 f"{was} → {now}"})
    return result
