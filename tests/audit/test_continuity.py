"""An auditor's earlier export anchors the log: rewrites and cut-backs since then are caught even
when the chain and its signatures are internally consistent (say, redone by a key holder)."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest
import sqlalchemy as sa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from gateway.audit import AuditLog, verify_export
from gateway.audit.canonical import canonical
from gateway.audit.chain import GENESIS_HASH, link
from gateway.audit.tables import audit_checkpoint, audit_patient, audit_record


@pytest.fixture
def earlier(filled: AuditLog, tmp_path: Path) -> Path:
    filled.export(tmp_path / "earlier")  # records 1..10
    return tmp_path / "earlier"


def test_a_log_that_grew_extends_the_earlier_export(filled: AuditLog, earlier: Path, make: Any,
                                                    tmp_path: Path) -> None:
    for _ in range(3):
        filled.append(make())
    filled.export(tmp_path / "later")
    assert verify_export(tmp_path / "later", previous=earlier).ok
    result = filled.verify(previous=earlier)
    assert result.ok and "extends" in result.reason


def test_a_rewrite_resigned_by_the_key_holder_is_caught(filled: AuditLog, earlier: Path, tmp_path: Path) -> None:
    with filled.engine.begin() as conn:
        rows = conn.execute(sa.select(audit_record).order_by(audit_record.c.seq)).all()
        prev = GENESIS_HASH
        for row in rows:
            body = orjson.loads(row.body)
            if row.seq == 5:
                body["purpose"] = "direct_care-rewritten"
            digest = link(prev, canonical(body))
            conn.execute(audit_record.update().where(audit_record.c.seq == row.seq)
                         .values(prev_hash=prev, hash=digest, body=canonical(body).decode(), purpose=body["purpose"]))
            prev = digest
        conn.execute(audit_checkpoint.delete())
    filled.checkpoint()  # re-signed: internally the log is consistent again
    assert filled.verify().ok
    result = filled.verify(previous=earlier)
    assert not result.ok and result.first_bad_seq == 5 and "rewritten" in result.reason
    filled.export(tmp_path / "later")
    assert verify_export(tmp_path / "later").ok
    offline = verify_export(tmp_path / "later", previous=earlier)
    assert not offline.ok and offline.first_bad_seq == 5


def test_a_cut_back_log_is_caught(filled: AuditLog, earlier: Path) -> None:
    with filled.engine.begin() as conn:
        conn.execute(audit_patient.delete().where(audit_patient.c.seq > 8))
        conn.execute(audit_record.delete().where(audit_record.c.seq > 8))
        conn.execute(audit_checkpoint.delete().where(audit_checkpoint.c.tree_size > 8))
    assert filled.verify().ok  # nothing inside the database shows it
    result = filled.verify(previous=earlier)
    assert not result.ok and result.first_bad_seq == 9 and "truncated" in result.reason


def test_an_export_under_another_key_is_refused(filled: AuditLog, earlier: Path, tmp_path: Path) -> None:
    other = AuditLog(filled.engine, Ed25519PrivateKey.generate())
    other_dir = tmp_path / "other"
    with filled.engine.begin() as conn:
        conn.execute(audit_checkpoint.delete())
    other.export(other_dir)
    assert verify_export(other_dir).ok
    result = verify_export(other_dir, previous=earlier)
    assert not result.ok and "different key" in result.reason
