"""Real FHIR clients, unmodified: search by NHS number, page, read, $everything."""
from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from fhirclient import client as fhirclient_client
from fhirclient.models.condition import Condition
from fhirclient.models.patient import Patient
from fhirpy import AsyncFHIRClient

from tests.clients.conftest import LiveServer

NHS = "https://fhir.nhs.uk/Id/nhs-number"
NODE_DIR = Path(__file__).parent.parent / "node"


def _condition_ids(live: LiveServer) -> set[str]:
    return {s.id for s in live.gateway.store.search("Condition", patient_ids=[live.patient_id])}


async def test_fhirpy(live: LiveServer) -> None:
    client = AsyncFHIRClient(live.base_url, authorization=f"Bearer {live.token}")
    patients = await client.resources("Patient").search(identifier=f"{NHS}|{live.person.nhs_number}").fetch()
    assert [p["id"] for p in patients] == [live.patient_id]
    read = await client.reference("Patient", live.patient_id).to_resource()
    assert read["id"] == live.patient_id
    paged = await client.resources("Condition").search(patient=live.patient_id).limit(1).fetch_all()
    assert {c["id"] for c in paged} == _condition_ids(live) and len(paged) >= 2
    everything = await client.resource("Patient", id=live.patient_id).execute("$everything", method="get")
    assert {e["resource"]["resourceType"] for e in everything["entry"]} >= {"Patient", "Condition"}


def test_fhirclient(live: LiveServer) -> None:
    smart = fhirclient_client.FHIRClient(settings={"app_id": "gateway-tests", "api_base": live.base_url})
    smart.server.session.headers["Authorization"] = f"Bearer {live.token}"
    found = list(Patient.where(struct={"identifier": f"{NHS}|{live.person.nhs_number}"})
                 .perform_resources_iter(smart.server))
    assert [p.id for p in found] == [live.patient_id]
    patient = Patient.read(live.patient_id, smart.server)
    assert patient.identifier[0].value == live.person.nhs_number
    pages = list(Condition.where(struct={"patient": live.patient_id, "_count": "1"}).perform_iter(smart.server))
    matches = [e.resource for page in pages for e in page.entry or [] if e.search.mode == "match"]
    assert len(pages) >= 2 and all(isinstance(c, Condition) for c in matches)
    assert {c.id for c in matches} == _condition_ids(live)
    everything = smart.server.request_json(f"Patient/{live.patient_id}/$everything")
    assert any(e["resource"]["resourceType"] == "Condition" for e in everything["entry"])


def test_fhir_kit_client(live: LiveServer) -> None:
    if shutil.which("node") is None or not (NODE_DIR / "node_modules" / "fhir-kit-client").is_dir():
        pytest.skip("node or tests/node/node_modules missing (scripts/test installs them)")
    result = subprocess.run(["node", str(NODE_DIR / "fhir_kit_client.mjs"), live.base_url, live.token,
                             live.person.nhs_number], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["found"] == 1 and summary["readId"] == live.patient_id
    assert all(len(page) <= 1 for page in summary["pages"])
    assert {i for page in summary["pages"] for i in page} == _condition_ids(live)
    assert "Condition" in summary["everythingTypes"]
