"""A GP record in, a policy-filtered and audited FHIR answer out."""
from __future__ import annotations

import httpx
import sqlalchemy as sa

from gateway.settings import Settings
from gateway.testing import auth_headers
from gateway.wiring import Gateway
from tests.api.conftest import Loaded

NHS = "https://fhir.nhs.uk/Id/nhs-number"


def _types(bundle: dict) -> list[str]:
    return [e["resource"]["resourceType"] for e in bundle.get("entry", []) if e["search"]["mode"] == "match"]


def _audit_count(gateway: Gateway) -> int:
    with gateway.engine.connect() as conn:
        return conn.execute(sa.text("SELECT count(*) FROM audit_record")).scalar_one()


async def test_metadata_is_a_capability_statement(client: httpx.AsyncClient) -> None:
    response = await client.get("/fhir/metadata")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/fhir+json")
    body = response.json()
    assert body["resourceType"] == "CapabilityStatement" and body["fhirVersion"] == "4.0.1"
    patient = next(r for r in body["rest"][0]["resource"] if r["type"] == "Patient")
    assert "identifier" in {p["name"] for p in patient["searchParam"]}


async def test_no_token_and_bad_token_get_401_operation_outcome(client: httpx.AsyncClient, loaded: Loaded) -> None:
    for headers in ({}, {"Authorization": "Bearer not.a.jwt"}, {"Authorization": "Basic abc"}):
        response = await client.get(f"/fhir/Patient/{loaded.patient_id}", headers=headers)
        assert response.status_code == 401
        assert response.json()["resourceType"] == "OperationOutcome"
        assert "Bearer" in response.headers["www-authenticate"]


async def test_find_patient_by_nhs_number(client: httpx.AsyncClient, settings: Settings, loaded: Loaded) -> None:
    response = await client.get("/fhir/Patient", params={"identifier": f"{NHS}|{loaded.person.nhs_number}"},
                                headers=auth_headers(settings, "gp", loaded.person.practice_ods))
    assert response.status_code == 200
    bundle = response.json()
    assert bundle["type"] == "searchset" and bundle["total"] == 1
    assert bundle["entry"][0]["resource"]["id"] == loaded.patient_id
    missing = await client.get("/fhir/Patient", params={"identifier": f"{NHS}|9434765919"},
                               headers=auth_headers(settings, "gp", loaded.person.practice_ods))
    assert missing.json()["total"] == 0


async def test_read_patient_and_unknown_id(client: httpx.AsyncClient, settings: Settings, loaded: Loaded) -> None:
    headers = auth_headers(settings, "gp", loaded.person.practice_ods)
    ok = await client.get(f"/fhir/Patient/{loaded.patient_id}", headers=headers)
    assert ok.status_code == 200 and ok.json()["id"] == loaded.patient_id
    assert ok.headers["etag"] == f'W/"{ok.json()["meta"]["versionId"]}"'
    missing = await client.get("/fhir/Patient/does-not-exist", headers=headers)
    assert missing.status_code == 404 and missing.json()["resourceType"] == "OperationOutcome"


async def test_gp_everything_contains_conditions(client: httpx.AsyncClient, settings: Settings,
                                                 loaded: Loaded) -> None:
    response = await client.get(f"/fhir/Patient/{loaded.patient_id}/$everything",
                                headers=auth_headers(settings, "gp", loaded.person.practice_ods))
    assert response.status_code == 200
    types = _types(response.json())
    assert "Patient" in types and "Condition" in types
    assert "MedicationStatement" in types or "AllergyIntolerance" in types


async def test_receptionist_everything_has_demographics_and_a_notice_but_no_condition(
        client: httpx.AsyncClient, settings: Settings, loaded: Loaded) -> None:
    response = await client.get(f"/fhir/Patient/{loaded.patient_id}/$everything",
                                headers=auth_headers(settings, "receptionist", loaded.person.practice_ods))
    assert response.status_code == 200
    bundle = response.json()
    types = _types(bundle)
    assert "Patient" in types
    assert "Condition" not in types and "AllergyIntolerance" not in types and "MedicationStatement" not in types
    outcomes = [e for e in bundle["entry"] if e["search"]["mode"] == "outcome"]
    assert len(outcomes) == 1
    issues = outcomes[0]["resource"]["issue"]
    assert issues and all(i["severity"] == "information" for i in issues)
    categories = {c["code"] for i in issues for c in i["details"]["coding"]}
    assert "clinical_summary" in categories
    # The record is her own practice's: the notice says so, and does not send her to ask her own practice.
    own = [i for i in issues if "your own organisation" in i["details"]["text"]]
    assert own and not any(loaded.person.practice_ods in i.get("diagnostics", "") for i in own)


async def test_every_request_is_audited_once_including_refusals(
        client: httpx.AsyncClient, settings: Settings, gateway: Gateway, loaded: Loaded) -> None:
    before = _audit_count(gateway)
    ok = await client.get(f"/fhir/Patient/{loaded.patient_id}/$everything",
                          headers=auth_headers(settings, "receptionist", loaded.person.practice_ods))
    refused = await client.get(f"/fhir/Patient/{loaded.patient_id}", headers={})
    forbidden = await client.get(f"/fhir/Patient/{loaded.patient_id}",
                                 headers=auth_headers(settings, "auditor", "X26"))
    assert (ok.status_code, refused.status_code, forbidden.status_code) == (200, 401, 403)
    assert _audit_count(gateway) == before + 3
    record = gateway.audit.entry(int(ok.headers["x-audit-sequence"])).record
    assert record["requester"]["role"] == "receptionist"
    assert record["outcome"] == "disclosed" and record["policy_version"]
    assert any(item["ref"].startswith("Condition/") for item in record["items"]["noticed"])
    assert not any(item["ref"].startswith("Condition/") for item in record["items"]["released"])
    assert gateway.audit.entry(int(forbidden.headers["x-audit-sequence"])).record["outcome"] == "refused"
    assert gateway.audit.entry(int(refused.headers["x-audit-sequence"])).record["status"] == 401


async def test_audit_failure_means_nothing_is_sent(client: httpx.AsyncClient, settings: Settings,
                                                   gateway: Gateway, loaded: Loaded) -> None:
    with gateway.engine.begin() as conn:  # a real failure: the audit table is gone
        conn.execute(sa.text("DROP TABLE audit_patient"))
        conn.execute(sa.text("DROP TABLE audit_record"))
    response = await client.get(f"/fhir/Patient/{loaded.patient_id}/$everything",
                                headers=auth_headers(settings, "gp", loaded.person.practice_ods))
    assert response.status_code == 503
    body = response.json()
    assert body["resourceType"] == "OperationOutcome"
    assert loaded.person.family not in response.text and loaded.person.nhs_number not in response.text
