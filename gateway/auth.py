"""Bearer-token authentication: verify a JWT against a JWKS and turn its claims into a Requester.

Tokens carry the claims of docs/operations.md: ``sub``, ``name``, ``role``, ``org`` (ODS code),
``purpose_of_use``, optional ``justification`` and ``patient``. ``gateway token`` and the SMART
token endpoint sign with a private JWK set; verification only ever needs the public JWKS.

What a token must show before it names a Requester (docs/security.md, "Tokens"):

- a signature by a key of the trusted JWKS, with an algorithm of :data:`ALGORITHMS`;
- ``iss`` one of the configured issuers (``GATEWAY_TOKEN_ISSUER`` plus ``GATEWAY_TRUSTED_ISSUERS``) and
  ``aud`` the gateway's own audience — both required, not merely checked when present;
- ``exp`` and the claims of :data:`REQUIRED_CLAIMS`;
- in production mode (``GATEWAY_PRODUCTION=true``) neither a development key (``kid`` starting with
  :data:`DEV_KID_PREFIX`) nor a development token (claim :data:`DEV_CLAIM`, which ``gateway token`` and
  the demo always set). A development key is never even loaded from the JWKS in production.
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
DEV_KID_PREFIX = "dev-"  # keys made by `gateway init` in development; production refuses them and what they signed
PROD_KID_PREFIX = "gw-"  # keys made by `gateway init --production`
DEV_CLAIM = "gateway_dev"  # set on every development token (`gateway token`, the demo, tests)


class AuthError(Exception):
    """The token is missing, malformed, expired, wrongly signed or lacks a required claim."""


def is_dev_kid(kid: object) -> bool:
    return isinstance(kid, str) and kid.startswith(DEV_KID_PREFIX)


def create_signing_key(settings: Settings, prefix: str, *, replace: bool = False) -> bool:
    """A new ES256 signing key (private JWK set) with its public half added to the trusted JWKS file;
    ``prefix`` marks what it is (:data:`DEV_KID_PREFIX` or :data:`PROD_KID_PREFIX`). False when a key
    already exists and ``replace`` is not set."""
    signing, public = Path(settings.signing_jwks), Path(settings.jwks)
    if not replace and signing.exists() and (public.exists() or settings.jwks.startswith("http")):
        return False
    key = ec.generate_private_key(ec.SECP256R1())
    kid = prefix + uuid.uuid4().hex[:16]
    private_jwk = json.loads(ECAlgorithm.to_jwk(key)) | {"kid": kid, "alg": "ES256", "use": "sig"}
    public_jwk = json.loads(ECAlgorithm.to_jwk(key.public_key())) | {"kid": kid, "alg": "ES256", "use": "sig"}
    signing.parent.mkdir(parents=True, exist_ok=True)
    signing.write_text(json.dumps({"keys": [private_jwk]}))
    signing.chmod(0o600)
    if not settings.jwks.startswith("http"):
        public.parent.mkdir(parents=True, exist_ok=True)
        existing = json.loads(public.read_text())["keys"] if public.exists() else []
        public.write_text(json.dumps({"keys": [*existing, public_jwk]}, indent=2))
    return True


def _signing_key(settings: Settings) -> dict[str, Any]:
    """The private JWK that signs access tokens; in production never a development key (and none is
    created on the fly: `gateway init` makes one)."""
    try:
        jwk: dict[str, Any] = json.loads(Path(settings.signing_jwks).read_text())["keys"][0]
    except (OSError, ValueError, KeyError, IndexError) as exc:
        raise AuthError(f"no signing key at {settings.signing_jwks}: run `gateway init`") from exc
    if settings.production and not str(jwk.get("kid", "")).startswith(PROD_KID_PREFIX):
        raise AuthError("the signing key is not a production key (kid 'gw-...'); run `gateway init --production`")
    return jwk


def sign_token(settings: Settings, *, user: str, role: str, org: str, purpose: str, name: str | None = None,
               justification: str | None = None, patient: str | None = None, team: str | None = None,
               client: str | None = None, lifetime: int | None = None, dev: bool = False) -> str:
    """Sign an access token with the gateway's key (the SMART token endpoint and `gateway token`)."""
    jwk = _signing_key(settings)
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
    if dev:
        claims[DEV_CLAIM] = True
    return jwt.encode(claims, key.key, algorithm=jwk.get("alg", "ES256"), headers={"kid": jwk["kid"]})


def mint_token(settings: Settings, **claims: Any) -> str:
    """A development token for `gateway token`: refused in production mode."""
    if settings.production:
        raise AuthError("development tokens are refused in production mode")
    return sign_token(settings, **claims, dev=True)


def accepted_issuers(settings: Settings) -> list[str]:
    return list(dict.fromkeys([settings.token_issuer, *settings.trusted_issuers]))


def check_patient_scope(requester: Requester, nhs_number: str | None = None, *,
                        patient_nhs_numbers: Any = ()) -> None:
    """A token that carries a ``patient`` claim is scoped to that person, whatever its role.

    Call with the NHS number a request is about (or the NHS numbers of the Patient resources it
    would touch); raises :class:`PatientScopeError` when the token is scoped to someone else. An
    unscoped token (no ``patient`` claim) passes: the policy decides what it may see."""
    if not requester.patient:
        return
    asked = [n for n in (nhs_number, *patient_nhs_numbers) if n]
    if any(str(n) != requester.patient for n in asked):
        raise PatientScopeError(f"this token is scoped to one patient (NHS number {requester.patient}); "
                                "it cannot be used for another person")


class PatientScopeError(AuthError):
    """The request names a patient other than the one the token is scoped to."""


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
            if self.settings.production:  # development keys are not trusted at all in production
                data = {**data, "keys": [k for k in data.get("keys") or [] if not is_dev_kid(k.get("kid"))]}
            self._keys = jwt.PyJWKSet.from_dict(data) if data.get("keys") else jwt.PyJWKSet([])
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
            if self.settings.production and is_dev_kid(header.get("kid")):
                raise AuthError("development keys are refused in production mode")
            key = self._key_for(header.get("kid"))
            claims = jwt.decode(token, key.key, algorithms=ALGORITHMS, audience=self.settings.token_audience,
                                issuer=accepted_issuers(self.settings),
                                options={"require": ["exp", "sub", "iss", "aud"]})
        except AuthError:
            raise
        except (jwt.PyJWTError, ValueError, OSError, httpx.HTTPError) as exc:
            raise AuthError(f"invalid token: {exc}") from exc
        if self.settings.production and claims.get(DEV_CLAIM):
            raise AuthError("development tokens are refused in production mode")
        missing = [c for c in REQUIRED_CLAIMS if not claims.get(c)]
        if missing:
            raise AuthError(f"token lacks required claim(s): {', '.join(missing)}")
        wrong = [c for c in (*REQUIRED_CLAIMS, "name", "justification", "patient", "team", "client_id", "azp")
                 if c in claims and claims[c] is not None and not isinstance(claims[c], str)]
        if wrong:
            raise AuthError(f"token claim(s) must be strings: {', '.join(wrong)}")
        return Requester(
            user=str(claims["sub"]), name=str(claims.get("name") or claims["sub"]), role=str(claims["role"]),
            org=str(claims["org"]), purpose=str(claims["purpose_of_use"]), justification=claims.get("justification"),
            patient=claims.get("patient"), team=claims.get("team"),
            client=claims.get("client_id") or claims.get("azp"),
        ), float(claims["exp"])
