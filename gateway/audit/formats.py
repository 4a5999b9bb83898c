"""Plain exports for spreadsheets and scripts: JSONL (one record per line) and CSV (flattened)."""
from __future__ import annotations

import csv
from collections.abc import Iterable
from pathlib import Path
from typing import IO, Any

import orjson

from gateway.audit.auditevent import to_audit_events
from gateway.audit.model import AuditEntry

CSV_COLUMNS = ["seq", "time", "request_id", "user", "name", "role", "org", "purpose", "justification",
               "outcome", "status", "interaction", "client", "nhs_numbers", "patient_ids", "released",
               "redacted", "noticed", "hidden", "rule_ids", "categories", "policy_version", "obligations",
               "prev_hash", "hash"]


def write_jsonl(entries: Iterable[AuditEntry], out: IO[bytes]) -> int:
    count = 0
    for entry in entries:
        out.write(orjson.dumps(entry.line()) + b"\n")
        count += 1
    return count


def _refs(record: dict[str, Any], bucket: str) -> str:
    return " ".join(str(i.get("ref")) for i in (record.get("items") or {}).get(bucket) or [])


def csv_row(entry: AuditEntry) -> dict[str, Any]:
    r = entry.record
    requester = r.get("requester") or {}
    patients = r.get("patients") or []
    items = r.get("items") or {}
    rule_ids = sorted({str(x) for bucket in items.values() for i in bucket or [] for x in i.get("rule_ids") or []}
                      | {str(x) for x in r.get("rule_ids") or []})
    return {
        "seq": entry.seq, "time": entry.time.isoformat(), "request_id": r.get("request_id"),
        "user": requester.get("user"), "name": requester.get("name"), "role": requester.get("role"),
        "org": requester.get("org"), "purpose": r.get("purpose"), "justification": r.get("justification"),
        "outcome": r.get("outcome"), "status": r.get("status"), "interaction": r.get("interaction"),
        "client": r.get("client"),
        "nhs_numbers": " ".join(str(p.get("nhs_number")) for p in patients if p.get("nhs_number")),
        "patient_ids": " ".join(str(p.get("id")) for p in patients if p.get("id")),
        **{bucket: _refs(r, bucket) for bucket in ("released", "redacted", "noticed", "hidden")},
        "rule_ids": " ".join(rule_ids), "categories": " ".join(map(str, r.get("categories") or [])),
        "policy_version": r.get("policy_version"), "obligations": " ".join(map(str, r.get("obligations") or [])),
        "prev_hash": entry.prev_hash, "hash": entry.hash,
    }


# A cell a spreadsheet would read as a formula (OWASP "CSV injection"): =, +, -, @, tab, carriage
# return — and their full-width forms, which some spreadsheets fold to ASCII.
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r", "\uff1d", "\uff0b", "\uff0d", "\uff20")


def neutralise(value: Any) -> Any:
    """A text cell that starts like a formula, prefixed with ``'`` so that it is shown, not evaluated.
    Numbers are left alone (the export writes no negative numbers)."""
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


def write_csv(entries: Iterable[AuditEntry], out: IO[str]) -> int:
    """The CSV export: every text cell neutralised (:func:`neutralise`), so attacker-controlled values
    (request ids, names, justifications) can never run as spreadsheet formulas. The JSONL and
    AuditEvent exports keep the exact values; verification uses those, never the CSV."""
    writer = csv.DictWriter(out, fieldnames=CSV_COLUMNS)
    writer.writeheader()
    count = 0
    for entry in entries:
        writer.writerow({k: neutralise(v) for k, v in csv_row(entry).items()})
        count += 1
    return count


def export_file(entries: Iterable[AuditEntry], path: Path, fmt: str) -> int:
    """Write ``entries`` to ``path`` as ``jsonl``, ``csv`` or ``auditevent`` (NDJSON AuditEvents)."""
    if fmt == "csv":
        with path.open("w", newline="", encoding="utf-8") as handle:
            return write_csv(entries, handle)
    with path.open("wb") as handle:
        if fmt == "jsonl":
            return write_jsonl(entries, handle)
        if fmt == "auditevent":
            count = 0
            for event in to_audit_events(entries):
                handle.write(orjson.dumps(event) + b"\n")
                count += 1
            return count
    raise ValueError(f"unknown export format {fmt!r}")
