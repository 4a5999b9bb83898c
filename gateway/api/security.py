"""Who is calling: bearer token → Requester, then the policy's request stage (may it proceed at all)."""
from __future__ import annotations

from starlette.requests import Request

from gateway.api.errors import Forbidden, Unauthorized
from gateway.auth import AuthError
from gateway.requester import Requester


def authenticate(request: Request) -> Requester:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if not header:
        raise Unauthorized("no bearer token: send 'Authorization: Bearer <JWT>'")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("the Authorization header must be 'Bearer <JWT>'")
    try:
        requester = request.app.state.gateway.verifier.verify(token.strip())
    except AuthError as exc:
        raise Unauthorized(str(exc)) from exc
    request.state.requester = requester
    return requester


def authorize(request: Request) -> Requester:
    """FastAPI dependency for every record-reading route."""
    requester = authenticate(request)
    decision = request.app.state.gateway.policies.engine.check_request(requester)
    request.state.request_rule_ids = decision.rule_ids
    request.state.request_obligations = decision.obligations
    if not decision.allowed:
        raise Forbidden(decision.reason or f"role {requester.role!r} may not use the FHIR API for this purpose")
    return requester
