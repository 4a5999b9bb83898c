"""CapabilityStatement generated from what the server really does (routes, search table, formats)."""
from __future__ import annotations

from typing import Any

from gateway import __version__
from gateway.store import search_params

FHIR_TYPE = {"token": "token", "date": "date", "reference": "reference"}


def capability_statement(base_url: str, formats: list[str], *, smart: bool) -> dict[str, Any]:
    resources = []
    for rtype in search_params.SEARCHABLE_TYPES:
        params = [{"name": p.name, "type": FHIR_TYPE[p.type]} for p in search_params.params_for(rtype).values()]
        if rtype != "Patient":
            params += [{"name": n, "type": "reference"} for n in search_params.PATIENT_REFERENCE]
        resource: dict[str, Any] = {
            "type": rtype,
            "interaction": [{"code": "read"}, {"code": "vread"}, {"code": "search-type"},
                            {"code": "history-instance"}],
            "versioning": "versioned",
            "readHistory": True,
            "searchParam": params,
            "searchInclude": sorted({f"{s}:{p}" for s, p, _, _ in search_params.INCLUDES if s == rtype}),
            "searchRevInclude": sorted({f"{s}:{p}" for s, p, _, t in search_params.INCLUDES if t in (rtype, "*")}),
        }
        if rtype == "Consent":  # sharing choices recorded through the API (gateway/api/person_routes.py)
            resource["interaction"] += [{"code": "create"}, {"code": "update"}]
            resource["updateCreate"] = False
        if rtype == "Patient":
            resource["operation"] = [{"name": "everything",
                                      "definition": "http://hl7.org/fhir/OperationDefinition/Patient-everything"}]
        resources.append(resource)
    resources.append({  # the person's own access history, from the audit log (gateway/sharing/history.py)
        "type": "AuditEvent", "interaction": [{"code": "search-type"}],
        "documentation": "For the person themselves (a token scoped to their own NHS number): who looked at "
                         "their record, when and why, as IHE BALP AuditEvents.",
        "searchParam": [{"name": "patient", "type": "reference"}]})
    security: dict[str, Any] = {
        "cors": False,
        "service": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/restful-security-service",
                                 "code": "SMART-on-FHIR"}]}],
        "description": "Bearer JWT (role, org, purpose_of_use claims); every response is filtered by the "
                       "consent-and-purpose policy and recorded in the audit log before it is sent.",
    }
    if smart:
        security["extension"] = [{"url": "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris",
                                  "extension": [{"url": "token", "valueUri": f"{base_url}/auth/token"}]}]
    return {
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": "2026-11-22",
        "kind": "instance",
        "software": {"name": "care-gateway", "version": __version__},
        "implementation": {"description": "Care record-sharing gateway", "url": base_url},
        "fhirVersion": "4.0.1",
        "format": formats,
        "rest": [{"mode": "server", "security": security, "resource": resources,
                  "operation": [{"name": "everything",
                                 "definition": "http://hl7.org/fhir/OperationDefinition/Patient-everything"}]}],
    }
