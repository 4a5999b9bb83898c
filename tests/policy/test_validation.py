"""A broken pack is rejected with every problem named by file, path and line."""
from __future__ import annotations

import pytest

from gateway.policy import PolicyEngine, PolicyError

from .conftest import write


def _problems(pack) -> list[str]:
    with pytest.raises(PolicyError) as exc:
        PolicyEngine.load(pack)
    return [str(p) for p in exc.value.problems]


def test_schema_error_names_file_path_and_line(pack):
    write(pack / "rules" / "99_bad.yaml", "rules:\n  - id: bad.rule\n    effect: allow\n    when: {roles: [gp]}\n")
    problems = _problems(pack)
    assert len(problems) == 1
    assert problems[0].startswith("rules/99_bad.yaml:3: rules[0].effect:")
    assert "'allow' is not one of" in problems[0]


def test_unknown_condition_key_is_a_schema_error(pack):
    write(pack / "rules" / "99_bad.yaml", "rules:\n  - id: bad.rule\n    effect: release\n    when: {role: [gp]}\n")
    [problem] = _problems(pack)
    assert "rules/99_bad.yaml:4: rules[0].when" in problem and "'role' was unexpected" in problem


def test_unknown_names_are_reference_errors(pack):
    write(pack / "rules" / "99_bad.yaml", (
        "rules:\n  - id: bad.rule\n    effect: release\n"
        "    when: {roles: [gp, surgeon], purposes: [gossip], categories: [clinical_summary, horoscope]}\n"))
    problems = _problems(pack)
    assert any("rules[0].when.roles[1]: unknown role 'surgeon'" in p for p in problems)
    assert any("rules[0].when.purposes[0]: unknown purpose 'gossip'" in p for p in problems)
    assert any("rules[0].when.categories[1]: unknown category 'horoscope'" in p for p in problems)
    assert all(p.startswith("rules/99_bad.yaml:4:") for p in problems)


def test_duplicate_rule_id(pack):
    write(pack / "rules" / "99_dup.yaml", "rules:\n  - id: matrix.gp\n    effect: hide\n    when: {roles: [gp]}\n")
    [problem] = _problems(pack)
    assert "rules/99_dup.yaml:2: rules[0].id: duplicate rule id 'matrix.gp'" in problem


def test_bad_selector(pack):
    cats = pack / "categories.yaml"
    cats.write_text(cats.read_text().replace("      - Observation.note\n",
                                             "      - Observation.note.frobnicate('x')\n"))
    [problem] = _problems(pack)
    assert problem.startswith("categories.yaml:")
    assert "categories.capacity_assessment.reasoning.fields[2]" in problem and "frobnicate" in problem


def test_invalid_yaml_names_the_line(pack):
    write(pack / "purposes.yaml", "purposes:\n  direct_care: [unclosed\n")
    [problem] = _problems(pack)
    assert problem.startswith("purposes.yaml:") and "not valid YAML" in problem


def test_missing_required_file(pack):
    (pack / "roles.yaml").unlink()
    assert "roles.yaml: <file>: required file is missing" in _problems(pack)


def test_purpose_with_unknown_role(pack):
    p = pack / "purposes.yaml"
    p.write_text(p.read_text().replace("roles: [researcher]", "roles: [researcher, astronaut]"))
    [problem] = _problems(pack)
    assert "purposes.research.roles[1]: unknown role 'astronaut'" in problem


def test_test_file_references_are_checked(pack):
    write(pack / "tests" / "zz.yaml", (
        "cases:\n  - name: typo\n    requester: {role: gp, purpose: direct_care}\n"
        "    item: {categories: [clinical_sumary]}\n    expect: {effect: release}\n"))
    [problem] = _problems(pack)
    assert "tests/zz.yaml:4: cases[0].item.categories[0]: unknown category 'clinical_sumary'" in problem


def test_all_problems_reported_at_once(pack):
    write(pack / "rules" / "99_bad.yaml", (
        "rules:\n  - id: a\n    effect: release\n    when: {roles: [nobody]}\n"
        "  - id: b\n    effect: release\n    when: {categories: [nothing]}\n"))
    assert len(_problems(pack)) == 2
