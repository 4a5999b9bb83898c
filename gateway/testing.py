"""Helpers our own tests and IG staff's policy tests share: settings in a temp dir, a database per
test (SQLite or a real PostgreSQL), requesters and tokens, and a loaded synthetic record."""
from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from adapters.base import MappedRecord, Rejected
from gateway.auth import mint_token
from gateway.ingest.validate import problem
from gateway.initialise import initialise
from gateway.requester import Requester
from gateway.settings import Settings
from gateway.wiring import build_gateway

POSTGRES_ENV = "GATEWAY_TEST_POSTGRES_URL"


def requester(role: str = "gp", org: str = "P81001", purpose: str = "direct_care", **claims: str) -> Requester:
    return Requester(user=claims.pop("user", f"{role}-user"), name=claims.pop("name", f"Test {role}"), role=role,
                     org=org, purpose=purpose, **claims)


def settings_for(directory: Path, database_url: str | None = None, **overrides: Any) -> Settings:
    return Settings(
        database_url=database_url or f"sqlite:///{directory / 'gateway.sqlite'}",
        jwks=str(directory / "jwks.json"),
        signing_jwks=str(directory / "signing-jwks.json"),
        audit_key=str(directory / "audit-ed25519.pem"),
        policy_cache_dir=str(directory / "policy-cache"),
        **overrides,
    )


def initialised_settings(directory: Path, database_url: str | None = None, **overrides: object) -> Settings:
    """Settings for a deployment prepared as `gateway init` prepares one (keys and schema)."""
    settings = settings_for(directory, database_url, **overrides)
    initialise(settings)
    return settings


@contextmanager
def fresh_postgres_database() -> Iterator[str]:
    """A new, empty database on the PostgreSQL server named by GATEWAY_TEST_POSTGRES_URL, dropped afterwards."""
    admin_url = os.environ[POSTGRES_ENV]
    name = f"gw_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        yield sa.make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@contextmanager
def empty_gateway_like(like: Any, directory: Path) -> Iterator[Any]:
    """A second, empty gateway on the same kind of database as ``like`` (a fresh SQLite file, or a
    fresh PostgreSQL database): for comparing two ways of ingesting the same inputs."""
    directory.mkdir(parents=True, exist_ok=True)
    if like.engine.dialect.name == "sqlite":
        gw = build_gateway(initialised_settings(directory, f"sqlite:///{directory / 'second.sqlite'}"))
        try:
            yield gw
        finally:
            gw.close()
        return
    with fresh_postgres_database() as url:
        gw = build_gateway(initialised_settings(directory, url))
        try:
            yield gw
        finally:
            gw.close()


def token(settings: Settings, role: str = "gp", org: str = "P81001", purpose: str = "direct_care",
          **claims: str) -> str:
    return mint_token(settings, user=claims.pop("user", f"{role}-user"), role=role, org=org, purpose=purpose,
                      **claims)


def auth_headers(settings: Settings, role: str = "gp", org: str = "P81001", purpose: str = "direct_care",
                 **claims: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token(settings, role, org, purpose, **claims)}"}


def run_adapter(adapter: Any, raw: bytes, origin: str) -> tuple[list[Any], list[Any], list[Any]]:
    """Parse and map like the pipeline does: (messages, records, rejected); every record must be valid R4."""
    messages: list[Any] = []
    records: list[Any] = []
    rejected: list[Any] = []
    for item in adapter.parse(raw, origin):
        if isinstance(item, Rejected):
            rejected.append(item)
            continue
        messages.append(item)
        for out in adapter.map(item):
            (records if isinstance(out, MappedRecord) else rejected).append(out)
    for record in records:
        assert problem(record.resource) is None, (record.location, problem(record.resource))
    return messages, records, rejected


def references(value: object) -> list[str]:
    """Every ``reference`` string anywhere in a resource."""
    if isinstance(value, dict):
        found = [value["reference"]] if isinstance(value.get("reference"), str) else []
        return found + [r for v in value.values() for r in references(v)]
    if isinstance(value, list):
        return [r for v in value for r in references(v)]
    return []
