"""The synthetic GP Connect generator: deterministic, realistic, and mappable without rejections."""
from __future__ import annotations

from collections import Counter
from pathlib import Path

import orjson
import pytest
from fhir.resources.R4B import get_fhir_model_class

from adapters import nhs_number
from adapters.base import MappedRecord, Rejected
from adapters.gp_connect import GpConnectAdapter
from adapters.synthetic.gp_connect import gp_connect_bundle, write_gp_connect
from adapters.synthetic.people import CONDITION_NAMES, Person, invent_people

LIST_CODES = {"933361000000108", "886921000000105", "717711000000103", "1102181000000102", "1149501000000101",
              "887191000000108", "792931000000107", "714311000000108"}


@pytest.fixture(scope="module")
def people() -> list[Person]:
    return invent_people(40, seed=5)


def _resources(bundle: dict, kind: str) -> list[dict]:
    return [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == kind]


def test_same_person_gives_identical_bytes(people: list[Person]) -> None:
    again = invent_people(40, seed=5)
    for first, second in zip(people, again, strict=True):
        assert orjson.dumps(gp_connect_bundle(first)) == orjson.dumps(gp_connect_bundle(second))


def test_different_people_give_different_records(people: list[Person]) -> None:
    ids = {_resources(gp_connect_bundle(p), "Patient")[0]["id"] for p in people}
    assert len(ids) == len(people)


def test_written_files_are_deterministic(tmp_path: Path, people: list[Person]) -> None:
    first = write_gp_connect(tmp_path / "a", people[:3])
    second = write_gp_connect(tmp_path / "b", people[:3])
    assert [p.name for p in first] == [p.name for p in second] == [f"gp-connect-{p.nhs_number}.json"
                                                                    for p in people[:3]]
    assert [p.read_bytes() for p in first] == [p.read_bytes() for p in second]
    assert orjson.loads(first[0].read_bytes()) == gp_connect_bundle(people[0])


def test_bundle_has_the_gp_connect_shape(people: list[Person]) -> None:
    person = people[0]
    bundle = gp_connect_bundle(person)
    assert bundle["resourceType"] == "Bundle" and bundle["type"] == "collection"
    [patient] = _resources(bundle, "Patient")
    [number] = [i["value"] for i in patient["identifier"] if i["system"] == "https://fhir.nhs.uk/Id/nhs-number"]
    assert number == person.nhs_number and nhs_number.is_valid(number)
    practices = [o for o in _resources(bundle, "Organization")
                 if o["identifier"][0]["value"] == person.practice_ods]
    assert [o["name"] for o in practices] == [person.practice_name]
    [gp] = _resources(bundle, "Practitioner")
    assert gp["identifier"][0]["value"] == person.gp[0]
    list_codes = {lst["code"]["coding"][0]["code"] for lst in _resources(bundle, "List")}
    assert LIST_CODES <= list_codes


def test_conditions_come_from_the_person_with_snomed_names(people: list[Person]) -> None:
    for person in people:
        conditions = _resources(gp_connect_bundle(person), "Condition")
        coded = [(c["code"]["coding"][0]["system"], c["code"]["coding"][0]["code"], c["code"]["coding"][0]["display"])
                 for c in conditions]
        assert coded == [("http://snomed.info/sct", code, CONDITION_NAMES[code]) for code in person.conditions]


def test_dnacpr_is_coded_304253006(people: list[Person]) -> None:
    with_dnacpr = [p for p in people if p.dnacpr]
    without = [p for p in people if not p.dnacpr]
    assert with_dnacpr and without

    def has_dnacpr(person: Person) -> bool:
        raw = orjson.dumps(gp_connect_bundle(person))
        return b'"code":"304253006"' in raw
    assert all(has_dnacpr(p) for p in with_dnacpr) and not any(has_dnacpr(p) for p in without)


def test_no_known_allergies_is_an_empty_list_with_a_reason(people: list[Person]) -> None:
    seen_empty = seen_allergies = False
    for person in people:
        bundle = gp_connect_bundle(person)
        [allergy_list] = [lst for lst in _resources(bundle, "List")
                          if lst["code"]["coding"][0]["code"] == "886921000000105"]
        allergies = _resources(bundle, "AllergyIntolerance")
        if allergies:
            seen_allergies = True
            assert len(allergy_list["entry"]) == len(allergies)
        else:
            seen_empty = True
            assert "entry" not in allergy_list
            assert allergy_list["emptyReason"]["coding"][0]["code"] == "nilknown"
            assert allergy_list["note"] == [{"text": "No known allergies"}]
    assert seen_empty and seen_allergies


def test_extra_items_pad_a_record_to_benchmark_size(people: list[Person]) -> None:
    plain = gp_connect_bundle(people[0])
    extra = 200 - len(plain["entry"])
    padded = gp_connect_bundle(people[0], extra_items=extra)
    assert len(_resources(padded, "Observation")) == len(_resources(plain, "Observation")) + extra
    # ... plus, when the record had no uncategorised data before, the List that holds them
    assert 200 <= len(padded["entry"]) <= 201


def test_generated_bundles_map_without_rejections_and_validate(people: list[Person]) -> None:
    adapter = GpConnectAdapter()
    kinds: Counter[str] = Counter()
    for person in people:
        [message] = list(adapter.parse(orjson.dumps(gp_connect_bundle(person, extra_items=2)), "gen"))
        assert message.source_system == person.practice_ods
        output = list(adapter.map(message))
        assert not [r for r in output if isinstance(r, Rejected)]
        for record in output:
            assert isinstance(record, MappedRecord)
            assert record.patient_nhs_number == person.nhs_number
            assert "unresolved_references" not in record.hints
            get_fhir_model_class(record.resource["resourceType"]).model_validate(record.resource)
            kinds[record.resource["resourceType"]] += 1
    expected = {"Patient", "Organization", "Practitioner", "PractitionerRole", "List", "Condition", "Medication",
                "MedicationRequest", "MedicationStatement", "Immunization", "Observation", "Encounter",
                "ServiceRequest", "DiagnosticReport", "Specimen", "CareTeam", "AllergyIntolerance"}
    assert expected <= set(kinds)
