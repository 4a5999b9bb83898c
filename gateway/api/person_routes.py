"""The person's own surfaces under /fhir: their access history, and sharing choices recorded through the API.

* ``GET /fhir/AuditEvent?patient=Patient/<id>`` — who looked at my record, when and why, as a Bundle
  of IHE BALP AuditEvents (gateway/sharing/history.py decides what is shown, through the policy).
  For a role with ``own_record_only`` (the person, signed in) whose token is scoped to that
  person's NHS number; anyone else is refused, and the refusal is audited like any other. The look
  itself goes through the disclosure service and is audited before the answer leaves.
* ``POST /fhir/Consent``, ``PUT /fhir/Consent/<id>`` — record, change or withdraw an objection, or
  the national data opt-out (gateway/sharing/choices.py), for a role with ``records_consent`` /
  ``records_opt_out`` in roles.yaml. The caller is authenticated before the body is read; every
  outcome (recorded, refused, invalid) is audited before the answer leaves.

Registered before fhir_routes, whose generic ``/{resource_type}`` routes would otherwise take these paths.
"""
from __future__ import annotations

from typing import Any

import orjson
from fastapi import APIRouter, Depends
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from gateway.api.errors import (
    BadRequest,
    Conflict,
    FhirError,
    Forbidden,
    NotFound,
    Unprocessable,
    UnsupportedMediaType,
)
from gateway.api.fhir_routes import base_url, negotiate
from gateway.api.respond import commit_then, send, undecided_record
from gateway.api.responses import fhir_response
from gateway.api.security import authenticate, disclosure
from gateway.disclosure import Disclosure
from gateway.disclosure.enforce import ContextCache
from gateway.requester import Requester
from gateway.sharing.choices import (
    Invalid,
    NotAllowed,
    NotRecordedHere,
    Recorded,
    describe,
    may_record_any,
    record_choice,
)
from gateway.sharing.history import access_history

router = APIRouter(prefix="/fhir", dependencies=[Depends(negotiate)])
JSON_BODIES = ("application/fhir+json", "application/json", "application/json+fhir")


@router.get("/AuditEvent")
def my_access_history(request: Request, d: Disclosure = Depends(disclosure)) -> Response:
    gw = request.app.state.gateway
    unknown = set(request.query_params) - {"patient", "_format", "_count", "_offset"}
    if unknown:
        raise BadRequest(f"unknown parameter(s): {', '.join(sorted(unknown))}; the access history takes "
                         "patient=Patient/<id> (and _count, _offset)")
    count, offset = (_number(request, name) for name in ("_count", "_offset"))
    wanted = request.query_params.get("patient", "")
    if not wanted:
        raise BadRequest("patient=Patient/<id> is required: a person's access history is searched by the person")
    patient_id = wanted.removeprefix("Patient/")
    role = d.engine.vocabulary.roles.get(d.requester.role)
    if role is None or not role.own_record_only:
        raise Forbidden(f"role {d.requester.role!r} may not read a person's access history here: it is the "
                        "person's own (auditors: /audit/AuditEvent)")
    patient = gw.store.get("Patient", patient_id) if "/" not in patient_id else None
    nhs = gw.disclosure.nhs_number_of(patient_id) if patient is not None and not patient.deleted else None
    if nhs is None or d.requester.patient != nhs:
        # Whether the person exists is not said to anyone else: one answer for both.
        raise Forbidden("a person's access history is theirs alone: the token is not scoped to this person")
    context = ContextCache(gw.store).get(patient_id)
    events = access_history(d, patient_id, nhs, context)  # newest first
    start = offset or 0
    page = events[start:start + count] if count is not None else events[start:]
    url = f"{base_url(request)}/AuditEvent?patient=Patient/{patient_id}"
    links = [{"relation": "self", "url": url + (f"&_count={count}&_offset={start}" if count is not None else "")}]
    if count is not None and start + count < len(events):
        links.append({"relation": "next", "url": f"{url}&_count={count}&_offset={start + count}"})
    bundle: dict[str, Any] = {
        "resourceType": "Bundle", "type": "searchset", "total": len(events), "link": links,
        "entry": [{"fullUrl": f"{base_url(request)}/AuditEvent/{e['id']}", "resource": e,
                   "search": {"mode": "match"}} for e in page]}
    return send(request, d, "search-type AuditEvent", bundle)


def _number(request: Request, name: str) -> int | None:
    value = request.query_params.get(name)
    if value is None:
        return None
    if not (value.isascii() and value.isdigit()) or len(value) > 6:
        raise BadRequest(f"{name} must be a non-negative integer")
    return int(value)


@router.post("/Consent")
async def create_choice(request: Request) -> Response:
    return await _write(request, None)


@router.put("/Consent/{rid}")
async def update_choice(rid: str, request: Request) -> Response:
    return await _write(request, rid)


async def _write(request: Request, rid: str | None) -> Response:
    requester: Requester = await run_in_threadpool(authenticate, request)  # who, before reading anything sent
    gw = request.app.state.gateway
    engine = gw.policies.engine  # pinned for this request
    interaction = "update Consent" if rid else "create Consent"
    if not may_record_any(engine, requester):
        raise Forbidden(f"role {requester.role!r} may not record sharing choices (records_consent / "
                        "records_opt_out in roles.yaml)")
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media not in JSON_BODIES:
        raise UnsupportedMediaType("a Consent is sent as application/fhir+json")
    raw = await request.body()  # the middleware bounds its size
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise BadRequest(f"the body is not JSON: {exc}") from None
    try:
        recorded: Recorded = await run_in_threadpool(record_choice, gw.store, engine, requester, body, rid=rid)
    except Invalid as exc:
        return _refuse(request, requester, interaction, engine.version, body,
                       Unprocessable(exc.message, expression=exc.field), "error")
    except NotAllowed as exc:
        return _refuse(request, requester, interaction, engine.version, body, Forbidden(str(exc)), "refused")
    except NotRecordedHere as exc:
        error: FhirError = Conflict(str(exc)) if exc.status == 409 else NotFound(str(exc))
        return _refuse(request, requester, interaction, engine.version, body, error, "error")
    record = undecided_record(request, requester, interaction=interaction, outcome="recorded",
                              status=201 if recorded.created else 200, policy_version=engine.version, reason=None)
    ref = f"Consent/{recorded.consent['id']}"
    choice = describe(recorded.consent)
    record.update(
        type="consent",
        patients=[{"id": recorded.patient_id, "nhs_number": recorded.nhs_number}],
        items={"released": [], "redacted": [], "noticed": [], "hidden": [],
               "recorded": [{"ref": ref, "version": recorded.version_id, "categories": list(recorded.categories),
                             "provenance": f"Provenance/{recorded.provenance_id}"}]},
        categories=list(recorded.categories),
        choice={**{k: v for k, v in choice.items() if k != "recorded"}, "kind": recorded.kind})
    version = recorded.version_id
    headers = {"Location": f"{base_url(request)}/{ref}/_history/{version}", "ETag": f'W/"{version}"'}
    response = fhir_response(request, recorded.consent, 201 if recorded.created else 200, headers)
    return commit_then(request, record, response)


def _refuse(request: Request, requester: Requester, interaction: str, version: str, body: Any, error: FhirError,
            outcome: str) -> Response:
    """Audit a choice that was not recorded (naming the person it was about, when the body named one), then answer."""
    record = undecided_record(request, requester, interaction=interaction, outcome=outcome, status=error.status,
                              policy_version=version, reason=error.diagnostics)
    record["type"] = "consent"
    patient = body.get("patient") if isinstance(body, dict) else None
    if isinstance(patient, dict):
        ref, ident = patient.get("reference"), patient.get("identifier")
        if isinstance(ref, str) and ref.startswith("Patient/"):
            record["patients"] = [{"id": ref.split("/", 1)[1][:64], "nhs_number": None}]
        elif isinstance(ident, dict) and isinstance(ident.get("value"), str):
            record["patients"] = [{"id": None, "nhs_number": ident["value"][:32]}]
    return commit_then(request, record, fhir_response(request, error.outcome(), error.status, error.headers))
