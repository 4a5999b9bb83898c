from __future__ import annotations

from dataclasses import dataclass

import orjson
import pytest

from adapters.synthetic.gp_connect import gp_connect_bundle
from adapters.synthetic.people import Person, invent_people
from gateway.wiring import Gateway


@dataclass
class Loaded:
    person: Person
    patient_id: str


@pytest.fixture
def loaded(gateway: Gateway) -> Loaded:
    """One invented person's GP record, loaded through the real GP Connect adapter and pipeline."""
    person = next(p for p in invent_people(12, seed=3) if p.conditions)
    raw = orjson.dumps(gp_connect_bundle(person))
    summary = gateway.ingestor.ingest_bytes("gp-connect", raw, "test-bundle.json")
    assert summary.quarantined == 0 and summary.held_for_review == 0, summary.problems
    [patient] = gateway.store.find_by_identifier("Patient", "https://fhir.nhs.uk/Id/nhs-number", person.nhs_number)
    return Loaded(person, patient.id)
