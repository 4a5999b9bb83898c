"""Reading a header-row CSV export (CLD return, opt-out list) into numbered rows."""
from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from adapters.base import LOCAL_ZONE, AdapterError, LocatedError

if TYPE_CHECKING:  # the reader's type is named only in the stubs (csv.reader is a function)
    from _csv import Reader


@dataclass(frozen=True)
class Row:
    line: int  # physical line where the row starts (header is line 1)
    values: dict[str, str]  # header -> value, stripped
    extra: list[str]  # values beyond the header (a malformed row)
    missing: bool  # fewer values than the header
    raw: bytes

    def get(self, column: str) -> str:
        return self.values.get(column, "") or ""


class CellError(LocatedError):
    """A cell that cannot be read; ``location`` is the column name."""


def read(raw: bytes, origin: str, required: tuple[str, ...]) -> tuple[list[str], Iterator[Row]]:
    """Header and rows; raises AdapterError when the file is not a readable CSV with ``required``."""
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[:exc.start].count(b"\n") + 1
        raise AdapterError(f"{origin}:line {line}", f"byte 0x{raw[exc.start]:02x} is not valid UTF-8") from None
    lines = io.StringIO(text).readlines()  # the same line split the csv reader counts
    reader = csv.reader(io.StringIO(text))
    try:
        header = [h.strip() for h in next(reader)]
    except StopIteration:
        raise AdapterError(f"{origin}:line 1", "empty file: no header row") from None
    except csv.Error as exc:
        raise AdapterError(f"{origin}:line 1", f"header is not CSV: {exc}") from None
    if missing := [c for c in required if c not in header]:
        raise AdapterError(f"{origin}:line 1", f"header lacks column(s) {', '.join(missing)}")
    return header, _rows(reader, header, lines, origin)


def _rows(reader: Reader, header: list[str], lines: list[str], origin: str) -> Iterator[Row]:
    start = 2
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise AdapterError(f"{origin}:line {reader.line_num}", f"not CSV: {exc}") from None
        end = reader.line_num
        raw = "".join(lines[start - 1:end]).encode("utf-8")
        if cells and any(c.strip() for c in cells):
            values = {h: c.strip() for h, c in zip(header, cells)}
            yield Row(start, values, cells[len(header):], len(cells) < len(header), raw)
        start = end + 1


def parse_date(value: str, column: str) -> str | None:
    """ISO ``YYYY-MM-DD`` (or ``DD/MM/YYYY``, which some returns use) -> FHIR date."""
    if not value:
        return None
    for fmt in ("%Y-%m-%d", "%d/%m/%Y"):
        try:
            return datetime.strptime(value, fmt).date().isoformat()
        except ValueError:
            continue
    raise CellError(column, f"{value!r} is not a date")


def parse_moment(value: str, column: str) -> datetime:
    """ISO date or date-time; a date alone, or a time without offset, is UK local time."""
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise CellError(column, f"{value!r} is not an ISO 8601 date or date-time") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=LOCAL_ZONE)
    return moment

