"""structlog JSON logs on stdout, each line of a request carrying its request id."""
from __future__ import annotations

import json

import httpx
import pytest
import structlog

from gateway.logging import configure
from gateway.settings import Settings
from gateway.testing import auth_headers
from tests.api.conftest import Loaded


async def test_request_lines_are_json_with_the_request_id(client: httpx.AsyncClient, settings: Settings,
                                                          loaded: Loaded, capsys: pytest.CaptureFixture[str]) -> None:
    configure("info")
    capsys.readouterr()
    try:
        response = await client.get(f"/fhir/Patient/{loaded.patient_id}",
                                    headers={**auth_headers(settings, "gp", loaded.person.practice_ods),
                                             "X-Request-ID": "req-abc-123"})
        output = capsys.readouterr().out
    finally:
        structlog.reset_defaults()
    assert response.headers["x-request-id"] == "req-abc-123"
    lines = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
    request_lines = [line for line in lines if line.get("event") == "http.request"]
    assert request_lines and all(line["request_id"] == "req-abc-123" for line in request_lines)
    assert request_lines[0]["status"] == 200 and "timestamp" in request_lines[0]
