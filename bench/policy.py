"""Decisions per second: the compiled policy engine vs Cedar (cedarpy) and PyCasbin.

    python -m bench.policy [--n 20000] [--dir consent_policies]

The same rule set runs in all three: the default pack's rules are translated mechanically to
Cedar `permit`/`forbid ... when {..} unless {..}` policies and to Casbin ABAC policy lines
(`eval(p.sub_rule)`, deny-override effect). Cedar and Casbin answer allow/deny, so the question
compared is "is this item released?" (release or redact) — first checked to agree on every sampled
request, then timed. Needs `pip install cedarpy casbin` (the `bench` extra).
"""
from __future__ import annotations

import argparse
import random
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from gateway.policy import (
    CareTeamMember,
    ConsentDirective,
    Item,
    PatientContext,
    PolicyEngine,
)
from gateway.policy.conditions import FACT_NAMES, Condition, Facts
from gateway.requester import Requester
from gateway.settings import shipped_policy_dir

Combo = tuple[str, str, str, Facts, str]
RTYPES = ("", "AllergyIntolerance", "Condition", "Flag", "Observation")


# --- workload -----------------------------------------------------------------------------------
def sample(engine: PolicyEngine, n: int, seed: int = 7) -> list[Combo]:
    """Random requests that pass stage 1 (the item stage is what is compared)."""
    rng = random.Random(seed)
    v = engine.vocabulary
    pairs = [(r, p) for p in v.purposes.values() for r in sorted(p.roles)]
    cats = sorted(v.categories)
    out = []
    while len(out) < n:
        role, purpose = rng.choice(pairs)
        f = Facts(*(rng.random() < 0.5 for _ in FACT_NAMES))
        if purpose.justification_required and not f.justification:
            continue
        if purpose.grants_relationship:
            f = f._replace(relationship=True)
        out.append((role, purpose.name, rng.choice(cats), f, rng.choice(RTYPES)))
    return out


# --- Cedar --------------------------------------------------------------------------------------
def _cedar_cond(c: Condition) -> str:
    parts = []
    for name, attr in (("roles", "role"), ("purposes", "purpose"), ("categories", "category"),
                       ("resource_types", "rtype")):
        values = getattr(c, name)
        if values is not None:
            parts.append("[" + ", ".join(f'"{x}"' for x in sorted(values)) + f"].contains(context.{attr})")
    for name in FACT_NAMES:
        value = getattr(c, name)
        if value is not None:
            parts.append(f"context.{name} == {'true' if value else 'false'}")
    return " && ".join(parts) or "true"


def cedar_policies(engine: PolicyEngine) -> str:
    out = []
    for r in engine.rules:
        kind = "permit" if r.effect == "release" else "forbid"
        text = f'@id("{r.id}")\n{kind}(principal, action, resource)\nwhen {{ {_cedar_cond(r.when)} }}'
        if r.unless:
            text += "\nunless { " + " || ".join(f"({_cedar_cond(u)})" for u in r.unless) + " }"
        out.append(text + ";")
    return "\n".join(out)


def cedar_request(combo: Combo) -> dict[str, Any]:
    role, purpose, cat, f, rt = combo
    context = {"role": role, "purpose": purpose, "category": cat, "rtype": rt, **f._asdict()}
    return {"principal": 'User::"u"', "action": 'Action::"read"', "resource": 'Item::"i"', "context": context}


# --- Casbin -------------------------------------------------------------------------------------
CASBIN_MODEL = """
[request_definition]
r = sub, obj, act

[policy_definition]
p = sub_rule, obj, act, eft

[policy_effect]
e = some(where (p.eft == allow)) && !some(where (p.eft == deny))

[matchers]
m = eval(p.sub_rule)
"""


def _casbin_cond(c: Condition) -> str:
    parts = []
    for name, attr in (("roles", "role"), ("purposes", "purpose"), ("categories", "category"),
                       ("resource_types", "rtype")):
        values = getattr(c, name)
        if values is not None:
            parts.append(f"r.sub.{attr} in (" + ", ".join(f"'{x}'" for x in sorted(values)) + ",)")
    for name in FACT_NAMES:
        value = getattr(c, name)
        if value is not None:
            parts.append(f"r.sub.{name} == {value}")
    return " && ".join(parts) or "True"


def casbin_enforcer(engine: PolicyEngine):  # type: ignore[no-untyped-def]
    import casbin

    tmp = Path(tempfile.mkdtemp(prefix="casbin-"))
    (tmp / "model.conf").write_text(CASBIN_MODEL)
    enforcer = casbin.Enforcer(str(tmp / "model.conf"))
    for r in engine.rules:
        expr = _casbin_cond(r.when)
        if r.unless:
            expr += " && !(" + " || ".join(f"({_casbin_cond(u)})" for u in r.unless) + ")"
        enforcer.add_policy(expr, "item", "read", "allow" if r.effect == "release" else "deny")
    return enforcer


class _Sub:
    __slots__ = ("role", "purpose", "category", "rtype", *FACT_NAMES)

    def __init__(self, combo: Combo) -> None:
        role, purpose, cat, f, rt = combo
        self.role, self.purpose, self.category, self.rtype = role, purpose, cat, rt
        for name, value in zip(FACT_NAMES, f):
            setattr(self, name, value)


# --- the gateway engine, end to end (decide() with real objects) ----------------------------------
def decide_inputs(combo: Combo) -> tuple[Requester, PatientContext, Item]:
    role, purpose, cat, f, rt = combo
    requester = Requester("u", "n", role, "REQ", purpose, "why" if f.justification else None,
                          "9434765919" if f.own_record else "4010232137")
    team = (CareTeamMember("member", "REQ"),) if f.relationship else ()
    directives = ((ConsentDirective("o", "deny", (cat,), ("REQ",)),) if f.objection else ()) + (
        (ConsentDirective("c", "permit", (cat,), ("REQ",)),) if f.consent_permits else ())
    patient = PatientContext("p", "9434765919", directives, f.opt_out, team)
    item = Item({"resourceType": rt}, (cat,), "REQ" if f.recorded_by_requester else "OTHER")
    return requester, patient, item


def rate(fn: Callable[[], int], repeat: int = 3) -> float:
    best = float("inf")
    count = 0
    for _ in range(repeat):
        t0 = time.perf_counter()
        count = fn()
        best = min(best, time.perf_counter() - t0)
    return count / best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=20000)
    ap.add_argument("--dir", type=Path, default=shipped_policy_dir())
    args = ap.parse_args()
    engine = PolicyEngine.load(args.dir)
    combos = sample(engine, args.n)
    ours = [engine.outcome(*c).effect in ("release", "redact") for c in combos]

    import cedarpy

    policies = cedar_policies(engine)
    policy_set = cedarpy.PolicySet.from_str(policies)  # parse once, as a server would
    requests = [cedar_request(c) for c in combos]
    cedar = [r.allowed for r in cedarpy.is_authorized_batch(requests, policy_set, [])]
    enforcer = casbin_enforcer(engine)
    subs = [_Sub(c) for c in combos]
    casbin_sample = min(len(subs), 2000)  # Casbin evaluates every policy line with eval(): sample
    casb = [enforcer.enforce(s, "item", "read") for s in subs[:casbin_sample]]
    agree_cedar = sum(a == b for a, b in zip(ours, cedar))
    agree_casbin = sum(a == b for a, b in zip(ours, casb))
    print(f"policy {engine.version[:19]}..., {len(engine.rules)} rules, {len(combos)} sampled requests")
    print(f"agreement: cedar {agree_cedar}/{len(combos)}, casbin {agree_casbin}/{casbin_sample}")

    inputs = [decide_inputs(c) for c in combos]
    rates = {
        "gateway outcome() (compiled table)": rate(lambda: sum(1 for c in combos if engine.outcome(*c))),
        "gateway decide() (end to end)": rate(lambda: sum(1 for i in inputs if engine.decide(*i))),
        "cedarpy is_authorized_batch": rate(lambda: len(cedarpy.is_authorized_batch(requests, policy_set, []))),
        "cedarpy is_authorized (one by one)": rate(
            lambda: sum(1 for r in requests[:2000] if cedarpy.is_authorized(r, policy_set, [])), 1),
        "pycasbin enforce (eval ABAC)": rate(lambda: sum(1 for s in subs[:casbin_sample]
                                                         if enforcer.enforce(s, "item", "read") is not None), 1),
    }
    base = rates["gateway decide() (end to end)"]
    width = max(map(len, rates))
    for name, value in rates.items():
        print(f"{name:<{width}}  {value:>12,.0f} decisions/s   {value / base:8.3f} x decide()")


if __name__ == "__main__":
    main()
