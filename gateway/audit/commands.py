"""`gateway audit ...`: verify, export, search, prove, review, prune (and anomalies, checkpoint).

Output is JSON (one object per line for lists) so that auditors can pipe it into jq or a sheet."""
from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, ParamSpec

import orjson
import sqlalchemy as sa
import typer

from gateway.audit.anomalies import report as anomaly_report
from gateway.audit.continuity import verify_export
from gateway.audit.formats import export_file
from gateway.audit.log import AuditLog
from gateway.audit.model import Verification
from gateway.audit.proof import verify_proof
from gateway.audit.signing import load_or_create_signing_key
from gateway.deployment import NotInitialised, require_database
from gateway.settings import get_settings
from gateway.times import as_utc

P = ParamSpec("P")

app = typer.Typer(no_args_is_help=True, help="Verify, export, search and prove the disclosure audit log.")
review_app = typer.Typer(no_args_is_help=True, help="The review queue for emergency (break-glass) access.")
app.add_typer(review_app, name="review")


class ExportFormat(StrEnum):
    records = "records"
    auditevent = "auditevent"
    jsonl = "jsonl"
    csv = "csv"


def _open_log(*, need_key: bool = True) -> AuditLog:
    settings = get_settings()
    require_database(settings)
    key_path = Path(settings.audit_key)
    # Never invent a key: a new key would make every good signature look forged (`gateway init` makes it).
    if need_key and not key_path.exists():
        raise NotInitialised(settings, [f"no audit key at {key_path.resolve()}"])
    key = load_or_create_signing_key(key_path) if key_path.exists() else None
    engine = sa.create_engine(settings.database_url)
    return AuditLog(engine, key, checkpoint_every=settings.audit_checkpoint_every)


def _print(value: Any) -> None:
    sys.stdout.write(orjson.dumps(value, option=orjson.OPT_INDENT_2).decode() + "\n")


def _lines(values: Any) -> None:
    for value in values:
        sys.stdout.write(orjson.dumps(value).decode() + "\n")


def _guarded(command: Callable[P, None]) -> Callable[P, None]:
    """Database trouble (unreachable, not migrated) as one line and exit 2, not a traceback."""
    @functools.wraps(command)
    def run(*args: P.args, **kwargs: P.kwargs) -> None:
        try:
            command(*args, **kwargs)
        except sa.exc.SQLAlchemyError as exc:
            typer.echo(f"audit database error: {str(exc).splitlines()[0]}", err=True)
            raise typer.Exit(2) from exc
        except NotInitialised as exc:
            typer.echo(str(exc), err=True)
            raise typer.Exit(2) from exc
    return run


def _when(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        return as_utc(value)
    except ValueError as exc:
        raise typer.BadParameter(f"not an ISO 8601 date/time: {value}") from exc


def _report(result: Verification) -> None:
    if result.ok:
        typer.echo(f"OK: {result.reason}")
        return
    where = f"first bad record: {result.first_bad_seq}" if result.first_bad_seq else "log"
    typer.echo(f"FAILED ({where}): {result.reason}", err=True)
    raise typer.Exit(1)


@app.command()
@_guarded
def verify(directory: Annotated[Path | None, typer.Argument(
               help="An export directory; the live database when omitted")] = None,
           previous: Annotated[Path | None, typer.Option(
               help="An earlier export that the log must still extend")] = None) -> None:
    """Check the hash chain and signed checkpoints; exit 1 naming the first bad record."""
    if directory is not None:
        _report(verify_export(directory, previous=previous))
        return
    log = _open_log(need_key=previous is not None)
    if log.signing_key is None:
        typer.echo(f"warning: no audit key at {get_settings().audit_key}; signatures not checked", err=True)
    _report(log.verify(previous=previous))


@app.command()
@_guarded
def export(out: Annotated[Path, typer.Option("--out", help="Output directory")],
           fmt: Annotated[ExportFormat, typer.Option("--format")] = ExportFormat.records,
           since: Annotated[str | None, typer.Option(help="ISO date/time (not for --format records)")] = None,
           until: Annotated[str | None, typer.Option()] = None) -> None:
    """Export the log: records (records.jsonl + checkpoints.jsonl + public_key.pem, verifiable
    offline), auditevent (NDJSON FHIR AuditEvent), jsonl or csv."""
    log = _open_log()
    if fmt is ExportFormat.records:
        if since or until:
            raise typer.BadParameter("a verifiable export holds the whole log; --since/--until apply to other formats")
        summary = log.export(out)
        typer.echo(f"exported {summary.records} records and {summary.checkpoints} checkpoints to {out} "
                   f"(tree size {summary.tree_size}, root {summary.root})")
        return
    out.mkdir(parents=True, exist_ok=True)
    name = {"auditevent": "auditevents.ndjson", "jsonl": "audit.jsonl", "csv": "audit.csv"}[fmt.value]
    count = export_file(log.iter_entries(since=_when(since), until=_when(until)), out / name, fmt.value)
    typer.echo(f"wrote {count} entries to {out / name}")


@app.command()
@_guarded
def search(nhs_number: Annotated[str | None, typer.Option("--nhs-number")] = None,
           patient_id: Annotated[str | None, typer.Option("--patient-id")] = None,
           user: Annotated[str | None, typer.Option()] = None,
           org: Annotated[str | None, typer.Option()] = None,
           role: Annotated[str | None, typer.Option()] = None,
           purpose: Annotated[str | None, typer.Option()] = None,
           outcome: Annotated[str | None, typer.Option()] = None,
           category: Annotated[str | None, typer.Option()] = None,
           since: Annotated[str | None, typer.Option(help="ISO date/time, inclusive")] = None,
           until: Annotated[str | None, typer.Option(help="ISO date/time, exclusive")] = None,
           offset: Annotated[int, typer.Option()] = 0,
           limit: Annotated[int, typer.Option(help="0 for every match")] = 100) -> None:
    """Matching records, one JSON object per line, in sequence order."""
    entries = _open_log(need_key=False).search(
        nhs_number=nhs_number, patient_id=patient_id, user=user, org=org, role=role, purpose=purpose,
        outcome=outcome, category=category, since=_when(since), until=_when(until), offset=offset, limit=limit or None)
    _lines(e.line() for e in entries)


@app.command()
@_guarded
def prove(seq: Annotated[int, typer.Argument(help="Sequence number of the record")]) -> None:
    """Print an inclusion proof of record SEQ in a signed checkpoint (check with verify-proof)."""
    try:
        _print(_open_log().prove(seq))
    except LookupError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(1) from exc


@app.command("verify-proof")
@_guarded
def verify_proof_command(proof: Annotated[Path, typer.Argument(help="Proof JSON from `prove`")],
                         public_key: Annotated[Path, typer.Option("--public-key", help="public_key.pem")]) -> None:
    """Check an inclusion proof with the public key alone."""
    if verify_proof(orjson.loads(proof.read_bytes()), public_key.read_bytes()):
        typer.echo("OK: the record is included in the signed checkpoint")
        return
    typer.echo("FAILED: the proof does not verify", err=True)
    raise typer.Exit(1)


@app.command()
@_guarded
def checkpoint() -> None:
    """Sign a checkpoint over every record so far."""
    _print(_open_log().checkpoint().as_dict())


@app.command()
@_guarded
def anomalies(since: Annotated[str | None, typer.Option()] = None,
              until: Annotated[str | None, typer.Option()] = None) -> None:
    """Unusual access: many patients, no relationship, out-of-hours emergency, repeated refusals."""
    entries = _open_log(need_key=False).iter_entries(since=_when(since), until=_when(until))
    _lines(a.as_dict() for a in anomaly_report(entries))


@app.command()
@_guarded
def prune(before: Annotated[str | None, typer.Option(
              help="ISO date/time; default: now - GATEWAY_AUDIT_RETENTION_DAYS")] = None) -> None:
    """Delete records older than BEFORE, leaving a signed checkpoint as the verified start."""
    when = _when(before)
    if when is None:
        days = get_settings().audit_retention_days
        if days is None:
            raise typer.BadParameter("give --before or set GATEWAY_AUDIT_RETENTION_DAYS")
        when = datetime.now(UTC) - timedelta(days=days)
    typer.echo(f"pruned {_open_log().prune(when)} records older than {when.isoformat()}")


@review_app.command("list")
@_guarded
def review_list() -> None:
    """Records awaiting review, one JSON object per line."""
    _lines(e.line() for e in _open_log(need_key=False).review_queue())


@review_app.command("mark")
@_guarded
def review_mark(seq: Annotated[int, typer.Argument()],
                reviewer: Annotated[str, typer.Option()],
                comment: Annotated[str, typer.Option()]) -> None:
    """Record the review of SEQ (as a new audit record) and take it off the queue."""
    try:
        entry = _open_log().mark_reviewed(seq, reviewer, comment)
    except LookupError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(1) from exc
    typer.echo(f"review of {seq} recorded as audit record {entry.seq}")
