"""Two properties over the demo corpus (docs/architecture.md, invariant 9).

(a) For any requester and patient, every item and element group that leaves is one `explain` says
    the live policy releases — labels derived afresh from what is sent, not taken from the store.
(b) For any category or rule edit put live by a reload, what the stored records release equals
    what a fresh ingest of the same sources under the new policy releases.
"""
from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adapters.synthetic.people import COMMUNITY_TRUST, COUNCIL
from gateway.demo import demo_settings, write_sources
from gateway.disclosure.analysis import simulate_everything
from gateway.disclosure.derived import references_in
from gateway.disclosure.enforce import ContextCache
from gateway.disclosure.labels import hints_of
from gateway.ingest.pipeline import read_files
from gateway.initialise import initialise
from gateway.policy import PolicyEngine
from gateway.policy.categorize import codings_in
from gateway.policy.explain import explain
from gateway.requester import Requester
from gateway.wiring import build_gateway
from tests.disclosure.conftest import PEOPLE, Demo

SENT = ("release", "redact")
ROLES = ["gp", "district_nurse", "social_worker", "care_worker", "hospital_discharge", "paramedic", "receptionist",
         "researcher", "patient"]
PURPOSES = ["direct_care", "emergency", "safeguarding", "planning", "research", "patient_request"]


@settings(max_examples=60, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(role=st.sampled_from(ROLES), purpose=st.sampled_from(PURPOSES), seat=st.integers(0, 5),
       justified=st.booleans(), who=st.integers(0, PEOPLE - 1), own=st.booleans())
def test_everything_that_leaves_is_released_by_the_live_policy(demo: Demo, role: str, purpose: str, seat: int,
                                                               justified: bool, who: int, own: bool) -> None:
    gw, person = demo.gateway, demo.people[who]
    engine = gw.policies.engine
    org, team = [(person.practice_ods, None), (COMMUNITY_TRUST, person.nursing_team[0]), (COUNCIL, None),
                 (person.care_provider[0], None), ("RXX01", None), ("X99999", None)][seat]
    requester = Requester(user="u", name="n", role=role, org=org, purpose=purpose, team=team,
                          justification="clinical need" if justified else None,
                          patient=person.nhs_number if own else None)
    bundle, d = simulate_everything(gw.disclosure, requester, person.nhs_number)
    if not d.request.allowed:
        assert bundle["resourceType"] == "OperationOutcome"
        return
    patient_id = demo.patient_id(person)
    context = ContextCache(gw.store).get(patient_id)
    compartment = {s.ref: s for s in gw.store.compartment(patient_id)}
    sent = [e["resource"] for e in bundle.get("entry", ()) if e["search"]["mode"] == "match"]
    released_refs = {f"{r['resourceType']}/{r['id']}" for r in sent}
    for resource in sent:
        ref = f"{resource['resourceType']}/{resource['id']}"
        stored = compartment[ref]
        rtype = resource["resourceType"]
        # Whatever a sent item names in the record is itself sent (or never withheld from this caller).
        for named in references_in(orjson.dumps(resource).decode()):
            if named in compartment and named not in released_refs:
                assert _decided(engine, requester, context, compartment[named]) not in ("hide",), (ref, named)
        if rtype == "Provenance":
            targets = {t.get("reference") for t in resource.get("target", ())}
            assert targets and all(t in released_refs or t not in compartment for t in targets), ref
            continue
        _assert_released_whole(engine, requester, context, stored, resource)


def _assert_released_whole(engine: PolicyEngine, requester: Requester, context, stored,  # type: ignore[no-untyped-def]
                           resource: dict[str, Any]) -> None:
    """Every category of a sent item, and of each field group and element group it still carries, is released."""
    ref, rtype = f"{resource['resourceType']}/{resource['id']}", resource["resourceType"]
    for category in engine.categorize(stored.content, hints_of(stored)):
        effect = _explained(engine, requester, context, stored, category, rtype)
        assert effect in SENT, (ref, category, effect)
        for group in engine.vocabulary.field_groups.get(category, ()):
            if any(f.present(resource) for f in group.fields):
                assert _explained(engine, requester, context, stored, group.name, rtype) == "release", \
                    (ref, group.name)
    for element_group in engine.vocabulary.element_groups(rtype):
        chosen = [e for f in element_group.fields for e in f.selected(resource)]
        if not chosen:
            continue
        cats = (element_group.category, *engine.vocabulary.categorizer.element_overlays(rtype, codings_in(chosen)))
        for category in cats:
            assert _explained(engine, requester, context, stored, category, rtype) == "release", \
                (ref, element_group.name, category)


def _explained(engine: PolicyEngine, requester: Requester, context, stored, category: str, rtype: str) -> str:  # type: ignore[no-untyped-def]
    facts = engine.facts_for(requester, context, stored, category)
    return explain(engine, requester.role, requester.purpose, category, facts, rtype).outcome.effect


def _decided(engine: PolicyEngine, requester: Requester, context, stored) -> str:  # type: ignore[no-untyped-def]
    effects = [_explained(engine, requester, context, stored, c, stored.resource_type)
               for c in engine.categorize(stored.content, hints_of(stored))]
    order = ["release", "redact", "notice", "hide"]
    return max(effects, key=order.index) if effects else "hide"


# -- (b) -------------------------------------------------------------------------------------------

KEYSAFE = "https://fhir.care-gateway.example/CodeSystem/local-item|KEYSAFE"
EDITS = {
    "key_safe category, noticed to care workers": (
        "categories.yaml", "\n  capacity_assessment:\n",
        "\n  key_safe:\n    description: key-safe code\n    match:\n"
        f"      - codes: [\"{KEYSAFE}\"]\n\n  capacity_assessment:\n",
        "rules:\n  - id: t.key_safe\n    effect: notice\n    when:\n      roles: [care_worker]\n"
        "      categories: [key_safe]\n"),
    "hypertension becomes a mental-health overlay": (
        "categories.yaml", "- http://snomed.info/sct|35489007   # Depressive disorder",
        "- http://snomed.info/sct|35489007   # Depressive disorder\n          - http://snomed.info/sct|38341003",
        None),
    "visits need a relationship even for GPs": (
        None, None, None,
        "rules:\n  - id: t.visits\n    effect: notice\n    when:\n      roles: [gp]\n      categories: [visits]\n"),
    "care packages noticed to receptionists": (
        None, None, None,
        "rules:\n  - id: t.cp\n    effect: notice\n    when:\n      roles: [receptionist]\n"
        "      categories: [care_package]\n"),
    "encounter reasons no longer an element group": (
        "categories.yaml", "      - Encounter.reasonCode\n", "", None),
}


def _edit(directory: Path, name: str) -> None:
    file, old, new, rule = EDITS[name]
    if file is not None:
        path = directory / file
        text = path.read_text()
        assert old in text, name
        path.write_text(text.replace(old, new, 1))
    if rule is not None:
        (directory / "rules" / "97_edit.yaml").write_text(rule)


def _served(gw, nhs_number: str, requester: Requester, data: Path) -> dict:  # type: ignore[no-untyped-def]
    bundle, _ = simulate_everything(gw.disclosure, requester, nhs_number)
    text = orjson.dumps(bundle).decode().replace(str(data), "<data>")  # Provenance names the source files
    # The store's timestamps (and a Provenance's, for a source without message times) and the outcome
    # entry's fresh UUID differ between two stores.
    text = re.sub(r'"(lastUpdated|recorded)":"[^"]*"', r'"\1":"*"', text)
    text = re.sub(r'"fullUrl":"urn:uuid:[^"]*"', '"fullUrl":"urn:uuid:*"', text)
    return orjson.loads(text)


def _first_difference(a: dict, b: dict) -> str:
    ea = {e["fullUrl"]: e for e in a.get("entry", ())}
    eb = {e["fullUrl"]: e for e in b.get("entry", ())}
    if set(ea) != set(eb):
        return f"entries only in one: {sorted(set(ea) ^ set(eb))[:4]}"
    url = next(u for u in ea if ea[u] != eb[u])
    return f"{url}: {orjson.dumps(ea[url])[:700]!r} != {orjson.dumps(eb[url])[:700]!r}"


@settings(max_examples=5, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(edits=st.lists(st.sampled_from(sorted(EDITS)), min_size=1, max_size=2, unique=True))
def test_a_reloaded_edit_releases_what_a_fresh_ingest_would(demo: Demo, tmp_path_factory, edits: list[str]) -> None:  # type: ignore[no-untyped-def]
    root = tmp_path_factory.mktemp("edit")
    policy = root / "policies"
    shutil.copytree(demo.shipped, policy)
    for name in edits:
        _edit(policy, name)
    PolicyEngine.load(policy)  # the edit is a valid policy
    demo.use_policy(demo.shipped)
    demo.gateway.policies.reload(policy)  # stored records, labelled under the shipped policy, now decided under it
    (root / "fresh").mkdir()
    prepared = demo_settings(root / "fresh").model_copy(update={"policy_dir": str(policy)})
    initialise(prepared)
    fresh = build_gateway(prepared)
    try:
        assert fresh.policies.version == demo.gateway.policies.version
        for fmt, files in write_sources(root / "data", PEOPLE):
            fresh.ingestor.ingest_files(fmt, read_files(files))
        for person in demo.people[:3]:
            for role, org, purpose, justification in (
                    ("care_worker", person.care_provider[0], "direct_care", None),
                    ("receptionist", person.practice_ods, "direct_care", None),
                    ("gp", person.practice_ods, "direct_care", None),
                    ("paramedic", "X99999", "emergency", "collapsed")):
                requester = Requester(user="u", name="n", role=role, org=org, purpose=purpose,
                                      justification=justification)
                stored = _served(demo.gateway, person.nhs_number, requester,
                                 Path(demo.settings.database_url.removeprefix("sqlite:///")).parent / "data")
                reingested = _served(fresh, person.nhs_number, requester, root / "data")
                assert stored == reingested, (edits, role, _first_difference(stored, reingested))
    finally:
        fresh.close()
        demo.use_policy(demo.shipped)
