"""Attack table, injection-shaped and oversized inputs on the HTTP surface: every answer a 4xx
OperationOutcome, never a 500 or a plain-text error."""
from __future__ import annotations

import pytest

from gateway.testing import auth_headers
from tests.security.conftest import NHS, Two


def _gp(gateway, two: Two) -> dict[str, str]:  # type: ignore[no-untyped-def]
    return auth_headers(gateway.settings, "gp", two.me.person.practice_ods)


def _is_outcome(response) -> bool:  # type: ignore[no-untyped-def]
    return response.headers.get("content-type", "").startswith(("application/fhir+json", "application/json")) and \
        response.json().get("resourceType") == "OperationOutcome"


async def test_a_very_long_url_is_a_414_operation_outcome(client, gateway, two: Two) -> None:  # type: ignore[no-untyped-def]
    response = await client.get(f"/fhir/Patient?identifier={NHS}|{two.me.person.nhs_number}&name=" + "a" * 20_000,
                                headers=_gp(gateway, two))
    assert response.status_code == 414 and _is_outcome(response)


@pytest.mark.parametrize("elements", ["code", "id", "subject", "meta,text"])
async def test_elements_as_xml_is_a_4xx_not_a_500(client, gateway, two: Two, elements) -> None:  # type: ignore[no-untyped-def]
    response = await client.get(f"/fhir/Condition?patient={two.me.patient_id}&_elements={elements}&_format=xml",
                                headers=_gp(gateway, two))
    assert response.status_code < 500, response.text
    if response.status_code != 200:
        assert response.status_code == 406
        assert "OperationOutcome" in response.text


@pytest.mark.parametrize("param", [
    "name=' OR 1=1--", "name=%00", "identifier=|||", "identifier=" + "9" * 400, "_count=-1",
    "_count=99999999999999999999999", "_sort=;DROP TABLE resource", "birthdate=ge9999-99-99",
    "_include=*", "_revinclude=Provenance:target:*", "_elements=../../etc/passwd", "_format=text/html",
    "_id=" + ",".join(["x"] * 2000),
])
async def test_injection_shaped_search_parameters(client, gateway, two: Two, param) -> None:  # type: ignore[no-untyped-def]
    response = await client.get(f"/fhir/Patient?identifier={NHS}|{two.me.person.nhs_number}&{param}",
                                headers=_gp(gateway, two))
    assert response.status_code < 500, (param, response.text[:300])
    if response.status_code >= 400:
        assert response.status_code == 406 or _is_outcome(response), response.text[:300]


@pytest.mark.parametrize("path", ["/fhir/Condition/" + "a" * 5000, "/fhir/Patient/%00", "/fhir/Patient/..%2f..%2fetc",
                                  "/fhir/Nonsense/1", "/fhir/Patient/x/_history/-1",
                                  "/audit/patients/%27%20OR%201=1/disclosures"])
async def test_injection_shaped_paths(client, gateway, two: Two, path) -> None:  # type: ignore[no-untyped-def]
    role = "auditor" if path.startswith("/audit") else "gp"
    response = await client.get(path, headers=auth_headers(gateway.settings, role, two.me.person.practice_ods))
    assert response.status_code < 500 and (response.status_code == 200 or _is_outcome(response)), response.text[:300]


@pytest.mark.parametrize("url", ["/fhir/Patient/%00", "/fhir/Patient?identifier=%00", "/fhir/Condition?patient=a%00b",
                                 "/audit/records?user=%00"])
async def test_nul_characters_are_a_400_on_every_engine(client, gateway, two: Two, url) -> None:  # type: ignore[no-untyped-def]
    # PostgreSQL text cannot hold NUL: on PostgreSQL these were 500s.
    response = await client.get(url, headers=_gp(gateway, two))
    assert response.status_code == 400 and _is_outcome(response), response.text[:300]


@pytest.mark.parametrize("fmt", ["gp-connect", "hl7v2", "social-care", "cld", "opt-out"])
async def test_oversized_pushes_are_a_413(client, gateway, fmt) -> None:  # type: ignore[no-untyped-def]
    gateway.settings.max_body_bytes = 10_000
    response = await client.post(f"/ingest/{fmt}", content=b"x" * 20_000,
                                 headers=auth_headers(gateway.settings, "source", "X1"))
    assert response.status_code == 413 and _is_outcome(response)


async def test_an_out_of_range_version_is_a_404(client, gateway, two: Two) -> None:  # type: ignore[no-untyped-def]
    response = await client.get(f"/fhir/Patient/{two.me.patient_id}/_history/99999999999999999999999",
                                headers=_gp(gateway, two))
    assert response.status_code == 404 and _is_outcome(response)


async def test_patients_cannot_be_browsed(client, gateway, two: Two) -> None:  # type: ignore[no-untyped-def]
    headers = auth_headers(gateway.settings, "paramedic", "RYC", "emergency", justification="call 42")
    response = await client.get("/fhir/Patient", headers=headers)
    assert response.status_code == 400 and _is_outcome(response)
    assert two.other.person.family not in response.text
