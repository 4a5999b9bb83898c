"""Field redaction on plain dicts (the read path never builds pydantic models).

Returns a copy without the selected fields, labelled REDACTED in meta.security and tagged with
the withheld categories; a required element that goes is replaced by a data-absent-reason
`masked` so the result is still valid R4.
"""
from __future__ import annotations

from typing import Any

import orjson

from adapters.conventions import DATA_CATEGORY
from gateway.policy.model import ItemDecision
from gateway.policy.selectors import Selector, compile_selector

REDACTED = {"system": "http://terminology.hl7.org/CodeSystem/v3-ObservationValue", "code": "REDACTED",
            "display": "redacted"}
DATA_ABSENT = {"url": "http://hl7.org/fhir/StructureDefinition/data-absent-reason", "valueCode": "masked"}

# Top-level elements with cardinality 1..x in R4 (structural FHIR knowledge, not policy):
# name -> "primitive" | "complex" | "list".
REQUIRED: dict[str, dict[str, str]] = {
    "Flag": {"status": "primitive", "code": "complex", "subject": "complex"},
    "Observation": {"status": "primitive", "code": "complex"},
    "ClinicalImpression": {"status": "primitive", "subject": "complex"},
    "Condition": {"subject": "complex"},
    "DocumentReference": {"status": "primitive", "content": "list"},
    "CarePlan": {"status": "primitive", "intent": "primitive", "subject": "complex"},
    "ServiceRequest": {"status": "primitive", "intent": "primitive", "subject": "complex"},
    "Consent": {"status": "primitive", "scope": "complex", "category": "list"},
    "AllergyIntolerance": {"patient": "complex"},
    "MedicationStatement": {"status": "primitive", "subject": "complex"},
    "Encounter": {"status": "primitive", "class": "complex"},
    "Appointment": {"status": "primitive", "participant": "list"},
    "CareTeam": {},
    "RelatedPerson": {"patient": "complex"},
    "Communication": {"status": "primitive"},
}

_compiled: dict[str, Selector] = {}


def _selector(text: str) -> Selector:
    s = _compiled.get(text)
    if s is None:
        s = _compiled[text] = compile_selector(text)
    return s


def apply_redaction(resource: dict[str, Any], decision: ItemDecision) -> dict[str, Any]:
    out: dict[str, Any] = orjson.loads(orjson.dumps(resource))
    for text in decision.removed:  # hidden element groups: gone without a label (hidden means hidden)
        _remove(out, _selector(text))
    if decision.effect != "redact" or not decision.redact:
        return out
    for text in decision.redact:
        _remove(out, _selector(text))
    meta = out.setdefault("meta", {})
    security = meta.setdefault("security", [])
    if not any(s.get("code") == "REDACTED" and s.get("system") == REDACTED["system"] for s in security):
        security.append(dict(REDACTED))
    tags = meta.setdefault("tag", [])
    for cat in decision.redacted_categories:
        if not any(t.get("system") == DATA_CATEGORY and t.get("code") == cat for t in tags):
            tags.append({"system": DATA_CATEGORY, "code": cat})
    if not tags:
        del meta["tag"]
    return out


def _remove(out: dict[str, Any], sel: Selector) -> None:
    """Remove what ``sel`` selects; a required element that goes becomes data-absent-reason `masked`."""
    if not sel.remove(out):
        return
    required = REQUIRED.get(str(out.get("resourceType")), {})
    top = sel.steps[0].name
    if len(sel.steps) == 1 and top in required and top not in out:
        kind = required[top]
        if kind == "primitive":
            out["_" + top] = {"extension": [dict(DATA_ABSENT)]}
        elif kind == "list":
            out[top] = [{"extension": [dict(DATA_ABSENT)]}]
        else:
            out[top] = {"extension": [dict(DATA_ABSENT)]}
