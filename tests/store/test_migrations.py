"""The Alembic migrations and the table definitions must agree (no drift), on both engines."""
from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlmodel import SQLModel

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


def test_search_surface_migration_indexes_what_is_already_stored(database_url: str) -> None:
    """0006 rebuilds the index of stored resources: a Patient stored before it is found by birthdate and name."""
    from datetime import UTC, datetime

    import orjson
    import sqlalchemy as sa
    from alembic import command

    from gateway.store.database import alembic_config
    from gateway.store.resources import DateCriterion, ResourceStore, TokenCriterion

    engine = make_engine(database_url)
    config = alembic_config(engine.url.render_as_string(hide_password=False))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "0005_console_proposals")
    patient = {"resourceType": "Patient", "id": "p1", "name": [{"family": "Ośmiałowska", "given": ["Zofia"]}],
               "birthDate": "1948-02-29"}
    with engine.begin() as connection:
        connection.execute(sa.text(
            "INSERT INTO resource (resource_type, id, version_id, last_updated, deleted, categories, content) "
            "VALUES ('Patient', 'p1', 1, :now, :no, '', :content)"),
            {"now": datetime.now(UTC), "no": False, "content": orjson.dumps(patient).decode()})
    migrate(engine)
    store = ResourceStore(engine)
    born = DateCriterion("index", "eq", datetime(1948, 2, 29, tzinfo=UTC), datetime(1948, 3, 1, tzinfo=UTC),
                         "birthdate")
    found = store.search("Patient", tokens=[TokenCriterion("family", None, "osmia", "prefix")], dates=[born])
    engine.dispose()
    assert [s.id for s in found] == ["p1"]
