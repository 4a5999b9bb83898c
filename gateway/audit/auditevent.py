"""Audit records as FHIR R4 AuditEvent in the IHE Basic Audit Log Patterns (BALP) shape:
type rest + the RESTful interaction as subtype; agents for the client, the gateway and the user
(role, identity, purposeOfUse); an entity for each patient and for each disclosed resource."""
from __future__ import annotations

import base64
from collections.abc import Iterable, Iterator
from typing import Any

from gateway.audit.model import AuditEntry
from gateway.times import as_utc

BALP = "https://profiles.ihe.net/ITI/BALP/StructureDefinition/"
DCM = "http://dicom.nema.org/resources/ontology/DCM"
RESTFUL = "http://hl7.org/fhir/restful-interaction"
ENTITY_TYPE = "http://terminology.hl7.org/CodeSystem/audit-entity-type"
OBJECT_ROLE = "http://terminology.hl7.org/CodeSystem/object-role"
ACT_REASON = "http://terminology.hl7.org/CodeSystem/v3-ActReason"
LOCAL = "https://care-gateway.example/CodeSystem/"
NHS_NUMBER = "https://fhir.nhs.uk/Id/nhs-number"
SDS_USER = "https://fhir.nhs.uk/Id/sds-user-id"
ODS = "https://fhir.nhs.uk/Id/ods-organization-code"

# Gateway purposes with an HL7 v3 ActReason equivalent; the gateway's own code is always sent too.
PURPOSE_OF_USE = {"direct_care": "TREAT", "emergency": "ETREAT", "research": "HRESCH",
                  "safeguarding": "PUBHLTH", "patient_request": "PATRQT", "audit": "HOPERAT",
                  "care_planning": "TREAT", "administration": "HOPERAT"}
OUTCOME = {"disclosed": "0", "recorded": "0", "refused": "4", "error": "8"}
_WRITES = {"create": ("create", "C"), "update": ("update", "U")}  # sharing choices recorded through the API


def interaction(name: str) -> tuple[dict[str, Any] | None, str, bool]:
    """(subtype coding, action, is a query) for the API's interaction label."""
    word = name.split(" ", 1)[0]
    if word in _WRITES:
        code, action = _WRITES[word]
        return {"system": RESTFUL, "code": code}, action, False
    if "$" in name:
        op = name.split("$", 1)[1]
        return {"system": RESTFUL, "code": "operation", "display": f"operation ${op}"}, "E", True
    if name.startswith("search"):
        return {"system": RESTFUL, "code": "search-type"}, "E", True
    for code in ("vread", "history-instance", "read"):
        if name.startswith(code):
            return {"system": RESTFUL, "code": code}, "R", False
    return None, "E", False


def _agents(record: dict[str, Any]) -> list[dict[str, Any]]:
    requester = record.get("requester") or {}
    purpose = record.get("purpose")
    agents = [
        {"type": {"coding": [{"system": DCM, "code": "110153", "display": "Source Role ID"}]},
         "who": {"display": str(record.get("client") or "unknown client")}, "requestor": False},
        {"type": {"coding": [{"system": DCM, "code": "110152", "display": "Destination Role ID"}]},
         "who": {"display": "care-gateway"}, "requestor": False},
    ]
    if requester.get("user"):
        user: dict[str, Any] = {
            "type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-ParticipationType",
                                 "code": "IRCP", "display": "information recipient"}]},
            "who": {"identifier": {"system": SDS_USER, "value": str(requester["user"])},
                    **({"display": str(requester["name"])} if requester.get("name") else {})},
            "requestor": True,
        }
        if requester.get("role"):
            user["role"] = [{"coding": [{"system": LOCAL + "role", "code": str(requester["role"])}]}]
        if purpose:
            coding = [{"system": LOCAL + "purpose", "code": str(purpose)}]
            if purpose in PURPOSE_OF_USE:
                coding.insert(0, {"system": ACT_REASON, "code": PURPOSE_OF_USE[purpose]})
            user["purposeOfUse"] = [{"coding": coding,
                                     **({"text": record["justification"]} if record.get("justification") else {})}]
        agents.append(user)
    if requester.get("org"):
        agents.append({"type": {"text": "organisation of the user"},
                       "who": {"identifier": {"system": ODS, "value": str(requester["org"])}},
                       "requestor": False})
    return agents


def patient_entity(what: dict[str, Any]) -> dict[str, Any]:
    """The entity naming the patient a record is about."""
    return {"what": what, "type": {"system": ENTITY_TYPE, "code": "1", "display": "Person"},
            "role": {"system": OBJECT_ROLE, "code": "1", "display": "Patient"}}


def resource_entity(treatment: str, entity: dict[str, Any]) -> dict[str, Any]:
    """``entity`` as a disclosed (domain resource) entity; a redacted one carries the REDACTED label."""
    entity = {**entity, "type": {"system": ENTITY_TYPE, "code": "2", "display": "System Object"},
              "role": {"system": OBJECT_ROLE, "code": "4", "display": "Domain Resource"}}
    if treatment == "redacted":
        entity["securityLabel"] = [{"system": "http://terminology.hl7.org/CodeSystem/v3-ObservationValue",
                                    "code": "REDACTED"}]
    return entity


def event_skeleton(entry: AuditEntry, agents: list[dict[str, Any]], *, about_patient: bool) -> dict[str, Any]:
    """What every AuditEvent view of an audit record shares: id, BALP profile, type and subtype,
    action, time, outcome code, source, and the agents the view chose to show."""
    record = entry.record
    subtype, action, is_query = interaction(str(record.get("interaction") or ""))
    kind = "Query" if is_query else {"C": "Create", "U": "Update"}.get(action, "Read")
    profile = f"Patient{kind}" if about_patient else kind
    event: dict[str, Any] = {
        "resourceType": "AuditEvent",
        "id": f"audit-{entry.seq}",
        "meta": {"profile": [BALP + "IHE.BasicAudit." + profile]},
        "type": {"system": "http://terminology.hl7.org/CodeSystem/audit-event-type", "code": "rest",
                 "display": "Restful Operation"},
        "action": action,
        "recorded": as_utc(entry.time).isoformat(),
        "outcome": OUTCOME.get(str(record.get("outcome")), "8"),
        "agent": agents,
        "source": {"observer": {"display": "care-gateway"},
                   "type": [{"system": "http://terminology.hl7.org/CodeSystem/security-source-type",
                             "code": "4", "display": "Application Server"}]},
    }
    if subtype:
        event["subtype"] = [subtype]
    return event


def _entities(record: dict[str, Any]) -> list[dict[str, Any]]:
    return [*_patient_entities(record), *_query_entities(record), *_item_entities(record)]


def _patient_entities(record: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for patient in record.get("patients") or []:
        what: dict[str, Any] = {}
        if patient.get("id"):
            what["reference"] = f"Patient/{patient['id']}"
        if patient.get("nhs_number"):
            what["identifier"] = {"system": NHS_NUMBER, "value": str(patient["nhs_number"])}
        yield patient_entity(what or {"display": "unknown patient"})


def _query_entities(record: dict[str, Any]) -> Iterator[dict[str, Any]]:
    _, _, is_query = interaction(str(record.get("interaction") or ""))
    if is_query and record.get("query"):
        yield {"type": {"system": ENTITY_TYPE, "code": "2", "display": "System Object"},
               "role": {"system": OBJECT_ROLE, "code": "24", "display": "Query"},
               "query": base64.b64encode(str(record["query"]).encode()).decode()}


def _item_entities(record: dict[str, Any]) -> Iterator[dict[str, Any]]:
    items = record.get("items") or {}
    for treatment in ("released", "redacted", "recorded"):
        for item in items.get(treatment) or []:
            yield resource_entity(treatment, {"what": {"reference": str(item.get("ref"))},
                                              "detail": _item_detail(record, item, treatment)})


def _item_detail(record: dict[str, Any], item: dict[str, Any], treatment: str) -> list[dict[str, Any]]:
    detail = [{"type": "treatment", "valueString": treatment}]
    if item.get("rule_ids"):
        detail.append({"type": "rule_ids", "valueString": " ".join(map(str, item["rule_ids"]))})
    if item.get("fields"):
        detail.append({"type": "redacted_fields", "valueString": " ".join(map(str, item["fields"]))})
    if record.get("policy_version"):
        detail.append({"type": "policy_version", "valueString": str(record["policy_version"])})
    return detail


def to_audit_event(entry: AuditEntry) -> dict[str, Any] | None:
    """One AuditEvent, or None for records that are not disclosures (e.g. reviews)."""
    record = entry.record
    if record.get("type") == "review":
        return None
    event = event_skeleton(entry, _agents(record), about_patient=bool(record.get("patients")))
    if record.get("reason") or record.get("outcome") != "disclosed":
        event["outcomeDesc"] = str(record.get("reason") or record.get("outcome"))
    if record.get("purpose"):
        event["purposeOfEvent"] = [{"coding": [{"system": LOCAL + "purpose", "code": str(record["purpose"])}]}]
    entities = _entities(record)
    if entities:
        event["entity"] = entities
    return event


def to_audit_events(entries: Iterable[AuditEntry]) -> Iterator[dict[str, Any]]:
    for entry in entries:
        event = to_audit_event(entry)
        if event is not None:
            yield event
