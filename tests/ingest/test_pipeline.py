"""The ingest pipeline over the GP Connect adapter: nothing lost, nothing duplicated, no silent merge."""
from __future__ import annotations

import copy

import orjson
import pytest

from adapters.synthetic.gp_connect import gp_connect_bundle
from adapters.synthetic.people import Person, invent_people
from gateway.wiring import Gateway

NHS = "https://fhir.nhs.uk/Id/nhs-number"


@pytest.fixture
def person() -> Person:
    return invent_people(5, seed=11)[1]


def _ingest(gateway: Gateway, bundle: dict, origin: str = "bundle.json"):  # type: ignore[no-untyped-def]
    return gateway.ingestor.ingest_bytes("gp-connect", orjson.dumps(bundle), origin)


def _patient_resource(bundle: dict) -> dict:
    return next(e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Patient")


def test_same_message_twice_gives_one_set_of_resources(gateway: Gateway, person: Person) -> None:
    bundle = gp_connect_bundle(person)
    first = _ingest(gateway, bundle)
    stored_after_first = gateway.store.count()
    second = _ingest(gateway, bundle)
    assert first.accepted > 5 and first.quarantined == 0
    assert second.accepted == 0 and second.updated == 0 and second.unchanged == first.accepted
    assert gateway.store.count() == stored_after_first


def test_every_stored_resource_has_provenance_and_categories(gateway: Gateway, person: Person) -> None:
    _ingest(gateway, gp_connect_bundle(person))
    [patient] = gateway.store.find_by_identifier("Patient", NHS, person.nhs_number)
    compartment = gateway.store.compartment(patient.id)
    provenance = [s for s in compartment if s.resource_type == "Provenance"]
    assert len(provenance) == 1
    targets = {t["reference"] for t in provenance[0].content["target"]}
    clinical = [s for s in compartment if s.resource_type in ("Condition", "AllergyIntolerance")]
    assert clinical and all(s.ref in targets for s in clinical)
    assert all("clinical_summary" in s.categories for s in clinical)
    assert "demographics" in patient.categories


def test_invalid_nhs_number_goes_to_match_review_not_the_record(gateway: Gateway, person: Person) -> None:
    bundle = gp_connect_bundle(person)
    bad = person.nhs_number[:9] + str((int(person.nhs_number[9]) + 1) % 10)
    raw = orjson.dumps(bundle).replace(person.nhs_number.encode(), bad.encode())
    summary = gateway.ingestor.ingest_bytes("gp-connect", raw, "bad-nhs.json")
    assert summary.held_for_review == 1 and summary.accepted == 0
    assert gateway.store.count() == 0
    [held] = gateway.review.list()
    assert "Modulus 11" in held.reason and held.nhs_number == bad


def test_disagreeing_demographics_are_held_then_resolved_by_a_person(gateway: Gateway, person: Person) -> None:
    _ingest(gateway, gp_connect_bundle(person))
    [stored] = gateway.store.find_by_identifier("Patient", NHS, person.nhs_number)
    other = copy.deepcopy(gp_connect_bundle(person))
    raw = orjson.dumps(other).replace(person.birth_date.isoformat().encode(), b"1901-01-01")
    held = gateway.ingestor.ingest_bytes("gp-connect", raw, "other-practice.json")
    assert held.held_for_review == 1
    [entry] = gateway.review.list()
    assert "birth date" in entry.reason
    resolved = gateway.ingestor.resolve_match(entry.id, stored.id)
    assert resolved.held_for_review == 0
    assert gateway.review.list() == []
    assert [e.status for e in gateway.review.list(status=None)] == ["linked"]


def test_unmappable_entry_is_quarantined_and_the_rest_stored_then_retried(gateway: Gateway, person: Person) -> None:
    bundle = gp_connect_bundle(person)
    index = next(i for i, e in enumerate(bundle["entry"]) if e["resource"]["resourceType"] == "Condition")
    bundle["entry"][index]["resource"]["onsetDateTime"] = "not-a-date"
    summary = _ingest(gateway, bundle, "broken.json")
    assert summary.quarantined >= 1 and summary.accepted > 0
    [entry] = gateway.quarantine.list()
    assert entry.origin == "broken.json" and "onset" in (entry.location + entry.reason)
    # The source sends a fix; retrying the quarantined input with it resolves the entry.
    fixed = gp_connect_bundle(person)
    retry = gateway.ingestor.retry(entry.id, orjson.dumps(fixed))
    assert retry.quarantined == 0
    assert gateway.quarantine.list() == []


def test_non_fhir_input_is_quarantined_with_a_reason(gateway: Gateway) -> None:
    summary = gateway.ingestor.ingest_bytes("gp-connect", b'{"hello": "world"}', "notfhir.json")
    assert summary.quarantined == 1
    [entry] = gateway.quarantine.list()
    assert entry.raw == b'{"hello": "world"}' and entry.reason


def test_older_message_after_newer_is_ignored(gateway: Gateway, person: Person) -> None:
    newer = gp_connect_bundle(person)
    older = copy.deepcopy(newer)
    for entry in newer["entry"]:
        entry["resource"].setdefault("meta", {})["lastUpdated"] = "2026-10-02T10:00:00+00:00"
    for entry in older["entry"]:
        entry["resource"].setdefault("meta", {})["lastUpdated"] = "2026-10-01T10:00:00+00:00"
    _patient_resource(older)["name"][0]["given"] = ["Stale"]
    _ingest(gateway, newer)
    summary = _ingest(gateway, older)
    assert summary.stale >= 1 and summary.updated == 0
    [patient] = gateway.store.find_by_identifier("Patient", NHS, person.nhs_number)
    assert patient.content["name"][0]["given"] != ["Stale"]


# --- one outcome per message, and the per-input report --------------------------------------------

def _balanced(summary) -> None:  # type: ignore[no-untyped-def]
    """Every item that came in was stored, refused or held: nothing silently lost."""
    for kind, counts in summary.items.items():
        assert counts.came_in == counts.stored + counts.refused + counts.held, kind


def test_a_refused_patient_of_an_unknown_person_is_one_quarantine_entry_not_also_a_review(
        gateway: Gateway, person: Person) -> None:
    bundle = gp_connect_bundle(person)
    _patient_resource(bundle)["birthDate"] = "the fourteenth"  # R4 refuses the Patient
    summary = _ingest(gateway, bundle, "bad-patient.json")
    assert gateway.review.list() == [] and summary.held_for_review == 0
    [entry] = gateway.quarantine.list()
    assert entry.location == "Patient" and "Patient was refused" in entry.reason and "birthDate" in entry.reason
    assert gateway.store.count() == 0
    assert summary.items["Patient"].refused == 1 and summary.totals().stored == 0
    assert summary.totals().refused == summary.totals().came_in == len(bundle["entry"]) + 1  # + the GP CareTeam
    _balanced(summary)


def test_a_refused_patient_of_a_known_person_leaves_the_rest_linked(gateway: Gateway, person: Person) -> None:
    _ingest(gateway, gp_connect_bundle(person))
    bundle = gp_connect_bundle(person)
    _patient_resource(bundle)["birthDate"] = "the fourteenth"
    summary = _ingest(gateway, bundle, "bad-patient-again.json")
    assert gateway.review.list() == []
    assert summary.items["Patient"].refused == 1 and summary.totals().stored == summary.totals().came_in - 1
    _balanced(summary)


def test_a_message_refused_whole_is_not_also_held_for_review(gateway: Gateway) -> None:
    raw = (b"MSH|^~\\&|DNCASE|RX1|GATEWAY|GW|20261103101500||ADT^A28|DN-1|P|2.4\r"
           b"PID|||||BROOK^EDITH||19380214|F\r")  # no identifier at all: nothing can be mapped
    summary = gateway.ingestor.ingest_bytes("hl7v2", raw, "no-id.hl7")
    assert summary.quarantined == 1 and summary.held_for_review == 0
    assert gateway.review.list() == []
    _balanced(summary)


def test_ingest_files_returns_a_report_per_input(gateway: Gateway, person: Person) -> None:
    good = orjson.dumps(gp_connect_bundle(person))
    bundle = gp_connect_bundle(invent_people(5, seed=11)[2])
    index = next(i for i, e in enumerate(bundle["entry"]) if e["resource"]["resourceType"] == "Condition")
    bundle["entry"][index]["resource"]["clinicalStatus"] = "sort-of"
    partial = orjson.dumps(bundle)
    total = gateway.ingestor.ingest_files("gp-connect", [("good.json", good), ("partial.json", partial),
                                                         ("junk.json", b"not json")])
    reports = {origin: s.report() for origin, s in total.inputs}
    assert list(reports) == ["good.json", "partial.json", "junk.json"]
    assert reports["good.json"]["refused"] == 0 and reports["good.json"]["stored"] == reports["good.json"]["came_in"]
    assert reports["partial.json"]["by_type"]["Condition"]["refused"] == 1
    assert reports["partial.json"]["stored"] == reports["partial.json"]["came_in"] - 1
    [why] = reports["partial.json"]["refused_or_held_because"]
    assert "sort-of" in why
    assert reports["junk.json"]["by_type"] == {"(whole message)": {"came_in": 1, "stored": 0, "refused": 1, "held": 0}}
    for _, s in total.inputs:
        _balanced(s)
    assert total.as_dict()["inputs"][1]["origin"] == "partial.json"


def test_gp_record_warnings_survive_storage_on_the_list(gateway: Gateway) -> None:
    from pathlib import Path

    from adapters.gp_connect.lists import RECORD_WARNING_SYSTEM

    raw = (Path(__file__).parents[1] / "fixtures" / "gp_connect" / "supplier_shapes.json").read_bytes()
    summary = gateway.ingestor.ingest_bytes("gp-connect", raw, "supplier.json")
    assert summary.quarantined == 0 and summary.held_for_review == 0 and summary.items["List"].stored == 5
    [patient] = gateway.store.find_by_identifier("Patient", NHS, "9000000009")
    lists = [s.content for s in gateway.store.compartment(patient.id) if s.resource_type == "List"]
    tagged = {t["code"] for content in lists for t in content.get("meta", {}).get("tag", [])
              if t["system"] == RECORD_WARNING_SYSTEM}
    assert tagged == {"confidential-items", "data-in-transit"}
    assert any("Items excluded due to confidentiality" in n["text"]
               for content in lists for n in content.get("note", []))
