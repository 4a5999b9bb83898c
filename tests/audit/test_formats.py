"""FHIR AuditEvent (validated with fhir.resources R4B), JSONL and CSV exports, anomaly reports."""
from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
from fhir.resources.R4B.auditevent import AuditEvent

from gateway.audit import AuditLog
from gateway.audit.anomalies import (
    many_patients,
    no_relationship,
    out_of_hours_emergency,
    repeated_refusals,
    report,
)
from gateway.audit.auditevent import to_audit_events
from gateway.audit.formats import CSV_COLUMNS, write_csv, write_jsonl


def test_audit_events_validate_as_r4b(log: AuditLog, make: Any) -> None:
    log.append(make())
    refused = make(outcome="refused", status=403, purpose="research")
    refused["interaction"] = "search-type Condition"
    refused["query"] = "patient=p1&category=problem-list-item"
    log.append(refused)
    redacting = make(resources=())
    redacting["interaction"] = "read"
    redacting["items"]["redacted"] = [{"ref": "Observation/o1", "fields": ["note"], "rule_ids": ["r2"],
                                       "categories": ["clinical"]}]
    redacting["requester"] = None  # e.g. an unauthenticated refusal
    log.append(redacting)
    log.append({"interaction": "GET /fhir/Patient/x", "requester": None, "patients": [], "outcome": "error",
                "status": 500, "reason": "store unavailable", "items": {}})
    events = list(to_audit_events(log.search()))
    assert len(events) == 4
    for event in events:
        AuditEvent.model_validate(event)  # raises on any structural error
    assert events[3]["outcome"] == "8" and "subtype" not in events[3] and "entity" not in events[3]
    events = events[:3]
    first, second, third = events
    assert first["type"]["code"] == "rest" and first["subtype"][0]["code"] == "operation"
    assert first["outcome"] == "0" and second["outcome"] == "4" and second["action"] == "E"
    user = next(a for a in first["agent"] if a.get("requestor"))
    assert user["who"]["identifier"]["value"] == "G1234567" and user["role"][0]["coding"][0]["code"] == "gp"
    assert user["purposeOfUse"][0]["coding"][0]["code"] == "TREAT"
    patient = first["entity"][0]
    assert patient["what"]["identifier"]["value"] == "9434765919" and patient["role"]["code"] == "1"
    assert {e["what"]["reference"] for e in first["entity"][1:]} == {"Condition/c1"}
    assert any(e["role"]["code"] == "24" for e in second["entity"])  # the query
    redacted = [e for e in third["entity"] if e.get("securityLabel")]
    assert redacted and redacted[0]["what"]["reference"] == "Observation/o1"
    assert not any(a.get("requestor") for a in third["agent"])


def test_review_records_are_not_audit_events(log: AuditLog, make: Any) -> None:
    log.append(make(obligations=("review",)))
    log.mark_reviewed(1, "aud", "ok")
    assert [e["id"] for e in to_audit_events(log.search())] == ["audit-1"]


def test_jsonl_and_csv(filled: AuditLog) -> None:
    out = io.BytesIO()
    assert write_jsonl(filled.search(), out) == 10
    lines = [orjson.loads(line) for line in out.getvalue().splitlines()]
    assert [line["seq"] for line in lines] == list(range(1, 11)) and all("hash" in line for line in lines)
    text = io.StringIO()
    write_csv(filled.search(limit=3), text)
    rows = list(csv.DictReader(io.StringIO(text.getvalue())))
    assert list(rows[0]) == CSV_COLUMNS and len(rows) == 3
    assert rows[1]["user"] == "user1" and rows[1]["nhs_numbers"] == "9434765919"
    assert rows[1]["released"] == "Condition/c1" and rows[1]["rule_ids"] == "gp-clinical"


# -- anomalies --------------------------------------------------------------------------------------
BASE = datetime(2026, 3, 4, 10, 0, tzinfo=UTC)  # a Wednesday, 10:00 in London


def at(delta: timedelta) -> str:
    return (BASE + delta).isoformat()


@pytest.fixture
def planted(log: AuditLog, make: Any) -> AuditLog:
    for i in range(25):  # snooper: 25 people in 25 minutes
        log.append(make(user="snooper", patient_id=f"p{i}", nhs=f"90000000{i:02d}", time=at(timedelta(minutes=i))))
    for i in range(25):  # busy but normal: 25 people over two days
        log.append(make(user="normal", patient_id=f"q{i}", nhs=f"91000000{i:02d}", time=at(timedelta(hours=2 * i))))
    log.append(make(user="nosy", relationship=False, time=at(timedelta(hours=1))))                  # 51
    log.append(make(user="nosy", relationship=False, outcome="refused", time=at(timedelta(hours=1))))  # 52
    log.append(make(user="night", purpose="emergency", time=at(timedelta(hours=13))))             # 53 23:00
    log.append(make(user="day", purpose="emergency", time=at(timedelta(hours=2))))                # 54 12:00
    log.append(make(user="weekend", purpose="emergency", time=at(timedelta(days=3))))             # 55 Saturday
    for i in range(3):                                                                             # 56-58
        log.append(make(user="refused", outcome="refused", status=403, time=at(timedelta(minutes=10 * i))))
    log.append(make(user="refused-rarely", outcome="refused", time=at(timedelta(0))))             # 59
    log.append(make(user="refused-rarely", outcome="refused", time=at(timedelta(days=3))))        # 60
    return log


def test_many_patients_finds_the_snooper_only(planted: AuditLog) -> None:
    found = many_patients(planted.iter_entries(), max_patients=20, window=timedelta(hours=1))
    assert [(a.user, len(a.seqs)) for a in found] == [("snooper", 21)]


def test_no_relationship_finds_disclosures_only(planted: AuditLog) -> None:
    assert [(a.user, a.seqs) for a in no_relationship(planted.iter_entries())] == [("nosy", (51,))]


def test_out_of_hours_emergency(planted: AuditLog) -> None:
    found = out_of_hours_emergency(planted.iter_entries())
    assert [(a.user, a.seqs) for a in found] == [("night", (53,)), ("weekend", (55,))]


def test_repeated_refusals(planted: AuditLog) -> None:
    found = repeated_refusals(planted.iter_entries(), threshold=3, window=timedelta(hours=24))
    assert [(a.user, a.seqs) for a in found] == [("refused", (56, 57, 58))]


def test_report_runs_every_check(planted: AuditLog) -> None:
    kinds = {a.kind for a in report(planted.iter_entries())}
    assert kinds == {"many_patients", "no_relationship", "out_of_hours_emergency", "repeated_refusals"}
