"""Cross-process policy publication: what one process puts live, every process serves.

Two holders on one database stand for two gateway processes (each with its own policy directory,
as on two hosts); the end-to-end version with real processes behind a proxy is
tests/deploy/test_native_cluster.py."""
from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from gateway.policy import PolicyError, PolicyHolder
from gateway.policy.loader import content_hash
from gateway.policy.publication import PolicyPublications, policy_publication
from gateway.store.database import make_engine, migrate
from gateway.testing import fresh_postgres_database

PG_URL = os.environ.get("GATEWAY_TEST_POSTGRES_URL")


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db(request: pytest.FixtureRequest, tmp_path: Path):  # type: ignore[no-untyped-def]
    if request.param == "sqlite":
        engine = make_engine(f"sqlite:///{tmp_path / 'gw.sqlite'}")
        migrate(engine)
        yield engine
        engine.dispose()
        return
    if not PG_URL:
        pytest.skip("GATEWAY_TEST_POSTGRES_URL is not set")
    with fresh_postgres_database() as url:
        engine = make_engine(url)
        migrate(engine)
        yield engine
        engine.dispose()


def _process(db, pack: Path, tmp_path: Path, name: str) -> PolicyHolder:  # type: ignore[no-untyped-def]
    directory = tmp_path / f"{name}-pack"
    shutil.copytree(pack, directory)
    holder = PolicyHolder(directory, publications=PolicyPublications(db, tmp_path / f"{name}-cache"))
    holder.start_from_database()
    return holder


def _edit(directory: Path) -> None:
    p = directory / "rules" / "10_direct_care_matrix.yaml"
    p.write_text(p.read_text() + "\n# reviewed by the Caldicott guardian\n")


def test_a_reload_on_one_process_goes_live_on_the_other(db, pack, tmp_path):  # type: ignore[no-untyped-def]
    a, b = _process(db, pack, tmp_path, "a"), _process(db, pack, tmp_path, "b")
    assert a.version == b.version
    _edit(a.directory)
    result = a.reload()
    assert result.changed and a.version == content_hash(a.directory) != b.version
    assert b.sync()
    assert b.version == a.version
    assert b.directory == tmp_path / "b-pack"  # b's own directory is still what a reload on b would read
    assert not b.sync()  # nothing newer


def test_a_new_process_serves_the_published_version_not_its_disk(db, pack, tmp_path):  # type: ignore[no-untyped-def]
    a = _process(db, pack, tmp_path, "a")
    _edit(a.directory)
    a.reload()
    late = _process(db, pack, tmp_path, "late")  # started from the old pack on its disk
    assert late.version == a.version != content_hash(late.directory)


def test_the_poller_picks_a_publication_up_within_the_interval(db, pack, tmp_path):  # type: ignore[no-untyped-def]
    a, b = _process(db, pack, tmp_path, "a"), _process(db, pack, tmp_path, "b")
    b.start_polling(0.2)
    try:
        _edit(a.directory)
        published = time.monotonic()
        a.reload()
        while b.version != a.version:
            assert time.monotonic() - published < 5, "not picked up"
            time.sleep(0.02)
    finally:
        b.stop_polling()


def test_a_publication_that_does_not_load_is_refused_and_the_engine_stays(db, pack, tmp_path):  # type: ignore[no-untyped-def]
    b = _process(db, pack, tmp_path, "b")
    before = b.engine
    bad = tmp_path / "bad"
    shutil.copytree(pack, bad)
    (bad / "rules" / "99_bad.yaml").write_text("rules:\n  - id: x\n    effect: maybe\n    when: {}\n")
    with pytest.raises(PolicyError):  # the publishing side refuses it first
        PolicyHolder(bad)
    # Someone writes a row by hand: the receiving process re-loads and refuses it.
    PolicyPublications(db, tmp_path / "x").publish(bad, content_hash(bad))
    assert not b.sync()
    assert b.engine is before


def test_tampered_files_do_not_match_their_version(db, pack, tmp_path):  # type: ignore[no-untyped-def]
    a, b = _process(db, pack, tmp_path, "a"), _process(db, pack, tmp_path, "b")
    _edit(a.directory)
    a.reload()
    with db.begin() as conn:
        newest = conn.execute(sa.select(sa.func.max(policy_publication.c.id))).scalar_one()
        conn.execute(policy_publication.update().where(policy_publication.c.id == newest)
                     .values(files='{"roles.yaml": "roles: {}"}'))
    before = b.engine
    assert not b.sync() and b.engine is before


def test_on_postgresql_a_notification_beats_the_poll(db, pack, tmp_path):  # type: ignore[no-untyped-def]
    if db.dialect.name != "postgresql":
        pytest.skip("LISTEN/NOTIFY is PostgreSQL's")
    a, b = _process(db, pack, tmp_path, "a"), _process(db, pack, tmp_path, "b")
    b.start_polling(60)  # the poll alone would take a minute
    try:
        assert b.listening.wait(10), "the listener did not connect"
        _edit(a.directory)
        published = time.monotonic()
        a.reload()
        while b.version != a.version:
            assert time.monotonic() - published < 10, "the notification was not acted on"
            time.sleep(0.02)
    finally:
        b.stop_polling()
