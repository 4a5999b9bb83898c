"""The auditor's pages: search the disclosure log (a paged table), one record with its inclusion proof,
CSV export, a person's disclosure history (printable, for a subject access request), the break-glass
review queue, anomalies grouped by user and pattern, and the chain's status with "verify now".
Everything here needs the ``reads_audit`` capability; every look at the log is itself audited."""
from __future__ import annotations

import io
from collections import defaultdict
from typing import Any
from urllib.parse import urlencode

import orjson
import sqlalchemy as sa
from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from gateway.audit import anomalies, verify_proof
from gateway.audit import search as search_mod
from gateway.audit.formats import write_csv
from gateway.audit.log import entry_from_row
from gateway.audit.model import AuditEntry
from gateway.audit.tables import audit_checkpoint, audit_record
from gateway.console.session import Session
from gateway.console.web import ConsoleError, audit_access, form_with_csrf, parse_local, render, signed_in

router = APIRouter(prefix="/audit")
CAP = "reads_audit"
PAGE = 25
TEXT_FILTERS = ("nhs_number", "user", "org", "role", "purpose", "outcome")


def _filters(request: Request) -> tuple[dict[str, Any], dict[str, str]]:
    """The search filters from the query string (times in UK local time), and the form's values."""
    params = request.query_params
    values = {k: params.get(k, "").strip() for k in (*TEXT_FILTERS, "since", "until", "break_glass")}
    filters: dict[str, Any] = {k: values[k] for k in TEXT_FILTERS if values[k]}
    for name in ("since", "until"):
        if values[name]:
            filters[name] = parse_local(values[name])
    if values["break_glass"]:
        filters["needs_review"] = True
    return filters, values


def _search(request: Request, filters: dict[str, Any], offset: int, limit: int | None) -> list[AuditEntry]:
    query = search_mod.query(**filters, offset=offset, limit=limit)
    with request.app.state.gateway.audit.engine.connect() as conn:
        return [entry_from_row(r) for r in conn.execute(query)]


def _summary(entry: AuditEntry) -> dict[str, Any]:
    r = entry.record
    requester = r.get("requester") or {}
    items = r.get("items") or {}
    return {"seq": entry.seq, "time": entry.time, "user": requester.get("user"), "name": requester.get("name"),
            "role": requester.get("role"), "org": requester.get("org"), "purpose": r.get("purpose"),
            "interaction": r.get("interaction"), "outcome": r.get("outcome"), "status": r.get("status"),
            "type": r.get("type"), "justification": r.get("justification"),
            "nhs_numbers": [p.get("nhs_number") for p in r.get("patients") or [] if p.get("nhs_number")],
            "counts": {b: len(items.get(b) or []) for b in ("released", "redacted", "noticed", "hidden")},
            "obligations": r.get("obligations") or [], "reviewed_seq": r.get("reviewed_seq")}


@router.get("/")
async def search(request: Request) -> Response:
    session = signed_in(request, CAP)
    filters, values = _filters(request)
    offset = request.query_params.get("offset", "0")
    if not (offset.isascii() and offset.isdigit()):
        raise ConsoleError(400, "offset must be a non-negative integer")
    start = int(offset)
    entries = await run_in_threadpool(_search, request, filters, start, PAGE + 1)
    more = len(entries) > PAGE
    base = {k: v for k, v in values.items() if v}
    page = render(request, "audit/search.html", values=values, rows=[_summary(e) for e in entries[:PAGE]],
                  offset=start, page_size=PAGE,
                  next_href=("?" + urlencode({**base, "offset": start + PAGE})) if more else None,
                  prev_href=("?" + urlencode({**base, "offset": max(0, start - PAGE)})) if start else None,
                  csv_href="/console/audit/export.csv?" + urlencode(base),
                  person_href=("/console/audit/person?" + urlencode({"nhs_number": values["nhs_number"]}))
                  if values["nhs_number"] else None)
    return await run_in_threadpool(audit_access, request, session, "console.audit.search", page)


@router.get("/export.csv")
async def export_csv(request: Request) -> Response:
    session = signed_in(request, CAP)
    filters, _ = _filters(request)
    entries = await run_in_threadpool(_search, request, filters, 0, None)
    out = io.StringIO()
    write_csv(entries, out)
    response = Response(out.getvalue(), media_type="text/csv; charset=utf-8",
                        headers={"Content-Disposition": 'attachment; filename="audit-records.csv"',
                                 "Cache-Control": "no-store"})
    return await run_in_threadpool(audit_access, request, session, "console.audit.export-csv", response)


@router.get("/records/{seq}")
async def record_detail(seq: int, request: Request) -> Response:
    session = signed_in(request, CAP)
    log = request.app.state.gateway.audit
    entry = await run_in_threadpool(log.entry, seq)
    if entry is None:
        raise ConsoleError(404, f"no audit record {seq}")
    proof: dict[str, Any] | None = None
    problem: str | None = None
    try:
        proof = await run_in_threadpool(log.prove, seq)
    except LookupError as exc:  # pruned
        problem = str(exc)
    proof_ok = proof is not None and verify_proof(proof, log.public_key_pem())
    page = render(request, "audit/record.html", entry=entry, summary=_summary(entry),
                  body=orjson.dumps(entry.record, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS).decode(),
                  proof=proof, proof_ok=proof_ok, problem=problem,
                  proof_json=orjson.dumps(proof, option=orjson.OPT_INDENT_2).decode() if proof else "")
    return await run_in_threadpool(audit_access, request, session, f"console.audit.record {seq}", page)


@router.get("/person")
async def person(request: Request) -> Response:
    """A person's disclosure history: who saw what, when, for what purpose, and what was withheld."""
    session = signed_in(request, CAP)
    nhs_number = request.query_params.get("nhs_number", "").strip()
    rows = []
    if nhs_number:
        entries = await run_in_threadpool(_search, request, {"nhs_number": nhs_number}, 0, None)
        for e in entries:
            summary = _summary(e)
            items = e.record.get("items") or {}
            summary["seen"] = [i for b in ("released", "redacted") for i in items.get(b) or []]
            summary["withheld"] = items.get("noticed") or []  # hidden items are not listed (hidden means hidden)
            summary["withheld_hidden"] = len(items.get("hidden") or [])
            rows.append(summary)
    page = render(request, "audit/person.html", nhs_number=nhs_number, rows=rows)
    return await run_in_threadpool(audit_access, request, session, "console.audit.disclosure-history", page)


@router.get("/review")
async def review_queue(request: Request) -> Response:
    session = signed_in(request, CAP)
    entries = await run_in_threadpool(request.app.state.gateway.audit.review_queue)
    page = render(request, "audit/review.html", rows=[_summary(e) for e in entries], csrf=session.csrf,
                  message=request.query_params.get("message"))
    return await run_in_threadpool(audit_access, request, session, "console.audit.review-queue", page)


@router.post("/review/{seq}")
async def mark_reviewed(seq: int, request: Request) -> Response:
    session, form = await form_with_csrf(request, CAP)
    comment = str(form.get("comment", "")).strip()
    if not comment:
        raise ConsoleError(400, "a review needs a comment")
    log = request.app.state.gateway.audit
    try:
        review = await run_in_threadpool(log.mark_reviewed, seq, session.user, comment)
    except LookupError as exc:
        raise ConsoleError(409, str(exc)) from exc
    # the review is its own audit record (AuditLog.mark_reviewed appends it)
    return RedirectResponse("/console/audit/review?" + urlencode(
        {"message": f"Record {seq} reviewed (review record {review.seq})."}), status_code=303)


@router.get("/anomalies")
async def anomaly_page(request: Request) -> Response:
    """One line per user and pattern, not one per request."""
    session = signed_in(request, CAP)
    filters, values = _filters(request)
    entries = await run_in_threadpool(lambda: list(request.app.state.gateway.audit.iter_entries(
        **{k: v for k, v in filters.items() if k != "needs_review"})))
    grouped: dict[tuple[str, str | None], dict[str, Any]] = defaultdict(lambda: {"seqs": [], "details": []})
    for a in anomalies.report(entries):
        group = grouped[(a.kind, a.user)]
        group["seqs"].extend(a.seqs)
        group["details"].append(a.detail)
    ordered = sorted(grouped.items(), key=lambda kv: (kv[0][0], kv[0][1] or ""))
    groups = [{"kind": kind, "user": user, "seqs": sorted(set(g["seqs"])), "detail": g["details"][0],
               "occurrences": len(g["details"])} for (kind, user), g in ordered]
    page = render(request, "audit/anomalies.html", groups=groups, values=values)
    return await run_in_threadpool(audit_access, request, session, "console.audit.anomalies", page)


def _chain_status(request: Request) -> dict[str, Any]:
    engine = request.app.state.gateway.audit.engine
    with engine.connect() as conn:
        head = conn.execute(sa.select(sa.func.max(audit_record.c.seq), sa.func.count())).first()
        latest = conn.execute(sa.select(audit_checkpoint.c.body).order_by(audit_checkpoint.c.tree_size.desc(),
                                                                         audit_checkpoint.c.id.desc()).limit(1)).first()
    return {"head": head[0] if head else None, "count": head[1] if head else 0,
            "checkpoint": orjson.loads(latest.body) if latest is not None else None}


@router.get("/chain")
async def chain(request: Request) -> Response:
    session = signed_in(request, CAP)
    status = await run_in_threadpool(_chain_status, request)
    page = render(request, "audit/chain.html", chain=status, verification=None, csrf=session.csrf)
    return await run_in_threadpool(audit_access, request, session, "console.audit.chain", page)


@router.post("/chain/verify")
async def verify_now(request: Request) -> Response:
    session, _ = await form_with_csrf(request, CAP)
    return await _verified(request, session)


async def _verified(request: Request, session: Session) -> Response:
    log = request.app.state.gateway.audit
    verification = await run_in_threadpool(log.verify)
    status = await run_in_threadpool(_chain_status, request)
    page = render(request, "audit/chain.html", chain=status, verification=verification, csrf=session.csrf)
    return await run_in_threadpool(audit_access, request, session, "console.audit.verify", page)
