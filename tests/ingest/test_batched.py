"""The batched ingest path stores exactly what the rules say (tests/ingest/oracle.py), and a message the
database refuses rolls back alone: it is quarantined (and can be retried) while its neighbours stay."""
from __future__ import annotations

from collections import Counter
from dataclasses import replace
from pathlib import Path

import orjson

from adapters.base import MappedRecord, SourceMessage
from adapters.synthetic.gp_connect import gp_connect_bundle
from adapters.synthetic.hl7v2 import hl7v2_messages
from adapters.synthetic.people import invent_people
from gateway.demo import write_sources
from gateway.ingest.provenance import provenance_id
from gateway.store.tables import ResourceRow
from gateway.wiring import Gateway
from tests.ingest.oracle import Expected, summary_counts


def _inputs(tmp_path: Path) -> list[tuple[str, str, bytes]]:
    """The synthetic corpus in every format, plus inputs that must be held or quarantined."""
    inputs = [(format, str(path), path.read_bytes())
              for format, files in write_sources(tmp_path / "data", 6) for path in files]
    stranger = invent_people(9, seed=5)[8]
    renamed = invent_people(2, seed=3)[1]  # stored by mixed.hl7 below
    bundle = orjson.dumps(gp_connect_bundle(stranger))
    bad_nhs = stranger.nhs_number[:9] + str((int(stranger.nhs_number[9]) + 1) % 10)
    first = orjson.loads(inputs[0][2])  # a GP Connect bundle of the corpus: revise one Condition
    condition = next(e["resource"] for e in first["entry"] if e["resource"]["resourceType"] == "Condition")
    condition["note"] = [{"text": "revised"}]
    condition["meta"]["lastUpdated"] = "2099-01-01T00:00:00+00:00"
    newer = orjson.dumps(first)  # updated
    condition["note"] = [{"text": "an older revision"}]
    condition["meta"]["lastUpdated"] = "2001-01-01T00:00:00+00:00"
    older = orjson.dumps(first)  # stale: ignored
    assert inputs[0][0] == "gp-connect"
    inputs += [("gp-connect", "newer.json", newer), ("gp-connect", "older.json", older),
               ("gp-connect", "bad-nhs.json", bundle.replace(stranger.nhs_number.encode(), bad_nhs.encode())),
               ("gp-connect", "not-fhir.json", b'{"hello": "world"}'),
               ("hl7v2", "mixed.hl7", _with_broken_second_message(hl7v2_messages(invent_people(2, seed=3)))),
               # a known person whose other source gives another family name: held, not merged
               ("hl7v2", "renamed.hl7", hl7v2_messages([replace(renamed, family=renamed.family + "-Smythe")])),
               ("hl7v2", "garbage.hl7", b"this is not HL7")]
    return inputs


def _with_broken_second_message(raw: bytes) -> bytes:
    """An HL7 v2 batch whose second message the parser rejects: its neighbours still go through."""
    parts = raw.split(b"MSH|")
    return b"MSH|".join(parts[:2]) + b"MSH|PID|broken\r" + b"MSH|" + b"MSH|".join(parts[3:])


def test_batched_ingest_stores_what_the_rules_say(gateway: Gateway, tmp_path: Path) -> None:
    # Small groups and transactions, so that group flushes and commits fall inside the larger inputs.
    gateway.ingestor.batch_messages, gateway.ingestor.group_messages = 9, 4
    inputs = _inputs(tmp_path)
    expected = Expected()
    outcomes: Counter[str] = Counter()
    for _ in range(2):  # the second pass finds everything unchanged (or, for the revised Condition, stale)
        for format, origin, raw in inputs:
            stored = summary_counts(gateway.ingestor.ingest_bytes(format, raw, origin))
            assert stored == expected.ingest(gateway, format, origin, raw), (format, origin)
            outcomes.update(stored)
    assert all(outcomes[k] for k in ("accepted", "updated", "unchanged", "stale", "quarantined", "held_for_review"))
    expected.check(gateway)


def test_one_refused_message_rolls_back_alone_and_is_quarantined(gateway: Gateway) -> None:
    people = invent_people(3, seed=21)
    raw = hl7v2_messages(people)
    adapter = gateway.ingestor.adapter("hl7v2")
    messages = [m for m in adapter.parse(raw, "caseload.hl7") if isinstance(m, SourceMessage)]
    assert len(messages) >= 3
    victim = messages[1]
    record = next(r for r in adapter.map(victim)
                  if isinstance(r, MappedRecord) and r.resource["resourceType"] != "Patient")
    # Another resource already claims this source record: the database refuses the victim's rows.
    gateway.store.upsert({"resourceType": "Basic", "id": "squatter", "code": {"text": "x"}}, patient_id=None,
                         source_system=record.source_system, source_id=record.source_id)

    summary = gateway.ingestor.ingest_bytes("hl7v2", raw, "caseload.hl7")

    assert summary.messages == len(messages) and summary.quarantined == 1, summary.problems
    [entry] = gateway.quarantine.list()
    assert entry.location == "(store)" and "refused" in entry.reason and entry.raw == victim.raw
    assert entry.origin == victim.origin
    stored = {(s.resource_type, s.id) for s in gateway.store.search("Provenance")}
    neighbours = [m for m in messages if m is not victim]
    assert {("Provenance", provenance_id(m)) for m in neighbours} <= stored  # the neighbours are stored
    assert ("Provenance", provenance_id(victim)) not in stored  # nothing of the victim is
    assert gateway.store.get(record.resource["resourceType"], record.resource["id"]) is None

    # Once the conflict is cleared the quarantined message goes through on retry.
    r = ResourceRow.__table__
    with gateway.engine.begin() as conn:
        conn.execute(r.delete().where(r.c.id == "squatter"))
    retried = gateway.ingestor.retry(entry.id)
    assert retried.quarantined == 0 and retried.accepted > 0
    assert gateway.quarantine.list() == []
    assert gateway.store.get(record.resource["resourceType"], record.resource["id"]) is not None
