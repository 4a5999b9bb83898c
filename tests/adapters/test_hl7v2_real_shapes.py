"""HL7 v2 as hospitals and integration engines send it: the setting decides the mapping, nothing is lost.

``tests/fixtures/hl7v2/hospital_batch.hl7`` is synthetic (an invented test patient) and reproduces
the structures real trust feeds carry that the community-caseload mapping used to misread: a
FHS/BHS batch envelope, an inpatient ADT^A08 (PV1-2 = I, a ward, an attending consultant), the NHS
number typed ``HN`` or given only by assigning authority ``NHS``, PD1-3 ``U``, several PID-13
repetitions, a lab ORU^R01 with two OBRs, reference ranges and abnormal flags, and a death in
PID-29/30. Each test counts, per resource type, what every message became.
"""
from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from adapters.base import MappedRecord, Rejected, SourceMessage
from adapters.community_hl7v2 import Hl7v2Adapter
from adapters.fhir_helpers import HOME_VISIT_CLASS
from gateway.ingest.validate import problem

FIXTURES = Path(__file__).parent.parent / "fixtures" / "hl7v2"
NHS = "https://fhir.nhs.uk/Id/nhs-number"


def run(raw: bytes, adapter: Hl7v2Adapter | None = None,
        ) -> tuple[list[SourceMessage], list[MappedRecord], list[Rejected]]:
    adapter = adapter or Hl7v2Adapter()
    messages: list[SourceMessage] = []
    records: list[MappedRecord] = []
    rejected: list[Rejected] = []
    for item in adapter.parse(raw, "test.hl7"):
        if isinstance(item, Rejected):
            rejected.append(item)
            continue
        messages.append(item)
        for out in adapter.map(item):
            (rejected if isinstance(out, Rejected) else records).append(out)  # type: ignore[arg-type]
    return messages, records, rejected


def per_message(records: list[MappedRecord]) -> dict[str, Counter[str]]:
    counts: dict[str, Counter[str]] = {}
    for r in records:
        counts.setdefault(r.location.split(",")[0], Counter())[r.resource["resourceType"]] += 1
    return counts


@pytest.fixture(scope="module")
def batch() -> tuple[list[SourceMessage], list[MappedRecord], list[Rejected]]:
    return run((FIXTURES / "hospital_batch.hl7").read_bytes())


def test_batch_envelope_is_read_and_every_item_is_stored_as_valid_r4(batch: Any) -> None:
    messages, records, rejected = batch
    assert [m.message_id for m in messages] == ["PAS-5001", "LAB-7001", "PAS-5002"]
    assert rejected == []
    assert [problem(r.resource) for r in records if problem(r.resource)] == []
    assert per_message(records) == {
        # A08: the person and the inpatient stay; no GP team (PD1-3 "U"), no caseload
        "message 1": Counter({"Patient": 1, "Encounter": 1}),
        # ORU: the person, two tests (OBR) with their three results (OBX)
        "message 2": Counter({"Patient": 1, "DiagnosticReport": 2, "Observation": 3}),
        # A03: the person (now deceased) and the stay, finished
        "message 3": Counter({"Patient": 1, "Encounter": 1}),
    }


def test_an_inpatient_a08_is_a_stay_not_a_caseload(batch: Any) -> None:
    _, records, _ = batch
    assert not [r for r in records if r.resource["resourceType"] in ("CareTeam", "EpisodeOfCare")]
    stay = next(r.resource for r in records if r.resource["resourceType"] == "Encounter")
    assert stay["class"]["code"] == "IMP" and stay["class"] != HOME_VISIT_CLASS
    assert stay["location"] == [{"location": {"display": "WARD7, BAY2, BED4, RXX01"}}]
    [attending] = stay["participant"]
    assert attending["type"][0]["coding"][0]["code"] == "ATND"
    assert attending["individual"]["display"] == "ALICE CONSULTANT"
    discharged = [r.resource for r in records if r.resource["resourceType"] == "Encounter"][-1]
    assert discharged["id"] == stay["id"] and discharged["status"] == "finished"


def test_lab_results_are_reports_not_home_visits(batch: Any) -> None:
    _, records, _ = batch
    assert not [r for r in records if r.resource.get("class") == HOME_VISIT_CLASS]
    reports = {r.resource["code"]["coding"][0]["code"]: r.resource for r in records
               if r.resource["resourceType"] == "DiagnosticReport"}
    observations = {r.resource["id"]: r.resource for r in records if r.resource["resourceType"] == "Observation"}
    assert sorted(reports) == ["FBC", "UE"]
    assert [len(reports[c]["result"]) for c in ("FBC", "UE")] == [1, 2]
    potassium = next(o for o in observations.values() if o["code"]["coding"][0]["code"] == "K")
    assert potassium["referenceRange"] == [{"text": "3.5-5.3"}]
    assert potassium["interpretation"][0]["coding"][0]["code"] == "H"
    assert potassium["effectiveDateTime"].startswith("2026-11-20T07:00")  # OBR-7: when the sample was taken
    assert potassium["note"] == [{"text": "Potassium raised: repeat advised."}]
    stay = next(r.resource for r in records if r.resource["resourceType"] == "Encounter")
    assert potassium["encounter"] == {"reference": f"Encounter/{stay['id']}"}  # the stay, not a copy of it
    assert reports["FBC"]["issued"].startswith("2026-11-20T09:25")


def test_nhs_number_typed_hn_or_by_authority_nhs_is_recognised(batch: Any) -> None:
    messages, records, _ = batch
    patients = [r for r in records if r.resource["resourceType"] == "Patient"]
    assert {r.patient_nhs_number for r in patients} == {"9000000009"}  # HN in messages 1 and 3, ^^^NHS in 2
    assert all({"system": NHS, "value": "9000000009"} in p.resource["identifier"] for p in patients)


def test_every_phone_a_death_and_no_practice_named_u(batch: Any) -> None:
    _, records, _ = batch
    patients = [r.resource for r in records if r.resource["resourceType"] == "Patient"]
    assert patients[0]["telecom"] == [
        {"system": "phone", "value": "01632 960001", "use": "home"},
        {"system": "phone", "value": "07700 900002", "use": "mobile"},
        {"system": "email", "value": "ada@example.invalid", "use": "home"}]
    assert "generalPractitioner" not in patients[0]
    assert patients[2]["deceasedDateTime"].startswith("2026-11-25T16:30")


def test_batch_trailer_count_mismatch_is_reported() -> None:
    raw = (FIXTURES / "hospital_batch.hl7").read_bytes().replace(b"BTS|3", b"BTS|4")
    messages, _, rejected = run(raw)
    assert len(messages) == 3
    [warning] = rejected
    assert warning.location == "BTS-1" and "declares 4 message(s) but 3" in warning.reason


def test_an_inpatient_role_is_an_encounter_participant_never_a_care_team_member() -> None:
    raw = (FIXTURES / "hospital_batch.hl7").read_bytes().split(b"MSH|")[1]
    raw = b"MSH|" + raw + b"ROL|1|AD|AT^Attending^HL70443|C7654321^REGISTRAR^BEN|20261118150000\r"
    _, records, rejected = run(raw)
    assert rejected == [] and not [r for r in records if r.resource["resourceType"] == "CareTeam"]
    stay = next(r.resource for r in records if r.resource["resourceType"] == "Encounter")
    assert [p["individual"]["display"] for p in stay["participant"]] == ["ALICE CONSULTANT", "BEN REGISTRAR"]


def test_community_caseload_still_needs_a_community_class_and_team() -> None:
    lifecycle = (FIXTURES / "adt_caseload_lifecycle.hl7").read_bytes()
    _, records, _ = run(lifecycle)
    assert [r for r in records if r.resource["resourceType"] == "EpisodeOfCare"]
    # the same A04 from a ward: no caseload, an inpatient stay instead
    _, ward, rejected = run(lifecycle.replace(b"PV1||O|", b"PV1||I|"))
    assert not [r for r in ward if r.resource["resourceType"] in ("EpisodeOfCare",)]
    assert not [r for r in ward if r.resource["resourceType"] == "CareTeam" and "caseload" in r.resource["name"]]
    assert {r.resource["class"]["code"] for r in ward if r.resource["resourceType"] == "Encounter"} == {"IMP"}
    assert rejected == []


def test_empty_msh4_gets_a_precise_error() -> None:
    raw = (FIXTURES / "formats_example_oru.hl7").read_bytes().replace(b"|DNCASE|RX1|", b"|DNCASE||")
    _, _, [rejected] = run(raw)
    assert rejected.location == "message 1, MSH-4"
    assert "sending facility is empty" in rejected.reason and "truncated" not in rejected.reason


def test_oversized_messages_are_quarantined_with_the_limit_named() -> None:
    raw = (FIXTURES / "formats_example_oru.hl7").read_bytes()
    _, _, [too_big] = run(raw, Hl7v2Adapter(max_message_bytes=200))
    assert too_big.location == "message 1" and "exceeds the limit" in too_big.reason and too_big.raw
    _, _, [too_long] = run(raw, Hl7v2Adapter(max_segments=5))
    assert "segments" in too_long.reason


# --- linear cost ------------------------------------------------------------------------------------

HEAD = ("MSH|^~\\&|DNCASE|RX1|GATEWAY|GW|20261103101500||ORU^R01|DN-000781|P|2.4\r"
        "PID|||9434765919^^^NHS^NH~DN55012^^^RX1^PI||BROOK^EDITH^M^^MRS||19380214|F\r"
        "PV1||O|^^^^^^^^DN-ANC||||N4471^Shah^Priya||||||||||||V-1|||||||||||||||||||||||||20261103093000\r"
        "OBR|1|||VISIT^District nursing visit^L|||20261103093000\r")
SHAPES = {
    "notes": lambda n: "OBX|1|TX|WOUND^Wound assessment^L|1|healing||||||F\r" + "".join(
        f"NTE|{i}||note {i}\r" for i in range(n)),
    "results": lambda n: "".join(f"OBX|{i}|ST|MCADEC^Decision assessed^L|1|decision {i}||||||F\r"
                                 f"OBX|{i}|CE|MCA^Mental capacity assessment^L|1|HAS^Has capacity^L||||||F\r"
                                 for i in range(n // 2)),
    "tests": lambda n: "".join(f"OBR|{i}|P{i}|F{i}|T{i}^Test {i}^L|||20261103093000\r"
                               f"OBX|1|NM|X{i}^Item^L||{i}|u|1-2|H|||F\r" for i in range(n // 2)),
    "contacts": lambda n: "".join(f"NK1|{i}|PERSON{i}^ANN|DAU^Daughter||0770090{i:04d}||KH^Key holder\r"
                                  for i in range(n)),
    "messages": None,  # many small messages in one file
}


def _operations(raw: bytes) -> int:
    """Python-level calls made to parse and map ``raw``: a machine-independent measure of work."""
    adapter = Hl7v2Adapter()
    calls = 0

    def count(frame: Any, event: str, arg: Any) -> None:
        nonlocal calls
        if event in ("call", "c_call"):
            calls += 1

    sys.setprofile(count)
    try:
        for message in adapter.parse(raw, "scale.hl7"):
            if isinstance(message, SourceMessage):
                list(adapter.map(message))
    finally:
        sys.setprofile(None)
    return calls


def _input(shape: str, n: int) -> bytes:
    if shape == "messages":
        return (HEAD + "OBX|1|NM|WATERLOW^Waterlow score^L|3|14||||||F\r").encode() * n
    return (HEAD + SHAPES[shape](n)).encode()  # type: ignore[misc]


@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_work_grows_linearly_with_the_input(shape: str) -> None:
    run(_input(shape, 4))  # warm any per-process caches so that only the per-segment work is compared
    small, large = _operations(_input(shape, 100)), _operations(_input(shape, 400))
    # 4x the input may cost at most ~4x the work (plus the fixed per-message part); quadratic would be ~16x
    assert large / small < 4.5, (shape, small, large)


def test_a_test_in_a_community_visit_message_is_a_report_of_that_visit() -> None:
    raw = (FIXTURES / "formats_example_oru.hl7").read_bytes() + (
        b"OBR|2|P-9|F-9|HBA1C^HbA1c^L|||20261103094500|||||||||||||||20261103120000|||F\r"
        b"OBX|1|NM|HBA1C^HbA1c^L||48|mmol/mol|20-41|H|||F\r")
    _, records, rejected = run(raw)
    assert rejected == []
    [visit] = [r.resource for r in records if r.resource["resourceType"] == "Encounter"]
    assert visit["class"] == HOME_VISIT_CLASS  # the district-nursing visit FORMATS describes
    [report] = [r.resource for r in records if r.resource["resourceType"] == "DiagnosticReport"]
    assert report["encounter"] == {"reference": f"Encounter/{visit['id']}"} and len(report["result"]) == 1
    # the visit's own items are unchanged: three OBX of the visit + the test's one
    assert len([r for r in records if r.resource["resourceType"] in ("Observation", "Flag")]) == 4


def test_a_lab_result_without_a_visit_has_no_encounter() -> None:
    raw = (b"MSH|^~\\&|LAB|RXX|GATEWAY|GW|20261120093000||ORU^R01|LAB-9|P|2.4\r"
           b"PID|||9000000009^^^NHS^NH||TESTPATIENT^ADA||19500601|F\r"
           b"OBR|1||FIL-9|CRP^C-reactive protein^L|||20261120070000|||||||||||||||||F\r"
           b"OBX|1|NM|CRP^C-reactive protein^L||12|mg/L|0-5|H|||F\r")
    _, records, rejected = run(raw)
    assert rejected == []
    assert Counter(r.resource["resourceType"] for r in records) == Counter(
        {"Patient": 1, "DiagnosticReport": 1, "Observation": 1})
    assert not [r for r in records if "encounter" in r.resource]
