"""SMART on FHIR backend services: discovery and a client_credentials token endpoint (private_key_jwt).

A registered client proves itself with a JWT signed by its own key (RFC 7523); the access token it
gets carries the role / org / purpose claims registered for it, so the policy engine treats it like
any other requester.

The client assertion is verified by Authlib's RFC 7523 implementation
(:class:`authlib.oauth2.rfc7523.JWTBearerClientAssertion`: signature, ``iss`` == ``sub`` == client id,
``aud``, ``exp``/``nbf``/``iat`` with leeway, ``jti`` present). What it leaves to us, and what this
module does about it (docs/security.md, "SMART backend services"):

- the audiences it accepts: only ``{public_url}/auth/token`` of the settings, never the Host header;
- the algorithms a client may sign with: :data:`ALGORITHMS` (no ``none``, no HMAC with a public key);
- the ``jti`` replay memory: a database table (:mod:`gateway.replay`), so it holds across restarts
  and replicas;
- the longest lifetime of an assertion (5 minutes, SMART backend services) and the size of what we
  read before verifying anything;
- the client registry and its keys (``GATEWAY_CLIENTS``), and turning its errors into RFC 6749 §5.2
  answers — never a 500 for a malformed assertion.
"""
from __future__ import annotations

import json
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from authlib.oauth2.rfc6749 import InvalidClientError, OAuth2Error
from authlib.oauth2.rfc7523 import JWTBearerClientAssertion
from fastapi import APIRouter, Form
from joserfc import jwt as jose_jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from gateway.auth import AuthError, sign_token
from gateway.replay import remember_once
from gateway.settings import Settings, public_origin

router = APIRouter()
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
ALGORITHMS = ["ES256", "ES384", "RS384", "RS256"]
MAX_ASSERTION_LIFETIME = 300  # seconds (SMART backend services: "no more than five minutes in the future")
MAX_ASSERTION_BYTES = 16 * 1024
LEEWAY = 30

OAUTH_ERROR_SCHEMA = {"type": "object", "required": ["error"], "properties": {
    "error": {"type": "string"}, "error_description": {"type": "string"}}}
TOKEN_SCHEMA = {"type": "object", "required": ["access_token", "token_type", "expires_in"], "properties": {
    "access_token": {"type": "string"}, "token_type": {"type": "string"}, "expires_in": {"type": "integer"},
    "scope": {"type": "string"}}}


def token_url(settings: Settings) -> str:
    return public_origin(settings) + "/auth/token"


@router.get("/fhir/.well-known/smart-configuration")
def smart_configuration(request: Request) -> Response:
    return JSONResponse({
        "token_endpoint": token_url(request.app.state.gateway.settings),
        "grant_types_supported": ["client_credentials"],
        "token_endpoint_auth_methods_supported": ["private_key_jwt"],
        "token_endpoint_auth_signing_alg_values_supported": ALGORITHMS,
        "scopes_supported": ["system/*.read", "system/*.rs"],
        "capabilities": ["client-confidential-asymmetric"],
    })


def _oauth_error(error: str, description: str, status: int = 400) -> Response:
    return JSONResponse({"error": error, "error_description": description}, status_code=status,
                        headers={"Cache-Control": "no-store", "Pragma": "no-cache"})


def _clients(path: str) -> dict[str, Any]:
    file = Path(path)
    return json.loads(file.read_text()) if file.exists() else {}


class _Client(SimpleNamespace):
    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        return endpoint == "token"


class ClientAssertion(JWTBearerClientAssertion):
    """Authlib's RFC 7523 client authentication, told our audience, keys, algorithms and replay memory."""

    def __init__(self, settings: Settings, engine: Any) -> None:
        super().__init__(validate_jti=True, leeway=LEEWAY)
        self.settings = settings
        self.engine = engine

    def get_audiences(self) -> list[str]:
        return [token_url(self.settings)]

    def resolve_client_public_key(self, client: _Client) -> KeySet:
        return KeySet.import_key_set(client.registration["jwks"])

    def process_assertion_claims(self, assertion: str, resolve_key: Any) -> dict[str, Any]:
        try:  # as Authlib's, but only the algorithms we allow
            token = jose_jwt.decode(assertion, resolve_key, algorithms=ALGORITHMS)
        except JoseError as exc:
            raise InvalidClientError(description=exc.description or exc.error) from exc
        self.verify_claims(token.claims)
        return token.claims

    def verify_claims(self, claims: Any) -> None:
        for name in ("exp", "nbf", "iat"):  # numbers (RFC 7519 NumericDate), not strings that look like them
            if name in claims and (not isinstance(claims[name], int | float) or isinstance(claims[name], bool)):
                raise InvalidClientError(description=f"claim {name!r} must be a NumericDate")
        if not isinstance(claims.get("iss"), str) or not isinstance(claims.get("jti", ""), str):
            raise InvalidClientError(description="claims 'iss' and 'jti' must be strings")
        if len(claims.get("jti", "")) > 255:
            raise InvalidClientError(description="claim 'jti' is longer than 255 characters")
        if isinstance(claims.get("exp"), int | float) and claims["exp"] - time.time() > MAX_ASSERTION_LIFETIME + LEEWAY:
            raise InvalidClientError(description="client_assertion must expire within 5 minutes")
        super().verify_claims(claims)  # aud, exp, nbf, iat, iss == sub, jti present and not seen before

    def validate_jti(self, claims: Any, jti: str) -> bool:
        if not remember_once(self.engine, str(claims["sub"]), jti, float(claims["exp"]) + LEEWAY):
            raise InvalidClientError(description="client_assertion jti was already used")
        return True


def _authenticate(settings: Settings, engine: Any, assertion: str) -> _Client:
    registry = _clients(settings.clients)

    def query_client(client_id: str) -> _Client | None:
        entry = registry.get(client_id)
        return _Client(client_id=client_id, registration=entry) if isinstance(entry, dict) else None

    request = SimpleNamespace(form={"client_assertion_type": ASSERTION_TYPE, "client_assertion": assertion},
                              client=None)
    client = ClientAssertion(settings, engine)(query_client, request)
    assert isinstance(client, _Client)  # Authlib hands back what query_client found, or raises
    return client


@router.post("/auth/token", responses={
    200: {"description": "An access token", "content": {"application/json": {"schema": TOKEN_SCHEMA}}},
    400: {"description": "RFC 6749 §5.2 error", "content": {"application/json": {"schema": OAUTH_ERROR_SCHEMA}}},
    401: {"description": "RFC 6749 §5.2 error (invalid_client)",
          "content": {"application/json": {"schema": OAUTH_ERROR_SCHEMA}}}})
async def token(request: Request, grant_type: str = Form(""), client_assertion_type: str = Form(""),
                client_assertion: str = Form(""), scope: str = Form("system/*.read")) -> Response:
    gw = request.app.state.gateway
    settings = gw.settings
    if grant_type != "client_credentials":
        return _oauth_error("unsupported_grant_type", "only client_credentials is supported")
    if client_assertion_type != ASSERTION_TYPE or not client_assertion:
        return _oauth_error("invalid_client", f"client_assertion_type must be {ASSERTION_TYPE}", 401)
    if len(client_assertion) > MAX_ASSERTION_BYTES:
        return _oauth_error("invalid_client", "client_assertion is too large", 401)
    try:
        client = await run_in_threadpool(_authenticate, settings, gw.engine, client_assertion)
    except OAuth2Error as exc:
        return _oauth_error("invalid_client", f"client_assertion rejected: {exc.description or exc.error}", 401)
    except (JoseError, ValueError, TypeError, KeyError) as exc:  # a registry entry or key Authlib cannot use
        return _oauth_error("invalid_client", f"client_assertion rejected: {exc}", 401)
    registration = client.registration
    try:
        access = sign_token(settings, user=client.client_id, name=str(registration.get("name", client.client_id)),
                            role=registration["role"], org=registration["org"],
                            purpose=registration.get("purpose_of_use", "direct_care"),
                            team=registration.get("team"), client=client.client_id)
    except (KeyError, AuthError) as exc:
        return _oauth_error("server_error", f"the client registration cannot be used: {exc}", 500)
    return JSONResponse({"access_token": access, "token_type": "bearer", "expires_in": settings.token_lifetime_seconds,
                         "scope": scope}, headers={"Cache-Control": "no-store", "Pragma": "no-cache"})
