"""Run the IG-written policy tests (``<policy dir>/tests/*.yaml``) against an engine.

A case gives a requester, an abstract patient state (relationship, objections, consents,
opt-out) and an item (categories or a whole resource) and says what must happen. A matrix is the
same thing in the shape of docs/policy.md: roles across, categories down, R/D/N/H cells.
"""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from gateway.policy.engine import PolicyEngine
from gateway.policy.model import (
    CareTeamMember,
    ConsentDirective,
    Item,
    ItemDecision,
    PatientContext,
    RequestDecision,
)
from gateway.policy.redact import apply_redaction
from gateway.policy.selectors import compile_selector
from gateway.requester import Requester

LETTERS = {"R": "release", "D": "redact", "N": "notice", "H": "hide"}
DEFAULT_ORG = "REQ01"
HOLDER = {"org": "HOLD1", "team": "HOLD-TEAM", "name": "Holding Team", "phone": "0161 555 0000",
          "email": "holding.team@example.org"}
NHS_NUMBER = "9434765919"


@dataclass
class CaseResult:
    file: str
    name: str
    failures: list[str] = field(default_factory=list)
    decision: ItemDecision | None = None
    proves: tuple[str, ...] = ()

    @property
    def passed(self) -> bool:
        return not self.failures


def build_requester(data: dict[str, Any]) -> Requester:
    return Requester(user=data.get("user", "ig-test"), name="IG test", role=data["role"],
                     org=data.get("org", DEFAULT_ORG), purpose=data["purpose"],
                     justification=data.get("justification"), patient=data.get("patient"), team=data.get("team"))


def build_patient(data: dict[str, Any] | None, requester: Requester) -> PatientContext:
    data = data or {}
    holder = data.get("holder") or HOLDER
    team = [CareTeamMember("holder", holder.get("org"), holder.get("team"), holder.get("name"), holder.get("phone"),
                           holder.get("email"))]
    if data.get("relationship", True):
        team.append(CareTeamMember("requester", requester.org, requester.team, "Requester"))
    directives: list[ConsentDirective] = []
    objections = data.get("objections", False)
    if objections is True:
        directives.append(ConsentDirective("objection", "deny", (), (requester.org,)))
    elif objections:
        directives.append(ConsentDirective("objection", "deny", tuple(objections), (requester.org,)))
    if data.get("consents"):
        directives.append(ConsentDirective("consent", "permit", tuple(data["consents"]), (requester.org,)))
    return PatientContext("test-patient", data.get("nhs_number", NHS_NUMBER), tuple(directives),
                          bool(data.get("opt_out", False)), tuple(team))


def build_item(engine: PolicyEngine, data: dict[str, Any] | None, requester: Requester,
               patient_data: dict[str, Any] | None) -> Item:
    data = data or {}
    holder = (patient_data or {}).get("holder") or HOLDER
    resource = data.get("resource") or {"resourceType": data.get("resource_type", "")}
    cats = tuple(data["categories"]) if data.get("categories") else engine.categorize(resource)
    org = requester.org if data.get("recorded_by_requester") else data.get("holder_org", holder.get("org"))
    return Item(resource, cats, org, data.get("holder_team", holder.get("team")))


_ITEM_EXPECTATIONS = ("effect", "rules_include", "obligations_include", "obligations_exclude",
                      "redacted_categories", "notice_category", "notice_contains", "notice_excludes", "removed",
                      "kept")


def run_case(engine: PolicyEngine, case: dict[str, Any], file: str = "") -> CaseResult:
    result = CaseResult(file, case["name"], proves=tuple(case.get("proves", ())))
    expect = case["expect"]
    requester = build_requester(case["requester"])
    result.failures += _request_failures(expect, engine.check_request(requester))
    if not any(k in expect for k in _ITEM_EXPECTATIONS):
        return result
    patient = build_patient(case.get("patient"), requester)
    item = build_item(engine, case.get("item"), requester, case.get("patient"))
    d = result.decision = engine.decide(requester, patient, item)
    for check in (_effect_failures, _rule_failures, _notice_failures, _redaction_failures):
        result.failures += check(expect, d, item)
    return result


def _request_failures(expect: dict[str, Any], request: RequestDecision) -> Iterator[str]:
    if "request" in expect and request.allowed != (expect["request"] == "allowed"):
        yield (f"request {'allowed' if request.allowed else 'refused'} ({request.reason}), "
               f"expected {expect['request']}")
    if "status" in expect and request.status != expect["status"]:
        yield f"status {request.status}, expected {expect['status']}"
    if "reason_contains" in expect and expect["reason_contains"] not in request.reason:
        yield f"reason {request.reason!r} lacks {expect['reason_contains']!r}"


def _effect_failures(expect: dict[str, Any], d: ItemDecision, item: Item) -> Iterator[str]:
    if "effect" in expect and d.effect != expect["effect"]:
        yield (f"effect {d.effect} (rules {', '.join(d.rule_ids)}; categories {', '.join(item.categories)}),"
               f" expected {expect['effect']}")


def _rule_failures(expect: dict[str, Any], d: ItemDecision, item: Item) -> Iterator[str]:
    for rid in expect.get("rules_include", ()):
        if rid not in d.rule_ids:
            yield f"rule {rid} not among {list(d.rule_ids)}"
    for ob in expect.get("obligations_include", ()):
        if ob not in d.obligations:
            yield f"obligation {ob} missing (have {sorted(d.obligations)})"
    for ob in expect.get("obligations_exclude", ()):
        if ob in d.obligations:
            yield f"unexpected obligation {ob}"
    if "redacted_categories" in expect and set(d.redacted_categories) != set(expect["redacted_categories"]):
        yield f"redacted categories {list(d.redacted_categories)}, expected {expect['redacted_categories']}"


def _notice_failures(expect: dict[str, Any], d: ItemDecision, item: Item) -> Iterator[str]:
    if "notice_category" in expect and (d.notice is None or d.notice.category != expect["notice_category"]):
        yield f"notice category {d.notice.category if d.notice else None}, expected {expect['notice_category']}"
    text = d.notice.message if d.notice else ""
    for s in expect.get("notice_contains", ()):  # case-insensitive: IG staff write sentences
        if s.lower() not in text.lower():
            yield f"notice {text!r} lacks {s!r}"
    for s in expect.get("notice_excludes", ()):
        if s.lower() in text.lower():
            yield f"notice {text!r} contains {s!r}"


def _redaction_failures(expect: dict[str, Any], d: ItemDecision, item: Item) -> Iterator[str]:
    if "removed" not in expect and "kept" not in expect:
        return
    out = apply_redaction(item.resource, d) if d.effect in ("release", "redact") else {}
    for sel in expect.get("removed", ()):
        if compile_selector(sel).present(out):
            yield f"{sel} still present after redaction"
    for sel in expect.get("kept", ()):
        if not compile_selector(sel).present(out):
            yield f"{sel} missing after redaction"


def matrix_cases(matrix: dict[str, Any]) -> list[dict[str, Any]]:
    cases = []
    for cat, cells in matrix["rows"].items():
        for role, cell in zip(matrix["roles"], cells):
            per_type = cell if isinstance(cell, dict) else {"": cell}
            for rtype, letter in per_type.items():
                cases.append({
                    "name": f"{matrix['name']}: {role} / {cat}{' / ' + rtype if rtype else ''}",
                    "proves": matrix.get("proves", []),
                    "requester": {**(matrix.get("requester") or {}), "role": role, "purpose": matrix["purpose"],
                                  "justification": matrix.get("justification")},
                    "patient": matrix.get("patient"),
                    "item": {"categories": [cat], "resource_type": rtype},
                    "expect": {"effect": LETTERS[letter]},
                })
    return cases


def load_cases(directory: Path) -> list[tuple[str, dict[str, Any]]]:
    out: list[tuple[str, dict[str, Any]]] = []
    for path in sorted((Path(directory) / "tests").glob("*.y*ml")):
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        rel = path.relative_to(directory).as_posix()
        out += [(rel, c) for c in data.get("cases", [])]
        for m in data.get("matrices", []):
            out += [(rel, c) for c in matrix_cases(m)]
    return out


def run_tests(engine: PolicyEngine, directory: Path | None = None) -> list[CaseResult]:
    directory = Path(directory or engine.directory or ".")
    return [run_case(engine, case, file) for file, case in load_cases(directory)]
