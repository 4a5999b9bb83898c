"""Canonical bytes of a record: the exact input of the hash chain.

orjson with sorted keys, after a JSON round trip so that what is hashed is what an auditor reads
back from an export (a ``datetime`` and its ISO string must not hash differently)."""
from __future__ import annotations

from typing import Any

import orjson

_OPTIONS = orjson.OPT_SORT_KEYS


def _fallback(value: Any) -> Any:
    # Sets come naturally out of policy code; order them so the hash does not depend on it.
    if isinstance(value, (set, frozenset)):
        return sorted(value, key=str)
    return str(value)  # keep the record rather than fail the disclosure on an odd type


def normalise(value: Any) -> Any:
    """The JSON-native form of ``value`` (datetimes → ISO strings, tuples/sets → lists, ...)."""
    try:
        text = orjson.dumps(value, default=_fallback)
    except orjson.JSONEncodeError:  # a non-string key: the option that allows them makes dumps ~6x slower
        text = orjson.dumps(value, default=_fallback, option=orjson.OPT_NON_STR_KEYS)
    return orjson.loads(text)


def canonical(value: Any) -> bytes:
    return orjson.dumps(value, option=_OPTIONS)
