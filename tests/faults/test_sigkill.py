"""SIGKILL a served gateway under concurrent mixed load, restart it on the same database.

Audit before release (DESIGN invariant 3) means that every request the caller got an answer to is in
the audit log — whatever moment the process died at — and the chain still verifies after the restart
(`gateway audit verify` exits 0). Ingest stores before it answers: a push answered 200 is stored whole,
and a push cut off by the kill goes through when sent again. SQLite, and PostgreSQL when
GATEWAY_TEST_POSTGRES_URL is set."""
from __future__ import annotations

from pathlib import Path

from adapters.synthetic.people import invent_people
from bench.mix import Mix, load_people, unloaded
from bench.served import ServedGateway
from gateway.settings import Settings
from tests.faults.answers import (
    assert_audited,
    assert_chain_verifies,
    assert_pushes_kept_or_repeatable,
    ok,
    under_load,
)


def test_sigkill_under_load_loses_no_audit_record_and_no_accepted_push(settings: Settings, tmp_path: Path) -> None:
    mix = Mix(settings, load_people(settings, 6), pushes=unloaded(invent_people(6, seed=29)))
    server = ServedGateway(settings, tmp_path)
    try:
        with under_load(server.base_url, mix, 6) as answers:
            # Mid-load: enough answered (pushes among them) that requests of every kind are in flight.
            answers.wait_for(lambda got: len(ok(got)) >= 40 and len(ok(got, "ingest")) >= 2)
            server.kill()
    finally:
        server.close()
    got = answers.since(0)
    assert all(a.status in (0, 200) for a in got), "a kill is no reason for any other answer"
    assert any(a.status == 0 for a in got), "the kill cut off requests in flight"

    restarted = ServedGateway(settings, tmp_path)  # the same database: it serves again
    try:
        assert_pushes_kept_or_repeatable(restarted.base_url, mix, got)
    finally:
        restarted.close()
    assert_audited(settings, got)
    assert_chain_verifies(settings, tmp_path)
