"""The hash chain: each entry's hash covers its predecessor's hash and its own canonical bytes."""
from __future__ import annotations

import hashlib
from typing import Any

from gateway.audit.canonical import canonical

GENESIS_HASH = "0" * 64
# Keys the log adds to a record; the API layer must not use them.
RESERVED_KEYS = frozenset({"seq", "prev_hash", "hash"})


def link(prev_hash: str, canonical_record: bytes) -> str:
    """hash = SHA-256(raw 32 bytes of prev_hash || canonical JSON of the record including seq)."""
    return hashlib.sha256(bytes.fromhex(prev_hash) + canonical_record).hexdigest()


def line_hash_ok(line: dict[str, Any]) -> bool:
    """Check one exported line ``{...record, seq, prev_hash, hash}`` against its own hash."""
    entry = {k: v for k, v in line.items() if k not in ("prev_hash", "hash")}
    return bool(link(line["prev_hash"], canonical(entry)) == line["hash"])
