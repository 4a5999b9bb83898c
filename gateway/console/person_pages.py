"""The person's own page, ``/console/me/``: who looked at my record and why, and my sharing choices.

For a person signed in as themselves (a role with ``own_record_only`` in roles.yaml, the session
scoped to their NHS number), under the purpose ``patient_request``. It is the API's person view in
a printable page, built from the same parts: the access history is
``gateway.sharing.history.access_history`` (the AuditEvents of ``GET /fhir/AuditEvent``, decided by
the policy for the person: nothing hidden from them is named), and the choices are the person's
Consent resources as the disclosure service releases them to the person's own request. The look is
opened, decided and audited through the disclosure service before the page is sent; a request for
anyone else's page is refused, and the refusal is audited naming whom it asked about.
"""
from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from adapters.base import NHS_NUMBER_SYSTEM
from gateway.audit import AuditWriteError
from gateway.console import session as sessions
from gateway.console.session import Session
from gateway.console.web import ConsoleError, render, signed_in
from gateway.disclosure import Caller, Refused
from gateway.disclosure.enforce import ContextCache
from gateway.requester import Requester
from gateway.sharing.choices import describe
from gateway.sharing.history import access_history

router = APIRouter(prefix="/me")
TREATMENTS = ("released", "redacted", "withheld", "recorded")


def _requester(session: Session) -> Requester:
    assert session.patient is not None
    return Requester(user=session.user, name=session.name, role=session.role, org=session.org,
                     purpose=sessions.PERSON_PURPOSE, patient=session.patient, client="console")


def _own(request: Request, session: Session) -> str:
    """The person's NHS number; refuses anyone who is not a person signed in as themselves."""
    role = request.app.state.gateway.policies.engine.vocabulary.roles.get(session.role)
    if session.patient is None or role is None or not role.own_record_only:
        raise ConsoleError(403, "this page is a person's own: sign in as yourself (NHS login) to see it")
    return session.patient


def _caller(request: Request, interaction: str) -> Caller:
    return Caller(interaction, getattr(request.state, "request_id", None), str(request.url.query) or None, "console")


def _commit(request: Request, record: dict[str, Any]) -> Any:
    try:
        return request.app.state.gateway.disclosure.commit(record)
    except AuditWriteError as exc:
        raise ConsoleError(503, "your look could not be audited, so nothing is shown") from exc


def _refuse_other(request: Request, session: Session, asked: str) -> Response:
    """A person asking for someone else's page: refused, and audited naming whom it asked about."""
    try:
        d = request.app.state.gateway.disclosure.open(_requester(session), nhs_number=asked)
    except Refused as refused:
        d = refused.disclosure
    reason = "a person's access history is theirs alone: this sign-in is not for that person"
    record = d.record(_caller(request, "console.me"), outcome="refused", status=403, reason=reason)
    entry = _commit(request, record)
    page = render(request, "error.html", status=403, message=reason)
    page.headers["X-Audit-Sequence"] = str(entry.seq)
    return page


def _row(event: dict[str, Any]) -> dict[str, Any]:
    """What the page shows of one AuditEvent of the person's history (the API's Bundle entries)."""
    agents = event.get("agent") or []
    user: dict[str, Any] = next((a for a in agents if a.get("requestor")), {})
    org = next((a for a in agents if (a.get("type") or {}).get("text") == "organisation of the user"), None)
    purpose = (user.get("purposeOfUse") or [{}])[0]
    local_purpose = next((c.get("code") for c in purpose.get("coding") or []
                          if str(c.get("system", "")).endswith("purpose")), None)
    role = (user.get("role") or [{}])[0]
    treatments = {e.get("name"): [d.get("valueString") for d in e.get("detail") or []]
                  for e in event.get("entity") or [] if e.get("name") in TREATMENTS}
    return {"time": event.get("recorded"), "who": (user.get("who") or {}).get("display"),
            "role": role.get("text") or next((c.get("code") for c in role.get("coding") or []), None),
            "org": (org or {}).get("who", {}).get("display"),
            "org_code": ((org or {}).get("who", {}).get("identifier") or {}).get("value"),
            "purpose": local_purpose, "justification": purpose.get("text"),
            "outcome": event.get("outcomeDesc") or "disclosed",
            **{t: treatments.get(t, []) for t in TREATMENTS}}


def _page(request: Request, session: Session, nhs: str) -> Response:
    gw = request.app.state.gateway
    requester = _requester(session)
    matches = [p for p in gw.store.find_by_identifier("Patient", NHS_NUMBER_SYSTEM, nhs) if not p.deleted]
    patient_id = matches[0].id if matches else None
    try:
        d = gw.disclosure.open(requester, patient_id=patient_id, nhs_number=nhs)
    except Refused as refused:
        reason = refused.disclosure.request.reason or "refused by the policy"
        _commit(request, refused.disclosure.record(_caller(request, "console.me"), outcome="refused", status=403,
                                                   reason=reason))
        raise ConsoleError(403, reason) from None
    rows: list[dict[str, Any]] = []
    choices: list[dict[str, Any]] = []
    released = []
    if patient_id is not None:
        context = ContextCache(gw.store).get(patient_id)
        rows = [_row(e) for e in access_history(d, patient_id, nhs, context)]
        released = d.decide(gw.store.search("Consent", patient_ids=[p.id for p in matches]))
        choices = [describe(r.resource) for r in released]
    page = render(request, "me.html", rows=rows, choices=choices, nhs_number=nhs, known=patient_id is not None,
                  names=gw.disclosure.names)
    entry = _commit(request, d.record(_caller(request, "console.me"), sent=released))
    page.headers["X-Audit-Sequence"] = str(entry.seq)
    return page


@router.get("/")
async def my_page(request: Request) -> Response:
    session = signed_in(request)
    nhs = _own(request, session)
    asked = request.query_params.get("nhs_number")
    if asked is not None and asked != nhs:
        return await run_in_threadpool(_refuse_other, request, session, asked[:32])
    return await run_in_threadpool(_page, request, session, nhs)
