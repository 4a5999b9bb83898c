from __future__ import annotations

import math
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import orjson
import pytest

import tests.hypothesis_profiles  # noqa: F401  (registers and loads the Hypothesis profile before any test module)
from gateway.settings import Settings
from gateway.testing import initialised_settings
from gateway.wiring import Gateway, build_gateway
from tests.databases import database_for

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """Each test that asks for the database runs on SQLite and on a real PostgreSQL server."""
    with database_for(request.param, tmp_path) as url:
        yield url


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    """A deployment prepared as `gateway init` prepares one (keys and schema)."""
    return initialised_settings(tmp_path, database_url)


@pytest.fixture
def gateway(settings: Settings) -> Iterator[Gateway]:
    gw = build_gateway(settings)
    # Commit ingest batches by message count only: the 0.5 s time bound would move commit boundaries
    # with the machine's speed. A test about the time bound sets batch_seconds itself.
    gw.ingestor.batch_seconds = math.inf
    yield gw
    gw.close()


@pytest.fixture
async def client(gateway: Gateway) -> AsyncIterator[httpx.AsyncClient]:
    """The API through httpx. Every FHIR JSON answer it receives is checked by an independent R4
    validator (tests/r4_validator.py): a test whose responses are not valid R4 fails."""
    from gateway.api.app import create_app
    from tests.r4_validator import problems

    seen: list[tuple[str, bytes]] = []

    async def keep(response: httpx.Response) -> None:
        if response.headers.get("content-type", "").startswith("application/fhir+json"):
            await response.aread()
            seen.append((f"{response.request.method} {response.request.url}", response.content))

    transport = httpx.ASGITransport(app=create_app(gateway))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver",
                                 event_hooks={"response": [keep]}) as c:
        yield c
    invalid = {}
    for where, content in seen:
        found = problems(orjson.loads(content)) if content else []
        if found:
            invalid[where] = found
    assert not invalid, f"responses that are not valid R4: {invalid}"
