"""`gateway policy ...`: IG tooling on the command line (check, test, explain, diff, expand; `simulate`,
`diff --corpus` and `unclassified` read the stored records and live in gateway/corpus_commands.py).

Each command is a thin shell over a plain function in this package; a policy that does not load
or a failing test exits non-zero.
"""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import httpx
import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from gateway.policy.conditions import Facts
from gateway.policy.diff import ComboChange, RequestChange, diff_policies, diff_requests
from gateway.policy.engine import PolicyEngine
from gateway.policy.errors import PolicyError
from gateway.policy.explain import explain as explain_decision
from gateway.policy.igtests import run_tests
from gateway.policy.invariants import space
from gateway.policy.lint import expansion_warnings, lint
from gateway.policy.loader import read_directory
from gateway.policy.terminology import TerminologyError, cached_expansions, expressions, url_for, write_cache
from gateway.policy.terminology import expand as expand_ecl
from gateway.settings import Settings

app = typer.Typer(help="Check, test, explain and diff consent policies.", no_args_is_help=True)
console = Console()
# `diff --corpus` decides the stored records, which this package cannot reach (it sits below the
# store and the disclosure service): `gateway.cli` plugs in gateway/corpus_commands.py's printer.
corpus_diff: Callable[[PolicyEngine, PolicyEngine, int | None], bool] | None = None


def _default_dir() -> Path:
    return Path(Settings().policy_dir)


def _load(directory: Path | None) -> PolicyEngine:
    directory = directory or _default_dir()
    try:
        return PolicyEngine.load(directory)
    except PolicyError as exc:
        table = Table(title=f"{directory}: {len(exc.problems)} problem(s) - this policy may not go live",
                      title_style="bold red")
        for col in ("file", "line", "path", "problem"):
            table.add_column(col, overflow="fold")
        for p in exc.problems:
            table.add_row(p.file, str(p.line or ""), p.path, p.problem)
        console.print(table)
        raise typer.Exit(1) from None


_DirArgument = Annotated[Path | None, typer.Argument(help="policy directory (default: the configured one)")]


@app.command()
def check(directory: _DirArgument = None) -> None:
    """Validate a policy directory: schema, references, selectors and every invariant."""
    engine = _load(directory)
    v = engine.vocabulary
    cells = sum(1 for inv in engine.invariants for _ in space(engine, inv))
    console.print(f"[green]OK[/green] {engine.directory} version [bold]{engine.version}[/bold]")
    console.print(f"  {len(v.roles)} roles, {len(v.purposes)} purposes, {len(v.categories)} categories "
                  f"({sum(len(g) for g in v.field_groups.values())} field groups), {len(engine.rules)} rules")
    console.print(f"  {len(engine.invariants)} invariants proved over {cells} combinations")
    expansions = list(v.expansions.values())
    if expansions:
        made = sum(1 for e in expansions if e.server)
        console.print(f"  {len(expansions)} cached SNOMED CT expansions ({sum(len(e.codes) for e in expansions)} "
                      f"concepts): {made} from a terminology server, {len(expansions) - made} hand-curated")
    for warning in lint(engine) + expansion_warnings(engine):
        console.print(f"[yellow]warning[/yellow] {warning}", highlight=False)


@app.command("test")
def run_tests_cmd(directory: Annotated[Path | None, typer.Argument(help="policy directory")] = None,
                  verbose: Annotated[bool, typer.Option("--verbose", "-v", help="list passing cases too")] = False,
                  ) -> None:
    """Run the IG-written cases in <dir>/tests/*.yaml."""
    engine = _load(directory)
    results = run_tests(engine, engine.directory)
    failed = [r for r in results if not r.passed]
    table = Table(title="policy tests")
    for col in ("result", "file", "case", "detail"):
        table.add_column(col, overflow="fold")
    for r in results:
        if verbose or not r.passed:
            table.add_row("[green]pass[/green]" if r.passed else "[red]FAIL[/red]", r.file, r.name,
                          "; ".join(r.failures) or (r.decision.effect if r.decision else "request"))
    if table.rows:
        console.print(table)
    colour = "red" if failed else "green"
    console.print(f"[{colour}]{len(results) - len(failed)} passed, {len(failed)} failed[/{colour}]"
                  f" (version {engine.version})")
    if failed:
        raise typer.Exit(1)


@app.command()
def explain(role: Annotated[str, typer.Option(help="gateway role")],
            purpose: Annotated[str, typer.Option(help="purpose of use")],
            category: Annotated[list[str], typer.Option(help="data category (repeatable)")],
            relationship: Annotated[bool, typer.Option("--relationship/--no-relationship")] = True,
            objection: Annotated[bool, typer.Option("--objection/--no-objection",
                                                    help="patient objects to this recipient/category")] = False,
            consent: Annotated[bool, typer.Option("--consent/--no-consent",
                                                  help="explicit consent naming the recipient")] = False,
            opt_out: Annotated[bool, typer.Option("--opt-out/--no-opt-out", help="national data opt-out")] = False,
            justification: Annotated[bool, typer.Option("--justification/--no-justification")] = False,
            recorded_by_requester: Annotated[bool, typer.Option("--recorded-by-requester/--recorded-elsewhere")]
            = False,
            own_record: Annotated[bool, typer.Option("--own-record/--not-own-record")] = False,
            resource_type: Annotated[str, typer.Option(help="FHIR resource type of the item")] = "",
            directory: Annotated[Path | None, typer.Option("--dir", help="policy directory")] = None) -> None:
    """Which rules match, in file order, which one decides, and the field groups' outcomes."""
    engine = _load(directory)
    unknown = [c for c in category if c not in engine.vocabulary.categories]
    for name, known, what in ((role, engine.vocabulary.roles, "role"),
                              (purpose, engine.vocabulary.purposes, "purpose")):
        if name not in known:
            unknown.append(f"{what} {name}")
    if unknown:
        console.print(f"[red]unknown: {', '.join(unknown)}[/red]")
        raise typer.Exit(2)
    facts = Facts(relationship, objection, consent, opt_out, justification, recorded_by_requester, own_record)
    for cat in category:
        for line in explain_decision(engine, role, purpose, cat, facts, resource_type).lines():
            console.print(line, highlight=False, markup=False)
    console.print(f"(policy version {engine.version})", style="dim")


@app.command()
def diff(old: Annotated[Path, typer.Argument(help="policy directory in force")],
         new: Annotated[Path, typer.Argument(help="proposed policy directory")],
         role: Annotated[list[str] | None, typer.Option(help="only these roles")] = None,
         purpose: Annotated[list[str] | None, typer.Option(help="only these purposes")] = None,
         category: Annotated[list[str] | None, typer.Option(help="only these categories")] = None,
         fail_on_change: Annotated[bool, typer.Option(
             help="exit 3 when anything would be released differently")] = False,
         corpus: Annotated[bool, typer.Option(help="also decide every stored record under both versions")] = False,
         max_patients: Annotated[int | None, typer.Option(help="with --corpus: only the first N patients")] = None,
         ) -> None:
    """Which role/purpose/category combinations would get a different effect under NEW
    (and, with --corpus, which stored items, for which role and purpose)."""
    a, b = _load(old), _load(new)
    req_changes = diff_requests(a, b)
    changes = diff_policies(a, b, roles=role or None, purposes=purpose or None, categories=category or None)
    _print_request_changes(req_changes)
    _print_decision_changes(changes)
    corpus_changed = _corpus_changed(a, b, max_patients) if corpus else False
    if not changes and not req_changes and not corpus_changed:
        console.print("[green]no decision changes[/green]")
    console.print(f"{a.version} -> {b.version}", style="dim")
    if fail_on_change and (changes or req_changes or corpus_changed):
        raise typer.Exit(3)


def _print_request_changes(changes: list[RequestChange]) -> None:
    if not changes:
        return
    t = Table(title="request stage")
    for col in ("role", "purpose", "justification", "old", "new"):
        t.add_column(col)
    for c in changes:
        t.add_row(c.role, c.purpose, "yes" if c.justification else "no",
                  "allowed" if c.old_allowed else "refused", "allowed" if c.new_allowed else "refused")
    console.print(t)


def _print_decision_changes(changes: list[ComboChange]) -> None:
    if not changes:
        return
    t = Table(title=f"{len(changes)} decision(s) change")
    for col in ("role", "purpose", "category", "when", "old", "new", "new rules"):
        t.add_column(col, overflow="fold")
    for c in changes:
        when = ", ".join(n for n, v in zip(Facts._fields, c.facts) if v) or "-"
        if c.resource_type:
            when += f", {c.resource_type}"
        obligations_differ = c.old_obligations != c.new_obligations
        old_e = c.old_effect + (f" {sorted(c.old_obligations)}" if obligations_differ else "")
        new_e = c.new_effect + (f" {sorted(c.new_obligations)}" if obligations_differ else "")
        t.add_row(c.role, c.purpose, c.category, when, old_e, new_e, ", ".join(c.new_rules))
    console.print(t)


def _corpus_changed(a: PolicyEngine, b: PolicyEngine, max_patients: int | None) -> bool:
    if corpus_diff is None:
        console.print("[red]--corpus needs the gateway's store: run it as `gateway policy diff`[/red]")
        raise typer.Exit(2)
    return corpus_diff(a, b, max_patients)


@app.command()
def expand(directory: Annotated[Path | None, typer.Argument(help="policy directory (default: the configured one)")]
           = None,
           server: Annotated[str | None, typer.Option(help="FHIR terminology server base URL "
                                                           "(default: GATEWAY_TERMINOLOGY_URL)")] = None,
           system_version: Annotated[str | None, typer.Option(
               "--system-version", help="SNOMED CT edition/version to expand against, e.g. "
                                        "http://snomed.info/sct|http://snomed.info/sct/83821000000107")] = None,
           count: Annotated[int, typer.Option(help="concepts per page ($expand count)")] = 1000,
           timeout: Annotated[float, typer.Option(help="seconds per request")] = 60.0) -> None:
    """Expand every SNOMED CT expression (ecl:) in categories.yaml with the terminology server's
    ValueSet/$expand and write the expansions into valuesets/ (policy content: check, test and publish
    the result like any edit; the gateway itself never calls the server)."""
    directory = directory or _default_dir()
    if server is None:
        server = Settings().terminology_url
    if not server:
        console.print("[red]no terminology server: give --server URL or set GATEWAY_TERMINOLOGY_URL[/red]")
        raise typer.Exit(2)
    raw = read_directory(directory)
    cats = raw.one("categories")
    if raw.problems or cats is None or not isinstance(cats.data, dict):
        for p in raw.problems:
            console.print(f"{p.file}:{p.line or ''} {p.problem}", style="red", highlight=False, markup=False)
        raise typer.Exit(1)
    existing = cached_expansions(raw.documents.get("valuesets", []))
    wanted = expressions(cats.data)
    if not wanted:
        console.print(f"no ECL expressions in {cats.file}: nothing to expand")
        return
    table = Table(title=escape(f"SNOMED CT expansions from {server}"))
    for col in ("ECL", "concepts", "pages", "code system", "file", ""):
        table.add_column(col, overflow="fold")
    failed = False
    with httpx.Client(timeout=timeout, follow_redirects=True) as client:
        for ecl in wanted:
            try:
                fetched = expand_ecl(client, server, ecl, count=count, system_version=system_version)
            except TerminologyError as exc:
                console.print(f"{ecl}: {exc} ({url_for(server, ecl)})", style="red", highlight=False, markup=False)
                failed = True
                continue
            path, changed = write_cache(Path(directory), fetched, existing)
            table.add_row(escape(ecl), str(fetched.concepts), str(fetched.pages), escape(fetched.code_system or ""),
                          path.relative_to(directory).as_posix(), "[green]written[/green]" if changed else "unchanged")
    console.print(table)
    if failed:
        raise typer.Exit(1)
    console.print("Check and test the pack (gateway policy check / test) before publishing it: "
                  "a new expansion changes the policy version and the labels of stored records.")
