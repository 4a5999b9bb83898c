"""The search parameters the store indexes, as data.

One table drives three things: the index rows written at upsert, the API's search parsing and the
CapabilityStatement, so what ``metadata`` advertises is exactly what the server does.
Paths are dotted element paths on the R4 JSON (lists are walked transparently).

A parameter R4 defines for the type (``r4_search_parameters.json``: code → SearchParameter id and
type, taken from the official R4 search-parameter bundle) is declared with that ``definition``; a
parameter the gateway adds of its own carries ``documentation`` saying what it searches.
"""
from __future__ import annotations

import json
import unicodedata
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Literal

from gateway.fhir_json import values_at

ParamType = Literal["token", "date", "reference", "string"]
DateColumn = Literal["clinical_date", "last_updated", "index"]  # "index": the parameter's own index rows
_DATE_COLUMNS: dict[str, DateColumn] = {"date": "clinical_date", "_lastUpdated": "last_updated"}
R4_BASE = "http://hl7.org/fhir/SearchParameter/"


@dataclass(frozen=True)
class SearchParam:
    name: str
    type: ParamType
    paths: tuple[str, ...]
    documentation: str = ""
    where: tuple[str, str] | None = None  # only values whose element ``where[0]`` equals ``where[1]``

    @property
    def column(self) -> DateColumn:
        """Where a date parameter's values live: the resource row's own columns or index rows."""
        return _DATE_COLUMNS.get(self.name, "index")


def _token(name: str, *paths: str, doc: str = "", where: tuple[str, str] | None = None) -> SearchParam:
    return SearchParam(name, "token", paths, doc, where)


def _date(*paths: str, doc: str = "") -> SearchParam:
    return SearchParam("date", "date", paths, doc)


def _on(name: str, *paths: str, doc: str = "") -> SearchParam:
    """A date parameter indexed with its own rows (not the resource's single clinical date)."""
    return SearchParam(name, "date", paths, doc)


def _string(name: str, *paths: str) -> SearchParam:
    return SearchParam(name, "string", paths)


def _reference(name: str, *paths: str) -> SearchParam:
    return SearchParam(name, "reference", paths)


_NAME = ("name.family", "name.given", "name.text", "name.prefix", "name.suffix")
_LOCAL_STATUS = "gateway: clinicalStatus or verificationStatus (R4 splits these into clinical-status and " \
                "verification-status)"

# Parameters every type supports; patient/subject are handled by the patient_id column.
COMMON: tuple[SearchParam, ...] = (
    SearchParam("_id", "token", ("id",)),
    SearchParam("_lastUpdated", "date", ("meta.lastUpdated",)),
    _token("identifier", "identifier"),
)
PATIENT_REFERENCE = ("patient", "subject")
PATIENT_REFERENCE_DOC = "gateway: the resources in this Patient's compartment (the patient the record is about)"

BY_TYPE: dict[str, tuple[SearchParam, ...]] = {
    "Patient": (_token("gender", "gender"), _on("birthdate", "birthDate"), _string("name", *_NAME),
                _string("family", "name.family"), _string("given", "name.given"),
                _string("address-postalcode", "address.postalCode"),
                _token("phone", "telecom", where=("system", "phone")),
                _token("email", "telecom", where=("system", "email")),
                _reference("general-practitioner", "generalPractitioner")),
    "Practitioner": (_string("name", *_NAME), _string("family", "name.family"), _string("given", "name.given")),
    "PractitionerRole": (_reference("practitioner", "practitioner"), _reference("organization", "organization")),
    "Organization": (_string("name", "name", "alias"), _string("address-postalcode", "address.postalCode")),
    "CareTeam": (_token("status", "status"), _token("category", "category"), _date("period.start")),
    "Encounter": (_token("status", "status"), _token("class", "class"), _token("type", "type"),
                  _date("period.start")),
    "EpisodeOfCare": (_token("status", "status"), _token("type", "type"), _date("period.start")),
    "Condition": (_token("code", "code"), _token("category", "category"),
                  _token("clinical-status", "clinicalStatus"),
                  _token("verification-status", "verificationStatus"),
                  _token("status", "clinicalStatus", "verificationStatus", doc=_LOCAL_STATUS),
                  _date("onsetDateTime", "recordedDate",
                        doc="gateway: onsetDateTime, or recordedDate when there is no onset (R4: onset-date, "
                            "recorded-date)"),
                  _on("onset-date", "onsetDateTime", "onsetPeriod.start"), _on("recorded-date", "recordedDate")),
    "Observation": (_token("code", "code"), _token("category", "category"), _token("status", "status"),
                    _date("effectiveDateTime", "effectivePeriod.start", "issued")),
    "AllergyIntolerance": (_token("code", "code"), _token("category", "category"),
                           _token("clinical-status", "clinicalStatus"),
                           _token("verification-status", "verificationStatus"),
                           _token("status", "clinicalStatus", "verificationStatus", doc=_LOCAL_STATUS),
                           _date("recordedDate", "onsetDateTime"), _on("onset", "onsetDateTime", "onsetPeriod.start")),
    "MedicationStatement": (_token("code", "medicationCodeableConcept"), _token("status", "status"),
                            _token("category", "category"),
                            _date("effectivePeriod.start", "effectiveDateTime", "dateAsserted",
                                  doc="gateway: effective[x] (its start), or dateAsserted when there is none"),
                            _on("effective", "effectiveDateTime", "effectivePeriod.start")),
    "MedicationRequest": (_token("code", "medicationCodeableConcept"), _token("status", "status"),
                          _token("category", "category"), _date("authoredOn"), _on("authoredon", "authoredOn")),
    "Medication": (_token("code", "code"),),
    "Immunization": (_token("code", "vaccineCode", doc="gateway: the vaccineCode (R4: vaccine-code)"),
                     _token("vaccine-code", "vaccineCode"), _token("status", "status"), _date("occurrenceDateTime")),
    "Flag": (_token("code", "code", doc="gateway: Flag.code"),
             _token("category", "category", doc="gateway: Flag.category"),
             _token("status", "status", doc="gateway: Flag.status"), _date("period.start")),
    "CarePlan": (_token("category", "category"), _token("status", "status"), _date("period.start")),
    "Consent": (_token("category", "category"), _token("status", "status"), _date("dateTime")),
    "DocumentReference": (_token("type", "type"), _token("category", "category"), _token("status", "status"),
                          _date("date")),
    "RelatedPerson": (_token("relationship", "relationship"), _string("name", *_NAME)),
    "Provenance": (_date("recorded", doc="gateway: Provenance.recorded (R4: recorded)"), _on("recorded", "recorded")),
    "ServiceRequest": (_token("code", "code"), _token("category", "category"), _token("status", "status"),
                       _date("authoredOn", doc="gateway: ServiceRequest.authoredOn (R4: authored)"),
                       _on("authored", "authoredOn")),
    "List": (_token("code", "code"), _token("status", "status"), _date("date")),
    "DiagnosticReport": (_token("code", "code"), _token("category", "category"), _token("status", "status"),
                         _date("effectiveDateTime", "issued")),
    "Specimen": (_token("type", "type"),),
}
SEARCHABLE_TYPES: tuple[str, ...] = tuple(BY_TYPE)
# Types not about one person (directory data): searchable without a patient, by identifier or _id.
DIRECTORY_TYPES = frozenset({"Practitioner", "PractitionerRole", "Organization", "Medication"})
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
    ("Patient", "general-practitioner", "generalPractitioner", "Practitioner"),
    ("Patient", "general-practitioner", "generalPractitioner", "Organization"),
    ("PractitionerRole", "practitioner", "practitioner", "Practitioner"),
    ("PractitionerRole", "organization", "organization", "Organization"),
)


def includes_for(resource_type: str) -> dict[str, tuple[str, ...]]:
    """``_include`` values a search of this type may use: "Type:param" -> element paths."""
    out: dict[str, tuple[str, ...]] = {}
    for source, param, path, _ in INCLUDES:
        if source == resource_type:
            out[f"{source}:{param}"] = (*out.get(f"{source}:{param}", ()), path)
    return out


def revincludes_for(resource_type: str) -> dict[str, tuple[str, ...]]:
    """``_revinclude`` values a search of this type may use: only sources inside the matches' patient
    compartments (those of a Patient page, a Provenance of a clinical item), never a walk from a
    directory entry to everyone who names it."""
    out: dict[str, tuple[str, ...]] = {}
    for source, param, path, target in INCLUDES:
        if (target == resource_type == "Patient") or (target == "*" and resource_type not in DIRECTORY_TYPES):
            out[f"{source}:{param}"] = (*out.get(f"{source}:{param}", ()), path)
    return out


def params_for(resource_type: str) -> dict[str, SearchParam]:
    params = {p.name: p for p in COMMON}
    params.update({p.name: p for p in BY_TYPE.get(resource_type, ())})
    return params


@cache
def _r4() -> dict[str, dict[str, list[str]]]:
    table: dict[str, dict[str, list[str]]] = json.loads((Path(__file__).parent / "r4_search_parameters.json")
                                                        .read_text())
    return table


def r4_definition(resource_type: str, name: str, type_: str) -> str | None:
    """The canonical URL of the R4 SearchParameter ``name`` on ``resource_type``, when R4 defines one of
    that type (None: a parameter of the gateway's own)."""
    found = _r4().get(resource_type, {}).get(name)
    return R4_BASE + found[0] if found and found[1] == type_ else None


def walk(value: object, path: str) -> list[object]:
    """All values at a dotted path, descending through lists."""
    return values_at(value, path.split("."))


def values(resource: dict[str, object], param: SearchParam) -> list[object]:
    """The element values a parameter indexes in one resource."""
    out: list[object] = []
    for path in param.paths:
        for value in walk(resource, path):
            if param.where is None or (isinstance(value, dict) and value.get(param.where[0]) == param.where[1]):
                out.append(value)
    return out


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


def normalise(text: str) -> str:
    """A string parameter's comparison form: case and accents ignored (FHIR R4 search, string)."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold().strip()
