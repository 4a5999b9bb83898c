"""A GP record's own warning that it is incomplete (items excluded for confidentiality, a transfer not
yet complete) reaches every caller who receives any of that record, as a warning in the outcome."""
from __future__ import annotations

from pathlib import Path

import httpx

from gateway.settings import Settings
from gateway.testing import auth_headers
from gateway.wiring import Gateway

SUPPLIER = Path(__file__).parents[1] / "fixtures" / "gp_connect" / "supplier_shapes.json"


async def test_an_incomplete_gp_record_is_said_to_be_incomplete(client: httpx.AsyncClient, settings: Settings,
                                                                gateway: Gateway) -> None:
    summary = gateway.ingestor.ingest_bytes("gp-connect", SUPPLIER.read_bytes(), "supplier_shapes.json")
    assert summary.quarantined == 0, summary.problems
    [patient] = gateway.store.search("Patient")
    practice = next(s.holder_org for s in gateway.store.compartment(patient.id) if s.resource_type == "List")
    for role, org in (("gp", practice), ("receptionist", practice)):
        bundle = (await client.get(f"/fhir/Patient/{patient.id}/$everything",
                                   headers=auth_headers(settings, role, org))).json()
        issues = [i for e in bundle["entry"] if e["search"]["mode"] == "outcome" for i in e["resource"]["issue"]]
        warnings = [i for i in issues if i["severity"] == "warning"]
        assert {i["details"]["coding"][0]["code"] for i in warnings} >= {"confidential-items", "data-in-transit"}
        assert all("may be incomplete" in i["details"]["text"] for i in warnings)
