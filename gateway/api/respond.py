"""Audit before release: write the disclosure record, and only when it is committed, respond.

If the audit write fails the caller gets 503 and nothing else (docs/architecture.md, invariant 3).
"""
from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from gateway.api.errors import ServiceUnavailable
from gateway.api.responses import fhir_response
from gateway.audit import AuditWriteError
from gateway.disclosure import Caller, Disclosure, Released
from gateway.logging import get_logger
from gateway.requester import Requester

log = get_logger("gateway.api")


def caller(request: Request, interaction: str) -> Caller:
    return Caller(interaction, getattr(request.state, "request_id", None), str(request.url.query) or None,
                  request.headers.get("user-agent"))


def commit_then(request: Request, record: dict[str, Any], response: Response) -> Response:
    """Append the record durably; only then hand back the response."""
    try:
        entry = request.app.state.gateway.disclosure.commit(record)
    except AuditWriteError as exc:
        log.error("audit.write_failed", error=str(exc))
        raise ServiceUnavailable("the disclosure could not be audited, so nothing is released") from exc
    response.headers["X-Audit-Sequence"] = str(getattr(entry, "seq", ""))
    return response


def send(request: Request, disclosure: Disclosure, interaction: str, body: Any, *, sent: Iterable[Released] = (),
         status: int = 200, headers: dict[str, str] | None = None, not_modified: bool = False) -> Response:
    """Record exactly what ``body`` carries (``sent``) under the request's decisions, commit, respond."""
    record = disclosure.record(caller(request, interaction), sent=sent, status=status, not_modified=not_modified)
    return commit_then(request, record, fhir_response(request, body, status, headers))


def undecided_record(request: Request, requester: Requester | None, *, interaction: str, outcome: str, status: int,
                     policy_version: str | None, reason: str | None) -> dict[str, Any]:
    """The record of a request that never reached a decision (no valid token, a malformed request,
    a non-FHIR surface): who (if known), what was asked, and why it ended."""
    return {
        "time": datetime.now(UTC).isoformat(),
        "request_id": getattr(request.state, "request_id", None),
        "requester": None if requester is None else {
            "user": requester.user, "name": requester.name, "role": requester.role, "org": requester.org,
            "team": requester.team},
        "purpose": requester.purpose if requester else None,
        "justification": requester.justification if requester else None,
        "client": (requester.client if requester else None) or request.headers.get("user-agent"),
        "interaction": interaction,
        "query": str(request.url.query) or None,
        "patients": [],
        "relationship": None,
        "items": {"released": [], "redacted": [], "noticed": [], "hidden": []},
        "categories": [],
        "rule_ids": [],
        "policy_version": policy_version,
        "outcome": outcome,
        "status": status,
        "reason": reason,
        "obligations": [],
    }
