"""Community-nursing HL7 v2.4 adapter: docs/formats.md contract, local codes, lifecycle, corrections, faults."""
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
from adapters.community_hl7v2 import Hl7v2Adapter
from adapters.conventions import (
    CARE_TEAM_ROLE,
    EXT_ACCESS_VALUE,
    EXT_DECISION,
    EXT_DETAIL,
    EXT_PARTICIPANT_CONTACT,
    EXT_PARTICIPANT_TEAM,
    EXT_REASONING,
    FLAG_CATEGORY_HL7,
    FLAG_CATEGORY_LOCAL,
    LOCAL_ITEM,
)
from adapters.synthetic.hl7v2 import hl7v2_messages, write_hl7v2
from adapters.synthetic.people import invent_people
from gateway.testing import run_adapter

FIXTURES = Path(__file__).parent.parent / "fixtures" / "hl7v2"
ADAPTER = Hl7v2Adapter()


def run(raw: bytes, origin: str = "test.hl7") -> tuple[list[SourceMessage], list[MappedRecord], list[Rejected]]:
    return run_adapter(ADAPTER, raw, origin)


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def of_type(records: list[MappedRecord], resource_type: str) -> list[dict]:
    return [r.resource for r in records if r.resource["resourceType"] == resource_type]


def ext(resource: dict, url: str) -> str | None:
    return next((e.get("valueString") for e in resource.get("extension", []) if e["url"] == url), None)


def codes(concept: dict) -> set[tuple[str | None, str]]:
    return {(c.get("system"), c["code"]) for c in concept.get("coding", [])}


def roles(team: dict) -> dict[str, dict]:
    return {c["code"]: p for p in team["participant"] for r in p["role"] for c in r.get("coding", [])}


def test_implements_the_adapter_protocol() -> None:
    assert isinstance(ADAPTER, Adapter)
    assert (ADAPTER.format, bool(ADAPTER.version)) == ("hl7v2", True)


def test_formats_example_loads() -> None:
    messages, records, rejected = run(fixture("formats_example_oru.hl7"), "dn.hl7")
    assert rejected == []
    [message] = messages
    assert (message.message_id, message.source_system, message.origin) == ("DN-000781", "RX1", "dn.hl7#message 1")
    assert message.message_time and message.message_time.isoformat() == "2026-11-03T10:15:00+00:00"
    assert {r.patient_nhs_number for r in records} == {"9434765919"}
    assert all(r.source_system == "RX1" and r.source_updated == message.message_time for r in records)
    [patient] = of_type(records, "Patient")
    assert patient["birthDate"] == "1938-02-14" and patient["gender"] == "female"
    assert patient["name"][0] == {"use": "official", "family": "BROOK", "given": ["EDITH", "M"], "prefix": ["MRS"]}
    assert patient["address"][0]["postalCode"] == "M4 6HY"
    assert patient["generalPractitioner"][0]["identifier"]["value"] == "P81001"
    [encounter] = of_type(records, "Encounter")
    assert encounter["period"] == {"start": "2026-11-03T09:30:00+00:00", "end": "2026-11-03T10:05:00+00:00"}
    assert encounter["identifier"][0]["value"] == "V-20261103-1"
    assert encounter["participant"][0]["individual"]["identifier"]["value"] == "N4471"
    assert codes(encounter["type"][0]) == {(LOCAL_ITEM, "VISIT")}
    risk, keysafe = of_type(records, "Flag")
    assert codes(risk["category"][0]) == {(FLAG_CATEGORY_HL7, "safety")}
    assert codes(risk["code"]) == {(LOCAL_ITEM, "DOG")}
    assert ext(risk, EXT_DETAIL).startswith("Large dog, not always shut away")
    assert codes(keysafe["category"][0]) == {(FLAG_CATEGORY_LOCAL, "access")}
    assert ext(keysafe, EXT_ACCESS_VALUE) == "5190" and "5190" not in str(keysafe["code"])
    [waterlow] = of_type(records, "Observation")
    assert waterlow["valueQuantity"]["value"] == 14
    assert waterlow["encounter"]["reference"] == f"Encounter/{encounter['id']}"
    team = of_type(records, "CareTeam")[0]
    assert set(roles(team)) == {"registered-gp-practice", "usual-gp"}
    assert roles(team)["usual-gp"]["member"]["display"] == "Dr Ngozi Okafor"
    # locations name the message and segment
    assert {r.location for r in records} >= {"message 1, PID", "message 1, OBX[1]", "message 1, OBX[3]"}


def test_ids_are_stable_and_references_rewritten() -> None:
    _, records, _ = run(fixture("formats_example_oru.hl7"))
    _, again, _ = run(fixture("formats_example_oru.hl7"))
    assert [r.resource["id"] for r in records] == [r.resource["id"] for r in again]
    patient_id = of_type(records, "Patient")[0]["id"]
    assert patient_id == stable_id("RX1", "Patient", "RX1:DN55012")
    for resource in of_type(records, "Flag") + of_type(records, "Observation"):
        assert resource["subject"]["reference"] == f"Patient/{patient_id}"


def test_every_local_code_is_mapped() -> None:
    _, records, rejected = run(fixture("oru_all_local_codes.mllp"), "codes.mllp")
    assert rejected == []
    by_code = {}
    for record in records:
        res = record.resource
        if "code" in res:
            for _system, code in codes(res["code"]):
                by_code.setdefault(code, res)
    risk = by_code["VIOL"]
    assert risk["resourceType"] == "Flag" and ext(risk, EXT_DETAIL) == (
        "Son shouted at the nurse & threatened to ^hit^ her; visit in pairs.")
    assert by_code["KEYSAFE"]["resourceType"] == "Flag"
    assert ext(by_code["ACCESS"], EXT_ACCESS_VALUE) == "Side door | ring twice\nDog kept in kitchen"
    assert by_code["WATERLOW"]["valueQuantity"]["value"] == 14
    assert by_code["WOUND"]["valueString"].startswith("Sacral pressure ulcer")
    mca = by_code["MCA"]
    assert mca["resourceType"] == "Observation"
    assert codes(mca["valueCodeableConcept"]) == {(LOCAL_ITEM, "LACKS")}
    assert ext(mca, EXT_DECISION) == "Consent to daily wound care"
    assert ext(mca, EXT_REASONING).startswith("Could not retain information")
    assert mca["performer"][0]["identifier"]["value"] == "N4471"
    assert mca["effectiveDateTime"].startswith("2026-11-03T09:50")
    assert "note" not in mca  # the reasoning lives only in its selectable extension
    assert "MCADEC" not in by_code  # folded into the MCA with the same OBX-4
    dnacpr = by_code["DNACPR"]
    assert codes(dnacpr["code"]) == {(LOCAL_ITEM, "DNACPR"), ("http://snomed.info/sct", "304253006")}
    encounter = of_type(records, "Encounter")[0]
    assert "Visit went ahead" in str(encounter["extension"])  # NTE after OBR kept, not dropped


def test_unknown_local_code_kept_and_counted() -> None:
    _, records, _ = run(fixture("oru_all_local_codes.mllp"))
    unknown = [r for r in records if r.hints.get("unknown_code")]
    assert [r.hints["unknown_code"] for r in unknown] == ["FALLS"]
    assert unknown[0].resource["valueString"] == "High"
    assert codes(unknown[0].resource["code"]) == {(LOCAL_ITEM, "FALLS")}


def test_dnacpr_not_in_place_has_no_snomed_code() -> None:
    raw = fixture("formats_example_oru.hl7").replace(
        b"OBX|3|NM|WATERLOW^Waterlow score^L|3|14", b"OBX|3|CE|DNACPR^DNACPR decision^L|3|N^Not in place^L")
    _, records, _ = run(raw)
    [dnacpr] = of_type(records, "Observation")
    assert codes(dnacpr["code"]) == {(LOCAL_ITEM, "DNACPR")}


def test_caseload_lifecycle_a28_a04_a08_a03() -> None:
    messages, records, rejected = run(fixture("adt_caseload_lifecycle.hl7"))
    assert rejected == [] and [m.message_id for m in messages] == [f"DN-10000{i}" for i in (1, 2, 3, 4)]
    by_message = {n: [r for r in records if r.location.startswith(f"message {n},")] for n in (1, 2, 3, 4)}
    # A28: person, contacts, allergy, diagnosis
    first = by_message[1]
    related = of_type(first, "RelatedPerson")
    assert len(related) == 2  # Ann Brook's three NK1s are one person with three roles
    contacts = next(t for t in of_type(first, "CareTeam") if t["name"] == "Family and contacts")
    assert sorted(c for p in contacts["participant"] for r in p["role"] for c in [r["coding"][0]["code"]]) == [
        "key-holder", "key-holder", "lpa-health-and-welfare", "next-of-kin"]
    nok = roles(contacts)["next-of-kin"]
    assert nok["extension"][0]["url"] == EXT_PARTICIPANT_CONTACT
    assert nok["extension"][0]["valueContactPoint"] == {"system": "phone", "value": "07700 900123", "use": "mobile"}
    ann = next(r for r in related if r["name"][0]["family"] == "BROOK")
    assert (CARE_TEAM_ROLE, "lpa-health-and-welfare") in {c for rel in ann["relationship"] for c in codes(rel)}
    assert of_type(first, "AllergyIntolerance")[0]["reaction"][0]["manifestation"][0]["text"] == "Rash"
    assert of_type(first, "Condition")[0]["recordedDate"] == "2020-01-01"
    # A04: accepted onto the caseload
    episode = of_type(by_message[2], "EpisodeOfCare")[0]
    team = of_type(by_message[2], "CareTeam")[0]
    assert episode["status"] == "active" and episode["period"] == {"start": "2026-10-02T10:00:00+01:00"}
    assert episode["team"][0]["reference"] == f"CareTeam/{team['id']}"
    assert episode["careManager"]["identifier"]["value"] == "N4471"
    assert set(roles(team)) == {"district-nursing-team", "caseload-holder", "district-nurse"}
    holder = roles(team)["caseload-holder"]
    assert {e["url"] for e in holder["extension"]} == {EXT_PARTICIPANT_TEAM, EXT_PARTICIPANT_CONTACT}
    assert holder["onBehalfOf"]["identifier"]["value"] == "RX1"
    # A08 updates the same resources; A03 finishes them
    assert of_type(by_message[3], "EpisodeOfCare")[0]["id"] == episode["id"]
    assert roles(of_type(by_message[3], "CareTeam")[0])["caseload-holder"]["member"]["identifier"]["value"] == "N4480"
    done = of_type(by_message[4], "EpisodeOfCare")[0]
    assert done["id"] == episode["id"] and done["status"] == "finished"
    assert done["period"]["end"] == "2026-11-01T16:00:00+00:00"
    closed = of_type(by_message[4], "CareTeam")[0]
    assert closed["id"] == team["id"] and closed["status"] == "inactive"
    assert all(p["period"]["end"] == "2026-11-01T16:00:00+00:00" for p in closed["participant"])


def test_corrections_update_and_deletions_retract() -> None:
    _, original, _ = run(fixture("oru_all_local_codes.mllp"))
    _, corrected, rejected = run(fixture("oru_corrections.hl7"))
    assert rejected == []
    ids = {r.resource["id"]: r.resource for r in original}
    waterlow = next(r.resource for r in corrected if r.resource["resourceType"] == "Observation")
    assert waterlow["id"] in ids and waterlow["status"] == "corrected" and waterlow["valueQuantity"]["value"] == 16
    flag = of_type(corrected, "Flag")[0]
    assert flag["id"] in ids and flag["status"] == "entered-in-error"
    newer = {r.source_updated for r in corrected}
    assert max(r.source_updated for r in original) < min(newer)  # so the pipeline lets it win


@pytest.mark.parametrize("ending", [b"\r", b"\n", b"\r\n"])
@pytest.mark.parametrize("framed", [False, True])
def test_line_endings_framing_and_several_messages(ending: bytes, framed: bool) -> None:
    single = fixture("formats_example_oru.hl7").rstrip(b"\r").replace(b"\r", ending) + ending
    second = single.replace(b"DN-000781", b"DN-000782")
    raw = (b"\x0b" + single + b"\x1c\r" + b"\x0b" + second + b"\x1c\r") if framed else single + second
    messages, records, rejected = run(raw, "two.hl7")
    assert rejected == []
    assert [(m.origin, m.message_id) for m in messages] == [("two.hl7#message 1", "DN-000781"),
                                                           ("two.hl7#message 2", "DN-000782")]
    assert len(records) == 12
    assert messages[1].raw.startswith(b"MSH|") and b"\x0b" not in messages[1].raw


def test_escapes_and_repeats() -> None:
    raw = fixture("formats_example_oru.hl7").replace(
        b"BROOK^EDITH^M^^MRS", b"O\\S\\BRIEN\\T\\CO^EDITH^M^^MRS").replace(
        b"NTE|1||Large dog", b"NTE|1||a\\F\\b \\E\\ c\\R\\d~second line. Large dog")
    _, records, rejected = run(raw)
    assert rejected == []
    assert of_type(records, "Patient")[0]["name"][0]["family"] == "O^BRIEN&CO"
    risk = of_type(records, "Flag")[0]
    assert ext(risk, EXT_DETAIL).startswith("a|b \\ c~d\nsecond line. Large dog")
    identifiers = of_type(records, "Patient")[0]["identifier"]
    assert [i["value"] for i in identifiers] == ["9434765919", "DN55012"]  # PID-3 repeats


def test_latin1_declared_in_msh18_is_decoded() -> None:
    raw = fixture("formats_example_oru.hl7").replace(b"|P|2.4", b"|P|2.4||||||8859/1").replace(
        b"Large dog", "Grand chien méchant".encode("latin-1"))
    _, records, rejected = run(raw)
    assert rejected == [] and "méchant" in ext(of_type(records, "Flag")[0], EXT_DETAIL)


def _second_message_broken(old: bytes, new: bytes) -> bytes:
    good = fixture("formats_example_oru.hl7")
    bad = good.replace(b"DN-000781", b"DN-000782").replace(old, new)
    assert bad != good.replace(b"DN-000781", b"DN-000782"), "the test must change something"
    return good + bad


@pytest.mark.parametrize(("old", "new", "location", "reason"), [
    (b"19380214", b"2026x", "message 2, PID-7", "'2026x' is not a date"),
    (b"19380214", b"20261341", "message 2, PID-7", "'20261341' is not a date"),
    (b"|F|||12 Canal", b"|Q|||12 Canal", "message 2, PID-8", "'Q' is not an administrative sex"),
    (b"9434765919^^^NHS^NH~DN55012^^^RX1^PI", b"", "message 2, PID-3", "no NHS number"),
    (b"MSH|^~\\&", b"MSH|^~^&", "message 2, MSH-2", "encoding characters"),
    (b"PD1|||", b"PD1;;;", "message 2, PD1 (segment 3)", "wrong delimiters"),
    (b"ORU^R01", b"ORU^R99", "message 2, MSH-9", "ORU^R99 is not supported"),
    (b"|20261103101500||", b"|2026110310150099||", "message 2, MSH-7", "is not a date"),
    (b"DN-000782|P|2.4", b"", "message 2, MSH-10", "message control id is empty"),
    (b"OBX|3|NM|WATERLOW^Waterlow score^L|3|14||||||F|||20261103094500", b"OB", "message 2, segment 9",
     "truncated"),
])
def test_malformed_message_is_rejected_with_segment_and_field(old: bytes, new: bytes, location: str,
                                                               reason: str) -> None:
    messages, records, rejected = run(_second_message_broken(old, new))
    assert messages[0].message_id == "DN-000781" and len([r for r in records if "message 1," in r.location]) == 6
    assert len(rejected) == 1, rejected
    assert rejected[0].location == location and reason in rejected[0].reason
    assert rejected[0].raw  # the message is kept for quarantine


@pytest.mark.parametrize(("old", "new", "location", "reason"), [
    (b"|20261103094500", b"|20261303094500", "message 2, OBX[3]-14", "is not a date"),
    (b"|NM|WATERLOW^Waterlow score^L|3|14", b"|NM|WATERLOW^Waterlow score^L|3|fourteen",
     "message 2, OBX[3]-5", "'fourteen' is not a number"),
    (b"||||||F|||20261103094000||N4471", b"||||||Z|||20261103094000||N4471", "message 2, OBX[1]-11",
     "not an observation result status"),
])
def test_bad_item_quarantines_only_that_item(old: bytes, new: bytes, location: str, reason: str) -> None:
    _, records, rejected = run(_second_message_broken(old, new))
    assert [(r.location, reason in r.reason) for r in rejected] == [(location, True)]
    assert len([r for r in records if "message 2," in r.location]) == 5


def test_bad_visit_time_holds_back_the_visit_and_its_results() -> None:
    _, records, rejected = run(_second_message_broken(b"|20261103100500", b"|2026110310050x"))
    assert [r.location for r in rejected] == ["message 2, PV1-45"]
    assert {r.resource["resourceType"] for r in records if "message 2," in r.location} == {"Patient", "CareTeam"}


def test_missing_msh_and_truncation() -> None:
    good = fixture("formats_example_oru.hl7")
    headless = good.split(b"\r", 1)[1]
    messages, _, rejected = run(good + headless)
    assert len(messages) == 1
    assert rejected[0].location == "message 2, MSH" and "missing MSH" in rejected[0].reason
    _, _, rejected = run(b"MSH|^~\\&|DNCASE\r")
    assert rejected[0].location == "message 1, MSH-4"
    _, _, rejected = run(b"MSH|^~\\&|DNCASE|RX1|GW|GW|20261103101500||ORU^R01|X1|P|2.4\r")
    assert rejected[0].location == "message 1, PID" and "segment missing" in rejected[0].reason


def test_non_utf8_is_rejected_naming_the_segment() -> None:
    raw = fixture("formats_example_oru.hl7").replace(b"Large dog", b"Large \xff dog")
    _, _, rejected = run(raw)
    assert rejected[0].location == "message 1, segment 7 (NTE)" and "0xff" in rejected[0].reason


@pytest.mark.parametrize("raw", [b"", b"   \r\n", b"PID|||123\r", b"hello world", b"<xml/>"])
def test_not_hl7_at_all_raises_adapter_error(raw: bytes) -> None:
    with pytest.raises(AdapterError):
        list(ADAPTER.parse(raw, "x.hl7"))


def test_generator_is_deterministic_and_maps_cleanly(tmp_path: Path) -> None:
    people = invent_people(30, seed=7)
    raw = hl7v2_messages(people, seed=3)
    assert raw == hl7v2_messages(people, seed=3)
    assert [p.read_bytes() for p in write_hl7v2(tmp_path, people, seed=3)] == [raw]
    messages, records, rejected = run(raw)
    assert rejected == [] and len(messages) == 3 * len(people)
    assert not [r for r in records if r.hints.get("unknown_code")]
    numbers = {p.nhs_number for p in people}
    assert {r.patient_nhs_number for r in records} == numbers
    flags = {(r.patient_nhs_number, c) for r in records if r.resource["resourceType"] == "Flag"
             for _, c in codes(r.resource["code"])}
    for person in people:  # the feed says what the Person says
        assert ((person.nhs_number, person.risk_flag) in flags) == (person.risk_flag is not None)
    framed = hl7v2_messages(people, seed=3, framed=True)
    assert len(run(framed)[1]) == len(records)


def test_generator_capacity_and_dnacpr_follow_people() -> None:
    people = invent_people(40, seed=2)
    _, records, _ = run(hl7v2_messages(people))
    by_person = {p.nhs_number: p for p in people}
    for record in records:
        res = record.resource
        if res["resourceType"] != "Observation":
            continue
        person = by_person[record.patient_nhs_number]
        found = {c for _, c in codes(res["code"])}
        if "MCA" in found:
            expected = "LACKS" if person.lacks_capacity else "HAS"
            assert codes(res["valueCodeableConcept"]) == {(LOCAL_ITEM, expected)}
        if "DNACPR" in found:
            assert ("304253006" in found) == person.dnacpr


def test_sloppy_codes_and_authorities_still_give_valid_r4() -> None:
    raw = fixture("formats_example_oru.hl7").replace(b"DN55012^^^RX1^PI", b"DN55012^^^RX 1 east^PI").replace(
        b"WATERLOW^Waterlow score^L|3|14", b"FOO  BAR^Odd code^L|3|14").replace(
        b"DOG^Dangerous dog^L", b"DOG   ^Dangerous dog^L")
    _, records, rejected = run(raw)  # run() asserts every resource validates
    assert rejected == []
    assert [r.hints["unknown_code"] for r in records if r.hints] == ["FOO  BAR"]
    assert codes(of_type(records, "Flag")[0]["code"]) == {(LOCAL_ITEM, "DOG")}


def test_date_only_message_time_is_midnight_uk_time() -> None:
    raw = fixture("formats_example_oru.hl7").replace(b"|20261103101500||", b"|20260701||")
    [message], _, _ = run(raw)
    assert message.message_time.isoformat() == "2026-07-01T00:00:00+01:00"
