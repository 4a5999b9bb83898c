"""Attack table, SMART backend services (RFC 7523 client assertions): audience bound to the
configured public URL, malformed claims as 4xx never 500, replays refused across restarts."""
from __future__ import annotations

import base64
import json
import time
import uuid
from pathlib import Path

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from jwt.algorithms import ECAlgorithm

from gateway.api import smart
from gateway.api.app import create_app
from gateway.wiring import build_gateway

ASSERTION = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
AUDIENCE = "http://localhost:8080/auth/token"  # the settings' default base_url's origin


@pytest.fixture
def registered(gateway, tmp_path: Path) -> ec.EllipticCurvePrivateKey:  # type: ignore[no-untyped-def]
    key = ec.generate_private_key(ec.SECP256R1())
    public = json.loads(ECAlgorithm.to_jwk(key.public_key())) | {"kid": "k1", "alg": "ES256"}
    gateway.settings.clients = str(tmp_path / "clients.json")
    Path(gateway.settings.clients).write_text(json.dumps({"dn-app": {
        "jwks": {"keys": [public]}, "role": "district_nurse", "org": "RX1", "purpose_of_use": "direct_care"}}))
    return key


def _assertion(key, **overrides: object) -> str:  # type: ignore[no-untyped-def]
    """Signed by hand (PyJWT refuses to encode some of the malformed claims an attacker can send)."""
    claims = {"iss": "dn-app", "sub": "dn-app", "aud": AUDIENCE, "exp": int(time.time()) + 120,
              "jti": uuid.uuid4().hex} | overrides
    body = {k: v for k, v in claims.items() if v is not None}
    signing_input = (_b64(json.dumps({"alg": "ES256", "typ": "JWT", "kid": "k1"}).encode()) + "."
                     + _b64(json.dumps(body).encode()))
    signature = ECAlgorithm(ECAlgorithm.SHA256).sign(signing_input.encode(), key)
    return signing_input + "." + _b64(signature)


async def _token(client, assertion: str, headers=None):  # type: ignore[no-untyped-def]
    return await client.post("/auth/token", headers=headers, data={
        "grant_type": "client_credentials", "client_assertion_type": ASSERTION, "client_assertion": assertion})


async def test_a_good_assertion_gets_a_token(client, registered) -> None:  # type: ignore[no-untyped-def]
    response = await _token(client, _assertion(registered))
    assert response.status_code == 200, response.text


async def test_an_assertion_for_another_server_is_refused_whatever_the_host_header(client, registered) -> None:  # type: ignore[no-untyped-def]
    foreign = _assertion(registered, aud="https://other-as.example/auth/token")
    response = await _token(client, foreign, headers={"Host": "other-as.example"})
    assert response.status_code == 401, response.text
    # The discovery document names the configured URL, not the Host header's.
    config = await client.get("/fhir/.well-known/smart-configuration", headers={"Host": "evil.example"})
    assert config.json()["token_endpoint"] == AUDIENCE


@pytest.mark.parametrize("overrides", [
    {"iss": 12345}, {"iss": ["dn-app"]}, {"iss": {"id": "dn-app"}},
    {"exp": "9999999999"}, {"exp": "soon"}, {"exp": None}, {"exp": True},
    {"sub": 7}, {"sub": None}, {"jti": None}, {"jti": 42}, {"jti": "x" * 300},
    {"iat": "yesterday"}, {"nbf": int(time.time()) + 3600},
    {"exp": int(time.time()) + 3600},  # longer-lived than 5 minutes
    {"exp": int(time.time()) - 600},  # expired
    {"iss": "someone-else"},  # iss != sub
])
async def test_malformed_claims_are_a_401_not_a_500(client, registered, overrides) -> None:  # type: ignore[no-untyped-def]
    response = await _token(client, _assertion(registered, **overrides))
    assert response.status_code in (400, 401), (overrides, response.status_code, response.text)
    assert response.json()["error"] == "invalid_client"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@pytest.mark.parametrize("make", [
    lambda key: _b64(b'{"alg":"none"}') + "." + _b64(json.dumps(
        {"iss": "dn-app", "sub": "dn-app", "aud": AUDIENCE, "exp": int(time.time()) + 60, "jti": "a"}).encode()) + ".",
    lambda key: "not-a-jwt",
    lambda key: "a.b.c",
    lambda key: _b64(b"[]") + "." + _b64(b"[]") + "." + _b64(b"x"),
    lambda key: _b64(b'{"alg":"ES256","kid":"k1"}') + "." + _b64(b'"just a string"') + "." + _b64(b"x"),
    lambda key: _assertion(key).rsplit(".", 1)[0] + "." + _b64(b"\0" * 64),  # bad signature
    lambda key: _assertion(ec.generate_private_key(ec.SECP256R1())),  # someone else's key
    lambda key: "x" * 100_000,  # oversized
])
async def test_broken_or_forged_assertions_are_refused(client, registered, make) -> None:  # type: ignore[no-untyped-def]
    response = await _token(client, make(registered))
    assert response.status_code == 401, response.text
    assert response.json()["error"] == "invalid_client"


async def test_a_replayed_assertion_is_refused_after_a_restart(client, gateway, registered) -> None:  # type: ignore[no-untyped-def]
    signed = _assertion(registered)
    assert (await _token(client, signed)).status_code == 200
    # A restart (or another replica): a new gateway on the same database, no memory in this process.
    getattr(smart, "_seen_jti", {}).clear()
    second = build_gateway(gateway.settings)
    try:
        transport = httpx.ASGITransport(app=create_app(second))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as other:
            replay = await _token(other, signed)
        assert replay.status_code == 401 and "already used" in replay.json()["error_description"]
    finally:
        second.close()


def test_the_replay_memory_forgets_expired_assertions(gateway) -> None:  # type: ignore[no-untyped-def]
    import sqlalchemy as sa

    from gateway.replay import ClientAssertionJti, remember_once

    assert remember_once(gateway.engine, "c", "old", time.time() - 10)
    assert remember_once(gateway.engine, "c", "new", time.time() + 60)
    assert not remember_once(gateway.engine, "c", "new", time.time() + 60)
    with gateway.engine.connect() as conn:
        keys = conn.execute(sa.select(sa.func.count()).select_from(ClientAssertionJti.__table__)).scalar()
    assert keys == 1  # the expired one was deleted when the next was written
