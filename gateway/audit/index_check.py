"""The search index must agree with the hashed bodies.

The index columns and audit_patient rows are not hashed, so an insider could edit them to hide a
disclosure from searches (say, change ``user_id``) without breaking the chain. Live verification
re-derives them from each verified body and compares."""
from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from gateway.audit.indexing import index_row, patient_rows
from gateway.times import as_utc

_COLUMNS = ("request_id", "user_id", "org", "role", "purpose", "outcome", "categories", "needs_review")


class IndexCheck:
    """Feed it the audit_record rows in seq order; ``patients`` is audit_patient in (seq, position) order."""

    def __init__(self, patients: Iterator[Any]) -> None:
        self._patients = patients
        self._next: Any = next(patients, None)
        self._reviews: dict[int, int] = {}  # reviewed seq -> seq of the review record (from bodies)
        self._marks: dict[int, int | None] = {}  # seq awaiting review -> reviewed_by_seq column

    def _patients_of(self, seq: int) -> tuple[list[dict[str, Any]], int | None]:
        """Stored patient rows of ``seq``, and the seq of any orphan row met on the way."""
        found: list[dict[str, Any]] = []
        orphan = None
        while self._next is not None and self._next.seq <= seq:
            if self._next.seq < seq:
                orphan = orphan or self._next.seq
            else:
                found.append({"seq": seq, "position": self._next.position,
                              "patient_id": self._next.patient_id, "nhs_number": self._next.nhs_number})
            self._next = next(self._patients, None)
        return found, orphan

    def mismatch(self, row: Any, record: dict[str, Any]) -> str | None:
        expected = index_row(record)
        if as_utc(row.time) != expected["time"]:
            return f"record {row.seq}: the indexed time does not match the record"
        for column in _COLUMNS:
            if getattr(row, column) != expected[column]:
                return f"record {row.seq}: the search index column {column!r} does not match the record"
        stored, orphan = self._patients_of(row.seq)
        if orphan is not None:
            return f"record {row.seq}: a patient index row names record {orphan}, which is not in the chain there"
        if stored != patient_rows(row.seq, record):
            return f"record {row.seq}: the patient index does not match the record"
        if record.get("type") == "review" and isinstance(record.get("reviewed_seq"), int):
            self._reviews[record["reviewed_seq"]] = row.seq
        if row.needs_review or row.reviewed_by_seq is not None:
            self._marks[row.seq] = row.reviewed_by_seq
        return None

    def finish(self) -> tuple[int, str] | None:
        """After every row: the review queue column must match the review records in the chain."""
        for seq, mark in sorted(self._marks.items()):
            if mark != self._reviews.get(seq):
                held = "no review of it" if seq not in self._reviews else f"review {self._reviews[seq]}"
                return seq, f"record {seq}: marked reviewed by record {mark}, but the chain holds {held}"
        return None
