"""The Adult Social Care Client Level Data adapter (``--format cld``): one message per CSV row."""
from __future__ import annotations

from collections.abc import Iterable, Iterator

from adapters.base import MappedRecord, Rejected, SourceMessage
from adapters.cld import csv_input
from adapters.cld.csv_input import CellError
from adapters.cld.mapping import CldRow, map_row

REQUIRED = ("LA_Code", "LA_Person_Unique_Identifier", "NHS_Number", "Event_Type", "Event_Reference")


class CldAdapter:
    format = "cld"
    version = "1.0.0"

    def parse(self, raw: bytes, origin: str) -> Iterator[SourceMessage | Rejected]:
        header, rows = csv_input.read(raw, origin, REQUIRED)
        for row in rows:
            where = f"{origin}:line {row.line}"
            if row.extra or row.missing:
                count = len(row.values) + len(row.extra)
                yield Rejected(where, f"row has {count} fields; the header has {len(header)}", row.raw)
                continue
            if not row.get("LA_Code"):
                yield Rejected(f"{where}, LA_Code", "empty: the council is the source system", row.raw)
                continue
            yield SourceMessage(format=self.format, origin=where, raw=row.raw,
                                body=CldRow(row, tuple(header)), source_system=row.get("LA_Code"),
                                message_id=f"{row.get('LA_Code')}:{row.get('Event_Reference')}")

    def map(self, message: SourceMessage) -> Iterable[MappedRecord | Rejected]:
        body: CldRow = message.body
        try:
            return map_row(body, message.source_system)
        except CellError as exc:
            return [Rejected(f"line {body.row.line}, {exc.location}", exc.reason, message.raw)]
