"""Every response shape, checked by an independent R4 validator (tests/r4_validator.py: @medplum/core's
validateResource over the official R4 StructureDefinitions, and the JSON rule against empty arrays).

The ``client`` fixture validates every FHIR JSON answer of every API test; this module makes sure the
validator is really there and really strict, and asks for each shape at least once."""
from __future__ import annotations

import httpx
import pytest

from gateway.settings import Settings
from gateway.testing import auth_headers
from tests import r4_validator
from tests.api.conftest import Loaded

pytestmark = pytest.mark.skipif(r4_validator.available() is not None, reason=str(r4_validator.available()))


def test_the_validator_rejects_what_r4_forbids() -> None:
    assert r4_validator.problems({"resourceType": "Patient", "id": "p1", "gender": "female"}) == []
    assert r4_validator.problems({"resourceType": "Bundle", "type": "searchset", "entry": []})  # empty array
    history = {"resourceType": "Bundle", "type": "history", "entry": [{"resource": {"resourceType": "Patient"}}]}
    assert any("bdl-3" in p for p in r4_validator.problems(history))
    assert r4_validator.problems({"resourceType": "Condition", "id": "c"})  # subject is mandatory
    assert r4_validator.problems({"resourceType": "Patient", "birthDate": "13/08/1960"})  # not a FHIR date
    assert r4_validator.problems({"resourceType": "Patient", "colour": "blue"})


async def test_every_response_shape_is_valid_r4(client: httpx.AsyncClient, settings: Settings,
                                                loaded: Loaded) -> None:
    gp = auth_headers(settings, "gp", loaded.person.practice_ods)
    receptionist = auth_headers(settings, "receptionist", loaded.person.practice_ods)
    pid = loaded.patient_id
    shapes = [
        ("GET", "/fhir/metadata", {}, {}),
        ("GET", f"/fhir/Patient/{pid}", {}, gp),
        ("GET", f"/fhir/Patient/{pid}/_history", {}, gp),
        ("GET", f"/fhir/Patient/{pid}/_history/1", {}, gp),
        ("GET", "/fhir/Condition", {"patient": pid, "_include": "Condition:subject"}, gp),
        ("GET", "/fhir/Patient", {"_id": pid, "_revinclude": "Condition:subject"}, gp),
        ("GET", "/fhir/Observation", {"patient": pid, "_count": 1, "_offset": 1}, gp),
        ("GET", "/fhir/Observation", {"patient": pid, "_count": 0}, gp),
        ("GET", "/fhir/Observation", {"patient": pid, "_summary": "count"}, gp),
        ("GET", "/fhir/Observation", {"patient": pid, "_summary": "true"}, gp),
        ("GET", "/fhir/Observation", {"patient": pid, "_summary": "text"}, gp),
        ("GET", "/fhir/Observation", {"patient": pid, "_elements": "code"}, gp),
        ("GET", f"/fhir/Patient/{pid}/$everything", {}, gp),
        ("GET", f"/fhir/Patient/{pid}/$everything", {}, receptionist),  # the withheld-items entry
        ("GET", "/fhir/Condition", {"patient": pid}, receptionist),  # noticed items only
        ("GET", "/fhir/Condition", {"patient": pid, "date": "gt2999"}, gp),  # nothing matches
        ("GET", "/fhir/Condition", {}, gp),  # 400
        ("GET", "/fhir/Condition/nope", {}, gp),  # 404
        ("GET", "/fhir/Condition", {"patient": pid}, {}),  # 401
        ("GET", "/fhir/Condition", {"patient": pid}, auth_headers(settings, "auditor", "X1")),  # 403
        ("DELETE", f"/fhir/Patient/{pid}", {}, gp),  # 405
    ]
    for method, path, params, headers in shapes:
        response = await client.request(method, path, params=params, headers=headers)
        assert response.headers["content-type"].startswith("application/fhir+json"), (path, response.status_code)
        assert r4_validator.problems(response.json()) == [], (method, path, params)
