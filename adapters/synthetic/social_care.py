"""Council case-record exports (XML, docs/formats.md) for invented people, one document per person.

Alerts, capacity assessments, safeguarding concerns, objections and attorneys follow the Person
fields, so the council's record agrees with the HL7 and GP feeds about the same people.
"""
from __future__ import annotations

import hashlib
import random
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from xml.etree.ElementTree import Element, SubElement, indent, tostring

from adapters.fhir_helpers import RISK_CODES
from adapters.synthetic.people import COMMUNITY_TRUST, COUNCIL, Person

EXPORTED = datetime(2026, 11, 3, 18, 0, tzinfo=UTC)
_TIMES = {1: "09:00", 2: "08:00,17:00", 3: "08:00,12:30,17:00", 4: "08:00,12:30,17:00,21:00"}


_ACCESS = ("Side door", "Back gate, then the kitchen door", "Ring and wait; slow to answer")


def access_details(p: Person) -> tuple[str, str]:
    """(key-safe code, access instructions): derived from the person so every feed agrees."""
    digest = int(hashlib.sha256(p.nhs_number.encode()).hexdigest(), 16)
    return f"{1000 + digest % 9000}", _ACCESS[digest % len(_ACCESS)]


def person_id(p: Person) -> str:
    """The council's id for the person (also LA_Person_Unique_Identifier in the CLD return)."""
    return f"LA-{204000 + p.index}"


def _stamp(day: date, hour: int = 10) -> str:
    return datetime(day.year, day.month, day.day, hour, 0, tzinfo=UTC).isoformat()


def _item(parent: Element, tag: str, item_id: str, updated: str, **attrs: str) -> Element:
    return SubElement(parent, tag, {"id": item_id, "updated": updated, **attrs})


def _text(parent: Element, tag: str, value: str) -> Element:
    child = SubElement(parent, tag)
    child.text = value
    return child


def export_xml(p: Person, seed: int = 1) -> bytes:
    rng = random.Random(f"{seed}:{p.index}")
    day = date(2026, 9, 1) + timedelta(days=rng.randrange(0, 40))
    updated = _stamp(day)
    root = Element("CaseRecordExport", council=COUNCIL, system="CaseSys", exported=EXPORTED.isoformat())
    person = _item(root, "Person", person_id(p), updated)
    _text(person, "NhsNumber", p.nhs_number)
    SubElement(person, "Name", family=p.family, given=p.given, title=p.title)
    _text(person, "BirthDate", p.birth_date.isoformat())
    _text(person, "Gender", p.gender)
    SubElement(person, "Address", line1=p.address_line, town=p.town, postcode=p.postcode)
    _text(person, "Phone", p.phone)
    _text(person, "GpPractice", p.practice_name).set("ods", p.practice_ods)

    team, worker_id, worker_name, worker_phone = p.social_worker
    relative = f"{p.relative_given} {p.family}"
    contacts = SubElement(root, "Contacts")
    _item(contacts, "Worker", worker_id, updated, role="allocated-social-worker", team=team,
          name=worker_name, phone=worker_phone,
          email=f"{worker_name.lower().replace(' ', '.')}@council.example")
    _item(contacts, "Relative", f"R-{p.index}", updated, relationship=p.relative_relationship,
          name=relative, phone=f"07700 9{p.index % 100000:05d}", nextOfKin="true", keyHolder="true")
    if p.lacks_capacity:
        _item(contacts, "Attorney", f"L-{p.index}", updated, type="health-and-welfare", name=relative,
              registered=(day - timedelta(days=400)).isoformat())

    if p.risk_flag:
        alert = _item(SubElement(root, "Alerts"), "Alert", f"AL-{p.index}", updated,
                      type="risk-to-staff", code=p.risk_flag, raised=(day - timedelta(days=90)).isoformat())
        _text(alert, "Summary", RISK_CODES[p.risk_flag])
        _text(alert, "Detail", f"Recorded after a home visit: {RISK_CODES[p.risk_flag].lower()}. "
                               "Two workers to attend until reviewed.")
    access = _item(root, "Access", f"AC-{p.index}", updated)
    key_safe, instructions = access_details(p)
    _text(access, "KeySafe", key_safe)
    _text(access, "Instructions", instructions)
    if p.lacks_capacity is not None:
        assessment = _item(SubElement(root, "CapacityAssessments"), "CapacityAssessment",
                           f"MCA-{p.index}", updated, date=day.isoformat(),
                           outcome="lacks-capacity" if p.lacks_capacity else "has-capacity")
        _text(assessment, "Decision", "Whether to move into residential care")
        SubElement(assessment, "Assessor", name=worker_name, role="social-worker")
        _text(assessment, "Reasoning", "Two-stage test applied over two visits with the family present.")
        if p.lacks_capacity:
            _text(assessment, "BestInterestsDecision", "Remain at home with an increased care package.")
    if p.safeguarding:
        concern = _item(SubElement(root, "Safeguarding"), "Concern", f"SG-{p.index}", updated,
                        raised=(day - timedelta(days=20)).isoformat(), status="section-42-enquiry-open")
        _text(concern, "Detail", "Unexplained withdrawals from the person's bank account.")
    provider_ods, provider = p.care_provider
    calls = rng.randint(1, 4)
    _item(SubElement(root, "CarePackage"), "Service", f"SV-{p.index}", updated, type="home-care",
          provider=provider, providerOds=provider_ods, start=day.isoformat(),
          callsPerDay=str(calls), times=_TIMES[calls])
    note = _item(SubElement(root, "CaseNotes"), "Note", f"CN-{p.index}", updated,
                 date=day.isoformat(), author=worker_name)
    note.text = f"Visited {p.given} at home with {relative}; care package reviewed & working well."
    preferences = SubElement(root, "SharingPreferences")
    if p.objects_to_gp_seeing_case_notes:
        _item(preferences, "Objection", f"OB-{p.index}", updated, recorded=day.isoformat(),
              category="case_notes", recipientOds=p.practice_ods)
    if p.lacks_capacity:
        _item(preferences, "Consent", f"CO-{p.index}", updated, recorded=day.isoformat(),
              category="capacity_assessment", recipientOds=COMMUNITY_TRUST, givenBy="attorney")
    indent(root)
    return tostring(root, encoding="utf-8", xml_declaration=True) + b"\n"


def social_care_exports(people: list[Person], seed: int = 1) -> dict[str, bytes]:
    """File name -> export document, one per person."""
    return {f"case-record-{p.index:04d}.xml": export_xml(p, seed) for p in people}


def write_social_care(directory: Path, people: list[Person], seed: int = 1) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, document in social_care_exports(people, seed).items():
        (path := directory / name).write_bytes(document)
        paths.append(path)
    return paths
