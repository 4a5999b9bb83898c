"""Which mapper handles which STU3 resource type.

A mapper takes a private copy of one STU3 resource and returns it edited into R4 shape. Types
without an entry here are copied through the generic steps only; a type R4 does not have at all
is rejected (nothing is silently dropped, and nothing invalid is passed on).
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from adapters.gp_connect import (
    administrative,
    clinical,
    documents,
    encounter,
    immunization,
    lists,
    medication,
    observation,
    requests,
)

Mapper = Callable[[dict[str, Any]], dict[str, Any]]

MAPPERS: dict[str, Mapper] = {
    "Patient": administrative.map_unchanged,
    "Organization": administrative.map_unchanged,
    "Practitioner": administrative.map_unchanged,
    "PractitionerRole": administrative.map_unchanged,
    "List": lists.map_list,
    "Condition": clinical.map_condition,
    "AllergyIntolerance": clinical.map_allergy,
    "MedicationStatement": medication.map_medication_statement,
    "MedicationRequest": medication.map_medication_request,
    "Medication": medication.map_medication,
    "Immunization": immunization.map_immunization,
    "Observation": observation.map_observation,
    "DiagnosticReport": observation.map_diagnostic_report,
    "Specimen": observation.map_specimen,
    "Encounter": encounter.map_encounter,
    "ReferralRequest": requests.map_referral_request,
    "ProcedureRequest": requests.map_procedure_request,
    "DocumentReference": documents.map_document_reference,
}


def mapper_for(stu3_type: str) -> Mapper:
    return MAPPERS.get(stu3_type, administrative.map_unchanged)
