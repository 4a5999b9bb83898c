"""The ingest pipeline over the GP Connect adapter: nothing lost, nothing duplicated, no silent merge."""
from __future__ import annotations

import copy

import orjson
import pytest

from adapters.synthetic.gp_connect import gp_connect_bundle
from adapters.synthetic.people import Person, invent_people
from gateway.services import Gateway

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
