"""Inclusion proofs: verifiable by a third party with the public key alone; tampering fails."""
from __future__ import annotations

import copy
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from gateway.audit import AuditLog, public_key_pem, verify_proof
from gateway.audit.signing import sign


def test_every_record_has_a_verifying_proof(filled: AuditLog, key: Ed25519PrivateKey) -> None:
    pem = public_key_pem(key)
    for seq in range(1, 11):
        proof = filled.prove(seq)
        assert proof["leaf_index"] == seq - 1 and proof["record"]["seq"] == seq
        assert verify_proof(proof, pem), seq


def test_a_proof_uses_the_latest_checkpoint_or_signs_one(filled: AuditLog) -> None:
    assert filled.prove(3)["tree_size"] == 8  # periodic checkpoint at 8 covers record 3
    assert filled.prove(9)["tree_size"] == 10  # nothing covers 9 yet: a checkpoint is signed now
    assert filled.prove(3)["tree_size"] == 10


@pytest.mark.parametrize("tamper", [
    lambda p: p["record"].update(purpose="research"),
    lambda p: p["record"].update(hash="0" * 64),
    lambda p: p["audit_path"].__setitem__(0, "ab" * 32),
    lambda p: p["audit_path"].pop(),
    lambda p: p.update(leaf_index=p["leaf_index"] + 1),
    lambda p: p.update(tree_size=p["tree_size"] + 1),
    lambda p: p["checkpoint"].update(root="cd" * 32),
], ids=["record", "record-hash", "path-element", "path-length", "leaf-index", "tree-size", "root"])
def test_a_tampered_proof_fails(filled: AuditLog, key: Ed25519PrivateKey, tamper: Any) -> None:
    proof = filled.prove(5)
    assert verify_proof(proof, public_key_pem(key))
    bad = copy.deepcopy(proof)
    tamper(bad)
    assert not verify_proof(bad, public_key_pem(key))


def test_a_checkpoint_resigned_by_another_key_fails(filled: AuditLog, key: Ed25519PrivateKey) -> None:
    proof = filled.prove(5)
    other = Ed25519PrivateKey.generate()
    body = {k: v for k, v in proof["checkpoint"].items() if k not in ("signature", "log")}
    proof["checkpoint"] = sign(body, other)
    assert not verify_proof(proof, public_key_pem(key))
    assert verify_proof(proof, public_key_pem(other))  # consistent, but not ours


def test_proof_of_a_missing_record_is_refused(filled: AuditLog) -> None:
    with pytest.raises(LookupError):
        filled.prove(99)
