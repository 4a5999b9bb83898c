"""The Alembic migrations and the table definitions must agree (no drift), on both engines."""
from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlmodel import SQLModel

import gateway.replay  # noqa: F401  (until gateway/store/all_tables.py imports it)
import gateway.store.all_tables  # noqa: F401
from gateway.store import make_engine, migrate


def test_migrations_match_the_models(database_url: str) -> None:
    engine = make_engine(database_url)
    migrate(engine)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), SQLModel.metadata)
    engine.dispose()
    assert diff == [], f"models and migrations differ: {diff}"


def test_migrate_is_idempotent(database_url: str) -> None:
    engine = make_engine(database_url)
    migrate(engine)
    migrate(engine)
    import sqlalchemy as sa

    tables = set(sa.inspect(engine).get_table_names())
    engine.dispose()
    assert {"resource", "resource_version", "search_token", "quarantine", "match_review", "audit_record"} <= tables
