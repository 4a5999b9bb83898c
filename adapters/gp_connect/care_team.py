"""The patient's GP care team: the registered practice and the usual GP, with their contacts.

GP Connect has no CareTeam; the gateway needs one so that a "notice" can name who holds the
record and how to reach them. Each participant's member reference carries ``display`` and
``identifier`` (ODS / SDS) so that a reader needs no join.
"""
from __future__ import annotations

from typing import Any

from adapters.base import NHS_NUMBER_SYSTEM, ODS_SYSTEM, SDS_USER_SYSTEM, stable_id
from adapters.conventions import CARE_TEAM_ROLE, EXT_PARTICIPANT_CONTACT
from adapters.gp_connect.index import BundleIndex, IndexedEntry, identifier_value, practitioner_role_of

_ROLE_DISPLAY = {"registered-gp-practice": "Registered GP practice", "usual-gp": "Usual GP"}


def care_team_id(index: BundleIndex) -> str:
    return stable_id(index.source_system, "CareTeam", f"registered-gp|{index.patient.source_id}")


def build_care_team(index: BundleIndex) -> dict[str, Any]:
    practice = _practice_member(index)
    participants = [_participant("registered-gp-practice", practice, _telecom(index.practice))]
    if index.usual_gp is not None:
        role = practitioner_role_of(index, index.usual_gp)
        # The role's telecom is the work contact; the practitioner's own telecom comes after it.
        contacts = _telecom(role) + _telecom(index.usual_gp)
        gp = _participant("usual-gp", _practitioner_member(index.usual_gp), contacts)
        gp["onBehalfOf"] = practice  # R4 ctm-1: onBehalfOf only when the member is a Practitioner
        participants.append(gp)
    return {
        "resourceType": "CareTeam",
        "id": care_team_id(index),
        "status": "active",
        "name": f"GP care team ({practice.get('display', index.source_system)})",
        "subject": _patient_reference(index),
        "participant": participants,
        "managingOrganization": [practice],
    }


def _patient_reference(index: BundleIndex) -> dict[str, Any]:
    subject: dict[str, Any] = {"reference": index.patient.r4_reference}
    if index.patient_nhs_number:
        subject["identifier"] = {"system": NHS_NUMBER_SYSTEM, "value": index.patient_nhs_number}
    return subject


def _participant(role: str, member: dict[str, Any], contacts: list[dict[str, Any]]) -> dict[str, Any]:
    participant: dict[str, Any] = {
        "role": [{"coding": [{"system": CARE_TEAM_ROLE, "code": role, "display": _ROLE_DISPLAY[role]}]}],
        "member": member,
    }
    if contacts:
        participant["extension"] = [{"url": EXT_PARTICIPANT_CONTACT, "valueContactPoint": c} for c in contacts]
    return participant


def _practice_member(index: BundleIndex) -> dict[str, Any]:
    member: dict[str, Any] = {"identifier": {"system": ODS_SYSTEM, "value": index.source_system}}
    if index.practice is not None:
        member["reference"] = index.practice.r4_reference
        name = index.practice.resource.get("name")
        if isinstance(name, str):
            member["display"] = name
    return member


def _practitioner_member(gp: IndexedEntry) -> dict[str, Any]:
    member: dict[str, Any] = {"reference": gp.r4_reference}
    display = display_name(gp.resource)
    if display:
        member["display"] = display
    sds = identifier_value(gp.resource, SDS_USER_SYSTEM)
    if sds:
        member["identifier"] = {"system": SDS_USER_SYSTEM, "value": sds}
    return member


def display_name(resource: dict[str, Any]) -> str | None:
    """"Dr Ngozi Okafor" from the first usable HumanName."""
    names = resource.get("name")
    for name in names if isinstance(names, list) else [names]:
        if not isinstance(name, dict):
            continue
        if isinstance(name.get("text"), str):
            return name["text"]
        parts = [p for key in ("prefix", "given") for p in _strings(name.get(key))]
        if isinstance(name.get("family"), str):
            parts.append(name["family"])
        if parts:
            return " ".join(parts)
    return None


def _strings(value: Any) -> list[str]:
    return [v for v in value if isinstance(v, str)] if isinstance(value, list) else []


def _telecom(entry: IndexedEntry | None) -> list[dict[str, Any]]:
    """Well-formed ContactPoints only (a broken one stays, and is reported, on its own resource)."""
    if entry is None or not isinstance(entry.resource.get("telecom"), list):
        return []
    return [_contact_point(cp) for cp in entry.resource["telecom"]
            if isinstance(cp, dict) and isinstance(cp.get("value"), str)]


def _contact_point(cp: dict[str, Any]) -> dict[str, Any]:
    kept: dict[str, Any] = {k: cp[k] for k in ("system", "value", "use") if isinstance(cp.get(k), str)}
    if type(cp.get("rank")) is int and cp["rank"] > 0:
        kept["rank"] = cp["rank"]
    return kept
