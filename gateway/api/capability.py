"""CapabilityStatement generated from what the server really does (routes, search table, formats).

Every declared search parameter is one the store indexes and the search parser accepts; a parameter
R4 defines carries its ``definition``, one of the gateway's own carries ``documentation``
(gateway/store/search_params.py). tests/api/test_capability_exercised.py runs every one of them.
"""
from __future__ import annotations

from typing import Any

from gateway import __version__
from gateway.store import search_params

EVERYTHING = "http://hl7.org/fhir/OperationDefinition/Patient-everything"


def declared_params(rtype: str) -> list[dict[str, Any]]:
    """The searchParam entries of one type."""
    out = []
    entries = [(p.name, p.type, p.documentation) for p in search_params.params_for(rtype).values()]
    if rtype != "Patient":
        entries += [(n, "reference", search_params.PATIENT_REFERENCE_DOC) for n in search_params.PATIENT_REFERENCE]
    for name, type_, documentation in entries:
        param: dict[str, Any] = {"name": name, "type": type_}
        definition = search_params.r4_definition(rtype, name, type_)
        if definition:
            param["definition"] = definition
        else:
            param["documentation"] = documentation or f"gateway: {rtype} {name}"
        out.append(param)
    return out


def capability_statement(base_url: str, formats: list[str], *, token_url: str | None,
                         cors: bool = True) -> dict[str, Any]:
    resources = []
    for rtype in search_params.SEARCHABLE_TYPES:
        resource: dict[str, Any] = {
            "type": rtype,
            "interaction": [{"code": "read"}, {"code": "vread"}, {"code": "search-type"},
                            {"code": "history-instance"}],
            "versioning": "versioned",
            "readHistory": True,
            "conditionalRead": "not-match",
            "searchParam": declared_params(rtype),
        }
        includes = sorted(search_params.includes_for(rtype))
        revincludes = sorted(search_params.revincludes_for(rtype))
        if includes:
            resource["searchInclude"] = includes
        if revincludes:
            resource["searchRevInclude"] = revincludes
        if rtype == "Consent":  # sharing choices recorded through the API (gateway/api/person_routes.py)
            resource["interaction"] += [{"code": "create"}, {"code": "update"}]
            resource["updateCreate"] = False
        if rtype == "Patient":
            resource["operation"] = [{"name": "everything", "definition": EVERYTHING}]
        resources.append(resource)
    resources.append({  # the person's own access history, from the audit log (gateway/sharing/history.py)
        "type": "AuditEvent", "interaction": [{"code": "search-type"}],
        "documentation": "For the person themselves (a token scoped to their own NHS number): who looked at "
                         "their record, when and why, as IHE BALP AuditEvents.",
        "searchParam": [{"name": "patient", "type": "reference",
                         "definition": "http://hl7.org/fhir/SearchParameter/AuditEvent-patient"}]})
    security: dict[str, Any] = {
        "cors": cors,
        "service": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/restful-security-service",
                                 "code": "SMART-on-FHIR"}]}],
        "description": "Bearer JWT (role, org, purpose_of_use claims); every response is filtered by the "
                       "consent-and-purpose policy and recorded in the audit log before it is sent.",
    }
    if token_url:
        security["extension"] = [{"url": "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris",
                                  "extension": [{"url": "token", "valueUri": token_url}]}]
    return {
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": "2026-11-30",
        "kind": "instance",
        "software": {"name": "care-gateway", "version": __version__},
        "implementation": {"description": "Care record-sharing gateway", "url": base_url},
        "fhirVersion": "4.0.1",
        "format": formats,
        "rest": [{"mode": "server", "security": security, "resource": resources,
                  "operation": [{"name": "everything", "definition": EVERYTHING}]}],
    }
