"""Replay memory for SMART client assertions (RFC 7523 §3 item 7: a ``jti`` is used once).

Kept in the database, not in a process: a replay is refused after a restart and on every replica.
Each row lives until the assertion it remembers has expired (plus the clock-skew leeway); expired
rows are deleted as new ones are written, so the table holds at most the assertions of the last few
minutes. The key is a SHA-256 of (client id, jti): fixed length whatever a client sends.
"""
from __future__ import annotations

import hashlib
import time

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import Field, SQLModel

from gateway.core_table import core_table


class ClientAssertionJti(SQLModel, table=True):
    __tablename__ = "client_assertion_jti"

    key: str = Field(primary_key=True, max_length=64)  # sha256(client id NUL jti), hex
    client_id: str = Field(max_length=255)
    expires_at: int = Field(sa_type=sa.BigInteger, index=True)  # epoch seconds (assertion exp + leeway)


_TABLE = core_table(ClientAssertionJti)


def _key(client_id: str, jti: str) -> str:
    return hashlib.sha256(f"{client_id}\0{jti}".encode()).hexdigest()


def remember_once(engine: Engine, client_id: str, jti: str, expires_at: float) -> bool:
    """Record a client assertion's ``jti``; False when it was recorded before and has not expired."""
    now = int(time.time())
    key = _key(client_id, jti)
    try:
        with engine.begin() as conn:
            conn.execute(sa.delete(_TABLE).where(_TABLE.c.expires_at < now))
            conn.execute(sa.insert(_TABLE).values(key=key, client_id=client_id[:255], expires_at=int(expires_at)))
    except sa.exc.IntegrityError:
        return False
    return True
