"""A record made ready for the chain before the append lock is taken.

Everything about a record that does not depend on its place in the chain — its JSON-native form,
its canonical bytes split where ``seq`` goes (sorted keys put ``"seq"`` in the same place whatever
its value), its search-index row and its patient rows — is worked out by the caller's own thread.
The writer holding the lock (one per database, however many processes) then only joins the bytes
around the seq and hashes them, so a batch holds the lock for little more than the database's work.
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import orjson

from gateway.audit.canonical import canonical, normalise
from gateway.audit.chain import RESERVED_KEYS
from gateway.audit.indexing import index_row, now_iso, patient_rows
from gateway.audit.model import AuditWriteError


@dataclass(frozen=True, slots=True)
class Prepared:
    record: dict[str, Any]  # JSON-native, with its time; without seq
    prefix: bytes  # canonical({**record, "seq": N}) == prefix + str(N) + suffix
    suffix: bytes
    index: dict[str, Any]  # the audit_record search columns
    patients: list[dict[str, Any]]  # the audit_patient rows, seq left to fill in

    @classmethod
    def of(cls, record: dict[str, Any]) -> Prepared:
        """AuditWriteError when ``record`` is not an object or uses the chain's own keys."""
        record = normalise(record)
        if not isinstance(record, dict) or RESERVED_KEYS & record.keys():
            raise AuditWriteError(f"record must be an object without {sorted(RESERVED_KEYS)}")
        record.setdefault("time", now_iso())
        prefix, suffix = split_body(record)
        return cls(record, prefix, suffix, index_row(record),
                   [{k: v for k, v in row.items() if k != "seq"} for row in patient_rows(0, record)])

    def body(self, seq: int) -> bytes:
        """The canonical bytes of the record with its seq: what the chain hashes."""
        return b"%s%d%s" % (self.prefix, seq, self.suffix)

    def entry(self, seq: int) -> dict[str, Any]:
        return {**self.record, "seq": seq}

    def patient_rows(self, seq: int) -> list[dict[str, Any]]:
        return [{"seq": seq, **row} for row in self.patients]


def split_body(record: dict[str, Any]) -> tuple[bytes, bytes]:
    """The canonical body of ``record`` with seq added, split where the seq value goes."""
    sentinel = "\x00" + uuid.uuid4().hex  # no record holds this string: a fresh random value
    parts = canonical({**record, "seq": sentinel}).split(orjson.dumps(sentinel))
    if len(parts) != 2:  # unreachable but for a record quoting the sentinel itself
        raise AuditWriteError("record could not be prepared: try again")
    return parts[0], parts[1]
