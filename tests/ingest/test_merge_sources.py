"""One invented person from GP, community nursing and social care becomes one patient, one record."""
from __future__ import annotations

import re

import orjson

from adapters.synthetic.gp_connect import gp_connect_bundle
from adapters.synthetic.hl7v2 import hl7v2_messages
from adapters.synthetic.people import invent_people
from adapters.synthetic.social_care import export_xml, social_care_exports
from gateway.testing import references
from gateway.wiring import Gateway

NHS = "https://fhir.nhs.uk/Id/nhs-number"


def test_three_sources_one_patient(gateway: Gateway) -> None:
    person = invent_people(4, seed=13)[2]
    for format, raw in (("social-care", export_xml(person, 1)), ("hl7v2", hl7v2_messages([person])),
                        ("gp-connect", orjson.dumps(gp_connect_bundle(person)))):
        raw = raw.encode() if isinstance(raw, str) else raw
        summary = gateway.ingestor.ingest_bytes(format, raw, f"{format}-input")
        assert summary.quarantined == 0 and summary.held_for_review == 0, (format, summary.problems)
    patients = gateway.store.find_by_identifier("Patient", NHS, person.nhs_number)
    assert len(patients) == 1
    compartment = gateway.store.compartment(patients[0].id)
    holders = {s.holder_org for s in compartment}
    assert {person.practice_ods, "RX1", "C8Q2R"} <= holders
    # the one Patient carries the local identifiers every source knows the person by
    systems = {i.get("system") for i in patients[0].content["identifier"]}
    assert len(systems) >= 2
    # nothing still points at a source's own copy of the patient
    for stored in compartment:
        refs = {r.removeprefix("Patient/") for r in references(stored.content) if r.startswith("Patient/")}
        assert refs <= {patients[0].id}, (stored.ref, refs)



def test_conflicting_demographics_from_another_source_are_held(gateway: Gateway) -> None:
    person = invent_people(4, seed=13)[3]
    gateway.ingestor.ingest_bytes("gp-connect", orjson.dumps(gp_connect_bundle(person)), "gp")
    xml = export_xml(person, 1)
    born = person.birth_date.isoformat()
    xml = xml.replace(born.encode() if isinstance(xml, bytes) else born,
                      b"1900-01-01" if isinstance(xml, bytes) else "1900-01-01")
    summary = gateway.ingestor.ingest_bytes("social-care", xml if isinstance(xml, bytes) else xml.encode(), "council")
    assert summary.held_for_review == 1
    assert "birth date" in gateway.review.list()[0].reason


def test_re_sending_every_source_changes_nothing(gateway: Gateway) -> None:
    """The folded identifiers survive the first source re-sending its Patient: no ping-pong of versions."""
    person = invent_people(4, seed=13)[1]
    inputs = [("gp-connect", orjson.dumps(gp_connect_bundle(person))), ("social-care", export_xml(person, 1)),
              ("hl7v2", hl7v2_messages([person]))]
    for format, raw in inputs:
        gateway.ingestor.ingest_bytes(format, raw if isinstance(raw, bytes) else raw.encode(), format)
    [before] = gateway.store.find_by_identifier("Patient", NHS, person.nhs_number)
    for format, raw in inputs:
        summary = gateway.ingestor.ingest_bytes(format, raw if isinstance(raw, bytes) else raw.encode(), format)
        assert summary.updated == 0 and summary.accepted == 0, (format, summary.as_dict())
    [after] = gateway.store.find_by_identifier("Patient", NHS, person.nhs_number)
    assert after.version_id == before.version_id
    assert after.content["identifier"] == before.content["identifier"]
    with gateway.engine.connect() as conn:
        import sqlalchemy as sa

        source = conn.execute(sa.text("SELECT source_system, source_updated FROM resource WHERE id = :i"),
                              {"i": after.id}).one()
    assert source.source_system == person.practice_ods and source.source_updated is not None


def test_each_document_of_one_social_care_export_run_keeps_its_own_provenance(gateway: Gateway) -> None:
    """An export run writes a document per person, all stamped with the run's time: each is its own
    message, so each keeps a Provenance naming its own records (not one Provenance overwritten)."""
    people = invent_people(3, seed=5)
    documents = social_care_exports(people)
    assert len({re.search(rb'exported="([^"]+)"', d).group(1) for d in documents.values()}) == 1  # type: ignore[union-attr]
    for name, document in documents.items():
        assert gateway.ingestor.ingest_bytes("social-care", document, name).quarantined == 0
    provenances = gateway.store.search("Provenance")
    own_ids = set()
    for person in people:
        [patient] = gateway.store.find_by_identifier("Patient", NHS, person.nhs_number)
        own = [p for p in provenances if f"Patient/{patient.id}" in {t["reference"] for t in p.content["target"]}]
        assert len(own) == 1, f"{person.nhs_number}: {len(own)} Provenance name its Patient"
        assert own[0].version_id == 1  # never overwritten by another document's
        own_ids.add(own[0].id)
    assert len(own_ids) == len(people)
