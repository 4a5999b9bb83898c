"""Invariants are proved over the whole space; a violation names the combination."""
from __future__ import annotations

import pytest

from gateway.policy import PolicyEngine, PolicyError

from .conftest import write


def _all_violations(pack) -> list[str]:
    from gateway.policy.invariants import check_invariants

    return [str(p) for p in check_invariants(PolicyEngine.load(pack, check_invariants=False), 100_000)]


def test_shipped_pack_satisfies_its_invariants(engine):
    from gateway.policy.invariants import check_invariants

    assert check_invariants(engine) == []
    assert len(engine.invariants) >= 10


def test_releasing_restricted_breaks_the_invariant_and_names_the_combination(pack):
    write(pack / "rules" / "99_leak.yaml", (
        "rules:\n  - id: leak.restricted\n    effect: release\n"
        "    when: {roles: [paramedic], purposes: [direct_care], categories: [restricted], relationship: true}\n"))
    PolicyEngine.load(pack)  # r8.restricted (hide) forbids it: forbid beats permit
    restricted = pack / "rules" / "80_restricted.yaml"
    text = restricted.read_text()
    restricted.write_text(text[text.index("  - id: r8.restricted.recording_org"):].join(["rules:\n", ""]))
    (pack / "tests" / "rules.yaml").unlink()  # its cases name the removed rule
    with pytest.raises(PolicyError) as exc:
        PolicyEngine.load(pack)
    assert "invariant 'restricted.only_recording_org_or_named_recipient' is broken by role=" in str(exc.value)
    leak = [p for p in _all_violations(pack) if "leak.restricted" in p]
    assert leak, "the leaking rule is not named"
    assert all("role=paramedic purpose=direct_care category=restricted relationship=yes" in p for p in leak)
    assert any("objection=no consent_permits=no" in p and "recorded_by_requester=no" in p
               and "effect release" in p for p in leak)


def test_emergency_without_review_breaks_the_invariant(pack):
    p = pack / "purposes.yaml"
    p.write_text(p.read_text().replace('obligations: [review, "audit_level:high"]',
                                       'obligations: ["audit_level:high"]'))
    with pytest.raises(PolicyError) as exc:
        PolicyEngine.load(pack)
    assert "invariant 'emergency.always_reviewed' is broken by role=" in str(exc.value)
    assert "purpose=emergency" in str(exc.value) and "lack ['review']" in str(exc.value)


def test_letting_auditors_read_breaks_rule_7(pack):
    p = pack / "roles.yaml"
    p.write_text(p.read_text().replace(
        "    description: Auditor / privacy officer - read the audit log, never records\n"
        "    job_roles: [R8013]          # example\n    reads_records: false\n",
        "    description: Auditor\n    job_roles: [R8013]\n"))
    q = pack / "purposes.yaml"
    q.write_text(q.read_text().replace("roles: [researcher]", "roles: [researcher, auditor]"))
    with pytest.raises(PolicyError) as exc:
        PolicyEngine.load(pack)
    assert "invariant 'non_readers.refused' is broken by role=auditor purpose=research" in str(exc.value)


def test_opt_out_invariant_catches_a_release_for_research(pack):
    write(pack / "rules" / "99_research.yaml", (
        "rules:\n  - id: research.demographics\n    effect: release\n"
        "    when: {roles: [researcher], purposes: [research], categories: [demographics]}\n"))
    # r5.secondary_use (hide) still forbids it: forbid beats permit, so the pack stays valid ...
    PolicyEngine.load(pack)
    # ... until the forbidding rules go: then the opt-out invariant must catch it.
    (pack / "rules" / "50_secondary_use.yaml").write_text("rules: []\n")
    (pack / "tests" / "rules.yaml").unlink()  # its cases name the removed rules
    with pytest.raises(PolicyError) as exc:
        PolicyEngine.load(pack)
    assert "opt_out.never_for_secondary_use" in str(exc.value)
    found = [p for p in _all_violations(pack)
             if "'opt_out.never_for_secondary_use'" in p and "research.demographics" in p]
    assert found and all("role=researcher purpose=research category=demographics" in p and "opt_out=yes" in p
                         for p in found)


def test_invariant_with_unknown_name_is_rejected(pack):
    p = pack / "invariants.yaml"
    p.write_text(p.read_text().replace("when: {roles: [researcher], opt_out: true}",
                                       "when: {roles: [reseacher], opt_out: true}"))
    with pytest.raises(PolicyError) as exc:
        PolicyEngine.load(pack)
    assert "unknown role 'reseacher'" in str(exc.value)
