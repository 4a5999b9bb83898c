"""The `gateway` command: serve, demo, ingest, token, quarantine, match — plus the policy and audit tools."""
from __future__ import annotations

import gc
import getpass
import sys
from pathlib import Path
from typing import Annotated, Any

import orjson
import typer
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from gateway.audit.commands import app as audit_app
from gateway.auth import AuthError, mint_token
from gateway.command_line import open_gateway
from gateway.corpus_commands import mount
from gateway.ingest.inputs import InputError, looks_like_key
from gateway.ingest.inputs import expand_paths as expand
from gateway.ingest.pipeline import IngestSummary, read_files
from gateway.ingest_jobs import ParallelIngestRefused, check_jobs, ingest_in_parallel
from gateway.initialise import initialise
from gateway.logging import configure
from gateway.metrics import count_ingest
from gateway.policy.commands import app as policy_app
from gateway.settings import Settings, get_settings
from gateway.wiring import Gateway

# Imported inside the commands that serve or build the demo, deliberately: the HTTP stack (FastAPI,
# uvicorn, the routes) and the synthetic-data generators add about 1.5 s to every other command.

app = typer.Typer(help="Care record-sharing gateway", no_args_is_help=True, pretty_exceptions_enable=False)
quarantine_app = typer.Typer(help="Source input that could not be stored, with the reason", no_args_is_help=True)
match_app = typer.Typer(help="Messages held until a person decides which patient they are about",
                        no_args_is_help=True)
app.add_typer(quarantine_app, name="quarantine")
app.add_typer(match_app, name="match")
err = Console(stderr=True)
out = Console()


def _mount_tools() -> None:
    # The policy and audit tools live beside their engines; mounted here so `gateway` is one command.
    mount(policy_app)
    app.add_typer(policy_app, name="policy", help="Check, test, explain, simulate and diff consent policies")
    app.add_typer(audit_app, name="audit", help="Verify, export, search and prove the disclosure audit log")


_mount_tools()


def _gateway(settings: Settings | None = None) -> Gateway:
    settings = settings or get_settings()
    configure(settings.log_level)
    return open_gateway(settings)


@app.command()
def serve(host: str = "127.0.0.1", port: int = 8080,
          workers: Annotated[int, typer.Option(help="worker processes (one per core); they share the database, "
                                                    "one audit chain and the published policy")] = 1) -> None:
    """Serve the FHIR API."""
    import uvicorn  # lazy: see the note at the imports

    from gateway.api.app import create_app
    from gateway.api.server import http_protocol

    if workers > 1:
        # Check the deployment is initialised, migrate and publish the policy once, here; each worker then
        # only connects.
        _gateway().close()
        uvicorn.run("gateway.api.asgi:create", factory=True, workers=workers, host=host, port=port,
                    log_config=None, access_log=False)
        return
    app = create_app(_gateway())
    # The ~180k objects of startup (models, compiled policy) are never garbage: keep the cyclic
    # collector from rescanning them on every full collection (pauses of several ms per request).
    gc.freeze()
    uvicorn.run(app, host=host, port=port, log_config=None, access_log=False, http=http_protocol())


def expand_paths(paths: list[str]) -> list[Path]:
    """Files, folders (recursively, hidden and virtual-env folders skipped) and globs; see gateway.ingest.inputs."""
    try:
        return expand(paths)
    except InputError as exc:
        raise typer.BadParameter(str(exc)) from None


def _without_keys(files: list[Path]) -> list[Path]:
    """The files minus any that look like private keys (never read into the pipeline or the quarantine)."""
    kept = []
    for path in files:
        with path.open("rb") as handle:
            head = handle.read(256 * 1024)
        if looks_like_key(head, path.name):
            err.print(f"[yellow]{path}[/]: skipped: it looks like a private key, which is never ingested or kept")
            continue
        kept.append(path)
    return kept


@app.command()
def ingest(
    paths: Annotated[list[str], typer.Argument(help="files, folders or globs")],
    format: Annotated[str, typer.Option("--format", "-f", help="gp-connect, hl7v2, social-care, cld, opt-out")],
    json_summary: Annotated[bool, typer.Option("--json", help="print the summary as JSON")] = False,
    jobs: Annotated[int, typer.Option("--jobs", "-j", help="worker processes (PostgreSQL only above 1)")] = 1,
) -> None:
    """Load source exports through the ingest pipeline."""
    settings = get_settings()
    try:
        check_jobs(settings, jobs)
    except ParallelIngestRefused as exc:
        raise typer.BadParameter(str(exc), param_hint="--jobs") from None
    files = _without_keys(expand_paths(paths))
    gw = _gateway(settings)
    gc.freeze()  # as serve does: startup's objects are never garbage (full collections cost ~0.1 s each)
    with Progress(console=err, transient=True) as progress:
        task = progress.add_task(f"ingesting {format}", total=len(files))
        if jobs > 1:
            gw.ingestor.adapter(format)  # an unknown format is refused here, not in every worker
            gw.close()  # migrated and published: the workers only connect
            [total] = ingest_in_parallel(settings, [(format, files)], jobs,
                                         on_chunk=lambda n: progress.advance(task, n))
        else:
            # One batch for all the files (small files share transactions), read one at a time.
            total = gw.ingestor.ingest_files(format, read_files(files),
                                             on_input=lambda origin, summary: progress.advance(task))
    count_ingest(format, total)
    _print_summary(total, json_summary)
    raise typer.Exit(0)


_REPORT_ROWS = 200  # inputs listed one per row; --json lists every input


def _print_report(summary: IngestSummary) -> None:
    """Per input and per resource type: items that came in, were stored, refused or held for match review."""
    columns = ("came in", "stored", "refused", "held for match")
    per_input = Table(title="ingest report (per input)")
    for column in ("input", "messages", *columns):
        per_input.add_column(column, justify="left" if column == "input" else "right")
    for origin, report in summary.inputs[:_REPORT_ROWS]:
        t = report.totals()
        per_input.add_row(origin, str(report.messages), *(str(n) for n in (t.came_in, t.stored, t.refused, t.held)))
    out.print(per_input)
    if len(summary.inputs) > _REPORT_ROWS:
        out.print(f"... and {len(summary.inputs) - _REPORT_ROWS} more inputs (--json lists every one)")
    by_type = Table(title="items by resource type")
    for column in ("type", *columns):
        by_type.add_column(column, justify="left" if column == "type" else "right")
    for kind, c in sorted(summary.items.items()):
        by_type.add_row(kind, *(str(n) for n in (c.came_in, c.stored, c.refused, c.held)))
    out.print(by_type)
    reasons = summary.refusal_reasons()
    if reasons:
        out.print("refused or held because:")
        for reason, count in list(reasons.items())[:20]:
            out.print(f"  {count} x {reason}")


def _print_summary(summary: IngestSummary, as_json: bool) -> None:
    if as_json:
        sys.stdout.write(orjson.dumps(summary.as_dict()).decode() + "\n")
        return
    if summary.inputs:
        _print_report(summary)
    table = Table(title="ingest summary")
    for column in ("messages", "accepted", "updated", "unchanged", "stale", "quarantined", "held for review",
                   "unknown codes"):
        table.add_column(column, justify="right")
    table.add_row(*(str(v) for v in (summary.messages, summary.accepted, summary.updated, summary.unchanged,
                                     summary.stale, summary.quarantined, summary.held_for_review,
                                     summary.unknown_codes)))
    out.print(table)
    for problem in summary.problems[:50]:
        err.print(f"[yellow]{problem.origin}[/] {problem.location}: {problem.reason}")


@app.command()
def token(
    user: Annotated[str, typer.Option(help="sub: SDS user id")],
    role: Annotated[str, typer.Option()],
    org: Annotated[str, typer.Option(help="ODS code")],
    purpose: Annotated[str, typer.Option(help="purpose of use, e.g. direct_care")],
    name: Annotated[str | None, typer.Option()] = None,
    justification: Annotated[str | None, typer.Option()] = None,
    patient: Annotated[str | None, typer.Option(help="NHS number the token is scoped to")] = None,
    team: Annotated[str | None, typer.Option()] = None,
) -> None:
    """Mint a development token (refused in production mode). Prints the token alone."""
    try:
        sys.stdout.write(mint_token(get_settings(), user=user, role=role, org=org, purpose=purpose, name=name,
                                    justification=justification, patient=patient, team=team) + "\n")
    except AuthError as exc:
        err.print(f"[red]{exc}[/]")
        raise typer.Exit(2) from exc


@app.command()
def init(
    production: Annotated[bool, typer.Option("--production", help="a production signing key (also when "
                                             "GATEWAY_PRODUCTION=true)")] = False,
    replace: Annotated[bool, typer.Option("--replace", help="a new signing key even if one exists")] = False,
) -> None:
    """Prepare a deployment once, before starting its processes: create the keys (the access-token
    signing key, its public half added to the trusted JWKS, and the audit checkpoint key), migrate the
    schema and publish the policy. A production key's kid starts with `gw-`; development keys (`dev-`)
    are refused in production mode. Prints what it prepared as JSON."""
    settings = get_settings()
    made = initialise(settings, production=production, replace=replace).signing_key_created
    err.print(f"signing key: {'created' if made else 'kept the existing one'} ({settings.signing_jwks}); "
              f"audit key: {settings.audit_key}")
    gw = _gateway(settings)
    sys.stdout.write(orjson.dumps({"database": gw.engine.url.render_as_string(hide_password=True),
                                   "policy_version": gw.policies.version, "audit_key": settings.audit_key,
                                   "jwks": settings.jwks}).decode() + "\n")
    gw.close()


def _print_json(rows: list[dict[str, Any]]) -> None:
    sys.stdout.write(orjson.dumps(rows, default=str).decode() + "\n")


JsonFlag = Annotated[bool, typer.Option("--json", help="machine-readable output")]


@quarantine_app.command("list")
def quarantine_list(all: Annotated[bool, typer.Option("--all", help="include resolved entries")] = False,
                    as_json: JsonFlag = False) -> None:
    entries = _gateway().quarantine.list(status=None if all else "open")
    if as_json:
        _print_json([{k: v for k, v in e.__dict__.items() if k != "raw"} | {"bytes": len(e.raw)} for e in entries])
        return
    table = Table(title=f"quarantine ({len(entries)})")
    for column in ("id", "received", "format", "origin", "location", "reason", "status"):
        table.add_column(column)
    for e in entries:
        table.add_row(str(e.id), e.received_at.isoformat(timespec="seconds"), e.format, e.origin, e.location,
                      e.reason, e.status)
    out.print(table)


@quarantine_app.command("retry")
def quarantine_retry(
    entry_id: int,
    file: Annotated[Path | None, typer.Option(help="a corrected copy of the input to process instead")] = None,
) -> None:
    """Re-process a quarantined input (after a fix); resolved only when it now goes through."""
    gw = _gateway()
    try:
        summary = gw.ingestor.retry(entry_id, file.read_bytes() if file else None)
    except KeyError:
        err.print(f"[red]no quarantine entry {entry_id}[/]")
        raise typer.Exit(2) from None
    _print_summary(summary, False)
    raise typer.Exit(0 if summary.quarantined == 0 and summary.held_for_review == 0 else 1)


@quarantine_app.command("purge")
def quarantine_purge(
    entry_ids: Annotated[list[int] | None, typer.Argument(help="entries to purge")] = None,
    reason: Annotated[str, typer.Option(help="why (kept in the audit record)")] = "",
    resolved: Annotated[bool, typer.Option("--resolved", help="every resolved entry")] = False,
    older_than: Annotated[int | None, typer.Option(help="entries received more than DAYS ago")] = None,
    operator: Annotated[str | None, typer.Option(help="who purges (default: the OS user)")] = None,
) -> None:
    """Delete quarantined inputs for good (e.g. something that should never have been sent). The purge
    is an audit record first — ids, origins, sizes and SHA-256 of what is deleted, who and why — and
    nothing is deleted if that record cannot be written."""
    if not reason.strip():
        err.print("[red]--reason is required: the purge is audited[/]")
        raise typer.Exit(2)
    if not entry_ids and not resolved and older_than is None:
        err.print("[red]name entries, or --resolved, or --older-than DAYS[/]")
        raise typer.Exit(2)
    gw = _gateway()
    try:
        purged = gw.quarantine.purge(gw.audit, ids=entry_ids or None, resolved=resolved, older_than_days=older_than,
                                     operator=operator or getpass.getuser(), reason=reason)
    except KeyError as exc:
        err.print(f"[red]no quarantine entry {exc}[/]")
        raise typer.Exit(2) from None
    out.print(f"purged {len(purged)} quarantine entr{'y' if len(purged) == 1 else 'ies'}"
              + (f" (audit record {purged.audit_seq})" if purged else ""))


@match_app.command("list")
def match_list(all: Annotated[bool, typer.Option("--all")] = False, as_json: JsonFlag = False) -> None:
    entries = _gateway().review.list(status=None if all else "open")
    if as_json:
        _print_json([{k: v for k, v in e.__dict__.items() if k != "raw"} for e in entries])
        return
    table = Table(title=f"match review ({len(entries)})")
    for column in ("id", "received", "format", "origin", "NHS number", "reason", "status"):
        table.add_column(column)
    for e in entries:
        table.add_row(str(e.id), e.received_at.isoformat(timespec="seconds"), e.format, e.origin,
                      e.nhs_number or "-", e.reason, e.status)
    out.print(table)


@match_app.command("resolve")
def match_resolve(
    entry_id: int,
    patient: Annotated[str | None, typer.Option(help="link to this stored Patient id")] = None,
    new: Annotated[bool, typer.Option("--new", help="accept as a new person")] = False,
) -> None:
    if bool(patient) == new:
        err.print("[red]give exactly one of --patient ID or --new[/]")
        raise typer.Exit(2)
    gw = _gateway()
    try:
        summary = gw.ingestor.resolve_match(entry_id, patient)
    except KeyError as exc:
        err.print(f"[red]not found: {exc}[/]")
        raise typer.Exit(2) from None
    _print_summary(summary, False)


@app.command()
def demo(
    host: str = "127.0.0.1",
    port: int = 8080,
    people: Annotated[int, typer.Option(help="how many invented people")] = 25,
    directory: Annotated[Path, typer.Option(help="where the demo database and data go")] = Path(".demo"),
    serve_api: Annotated[bool, typer.Option("--serve/--no-serve")] = True,
) -> None:
    """A fresh SQLite gateway with synthetic data loaded through the adapters, served on localhost."""
    from gateway.demo import prepare_demo  # lazy: see the note at the imports

    settings, example = prepare_demo(directory, people, port)
    sys.stdout.write(example)  # plain text: a wrapped token could not be pasted
    sys.stdout.flush()
    if serve_api:
        import uvicorn  # lazy: see the note at the imports

        from gateway.api.app import create_app
        from gateway.api.server import http_protocol

        uvicorn.run(create_app(_gateway(settings)), host=host, port=port, log_config=None, access_log=False,
                    http=http_protocol())


if __name__ == "__main__":
    app()
