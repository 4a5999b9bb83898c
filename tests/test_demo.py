"""`gateway demo` loads every source format through the adapters and prints a request that works."""
from __future__ import annotations

import re
from pathlib import Path

from starlette.testclient import TestClient

from gateway.api.app import create_app
from gateway.demo import prepare_demo
from gateway.wiring import build_gateway


def test_demo_loads_all_formats_and_its_example_request_answers(tmp_path: Path) -> None:
    settings, text = prepare_demo(tmp_path / "demo", people=6, port=8080)
    for format in ("gp-connect", "hl7v2", "social-care", "cld", "opt-out"):
        line = next(line for line in text.splitlines() if line.strip().startswith(format))
        stored, quarantined, held = map(int, re.findall(r"(\d+) (?:stored|quarantined|held)", line))
        assert stored > 0 and quarantined == 0 and held == 0, line
    token = re.search(r"export TOKEN='([^']+)'", text).group(1)  # type: ignore[union-attr]
    everything = re.search(r"'http://127\.0\.0\.1:8080(/fhir/Patient/[^']+/\$everything)'", text).group(1)  # type: ignore[union-attr]
    gw = build_gateway(settings)
    person = re.search(r"\(patient-(\d{10})\) to see who looked", text).group(1)  # type: ignore[union-attr]
    with TestClient(create_app(gw)) as client:
        response = client.get(everything, headers={"Authorization": f"Bearer {token}"})
        assert f'value="patient-{person}"' in client.get("/console/login").text  # the sign-in it names exists
    gw.close()
    assert response.status_code == 200
    types = {e["resource"]["resourceType"] for e in response.json()["entry"] if e["search"]["mode"] == "match"}
    assert {"Patient", "CareTeam", "Condition"} <= types
