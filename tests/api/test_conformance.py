"""Ordinary FHIR behaviour — search parameters, paging, includes, errors, formats, versions."""
from __future__ import annotations

import httpx
import pytest
from defusedxml import ElementTree

from gateway.settings import Settings
from gateway.testing import auth_headers
from gateway.wiring import Gateway
from tests.api.conftest import Loaded


@pytest.fixture
def gp(settings: Settings, loaded: Loaded) -> dict[str, str]:
    return auth_headers(settings, "gp", loaded.person.practice_ods)


def _matches(bundle: dict) -> list[dict]:
    return [e["resource"] for e in bundle.get("entry", []) if e["search"]["mode"] == "match"]


async def test_capability_statement_lists_what_the_store_indexes(client: httpx.AsyncClient) -> None:
    body = (await client.get("/fhir/metadata")).json()
    condition = next(r for r in body["rest"][0]["resource"] if r["type"] == "Condition")
    names = {p["name"] for p in condition["searchParam"]}
    assert {"code", "category", "date", "patient", "_lastUpdated", "identifier"} <= names
    assert "application/fhir+xml" in body["format"]
    assert body["rest"][0]["security"]["service"][0]["coding"][0]["code"] == "SMART-on-FHIR"


async def test_paging_is_stable_and_total_counts_all(client: httpx.AsyncClient, gp: dict, loaded: Loaded) -> None:
    first = (await client.get("/fhir/Observation", params={"patient": loaded.patient_id, "_count": 2},
                              headers=gp)).json()
    total = first["total"]
    assert total > 2 and len(_matches(first)) == 2
    seen = [r["id"] for r in _matches(first)]
    page = first
    while next_link := next((link["url"] for link in page["link"] if link["relation"] == "next"), None):
        page = (await client.get(next_link.replace("http://testserver", ""), headers=gp)).json()
        seen += [r["id"] for r in _matches(page)]
    assert len(seen) == total == len(set(seen))


async def test_token_date_and_sort_parameters(client: httpx.AsyncClient, gp: dict, loaded: Loaded) -> None:
    all_conditions = _matches((await client.get("/fhir/Condition", params={"patient": loaded.patient_id},
                                                headers=gp)).json())
    code = all_conditions[0]["code"]["coding"][0]
    by_code = _matches((await client.get("/fhir/Condition", params={
        "patient": loaded.patient_id, "code": f"{code['system']}|{code['code']}"}, headers=gp)).json())
    assert [c["id"] for c in by_code] == [c["id"] for c in all_conditions if c["code"]["coding"][0]["code"] ==
                                          code["code"]]
    newest_first = _matches((await client.get("/fhir/Condition", params={"patient": loaded.patient_id,
                                                                          "_sort": "-date"}, headers=gp)).json())
    dates = [c.get("onsetDateTime") or c.get("recordedDate") for c in newest_first]
    assert dates == sorted(dates, reverse=True)
    nothing = (await client.get("/fhir/Condition", params={"patient": loaded.patient_id, "date": "gt2999-01-01"},
                                headers=gp)).json()
    assert nothing["total"] == 0
    counted = (await client.get("/fhir/Condition", params={"patient": loaded.patient_id, "_summary": "count"},
                                headers=gp)).json()
    assert counted["total"] == len(all_conditions) and "entry" not in counted


async def test_elements_and_include(client: httpx.AsyncClient, gp: dict, loaded: Loaded) -> None:
    slim = _matches((await client.get("/fhir/Condition", params={"patient": loaded.patient_id,
                                                                  "_elements": "code"}, headers=gp)).json())
    # Condition.subject is mandatory (1..1): a subset keeps it, so it is still a valid Condition.
    assert slim and all(set(c) == {"resourceType", "id", "meta", "code", "subject"} for c in slim)
    assert all(any(t["code"] == "SUBSETTED" for t in c["meta"]["tag"]) for c in slim)
    bundle = (await client.get("/fhir/Condition", params={"patient": loaded.patient_id,
                                                           "_include": "Condition:subject"}, headers=gp)).json()
    included = [e["resource"] for e in bundle["entry"] if e["search"]["mode"] == "include"]
    assert [r["resourceType"] for r in included] == ["Patient"]
    rev = (await client.get("/fhir/Patient", params={"_id": loaded.patient_id,
                                                      "_revinclude": "Condition:subject"}, headers=gp)).json()
    assert {e["resource"]["resourceType"] for e in rev["entry"] if e["search"]["mode"] == "include"} == {"Condition"}


@pytest.mark.parametrize("params", [
    {"date": "2024-13-45"}, {"date": "yesterday"}, {"_count": "-1"}, {"_count": "¹"}, {"_sort": "colour"},
    {"code": "a,b"},
])
async def test_bad_parameters_get_400(client: httpx.AsyncClient, gp: dict, loaded: Loaded, params: dict) -> None:
    response = await client.get("/fhir/Condition", params={"patient": loaded.patient_id, **params}, headers=gp)
    assert response.status_code == 400
    assert response.json()["resourceType"] == "OperationOutcome"


async def test_unknown_parameter_is_400_only_under_strict_handling(client: httpx.AsyncClient, gp: dict,
                                                                    loaded: Loaded) -> None:
    params = {"patient": loaded.patient_id, "colour": "blue"}
    lenient = await client.get("/fhir/Condition", params=params, headers=gp)
    strict = await client.get("/fhir/Condition", params=params, headers={**gp, "Prefer": "handling=strict"})
    assert lenient.status_code == 200 and strict.status_code == 400
    assert "colour" in strict.json()["issue"][0]["diagnostics"]
    # Lenient: the self link says what the search applied, so the unknown parameter is not in it.
    self_link = next(link["url"] for link in lenient.json()["link"] if link["relation"] == "self")
    assert "colour" not in self_link and f"patient={loaded.patient_id}" in self_link


async def test_formats_406_415_and_xml(client: httpx.AsyncClient, gp: dict, loaded: Loaded) -> None:
    xml = await client.get(f"/fhir/Patient/{loaded.patient_id}", params={"_format": "xml"}, headers=gp)
    assert xml.status_code == 200 and xml.headers["content-type"].startswith("application/fhir+xml")
    assert xml.text.startswith("<?xml") and "<Patient" in xml.text
    accept_xml = await client.get(f"/fhir/Patient/{loaded.patient_id}",
                                  headers={**gp, "Accept": "application/fhir+xml"})
    assert "<Patient" in accept_xml.text
    # A Bundle of stored resources (released as their stored JSON text) is written as XML too, whole.
    everything = f"/fhir/Patient/{loaded.patient_id}/$everything"
    as_json = (await client.get(everything, headers=gp)).json()
    as_xml = await client.get(everything, params={"_format": "xml"}, headers=gp)
    assert as_xml.status_code == 200
    entries = ElementTree.fromstring(as_xml.content).findall("{http://hl7.org/fhir}entry")
    assert len(entries) == len(as_json["entry"]) > 5
    assert [e.find("{http://hl7.org/fhir}fullUrl").get("value") for e in entries] == [  # type: ignore[union-attr]
        e["fullUrl"] for e in as_json["entry"]]
    refused = await client.get(f"/fhir/Patient/{loaded.patient_id}", headers={**gp, "Accept": "text/csv"})
    assert refused.status_code == 406
    wrong_body = await client.post("/fhir/Condition/_search", content=b"{}",
                                   headers={**gp, "Content-Type": "application/json"})
    assert wrong_body.status_code == 415
    form = await client.post("/fhir/Condition/_search", data={"patient": loaded.patient_id}, headers=gp)
    assert form.status_code == 200 and form.json()["total"] > 0


async def test_etag_304_vread_history_and_410(client: httpx.AsyncClient, gp: dict, gateway: Gateway,
                                              loaded: Loaded) -> None:
    condition = _matches((await client.get("/fhir/Condition", params={"patient": loaded.patient_id},
                                           headers=gp)).json())[0]
    url = f"/fhir/Condition/{condition['id']}"
    first = await client.get(url, headers=gp)
    etag = first.headers["etag"]
    not_modified = await client.get(url, headers={**gp, "If-None-Match": etag})
    assert not_modified.status_code == 304 and not_modified.content == b""
    assert "last-modified" in first.headers
    vread = await client.get(f"{url}/_history/1", headers=gp)
    assert vread.status_code == 200 and vread.json()["id"] == condition["id"]
    history = (await client.get(f"{url}/_history", headers=gp)).json()
    assert history["type"] == "history" and history["total"] == 1
    assert (await client.get(f"{url}/_history/9", headers=gp)).status_code == 404
    gateway.store.delete("Condition", condition["id"])
    gone = await client.get(url, headers=gp)
    assert gone.status_code == 410 and gone.json()["resourceType"] == "OperationOutcome"


async def test_403_for_roles_that_never_read_records(client: httpx.AsyncClient, settings: Settings,
                                                     loaded: Loaded) -> None:
    for role in ("ig_officer", "auditor", "source"):
        response = await client.get(f"/fhir/Patient/{loaded.patient_id}", headers=auth_headers(settings, role, "X1"))
        assert response.status_code == 403, role
        assert response.json()["issue"][0]["code"] == "forbidden"


async def test_unknown_type_and_search_without_patient(client: httpx.AsyncClient, gp: dict) -> None:
    assert (await client.get("/fhir/Spaceship", headers=gp)).status_code == 404
    assert (await client.get("/fhir/Condition", headers=gp)).status_code == 400


async def test_everything_pages_with_count_and_since(client: httpx.AsyncClient, gp: dict, loaded: Loaded) -> None:
    url = f"/fhir/Patient/{loaded.patient_id}/$everything"
    whole = (await client.get(url, headers=gp)).json()
    page = (await client.get(url, params={"_count": 3}, headers=gp)).json()
    assert len(_matches(page)) == 3 and page["total"] == whole["total"]
    assert any(link["relation"] == "next" for link in page["link"])
    later = (await client.get(url, params={"_since": "2999-01-01"}, headers=gp)).json()
    assert later["total"] == 0


async def test_everything_of_unknown_or_deleted_patient(client: httpx.AsyncClient, gp: dict, gateway: Gateway,
                                                        loaded: Loaded) -> None:
    assert (await client.get("/fhir/Patient/nobody/$everything", headers=gp)).status_code == 404
    gateway.store.delete("Patient", loaded.patient_id)
    gone = await client.get(f"/fhir/Patient/{loaded.patient_id}/$everything", headers=gp)
    assert gone.status_code == 410 and gone.json()["resourceType"] == "OperationOutcome"
