"""Combining: forbid beats permit, most restrictive wins, defaults, request stage, determinism."""
from __future__ import annotations

import shutil

import pytest

from gateway.policy import (
    CareTeamMember,
    ConsentDirective,
    Item,
    PatientContext,
    PolicyEngine,
)
from gateway.requester import Requester

from .conftest import PACK, write

TEAM = (CareTeamMember("caseload-holder", "RX1", "DN-ANC", "Priya Shah", "0161 555 0101"),
        CareTeamMember("usual-gp", "P81001", None, "Dr Okafor", None, "okafor@example.org"))
PATIENT = PatientContext("p1", "9434765919", care_team=TEAM)


def req(role: str, purpose: str = "direct_care", org: str = "RX1", **kw) -> Requester:
    return Requester(user="u1", name="Test User", role=role, org=org, purpose=purpose, **kw)


@pytest.fixture()
def mini(tmp_path):
    """A pack with the shipped vocabulary and only the rules a test writes."""
    target = tmp_path / "mini"
    target.mkdir()
    for name in ("roles.yaml", "purposes.yaml", "categories.yaml"):
        shutil.copy(PACK / name, target / name)
    shutil.copytree(PACK / "schema", target / "schema")
    shutil.copytree(PACK / "valuesets", target / "valuesets")  # the cached expansions categories.yaml names
    write(target / "invariants.yaml", "invariants: []\n")
    return target


def test_forbid_beats_permit_regardless_of_order(mini):
    permit = "  - id: permit\n    effect: release\n    when: {roles: [gp], categories: [visits]}\n"
    forbid = "  - id: forbid\n    effect: notice\n    when: {roles: [gp], categories: [visits]}\n"
    for first, second in ((permit, forbid), (forbid, permit)):
        write(mini / "rules" / "r.yaml", "rules:\n" + first + second)
        d = PolicyEngine.load(mini).decide(req("gp", org="P81001"), PATIENT, Item({}, ("visits",)))
        assert (d.effect, d.rule_ids) == ("notice", ("forbid",))


def test_hide_beats_notice_beats_redact_beats_release(mini):
    rules = "rules:\n" + "".join(
        f"  - id: {e}\n    effect: {e}\n{'    fields: [Patient.telecom]' + chr(10) if e == 'redact' else ''}"
        f"    when: {{categories: [demographics], roles: [{r}]}}\n"
        for e, r in (("release", "gp"), ("redact", "gp"), ("notice", "gp"), ("hide", "gp")))
    write(mini / "rules" / "r.yaml", rules)
    engine = PolicyEngine.load(mini)
    assert engine.decide(req("gp"), PATIENT, Item({"resourceType": "Patient"}, ("demographics",))).effect == "hide"
    write(mini / "rules" / "r.yaml", rules.rsplit("  - id: hide", 1)[0])
    assert PolicyEngine.load(mini).decide(req("gp"), PATIENT, Item({}, ("demographics",))).effect == "notice"
    write(mini / "rules" / "r.yaml", rules.rsplit("  - id: notice", 1)[0])
    d = PolicyEngine.load(mini).decide(req("gp"), PATIENT, Item({"resourceType": "Patient"}, ("demographics",)))
    assert (d.effect, d.redact) == ("redact", ("Patient.telecom",))


def test_defaults_without_rules_are_notice_and_hide_for_restricted(mini):
    write(mini / "rules" / "r.yaml", "rules: []\n")
    engine = PolicyEngine.load(mini)
    d = engine.decide(req("gp"), PATIENT, Item({}, ("clinical_summary",), "RX1"))
    assert d.effect == "notice" and d.rule_ids == ("default:clinical_summary",)
    assert engine.decide(req("gp"), PATIENT, Item({}, ("restricted",))).effect == "hide"


def test_item_in_several_categories_gets_the_most_restrictive(engine):
    condition = {"resourceType": "Condition",
                 "code": {"coding": [{"system": "http://snomed.info/sct", "code": "35489007"}]}}
    cats = engine.categorize(condition)
    assert cats == ("clinical_summary", "mental_health")
    assert engine.decide(req("gp", org="P81001"), PATIENT, Item(condition, cats)).effect == "release"
    d = engine.decide(req("social_worker", org="RX1"), PATIENT, Item(condition, cats))
    assert d.effect == "notice" and d.notice is not None and d.notice.category == "mental_health"
    hiv = {"resourceType": "Condition", "code": {"coding": [
        {"system": "http://snomed.info/sct", "code": "35489007"},
        {"system": "http://snomed.info/sct", "code": "86406008"}]}}
    assert engine.decide(req("gp", org="P81001"), PATIENT, Item(hiv, engine.categorize(hiv))).effect == "hide"


def test_unknown_category_label_is_hidden(engine):
    assert engine.decide(req("gp", org="P81001"), PATIENT, Item({}, ("astrology",))).effect == "hide"


def test_refused_request_hides_every_item(engine):
    d = engine.decide(req("auditor"), PATIENT, Item({}, ("demographics",)))
    assert d.effect == "hide" and d.rule_ids[0] == "request-refused"


@pytest.mark.parametrize(("role", "purpose", "just", "allowed", "reason"), [
    ("gp", "direct_care", None, True, ""),
    ("paramedic", "emergency", None, False, "requires a written justification"),
    ("paramedic", "emergency", "collapsed", True, ""),
    ("receptionist", "emergency", "collapsed", False, "may not state purpose"),
    ("ig_officer", "direct_care", None, False, "may not read patient records"),
    ("auditor", "direct_care", None, False, "may not read patient records"),
    ("source", "direct_care", None, False, "may not read patient records"),
    ("janitor", "direct_care", None, False, "unknown role"),
    ("gp", "marketing", None, False, "unknown purpose"),
])
def test_check_request(engine, role, purpose, just, allowed, reason):
    d = engine.check_request(req(role, purpose, justification=just))
    assert d.allowed is allowed and d.status == (200 if allowed else 403) and reason in d.reason


def test_emergency_request_carries_obligations(engine):
    d = engine.check_request(req("paramedic", "emergency", justification="found on floor"))
    assert d.obligations == frozenset({"review", "audit_level:high"})


def test_notice_names_holder_contact_and_break_glass(engine):
    item = Item({"resourceType": "Flag"}, ("safeguarding",), holder_org="RX1", holder_team="DN-ANC")
    d = engine.decide(req("gp", org="P99999"), PATIENT, item)
    assert d.effect == "notice" and d.notice is not None
    assert d.notice.holder_org == "RX1" and d.notice.contact == "0161 555 0101"
    assert d.notice.message == ("An item of category safeguarding is held by Priya Shah (DN-ANC, RX1); "
                                "contact 0161 555 0101. Emergency access is possible.")


def test_objection_notice_says_so(engine):
    objection = ConsentDirective("c1", "deny", ("visits",), ("P81001",))
    patient = PatientContext("p1", "9434765919", (objection,), False, TEAM)
    d = engine.decide(req("gp", org="P81001"), patient, Item({}, ("visits",), holder_org="P81001"))
    assert d.effect == "notice" and d.notice is not None
    assert d.notice.message.endswith("The patient has recorded an objection.")
    other = engine.decide(req("district_nurse", org="RX1"), patient, Item({}, ("visits",)))
    assert other.effect == "release"  # the objection named the GP practice only


def test_same_inputs_same_decisions(engine):
    again = PolicyEngine.load(PACK)
    item = Item({"resourceType": "Flag", "extension": [
        {"url": "https://fhir.care-gateway.example/StructureDefinition/detail", "valueString": "x"}]},
        ("risk_flag",), "RX1", "DN-ANC")
    for role in ("gp", "district_nurse", "hospital_discharge", "receptionist", "researcher", "auditor"):
        first = engine.decide(req(role), PATIENT, item)
        assert first == engine.decide(req(role), PATIENT, item) == again.decide(req(role), PATIENT, item)
    assert engine.version == again.version


def test_version_is_a_content_hash(pack, engine):
    assert PolicyEngine.load(pack).version == engine.version  # same content elsewhere: same version
    p = pack / "rules" / "20_relationship.yaml"
    p.write_text(p.read_text() + "\n# a comment is a change too\n")
    changed = PolicyEngine.load(pack).version
    assert changed != engine.version and changed.startswith("sha256:") and len(changed) == 71


def test_vocabulary_lookups(engine):
    assert engine.role_for_job_role("R8000") == "gp" and engine.role_for_job_role("R9999") is None
    assert engine.may_ingest("source") and not engine.may_ingest("gp") and not engine.may_ingest("nobody")
    assert engine.purpose_code("emergency") == "http://terminology.hl7.org/CodeSystem/v3-ActReason|ETREAT"
