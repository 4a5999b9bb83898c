"""Who is calling: bearer token → Requester, then the policy's request stage (may it proceed at all)."""
from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

from gateway.api.errors import Forbidden, Unauthorized
from gateway.auth import AuthError, TokenVerifier
from gateway.requester import Requester


def _bearer(request: Request) -> str:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if not header:
        raise Unauthorized("no bearer token: send 'Authorization: Bearer <JWT>'")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("the Authorization header must be 'Bearer <JWT>'")
    return token.strip()


def _verify(verifier: TokenVerifier, token: str) -> Requester:
    try:
        return verifier.verify(token)
    except AuthError as exc:
        raise Unauthorized(str(exc)) from exc


def authenticate(request: Request) -> Requester:
    """Who is calling (sync: for routes that already run in a worker thread)."""
    requester = _verify(request.app.state.gateway.verifier, _bearer(request))
    request.state.requester = requester
    return requester


async def authorize(request: Request) -> Requester:
    """FastAPI dependency for every record-reading route: who is calling, and may they proceed at all.

    Async, so the route's one worker thread is the request's only thread hop: a token seen before
    is a look-up; only its first sight (signature check, perhaps a JWKS fetch) takes a thread."""
    token = _bearer(request)
    verifier = request.app.state.gateway.verifier
    requester = verifier.remembered(token) or await run_in_threadpool(_verify, verifier, token)
    request.state.requester = requester
    decision = request.app.state.gateway.policies.engine.check_request(requester)
    request.state.request_rule_ids = decision.rule_ids
    request.state.request_obligations = decision.obligations
    if not decision.allowed:
        raise Forbidden(decision.reason or f"role {requester.role!r} may not use the FHIR API for this purpose")
    return requester
