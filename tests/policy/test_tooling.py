"""IG tooling: check / test / explain / diff commands and the functions behind them."""
from __future__ import annotations

from typer.testing import CliRunner

from gateway.policy import CareTeamMember, Item, PatientContext, PolicyEngine
from gateway.policy.commands import app
from gateway.policy.conditions import Facts
from gateway.policy.diff import diff_items, diff_policies, diff_requests
from gateway.policy.explain import explain, explain_item
from gateway.requester import Requester

from .conftest import PACK, write

runner = CliRunner()


def _run(*args: str):
    return runner.invoke(app, list(args), env={"COLUMNS": "200"})


def test_check_ok_and_broken(pack):
    ok = _run("check", str(PACK))
    assert ok.exit_code == 0 and "invariants proved over" in ok.output
    write(pack / "rules" / "99_bad.yaml", "rules:\n  - id: x\n    effect: maybe\n    when: {}\n")
    bad = _run("check", str(pack))
    assert bad.exit_code == 1 and "rules/99_bad.yaml" in bad.output and "rules[0].effect" in bad.output


def test_test_command_passes_and_fails(pack):
    assert _run("test", str(PACK)).exit_code == 0
    write(pack / "tests" / "zz.yaml", ("cases:\n  - name: receptionists read mental health\n"
                                       "    requester: {role: receptionist, purpose: direct_care}\n"
                                       "    item: {categories: [mental_health]}\n    expect: {effect: release}\n"))
    result = _run("test", str(pack))
    assert result.exit_code == 1 and "receptionists read mental health" in result.output and "1 failed" in result.output


def test_explain_command_lists_rules_in_order():
    result = _run("explain", "--role", "gp", "--purpose", "direct_care", "--category", "restricted",
                  "--dir", str(PACK))
    assert result.exit_code == 0
    out = result.output
    assert (out.index("r1.no_relationship") < out.index("r8.restricted [hide] deciding")
            < out.index("=> hide by r8.restricted"))
    assert "matrix.gp" not in out  # it does not mention restricted
    unknown = _run("explain", "--role", "gp", "--purpose", "direct_care", "--category", "tarot", "--dir", str(PACK))
    assert unknown.exit_code == 2 and "tarot" in unknown.output


def test_explain_function_marks_the_deciding_rule(engine):
    e = explain(engine, "social_worker", "direct_care", "safeguarding", Facts(relationship=True, objection=True))
    deciding = [s.rule_id for s in e.steps if s.deciding]
    assert e.outcome.effect == "notice" and deciding == ["r4.objection"]
    assert any(s.rule_id == "matrix.social_worker" and s.matched and not s.deciding for s in e.steps)
    assert [g.category for g in e.groups] == ["safeguarding.detail"]
    blocked = explain(engine, "gp", "direct_care", "demographics", Facts(relationship=False))
    step = next(s for s in blocked.steps if s.rule_id == "r1.no_relationship.emergency_possible")
    assert not step.matched and "unless categories=['care_team', 'demographics']" in step.reasons[0]


def test_diff_names_changed_combinations(pack, engine):
    p = pack / "rules" / "10_direct_care_matrix.yaml"
    p.write_text(p.read_text().replace("      categories: [demographics, care_team, visits, care_package, risk_flag]\n",
                                       "      categories: [demographics, care_team, visits, care_package, risk_flag, "
                                       "access]\n"))
    new = PolicyEngine.load(pack)
    changes = diff_policies(engine, new)
    assert {(c.role, c.purpose, c.category, c.old_effect, c.new_effect) for c in changes} == {
        ("receptionist", "direct_care", "access", "notice", "release")}
    assert all(c.facts.relationship and not c.facts.objection for c in changes)
    assert diff_requests(engine, new) == []
    result = _run("diff", str(PACK), str(pack), "--fail-on-change")
    assert result.exit_code == 3 and "receptionist" in result.output and "access" in result.output
    assert _run("diff", str(PACK), str(PACK)).exit_code == 0


def test_diff_items_over_real_items(pack, engine):
    p = pack / "rules" / "10_direct_care_matrix.yaml"
    rest = "\n                   access, capacity_assessment, advance_decisions, mental_health]"
    p.write_text(p.read_text().replace("risk_flag, risk_flag.detail," + rest, "risk_flag," + rest))
    new = PolicyEngine.load(pack)
    team = (CareTeamMember("caseload-holder", "RX1", "DN-ANC"),)
    patient = PatientContext("p1", "9434765919", care_team=team)
    flag = {"resourceType": "Flag", "id": "f1", "extension": [
        {"url": "https://fhir.care-gateway.example/StructureDefinition/detail", "valueString": "x"}]}
    items = [(patient, Item(flag, ("risk_flag",), "RX1")),
             (patient, Item({"resourceType": "Patient", "id": "p1"}, ("demographics",)))]
    people = [Requester("u", "n", role, "RX1", "direct_care") for role in ("district_nurse", "paramedic")]
    changes = diff_items(engine, new, people, items)
    assert [(c.requester.role, c.resource, c.old.effect, c.new.effect) for c in changes] == [
        ("district_nurse", "Flag/f1", "release", "redact")]


def test_decide_and_explain_item(engine):
    team = (CareTeamMember("caseload-holder", "RX1", "DN-ANC", "Priya Shah", "0161 555 0101"),)
    patient = PatientContext("p1", "9434765919", care_team=team)
    items = [Item({"resourceType": "Patient", "id": "p1"}, ("demographics",), "P81001"),
             Item({"resourceType": "Condition", "id": "c1"}, ("clinical_summary",), "P81001")]
    receptionist = Requester("u", "n", "receptionist", "RX1", "direct_care")
    assert [engine.decide(receptionist, patient, item).effect for item in items] == ["release", "notice"]
    assert not engine.check_request(Requester("u", "n", "auditor", "X", "direct_care")).allowed
    [why] = explain_item(engine, receptionist, patient, items[1])
    assert why.outcome.effect == "notice" and why.facts.relationship


def test_lint_warns_about_dead_and_shadowed_rules(pack):
    from gateway.policy.lint import lint

    write(pack / "rules" / "99_lint.yaml", (
        "rules:\n"
        "  - id: dead.receptionist_emergency\n    effect: release\n"
        "    when: {roles: [receptionist], purposes: [emergency]}\n"      # receptionists may not break glass
        "  - id: shadowed.restricted\n    effect: release\n"
        "    when: {roles: [gp], purposes: [planning], categories: [restricted]}\n"))  # r5 / r8 always hide
    warnings = [str(w) for w in lint(PolicyEngine.load(pack))]
    assert warnings == [
        "rules/99_lint.yaml: rules[0]: rule 'dead.receptionist_emergency' never matches a request stage 1 allows",
        ("rules/99_lint.yaml: rules[1]: rule 'shadowed.restricted' matches but never decides "
         "(a more restrictive rule always wins)")]
    result = _run("check", str(pack))
    assert result.exit_code == 0 and "dead.receptionist_emergency" in result.output
