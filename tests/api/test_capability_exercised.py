"""Every search parameter the CapabilityStatement declares does what it says, generated from the
CapabilityStatement itself: for each (type, parameter) a stored resource's own value finds it, and a
value it does not have leaves it out (so a declared parameter is never silently ignored). Searches run
with ``Prefer: handling=strict``, where an unknown parameter is an error."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from gateway.demo import write_sources
from gateway.ingest.pipeline import read_files
from gateway.settings import Settings
from gateway.store import StoredResource, search_params
from gateway.testing import auth_headers
from gateway.wiring import Gateway

# Values no stored resource has, per parameter type.
MISSING = {"token": "urn:example:none|no-such-code", "string": "zzqxv", "reference": "Practitioner/no-such-id",
           "date": "1801-01-01"}


@pytest.fixture
def every_source(gateway: Gateway, tmp_path: Path) -> Gateway:
    for format, files in write_sources(tmp_path / "data", 3):
        gateway.ingestor.ingest_files(format, read_files(files))
    return gateway


def _value(stored: StoredResource, name: str, type_: str) -> str | None:
    """A search value taken from this resource's own content that should find it."""
    if name == "_id":
        return stored.id
    if name in search_params.PATIENT_REFERENCE and stored.resource_type != "Patient":
        return stored.patient_id
    param = search_params.params_for(stored.resource_type).get(name)
    if param is None:
        return None
    for value in search_params.values(stored.content, param):
        if type_ == "token":
            pairs = search_params.tokens(value)
            if pairs:
                system, code = pairs[0]
                return code if system is None or param.where else f"{system}|{code}"
        elif type_ == "string" and isinstance(value, str) and search_params.normalise(value):
            return search_params.normalise(value)[:3]
        elif type_ == "reference" and isinstance(value, dict) and isinstance(value.get("reference"), str):
            return value["reference"]  # type: ignore[no-any-return]
        elif type_ == "date" and isinstance(value, str):
            return value[:10]
    return None


def _context(stored: StoredResource) -> dict[str, str]:
    """What a search of this type must also carry (a patient, identifying criteria)."""
    if stored.resource_type == "Patient" or stored.resource_type in search_params.DIRECTORY_TYPES:
        return {"_id": stored.id}
    return {"patient": stored.patient_id or "", "_id": stored.id}


async def _found_by_its_own_value(client: httpx.AsyncClient, headers: dict[str, str], rtype: str, name: str,
                                  type_: str, stored_all: list[StoredResource]) -> bool:
    """A stored resource found by its own value of the parameter (and not by a value it lacks)."""
    for stored in stored_all:
        value = _value(stored, name, type_)
        if value is None:
            continue
        params: dict[str, Any] = {**_context(stored), name: value}
        if name == "_lastUpdated":
            params[name] = f"ge{value}"
        hit = await client.get(f"/fhir/{rtype}", params=params, headers=headers)
        assert hit.status_code == 200, (rtype, name, hit.text)
        ids = [e["resource"]["id"] for e in hit.json().get("entry", []) if e["search"]["mode"] == "match"]
        if not ids:
            continue  # withheld from this caller: try another resource
        assert ids == [stored.id], (rtype, name, value)
        if name not in ("_id", "patient", "subject", "_lastUpdated"):
            miss = await client.get(f"/fhir/{rtype}", params={**params, name: MISSING[type_]}, headers=headers)
            assert miss.status_code == 200, (rtype, name, miss.text)
            assert miss.json()["total"] == 0, (rtype, name, "ignored: a value it lacks still matches")
        return True
    return False


async def _accepted_without_data(client: httpx.AsyncClient, headers: dict[str, str], rtype: str, name: str,
                                 type_: str, stored_all: list[StoredResource]) -> None:
    """No stored resource carries this element: the parameter is still accepted and applied."""
    anyone = stored_all[0] if stored_all else None
    params = {**(_context(anyone) if anyone else {"_id": "x"}), name: MISSING[type_]}
    if name in ("patient", "subject"):
        params[name] = "no-such-patient"
    response = await client.get(f"/fhir/{rtype}", params=params, headers=headers)
    assert response.status_code == 200 and response.json()["total"] == 0, (rtype, name, response.text)


async def test_every_declared_parameter_searches(client: httpx.AsyncClient, every_source: Gateway,
                                                 settings: Settings) -> None:
    # Break glass (grants relationship): the caller may see nearly everything, so a miss is the search's.
    headers = {**auth_headers(settings, "gp", "P81001", "emergency", justification="capability test"),
               "Prefer": "handling=strict"}
    statement = (await client.get("/fhir/metadata")).json()
    exercised, without_data = [], []
    for resource in statement["rest"][0]["resource"]:
        rtype = resource["type"]
        if rtype not in search_params.SEARCHABLE_TYPES:
            # The person's own views (AuditEvent access history), for a token scoped to them: their own tests.
            assert all("definition" in p or p.get("documentation") for p in resource["searchParam"]), rtype
            continue
        stored_all = [s for s in every_source.store.search(rtype)
                      if rtype == "Patient" or rtype in search_params.DIRECTORY_TYPES or s.patient_id]
        for declared in resource["searchParam"]:
            name, type_ = declared["name"], declared["type"]
            assert "definition" in declared or declared.get("documentation"), (rtype, name)
            if await _found_by_its_own_value(client, headers, rtype, name, type_, stored_all):
                exercised.append(f"{rtype}.{name}")
            else:
                await _accepted_without_data(client, headers, rtype, name, type_, stored_all)
                without_data.append(f"{rtype}.{name}")
    assert len(exercised) > 3 * len(without_data), (exercised, without_data)
    print(f"{len(exercised)} parameters found a stored resource by its own value; "
          f"{len(without_data)} accepted without data: {', '.join(without_data)}")
