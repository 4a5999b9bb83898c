"""The database full (SQLite) or read-only (PostgreSQL) during disclosure and during ingest.

Invariants: nothing is sent without an audit record (the API answers a 503 OperationOutcome, not
data); nothing is accepted that was not stored (ingest answers failure and keeps no part of a
message, nor quarantines it as if the message were at fault); everything is re-processable (once the
fault clears, the same inputs go through and the store equals that of a clean ingest)."""
from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import orjson
import pytest
import sqlalchemy.exc

from adapters.synthetic.gp_connect import gp_connect_bundle
from adapters.synthetic.people import Person, invent_people
from gateway.api.app import create_app
from gateway.store.database import unavailable
from gateway.testing import auth_headers, empty_gateway_like
from gateway.wiring import Gateway
from tests.api.conftest import Loaded
from tests.faults.no_writes import NoWrites, pages
from tests.ingest.snapshot import snapshot


def _audited(gateway: Gateway) -> int:
    return sum(1 for _ in gateway.audit.iter_entries())


def _refused_without_data(response: httpx.Response, person: Person) -> bool:
    """A 503 OperationOutcome naming no record and carrying nothing of the person: True. Otherwise
    the answer must name its audit record (the write happened to fit in the pages there were)."""
    if response.status_code != 503:
        assert response.headers["x-audit-sequence"], response.text[:300]
        return False
    assert response.headers["content-type"].startswith("application/fhir+json")
    assert response.json()["resourceType"] == "OperationOutcome"
    assert response.headers["retry-after"]
    assert "x-audit-sequence" not in response.headers
    assert person.nhs_number not in response.text and person.family not in response.text
    return True


async def test_nothing_is_disclosed_while_the_database_takes_no_writes(
        gateway: Gateway, client: httpx.AsyncClient, loaded: Loaded) -> None:
    person, pid = loaded.person, loaded.patient_id
    headers = auth_headers(gateway.settings, "gp", person.practice_ods)
    urls = [f"/fhir/Patient/{pid}/$everything", f"/fhir/Condition?patient={pid}",
            f"/fhir/Patient?identifier=https://fhir.nhs.uk/Id/nhs-number|{person.nhs_number}",
            "/fhir/Nonsense/1"]  # a refusal is audited too: when it cannot be, 503 rather than its 404
    before = _audited(gateway)
    with NoWrites(gateway.engine):
        answers = [await client.get(url, headers=headers) for url in urls]
    refused = [_refused_without_data(answer, person) for answer in answers]
    # $everything's record (every item of the record) needs new pages on a full SQLite file; PostgreSQL
    # read-only refuses every write.
    assert refused[0] and (gateway.engine.dialect.name == "sqlite" or all(refused)), refused
    assert _audited(gateway) == before + refused.count(False), "a record of each answer sent, and of no other"
    for url in urls[:3]:  # the fault cleared: served again, each answer naming its audit record
        answer = await client.get(url, headers=headers)
        assert answer.status_code == 200 and answer.headers["x-audit-sequence"]
    assert gateway.audit.verify().ok


@asynccontextmanager
async def _client_of(gateway: Gateway) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app(gateway)),
                                 base_url="http://testserver") as c:
        yield c


async def _push(client: httpx.AsyncClient, gateway: Gateway, person: Person, body: bytes) -> httpx.Response:
    # A fixed request id: the input's origin (kept with what is quarantined) is then the same on both gateways.
    return await client.post("/ingest/gp-connect", content=body, headers={
        **auth_headers(gateway.settings, "source", person.practice_ods), "X-Request-ID": f"push-{person.index}"})


@pytest.fixture
def pushes() -> list[tuple[Person, bytes]]:
    return [(p, orjson.dumps(gp_connect_bundle(p))) for p in invent_people(4, seed=21)]


async def test_a_push_the_database_cannot_store_is_refused_whole_and_goes_through_once_it_can(
        gateway: Gateway, client: httpx.AsyncClient, pushes: list[tuple[Person, bytes]], tmp_path: Path) -> None:
    first, *rest = pushes
    assert (await _push(client, gateway, *first)).status_code == 200
    before = snapshot(gateway)
    with NoWrites(gateway.engine):
        for person, body in rest:
            refused = await _push(client, gateway, person, body)
            assert refused.status_code == 503, refused.text[:300]
            assert refused.json()["resourceType"] == "OperationOutcome" and refused.headers["retry-after"]
    # Nothing of the refused pushes is stored, and nothing was quarantined as if the messages were bad.
    assert snapshot(gateway) == before
    for person, body in rest:  # the source sends again: taken whole
        again = await _push(client, gateway, person, body)
        assert again.status_code == 200 and again.json()["accepted"] > 5, again.text[:300]
    with empty_gateway_like(gateway, tmp_path / "clean") as clean:
        async with _client_of(clean) as clean_client:
            for person, body in pushes:
                assert (await _push(clean_client, clean, person, body)).status_code == 200
        assert snapshot(gateway) == snapshot(clean)


def test_files_ingested_while_the_database_fills_are_kept_whole_or_not_at_all_and_go_through_again(
        gateway: Gateway, pushes: list[tuple[Person, bytes]], tmp_path: Path) -> None:
    """The operator's path (``gateway ingest`` of many files, one batch): the fault strikes after the
    first input is finished; the command fails, and what it leaves is whole messages only."""
    files = [(f"{p.index}.json", body) for p, body in pushes]
    gateway.ingestor.group_messages = 1  # each input flushed on its own: the fault lands between inputs
    fault = NoWrites(gateway.engine)
    strike = None
    if fault.sqlite:  # the file may grow by what the first input takes (measured on a fresh copy), no more
        with empty_gateway_like(gateway, tmp_path / "measure") as scratch:
            start = pages(scratch.engine)
            scratch.ingestor.ingest_bytes("gp-connect", files[0][1], files[0][0])
            fault.on(headroom_pages=pages(scratch.engine) - start)
    else:  # read-only from the moment the first input is finished, the batch's own session cut off
        def strike(origin: str, _summary: object) -> None:
            if origin == files[0][0]:
                fault.on()
    try:
        with pytest.raises(sqlalchemy.exc.DBAPIError) as failed:
            gateway.ingestor.ingest_files("gp-connect", iter(files), on_input=strike)
    finally:
        fault.off()
    assert unavailable(failed.value), failed.value
    assert gateway.quarantine.list() == [], "a database fault is not the message's fault"
    assert gateway.review.list() == []
    with empty_gateway_like(gateway, tmp_path / "partial") as reference:
        # What stayed is exactly what a clean ingest of some leading inputs stores: whole messages only.
        kept = snapshot(gateway)
        for n in range(len(files) + 1):
            if n:
                reference.ingestor.ingest_bytes("gp-connect", files[n - 1][1], files[n - 1][0])
            if snapshot(reference) == kept:
                break
        else:
            raise AssertionError("the store holds part of a message")
    summary = gateway.ingestor.ingest_files("gp-connect", iter(files))
    assert summary.quarantined == 0 and summary.messages == len(files)
    with empty_gateway_like(gateway, tmp_path / "clean") as clean:
        clean.ingestor.ingest_files("gp-connect", iter(files))
        assert snapshot(gateway) == snapshot(clean)
