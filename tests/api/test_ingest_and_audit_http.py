"""POST /ingest/{format} for source systems and the auditor's /audit API, each admitted by a capability."""
from __future__ import annotations

import httpx
import orjson

from adapters.synthetic.gp_connect import gp_connect_bundle
from adapters.synthetic.people import invent_people
from gateway.settings import Settings
from gateway.testing import auth_headers
from gateway.wiring import Gateway
from tests.api.conftest import Loaded


async def test_source_system_pushes_an_export(client: httpx.AsyncClient, settings: Settings,
                                              gateway: Gateway) -> None:
    person = invent_people(2, seed=8)[0]
    body = orjson.dumps(gp_connect_bundle(person))
    source = auth_headers(settings, "source", person.practice_ods, purpose="direct_care")
    pushed = await client.post("/ingest/gp-connect", content=body, headers=source)
    assert pushed.status_code == 200, pushed.text
    assert pushed.json()["accepted"] > 5
    again = await client.post("/ingest/gp-connect", content=body, headers=source)
    assert again.json()["accepted"] == 0 and again.json()["unchanged"] == pushed.json()["accepted"]
    garbage = await client.post("/ingest/gp-connect", content=b"\xff\xfe not json", headers=source)
    assert garbage.status_code == 422 and garbage.json()["resourceType"] == "OperationOutcome"
    assert len(gateway.quarantine.list()) == 1  # kept, not lost
    reader = await client.post("/ingest/gp-connect", content=body,
                               headers=auth_headers(settings, "gp", person.practice_ods))
    assert reader.status_code == 403
    unknown = await client.post("/ingest/fax", content=body, headers=source)
    assert unknown.status_code == 400


async def test_a_source_may_only_send_its_own_records(client: httpx.AsyncClient, settings: Settings,
                                                      gateway: Gateway) -> None:
    person = invent_people(2, seed=8)[1]
    other_practice = auth_headers(settings, "source", "P89999")
    pushed = await client.post("/ingest/gp-connect", content=orjson.dumps(gp_connect_bundle(person)),
                               headers=other_practice)
    assert pushed.status_code == 422 and "claims to come from" in pushed.json()["issue"][0]["diagnostics"]
    [kept] = gateway.quarantine.list()
    assert "P89999" in kept.reason and person.practice_ods in kept.reason
    assert gateway.store.count() == 0


async def test_oversized_body_is_refused_without_reading_it_all(client: httpx.AsyncClient, settings: Settings,
                                                                gateway: Gateway) -> None:
    gateway.settings.max_body_bytes = 1000
    response = await client.post("/ingest/gp-connect", content=b"{" + b" " * 5000 + b"}",
                                 headers=auth_headers(settings, "source", "P81001"))
    assert response.status_code == 413
    assert gateway.quarantine.list() == []


async def test_auditor_searches_and_sees_a_persons_disclosure_history(
        client: httpx.AsyncClient, settings: Settings, loaded: Loaded) -> None:
    await client.get(f"/fhir/Patient/{loaded.patient_id}/$everything",
                     headers=auth_headers(settings, "gp", loaded.person.practice_ods, user="G-READER"))
    await client.get(f"/fhir/Patient/{loaded.patient_id}/$everything",
                     headers=auth_headers(settings, "receptionist", loaded.person.practice_ods, user="R-READER"))
    auditor = auth_headers(settings, "auditor", "X26", purpose="direct_care", user="AUD-1")
    by_user = (await client.get("/audit/records", params={"user": "G-READER"}, headers=auditor)).json()
    assert [r["requester"]["user"] for r in by_user["records"]] == ["G-READER"]
    history = (await client.get(f"/audit/patients/{loaded.person.nhs_number}/disclosures",
                                headers=auditor)).json()
    assert {r["requester"]["role"] for r in history["records"]} == {"gp", "receptionist"}
    events = (await client.get("/audit/AuditEvent", params={"user": "R-READER"}, headers=auditor)).json()
    assert events["total"] == 1 and events["entry"][0]["resource"]["resourceType"] == "AuditEvent"
    verified = (await client.get("/audit/verify", headers=auditor)).json()
    assert verified["ok"] is True
    # the auditor's own look at the log is itself on the log
    own = (await client.get("/audit/records", params={"user": "AUD-1"}, headers=auditor)).json()
    assert own["records"] and all(r["interaction"].startswith("audit.") for r in own["records"])
    refused = await client.get("/audit/records", headers=auth_headers(settings, "gp", loaded.person.practice_ods))
    assert refused.status_code == 403


async def test_break_glass_goes_to_the_review_queue_and_the_review_is_audited(
        client: httpx.AsyncClient, settings: Settings, loaded: Loaded) -> None:
    no_reason = await client.get(f"/fhir/Patient/{loaded.patient_id}/$everything",
                                 headers=auth_headers(settings, "paramedic", "RRU", purpose="emergency"))
    assert no_reason.status_code == 403
    assert "justification" in no_reason.json()["issue"][0]["diagnostics"]
    glass = await client.get(f"/fhir/Patient/{loaded.patient_id}/$everything", headers=auth_headers(
        settings, "paramedic", "RRU", purpose="emergency", justification="Unconscious at home, no carer present"))
    assert glass.status_code == 200
    seq = int(glass.headers["x-audit-sequence"])
    auditor = auth_headers(settings, "auditor", "X26", user="AUD-2")
    queue = (await client.get("/audit/review", headers=auditor)).json()["records"]
    assert [r["seq"] for r in queue] == [seq]
    assert "review" in queue[0]["obligations"] and queue[0]["justification"]
    reviewed = await client.post(f"/audit/review/{seq}", json={"comment": "Appropriate: 999 call"}, headers=auditor)
    assert reviewed.status_code == 200 and reviewed.json()["reviewed_seq"] == seq
    assert (await client.get("/audit/review", headers=auditor)).json()["records"] == []
