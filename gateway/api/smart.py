"""SMART on FHIR backend services: discovery and a client_credentials token endpoint (private_key_jwt).

A registered client proves itself with a JWT signed by its own key (RFC 7523); the access token it
gets carries the role / org / purpose claims registered for it, so the policy engine treats it like
any other requester.
"""
from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

import jwt
from fastapi import APIRouter, Form
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from gateway.auth import sign_token

router = APIRouter()
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
_seen_jti: dict[str, float] = {}  # replay protection for client assertions (per process, until expiry)
_jti_lock = threading.Lock()


def _token_url(request: Request) -> str:
    return str(request.base_url).rstrip("/") + "/auth/token"


@router.get("/fhir/.well-known/smart-configuration")
def smart_configuration(request: Request) -> Response:
    return JSONResponse({
        "token_endpoint": _token_url(request),
        "grant_types_supported": ["client_credentials"],
        "token_endpoint_auth_methods_supported": ["private_key_jwt"],
        "token_endpoint_auth_signing_alg_values_supported": ["ES256", "RS384", "RS256"],
        "scopes_supported": ["system/*.read", "system/*.rs"],
        "capabilities": ["client-confidential-asymmetric"],
    })


def _oauth_error(error: str, description: str, status: int = 400) -> Response:
    return JSONResponse({"error": error, "error_description": description}, status_code=status,
                        headers={"Cache-Control": "no-store"})


def _clients(path: str) -> dict[str, Any]:
    file = Path(path)
    return json.loads(file.read_text()) if file.exists() else {}


@router.post("/auth/token")
def token(request: Request, grant_type: str = Form(""), client_assertion_type: str = Form(""),
          client_assertion: str = Form(""), scope: str = Form("system/*.read")) -> Response:
    settings = request.app.state.gateway.settings
    if grant_type != "client_credentials":
        return _oauth_error("unsupported_grant_type", "only client_credentials is supported")
    if client_assertion_type != ASSERTION_TYPE or not client_assertion:
        return _oauth_error("invalid_client", f"client_assertion_type must be {ASSERTION_TYPE}", 401)
    try:
        client_id = jwt.decode(client_assertion, options={"verify_signature": False}).get("iss", "")
    except jwt.PyJWTError as exc:
        return _oauth_error("invalid_client", f"client_assertion is not a JWT: {exc}", 401)
    client = _clients(settings.clients).get(client_id)
    if client is None:
        return _oauth_error("invalid_client", f"client {client_id!r} is not registered", 401)
    try:
        header = jwt.get_unverified_header(client_assertion)
        keys = jwt.PyJWKSet.from_dict(client["jwks"]).keys
        key = next((k for k in keys if header.get("kid") in (None, k.key_id)), None)
        if key is None:
            raise jwt.InvalidKeyError(f"no registered key with kid {header.get('kid')!r}")
        claims = jwt.decode(client_assertion, key.key, algorithms=["ES256", "RS384", "RS256"],
                            audience=_token_url(request), options={"require": ["exp", "jti", "iss", "sub"]})
    except (jwt.PyJWTError, KeyError, ValueError) as exc:
        return _oauth_error("invalid_client", f"client_assertion rejected: {exc}", 401)
    if claims["sub"] != client_id or claims["exp"] - time.time() > 300:
        return _oauth_error("invalid_client", "client_assertion must have sub == iss and expire within 5 minutes",
                            401)
    with _jti_lock:
        now = time.time()
        for jti, expiry in list(_seen_jti.items()):
            if expiry < now:
                del _seen_jti[jti]
        if claims["jti"] in _seen_jti:
            return _oauth_error("invalid_client", "client_assertion jti was already used", 401)
        _seen_jti[claims["jti"]] = float(claims["exp"])
    access = sign_token(settings, user=client_id, name=client.get("name", client_id), role=client["role"],
                        org=client["org"], purpose=client.get("purpose_of_use", "direct_care"),
                        team=client.get("team"), client=client_id)
    return JSONResponse({"access_token": access, "token_type": "bearer", "expires_in": settings.token_lifetime_seconds,
                         "scope": scope}, headers={"Cache-Control": "no-store"})
