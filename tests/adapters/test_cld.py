"""Client Level Data CSV adapter: docs/formats.md columns, events, kept columns, bad rows."""
from __future__ import annotations

from pathlib import Path

import pytest

from adapters.base import (
    Adapter,
    AdapterError,
    MappedRecord,
    Rejected,
    SourceMessage,
    stable_id,
)
from adapters.cld import CldAdapter
from adapters.conventions import EXT_UNMAPPED, LOCAL_ITEM
from adapters.synthetic.cld import cld_return, write_cld
from adapters.synthetic.people import invent_people
from gateway.testing import run_adapter

FIXTURE = Path(__file__).parent.parent / "fixtures" / "cld" / "formats_columns.csv"
ADAPTER = CldAdapter()


def run(raw: bytes, origin: str = "cld.csv") -> tuple[list[SourceMessage], list[MappedRecord], list[Rejected]]:
    return run_adapter(ADAPTER, raw, origin)


def unmapped(resource: dict) -> list[str]:
    return [e["valueString"] for e in resource.get("extension", []) if e["url"] == EXT_UNMAPPED]


def test_implements_the_adapter_protocol() -> None:
    assert isinstance(ADAPTER, Adapter) and ADAPTER.format == "cld" and ADAPTER.version


def test_rows_map_to_patient_and_events() -> None:
    messages, records, rejected = run(FIXTURE.read_bytes())
    assert rejected == []
    assert [m.origin for m in messages] == [f"cld.csv:line {n}" for n in (2, 3, 4, 5, 6)]
    assert {m.source_system for m in messages} == {"C8Q2R"}
    events = [r.resource for r in records if r.resource["resourceType"] != "Patient"]
    assert [e["resourceType"] for e in events] == ["EpisodeOfCare", "Encounter", "CarePlan", "Encounter", "Encounter"]
    request, assessment, service, review, _ = events
    assert request["status"] == "finished" and request["period"] == {"start": "2026-06-01", "end": "2026-06-03"}
    assert assessment["type"][0]["text"] == "Social care assessment" and assessment["status"] == "finished"
    assert review["status"] == "in-progress"
    assert {(c["system"], c["code"]) for c in service["category"][0]["coding"]} == {(LOCAL_ITEM, "CAREPACKAGE")}
    assert service["activity"][0]["detail"]["quantity"] == {"value": 28, "unit": "units per week"}
    assert service["title"] == "Long Term Support: Community" and "Home Care" in service["description"]
    patient = records[0].resource
    assert patient["id"] == stable_id("C8Q2R", "Patient", "CLD/LA-204411")
    assert patient["birthDate"] == "1938-02-14" and patient["gender"] == "female"
    assert patient["extension"][0]["valueCodeableConcept"]["text"].startswith("White: English, Welsh")
    assert patient["generalPractitioner"][0]["identifier"]["value"] == "P81001"
    assert all(r.resource["subject" if "subject" in r.resource else "patient"]["reference"]
               == f"Patient/{patient['id']}"
               for r in records[:8] if r.resource["resourceType"] != "Patient")


def test_unused_columns_are_kept_and_counted() -> None:
    _, records, _ = run(FIXTURE.read_bytes())
    request = records[1]
    assert request.hints["unused_columns"] == ["Client_Type"]
    assert unmapped(request.resource) == ["Event_Outcome: Progress to assessment",
                                          "Primary_Support_Reason: Physical Support: Personal care support",
                                          "Has_Unpaid_Carer: Y", "Client_Type: Service user"]


def test_invalid_nhs_number_is_mapped_as_given_for_match_review() -> None:
    _, records, _ = run(FIXTURE.read_bytes())
    last = [r for r in records if r.location == "line 6"]
    assert {r.patient_nhs_number for r in last} == {"9434765918"}  # fails Modulus 11: the pipeline decides
    assert last[0].resource["identifier"][0]["value"] == "9434765918"


@pytest.mark.parametrize(("old", "new", "location", "reason"), [
    ("2026-06-10,2026-06-10", "2026-06-10,10 June", "line 3, Event_End_Date", "'10 June' is not a date"),
    (",Assessment,EV-2,", ",Visit,EV-2,", "line 3, Event_Type", "'Visit' is not one of"),
    (",Assessment,EV-2,", ",Assessment,,", "line 3, Event_Reference", "empty"),
    ("Female,\"White: English, Welsh, Scottish, Northern Irish or British\",P81001,Assessment",
     "Woman,\"White: English, Welsh, Scottish, Northern Irish or British\",P81001,Assessment",
     "line 3, Gender", "'Woman'"),
])
def test_bad_cell_rejects_that_row_only(old: str, new: str, location: str, reason: str) -> None:
    lines = FIXTURE.read_text().splitlines(keepends=True)
    assert old in lines[2]
    lines[2] = lines[2].replace(old, new)
    _, records, rejected = run("".join(lines).encode())
    assert [(r.location, reason in r.reason) for r in rejected] == [(location, True)]
    assert len(records) == 8 and rejected[0].raw.decode().startswith("C8Q2R,LA-204411")


def test_row_with_wrong_field_count_and_quoted_newlines() -> None:
    text = FIXTURE.read_text().replace("Service user\nC8Q2R,LA-204412", "Service user,extra\nC8Q2R,LA-204412")
    text = text.replace("No services provided", '"No services\nprovided"')
    messages, records, rejected = run(text.encode())
    assert [(r.location, r.reason) for r in rejected] == [("cld.csv:line 5", "row has 19 fields; the header has 18")]
    assert len(messages) == 4
    assert messages[-1].origin == "cld.csv:line 6"
    assert unmapped(records[-1].resource)[0] == "Event_Outcome: No services\nprovided"


@pytest.mark.parametrize(("raw", "reason"), [
    (b"", "no header row"), (b"a,b\n1,2\n", "header lacks column(s) LA_Code"),
    (b"LA_Code,LA_Person_Unique_Identifier,NHS_Number,Event_Type,Event_Reference\n\xff\n", "not valid UTF-8"),
])
def test_unreadable_files_raise_adapter_error(raw: bytes, reason: str) -> None:
    with pytest.raises(AdapterError) as caught:
        list(ADAPTER.parse(raw, "cld.csv"))
    assert reason in caught.value.reason and caught.value.location.startswith("cld.csv:line")


def test_generator_is_deterministic_and_maps_cleanly(tmp_path: Path) -> None:
    people = invent_people(25, seed=4)
    text = cld_return(people, seed=9)
    assert text == cld_return(people, seed=9) and [p.read_text() for p in write_cld(tmp_path, people, seed=9)] == [text]
    messages, records, rejected = run(text.encode())
    assert rejected == [] and len(messages) == 4 * len(people)
    assert {r.patient_nhs_number for r in records} == {p.nhs_number for p in people}
    practices = {r.patient_nhs_number: r.resource["generalPractitioner"][0]["identifier"]["value"]
                 for r in records if r.resource["resourceType"] == "Patient"}
    assert practices == {p.nhs_number: p.practice_ods for p in people}
