"""Third-party check of an inclusion proof (the "few lines" documented in README.md)."""
from __future__ import annotations

from typing import Any

from gateway.audit.chain import line_hash_ok
from gateway.audit.merkle import leaf_hash, root_from_path
from gateway.audit.signing import load_public_key, signature_ok


def verify_proof(proof: dict[str, Any], public_key_pem: bytes) -> bool:
    """True when the record hashes to its stated hash, that hash is leaf ``leaf_index`` of the tree
    whose root the checkpoint states, and the checkpoint is signed by ``public_key_pem``."""
    try:
        record, checkpoint = proof["record"], proof["checkpoint"]
        index, size = proof["leaf_index"], proof["tree_size"]
        if record["seq"] != index + 1 or checkpoint["tree_size"] != size:
            return False
        if not line_hash_ok(record) or not signature_ok(checkpoint, load_public_key(public_key_pem)):
            return False
        path = [bytes.fromhex(p) for p in proof["audit_path"]]
        root = root_from_path(index, size, leaf_hash(record["hash"]), path)
        return root is not None and root.hex() == checkpoint["root"]
    except (KeyError, TypeError, ValueError):
        return False
