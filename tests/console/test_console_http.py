"""The console without a browser: sessions, CSRF, capabilities, production mode, the two-person rule."""
from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from gateway.api.app import create_app
from gateway.policy.proposals import PolicyProposals, ProposalError
from tests.console.conftest import Console, break_glass


@pytest.fixture
def client(console: Console) -> Iterator[TestClient]:
    with TestClient(create_app(console.gateway), base_url="https://testserver") as c:
        yield c


LOGIN_TOKEN = re.compile(r'action="/console/login"[^>]*>\s*<input type="hidden" name="csrf" value="([^"]+)"')


def sign_in(client: TestClient, user: str) -> str:
    """Sign in as a demo user; the session's CSRF token (from a page's forms)."""
    page = client.get("/console/login")
    token = LOGIN_TOKEN.search(page.text).group(1)
    answer = client.post("/console/login", data={"user": user, "csrf": token}, follow_redirects=False)
    assert answer.status_code == 303, answer.text
    home = client.get("/console/")
    return re.search(r'name="csrf" value="([^"]+)"', home.text).group(1)


def test_session_cookie_is_secure_httponly_strict(client: TestClient) -> None:
    page = client.get("/console/login")
    token = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
    answer = client.post("/console/login", data={"user": "auditor-a", "csrf": token}, follow_redirects=False)
    cookie = next(v for k, v in answer.headers.multi_items() if k == "set-cookie" and v.startswith("gateway_console="))
    assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=strict" in cookie.replace("Strict", "strict")


def test_sign_in_without_the_forms_csrf_token_is_refused(client: TestClient) -> None:
    client.get("/console/login")
    answer = client.post("/console/login", data={"user": "auditor-a", "csrf": "forged"}, follow_redirects=False)
    assert answer.status_code == 403
    assert client.get("/console/audit/", follow_redirects=False).status_code == 303  # still signed out


def test_every_form_needs_the_session_csrf_token(client: TestClient, console: Console) -> None:
    seq = break_glass(console)
    sign_in(client, "auditor-a")
    answer = client.post(f"/console/audit/review/{seq}", data={"comment": "ok", "csrf": "wrong"})
    assert answer.status_code == 403 and "CSRF" in answer.text
    assert [e.seq for e in console.gateway.audit.review_queue()] == [seq]


def test_a_forged_or_missing_session_is_signed_out(client: TestClient) -> None:
    assert client.get("/console/policy/", follow_redirects=False).headers["location"] == "/console/login"
    client.cookies.set("gateway_console", "eyJ1c2VyIjoiaWcifQ.forged.sig", domain="testserver", path="/console")
    assert client.get("/console/policy/", follow_redirects=False).status_code == 303


def test_capabilities_come_from_roles_yaml(client: TestClient) -> None:
    sign_in(client, "auditor-a")
    assert client.get("/console/audit/").status_code == 200
    refused = client.get("/console/policy/")
    assert refused.status_code == 403 and "manages_policies" in refused.text
    sign_in(client, "gp-a")
    assert client.get("/console/audit/").status_code == 403
    assert "nothing for you here" in client.get("/console/").text


def test_development_sign_in_is_refused_in_production(console: Console) -> None:
    settings = console.gateway.settings.model_copy(update={"production": True})
    console.gateway.settings = settings
    with TestClient(create_app(console.gateway), base_url="https://testserver") as client:
        (console.directory / "console.key").write_text("a production key, made by the operator")
        answer = client.get("/console/login")
        assert answer.status_code == 200 and "Demo user" not in answer.text and "auditor-a" not in answer.text
        assert "No sign-in is configured" in answer.text  # and no OpenID Connect issuer is set here
        refused = client.post("/console/login", data={"user": "auditor-a", "csrf": "x"}, follow_redirects=False)
        assert refused.status_code == 403 and "production" in refused.text
        assert client.get("/console/audit/", follow_redirects=False).status_code == 303  # no session was made


def test_console_actions_are_audited(client: TestClient, console: Console) -> None:
    sign_in(client, "auditor-a")
    answer = client.get("/console/audit/", params={"nhs_number": console.person.nhs_number})
    seq = int(answer.headers["X-Audit-Sequence"])
    record = console.gateway.audit.entry(seq).record
    assert record["type"] == "audit-access" and record["requester"]["user"] == "auditor-a"
    assert record["interaction"] == "console.audit.search"
    sign_ins = console.gateway.audit.search(user="auditor-a")
    assert any(e.record.get("interaction") == "console.sign-in" for e in sign_ins)


def test_two_person_rule(console: Console) -> None:
    proposals = PolicyProposals(console.gateway.engine)
    p = proposals.propose({"a.yaml": "x"}, "sha256:new", "sha256:old", "ig-officer-a", "tighten access")
    with pytest.raises(ProposalError, match="two-person"):
        proposals.claim(p.id, "ig-officer-a")
    with pytest.raises(ProposalError, match="only the proposer"):
        proposals.decide(p.id, "ig-officer-b", "withdrawn")
    assert proposals.claim(p.id, "ig-officer-b", "agreed").status == "publishing"
    with pytest.raises(ProposalError, match="being published"):
        proposals.decide(p.id, "ig-officer-a", "withdrawn")
    assert proposals.complete(p.id).status == "approved"
    with pytest.raises(ProposalError, match="already approved"):
        proposals.decide(p.id, "ig-officer-b", "rejected")
    assert proposals.files(p.id) == {"a.yaml": "x"}


def test_self_approval_over_http_is_refused_and_audited(client: TestClient, console: Console) -> None:
    rules = console.policy_dir / "rules" / "10_direct_care_matrix.yaml"
    rules.write_text(rules.read_text() + "\n# a comment changes the version\n")
    csrf = sign_in(client, "ig-officer-a")
    answer = client.post("/console/policy/proposals", data={"comment": "a comment", "csrf": csrf},
                         follow_redirects=False)
    assert answer.status_code == 303, answer.text
    [proposal] = PolicyProposals(console.gateway.engine).list()
    before = console.gateway.policies.version
    refused = client.post(f"/console/policy/proposals/{proposal.id}/approve", data={"csrf": csrf})
    assert refused.status_code == 409 and "two-person" in refused.text
    assert console.gateway.policies.version == before
    record = console.gateway.audit.entry(int(refused.headers["X-Audit-Sequence"])).record
    assert record["outcome"] == "refused" and record["interaction"] == "console.policy.approve"


def test_the_editor_only_opens_and_saves_policy_files(client: TestClient, console: Console) -> None:
    csrf = sign_in(client, "ig-officer-a")
    assert client.get("/console/policy/edit", params={"file": "../gateway.sqlite"}).status_code == 404
    answer = client.post("/console/policy/edit", data={"file": "../outside.yaml", "text": "x", "action": "save",
                                                       "csrf": csrf})
    assert answer.status_code == 404 and not (console.directory / "outside.yaml").exists()
    broken = client.post("/console/policy/edit", data={"file": "roles.yaml", "text": "roles: [", "action": "save",
                                                       "csrf": csrf})
    assert broken.status_code == 422 and "Not saved" in broken.text
    assert (console.policy_dir / "roles.yaml").read_text(encoding="utf-8").startswith(("#", "roles"))


def test_production_without_a_session_key_signs_no_one_in(console: Console) -> None:
    console.gateway.settings = console.gateway.settings.model_copy(update={"production": True})
    with TestClient(create_app(console.gateway), base_url="https://testserver") as client:
        client.cookies.set("gateway_console", "anything", domain="testserver", path="/console")
        assert client.get("/console/audit/", follow_redirects=False).headers["location"] == "/console/login"
    assert not (console.directory / "console.key").exists()
