"""Ed25519 keys and checkpoint signatures.

A checkpoint is a flat JSON object; its signature covers the canonical JSON of every other field."""
from __future__ import annotations

import base64
import os
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from gateway.audit.canonical import canonical

LOG_ID = "care-gateway-audit/v1"  # in every signed body: a signature here means nothing elsewhere


def load_or_create_signing_key(path: Path | str) -> Ed25519PrivateKey:
    """Load the PEM private key at ``path``; create a demo key (mode 0600) when it is missing."""
    path = Path(path)
    if path.exists():
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
        if not isinstance(key, Ed25519PrivateKey):
            raise TypeError(f"{path} is not an Ed25519 private key")
        return key
    key = Ed25519PrivateKey.generate()
    path.parent.mkdir(parents=True, exist_ok=True)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    # Write aside, then link into place: several processes starting at once agree on one key.
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(pem)
        handle.flush()
        os.fsync(handle.fileno())
    try:
        os.link(tmp, path)
    except FileExistsError:
        return load_or_create_signing_key(path)
    finally:
        tmp.unlink()
    return key


def public_key_pem(key: Ed25519PrivateKey | Ed25519PublicKey) -> bytes:
    public = key.public_key() if isinstance(key, Ed25519PrivateKey) else key
    return public.public_bytes(serialization.Encoding.PEM,
                               serialization.PublicFormat.SubjectPublicKeyInfo)


def load_public_key(pem: bytes) -> Ed25519PublicKey:
    key = serialization.load_pem_public_key(pem)
    if not isinstance(key, Ed25519PublicKey):
        raise TypeError("not an Ed25519 public key")
    return key


def sign(body: dict[str, Any], key: Ed25519PrivateKey) -> dict[str, Any]:
    """The signed checkpoint: ``body`` plus ``signature`` (base64 Ed25519 over canonical(body))."""
    body = {**body, "log": LOG_ID}
    return {**body, "signature": base64.b64encode(key.sign(canonical(body))).decode()}


def signature_ok(checkpoint: dict[str, Any], public_key: Ed25519PublicKey) -> bool:
    body = {k: v for k, v in checkpoint.items() if k != "signature"}
    if body.get("log") != LOG_ID:
        return False
    try:
        public_key.verify(base64.b64decode(checkpoint["signature"]), canonical(body))
    except (InvalidSignature, KeyError, ValueError, TypeError):
        return False
    return True
