"""Attack table, the operator's ingest command: `gateway ingest --format social-care ""` (an unset
variable) must not walk the working directory into the quarantine — keys included — and a purge of
the quarantine is itself audited."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from adapters.synthetic.people import invent_people
from adapters.synthetic.social_care import export_xml
from gateway.ingest.inputs import InputError, expand_paths, looks_like_key
from tests.test_cli import run

PEM = ed25519.Ed25519PrivateKey.generate().private_bytes(
    serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
JWK_SET = (b'{"keys": [{"kty": "EC", "crv": "P-256", "x": "AAAAAAAAAAAAAAAAAAAAAAAA", '
           b'"y": "BBBBBBBBBBBBBBBBBBBBBBBB", "d": "c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0", "kid": "dev-1"}]}')


def _tree(root: Path) -> None:
    """A working directory like the repository's: exports, and things that must never be ingested."""
    (root / "exports").mkdir(parents=True)
    (root / "exports" / "one.xml").write_bytes(export_xml(invent_people(1, seed=5)[0]))
    for hidden in (".git/objects", ".venv/lib", "var", "node_modules/x", "env2"):
        (root / hidden).mkdir(parents=True)
    (root / ".git" / "config").write_text("[core]\n")
    (root / ".venv" / "lib" / "site.py").write_text("x = 1\n")
    (root / "env2" / "pyvenv.cfg").write_text("home = /usr\n")
    (root / "env2" / "thing.xml").write_text("<x/>")
    (root / "node_modules" / "x" / "a.xml").write_text("<x/>")
    (root / ".env").write_text("GATEWAY_DATABASE_URL=postgresql://u:secret@db/g\n")
    (root / "var" / "audit-ed25519.pem").write_bytes(PEM)
    (root / "var" / "signing-jwks.json").write_bytes(JWK_SET)
    (root / "var" / "renamed.xml").write_bytes(PEM)  # a key whatever its name


@pytest.mark.parametrize("empty", ["", " ", "\t"])
def test_an_empty_path_is_refused(empty: str) -> None:
    with pytest.raises(InputError, match="empty path"):
        expand_paths([empty])


def test_folders_skip_hidden_and_virtual_environments_unless_named(tmp_path: Path) -> None:
    _tree(tmp_path)
    walked = {p.relative_to(tmp_path).as_posix() for p in expand_paths([str(tmp_path)])}
    assert "exports/one.xml" in walked
    assert not {w for w in walked if w.startswith((".git", ".venv", "node_modules", "env2", ".env"))}, walked
    named = {p.relative_to(tmp_path).as_posix() for p in expand_paths([str(tmp_path / ".git")])}
    assert named == {".git/config"}  # named explicitly: walked
    assert not [p for p in expand_paths([str(tmp_path / "*")]) if ".venv" in p.parts or "env2" in p.parts]


@pytest.mark.parametrize("raw, name", [(PEM, ""), (JWK_SET, ""), (b"x", "id_ed25519"), (b"x", "server.key"),
                                       (b"PuTTY-User-Key-File-3: ssh-ed25519\n", "")])
def test_key_material_is_recognised(raw: bytes, name: str) -> None:
    assert looks_like_key(raw, name)


def test_an_export_is_not_mistaken_for_a_key() -> None:
    assert not looks_like_key(export_xml(invent_people(1, seed=5)[0]), "one.xml")
    assert not looks_like_key(b'{"resourceType": "Bundle", "id": "d"}', "bundle.json")


def test_the_quarantine_never_keeps_key_material(gateway) -> None:  # type: ignore[no-untyped-def]
    summary = gateway.ingestor.ingest_bytes("social-care", PEM, "http:X1:req")
    assert summary.quarantined == 1
    [entry] = gateway.quarantine.list()
    assert entry.raw == b"" and "private key" in entry.reason
    assert b"PRIVATE KEY" not in entry.raw


def test_the_cli_walk_of_a_working_directory_stores_no_keys(tmp_path: Path) -> None:
    _tree(tmp_path / "wd")
    empty = run(tmp_path, "ingest", "--format", "social-care", "")
    assert empty.returncode != 0 and "empty path" in empty.stderr
    walked = run(tmp_path, "ingest", "--format", "social-care", str(tmp_path / "wd"), "--json")
    assert walked.returncode == 0, walked.stderr
    assert "looks like a private key" in walked.stderr
    entries = json.loads(run(tmp_path, "quarantine", "list", "--json").stdout)
    origins = " ".join(e["origin"] for e in entries)
    assert ".git" not in origins and ".venv" not in origins and ".env" not in origins and "var/" not in origins


def test_quarantine_purge_is_audited_and_needs_a_reason(tmp_path: Path) -> None:
    bad = tmp_path / "broken.json"
    bad.write_bytes(b'{"resourceType": "Bundle", "entry": [')
    assert run(tmp_path, "ingest", "--format", "gp-connect", str(bad)).returncode == 0
    [entry] = json.loads(run(tmp_path, "quarantine", "list", "--json").stdout)
    refused = run(tmp_path, "quarantine", "purge", str(entry["id"]))
    assert refused.returncode != 0 and "--reason" in refused.stderr
    missing = run(tmp_path, "quarantine", "purge", "999", "--reason", "x")
    assert missing.returncode != 0
    purged = run(tmp_path, "quarantine", "purge", str(entry["id"]), "--reason", "sent in error", "--operator", "ops1")
    assert purged.returncode == 0, purged.stderr
    assert json.loads(run(tmp_path, "quarantine", "list", "--all", "--json").stdout) == []
    found = run(tmp_path, "audit", "search", "--user", "ops1")
    assert "quarantine.purge" in found.stdout and "sent in error" in found.stdout and entry["origin"] in found.stdout
    assert run(tmp_path, "audit", "verify").returncode == 0
