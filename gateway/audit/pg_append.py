"""PostgreSQL append in one round trip: the database reads the head, assigns seq, hashes and inserts.

Every round trip made while holding the append lock is time the other gateways wait, so the chain
step runs inside PostgreSQL. The client sends the canonical body split around the seq value
(gateway/audit/prepared.py), and the statement computes ``seq = head + 1``,
``body = prefix || seq || suffix`` and
``hash = sha256(decode(prev_hash, 'hex') || convert_to(body, 'UTF8'))`` — the same bytes the
Python chain hashes, which the caller re-checks before committing. The lock and the statement go
out together in a psycopg pipeline; under READ COMMITTED the statement takes its snapshot after
the lock is granted, so it sees the previous holder's committed head.

A batch of several records takes the lock and reads the head in one round trip (``head_locked``),
is chained by the gateway, and goes in with one statement per table (``insert_rows``)."""
from __future__ import annotations

from typing import Any

import orjson
import psycopg
from sqlalchemy.engine import Connection

from gateway.audit.chain import GENESIS_HASH
from gateway.audit.prepared import Prepared

# The head: the newest record, else the newest prune checkpoint (the log's verified start), else genesis.
_HEAD = """
WITH head AS (
    SELECT seq, hash FROM audit_record ORDER BY seq DESC LIMIT 1
)
SELECT seq, hash FROM head
UNION ALL
SELECT * FROM (SELECT tree_size, body::jsonb ->> 'last_hash' FROM audit_checkpoint
               WHERE kind = 'prune' AND NOT EXISTS (SELECT 1 FROM head)
               ORDER BY tree_size DESC LIMIT 1) AS pruned
UNION ALL
SELECT 0, %(genesis)s WHERE NOT EXISTS (SELECT 1 FROM head)
                        AND NOT EXISTS (SELECT 1 FROM audit_checkpoint WHERE kind = 'prune')
"""

_APPEND = f"""
WITH start AS ({_HEAD}), new AS (
    SELECT seq + 1 AS seq, hash AS prev_hash, %(prefix)s || (seq + 1)::text || %(suffix)s AS body FROM start
), ins AS (
    INSERT INTO audit_record (seq, time, request_id, user_id, org, role, purpose, outcome, categories,
                              needs_review, prev_hash, hash, body)
    SELECT seq, %(time)s, %(request_id)s, %(user_id)s, %(org)s, %(role)s, %(purpose)s, %(outcome)s,
           %(categories)s, %(needs_review)s,
           prev_hash, encode(sha256(decode(prev_hash, 'hex') || convert_to(body, 'UTF8')), 'hex'), body
    FROM new
    RETURNING seq, prev_hash, hash, body
), patients AS (
    INSERT INTO audit_patient (seq, position, patient_id, nhs_number)
    SELECT ins.seq, p.position, p.patient_id, p.nhs_number
    FROM ins, jsonb_to_recordset(CAST(%(patients)s AS jsonb)) AS p(position int, patient_id text, nhs_number text)
)
SELECT seq, prev_hash, hash, body FROM ins
"""

# A batch's rows as column arrays: one statement per table, however many records.
_RECORD_COLUMNS = {"seq": "bigint", "time": "timestamptz", "request_id": "text", "user_id": "text", "org": "text",
                   "role": "text", "purpose": "text", "outcome": "text", "categories": "text",
                   "needs_review": "boolean", "prev_hash": "text", "hash": "text", "body": "text"}
_PATIENT_COLUMNS = {"seq": "bigint", "position": "integer", "patient_id": "text", "nhs_number": "text"}


def _insert_unnest(table: str, columns: dict[str, str]) -> str:
    arrays = ", ".join(f"%({name})s::{kind}[]" for name, kind in columns.items())
    return f"INSERT INTO {table} ({', '.join(columns)}) SELECT * FROM unnest({arrays})"


_INSERT_RECORDS = _insert_unnest("audit_record", _RECORD_COLUMNS)
_INSERT_PATIENTS = _insert_unnest("audit_patient", _PATIENT_COLUMNS)


def _psycopg(conn: Connection) -> psycopg.Connection[Any] | None:
    raw = conn.connection.driver_connection
    return raw if isinstance(raw, psycopg.Connection) else None


def head_locked(conn: Connection, lock_key: int) -> tuple[int, str] | None:
    """Take the append lock and read the head in one round trip. None when the driver is not
    psycopg 3 (the caller then takes the portable path)."""
    raw = _psycopg(conn)
    if raw is None:
        return None
    with raw.pipeline():
        raw.execute("SELECT pg_advisory_xact_lock(%s)", (lock_key,))
        cursor = raw.execute(_HEAD, {"genesis": GENESIS_HASH})
    row = cursor.fetchone()
    if row is None:
        raise RuntimeError("the head query returned no row")
    return int(row[0]), str(row[1])


def insert_rows(conn: Connection, rows: list[dict[str, Any]], patients: list[dict[str, Any]]) -> None:
    """A batch's chained rows (hashed by the gateway) in one pipelined round trip."""
    raw = _psycopg(conn)
    assert raw is not None, "insert_rows follows head_locked"
    with raw.pipeline():
        raw.execute(_INSERT_RECORDS, {name: [row[name] for row in rows] for name in _RECORD_COLUMNS})
        if patients:
            raw.execute(_INSERT_PATIENTS, {name: [row[name] for row in patients] for name in _PATIENT_COLUMNS})


def append_one(conn: Connection, lock_key: int, item: Prepared) -> tuple[int, str, str, str] | None:
    """Take the append lock and insert one record, in one round trip: (seq, prev_hash, hash, body).
    None when the driver is not psycopg 3 (the caller then takes the portable path)."""
    raw = _psycopg(conn)
    if raw is None:
        return None
    params = {"genesis": GENESIS_HASH, "prefix": item.prefix.decode(), "suffix": item.suffix.decode(),
              "patients": orjson.dumps(item.patients).decode(), **item.index}
    with raw.pipeline():
        raw.execute("SELECT pg_advisory_xact_lock(%s)", (lock_key,))
        cursor = raw.execute(_APPEND, params)
    row = cursor.fetchone()
    if row is None:
        raise RuntimeError("the append statement returned no row")
    return int(row[0]), str(row[1]), str(row[2]), str(row[3])
