"""Outbound referrals and requested procedures: ReferralRequest and ProcedureRequest -> ServiceRequest.

R4 merged both into ServiceRequest. A referral keeps a "Patient referral" category so a reader can
still tell it from a requested procedure.
"""
from __future__ import annotations

from typing import Any

from adapters.base import SNOMED
from adapters.gp_connect.common import context_to_encounter, rename, requester_agent
from adapters.gp_connect.fields import add_note, coded, keep_unmapped, objects, take

PATIENT_REFERRAL = coded(SNOMED, "3457005", "Patient referral")
# STU3 request statuses R4 renamed.
_STATUS = {"suspended": "on-hold", "cancelled": "revoked"}


def _common(resource: dict[str, Any]) -> None:
    resource["resourceType"] = "ServiceRequest"
    status = resource.get("status")
    if isinstance(status, str) and status in _STATUS:
        resource["status"] = _STATUS[status]
    context_to_encounter(resource)
    requester_agent(resource)


def map_referral_request(resource: dict[str, Any]) -> dict[str, Any]:
    _common(resource)
    rename(resource, "groupIdentifier", "requisition")
    referral_type = take(resource, "type", dict)
    resource["category"] = [referral_type or PATIENT_REFERRAL]
    _service_requested(resource)
    specialty = take(resource, "specialty", dict)
    if specialty is not None:
        resource["performerType"] = specialty
    rename(resource, "recipient", "performer")
    description = take(resource, "description", str)
    if description is not None:  # R4 has no description: it is the referral's narrative
        add_note(resource, description)
    return resource


def _service_requested(resource: dict[str, Any]) -> None:
    """STU3 ``serviceRequested`` (0..*) -> R4 ``code`` (0..1); further services kept unmapped."""
    services = take(resource, "serviceRequested", list)
    if not services:
        return
    services = objects(services, "serviceRequested")
    resource["code"] = services[0]
    if len(services) > 1:
        keep_unmapped(resource, "serviceRequested[1:]", services[1:])


def map_procedure_request(resource: dict[str, Any]) -> dict[str, Any]:
    _common(resource)
    return resource
