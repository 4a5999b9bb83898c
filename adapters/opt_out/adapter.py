"""The national data opt-out list (``--format opt-out``): the latest row per person wins.

Each person becomes one Consent (policyRule national-data-opt-out) that denies, or permits,
research (HRESCH) and planning (HOPERAT) use.
"""
from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime

from adapters.base import MappedRecord, Rejected, SourceMessage, stable_id
from adapters.cld import csv_input
from adapters.cld.csv_input import CellError, Row
from adapters.fhir_helpers import consent, nhs_identifier, opt_out_provision

SOURCE_SYSTEM = "national-data-opt-out"
_BOOLEANS = {"true": True, "false": False}


@dataclass(frozen=True)
class OptOut:
    nhs_number: str
    opted_out: bool
    updated: datetime
    line: int
    superseded: int  # older rows for the same person


def _read(row: Row) -> OptOut:
    nhs = row.get("nhs_number").replace(" ", "")
    if not nhs:
        raise CellError("nhs_number", "empty")
    flag = row.get("opted_out").lower()
    if flag not in _BOOLEANS:
        raise CellError("opted_out", f"{row.get('opted_out')!r} is not true or false")
    if not row.get("updated"):
        raise CellError("updated", "empty")
    return OptOut(nhs, _BOOLEANS[flag], csv_input.parse_moment(row.get("updated"), "updated"), row.line, 0)


class OptOutAdapter:
    format = "opt-out"
    version = "1.0.0"

    def parse(self, raw: bytes, origin: str) -> Iterator[SourceMessage | Rejected]:
        _, rows = csv_input.read(raw, origin, ("nhs_number", "opted_out", "updated"))
        latest: dict[str, tuple[OptOut, Row]] = {}
        counts: dict[str, int] = {}
        for row in rows:
            try:
                entry = _read(row)
            except CellError as exc:
                yield Rejected(f"{origin}:line {row.line}, {exc.location}", exc.reason, row.raw)
                continue
            counts[entry.nhs_number] = counts.get(entry.nhs_number, 0) + 1
            held = latest.get(entry.nhs_number)
            if held is None or entry.updated >= held[0].updated:  # ties: the later line wins
                latest[entry.nhs_number] = (entry, row)
        for nhs, (entry, row) in latest.items():
            entry = OptOut(nhs, entry.opted_out, entry.updated, entry.line, counts[nhs] - 1)
            yield SourceMessage(format=self.format, origin=f"{origin}:line {entry.line}", raw=row.raw,
                                body=entry, source_system=SOURCE_SYSTEM, message_id=nhs,
                                message_time=entry.updated)

    def map(self, message: SourceMessage) -> Iterable[MappedRecord | Rejected]:
        entry: OptOut = message.body
        resource = consent(stable_id(SOURCE_SYSTEM, "Consent", entry.nhs_number),
                           patient={"identifier": nhs_identifier(entry.nhs_number)},
                           policy="national-data-opt-out", provision=opt_out_provision(entry.opted_out),
                           recorded=entry.updated.isoformat())
        return [MappedRecord(resource=resource, source_system=SOURCE_SYSTEM, source_id=entry.nhs_number,
                             source_updated=entry.updated, patient_nhs_number=entry.nhs_number,
                             location=f"line {entry.line}",
                             hints={"section": "national-data-opt-out", "superseded_rows": entry.superseded})]
