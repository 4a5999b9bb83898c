"""IG tooling over HTTP for roles with `manages_policies`: the same functions as `gateway policy ...`.

check / test / explain / diff work on the policy directory on disk (what a reload would put live);
reload swaps it in only when it loads, proves its invariants and passes its IG tests; simulate shows real record
content to the IG officer, so it is audited like any other disclosure.
"""
from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from gateway.api.bodies import body_doc, json_body
from gateway.api.disclosure import audited
from gateway.api.errors import BadRequest, NotFound
from gateway.api.responses import FhirJSONResponse
from gateway.api.roles import require_capability
from gateway.api.security import require
from gateway.policy import PolicyEngine, PolicyError
from gateway.policy.conditions import Facts
from gateway.policy.explain import explain
from gateway.policy.igtests import run_tests

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
    # Record content is shown only when asked for, with a reason; that look is audited at high level.
    show_content: bool = False
    reason: str | None = None


def _summary(bundle: dict[str, Any], filtered: Any, engine: PolicyEngine) -> dict[str, Any]:
    """What a simulation shows by default: per item its id, categories, effect and rule ids — no content."""
    items = [{"ref": item["ref"], "effect": effect, "categories": item.get("categories", []),
              "rule_ids": item.get("rule_ids", []), **({"fields": item["fields"]} if "fields" in item else {})}
             for effect, bucket in (("release", "released"), ("redact", "redacted"), ("notice", "noticed"),
                                    ("hide", "hidden"))
             for item in filtered.audit_items.get(bucket, [])]
    body: dict[str, Any] = {"policy_version": engine.version, "items": items,
                            "counts": {k: len(v) for k, v in filtered.audit_items.items()}}
    if bundle.get("resourceType") == "OperationOutcome":  # the request stage refused the simulated caller
        body["refused"] = [i.get("diagnostics") for i in bundle.get("issue", [])]
    return body


@router.post("/simulate", openapi_extra=body_doc(SimulateQuery))
def simulate(request: Request, query: SimulateQuery = json_body(SimulateQuery)) -> Response:
    from gateway.ig import UnknownPatient, simulate_everything
    from gateway.requester import Requester

    ig_officer = require_capability(request, "manages_policies")
    if query.show_content and not (query.reason or "").strip():
        raise BadRequest("show_content needs a reason: showing record content to IG staff is audited with it")
    gw = request.app.state.gateway
    subject = Requester(user="simulation", name="policy simulation", role=query.role, org=query.org,
                        purpose=query.purpose, justification=query.justification, team=query.team)
    try:
        bundle, filtered = simulate_everything(gw.policies.engine, gw.store, subject, query.nhs_number)
    except UnknownPatient as exc:
        raise NotFound(str(exc)) from exc
    interaction = f"policy.simulate as {query.role}/{query.purpose}@{query.org}"
    if not query.show_content:
        # Ids, categories, effects and rule ids only: still audited (it names the person's items).
        return audited(request, ig_officer, interaction + " (summary)", _summary(bundle, filtered, gw.policies.engine),
                       filtered=filtered)
    # Real record content, with the stated reason: audited at high level, the simulated requester named.
    return audited(request, ig_officer, interaction + " (content)", bundle, filtered=filtered,
                   reason=query.reason, obligations={"audit_level:high"})


class DiffQuery(BaseModel):
    corpus: bool = True
    max_patients: int | None = None


@router.post("/diff", openapi_extra=body_doc(DiffQuery))
async def diff(request: Request, query: DiffQuery = json_body(DiffQuery)) -> Response:
    from gateway.ig import corpus_diff
    from gateway.policy.diff import diff_policies

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
        result = await run_in_threadpool(lambda: corpus_diff(current, candidate, gw.store,
                                                             max_patients=query.max_patients))
        body["corpus"] = {"items": result.items_checked, "decisions": result.decisions_compared,
                          "counts": [{"role": r, "purpose": p, "relationship": rel, "old": o, "new": n, "items": c}
                                     for (r, p, rel, o, n), c in sorted(result.counts.items())],
                          "examples": result.examples}
    return _json(body)


@router.post("/reload")
async def reload(request: Request) -> Response:
    """Put the directory's policy live — only if it loads, proves its invariants and passes its own IG tests."""
    require_capability(request, "manages_policies")
    holder = request.app.state.gateway.policies
    candidate = await _candidate_or_refusal(request)
    if isinstance(candidate, Response):
        return candidate
    failed = [{"file": r.file, "name": r.name, "failures": r.failures}
              for r in await run_in_threadpool(run_tests, candidate) if not r.passed]
    if failed:
        return _json({"ok": False, "in_force": holder.version, "failed_tests": failed}, 422)
    result, error = await run_in_threadpool(holder.try_reload)
    if error is not None:
        return _json({"ok": False, "in_force": holder.version, "problems": _problems(error)}, 422)
    return _json({"ok": True, "changed": result.changed, "version": result.version, "previous": result.previous})
