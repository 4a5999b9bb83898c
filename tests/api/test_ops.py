"""Operations endpoints: liveness, readiness, Prometheus metrics (request rate/latency by route
template, decisions by effect, audit append latency and batch size, quarantine size)."""
from __future__ import annotations

import re

import httpx
import sqlalchemy as sa

from gateway.settings import Settings
from gateway.testing import auth_headers
from gateway.wiring import Gateway

from .conftest import Loaded


async def test_healthz_and_readyz(client: httpx.AsyncClient, gateway: Gateway) -> None:
    live = await client.get("/healthz")
    assert live.status_code == 200 and live.json()["status"] == "ok"
    ready = await client.get("/readyz")
    assert ready.status_code == 200, ready.text
    assert ready.json()["policy"] == gateway.policies.version and ready.json()["database"] == "ok"


async def test_readyz_fails_when_the_database_is_gone(client: httpx.AsyncClient, gateway: Gateway) -> None:
    if gateway.engine.dialect.name != "sqlite":
        return  # dropping a table is enough to show it on either engine; SQLite is the quick one
    with gateway.engine.begin() as conn:
        conn.execute(sa.text("ALTER TABLE audit_record RENAME TO audit_record_gone"))
    ready = await client.get("/readyz")
    assert ready.status_code == 503 and ready.json()["database"].startswith("unreachable")
    assert (await client.get("/healthz")).status_code == 200  # alive all the same


async def test_metrics_after_a_disclosure(client: httpx.AsyncClient, settings: Settings, loaded: Loaded) -> None:
    headers = auth_headers(settings, "gp", loaded.person.practice_ods)
    assert (await client.get(f"/fhir/Patient/{loaded.patient_id}/$everything", headers=headers)).status_code == 200
    assert (await client.get("/fhir/Patient/does-not-exist", headers=headers)).status_code == 404
    text = (await client.get("/metrics")).text
    assert re.search(r'gateway_http_requests_total\{method="GET",route="/fhir/Patient/\{patient_id\}/\$everything",'
                     r'status="200"\} [1-9]', text)
    assert re.search(r'gateway_http_requests_total\{method="GET",route="/fhir/\{resource_type\}/\{rid\}",'
                     r'status="404"\} [1-9]', text)
    assert loaded.patient_id not in text  # route templates, never ids
    assert re.search(r'gateway_policy_decisions_total\{effect="released"\} [1-9]', text)
    assert re.search(r"gateway_audit_append_seconds_count [1-9]", text)
    assert re.search(r'gateway_audit_batch_records_bucket\{le="\+Inf"\} [1-9]', text)
    assert re.search(r"gateway_quarantine_open \d", text)
    assert "# TYPE gateway_http_request_seconds histogram" in text
