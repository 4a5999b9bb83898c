"""National data opt-out CSV adapter: latest row per person wins, Consent shape, bad rows."""
from __future__ import annotations

from pathlib import Path

import pytest

from adapters.base import Adapter, AdapterError, MappedRecord, Rejected, SourceMessage
from adapters.conventions import CONSENT_POLICY, PURPOSE_OF_USE
from adapters.opt_out import OptOutAdapter
from adapters.synthetic.opt_out import opt_out_list, write_opt_out
from adapters.synthetic.people import invent_people
from gateway.testing import run_adapter

FIXTURE = Path(__file__).parent.parent / "fixtures" / "opt_out" / "formats_example.csv"
ADAPTER = OptOutAdapter()


def run(raw: bytes) -> tuple[list[SourceMessage], dict[str, MappedRecord], list[Rejected]]:
    messages, records, rejected = run_adapter(ADAPTER, raw, "optout.csv")
    return messages, {r.patient_nhs_number: r for r in records}, rejected


def test_implements_the_adapter_protocol() -> None:
    assert isinstance(ADAPTER, Adapter) and ADAPTER.format == "opt-out" and ADAPTER.version


def test_latest_row_per_person_wins() -> None:
    messages, records, rejected = run(FIXTURE.read_bytes())
    assert rejected == [] and len(messages) == 3
    assert {n: r.resource["provision"]["type"] for n, r in records.items()} == {
        "9434765919": "permit", "9990000018": "deny", "9990000026": "deny"}
    changed = records["9434765919"]
    assert changed.source_updated.isoformat() == "2026-09-01T10:00:00+00:00"
    assert changed.location == "line 3" and changed.hints["superseded_rows"] == 1
    assert records["9990000026"].source_updated.isoformat() == "2026-05-05T00:00:00+01:00"  # UK local


def test_consent_shape() -> None:
    _, records, _ = run(FIXTURE.read_bytes())
    consent = records["9990000026"].resource
    assert consent["status"] == "active"
    assert consent["patient"] == {"identifier": {"system": "https://fhir.nhs.uk/Id/nhs-number", "value": "9990000026"}}
    assert consent["policyRule"]["coding"][0] == {"system": CONSENT_POLICY, "code": "national-data-opt-out"}
    assert {(p["system"], p["code"]) for p in consent["provision"]["purpose"]} == {
        (PURPOSE_OF_USE, "HRESCH"), (PURPOSE_OF_USE, "HOPERAT")}
    again = run(FIXTURE.read_bytes())[1]["9990000026"].resource
    assert again["id"] == consent["id"]


def test_ties_go_to_the_later_line() -> None:
    raw = b"nhs_number,opted_out,updated\n9434765919,true,2026-01-01\n9434765919,false,2026-01-01\n"
    assert run(raw)[1]["9434765919"].resource["provision"]["type"] == "permit"


@pytest.mark.parametrize(("row", "location", "reason"), [
    (b"9434765919,maybe,2026-01-01", "optout.csv:line 3, opted_out", "'maybe' is not true or false"),
    (b"9434765919,true,yesterday", "optout.csv:line 3, updated", "'yesterday'"),
    (b",true,2026-01-01", "optout.csv:line 3, nhs_number", "empty"),
])
def test_bad_rows_are_rejected_and_do_not_win(row: bytes, location: str, reason: str) -> None:
    raw = b"nhs_number,opted_out,updated\n9434765919,false,2025-01-01\n" + row + b"\n"
    _, records, rejected = run(raw)
    assert [(r.location, reason in r.reason) for r in rejected] == [(location, True)]
    assert records["9434765919"].resource["provision"]["type"] == "permit"


@pytest.mark.parametrize("raw", [b"", b"nhs,opted\n1,true\n", b"nhs_number,opted_out,updated\n\xfe\n"])
def test_unreadable_files_raise_adapter_error(raw: bytes) -> None:
    with pytest.raises(AdapterError):
        list(ADAPTER.parse(raw, "optout.csv"))


def test_generator_is_deterministic_and_final_state_matches_people(tmp_path: Path) -> None:
    people = invent_people(120, seed=3)
    text = opt_out_list(people, seed=5)
    assert text == opt_out_list(people, seed=5)
    assert [p.read_text() for p in write_opt_out(tmp_path, people, seed=5)] == [text]
    assert len(text.splitlines()) - 1 > len(people)  # older rows that must lose
    _, records, rejected = run(text.encode())
    assert rejected == []
    assert {n: r.resource["provision"]["type"] == "deny" for n, r in records.items()} == {
        p.nhs_number: p.opted_out for p in people}
