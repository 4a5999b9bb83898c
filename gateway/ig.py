"""IG tooling over the stored corpus: what a requester would see of a real record (`simulate`), and
what a policy change would release differently across the stored records (`corpus_diff`).

The policy package's own tools work on vocabularies and single items; these feed them real records
through the same enforcement point the API uses, so a simulation is exactly what would be served.
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from adapters.base import NHS_NUMBER_SYSTEM
from gateway.api.bundles import searchset
from gateway.fhir_json import materialised
from gateway.api.enforcement import ContextCache, Filtered, enforce
from gateway.policy import PolicyEngine
from gateway.policy.diff import diff_items
from gateway.policy.model import Item, PatientContext
from gateway.requester import Requester
from gateway.store import ResourceStore, StoredResource


class UnknownPatient(LookupError):
    pass


def _patient(store: ResourceStore, nhs_number: str) -> StoredResource:
    found = store.find_by_identifier("Patient", NHS_NUMBER_SYSTEM, nhs_number)
    if len(found) != 1:
        raise UnknownPatient(f"{len(found)} patients carry NHS number {nhs_number}")
    return found[0]


def simulate_everything(engine: PolicyEngine, store: ResourceStore, requester: Requester, nhs_number: str,
                        base_url: str = "simulation") -> tuple[dict[str, Any], Filtered]:
    """The `$everything` Bundle ``requester`` would get for this patient under ``engine`` (not served)."""
    patient = _patient(store, nhs_number)
    request = engine.check_request(requester)
    if not request.allowed:
        outcome = {"resourceType": "OperationOutcome",
                   "issue": [{"severity": "error", "code": "forbidden", "diagnostics": request.reason}]}
        return outcome, Filtered()
    compartment = store.compartment(patient.id)
    filtered = enforce(engine, requester, ContextCache(store), compartment, compartment)
    bundle = searchset(base_url, f"Patient/{patient.id}/$everything", [], filtered, offset=0, count=None)
    return materialised(bundle), filtered


@dataclass
class CorpusDiff:
    old_version: str
    new_version: str
    items_checked: int = 0
    decisions_compared: int = 0
    counts: Counter[tuple[str, str, bool, str, str]] = field(default_factory=Counter)  # role, purpose, related, old, new
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


def corpus_diff(old: PolicyEngine, new: PolicyEngine, store: ResourceStore, *, max_patients: int | None = None,
                max_examples: int = 200) -> CorpusDiff:
    result = CorpusDiff(old.version, new.version)
    patients = store.search("Patient")[: max_patients or None]
    contexts = ContextCache(store)
    for patient in patients:
        compartment = store.compartment(patient.id)
        context = contexts.get(patient.id, compartment)
        items = [(context, Item(s.content, s.categories, s.holder_org, s.holder_team)) for s in compartment]
        result.items_checked += len(items)
        for requester, related in requesters_for(old, context):
            result.decisions_compared += len(items)
            for change in diff_items(old, new, [requester], items):
                key = (requester.role, requester.purpose, related, change.old.effect, change.new.effect)
                result.counts[key] += 1
                if len(result.examples) < max_examples:
                    result.examples.append({
                        "role": requester.role, "purpose": requester.purpose, "relationship": related,
                        "patient": patient.id, "item": change.resource, "old": change.old.effect,
                        "new": change.new.effect, "new_rules": list(change.new.rule_ids)})
    return result
