"""One CLD row -> Patient + the event: Request -> EpisodeOfCare, Assessment / Review -> Encounter,
Service -> CarePlan. Columns with no FHIR slot are kept as EXT_UNMAPPED ("Column: value")."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from adapters.base import Json, MappedRecord, stable_id
from adapters.cld.csv_input import CellError, Row, parse_date
from adapters.conventions import EXT_UNMAPPED, ITEM_CARE_PACKAGE
from adapters.fhir_helpers import (
    HOME_VISIT_CLASS,
    compact,
    concept,
    local_id_system,
    local_item,
    nhs_identifier,
    org_ref,
    period,
    ref,
)

SPEC_COLUMNS = (
    "LA_Code", "LA_Person_Unique_Identifier", "NHS_Number", "Date_of_Birth", "Gender", "Ethnicity",
    "GP_Practice_Code", "Event_Type", "Event_Reference", "Event_Start_Date", "Event_End_Date",
    "Event_Outcome", "Service_Type", "Service_Component", "Primary_Support_Reason",
    "Has_Unpaid_Carer", "Planned_Units_Per_Week",
)
# Spec columns without a natural FHIR element: carried as EXT_UNMAPPED on the event resource
_KEPT_AS_TEXT = ("Event_Outcome", "Primary_Support_Reason", "Has_Unpaid_Carer")
_GENDERS = {"male": "male", "m": "male", "female": "female", "f": "female", "other": "other",
            "unknown": "unknown", "not known": "unknown", "not specified": "unknown", "u": "unknown"}
ETHNIC_CATEGORY_EXT = "https://fhir.hl7.org.uk/StructureDefinition/Extension-UKCore-EthnicCategory"
EVENT_TYPES = ("Request", "Assessment", "Service", "Review")


@dataclass(frozen=True)
class CldRow:
    row: Row
    header: tuple[str, ...]


@dataclass(frozen=True)
class Event:
    """What the event builders need from one row."""

    row: Row
    source: str  # LA_Code
    key: str
    kind: str
    patient_id: str
    start: str | None
    end: str | None
    kept: list[Json]  # EXT_UNMAPPED extensions

    def id(self, resource_type: str) -> str:
        return stable_id(self.source, resource_type, self.key)

    @property
    def identifier(self) -> list[Json]:
        return [{"system": local_id_system(self.source, "cld-event"), "value": self.row.get("Event_Reference")}]


def _text_extensions(row: Row, columns: list[str]) -> list[Json]:
    return [{"url": EXT_UNMAPPED, "valueString": f"{c}: {row.get(c)}"} for c in columns if row.get(c)]


def map_row(body: CldRow, source: str) -> list[MappedRecord]:
    row = body.row
    person = row.get("LA_Person_Unique_Identifier")
    if not person:
        raise CellError("LA_Person_Unique_Identifier", "empty: the row names no person")
    kind = row.get("Event_Type").capitalize()
    if kind not in EVENT_TYPES:
        raise CellError("Event_Type", f"{row.get('Event_Type')!r} is not one of {'|'.join(EVENT_TYPES)}")
    reference = row.get("Event_Reference")
    if not reference:
        raise CellError("Event_Reference", "empty: the event has no id")
    nhs = row.get("NHS_Number").replace(" ", "") or None
    unused = [h for h in body.header if h not in SPEC_COLUMNS]

    def record(resource: Json, key: str) -> MappedRecord:
        hints: dict[str, Any] = {"section": "CLD", "event_type": kind}
        if unused:
            hints["unused_columns"] = unused
        return MappedRecord(resource=resource, source_system=source, source_id=key,
                            patient_nhs_number=nhs, location=f"line {row.line}", hints=hints)

    patient_key = f"CLD/{person}"
    patient_id = stable_id(source, "Patient", patient_key)
    gender = row.get("Gender").lower()
    if gender and gender not in _GENDERS:
        raise CellError("Gender", f"{row.get('Gender')!r} is not a recognised gender")
    ethnicity = row.get("Ethnicity")
    patient = compact({
        "resourceType": "Patient", "id": patient_id,
        "extension": [{"url": ETHNIC_CATEGORY_EXT, "valueCodeableConcept": {"text": ethnicity}}
                      if ethnicity else None],
        "identifier": [nhs_identifier(nhs) if nhs else None,
                       {"system": local_id_system(source, "person"), "value": person}],
        "gender": _GENDERS.get(gender), "birthDate": parse_date(row.get("Date_of_Birth"), "Date_of_Birth"),
        "generalPractitioner": [org_ref(row.get("GP_Practice_Code") or None)],
    })
    start = parse_date(row.get("Event_Start_Date"), "Event_Start_Date")
    end = parse_date(row.get("Event_End_Date"), "Event_End_Date")
    kept = _text_extensions(row, [*_KEPT_AS_TEXT, *unused])
    event = Event(row, source, f"CLD/{reference}", kind, patient_id, start, end, kept)
    build = {"Request": _request, "Assessment": _encounter, "Review": _encounter, "Service": _service}[kind]
    return [record(patient, patient_key), record(build(event), event.key)]


def _request(e: Event) -> Json:
    return compact({
        "resourceType": "EpisodeOfCare", "id": e.id("EpisodeOfCare"), "extension": e.kept,
        "identifier": e.identifier,
        "status": "finished" if e.end else "active",
        "type": [concept(None, None, text="Request for adult social care support")],
        "patient": ref("Patient", e.patient_id), "managingOrganization": org_ref(e.source),
        "period": period(e.start, e.end),
    })


def _encounter(e: Event) -> Json:
    return compact({
        "resourceType": "Encounter", "id": e.id("Encounter"), "extension": e.kept,
        "identifier": e.identifier,
        "status": "finished" if e.end or e.row.get("Event_Outcome") else "in-progress", "class": HOME_VISIT_CLASS,
        "type": [concept(None, None, text=f"Social care {e.kind.lower()}")],
        "subject": ref("Patient", e.patient_id), "period": period(e.start, e.end),
        "reasonCode": [concept(None, None, text=e.row.get("Primary_Support_Reason") or None)],
        "serviceProvider": org_ref(e.source),
    })


def _service(e: Event) -> Json:
    units_raw = e.row.get("Planned_Units_Per_Week")
    units = None
    if units_raw:
        try:
            units = float(units_raw)
        except ValueError:
            raise CellError("Planned_Units_Per_Week", f"{units_raw!r} is not a number") from None
        if not math.isfinite(units) or units < 0:
            raise CellError("Planned_Units_Per_Week", f"{units_raw!r} is not a number of units")
        units = int(units) if units.is_integer() else units
    service = e.row.get("Service_Type") or "Social care service"
    component = e.row.get("Service_Component") or None
    description = "; ".join(p for p in (service, component,
                                        f"{units_raw} planned units per week" if units_raw else None) if p)
    return compact({
        "resourceType": "CarePlan", "id": e.id("CarePlan"), "extension": e.kept,
        "identifier": e.identifier,
        "status": "completed" if e.end else "active", "intent": "plan",
        "category": [local_item(ITEM_CARE_PACKAGE, "Care package")], "title": service,
        "description": description, "subject": ref("Patient", e.patient_id), "period": period(e.start, e.end),
        "contributor": [org_ref(e.source)],
        "activity": [{"detail": {
            "code": concept(None, None, text=component or service),
            "status": "completed" if e.end else "in-progress",
            "quantity": {"value": units, "unit": "units per week"} if units is not None else None,
            "description": description}}],
    })
