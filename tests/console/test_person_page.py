"""The person's own page, /console/me/: their access history and sharing choices, from the same parts
as the API's person view; their own only; audited; naming nothing the policy hides from them."""
from __future__ import annotations

import re
from collections.abc import Iterator

import orjson
import pytest
from fastapi.testclient import TestClient

from adapters.conventions import DATA_CATEGORY
from adapters.synthetic.gp_connect import gp_connect_bundle
from adapters.synthetic.people import Person, invent_people
from gateway.api.app import create_app
from gateway.testing import auth_headers
from tests.console.conftest import Console, break_glass
from tests.console.test_console_http import sign_in

FHIR_JSON = {"Content-Type": "application/fhir+json"}


def hiv_person(console: Console) -> Person:
    """An invented person whose GP record holds an HIV diagnosis (restricted: hidden from the person's
    own view of who saw what), ingested beside the console's person."""
    person = next(p for p in invent_people(12, seed=3) if "86406008" in p.conditions)
    summary = console.gateway.ingestor.ingest_bytes("gp-connect", orjson.dumps(gp_connect_bundle(person)), "hiv.json")
    assert summary.quarantined == 0 and summary.held_for_review == 0
    return person


@pytest.fixture
def api(console: Console) -> Iterator[TestClient]:
    with TestClient(create_app(console.gateway), base_url="https://testserver") as c:
        yield c


@pytest.fixture
def client(console: Console) -> Iterator[TestClient]:
    with TestClient(create_app(console.gateway), base_url="https://testserver") as c:
        yield c


def patient_id(console: Console, person: Person) -> str:
    [patient] = console.gateway.store.find_by_identifier("Patient", "https://fhir.nhs.uk/Id/nhs-number",
                                                         person.nhs_number)
    return patient.id


def test_the_person_sees_who_looked_why_and_their_choices(client: TestClient, api: TestClient,
                                                          console: Console) -> None:
    person = console.person
    break_glass(console)  # a GP's emergency access, with a justification
    pid = patient_id(console, person)
    objection = {"resourceType": "Consent", "status": "active", "patient": {"reference": f"Patient/{pid}"},
                 "provision": {"type": "deny", "securityLabel": [
                     {"system": DATA_CATEGORY, "code": "case_notes"}]}}
    recorded = api.post("/fhir/Consent", content=orjson.dumps(objection), headers={
        **FHIR_JSON, **auth_headers(console.gateway.settings, "patient", "NHS-LOGIN", "patient_request",
                                    patient=person.nhs_number, user="nhs-login-me")})
    assert recorded.status_code == 201, recorded.text
    sign_in(client, f"patient-{person.nhs_number}")
    page = client.get("/console/me/")
    assert page.status_code == 200, page.text
    text = page.text
    assert "Who looked at my record, and why" in text and person.nhs_number in text
    assert "emergency access: “unconscious in A&amp;E”" in text and "GP-BG" in text  # staff name: the pack's default
    assert "Objection to sharing" in text and "case_notes" in text and "every organisation" in text
    record = console.gateway.audit.entry(int(page.headers["X-Audit-Sequence"])).record
    assert (record["interaction"], record["purpose"], record["requester"]["role"]) == (
        "console.me", "patient_request", "patient")
    assert record["patients"][0]["nhs_number"] == person.nhs_number
    assert [i["ref"].split("/")[0] for i in record["items"]["released"]] == ["Consent"]  # what the page showed
    # The person's look shows in their own history next time.
    again = client.get("/console/me/").text
    assert again.count("<td>patient_request</td>") >= 2


def test_another_persons_page_is_refused_and_audited(client: TestClient, console: Console) -> None:
    other = hiv_person(console)
    sign_in(client, f"patient-{console.person.nhs_number}")
    refused = client.get("/console/me/", params={"nhs_number": other.nhs_number})
    assert refused.status_code == 403 and other.family not in refused.text
    record = console.gateway.audit.entry(int(refused.headers["X-Audit-Sequence"])).record
    assert record["outcome"] == "refused" and record["patients"] == [{"id": None, "nhs_number": other.nhs_number}]
    # the audit pages are not the person's either
    assert client.get("/console/audit/person", params={"nhs_number": other.nhs_number}).status_code == 403


def test_staff_have_no_me_page(client: TestClient) -> None:
    sign_in(client, "gp-a")
    answer = client.get("/console/me/")
    assert answer.status_code == 403 and "sign in as yourself" in answer.text


def test_the_page_never_names_what_the_policy_hides_from_the_person(client: TestClient, api: TestClient,
                                                                     console: Console) -> None:
    person = hiv_person(console)
    pid = patient_id(console, person)
    gp = auth_headers(console.gateway.settings, "gp", person.practice_ods, "direct_care", name="Dr Ngozi Okafor")
    everything = api.get(f"/fhir/Patient/{pid}/$everything", headers=gp)
    assert everything.status_code == 200
    hiv = next(e["resource"] for e in everything.json()["entry"] if e["resource"]["resourceType"] == "Condition"
               and "86406008" in str(e["resource"].get("code")))
    read_hiv = api.get(f"/fhir/Condition/{hiv['id']}", headers=gp)  # only about what is hidden from the person
    assert read_hiv.status_code == 200
    sign_in(client, f"patient-{person.nhs_number}")
    text = client.get("/console/me/").text
    assert "Dr Ngozi Okafor" in text and "clinical_summary" in text  # the $everything is shown...
    assert "restricted" not in text and "86406008" not in text and hiv["id"] not in text  # ...not the HIV entry
    rows = re.findall(r"<tr><td>[^<]*</td><td>Dr Ngozi Okafor</td>", text)
    assert len(rows) == 1  # the read of the HIV entry alone is left out altogether
