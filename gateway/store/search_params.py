"""The search parameters the store indexes, as data.

One table drives three things: the index rows written at upsert, the API's search parsing and the
CapabilityStatement, so what ``metadata`` advertises is exactly what the server does.
Paths are dotted element paths on the R4 JSON (lists are walked transparently).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from gateway.fhir_json import values_at

ParamType = Literal["token", "date", "reference"]


@dataclass(frozen=True)
class SearchParam:
    name: str
    type: ParamType
    paths: tuple[str, ...]
    documentation: str = ""


def _token(name: str, *paths: str) -> SearchParam:
    return SearchParam(name, "token", paths)


def _date(*paths: str) -> SearchParam:
    return SearchParam("date", "date", paths)


# Parameters every type supports; patient/subject are handled by the patient_id column.
COMMON: tuple[SearchParam, ...] = (
    SearchParam("_id", "token", ("id",)),
    SearchParam("_lastUpdated", "date", ("meta.lastUpdated",)),
    _token("identifier", "identifier"),
)
PATIENT_REFERENCE = ("patient", "subject")

BY_TYPE: dict[str, tuple[SearchParam, ...]] = {
    "Patient": (_token("gender", "gender"), SearchParam("birthdate", "date", ("birthDate",))),
    "Practitioner": (),
    "PractitionerRole": (),
    "Organization": (),
    "CareTeam": (_token("status", "status"), _token("category", "category"), _date("period.start")),
    "Encounter": (_token("status", "status"), _token("class", "class"), _token("type", "type"),
                  _date("period.start")),
    "EpisodeOfCare": (_token("status", "status"), _token("type", "type"), _date("period.start")),
    "Condition": (_token("code", "code"), _token("category", "category"),
                  _token("clinical-status", "clinicalStatus"),
                  _token("status", "clinicalStatus", "verificationStatus"),
                  _date("onsetDateTime", "recordedDate")),
    "Observation": (_token("code", "code"), _token("category", "category"), _token("status", "status"),
                    _date("effectiveDateTime", "effectivePeriod.start", "issued")),
    "AllergyIntolerance": (_token("code", "code"), _token("category", "category"),
                           _token("clinical-status", "clinicalStatus"),
                           _token("status", "clinicalStatus", "verificationStatus"),
                           _date("recordedDate", "onsetDateTime")),
    "MedicationStatement": (_token("code", "medicationCodeableConcept"), _token("status", "status"),
                            _token("category", "category"), _date("effectivePeriod.start", "effectiveDateTime", "dateAsserted")),
    "MedicationRequest": (_token("code", "medicationCodeableConcept"), _token("status", "status"),
                          _token("category", "category"), _date("authoredOn")),
    "Medication": (_token("code", "code"),),
    "Immunization": (_token("code", "vaccineCode"), _token("status", "status"), _date("occurrenceDateTime")),
    "Flag": (_token("code", "code"), _token("category", "category"), _token("status", "status"),
             _date("period.start")),
    "CarePlan": (_token("category", "category"), _token("status", "status"), _date("period.start")),
    "Consent": (_token("category", "category"), _token("status", "status"), _date("dateTime")),
    "DocumentReference": (_token("type", "type"), _token("category", "category"), _token("status", "status"),
                          _date("date")),
    "RelatedPerson": (_token("relationship", "relationship"),),
    "Provenance": (_date("recorded"),),
    "ServiceRequest": (_token("code", "code"), _token("category", "category"), _token("status", "status"),
                       _date("authoredOn")),
    "List": (_token("code", "code"), _token("status", "status"), _date("date")),
    "DiagnosticReport": (_token("code", "code"), _token("category", "category"), _token("status", "status"),
                         _date("effectiveDateTime", "issued")),
    "Specimen": (_token("type", "type"),),
}
SEARCHABLE_TYPES: tuple[str, ...] = tuple(BY_TYPE)
# References _include / _revinclude may follow: (source type, search param, element path, target type)
INCLUDES: tuple[tuple[str, str, str, str], ...] = (
    ("Condition", "subject", "subject", "Patient"),
    ("Observation", "subject", "subject", "Patient"),
    ("Observation", "performer", "performer", "Practitioner"),
    ("AllergyIntolerance", "patient", "patient", "Patient"),
    ("MedicationStatement", "subject", "subject", "Patient"),
    ("MedicationStatement", "medication", "medicationReference", "Medication"),
    ("Encounter", "subject", "subject", "Patient"),
    ("Flag", "subject", "subject", "Patient"),
    ("CarePlan", "subject", "subject", "Patient"),
    ("CareTeam", "subject", "subject", "Patient"),
    ("CareTeam", "participant", "participant.member", "Practitioner"),
    ("Consent", "patient", "patient", "Patient"),
    ("DocumentReference", "subject", "subject", "Patient"),
    ("RelatedPerson", "patient", "patient", "Patient"),
    ("Provenance", "target", "target", "*"),
    ("Patient", "general-practitioner", "generalPractitioner", "*"),
    ("PractitionerRole", "practitioner", "practitioner", "Practitioner"),
    ("PractitionerRole", "organization", "organization", "Organization"),
)


def params_for(resource_type: str) -> dict[str, SearchParam]:
    params = {p.name: p for p in COMMON}
    params.update({p.name: p for p in BY_TYPE.get(resource_type, ())})
    return params


def walk(value: object, path: str) -> list[object]:
    """All values at a dotted path, descending through lists."""
    return values_at(value, path.split("."))


def tokens(value: object) -> list[tuple[str | None, str]]:
    """(system, code) pairs of a code / Coding / CodeableConcept / Identifier value."""
    if isinstance(value, str):
        return [(None, value)]
    if not isinstance(value, dict):
        return []
    if "coding" in value:
        return [(c.get("system"), c["code"]) for c in value["coding"] if isinstance(c, dict) and c.get("code")]
    if "code" in value:
        return [(value.get("system"), value["code"])]
    if "value" in value and isinstance(value["value"], str):  # Identifier
        return [(value.get("system"), value["value"])]
    return []
