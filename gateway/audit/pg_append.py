"""PostgreSQL append in one round trip: the database reads the head, assigns seqs, hashes and inserts.

Every round trip made while holding the append lock is time the other gateways wait (and, for a
thread of a busy process, another wait for the GIL), so a whole batch's chain step is one statement
run inside PostgreSQL. The client sends each record's canonical body split around its seq value
(gateway/audit/prepared.py) with its index columns, as arrays; the statement reads the head once
and walks the batch in order (a recursive CTE): ``seq = previous seq + 1``,
``body = prefix || seq || suffix``,
``hash = sha256(decode(prev_hash, 'hex') || convert_to(body, 'UTF8'))`` — the same bytes the
Python chain hashes, which the caller re-checks before committing. The lock and the statement go
out together in a psycopg pipeline; under READ COMMITTED the statement takes its snapshot after
the lock is granted, so it sees the previous holder's committed head."""
from __future__ import annotations

from typing import Any

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

# Per record (ordinal n): the index columns; per patient row: the ordinal of its record.
_RECORD_COLUMNS = {"prefix": "text", "suffix": "text", "time": "timestamptz", "request_id": "text", "user_id": "text",
                   "org": "text", "role": "text", "purpose": "text", "outcome": "text", "categories": "text",
                   "needs_review": "boolean"}
_PATIENT_COLUMNS = {"n": "bigint", "position": "integer", "patient_id": "text", "nhs_number": "text"}


def _unnest(columns: dict[str, str], prefix: str = "") -> str:
    # Binary parameters (%b): psycopg quotes every element of a text-format array with a regular
    # expression, which costs more than the whole statement for a batch of JSON bodies.
    return "unnest(" + ", ".join(f"%({prefix}{name})b::{kind}[]" for name, kind in columns.items()) + ")"


_APPEND = f"""
WITH RECURSIVE start AS ({_HEAD}), item AS (
    SELECT * FROM {_unnest(_RECORD_COLUMNS)} WITH ORDINALITY AS i({", ".join(_RECORD_COLUMNS)}, n)
), chain (n, seq, prev_hash, body, hash) AS (
    SELECT i.n, s.seq + 1, s.hash::text, i.prefix || (s.seq + 1)::text || i.suffix,
           encode(sha256(decode(s.hash, 'hex') || convert_to(i.prefix || (s.seq + 1)::text || i.suffix, 'UTF8')), 'hex')
    FROM start AS s, item AS i WHERE i.n = 1
    UNION ALL
    SELECT i.n, c.seq + 1, c.hash, i.prefix || (c.seq + 1)::text || i.suffix,
           encode(sha256(decode(c.hash, 'hex') || convert_to(i.prefix || (c.seq + 1)::text || i.suffix, 'UTF8')), 'hex')
    FROM chain AS c JOIN item AS i ON i.n = c.n + 1
), ins AS (
    INSERT INTO audit_record (seq, time, request_id, user_id, org, role, purpose, outcome, categories,
                              needs_review, prev_hash, hash, body)
    SELECT c.seq, i.time, i.request_id, i.user_id, i.org, i.role, i.purpose, i.outcome, i.categories,
           i.needs_review, c.prev_hash, c.hash, c.body
    FROM chain AS c JOIN item AS i USING (n)
    RETURNING seq, prev_hash, hash
), patients AS (
    INSERT INTO audit_patient (seq, position, patient_id, nhs_number)
    SELECT c.seq, p.position, p.patient_id, p.nhs_number
    FROM {_unnest(_PATIENT_COLUMNS, "p_")} AS p({", ".join(_PATIENT_COLUMNS)}) JOIN chain AS c USING (n)
)
SELECT seq, prev_hash, hash FROM ins ORDER BY seq
"""


def _psycopg(conn: Connection) -> psycopg.Connection[Any] | None:
    raw = conn.connection.driver_connection
    return raw if isinstance(raw, psycopg.Connection) else None


def append(conn: Connection, lock_key: int, items: list[Prepared]) -> list[tuple[int, str, str]] | None:
    """Take the append lock and chain ``items`` in order, in one round trip: (seq, prev_hash, hash)
    of each. None when the driver is not psycopg 3 (the caller then takes the portable path)."""
    raw = _psycopg(conn)
    if raw is None:
        return None
    params: dict[str, Any] = {"genesis": GENESIS_HASH, "prefix": [i.prefix.decode() for i in items],
                              "suffix": [i.suffix.decode() for i in items]}
    for name in list(_RECORD_COLUMNS)[2:]:
        params[name] = [i.index[name] for i in items]
    patients = [(n, row) for n, item in enumerate(items, 1) for row in item.patients]
    params["p_n"] = [n for n, _ in patients]
    for name in list(_PATIENT_COLUMNS)[1:]:
        params[f"p_{name}"] = [row[name] for _, row in patients]
    with raw.pipeline():
        raw.execute("SELECT pg_advisory_xact_lock(%s)", (lock_key,))
        cursor = raw.execute(_APPEND, params)
    rows = cursor.fetchall()
    if len(rows) != len(items):
        raise RuntimeError(f"the append statement chained {len(rows)} of {len(items)} records")
    return [(int(seq), str(prev_hash), str(digest)) for seq, prev_hash, digest in rows]
