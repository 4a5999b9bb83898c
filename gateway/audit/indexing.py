"""Search-index columns derived from a record (the record itself stays opaque JSON)."""
from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from gateway.times import as_utc


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def categories_of(record: dict[str, Any]) -> list[str]:
    found = set(record.get("categories") or [])
    for items in (record.get("items") or {}).values():
        for item in items or []:
            found.update(item.get("categories") or [])
    return sorted(str(c) for c in found)


def index_row(record: dict[str, Any]) -> dict[str, Any]:
    requester = record.get("requester") or {}
    cats = categories_of(record)
    return {
        "time": as_utc(record["time"]),
        "request_id": _text(record.get("request_id")),
        "user_id": _text(requester.get("user")),
        "org": _text(requester.get("org")),
        "role": _text(requester.get("role")),
        "purpose": _text(record.get("purpose")),
        "outcome": _text(record.get("outcome")),
        "categories": "|" + "|".join(cats) + "|" if cats else "",
        "needs_review": "review" in (record.get("obligations") or []),
    }


def patient_rows(seq: int, record: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"seq": seq, "position": i, "patient_id": _text(p.get("id")),
             "nhs_number": _text(p.get("nhs_number"))}
            for i, p in enumerate(record.get("patients") or [])]
