"""Bearer-token authentication: verify a JWT against a JWKS and turn its claims into a Requester.

Tokens carry the claims of docs/operations.md: ``sub``, ``name``, ``role``, ``org`` (ODS code),
``purpose_of_use``, optional ``justification`` and ``patient``. ``gateway token`` and the SMART
token endpoint sign with a private JWK set; verification only ever needs the public JWKS.
"""
from __future__ import annotations

import json
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import jwt
from cryptography.hazmat.primitives.asymmetric import ec
from jwt.algorithms import ECAlgorithm

from gateway.requester import Requester
from gateway.settings import Settings

ALGORITHMS = ["ES256", "RS256", "EdDSA"]
REQUIRED_CLAIMS = ("sub", "role", "org", "purpose_of_use")


class AuthError(Exception):
    """The token is missing, malformed, expired, wrongly signed or lacks a required claim."""


def ensure_dev_keys(settings: Settings) -> None:
    """Create a development signing key (and its public JWKS) when none exists yet."""
    signing, public = Path(settings.signing_jwks), Path(settings.jwks)
    if signing.exists() and (public.exists() or settings.jwks.startswith("http")):
        return
    key = ec.generate_private_key(ec.SECP256R1())
    kid = uuid.uuid4().hex[:16]
    private_jwk = json.loads(ECAlgorithm.to_jwk(key)) | {"kid": kid, "alg": "ES256", "use": "sig"}
    public_jwk = json.loads(ECAlgorithm.to_jwk(key.public_key())) | {"kid": kid, "alg": "ES256", "use": "sig"}
    signing.parent.mkdir(parents=True, exist_ok=True)
    signing.write_text(json.dumps({"keys": [private_jwk]}))
    signing.chmod(0o600)
    if not settings.jwks.startswith("http"):
        public.parent.mkdir(parents=True, exist_ok=True)
        existing = json.loads(public.read_text())["keys"] if public.exists() else []
        public.write_text(json.dumps({"keys": [*existing, public_jwk]}, indent=2))


def sign_token(settings: Settings, *, user: str, role: str, org: str, purpose: str, name: str | None = None,
               justification: str | None = None, patient: str | None = None, team: str | None = None,
               client: str | None = None, lifetime: int | None = None) -> str:
    """Sign an access token with the gateway's key (the SMART token endpoint and `gateway token`)."""
    ensure_dev_keys(settings)
    jwk = json.loads(Path(settings.signing_jwks).read_text())["keys"][0]
    key = jwt.PyJWK.from_dict(jwk)
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": settings.token_issuer, "aud": settings.token_audience, "iat": now,
        "exp": now + (lifetime or settings.token_lifetime_seconds), "jti": uuid.uuid4().hex,
        "sub": user, "name": name or user, "role": role, "org": org, "purpose_of_use": purpose,
    }
    for claim, value in (("justification", justification), ("patient", patient), ("team", team),
                         ("client_id", client)):
        if value:
            claims[claim] = value
    return jwt.encode(claims, key.key, algorithm=jwk.get("alg", "ES256"), headers={"kid": jwk["kid"]})


def mint_token(settings: Settings, **claims: Any) -> str:
    """A development token for `gateway token`: refused in production mode."""
    if settings.production:
        raise AuthError("development tokens are refused in production mode")
    return sign_token(settings, **claims)


class TokenVerifier:
    CACHE_SIZE = 4096

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._keys: jwt.PyJWKSet | None = None
        # A client sends the same token on every call until it expires: verify its signature once.
        self._verified: dict[str, tuple[float, Requester]] = {}

    def _keyset(self, refresh: bool = False) -> jwt.PyJWKSet:
        if self._keys is None or refresh:
            source = self.settings.jwks
            if source.startswith(("http://", "https://")):
                data = httpx.get(source, timeout=5).json()
            else:
                data = json.loads(Path(source).read_text())
            self._keys = jwt.PyJWKSet.from_dict(data)
        return self._keys

    def _key_for(self, kid: str | None) -> jwt.PyJWK:
        for refresh in (False, True):  # a new kid may mean the issuer rotated keys
            keyset = self._keyset(refresh)
            for key in keyset.keys:
                if kid is None or key.key_id == kid:
                    return key
        raise AuthError(f"no trusted key with kid {kid!r}")

    def remembered(self, token: str) -> Requester | None:
        """The caller of a token verified before and not yet expired; None otherwise."""
        cached = self._verified.get(token)
        return cached[1] if cached is not None and cached[0] > time.time() else None

    def verify(self, token: str) -> Requester:
        if (requester := self.remembered(token)) is not None:
            return requester
        requester, expires = self._verify(token)
        if len(self._verified) >= self.CACHE_SIZE:
            self._verified.clear()  # crude but bounded; the next calls re-verify
        self._verified[token] = (expires, requester)
        return requester

    def _verify(self, token: str) -> tuple[Requester, float]:
        try:
            header = jwt.get_unverified_header(token)
            key = self._key_for(header.get("kid"))
            claims = jwt.decode(token, key.key, algorithms=ALGORITHMS, audience=self.settings.token_audience,
                                options={"require": ["exp", "sub"]})
        except AuthError:
            raise
        except (jwt.PyJWTError, ValueError, OSError, httpx.HTTPError) as exc:
            raise AuthError(f"invalid token: {exc}") from exc
        missing = [c for c in REQUIRED_CLAIMS if not claims.get(c)]
        if missing:
            raise AuthError(f"token lacks required claim(s): {', '.join(missing)}")
        return Requester(
            user=str(claims["sub"]), name=str(claims.get("name") or claims["sub"]), role=str(claims["role"]),
            org=str(claims["org"]), purpose=str(claims["purpose_of_use"]), justification=claims.get("justification"),
            patient=claims.get("patient"), team=claims.get("team"),
            client=claims.get("client_id") or claims.get("azp"),
        ), float(claims["exp"])
