"""Approval under the two-person rule publishes first and only then marks the proposal approved; a
failure at any step leaves a state that says what happened and that the publish page recovers."""
from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient

from gateway.api.app import create_app
from gateway.policy.proposals import PolicyProposals, policy_proposal
from tests.console.conftest import Console
from tests.console.test_console_http import sign_in


@pytest.fixture
def officers(console: Console) -> Iterator[tuple[TestClient, str, TestClient, str]]:
    """Two IG officers signed in, and a proposal by the first (a comment added to a rule file)."""
    rules = console.policy_dir / "rules" / "10_direct_care_matrix.yaml"
    rules.write_text(rules.read_text() + "\n# a comment changes the version\n")
    with TestClient(create_app(console.gateway), base_url="https://testserver") as a, \
            TestClient(create_app(console.gateway), base_url="https://testserver") as b:
        csrf_a, csrf_b = sign_in(a, "ig-officer-a"), sign_in(b, "ig-officer-b")
        proposed = a.post("/console/policy/proposals", data={"comment": "tidy", "csrf": csrf_a}, follow_redirects=False)
        assert proposed.status_code == 303, proposed.text
        yield a, csrf_a, b, csrf_b


def _only(console: Console) -> tuple[PolicyProposals, int]:
    proposals = PolicyProposals(console.gateway.engine)
    [proposal] = proposals.list()
    return proposals, proposal.id


def test_interrupted_after_publication_says_publishing_and_is_completed_later(
        console: Console, officers: tuple[TestClient, str, TestClient, str], monkeypatch: pytest.MonkeyPatch) -> None:
    a, csrf_a, b, csrf_b = officers
    proposals, pid = _only(console)
    before = console.gateway.policies.version

    def lost(self: PolicyProposals, proposal_id: int) -> None:
        raise ConnectionError("the database connection dropped after the publication")

    monkeypatch.setattr(PolicyProposals, "complete", lost)
    with pytest.raises(ConnectionError):
        b.post(f"/console/policy/proposals/{pid}/approve", data={"csrf": csrf_b})
    monkeypatch.undo()
    proposal = proposals.get(pid)
    assert proposal is not None
    # Published (in force) — and the proposal says so: neither still pending nor already approved.
    assert console.gateway.policies.version == proposal.version != before
    assert (proposal.status, proposal.decided_by) == ("publishing", "ig-officer-b")
    # Nobody can reject or withdraw what is in force.
    refused = a.post(f"/console/policy/proposals/{pid}/withdraw", data={"csrf": csrf_a})
    assert refused.status_code == 409 and "being published" in refused.text
    # The next look at the publish page completes it, and audits that.
    page = a.get("/console/policy/publish")
    assert "was published when approved by ig-officer-b, but the approval was not recorded then" in page.text
    assert proposals.get(pid).status == "approved"  # type: ignore[union-attr]
    [recovered] = [e.record for e in console.gateway.audit.search(limit=None)
                   if (e.record.get("policy_change") or {}).get("recovered")]
    assert recovered["outcome"] == "published" and recovered["requester"]["user"] == "ig-officer-a"
    assert recovered["policy_proposal"]["decided_by"] == "ig-officer-b"
    assert "was published when approved" not in a.get("/console/policy/publish").text  # once


def test_a_publication_that_fails_leaves_the_proposal_pending(
        console: Console, officers: tuple[TestClient, str, TestClient, str]) -> None:
    _, _, b, csrf_b = officers
    proposals, pid = _only(console)
    before = console.gateway.policies.version
    with console.gateway.engine.begin() as conn:  # the kept copy no longer hashes to the proposed version
        conn.execute(policy_proposal.update().where(policy_proposal.c.id == pid).values(files='{"x.yaml": "y"}'))
    answer = b.post(f"/console/policy/proposals/{pid}/approve", data={"csrf": csrf_b})
    assert answer.status_code == 409 and "do not hash" in answer.text
    assert console.gateway.policies.version == before
    proposal = proposals.get(pid)
    assert proposal is not None and (proposal.status, proposal.decided_by) == ("pending", None)


def test_a_claim_never_published_returns_to_pending_once_stale(console: Console) -> None:
    proposals = PolicyProposals(console.gateway.engine)
    p = proposals.propose({"a.yaml": "x"}, "sha256:never-published", None, "ig-officer-a", "tighten")
    proposals.claim(p.id, "ig-officer-b")
    assert proposals.settle() == ()  # a fresh claim may still be publishing: left alone
    with console.gateway.engine.begin() as conn:
        conn.execute(policy_proposal.update().where(policy_proposal.c.id == p.id)
                     .values(decided_at=datetime.now(UTC) - timedelta(minutes=10)))
    [(settled, completed)] = proposals.settle()
    assert settled.id == p.id and completed is False
    assert proposals.get(p.id).status == "pending"  # type: ignore[union-attr]


def test_two_approvers_at_once_publish_once(console: Console) -> None:
    proposals = PolicyProposals(console.gateway.engine)
    p = proposals.propose({"a.yaml": "x"}, "sha256:v", None, "ig-officer-a", "tighten")
    proposals.claim(p.id, "ig-officer-b")
    with pytest.raises(Exception, match="being published"):
        proposals.claim(p.id, "ig-officer-c")
