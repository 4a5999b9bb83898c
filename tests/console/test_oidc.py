"""OpenID Connect sign-in against a real provider (tests/console/oidc_provider.py, Authlib's server
components, in its own process): the authorisation-code flow with PKCE, state and nonce; and the
attacks — a wrong or replayed state, a wrong nonce, an ID token from another issuer, for another
client, expired or forged, a job role roles.yaml does not map — each refused, audited, and leaving
no one signed in."""
from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

import httpx
import pytest
from fastapi.testclient import TestClient
from joserfc.jwk import KeySet, RSAKey

from gateway.api.app import create_app
from tests.console.conftest import Console, build_console
from tests.console.identity import Provider, provider, staff_and_people
from tests.console.test_console_http import sign_in

GATEWAY = "https://testserver"
OIDC_FORM = re.compile(r'action="/console/oidc/login"[^>]*>\s*<input type="hidden" name="csrf" value="([^"]+)"')


@pytest.fixture(scope="module")
def idp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Provider]:
    users = staff_and_people("9434765919", "Ada Person")  # the person is replaced per test (see below)
    with provider(tmp_path_factory.mktemp("idp"), f"{GATEWAY}/console/oidc/callback", users) as p:
        yield p


@pytest.fixture
def console(tmp_path: Path, database_url: str, idp: Provider) -> Iterator[Console]:
    c = build_console(tmp_path, database_url, public_url=GATEWAY, **idp.settings())
    yield c
    c.gateway.close()


@pytest.fixture
def client(console: Console) -> Iterator[TestClient]:
    with TestClient(create_app(console.gateway), base_url=GATEWAY) as c:
        yield c


def begin(client: TestClient) -> str:
    """Press "Sign in with OpenID Connect": the issuer's authorisation URL the browser is sent to."""
    token = OIDC_FORM.search(client.get("/console/login").text).group(1)  # type: ignore[union-attr]
    answer = client.post("/console/oidc/login", data={"csrf": token}, follow_redirects=False)
    assert answer.status_code == 303, answer.text
    return answer.headers["location"]


def at_provider(url: str, sub: str) -> str:
    """Sign in at the provider as ``sub``; the callback URL it sends the browser back to."""
    query = {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}
    with httpx.Client(timeout=10) as browser:
        page = browser.get(url)
        assert page.status_code == 200, page.text
        answer = browser.post(url.split("?", 1)[0], data={**query, "sub": sub}, follow_redirects=False)
    assert answer.status_code == 302, answer.text
    return answer.headers["location"]


def finish(client: TestClient, callback: str) -> httpx.Response:
    assert callback.startswith(f"{GATEWAY}/console/oidc/callback?"), callback
    return client.get(callback.removeprefix(GATEWAY), follow_redirects=False)


def replace_param(url: str, name: str, value: str) -> str:
    parts = urlsplit(url)
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    query[name] = value
    return urlunsplit(parts._replace(query=urlencode(query)))


def signed_in_as(client: TestClient) -> str | None:
    home = client.get("/console/whoami", follow_redirects=False)
    return None if home.status_code != 200 else re.search(r"Welcome, ([^<]+)</h1>", home.text).group(1)  # type: ignore[union-attr]


def refused(console: Console, client: TestClient, answer: httpx.Response, why: str) -> dict[str, Any]:
    assert answer.status_code == 403 and "Sign-in refused" in answer.text, answer.text
    assert why in answer.text, answer.text
    assert signed_in_as(client) is None
    record = console.gateway.audit.search(limit=None)[-1].record
    assert (record["interaction"], record["outcome"], record["sign_in"]) == ("console.sign-in", "refused", "oidc")
    return record


def test_the_authorisation_request_uses_pkce_state_and_nonce(client: TestClient, idp: Provider) -> None:
    url = begin(client)
    query = parse_qs(urlsplit(url).query)
    assert url.startswith(f"{idp.issuer}/authorize?")
    assert query["response_type"] == ["code"] and query["code_challenge_method"] == ["S256"]
    assert query["redirect_uri"] == [f"{GATEWAY}/console/oidc/callback"] and "openid" in query["scope"][0]
    assert all(len(query[k][0]) >= 20 for k in ("state", "nonce", "code_challenge"))
    flow = [c for c in client.cookies.jar if c.name == "gateway_console_oidc"]
    assert flow and flow[0].path == "/console/oidc" and flow[0].secure


def test_staff_sign_in_maps_the_job_role_and_is_audited(client: TestClient, console: Console) -> None:
    sign_in(client, "auditor-a")  # the development sign-in first: replaced, and revoked, by the next
    earlier = client.cookies.get("gateway_console")
    answer = finish(client, at_provider(begin(client), "cis2-ig-officer"))
    assert answer.status_code == 200, answer.text
    assert 'http-equiv="refresh" content="0;url=/console/"' in answer.text
    assert signed_in_as(client) == "Ina Gee"
    with TestClient(create_app(console.gateway), base_url=GATEWAY) as replay:
        replay.cookies.set("gateway_console", earlier, domain="testserver", path="/console")
        assert signed_in_as(replay) is None
    assert client.get("/console/policy/", follow_redirects=False).status_code == 200  # R8012 → ig_officer
    record = console.gateway.audit.entry(int(answer.headers["X-Audit-Sequence"])).record
    assert record["sign_in"] == "oidc" and record["requester"]["role"] == "ig_officer"
    assert record["requester"]["org"] == "X26" and record["issuer"] == console.gateway.settings.console_oidc_issuer
    # CIS2's nhsid_nrbac_roles shape (a list of objects with a role_code) maps too
    other = TestClient(create_app(console.gateway), base_url=GATEWAY)
    with other:
        finish(other, at_provider(begin(other), "cis2-auditor"))
        assert other.get("/console/audit/", follow_redirects=False).status_code == 200


def test_a_wrong_state_is_refused(client: TestClient, console: Console) -> None:
    callback = at_provider(begin(client), "cis2-ig-officer")
    refused(console, client, finish(client, replace_param(callback, "state", "forged-state")), "MismatchingStateError")


def test_a_replayed_callback_is_refused(client: TestClient, console: Console) -> None:
    callback = at_provider(begin(client), "cis2-auditor")
    assert finish(client, callback).status_code == 200
    client.post("/console/logout", data={"csrf": re.search(r'name="csrf" value="([^"]+)"',  # type: ignore[union-attr]
                                                           client.get("/console/").text).group(1)})
    refused(console, client, finish(client, callback), "MismatchingStateError")


def test_a_callback_in_another_browser_is_refused(console: Console) -> None:
    with TestClient(create_app(console.gateway), base_url=GATEWAY) as victim, \
            TestClient(create_app(console.gateway), base_url=GATEWAY) as attacker:
        callback = at_provider(begin(attacker), "cis2-ig-officer")  # the attacker's own code and state
        refused(console, victim, finish(victim, callback), "MismatchingStateError")


def test_a_wrong_nonce_is_refused(client: TestClient, console: Console) -> None:
    url = replace_param(begin(client), "nonce", "a-nonce-the-gateway-never-made")
    refused(console, client, finish(client, at_provider(url, "cis2-ig-officer")), "nonce")


@pytest.mark.parametrize(("mode", "why"), [("wrong-issuer", "iss"), ("wrong-audience", "aud"),
                                           ("expired", "expired"), ("forged", "BadSignatureError")])
def test_a_bad_id_token_is_refused(client: TestClient, console: Console, idp: Provider, mode: str, why: str) -> None:
    url = begin(client)
    callback = at_provider(url, "cis2-ig-officer")
    idp.next_token(mode)
    refused(console, client, finish(client, callback), why)


@pytest.mark.parametrize(("sub", "why"), [
    ("cis2-unmapped", "no role in roles.yaml has the job role(s) [&#39;R9999&#39;]"),
    ("cis2-no-org", "has no organisation")])
def test_a_user_roles_yaml_does_not_make_is_refused(client: TestClient, console: Console, sub: str, why: str) -> None:
    refused(console, client, finish(client, at_provider(begin(client), sub)), why)


def test_the_flow_needs_the_sign_in_forms_csrf_token(client: TestClient) -> None:
    client.get("/console/login")
    answer = client.post("/console/oidc/login", data={"csrf": "forged"}, follow_redirects=False)
    assert answer.status_code == 403 and "CSRF" in answer.text


def test_production_needs_an_https_issuer_and_keeps_the_development_sign_in_closed(console: Console) -> None:
    (console.directory / "console.key").write_text("a production key")
    console.gateway.settings = console.gateway.settings.model_copy(update={"production": True})
    with TestClient(create_app(console.gateway), base_url=GATEWAY) as c:
        page = c.get("/console/login")
        assert "Sign in with OpenID Connect" in page.text and "Demo user" not in page.text
        token = OIDC_FORM.search(page.text).group(1)  # type: ignore[union-attr]
        answer = c.post("/console/oidc/login", data={"csrf": token}, follow_redirects=False)
        assert answer.status_code == 503 and "https://" in answer.text
        assert c.post("/console/login", data={"user": "auditor-a", "csrf": token}).status_code == 403


def test_private_key_jwt_client_authentication(tmp_path: Path, database_url: str) -> None:
    """The console authenticates at the token endpoint with its own key (RFC 7523), as CIS2 allows; a
    gateway holding another key is refused by the issuer, so nobody is signed in."""
    key = RSAKey.generate_key(2048, parameters={"kid": "console-1"}, private=True)
    (tmp_path / "console-key.json").write_text(json.dumps(key.as_dict(private=True)))
    stranger = RSAKey.generate_key(2048, parameters={"kid": "console-1"}, private=True)
    (tmp_path / "stranger-key.json").write_text(json.dumps(stranger.as_dict(private=True)))
    public = KeySet([key]).as_dict(private=False)
    (tmp_path / "idp").mkdir()
    with provider(tmp_path / "idp", f"{GATEWAY}/console/oidc/callback", staff_and_people("9434765919", "A"),
                  client_jwks=public) as idp:
        for name, key_file, works in (("ours", "console-key.json", True), ("stranger", "stranger-key.json", False)):
            settings = {**idp.settings(), "console_oidc_client_secret": "",
                        "console_oidc_private_key": str(tmp_path / key_file)}
            c = build_console(tmp_path / name, database_url, public_url=GATEWAY, **settings)
            try:
                with TestClient(create_app(c.gateway), base_url=GATEWAY) as client:
                    answer = finish(client, at_provider(begin(client), "cis2-auditor"))
                    if works:
                        assert answer.status_code == 200, answer.text
                        assert signed_in_as(client) == "Audrey Tor"
                    else:
                        refused(c, client, answer, "invalid_client")
            finally:
                c.gateway.close()
