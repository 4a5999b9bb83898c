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
from gateway.settings import Settings
from gateway.testing import token
from gateway.wiring import Gateway


@dataclass
class LiveServer:
    base_url: str
    token: str
    person: Person
    patient_id: str
    gateway: Gateway
    settings: Settings


def _listening_socket() -> socket.socket:
    """A socket already bound to a free loopback port, handed to uvicorn as it is: asking for a free
    port, closing it and binding again would let another process take the port in between."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


@pytest.fixture
def live(gateway: Gateway, settings: Settings) -> Iterator[LiveServer]:
    person = next(p for p in invent_people(12, seed=5) if len(p.conditions) >= 2)
    summary = gateway.ingestor.ingest_bytes("gp-connect", orjson.dumps(gp_connect_bundle(person)), "live.json")
    assert summary.quarantined == 0
    [patient] = gateway.store.find_by_identifier("Patient", "https://fhir.nhs.uk/Id/nhs-number", person.nhs_number)
    sock = _listening_socket()
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(gateway), host="127.0.0.1", port=port, log_config=None,
                                           access_log=False, lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
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
        sock.close()
