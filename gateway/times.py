"""One way to read a moment: an aware UTC datetime from what databases and records hand back."""
from __future__ import annotations

from datetime import UTC, datetime
from typing import overload


@overload
def as_utc(value: datetime | str) -> datetime: ...
@overload
def as_utc(value: None) -> None: ...


def as_utc(value: datetime | str | None) -> datetime | None:
    """``value`` as an aware UTC datetime: ISO 8601 text is parsed, and a naive value is taken as UTC
    (SQLite hands every datetime back naive); None stays None (a column without a value)."""
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
