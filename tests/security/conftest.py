"""Fixtures of the attack table: the API fixtures (tests/conftest.py) plus two loaded people."""
from __future__ import annotations

from dataclasses import dataclass

import orjson
import pytest

from adapters.synthetic.gp_connect import gp_connect_bundle
from adapters.synthetic.people import Person, invent_people
from gateway.wiring import Gateway
from tests.api.conftest import Loaded, loaded  # noqa: F401  (re-exported fixture)

NHS = "https://fhir.nhs.uk/Id/nhs-number"


@dataclass
class Two:
    me: Loaded
    other: Loaded


@pytest.fixture
def two(gateway: Gateway) -> Two:
    """Two invented people's GP records (the same practice's), loaded through the real pipeline."""
    people = [p for p in invent_people(30, seed=3) if p.conditions]
    first = people[0]
    second = next(p for p in people[1:] if p.practice_ods == first.practice_ods)
    out = []
    for person in (first, second):
        summary = gateway.ingestor.ingest_bytes("gp-connect", orjson.dumps(gp_connect_bundle(person)),
                                                f"{person.nhs_number}.json")
        assert summary.quarantined == 0 and summary.held_for_review == 0, summary.problems
        [patient] = gateway.store.find_by_identifier("Patient", NHS, person.nhs_number)
        out.append(Loaded(person, patient.id))
    return Two(*out)


def practice_of(person: Person) -> str:
    return person.practice_ods
