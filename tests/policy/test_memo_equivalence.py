"""The per-request decision memo (PolicyEngine.decision_key in enforcement) changes nothing.

Over the demo corpus (every source format, several people) and many requesters, enforcement with
the memo must return exactly what it returns when every item is decided on its own."""
from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from adapters.synthetic.people import COMMUNITY_TRUST, COUNCIL
from gateway.demo import prepare_demo
from gateway.disclosure.enforce import ContextCache, Decisions
from gateway.disclosure.enforce import enforce as _enforce
from gateway.policy import PolicyEngine
from gateway.policy.model import Candidate, ItemDecision, PatientContext
from gateway.requester import Requester
from gateway.store import StoredResource
from gateway.wiring import Gateway, build_gateway


class Unmemoised:
    """The same engine without decision_key: enforcement then decides every item afresh."""

    def __init__(self, engine: PolicyEngine) -> None:
        self.engine = engine

    def check_request(self, requester: Requester) -> Any:
        return self.engine.check_request(requester)

    def decide(self, requester: Requester, patient: PatientContext, item: Candidate) -> ItemDecision:
        return self.engine.decide(requester, patient, item)


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Gateway, list[StoredResource]]]:
    settings, _ = prepare_demo(Path(tmp_path_factory.mktemp("memo")) / "demo", people=6, port=8080)
    gw = build_gateway(settings, run_migrations=False)
    patients = gw.store.search("Patient")
    everything = [s for p in patients for s in gw.store.compartment(p.id)]
    # The same items without their field-group fields: equal but for what decision_key must tell apart.
    yield gw, [*everything, *_without_field_groups(gw.policies.engine, everything)]
    gw.close()


def _without_field_groups(engine: PolicyEngine, stored: list[StoredResource]) -> list[StoredResource]:
    out = []
    for s in stored:
        groups = [g for c in s.categories for g in engine.vocabulary.field_groups.get(c, ())]
        if not any(f.present(s.content) for g in groups for f in g.fields):
            continue
        content = orjson.loads(orjson.dumps(s.content))
        for g in groups:
            for f in g.fields:
                f.remove(content)
        bare = f"{s.id}-bare"
        out.append(dataclasses.replace(s, id=bare, raw=orjson.dumps({**content, "id": bare}).decode()))
    return out


def _requesters(gw: Gateway, stored: list[StoredResource]) -> list[Requester]:
    engine = gw.policies.engine
    contexts = ContextCache(gw.store)
    seats: set[tuple[str, str | None]] = {("X99999", None), (COMMUNITY_TRUST, None), (COUNCIL, None)}
    nhs_numbers: set[str] = set()
    for s in stored:
        if s.patient_id is None:
            continue
        context = contexts.get(s.patient_id)
        seats.update((m.org, m.team) for m in context.care_team if m.org)
        if context.nhs_number:
            nhs_numbers.add(context.nhs_number)
        if s.holder_org:
            seats.add((s.holder_org, s.holder_team))
    out = []
    for role in sorted(engine.vocabulary.roles):
        for purpose in sorted(engine.vocabulary.purposes):
            for i, (org, team) in enumerate(sorted(seats, key=str)):
                # With and without a justification, alternately (both for every seat would double the run time).
                justification = "clinical need" if (i + len(purpose)) % 2 else None
                out.append(Requester(user="u", name="n", role=role, org=org, purpose=purpose,
                                     justification=justification, team=team))
            for nhs in sorted(nhs_numbers)[:2]:  # own-record requests
                out.append(Requester(user="u", name="n", role=role, org="X99999", purpose=purpose, patient=nhs))
    return out


def enforce(engine: Any, requester: Requester, contexts: ContextCache, items: list[StoredResource],
            compartment: list[StoredResource] | None = None) -> Decisions:
    decisions = Decisions()
    decisions.released = _enforce(engine, requester, contexts, items, decisions, compartment)
    return decisions


def _same(a: Decisions, b: Decisions) -> None:
    assert a.released == b.released
    assert a.notices == b.notices
    assert a.entries == b.entries
    assert a.obligations == b.obligations
    assert (a.patient_nhs, a.relationship) == (b.patient_nhs, b.relationship)


def test_the_demo_corpus_exercises_field_groups_and_every_effect(
        demo: tuple[Gateway, list[StoredResource]]) -> None:
    gw, stored = demo
    engine = gw.policies.engine
    keys = {engine.decision_key(s) for s in stored}
    assert any(any(present) for *_, present in keys), "no item carries a field group: the test would prove little"
    assert any(not any(present) for *_, present in keys if present)
    assert len(keys) < len(stored)  # items do share keys, so the memo is exercised


def test_memoised_enforcement_equals_deciding_every_item(demo: tuple[Gateway, list[StoredResource]]) -> None:
    gw, stored = demo
    engine = gw.policies.engine
    plain = Unmemoised(engine)
    effects: set[str] = set()
    requesters = _requesters(gw, stored)
    for requester in requesters:
        if not engine.check_request(requester).allowed:
            continue
        # One call over several patients and directory items, as a search with _include makes.
        memoised = enforce(engine, requester, ContextCache(gw.store), stored)
        unmemoised = enforce(plain, requester, ContextCache(gw.store), stored)
        _same(memoised, unmemoised)
        effects.update(e["effect"] for e in memoised.entries.values())
    assert effects == {"release", "redact", "notice", "hide"}


def test_everything_route_shape_passes_the_compartment(demo: tuple[Gateway, list[StoredResource]]) -> None:
    """$everything hands enforcement the loaded compartment for the patient context: same answer."""
    gw, _ = demo
    engine = gw.policies.engine
    for patient in gw.store.search("Patient"):
        compartment = gw.store.compartment(patient.id)
        for requester in (Requester(user="u", name="n", role="district_nurse", org=COMMUNITY_TRUST,
                                    purpose="direct_care"),
                          Requester(user="u", name="n", role="social_worker", org=COUNCIL, purpose="direct_care"),
                          Requester(user="u", name="n", role="paramedic", org="X99999", purpose="emergency",
                                    justification="collapsed at home")):
            _same(enforce(engine, requester, ContextCache(gw.store), compartment, compartment),
                  enforce(Unmemoised(engine), requester, ContextCache(gw.store), compartment))
