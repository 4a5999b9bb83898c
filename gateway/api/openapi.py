"""What the OpenAPI document says every route may answer: its success body and, for every 4xx/5xx,
a FHIR OperationOutcome — so schema-driven testing (schemathesis, tests/security) checks real answers."""
from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

from gateway.api.search import READ_SUMMARY_VALUES, SUMMARY_VALUES


class Issue(BaseModel):
    model_config = ConfigDict(extra="allow")
    severity: str
    code: str
    diagnostics: str | None = None


class OperationOutcome(BaseModel):
    """FHIR R4 OperationOutcome, as every error of this gateway is written."""

    model_config = ConfigDict(extra="allow", json_schema_extra={"required": ["resourceType", "issue"]})
    resourceType: str = "OperationOutcome"
    issue: list[Issue]


RESOURCE = {"type": "object", "required": ["resourceType"], "properties": {"resourceType": {"type": "string"}},
            "additionalProperties": True}
JSON_OBJECT = {"type": "object", "additionalProperties": True}
_ERRORS = {
    400: "Bad request: a parameter, body or header is malformed or not supported",
    401: "No valid bearer token",
    403: "The policy, the caller's capability or the token's patient scope refuses the request",
    404: "Not known (or not visible to this caller: the two are answered alike)",
    405: "Method not allowed",
    406: "Cannot answer in an accepted format",
    410: "Deleted",
    413: "Request body too large",
    414: "URL too long",
    415: "Unsupported media type",
    422: "Processable but refused (validation, policy checks, nothing ingestable)",
    500: "Internal error (the request id identifies it in the logs)",
    503: "Unavailable: the database cannot serve now, or the answer could not be audited; nothing was released "
         "(Retry-After says when to try again)",
}


def _oo_content() -> dict[str, Any]:
    ref = {"$ref": "#/components/schemas/OperationOutcome"}
    return {"application/fhir+json": {"schema": ref}, "application/json": {"schema": ref},
            "application/fhir+xml": {"schema": {"type": "string"}}}


def error_responses() -> dict[int | str, dict[str, Any]]:
    """``responses=`` for include_router: every error status as an OperationOutcome."""
    return {status: {"description": text, "model": OperationOutcome, "content": _oo_content()}
            for status, text in _ERRORS.items()}


def fhir_success() -> dict[int | str, dict[str, Any]]:
    """The FHIR routes answer 200 with a resource (a Bundle for searches), JSON or XML, or 304."""
    return {200: {"description": "A FHIR resource or Bundle", "content": {
        "application/fhir+json": {"schema": RESOURCE}, "application/fhir+xml": {"schema": {"type": "string"}}}},
            304: {"description": "Not modified (conditional read)"}}


def json_success() -> dict[int | str, dict[str, Any]]:
    return {200: {"description": "A JSON object", "content": {"application/json": {"schema": JSON_OBJECT},
                                                              "application/fhir+json": {"schema": RESOURCE}}}}


def policy_refusals() -> dict[int | str, dict[str, Any]]:
    """/policy answers 422 with the problems that keep a candidate policy from going live."""
    return {422: {"description": "The candidate policy does not load, breaks an invariant or fails its tests "
                                 "(or an OperationOutcome for a refused request)",
                  "content": {"application/json": {"schema": JSON_OBJECT},
                              "application/fhir+json": {"schema": {"$ref": "#/components/schemas/OperationOutcome"}}}}}


_SEARCH_PARAMETERS: list[tuple[str, dict[str, Any]]] = [
    ("patient", {"type": "string"}), ("subject", {"type": "string"}), ("_id", {"type": "string"}),
    ("identifier", {"type": "string"}), ("code", {"type": "string"}), ("category", {"type": "string"}),
    ("status", {"type": "string"}), ("date", {"type": "string"}), ("_lastUpdated", {"type": "string"}),
    ("name", {"type": "string"}), ("birthdate", {"type": "string"}),
    ("_count", {"type": "integer", "minimum": 0, "maximum": 1000}), ("_offset", {"type": "integer", "minimum": 0}),
    ("_sort", {"type": "string", "enum": ["date", "-date", "_lastUpdated", "-_lastUpdated"]}),
    ("_summary", {"type": "string", "enum": list(SUMMARY_VALUES)}), ("_elements", {"type": "string"}),
    ("_include", {"type": "string"}), ("_revinclude", {"type": "string"}),
    ("_format", {"type": "string", "enum": ["json", "xml", "application/fhir+json", "application/fhir+xml"]}),
]


# A read or vread shapes the one resource it returns (FHIR R4 search 3.1.1.5: _summary and _elements).
_READ_PARAMETERS: list[tuple[str, dict[str, Any]]] = [
    ("_summary", {"type": "string", "enum": list(READ_SUMMARY_VALUES)}), ("_elements", {"type": "string"}),
]
_READ_PATHS = ("/fhir/{resource_type}/{rid}", "/fhir/{resource_type}/{rid}/_history/{vid}")


def _query(parameters: list[tuple[str, dict[str, Any]]]) -> list[dict[str, Any]]:
    return [{"name": name, "in": "query", "required": False, "schema": schema} for name, schema in parameters]


def describe_fhir(schema: dict[str, Any], resource_types: list[str]) -> dict[str, Any]:
    """Say what the generic FHIR routes take: the resource types served, the search parameters of
    ``GET /fhir/{resource_type}`` and of the form of ``POST .../_search``, and what shapes a read —
    so schema-driven tests send real searches, not only 404s."""
    for path, operations in schema.get("paths", {}).items():
        if not path.startswith("/fhir/"):
            continue
        for method, operation in operations.items():
            for parameter in operation.get("parameters", []):
                if parameter.get("name") == "resource_type":
                    parameter["schema"] = {"type": "string", "enum": resource_types}
            if path == "/fhir/{resource_type}" and method == "get":
                operation.setdefault("parameters", []).extend(_query(_SEARCH_PARAMETERS))
            elif path in _READ_PATHS and method == "get":
                operation.setdefault("parameters", []).extend(_query(_READ_PARAMETERS))
            elif path == "/fhir/{resource_type}/_search" and method == "post":
                operation["requestBody"] = {"required": True, "content": {"application/x-www-form-urlencoded": {
                    "schema": {"type": "object", "properties": dict(_SEARCH_PARAMETERS)}}}}
    return schema
