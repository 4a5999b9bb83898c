"""Who is calling: bearer token → Requester, then the policy's request stage (may it proceed at all)."""
from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

from gateway.api.errors import Forbidden, Unauthorized
from gateway.auth import AuthError, TokenVerifier
from adapters.base import NHS_NUMBER_SYSTEM
from gateway.disclosure import Disclosure, Refused
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


def _patient_named(request: Request) -> tuple[str | None, str | None]:
    """The patient a record request names before anything is fetched (for the record of a refusal)."""
    params, path = request.query_params, request.path_params
    if path.get("patient_id"):
        return str(path["patient_id"]), None
    if path.get("resource_type") == "Patient" and path.get("rid"):
        return str(path["rid"]), None
    for name in ("patient", "subject", "_id" if path.get("resource_type") == "Patient" else ""):
        if name and params.get(name):
            return params[name].rsplit("/", 1)[-1], None
    ident = params.get("identifier", "")
    if ident.startswith(NHS_NUMBER_SYSTEM + "|"):
        return None, ident.split("|", 1)[1]
    return None, None


async def disclosure(request: Request) -> Disclosure:
    """FastAPI dependency for every record-reading route: who is calling, the policy snapshot this
    request is decided under, and whether it may proceed at all (the disclosure service's request check).

    Async, so the route's one worker thread is the request's only thread hop: a token seen before
    is a look-up; only its first sight (signature check, perhaps a JWKS fetch) takes a thread."""
    token = _bearer(request)
    verifier = request.app.state.gateway.verifier
    requester = verifier.remembered(token) or await run_in_threadpool(_verify, verifier, token)
    request.state.requester = requester
    patient_id, nhs_number = _patient_named(request)
    try:
        opened = request.app.state.gateway.disclosure.open(requester, patient_id=patient_id, nhs_number=nhs_number)
    except Refused as refused:
        request.state.disclosure = refused.disclosure
        reason = refused.disclosure.request.reason
        raise Forbidden(reason or f"role {requester.role!r} may not use the FHIR API for this purpose") from None
    request.state.disclosure = opened
    return opened
