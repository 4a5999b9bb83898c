"""Tamper-evident disclosure audit log: hash chain + signed Merkle checkpoints (see README.md)."""
from gateway.audit.log import AuditLog
from gateway.audit.model import (
           AuditEntry,
           AuditWriteError,
           Checkpoint,
           ExportSummary,
           Verification,
)
from gateway.audit.proof import verify_proof
from gateway.audit.signing import load_or_create_signing_key, public_key_pem
from gateway.audit.verify import verify_export

__all__ = ["AuditEntry", "AuditLog", "AuditWriteError", "Checkpoint", "ExportSummary", "Verification",
           "load_or_create_signing_key", "public_key_pem", "verify_export", "verify_proof"]
