"""`gateway audit ...` end to end through the Typer app, on the configured database."""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy.engine import Engine
from typer.testing import CliRunner

from gateway.audit import AuditLog
from gateway.audit.commands import app
from gateway.audit.signing import signature_ok
from gateway.settings import get_settings

from .conftest import PG_URL

runner = CliRunner()


@pytest.fixture
def cli_log(engine: Engine, key: Ed25519PrivateKey, tmp_path: Path, request: pytest.FixtureRequest,
            monkeypatch: pytest.MonkeyPatch, make: Any) -> Iterator[AuditLog]:
    if engine.dialect.name == "postgresql":
        url = f"{PG_URL}?options=-csearch_path%3D{request.getfixturevalue('pg_schema')}"
    else:
        url = engine.url.render_as_string(hide_password=False)
    monkeypatch.setenv("GATEWAY_DATABASE_URL", url)
    monkeypatch.setenv("GATEWAY_AUDIT_KEY", str(tmp_path / "keys" / "audit.pem"))  # the `key` fixture's file
    monkeypatch.setenv("GATEWAY_AUDIT_CHECKPOINT_EVERY", "4")
    get_settings.cache_clear()
    log = AuditLog(engine, key, checkpoint_every=4)
    for i in range(6):
        log.append(make(user=f"user{i % 2}", obligations=("review",) if i == 2 else ()))
    yield log
    get_settings.cache_clear()


def run(*args: str) -> Any:
    return runner.invoke(app, list(args))


def test_verify_live_and_export(cli_log: AuditLog, tmp_path: Path) -> None:
    result = run("verify")
    assert result.exit_code == 0, result.output
    assert "OK" in result.output
    out = tmp_path / "export"
    result = run("export", "--out", str(out))
    assert result.exit_code == 0, result.output
    assert {p.name for p in out.iterdir()} == {"records.jsonl", "checkpoints.jsonl", "public_key.pem"}
    assert run("verify", str(out)).exit_code == 0


def test_verify_names_the_first_bad_record(cli_log: AuditLog, tmp_path: Path) -> None:
    out = tmp_path / "export"
    run("export", "--out", str(out))
    lines = out.joinpath("records.jsonl").read_bytes().splitlines()
    tampered = orjson.loads(lines[3]) | {"purpose": "research"}
    lines[3] = orjson.dumps(tampered)
    out.joinpath("records.jsonl").write_bytes(b"\n".join(lines) + b"\n")
    result = run("verify", str(out))
    assert result.exit_code == 1
    assert "first bad record: 4" in result.output


def test_search_prove_and_verify_proof(cli_log: AuditLog, tmp_path: Path) -> None:
    result = run("search", "--user", "user1", "--limit", "2")
    assert result.exit_code == 0, result.output
    assert [orjson.loads(line)["seq"] for line in result.stdout.splitlines()] == [2, 4]
    proof = run("prove", "3")
    assert proof.exit_code == 0, proof.output
    proof_file, pem = tmp_path / "proof.json", tmp_path / "public_key.pem"
    proof_file.write_text(proof.stdout)
    pem.write_bytes(cli_log.public_key_pem())
    assert run("verify-proof", str(proof_file), "--public-key", str(pem)).exit_code == 0
    bad = orjson.loads(proof.stdout)
    bad["record"]["outcome"] = "refused"
    proof_file.write_bytes(orjson.dumps(bad))
    assert run("verify-proof", str(proof_file), "--public-key", str(pem)).exit_code == 1
    assert run("prove", "99").exit_code == 1


def test_review_list_and_mark(cli_log: AuditLog) -> None:
    listed = run("review", "list")
    assert [orjson.loads(line)["seq"] for line in listed.stdout.splitlines()] == [3]
    marked = run("review", "mark", "3", "--reviewer", "ig-lead", "--comment", "justified")
    assert marked.exit_code == 0, marked.output
    assert run("review", "list").stdout.strip() == ""
    assert cli_log.search(user="ig-lead")[0].record["reviewed_seq"] == 3


@pytest.mark.parametrize(("fmt", "name"), [("auditevent", "auditevents.ndjson"), ("jsonl", "audit.jsonl"),
                                           ("csv", "audit.csv")])
def test_other_export_formats(cli_log: AuditLog, tmp_path: Path, fmt: str, name: str) -> None:
    result = run("export", "--out", str(tmp_path / fmt), "--format", fmt)
    assert result.exit_code == 0, result.output
    lines = (tmp_path / fmt / name).read_text().splitlines()
    assert len(lines) == (7 if fmt == "csv" else 6)


def test_prune_keeps_the_log_verifiable(cli_log: AuditLog) -> None:
    result = run("prune", "--before", "2999-01-01T00:00:00Z")
    assert result.exit_code == 0, result.output
    assert "pruned 6" in result.output
    assert run("verify").exit_code == 0
    assert cli_log.search() == []


def test_checkpoint_and_anomalies_commands(cli_log: AuditLog, make: Any, key: Ed25519PrivateKey) -> None:
    result = run("checkpoint")
    assert result.exit_code == 0, result.output
    cp = orjson.loads(result.stdout)
    assert cp["tree_size"] == 6 and signature_ok(cp, key.public_key())
    for _ in range(3):
        cli_log.append(make(user="pushy", outcome="refused", status=403))
    result = run("anomalies")
    assert result.exit_code == 0, result.output
    found = [orjson.loads(line) for line in result.stdout.splitlines()]
    assert [(a["kind"], a["user"], a["seqs"]) for a in found] == [("repeated_refusals", "pushy", [7, 8, 9])]


def test_an_unmigrated_database_is_one_line_and_exit_2(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GATEWAY_DATABASE_URL", f"sqlite:///{tmp_path / 'empty.sqlite'}")
    monkeypatch.setenv("GATEWAY_AUDIT_KEY", str(tmp_path / "key.pem"))
    get_settings.cache_clear()
    try:
        missing = run("verify")  # no database file: nothing is created, `gateway init` is named
        (tmp_path / "empty.sqlite").touch()
        unmigrated = run("verify")
    finally:
        get_settings.cache_clear()
    assert missing.exit_code == 2 and "gateway init" in missing.output
    assert unmigrated.exit_code == 2 and "audit database error" in unmigrated.output
    assert not (tmp_path / "key.pem").exists()


def test_verify_previous_export(cli_log: AuditLog, tmp_path: Path, make: Any) -> None:
    assert run("export", "--out", str(tmp_path / "old")).exit_code == 0
    cli_log.append(make())
    assert run("export", "--out", str(tmp_path / "new")).exit_code == 0
    assert run("verify", str(tmp_path / "new"), "--previous", str(tmp_path / "old")).exit_code == 0
    assert run("verify", "--previous", str(tmp_path / "old")).exit_code == 0
    # Against a newer export, the older one does not contain all that the newer one holds.
    result = run("verify", str(tmp_path / "old"), "--previous", str(tmp_path / "new"))
    assert result.exit_code == 1 and "first bad record: 7" in result.output
