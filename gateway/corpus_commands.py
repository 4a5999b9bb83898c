"""`gateway policy simulate`, `gateway policy diff --corpus` and `gateway policy unclassified`: the IG
tools that read stored records.

They decide real records through the disclosure service (gateway/disclosure/analysis.py), so they
sit above it; `gateway.cli` mounts them on the policy tools. A simulation prints record content,
so it is an audit record like any disclosure, written before anything is printed.
"""
from __future__ import annotations

import getpass
import sys
from pathlib import Path
from typing import Annotated

import orjson
import typer
from rich.console import Console
from rich.table import Table

from gateway.command_line import open_gateway
from gateway.disclosure.analysis import UnknownPatient, corpus_diff, simulate_everything
from gateway.disclosure.labels import hints_of
from gateway.disclosure.service import Caller
from gateway.logging import configure
from gateway.policy import commands as policy_commands
from gateway.policy.engine import PolicyEngine
from gateway.policy.unclassified import unclassified_codes
from gateway.requester import Requester
from gateway.settings import Settings

console = Console()
err = Console(stderr=True)  # where the data came from: never mixed into the printed Bundle


def print_corpus_diff(old: PolicyEngine, new: PolicyEngine, max_patients: int | None) -> bool:
    gw = open_gateway(Settings())
    try:
        result = corpus_diff(gw.disclosure, old, new, max_patients=max_patients)
    finally:
        gw.close()
    console.print(f"stored corpus: {result.items_checked} items, {result.decisions_compared} decisions compared")
    if not result.counts:
        return False
    t = Table(title="stored items whose treatment changes")
    for col in ("role", "purpose", "relationship", "old", "new", "items"):
        t.add_column(col)
    for (role, purpose, related, old_e, new_e), n in sorted(result.counts.items()):
        t.add_row(role, purpose, "yes" if related else "no", old_e, new_e, str(n))
    console.print(t)
    console.print(f"first {len(result.examples)} changed items:")
    for e in result.examples:
        console.print(f"  {e['words']}  [dim]({e['item']}; {', '.join(e['new_rules'])})[/dim]", highlight=False)
    return True


def simulate(role: Annotated[str, typer.Option(help="gateway role")],
             purpose: Annotated[str, typer.Option(help="purpose of use")],
             org: Annotated[str, typer.Option(help="the requester's ODS code")],
             nhs_number: Annotated[str, typer.Option(help="the patient")],
             team: Annotated[str | None, typer.Option()] = None,
             justification: Annotated[str | None, typer.Option()] = None,
             policy: Annotated[Path | None, typer.Option(help="policy directory (default: the one in force)")] = None,
             operator: Annotated[str | None, typer.Option(help="who is looking (audit record; default: login)")] = None,
             summary: Annotated[bool, typer.Option(help="a table of effects instead of the FHIR Bundle")] = False,
             ) -> None:
    """Exactly what ROLE at ORG for PURPOSE would get from $everything for this patient (nothing is served;
    the simulation itself is audited)."""
    configure("warning", to_stderr=True)  # stdout carries the Bundle alone
    settings = Settings()
    engine = PolicyEngine.load(policy) if policy is not None else None
    gw = open_gateway(settings)
    if policy is not None:
        err.print(f"decided under the candidate policy in {policy}", style="dim")
    subject = Requester(user="simulation", name="policy simulation", role=role, org=org, purpose=purpose,
                        justification=justification, team=team)
    try:
        bundle, d = simulate_everything(gw.disclosure, subject, nhs_number, engine=engine)
        looker = operator or getpass.getuser()
        record = d.record(Caller(f"policy.simulate (cli) as {role}/{purpose}@{org}", client="gateway policy simulate"),
                          sent=d.decisions.released, outcome="simulated")
        record["requester"] = {"user": looker, "name": looker, "role": "ig_officer", "org": None, "team": None}
        record["simulated_requester"] = {"role": role, "org": org, "purpose": purpose, "team": team}
        gw.disclosure.commit(record)
    except UnknownPatient as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from None
    finally:
        gw.close()
    if not summary:
        sys.stdout.write(orjson.dumps(bundle, option=orjson.OPT_INDENT_2).decode() + "\n")
        return
    t = Table(title=f"{role} / {purpose} at {org}: $everything of {nhs_number} under {d.version[:19]}")
    for col in ("effect", "item", "categories", "rules", "fields"):
        t.add_column(col, overflow="fold")
    for (ref, _), entry in d.decisions.entries.items():
        t.add_row(entry["effect"], ref, ", ".join(entry["categories"]), ", ".join(entry["rule_ids"]),
                  ", ".join(entry.get("fields", ())))
    console.print(t)


def unclassified(policy: Annotated[Path | None, typer.Option(help="policy directory (default: the one in force)")]
                 = None,
                 limit: Annotated[int, typer.Option(help="list at most this many codes")] = 100,
                 safety_net_only: Annotated[bool, typer.Option(help="only codes the sensitive terms matched")] = False,
                 as_json: Annotated[bool, typer.Option("--json", help="the whole report as JSON")] = False) -> None:
    """Codes in the stored records that no code matcher (codes / ecl) classifies - the items they are on
    are categorised by resource type or the fallback alone - with counts; those the safety net (sensitive
    terms) treats as an overlay until IG staff classify them come first."""
    configure("warning", to_stderr=True)  # stdout carries the Bundle alone
    settings = Settings()
    engine = PolicyEngine.load(policy) if policy is not None else None
    gw = open_gateway(settings)
    try:
        engine = engine or gw.policies.engine
        if policy is not None:
            err.print(f"categorised under the candidate policy in {policy} (version {engine.version})",
                      style="dim", soft_wrap=True)
        rows = (s for batch in gw.store.scan() for s in batch)
        report = unclassified_codes(engine, ((s.content, hints_of(s)) for s in rows))
    finally:
        gw.close()
    codes = [c for c in report.codes if c.suggested or not safety_net_only]
    if as_json:
        sys.stdout.write(orjson.dumps({
            "policy_version": report.policy_version, "items_checked": report.items_checked,
            "items_unclassified": report.items_unclassified, "items_by_safety_net": report.items_by_safety_net,
            "codes": [{"code": c.code, "display": c.display, "items": c.items,
                       "resource_types": dict(sorted(c.resource_types.items())), "safety_net": list(c.suggested),
                       "terms": list(c.terms)} for c in codes]}, option=orjson.OPT_INDENT_2).decode() + "\n")
        return
    console.print(f"{report.items_checked} stored items; {report.items_unclassified} categorised by resource type "
                  f"or fallback alone; {report.items_by_safety_net} of them given an overlay by the safety net")
    t = Table(title=f"unclassified codes ({len(codes)}{', first ' + str(limit) if len(codes) > limit else ''})")
    for col in ("code", "display", "items", "resource types", "safety net"):
        t.add_column(col, overflow="fold")
    for c in codes[:limit]:
        t.add_row(c.code or "(text only)", c.display, str(c.items),
                  ", ".join(f"{k} {v}" for k, v in sorted(c.resource_types.items())),
                  ", ".join(f"{o} ({', '.join(c.terms)})" for o in c.suggested) if c.suggested else "")
    console.print(t)
    if any(c.suggested for c in codes):
        console.print("Classify each code (name it in a category's codes, or widen an ecl) so the safety net no "
                      "longer decides it.")


def mount(policy_app: typer.Typer) -> None:
    policy_app.command()(simulate)
    policy_app.command()(unclassified)
    policy_commands.corpus_diff = print_corpus_diff
