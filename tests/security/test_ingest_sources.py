"""Attack table, ingest: a source may not make any organisation part of a person's care team.

(A council export re-sent with another provider code gave an ambulance service a "legitimate
relationship" with the person and their GP record.) Pushes are checked against the source registry;
anything else is held in quarantine for review, and nothing of it is stored."""
from __future__ import annotations

from pathlib import Path

import pytest

from adapters.synthetic.people import COUNCIL, invent_people
from adapters.synthetic.social_care import export_xml
from gateway.testing import auth_headers

AMBULANCE = "RYC"


def _person():  # type: ignore[no-untyped-def]
    return invent_people(5, seed=3)[0]


def _export(provider_ods: str | None = None) -> bytes:
    person = _person()
    raw = export_xml(person)
    return raw if provider_ods is None else raw.replace(f'providerOds="{person.care_provider[0]}"'.encode(),
                                                        f'providerOds="{provider_ods}"'.encode())


def _care_team_orgs(gateway) -> set[str]:  # type: ignore[no-untyped-def]
    from gateway.ingest.sources import care_team_organisations

    return {org for stored in gateway.store.search("CareTeam", patient_ids=None)
            for org, _ in care_team_organisations(stored.content)}


def _registry(gateway, tmp_path: Path, text: str) -> None:  # type: ignore[no-untyped-def]
    from gateway.ingest.sources import SourceRegistry

    (tmp_path / "sources.yaml").write_text(text)
    gateway.ingestor.sources = SourceRegistry.load(tmp_path / "sources.yaml")


@pytest.fixture
def council(gateway):  # type: ignore[no-untyped-def]
    return auth_headers(gateway.settings, "source", COUNCIL)


async def test_a_pushed_export_naming_an_unregistered_organisation_is_held(client, gateway, council, tmp_path) -> None:  # type: ignore[no-untyped-def]
    _registry(gateway, tmp_path, f"{COUNCIL}:\n  care_team: [{_person().care_provider[0]}, {_person().practice_ods}]\n")
    response = await client.post("/ingest/social-care", content=_export(AMBULANCE), headers=council)
    assert response.status_code == 200, response.text
    assert response.json()["quarantined"] == 1 and response.json()["accepted"] == 0
    assert "held for review" in response.text and AMBULANCE in response.text
    assert AMBULANCE not in _care_team_orgs(gateway)
    assert gateway.store.search("Patient", patient_ids=None) == []  # nothing of the message was stored
    [held] = gateway.quarantine.list()
    assert "held for review" in held.reason and held.raw  # kept whole, re-processable


async def test_the_registered_provider_is_accepted(client, gateway, council, tmp_path) -> None:  # type: ignore[no-untyped-def]
    provider = _person().care_provider[0]
    _registry(gateway, tmp_path, f"{COUNCIL}:\n  care_team: [{provider}, {_person().practice_ods}]\n")
    response = await client.post("/ingest/social-care", content=_export(), headers=council)
    assert response.status_code == 200, response.text
    assert response.json()["quarantined"] == 0
    assert provider in _care_team_orgs(gateway)


async def test_without_a_registry_a_pushed_source_may_name_only_itself(client, gateway, council) -> None:  # type: ignore[no-untyped-def]
    response = await client.post("/ingest/social-care", content=_export(AMBULANCE), headers=council)
    assert response.json()["quarantined"] == 1 and "held for review" in response.text
    assert AMBULANCE not in _care_team_orgs(gateway)


async def test_an_operator_retry_of_a_held_message_is_the_review(client, gateway, council, tmp_path) -> None:  # type: ignore[no-untyped-def]
    _registry(gateway, tmp_path, f"{COUNCIL}:\n  care_team: [{_person().practice_ods}]\n")
    await client.post("/ingest/social-care", content=_export(), headers=council)
    [held] = gateway.quarantine.list()
    summary = gateway.ingestor.retry(held.id)  # `gateway quarantine retry ID`: the operator vouches for it
    assert summary.quarantined == 0
    assert _person().care_provider[0] in _care_team_orgs(gateway)


async def test_a_sender_may_push_another_source_only_if_registered(client, gateway, tmp_path) -> None:  # type: ignore[no-untyped-def]
    _registry(gateway, tmp_path, f"{COUNCIL}:\n  senders: [CASESYS]\n  care_team: [{_person().care_provider[0]}, "
                                 f"{_person().practice_ods}]\n")
    other = await client.post("/ingest/social-care", content=_export(),
                              headers=auth_headers(gateway.settings, "source", "X99"))
    assert other.status_code == 422 and "claims to come from" in other.text
    vendor = await client.post("/ingest/social-care", content=_export(),
                               headers=auth_headers(gateway.settings, "source", "CASESYS"))
    assert vendor.status_code == 200, vendor.text


def test_the_registry_file_is_validated(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from gateway.ingest.sources import SourceRegistry, SourceRegistryError

    (tmp_path / "bad.yaml").write_text("C8Q2R:\n  care_team: RYC\n")
    with pytest.raises(SourceRegistryError, match="care_team"):
        SourceRegistry.load(tmp_path / "bad.yaml")
    assert SourceRegistry.load(tmp_path / "missing.yaml").sources == {}
