"""The FHIR search surface a HAPI user expects (docs: README "Searching"): person search by name and
date of birth, string / date / reference parameters, directory look-ups, paging links, _summary,
_elements, _include of the page, $everything's parameters and POST, and the HTTP details around them."""
from __future__ import annotations

import re
from typing import Any

import httpx
import pytest

from adapters.base import NHS_NUMBER_SYSTEM
from gateway.settings import Settings
from gateway.store.search_params import SEARCHABLE_TYPES
from gateway.testing import auth_headers
from gateway.wiring import Gateway
from tests.api.conftest import Loaded

UUID = re.compile(r"^urn:uuid:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


@pytest.fixture
def gp(settings: Settings, loaded: Loaded) -> dict[str, str]:
    return auth_headers(settings, "gp", loaded.person.practice_ods)


def _matches(bundle: dict[str, Any]) -> list[dict[str, Any]]:
    return [e["resource"] for e in bundle.get("entry", []) if e["search"]["mode"] == "match"]


def _mode(bundle: dict[str, Any], mode: str) -> list[dict[str, Any]]:
    return [e["resource"] for e in bundle.get("entry", []) if e["search"]["mode"] == mode]


def _link(bundle: dict[str, Any], relation: str) -> str | None:
    return next((link["url"] for link in bundle.get("link", []) if link["relation"] == relation), None)


def empty_arrays(value: Any, path: str = "$") -> list[str]:
    """Where a JSON value holds an empty array or object (R4 JSON forbids both)."""
    if isinstance(value, list):
        return [path] if not value else [p for i, v in enumerate(value) for p in empty_arrays(v, f"{path}[{i}]")]
    if isinstance(value, dict):
        return [path] if not value else [p for k, v in value.items() for p in empty_arrays(v, f"{path}.{k}")]
    return []


async def _get(client: httpx.AsyncClient, path: str, headers: dict[str, str], **params: Any) -> dict[str, Any]:
    response = await client.get(path, params=params, headers=headers)
    assert response.status_code == 200, response.text
    body = response.json()
    assert empty_arrays(body) == []
    return body  # type: ignore[no-any-return]


# -- finding a person -----------------------------------------------------------------------------

async def test_patient_by_name_and_birthdate(client: httpx.AsyncClient, gp: dict, loaded: Loaded) -> None:
    patient = (await client.get(f"/fhir/Patient/{loaded.patient_id}", headers=gp)).json()
    born, family, given = patient["birthDate"], patient["name"][0]["family"], patient["name"][0]["given"][0]
    for criteria in ({"family": family}, {"family": family.upper()[:3]}, {"given": given}, {"name": family},
                     {"name": given.lower()}):
        found = _matches(await _get(client, "/fhir/Patient", gp, birthdate=born, **criteria))
        assert [p["id"] for p in found] == [loaded.patient_id], criteria
    assert _matches(await _get(client, "/fhir/Patient", gp, birthdate=born, family="Zzyzx")) == []
    assert _matches(await _get(client, "/fhir/Patient", gp, birthdate=f"ne{born}", family=family,
                               identifier=f"{NHS_NUMBER_SYSTEM}|{loaded.person.nhs_number}")) == []
    # Prefixes and precision on birthdate (with an identifier, which is identifying on its own).
    ident = {"identifier": f"{NHS_NUMBER_SYSTEM}|{loaded.person.nhs_number}"}
    for value, hit in ((born, True), (born[:4], True), (born[:7], True), (f"ge{born}", True), (f"le{born}", True),
                       (f"gt{born}", False), (f"lt{born}", False), (f"eq{int(born[:4]) + 1}", False),
                       (f"sa{born}", None)):
        response = await client.get("/fhir/Patient", params={"birthdate": value, **ident}, headers=gp)
        if hit is None:
            assert response.status_code == 400
            continue
        assert [p["id"] for p in _matches(response.json())] == ([loaded.patient_id] if hit else []), value


@pytest.mark.parametrize("params", [
    {"family": "Smith"},  # a name alone finds many people
    {"birthdate": "1960-08-13"},
    {"family": "Smith", "birthdate": "1960"},  # a year is not a date of birth
    {"family": "Smith", "birthdate": "ge1960-08-13"},
    {"identifier": f"{NHS_NUMBER_SYSTEM}|"},  # every NHS number
    {"gender": "female"}, {"address-postalcode": "M4"}, {"phone": "0161"},
])
async def test_browsing_the_population_is_refused(client: httpx.AsyncClient, gp: dict, params: dict) -> None:
    response = await client.get("/fhir/Patient", params=params, headers=gp)
    assert response.status_code == 400 and "identifying criteria" in response.text


async def test_patient_demographic_parameters_narrow_an_identified_search(
        client: httpx.AsyncClient, gp: dict, loaded: Loaded) -> None:
    patient = (await client.get(f"/fhir/Patient/{loaded.patient_id}", headers=gp)).json()
    ident = {"identifier": f"{NHS_NUMBER_SYSTEM}|{loaded.person.nhs_number}"}
    phone = next(t["value"] for t in patient["telecom"] if t["system"] == "phone")
    gp_ref = patient["generalPractitioner"][0]["reference"]
    postcode = patient["address"][0]["postalCode"]
    for name, hit, miss in (("gender", patient["gender"], "other"), ("address-postalcode", postcode.lower()[:3], "ZZ9"),
                            ("phone", phone, "000"), ("general-practitioner", gp_ref, "Practitioner/nobody"),
                            ("general-practitioner", gp_ref.split("/")[1], "nobody")):
        assert len(_matches(await _get(client, "/fhir/Patient", gp, **ident, **{name: hit}))) == 1, name
        assert _matches(await _get(client, "/fhir/Patient", gp, **ident, **{name: miss})) == [], name


async def test_identifier_system_only_and_directory_lookups(client: httpx.AsyncClient, gp: dict,
                                                           gateway: Gateway, loaded: Loaded) -> None:
    [practitioner] = gateway.store.search("Practitioner")[:1]
    ident = practitioner.content["identifier"][0]
    found = _matches(await _get(client, "/fhir/Practitioner", gp, identifier=f"{ident['system']}|{ident['value']}"))
    assert [p["id"] for p in found] == [practitioner.id]
    every = _matches(await _get(client, "/fhir/Practitioner", gp, identifier=f"{ident['system']}|",
                                _id=practitioner.id))
    assert [p["id"] for p in every] == [practitioner.id]
    family = practitioner.content["name"][0]["family"]
    assert practitioner.id in {p["id"] for p in _matches(await _get(client, "/fhir/Practitioner", gp, family=family))}
    org = next(s for s in gateway.store.search("Organization") if s.content.get("identifier"))
    org_ident = org.content["identifier"][0]
    found = _matches(await _get(client, "/fhir/Organization", gp,
                                identifier=f"{org_ident['system']}|{org_ident['value']}"))
    assert [o["id"] for o in found] == [org.id]
    # A clinical type still needs a patient; identifier=system| within one patient's record is fine.
    assert (await client.get("/fhir/Condition", params={"identifier": "urn:x|"}, headers=gp)).status_code == 400
    assert (await client.get("/fhir/Practitioner", headers=gp)).status_code == 400


async def test_unknown_modifier_is_refused(client: httpx.AsyncClient, gp: dict, loaded: Loaded) -> None:
    response = await client.get("/fhir/Condition", params={"patient": loaded.patient_id, "code:text": "asthma"},
                                headers=gp)
    assert response.status_code == 400 and "modifier" in response.text


# -- paging, _summary, _elements, _include ----------------------------------------------------------

async def test_include_takes_the_page_not_every_match(client: httpx.AsyncClient, gp: dict, loaded: Loaded) -> None:
    everything = await _get(client, "/fhir/MedicationStatement", gp, patient=loaded.patient_id,
                            _include="MedicationStatement:medication")
    assert len(_matches(everything)) >= 2 and len(_mode(everything, "include")) >= 2
    page = await _get(client, "/fhir/MedicationStatement", gp, patient=loaded.patient_id, _count=1,
                      _include="MedicationStatement:medication")
    [match] = _matches(page)
    assert {f"Medication/{m['id']}" for m in _mode(page, "include")} == {match["medicationReference"]["reference"]}
    wrong = await client.get("/fhir/Condition", params={"patient": loaded.patient_id,
                                                         "_include": "Observation:performer"}, headers=gp)
    assert wrong.status_code == 400


async def test_count_zero_summary_count_and_paging_links(client: httpx.AsyncClient, gp: dict, loaded: Loaded) -> None:
    zero = await _get(client, "/fhir/Observation", gp, patient=loaded.patient_id, _count=0)
    assert zero["total"] >= 2 and "entry" not in zero and _link(zero, "next") is None and _link(zero, "self")
    counted = await _get(client, "/fhir/Observation", gp, patient=loaded.patient_id, _summary="count")
    assert counted["total"] == zero["total"] and "entry" not in counted
    assert "_summary=count" in (_link(counted, "self") or "")
    second = await _get(client, "/fhir/Observation", gp, patient=loaded.patient_id, _count=1, _offset=1)
    previous = _link(second, "previous")
    assert previous and "_offset=0" in previous
    back = (await client.get(previous.replace("http://testserver", ""), headers=gp)).json()
    assert _link(back, "previous") is None and _link(back, "next")


async def test_summary_modes(client: httpx.AsyncClient, gp: dict, loaded: Loaded) -> None:
    full = _matches(await _get(client, "/fhir/Condition", gp, patient=loaded.patient_id))
    data = _matches(await _get(client, "/fhir/Condition", gp, patient=loaded.patient_id, _summary="data"))
    assert [c["id"] for c in data] == [c["id"] for c in full]
    assert all("text" not in c for c in data)
    summary = _matches(await _get(client, "/fhir/Condition", gp, patient=loaded.patient_id, _summary="true"))
    for short, long in zip(summary, full, strict=True):
        assert set(short) <= set(long) | {"meta"} and "code" in short and "subject" in short
        assert "note" not in short and "category" not in short  # not summary elements of Condition
        assert any(t["code"] == "SUBSETTED" for t in short["meta"]["tag"])
    text = _matches(await _get(client, "/fhir/Condition", gp, patient=loaded.patient_id, _summary="text"))
    assert all(set(c) <= {"resourceType", "id", "meta", "text", "subject"} for c in text)
    bad = await client.get("/fhir/Condition", params={"patient": loaded.patient_id, "_summary": "brief"}, headers=gp)
    assert bad.status_code == 400


async def test_elements_keep_mandatory_elements(client: httpx.AsyncClient, gp: dict, loaded: Loaded) -> None:
    observations = _matches(await _get(client, "/fhir/Observation", gp, patient=loaded.patient_id,
                                       _elements="subject"))
    assert observations and all({"status", "code", "subject"} <= set(o) for o in observations)


# -- $everything --------------------------------------------------------------------------------------

async def test_everything_type_start_end_and_post(client: httpx.AsyncClient, gp: dict, loaded: Loaded) -> None:
    base = f"/fhir/Patient/{loaded.patient_id}/$everything"
    whole = await _get(client, base, gp)
    types = {e["resource"]["resourceType"] for e in whole["entry"] if e["search"]["mode"] == "match"}
    assert {"Patient", "Condition", "Observation"} <= types
    only = await _get(client, base, gp, _type="Condition,Observation")
    assert {r["resourceType"] for r in _matches(only)} == {"Condition", "Observation"}
    assert "_type=Condition%2CObservation" in (_link(only, "self") or "")
    future = await _get(client, base, gp, start="2999-01-01")
    assert not any(r["resourceType"] in ("Condition", "Observation") for r in _matches(future))
    assert any(r["resourceType"] == "Patient" for r in _matches(future))  # no clinical date: always in
    past = await _get(client, base, gp, end="1800")
    assert not any(r["resourceType"] == "Observation" for r in _matches(past))
    assert (await client.get(base, params={"_type": "Spaceship"}, headers=gp)).status_code == 400
    posted = await client.post(base, headers={**gp, "Content-Type": "application/fhir+json"},
                               json={"resourceType": "Parameters",
                                     "parameter": [{"name": "_type", "valueString": "Condition"}]})
    assert posted.status_code == 200, posted.text
    assert {r["resourceType"] for r in _matches(posted.json())} == {"Condition"}
    empty = await client.post(base, headers=gp)
    assert empty.status_code == 200 and empty.json()["total"] == whole["total"]
    assert (await client.post(base, headers={**gp, "Content-Type": "application/fhir+json"},
                              content=b'{"resourceType": "Patient"}')).status_code == 400


# -- history, withheld items, JSON rules -------------------------------------------------------------

async def test_history_entries_carry_request_and_response(client: httpx.AsyncClient, gp: dict,
                                                          loaded: Loaded) -> None:
    history = await _get(client, f"/fhir/Patient/{loaded.patient_id}/_history", gp)
    assert history["type"] == "history" and history["entry"]
    for e in history["entry"]:
        assert e["request"]["method"] in ("POST", "PUT") and e["response"]["status"].startswith("20")
        assert e["response"]["etag"] == f'W/"{e["resource"]["meta"]["versionId"]}"'


async def test_withheld_items_entry_is_a_uuid(client: httpx.AsyncClient, settings: Settings, loaded: Loaded) -> None:
    receptionist = auth_headers(settings, "receptionist", loaded.person.practice_ods)
    bundle = await _get(client, f"/fhir/Patient/{loaded.patient_id}/$everything", receptionist)
    [outcome] = [e for e in bundle["entry"] if e["search"]["mode"] == "outcome"]
    assert UUID.match(outcome["fullUrl"]) and outcome["resource"]["resourceType"] == "OperationOutcome"


# -- HTTP ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("accept", "expected"), [
    ("application/fhir+xml;q=0.5, application/fhir+json", "application/fhir+json"),
    ("application/fhir+json;q=0.1, application/fhir+xml;q=0.9", "application/fhir+xml"),
    ("application/fhir+json;q=0, */*", "application/fhir+xml"),
    ("text/html, */*;q=0.1", "application/fhir+json"),
    ("application/fhir+json;q=0, application/fhir+xml;q=0", None),
])
async def test_accept_quality_values(client: httpx.AsyncClient, accept: str, expected: str | None) -> None:
    response = await client.get("/fhir/metadata", headers={"Accept": accept})
    if expected is None:
        assert response.status_code == 406
    else:
        assert response.status_code == 200 and response.headers["content-type"].startswith(expected)


async def test_405_names_the_allowed_methods(client: httpx.AsyncClient, gp: dict, loaded: Loaded) -> None:
    response = await client.delete(f"/fhir/Patient/{loaded.patient_id}", headers=gp)
    assert response.status_code == 405 and "GET" in response.headers["allow"]
    assert response.json()["resourceType"] == "OperationOutcome"


async def test_cors_lets_browser_apps_call(client: httpx.AsyncClient, gp: dict, loaded: Loaded) -> None:
    origin = {"Origin": "https://app.example"}
    preflight = await client.options("/fhir/Condition", headers={
        **origin, "Access-Control-Request-Method": "GET", "Access-Control-Request-Headers": "authorization"})
    assert preflight.status_code == 200 and preflight.headers["access-control-allow-origin"] in ("*", origin["Origin"])
    assert "authorization" in preflight.headers["access-control-allow-headers"].lower()
    answer = await client.get(f"/fhir/Patient/{loaded.patient_id}", headers={**gp, **origin})
    assert answer.headers["access-control-allow-origin"] in ("*", origin["Origin"])
    assert "X-Audit-Sequence" in answer.headers["access-control-expose-headers"]


# -- the CapabilityStatement --------------------------------------------------------------------------

async def test_capability_statement_details(client: httpx.AsyncClient) -> None:
    statement = (await client.get("/fhir/metadata")).json()
    discovery = (await client.get("/fhir/.well-known/smart-configuration")).json()
    rest = statement["rest"][0]
    [uris] = [e for e in rest["security"]["extension"] if e["url"].endswith("oauth-uris")]
    assert uris["extension"] == [{"url": "token", "valueUri": discovery["token_endpoint"]}]
    token_path = "/" + discovery["token_endpoint"].split("://", 1)[1].split("/", 1)[1]
    assert (await client.post(token_path, data={"grant_type": "nonsense"})).status_code == 400  # there, and POST
    assert rest["security"]["cors"] is True
    by_type = {r["type"]: r for r in rest["resource"]}
    assert all(by_type[t]["conditionalRead"] == "not-match" for t in SEARCHABLE_TYPES)
    # _revinclude only where the referring resources lie in the matches' patient compartments.
    assert "searchRevInclude" not in by_type["Practitioner"] and "searchRevInclude" not in by_type["Organization"]
    assert "Patient:general-practitioner" not in by_type["Condition"].get("searchRevInclude", [])
    assert "Condition:subject" in by_type["Patient"]["searchRevInclude"]
    patient = {p["name"]: p for p in by_type["Patient"]["searchParam"]}
    assert {"name", "family", "given", "birthdate", "gender", "address-postalcode", "phone",
            "general-practitioner", "identifier"} <= set(patient)
    assert patient["birthdate"]["definition"] == "http://hl7.org/fhir/SearchParameter/individual-birthdate"
    condition = {p["name"]: p for p in by_type["Condition"]["searchParam"]}
    assert condition["clinical-status"]["definition"].endswith("/Condition-clinical-status")
    assert condition["onset-date"]["definition"].endswith("/Condition-onset-date")
    assert condition["status"]["documentation"].startswith("gateway:") and "definition" not in condition["status"]


async def test_conditional_read(client: httpx.AsyncClient, gp: dict, loaded: Loaded) -> None:
    first = await client.get(f"/fhir/Patient/{loaded.patient_id}", headers=gp)
    again = await client.get(f"/fhir/Patient/{loaded.patient_id}",
                             headers={**gp, "If-None-Match": first.headers["etag"]})
    assert again.status_code == 304


async def test_summary_and_elements_on_a_read(client: httpx.AsyncClient, gp: dict, loaded: Loaded) -> None:
    path = f"/fhir/Patient/{loaded.patient_id}"
    slim = (await client.get(path, params={"_elements": "birthDate"}, headers=gp)).json()
    assert set(slim) == {"resourceType", "id", "meta", "birthDate"}
    assert any(t["code"] == "SUBSETTED" for t in slim["meta"]["tag"])
    summary = (await client.get(path, params={"_summary": "true"}, headers=gp)).json()
    assert "name" in summary and "birthDate" in summary
    assert (await client.get(path, params={"_summary": "count"}, headers=gp)).status_code == 400


async def test_include_general_practitioner_with_a_target_type(client: httpx.AsyncClient, gp: dict,
                                                                loaded: Loaded) -> None:
    ident = {"identifier": f"{NHS_NUMBER_SYSTEM}|{loaded.person.nhs_number}"}
    both = await _get(client, "/fhir/Patient", gp, **ident, _include="Patient:general-practitioner")
    assert {r["resourceType"] for r in _mode(both, "include")} == {"Practitioner", "Organization"}
    only = await _get(client, "/fhir/Patient", gp, **ident, _include="Patient:general-practitioner:Practitioner")
    assert {r["resourceType"] for r in _mode(only, "include")} == {"Practitioner"}


async def test_a_page_with_includes_is_audited_as_sent(client: httpx.AsyncClient, gp: dict, gateway: Gateway,
                                                       loaded: Loaded, settings: Settings) -> None:
    response = await client.get("/fhir/MedicationStatement", params={
        "patient": loaded.patient_id, "_count": 1, "_include": "MedicationStatement:medication"}, headers=gp)
    body = response.json()
    sent = {f"{e['resource']['resourceType']}/{e['resource']['id']}" for e in body["entry"]
            if e["search"]["mode"] in ("match", "include")}
    record = gateway.audit.entry(int(response.headers["x-audit-sequence"])).record
    assert {i["ref"] for i in record["items"]["released"] + record["items"]["redacted"]} == sent
    # A name-and-birthdate search is decided like any other: a role the policy refuses gets nothing.
    patient = (await client.get(f"/fhir/Patient/{loaded.patient_id}", headers=gp)).json()
    refused = await client.get("/fhir/Patient", params={"family": patient["name"][0]["family"],
                                                        "birthdate": patient["birthDate"]},
                               headers=auth_headers(settings, "auditor", "X26"))
    assert refused.status_code == 403
