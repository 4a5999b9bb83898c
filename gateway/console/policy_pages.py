"""The IG officer's pages: the policy as tables, explanations, simulation on a real record, the corpus
diff in words, and publication under the two-person rule (propose → a different officer approves →
published for every gateway process), with the version history. Everything here needs the
``manages_policies`` capability; every action is an audit record."""
from __future__ import annotations

import threading
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from gateway.console.web import ConsoleError, audited, form_with_csrf, record_for, render, signed_in
from gateway.disclosure import Caller, relabel
from gateway.disclosure.analysis import UnknownPatient, corpus_diff, simulate_everything
from gateway.policy import PolicyEngine, PolicyError
from gateway.policy.conditions import FACT_NAMES, Facts
from gateway.policy.explain import explain
from gateway.policy.igtests import run_tests
from gateway.policy.loader import content_hash
from gateway.policy.proposals import PolicyProposals, ProposalError
from gateway.policy.publication import policy_publication, read_files
from gateway.requester import Requester

router = APIRouter(prefix="/policy")
CAP = "manages_policies"
EFFECTS = ("release", "redact", "notice", "hide")


def _proposals(request: Request) -> PolicyProposals:
    return PolicyProposals(request.app.state.gateway.engine)


def _facts(request: Request, defaults: bool) -> Facts:
    params = request.query_params
    if defaults and "set" not in params:  # first visit: a caller in the care team, with a justification
        return Facts(relationship=True, justification=True)
    return Facts(**{name: params.get(name) == "1" for name in FACT_NAMES})


def _categories(engine: PolicyEngine) -> list[Any]:
    """Every category with its field groups right after it."""
    vocab = engine.vocabulary
    rows = []
    for cat in vocab.categories.values():
        if cat.part_of is None:
            rows.append(cat)
            rows.extend(vocab.field_groups.get(cat.name, ()))
    return rows


def _explain_link(role: str, purpose: str, category: str, facts: Facts) -> str:
    query = {"role": role, "purpose": purpose, "category": category, "set": "1",
             **{n: "1" for n, v in zip(FACT_NAMES, facts) if v}}
    return "/console/policy/explain?" + urlencode(query)


@router.get("/")
def matrix(request: Request) -> Response:
    signed_in(request, CAP)
    engine = request.app.state.gateway.policies.engine
    purposes = engine.vocabulary.purposes
    purpose = request.query_params.get("purpose") or next(iter(purposes))
    if purpose not in purposes:
        raise ConsoleError(400, f"unknown purpose {purpose!r}")
    facts = _facts(request, defaults=True)
    roles = sorted(purposes[purpose].roles)
    refused = {r: engine._check_request(r, purpose, facts.justification, facts.own_record) for r in roles}
    rows = []
    for cat in _categories(engine):
        cells = []
        for role in roles:
            if not refused[role].allowed:
                cells.append({"effect": "refused", "rules": refused[role].reason,
                              "href": _explain_link(role, purpose, cat.name, facts)})
                continue
            outcome = engine.outcome(role, purpose, cat.name, facts)
            cells.append({"effect": outcome.effect, "rules": ", ".join(outcome.rule_ids),
                          "href": _explain_link(role, purpose, cat.name, facts)})
        rows.append({"category": cat, "cells": cells})
    return render(request, "policy/matrix.html", purposes=purposes, purpose=purpose, roles=roles, rows=rows,
                  facts=facts._asdict(), fact_names=FACT_NAMES)


@router.get("/explain")
def explain_page(request: Request) -> Response:
    signed_in(request, CAP)
    engine = request.app.state.gateway.policies.engine
    params = request.query_params
    role, purpose, category = params.get("role", ""), params.get("purpose", ""), params.get("category", "")
    vocab = engine.vocabulary
    if role not in vocab.roles or purpose not in vocab.purposes or category not in vocab.categories:
        raise ConsoleError(400, "choose a known role, purpose and category")
    result = explain(engine, role, purpose, category, _facts(request, defaults=False),
                     params.get("resource_type", ""))
    return render(request, "policy/explain.html", result=result, fact_names=FACT_NAMES)


# -- simulation ---------------------------------------------------------------------------------------------
@router.get("/simulate")
def simulate_form(request: Request) -> Response:
    session = signed_in(request, CAP)
    vocab = request.app.state.gateway.policies.engine.vocabulary
    return render(request, "policy/simulate.html", vocab=vocab, form={}, result=None, csrf=session.csrf)


def _buckets(record: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    return {name: record["items"].get(name, []) for name in ("released", "redacted", "noticed", "hidden")}


def _notices(bundle: dict[str, Any]) -> list[str]:
    outcomes = [e["resource"] for e in bundle.get("entry", [])
                if (e.get("search") or {}).get("mode") == "outcome"]
    if bundle.get("resourceType") == "OperationOutcome":
        outcomes = [bundle]
    return [str((i.get("details") or {}).get("text") or i.get("diagnostics", ""))
            for o in outcomes for i in o.get("issue", [])]


@router.post("/simulate")
async def simulate(request: Request) -> Response:
    session, form = await form_with_csrf(request, CAP)
    gw = request.app.state.gateway
    vocab = gw.policies.engine.vocabulary
    values = {k: str(form.get(k, "")).strip() for k in ("role", "purpose", "org", "team", "nhs_number",
                                                          "justification", "candidate")}
    if values["role"] not in vocab.roles or values["purpose"] not in vocab.purposes:
        raise ConsoleError(400, "choose a known role and purpose")
    if not values["org"] or not values["nhs_number"]:
        raise ConsoleError(400, "an organisation (ODS code) and an NHS number are needed")
    subject = Requester(user="simulation", name="policy simulation", role=values["role"], org=values["org"],
                        purpose=values["purpose"], justification=values["justification"] or None,
                        team=values["team"] or None)

    def run() -> tuple[dict[str, Any], Any]:
        engine = PolicyEngine.load(gw.policies.directory) if values["candidate"] else None
        return simulate_everything(gw.disclosure, subject, values["nhs_number"], engine=engine)

    try:
        bundle, d = await run_in_threadpool(run)
    except PolicyError as exc:
        raise ConsoleError(422, f"the policy on disk does not load: {exc}") from exc
    except UnknownPatient as exc:
        return render(request, "policy/simulate.html", status=404, vocab=vocab, form=values, result=None,
                      csrf=session.csrf, problem=str(exc))
    # Real record content is shown to the officer: audited like the /policy/simulate API.
    interaction = f"console.policy.simulate as {subject.role}/{subject.purpose}@{subject.org}"
    record = d.record(Caller(interaction, getattr(request.state, "request_id", None), None, "console"),
                      sent=d.decisions.released, outcome="simulated")
    requester = session.requester()
    record.update(requester={"user": requester.user, "name": requester.name, "role": requester.role,
                             "org": requester.org, "team": requester.team},
                  purpose=requester.purpose, justification=None, client="console",
                  simulated_requester={"role": subject.role, "org": subject.org, "purpose": subject.purpose,
                                       "team": subject.team})
    page = render(request, "policy/simulate.html", vocab=vocab, form=values, csrf=session.csrf,
                  result={"buckets": _buckets(record), "notices": _notices(bundle), "version": d.version,
                          "refused": None if d.request.allowed else d.request.reason})
    return await run_in_threadpool(audited, request, record, page)


# -- the policy on disk: check, tests, corpus diff ----------------------------------------------------------
def _candidate_report(request: Request) -> dict[str, Any]:
    gw = request.app.state.gateway
    directory = gw.policies.directory
    try:
        engine = PolicyEngine.load(directory)
    except PolicyError as exc:
        return {"ok": False, "version": content_hash(directory), "engine": None,
                "problems": [{"file": p.file, "line": p.line, "path": p.path, "problem": p.problem}
                             for p in exc.problems], "failed": [], "cases": 0}
    results = run_tests(engine)
    failed = [{"file": r.file, "name": r.name, "failures": r.failures} for r in results if not r.passed]
    return {"ok": not failed, "version": engine.version, "engine": engine, "problems": [], "failed": failed,
            "cases": len(results)}


@router.get("/diff")
async def diff_page(request: Request) -> Response:
    session = signed_in(request, CAP)
    gw = request.app.state.gateway
    report = await run_in_threadpool(_candidate_report, request)
    result = None
    if report["engine"] is not None and report["version"] != gw.policies.version:
        current = gw.policies.engine
        result = await run_in_threadpool(lambda: corpus_diff(gw.disclosure, current, report["engine"],
                                                             max_patients=200, max_examples=300))
    page = render(request, "policy/diff.html", report=report, result=result, csrf=session.csrf)
    # the examples name stored items (what changes for whom): audited as a look at record metadata
    record = record_for(request, session, "console.policy.diff", candidate=report["version"])
    return await run_in_threadpool(audited, request, record, page)


# -- publication: propose → approve (a different officer) → published --------------------------------------
def _history(request: Request) -> list[Any]:
    with request.app.state.gateway.engine.connect() as conn:
        c = policy_publication.c
        return list(conn.execute(policy_publication.select().with_only_columns(
            c.id, c.version, c.published_at, c.published_by, c.source).order_by(c.id.desc()).limit(50)))


@router.get("/publish")
async def publish_page(request: Request) -> Response:
    session = signed_in(request, CAP)
    report = await run_in_threadpool(_candidate_report, request)
    return render(request, "policy/publish.html", report=report, proposals=_proposals(request).list(),
                  history=_history(request), csrf=session.csrf, message=request.query_params.get("message"))


def _back(message: str) -> RedirectResponse:
    return RedirectResponse("/console/policy/publish?" + urlencode({"message": message}), status_code=303)


@router.post("/proposals")
async def propose(request: Request) -> Response:
    session, form = await form_with_csrf(request, CAP)
    comment = str(form.get("comment", "")).strip()
    if not comment:
        raise ConsoleError(400, "a proposal needs a comment saying what changes and why")
    gw = request.app.state.gateway
    report = await run_in_threadpool(_candidate_report, request)
    if not report["ok"]:
        raise ConsoleError(422, "the policy on disk cannot be proposed: it does not load, or fails its IG tests "
                                "(see the publish page)")
    files = read_files(gw.policies.directory)
    if content_hash(gw.policies.directory) != report["version"]:
        raise ConsoleError(409, "the policy files changed while they were being checked; try again")
    proposal = _proposals(request).propose(files, report["version"], gw.policies.version, session.user, comment)
    record = record_for(request, session, "console.policy.propose", outcome="proposed",
                        policy_proposal={"id": proposal.id, "version": proposal.version,
                                         "previous": proposal.previous, "comment": proposal.comment})
    return audited(request, record, _back(f"Proposal {proposal.id} recorded; a different IG officer must approve it."))


def _publish(request: Request, proposal_id: int, by: str) -> tuple[Any, str]:
    """Publish exactly what was proposed: the files on disk must still be the proposed version."""
    gw = request.app.state.gateway
    holder = gw.policies
    proposal = _proposals(request).get(proposal_id)
    if proposal is None:
        raise ConsoleError(404, f"no proposal {proposal_id}")
    if content_hash(holder.directory) != proposal.version:
        raise ConsoleError(409, f"the policy on disk is no longer the proposed version {proposal.version[:19]}…; "
                                "reject this proposal and propose the files as they are now")
    result, error = holder.try_reload(holder.directory, by=by)
    if error is not None:
        raise ConsoleError(422, f"the proposed policy did not load: {error}")
    if result.changed:
        threading.Thread(target=relabel, args=(gw.store, holder.engine), name="relabel", daemon=True).start()
    return result, proposal.version


@router.post("/proposals/{proposal_id}/{decision}")
async def decide(proposal_id: int, decision: str, request: Request) -> Response:
    session, form = await form_with_csrf(request, CAP)
    status = {"approve": "approved", "reject": "rejected", "withdraw": "withdrawn"}.get(decision)
    if status is None:
        raise ConsoleError(404, "no such decision")
    proposals = _proposals(request)
    proposal = proposals.get(proposal_id)
    if proposal is None:
        raise ConsoleError(404, f"no proposal {proposal_id}")
    comment = str(form.get("comment", "")).strip() or None
    try:
        proposals.check_decision(proposal, session.user, status)
    except ProposalError as exc:
        record = record_for(request, session, f"console.policy.{decision}", outcome="refused", status=409,
                            reason=str(exc), policy_proposal={"id": proposal.id, "version": proposal.version})
        return audited(request, record, render(request, "error.html", status=409, message=str(exc)))
    publication = None
    if status == "approved":
        # re-check and publish first (tests too): a proposal is marked approved only once it is live
        report = await run_in_threadpool(_candidate_report, request)
        if not report["ok"]:
            raise ConsoleError(422, "the policy on disk no longer passes its checks and IG tests")
        result, version = await run_in_threadpool(_publish, request, proposal_id, session.user)
        publication = {"previous": result.previous, "version": result.version, "changed": result.changed}
    try:
        decided = proposals.decide(proposal_id, session.user, status, comment)
    except ProposalError as exc:
        raise ConsoleError(409, str(exc)) from exc
    extra: dict[str, Any] = {"policy_proposal": {"id": decided.id, "version": decided.version,
                                                 "proposed_by": decided.proposed_by, "comment": decided.comment,
                                                 "decision": status, "decision_comment": decided.decision_comment}}
    if publication is not None:
        extra["policy_change"] = {**publication, "directory": str(request.app.state.gateway.policies.directory),
                                  "proposal": decided.id}
    outcome = "published" if publication and publication["changed"] else status
    record = record_for(request, session, f"console.policy.{decision}", outcome=outcome, **extra)
    message = (f"Proposal {decided.id} approved and published: version {decided.version[:19]}… is in force."
               if status == "approved" else f"Proposal {decided.id} {status}.")
    return await run_in_threadpool(audited, request, record, _back(message))
