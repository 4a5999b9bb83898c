"""OpenID Connect sign-in for the console (CIS2 for staff, NHS login for citizens), with Authlib.

Authlib's Starlette client does the protocol: discovery (``{issuer}/.well-known/openid-configuration``),
the authorisation-code flow with PKCE (S256), a random ``state`` and ``nonce``, the code exchanged
at the token endpoint (client secret, or ``private_key_jwt`` with the client's own key), and the
ID token verified against the issuer's JWKS (signature, ``iss``, ``aud``, ``exp``/``iat``,
``nonce``). This module adds only what is the gateway's own:

* the flow's state (state, nonce, PKCE verifier, redirect URI) lives in a short-lived signed cookie
  scoped to ``/console/oidc`` — ``SameSite=Lax``, since the issuer's redirect back is a cross-site
  navigation — instead of a general session middleware;
* the issuer is the configured one exactly (the discovery document's own claim is not trusted for it),
  and the ID token's audience must include the client id;
* the claims are mapped to a gateway user: a job-role code through ``job_roles`` in roles.yaml
  (CIS2's ``nhsid_nrbac_roles``, with ``selected_roleid`` and each role's ``org_code``, is
  understood), or — an ID token with an NHS number and no
  role claim (NHS login) — the person, scoped to that NHS number. Anything else is refused.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from authlib.integrations.starlette_client import (
    OAuth,
    StarletteOAuth2App,
)
from authlib.oauth2.rfc7523 import PrivateKeyJWT
from itsdangerous import BadSignature
from joserfc.errors import JoseError
from joserfc.jwk import JWKRegistry, RSAKey
from starlette.requests import Request
from starlette.responses import Response

from gateway.console import session as sessions
from gateway.policy.engine import PolicyEngine
from gateway.settings import Settings, public_origin

FLOW_COOKIE = "gateway_console_oidc"
FLOW_PATH = "/console/oidc"
FLOW_SECONDS = 600  # a sign-in at the issuer must come back within this
CALLBACK = "/console/oidc/callback"

class SignInRefused(Exception):
    """The ID token was valid but does not make a console user (unknown role, no organisation...)."""

@dataclass(frozen=True)
class OidcUser:
    user: str
    name: str
    role: str
    org: str
    patient: str | None = None

def configured(settings: Settings) -> bool:
    return bool(settings.console_oidc_issuer and settings.console_oidc_client_id)

def client(request: Request) -> StarletteOAuth2App:
    """The registered Authlib client (one per app: it caches the discovery document and JWKS)."""
    state = request.app.state
    found: StarletteOAuth2App | None = getattr(state, "console_oidc", None)
    if found is None:
        settings: Settings = state.gateway.settings
        issuer = settings.console_oidc_issuer.rstrip("/")
        if settings.production and not issuer.startswith("https://"):
            raise SignInRefused("the OpenID Connect issuer must be an https:// URL in production mode")
        kwargs: dict[str, Any] = {"scope": settings.console_oidc_scopes, "code_challenge_method": "S256"}
        secret: Any = settings.console_oidc_client_secret or None
        auth_methods = None
        if settings.console_oidc_private_key:
            secret, method = _private_key_jwt(Path(settings.console_oidc_private_key))
            kwargs["token_endpoint_auth_method"] = "private_key_jwt"
            auth_methods = [method]
        found = OAuth().register(
            "console", client_id=settings.console_oidc_client_id, client_secret=secret,
            server_metadata_url=f"{issuer}/.well-known/openid-configuration", client_kwargs=kwargs,
            client_auth_methods=auth_methods)
        state.console_oidc = found
    assert found is not None
    return found

def _private_key_jwt(path: Path) -> tuple[Any, PrivateKeyJWT]:
    """The client's private key and Authlib's private_key_jwt client authentication signing with it
    (the assertion names the key's kid, as CIS2 asks)."""
    try:
        text = path.read_text(encoding="utf-8")
        key: Any = (JWKRegistry.import_key(json.loads(text)) if text.lstrip().startswith("{")
                    else RSAKey.import_key(text))
    except (OSError, ValueError, JoseError) as exc:
        raise SignInRefused(f"the client's private key {path} cannot be read: {exc}") from exc
    if not key.is_private:
        raise SignInRefused(f"{path} holds no private key")
    algorithm = {"RSA": "RS256", "EC": "ES256"}.get(key.key_type)
    if algorithm is None:
        raise SignInRefused(f"{path}: a {key.key_type} key cannot sign a client assertion here (RSA or EC)")
    return key, PrivateKeyJWT(headers={"kid": key.kid} if key.kid else None, alg=algorithm)


def redirect_uri(settings: Settings) -> str:
    """The callback registered at the issuer: from the configured public URL, never the Host header."""
    return public_origin(settings) + CALLBACK

def claims_options(settings: Settings) -> dict[str, Any]:
    """The issuer must be the configured one, exactly, and the audience must include our client id
    (Authlib checks ``aud`` only through ``azp`` otherwise: a token for another client naming us as
    its authorised party would pass)."""
    return {"iss": {"essential": True, "values": [settings.console_oidc_issuer.rstrip("/"),
                                                  settings.console_oidc_issuer]},
            "aud": {"essential": True, "values": [settings.console_oidc_client_id]}}

# -- the flow's state, in a signed cookie (Authlib keeps it in ``request.session``) ------------------------
def load_flow(request: Request) -> None:
    """Give Authlib a ``request.session`` holding this browser's pending sign-in, if any."""
    data: dict[str, Any] = {}
    raw = request.cookies.get(FLOW_COOKIE)
    if raw:
        try:
            loaded = sessions.serializer(request).loads(raw, max_age=FLOW_SECONDS, salt="gateway-console-oidc")
            data = loaded if isinstance(loaded, dict) else {}
        except BadSignature:
            data = {}
    request.scope["session"] = data

def save_flow(request: Request, response: Response) -> None:
    data = request.scope.get("session") or {}
    if data:
        response.set_cookie(FLOW_COOKIE, sessions.serializer(request).dumps(data, salt="gateway-console-oidc"),
                            max_age=FLOW_SECONDS, path=FLOW_PATH, secure=True, httponly=True, samesite="lax")
    else:
        response.delete_cookie(FLOW_COOKIE, path=FLOW_PATH, secure=True, httponly=True, samesite="lax")

# -- claims → a console user -----------------------------------------------------------------------------
def _job_roles(value: Any, selected: Any = None) -> list[tuple[str, str | None]]:
    """(job-role code, organisation or None) from a claim: "R8000", "S0010:G0020:R8000" (CIS2's role
    code), a list of either, or CIS2's ``nhsid_nrbac_roles``: objects with ``role_code`` and
    ``org_code`` — only the one whose ``person_roleid`` is the ``selected_roleid``, when it is given."""
    if isinstance(value, str):
        return [(value.rsplit(":", 1)[-1], None)] if value else []
    if not isinstance(value, list):
        return []
    if selected is not None and any(isinstance(v, dict) and v.get("person_roleid") == selected for v in value):
        value = [v for v in value if isinstance(v, dict) and v.get("person_roleid") == selected]
    found: list[tuple[str, str | None]] = []
    for v in value:
        if isinstance(v, dict):
            org = v.get("org_code")
            org = org if isinstance(org, str) and org else None
            found += [(code, org) for code, _ in _job_roles(v.get("role_code"))]
        else:
            found += _job_roles(v)
    return found


def user_from_claims(claims: dict[str, Any], settings: Settings, engine: PolicyEngine) -> OidcUser:
    sub = claims.get("sub")
    if not isinstance(sub, str) or not sub:
        raise SignInRefused("the ID token names no subject")
    name_claim = claims.get(settings.console_oidc_name_claim)
    name = name_claim if isinstance(name_claim, str) and name_claim else sub
    role_claim = claims.get(settings.console_oidc_role_claim)
    nhs = claims.get(settings.console_oidc_nhs_number_claim)
    if role_claim is None and isinstance(nhs, str) and nhs.isdigit() and len(nhs) == 10:
        role = engine.vocabulary.roles.get(settings.console_oidc_citizen_role)
        if role is None or not role.own_record_only:
            raise SignInRefused(f"the citizen role {settings.console_oidc_citizen_role!r} is not a role with "
                                "own_record_only in roles.yaml")
        return OidcUser(sub, name, role.name, sessions.PERSON_ORG, nhs)
    held = _job_roles(role_claim, claims.get("selected_roleid"))
    codes = [code for code, _ in held]
    roles = {r for r in (engine.role_for_job_role(c) for c in codes) if r is not None}
    if not roles:
        raise SignInRefused(f"no role in roles.yaml has the job role(s) {codes or 'none'} of this user")
    if len(roles) > 1:
        raise SignInRefused(f"the job roles {codes} map to several gateway roles ({', '.join(sorted(roles))}); "
                            "sign in with one role selected")
    [role_name] = roles
    if engine.vocabulary.roles[role_name].own_record_only:
        raise SignInRefused(f"role {role_name!r} is for a person signed in as themselves, not from a job role")
    org = claims.get(settings.console_oidc_org_claim)
    if not isinstance(org, str) or not org:  # CIS2: the organisation of the role held
        orgs = {o for code, o in held if o and engine.role_for_job_role(code) == role_name}
        org = orgs.pop() if len(orgs) == 1 else None
    if not org:
        raise SignInRefused(f"the ID token has no organisation ({settings.console_oidc_org_claim!r} claim)")
    return OidcUser(sub, name, role_name, org)
