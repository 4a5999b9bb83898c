"""The real HTTP server's own limits (uvicorn's) must not turn a refusal into a plain-text answer: a
URL of 64 KB and more gets the gateway's 414 OperationOutcome."""
from __future__ import annotations

import socket
from pathlib import Path

import orjson

from bench.mix import load_people
from bench.served import ServedGateway
from gateway.settings import Settings
from gateway.testing import auth_headers


def _raw_get(port: int, target: str, headers: dict[str, str]) -> tuple[int, str, bytes]:
    request = f"GET {target} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n" + "".join(
        f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n"
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(request.encode())
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    fields = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    return int(lines[0].split()[1]), fields.get("content-type", ""), body


def test_a_long_url_gets_an_operation_outcome_from_the_real_server(settings: Settings, tmp_path: Path) -> None:
    [target] = load_people(settings, 1)
    server = ServedGateway(settings, tmp_path)
    try:
        headers = auth_headers(settings, "gp", target.person.practice_ods)
        for size in (10_000, 60_000, 70_000, 200_000):  # httpx refuses to send more than 64 KB: a raw socket
            status, content_type, body = _raw_get(server.port, "/fhir/Patient?name=" + "a" * size, headers)
            assert status == 414, (size, status, body[:200])
            assert content_type == "application/fhir+json" and orjson.loads(body)["resourceType"] == "OperationOutcome"
    finally:
        server.close()
