"""PostgreSQL append in one round trip: the database reads the head, assigns seq, hashes and inserts.

Every round trip made while holding the append lock is time the other gateways wait, so the chain
step runs inside PostgreSQL. The client sends the canonical body split around the seq value
(sorted keys put ``"seq"`` in the same place whatever its value), and the statement computes
``seq = head + 1``, ``body = prefix || seq || suffix`` and
``hash = sha256(decode(prev_hash, 'hex') || convert_to(body, 'UTF8'))`` — the same bytes the
Python chain hashes, which the caller re-checks before committing. The lock and the statement go
out together in a psycopg pipeline; under READ COMMITTED the statement takes its snapshot after
the lock is granted, so it sees the previous holder's committed head."""
from __future__ import annotations

import uuid
from typing import Any

import orjson
import psycopg
from sqlalchemy.engine import Connection

from gateway.audit.canonical import canonical
from gateway.audit.chain import GENESIS_HASH

_APPEND = """
WITH head AS (
    SELECT seq, hash FROM audit_record ORDER BY seq DESC LIMIT 1
), start AS (  -- empty table: the newest prune checkpoint, else genesis
    SELECT seq, hash FROM head
    UNION ALL
    SELECT * FROM (SELECT tree_size, body::jsonb ->> 'last_hash' FROM audit_checkpoint
                   WHERE kind = 'prune' AND NOT EXISTS (SELECT 1 FROM head)
                   ORDER BY tree_size DESC LIMIT 1) AS pruned
    UNION ALL
    SELECT 0, %(genesis)s WHERE NOT EXISTS (SELECT 1 FROM head)
                            AND NOT EXISTS (SELECT 1 FROM audit_checkpoint WHERE kind = 'prune')
), new AS (
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
_INSERT_RECORD = """
INSERT INTO audit_record (seq, time, request_id, user_id, org, role, purpose, outcome, categories, needs_review,
                          prev_hash, hash, body)
VALUES (%(seq)s, %(time)s, %(request_id)s, %(user_id)s, %(org)s, %(role)s, %(purpose)s, %(outcome)s,
        %(categories)s, %(needs_review)s, %(prev_hash)s, %(hash)s, %(body)s)
"""
_INSERT_PATIENT = """
INSERT INTO audit_patient (seq, position, patient_id, nhs_number)
VALUES (%(seq)s, %(position)s, %(patient_id)s, %(nhs_number)s)
"""


def head_locked(conn: Connection, lock_key: int) -> tuple[int, str] | None:
    """Take the append lock and read the head (the newest record, else the newest prune
    checkpoint, else genesis) in one round trip. None when the driver is not psycopg 3."""
    raw = conn.connection.driver_connection
    if not isinstance(raw, psycopg.Connection):
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
    raw = conn.connection.driver_connection
    with raw.pipeline(), raw.cursor() as cursor:
        cursor.executemany(_INSERT_RECORD, rows)
        if patients:
            cursor.executemany(_INSERT_PATIENT, patients)


def split_body(record: dict[str, Any]) -> tuple[str, str] | None:
    """The canonical body of ``record`` with seq added, split where the seq value goes."""
    sentinel = "\x00" + uuid.uuid4().hex  # cannot occur in a record by chance
    parts = canonical({**record, "seq": sentinel}).split(orjson.dumps(sentinel))
    if len(parts) != 2:
        return None
    return parts[0].decode(), parts[1].decode()


def append(conn: Connection, lock_key: int, record: dict[str, Any], index: dict[str, Any],
           patients: list[dict[str, Any]]) -> tuple[int, str, str, str] | None:
    """Take the append lock (re-entrant if already held) and insert, in one round trip.

    Returns (seq, prev_hash, hash, body); None when the record cannot be split or the driver is
    not psycopg 3 — the caller then takes the portable path."""
    done = append_many(conn, lock_key, [(record, index, patients)])
    return None if done is None else done[0]


def append_many(conn: Connection, lock_key: int,
                items: list[tuple[dict[str, Any], dict[str, Any], list[dict[str, Any]]]]
                ) -> list[tuple[int, str, str, str]] | None:
    """A group commit's chain steps: the lock and one append statement per record, sent together
    in one pipeline (one round trip). Each statement sees the rows the earlier ones inserted (same
    transaction), so the batch extends the chain in order. None when a record cannot be split or
    the driver is not psycopg 3 — the caller then takes the portable path for the whole batch."""
    raw = conn.connection.driver_connection
    if not isinstance(raw, psycopg.Connection):
        return None
    params = []
    for record, index, patients in items:
        split = split_body(record)
        if split is None:
            return None
        rows = [{"position": p["position"], "patient_id": p["patient_id"], "nhs_number": p["nhs_number"]}
                for p in patients]
        params.append({"genesis": GENESIS_HASH, "prefix": split[0], "suffix": split[1],
                       "patients": orjson.dumps(rows).decode(), **index})
    with raw.pipeline():
        raw.execute("SELECT pg_advisory_xact_lock(%s)", (lock_key,))
        cursors = [raw.cursor().execute(_APPEND, p) for p in params]
    done = []
    for cursor in cursors:
        row = cursor.fetchone()
        if row is None:
            raise RuntimeError("the append statement returned no row")
        done.append((int(row[0]), str(row[1]), str(row[2]), str(row[3])))
    return done
