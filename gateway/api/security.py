"""Who is calling: bearer token → Requester, then the policy's request stage (may it proceed at all),
then the token's patient scope (a token with a ``patient`` claim names one person, whatever its role)."""
from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

from adapters.base import NHS_NUMBER_SYSTEM
from gateway.api.errors import Forbidden, NotFound, Unauthorized
from gateway.auth import AuthError, PatientScopeError, TokenVerifier, check_patient_scope
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
        opened: Disclosure = request.app.state.gateway.disclosure.open(requester, patient_id=patient_id,
                                                                       nhs_number=nhs_number)
    except Refused as refused:
        request.state.disclosure = refused.disclosure
        reason = refused.disclosure.request.reason
        raise Forbidden(reason or f"role {requester.role!r} may not use the FHIR API for this purpose") from None
    request.state.disclosure = opened
    if requester.patient:  # refused under the opened disclosure, so the refusal is audited with it
        params = list(request.query_params.multi_items())
        if request.method == "POST" and request.url.path.endswith("/_search") and request.headers.get(
                "content-type", "").split(";")[0].strip().lower() == "application/x-www-form-urlencoded":
            params += [(k, str(v)) for k, v in (await request.form()).multi_items()]  # cached for the route
        await run_in_threadpool(enforce_patient_scope, request, requester, params)
    return opened


def own_patient_ids(request: Request, requester: Requester) -> frozenset[str]:
    """The ids of the Patient resources with the NHS number a scoped token names (cached per request)."""
    cached = getattr(request.state, "scoped_patient_ids", None)
    if cached is None:
        store = request.app.state.gateway.store
        cached = frozenset(s.id for s in store.find_by_identifier("Patient", NHS_NUMBER_SYSTEM, requester.patient))
        request.state.scoped_patient_ids = cached
    return cached


def named_patients(path: str, params: list[tuple[str, str]]) -> tuple[set[str], set[str]]:
    """(Patient ids, NHS numbers) a FHIR request names in its path and search parameters."""
    ids: set[str] = set()
    nhs: set[str] = set()
    parts = path.split("/")
    patient_path = len(parts) > 2 and parts[1] == "fhir" and parts[2] == "Patient"
    if patient_path and len(parts) > 3 and parts[3] and not parts[3].startswith("_"):
        ids.add(parts[3])
    for key, value in params:
        name = key.split(":", 1)[0].split(".", 1)[0]
        for one in value.split(","):
            one = one.strip()
            if not one:
                continue
            if name in ("patient", "subject") or (patient_path and name == "_id"):
                ids.add(one.rsplit("/", 1)[-1] if "/" in one else one)
            elif patient_path and name == "identifier":
                system, bar, number = one.rpartition("|")
                if not bar or system == NHS_NUMBER_SYSTEM:
                    nhs.add(number)
                else:
                    ids.add(f"identifier:{one}")  # another identifier system: not provably this person
    return ids, nhs


def enforce_patient_scope(request: Request, requester: Requester, params: list[tuple[str, str]]) -> None:
    """A token scoped to one patient (``patient`` claim, any role) may only name that patient.

    Checked on what the request names (path, ``patient``/``subject``, Patient ``_id``/``identifier``);
    what a search or read would *return* is the disclosure service's to restrict (every candidate
    must belong to ``requester.patient``). A Patient search by a scoped token must name its patient:
    no browsing. Never says whether another person exists (it compares with the token's own ids)."""
    if not requester.patient:
        return
    ids, nhs = named_patients(request.url.path, params)
    try:
        check_patient_scope(requester, patient_nhs_numbers=nhs)
    except PatientScopeError as exc:
        raise Forbidden(str(exc)) from exc
    if ids and not ids <= own_patient_ids(request, requester):
        raise Forbidden(f"this token is scoped to one patient (NHS number {requester.patient}); "
                        "it cannot be used for another person")
    path = request.url.path.rstrip("/")
    parts = path.split("/")  # ["", "fhir", Type, id, "_history", vid]
    if path in ("/fhir/Patient", "/fhir/Patient/_search") and not ids and not nhs:
        raise Forbidden("a token scoped to one patient must name that patient (identifier or _id)")
    if len(parts) == 3 or (len(parts) == 4 and parts[3] == "_search"):  # a search of another type
        if parts[2] != "Patient" and not any(k.split(":", 1)[0] in ("patient", "subject") for k, _ in params):
            raise Forbidden("a token scoped to one patient must name that patient (patient or subject)")
    elif len(parts) >= 4 and parts[2] != "Patient" and parts[3] and not parts[3].startswith(("_", "$")):
        # A read of one item by id: another person's item is answered exactly as a missing one.
        stored = request.app.state.gateway.store.get(parts[2], parts[3])
        if stored is not None and stored.patient_id is not None and \
                stored.patient_id not in own_patient_ids(request, requester):
            named = parts[2:] if len(parts) >= 6 else parts[2:4]  # as the routes word it: vread names the version
            raise NotFound(f"{'/'.join(named)} is not known")
