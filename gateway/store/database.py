"""Engine creation and schema migration (Alembic, run programmatically)."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import sqlalchemy as sa
import sqlalchemy.exc
from alembic import command
from alembic.config import Config
from sqlalchemy.engine import Engine

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


def make_engine(url: str, **kwargs: object) -> Engine:
    if url.startswith("sqlite"):
        engine = sa.create_engine(url, connect_args={"check_same_thread": False, "timeout": 30}, **kwargs)

        @sa.event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection: Any, _record: object) -> None:
            # WAL lets readers run beside the single writer; synchronous=FULL keeps audit commits durable.
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=FULL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()

        return engine
    return sa.create_engine(url, pool_pre_ping=True, **kwargs)


# SQLSTATEs of a database that is up but will not take writes now: read-only transaction (a standby, or
# default_transaction_read_only), disk full, out of memory, too many connections, shutting down, starting up.
_UNAVAILABLE_SQLSTATES = {"25006", "53100", "53200", "53300", "57P01", "57P02", "57P03"}


def unavailable(exc: BaseException) -> bool:
    """Whether a database error means the database cannot serve now (down, restarting, full, read-only,
    locked) rather than that this request or this code is wrong: the first is answered 503, the
    second 500 — and neither sends anything that was not audited."""
    if not isinstance(exc, sqlalchemy.exc.DBAPIError):
        return False
    if exc.connection_invalidated or isinstance(exc, (sqlalchemy.exc.OperationalError,
                                                      sqlalchemy.exc.InterfaceError)):
        return True
    return getattr(exc.orig, "sqlstate", None) in _UNAVAILABLE_SQLSTATES


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest Alembic revision."""
    config = alembic_config(engine.url.render_as_string(hide_password=False))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")
