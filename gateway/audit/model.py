"""Value types returned by the audit log."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from gateway.audit.signing import LOG_ID


class AuditWriteError(Exception):
    """The record could not be committed; the caller must not release anything (503)."""


@dataclass(frozen=True)
class AuditEntry:
    seq: int
    time: datetime
    prev_hash: str
    hash: str
    record: dict[str, Any]  # the record as hashed, including "seq"

    def line(self) -> dict[str, Any]:
        """The export form: the record with its chain fields, one JSON object per line."""
        return {**self.record, "prev_hash": self.prev_hash, "hash": self.hash}


@dataclass(frozen=True)
class Checkpoint:
    tree_size: int
    root: str
    last_hash: str
    kind: str  # periodic | manual | export | proof | prune
    time: str
    frontier: list[str]
    signature: str

    def as_dict(self) -> dict[str, Any]:
        return {"log": LOG_ID, "kind": self.kind, "tree_size": self.tree_size, "root": self.root,
                "last_hash": self.last_hash, "frontier": self.frontier, "time": self.time,
                "signature": self.signature}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Checkpoint:
        return cls(tree_size=d["tree_size"], root=d["root"], last_hash=d["last_hash"], kind=d["kind"],
                   time=d["time"], frontier=list(d["frontier"]), signature=d["signature"])


@dataclass(frozen=True)
class Verification:
    ok: bool
    checked: int
    first_bad_seq: int | None = None
    reason: str = ""


@dataclass(frozen=True)
class ExportSummary:
    out_dir: Path
    records: int
    checkpoints: int
    tree_size: int
    root: str
    files: list[Path] = field(default_factory=list)
