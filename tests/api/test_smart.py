"""SMART backend services: discovery, and client_credentials with private_key_jwt."""
from __future__ import annotations

import json
import time
import uuid
from pathlib import Path

import httpx
import jwt
from cryptography.hazmat.primitives.asymmetric import ec
from jwt.algorithms import ECAlgorithm

from gateway.settings import Settings
from tests.api.conftest import Loaded

ASSERTION = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


def register_client(settings: Settings, client_id: str, **claims: str) -> ec.EllipticCurvePrivateKey:
    key = ec.generate_private_key(ec.SECP256R1())
    public = json.loads(ECAlgorithm.to_jwk(key.public_key())) | {"kid": "k1", "alg": "ES256"}
    Path(settings.clients).write_text(json.dumps({client_id: {"jwks": {"keys": [public]}, **claims}}))
    return key


def assertion(key: ec.EllipticCurvePrivateKey, client_id: str, audience: str, **overrides: object) -> str:
    claims = {"iss": client_id, "sub": client_id, "aud": audience, "exp": int(time.time()) + 120,
              "jti": uuid.uuid4().hex} | overrides
    return jwt.encode(claims, key, algorithm="ES256", headers={"kid": "k1"})


async def test_backend_service_gets_a_token_that_the_fhir_api_accepts(
        client: httpx.AsyncClient, tmp_path: Path, loaded: Loaded, gateway) -> None:  # type: ignore[no-untyped-def]
    settings = gateway.settings
    settings.clients = str(tmp_path / "clients.json")
    key = register_client(settings, "dn-app", role="district_nurse", org="RX1", purpose_of_use="direct_care",
                          name="District nursing app")
    config = (await client.get("/fhir/.well-known/smart-configuration")).json()
    assert "private_key_jwt" in config["token_endpoint_auth_methods_supported"]
    token_url = config["token_endpoint"]
    signed = assertion(key, "dn-app", token_url)
    assert token_url == "http://localhost:8080/auth/token"  # the configured public URL, not the Host header
    response = await client.post("/auth/token", data={
        "grant_type": "client_credentials", "client_assertion_type": ASSERTION, "client_assertion": signed,
        "scope": "system/*.read"})
    assert response.status_code == 200, response.text
    access = response.json()["access_token"]
    claims = jwt.decode(access, options={"verify_signature": False})
    assert (claims["role"], claims["org"], claims["purpose_of_use"], claims["client_id"]) == (
        "district_nurse", "RX1", "direct_care", "dn-app")
    read = await client.get(f"/fhir/Patient/{loaded.patient_id}", headers={"Authorization": f"Bearer {access}"})
    assert read.status_code == 200
    replay = await client.post("/auth/token", data={"grant_type": "client_credentials",
                                                    "client_assertion_type": ASSERTION, "client_assertion": signed})
    assert replay.status_code == 401 and "already used" in replay.json()["error_description"]


async def test_token_endpoint_refuses_unknown_clients_and_wrong_keys(
        client: httpx.AsyncClient, tmp_path: Path, gateway) -> None:  # type: ignore[no-untyped-def]
    gateway.settings.clients = str(tmp_path / "clients.json")
    register_client(gateway.settings, "dn-app", role="district_nurse", org="RX1")
    audience = "http://localhost:8080/auth/token"
    impostor = ec.generate_private_key(ec.SECP256R1())
    for client_id, key in (("nobody", impostor), ("dn-app", impostor)):
        response = await client.post("/auth/token", data={
            "grant_type": "client_credentials", "client_assertion_type": ASSERTION,
            "client_assertion": assertion(key, client_id, audience)})
        assert response.status_code == 401 and response.json()["error"] == "invalid_client"
    wrong_grant = await client.post("/auth/token", data={"grant_type": "password"})
    assert wrong_grant.status_code == 400 and wrong_grant.json()["error"] == "unsupported_grant_type"
