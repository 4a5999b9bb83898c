"""A console-ready gateway (SQLite or PostgreSQL), a copy of the shipped policy (so a test may edit it and publish),
one invented person's GP record and one break-glass request waiting for review."""
from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient

from adapters.synthetic.gp_connect import gp_connect_bundle
from adapters.synthetic.people import Person, invent_people
from gateway.settings import shipped_policy_dir
from gateway.testing import auth_headers, initialised_settings
from gateway.wiring import Gateway, build_gateway
from tests.console.browser import CHROMIUM_ARGS, chromium_path


@dataclass
class Console:
    gateway: Gateway
    person: Person
    policy_dir: Path
    directory: Path


def build_console(directory: Path, database_url: str | None = None, **overrides: object) -> Console:
    policy_dir = directory / "policy"
    shutil.copytree(shipped_policy_dir(), policy_dir)
    settings = initialised_settings(directory, database_url, policy_dir=policy_dir,
                                    console_session_key=str(directory / "console.key"), policy_poll_seconds=0,
                                    **overrides)
    gw = build_gateway(settings)
    person = next(p for p in invent_people(12, seed=3) if p.conditions)
    summary = gw.ingestor.ingest_bytes("gp-connect", orjson.dumps(gp_connect_bundle(person)), "bundle.json")
    assert summary.quarantined == 0 and summary.held_for_review == 0, summary.problems
    return Console(gw, person, policy_dir, directory)


def break_glass(console: Console) -> int:
    """A GP breaks glass on the person's record: a record on the review queue. Returns its seq."""
    from gateway.api.app import create_app

    settings = console.gateway.settings
    headers = auth_headers(settings, "gp", "Y99999", "emergency", user="GP-BG", justification="unconscious in A&E")
    with TestClient(create_app(console.gateway), base_url="https://testserver") as client:
        answer = client.get("/fhir/Patient", params={
            "identifier": f"https://fhir.nhs.uk/Id/nhs-number|{console.person.nhs_number}"}, headers=headers)
    assert answer.status_code == 200, answer.text
    return int(answer.headers["X-Audit-Sequence"])


@pytest.fixture
def console(tmp_path: Path, database_url: str) -> Iterator[Console]:
    """On SQLite and on PostgreSQL (the database_url fixture)."""
    c = build_console(tmp_path, database_url)
    yield c
    c.gateway.close()


# -- the browser tests' browser and page (each browser test module defines its own ``base_url``) --------
@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    sync_api = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS, headless=True)
        yield b
        b.close()


@pytest.fixture
def page(browser: Any, base_url: str) -> Iterator[Any]:
    # bypass_csp: the console's CSP forbids inline scripts; axe-core is injected as one by the test only
    context = browser.new_context(base_url=base_url, bypass_csp=True, locale="en-GB", timezone_id="Europe/London")
    context.set_default_timeout(30_000)
    p = context.new_page()
    yield p
    context.close()
