"""IG tooling over HTTP (role capability `manages_policies`) and over the stored corpus."""
from __future__ import annotations

import shutil
from pathlib import Path

import httpx
import pytest

from gateway.disclosure.analysis import corpus_diff, simulate_everything
from gateway.policy import PolicyEngine, PolicyHolder
from gateway.settings import Settings
from gateway.testing import auth_headers, requester
from gateway.wiring import Gateway
from tests.api.conftest import Loaded


@pytest.fixture
def policy_copy(tmp_path: Path, gateway: Gateway) -> Path:
    """The gateway runs on a copy of the shipped pack that the test may edit."""
    target = tmp_path / "policies"
    shutil.copytree(gateway.policies.directory, target)
    gateway.policies = gateway.disclosure.policies = PolicyHolder(target)
    return target


def _loosen_receptionist(directory: Path) -> None:
    """An IG edit: receptionists now see clinical summaries (a rule that releases them)."""
    (directory / "rules" / "95_test_loosen.yaml").write_text(
        "rules:\n"
        "  - id: test-receptionist-clinical\n"
        "    description: test edit\n"
        "    effect: release\n"
        "    when:\n"
        "      roles: [receptionist]\n"
        "      purposes: [direct_care]\n"
        "      categories: [clinical_summary]\n"
        "      relationship: true\n")


async def test_ig_officer_checks_explains_and_simulates(client: httpx.AsyncClient, settings: Settings,
                                                        gateway: Gateway, loaded: Loaded) -> None:
    ig = auth_headers(settings, "ig_officer", "X26", user="IG-1")
    assert (await client.get("/policy", headers=ig)).json()["version"] == gateway.policies.version
    assert (await client.post("/policy/check", headers=ig)).json()["ok"] is True
    why = (await client.post("/policy/explain", headers=ig, json={
        "role": "receptionist", "purpose": "direct_care", "category": "clinical_summary",
        "facts": {"relationship": True}})).json()
    assert why["effect"] == "notice" and why["lines"]
    sim = await client.post("/policy/simulate", headers=ig, json={
        "role": "receptionist", "purpose": "direct_care", "org": loaded.person.practice_ods,
        "nhs_number": loaded.person.nhs_number, "show_content": True, "reason": "checking the receptionist rule"})
    assert sim.status_code == 200
    types = {e["resource"]["resourceType"] for e in sim.json()["entry"] if e["search"]["mode"] == "match"}
    assert "Patient" in types and "Condition" not in types
    record = gateway.audit.entry(int(sim.headers["x-audit-sequence"])).record  # type: ignore[union-attr]
    assert record["requester"]["role"] == "ig_officer" and "policy.simulate" in record["interaction"]
    clinician = auth_headers(settings, "gp", loaded.person.practice_ods)
    assert (await client.post("/policy/check", headers=clinician)).status_code == 403


async def test_broken_policy_never_replaces_the_working_one(client: httpx.AsyncClient, settings: Settings,
                                                            gateway: Gateway, policy_copy: Path) -> None:
    ig = auth_headers(settings, "ig_officer", "X26")
    before = gateway.policies.version
    (policy_copy / "rules" / "99_broken.yaml").write_text("rules:\n  - id: broken\n    effect: allow\n")
    checked = await client.post("/policy/check", headers=ig)
    assert checked.status_code == 422
    assert any("99_broken.yaml" in p["file"] for p in checked.json()["problems"])
    refused = await client.post("/policy/reload", headers=ig)
    assert refused.status_code == 422 and refused.json()["in_force"] == before
    assert gateway.policies.version == before


async def test_diff_over_the_stored_corpus_then_reload(client: httpx.AsyncClient, settings: Settings,
                                                       gateway: Gateway, loaded: Loaded, policy_copy: Path) -> None:
    ig = auth_headers(settings, "ig_officer", "X26")
    _loosen_receptionist(policy_copy)
    diff = (await client.post("/policy/diff", headers=ig, json={"corpus": True})).json()
    assert any(c["role"] == "receptionist" and c["category"] == "clinical_summary" and c["new"] == "release"
               for c in diff["combinations"])
    counted = {(c["role"], c["purpose"], c["relationship"], c["old"], c["new"]): c["items"]
               for c in diff["corpus"]["counts"]}
    assert counted.get(("receptionist", "direct_care", True, "notice", "release"), 0) > 0
    assert not any(role != "receptionist" for role, *_ in counted)
    assert any(e["item"].startswith("Condition/") for e in diff["corpus"]["examples"])
    # The pack's own IG tests say receptionists get a notice: the edit cannot go live until they change too.
    before = gateway.policies.version
    refused = await client.post("/policy/reload", headers=ig)
    assert refused.status_code == 422 and refused.json()["failed_tests"]
    assert gateway.policies.version == before


async def test_a_passing_edit_goes_live_on_reload(client: httpx.AsyncClient, settings: Settings,
                                                  gateway: Gateway, policy_copy: Path) -> None:
    ig = auth_headers(settings, "ig_officer", "X26")
    roles = policy_copy / "roles.yaml"
    roles.write_text(roles.read_text().replace("Admin and clerical staff", "Admin and clerical staff (reviewed)"))
    before = gateway.policies.version
    reloaded = (await client.post("/policy/reload", headers=ig)).json()
    assert reloaded["ok"] and reloaded["changed"] and reloaded["previous"] == before
    assert gateway.policies.version == reloaded["version"] != before


def test_simulation_is_exactly_what_the_api_would_serve(gateway: Gateway, loaded: Loaded) -> None:
    gp = requester("gp", loaded.person.practice_ods)
    bundle, d = simulate_everything(gateway.disclosure, gp, loaded.person.nhs_number)
    assert d.decisions.released and bundle["total"] == len(d.decisions.released)
    refused, _ = simulate_everything(gateway.disclosure, requester("auditor", "X26"), loaded.person.nhs_number)
    assert refused["resourceType"] == "OperationOutcome"


def test_identical_policies_diff_to_nothing(gateway: Gateway, loaded: Loaded) -> None:
    engine = gateway.policies.engine
    same = PolicyEngine.load(gateway.policies.directory)
    result = corpus_diff(gateway.disclosure, engine, same)
    assert result.items_checked > 20 and result.decisions_compared > result.items_checked
    assert not result.counts
