"""An export checked offline, and does the log today extend the copy an auditor kept?

A valid chain can still have been rewritten from some point on and re-signed by whoever holds the
key, or cut back to before the last checkpoint. An auditor's earlier export anchors it: every
record it holds must still be there with the same hash (the chain then makes everything before
them identical too), and it must have been signed by the same key. (The export check lives here,
above the chain check in verify.py, because checking continuity verifies the earlier export.)"""
from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import orjson

from gateway.audit.model import Verification
from gateway.audit.signing import load_public_key
from gateway.audit.verify import verify_lines


def check_continuity(previous: Path | str, current: Iterable[tuple[int, str]], public_key_pem: bytes,
                     first_seq: int) -> Verification | None:
    """None when ``current`` ((seq, hash) in order, starting at ``first_seq``) extends the export
    in ``previous``; otherwise the failure, naming the first record that differs."""
    previous = Path(previous)
    earlier = verify_export(previous)
    if not earlier.ok:
        return Verification(False, 0, earlier.first_bad_seq, f"the previous export does not verify: {earlier.reason}")
    if (previous / "public_key.pem").read_bytes().strip() != public_key_pem.strip():
        return Verification(False, 0, None, "the previous export was signed with a different key")
    kept = {line["seq"]: line["hash"] for line in
            map(orjson.loads, (previous / "records.jsonl").read_bytes().splitlines()) if line}
    if not kept:
        return None
    last = max(kept)
    if last < first_seq:
        return Verification(False, 0, None, f"records up to {first_seq - 1} were pruned since the previous export "
                                            f"(which ends at {last}); the two cannot be compared")
    reached = 0
    for seq, digest in current:
        if seq > last:
            break
        if seq in kept and kept[seq] != digest:
            return Verification(False, reached, seq,
                                f"record {seq} differs from the previous export: the log was rewritten from here")
        reached = seq
    if reached < last:
        missing = max(reached + 1, first_seq)
        return Verification(False, reached, missing,
                            f"truncated: the previous export holds records up to {last}; record {missing} is gone")
    return None


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in path.read_bytes().splitlines() if line.strip()]


def verify_export(directory: Path | str, previous: Path | str | None = None) -> Verification:
    """Offline check of ``DIR/records.jsonl`` + ``DIR/checkpoints.jsonl`` with ``DIR/public_key.pem``;
    with ``previous`` (an earlier export), also that this one extends it."""
    directory = Path(directory)
    try:
        pem = (directory / "public_key.pem").read_bytes()
        public_key = load_public_key(pem)
        checkpoints = _read_jsonl(directory / "checkpoints.jsonl")
        lines = _read_jsonl(directory / "records.jsonl")
    except (OSError, ValueError, TypeError) as exc:
        return Verification(False, 0, None, f"cannot read export: {exc}")
    if not checkpoints:
        return Verification(False, 0, None, "no signed checkpoint in the export")
    result = verify_lines(lines, checkpoints, public_key, require_final_checkpoint=True)
    if not result.ok or previous is None:
        return result
    first = lines[0]["seq"] if lines else checkpoints[-1]["tree_size"] + 1
    broken = check_continuity(previous, ((line["seq"], line["hash"]) for line in lines), pem, first)
    return broken or Verification(True, result.checked, None, f"{result.reason}; extends {previous}")
