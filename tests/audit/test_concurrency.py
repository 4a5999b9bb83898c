"""Several gateway processes writing to one database still produce one verifiable chain."""
from __future__ import annotations

import itertools
import subprocess
import sys
import time
from pathlib import Path

import pytest
import sqlalchemy as sa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from gateway.audit import AuditLog, verify_export
from gateway.audit.tables import audit_record, metadata
from gateway.store.database import make_engine

from .conftest import AUDIT_TABLES, PG_URL, pg_engine

WRITER = r"""
import sys, time
from pathlib import Path
import sqlalchemy as sa
from gateway.audit import AuditLog, load_or_create_signing_key
url, schema, key_path, go, tag, n = sys.argv[1:7]
from gateway.store.database import make_engine
if schema:
    engine = sa.create_engine(url, connect_args={"options": f"-csearch_path={schema}"})
else:
    engine = make_engine(url)  # the gateway's SQLite settings: WAL, synchronous=FULL, 30 s busy timeout
log = AuditLog(engine, load_or_create_signing_key(Path(key_path)), checkpoint_every=16)
log.search(limit=1)  # connect before saying ready, so both writers start appending at the same moment
Path(go + "." + tag).touch()  # ready
while not Path(go).exists():
    time.sleep(0.005)
for i in range(int(n)):
    log.append({"requester": {"user": tag}, "request_id": f"{tag}-{i}", "outcome": "disclosed"})
"""

PER_PROCESS = 150


def run_writers(url: str, schema: str, key_path: Path, tmp_path: Path, reader: AuditLog) -> None:
    """Two writer processes; meanwhile this process exports, and each export must verify offline."""
    go = tmp_path / "go"
    procs = [subprocess.Popen([sys.executable, "-c", WRITER, url, schema, str(key_path), str(go), tag,
                               str(PER_PROCESS)], stderr=subprocess.PIPE)
             for tag in ("writer-a", "writer-b")]
    deadline = time.monotonic() + 120
    while not all((tmp_path / f"go.{tag}").exists() for tag in ("writer-a", "writer-b")):
        assert time.monotonic() < deadline, "writers never became ready"
        assert all(proc.poll() is None for proc in procs), "a writer died before starting"
        time.sleep(0.01)
    go.touch()  # both imported and connected: start together
    exports = 0
    while exports == 0 or (any(proc.poll() is None for proc in procs) and exports < 5):
        out = tmp_path / f"export-{exports}"
        reader.export(out)
        result = verify_export(out)
        assert result.ok, result.reason
        exports += 1
        time.sleep(0.05)
    for proc in procs:
        _, err = proc.communicate(timeout=240)
        assert proc.returncode == 0, err.decode()


def check_one_chain(log: AuditLog, min_switches: int) -> None:
    result = log.verify()
    assert result.ok, result.reason
    assert result.checked == 2 * PER_PROCESS
    with log.engine.connect() as conn:
        rows = conn.execute(sa.select(audit_record.c.seq, audit_record.c.user_id).order_by(audit_record.c.seq)).all()
    assert [r.seq for r in rows] == list(range(1, 2 * PER_PROCESS + 1))
    users = [r.user_id for r in rows]
    assert users.count("writer-a") == users.count("writer-b") == PER_PROCESS
    # The writers really interleaved (otherwise this test proves nothing about serialisation).
    switches = sum(1 for a, b in itertools.pairwise(users) if a != b)
    assert switches >= min_switches


@pytest.mark.postgres
def test_two_processes_append_concurrently_on_postgresql(pg_schema: str, key: Ed25519PrivateKey,
                                                          tmp_path: Path) -> None:
    assert PG_URL
    engine = pg_engine(PG_URL, pg_schema)
    metadata.drop_all(engine, tables=AUDIT_TABLES)
    metadata.create_all(engine, tables=AUDIT_TABLES)
    log = AuditLog(engine, key)
    run_writers(PG_URL, pg_schema, tmp_path / "keys" / "audit.pem", tmp_path, log)
    check_one_chain(log, min_switches=3)
    engine.dispose()


def test_two_processes_append_concurrently_on_sqlite(key: Ed25519PrivateKey, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'shared.sqlite'}"
    engine = make_engine(url)
    metadata.create_all(engine, tables=AUDIT_TABLES)
    log = AuditLog(engine, key)
    run_writers(url, "", tmp_path / "keys" / "audit.pem", tmp_path, log)
    # SQLite's busy handler is not fair, so the writers take turns in long runs; one hand-over suffices.
    check_one_chain(log, min_switches=1)
    engine.dispose()
