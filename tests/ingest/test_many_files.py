"""Many inputs through one batch (``Ingestor.ingest_files``, what ``gateway ingest`` runs): the same stored
result and summaries as one call per input, while a bad input among them is kept under its own origin,
with its own bytes, and its neighbours from other files are stored."""
from __future__ import annotations

import itertools
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from adapters.base import MappedRecord, SourceMessage
from adapters.synthetic.hl7v2 import hl7v2_messages
from adapters.synthetic.people import invent_people
from gateway.demo import write_sources
from gateway.ingest import pipeline
from gateway.ingest.pipeline import IngestSummary
from gateway.ingest.provenance import provenance_id
from gateway.testing import empty_gateway_like
from gateway.wiring import Gateway
from tests.ingest.oracle import Expected, summary_counts
from tests.ingest.snapshot import snapshot as _snapshot
from tests.ingest.test_batched import _inputs, _with_broken_second_message


def test_one_call_over_many_files_equals_one_call_per_file(gateway: Gateway, tmp_path: Path) -> None:
    inputs = _inputs(tmp_path)  # every format, plus inputs to hold, quarantine whole or in part, update, ignore
    runs = [(format, [(origin, raw) for _, origin, raw in run])
            for format, run in itertools.groupby(inputs, key=lambda i: i[0])]
    assert any(len(files) > 3 for _, files in runs)
    with empty_gateway_like(gateway, tmp_path / "per-file") as per_file:
        for ingestor in (gateway.ingestor, per_file.ingestor):
            # Groups and transactions end inside inputs and span input boundaries.
            ingestor.batch_messages, ingestor.group_messages = 9, 4
        for _ in range(2):  # the second pass finds everything unchanged (or stale)
            for format, files in runs:
                reported: list[tuple[str, dict[str, Any]]] = []
                total = gateway.ingestor.ingest_files(
                    format, iter(files),
                    on_input=lambda origin, s, reported=reported: reported.append(
                        (origin, _without_inputs(s.as_dict()))))
                one_by_one = [(origin, _without_inputs(per_file.ingestor.ingest_bytes(format, raw, origin).as_dict()))
                              for origin, raw in files]
                assert reported == one_by_one, format
                totals = total.as_dict()
                summed = {k: sum(s[k] for _, s in one_by_one) for k in totals
                          if k not in ("problems", "items", "inputs")}
                problems = [p for _, s in one_by_one for p in s["problems"]]  # in input order
                items: dict[str, dict[str, int]] = {}
                for _, s in one_by_one:
                    for kind, counts in s["items"].items():
                        mine = items.setdefault(kind, dict.fromkeys(counts, 0))
                        for name, n in counts.items():
                            mine[name] += n
                assert _without_inputs(totals) == summed | {"problems": problems, "items": dict(sorted(items.items()))}
                # the total carries every input's own report, in input order
                assert [(i["origin"], _without_inputs(i)) for i in totals["inputs"]] == \
                    [(origin, {k: v for k, v in s.items()}) for origin, s in one_by_one], format
        wanted = _snapshot(per_file)
    stored = _snapshot(gateway)
    assert stored["resources"] and stored["quarantine"] and stored["review"]
    for part in wanted:
        assert stored[part] == wanted[part], part


def _without_inputs(summary: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in summary.items() if k not in ("inputs", "origin")}


def test_many_small_files_share_one_batch(gateway: Gateway, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    opened = []

    class Counting(pipeline.IngestBatch):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            opened.append(self)
            super().__init__(*args, **kwargs)

    monkeypatch.setattr(pipeline, "IngestBatch", Counting)
    files = dict(write_sources(tmp_path / "data", 6))["social-care"]
    summary = gateway.ingestor.ingest_files("social-care", pipeline.read_files(files))
    assert summary.messages == len(files) == 6 and summary.quarantined == 0
    assert len(opened) == 1


@pytest.mark.parametrize("group", [20, 2])  # one group for all six files; or pairs, the bad ones in two groups
def test_bad_files_among_good_ones_are_quarantined_under_their_own_origin(gateway: Gateway, tmp_path: Path,
                                                                          group: int) -> None:
    gateway.ingestor.group_messages = group
    good = dict(write_sources(tmp_path / "data", 5))["social-care"]
    broken = tmp_path / "broken.xml"
    broken.write_bytes(good[0].read_bytes()[:300])  # cut short: not well-formed XML
    victim = good[3]
    adapter = gateway.ingestor.adapter("social-care")
    [message] = [m for m in adapter.parse(victim.read_bytes(), str(victim)) if isinstance(m, SourceMessage)]
    record = next(r for r in adapter.map(message)
                  if isinstance(r, MappedRecord) and r.resource["resourceType"] != "Patient")
    # Another resource already claims one of the victim's source records: the database refuses its rows.
    gateway.store.upsert({"resourceType": "Basic", "id": "squatter", "code": {"text": "x"}}, patient_id=None,
                         source_system=record.source_system, source_id=record.source_id)
    files = [good[0], good[1], broken, good[2], victim, good[4]]
    reported: dict[str, IngestSummary] = {}

    summary = gateway.ingestor.ingest_files("social-care", pipeline.read_files(files),
                                            on_input=lambda origin, s: reported.__setitem__(origin, s))

    assert list(reported) == [str(f) for f in files]
    assert summary.messages == 5 and summary.quarantined == 2
    assert [p.origin for p in summary.problems] == [str(broken), str(victim)]  # input order
    assert reported[str(broken)].quarantined == 1 and reported[str(broken)].messages == 0
    assert reported[str(victim)].quarantined == 1 and reported[str(victim)].accepted == 0
    assert all(reported[str(f)].accepted > 0 and reported[str(f)].quarantined == 0 for f in good if f != victim)
    entries = {e.origin: e for e in gateway.quarantine.list()}
    assert set(entries) == {str(broken), str(victim)}
    assert entries[str(broken)].raw == broken.read_bytes() and "XML" in entries[str(broken)].reason
    assert entries[str(victim)].raw == victim.read_bytes() and entries[str(victim)].location == "(store)"
    for path in good:  # the neighbours' records are all stored, none of the victim's
        found = [gateway.store.get(rtype, rid) is not None for rtype, rid in _records(gateway, path)]
        assert (found and all(found)) if path != victim else not any(found), path.name


def _records(gateway: Gateway, path: Path) -> list[tuple[str, str]]:
    """(type, id) of the resources the adapter maps a one-message file to."""
    adapter = gateway.ingestor.adapter("social-care")
    [message] = [m for m in adapter.parse(path.read_bytes(), str(path)) if isinstance(m, SourceMessage)]
    return [(r.resource["resourceType"], r.resource["id"]) for r in adapter.map(message) if isinstance(r, MappedRecord)]


def test_an_input_that_cannot_be_read_leaves_those_before_it_ingested(gateway: Gateway, tmp_path: Path) -> None:
    files = dict(write_sources(tmp_path / "data", 3))["social-care"]
    gone = tmp_path / "vanished.xml"  # listed, then deleted before it was read

    with pytest.raises(FileNotFoundError):
        gateway.ingestor.ingest_files("social-care", pipeline.read_files([*files, gone]))

    assert all(gateway.store.get(rtype, rid) is not None for path in files for rtype, rid in _records(gateway, path))


def test_a_message_the_parser_rejects_keeps_its_own_bytes_among_other_files(gateway: Gateway) -> None:
    people = invent_people(6, seed=31)
    files = [("a.hl7", hl7v2_messages(people[:2])),
             ("mixed.hl7", _with_broken_second_message(hl7v2_messages(people[2:4]))),
             ("b.hl7", hl7v2_messages(people[4:]))]
    adapter = gateway.ingestor.adapter("hl7v2")
    broken = [m for m in adapter.parse(files[1][1], files[1][0]) if not isinstance(m, SourceMessage)]
    assert len(broken) == 1 and broken[0].raw and broken[0].raw != files[1][1]

    summary = gateway.ingestor.ingest_files("hl7v2", iter(files))

    [entry] = gateway.quarantine.list()
    assert entry.origin == "mixed.hl7" and entry.raw == broken[0].raw  # the message's bytes, not the file's
    assert summary.quarantined == 1 and [p.origin for p in summary.problems] == ["mixed.hl7"]
    for origin, raw in files:  # every other message, of this file and its neighbours, is stored
        for message in adapter.parse(raw, origin):
            if isinstance(message, SourceMessage):
                assert gateway.store.get("Provenance", provenance_id(message)) is not None, message.origin


def test_no_sqlite_write_lock_is_held_while_inputs_are_read_and_parsed(gateway: Gateway, tmp_path: Path) -> None:
    """The API's audit writes need SQLite's one write lock: a batch takes it when a group needs the
    database, not while the next input is read or parsed (once its transaction is due for a commit)."""
    if gateway.engine.dialect.name != "sqlite":
        pytest.skip("the write lock is SQLite's")
    gateway.ingestor.group_messages, gateway.ingestor.batch_seconds = 1, 0.0  # every boundary is due
    database = gateway.engine.url.database
    assert database

    def another_writer_gets_in() -> bool:
        with sqlite3.connect(database, timeout=0) as other:  # no waiting: locked is locked
            try:
                other.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError:
                return False
            other.rollback()
            return True

    parser = gateway.ingestor.adapter("social-care")
    seen: list[bool] = []

    class Watching:
        format, version = parser.format, parser.version

        def parse(self, raw: bytes, origin: str):  # type: ignore[no-untyped-def]
            seen.append(another_writer_gets_in())
            return parser.parse(raw, origin)

        def map(self, message: SourceMessage):  # type: ignore[no-untyped-def]
            return parser.map(message)

    gateway.ingestor.adapters = {**gateway.ingestor.adapters, "social-care": Watching()}  # type: ignore[dict-item]

    def inputs() -> Iterator[tuple[str, bytes]]:
        for path in dict(write_sources(tmp_path / "data", 3))["social-care"]:
            seen.append(another_writer_gets_in())
            yield str(path), path.read_bytes()

    summary = gateway.ingestor.ingest_files("social-care", inputs())
    assert summary.messages == 3 and summary.quarantined == 0
    assert seen == [True] * 6


def test_matching_follows_patients_changed_earlier_in_the_same_group(gateway: Gateway) -> None:
    """Remembered "who carries this NHS number" answers must move with the Patients the group stages:
    a corrected NHS number leaves its old answer and joins the new one."""
    person, other = invent_people(2, seed=41)
    x, y = person.nhs_number.encode(), other.nhs_number.encode()
    first = hl7v2_messages([person]).split(b"\rMSH|")[0] + b"\r"  # an ADT^A28 for the person, local id DN50000

    def variant(control: bytes, minute: bytes, nhs: bytes, local: bytes) -> bytes:
        return (first.replace(b"DN-000001", control).replace(b"20261001100800", b"202610011" + minute + b"00")
                .replace(x, nhs).replace(b"DN50000", local))

    files = [("1.hl7", variant(b"C1", b"001", x, b"DN50000")),  # creates the person, under X
             ("2.hl7", variant(b"C2", b"002", y, b"DN50000")),  # the source corrects the number: now Y
             ("3.hl7", variant(b"C3", b"003", x, b"DN59999")),  # X again: no one carries it any more
             ("4.hl7", variant(b"C4", b"004", y, b"DN59998"))]  # Y: the corrected person
    gateway.ingestor.group_messages = 20  # all four in one group: one prefetch, then only what was staged
    summary = gateway.ingestor.ingest_files("hl7v2", iter(files))
    expected = Expected()
    wanted = [expected.ingest(gateway, "hl7v2", origin, raw) for origin, raw in files]
    assert [summary_counts(report) for _, report in summary.inputs] == wanted
    assert summary.held_for_review == 0 and summary.quarantined == 0
    expected.check(gateway)
    stored = _snapshot(gateway)
    patients = [content for (rtype, _), (*_, content) in stored["resources"].items() if rtype == "Patient"]
    numbers = sorted(i["value"] for p in patients for i in p["identifier"] if i["system"].endswith("nhs-number"))
    assert numbers == sorted([person.nhs_number, other.nhs_number])  # two people: Y's and a new one for X


def test_values_postgresql_refuses_are_quarantined_with_its_reason(gateway: Gateway) -> None:
    """A NUL in a code or a value too long for its column: PostgreSQL refuses the rows (SQLite stores
    them); the message is quarantined with the database's reason, its neighbours in other files stored."""
    if gateway.engine.dialect.name != "postgresql":
        pytest.skip("SQLite stores both")
    people = invent_people(4, seed=17)
    nul = hl7v2_messages(people[1:2])
    at = nul.index(b"DG1|1||") + 7
    nul = nul[:at] + b"19\x00" + nul[at + 2:]  # in a diagnosis code: a token row
    long = hl7v2_messages(people[2:3]).replace(b"|DNCASE|RX1|", b"|DNCASE|" + b"R" * 200 + b"|")
    files = [("a.hl7", hl7v2_messages(people[:1])), ("nul.hl7", nul), ("long.hl7", long),
             ("b.hl7", hl7v2_messages(people[3:]))]
    # Control ids of their own (each file's numbering starts at 1): one Provenance per message.
    files = [(origin, raw.replace(b"|DN-", f"|{origin[0]}-".encode())) for origin, raw in files]

    summary = gateway.ingestor.ingest_files("hl7v2", iter(files))

    reasons = {p.origin: p.reason for p in summary.problems}
    assert set(reasons) == {"nul.hl7#message 1", "long.hl7#message 1", "long.hl7#message 2", "long.hl7#message 3"}
    assert "NUL" in reasons["nul.hl7#message 1"] and "too long" in reasons["long.hl7#message 1"]
    adapter = gateway.ingestor.adapter("hl7v2")
    for origin, raw in files:
        for message in adapter.parse(raw, origin):
            if isinstance(message, SourceMessage):
                kept = gateway.store.get("Provenance", provenance_id(message)) is not None
                assert kept is (message.origin not in reasons), message.origin
