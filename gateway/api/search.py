"""Turn FHIR search query parameters into store criteria, rejecting what the server cannot honour."""
from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from gateway.api.errors import BadRequest
from gateway.store import search_params
from gateway.store.resources import DateCriterion, DatePrefix, TokenCriterion

PREFIXES: dict[str, DatePrefix] = {p: p for p in ("eq", "ne", "lt", "le", "gt", "ge")}
_DATE = re.compile(r"^(\d{4})(-(\d{2})(-(\d{2})(T(\d{2}):(\d{2})(:(\d{2})(\.\d+)?)?(Z|[+-]\d{2}:\d{2})?)?)?)?$")
MAX_COUNT = 1000
# _summary (FHIR R4 search 3.1.1.5.1): what a search takes; a read takes all but count (nothing to count).
SUMMARY_VALUES = ("true", "text", "data", "count", "false")
READ_SUMMARY_VALUES = tuple(v for v in SUMMARY_VALUES if v != "count")


@dataclass
class SearchQuery:
    ids: list[str] = field(default_factory=list)
    tokens: list[TokenCriterion] = field(default_factory=list)
    dates: list[DateCriterion] = field(default_factory=list)
    patient_ids: list[str] | None = None
    count: int | None = None
    offset: int = 0
    sort: str | None = None
    summary_count: bool = False
    summary: str | None = None  # _summary=true / text / data: which elements each resource keeps
    elements: list[str] | None = None
    include: list[str] = field(default_factory=list)
    revinclude: list[str] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)


def parse_date(value: str, param: str) -> tuple[DatePrefix, datetime, datetime]:
    """(prefix, low, high): the value's precision sets the range [low, high)."""
    prefix = PREFIXES.get(value[:2], "eq")
    text = value[2:] if value[:2] in PREFIXES else value
    m = _DATE.match(text)
    if not m:
        raise BadRequest(f"{param}: {value!r} is not a FHIR date (YYYY, YYYY-MM, YYYY-MM-DD or a dateTime)")
    try:
        year, month, day = int(m.group(1)), int(m.group(3) or 1), int(m.group(5) or 1)
        if m.group(7) is None:
            low = datetime(year, month, day, tzinfo=UTC)
            if m.group(5):
                high = low + timedelta(days=1)
            elif m.group(3):
                high = datetime(year + (month == 12), month % 12 + 1, 1, tzinfo=UTC)
            else:
                high = datetime(year + 1, 1, 1, tzinfo=UTC)
        else:
            low = datetime.fromisoformat(text.replace("Z", "+00:00"))
            low = low.replace(tzinfo=UTC) if low.tzinfo is None else low.astimezone(UTC)
            high = low + (timedelta(seconds=1) if m.group(10) else timedelta(minutes=1))
    except ValueError as exc:
        raise BadRequest(f"{param}: {value!r} is not a valid date: {exc}") from exc
    return prefix, low, high


def _int(value: str, param: str, minimum: int) -> int:
    if not (value.isascii() and value.isdigit()) or int(value) < minimum:  # "¹".isdigit() is True
        raise BadRequest(f"{param}: {value!r} must be an integer ≥ {minimum}")
    return int(value)


def _reference_id(value: str, param: str) -> str:
    ref = value.rsplit("/", 2)[-1] if "/" in value else value
    if not ref or not re.fullmatch(r"[A-Za-z0-9\-.]{1,64}", ref):
        raise BadRequest(f"{param}: {value!r} is not a Patient reference")
    return ref


def parse(resource_type: str, items: list[tuple[str, str]], *, strict: bool) -> SearchQuery:
    known = search_params.params_for(resource_type)
    query = SearchQuery()
    for raw_name, value in items:
        name, _, modifier = raw_name.partition(":")
        if name in ("patient", "subject") and resource_type != "Patient":
            _patient(query, name, value)
        elif name in _RESULT_PARAMETERS:
            _RESULT_PARAMETERS[name](query, name, value)
        elif name in known:
            _criterion(query, known[name], raw_name, modifier, value)
        elif strict:
            raise BadRequest(f"unknown search parameter {raw_name!r} for {resource_type}", code="not-supported")
        else:
            query.ignored.append(raw_name)
    return query


def _patient(query: SearchQuery, name: str, value: str) -> None:
    """patient= / subject=: several are an intersection, so the narrowest wins."""
    ids = [_reference_id(v, name) for v in value.split(",")]
    query.patient_ids = ids if query.patient_ids is None else [i for i in query.patient_ids if i in ids]


def _ids(query: SearchQuery, name: str, value: str) -> None:
    query.ids.extend(v for v in value.split(",") if v)


def _count(query: SearchQuery, name: str, value: str) -> None:
    query.count = min(_int(value, name, 0), MAX_COUNT)


def _offset(query: SearchQuery, name: str, value: str) -> None:
    query.offset = _int(value, name, 0)


def _sort(query: SearchQuery, name: str, value: str) -> None:
    if value not in ("date", "-date", "_lastUpdated", "-_lastUpdated"):
        raise BadRequest(f"_sort: {value!r} is not supported (date, -date, _lastUpdated, -_lastUpdated)")
    query.sort = value


def _summary(query: SearchQuery, name: str, value: str) -> None:
    if value == "count":
        query.summary_count = True
    elif value in ("true", "text", "data"):
        query.summary = value
    elif value != "false":
        raise BadRequest(f"_summary: {value!r} is not one of {', '.join(SUMMARY_VALUES)}")


def _elements(query: SearchQuery, name: str, value: str) -> None:
    query.elements = [e.strip() for e in value.split(",") if e.strip()]


def _include(query: SearchQuery, name: str, value: str) -> None:
    query.include.append(value)


def _revinclude(query: SearchQuery, name: str, value: str) -> None:
    query.revinclude.append(value)


def _handled_elsewhere(query: SearchQuery, name: str, value: str) -> None:
    """_format and _pretty are the response's business; _since is not a search parameter here."""


# The parameters that shape the result rather than select resources, whatever the resource type.
_RESULT_PARAMETERS: dict[str, Callable[[SearchQuery, str, str], None]] = {
    "_id": _ids, "_count": _count, "_offset": _offset, "_sort": _sort, "_summary": _summary,
    "_elements": _elements, "_include": _include, "_revinclude": _revinclude,
    "_format": _handled_elsewhere, "_pretty": _handled_elsewhere, "_since": _handled_elsewhere,
}


def _criterion(query: SearchQuery, param: search_params.SearchParam, raw_name: str, modifier: str,
               value: str) -> None:
    """One search parameter of the resource type, as a date or token criterion."""
    if modifier:
        raise BadRequest(f"{raw_name}: the modifier :{modifier} is not supported", code="not-supported")
    if "," in value:
        raise BadRequest(f"{raw_name}: comma-separated alternatives are not supported")
    if param.type == "date":
        prefix, low, high = parse_date(value, raw_name)
        query.dates.append(DateCriterion(param.column, prefix, low, high,
                                         param.name if param.column == "index" else None))
    else:
        query.tokens.append(_token(param, raw_name, value))


def _token(param: search_params.SearchParam, raw_name: str, value: str) -> TokenCriterion:
    if param.type == "string":
        text = search_params.normalise(value)
        if not text:
            raise BadRequest(f"{raw_name}: {value!r} is empty")
        return TokenCriterion(param.name, None, text, "prefix")
    if param.type == "reference":
        if not value.strip():
            raise BadRequest(f"{raw_name}: {value!r} is empty")
        return TokenCriterion(param.name, None, value.strip(), "reference")
    system, bar, code = value.rpartition("|")
    if not code and not (bar and system):
        raise BadRequest(f"{raw_name}: {value!r} has no code")
    return TokenCriterion(param.name, system if bar else None, code or None)
