"""A database that will not take writes, switched on and off under a running gateway.

SQLite: full — ``PRAGMA max_page_count`` pinned at the file's size on every connection the gateway's
engine opens ("database or disk is full" as soon as a write needs a new page). PostgreSQL: read-only —
``default_transaction_read_only`` set on the database and its open sessions cut off, as a failover to a
standby does ("cannot execute INSERT in a read-only transaction"). The gateway's pool reconnects
(pre-ping) and gets read-only sessions; clearing the fault resets the setting and cuts them off again.
"""
from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

_TERMINATE_OTHERS = ("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                     "WHERE datname = current_database() AND pid <> pg_backend_pid()")


def pages(engine: Engine) -> int:
    """SQLite: the database's size in pages."""
    with engine.connect() as conn:
        return int(conn.exec_driver_sql("PRAGMA page_count").scalar() or 0)


class NoWrites:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.sqlite = engine.dialect.name == "sqlite"
        self._pages = 0

    def _pin(self, dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA max_page_count = {self._pages}")
        cursor.close()

    def _cut_sessions(self, setting: str) -> None:
        admin = sa.create_engine(self.engine.url, isolation_level="AUTOCOMMIT")
        try:
            with admin.connect() as conn:
                conn.exec_driver_sql("SET default_transaction_read_only = off")  # this session may write
                name = conn.exec_driver_sql("SELECT current_database()").scalar()
                conn.exec_driver_sql(f'ALTER DATABASE "{name}" {setting}')
                conn.exec_driver_sql(_TERMINATE_OTHERS)
        finally:
            admin.dispose()

    def on(self, headroom_pages: int = 0) -> None:
        """From now on (PostgreSQL: for the sessions in flight too). SQLite: ``headroom_pages`` more
        pages may still be written — the file fills up part-way through what follows."""
        if self.sqlite:
            self._pages = pages(self.engine) + headroom_pages
            sa.event.listen(self.engine, "connect", self._pin)
            self.engine.dispose()  # pooled connections go; new ones get the pin
        else:
            self._cut_sessions("SET default_transaction_read_only = on")

    def off(self) -> None:
        if self.sqlite:
            sa.event.remove(self.engine, "connect", self._pin)
            self.engine.dispose()
        else:
            self._cut_sessions("RESET default_transaction_read_only")

    def __enter__(self) -> NoWrites:
        self.on()
        return self

    def __exit__(self, *_: object) -> None:
        self.off()
