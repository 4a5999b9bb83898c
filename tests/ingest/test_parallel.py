"""Several ingest worker processes at once (``gateway ingest --jobs``): each person is one Patient however
the workers meet them, nothing is lost, and the store holds what one process ingesting serially holds."""
from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import orjson
import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from adapters.base import NHS_NUMBER_SYSTEM
from adapters.synthetic.gp_connect import gp_connect_bundle
from adapters.synthetic.people import invent_people
from gateway.cli import app
from gateway.demo import write_sources
from gateway.ingest.pipeline import IngestSummary, read_files
from gateway.ingest.tables import MatchReviewRow, QuarantineRow
from gateway.ingest_jobs import ParallelIngestRefused, check_jobs, ingest_in_parallel
from gateway.settings import Settings, get_settings
from gateway.store.tables import ResourceRow
from gateway.testing import empty_gateway_like
from gateway.wiring import Gateway
from tests.ingest.oracle import comparable


def _sources(tmp_path: Path) -> list[tuple[str, list[Path]]]:
    """The GP's and the council's files of the same people, alternately, a few people at a time, every
    file twice (the second time in reverse order), plus a file to quarantine and one to hold: workers
    meet each person from both sources, and the same file, at the same time."""
    found = dict(write_sources(tmp_path / "data", 10))
    gp, council = found["gp-connect"], found["social-care"]
    broken = tmp_path / "broken.xml"
    broken.write_bytes(council[0].read_bytes()[:300])  # not well-formed XML: quarantined whole
    stranger = invent_people(12, seed=5)[11]
    bad = tmp_path / "bad-nhs.json"
    wrong = stranger.nhs_number[:9] + str((int(stranger.nhs_number[9]) + 1) % 10)
    bad.write_bytes(orjson.dumps(gp_connect_bundle(stranger)).replace(stranger.nhs_number.encode(), wrong.encode()))
    sources = [("gp-connect", [bad]), ("social-care", [broken])]
    for start in range(0, len(gp), 2):
        sources += [("gp-connect", gp[start:start + 2]), ("social-care", council[start:start + 2][::-1]),
                    ("gp-connect", gp[start:start + 2][::-1]), ("social-care", council[start:start + 2])]
    return sources


def _person_view(gw: Gateway) -> dict[str, Any]:
    """What was stored, in terms that do not depend on which source's Patient a person's record was
    first created from: Patients by their NHS number (with the set of their identifiers), everything
    else by id with references to a Patient written as that person's NHS number."""
    r, q, m = ResourceRow.__table__, QuarantineRow.__table__, MatchReviewRow.__table__
    with gw.engine.connect() as conn:
        rows = list(conn.execute(sa.select(r.c.resource_type, r.c.id, r.c.patient_id, r.c.source_system,
                                           r.c.source_id, r.c.content)))
        quarantine = Counter((row.format, row.origin, row.location, row.raw) for row in conn.execute(sa.select(q)))
        review = Counter((row.format, row.origin, row.nhs_number, row.raw) for row in conn.execute(sa.select(m)))
    patients = {row.id: orjson.loads(row.content) for row in rows if row.resource_type == "Patient"}
    nhs = {pid: next(i["value"] for i in p["identifier"] if i["system"] == NHS_NUMBER_SYSTEM)
           for pid, p in patients.items()}
    carriers = Counter(nhs.values())
    people = {nhs[pid]: frozenset((i["system"], i["value"]) for i in p["identifier"]) for pid, p in patients.items()}
    text = {}
    for row in rows:
        if row.resource_type == "Patient":
            continue
        content = row.content
        for pid, number in nhs.items():
            content = content.replace(f'"Patient/{pid}"', f'"Patient/nhs:{number}"')
        text[(row.resource_type, row.id)] = (nhs.get(row.patient_id), row.source_system, row.source_id,
                                             comparable(orjson.loads(content)))
    return {"patients per NHS number": carriers, "people": people, "resources": text, "quarantine": quarantine,
            "review": review}


def test_workers_meeting_the_same_people_store_what_one_process_stores(gateway: Gateway, settings: Settings,
                                                                        tmp_path: Path) -> None:
    if gateway.engine.dialect.name != "postgresql":
        pytest.skip("parallel ingest is PostgreSQL's (SQLite refuses it: see the test below)")
    sources = _sources(tmp_path)
    gateway.close()  # no connection or thread of this process is inherited by the workers

    done: list[int] = []
    summaries = ingest_in_parallel(settings, sources, jobs=4, on_chunk=done.append)

    assert sum(done) == sum(len(files) for _, files in sources)
    for (format, files), summary in zip(sources, summaries, strict=True):
        assert [origin for origin, _ in summary.inputs] == [str(f) for f in files], format  # input order
    parallel = _person_view(gateway)
    with empty_gateway_like(gateway, tmp_path / "serial") as serial:
        wanted = [serial.ingestor.ingest_files(format, read_files(files)) for format, files in sources]
        expected = _person_view(serial)
    assert parallel["patients per NHS number"] and set(parallel["patients per NHS number"].values()) == {1}
    for part in expected:
        assert parallel[part] == expected[part], part
    assert parallel["quarantine"] and parallel["review"]
    for format in ("gp-connect", "social-care"):
        got, want = IngestSummary(), IngestSummary()
        for (kind, _), mine, theirs in zip(sources, summaries, wanted, strict=True):
            if kind == format:
                got.add(mine)
                want.add(theirs)
        assert (got.messages, got.quarantined, got.held_for_review) == \
            (want.messages, want.quarantined, want.held_for_review)
        # every item that came in is stored, refused or held, as serially
        assert {k: c.__dict__ for k, c in got.items.items()} == {k: c.__dict__ for k, c in want.items.items()}

    # Which copy of a file created a row and which found it unchanged may differ, and so may which
    # source's Patient a person was created from (the other is folded in, without an outcome of its own).
    def outcomes(summaries: list[IngestSummary]) -> int:
        return sum(s.accepted + s.updated + s.unchanged + s.stale for s in summaries)

    assert outcomes(summaries) == outcomes(wanted)


def test_sqlite_refuses_parallel_workers_and_says_why(tmp_path: Path) -> None:
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'gateway.sqlite'}")
    check_jobs(settings, 1)
    with pytest.raises(ParallelIngestRefused, match="needs PostgreSQL: SQLite lets one process write at a time"):
        check_jobs(settings, 2)
    with pytest.raises(ParallelIngestRefused, match="at least 1"):
        check_jobs(settings, 0)


def test_the_command_runs_workers_on_postgresql_and_refuses_them_on_sqlite(
        settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("database_url", "jwks", "signing_jwks", "audit_key", "policy_cache_dir"):
        monkeypatch.setenv(f"GATEWAY_{name.upper()}", str(getattr(settings, name)))
    get_settings.cache_clear()
    folder = tmp_path / "data" / "gp-connect"
    write_sources(tmp_path / "data", 4)
    try:
        result = CliRunner().invoke(app, ["ingest", "--format", "gp-connect", "--jobs", "2", "--json", str(folder)])
    finally:
        get_settings.cache_clear()
    if settings.database_url.startswith("sqlite"):
        assert result.exit_code == 2
        words = " ".join(result.output.replace("│", " ").split())  # rich wraps the message in a box
        assert "--jobs 2 needs PostgreSQL: SQLite lets one process write at a time" in words
        return
    assert result.exit_code == 0, result.output
    summary = orjson.loads(result.stdout.strip().splitlines()[-1])
    assert summary["messages"] == 4 and summary["accepted"] > 20 and summary["quarantined"] == 0
    assert [i["origin"] for i in summary["inputs"]] == sorted(str(p) for p in folder.iterdir())
