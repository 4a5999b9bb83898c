"""Reading HL7 v2 fields through python-hl7, with errors that name the segment and field.

python-hl7 gives a parse tree whose depth varies with content (a field with no ``^`` is a leaf,
with ``^`` a list of components, with ``~`` a list of repetitions); :class:`Seg` hides that and
always returns unescaped strings, "" for anything absent.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone

import hl7

from adapters.base import LOCAL_ZONE, LocatedError

_TS = re.compile(r"^(\d{4})(\d{2})?(\d{2})?(?:(\d{2})(\d{2})?(\d{2})?(?:\.\d{1,4})?)?([+-]\d{4})?$")


class FieldError(LocatedError):
    """A field that cannot be read; ``location`` is e.g. "PID-7" or "OBX[3]-5"."""


@dataclass(frozen=True)
class Seg:
    """One segment and its name as reported in errors ("PID", "OBX[2]")."""

    segment: hl7.Segment
    label: str
    message: hl7.Message

    @property
    def name(self) -> str:
        return str(self.segment[0])

    def where(self, field: int) -> str:
        return f"{self.label}-{field}"

    def get(self, field: int, comp: int = 1, rep: int = 1, sub: int = 1) -> str:
        try:
            value = self.segment.extract_field(1, field, rep, comp, sub)
        except (IndexError, TypeError):  # absent repetition/component: optional data not sent
            return ""
        return str(value).strip()

    def repetitions(self, field: int) -> int:
        if field >= len(self.segment):
            return 0
        value = self.segment[field]
        if isinstance(value, hl7.Field) and value and isinstance(value[0], hl7.Repetition):
            return len(value)
        return 1 if str(value) else 0

    def text(self, field: int) -> str:
        """A free-text field (ST/TX/FT): escapes resolved, repetitions as lines, ``^``/``&`` kept."""
        if field >= len(self.segment):
            return ""
        raw = str(self.segment[field])
        rep_sep = self.message.separators[2]
        return "\n".join(self.message.unescape(part) for part in raw.split(rep_sep)).strip()

    def time(self, field: int, comp: int = 1) -> tuple[str, datetime | None] | None:
        """An HL7 TS/DTM as (FHIR dateTime, aware datetime when it has a time); None when empty."""
        value = self.get(field, comp)
        return parse_ts(value, self.where(field)) if value else None

    def fhir_time(self, field: int, comp: int = 1) -> str | None:
        parsed = self.time(field, comp)
        return parsed[0] if parsed else None

    def birth_date(self, field: int) -> str | None:
        value = self.get(field)
        if not value:
            return None
        match = _TS.match(value)
        if not match or not match.group(3):
            raise FieldError(self.where(field), f"{value!r} is not a date")
        year, month, day = (int(g) for g in match.group(1, 2, 3))
        try:
            return date(year, month, day).isoformat()
        except ValueError:
            raise FieldError(self.where(field), f"{value!r} is not a date") from None


def parse_ts(value: str, where: str) -> tuple[str, datetime | None]:
    """HL7 ``YYYY[MM[DD[HH[MM[SS[.S]]]]]][+/-ZZZZ]`` -> FHIR dateTime at the precision sent."""
    match = _TS.match(value)
    if not match:
        raise FieldError(where, f"{value!r} is not a date")
    year, month, day, hour, minute, second, offset = match.groups()
    try:
        if hour is None:
            parts = [int(year), int(month or 1), int(day or 1)]
            date(*parts)  # range check
            text = "-".join(p for p in (year, month, day) if p)
            return text, None
        if month is None or day is None:
            raise ValueError
        zone = LOCAL_ZONE if offset is None else timezone(
            (1 if offset[0] == "+" else -1) * timedelta(hours=int(offset[1:3]), minutes=int(offset[3:])))
        moment = datetime(int(year), int(month), int(day), int(hour), int(minute or 0),
                          int(second or 0), tzinfo=zone)
    except ValueError:
        raise FieldError(where, f"{value!r} is not a date") from None
    return moment.isoformat(), moment
