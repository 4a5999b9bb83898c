"""Keep what could not be stored, with the reason, so that it can be re-processed after a fix."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from gateway.ingest.tables import MatchReviewRow, QuarantineRow

Q = QuarantineRow.__table__
M = MatchReviewRow.__table__


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
        """Keep one failed input; ``connection``: inside an ingest batch's transaction (see batch.py)."""
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
        with self.engine.connect() as conn:
            return [QuarantineEntry(r.id, r.received_at, r.format, r.origin, r.location, r.reason, r.raw, r.status)
                    for r in conn.execute(query)]

    def get(self, entry_id: int) -> QuarantineEntry | None:
        return next((e for e in self.list(status=None) if e.id == entry_id), None)

    def resolve(self, entry_id: int) -> None:
        with self.engine.begin() as conn:
            conn.execute(Q.update().where(Q.c.id == entry_id).values(status="resolved", resolved_at=datetime.now(UTC)))


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
        with self.engine.connect() as conn:
            return [MatchReviewEntry(r.id, r.received_at, r.format, r.origin, r.nhs_number, r.reason, r.raw,
                                     r.status, r.resolution) for r in conn.execute(query)]

    def get(self, entry_id: int) -> MatchReviewEntry | None:
        return next((e for e in self.list(status=None) if e.id == entry_id), None)

    def close(self, entry_id: int, status: str, resolution: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(M.update().where(M.c.id == entry_id).values(status=status, resolution=resolution))
