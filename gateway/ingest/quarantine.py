"""Keep what could not be stored, with the reason, so that it can be re-processed after a fix."""
from __future__ import annotations

import builtins
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from gateway.core_table import core_table
from gateway.ingest.inputs import looks_like_key
from gateway.ingest.tables import MatchReviewRow, QuarantineRow

Q = core_table(QuarantineRow)
M = core_table(MatchReviewRow)


@dataclass(frozen=True)
class QuarantineEntry:
    id: int
    received_at: datetime
    format: str
    origin: str
    location: str
    reason: str
    raw: bytes
    status: str


class Quarantine:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def put(self, *, format: str, origin: str, location: str, reason: str, raw: bytes,
            connection: Connection | None = None) -> int:
        """Keep one failed input; ``connection``: inside an ingest batch's transaction (see batch.py).
        Bytes that look like private key material are never kept: the entry records why, not them."""
        if looks_like_key(raw):
            reason = f"{reason} [content not kept: it looks like private key material ({len(raw)} bytes)]"
            raw = b""
        if connection is None:
            with self.engine.begin() as conn:
                return self.put(format=format, origin=origin, location=location, reason=reason, raw=raw,
                                connection=conn)
        result = connection.execute(Q.insert().values(
            received_at=datetime.now(UTC), format=format, origin=origin[:1024], location=location[:1024],
            reason=reason, raw=raw, status="open"))
        assert result.inserted_primary_key is not None
        return int(result.inserted_primary_key[0])

    def list(self, status: str | None = "open") -> list[QuarantineEntry]:
        query = sa.select(Q).order_by(Q.c.id)
        if status:
            query = query.where(Q.c.status == status)
        return self._entries(query)

    def get(self, entry_id: int) -> QuarantineEntry | None:
        return next(iter(self._entries(sa.select(Q).where(Q.c.id == entry_id))), None)

    def _entries(self, query: sa.Select[Any]) -> builtins.list[QuarantineEntry]:
        with self.engine.connect() as conn:
            return [QuarantineEntry(r.id, r.received_at, r.format, r.origin, r.location, r.reason, r.raw, r.status)
                    for r in conn.execute(query)]

    def resolve(self, entry_id: int) -> None:
        with self.engine.begin() as conn:
            conn.execute(Q.update().where(Q.c.id == entry_id).values(status="resolved", resolved_at=datetime.now(UTC)))


    def purge(self, audit: Any, *, ids: Sequence[int] | None = None, resolved: bool = False,
              older_than_days: int | None = None, operator: str, reason: str) -> Purged:
        """Delete entries for good, audited: the audit record (what, who, why) is appended first and
        nothing is deleted when it cannot be. KeyError names an id that does not exist."""
        query = sa.select(Q.c.id, Q.c.format, Q.c.origin, Q.c.status, Q.c.received_at, Q.c.raw).order_by(Q.c.id)
        conditions: list[sa.ColumnElement[bool]] = []
        if ids:
            conditions.append(Q.c.id.in_(ids))
        if resolved:
            conditions.append(Q.c.status == "resolved")
        if older_than_days is not None:
            conditions.append(Q.c.received_at < datetime.now(UTC) - timedelta(days=older_than_days))
        with self.engine.connect() as conn:
            rows = list(conn.execute(query.where(sa.or_(*conditions)) if conditions else query.where(sa.false())))
        missing = sorted(set(ids or ()) - {r.id for r in rows})
        if missing:
            raise KeyError(missing[0])
        purged = Purged([{"id": r.id, "format": r.format, "origin": r.origin, "status": r.status,
                          "bytes": len(r.raw), "sha256": hashlib.sha256(r.raw).hexdigest()} for r in rows])
        if not rows:
            return purged
        entry = audit.append({"type": "quarantine-purge", "interaction": "quarantine.purge", "outcome": "purged",
                              "requester": {"user": operator, "role": "operator"}, "reason": reason,
                              "purged": purged.entries})
        purged.audit_seq = entry.seq
        with self.engine.begin() as conn:
            conn.execute(Q.delete().where(Q.c.id.in_([r.id for r in rows])))
        return purged


class Purged(list[dict[str, Any]]):
    """The purged entries (id, format, origin, status, bytes, sha256) and the audit record's seq."""

    def __init__(self, entries: list[dict[str, Any]]) -> None:
        super().__init__(entries)
        self.entries = entries
        self.audit_seq: int | None = None


@dataclass(frozen=True)
class MatchReviewEntry:
    id: int
    received_at: datetime
    format: str
    origin: str
    nhs_number: str | None
    reason: str
    raw: bytes
    status: str
    resolution: str | None


class MatchReview:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def put(self, *, format: str, origin: str, nhs_number: str | None, reason: str, raw: bytes,
            connection: Connection | None = None) -> int:
        if connection is None:
            with self.engine.begin() as conn:
                return self.put(format=format, origin=origin, nhs_number=nhs_number, reason=reason, raw=raw,
                                connection=conn)
        result = connection.execute(M.insert().values(
            received_at=datetime.now(UTC), format=format, origin=origin[:1024], nhs_number=nhs_number,
            reason=reason, raw=raw, status="open"))
        assert result.inserted_primary_key is not None
        return int(result.inserted_primary_key[0])

    def list(self, status: str | None = "open") -> list[MatchReviewEntry]:
        query = sa.select(M).order_by(M.c.id)
        if status:
            query = query.where(M.c.status == status)
        return self._entries(query)

    def get(self, entry_id: int) -> MatchReviewEntry | None:
        return next(iter(self._entries(sa.select(M).where(M.c.id == entry_id))), None)

    def _entries(self, query: sa.Select[Any]) -> builtins.list[MatchReviewEntry]:
        with self.engine.connect() as conn:
            return [MatchReviewEntry(r.id, r.received_at, r.format, r.origin, r.nhs_number, r.reason, r.raw,
                                     r.status, r.resolution) for r in conn.execute(query)]

    def close(self, entry_id: int, status: str, resolution: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(M.update().where(M.c.id == entry_id).values(status=status, resolution=resolution))
