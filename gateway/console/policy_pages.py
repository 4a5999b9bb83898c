"""The IG officer's pages: the policy as tables, explanations, simulation on a real record, the corpus
diff in words, and publication under the two-person rule (propose → a different officer approves →
published for every gateway process), with the version history. Everything here needs the
``manages_policies`` capability; every action is an audit record."""
from __future__ import annotations

import shutil
import tempfile
import threading
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import orjson
import sqlalchemy as sa
from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from gateway.audit import AuditWriteError
from gateway.console.session import Session
from gateway.console.web import ConsoleError, audited, form_with_csrf, record_for, render, signed_in
from gateway.disclosure import Caller, relabel
from gateway.disclosure.analysis import UnknownPatient, corpus_diff, simulate_everything
from gateway.policy import PolicyEngine, PolicyError
from gateway.policy.conditions import FACT_NAMES, Facts
from gateway.policy.diff import diff_policies
from gateway.policy.explain import explain
from gateway.policy.igtests import run_tests
from gateway.policy.loader import content_hash
from gateway.policy.proposals import PolicyProposals, Proposal, ProposalError
from gateway.policy.publication import files_hash, policy_publication, read_files
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
def _report(directory: Path) -> dict[str, Any]:
    """Does the policy in ``directory`` load, prove its invariants and pass its own IG tests?"""
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


def _candidate_report(request: Request) -> dict[str, Any]:
    return _report(request.app.state.gateway.policies.directory)


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
        return list(conn.execute(sa.select(c.id, c.version, c.published_at, c.published_by)
                                 .order_by(c.id.desc()).limit(50)))


def _publication_files(request: Request, publication_id: int) -> tuple[str, dict[str, str]]:
    with request.app.state.gateway.engine.connect() as conn:
        row = conn.execute(sa.select(policy_publication.c.version, policy_publication.c.files)
                           .where(policy_publication.c.id == publication_id)).first()
    if row is None:
        raise ConsoleError(404, f"no publication {publication_id}")
    return str(row.version), orjson.loads(row.files)


def _materialise(request: Request, name: str, version: str, files: dict[str, str]) -> Path:
    """Policy files kept in the database (a proposal, a publication) as a directory to load."""
    if files_hash(files) != version:
        raise ConsoleError(409, f"{name}: its stored files do not hash to {version}")
    cache = Path(request.app.state.gateway.settings.policy_cache_dir)
    cache.mkdir(parents=True, exist_ok=True)
    target = Path(tempfile.mkdtemp(prefix=f"{name}-", dir=cache))
    for rel, text in files.items():
        path = target / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(text.encode("utf-8"))
    return target


@router.get("/publish")
async def publish_page(request: Request) -> Response:
    session = signed_in(request, CAP)
    try:
        settled = await run_in_threadpool(_settle, request, session)
    except AuditWriteError as exc:
        raise ConsoleError(503, "an interrupted approval could not be audited, so nothing is shown") from exc
    report = await run_in_threadpool(_candidate_report, request)
    return render(request, "policy/publish.html", report=report, proposals=_proposals(request).list(),
                  history=_history(request), csrf=session.csrf, message=request.query_params.get("message"),
                  settled=settled)


def _back(message: str) -> RedirectResponse:
    return RedirectResponse("/console/policy/publish?" + urlencode({"message": message}), status_code=303)


def _comment(form: Any, what: str) -> str:
    comment = str(form.get("comment", "")).strip()
    if not comment:
        raise ConsoleError(400, f"a {what} needs a comment saying what changes and why")
    return comment


def _proposed(request: Request, session: Session, proposal: Proposal, interaction: str) -> Response:
    record = record_for(request, session, interaction, outcome="proposed",
                        policy_proposal={"id": proposal.id, "kind": proposal.kind, "version": proposal.version,
                                         "previous": proposal.previous, "comment": proposal.comment})
    return audited(request, record, _back(f"Proposal {proposal.id} recorded; a different IG officer must approve it."))


@router.post("/proposals")
async def propose(request: Request) -> Response:
    """Propose the policy on disk as it is now (a copy of its files is what will be published)."""
    session, form = await form_with_csrf(request, CAP)
    comment = _comment(form, "proposal")
    gw = request.app.state.gateway
    files = read_files(gw.policies.directory)
    snapshot = await run_in_threadpool(_materialise, request, "check", files_hash(files), files)
    try:
        report = await run_in_threadpool(_report, snapshot)
    finally:
        shutil.rmtree(snapshot, ignore_errors=True)
    if not report["ok"]:
        raise ConsoleError(422, "the policy on disk cannot be proposed: it does not load, or fails its IG tests "
                                "(see the publish page)")
    proposal = _proposals(request).propose(files, report["version"], gw.policies.version, session.user, comment)
    return _proposed(request, session, proposal, "console.policy.propose")


@router.post("/rollback/{publication_id}")
async def propose_rollback(publication_id: int, request: Request) -> Response:
    """Propose going back to an earlier published version (approved like any other proposal)."""
    session, form = await form_with_csrf(request, CAP)
    comment = _comment(form, "rollback")
    gw = request.app.state.gateway
    version, files = _publication_files(request, publication_id)
    if version == gw.policies.version:
        raise ConsoleError(409, "that version is the one in force")
    proposal = _proposals(request).propose(files, version, gw.policies.version, session.user,
                                           f"Roll back to publication {publication_id}: {comment}", kind="rollback")
    return _proposed(request, session, proposal, "console.policy.propose-rollback")


def _publish(request: Request, proposal: Proposal, by: str) -> Any:
    """Publish exactly the proposed files — checked and tested again — for every gateway process; the
    policy directory on disk stays the IG officers' working copy."""
    gw = request.app.state.gateway
    holder = gw.policies
    files = _proposals(request).files(proposal.id)
    directory = _materialise(request, f"proposal-{proposal.id}", proposal.version, files)
    try:
        report = _report(directory)
        if not report["ok"]:
            raise ConsoleError(422, f"proposal {proposal.id} no longer loads or passes its IG tests; reject it")
        result, error = holder.try_reload(directory, by=by, adopt_directory=False)
    finally:
        shutil.rmtree(directory, ignore_errors=True)  # published: its files are in the database now
    if error is not None:
        raise ConsoleError(422, f"the proposed policy did not load: {error}")
    if result.changed:
        threading.Thread(target=relabel, args=(gw.store, holder.engine), name="relabel", daemon=True).start()
    return result


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
    if status != "approved":
        try:
            decided = proposals.decide(proposal_id, session.user, status, comment)
        except ProposalError as exc:
            raise ConsoleError(409, str(exc)) from exc
        record = record_for(request, session, f"console.policy.{decision}", outcome=status,
                            policy_proposal=_described(decided, status))
        return await run_in_threadpool(audited, request, record, _back(f"Proposal {decided.id} {status}."))
    # Approve: claim (pending → publishing), publish (live for every process), only then complete
    # (publishing → approved). A failed publication releases the claim; an interruption after the
    # publication leaves "publishing", which settle() completes (gateway/policy/proposals.py).
    try:
        proposals.claim(proposal_id, session.user, comment)
    except ProposalError as exc:
        raise ConsoleError(409, str(exc)) from exc
    try:
        result = await run_in_threadpool(_publish, request, proposal, session.user)
    except BaseException:
        proposals.release(proposal_id)
        raise
    decided = await run_in_threadpool(proposals.complete, proposal_id)
    publication = {"previous": result.previous, "version": result.version, "changed": result.changed,
                   "proposal": proposal.id, "kind": proposal.kind}
    record = record_for(request, session, "console.policy.approve", outcome=_approved_outcome(decided, publication),
                        policy_proposal=_described(decided, "approved"), policy_change=publication)
    message = f"Proposal {decided.id} approved and published: version {decided.version[:19]}… is in force."
    return await run_in_threadpool(audited, request, record, _back(message))


def _described(p: Proposal, decision: str) -> dict[str, Any]:
    return {"id": p.id, "kind": p.kind, "version": p.version, "proposed_by": p.proposed_by, "comment": p.comment,
            "decision": decision, "decided_by": p.decided_by, "decision_comment": p.decision_comment}


def _approved_outcome(p: Proposal, publication: dict[str, Any]) -> str:
    if not publication["changed"]:
        return "approved"
    return "rolled-back" if p.kind == "rollback" else "published"


def _settle(request: Request, session: Session) -> list[str]:
    """Finish approvals an interruption left half-done (each an audit record naming who found it)."""
    notes = []
    for proposal, completed in _proposals(request).settle():
        if completed:
            publication = {"version": proposal.version, "proposal": proposal.id, "kind": proposal.kind,
                           "previous": proposal.previous, "changed": True, "recovered": True}
            record = record_for(request, session, "console.policy.approve", outcome=_approved_outcome(
                proposal, publication), policy_proposal=_described(proposal, "approved"), policy_change=publication)
            notes.append(f"Proposal {proposal.id} was published when approved by {proposal.decided_by}, but the "
                         "approval was not recorded then; it is now.")
        else:
            record = record_for(request, session, "console.policy.approve", outcome="not-published",
                                policy_proposal=_described(proposal, "pending"))
            notes.append(f"Proposal {proposal.id}'s approval by {proposal.decided_by} was interrupted before it "
                         "was published; it is pending again.")
        request.app.state.gateway.disclosure.commit(record)
    return notes


# -- a version's diff against the one published before it ---------------------------------------------------
def _words(c: Any) -> str:
    facts = ", ".join(n.replace("_", " ") for n, v in zip(FACT_NAMES, c.facts) if v) or "no facts"
    rtype = f" on {c.resource_type}" if c.resource_type else ""
    return (f"{c.role.replace('_', ' ')} · {c.purpose.replace('_', ' ')} · {c.category}{rtype} ({facts}) · "
            f"{c.old_effect} → {c.new_effect}")


def _version_diff(request: Request, publication_id: int) -> dict[str, Any]:
    with request.app.state.gateway.engine.connect() as conn:
        c = policy_publication.c
        earlier = conn.execute(sa.select(c.id).where(c.id < publication_id).order_by(c.id.desc()).limit(1)).first()
    version, files = _publication_files(request, publication_id)
    directories = [_materialise(request, f"publication-{publication_id}", version, files)]
    try:
        new = PolicyEngine.load(directories[0])
        if earlier is None:
            return {"id": publication_id, "version": version, "previous": None, "changes": [], "total": 0}
        old_version, old_files = _publication_files(request, int(earlier.id))
        directories.append(_materialise(request, f"publication-{earlier.id}", old_version, old_files))
        changes = diff_policies(PolicyEngine.load(directories[1]), new)
    finally:
        for d in directories:
            shutil.rmtree(d, ignore_errors=True)
    return {"id": publication_id, "version": version, "previous": {"id": int(earlier.id), "version": old_version},
            "changes": [_words(ch) for ch in changes[:500]], "total": len(changes)}


@router.get("/versions/{publication_id}")
async def version_page(publication_id: int, request: Request) -> Response:
    session = signed_in(request, CAP)
    diff = await run_in_threadpool(_version_diff, request, publication_id)
    return render(request, "policy/version.html", diff=diff, csrf=session.csrf)


# -- editing a policy file in the browser, checked before it is saved --------------------------------------
def _editable(directory: Path) -> list[str]:
    return sorted(rel for rel in read_files(directory) if rel.endswith((".yaml", ".yml")))


def _check_edit(directory: Path, rel: str, text: str) -> dict[str, Any]:
    """The policy directory with ``rel`` replaced by ``text``: does it load, prove its invariants and pass
    its IG tests? Problems carry the file and line, as ``gateway policy check`` prints them."""
    files = read_files(directory)
    files[rel] = text
    scratch = Path(tempfile.mkdtemp(prefix="edit-"))
    try:
        for name, content in files.items():
            path = scratch / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(content.encode("utf-8"))
        report = _report(scratch)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    for problem in report["problems"]:
        problem["file"] = str(problem["file"]).replace(str(scratch) + "/", "")
    report["engine"] = None
    return report


def _edit_page(request: Request, session: Session, rel: str, text: str, report: dict[str, Any] | None,
               message: str | None = None, status: int = 200) -> Response:
    lines = text.splitlines()
    marked = sorted({int(p["line"]) for p in (report or {}).get("problems", [])
                     if p.get("line") and str(p.get("file", "")).endswith(rel)})
    excerpts = [{"line": n, "text": lines[n - 1] if 0 < n <= len(lines) else ""} for n in marked]
    files = _editable(request.app.state.gateway.policies.directory)
    return render(request, "policy/edit.html", status=status, files=files, file=rel, text=text, report=report,
                  excerpts=excerpts, csrf=session.csrf, message=message)


@router.get("/edit")
def edit_form(request: Request) -> Response:
    session = signed_in(request, CAP)
    directory = request.app.state.gateway.policies.directory
    files = _editable(directory)
    rel = request.query_params.get("file") or files[0]
    if rel not in files:
        raise ConsoleError(404, f"no policy file {rel!r}")
    return _edit_page(request, session, rel, (directory / rel).read_text(encoding="utf-8"), None,
                      request.query_params.get("message"))


@router.post("/edit")
async def edit(request: Request) -> Response:
    """``check``: show what ``policy check`` and the IG tests say about the edited text, at the line.
    ``save``: write it to the policy directory — only when it loads and proves its invariants (failing IG
    tests are shown, and block proposing it, not saving: a rule change and its test change are two saves)."""
    session, form = await form_with_csrf(request, CAP)
    gw = request.app.state.gateway
    directory = gw.policies.directory
    rel = str(form.get("file", ""))
    if rel not in _editable(directory):
        raise ConsoleError(404, f"no policy file {rel!r}")
    text = str(form.get("text", "")).replace("\r\n", "\n")
    report = await run_in_threadpool(_check_edit, directory, rel, text)
    if form.get("action") != "save":
        return _edit_page(request, session, rel, text, report)
    if report["problems"]:
        return _edit_page(request, session, rel, text, report, status=422,
                          message="Not saved: the policy would not load (see the problems below).")
    before = content_hash(directory)
    path = directory / rel
    staging = path.with_name(f".{path.name}.console-edit")
    staging.write_bytes(text.encode("utf-8"))
    staging.replace(path)  # atomic: a reader sees the old file or the new one
    record = record_for(request, session, "console.policy.edit", outcome="edited",
                        policy_edit={"file": rel, "before": before, "after": content_hash(directory)})
    return audited(request, record, RedirectResponse("/console/policy/edit?" + urlencode(
        {"file": rel, "message": f"Saved {rel}. Check the corpus diff, then propose it for publication."}),
        status_code=303))
