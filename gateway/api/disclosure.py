"""Audit before release: write the disclosure record, and only when it is committed, respond.

If the audit write fails the caller gets 503 and nothing else (docs/architecture.md, invariant 3).
"""
from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from gateway.api.enforcement import Filtered
from gateway.api.errors import ServiceUnavailable
from gateway.api.responses import fhir_response
from gateway.audit import AuditWriteError
from gateway.logging import get_logger
from gateway.requester import Requester

log = get_logger("gateway.api")


def audit_record(request: Request, *, requester: Requester | None, interaction: str, outcome: str, status: int,
                 policy_version: str | None, filtered: Filtered | None = None, rule_ids: tuple[str, ...] = (),
                 patients: list[dict[str, Any]] | None = None, reason: str | None = None,
                 obligations: set[str] | frozenset[str] = frozenset()) -> dict[str, Any]:
    filtered = filtered or Filtered()
    patient_refs = patients if patients is not None else [{"id": pid, "nhs_number": filtered.patient_nhs.get(pid)}
                                                            for pid in sorted(filtered.patient_ids)]
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
        "patients": patient_refs,
        "relationship": (all(filtered.relationship.values()) if filtered.relationship else None),
        "items": filtered.audit_items,
        "categories": filtered.categories,
        "rule_ids": list(rule_ids),
        "policy_version": policy_version,
        "outcome": outcome,
        "status": status,
        "reason": reason,
        "obligations": sorted(set(obligations) | filtered.obligations),
    }


def commit_then(request: Request, record: dict[str, Any], response: Response) -> Response:
    """Append the record durably; only then hand back the response."""
    audit = request.app.state.gateway.audit
    try:
        entry = audit.append(record)
    except AuditWriteError as exc:
        log.error("audit.write_failed", error=str(exc))
        raise ServiceUnavailable("the disclosure could not be audited, so nothing is released") from exc
    response.headers["X-Audit-Sequence"] = str(getattr(entry, "seq", ""))
    return response


def audited(request: Request, requester: Requester | None, interaction: str, body: dict[str, Any], *,
            filtered: Filtered | None = None, status: int = 200, headers: dict[str, str] | None = None,
            outcome: str = "disclosed", **extra: Any) -> Response:
    version = request.app.state.gateway.policies.engine.version
    record = audit_record(request, requester=requester, interaction=interaction, outcome=outcome, status=status,
                          policy_version=version, filtered=filtered, **extra)
    return commit_then(request, record, fhir_response(request, body, status, headers))
