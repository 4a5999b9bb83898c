"""A live gateway on a loopback port, for clients that speak real HTTP."""
from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

import orjson
import pytest
import uvicorn

from adapters.synthetic.gp_connect import gp_connect_bundle
from adapters.synthetic.people import Person, invent_people
from gateway.api.app import create_app
from gateway.services import Gateway
from gateway.settings import Settings
from gateway.testing import token


@dataclass
class LiveServer:
    base_url: str
    token: str
    person: Person
    patient_id: str
    gateway: Gateway
    settings: Settings


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def live(gateway: Gateway, settings: Settings) -> Iterator[LiveServer]:
    person = next(p for p in invent_people(12, seed=5) if len(p.conditions) >= 2)
    summary = gateway.ingestor.ingest_bytes("gp-connect", orjson.dumps(gp_connect_bundle(person)), "live.json")
    assert summary.quarantined == 0
    [patient] = gateway.store.find_by_identifier("Patient", "https://fhir.nhs.uk/Id/nhs-number", person.nhs_number)
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(gateway), host="127.0.0.1", port=port, log_config=None,
                                           access_log=False, lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("live gateway did not start")
        time.sleep(0.05)
    try:
        yield LiveServer(f"http://127.0.0.1:{port}/fhir", token(settings, "gp", person.practice_ods), person,
                         patient.id, gateway, settings)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
