"""What leaves the gateway is exactly what the live policy allows (docs/architecture.md, invariant 9).

One test (or more) per class of defect the disclosure service closes: policy edits reaching stored
records, derived content keeping its category, kinds vs overlays, redaction notices, aggregated
notices, one policy snapshot per request, and audit records that say what was actually sent.
"""
from __future__ import annotations

import re
from pathlib import Path

import orjson
import pytest

from adapters.synthetic.people import COMMUNITY_TRUST, Person
from gateway.disclosure import relabel
from gateway.disclosure.service import Caller
from gateway.policy import Item, PatientContext, PolicyEngine
from gateway.policy.model import CareTeamMember, ConsentDirective
from gateway.testing import requester
from tests.disclosure.conftest import Demo, entries, notice_texts

KEYSAFE = "https://fhir.care-gateway.example/CodeSystem/local-item|KEYSAFE"
CARE_TEAM_ROLE = "https://fhir.care-gateway.example/CodeSystem/care-team-role"


def _with_keysafe(demo: Demo) -> Person:
    for person in demo.people:
        bundle = demo.everything(person, "care_worker", person.care_provider[0])
        if '"KEYSAFE"' in orjson.dumps(entries(bundle)).decode():
            return person
    pytest.skip("no invented person has a key-safe code the care worker receives")


def _add_key_safe(policy: Path) -> None:
    """The IG edit of the field trial: a key_safe category and a notice for care workers."""
    cats = policy / "categories.yaml"
    text = cats.read_text()
    addition = (
        "  key_safe:\n"
        "    description: The key-safe code itself (not the other access instructions)\n"
        "    match:\n"
        f"      - codes: [\"{KEYSAFE}\"]\n\n"
    )
    cats.write_text(text.replace("\n  capacity_assessment:\n", "\n" + addition + "  capacity_assessment:\n", 1))
    (policy / "rules" / "96_key_safe.yaml").write_text(
        "rules:\n"
        "  - id: key_safe.care_worker_notice\n"
        "    description: Care workers are told a key safe exists, not its code\n"
        "    effect: notice\n"
        "    when:\n"
        "      roles: [care_worker]\n"
        "      categories: [key_safe]\n"
        "  - id: key_safe.as_access\n"
        "    description: Everyone else as the access category\n"
        "    effect: release\n"
        "    when:\n"
        "      roles: [district_nurse, social_worker, paramedic]\n"
        "      purposes: [direct_care, emergency]\n"
        "      relationship: true\n"
        "      categories: [key_safe]\n")


# -- 1. policy edits reach stored records ---------------------------------------------------------

def test_a_new_category_reaches_stored_records_on_reload_without_reingest(demo: Demo, policy_copy: Path) -> None:
    person = _with_keysafe(demo)
    demo.use_policy(policy_copy)
    ig = demo.headers("ig_officer", "X26", user="IG-1")
    _add_key_safe(policy_copy)
    # Before it goes live, the corpus diff shows the change on stored records, in words.
    diff = demo.client.post("/policy/diff", headers=ig, json={"corpus": True}).json()
    changed = [e for e in diff["corpus"]["examples"] if e["role"] == "care_worker"]
    assert changed and any("key_safe" in e["words"] and e["new"] == "notice" for e in changed)
    # ... and a simulation under the candidate shows what the care worker would get.
    sim = demo.client.post("/policy/simulate", headers=ig, json={
        "role": "care_worker", "purpose": "direct_care", "org": person.care_provider[0],
        "nhs_number": person.nhs_number, "candidate": True, "show_content": True,
        "reason": "checking the key-safe category before it goes live"}).json()
    assert entries(sim), "the simulation shows the content it was asked for"
    assert '"KEYSAFE"' not in orjson.dumps(entries(sim)).decode()
    reloaded = demo.client.post("/policy/reload", headers=ig)
    assert reloaded.status_code == 200, reloaded.text
    bundle = demo.everything(person, "care_worker", person.care_provider[0])
    assert '"KEYSAFE"' not in orjson.dumps(entries(bundle)).decode()
    assert any("key_safe" in t for t in notice_texts(bundle))
    # The district nurse still gets it: the edit changed what it said, nothing else.
    nurse = demo.everything(person, "district_nurse", COMMUNITY_TRUST, team=person.nursing_team[0])
    assert '"KEYSAFE"' in orjson.dumps(entries(nurse)).decode()


def test_stored_labels_are_refreshed_to_the_live_definitions(demo: Demo, policy_copy: Path) -> None:
    shipped = PolicyEngine.load(demo.shipped)
    relabel(demo.gateway.store, shipped)  # whatever an earlier reload left, start from the shipped labels
    _add_key_safe(policy_copy)
    engine = PolicyEngine.load(policy_copy)
    assert engine.labels_version != shipped.labels_version
    assert relabel(demo.gateway.store, engine) > 0
    rows = [s for p in demo.gateway.store.search("Patient") for s in demo.gateway.store.compartment(p.id)]
    assert all(s.labels_version == engine.labels_version for s in rows)
    assert any("key_safe" in s.categories for s in rows if '"KEYSAFE"' in s.raw)
    # ... and back: the shipped definitions are served again from the re-derived labels.
    assert relabel(demo.gateway.store, shipped) > 0


def test_an_older_version_is_labelled_from_its_own_content(demo: Demo) -> None:
    """vread hands the service an older text: its labels are derived from it, never the current row's."""
    gw = demo.gateway
    person = demo.people[0]
    flag = next(s for s in gw.store.compartment(demo.patient_id(person)) if s.resource_type == "Patient")
    d = gw.disclosure.open(requester("gp", person.practice_ods))
    older = type(flag)(**{**{f: getattr(flag, f) for f in flag.__dataclass_fields__ if not f.startswith("_")},
                          "categories": ("restricted",), "labels_version": None})
    d.decide([older])
    assert older.categories == ("demographics",)


# -- 2. derived content keeps its category ----------------------------------------------------------

def _care_team_with_provider(demo: Demo, bundle: dict, provider: str) -> bool:
    return any(provider in orjson.dumps(ct.get("participant", [])).decode()
               for ct in entries(bundle) if ct["resourceType"] == "CareTeam")


def test_a_care_package_provider_in_the_care_team_is_care_package(demo: Demo) -> None:
    person = next(p for p in demo.people
                  if _care_team_with_provider(demo, demo.everything(p, "social_worker", "C8Q2R"), p.care_provider[1]))
    # The paramedic gets a notice for care packages (matrix), in an emergency too: the provider goes.
    bundle = demo.everything(person, "paramedic", "X99999", "emergency", justification="collapsed at home")
    assert not _care_team_with_provider(demo, bundle, "home-care-provider")
    assert any("care_package" in t and "removed" in t for t in notice_texts(bundle))
    # Without a relationship, direct care gets the care team - but not the care package inside it.
    outsider = demo.everything(person, "district_nurse", "X99999")
    assert any(r["resourceType"] == "CareTeam" for r in entries(outsider))
    assert not _care_team_with_provider(demo, outsider, "home-care-provider")


def test_an_objection_to_sharing_the_care_package_covers_the_care_team_entry() -> None:
    engine = PolicyEngine.load(Path(__file__).parents[2] / "consent_policies")
    team = {"resourceType": "CareTeam", "id": "ct", "status": "active",
            "participant": [{"role": [{"coding": [{"system": CARE_TEAM_ROLE, "code": "home-care-provider"}]}],
                             "member": {"display": "Sunrise Home Care"}, "period": {"start": "2026-01-05"}},
                            {"role": [{"coding": [{"system": CARE_TEAM_ROLE, "code": "allocated-social-worker"}]}],
                             "member": {"display": "Tom Ellis"}}]}
    objecting = PatientContext("p1", "9990000018", directives=(
        ConsentDirective("c1", "deny", ("care_package",), ("P81001",)),),
        care_team=(CareTeamMember("registered-gp-practice", "P81001"),))
    d = engine.decide(requester("gp", "P81001"), objecting, Item(team, engine.categorize(team), "C8Q2R"))
    assert d.effect == "redact" and "care_package.provider" in d.redacted_categories
    assert d.notice is not None and "objection" in d.notice.message
    from gateway.policy import apply_redaction

    sent = apply_redaction(team, d)
    assert "Sunrise" not in orjson.dumps(sent).decode() and "Tom Ellis" in orjson.dumps(sent).decode()


def test_a_receptionist_gets_the_visit_not_its_diagnosis(demo: Demo) -> None:
    for person in demo.people:
        bundle = demo.everything(person, "receptionist", person.practice_ods)
        encounters = [r for r in entries(bundle) if r["resourceType"] == "Encounter"]
        for e in encounters:
            assert not {"reasonCode", "reasonReference", "diagnosis"} & e.keys(), e["id"]
        sent = orjson.dumps(entries(bundle)).decode()
        assert "Hypertensive disorder" not in sent and "Depressive disorder" not in sent
    gp = demo.everything(demo.people[0], "gp", demo.people[0].practice_ods)
    assert any("reasonCode" in r for r in entries(gp) if r["resourceType"] == "Encounter"), \
        "the corpus must hold encounter reasons, or this test proves nothing"


def test_an_encounter_reason_brings_its_overlay() -> None:
    engine = PolicyEngine.load(Path(__file__).parents[2] / "consent_policies")
    visit = {"resourceType": "Encounter", "id": "e", "status": "finished",
             "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
             "reasonCode": [{"coding": [{"system": "http://snomed.info/sct", "code": "86406008"}]}]}
    context = PatientContext("p1", care_team=(CareTeamMember("registered-gp-practice", "P81001"),))
    d = engine.decide(requester("gp", "P81001"), context, Item(visit, engine.categorize(visit), "P81002"))
    # restricted is hidden even from the GP: the reason goes without a word; the visit itself is sent.
    assert d.effect == "release" and d.removed and not d.redactions


# -- 3. a kind is not a sensitivity ------------------------------------------------------------------

@pytest.mark.parametrize("resource_type", ["Observation", "Flag", "Condition"])
def test_a_dnacpr_is_an_advance_decision_in_any_resource_type(resource_type: str) -> None:
    engine = PolicyEngine.load(Path(__file__).parents[2] / "consent_policies")
    item = {"resourceType": resource_type, "id": "x",
            "code": {"coding": [{"system": "http://snomed.info/sct", "code": "304253006"}]}}
    if resource_type == "Flag":
        item["category"] = [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/flag-category",
                                         "code": "clinical"}]}]
    assert engine.categorize(item) == ("advance_decisions",)
    context = PatientContext("p1", care_team=(CareTeamMember("home-care-provider", "AGY01"),))
    assert engine.decide(requester("care_worker", "AGY01"), context, Item(item, engine.categorize(item))).effect \
        == "release"


def test_the_care_worker_receives_the_gps_dnacpr(demo: Demo) -> None:
    person = next((p for p in demo.people if p.dnacpr), None)
    if person is None:
        pytest.skip("no invented person has a DNACPR")
    bundle = demo.everything(person, "care_worker", person.care_provider[0])
    assert any(r["resourceType"] == "Observation" and "304253006" in orjson.dumps(r.get("code")).decode()
               for r in entries(bundle))


# -- 4. redactions say what went and who holds it ---------------------------------------------------

def test_every_redaction_comes_with_a_notice(demo: Demo) -> None:
    seen = False
    for person in demo.people:
        bundle = demo.everything(person, "hospital_discharge", "RXX01", "emergency", justification="admitted")
        redacted = [r for r in entries(bundle) if any(s.get("code") == "REDACTED"
                                                      for s in r.get("meta", {}).get("security", []))]
        flags = [r for r in redacted if r["resourceType"] == "Flag"]
        if flags:
            seen = True
            assert any("risk_flag.detail" in t and "removed" in t for t in notice_texts(bundle))
        for r in redacted:
            assert notice_texts(bundle), r["id"]
    assert seen, "no risk flag with a narrative in the corpus"


# -- 5. notices are few and useful ------------------------------------------------------------------

def test_notices_are_aggregated_and_never_point_at_the_callers_own_organisation(demo: Demo) -> None:
    for person in demo.people:
        bundle = demo.everything(person, "receptionist", person.practice_ods)
        outcome = entries(bundle, "outcome")
        assert len(outcome) <= 1
        issues = outcome[0]["issue"] if outcome else []
        keys = [(i["details"]["coding"][0]["code"], i["diagnostics"], "removed" in i["details"]["text"])
                for i in issues]
        assert len(keys) == len(set(keys)), "one issue per (category, holder, kind)"
        for i in issues:
            text = i["details"]["text"]
            assert re.match(r"^(\d+ items? of category|Fields of category)", text), text
            if "your own organisation" in text:
                assert person.practice_ods not in i["diagnostics"]
            else:
                assert "contact" in text, text  # a contact, or the words saying none is recorded
        sequence = int(demo.client.get(f"/fhir/Patient/{demo.patient_id(person)}/$everything", headers=demo.headers(
            "receptionist", person.practice_ods)).headers["x-audit-sequence"])
        record = demo.gateway.audit.entry(sequence).record  # type: ignore[union-attr]
        assert not any(i["ref"].startswith("Provenance/") for i in record["items"]["noticed"])


# -- 6. one request, one policy version ---------------------------------------------------------------

def test_a_reload_mid_request_does_not_change_its_decisions_or_record(demo: Demo, policy_copy: Path) -> None:
    person = _with_keysafe(demo)
    gw = demo.gateway
    d = gw.disclosure.open(requester("care_worker", person.care_provider[0]), patient_id=demo.patient_id(person))
    pinned = d.version
    _add_key_safe(policy_copy)
    demo.use_policy(policy_copy)  # goes live while the request is in flight
    assert gw.disclosure.policies.engine.version != pinned
    compartment = gw.store.compartment(demo.patient_id(person))
    released = d.decide(compartment, compartment)
    assert any('"KEYSAFE"' in r.stored.raw for r in released)
    assert d.record(Caller("test"), sent=released)["policy_version"] == pinned


# -- 7. the audit record says what left ---------------------------------------------------------------

def _record(demo: Demo, response) -> dict:  # type: ignore[no-untyped-def]
    return demo.gateway.audit.entry(int(response.headers["x-audit-sequence"])).record  # type: ignore[union-attr]


def test_the_record_lists_exactly_what_was_sent(demo: Demo) -> None:
    person = demo.people[0]
    gp = demo.headers("gp", person.practice_ods)
    nothing = demo.client.get("/fhir/Patient", params={
        "identifier": f"https://fhir.nhs.uk/Id/nhs-number|{person.nhs_number}", "_count": "0"}, headers=gp)
    assert nothing.status_code == 200 and "entry" not in nothing.json()
    assert _record(demo, nothing)["items"]["released"] == []
    page = demo.client.get("/fhir/Condition", params={"patient": demo.patient_id(person), "_count": "2"}, headers=gp)
    sent = {f"{r['resourceType']}/{r['id']}" for r in entries(page.json())}
    record = _record(demo, page)
    assert {i["ref"] for i in record["items"]["released"] + record["items"]["redacted"]} == sent
    assert all("version" in i for i in record["items"]["released"])


def test_a_refused_break_glass_names_the_patient(demo: Demo) -> None:
    person = demo.people[1]
    refused = demo.client.get(f"/fhir/Patient/{demo.patient_id(person)}/$everything",
                              headers=demo.headers("paramedic", "X99999", "emergency"))
    assert refused.status_code == 403
    record = _record(demo, refused)
    assert record["outcome"] == "refused"
    assert record["patients"] == [{"id": demo.patient_id(person), "nhs_number": person.nhs_number}]
    # An auditor searching that person finds the refused attempt.
    found = [e.record for e in demo.gateway.audit.search(nhs_number=person.nhs_number)]
    assert any(r["outcome"] == "refused" and r["purpose"] == "emergency" for r in found)


def test_policy_reloads_are_audited(demo: Demo, policy_copy: Path) -> None:
    demo.use_policy(policy_copy)
    roles = policy_copy / "roles.yaml"
    roles.write_text(roles.read_text().replace("Admin and clerical staff", "Admin and clerical staff (reviewed)"))
    before = demo.gateway.policies.version
    reloaded = demo.client.post("/policy/reload", headers=demo.headers("ig_officer", "X26", user="IG-7"))
    record = _record(demo, reloaded)
    assert record["interaction"] == "policy.reload" and record["requester"]["user"] == "IG-7"
    assert record["policy_change"]["previous"] == before
    assert record["policy_change"]["version"] == demo.gateway.policies.version != before


def test_a_command_line_simulation_is_audited(demo: Demo, monkeypatch: pytest.MonkeyPatch,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    from gateway.corpus_commands import simulate

    s = demo.settings
    for key, value in (("DATABASE_URL", s.database_url), ("JWKS", s.jwks), ("SIGNING_JWKS", s.signing_jwks),
                       ("AUDIT_KEY", s.audit_key), ("POLICY_DIR", str(demo.shipped))):
        monkeypatch.setenv(f"GATEWAY_{key}", str(value))
    person = demo.people[0]
    simulate(role="gp", purpose="direct_care", org=person.practice_ods, nhs_number=person.nhs_number,
             operator="ig.lead")
    printed = orjson.loads(capsys.readouterr().out)
    assert printed["resourceType"] == "Bundle"
    records = [e.record for e in demo.gateway.audit.search(user="ig.lead")]
    assert records and records[-1]["outcome"] == "simulated"
    assert records[-1]["patients"][0]["nhs_number"] == person.nhs_number
    assert records[-1]["items"]["released"], "the record lists what the simulation showed"


def test_nobody_browses_the_population(demo: Demo) -> None:
    gp = demo.headers("gp", demo.people[0].practice_ods)
    for params in ({}, {"gender": "female"}, {"_count": "100"}):
        refused = demo.client.get("/fhir/Patient", params=params, headers=gp)
        assert refused.status_code == 400, params
        assert refused.json()["resourceType"] == "OperationOutcome"
        assert "identifying criteria" in refused.text
        assert _record(demo, refused)["outcome"] == "error"  # audited as the search it was
    person = demo.people[0]
    found = demo.client.get("/fhir/Patient", headers=gp, params={
        "identifier": f"https://fhir.nhs.uk/Id/nhs-number|{person.nhs_number}"})
    assert found.status_code == 200 and found.json()["total"] == 1


def test_a_rules_own_redaction_comes_with_a_notice(tmp_path: Path) -> None:
    import shutil

    policy = tmp_path / "policies"
    shutil.copytree(Path(__file__).parents[2] / "consent_policies", policy)
    (policy / "rules" / "98_redact.yaml").write_text(
        "rules:\n  - id: t.no_notes\n    effect: redact\n    fields: [Observation.note]\n"
        "    when:\n      roles: [district_nurse]\n      categories: [clinical_summary]\n")
    engine = PolicyEngine.load(policy)
    obs = {"resourceType": "Observation", "id": "o", "status": "final", "code": {"text": "BP"},
           "note": [{"text": "seen with daughter"}]}
    context = PatientContext("p1", care_team=(CareTeamMember("caseload-holder", "RX1", name="Anne Ward",
                                                             phone="0161 555 0101"),))
    d = engine.decide(requester("district_nurse", "RX1"), context, Item(obs, engine.categorize(obs), "P81001"))
    assert d.effect == "redact" and "Observation.note" in d.redact
    assert d.redactions and d.redactions[0].redacted


# -- hidden means hidden -----------------------------------------------------------------------------

async def test_a_hidden_item_is_named_nowhere(client, gateway, settings) -> None:  # type: ignore[no-untyped-def]
    """An HIV diagnosis (restricted: hidden from all but the recording practice) leaves no trace for a
    district nurse: not in the record, its Provenance, the GP's problem List, an encounter's reason,
    nor in how a read of it is answered."""
    import dataclasses

    from adapters.synthetic.gp_connect import gp_connect_bundle
    from adapters.synthetic.people import invent_people
    from gateway.testing import auth_headers

    person = dataclasses.replace(invent_people(1, seed=11)[0], conditions=("86406008", "38341003"))
    gateway.ingestor.ingest_bytes("gp-connect", orjson.dumps(gp_connect_bundle(person)), "hiv.json")
    [patient] = gateway.store.find_by_identifier("Patient", "https://fhir.nhs.uk/Id/nhs-number", person.nhs_number)
    engine = gateway.policies.engine
    hidden = [s for s in gateway.store.compartment(patient.id) if "restricted" in engine.categorize(s.content)
              and s.resource_type != "Provenance"]
    assert hidden, "the invented record must hold the restricted diagnosis"
    assert any(h.id in s.raw for h in hidden for s in gateway.store.compartment(patient.id)
               if s.resource_type in ("Provenance", "List", "Encounter")), "nothing names it: the test proves little"
    nurse = auth_headers(settings, "paramedic", "X99999", "emergency", justification="collapsed")
    bundle = (await client.get(f"/fhir/Patient/{patient.id}/$everything", headers=nurse)).json()
    assert bundle["entry"]
    for rtype in ("Provenance", "List", "Encounter", "Condition"):
        searched = await client.get(f"/fhir/{rtype}", params={"patient": patient.id}, headers=nurse)
        assert searched.status_code == 200, rtype
        for h in hidden:
            assert h.id not in searched.text, rtype
    text = orjson.dumps(bundle).decode()
    for h in hidden:
        assert h.id not in text
        # Asking for it is answered exactly as asking for an id that does not exist.
        asked = await client.get(f"/fhir/{h.ref}", headers=nurse)
        missing = await client.get(f"/fhir/{h.resource_type}/{'0' * len(h.id)}", headers=nurse)
        assert asked.status_code == missing.status_code == 404
        assert asked.json()["issue"][0]["diagnostics"].replace(h.id, "X") == \
            missing.json()["issue"][0]["diagnostics"].replace("0" * len(h.id), "X")


def test_a_token_scoped_to_one_person_sees_nobody_else_whatever_the_role(demo: Demo) -> None:
    """Includes and compartments too: another person's items are not even candidates."""
    a, b = demo.people[0], demo.people[1]
    scoped = requester("gp", b.practice_ods, patient=a.nhs_number)
    d = demo.gateway.disclosure.open(scoped)
    others = demo.gateway.store.compartment(demo.patient_id(b))
    assert others and d.decide(others, others) == []
    assert not d.decisions.entries and not d.notice_lines()
    own = demo.gateway.store.compartment(demo.patient_id(a))
    assert d.decide(own, own)


def test_history_and_not_modified_answers_keep_their_obligations(demo: Demo) -> None:
    person = demo.people[0]
    glass = demo.headers("paramedic", "X99999", "emergency", justification="collapsed at home")
    path = f"/fhir/Patient/{demo.patient_id(person)}"
    first = demo.client.get(path, headers=glass)
    assert first.status_code == 200
    again = demo.client.get(path, headers={**glass, "If-None-Match": first.headers["etag"]})
    assert again.status_code == 304
    history = demo.client.get(f"{path}/_history", headers=glass)
    for response in (first, again, history):
        record = _record(demo, response)
        assert "review" in record["obligations"], record["interaction"]
    assert _record(demo, again)["items"]["released"][0]["not_modified"] is True
