from __future__ import annotations

import json
import time
from pathlib import Path
from types import SimpleNamespace

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec

import gateway.auth
from gateway.auth import AuthError, TokenVerifier, mint_token
from gateway.testing import initialised_settings, settings_for


@pytest.fixture
def settings(tmp_path: Path):  # type: ignore[no-untyped-def]
    return initialised_settings(tmp_path)


def test_minted_token_verifies_into_a_requester(settings) -> None:  # type: ignore[no-untyped-def]
    token = mint_token(settings, user="N4471", role="district_nurse", org="RX1", purpose="direct_care",
                       team="DN-ANC", name="Priya Shah")
    requester = TokenVerifier(settings).verify(token)
    assert (requester.user, requester.role, requester.org, requester.purpose, requester.team) == (
        "N4471", "district_nurse", "RX1", "direct_care", "DN-ANC")


def test_token_signed_by_an_unknown_key_is_refused(settings) -> None:  # type: ignore[no-untyped-def]
    mint_token(settings, user="u", role="gp", org="P81001", purpose="direct_care")  # creates the trusted keys
    forged = jwt.encode({"sub": "u", "role": "gp", "org": "P81001", "purpose_of_use": "direct_care",
                         "aud": settings.token_audience, "exp": int(time.time()) + 60},
                        ec.generate_private_key(ec.SECP256R1()), algorithm="ES256",
                        headers={"kid": json.loads(Path(settings.jwks).read_text())["keys"][0]["kid"]})
    with pytest.raises(AuthError, match="invalid token"):
        TokenVerifier(settings).verify(forged)


def test_expired_token_is_refused(settings) -> None:  # type: ignore[no-untyped-def]
    token = mint_token(settings, user="u", role="gp", org="P81001", purpose="direct_care", lifetime=-10)
    with pytest.raises(AuthError, match="expired"):
        TokenVerifier(settings).verify(token)


def test_token_without_role_claim_is_refused(settings) -> None:  # type: ignore[no-untyped-def]
    mint_token(settings, user="u", role="gp", org="P81001", purpose="direct_care")
    jwk = json.loads(Path(settings.signing_jwks).read_text())["keys"][0]
    token = jwt.encode({"sub": "u", "org": "P81001", "purpose_of_use": "direct_care", "aud": settings.token_audience,
                        "iss": settings.token_issuer, "exp": int(time.time()) + 60}, jwt.PyJWK.from_dict(jwk).key,
                       algorithm="ES256",
                       headers={"kid": jwk["kid"]})
    with pytest.raises(AuthError, match="role"):
        TokenVerifier(settings).verify(token)


def test_production_mode_refuses_development_tokens(tmp_path: Path) -> None:
    settings = settings_for(tmp_path, production=True)
    with pytest.raises(AuthError, match="production"):
        mint_token(settings, user="u", role="gp", org="P81001", purpose="direct_care")


def test_a_verified_token_is_remembered_only_until_it_expires(settings, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """The verifier's clock is moved instead of sleeping until the token expires."""
    verifier = TokenVerifier(settings)
    token = mint_token(settings, user="u", role="gp", org="P81001", purpose="direct_care", lifetime=600)
    expires = jwt.decode(token, options={"verify_signature": False})["exp"]
    assert verifier.verify(token).user == "u"
    verified: list[str] = []
    check = verifier._verify
    monkeypatch.setattr(verifier, "_verify", lambda t: verified.append(t) or check(t))

    monkeypatch.setattr(gateway.auth, "time", SimpleNamespace(time=lambda: expires - 1))
    assert verifier.remembered(token) is not None
    assert verifier.verify(token).user == "u" and verified == []  # answered from memory

    monkeypatch.setattr(gateway.auth, "time", SimpleNamespace(time=lambda: expires))
    assert verifier.remembered(token) is None  # forgotten the moment it expires...
    verifier.verify(token)
    assert verified == [token]  # ...so its signature and expiry are checked again (PyJWT: test above)


def test_a_tampered_copy_of_a_remembered_token_is_still_refused(settings) -> None:  # type: ignore[no-untyped-def]
    verifier = TokenVerifier(settings)
    token = mint_token(settings, user="u", role="gp", org="P81001", purpose="direct_care")
    verifier.verify(token)
    header, payload, signature = token.split(".")
    forged_payload = jwt.utils.base64url_encode(
        json.dumps({**json.loads(jwt.utils.base64url_decode(payload)), "role": "auditor"}).encode()).decode()
    with pytest.raises(AuthError):
        verifier.verify(f"{header}.{forged_payload}.{signature}")
