"""Validation on ingest names what is wrong, and an unknown type is a reason, not a crash."""
from __future__ import annotations

from gateway.ingest.validate import problem


def test_unknown_or_non_resource_type_is_a_reason_not_an_exception() -> None:
    assert problem({"resourceType": "Nope", "id": "x"}) == "resourceType: unknown R4 resource type 'Nope'"
    assert problem({"resourceType": "HumanName", "family": "x"}) == (
        "resourceType: unknown R4 resource type 'HumanName'")
    assert problem({"id": "x"}) == "resourceType: unknown R4 resource type None"


def test_invalid_field_is_named() -> None:
    reason = problem({"resourceType": "Patient", "id": "x", "birthDate": "not a date"})
    assert reason is not None and reason.startswith("Patient.birthDate")
    assert problem({"resourceType": "Patient", "id": "x", "birthDate": "1970-01-01"}) is None
