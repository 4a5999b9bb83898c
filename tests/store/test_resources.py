from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from gateway.store import ResourceStore, make_engine, migrate
from gateway.store.resources import DateCriterion, TokenCriterion

NHS = "https://fhir.nhs.uk/Id/nhs-number"


@pytest.fixture
def store(database_url: str) -> ResourceStore:
    engine = make_engine(database_url)
    migrate(engine)
    yield ResourceStore(engine)
    engine.dispose()


def patient(pid: str = "p1", family: str = "Brook", nhs: str = "9434765919") -> dict:
    return {"resourceType": "Patient", "id": pid, "identifier": [{"system": NHS, "value": nhs}],
            "name": [{"family": family}], "birthDate": "1938-02-14"}


def condition(cid: str, code: str, onset: str = "2020-05-01") -> dict:
    return {"resourceType": "Condition", "id": cid, "subject": {"reference": "Patient/p1"},
            "code": {"coding": [{"system": "http://snomed.info/sct", "code": code}]}, "onsetDateTime": onset}


def test_upsert_creates_then_reports_unchanged_then_updates(store: ResourceStore) -> None:
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    assert store.upsert(patient(), patient_id="p1", source_system="GP", source_id="Patient/1",
                        source_updated=t0).outcome == "created"
    assert store.upsert(patient(), patient_id="p1", source_system="GP", source_id="Patient/1",
                        source_updated=t0).outcome == "unchanged"
    result = store.upsert(patient(family="Brooke"), patient_id="p1", source_system="GP", source_id="Patient/1",
                          source_updated=t0 + timedelta(days=1))
    assert (result.outcome, result.version_id) == ("updated", 2)
    stored = store.get("Patient", "p1")
    assert stored is not None and stored.content["name"][0]["family"] == "Brooke"
    assert stored.content["meta"]["versionId"] == "2"
    assert [v for v, *_ in store.history("Patient", "p1")] == [2, 1]


def test_older_source_version_never_overwrites_newer(store: ResourceStore) -> None:
    t0 = datetime(2026, 1, 2, tzinfo=UTC)
    store.upsert(patient(family="New"), patient_id="p1", source_system="GP", source_id="P/1", source_updated=t0)
    result = store.upsert(patient(family="Old"), patient_id="p1", source_system="GP", source_id="P/1",
                          source_updated=t0 - timedelta(hours=1))
    assert result.outcome == "stale"
    assert store.get("Patient", "p1").content["name"][0]["family"] == "New"  # type: ignore[union-attr]


def test_token_and_date_search(store: ResourceStore) -> None:
    store.upsert(patient(), patient_id="p1")
    store.upsert(condition("c1", "35489007", "2020-05-01"), patient_id="p1")
    store.upsert(condition("c2", "38341003", "2024-01-15"), patient_id="p1")
    found = store.find_by_identifier("Patient", NHS, "9434765919")
    assert [s.id for s in found] == ["p1"]
    assert store.find_by_identifier("Patient", NHS, "9434765918") == []
    by_code = store.search("Condition", tokens=[TokenCriterion("code", "http://snomed.info/sct", "35489007")])
    assert [s.id for s in by_code] == ["c1"]
    after = store.search("Condition", dates=[DateCriterion("clinical_date", "ge", datetime(2021, 1, 1, tzinfo=UTC),
                                                           datetime(2021, 1, 2, tzinfo=UTC))])
    assert [s.id for s in after] == ["c2"]
    newest_first = store.search("Condition", patient_ids=["p1"], sort="-date")
    assert [s.id for s in newest_first] == ["c2", "c1"]


def test_compartment_and_delete(store: ResourceStore) -> None:
    store.upsert(patient(), patient_id="p1")
    store.upsert(condition("c1", "35489007"), patient_id="p1")
    store.upsert(condition("other", "35489007"), patient_id="p2")
    assert {s.ref for s in store.compartment("p1")} == {"Patient/p1", "Condition/c1"}
    assert store.delete("Condition", "c1")
    assert {s.ref for s in store.compartment("p1")} == {"Patient/p1"}
    deleted = store.get("Condition", "c1")
    assert deleted is not None and deleted.deleted
    assert store.search("Condition", tokens=[TokenCriterion("code", None, "35489007")]) != []
    assert [s.id for s in store.search("Condition", tokens=[TokenCriterion("code", None, "35489007")])] == ["other"]


def test_string_reference_and_date_range_index(store: ResourceStore) -> None:
    store.upsert(patient("p1", family="O_Brien"), patient_id="p1")
    store.upsert(patient("p2", family="Oxbridge", nhs="9434765870") | {"birthDate": "1938-02",
                 "generalPractitioner": [{"reference": "Practitioner/g_1"}]}, patient_id="p2")

    def ids(*tokens: TokenCriterion, dates: tuple[DateCriterion, ...] = ()) -> list[str]:
        return sorted(s.id for s in store.search("Patient", tokens=tokens, dates=dates))

    # LIKE wildcards in a value are literal characters.
    assert ids(TokenCriterion("family", None, "o_b", "prefix")) == ["p1"]
    assert ids(TokenCriterion("family", None, "o%", "prefix")) == []
    assert ids(TokenCriterion("general-practitioner", None, "g_1", "reference")) == ["p2"]
    assert ids(TokenCriterion("general-practitioner", None, "gx1", "reference")) == []
    # A stored month covers the whole month: "eq 1938-02-14" does not contain it, "eq 1938-02" does.
    day = DateCriterion("index", "eq", datetime(1938, 2, 14, tzinfo=UTC), datetime(1938, 2, 15, tzinfo=UTC),
                        "birthdate")
    month = DateCriterion("index", "eq", datetime(1938, 2, 1, tzinfo=UTC), datetime(1938, 3, 1, tzinfo=UTC),
                          "birthdate")
    after = DateCriterion("index", "gt", datetime(1938, 2, 14, tzinfo=UTC), datetime(1938, 2, 15, tzinfo=UTC),
                          "birthdate")
    assert ids(dates=(day,)) == ["p1"] and ids(dates=(month,)) == ["p1", "p2"] and ids(dates=(after,)) == ["p2"]
    # identifier=system| : any value in the system.
    assert ids(TokenCriterion("identifier", NHS, None)) == ["p1", "p2"]
