"""PostgreSQL stopped and started again under a served gateway's mixed load (a restart, a failover).

During the outage every request fails closed: a 503 OperationOutcome naming no audit record (nothing
released that was not audited; no 500, no plain-text error, no dropped connection). Afterwards the
same gateway process serves again without a restart (the pool's pre-ping replaces dead connections),
every answer that named an audit record has it, the chain verifies, and pushes cut off by the outage
go through when sent again. Runs on a PostgreSQL server of its own (tests/faults/pg_server.py), so
that the stop does not disturb other tests; needs the binaries scripts/postgres uses."""
from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from adapters.synthetic.people import invent_people
from bench.mix import Mix, load_people, unloaded
from bench.served import ServedGateway
from gateway.testing import POSTGRES_ENV, initialised_settings
from tests.faults.answers import (
    assert_failed_closed_and_recovered,
    ok,
    refused_closed,
    summary,
    under_load,
)
from tests.faults.pg_server import PostgresServer

pytestmark = pytest.mark.postgres
CLIENTS = 6


@pytest.fixture
def postgres() -> Iterator[PostgresServer]:
    if not os.environ.get(POSTGRES_ENV):
        pytest.skip(f"{POSTGRES_ENV} is not set")
    try:
        server = PostgresServer()
    except FileNotFoundError as exc:
        pytest.skip(str(exc))
    yield server
    server.destroy()


def test_postgres_restarted_under_load_fails_closed_and_recovers(postgres: PostgresServer, tmp_path: Path) -> None:
    settings = initialised_settings(tmp_path, postgres.url)
    mix = Mix(settings, load_people(settings, 4), pushes=unloaded(invent_people(4, seed=31)))
    gateway = ServedGateway(settings, tmp_path)
    with under_load(gateway.base_url, mix, CLIENTS) as answers:
        answers.wait_for(lambda got: len(ok(got)) >= 20)
        postgres.stop()
        down = len(answers.since(0))
        answers.wait_for(lambda got: len(got) >= 30, mark=down)  # requests made while it is down
        back = len(answers.since(0))
        postgres.start()
        up = len(answers.since(0))
        # Recovered: answers of every kind again, from the same process.
        answers.wait_for(lambda got: {a.request.kind for a in ok(got)} >= set(mix.kinds), mark=up)
    assert_failed_closed_and_recovered(gateway, mix, answers.since(0), tmp_path)
    # Answered while the server was down; the first of each client's may have been served before.
    outage = answers.since(down)[CLIENTS:back - down]
    assert outage and not (served := [a for a in outage if not refused_closed(a)]), summary(served)
