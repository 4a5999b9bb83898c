"""<CapacityAssessment> -> Observation (code LOCAL_ITEM|MCA): an Observation because an MCA
assessment is a decision-specific finding with an outcome, date and assessor; the decision,
reasoning and best-interests decision are separate extensions so each can be withheld."""
from __future__ import annotations

from adapters.base import MappedRecord
from adapters.fhir_helpers import capacity_assessment, person_ref
from adapters.social_care.model import Export, Item

_OUTCOMES = {"lacks-capacity": "LACKS", "has-capacity": "HAS"}


def assessment(export: Export, item: Item) -> list[MappedRecord]:
    outcome = item.attr("outcome")
    assessor = item.child("Assessor")
    performer = None
    if assessor is not None:
        role = assessor.get("role")
        name = assessor.get("name")
        performer = person_ref(None, None, f"{name} ({role})" if name and role else name or role)
    resource = capacity_assessment(
        export.id("Observation", item.id), export.patient_id,
        outcome=_OUTCOMES.get(outcome, outcome) if outcome else None,
        decision=item.text("Decision"), reasoning=item.text("Reasoning"),
        best_interests=item.text("BestInterestsDecision"), assessor=performer,
        effective=item.date("date"), status="entered-in-error" if item.retracted else "final")
    if extra := item.unmapped({"Decision", "Assessor", "Reasoning", "BestInterestsDecision"}):
        resource.setdefault("extension", []).append(extra)
    return [export.item_record(item, resource)]
