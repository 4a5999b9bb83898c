"""The auditor's API: search, a person's disclosure history, the break-glass review queue, anomaly
reports, verification and AuditEvent export. Auditors read the log, never records; and every look
at the log is itself appended to it."""
from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends
from fastapi import Path as PathParam
from pydantic import BaseModel
from starlette.requests import Request
from starlette.responses import Response

from gateway.api.bodies import body_doc, json_body
from gateway.api.errors import BadRequest, NotFound
from gateway.api.respond import commit_then
from gateway.api.responses import FhirJSONResponse
from gateway.api.roles import require, require_capability
from gateway.audit import anomalies
from gateway.audit.auditevent import to_audit_events
from gateway.requester import Requester

# Authenticated and authorised before anything of the request is read (docs/security.md).
router = APIRouter(prefix="/audit", dependencies=[Depends(require("reads_audit"))])
MAX_SEQ = 2**63 - 1  # BIGINT: a larger sequence number is a client's mistake (400), not a database error
FILTERS = ("nhs_number", "patient_id", "user", "org", "role", "purpose", "outcome", "category", "since", "until")


def _filters(request: Request) -> dict[str, Any]:
    params = request.query_params
    unknown = set(params) - {*FILTERS, "offset", "limit"}
    if unknown:
        raise BadRequest(f"unknown filter(s): {', '.join(sorted(unknown))}; known: {', '.join(FILTERS)}")
    filters: dict[str, Any] = {k: params[k] for k in FILTERS if params.get(k)}
    for name, default, maximum in (("offset", 0, None), ("limit", 100, 1000)):
        value = params.get(name, str(default))
        if not (value.isascii() and value.isdigit()) or len(value) > 19 or int(value) > MAX_SEQ:
            raise BadRequest(f"{name} must be a non-negative integer no larger than {MAX_SEQ}")
        filters[name] = min(int(value), maximum) if maximum else int(value)
    return filters


def _answer(request: Request, requester: Requester, action: str, body: Any, status: int = 200) -> Response:
    record = {"type": "audit-access", "time": None, "request_id": request.state.request_id,
              "requester": {"user": requester.user, "name": requester.name, "role": requester.role,
                            "org": requester.org},
              "purpose": requester.purpose, "interaction": action, "query": str(request.url.query) or None,
              "outcome": "disclosed", "status": status}
    record.pop("time")
    return commit_then(request, record, FhirJSONResponse(body, status_code=status, media_type="application/json"))


def _lines(entries: list[Any]) -> list[dict[str, Any]]:
    return [e.line() for e in entries]


@router.get("/records")
def search(request: Request) -> Response:
    requester = require_capability(request, "reads_audit")
    filters = _filters(request)
    entries = request.app.state.gateway.audit.search(**filters)
    body = {"offset": filters["offset"], "limit": filters["limit"], "records": _lines(entries)}
    if len(entries) == filters["limit"]:
        body["next_offset"] = filters["offset"] + filters["limit"]
    return _answer(request, requester, "audit.search", body)


@router.get("/patients/{nhs_number}/disclosures")
def disclosure_history(nhs_number: str, request: Request) -> Response:
    """Everything disclosed about one person, for a subject-access request."""
    requester = require_capability(request, "reads_audit")
    entries = list(request.app.state.gateway.audit.iter_entries(nhs_number=nhs_number))
    return _answer(request, requester, "audit.disclosure-history",
                   {"nhs_number": nhs_number, "records": _lines(entries)})


@router.get("/review")
def review_queue(request: Request) -> Response:
    requester = require_capability(request, "reads_audit")
    return _answer(request, requester, "audit.review-queue",
                   {"records": _lines(request.app.state.gateway.audit.review_queue())})


class ReviewComment(BaseModel):
    comment: str


@router.post("/review/{seq}", openapi_extra=body_doc(ReviewComment))
def mark_reviewed(request: Request, seq: int = PathParam(ge=1, le=MAX_SEQ),
                  body: ReviewComment = json_body(ReviewComment)) -> Response:
    requester = require_capability(request, "reads_audit")
    if not body.comment.strip():
        raise BadRequest("a review needs a comment")
    try:
        review = request.app.state.gateway.audit.mark_reviewed(seq, requester.user, body.comment)
    except LookupError as exc:
        raise NotFound(str(exc)) from exc
    return FhirJSONResponse(review.line(), media_type="application/json")  # the review is its own audit record


@router.get("/anomalies")
def anomaly_report(request: Request) -> Response:
    requester = require_capability(request, "reads_audit")
    entries = list(request.app.state.gateway.audit.iter_entries(**{k: v for k, v in _filters(request).items()
                                                                    if k not in ("offset", "limit")}))
    found = [a.as_dict() for a in anomalies.report(entries)]
    return _answer(request, requester, "audit.anomalies", {"anomalies": found})


@router.get("/AuditEvent")
def audit_events(request: Request) -> Response:
    """The same search, as a FHIR Bundle of AuditEvent resources (IHE BALP shape)."""
    requester = require_capability(request, "reads_audit")
    entries = request.app.state.gateway.audit.search(**_filters(request))
    events = list(to_audit_events(entries))
    bundle = {"resourceType": "Bundle", "type": "searchset", "total": len(events),
              "entry": [{"resource": e, "search": {"mode": "match"}} for e in events]}
    return _answer(request, requester, "audit.AuditEvent", bundle)


@router.get("/verify")
def verify(request: Request) -> Response:
    requester = require_capability(request, "reads_audit")
    result = request.app.state.gateway.audit.verify()
    return _answer(request, requester, "audit.verify", {"ok": result.ok, "checked": result.checked,
                                                        "first_bad_seq": result.first_bad_seq,
                                                        "reason": result.reason})
