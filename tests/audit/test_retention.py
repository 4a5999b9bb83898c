"""Pruning keeps the rest of the chain verifiable from a signed start checkpoint."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
import sqlalchemy as sa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from gateway.audit import AuditLog, public_key_pem, verify_export, verify_proof
from gateway.audit.tables import audit_checkpoint, audit_record

OLD = datetime(2020, 1, 1, tzinfo=UTC)


@pytest.fixture
def aged(log: AuditLog, make: Any) -> AuditLog:
    for i in range(7):  # records 1..7 are old, 8..12 recent
        log.append(make(time=(OLD + timedelta(days=i)).isoformat()))
    for _ in range(5):
        log.append(make())
    return log


def test_prune_deletes_old_records_and_verify_still_passes(aged: AuditLog) -> None:
    assert aged.prune(OLD + timedelta(days=30)) == 7
    assert [e.seq for e in aged.search(limit=None)] == [8, 9, 10, 11, 12]
    result = aged.verify()
    assert result.ok and result.checked == 5


def test_prune_checkpoint_records_the_last_pruned_hash(aged: AuditLog, key: Ed25519PrivateKey) -> None:
    last_pruned = aged.entry(7)
    aged.prune(OLD + timedelta(days=30))
    with aged.engine.connect() as conn:
        body = conn.execute(sa.select(audit_checkpoint.c.body).where(audit_checkpoint.c.kind == "prune")).scalar_one()
    start = orjson.loads(body)
    assert last_pruned is not None
    assert start["tree_size"] == 7 and start["last_hash"] == last_pruned.hash


def test_appends_continue_the_chain_after_pruning_everything(aged: AuditLog, make: Any) -> None:
    assert aged.prune(datetime.now(UTC) + timedelta(days=1)) == 12
    assert aged.verify().ok
    entry = aged.append(make())
    assert entry.seq == 13
    assert aged.verify().ok and aged.verify().checked == 1


def test_export_and_proofs_after_pruning(aged: AuditLog, key: Ed25519PrivateKey, tmp_path: Path) -> None:
    aged.prune(OLD + timedelta(days=30))
    aged.export(tmp_path / "out")
    assert verify_export(tmp_path / "out").ok
    for seq in range(8, 13):
        assert verify_proof(aged.prove(seq), public_key_pem(key))
    with pytest.raises(LookupError):
        aged.prove(3)


def test_tampering_after_pruning_is_still_detected(aged: AuditLog) -> None:
    aged.prune(OLD + timedelta(days=30))
    with aged.engine.begin() as conn:
        conn.execute(audit_record.update().where(audit_record.c.seq == 8)
                     .values(prev_hash="11" * 32))
    result = aged.verify()
    assert not result.ok and result.first_bad_seq == 8


def test_removing_the_prune_checkpoint_is_detected(aged: AuditLog) -> None:
    aged.prune(OLD + timedelta(days=30))
    with aged.engine.begin() as conn:
        conn.execute(audit_checkpoint.delete().where(audit_checkpoint.c.kind == "prune"))
    result = aged.verify()
    assert not result.ok and result.first_bad_seq == 1


def test_prune_never_removes_a_record_newer_than_the_cutoff(log: AuditLog, make: Any) -> None:
    log.append(make(time=OLD.isoformat()))
    log.append(make())  # new, between two old ones
    log.append(make(time=OLD.isoformat()))
    assert log.prune(OLD + timedelta(days=1)) == 1
    assert [e.seq for e in log.search(limit=None)] == [2, 3]
    assert log.verify().ok
