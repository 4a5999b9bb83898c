"""The proof check printed in gateway/audit/README.md works as printed, without the gateway."""
from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

import gateway.audit
from gateway.audit import AuditLog, public_key_pem

README = Path(gateway.audit.__file__).with_name("README.md")


def readme_check() -> Any:
    block = re.search(r"```python\n(.*?)```", README.read_text(), re.DOTALL)
    assert block is not None
    namespace: dict[str, Any] = {}
    exec(compile(block.group(1), str(README), "exec"), namespace)  # noqa: S102 - our own documentation
    return namespace["check"]


def test_readme_snippet_accepts_good_proofs_and_rejects_bad_ones(filled: AuditLog, key: Ed25519PrivateKey,
                                                                 make: Any) -> None:
    filled.append(make(user="Zoë — ünïcode"))
    check = readme_check()
    pem = public_key_pem(key)
    for seq in range(1, 12):
        assert check(filled.prove(seq), pem) is True
    bad = copy.deepcopy(filled.prove(5))
    bad["record"]["purpose"] = "research"
    with pytest.raises(AssertionError):
        check(bad, pem)
    bad = copy.deepcopy(filled.prove(5))
    bad["audit_path"][0] = "00" * 32
    assert check(bad, pem) is False
