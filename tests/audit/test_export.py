"""Export, then verify offline with only the files: each kind of tampering is caught."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from gateway.audit import AuditLog, verify_export
from gateway.audit.canonical import canonical
from gateway.audit.chain import link
from gateway.audit.signing import public_key_pem, sign


def read(path: Path) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in path.read_bytes().splitlines()]


def write(path: Path, lines: list[dict[str, Any]]) -> None:
    path.write_bytes(b"".join(orjson.dumps(line) + b"\n" for line in lines))


@pytest.fixture
def exported(filled: AuditLog, tmp_path: Path) -> Path:
    out = tmp_path / "export"
    summary = filled.export(out)
    assert summary.records == 10 and summary.tree_size == 10
    return out


def test_export_layout_and_clean_verification(exported: Path, key: Ed25519PrivateKey) -> None:
    records = read(exported / "records.jsonl")
    checkpoints = read(exported / "checkpoints.jsonl")
    assert [r["seq"] for r in records] == list(range(1, 11))
    assert checkpoints[-1]["kind"] == "export" and checkpoints[-1]["tree_size"] == 10
    assert (exported / "public_key.pem").read_bytes() == public_key_pem(key)
    result = verify_export(exported)
    assert result.ok and result.checked == 10


def test_modification_is_detected(exported: Path) -> None:
    records = read(exported / "records.jsonl")
    records[4]["purpose"] = "research"
    write(exported / "records.jsonl", records)
    result = verify_export(exported)
    assert not result.ok and result.first_bad_seq == 5


def test_modification_with_a_recomputed_chain_is_detected(exported: Path) -> None:
    records = read(exported / "records.jsonl")
    records[4]["purpose"] = "research"
    prev = records[4]["prev_hash"]
    for line in records[4:]:
        line["prev_hash"] = prev
        body = {k: v for k, v in line.items() if k not in ("prev_hash", "hash")}
        line["hash"] = prev = link(prev, canonical(body))
    write(exported / "records.jsonl", records)
    result = verify_export(exported)
    assert not result.ok and result.first_bad_seq == 5 and "checkpoint" in result.reason


def test_deletion_is_detected(exported: Path) -> None:
    records = read(exported / "records.jsonl")
    del records[6]
    write(exported / "records.jsonl", records)
    result = verify_export(exported)
    assert not result.ok and result.first_bad_seq == 7


def test_deleting_the_first_record_is_detected(exported: Path) -> None:
    write(exported / "records.jsonl", read(exported / "records.jsonl")[1:])
    result = verify_export(exported)
    assert not result.ok and result.first_bad_seq == 1


def test_insertion_is_detected(exported: Path) -> None:
    records = read(exported / "records.jsonl")
    forged = dict(records[2])
    forged["requester"] = {"user": "ghost", "role": "gp", "org": "X1"}
    body = {k: v for k, v in forged.items() if k not in ("prev_hash", "hash")}
    forged["hash"] = link(forged["prev_hash"], canonical(body))  # internally consistent
    records.insert(3, forged)
    write(exported / "records.jsonl", records)
    result = verify_export(exported)
    assert not result.ok and result.first_bad_seq == 4


def test_appending_a_forged_record_after_the_last_checkpoint_is_detected(exported: Path) -> None:
    records = read(exported / "records.jsonl")
    forged = dict(records[-1]) | {"seq": 11, "prev_hash": records[-1]["hash"]}
    body = {k: v for k, v in forged.items() if k not in ("prev_hash", "hash")}
    forged["hash"] = link(forged["prev_hash"], canonical(body))
    write(exported / "records.jsonl", records + [forged])
    result = verify_export(exported)
    assert not result.ok and result.first_bad_seq == 11


def test_truncation_is_detected(exported: Path) -> None:
    write(exported / "records.jsonl", read(exported / "records.jsonl")[:7])
    result = verify_export(exported)
    assert not result.ok and result.first_bad_seq == 8 and "truncated" in result.reason


def test_truncating_records_and_checkpoints_together_is_detected(exported: Path) -> None:
    """Dropping the tail and the export checkpoint leaves records not covered by any signature."""
    write(exported / "records.jsonl", read(exported / "records.jsonl")[:6])
    write(exported / "checkpoints.jsonl", read(exported / "checkpoints.jsonl")[:1])
    result = verify_export(exported)
    assert not result.ok and result.first_bad_seq == 5


def test_reordering_is_detected(exported: Path) -> None:
    records = read(exported / "records.jsonl")
    records[2], records[3] = records[3], records[2]
    write(exported / "records.jsonl", records)
    result = verify_export(exported)
    assert not result.ok and result.first_bad_seq == 3 and "3" in result.reason


def test_a_checkpoint_signed_with_another_key_is_rejected(exported: Path) -> None:
    checkpoints = read(exported / "checkpoints.jsonl")
    body = {k: v for k, v in checkpoints[-1].items() if k not in ("signature", "log")}
    checkpoints[-1] = sign(body, Ed25519PrivateKey.generate())
    write(exported / "checkpoints.jsonl", checkpoints)
    result = verify_export(exported)
    assert not result.ok and "signature" in result.reason


def test_an_empty_log_exports_and_verifies(log: AuditLog, tmp_path: Path) -> None:
    summary = log.export(tmp_path / "empty")
    assert summary.records == 0
    assert verify_export(tmp_path / "empty").ok
