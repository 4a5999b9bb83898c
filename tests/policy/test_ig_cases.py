"""Every IG-written case and matrix cell of consent_policies/tests/*.yaml, as one pytest each."""
from __future__ import annotations

import re

import pytest

from gateway.policy.igtests import load_cases, run_case, run_tests

from .conftest import PACK

CASES = load_cases(PACK)


@pytest.mark.parametrize(("file", "case"), CASES, ids=[f"{f}::{c['name']}" for f, c in CASES])
def test_ig_case(engine, file, case):
    result = run_case(engine, case, file)
    assert result.passed, "; ".join(result.failures)


def test_every_numbered_rule_and_the_matrix_are_proved():
    proved = {p for _, case in CASES for p in case.get("proves", ())}
    wanted = {"matrix"} | {f"rule {n}" for n in range(1, 9)}
    assert wanted <= proved, f"not proved by any test: {sorted(wanted - proved)}"


def test_every_cell_of_the_direct_care_matrix_is_tested():
    roles = ["gp", "district_nurse", "social_worker", "care_worker", "hospital_discharge", "paramedic",
             "receptionist", "researcher"]
    categories = ["demographics", "care_team", "clinical_summary", "visits", "care_package", "risk_flag",
                  "risk_flag.detail", "access", "capacity_assessment", "capacity_assessment.reasoning",
                  "advance_decisions", "safeguarding", "safeguarding.detail", "mental_health", "case_notes",
                  "restricted"]
    names = {c["name"] for _, c in CASES}
    for role in roles:
        for cat in categories:
            pattern = re.compile(rf"^direct care with a legitimate relationship: {role} / {re.escape(cat)}( / \w+)?$")
            assert any(pattern.match(n) for n in names), f"no test for cell {role} x {cat}"


def test_a_wrong_expectation_fails(engine):
    case = {"name": "deliberately wrong", "requester": {"role": "receptionist", "purpose": "direct_care"},
            "item": {"categories": ["mental_health"]}, "expect": {"effect": "release"}}
    result = run_case(engine, case)
    assert not result.passed and "effect notice" in result.failures[0]


def test_ig_tests_catch_a_policy_change(pack):
    """Releasing access to GPs in the pack must make the matrix test for that cell fail."""
    from gateway.policy import PolicyEngine

    rules = pack / "rules" / "10_direct_care_matrix.yaml"
    text = rules.read_text()
    rules.write_text(text.replace("capacity_assessment.reasoning, advance_decisions, mental_health]",
                                  "capacity_assessment.reasoning, advance_decisions, mental_health, access]", 1))
    changed = PolicyEngine.load(pack)
    failed = [r for r in run_tests(changed, pack) if not r.passed]
    assert sorted(r.name for r in failed) == [
        "direct care with a legitimate relationship: gp / access",
        "rule 2 - emergency with a justification, no relationship, patient objects to everything: gp / access",
    ]
