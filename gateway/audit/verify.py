"""Verification of a sequence of records against the hash chain and the signed checkpoints.

One routine serves the live database and an offline export: records arrive in the order they
are stored; every checkpoint must carry a good signature and a frontier that folds to its root;
the chain starts at genesis or at the newest *prune* checkpoint; every checkpoint whose tree size
is reached must match the running Merkle root; a checkpoint beyond the last record means the log
was truncated."""
from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from gateway.audit.chain import GENESIS_HASH, line_hash_ok
from gateway.audit.merkle import Frontier
from gateway.audit.model import Verification
from gateway.audit.signing import signature_ok


def _frontier(cp: dict[str, Any]) -> Frontier:
    return Frontier(cp["tree_size"], [bytes.fromhex(h) for h in cp["frontier"]])


def _check_checkpoints(checkpoints: Sequence[dict[str, Any]],
                       public_key: Ed25519PublicKey | None) -> str | None:
    for cp in checkpoints:
        name = f"checkpoint at tree size {cp.get('tree_size')}"
        if public_key is not None and not signature_ok(cp, public_key):
            return f"{name} has an invalid signature"
        try:
            if _frontier(cp).root().hex() != cp["root"]:
                return f"{name}: frontier does not match its signed root"
        except (KeyError, ValueError, TypeError):
            return f"{name} is malformed"
    return None


def verify_lines(lines: Iterable[dict[str, Any]], checkpoints: Sequence[dict[str, Any]],
                 public_key: Ed25519PublicKey | None, *, require_final_checkpoint: bool,
                 extra_check: Callable[[dict[str, Any]], str | None] | None = None) -> Verification:
    """``lines``: ``{...record, seq, prev_hash, hash}`` in stored order; ``extra_check`` may name a
    further problem with a line whose hash is good."""
    problem = _check_checkpoints(checkpoints, public_key)
    if problem:
        return Verification(False, 0, None, problem)
    prunes = [cp for cp in checkpoints if cp["kind"] == "prune"]
    start = max(prunes, key=lambda cp: cp["tree_size"]) if prunes else None
    frontier = _frontier(start) if start else Frontier()
    prev = start["last_hash"] if start else GENESIS_HASH
    base = frontier.size
    pending = sorted((cp for cp in checkpoints if cp["tree_size"] > base), key=lambda cp: cp["tree_size"])
    good_size, checked = base, 0

    for line in lines:
        bad = _line_problem(line, base + checked + 1, prev, extra_check)
        if bad is not None:
            return Verification(False, checked, *bad)
        seq = line["seq"]
        frontier.append(line["hash"])
        prev = line["hash"]
        checked += 1
        while pending and pending[0]["tree_size"] == seq:
            cp = pending.pop(0)
            if cp["root"] != frontier.root().hex() or cp["last_hash"] != prev:
                return Verification(False, checked, good_size + 1,
                                    f"records {good_size + 1}..{seq} do not match the checkpoint "
                                    f"signed at tree size {seq} (altered and re-hashed)")
            good_size = seq
    last = base + checked
    if pending:
        size = pending[-1]["tree_size"]
        return Verification(False, checked, last + 1,
                            f"truncated: a signed checkpoint covers {size} records but the log ends "
                            f"at {last}; records {last + 1}..{size} are missing")
    if require_final_checkpoint and good_size != last:
        return Verification(False, checked, good_size + 1,
                            f"records {good_size + 1}..{last} are not covered by a signed checkpoint")
    return Verification(True, checked, None, f"{checked} records intact (tree size {last})")


def _line_problem(line: dict[str, Any], expected: int, prev: str,
                  extra_check: Callable[[dict[str, Any]], str | None] | None) -> tuple[int, str] | None:
    """(first bad seq, why) when ``line`` is not record ``expected`` following ``prev``; None when it is."""
    try:
        seq = line["seq"]
        if seq != expected:
            what = "missing" if isinstance(seq, int) and seq > expected else "out of order"
            return expected, f"record {expected} is {what} (found seq {seq} in its place)"
        if line["prev_hash"] != prev:
            return seq, (f"record {seq}: prev_hash does not match record {seq - 1} "
                         "(a record was inserted or removed)")
        if not line_hash_ok(line):
            return seq, f"record {seq}: content does not match its hash"
        problem = extra_check(line) if extra_check else None
        if problem:
            return seq, problem
    except (KeyError, TypeError, ValueError):
        return expected, f"record {expected} is malformed"
    return None
