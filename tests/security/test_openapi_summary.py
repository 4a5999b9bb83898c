"""The OpenAPI document declares exactly the `_summary` values each FHIR route takes: schema-driven
clients (and schemathesis) send what is declared, so a value taken but undeclared is never exercised
and a value declared but refused is a broken promise. Which values a route takes is asked of the app."""
from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import httpx

from gateway.testing import auth_headers
from gateway.wiring import Gateway
from tests.api.conftest import Loaded

R4_SUMMARY = ("true", "text", "data", "count", "false")  # FHIR R4 search 3.1.1.5.1; and one that is not
FORM = "application/x-www-form-urlencoded"


def _declared(document: dict[str, Any], method: str, path: str) -> set[str]:
    operation = document["paths"][path][method]
    if method == "post":
        schema = operation["requestBody"]["content"][FORM]["schema"]["properties"]["_summary"]
    else:
        [parameter] = [p for p in operation.get("parameters", []) if p["name"] == "_summary"] or [{"schema": {}}]
        schema = parameter["schema"]
    return set(schema.get("enum", []))


async def test_every_summary_value_a_fhir_route_takes_is_declared(
        client: httpx.AsyncClient, gateway: Gateway, loaded: Loaded) -> None:
    headers = auth_headers(gateway.settings, "gp", loaded.person.practice_ods)
    condition = next(s.id for s in gateway.store.compartment(loaded.patient_id) if s.resource_type == "Condition")
    calls: dict[tuple[str, str], Callable[[str], Awaitable[httpx.Response]]] = {
        ("get", "/fhir/{resource_type}"): lambda v: client.get(
            f"/fhir/Condition?patient={loaded.patient_id}&_summary={v}", headers=headers),
        ("post", "/fhir/{resource_type}/_search"): lambda v: client.post(
            "/fhir/Condition/_search", data={"patient": loaded.patient_id, "_summary": v}, headers=headers),
        ("get", "/fhir/{resource_type}/{rid}"): lambda v: client.get(
            f"/fhir/Condition/{condition}?_summary={v}", headers=headers),
        ("get", "/fhir/{resource_type}/{rid}/_history/{vid}"): lambda v: client.get(
            f"/fhir/Condition/{condition}/_history/1?_summary={v}", headers=headers),
    }
    document = (await client.get("/openapi.json")).json()
    for (method, path), call in calls.items():
        taken = {value for value in (*R4_SUMMARY, "bogus") if (await call(value)).status_code == 200}
        assert taken, (method, path)
        assert _declared(document, method, path) == taken, (method, path)
