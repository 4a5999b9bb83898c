"""A record prepared outside the append lock hashes exactly as the whole record would, and a batch
chained in one go (one statement on PostgreSQL) stores every record's patients under its own seq."""
from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson
import pytest
import sqlalchemy as sa
from hypothesis import given
from hypothesis import strategies as st

from gateway.audit import AuditLog, AuditWriteError
from gateway.audit.canonical import canonical, normalise
from gateway.audit.chain import line_hash_ok
from gateway.audit.prepared import Prepared
from gateway.audit.tables import audit_patient, audit_record

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-2**53, 2**53) | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20)
records = st.dictionaries(st.text(max_size=8).filter(lambda k: k not in ("seq", "prev_hash", "hash")), json_values,
                          max_size=6)


@given(records, st.integers(1, 2**62))
def test_the_prepared_body_is_the_canonical_record_with_its_seq(record: dict[str, Any], seq: int) -> None:
    prepared = Prepared.of(record)
    assert prepared.body(seq) == canonical({**prepared.record, "seq": seq})
    assert orjson.loads(prepared.body(seq)) == prepared.entry(seq)


def test_normalise_keeps_non_string_keys_sets_and_datetimes_as_json_reads_them_back() -> None:
    value = {1: "one", "set": {"b", "a"}, "when": datetime(2026, 1, 2, 3, 4, tzinfo=UTC), "pair": ("x", 2)}
    assert normalise(value) == {"1": "one", "set": ["a", "b"], "when": "2026-01-02T03:04:00+00:00", "pair": ["x", 2]}
    assert normalise({"plain": [1, "two"]}) == {"plain": [1, "two"]}


@pytest.mark.parametrize("bad", [["a list"], {"seq": 1}, {"hash": "x"}])
def test_a_record_that_is_not_an_object_or_uses_chain_keys_is_refused(bad: Any) -> None:
    with pytest.raises(AuditWriteError):
        Prepared.of(bad)


def test_a_batch_keeps_each_records_patients_under_its_own_seq(log: AuditLog, make: Any) -> None:
    log.append(make())  # the batch continues a chain
    batch = [make(user="none"), make(user="two"), make(user="one", patient_id="pat-solo", nhs="9000000009")]
    batch[0]["patients"] = []
    batch[0]["requester"] = None  # a request that never got as far as a valid token: every index column empty
    batch[1]["patients"] = [{"id": "pat-a", "nhs_number": "9434765919"}, {"id": "pat-b", "nhs_number": None}]
    with log._serialised(pg_lock=False) as conn:
        entries = log._append_batch_locked(conn, [Prepared.of(r) for r in batch])
    assert [e.seq for e in entries] == [2, 3, 4]
    assert [e.prev_hash for e in entries[1:]] == [e.hash for e in entries[:-1]]
    with log.engine.connect() as conn:
        patients = conn.execute(sa.select(audit_patient.c.seq, audit_patient.c.position, audit_patient.c.patient_id,
                                          audit_patient.c.nhs_number)
                                .where(audit_patient.c.seq >= 2).order_by(audit_patient.c.seq,
                                                                           audit_patient.c.position)).all()
        stored = {r.seq: r for r in conn.execute(sa.select(audit_record).where(audit_record.c.seq >= 2))}
    assert [tuple(p) for p in patients] == [(3, 0, "pat-a", "9434765919"), (3, 1, "pat-b", None),
                                            (4, 0, "pat-solo", "9000000009")]
    for entry in entries:  # the stored body and hash are what the gateway chained
        row = stored[entry.seq]
        assert row.user_id == (entry.record["requester"] or {}).get("user")
        assert line_hash_ok({**orjson.loads(row.body), "prev_hash": row.prev_hash, "hash": row.hash})
    assert log.verify().ok
