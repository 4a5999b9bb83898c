"""Console sessions kept in the database, so that signing out (or an IG officer) can revoke them.

The cookie carries only a random token; the row is keyed by the token's SHA-256, so a copy of the
table signs no one in. A session is live while it is not revoked, was used within the idle timeout
and is younger than the absolute timeout; every process of the gateway sees the same rows, so a
revocation holds on all of them at once, and a replayed cookie of a revoked session is refused.
"""
from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import SQLModel

from gateway.times import as_utc

console_session = sa.Table(
    "console_session", SQLModel.metadata,
    sa.Column("id", sa.String(64), primary_key=True),  # hex SHA-256 of the cookie's token
    sa.Column("user_id", sa.Text, nullable=False, index=True),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("role", sa.String(64), nullable=False),
    sa.Column("org", sa.String(32), nullable=False),
    sa.Column("patient", sa.String(32)),  # the NHS number of a person signed in as themselves
    sa.Column("csrf", sa.String(64), nullable=False),
    sa.Column("sign_in", sa.String(16), nullable=False),  # development | oidc
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),  # the absolute timeout
    sa.Column("revoked_at", sa.DateTime(timezone=True)),
    sa.Column("revoked_by", sa.Text),
    sa.Column("revoked_reason", sa.String(32)),  # signed-out | revoked | signed-in-again | not-audited
)
TOUCH_EVERY = timedelta(seconds=15)  # last_seen_at is written at most this often per session


@dataclass(frozen=True)
class StoredSession:
    id: str
    user: str
    name: str
    role: str
    org: str
    patient: str | None
    csrf: str
    sign_in: str
    created_at: datetime
    last_seen_at: datetime
    expires_at: datetime

    @classmethod
    def from_row(cls, row: Any) -> StoredSession:
        return cls(row.id, row.user_id, row.name, row.role, row.org, row.patient, row.csrf, row.sign_in,
                   as_utc(row.created_at), as_utc(row.last_seen_at), as_utc(row.expires_at))


def token_id(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class ConsoleSessions:
    def __init__(self, engine: Engine, idle_seconds: int, absolute_seconds: int) -> None:
        self.engine = engine
        self.idle = timedelta(seconds=idle_seconds)
        self.absolute = timedelta(seconds=absolute_seconds)

    def create(self, *, user: str, name: str, role: str, org: str, sign_in: str,
               patient: str | None = None) -> tuple[str, StoredSession]:
        """A new session; returns the cookie's token (never stored) and the session."""
        token = secrets.token_urlsafe(32)
        now = datetime.now(UTC)
        values = {"id": token_id(token), "user_id": user, "name": name, "role": role, "org": org,
                  "patient": patient, "csrf": secrets.token_urlsafe(32), "sign_in": sign_in, "created_at": now,
                  "last_seen_at": now, "expires_at": now + self.absolute}
        with self.engine.begin() as conn:
            conn.execute(console_session.insert().values(**values))
        values["user"] = values.pop("user_id")
        return token, StoredSession(**values)  # type: ignore[arg-type]

    def live(self, token: str) -> StoredSession | None:
        """The session of a cookie's token if it is live (not revoked, not idle too long, not
        past its absolute end); touching it keeps it from going idle."""
        key = token_id(token)
        now = datetime.now(UTC)
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(console_session).where(console_session.c.id == key,
                                                                console_session.c.revoked_at.is_(None))).first()
        if row is None:
            return None
        session = StoredSession.from_row(row)
        if now >= session.expires_at or now - session.last_seen_at > self.idle:
            return None
        if now - session.last_seen_at >= TOUCH_EVERY:
            with self.engine.begin() as conn:
                conn.execute(console_session.update().where(console_session.c.id == key).values(last_seen_at=now))
        return session

    def revoke(self, session_id: str, *, by: str, reason: str) -> bool:
        return self._revoke(console_session.c.id == session_id, by, reason) == 1

    def revoke_user(self, user: str, *, by: str, reason: str = "revoked") -> int:
        """Revoke every live session of ``user``; returns how many there were."""
        return self._revoke(console_session.c.user_id == user, by, reason)

    def _revoke(self, which: Any, by: str, reason: str) -> int:
        with self.engine.begin() as conn:
            done = conn.execute(console_session.update().where(which, console_session.c.revoked_at.is_(None))
                                .values(revoked_at=datetime.now(UTC), revoked_by=by, revoked_reason=reason))
        return int(done.rowcount)

    def active(self, limit: int = 200) -> list[StoredSession]:
        """Sessions not revoked and not past their absolute end (idle ones included), newest first."""
        now = datetime.now(UTC)
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(console_session)
                                .where(console_session.c.revoked_at.is_(None), console_session.c.expires_at > now)
                                .order_by(console_session.c.created_at.desc()).limit(limit))
            return [s for s in (StoredSession.from_row(r) for r in rows) if now - s.last_seen_at <= self.idle]
