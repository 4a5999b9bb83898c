"""Audit tests run on SQLite and, when GATEWAY_TEST_POSTGRES_URL is set, on PostgreSQL.

PostgreSQL tests use a private schema per session, so they never touch other suites' tables."""
from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy.engine import Engine

from gateway.audit import AuditLog, load_or_create_signing_key
from gateway.audit.tables import audit_checkpoint, audit_patient, audit_record, metadata
from gateway.store.database import make_engine

AUDIT_TABLES = [audit_record, audit_patient, audit_checkpoint]
PG_URL = os.environ.get("GATEWAY_TEST_POSTGRES_URL")


def pg_engine(url: str, schema: str) -> Engine:
    return sa.create_engine(url, connect_args={"options": f"-csearch_path={schema}"})


@pytest.fixture(scope="session")
def pg_schema() -> Iterator[str]:
    if not PG_URL:
        pytest.skip("GATEWAY_TEST_POSTGRES_URL is not set")
    schema = f"audit_test_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(PG_URL)
    with admin.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    yield schema
    with admin.begin() as conn:
        conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    if request.param == "sqlite":
        eng = make_engine(f"sqlite:///{tmp_path / 'audit.sqlite'}")
    else:
        eng = pg_engine(PG_URL or "", request.getfixturevalue("pg_schema"))
        metadata.drop_all(eng, tables=AUDIT_TABLES)
    metadata.create_all(eng, tables=AUDIT_TABLES)
    yield eng
    eng.dispose()


@pytest.fixture
def key(tmp_path: Path) -> Ed25519PrivateKey:
    return load_or_create_signing_key(tmp_path / "keys" / "audit.pem")


@pytest.fixture
def log(engine: Engine, key: Ed25519PrivateKey) -> AuditLog:
    return AuditLog(engine, key, checkpoint_every=4)


def make_record(*, user: str = "G1234567", role: str = "gp", org: str = "A81001", purpose: str = "direct_care",
                outcome: str = "disclosed", nhs: str = "9434765919", patient_id: str = "pat-1",
                categories: tuple[str, ...] = ("clinical",), obligations: tuple[str, ...] = (),
                time: str | None = None, relationship: bool | None = True, status: int = 200,
                resources: tuple[str, ...] = ("Condition/c1",)) -> dict[str, Any]:
    record: dict[str, Any] = {
        "request_id": uuid.uuid4().hex,
        "requester": {"user": user, "name": f"Dr {user}", "role": role, "org": org},
        "purpose": purpose, "justification": None,
        "patients": [{"id": patient_id, "nhs_number": nhs}],
        "items": {"released": [{"ref": ref, "rule_ids": ["gp-clinical"], "categories": list(categories)}
                               for ref in resources],
                  "redacted": [], "noticed": [], "hidden": []},
        "policy_version": "sha256:abc", "outcome": outcome, "status": status,
        "obligations": list(obligations), "client": "test-client",
        "interaction": "Patient/$everything", "categories": list(categories), "relationship": relationship,
    }
    if time is not None:
        record["time"] = time
    return record


@pytest.fixture
def filled(log: AuditLog) -> AuditLog:
    """A log of 10 records (checkpoints at 4 and 8)."""
    for i in range(10):
        log.append(make_record(user=f"user{i % 3}", patient_id=f"pat-{i}"))
    return log


@pytest.fixture
def make() -> Any:
    """The record factory (a fixture, so test modules need not import conftest)."""
    return make_record
