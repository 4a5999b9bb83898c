"""The disk under the database fills up while a served gateway is under its mixed load, then is freed.

A real "No space left on device": SQLite's file, or a PostgreSQL tablespace holding the gateway's
database, on a small filesystem that the test fills to the last block (tests/faults/small_fs.py;
needs the privilege to mount, else skipped). While it is full, what can still be written in space
already held (SQLite's WAL, a page with room) may be served — audited; everything else fails closed
with a 503 OperationOutcome. Once there is space again the same process serves everything, each
answer that named an audit record has it, the chain verifies, and every push goes through."""
from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import sqlalchemy as sa

from adapters.synthetic.people import invent_people
from bench.mix import Mix, load_people, unloaded
from bench.served import ServedGateway
from gateway.settings import Settings
from gateway.testing import POSTGRES_ENV, initialised_settings
from tests.faults.answers import (
    assert_failed_closed_and_recovered,
    ok,
    refused_closed,
    under_load,
)
from tests.faults.small_fs import SmallFilesystem

CLIENTS = 6


def _small(owner: str | None = None) -> SmallFilesystem:
    try:
        return SmallFilesystem(48, owner)
    except (PermissionError, KeyError, FileNotFoundError) as exc:  # not allowed to mount; no such user
        pytest.skip(str(exc))


@contextmanager
def _on_postgres(fs: SmallFilesystem, tmp_path: Path) -> Iterator[Settings]:
    """A database of its own in a tablespace on ``fs``, on the suite's PostgreSQL server (which must run
    on this machine, as scripts/postgres starts it)."""
    if not os.environ.get(POSTGRES_ENV):
        pytest.skip(f"{POSTGRES_ENV} is not set")
    location = fs.path / "tablespace"
    location.mkdir()
    shutil.chown(location, "postgres", "postgres")
    name = f"gwfull_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(os.environ[POSTGRES_ENV], isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.exec_driver_sql(f"CREATE TABLESPACE {name} LOCATION '{location}'")
            conn.exec_driver_sql(f"CREATE DATABASE {name} TABLESPACE {name}")
        yield initialised_settings(tmp_path, sa.make_url(os.environ[POSTGRES_ENV]).set(database=name)
                           .render_as_string(hide_password=False))
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
            conn.exec_driver_sql(f"DROP TABLESPACE IF EXISTS {name}")
        admin.dispose()


@pytest.fixture(params=["sqlite", "postgres"])
def on_small_disk(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[SmallFilesystem, Settings]]:
    fs = _small("postgres" if request.param == "postgres" else None)
    try:
        if request.param == "sqlite":
            yield fs, initialised_settings(tmp_path, f"sqlite:///{fs.path / 'gateway.sqlite'}")
        else:
            with _on_postgres(fs, tmp_path) as settings:
                yield fs, settings
    finally:
        fs.close()


def test_a_full_disk_fails_closed_and_the_gateway_recovers_when_there_is_space(
        on_small_disk: tuple[SmallFilesystem, Settings], tmp_path: Path) -> None:
    fs, settings = on_small_disk
    mix = Mix(settings, load_people(settings, 4), pushes=unloaded(invent_people(6, seed=37)))
    gateway = ServedGateway(settings, tmp_path)
    with under_load(gateway.base_url, mix, CLIENTS) as answers:
        answers.wait_for(lambda got: len(ok(got)) >= 20)
        fs.fill()
        full = len(answers.since(0))
        answers.wait_for(lambda got: sum(refused_closed(a) for a in got) >= 30, mark=full)
        fs.clear()
        freed = len(answers.since(0))
        answers.wait_for(lambda got: {a.request.kind for a in ok(got)} >= set(mix.kinds), mark=freed)
    assert_failed_closed_and_recovered(gateway, mix, answers.since(0), tmp_path)
