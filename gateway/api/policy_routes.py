"""IG tooling over HTTP for roles with `manages_policies`: the same functions as `gateway policy ...`.

check / test / explain / diff work on the policy directory on disk (what a reload would put live);
reload swaps it in only when it loads, proves its invariants and passes its IG tests; simulate shows real record
content to the IG officer, so it is audited like any other disclosure.
"""
from __future__ import annotations

import threading
from typing import Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from gateway.api.bodies import body_doc, json_body
from gateway.api.errors import BadRequest, NotFound
from gateway.api.respond import caller, commit_then, undecided_record
from gateway.api.responses import FhirJSONResponse, fhir_response
from gateway.api.roles import require, require_capability
from gateway.disclosure import relabel
from gateway.disclosure.analysis import UnknownPatient, corpus_diff, simulate_everything
from gateway.policy import PolicyEngine, PolicyError
from gateway.policy.conditions import Facts
from gateway.policy.diff import diff_policies
from gateway.policy.explain import explain
from gateway.policy.igtests import run_tests
from gateway.requester import Requester

# Authenticated and authorised before anything of the request is read (docs/security.md).
router = APIRouter(prefix="/policy", dependencies=[Depends(require("manages_policies"))])


def _json(body: Any, status: int = 200) -> Response:
    return FhirJSONResponse(body, status_code=status, media_type="application/json")


def _problems(exc: PolicyError) -> list[dict[str, Any]]:
    return [{"file": p.file, "line": p.line, "path": p.path, "problem": p.problem} for p in exc.problems]


def _candidate(request: Request) -> PolicyEngine:
    holder = request.app.state.gateway.policies
    return PolicyEngine.load(holder.directory)


async def _candidate_or_refusal(request: Request) -> PolicyEngine | Response:
    """The policy on disk, or the 422 that lists why it may not go live."""
    try:
        return await run_in_threadpool(_candidate, request)
    except PolicyError as exc:
        return _json({"ok": False, "in_force": request.app.state.gateway.policies.version,
                      "problems": _problems(exc)}, 422)


@router.get("")
def in_force(request: Request) -> Response:
    require_capability(request, "manages_policies")
    holder = request.app.state.gateway.policies
    return _json({"version": holder.version, "directory": str(holder.directory)})


@router.post("/check")
async def check(request: Request) -> Response:
    require_capability(request, "manages_policies")
    engine = await _candidate_or_refusal(request)
    if isinstance(engine, Response):
        return engine
    return _json({"ok": True, "version": engine.version})


@router.post("/test")
async def test(request: Request) -> Response:
    require_capability(request, "manages_policies")
    engine = await _candidate_or_refusal(request)
    if isinstance(engine, Response):
        return engine
    results = await run_in_threadpool(run_tests, engine)
    failed = [{"file": r.file, "name": r.name, "failures": r.failures} for r in results if not r.passed]
    return _json({"ok": not failed, "version": engine.version, "cases": len(results), "failed": failed},
                 200 if not failed else 422)


class ExplainQuery(BaseModel):
    role: str
    purpose: str
    category: str
    resource_type: str = ""
    facts: dict[str, bool] = Field(default_factory=dict)  # relationship, objection, consent_permits, ...


@router.post("/explain", openapi_extra=body_doc(ExplainQuery))
def explain_decision(request: Request, query: ExplainQuery = json_body(ExplainQuery)) -> Response:
    require_capability(request, "manages_policies")
    unknown = set(query.facts) - set(Facts._fields)
    if unknown:
        raise BadRequest(f"unknown fact(s) {sorted(unknown)}; known: {list(Facts._fields)}")
    engine = request.app.state.gateway.policies.engine
    if query.category not in engine.vocabulary.categories:
        raise BadRequest(f"unknown category {query.category!r}")
    result = explain(engine, query.role, query.purpose, query.category, Facts(**query.facts), query.resource_type)
    return _json({"version": engine.version, "effect": result.outcome.effect,
                  "rule_ids": list(result.outcome.rule_ids), "lines": result.lines()})


class SimulateQuery(BaseModel):
    role: str
    purpose: str
    org: str
    nhs_number: str
    team: str | None = None
    justification: str | None = None
    candidate: bool = False  # decide under the policy on disk (what a reload would put live), not the live one
    # Record content is shown only when asked for, with a reason; that look is audited at high level.
    show_content: bool = False
    reason: str | None = None


def _summary(record: dict[str, Any], bundle: dict[str, Any]) -> dict[str, Any]:
    """What a simulation shows by default: per item its id, categories, effect and rule ids — no content."""
    items = [{"ref": item.get("ref"), "effect": effect, "categories": item.get("categories", []),
              "rule_ids": item.get("rule_ids", []), **({"fields": item["fields"]} if "fields" in item else {})}
             for effect, bucket in (("release", "released"), ("redact", "redacted"), ("notice", "noticed"),
                                    ("hide", "hidden"))
             for item in record["items"].get(bucket, [])]
    body: dict[str, Any] = {"policy_version": record.get("policy_version"), "items": items,
                            "counts": {k: len(v) for k, v in record["items"].items()}}
    if bundle.get("resourceType") == "OperationOutcome":  # the request stage refused the simulated caller
        body["refused"] = [i.get("diagnostics") for i in bundle.get("issue", [])]
    return body


@router.post("/simulate", openapi_extra=body_doc(SimulateQuery))
def simulate(request: Request, query: SimulateQuery = json_body(SimulateQuery)) -> Response:
    ig_officer = require_capability(request, "manages_policies")
    if query.show_content and not (query.reason or "").strip():
        raise BadRequest("show_content needs a reason: showing record content to IG staff is audited with it")
    gw = request.app.state.gateway
    subject = Requester(user="simulation", name="policy simulation", role=query.role, org=query.org,
                        purpose=query.purpose, justification=query.justification, team=query.team)
    try:
        engine = _candidate(request) if query.candidate else None
        bundle, d = simulate_everything(gw.disclosure, subject, query.nhs_number, engine=engine)
    except PolicyError as exc:
        return _json({"ok": False, "in_force": gw.policies.version, "problems": _problems(exc)}, 422)
    except UnknownPatient as exc:
        raise NotFound(str(exc)) from exc
    # Audited either way, naming both the officer and the requester simulated, with the decisions the
    # simulation made. By default the answer is ids, categories, effects and rule ids; record content
    # only with a stated reason, audited with it at high level.
    shown = "content" if query.show_content else "summary"
    record = d.record(caller(request, f"policy.simulate ({shown}) as {query.role}/{query.purpose}@{query.org}"),
                      sent=d.decisions.released, outcome="simulated")
    record.update(requester={"user": ig_officer.user, "name": ig_officer.name, "role": ig_officer.role,
                             "org": ig_officer.org, "team": ig_officer.team},
                  purpose=ig_officer.purpose, justification=ig_officer.justification,
                  simulated_requester={"role": query.role, "org": query.org, "purpose": query.purpose,
                                       "team": query.team})
    if not query.show_content:
        return commit_then(request, record, FhirJSONResponse(_summary(record, bundle), media_type="application/json"))
    record.update(reason=query.reason, obligations=sorted({*record.get("obligations", []), "audit_level:high"}))
    return commit_then(request, record, fhir_response(request, bundle))


class DiffQuery(BaseModel):
    corpus: bool = True
    max_patients: int | None = None


@router.post("/diff", openapi_extra=body_doc(DiffQuery))
async def diff(request: Request, query: DiffQuery = json_body(DiffQuery)) -> Response:
    require_capability(request, "manages_policies")
    gw = request.app.state.gateway
    candidate = await _candidate_or_refusal(request)
    if isinstance(candidate, Response):
        return candidate
    current = gw.policies.engine
    combos = await run_in_threadpool(diff_policies, current, candidate)
    body: dict[str, Any] = {"old": current.version, "new": candidate.version, "combinations": [
        {"role": c.role, "purpose": c.purpose, "category": c.category, "resource_type": c.resource_type,
         "facts": {n: v for n, v in zip(Facts._fields, c.facts) if v}, "old": c.old_effect, "new": c.new_effect}
        for c in combos]}
    if query.corpus:
        result = await run_in_threadpool(lambda: corpus_diff(gw.disclosure, current, candidate,
                                                             max_patients=query.max_patients))
        body["corpus"] = {"items": result.items_checked, "decisions": result.decisions_compared,
                          "counts": [{"role": r, "purpose": p, "relationship": rel, "old": o, "new": n, "items": c}
                                     for (r, p, rel, o, n), c in sorted(result.counts.items())],
                          "examples": result.examples}
    return _json(body)


@router.post("/reload")
async def reload(request: Request) -> Response:
    """Put the directory's policy live — only if it loads, proves its invariants and passes its own IG tests.
    The publication (who, when, old → new version) is an audit record."""
    officer = require_capability(request, "manages_policies")
    holder = request.app.state.gateway.policies
    candidate = await _candidate_or_refusal(request)
    if isinstance(candidate, Response):
        return candidate
    failed = [{"file": r.file, "name": r.name, "failures": r.failures}
              for r in await run_in_threadpool(run_tests, candidate) if not r.passed]
    if failed:
        return _json({"ok": False, "in_force": holder.version, "failed_tests": failed}, 422)
    result, error = await run_in_threadpool(lambda: holder.try_reload(by=officer.user))
    if error is not None:
        return _json({"ok": False, "in_force": holder.version, "problems": _problems(error)}, 422)
    gw = request.app.state.gateway
    if result.changed:
        # The stored labels are a cache: bring them up to the new definitions in the background
        # (reads derive labels under the live policy meanwhile, so nothing waits for this).
        threading.Thread(target=relabel, args=(gw.store, holder.engine), name="relabel", daemon=True).start()
    body = {"ok": True, "changed": result.changed, "version": result.version, "previous": result.previous}
    record = undecided_record(request, officer, interaction="policy.reload", outcome="published" if result.changed
                              else "unchanged", status=200, policy_version=result.version, reason=None)
    record["policy_change"] = {"previous": result.previous, "version": result.version,
                               "directory": str(holder.directory)}
    return await run_in_threadpool(commit_then, request, record, _json(body))  # a durable commit: off the loop
