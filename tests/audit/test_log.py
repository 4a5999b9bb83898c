"""Append and verify on the live database; checkpoints; failing closed."""
from __future__ import annotations

from typing import Any

import orjson
import pytest
import sqlalchemy as sa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from gateway.audit import AuditLog, AuditWriteError, Checkpoint
from gateway.audit.canonical import canonical
from gateway.audit.chain import GENESIS_HASH, link
from gateway.audit.signing import signature_ok
from gateway.audit.tables import audit_checkpoint, audit_patient, audit_record


def test_append_chains_records_and_verify_passes(log: AuditLog, make: Any) -> None:
    first = log.append(make())
    second = log.append(make(user="other"))
    assert (first.seq, second.seq) == (1, 2)
    assert first.prev_hash == GENESIS_HASH and second.prev_hash == first.hash
    assert second.hash == link(first.hash, canonical(second.record))
    assert second.record["seq"] == 2 and "time" in second.record
    result = log.verify()
    assert result.ok and result.checked == 2 and result.first_bad_seq is None


def test_the_record_given_is_stored_as_json(log: AuditLog, make: Any) -> None:
    entry = log.append(make(time="2026-01-02T03:04:05+00:00") | {"extra": {"b", "a"}})
    stored = log.entry(entry.seq)
    assert stored is not None and stored.record == entry.record
    assert stored.record["extra"] == ["a", "b"]
    assert stored.time.isoformat() == "2026-01-02T03:04:05+00:00"


def test_reserved_keys_are_refused(log: AuditLog, make: Any) -> None:
    with pytest.raises(AuditWriteError):
        log.append(make() | {"hash": "0" * 64})
    assert log.verify().checked == 0


def test_periodic_checkpoints_are_signed_with_the_key(filled: AuditLog, key: Ed25519PrivateKey) -> None:
    with filled.engine.connect() as conn:
        rows = conn.execute(sa.select(audit_checkpoint.c.body).order_by(audit_checkpoint.c.tree_size)).all()
    checkpoints = [orjson.loads(r.body) for r in rows]
    assert [c["tree_size"] for c in checkpoints] == [4, 8]
    assert all(c["kind"] == "periodic" for c in checkpoints)
    assert all(signature_ok(c, key.public_key()) for c in checkpoints)
    assert not any(signature_ok(c, Ed25519PrivateKey.generate().public_key()) for c in checkpoints)
    forged = checkpoints[0] | {"tree_size": 3}
    assert not signature_ok(forged, key.public_key())


def test_manual_checkpoint_covers_every_record(filled: AuditLog, key: Ed25519PrivateKey) -> None:
    cp = filled.checkpoint()
    assert isinstance(cp, Checkpoint)
    assert cp.tree_size == 10 and cp.last_hash == filled.search(limit=None)[-1].hash
    assert signature_ok(cp.as_dict(), key.public_key())


def test_append_fails_closed_when_the_table_is_gone(log: AuditLog, make: Any) -> None:
    log.append(make())
    audit_patient.drop(log.engine)
    audit_record.drop(log.engine)
    with pytest.raises(AuditWriteError):
        log.append(make())


def test_append_fails_closed_on_a_read_only_database(tmp_path: Any, key: Ed25519PrivateKey, make: Any) -> None:
    from gateway.audit.tables import metadata

    path = tmp_path / "ro.sqlite"
    writable = sa.create_engine(f"sqlite:///{path}")
    metadata.create_all(writable, tables=[audit_record, audit_patient, audit_checkpoint])
    AuditLog(writable, key).append(make())
    writable.dispose()
    readonly = sa.create_engine(f"sqlite:///file:{path}?mode=ro&uri=true")
    with pytest.raises(AuditWriteError):
        AuditLog(readonly, key).append(make())
    assert AuditLog(readonly, key).verify().checked == 1


def test_verify_names_a_record_edited_in_the_database(filled: AuditLog) -> None:
    with filled.engine.begin() as conn:
        body = orjson.loads(conn.execute(sa.select(audit_record.c.body).where(audit_record.c.seq == 6)).scalar_one())
        body["outcome"] = "refused"
        conn.execute(audit_record.update().where(audit_record.c.seq == 6).values(body=canonical(body).decode()))
    result = filled.verify()
    assert not result.ok and result.first_bad_seq == 6 and "6" in result.reason


def test_verify_detects_a_record_deleted_from_the_database(filled: AuditLog) -> None:
    with filled.engine.begin() as conn:
        conn.execute(audit_patient.delete().where(audit_patient.c.seq == 3))
        conn.execute(audit_record.delete().where(audit_record.c.seq == 3))
    result = filled.verify()
    assert not result.ok and result.first_bad_seq == 3


def test_verify_detects_the_newest_records_deleted(filled: AuditLog) -> None:
    # Records 9 and 10 are after the last periodic checkpoint: a manual one covers them first.
    filled.checkpoint()
    with filled.engine.begin() as conn:
        conn.execute(audit_patient.delete().where(audit_patient.c.seq >= 9))
        conn.execute(audit_record.delete().where(audit_record.c.seq >= 9))
    result = filled.verify()
    assert not result.ok and result.first_bad_seq == 9 and "truncated" in result.reason


def test_verify_detects_a_rewritten_chain_through_the_checkpoint(filled: AuditLog) -> None:
    """An insider who edits record 2 (and its index) and recomputes every later hash still breaks
    checkpoint 4."""
    with filled.engine.begin() as conn:
        rows = conn.execute(sa.select(audit_record).order_by(audit_record.c.seq)).all()
        prev = GENESIS_HASH
        for row in rows:
            body = orjson.loads(row.body)
            if row.seq == 2:
                body["requester"]["user"] = "someone-else"
            digest = link(prev, canonical(body))
            conn.execute(audit_record.update().where(audit_record.c.seq == row.seq)
                         .values(prev_hash=prev, hash=digest, body=canonical(body).decode(),
                                 user_id=body["requester"]["user"]))
            prev = digest
    result = filled.verify()
    assert not result.ok and result.first_bad_seq == 1 and "checkpoint" in result.reason


def test_verify_detects_a_seq_column_edited_apart_from_the_body(filled: AuditLog) -> None:
    with filled.engine.begin() as conn:
        conn.execute(audit_patient.delete().where(audit_patient.c.seq == 10))
        conn.execute(audit_record.update().where(audit_record.c.seq == 10).values(seq=11))
    result = filled.verify()
    assert not result.ok and result.first_bad_seq == 10


@pytest.mark.parametrize(("column", "value"), [("user_id", "someone-else"), ("outcome", "refused"),
                                                ("needs_review", True), ("categories", "")])
def test_verify_detects_an_edited_search_index(filled: AuditLog, column: str, value: Any) -> None:
    """Hiding a disclosure from searches by editing the index is caught, naming the record."""
    with filled.engine.begin() as conn:
        conn.execute(audit_record.update().where(audit_record.c.seq == 7).values({column: value}))
    result = filled.verify()
    assert not result.ok and result.first_bad_seq == 7 and column in result.reason


def test_verify_detects_an_edited_patient_index(filled: AuditLog) -> None:
    with filled.engine.begin() as conn:
        conn.execute(audit_patient.update().where(audit_patient.c.seq == 5).values(nhs_number="9999999999"))
    result = filled.verify()
    assert not result.ok and result.first_bad_seq == 5 and "patient" in result.reason


def test_verify_detects_a_removed_patient_index_row(filled: AuditLog) -> None:
    with filled.engine.begin() as conn:
        conn.execute(audit_patient.delete().where(audit_patient.c.seq == 2))
    result = filled.verify()
    assert not result.ok and result.first_bad_seq == 2


def test_awkward_content_hashes_the_same_in_the_database_and_in_python(log: AuditLog, make: Any) -> None:
    """On PostgreSQL the database computes the hash; every byte must match the Python chain."""
    odd = make() | {"note": "Zoë 🙂 \u2028 tab\t nul\u0000 quote\" back\\slash </script>",
                    "nested": {"seq": 0, "prev_hash": "x", "hash": "y"}, "big": 2**62, "neg": -1, "f": 0.1,
                    "empty": {}, "list": [None, True, False, ""]}
    first = log.append(odd)
    second = log.append(make(nhs="9434765870"))
    assert second.prev_hash == first.hash
    stored = log.entry(first.seq)
    assert stored is not None and stored.record == first.record and stored.hash == first.hash
    assert log.verify().ok


def test_without_a_key_appends_work_and_verify_checks_the_chain(engine: Any, make: Any) -> None:
    unsigned = AuditLog(engine)  # no key: no checkpoints, nothing to sign
    for _ in range(5):
        unsigned.append(make())
    assert unsigned.verify().ok
    with pytest.raises(RuntimeError):
        unsigned.checkpoint()
    with engine.begin() as conn:
        conn.execute(audit_record.update().where(audit_record.c.seq == 2).values(prev_hash="22" * 32))
    assert unsigned.verify().first_bad_seq == 2


def test_the_portable_append_path_keeps_the_same_chain(log: AuditLog, make: Any,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """PostgreSQL falls back to the portable path when the driver is not psycopg 3; both paths must
    write the same chain (on SQLite this is the only path)."""
    from gateway.audit import pg_append

    log.append(make())
    monkeypatch.setattr(pg_append, "_psycopg", lambda conn: None)
    log.append(make())
    log.append(make())
    monkeypatch.undo()
    log.append(make())
    result = log.verify()
    assert result.ok and result.checked == 4
